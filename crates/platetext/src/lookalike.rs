//! Look-alike character classes: characters that OCR confuses with each other.
//!
//! A substitution between two characters is a look-alike substitution only when one class
//! holds both. Classes may overlap (`{8, B}` and `{3, 8, B}`, `{T, Y}` and `{V, Y}`), and
//! overlap does not chain: with `{T, Y}` and `{V, Y}`, `T` and `V` are not look-alikes.

use thiserror::Error;

/// Number of plate symbols: `0`–`9` then `A`–`Z`.
const SYMBOLS: usize = 36;

/// The vendor-default classes (REFERENCE.md, "Look-alike characters").
pub const DEFAULT_CLASSES: &[&str] = &["0ODQ", "1I", "2Z", "5S", "8B", "6G"];

/// Classes often added to the defaults (REFERENCE.md); [`LookAlikeClasses::extended`] uses
/// both lists.
pub const OFTEN_ADDED_CLASSES: &[&str] = &["38B", "EFP", "HKMR", "TY", "VY", "4A", "7T", "UV"];

/// A class definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClassError {
    #[error("look-alike class {class:?} has character {found:?}; only A-Z and 0-9 are allowed")]
    InvalidCharacter { class: String, found: char },
    #[error("look-alike class {class:?} needs at least two different characters")]
    TooSmall { class: String },
}

/// A set of look-alike classes, ready for fast lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookAlikeClasses {
    classes: Vec<String>,
    /// Bit `j` of `similar[i]` is set when symbols `i` and `j` share a class (`i != j`).
    similar: [u64; SYMBOLS],
    /// Representative of each symbol's connected component over all classes: two plates
    /// that differ only by look-alike substitutions have the same canonical form.
    canonical: [u8; SYMBOLS],
}

fn symbol_index(c: u8) -> Option<usize> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as usize),
        b'A'..=b'Z' => Some((c - b'A') as usize + 10),
        _ => None,
    }
}

fn symbol_char(i: usize) -> u8 {
    if i < 10 {
        b'0' + i as u8
    } else {
        b'A' + (i - 10) as u8
    }
}

impl Default for LookAlikeClasses {
    /// The vendor-default classes.
    fn default() -> Self {
        Self::vendor_default()
    }
}

impl LookAlikeClasses {
    /// `{0,O,D,Q} {1,I} {2,Z} {5,S} {8,B} {6,G}`.
    pub fn vendor_default() -> Self {
        Self::new(DEFAULT_CLASSES.iter().copied()).expect("built-in classes are valid")
    }

    /// The defaults plus `{3,8,B} {E,F,P} {H,K,M,R} {T,Y} {V,Y} {4,A} {7,T} {U,V}`.
    pub fn extended() -> Self {
        Self::new(DEFAULT_CLASSES.iter().chain(OFTEN_ADDED_CLASSES).copied())
            .expect("built-in classes are valid")
    }

    /// No look-alikes at all: only exact matches.
    pub fn none() -> Self {
        Self::new(std::iter::empty::<&str>()).expect("an empty set is valid")
    }

    /// Builds classes from strings such as `"0ODQ"`, one class per string. Lower case is
    /// accepted; anything but letters and digits is an error.
    pub fn new<S: AsRef<str>>(classes: impl IntoIterator<Item = S>) -> Result<Self, ClassError> {
        let mut set = LookAlikeClasses {
            classes: Vec::new(),
            similar: [0; SYMBOLS],
            canonical: [0; SYMBOLS],
        };
        let mut parent: [usize; SYMBOLS] = std::array::from_fn(|i| i);
        fn root(parent: &mut [usize; SYMBOLS], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for class in classes {
            let class = class.as_ref();
            let mut members: Vec<usize> = Vec::new();
            for c in class.chars() {
                let index = u8::try_from(c.to_ascii_uppercase())
                    .ok()
                    .and_then(symbol_index)
                    .ok_or_else(|| ClassError::InvalidCharacter {
                        class: class.to_string(),
                        found: c,
                    })?;
                if !members.contains(&index) {
                    members.push(index);
                }
            }
            if members.len() < 2 {
                return Err(ClassError::TooSmall {
                    class: class.to_string(),
                });
            }
            for &a in &members {
                for &b in &members {
                    if a != b {
                        set.similar[a] |= 1 << b;
                    }
                }
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, members[0]));
                parent[ra.max(rb)] = ra.min(rb);
            }
            set.classes
                .push(members.iter().map(|&i| symbol_char(i) as char).collect());
        }
        for i in 0..SYMBOLS {
            set.canonical[i] = symbol_char(root(&mut parent, i));
        }
        Ok(set)
    }

    /// The classes, each as its characters in the order given.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Whether `a` and `b` are different characters of one class.
    #[inline]
    pub fn similar(&self, a: u8, b: u8) -> bool {
        match (symbol_index(a), symbol_index(b)) {
            (Some(i), Some(j)) => self.similar[i] & (1 << j) != 0,
            _ => false,
        }
    }

    /// The characters `c` may be confused with, in symbol order (digits, then letters).
    pub fn alternatives(&self, c: u8) -> impl Iterator<Item = u8> + '_ {
        let mask = symbol_index(c).map_or(0, |i| self.similar[i]);
        (0..SYMBOLS)
            .filter(move |j| mask & (1 << j) != 0)
            .map(symbol_char)
    }

    /// The first character, in class order, that `c` may be confused with and that
    /// satisfies `wanted` — used to repair a letter read in a digit slot and vice versa.
    pub fn replacement(&self, c: u8, wanted: impl Fn(u8) -> bool) -> Option<u8> {
        self.classes
            .iter()
            .filter(|class| class.as_bytes().contains(&c))
            .flat_map(|class| class.bytes())
            .find(|&x| x != c && wanted(x))
    }

    /// Canonical stand-in for `c`: all characters connected through classes share one.
    /// Characters outside `A`–`Z`/`0`–`9` map to themselves.
    #[inline]
    pub fn canonical(&self, c: u8) -> u8 {
        symbol_index(c).map_or(c, |i| self.canonical[i])
    }

    /// Number of look-alike substitutions that turn `read` into `listed`: `None` when the
    /// lengths differ or some differing position is not a look-alike pair.
    pub fn substitutions(&self, read: &[u8], listed: &[u8]) -> Option<u8> {
        if read.len() != listed.len() {
            return None;
        }
        let mut count: u8 = 0;
        for (&a, &b) in read.iter().zip(listed) {
            if a != b {
                if !self.similar(a, b) {
                    return None;
                }
                count = count.saturating_add(1);
            }
        }
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes_are_symmetric_and_not_reflexive() {
        let c = LookAlikeClasses::default();
        assert!(c.similar(b'0', b'O') && c.similar(b'O', b'0'));
        assert!(c.similar(b'D', b'Q'));
        assert!(c.similar(b'8', b'B'));
        assert!(!c.similar(b'8', b'3'));
        assert!(!c.similar(b'A', b'A'));
        assert!(!c.similar(b'A', b'4'));
    }

    #[test]
    fn overlapping_classes_do_not_chain() {
        let c = LookAlikeClasses::extended();
        assert!(c.similar(b'T', b'Y') && c.similar(b'V', b'Y') && c.similar(b'7', b'T'));
        assert!(!c.similar(b'T', b'V'));
        assert!(!c.similar(b'7', b'U'));
        assert!(c.similar(b'3', b'B'));
        // but canonical forms do connect them, so the index finds candidates to check
        assert_eq!(c.canonical(b'T'), c.canonical(b'V'));
    }

    #[test]
    fn substitutions_counts_only_look_alike_differences() {
        let c = LookAlikeClasses::default();
        assert_eq!(c.substitutions(b"ABC1234", b"ABC1234"), Some(0));
        assert_eq!(c.substitutions(b"A8C1234", b"ABC1234"), Some(1));
        assert_eq!(c.substitutions(b"A8C12E4", b"ABC1234"), None);
        assert_eq!(c.substitutions(b"ABC123", b"ABC1234"), None);
    }

    #[test]
    fn alternatives_and_replacements() {
        let c = LookAlikeClasses::default();
        assert_eq!(c.alternatives(b'0').collect::<Vec<_>>(), b"DOQ");
        assert_eq!(c.replacement(b'0', |x| x.is_ascii_alphabetic()), Some(b'O'));
        assert_eq!(c.replacement(b'B', |x| x.is_ascii_digit()), Some(b'8'));
        assert_eq!(c.replacement(b'X', |x| x.is_ascii_digit()), None);
    }

    #[test]
    fn bad_classes_are_named() {
        assert_eq!(
            LookAlikeClasses::new(["0O", "A"]),
            Err(ClassError::TooSmall { class: "A".into() })
        );
        assert_eq!(
            LookAlikeClasses::new(["0-O"]),
            Err(ClassError::InvalidCharacter {
                class: "0-O".into(),
                found: '-'
            })
        );
        let custom = LookAlikeClasses::new(["mn"]).unwrap();
        assert!(custom.similar(b'M', b'N'));
        assert_eq!(custom.classes(), ["MN"]);
    }
}
