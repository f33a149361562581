//! Text that someone who is not signed in controls (a claimed username, a header) is bounded
//! before it is recorded anywhere — the audit log, the server's log, the database — because
//! audit records are kept for at least a year and cannot be removed without breaking the
//! chain. [`bounded`] is the one place that cuts such text.

use std::borrow::Cow;

/// Most bytes of a stranger's text that are kept (a username is at most 64).
pub const MAX_UNTRUSTED_BYTES: usize = 256;

/// `text` as it may be recorded: unchanged when it is at most [`MAX_UNTRUSTED_BYTES`] bytes,
/// else its first bytes up to that limit (cut on a character boundary) followed by a mark
/// saying how many bytes were left out, so a reader knows the record is not the whole text.
pub fn bounded(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_UNTRUSTED_BYTES {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_UNTRUSTED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [{} more bytes not recorded]",
        &text[..end],
        text.len() - end
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_as_it_is() {
        assert!(matches!(bounded("olga"), Cow::Borrowed("olga")));
        let exact = "a".repeat(MAX_UNTRUSTED_BYTES);
        assert_eq!(bounded(&exact), exact.as_str());
    }

    #[test]
    fn long_text_is_cut_and_the_cut_is_marked() {
        let long = "x".repeat(2_000_000);
        let cut = bounded(&long);
        assert!(cut.starts_with(&"x".repeat(MAX_UNTRUSTED_BYTES)));
        assert!(
            cut.ends_with("… [1999744 more bytes not recorded]"),
            "{cut}"
        );
        assert!(cut.len() < MAX_UNTRUSTED_BYTES + 48);
    }

    #[test]
    fn the_cut_falls_on_a_character_boundary() {
        // After one 'a', each two-byte 'é' ends on an odd offset: the cut falls at 255, not 256.
        let text = format!("a{}", "é".repeat(200));
        let cut = bounded(&text);
        let kept = cut.split('…').next().unwrap();
        assert_eq!(kept.len(), MAX_UNTRUSTED_BYTES - 1);
        assert!(kept.chars().skip(1).all(|c| c == 'é'));
    }
}
