/// Maps one character to its plate-text form: ASCII letters upper-cased, full-width
/// letters and digits folded to ASCII, anything else (spaces, dashes, dots, other
/// symbols and scripts) dropped.
pub fn normalize_char(c: char) -> Option<u8> {
    // Full-width forms (U+FF10..U+FF5A) sit at a fixed offset from ASCII.
    let c = match c {
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            char::from_u32(c as u32 - 0xFEE0)?
        }
        _ => c,
    };
    if c.is_ascii_alphanumeric() {
        Some(c.to_ascii_uppercase() as u8)
    } else {
        None
    }
}

/// Normal form of a plate: upper case, `A`–`Z` and `0`–`9` only.
///
/// ```
/// assert_eq!(candor_platetext::normalize(" ab-c 1.234 "), "ABC1234");
/// assert_eq!(candor_platetext::normalize("ｘｙ１２"), "XY12");
/// ```
pub fn normalize(raw: &str) -> String {
    raw.chars()
        .filter_map(normalize_char)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_separators_and_upper_cases() {
        assert_eq!(normalize("abc-1234"), "ABC1234");
        assert_eq!(normalize("AB 12.CD"), "AB12CD");
        assert_eq!(normalize("  "), "");
        assert_eq!(normalize("M·AB_123#"), "MAB123");
    }

    #[test]
    fn folds_full_width_and_drops_other_scripts() {
        assert_eq!(normalize("ＡＢＣ１２３４"), "ABC1234");
        assert_eq!(normalize("ａｂｃ"), "ABC");
        assert_eq!(normalize("MÜ AB 12"), "MAB12");
        assert_eq!(normalize("（１）"), "1");
    }
}
