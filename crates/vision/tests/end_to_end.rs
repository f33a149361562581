//! End to end with the shipped models: a plate rendered into a street-like scene is found
//! at the right place and its text read back, and a drawn two-row crop is read as two rows.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use candor_platetext::formats::RegionSet;
use candor_vision::eval::edit_distance;
use candor_vision::{BoxF, Engine, EngineOptions, PlateRead, RgbImage};
use image::Rgb;

const PLATE_TEXT: &str = "ABC1234";
/// Where the plate sits in the 1280×720 scene.
const PLATE: BoxF = BoxF {
    x: 560.0,
    y: 470.0,
    w: 200.0,
    h: 56.0,
};
const TWO_ROW_TOP: &str = "KA05MX";
const TWO_ROW_BOTTOM: &str = "4821";
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fill(image: &mut RgbImage, b: BoxF, colour: [u8; 3]) {
    for y in b.y as u32..(b.y + b.h) as u32 {
        for x in b.x as u32..(b.x + b.w) as u32 {
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
    let baseline = area.y + area.h / 2.0 + (scaled.ascent() + scaled.descent()) / 2.0 - 2.0;
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, point(caret, baseline));
        caret += scaled.h_advance(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let (x, y) = (bounds.min.x as u32 + gx, bounds.min.y as u32 + gy);
                let p = image.get_pixel_mut(x, y);
                for ch in p.0.iter_mut() {
                    *ch = (f32::from(*ch) * (1.0 - coverage) + 15.0 * coverage) as u8;
                }
            });
        }
    }
}

/// A road, a car body and a white plate with dark text, drawn with a system font.
fn render_scene(font: &FontVec) -> RgbImage {
    let mut scene = RgbImage::from_fn(1280, 720, |x, y| {
        // Sky to asphalt gradient with a little texture.
        let base = if y < 300 {
            170 - y / 4
        } else {
            70 + (y - 300) / 12
        };
        let grain = ((x / 40 + y / 24) % 4 * 3) as u8;
        Rgb([
            base as u8 + grain,
            base as u8 + grain,
            (base + 10) as u8 + grain,
        ])
    });
    // Car body, rear window, lights, bumper.
    fill(
        &mut scene,
        BoxF::new(380.0, 300.0, 560.0, 300.0),
        [120, 24, 28],
    );
    fill(
        &mut scene,
        BoxF::new(430.0, 320.0, 460.0, 110.0),
        [30, 36, 44],
    );
    fill(
        &mut scene,
        BoxF::new(395.0, 450.0, 90.0, 40.0),
        [230, 60, 40],
    );
    fill(
        &mut scene,
        BoxF::new(835.0, 450.0, 90.0, 40.0),
        [230, 60, 40],
    );
    fill(
        &mut scene,
        BoxF::new(380.0, 560.0, 560.0, 40.0),
        [40, 40, 44],
    );
    // The plate: dark border, white face, dark characters centred on it.
    fill(&mut scene, PLATE, [20, 20, 20]);
    let face = BoxF::new(PLATE.x + 3.0, PLATE.y + 3.0, PLATE.w - 6.0, PLATE.h - 6.0);
    fill(&mut scene, face, [240, 240, 236]);
    draw_text(&mut scene, font, PLATE_TEXT, PLATE, 40.0);
    scene
}

/// An image drawn with DejaVu Sans Bold when the system has it, else the committed fixture
/// `name` (the same drawing, saved with `CANDOR_WRITE_FIXTURE=1`).
fn drawing(name: &str, render: fn(&FontVec) -> RgbImage) -> RgbImage {
    let fixture = fixtures().join(name);
    match std::fs::read(FONT)
        .ok()
        .and_then(|b| FontVec::try_from_vec(b).ok())
    {
        Some(font) => {
            let image = render(&font);
            if std::env::var_os("CANDOR_WRITE_FIXTURE").is_some() {
                image.save(&fixture).unwrap();
            }
            image
        }
        None => {
            eprintln!("{FONT} not found: using the committed fixture {name}");
            candor_vision::load_image(&fixture).unwrap()
        }
    }
}

fn scene() -> RgbImage {
    drawing("plate_scene.png", render_scene)
}

/// A two-row plate as a tight crop 2.5 times as wide as high (as Indian two-row plates
/// are often cut): series on the top row, number on the bottom.
fn render_two_row_crop(font: &FontVec) -> RgbImage {
    let mut crop = RgbImage::from_pixel(250, 100, Rgb([240, 240, 236]));
    draw_text(
        &mut crop,
        font,
        TWO_ROW_TOP,
        BoxF::new(0.0, 4.0, 250.0, 46.0),
        40.0,
    );
    draw_text(
        &mut crop,
        font,
        TWO_ROW_BOTTOM,
        BoxF::new(0.0, 50.0, 250.0, 46.0),
        40.0,
    );
    crop
}

fn engine() -> Option<Engine> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    match Engine::load(&dir) {
        Ok(engine) => Some(engine),
        Err(e) => {
            eprintln!("skipping: no models to load ({e})");
            None
        }
    }
}

#[test]
fn rendered_plate_is_found_and_read() {
    let Some(engine) = engine() else { return };
    let scene = scene();
    let reads = engine.recognize(&scene).unwrap();
    eprintln!("reads: {reads:#?}");
    let read = reads
        .iter()
        .find(|r| r.bbox.iou(&PLATE) >= 0.5)
        .unwrap_or_else(|| panic!("no read overlaps the plate at {PLATE:?}"));
    // Every read is in normal form and has its candidates, best first.
    assert!(
        read.plate
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert_eq!(read.candidates[0].plate, read.plate);
    assert!((0.0..=1.0).contains(&read.confidence));
    let cer = edit_distance(&read.plate, PLATE_TEXT) as f32 / PLATE_TEXT.len() as f32;
    assert!(
        cer <= 0.3,
        "read {:?} for {PLATE_TEXT}: character error rate {cer}",
        read.plate
    );
}

/// The shipped models under a manifest whose detector lines `edit` rewrites.
fn engine_with_manifest(edit: impl Fn(&str) -> Option<String>) -> (tempfile::TempDir, Engine) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let dir = tempfile::tempdir().unwrap();
    for file in ["plate_detector.onnx", "plate_recognizer.onnx"] {
        std::fs::copy(models.join(file), dir.path().join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(models.join("manifest.toml")).unwrap();
    let manifest: Vec<String> = manifest.lines().filter_map(&edit).collect();
    std::fs::write(dir.path().join("manifest.toml"), manifest.join("\n")).unwrap();
    let engine = Engine::load(dir.path()).unwrap();
    (dir, engine)
}

#[test]
fn a_box_below_the_sure_threshold_counts_only_through_its_text() {
    let Some(engine) = engine() else { return };
    let scene = scene();
    let score = engine.recognize(&scene).unwrap()[0].detection_score;
    assert!(
        score < 1.0,
        "the plate's box scores 1.0: no threshold lies above it"
    );
    // No box is sure at 1.0; the band (0.4 up, confidence 0.5) still finds the plate by its
    // text, and counts it as a detection too.
    let sure_only_at_one = |line: &str| match line.split_whitespace().next() {
        Some("score_threshold") => Some("score_threshold = 1.0".to_string()),
        Some("confirm_threshold") => Some("confirm_threshold = 0.4".to_string()),
        Some("confirm_confidence") => Some("confirm_confidence = 0.5".to_string()),
        _ => Some(line.to_string()),
    };
    let (_dir, banded) = engine_with_manifest(sure_only_at_one);
    let (detections, reads) = banded.reader().recognize_with_detections(&scene).unwrap();
    let read = reads
        .iter()
        .find(|r| r.bbox.iou(&PLATE) >= 0.5)
        .expect("the band finds the plate by its text");
    assert_eq!(read.plate, PLATE_TEXT);
    assert!(detections.iter().any(|d| d.bbox == read.bbox));
    // Without the band the same box is not a plate.
    let (_dir, unbanded) = engine_with_manifest(|line| match line.split_whitespace().next() {
        Some("confirm_threshold" | "confirm_confidence") => None,
        _ => sure_only_at_one(line),
    });
    let (detections, reads) = unbanded.reader().recognize_with_detections(&scene).unwrap();
    assert!(reads.is_empty() && detections.is_empty(), "{reads:?}");
}

#[test]
fn batch_gives_the_same_reads_as_one_at_a_time() {
    let Some(engine) = engine() else { return };
    let scene = scene();
    let blank = RgbImage::from_pixel(640, 360, Rgb([90, 90, 90]));
    let single = engine.recognize(&scene).unwrap();
    let batch = engine.recognize_batch(&[scene.clone(), blank, scene]);
    assert_eq!(batch.len(), 3);
    let first = batch[0].as_ref().unwrap();
    assert_eq!(
        first.iter().map(|r| &r.plate).collect::<Vec<_>>(),
        single.iter().map(|r| &r.plate).collect::<Vec<_>>()
    );
    assert!(
        batch[1].as_ref().unwrap().is_empty(),
        "a flat grey frame has no plate"
    );
    assert_eq!(batch[2].as_ref().unwrap().len(), single.len());
}

#[test]
fn wide_two_row_crop_is_read_as_two_rows() {
    let Some(engine) = engine() else { return };
    let crop = drawing("two_row_crop.png", render_two_row_crop);
    let read = engine
        .reader()
        .read_crop(&crop)
        .unwrap()
        .expect("a plate crop gives a read");
    eprintln!("read: {read:#?}");
    let want = format!("{TWO_ROW_TOP}{TWO_ROW_BOTTOM}");
    assert!(read.two_row, "read {:?} as one row", read.plate);
    let cer = edit_distance(&read.plate, &want) as f32 / want.len() as f32;
    assert!(
        cer <= 0.2,
        "read {:?} for {want}: character error rate {cer}",
        read.plate
    );
}

#[test]
fn deployment_regions_name_the_layout_but_do_not_force_it() {
    let with_regions = |code: &str| {
        engine().map(|engine| {
            engine.with_options(EngineOptions {
                regions: Some(RegionSet::new(&[code]).unwrap()),
                ..Default::default()
            })
        })
    };
    let (Some(new_york), Some(britain)) = (with_regions("US-NY"), with_regions("GB")) else {
        return;
    };
    let scene = scene();
    let on_plate = |reads: Vec<PlateRead>| {
        reads
            .into_iter()
            .find(|r| r.bbox.iou(&PLATE) >= 0.5)
            .unwrap_or_else(|| panic!("no read overlaps the plate at {PLATE:?}"))
    };
    // New York issues ABC1234's layout: the read says so (with no regions, Brazil's
    // layout comes first in the table).
    let read = on_plate(new_york.recognize(&scene).unwrap());
    assert_eq!(read.plate, PLATE_TEXT);
    assert_eq!(read.region.as_deref(), Some("US-NY"));
    // Britain does not, but a sure read of another layout is kept, with no region.
    let read = on_plate(britain.recognize(&scene).unwrap());
    assert_eq!(read.plate, PLATE_TEXT);
    assert_eq!(read.region, None);
}
