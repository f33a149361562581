//! Test clips: cars carrying plates with known text drive across a real photo, with motion
//! blur and sensor noise, encoded as H.264 by FFmpeg. The stream tests and
//! `candor bench-stream` both make their clips here, so every published stream figure comes
//! from a clip anyone can make again from the same seed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use candor_vision::{BoxF, RgbImage, VehicleColour};
use image::{Rgb, imageops};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::StreamError;

/// The photo the cars drive across (see `assets/SOURCE.md`), built into the binary so that
/// an installed `candor bench-stream` makes the same clips as a source checkout.
pub fn background() -> RgbImage {
    image::load_from_memory(include_bytes!("../assets/background.jpg"))
        .expect("the built-in background is a JPEG")
        .to_rgb8()
}

/// The font the plates are drawn in (Debian's `fonts-dejavu-core`).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// How a car crosses the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    LeftToRight,
    /// Towards the camera: growing and moving down.
    Approaching,
}

/// What a clip shows.
#[derive(Debug, Clone)]
pub struct ClipSpec {
    /// One car per plate, one after another.
    pub plates: Vec<String>,
    pub fps: u32,
    /// How long each car takes to cross, and the empty road between two cars.
    pub crossing_secs: f32,
    pub gap_secs: f32,
    /// Size of the cars: 1 draws a plate 200 pixels wide as it crosses (an approaching car
    /// grows from 0.65 to 1.25 times that).
    pub size: f32,
    /// Noise amplitude (0–255) and blur (a Gaussian of `blur / 3` pixels).
    pub noise: u8,
    pub blur: u32,
    pub seed: u64,
}

impl ClipSpec {
    /// `count` cars with random plates of the common `LLLNNNN` layout.
    pub fn random(count: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let plates = (0..count)
            .map(|_| {
                let letters: String = (0..3)
                    .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
                    .collect();
                let digits: String = (0..4)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect();
                letters + &digits
            })
            .collect();
        Self {
            plates,
            fps: 25,
            crossing_secs: 2.4,
            gap_secs: 1.2,
            size: 1.0,
            noise: 10,
            blur: 3,
            seed,
        }
    }

    /// Length of the clip.
    pub fn duration_secs(&self) -> f64 {
        f64::from(self.frames_per_car()) * self.plates.len() as f64 / f64::from(self.fps)
    }

    fn frames_per_car(&self) -> u32 {
        ((self.crossing_secs + self.gap_secs) * self.fps as f32).round() as u32
    }

    /// The colour of the `i`th car.
    pub fn colour(i: usize) -> VehicleColour {
        CAR_COLOURS[i % CAR_COLOURS.len()].1
    }

    /// Crossing style of the `i`th car: they alternate.
    pub fn crossing(i: usize) -> Crossing {
        if i.is_multiple_of(2) {
            Crossing::LeftToRight
        } else {
            Crossing::Approaching
        }
    }
}

/// The cars' paint, in turn, and its name.
const CAR_COLOURS: [([u8; 3], VehicleColour); 5] = [
    ([150, 28, 30], VehicleColour::Red),
    ([30, 60, 140], VehicleColour::Blue),
    ([225, 225, 220], VehicleColour::White),
    ([35, 35, 38], VehicleColour::Black),
    ([150, 152, 156], VehicleColour::Grey),
];

fn fill(image: &mut RgbImage, b: BoxF, colour: [u8; 3]) {
    let area = b.clamp_to(image.width() as f32, image.height() as f32);
    for y in area.y as u32..(area.y + area.h) as u32 {
        for x in area.x as u32..(area.x + area.w) as u32 {
            image.put_pixel(x, y, Rgb(colour));
        }
    }
}

/// Draws `text` in dark ink centred on `area`, `px` high.
fn draw_text(image: &mut RgbImage, font: &FontVec, text: &str, area: BoxF, px: f32) {
    let scale = PxScale::from(px);
    let scaled = font.as_scaled(scale);
    let width: f32 = text
        .chars()
        .map(|c| scaled.h_advance(font.glyph_id(c)))
        .sum();
    let mut caret = area.x + (area.w - width) / 2.0;
    let baseline = area.y + area.h / 2.0 + (scaled.ascent() + scaled.descent()) / 2.0;
    let (w, h) = image.dimensions();
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, point(caret, baseline));
        caret += scaled.h_advance(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let x = bounds.min.x as i64 + i64::from(gx);
                let y = bounds.min.y as i64 + i64::from(gy);
                if x < 0 || y < 0 || x >= i64::from(w) || y >= i64::from(h) {
                    return;
                }
                let p = image.get_pixel_mut(x as u32, y as u32);
                for ch in p.0.iter_mut() {
                    *ch = (f32::from(*ch) * (1.0 - coverage) + 20.0 * coverage) as u8;
                }
            });
        }
    }
}

/// Draws a car (body, rear window, lights, bumper) with its plate; `scale` 1 is a plate
/// 200 px wide.
fn draw_car(
    frame: &mut RgbImage,
    font: &FontVec,
    plate: &str,
    centre: (f32, f32),
    scale: f32,
    colour: [u8; 3],
) {
    let s = |v: f32| v * scale;
    let (cx, cy) = centre;
    fill(frame, BoxF::from_center(cx, cy, s(520.0), s(250.0)), colour);
    fill(
        frame,
        BoxF::from_center(cx, cy - s(70.0), s(420.0), s(90.0)),
        [30, 36, 44],
    );
    for side in [-1.0, 1.0] {
        fill(
            frame,
            BoxF::from_center(cx + side * s(205.0), cy + s(10.0), s(80.0), s(36.0)),
            [230, 60, 40],
        );
    }
    fill(
        frame,
        BoxF::from_center(cx, cy + s(110.0), s(520.0), s(34.0)),
        [40, 40, 44],
    );
    let plate_box = BoxF::from_center(cx, cy + s(45.0), s(200.0), s(56.0));
    fill(frame, plate_box, [20, 20, 20]);
    fill(frame, plate_box.expand(-0.015, -0.05), [240, 240, 236]);
    draw_text(frame, font, plate, plate_box, s(40.0));
}

/// Blurs and adds noise.
fn degrade(frame: &mut RgbImage, spec: &ClipSpec, rng: &mut StdRng) {
    if spec.blur > 1 {
        let blurred = imageops::blur(frame, spec.blur as f32 / 3.0);
        *frame = blurred;
    }
    if spec.noise > 0 {
        let n = i16::from(spec.noise);
        for v in frame.iter_mut() {
            *v = (i16::from(*v) + rng.random_range(-n..=n)).clamp(0, 255) as u8;
        }
    }
}

/// Loads the test font; a clear error when it is missing.
pub fn load_font() -> Result<FontVec, StreamError> {
    std::fs::read(FONT)
        .ok()
        .and_then(|b| FontVec::try_from_vec(b).ok())
        .ok_or_else(|| {
            StreamError::Clip(format!(
                "the font {FONT} is missing: apt install fonts-dejavu-core"
            ))
        })
}

/// Every frame of the clip, in order, given to `sink`.
pub fn render(
    spec: &ClipSpec,
    background: &RgbImage,
    font: &FontVec,
    sink: &mut dyn FnMut(&RgbImage) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let (w, h) = (background.width() as f32, background.height() as f32);
    let crossing_frames = (spec.crossing_secs * spec.fps as f32).round() as u32;
    for (i, plate) in spec.plates.iter().enumerate() {
        let colour = CAR_COLOURS[i % CAR_COLOURS.len()].0;
        for f in 0..spec.frames_per_car() {
            let mut frame = background.clone();
            if f < crossing_frames {
                let t = f as f32 / crossing_frames.max(1) as f32;
                let (centre, scale) = match ClipSpec::crossing(i) {
                    Crossing::LeftToRight => ((-300.0 + t * (w + 600.0), h * 0.62), spec.size),
                    Crossing::Approaching => {
                        let scale = (0.65 + 0.6 * t) * spec.size;
                        ((w * 0.5, h * 0.35 + t * h * 0.35), scale)
                    }
                };
                draw_car(&mut frame, font, plate, centre, scale, colour);
            }
            degrade(&mut frame, spec, &mut rng);
            sink(&frame)?;
        }
    }
    Ok(())
}

/// Renders the clip and encodes it to `out` (H.264 in MP4, a key frame each second, so a
/// client that joins late starts within a second).
pub fn write(spec: &ClipSpec, background: &RgbImage, out: &Path) -> Result<(), StreamError> {
    let font = load_font()?;
    let (w, h) = background.dimensions();
    let gop = spec.fps.to_string();
    let mut child = Command::new(crate::source::ffmpeg_program())
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &format!("{w}x{h}"),
        ])
        .args(["-r", &spec.fps.to_string(), "-i", "-"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        .args(["-pix_fmt", "yuv420p", "-g", &gop])
        .arg(out)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| StreamError::NoDecoder(e.to_string()))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    render(spec, background, &font, &mut |frame| {
        stdin
            .write_all(frame.as_raw())
            .map_err(|e| StreamError::Clip(format!("writing to the encoder: {e}")))
    })?;
    drop(stdin);
    let status = child.wait().map_err(|e| StreamError::Io(e.to_string()))?;
    if !status.success() {
        return Err(StreamError::Clip(format!("the encoder failed ({status})")));
    }
    Ok(())
}

/// How the passes of a clip compare with the cars it shows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClipScore {
    pub cars: usize,
    pub passes: usize,
    /// Cars that produced exactly one pass.
    pub cars_with_one_pass: usize,
    /// Passes whose voted text is the car's plate.
    pub voted_right: usize,
    /// Passes whose best single read is the car's plate.
    pub best_frame_right: usize,
    /// Passes that named the car's colour.
    pub colour_right: usize,
    /// Passes that belong to no car (their text is more than two edits from every plate).
    pub strays: usize,
}

/// Attributes each pass to the car whose plate its voted text (or its best read) is closest
/// to, within two edits; clips draw plates far apart, so this is unambiguous.
pub fn score(plates: &[String], passes: &[crate::Pass]) -> ClipScore {
    let mut per_car = vec![0usize; plates.len()];
    let mut s = ClipScore {
        cars: plates.len(),
        passes: passes.len(),
        ..ClipScore::default()
    };
    for pass in passes {
        let nearest = plates
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = candor_vision::eval::edit_distance(p, &pass.plate)
                    .min(candor_vision::eval::edit_distance(p, &pass.best.plate));
                (d, i)
            })
            .min();
        match nearest {
            Some((d, i)) if d <= 2 => {
                per_car[i] += 1;
                s.voted_right += usize::from(pass.plate == plates[i]);
                s.best_frame_right += usize::from(pass.best.plate == plates[i]);
                s.colour_right +=
                    usize::from(pass.colour.map(|c| c.colour) == Some(ClipSpec::colour(i)));
            }
            _ => s.strays += 1,
        }
    }
    s.cars_with_one_pass = per_car.iter().filter(|&&n| n == 1).count();
    s
}
