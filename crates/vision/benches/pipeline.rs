//! Criterion benchmarks of the pipeline's stages: preprocessing, CTC decoding, and the
//! whole engine on a synthetic 1280×720 frame when models are present.

use std::hint::black_box;
use std::path::Path;

use candor_platetext::formats::RegionSet;
use candor_vision::ctc::{ProbSeq, beam_search, beam_search_within, softmax_rows};
use candor_vision::preprocess::detector_input;
use candor_vision::{Engine, Manifest, RgbImage};
use criterion::{Criterion, criterion_group, criterion_main};

fn frame() -> RgbImage {
    RgbImage::from_fn(1280, 720, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    })
}

fn models_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn bench(c: &mut Criterion) {
    let frame = frame();
    if let Ok(manifest) = Manifest::load(&models_dir()) {
        c.bench_function("detector_input 1280x720", |b| {
            b.iter(|| detector_input(black_box(&frame), &manifest.detector))
        });
    }

    // 32 steps over a 37-class alphabet, moderately peaked.
    let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect();
    let mut logits: Vec<f32> = (0..32 * 37)
        .map(|i| ((i * 7919) % 37) as f32 * 0.25)
        .collect();
    softmax_rows(&mut logits, 37);
    c.bench_function("ctc beam search T=32 C=37", |b| {
        b.iter(|| beam_search(&ProbSeq::new(black_box(&logits), 32, 37), &alphabet, 12, 12))
    });
    // The second search a deployment that names its regions adds to each read.
    let brazil = RegionSet::new(&["BR"]).expect("Brazil has layouts");
    c.bench_function("ctc beam search within BR layouts T=32 C=37", |b| {
        b.iter(|| {
            let seq = ProbSeq::new(black_box(&logits), 32, 37);
            beam_search_within(&seq, &alphabet, 12, 5, &brazil)
        })
    });

    match Engine::load(&models_dir()) {
        Ok(engine) => {
            c.bench_function("recognize 1280x720 frame without plates", |b| {
                b.iter(|| engine.recognize(black_box(&frame)))
            });
        }
        Err(e) => eprintln!("skipping engine benchmark: {e}"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
