//! Makes the two 1280×720 frames `candor bench` is measured on, from one photo of a YOLO
//! detection set: the photo centred on a blurred copy of itself (one plate in view), and
//! the same frame with the labelled plates painted over (no plate in view).
//!
//! `cargo run --example bench_frames -- PHOTO LABEL.txt OUT_DIR`

use std::path::PathBuf;

use candor_vision::eval::parse_yolo_labels;
use image::Rgb;
use image::imageops::{self, FilterType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [photo, label, out] = args.as_slice() else {
        return Err("usage: bench_frames PHOTO LABEL.txt OUT_DIR".into());
    };
    let photo = candor_vision::load_image(photo)?;
    let plates = parse_yolo_labels(&std::fs::read_to_string(label)?);

    let side = 720;
    let background = imageops::resize(
        &imageops::resize(&photo, 32, 18, FilterType::Triangle),
        1280,
        720,
        FilterType::Triangle,
    );
    let mut frame = background;
    let scaled = imageops::resize(&photo, side, side, FilterType::CatmullRom);
    let left = (1280 - side) / 2;
    imageops::replace(&mut frame, &scaled, i64::from(left), 0);
    std::fs::create_dir_all(out)?;
    frame.save(out.join("frame_plate.png"))?;

    // Paint each plate (grown a little) with the mean colour of its border.
    let mut empty = frame.clone();
    for p in &plates {
        let x0 = (left as f32 + (p.bbox.x - p.bbox.w * 0.15) * side as f32).max(0.0) as u32;
        let y0 = ((p.bbox.y - p.bbox.h * 0.3) * side as f32).max(0.0) as u32;
        let x1 = ((left as f32 + (p.bbox.x + p.bbox.w * 1.15) * side as f32) as u32).min(1279);
        let y1 = (((p.bbox.y + p.bbox.h * 1.3) * side as f32) as u32).min(719);
        let mut sum = [0u64; 3];
        let mut n = 0u64;
        for x in x0..=x1 {
            for y in [y0, y1] {
                let px = frame.get_pixel(x, y);
                (0..3).for_each(|c| sum[c] += u64::from(px[c]));
                n += 1;
            }
        }
        let mean = Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]);
        for y in y0..=y1 {
            for x in x0..=x1 {
                empty.put_pixel(x, y, mean);
            }
        }
    }
    empty.save(out.join("frame_empty.png"))?;
    println!(
        "wrote {} and {} ({} plate(s) painted over)",
        out.join("frame_plate.png").display(),
        out.join("frame_empty.png").display(),
        plates.len()
    );
    Ok(())
}
