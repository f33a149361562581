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
}
