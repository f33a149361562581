//! Jurisdiction plate layouts as data, and scoring of OCR text against them.
//!
//! A layout pattern is a sequence of slots: `L` a letter, `N` a digit, `A` either; a slot
//! may repeat, `L{3}` or `N{1,4}`; `|` separates alternative layouts. Plates are compared
//! in normal form ([`crate::normalize`]), so separators play no part.

use crate::lookalike::LookAlikeClasses;
use std::sync::OnceLock;

/// One plate layout of one jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Region code: ISO 3166-1 country (`BR`, `DE`, `GB`) or ISO 3166-2 subdivision
    /// (`US-NY`); a plain `US` is a layout that any state issues.
    pub region: &'static str,
    /// Human-readable name of the layout.
    pub name: &'static str,
    /// Layout pattern (see the module documentation).
    pub pattern: &'static str,
    /// A catch-all layout (such as US vanity plates) that says little about whether text
    /// is a plate; it scores lower than a specific layout.
    pub generic: bool,
}

const fn specific(region: &'static str, name: &'static str, pattern: &'static str) -> Format {
    Format {
        region,
        name,
        pattern,
        generic: false,
    }
}

/// Every known layout, most specific first within each region.
pub static FORMATS: &[Format] = &[
    specific("BR", "Brazil (pre-Mercosur)", "LLLNNNN"),
    specific("BR", "Brazil Mercosur", "LLLNLNN"),
    specific("DE", "Germany", "L{2,4}N{1,4}|L{5}N{1,3}"),
    specific("FR", "France SIV (2009-)", "LLNNNLL"),
    specific("FR", "France FNI (pre-2009)", "N{1,4}L{1,3}NN"),
    specific("IT", "Italy (1994-)", "LLNNNLL"),
    specific("ES", "Spain (2000-)", "NNNNLLL"),
    specific("NL", "Netherlands sidecode 1", "LLNNNN"),
    specific("NL", "Netherlands sidecode 2", "NNNNLL"),
    specific("NL", "Netherlands sidecode 3", "NNLLNN"),
    specific("NL", "Netherlands sidecode 4", "LLNNLL"),
    specific("NL", "Netherlands sidecode 5", "LLLLNN"),
    specific("NL", "Netherlands sidecode 6", "NNLLLL"),
    specific("NL", "Netherlands sidecode 7", "NNLLLN"),
    specific("NL", "Netherlands sidecode 8", "NLLLNN"),
    specific("NL", "Netherlands sidecode 9", "LLNNNL"),
    specific("NL", "Netherlands sidecode 10", "LNNNLL"),
    specific("NL", "Netherlands sidecode 11", "LLLNNL"),
    specific("NL", "Netherlands sidecode 12", "LNNLLL"),
    specific("NL", "Netherlands sidecode 13", "NLLNNN"),
    specific("NL", "Netherlands sidecode 14", "NNNLLN"),
    specific("BE", "Belgium (2010-)", "NLLLNNN"),
    specific("GB", "United Kingdom (2001-)", "LLNNLLL"),
    specific("US-CA", "California", "NLLLNNN"),
    specific("US-NJ", "New Jersey", "LNNLLL"),
    specific("US-NY", "New York", "LLLNNNN"),
    specific("US-PA", "Pennsylvania", "LLLNNNN"),
    specific("US-TX", "Texas", "LLLNNNN"),
    Format {
        region: "US",
        name: "US vanity or other serial",
        pattern: "A{5,7}",
        generic: true,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Letter,
    Digit,
    Any,
}

impl Slot {
    fn accepts(self, c: u8) -> bool {
        match self {
            Slot::Letter => c.is_ascii_uppercase(),
            Slot::Digit => c.is_ascii_digit(),
            Slot::Any => c.is_ascii_uppercase() || c.is_ascii_digit(),
        }
    }
}

/// Whether `text` (normal form) is the start of `layout`, each character in its slot.
fn begins(text: &[u8], layout: &[Slot]) -> bool {
    text.len() <= layout.len() && text.iter().zip(layout).all(|(&c, s)| s.accepts(c))
}

/// Whether `text` (normal form) fits `layout` exactly.
fn fills(text: &[u8], layout: &[Slot]) -> bool {
    text.len() == layout.len() && begins(text, layout)
}

/// A pattern that does not follow the layout grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plate layout pattern {pattern:?}: {problem}")]
pub struct PatternError {
    pub pattern: String,
    pub problem: String,
}

/// The most fixed layouts one pattern may expand to; keeps a typo such as `A{1,99}` from
/// exploding.
const MAX_LAYOUTS: usize = 256;

/// Expands a pattern into every fixed-length layout it allows.
fn expand(pattern: &str) -> Result<Vec<Vec<Slot>>, PatternError> {
    let fail = |problem: &str| PatternError {
        pattern: pattern.to_string(),
        problem: problem.to_string(),
    };
    let mut layouts = Vec::new();
    for alternative in pattern.split('|') {
        let mut partial: Vec<Vec<Slot>> = vec![Vec::new()];
        let mut chars = alternative.chars().peekable();
        if chars.peek().is_none() {
            return Err(fail("an alternative is empty"));
        }
        while let Some(c) = chars.next() {
            let slot = match c {
                'L' => Slot::Letter,
                'N' => Slot::Digit,
                'A' => Slot::Any,
                other => return Err(fail(&format!("unknown slot {other:?}; use L, N or A"))),
            };
            let (min, max) = if chars.peek() == Some(&'{') {
                chars.next();
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let mut bounds = spec.split(',').map(|s| s.trim().parse::<usize>());
                let min = bounds.next();
                let max = bounds.next();
                match (min, max, bounds.next()) {
                    (Some(Ok(n)), None, None) => (n, n),
                    (Some(Ok(m)), Some(Ok(n)), None) if m <= n => (m, n),
                    _ => return Err(fail(&format!("bad repeat {{{spec}}}"))),
                }
            } else {
                (1, 1)
            };
            let mut next = Vec::new();
            for layout in &partial {
                for count in min..=max {
                    let mut grown = layout.clone();
                    grown.extend(std::iter::repeat_n(slot, count));
                    next.push(grown);
                }
            }
            if next.len() > MAX_LAYOUTS {
                return Err(fail("too many layouts; narrow the repeats"));
            }
            partial = next;
        }
        layouts.extend(partial.into_iter().filter(|l| !l.is_empty()));
    }
    Ok(layouts)
}

/// Checks that a pattern follows the layout grammar.
pub fn validate_pattern(pattern: &str) -> Result<(), PatternError> {
    expand(pattern).map(|_| ())
}

fn compiled() -> &'static [Vec<Vec<Slot>>] {
    static COMPILED: OnceLock<Vec<Vec<Vec<Slot>>>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        FORMATS
            .iter()
            .map(|f| expand(f.pattern).expect("built-in patterns are valid"))
            .collect()
    })
}

fn repair_classes() -> &'static LookAlikeClasses {
    static CLASSES: OnceLock<LookAlikeClasses> = OnceLock::new();
    CLASSES.get_or_init(LookAlikeClasses::extended)
}

/// Most look-alike swaps a repair may make: past two, the text is more likely another
/// plate (or not a plate) than a misread of this layout.
pub const MAX_REPAIR_SWAPS: usize = 2;

/// Look-alike swaps needed to fit `plate` to `layout`, with the repaired text; `None`
/// when no swap fits some slot.
fn fit_layout(
    plate: &[u8],
    layout: &[Slot],
    classes: &LookAlikeClasses,
) -> Option<(usize, Vec<u8>)> {
    if plate.len() != layout.len() {
        return None;
    }
    let mut swaps = 0;
    let mut repaired = Vec::with_capacity(plate.len());
    for (&c, &slot) in plate.iter().zip(layout) {
        if slot.accepts(c) {
            repaired.push(c);
        } else {
            repaired.push(classes.replacement(c, |x| slot.accepts(x))?);
            swaps += 1;
            if swaps > MAX_REPAIR_SWAPS {
                return None;
            }
        }
    }
    Some((swaps, repaired))
}

fn normalize_region(region: &str) -> String {
    let upper = region.trim().to_ascii_uppercase().replace('_', "-");
    match upper.as_str() {
        "UK" => "GB".to_string(),
        _ => upper,
    }
}

fn in_region(format: &Format, region: &str) -> bool {
    format.region == region
        || format
            .region
            .strip_prefix(region)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// Known layouts of a region: `US` gives every US layout, `US-NY` New York's only.
/// Codes are case-insensitive; `UK` is taken as `GB`.
pub fn for_region(region: &str) -> Vec<&'static Format> {
    let region = normalize_region(region);
    FORMATS.iter().filter(|f| in_region(f, &region)).collect()
}

/// The plate layouts of the regions a deployment reads, for decoding and ranking text
/// towards them. A code names a country (`BR`, `US`) or a subdivision (`US-NY`); a
/// subdivision brings its country-wide layouts too (a New York camera sees vanity plates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSet {
    codes: Vec<String>,
    /// Indices into [`FORMATS`].
    formats: Vec<usize>,
}

/// A region code with no known layouts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plate region {code:?}: known regions are {known}")]
pub struct UnknownRegion {
    pub code: String,
    pub known: String,
}

impl RegionSet {
    /// The layouts of `codes` (case-insensitive; `UK` is taken as `GB`). Fails on a code
    /// with no layouts, naming the codes that have some.
    pub fn new<S: AsRef<str>>(codes: &[S]) -> Result<Self, UnknownRegion> {
        let mut set = RegionSet {
            codes: Vec::new(),
            formats: Vec::new(),
        };
        for code in codes {
            let code = normalize_region(code.as_ref());
            let country = code.split('-').next().unwrap_or_default();
            let found: Vec<usize> = (0..FORMATS.len())
                .filter(|&i| in_region(&FORMATS[i], &code) || FORMATS[i].region == country)
                .collect();
            if !found.iter().any(|&i| !FORMATS[i].generic) {
                return Err(UnknownRegion {
                    code,
                    known: known_regions().join(", "),
                });
            }
            set.formats.extend(found);
            set.codes.push(code);
        }
        set.formats.sort_unstable();
        set.formats.dedup();
        Ok(set)
    }

    /// [`RegionSet::new`], or `None` when no code is given (every layout counts alike).
    pub fn named<S: AsRef<str>>(codes: &[S]) -> Result<Option<Self>, UnknownRegion> {
        if codes.is_empty() {
            return Ok(None);
        }
        Self::new(codes).map(Some)
    }

    /// The codes, normalised.
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    fn specific_layouts(&self) -> impl Iterator<Item = &'static Vec<Slot>> + '_ {
        let layouts = compiled();
        self.formats
            .iter()
            .filter(|&&i| !FORMATS[i].generic)
            .flat_map(move |&i| layouts[i].iter())
    }

    /// Whether `text` (normal form) begins some specific layout of these regions.
    pub fn allows_prefix(&self, text: &[u8]) -> bool {
        self.specific_layouts().any(|l| begins(text, l))
    }

    /// Whether `text` (normal form) fits some specific layout of these regions exactly.
    pub fn fits_specific(&self, text: &[u8]) -> bool {
        self.specific_layouts().any(|l| fills(text, l))
    }

    /// [`fit_score`] against these regions' layouts only.
    pub fn fit_score(&self, plate: &str) -> f32 {
        let plate = crate::normalize(plate);
        best_fit(plate.as_bytes(), self.formats.iter().copied())
            .map_or(0.0, |(f, swaps, _)| score(f, swaps))
    }

    /// The first specific layout of these regions that `plate` fits exactly.
    pub fn layout_of(&self, plate: &str) -> Option<&'static Format> {
        let plate = crate::normalize(plate);
        let layouts = compiled();
        self.formats
            .iter()
            .find(|&&i| {
                !FORMATS[i].generic && layouts[i].iter().any(|l| fills(plate.as_bytes(), l))
            })
            .map(|&i| &FORMATS[i])
    }
}

/// Region codes that have at least one specific layout (a country with layouts only in
/// its subdivisions too), sorted.
pub fn known_regions() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = FORMATS
        .iter()
        .filter(|f| !f.generic)
        .flat_map(|f| [f.region, f.region.split('-').next().unwrap_or(f.region)])
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

impl Format {
    /// Whether `plate` (any form; it is normalised first) fits this layout as it is.
    pub fn fits(&self, plate: &str) -> bool {
        let plate = crate::normalize(plate);
        match expand(self.pattern) {
            Ok(layouts) => layouts.iter().any(|l| fills(plate.as_bytes(), l)),
            Err(_) => false,
        }
    }
}

/// Best way to fit `plate` among `candidates` (indices into [`FORMATS`]): highest
/// [`score`], then table order.
fn best_fit(
    plate: &[u8],
    candidates: impl Iterator<Item = usize>,
) -> Option<(&'static Format, usize, Vec<u8>)> {
    let classes = repair_classes();
    let layouts = compiled();
    let mut best: Option<(&'static Format, usize, Vec<u8>)> = None;
    for index in candidates {
        let format = &FORMATS[index];
        for layout in &layouts[index] {
            if let Some((swaps, repaired)) = fit_layout(plate, layout, classes) {
                let better = match &best {
                    None => true,
                    Some((f, s, _)) => score(format, swaps) > score(f, *s),
                };
                if better {
                    best = Some((format, swaps, repaired));
                }
            }
        }
    }
    best
}

/// Every layout that `plate` fits exactly (after normalisation), specific ones first.
pub fn matching(plate: &str) -> Vec<&'static Format> {
    let plate = crate::normalize(plate);
    let layouts = compiled();
    let mut found: Vec<&'static Format> = FORMATS
        .iter()
        .zip(layouts)
        .filter(|(_, ls)| ls.iter().any(|l| fills(plate.as_bytes(), l)))
        .map(|(f, _)| f)
        .collect();
    found.sort_by_key(|f| f.generic);
    found
}

fn score(format: &Format, swaps: usize) -> f32 {
    match (format.generic, swaps) {
        (false, 0) => 1.0,
        (true, 0) => 0.5,
        // Each look-alike swap costs; a specific layout reached by one swap still beats
        // a generic layout met exactly, two swaps tie with it.
        (generic, n) => {
            let base = if generic { 0.4 } else { 0.9 };
            (base - 0.2 * n as f32).max(0.05)
        }
    }
}

/// How well `plate` fits any known layout, in `0.0..=1.0`: 1 for an exact fit to a specific
/// layout, less for a generic layout or for each look-alike swap a fit needs, 0 for none.
/// Used to rank OCR candidates: `ABC1234` scores above `A8C1234`.
pub fn fit_score(plate: &str) -> f32 {
    let plate = crate::normalize(plate);
    best_fit(plate.as_bytes(), 0..FORMATS.len()).map_or(0.0, |(f, swaps, _)| score(f, swaps))
}

/// Fits `plate` to one of `region`'s layouts by look-alike swaps, position by position: a
/// digit in a letter slot becomes its look-alike letter (`8` -> `B`), a letter in a digit
/// slot its look-alike digit (`O` -> `0`). Picks the layout needing fewest swaps; returns the
/// plate unchanged (normalised) when it already fits a specific layout, `None` when no layout can be reached.
/// Uses the extended look-alike classes ([`LookAlikeClasses::extended`]) and at most
/// [`MAX_REPAIR_SWAPS`] swaps.
pub fn repair(plate: &str, region: &str) -> Option<String> {
    let plate = crate::normalize(plate);
    let region = normalize_region(region);
    let candidates = (0..FORMATS.len()).filter(|&i| in_region(&FORMATS[i], &region));
    best_fit(plate.as_bytes(), candidates)
        .map(|(_, _, repaired)| String::from_utf8(repaired).expect("plate text is ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_patterns_compile() {
        for f in FORMATS {
            validate_pattern(f.pattern).unwrap();
        }
        assert!(compiled().iter().all(|ls| !ls.is_empty()));
    }

    #[test]
    fn pattern_errors_name_the_problem() {
        let e = validate_pattern("LLX").unwrap_err();
        assert!(e.to_string().contains("unknown slot 'X'"), "{e}");
        assert!(validate_pattern("L{3,1}").is_err());
        assert!(validate_pattern("L{a}").is_err());
        assert!(validate_pattern("LL|").is_err());
        assert!(validate_pattern("A{1,9}A{1,9}A{1,9}").is_err());
    }

    #[test]
    fn expands_repeats_and_alternatives() {
        let layouts = expand("L{1,2}N|NN").unwrap();
        assert_eq!(layouts.len(), 3);
        assert_eq!(layouts[2], vec![Slot::Digit, Slot::Digit]);
    }

    #[test]
    fn brazil_layouts() {
        let names: Vec<_> = matching("ABC1234").iter().map(|f| f.region).collect();
        assert_eq!(names[0], "BR");
        assert!(names.contains(&"US-NY") && names.contains(&"US-TX"));
        assert_eq!(*names.last().unwrap(), "US", "generic layouts come last");
        assert!(
            matching("ABC1D23")
                .iter()
                .any(|f| f.name == "Brazil Mercosur")
        );
        assert!(
            matching("ABC12")
                .iter()
                .all(|f| f.generic || f.region == "DE")
        );
        assert!(matching("123").is_empty());
        assert!(matching("1A2B3").iter().all(|f| f.generic));
        assert!(matching("").is_empty());
    }

    #[test]
    fn european_layouts() {
        let regions = |p: &str| -> Vec<&str> { matching(p).iter().map(|f| f.region).collect() };
        assert!(regions("AB-123-CD").contains(&"FR"));
        assert!(regions("AB 123 CD").contains(&"IT"));
        assert!(regions("1234 BCD").contains(&"ES"));
        assert!(regions("1-ABC-234").contains(&"BE"));
        assert!(regions("AB12 CDE").contains(&"GB"));
        assert!(regions("M AB 1234").contains(&"DE"));
        assert!(regions("B A 1").contains(&"DE"));
        assert!(!regions("ABCDE1234").contains(&"DE"));
        assert!(regions("12-ABC-3").contains(&"NL"));
    }

    #[test]
    fn fit_score_ranks_clean_text_above_look_alikes() {
        assert_eq!(fit_score("ABC1234"), 1.0);
        assert!(fit_score("ABC1234") > fit_score("A8C1234"));
        // one swap to a specific layout still beats an exact generic (vanity) fit
        assert!(fit_score("A8C1234") > fit_score("1A2B3"));
        assert!(fit_score("A8C1234") > fit_score("A8C1Z3O"));
        assert_eq!(fit_score("!!"), 0.0);
        assert_eq!(fit_score("ABCDEFGHIJ"), 0.0);
    }

    #[test]
    fn repair_swaps_look_alikes_into_slots() {
        assert_eq!(repair("A8C1234", "BR").as_deref(), Some("ABC1234"));
        assert_eq!(repair("ABC12O4", "br").as_deref(), Some("ABC1204"));
        assert_eq!(repair("ABC1D23", "BR").as_deref(), Some("ABC1D23"));
        assert_eq!(repair("A8 12 CDE", "UK").as_deref(), Some("AB12CDE"));
        assert_eq!(repair("ABC1234", "FR"), None);
        assert_eq!(repair("ABCDEFG", "BR"), None, "too many swaps");
        assert_eq!(repair("ABCX234", "BR"), None);
        assert_eq!(repair("5ABC123", "US-CA").as_deref(), Some("5ABC123"));
        assert_eq!(repair("S4BC123", "US-CA").as_deref(), Some("5ABC123"));
    }

    #[test]
    fn region_set_constrains_prefixes_and_fits() {
        let br = RegionSet::new(&["br"]).unwrap();
        assert_eq!(br.codes(), ["BR"]);
        assert_eq!(RegionSet::named(&["br"]).unwrap(), Some(br.clone()));
        assert_eq!(RegionSet::named::<&str>(&[]).unwrap(), None);
        assert!(br.allows_prefix(b""));
        assert!(br.allows_prefix(b"ABC1"));
        assert!(br.allows_prefix(b"ABC1D"), "Mercosur");
        assert!(!br.allows_prefix(b"AB1"));
        assert!(!br.allows_prefix(b"ABC12345"));
        assert!(br.fits_specific(b"ABC1234") && br.fits_specific(b"ABC1D23"));
        assert!(!br.fits_specific(b"ABC123"));
        // Layouts of other regions no longer count as a fit.
        assert_eq!(br.fit_score("AB12CDE"), 0.0);
        assert_eq!(fit_score("AB12CDE"), 1.0);
        assert!(br.fit_score("A8C1234") < br.fit_score("ABC1234"));
        assert_eq!(br.layout_of("ABC1234").unwrap().region, "BR");
    }

    #[test]
    fn region_set_subdivision_brings_country_layouts() {
        let ny = RegionSet::new(&["US-NY"]).unwrap();
        assert!(ny.fits_specific(b"ABC1234"));
        assert!(!ny.fits_specific(b"5ABC123"), "California is not New York");
        // Vanity plates are issued country-wide: a generic fit, not nothing.
        assert!(ny.fit_score("GLENIE") > 0.0);
        assert_eq!(ny.layout_of("ABC1234").unwrap().region, "US-NY");
        let both = RegionSet::new(&["US-NY", "US-NJ"]).unwrap();
        assert!(both.fits_specific(b"A12BCD"));
    }

    #[test]
    fn region_set_names_unknown_codes() {
        let e = RegionSet::new(&["BR", "XX"]).unwrap_err();
        assert_eq!(e.code, "XX");
        let message = e.to_string();
        assert!(
            message.contains("\"XX\"") && message.contains("BR, DE"),
            "{message}"
        );
        assert!(
            RegionSet::new(&["US-ZZ"]).is_err(),
            "a state with no layout of its own"
        );
        assert!(RegionSet::new(&["uk"]).is_ok());
    }

    #[test]
    fn regions_and_aliases() {
        assert_eq!(for_region("us").len(), 6);
        assert_eq!(for_region("US-NY").len(), 1);
        assert_eq!(for_region("UK")[0].region, "GB");
        assert!(for_region("XX").is_empty());
        assert!(FORMATS[0].fits("abc-1234"));
        assert!(!FORMATS[0].fits("abc-123"));
    }
}
