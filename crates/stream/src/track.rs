//! Following plates across frames, and voting one read per vehicle pass.
//!
//! Each frame's reads are matched to the live tracks: a read joins the track whose last box,
//! moved on at the track's speed, it overlaps or sits near, and whose text it resembles. A
//! track not seen for [`TrackSettings::gap_ms`] has ended: its reads vote one text, character
//! by character, and it becomes a [`Pass`]. A plate seen again after its track ended is a new
//! pass.

use std::sync::Arc;

use candor_vision::eval::edit_distance;
use candor_vision::{BoxF, Candidate, ColourEstimate, PlateRead, RgbImage, vehicle_colour};
use serde::Serialize;

/// How tracks are followed and when they end.
#[derive(Debug, Clone)]
pub struct TrackSettings {
    /// A track not seen for this long has ended.
    pub gap_ms: i64,
    /// Reads a track needs to become a pass, unless one of them is at least
    /// `sure_confidence` confident (a fast car may be read in one frame only).
    pub min_sightings: usize,
    pub sure_confidence: f32,
    /// A track whose most confident read is below this is not a pass: text the recogniser
    /// could not read (a badge, a part of a plate at the picture's edge).
    pub min_confidence: f32,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self {
            gap_ms: 1500,
            min_sightings: 2,
            sure_confidence: 0.9,
            min_confidence: 0.1,
        }
    }
}

/// Which way the plate moved through the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The plate grew (or moved down the picture): the vehicle came towards the camera.
    Approaching,
    /// The plate shrank (or moved up the picture): the vehicle went away.
    Receding,
    LeftToRight,
    RightToLeft,
    /// It barely moved.
    Stationary,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Approaching => "approaching",
            Direction::Receding => "receding",
            Direction::LeftToRight => "left_to_right",
            Direction::RightToLeft => "right_to_left",
            Direction::Stationary => "stationary",
        }
    }

    /// From the first and last boxes of a track. A shift across the picture is measured in
    /// plate widths, a change of size as its logarithm times four (a plate a third larger
    /// counts like a shift of one width); the larger decides. A box cut by the picture's edge
    /// changes size without the plate doing so, which is why a shift must clearly dominate.
    fn between(first: &BoxF, last: &BoxF) -> Direction {
        let growth = (last.w.max(1.0) / first.w.max(1.0)).ln();
        let (dx, dy) = (
            centre(last).0 - centre(first).0,
            centre(last).1 - centre(first).1,
        );
        let w = first.w.max(last.w).max(1.0);
        let h = first.h.max(last.h).max(1.0);
        let across = dx.abs() / w;
        let nearer = 4.0 * growth.abs();
        if across > 1.0 && across > nearer {
            if dx > 0.0 {
                Direction::LeftToRight
            } else {
                Direction::RightToLeft
            }
        } else if growth.abs() > 0.15 {
            if growth > 0.0 {
                Direction::Approaching
            } else {
                Direction::Receding
            }
        } else if dy.abs() > h / 2.0 && dy.abs() > dx.abs() {
            if dy > 0.0 {
                Direction::Approaching
            } else {
                Direction::Receding
            }
        } else if dx.abs() > w / 2.0 {
            if dx > 0.0 {
                Direction::LeftToRight
            } else {
                Direction::RightToLeft
            }
        } else {
            Direction::Stationary
        }
    }
}

/// One vehicle's pass: the voted read of its track.
#[derive(Debug, Clone, Serialize)]
pub struct Pass {
    /// The voted text, normal form.
    pub plate: String,
    /// 0..1: how sure the vote is (the weakest character's share of the vote, times the
    /// voting reads' mean confidence).
    pub confidence: f32,
    /// The voted text first, then the other texts the track was read as, likeliest first.
    pub candidates: Vec<Candidate>,
    /// Region of the best read of the voted text, when the engine named one.
    pub region: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Frames the plate was read in.
    pub sightings: usize,
    pub direction: Direction,
    /// The most confident single read, its time and the frame it was read in.
    pub best: PlateRead,
    pub best_at_ms: i64,
    #[serde(skip)]
    pub best_frame: Arc<RgbImage>,
    /// The vehicle's colour, named from the paint around the plate in the best frame.
    pub colour: Option<ColourEstimate>,
}

impl Pass {
    /// The plate cut from the best frame, with a little margin.
    pub fn plate_crop(&self) -> RgbImage {
        let (w, h) = self.best_frame.dimensions();
        let b = self.best.bbox.expand(0.1, 0.2).clamp_to(w as f32, h as f32);
        image::imageops::crop_imm(
            self.best_frame.as_ref(),
            b.x as u32,
            b.y as u32,
            (b.w as u32).max(1),
            (b.h as u32).max(1),
        )
        .to_image()
    }
}

#[derive(Debug)]
struct Sighting {
    at_ms: i64,
    plate: String,
    confidence: f32,
    /// The recogniser's texts for this frame with their probabilities, best first (the
    /// read's own text alone when it gave none).
    texts: Vec<(Vec<char>, f32)>,
    region: Option<String>,
    bbox: BoxF,
}

#[derive(Debug)]
struct Track {
    sightings: Vec<Sighting>,
    best: PlateRead,
    best_at_ms: i64,
    best_frame: Arc<RgbImage>,
    /// Pixels per millisecond, smoothed.
    velocity: (f32, f32),
}

fn centre(b: &BoxF) -> (f32, f32) {
    (b.x + b.w / 2.0, b.y + b.h / 2.0)
}

/// 1 for the same text, 0 for nothing in common.
fn text_similarity(a: &str, b: &str) -> f32 {
    let longest = a.len().max(b.len()).max(1);
    1.0 - edit_distance(a, b) as f32 / longest as f32
}

impl Track {
    fn last(&self) -> &Sighting {
        self.sightings.last().expect("a track has a sighting")
    }

    /// Where the plate should be at `at_ms`, had it kept its speed.
    fn predicted_box(&self, at_ms: i64) -> BoxF {
        let last = self.last();
        let dt = (at_ms - last.at_ms) as f32;
        BoxF {
            x: last.bbox.x + self.velocity.0 * dt,
            y: last.bbox.y + self.velocity.1 * dt,
            ..last.bbox
        }
    }

    /// How well `read` continues this track at `at_ms`; `None` when it does not.
    fn affinity(&self, read: &PlateRead, at_ms: i64) -> Option<f32> {
        let predicted = self.predicted_box(at_ms);
        let overlap = predicted.iou(&read.bbox);
        let (px, py) = centre(&predicted);
        let (rx, ry) = centre(&read.bbox);
        let distance = ((px - rx).powi(2) + (py - ry).powi(2)).sqrt();
        let size = predicted.w.max(read.bbox.w).max(1.0);
        let similar = text_similarity(&self.last().plate, &read.plate)
            .max(text_similarity(&self.best.plate, &read.plate));
        let near = overlap > 0.1 || distance < 1.5 * size;
        // The same text far from where it was expected is still this plate, moving fast.
        let same_far = similar >= 1.0 && distance < 4.0 * size;
        ((near && similar >= 0.4) || same_far).then_some(overlap + similar)
    }

    fn add(&mut self, read: &PlateRead, at_ms: i64, frame: &Arc<RgbImage>) {
        let last = self.last();
        let dt = (at_ms - last.at_ms).max(1) as f32;
        let (lx, ly) = centre(&last.bbox);
        let (rx, ry) = centre(&read.bbox);
        let seen = ((rx - lx) / dt, (ry - ly) / dt);
        self.velocity = if self.sightings.len() == 1 {
            seen
        } else {
            (
                (self.velocity.0 + seen.0) / 2.0,
                (self.velocity.1 + seen.1) / 2.0,
            )
        };
        if read.confidence > self.best.confidence {
            self.best = read.clone();
            self.best_at_ms = at_ms;
            self.best_frame = frame.clone();
        }
        self.sightings.push(sighting(read, at_ms));
    }

    fn into_pass(self) -> Pass {
        let (plate, confidence) = vote(&self.sightings);
        let mut texts: Vec<(String, f32)> = Vec::new();
        for s in &self.sightings {
            match texts.iter_mut().find(|(t, _)| *t == s.plate) {
                Some((_, w)) => *w += s.confidence,
                None => texts.push((s.plate.clone(), s.confidence)),
            }
        }
        let n = self.sightings.len() as f32;
        texts.retain(|(t, _)| *t != plate);
        texts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut candidates = vec![Candidate {
            plate: plate.clone(),
            confidence,
            matches_format: false,
        }];
        candidates.extend(texts.into_iter().take(4).map(|(plate, w)| Candidate {
            plate,
            confidence: w / n,
            matches_format: false,
        }));
        let region = self
            .sightings
            .iter()
            .filter(|s| s.plate == plate)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .and_then(|s| s.region.clone());
        let first = &self.sightings[0];
        let last = self.last();
        let colour = vehicle_colour(&self.best_frame, &self.best.bbox);
        Pass {
            colour,
            direction: Direction::between(&first.bbox, &last.bbox),
            first_seen_ms: first.at_ms,
            last_seen_ms: last.at_ms,
            sightings: self.sightings.len(),
            plate,
            confidence,
            candidates,
            region,
            best: self.best,
            best_at_ms: self.best_at_ms,
            best_frame: self.best_frame,
        }
    }
}

fn sighting(read: &PlateRead, at_ms: i64) -> Sighting {
    let mut texts: Vec<(Vec<char>, f32)> = read
        .candidates
        .iter()
        .map(|c| (c.plate.chars().collect(), c.confidence))
        .collect();
    if texts.is_empty() {
        texts.push((read.plate.chars().collect(), read.confidence));
    }
    Sighting {
        at_ms,
        plate: read.plate.clone(),
        confidence: read.confidence,
        texts,
        region: read.region.clone(),
        bbox: read.bbox,
    }
}

/// The track's text by vote. Every frame votes with all the texts the recogniser gave it,
/// each with its probability, so a frame unsure between two readings backs both: first the
/// length (the one with the most probability in all), then each character among the texts
/// of that length. The confidence is the weakest character's share of its vote times the
/// mean confidence of the frames whose own text has that length.
fn vote(sightings: &[Sighting]) -> (String, f32) {
    let mut by_length: Vec<(usize, f32)> = Vec::new();
    for (chars, p) in sightings.iter().flat_map(|s| &s.texts) {
        match by_length.iter_mut().find(|(l, _)| *l == chars.len()) {
            Some((_, w)) => *w += p,
            None => by_length.push((chars.len(), *p)),
        }
    }
    let length = by_length
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(l, _)| *l);
    let texts: Vec<&(Vec<char>, f32)> = sightings
        .iter()
        .flat_map(|s| &s.texts)
        .filter(|(c, _)| c.len() == length)
        .collect();
    let mut text = String::with_capacity(length);
    let mut weakest_share = 1.0f32;
    for i in 0..length {
        let mut tally: Vec<(char, f32)> = Vec::new();
        for (chars, p) in &texts {
            // A text of probability 0 still votes, a little.
            let w = p.max(1e-3);
            match tally.iter_mut().find(|(c, _)| *c == chars[i]) {
                Some((_, t)) => *t += w,
                None => tally.push((chars[i], w)),
            }
        }
        let total: f32 = tally.iter().map(|(_, w)| w).sum();
        let (winner, weight) = tally
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("every text of this length has this position");
        text.push(winner);
        weakest_share = weakest_share.min(weight / total);
    }
    let own: Vec<f32> = sightings
        .iter()
        .filter(|s| s.plate.chars().count() == length)
        .map(|s| s.confidence)
        .collect();
    let mean_confidence = own.iter().sum::<f32>() / own.len().max(1) as f32;
    (text, (weakest_share * mean_confidence).clamp(0.0, 1.0))
}

/// The live tracks of one stream.
#[derive(Debug, Default)]
pub struct Tracker {
    settings: TrackSettings,
    live: Vec<Track>,
}

impl Tracker {
    pub fn new(settings: TrackSettings) -> Self {
        Self {
            settings,
            live: Vec::new(),
        }
    }

    /// Tracks still open.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Adds one frame's reads, taken at `at_ms`, and returns the passes of the tracks that
    /// have ended by then.
    pub fn observe(&mut self, at_ms: i64, reads: &[PlateRead], frame: &Arc<RgbImage>) -> Vec<Pass> {
        // Tracks gone for longer than the gap end first: a plate back after that is new.
        let ended = self.end_before(at_ms - self.settings.gap_ms);
        let mut order: Vec<&PlateRead> = reads.iter().collect();
        order.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let mut taken = vec![false; self.live.len()];
        for read in order {
            let best = self
                .live
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .filter_map(|(i, t)| t.affinity(read, at_ms).map(|a| (i, a)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    taken[i] = true;
                    self.live[i].add(read, at_ms, frame);
                }
                None => {
                    taken.push(true);
                    self.live.push(Track {
                        sightings: vec![sighting(read, at_ms)],
                        best: read.clone(),
                        best_at_ms: at_ms,
                        best_frame: frame.clone(),
                        velocity: (0.0, 0.0),
                    });
                }
            }
        }
        ended
    }

    /// A frame at `at_ms` that did not change from the last one read: every live track is
    /// still where it was.
    pub fn unchanged(&mut self, at_ms: i64) {
        for track in &mut self.live {
            let last = track.sightings.last_mut().expect("a track has a sighting");
            last.at_ms = last.at_ms.max(at_ms);
        }
    }

    /// Ends every track (the stream stopped) and returns their passes.
    pub fn finish(&mut self) -> Vec<Pass> {
        self.end_before(i64::MAX)
    }

    fn end_before(&mut self, cutoff: i64) -> Vec<Pass> {
        let (ended, live): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| t.last().at_ms < cutoff);
        self.live = live;
        ended
            .into_iter()
            .filter(|t| {
                (t.sightings.len() >= self.settings.min_sightings
                    || t.best.confidence >= self.settings.sure_confidence)
                    && t.best.confidence >= self.settings.min_confidence
            })
            .map(Track::into_pass)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(plate: &str, confidence: f32, x: f32, w: f32) -> PlateRead {
        PlateRead {
            plate: plate.into(),
            confidence,
            candidates: Vec::new(),
            bbox: BoxF::new(x, 400.0, w, w / 4.0),
            detection_score: 0.9,
            region: None,
            format: None,
            two_row: false,
        }
    }

    fn frame() -> Arc<RgbImage> {
        Arc::new(RgbImage::new(4, 4))
    }

    #[test]
    fn one_vehicle_across_frames_is_one_pass_with_the_voted_text() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        // Misread in one character once each, at different places.
        let seen = [
            "ABC1234", "A8C1234", "ABC1234", "ABC1Z34", "ABC1234", "ABCI234",
        ];
        let mut passes = Vec::new();
        for (i, plate) in seen.iter().enumerate() {
            let at = i as i64 * 200;
            passes.extend(t.observe(at, &[read(plate, 0.7, 100.0 + 40.0 * i as f32, 120.0)], &f));
        }
        assert!(passes.is_empty(), "the track is still live");
        passes.extend(t.observe(5_000, &[], &f));
        assert_eq!(passes.len(), 1);
        let pass = &passes[0];
        assert_eq!(pass.plate, "ABC1234");
        assert_eq!(pass.sightings, 6);
        assert_eq!(pass.first_seen_ms, 0);
        assert_eq!(pass.last_seen_ms, 1000);
        assert_eq!(pass.direction, Direction::LeftToRight);
        assert_eq!(pass.candidates[0].plate, "ABC1234");
        assert!(pass.candidates.iter().any(|c| c.plate == "A8C1234"));
        assert!(pass.confidence > 0.0 && pass.confidence <= 0.7);
    }

    #[test]
    fn the_vote_beats_every_single_frame_when_each_frame_has_one_error() {
        let sightings: Vec<Sighting> = ["XBC123", "AXC123", "ABX123", "ABC1X3", "ABC12X"]
            .iter()
            .enumerate()
            .map(|(i, p)| sighting(&read(p, 0.8, 0.0, 100.0), i as i64))
            .collect();
        assert_eq!(vote(&sightings).0, "ABC123");
    }

    #[test]
    fn a_frames_second_reading_counts_too() {
        // Two frames read 5 as S with a little more probability than 5; a third is sure of
        // 5. Voting on the frames' first texts alone would give ABS123.
        let unsure = |p: f32| PlateRead {
            candidates: vec![
                Candidate {
                    plate: "ABS123".into(),
                    confidence: p,
                    matches_format: false,
                },
                Candidate {
                    plate: "AB5123".into(),
                    confidence: p - 0.05,
                    matches_format: false,
                },
            ],
            ..read("ABS123", p, 0.0, 100.0)
        };
        let sure = PlateRead {
            candidates: vec![Candidate {
                plate: "AB5123".into(),
                confidence: 0.9,
                matches_format: false,
            }],
            ..read("AB5123", 0.9, 0.0, 100.0)
        };
        let sightings: Vec<Sighting> = [unsure(0.5), unsure(0.5), sure]
            .iter()
            .map(|r| sighting(r, 0))
            .collect();
        assert_eq!(vote(&sightings).0, "AB5123");
    }

    #[test]
    fn the_length_read_with_most_confidence_wins() {
        let sightings: Vec<Sighting> = [("ABC1234", 0.9), ("ABC123", 0.3), ("BC1234", 0.3)]
            .iter()
            .map(|(p, c)| sighting(&read(p, *c, 0.0, 100.0), 0))
            .collect();
        assert_eq!(vote(&sightings).0, "ABC1234");
    }

    #[test]
    fn two_vehicles_in_one_frame_are_two_passes() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        for i in 0..4 {
            let at = i * 200;
            let shift = 30.0 * i as f32;
            t.observe(
                at,
                &[
                    read("ABC1234", 0.8, 100.0 + shift, 120.0),
                    read("XYZ9876", 0.8, 900.0 - shift, 120.0),
                ],
                &f,
            );
        }
        let mut passes = t.finish();
        passes.sort_by(|a, b| a.plate.cmp(&b.plate));
        let plates: Vec<_> = passes
            .iter()
            .map(|p| (p.plate.as_str(), p.direction))
            .collect();
        assert_eq!(
            plates,
            [
                ("ABC1234", Direction::LeftToRight),
                ("XYZ9876", Direction::RightToLeft)
            ]
        );
        assert!(passes.iter().all(|p| p.sightings == 4));
    }

    #[test]
    fn a_plate_seen_again_after_its_track_ended_is_a_new_pass() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        let mut passes = Vec::new();
        for at in [0, 200, 400] {
            passes.extend(t.observe(at, &[read("ABC1234", 0.8, 100.0, 120.0)], &f));
        }
        // Gone for longer than the gap, then back at the same place.
        for at in [3_000, 3_200] {
            passes.extend(t.observe(at, &[read("ABC1234", 0.8, 100.0, 120.0)], &f));
        }
        passes.extend(t.finish());
        assert_eq!(passes.len(), 2);
        assert_eq!((passes[0].first_seen_ms, passes[0].last_seen_ms), (0, 400));
        assert_eq!(passes[1].first_seen_ms, 3_000);
    }

    #[test]
    fn a_still_scene_keeps_its_tracks_alive() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        t.observe(0, &[read("ABC1234", 0.8, 100.0, 120.0)], &f);
        t.observe(200, &[read("ABC1234", 0.8, 100.0, 120.0)], &f);
        // The car waits at a light: frames without motion are not read.
        for at in (400..10_000).step_by(200) {
            t.unchanged(at);
        }
        assert!(t.observe(10_000, &[], &f).is_empty());
        assert_eq!(t.live(), 1);
        assert_eq!(t.finish().len(), 1);
    }

    #[test]
    fn a_single_unsure_read_is_not_a_pass_but_a_sure_one_is() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        t.observe(0, &[read("ABC1234", 0.5, 100.0, 120.0)], &f);
        t.observe(0, &[read("QRS5555", 0.95, 900.0, 120.0)], &f);
        let passes = t.finish();
        assert_eq!(passes.len(), 1);
        assert_eq!(passes[0].plate, "QRS5555");
    }

    #[test]
    fn text_the_recogniser_could_not_read_is_no_pass() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        for at in [0, 200, 400] {
            t.observe(at, &[read("068", 0.02, 100.0, 120.0)], &f);
        }
        assert!(t.finish().is_empty());
    }

    #[test]
    fn a_different_plate_at_the_same_place_starts_its_own_track() {
        let mut t = Tracker::new(TrackSettings::default());
        let f = frame();
        t.observe(0, &[read("ABC1234", 0.8, 100.0, 120.0)], &f);
        t.observe(200, &[read("ABC1234", 0.8, 100.0, 120.0)], &f);
        t.observe(400, &[read("MNP6789", 0.8, 100.0, 120.0)], &f);
        t.observe(600, &[read("MNP6789", 0.8, 100.0, 120.0)], &f);
        let plates: Vec<String> = t.finish().into_iter().map(|p| p.plate).collect();
        assert_eq!(plates.len(), 2);
    }

    #[test]
    fn a_plate_cut_by_the_edge_as_it_enters_still_moves_across() {
        // Enters at the left edge half visible, leaves whole far to the right.
        assert_eq!(
            Direction::between(
                &BoxF::new(0.0, 500.0, 110.0, 56.0),
                &BoxF::new(1000.0, 500.0, 200.0, 56.0)
            ),
            Direction::LeftToRight
        );
    }

    #[test]
    fn a_growing_plate_is_approaching() {
        assert_eq!(
            Direction::between(
                &BoxF::new(600.0, 300.0, 80.0, 20.0),
                &BoxF::new(590.0, 420.0, 140.0, 35.0)
            ),
            Direction::Approaching
        );
        assert_eq!(
            Direction::between(
                &BoxF::new(600.0, 300.0, 80.0, 20.0),
                &BoxF::new(602.0, 301.0, 80.0, 20.0)
            ),
            Direction::Stationary
        );
    }
}
