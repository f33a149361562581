//! Hot-list matching speed at 1 million and 10 million entries.
//!
//! `cargo bench -p candor-platetext --bench matcher`; set `CANDOR_BENCH_SIZES=1000000` to
//! skip the 10-million case. Build time and index memory are printed to stderr; per-read
//! medians are in `target/criterion/hot_list_find/*/new/estimates.json`.

use candor_platetext::matcher::{HotListIndex, MatchOptions};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::hint::black_box;
use std::time::{Duration, Instant};

const LAYOUTS: &[&[u8]] = &[
    b"LLLNNNN", b"NLLLNNN", b"LLLNLNN", b"LNNLLL", b"LLNNNLL", b"LLNNLLL",
];

fn random_plate(rng: &mut StdRng) -> String {
    let layout = LAYOUTS[rng.random_range(0..LAYOUTS.len())];
    layout
        .iter()
        .map(|slot| match slot {
            b'L' => (b'A' + rng.random_range(0..26)) as char,
            _ => (b'0' + rng.random_range(0..10)) as char,
        })
        .collect()
}

fn sizes() -> Vec<usize> {
    std::env::var("CANDOR_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000])
}

/// Reads to look up: a quarter exact hits, a quarter one look-alike away from an entry,
/// half random plates (almost all misses, as on the road).
fn reads(size: usize) -> Vec<String> {
    let mut listed = StdRng::seed_from_u64(1);
    let hits: Vec<String> = (0..size.min(512))
        .map(|_| random_plate(&mut listed))
        .collect();
    let mut rng = StdRng::seed_from_u64(2);
    (0..1024)
        .map(|i| match i % 4 {
            0 => hits[rng.random_range(0..hits.len())].clone(),
            1 => hits[rng.random_range(0..hits.len())]
                .replacen('B', "8", 1)
                .replacen('0', "O", 1),
            _ => random_plate(&mut rng),
        })
        .collect()
}

fn bench_find(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_list_find");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let variants = [
        ("budget1", MatchOptions::default()),
        (
            "budget2_missing_extra",
            MatchOptions {
                lookalike_budget: 2,
                allow_missing_or_extra: true,
            },
        ),
    ];
    for size in sizes() {
        for (name, opts) in variants {
            let started = Instant::now();
            let mut rng = StdRng::seed_from_u64(1);
            let index =
                HotListIndex::build((0..size).map(|i| (i as i64, random_plate(&mut rng))), opts);
            eprintln!(
                "{name} size {size}: build {:.2} s, index {} MiB",
                started.elapsed().as_secs_f64(),
                index.heap_bytes() >> 20
            );
            let reads = reads(size);
            let mut next = 0usize;
            group.bench_with_input(BenchmarkId::new(name, size), &index, |b, index| {
                b.iter(|| {
                    next = (next + 1) % reads.len();
                    black_box(index.find(black_box(&reads[next])))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_find);
criterion_main!(benches);
