//! CTC decoding of recogniser output: softmax, greedy best path, prefix beam search.
//!
//! Label 0 is the CTC blank; label `k > 0` is character `k - 1` of the alphabet.

use std::collections::HashMap;

use candor_platetext::formats::RegionSet;

/// Per-timestep class probabilities, `steps` rows of `classes` values, row-major.
#[derive(Debug, Clone)]
pub struct ProbSeq<'a> {
    pub probs: &'a [f32],
    pub steps: usize,
    pub classes: usize,
}

impl<'a> ProbSeq<'a> {
    pub fn new(probs: &'a [f32], steps: usize, classes: usize) -> Self {
        assert_eq!(
            probs.len(),
            steps * classes,
            "probability buffer does not match its shape"
        );
        Self {
            probs,
            steps,
            classes,
        }
    }

    fn row(&self, t: usize) -> &[f32] {
        &self.probs[t * self.classes..(t + 1) * self.classes]
    }
}

/// Softmax over each row of `classes` logits, in place.
pub fn softmax_rows(logits: &mut [f32], classes: usize) {
    for row in logits.chunks_mut(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        if sum > 0.0 {
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
    }
}

/// A decoded text and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub text: String,
    pub prob: f32,
}

fn labels_to_text(labels: &[u32], alphabet: &[char]) -> String {
    labels
        .iter()
        .filter_map(|&l| alphabet.get(l as usize - 1))
        .collect()
}

/// Best-path decoding: the most likely class at each step, repeats merged, blanks
/// dropped. The probability is that of the single best path.
pub fn greedy(seq: &ProbSeq, alphabet: &[char]) -> Hypothesis {
    let mut labels = Vec::new();
    let mut prev = 0usize;
    let mut prob = 1.0f64;
    for t in 0..seq.steps {
        let (best, p) =
            seq.row(t)
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |acc, (i, p)| if p > acc.1 { (i, p) } else { acc },
                );
        prob *= f64::from(p);
        if best != 0 && best != prev {
            labels.push(best as u32);
        }
        prev = best;
    }
    Hypothesis {
        text: labels_to_text(&labels, alphabet),
        prob: prob as f32,
    }
}

/// Classes below this probability at a step are not extended by the beam search;
/// they cannot lift a prefix into the top few.
const MIN_EXTEND_PROB: f32 = 1e-3;

/// Texts a constrained search may build: the prefixes it may grow, and the texts it may
/// end on.
pub trait TextConstraint {
    fn allows_prefix(&self, text: &[u8]) -> bool;
    fn allows(&self, text: &[u8]) -> bool;
}

/// A deployment's regions allow the specific layouts they issue.
impl TextConstraint for RegionSet {
    fn allows_prefix(&self, text: &[u8]) -> bool {
        RegionSet::allows_prefix(self, text)
    }
    fn allows(&self, text: &[u8]) -> bool {
        self.fits_specific(text)
    }
}

/// Prefix beam search: the `n` most probable texts, each with its total probability
/// summed over all CTC paths that produce it, most probable first.
pub fn beam_search(
    seq: &ProbSeq,
    alphabet: &[char],
    beam_width: usize,
    n: usize,
) -> Vec<Hypothesis> {
    search(seq, alphabet, beam_width, n, None)
}

/// [`beam_search`] over the texts `constraint` allows only: the most probable texts of a
/// layout, which an unconstrained beam may have pruned for a likelier misfit.
pub fn beam_search_within(
    seq: &ProbSeq,
    alphabet: &[char],
    beam_width: usize,
    n: usize,
    constraint: &dyn TextConstraint,
) -> Vec<Hypothesis> {
    search(seq, alphabet, beam_width, n, Some(constraint))
}

fn search(
    seq: &ProbSeq,
    alphabet: &[char],
    beam_width: usize,
    n: usize,
    constraint: Option<&dyn TextConstraint>,
) -> Vec<Hypothesis> {
    // prefix -> (prob ending in blank, prob ending in a character)
    let mut beams: HashMap<Vec<u32>, (f64, f64)> = HashMap::new();
    beams.insert(Vec::new(), (1.0, 0.0));
    for t in 0..seq.steps {
        let row = seq.row(t);
        let mut next: HashMap<Vec<u32>, (f64, f64)> = HashMap::with_capacity(beams.len() * 4);
        for (prefix, &(pb, pnb)) in &beams {
            let total = pb + pnb;
            let blank = f64::from(row[0]);
            next.entry(prefix.clone()).or_default().0 += total * blank;
            let last = prefix.last().copied();
            // The prefix's text, for the constraint to check each extension against.
            let mut text = constraint.map(|_| labels_to_text(prefix, alphabet).into_bytes());
            for (class, &p) in row.iter().enumerate().skip(1) {
                if p < MIN_EXTEND_PROB {
                    continue;
                }
                let p = f64::from(p);
                let label = class as u32;
                if Some(label) == last {
                    // Staying on the same character keeps the prefix as it is.
                    next.entry(prefix.clone()).or_default().1 += pnb * p;
                }
                if let (Some(constraint), Some(text)) = (constraint, text.as_mut()) {
                    let len = text.len();
                    let mut buf = [0u8; 4];
                    text.extend_from_slice(alphabet[class - 1].encode_utf8(&mut buf).as_bytes());
                    let allowed = constraint.allows_prefix(text);
                    text.truncate(len);
                    if !allowed {
                        continue;
                    }
                }
                let mut extended = prefix.clone();
                extended.push(label);
                if Some(label) == last {
                    // A repeat only starts a new character after a blank.
                    next.entry(extended).or_default().1 += pb * p;
                } else {
                    next.entry(extended).or_default().1 += total * p;
                }
            }
        }
        let mut ranked: Vec<(Vec<u32>, (f64, f64))> = next.into_iter().collect();
        ranked.sort_by(|a, b| {
            (b.1.0 + b.1.1)
                .total_cmp(&(a.1.0 + a.1.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        ranked.truncate(beam_width.max(1));
        beams = ranked.into_iter().collect();
    }
    let mut out: Vec<Hypothesis> = beams
        .into_iter()
        .map(|(labels, (pb, pnb))| Hypothesis {
            text: labels_to_text(&labels, alphabet),
            prob: (pb + pnb) as f32,
        })
        .filter(|h| h.prob > 0.0)
        .filter(|h| constraint.is_none_or(|c| c.allows(h.text.as_bytes())))
        .collect();
    out.sort_by(|a, b| b.prob.total_cmp(&a.prob).then_with(|| a.text.cmp(&b.text)));
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHABET: [char; 3] = ['A', 'B', '8'];

    /// Rows of probabilities over [blank, A, B, 8].
    fn seq(rows: &[[f32; 4]]) -> Vec<f32> {
        rows.iter().flatten().copied().collect()
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut logits = vec![1.0, 2.0, 3.0, 1000.0, 0.0, -1000.0];
        softmax_rows(&mut logits, 3);
        assert!((logits[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(logits[2] > logits[1] && logits[1] > logits[0]);
        assert!((logits[3] - 1.0).abs() < 1e-6 && logits[5] == 0.0);
    }

    #[test]
    fn greedy_merges_repeats_and_drops_blanks() {
        let probs = seq(&[
            [0.1, 0.9, 0.0, 0.0],
            [0.1, 0.9, 0.0, 0.0],
            [0.9, 0.1, 0.0, 0.0],
            [0.1, 0.9, 0.0, 0.0],
            [0.2, 0.0, 0.8, 0.0],
        ]);
        let h = greedy(&ProbSeq::new(&probs, 5, 4), &ALPHABET);
        assert_eq!(h.text, "AAB");
        assert!((h.prob - 0.9f32.powi(4) * 0.8).abs() < 1e-5);
    }

    /// A letter, then a digit.
    struct LetterDigit;

    impl TextConstraint for LetterDigit {
        fn allows_prefix(&self, text: &[u8]) -> bool {
            let slots = [u8::is_ascii_uppercase, u8::is_ascii_digit];
            text.len() <= 2 && text.iter().zip(slots).all(|(c, ok)| ok(c))
        }
        fn allows(&self, text: &[u8]) -> bool {
            text.len() == 2 && self.allows_prefix(text)
        }
    }

    #[test]
    fn constrained_search_keeps_only_texts_that_fit() {
        // "B" (the two B steps merged) is likeliest, but only "B8" (letter, digit) fits.
        let probs = seq(&[[0.0, 0.1, 0.9, 0.0], [0.0, 0.0, 0.7, 0.3]]);
        let s = ProbSeq::new(&probs, 2, 4);
        assert_eq!(beam_search(&s, &ALPHABET, 2, 5)[0].text, "B");
        let within = beam_search_within(&s, &ALPHABET, 2, 5, &LetterDigit);
        assert_eq!(within.len(), 1, "{within:?}");
        assert_eq!(within[0].text, "B8");
        assert!((within[0].prob - 0.9 * 0.3).abs() < 1e-6);
    }

    #[test]
    fn constrained_search_returns_nothing_when_no_text_fits() {
        let probs = seq(&[[0.0, 1.0, 0.0, 0.0]]);
        let s = ProbSeq::new(&probs, 1, 4);
        assert!(beam_search_within(&s, &ALPHABET, 4, 5, &LetterDigit).is_empty());
    }

    #[test]
    fn beam_sums_paths_that_greedy_splits() {
        // Best single path is blank-blank (""), but "A" has more total probability:
        // P("") = 0.36, P("A") = 0.4*0.6 + 0.6*0.4 + 0.4*0.4 = 0.64.
        let probs = seq(&[[0.6, 0.4, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0]]);
        let s = ProbSeq::new(&probs, 2, 4);
        assert_eq!(greedy(&s, &ALPHABET).text, "");
        let top = beam_search(&s, &ALPHABET, 8, 2);
        assert_eq!(top[0].text, "A");
        assert!((top[0].prob - 0.64).abs() < 1e-5);
        assert_eq!(top[1].text, "");
        assert!((top[1].prob - 0.36).abs() < 1e-5);
    }

    #[test]
    fn beam_returns_look_alike_alternatives_in_order() {
        let probs = seq(&[
            [0.0, 1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.3, 0.7],
            [1.0, 0.0, 0.0, 0.0],
        ]);
        let top = beam_search(&ProbSeq::new(&probs, 4, 4), &ALPHABET, 8, 3);
        let texts: Vec<&str> = top.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(texts, ["A8", "AB"]);
        assert!((top[0].prob - 0.7).abs() < 1e-5 && (top[1].prob - 0.3).abs() < 1e-5);
    }

    #[test]
    fn repeated_character_needs_a_blank_between() {
        let probs = seq(&[
            [0.0, 1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
        ]);
        let top = beam_search(&ProbSeq::new(&probs, 3, 4), &ALPHABET, 4, 1);
        assert_eq!(top[0].text, "AA");
        let probs = seq(&[[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]);
        assert_eq!(
            beam_search(&ProbSeq::new(&probs, 2, 4), &ALPHABET, 4, 1)[0].text,
            "A"
        );
    }
}
