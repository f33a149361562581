//! Plate grams: the small pieces of a plate that a wildcard pattern can require, so that a
//! store can keep a compact keyed signature per read and skip reads that cannot match.
//!
//! A plate's grams are its first character, its last character and every pair of adjacent
//! characters, each character first folded to a canonical stand-in of its look-alike group
//! ([`GRAM_CLASSES`], frozen: changing it would invalidate every stored signature). Folding
//! means a look-alike search can use the same signatures: a pattern character whose
//! look-alikes all fold to the same stand-in still requires its grams.
//!
//! Grams are numbered `0..GRAM_COUNT`; what a number means is fixed here, what bit of a
//! signature it sets is the store's (keyed) business.

use std::sync::LazyLock;

use crate::lookalike::LookAlikeClasses;
use crate::wildcard::{Pattern, Token};

/// The look-alike groups grams are folded by: the vendor defaults plus the often-added
/// classes, as of the first stored signatures. Never change this list.
pub const GRAM_CLASSES: &[&str] = &[
    "0ODQ", "1I", "2Z", "5S", "8B", "6G", "38B", "EFP", "HKMR", "TY", "VY", "4A", "7T", "UV",
];

const SYMBOLS: usize = 36;
const START: usize = 0;
const PAIR: usize = SYMBOLS;
const END: usize = SYMBOLS + SYMBOLS * SYMBOLS;

/// Number of distinct grams.
pub const GRAM_COUNT: usize = END + SYMBOLS;

static FOLD: LazyLock<LookAlikeClasses> =
    LazyLock::new(|| LookAlikeClasses::new(GRAM_CLASSES.iter().copied()).expect("valid classes"));

fn folded(c: u8) -> Option<usize> {
    match FOLD.canonical(c) {
        c @ b'0'..=b'9' => Some((c - b'0') as usize),
        c @ b'A'..=b'Z' => Some((c - b'A') as usize + 10),
        _ => None,
    }
}

/// The grams of a normalised plate (repeats possible). Characters outside `A`–`Z`/`0`–`9`
/// contribute nothing.
pub fn plate_grams(plate: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let first = plate.first().and_then(|&c| folded(c)).map(|s| START + s);
    let last = plate.last().and_then(|&c| folded(c)).map(|s| END + s);
    let pairs = plate
        .windows(2)
        .filter_map(|w| Some(PAIR + folded(w[0])? * SYMBOLS + folded(w[1])?));
    first.into_iter().chain(last).chain(pairs).map(|g| g as u16)
}

impl Pattern {
    /// Grams every plate matching this pattern must have. With `lookalikes`, a plate may
    /// differ from the pattern by look-alike substitutions, so a gram is required only when
    /// each of its characters' look-alikes folds to the same stand-in as the character.
    pub fn required_grams(&self, lookalikes: Option<&LookAlikeClasses>) -> Vec<u16> {
        let stable = |c: u8| -> Option<usize> {
            let s = folded(c)?;
            match lookalikes {
                Some(classes) if classes.alternatives(c).any(|a| folded(a) != Some(s)) => None,
                _ => Some(s),
            }
        };
        let tokens = self.tokens();
        let mut out = Vec::new();
        if let Some(Token::Char(c)) = tokens.first()
            && let Some(s) = stable(*c)
        {
            out.push((START + s) as u16);
        }
        if let Some(Token::Char(c)) = tokens.last()
            && let Some(s) = stable(*c)
        {
            out.push((END + s) as u16);
        }
        for w in tokens.windows(2) {
            if let [Token::Char(a), Token::Char(b)] = w
                && let (Some(x), Some(y)) = (stable(*a), stable(*b))
            {
                out.push((PAIR + x * SYMBOLS + y) as u16);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(plate: &str) -> Vec<u16> {
        let mut g: Vec<u16> = plate_grams(plate.as_bytes()).collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    fn required(pattern: &str, lookalikes: Option<&LookAlikeClasses>) -> Vec<u16> {
        Pattern::parse(pattern).unwrap().required_grams(lookalikes)
    }

    fn subset(a: &[u16], b: &[u16]) -> bool {
        a.iter().all(|g| b.contains(g))
    }

    #[test]
    fn every_matching_plate_has_the_required_grams() {
        let plates = ["ABC1234", "XABC12", "AB12", "7TY0OQ", "Z", "8B3EFP"];
        let patterns = [
            "AB?12*", "*12*", "A*4", "?BC*", "*C1?3*", "7T*", "*Q", "Z", "8B?E*", "ABC1234",
        ];
        for pat in patterns {
            let p = Pattern::parse(pat).unwrap();
            for plate in plates {
                if p.matches(plate) {
                    assert!(
                        subset(&required(pat, None), &grams(plate)),
                        "{pat} matches {plate} but requires grams it lacks"
                    );
                }
            }
        }
    }

    #[test]
    fn fixed_runs_and_anchors_are_required() {
        // AB?12*: starts with A, pairs AB and 12; no end anchor after a star.
        assert_eq!(required("AB?12*", None).len(), 3);
        // *12*: only the pair.
        assert_eq!(required("*12*", None).len(), 1);
        // ? and * alone between single characters fix no pair.
        assert_eq!(required("*A?B*", None).len(), 0);
        // folded: O and 0 are one stand-in, so a plate with O has the grams of 0.
        assert_eq!(grams("A0"), grams("AO"));
        assert_ne!(grams("AX"), grams("AY"));
    }

    #[test]
    fn lookalike_search_keeps_only_grams_that_survive_substitution() {
        let defaults = LookAlikeClasses::vendor_default();
        // The defaults are within the frozen groups: nothing is lost.
        assert_eq!(
            required("AB?12*", Some(&defaults)),
            required("AB?12*", None)
        );
        // A custom class outside the groups (X with K) drops the grams holding X or K.
        let custom = LookAlikeClasses::new(["XK"]).unwrap();
        assert_eq!(
            required("XA", Some(&custom)).len(),
            1,
            "only the end anchor A"
        );
        // and a plate matching by that substitution still has the required grams.
        let p = Pattern::parse("XA").unwrap();
        assert!(p.matches_within(b"KA", &custom, 1));
        assert!(subset(&required("XA", Some(&custom)), &grams("KA")));
    }
}
