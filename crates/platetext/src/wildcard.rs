//! Plate search patterns in the syntax users know: `?` is exactly one character, `*` any
//! run of characters (including none). Everything else is plate text and is normalised
//! like a plate, so `ab-1?*` and `AB1?*` are the same pattern.

use std::fmt;

use crate::lookalike::LookAlikeClasses;
use thiserror::Error;

/// A pattern that cannot be searched for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    #[error("the pattern is empty; enter a plate or part of one")]
    Empty,
    #[error("the pattern {pattern:?} has no plate characters; add at least one letter or digit")]
    OnlyWildcards { pattern: String },
    #[error(
        "the pattern {pattern:?} has {found:?}; use letters, digits, ? (one character) and * (any run)"
    )]
    InvalidCharacter { pattern: String, found: char },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Token {
    Char(u8),
    One,
    AnyRun,
}

/// A parsed plate pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// Separators people type inside plates; dropped like [`crate::normalize`] drops them.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '·' | '_' | '\u{2010}'..='\u{2015}')
}

impl Pattern {
    /// Parses user input. Letters and digits are normalised (upper case, full-width
    /// folded), separators (spaces, dashes, dots, underscores) are dropped, consecutive `*`
    /// collapse into one. Anything else is an error naming the character.
    pub fn parse(input: &str) -> Result<Self, PatternError> {
        let mut tokens = Vec::new();
        for c in input.chars() {
            let token = match c {
                '?' | '\u{FF1F}' => Token::One,
                '*' | '\u{FF0A}' => Token::AnyRun,
                c if is_separator(c) => continue,
                c => match crate::normalize_char(c) {
                    Some(b) => Token::Char(b),
                    None => {
                        return Err(PatternError::InvalidCharacter {
                            pattern: input.to_string(),
                            found: c,
                        });
                    }
                },
            };
            if !(token == Token::AnyRun && tokens.last() == Some(&Token::AnyRun)) {
                tokens.push(token);
            }
        }
        if tokens.is_empty() {
            return Err(PatternError::Empty);
        }
        if !tokens.iter().any(|t| matches!(t, Token::Char(_))) {
            return Err(PatternError::OnlyWildcards {
                pattern: input.to_string(),
            });
        }
        Ok(Pattern { tokens })
    }

    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Whether the normalised `text` matches the pattern when up to `budget` of the
    /// pattern's fixed characters are replaced by look-alikes from `classes` (a look-alike
    /// search: the plate may have been misread, or the witness misremembered one
    /// character).
    pub fn matches_within(&self, text: &[u8], classes: &LookAlikeClasses, budget: u8) -> bool {
        if budget == 0 {
            return self.matches_normalized(text);
        }
        // cost[t]: fewest substitutions matching the tokens so far against text[..t].
        const NONE: u8 = u8::MAX;
        let mut cost = vec![NONE; text.len() + 1];
        cost[0] = 0;
        for token in &self.tokens {
            let mut next = vec![NONE; text.len() + 1];
            match token {
                Token::AnyRun => {
                    let mut best = NONE;
                    for t in 0..=text.len() {
                        best = best.min(cost[t]);
                        next[t] = best;
                    }
                }
                Token::One => next[1..].copy_from_slice(&cost[..text.len()]),
                Token::Char(c) => {
                    for t in 0..text.len() {
                        let step = if text[t] == *c {
                            0
                        } else if classes.similar(text[t], *c) {
                            1
                        } else {
                            continue;
                        };
                        if cost[t] != NONE {
                            next[t + 1] = next[t + 1].min(cost[t].saturating_add(step));
                        }
                    }
                }
            }
            cost = next;
        }
        cost[text.len()] <= budget
    }

    /// Whether the pattern is a whole plate (no `?` or `*`).
    pub fn is_full_plate(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Char(_)))
    }

    /// The plate, when the pattern is a whole plate.
    pub fn as_plate(&self) -> Option<String> {
        self.is_full_plate().then(|| self.to_string())
    }

    /// Number of plate characters (not wildcards) the pattern fixes.
    pub fn fixed_characters(&self) -> usize {
        self.tokens
            .iter()
            .filter(|t| matches!(t, Token::Char(_)))
            .count()
    }

    /// Whether `plate` (normalised first) matches the whole pattern.
    pub fn matches(&self, plate: &str) -> bool {
        self.matches_normalized(crate::normalize(plate).as_bytes())
    }

    /// [`Pattern::matches`] for text already in normal form (no allocation).
    pub fn matches_normalized(&self, text: &[u8]) -> bool {
        // Greedy glob matching with one backtrack point: linear in practice and never
        // exponential, whatever the number of `*`.
        let (mut t, mut p) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                Some(Token::One) => {
                    t += 1;
                    p += 1;
                }
                Some(Token::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }

    /// The pattern as a SQL `LIKE` pattern over normalised plates, to be used with
    /// `ESCAPE '\'`: `?` becomes `_`, `*` becomes `%`, and `%`, `_` and `\` in plate text
    /// are escaped (normalised plates never hold them, but a caller's own text might).
    pub fn to_sql_like(&self) -> String {
        let mut out = String::with_capacity(self.tokens.len() + 2);
        for token in &self.tokens {
            match token {
                Token::Char(c) => {
                    if matches!(c, b'%' | b'_' | b'\\') {
                        out.push('\\');
                    }
                    out.push(*c as char);
                }
                Token::One => out.push('_'),
                Token::AnyRun => out.push('%'),
            }
        }
        out
    }
}

impl fmt::Display for Pattern {
    /// The pattern in normal form, e.g. `AB?12*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.tokens {
            let c = match token {
                Token::Char(c) => *c as char,
                Token::One => '?',
                Token::AnyRun => '*',
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(p("ab-?12 *").to_string(), "AB?12*");
        assert_eq!(p("A**B").to_string(), "A*B");
        assert!(p("abc 1234").is_full_plate());
        assert_eq!(p("abc 1234").as_plate().as_deref(), Some("ABC1234"));
        assert!(!p("AB?").is_full_plate());
        assert_eq!(p("AB?").as_plate(), None);
        assert_eq!(p("*A?1*").fixed_characters(), 2);
    }

    #[test]
    fn rejects_bad_input_with_reasons() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert_eq!(Pattern::parse(" - "), Err(PatternError::Empty));
        assert!(matches!(
            Pattern::parse("*?"),
            Err(PatternError::OnlyWildcards { .. })
        ));
        let e = Pattern::parse("AB%1").unwrap_err();
        assert_eq!(
            e,
            PatternError::InvalidCharacter {
                pattern: "AB%1".into(),
                found: '%'
            }
        );
        assert!(e.to_string().contains("'%'"));
    }

    #[test]
    fn question_mark_is_exactly_one() {
        let pat = p("AB?12");
        assert!(pat.matches("ABC12"));
        assert!(pat.matches("ab-c-12"));
        assert!(!pat.matches("AB12"));
        assert!(!pat.matches("ABCD12"));
    }

    #[test]
    fn star_is_any_run_including_none() {
        let pat = p("AB?12*");
        assert!(pat.matches("ABC12"));
        assert!(pat.matches("ABC1234"));
        assert!(!pat.matches("XABC12"));
        let inner = p("*12*3");
        assert!(inner.matches("123"));
        assert!(inner.matches("X12Y3"));
        assert!(inner.matches("1212X3"));
        assert!(!inner.matches("1213X"));
        assert!(p("A*A*A").matches("AAA"));
        assert!(!p("A*A*A").matches("AA"));
    }

    #[test]
    fn full_plate_matches_only_itself() {
        assert!(p("ABC123").matches("ABC123"));
        assert!(!p("ABC123").matches("ABC1234"));
        assert!(!p("ABC123").matches(""));
    }

    #[test]
    fn lookalike_matching_counts_substitutions() {
        let classes = LookAlikeClasses::vendor_default();
        let pat = p("AB?12*");
        assert!(pat.matches_within(b"ABC12", &classes, 1));
        // 8 for B: one look-alike substitution
        assert!(pat.matches_within(b"A8C12X", &classes, 1));
        assert!(!pat.matches_within(b"A8C12X", &classes, 0));
        // 8 for B and Z for 2: two substitutions need a budget of two
        assert!(!pat.matches_within(b"A8C1Z", &classes, 1));
        assert!(pat.matches_within(b"A8C1Z", &classes, 2));
        // X is nobody's look-alike
        assert!(!pat.matches_within(b"AXC12", &classes, 2));
        // a full plate with a substitution, and lengths must still agree
        assert!(p("ABC1234").matches_within(b"A8C1234", &classes, 1));
        assert!(!p("ABC1234").matches_within(b"A8C12345", &classes, 1));
        // the star still backtracks
        assert!(p("*0*0").matches_within(b"XOYO", &classes, 2));
        assert!(!p("*0*0").matches_within(b"XOYO", &classes, 1));
    }

    #[test]
    fn sql_like_translation() {
        assert_eq!(p("AB?12*").to_sql_like(), "AB_12%");
        assert_eq!(p("*7").to_sql_like(), "%7");
        let hand_made = Pattern {
            tokens: vec![Token::Char(b'%'), Token::Char(b'_'), Token::Char(b'\\')],
        };
        assert_eq!(hand_made.to_sql_like(), r"\%\_\\");
    }
}
