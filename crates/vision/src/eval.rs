//! Scoring the engine on labelled data: dataset layouts, matching reads to labels, metrics.
//!
//! Three layouts are understood:
//! - plate crops: `labels.csv` (`file,plate,region`), images beside it or in `images/`;
//! - scene images with OpenALPR-benchmark-style `.txt` labels (`file x y w h PLATE` a line);
//! - YOLO detection sets: `images/` and `labels/` (`class cx cy w h`, normalised; class 0 =
//!   plate), boxes only.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::PlateRead;
use crate::geometry::BoxF;

/// A labelled plate in a scene; `text` is absent where the set labels boxes only.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPlate {
    pub bbox: BoxF,
    pub text: Option<String>,
}

/// What is known about one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// The image is a plate crop with this text.
    Crop { plate: String },
    /// A scene with these plates; YOLO boxes are in normalised units until the image's
    /// size is known (see [`Truth::in_pixels`]).
    Scene {
        plates: Vec<LabelledPlate>,
        normalised: bool,
    },
}

impl Truth {
    /// The labels in pixels of a `width`×`height` image.
    pub fn in_pixels(&self, width: u32, height: u32) -> Truth {
        match self {
            Truth::Scene {
                plates,
                normalised: true,
            } => Truth::Scene {
                plates: plates
                    .iter()
                    .map(|p| LabelledPlate {
                        bbox: BoxF::new(
                            p.bbox.x * width as f32,
                            p.bbox.y * height as f32,
                            p.bbox.w * width as f32,
                            p.bbox.h * height as f32,
                        ),
                        text: p.text.clone(),
                    })
                    .collect(),
                normalised: false,
            },
            other => other.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub image: PathBuf,
    pub truth: Truth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Crops,
    OpenAlpr,
    Yolo,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub samples: Vec<Sample>,
}

/// Finds which layout `dir` uses and lists its samples.
pub fn load_dataset(dir: &Path) -> Result<Dataset, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    let csv = dir.join("labels.csv");
    if csv.is_file() {
        return load_crops(dir, &csv);
    }
    if dir.join("images").is_dir() && dir.join("labels").is_dir() {
        return load_yolo(dir);
    }
    let dataset = load_openalpr(dir)?;
    if dataset.samples.is_empty() {
        return Err(format!(
            "{}: no labels.csv, no images/ + labels/, and no OpenALPR-style .txt labels",
            dir.display()
        ));
    }
    Ok(dataset)
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn load_crops(dir: &Path, csv: &Path) -> Result<Dataset, String> {
    let image_dir = if dir.join("images").is_dir() {
        dir.join("images")
    } else {
        dir.to_path_buf()
    };
    let mut samples = Vec::new();
    for (n, line) in read_text(csv)?.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line.starts_with("file,")) {
            continue;
        }
        let mut fields = line.split(',');
        let (Some(file), Some(plate)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "{}:{}: expected file,plate[,region]",
                csv.display(),
                n + 1
            ));
        };
        samples.push(Sample {
            image: image_dir.join(file.trim()),
            truth: Truth::Crop {
                plate: candor_platetext::normalize(plate),
            },
        });
    }
    Ok(Dataset {
        kind: DatasetKind::Crops,
        samples,
    })
}

fn sorted_files(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case(extension))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Parses one OpenALPR-benchmark label line: `file x y w h PLATE`.
pub fn parse_openalpr_line(line: &str) -> Option<(String, LabelledPlate)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    let num = |i: usize| fields[i].parse::<f32>().ok();
    let (x, y, w, h) = (num(1)?, num(2)?, num(3)?, num(4)?);
    Some((
        fields[0].to_string(),
        LabelledPlate {
            bbox: BoxF::new(x, y, w, h),
            text: Some(candor_platetext::normalize(&fields[5..].join(""))),
        },
    ))
}

fn load_openalpr(dir: &Path) -> Result<Dataset, String> {
    let mut samples: Vec<Sample> = Vec::new();
    for txt in sorted_files(dir, "txt")? {
        for line in read_text(&txt)?.lines().filter(|l| !l.trim().is_empty()) {
            let Some((file, plate)) = parse_openalpr_line(line) else {
                return Err(format!(
                    "{}: cannot parse {line:?} as `file x y w h PLATE`",
                    txt.display()
                ));
            };
            let image = dir.join(file);
            match samples.iter_mut().find(|s| s.image == image) {
                Some(Sample {
                    truth: Truth::Scene { plates, .. },
                    ..
                }) => plates.push(plate),
                _ => samples.push(Sample {
                    image,
                    truth: Truth::Scene {
                        plates: vec![plate],
                        normalised: false,
                    },
                }),
            }
        }
    }
    Ok(Dataset {
        kind: DatasetKind::OpenAlpr,
        samples,
    })
}

/// Parses a YOLO label file's plate boxes (class 0), in normalised units.
pub fn parse_yolo_labels(text: &str) -> Vec<LabelledPlate> {
    text.lines()
        .filter_map(|line| {
            let v: Vec<f32> = line
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            if v.len() < 5 || v[0] != 0.0 {
                return None;
            }
            // `class cx cy w h`, or a segmentation polygon `class x1 y1 x2 y2 ...` (as in
            // Roboflow exports), whose bounding box is the plate's box.
            let bbox = if v.len() == 5 {
                BoxF::from_center(v[1], v[2], v[3], v[4])
            } else {
                let (xs, ys): (Vec<f32>, Vec<f32>) =
                    v[1..].chunks_exact(2).map(|p| (p[0], p[1])).unzip();
                let (x0, x1) = xs
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                let (y0, y1) = ys
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &y| (a.min(y), b.max(y)));
                BoxF::new(x0, y0, x1 - x0, y1 - y0)
            };
            Some(LabelledPlate { bbox, text: None })
        })
        .collect()
}

fn load_yolo(dir: &Path) -> Result<Dataset, String> {
    let labels = dir.join("labels");
    let mut samples = Vec::new();
    let entries =
        std::fs::read_dir(dir.join("images")).map_err(|e| format!("cannot list images/: {e}"))?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    images.sort();
    for image in images {
        // Stems may hold dots (`x_jpg.rf.123`), so the extension is appended, not swapped.
        let mut name = image.file_stem().unwrap_or_default().to_os_string();
        name.push(".txt");
        let label = labels.join(name);
        // An image without a label file has no plates.
        let plates = if label.is_file() {
            parse_yolo_labels(&read_text(&label)?)
        } else {
            Vec::new()
        };
        samples.push(Sample {
            image,
            truth: Truth::Scene {
                plates,
                normalised: true,
            },
        });
    }
    Ok(Dataset {
        kind: DatasetKind::Yolo,
        samples,
    })
}

/// Character edit distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// Intersection over union needed for a read to count as finding a labelled plate.
pub const MATCH_IOU: f32 = 0.5;

/// How one image's reads compare with its labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleScore {
    /// Labelled plates with text, and how many were read exactly (best / any candidate).
    pub texts: usize,
    pub top1: usize,
    pub topn: usize,
    /// Character edits against the labels, and the labels' total length.
    pub edits: usize,
    pub chars: usize,
    /// Box matching (scenes only).
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

fn score_text(label: &str, read: Option<&PlateRead>, s: &mut SampleScore) {
    s.texts += 1;
    s.chars += label.chars().count();
    match read {
        Some(r) => {
            s.top1 += usize::from(r.plate == label);
            s.topn += usize::from(r.candidates.iter().any(|c| c.plate == label));
            s.edits += edit_distance(&r.plate, label);
        }
        None => s.edits += label.chars().count(),
    }
}

/// Matches each label box to the unmatched box of highest IoU ≥ [`MATCH_IOU`], in label
/// order; returns the matched index per label.
fn match_boxes(labels: &[BoxF], found: &[BoxF]) -> Vec<Option<usize>> {
    let mut used = vec![false; found.len()];
    labels
        .iter()
        .map(|label| {
            let best = found
                .iter()
                .enumerate()
                .filter(|(i, b)| !used[*i] && b.iou(label) >= MATCH_IOU)
                .max_by(|a, b| a.1.iou(label).total_cmp(&b.1.iou(label)))
                .map(|(i, _)| i);
            if let Some(i) = best {
                used[i] = true;
            }
            best
        })
        .collect()
}

/// Scores one image against its labels (in pixels). Detection figures compare the
/// detector's `boxes` with the labelled boxes; text figures compare each labelled plate
/// with the read whose box matches it (crops: with the best read).
pub fn score_sample(truth: &Truth, boxes: &[BoxF], reads: &[PlateRead]) -> SampleScore {
    let mut s = SampleScore::default();
    match truth {
        Truth::Crop { plate } => {
            let best = reads
                .iter()
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
            score_text(plate, best, &mut s);
        }
        Truth::Scene { plates, .. } => {
            let labels: Vec<BoxF> = plates.iter().map(|p| p.bbox).collect();
            let detected = match_boxes(&labels, boxes);
            s.true_positives = detected.iter().flatten().count();
            s.false_negatives = labels.len() - s.true_positives;
            s.false_positives = boxes.len() - s.true_positives;
            let read_boxes: Vec<BoxF> = reads.iter().map(|r| r.bbox).collect();
            let read = match_boxes(&labels, &read_boxes);
            for (label, read) in plates.iter().zip(read) {
                if let Some(text) = &label.text {
                    score_text(text, read.map(|i| &reads[i]), &mut s);
                }
            }
        }
    }
    s
}

/// Totals over a dataset.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub images: usize,
    pub failed: usize,
    pub score: SampleScore,
    pub times_ms: Vec<f64>,
}

impl Tally {
    pub fn add(&mut self, score: &SampleScore, elapsed_ms: f64) {
        self.images += 1;
        self.add_score(score);
        self.times_ms.push(elapsed_ms);
    }

    /// An image the engine could not read (unreadable file, crop too small) counts as
    /// read with nothing found: its plates stay in every denominator, so a refusal cannot
    /// raise the accuracy or recall figures.
    pub fn add_failure(&mut self, truth: &Truth) {
        self.images += 1;
        self.failed += 1;
        self.add_score(&score_sample(truth, &[], &[]));
    }

    fn add_score(&mut self, score: &SampleScore) {
        let t = &mut self.score;
        t.texts += score.texts;
        t.top1 += score.top1;
        t.topn += score.topn;
        t.edits += score.edits;
        t.chars += score.chars;
        t.true_positives += score.true_positives;
        t.false_positives += score.false_positives;
        t.false_negatives += score.false_negatives;
    }

    pub fn summary(&self, has_boxes: bool) -> Summary {
        let s = &self.score;
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        Summary {
            images: self.images,
            failed: self.failed,
            plates_with_text: s.texts,
            top1_accuracy: ratio(s.top1, s.texts),
            topn_accuracy: ratio(s.topn, s.texts),
            char_error_rate: ratio(s.edits, s.chars),
            detection_recall: if has_boxes {
                ratio(s.true_positives, s.true_positives + s.false_negatives)
            } else {
                None
            },
            detection_precision: if has_boxes {
                ratio(s.true_positives, s.true_positives + s.false_positives)
            } else {
                None
            },
            detection_counts: has_boxes.then_some(DetectionCounts {
                labelled: s.true_positives + s.false_negatives,
                found: s.true_positives,
                false_boxes: s.false_positives,
            }),
            median_ms: percentile(&self.times_ms, 0.5),
            p90_ms: percentile(&self.times_ms, 0.9),
        }
    }
}

/// The figures `candor eval` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub images: usize,
    pub failed: usize,
    pub plates_with_text: usize,
    pub top1_accuracy: Option<f64>,
    pub topn_accuracy: Option<f64>,
    pub char_error_rate: Option<f64>,
    pub detection_recall: Option<f64>,
    pub detection_precision: Option<f64>,
    /// The counts behind the two detection figures, so that datasets can be summed.
    pub detection_counts: Option<DetectionCounts>,
    pub median_ms: Option<f64>,
    pub p90_ms: Option<f64>,
}

/// Labelled plates, those matched by a box, and boxes that matched none.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct DetectionCounts {
    pub labelled: usize,
    pub found: usize,
    pub false_boxes: usize,
}

/// Nearest-rank percentile (`q` in 0..1) of unsorted values.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::Candidate;

    fn read(plate: &str, bbox: BoxF, alternatives: &[&str]) -> PlateRead {
        let mut candidates = vec![Candidate {
            plate: plate.into(),
            confidence: 0.9,
            matches_format: true,
        }];
        candidates.extend(alternatives.iter().map(|a| Candidate {
            plate: (*a).into(),
            confidence: 0.05,
            matches_format: false,
        }));
        PlateRead {
            plate: plate.into(),
            confidence: 0.9,
            candidates,
            bbox,
            detection_score: 0.9,
            region: None,
            format: None,
            two_row: false,
        }
    }

    #[test]
    fn openalpr_and_yolo_lines_parse() {
        let (file, p) = parse_openalpr_line("car1.jpg 10 20 100 30 ab-123").unwrap();
        assert_eq!(file, "car1.jpg");
        assert_eq!(p.bbox, BoxF::new(10.0, 20.0, 100.0, 30.0));
        assert_eq!(p.text.as_deref(), Some("AB123"));
        assert!(parse_openalpr_line("car1.jpg 10 20").is_none());
        let yolo = parse_yolo_labels("0 0.5 0.5 0.2 0.1\n1 0.5 0.5 0.9 0.9\n");
        assert_eq!(yolo.len(), 1);
        assert!((yolo[0].bbox.x - 0.4).abs() < 1e-6);
        let px = Truth::Scene {
            plates: yolo,
            normalised: true,
        }
        .in_pixels(100, 200);
        let Truth::Scene { plates, .. } = px else {
            unreachable!()
        };
        assert!((plates[0].bbox.y - 90.0).abs() < 1e-4 && (plates[0].bbox.w - 20.0).abs() < 1e-4);
    }

    #[test]
    fn yolo_polygon_labels_become_their_bounding_box() {
        let plates = parse_yolo_labels("0 0.1 0.2 0.5 0.25 0.4 0.6 0.15 0.5\n0 0.5 0.5 0.2 0.1\n");
        assert_eq!(plates.len(), 2);
        let b = plates[0].bbox;
        assert!((b.x - 0.1).abs() < 1e-6 && (b.y - 0.2).abs() < 1e-6);
        assert!((b.w - 0.4).abs() < 1e-6 && (b.h - 0.4).abs() < 1e-6);
        assert_eq!(plates[1].bbox, BoxF::from_center(0.5, 0.5, 0.2, 0.1));
    }

    #[test]
    fn scene_scoring_matches_boxes_and_texts() {
        let truth = Truth::Scene {
            plates: vec![
                LabelledPlate {
                    bbox: BoxF::new(0.0, 0.0, 100.0, 30.0),
                    text: Some("ABC1234".into()),
                },
                LabelledPlate {
                    bbox: BoxF::new(300.0, 0.0, 100.0, 30.0),
                    text: Some("XYZ9876".into()),
                },
            ],
            normalised: false,
        };
        let reads = [
            read("A8C1234", BoxF::new(5.0, 0.0, 100.0, 30.0), &["ABC1234"]),
            read("JUNK1", BoxF::new(600.0, 600.0, 50.0, 20.0), &[]),
        ];
        let boxes: Vec<BoxF> = reads.iter().map(|r| r.bbox).collect();
        let s = score_sample(&truth, &boxes, &reads);
        assert_eq!(
            (s.true_positives, s.false_negatives, s.false_positives),
            (1, 1, 1)
        );
        // The detector found the second plate too, but its text was dropped.
        let more = [boxes[0], boxes[1], BoxF::new(302.0, 0.0, 100.0, 30.0)];
        let s = score_sample(&truth, &more, &reads);
        assert_eq!(
            (s.true_positives, s.false_negatives, s.false_positives),
            (2, 0, 1)
        );
        assert_eq!((s.texts, s.top1, s.topn), (2, 0, 1));
        assert_eq!((s.edits, s.chars), (1 + 7, 14));
    }

    #[test]
    fn crop_scoring_uses_best_read() {
        let truth = Truth::Crop {
            plate: "ABC1234".into(),
        };
        let s = score_sample(
            &truth,
            &[],
            &[read("ABC1234", BoxF::new(0.0, 0.0, 1.0, 1.0), &[])],
        );
        assert_eq!((s.top1, s.topn, s.edits), (1, 1, 0));
        let s = score_sample(&truth, &[], &[]);
        assert_eq!((s.top1, s.edits, s.chars), (0, 7, 7));
    }

    #[test]
    fn tally_summarises() {
        let mut t = Tally::default();
        for ms in [10.0, 20.0, 30.0, 40.0] {
            t.add(
                &SampleScore {
                    texts: 1,
                    top1: 1,
                    topn: 1,
                    chars: 5,
                    edits: 1,
                    ..Default::default()
                },
                ms,
            );
        }
        // a crop the engine refused is a miss, not left out
        t.add_failure(&Truth::Crop {
            plate: "ABC12".into(),
        });
        let s = t.summary(false);
        assert_eq!((s.images, s.failed, s.plates_with_text), (5, 1, 5));
        assert_eq!(s.top1_accuracy, Some(0.8));
        assert_eq!(s.char_error_rate, Some(9.0 / 25.0));
        assert_eq!(s.detection_recall, None);
        assert_eq!((s.median_ms, s.p90_ms), (Some(20.0), Some(40.0)));
    }

    #[test]
    fn a_scene_that_failed_counts_its_plates_as_missed() {
        let mut t = Tally::default();
        let plate = |text: Option<&str>| LabelledPlate {
            bbox: BoxF::new(0.1, 0.1, 0.3, 0.2),
            text: text.map(String::from),
        };
        t.add(
            &SampleScore {
                true_positives: 1,
                ..Default::default()
            },
            5.0,
        );
        t.add_failure(&Truth::Scene {
            plates: vec![plate(Some("ABC123")), plate(None)],
            normalised: true,
        });
        let s = t.summary(true);
        assert_eq!(s.detection_recall, Some(1.0 / 3.0));
        assert_eq!(s.detection_precision, Some(1.0));
        assert_eq!(
            s.detection_counts,
            Some(DetectionCounts {
                labelled: 3,
                found: 1,
                false_boxes: 0
            })
        );
        assert_eq!((s.plates_with_text, s.top1_accuracy), (1, Some(0.0)));
    }

    #[test]
    fn each_layout_is_recognised_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let crops = dir.path().join("crops");
        std::fs::create_dir_all(crops.join("images")).unwrap();
        std::fs::write(
            crops.join("labels.csv"),
            "file,plate,region\na.jpg,abc-1234,br\nb.jpg,XYZ9876,br\n",
        )
        .unwrap();
        let d = load_dataset(&crops).unwrap();
        assert_eq!(d.kind, DatasetKind::Crops);
        assert_eq!(d.samples[0].image, crops.join("images/a.jpg"));
        assert_eq!(
            d.samples[0].truth,
            Truth::Crop {
                plate: "ABC1234".into()
            }
        );

        let yolo = dir.path().join("yolo");
        std::fs::create_dir_all(yolo.join("images")).unwrap();
        std::fs::create_dir_all(yolo.join("labels")).unwrap();
        std::fs::write(yolo.join("images/car_jpg.rf.12ab.jpg"), b"").unwrap();
        std::fs::write(yolo.join("images/empty.jpg"), b"").unwrap();
        std::fs::write(
            yolo.join("labels/car_jpg.rf.12ab.txt"),
            "0 0.5 0.5 0.2 0.1\n",
        )
        .unwrap();
        let d = load_dataset(&yolo).unwrap();
        assert_eq!(d.kind, DatasetKind::Yolo);
        assert_eq!(d.samples.len(), 2);
        assert!(matches!(&d.samples[0].truth, Truth::Scene { plates, .. } if plates.len() == 1));
        assert!(matches!(&d.samples[1].truth, Truth::Scene { plates, .. } if plates.is_empty()));

        let alpr = dir.path().join("alpr");
        std::fs::create_dir_all(&alpr).unwrap();
        std::fs::write(alpr.join("car1.txt"), "car1.jpg 10 20 100 30 AB123\n").unwrap();
        std::fs::write(
            alpr.join("car2.txt"),
            "car2.jpg 1 2 3 4 X1\ncar2.jpg 50 60 70 20 Y2\n",
        )
        .unwrap();
        let d = load_dataset(&alpr).unwrap();
        assert_eq!(d.kind, DatasetKind::OpenAlpr);
        assert_eq!(d.samples.len(), 2);
        assert!(matches!(&d.samples[1].truth, Truth::Scene { plates, .. } if plates.len() == 2));

        let err = load_dataset(&dir.path().join("nothing")).unwrap_err();
        assert!(err.contains("not a folder"), "{err}");
        std::fs::write(alpr.join("bad.txt"), "not a label line\n").unwrap();
        assert!(load_dataset(&alpr).unwrap_err().contains("bad.txt"));
    }

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.9), Some(3.0));
    }
}
