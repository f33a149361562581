//! Ranking recogniser hypotheses with plate-format knowledge, and telling plates from
//! other text.

use candor_platetext::formats::{self, RegionSet};
use candor_platetext::normalize;
use serde::Serialize;

use crate::ctc::Hypothesis;

/// One candidate text of a read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub plate: String,
    /// 0..1; the candidates of one read share the probability mass the recogniser gave them.
    pub confidence: f32,
    /// Whether the text fits a specific known layout exactly.
    pub matches_format: bool,
}

/// Weight a text with no known layout keeps relative to a perfect fit. The weight grows
/// with the square of the fit score, so that `ABC1234` (an exact old Brazilian layout)
/// beats an up to twice likelier `A8C1234` (a generic fit, or one swap from a layout); a
/// floor keeps reads of unknown layouts when nothing fits.
const NO_FIT_WEIGHT: f32 = 0.05;

/// Normalises texts, merges duplicates, reweights each by how well it fits a known
/// layout (of `regions` when the deployment names them, else of any region), and returns
/// the best `top_n`. Confidences keep the total probability of the listed hypotheses,
/// moved towards the texts that fit.
pub fn rank(
    hypotheses: &[Hypothesis],
    top_n: usize,
    regions: Option<&RegionSet>,
) -> Vec<Candidate> {
    let mut merged: Vec<(String, f32)> = Vec::new();
    for h in hypotheses {
        let text = normalize(&h.text);
        if text.is_empty() {
            continue;
        }
        match merged.iter_mut().find(|(t, _)| *t == text) {
            Some((_, p)) => *p += h.prob,
            None => merged.push((text, h.prob)),
        }
    }
    let total: f32 = merged.iter().map(|(_, p)| p).sum();
    let mut weighted: Vec<(String, f32)> = merged
        .into_iter()
        .map(|(text, p)| {
            let fit = regions.map_or_else(|| formats::fit_score(&text), |r| r.fit_score(&text));
            let weight = NO_FIT_WEIGHT + (1.0 - NO_FIT_WEIGHT) * fit * fit;
            (text, p * weight)
        })
        .collect();
    let weighted_total: f32 = weighted.iter().map(|(_, w)| w).sum();
    weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    weighted.truncate(top_n);
    weighted
        .into_iter()
        .map(|(plate, w)| Candidate {
            confidence: if weighted_total > 0.0 {
                (w / weighted_total * total).clamp(0.0, 1.0)
            } else {
                0.0
            },
            matches_format: layout_of(&plate, regions).is_some(),
            plate,
        })
        .collect()
}

/// Characters in a plate's text.
const PLATE_LENGTH: std::ops::RangeInclusive<usize> = 2..=10;

/// Where a box to read came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The detector found it in a scene: it may be a sign or a badge.
    Detection,
    /// The caller gave it as a plate crop.
    Crop,
}

/// Whether a read is reported. A detection's text must look like a plate
/// ([`looks_like_plate`]); a crop is a plate by the caller's word, so any text of plate
/// length is kept, vanity plates without digits too.
pub fn keeps(plate: &str, source: Source) -> bool {
    match source {
        Source::Detection => looks_like_plate(plate),
        Source::Crop => PLATE_LENGTH.contains(&plate.chars().count()),
    }
}

/// Plate texts run from 2 to 10 characters. Text with no digit (a road sign's `STOP`,
/// `ONE WAY`) is taken as a plate only when it fits a specific layout.
pub fn looks_like_plate(plate: &str) -> bool {
    let len = plate.chars().count();
    if !PLATE_LENGTH.contains(&len) {
        return false;
    }
    plate.chars().any(|c| c.is_ascii_digit()) || formats::matching(plate).iter().any(|f| !f.generic)
}

/// Region code and layout name of the first specific layout `plate` fits, if any: among
/// `regions`' layouts when given (a New York deployment reads `ABC1234` as New York's,
/// not Brazil's), else among all.
pub fn layout_of(plate: &str, regions: Option<&RegionSet>) -> Option<(&'static str, &'static str)> {
    let format = match regions {
        Some(r) => r.layout_of(plate),
        None => formats::matching(plate).into_iter().find(|f| !f.generic),
    };
    format.map(|f| (f.region, f.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyp(text: &str, prob: f32) -> Hypothesis {
        Hypothesis {
            text: text.into(),
            prob,
        }
    }

    #[test]
    fn prefers_a_candidate_that_fits_a_layout() {
        let ranked = rank(&[hyp("A8C1234", 0.6), hyp("ABC1234", 0.35)], 5, None);
        assert_eq!(ranked[0].plate, "ABC1234");
        assert!(ranked[0].matches_format);
        assert_eq!(ranked[1].plate, "A8C1234");
        assert!(ranked[0].confidence > ranked[1].confidence);
        let sum: f32 = ranked.iter().map(|c| c.confidence).sum();
        assert!(
            (sum - 0.95).abs() < 1e-4,
            "mass of the listed hypotheses is kept"
        );
    }

    #[test]
    fn keeps_recogniser_order_when_fits_are_equal() {
        let ranked = rank(&[hyp("ABC1234", 0.5), hyp("ABC1284", 0.3)], 5, None);
        assert_eq!(ranked[0].plate, "ABC1234");
        assert!((ranked[0].confidence - 0.5).abs() < 1e-4);
    }

    #[test]
    fn normalises_merges_and_truncates() {
        let ranked = rank(
            &[
                hyp("abc-1234", 0.4),
                hyp("ABC 1234", 0.3),
                hyp("", 0.2),
                hyp("XYZ9876", 0.1),
            ],
            1,
            None,
        );
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].plate, "ABC1234");
        assert!((ranked[0].confidence - 0.7).abs() < 0.05);
    }

    #[test]
    fn empty_input_gives_no_candidates() {
        assert!(rank(&[], 5, None).is_empty());
        assert!(rank(&[hyp("", 0.9)], 5, None).is_empty());
    }

    #[test]
    fn road_sign_text_is_not_a_plate() {
        assert!(!looks_like_plate("STOP"));
        assert!(!looks_like_plate("A"));
        assert!(!looks_like_plate("ABCDEFGHIJ1"));
        assert!(looks_like_plate("ABC1234"));
        assert!(looks_like_plate("7ABC123"));
    }

    #[test]
    fn a_crop_keeps_vanity_text_a_detection_does_not() {
        assert!(keeps("GLENIE", Source::Crop));
        assert!(!keeps("GLENIE", Source::Detection), "could be a sign");
        assert!(keeps("ABC1234", Source::Detection));
        assert!(!keeps("A", Source::Crop));
        assert!(!keeps("ABCDEFGHIJK", Source::Crop));
    }

    #[test]
    fn region_guess_comes_from_the_layout() {
        assert_eq!(layout_of("ABC1234", None).map(|l| l.0), Some("BR"));
        assert_eq!(layout_of("STOP", None), None);
        let ny = RegionSet::new(&["US-NY"]).unwrap();
        assert_eq!(layout_of("ABC1234", Some(&ny)).map(|l| l.0), Some("US-NY"));
        assert_eq!(layout_of("AB12CDE", Some(&ny)), None);
    }

    #[test]
    fn deployment_regions_decide_which_layouts_count() {
        // A UK layout beats a likelier text of no layout anywhere, but not in Brazil.
        let hyps = [hyp("AB12CDE", 0.4), hyp("AB12CDEF", 0.6)];
        assert_eq!(rank(&hyps, 5, None)[0].plate, "AB12CDE");
        let br = RegionSet::new(&["BR"]).unwrap();
        let ranked = rank(&hyps, 5, Some(&br));
        assert_eq!(ranked[0].plate, "AB12CDEF");
        assert!(!ranked[1].matches_format, "not a Brazilian layout");
        // A Brazilian layout still wins there.
        let hyps = [hyp("ABC1234", 0.3), hyp("ABC12345", 0.7)];
        assert_eq!(rank(&hyps, 5, Some(&br))[0].plate, "ABC1234");
    }
}
