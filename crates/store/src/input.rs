//! Text that arrives from outside — request bodies, uploaded and imported files. The one
//! place that says what Candor forgives in it: a UTF-8 byte order mark at the start, which
//! Windows tools (and the OpenALPR agent's `alpr_group` payloads) write before JSON and CSV.

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading UTF-8 byte order mark.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// `text` without a leading byte order mark (U+FEFF).
pub fn text_without_bom(text: &str) -> &str {
    text.strip_prefix('\u{FEFF}').unwrap_or(text)
}

/// The line (1-based) of the first character that no text file holds — a NUL or another
/// control character than tab, CR and LF, or U+FFFD (what a browser puts for bytes that are
/// not UTF-8) — or `None` when `text` reads as text.
pub fn first_binary_line(text: &str) -> Option<usize> {
    let at = text
        .find(|c: char| c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\t' | '\r' | '\n')))?;
    Some(1 + text[..at].matches('\n').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_bom_goes_and_nothing_else_does() {
        assert_eq!(without_bom(b"\xEF\xBB\xBF{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(without_bom(b"{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(without_bom(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(text_without_bom("\u{FEFF}plate\n"), "plate\n");
        assert_eq!(text_without_bom("pl\u{FEFF}ate"), "pl\u{FEFF}ate");
    }

    #[test]
    fn binary_data_is_found_by_its_line() {
        assert_eq!(first_binary_line("plate\r\nABC\tx\n"), None);
        assert_eq!(first_binary_line("plate\nA\u{0}B\n"), Some(2));
        assert_eq!(first_binary_line("\u{FFFD}PNG\n"), Some(1));
    }
}
