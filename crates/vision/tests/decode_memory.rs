//! Decoding memory is bounded by bytes, not only pixels (issue 27, item 5): a small PNG
//! that declares 7000×7000 16-bit pixels used to cost about 520 MB while it was decoded.
//! Its own test binary, so that the counting allocator sees only this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use candor_vision::decode::MAX_WORKING_SIDE;
use candor_vision::decode_image_scaled;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A PNG of `side`×`side` pixels, 16-bit RGB, written row by row: grey 0x4080 except a
/// white first column, so that it compresses to a small file (as in the review: 381 KB).
fn sixteen_bit_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let mut row = vec![0u8; side as usize * 6];
    for (x, px) in row.chunks_exact_mut(6).enumerate() {
        let v: u16 = if x == 0 { 0xFFFF } else { 0x4080 };
        for sample in px.chunks_exact_mut(2) {
            sample.copy_from_slice(&v.to_be_bytes());
        }
    }
    for _ in 0..side {
        std::io::Write::write_all(&mut stream, &row).unwrap();
    }
    stream.finish().unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn a_large_sixteen_bit_png_decodes_to_eight_bits_in_bounded_memory() {
    let bytes = sixteen_bit_png(7000);
    assert!(bytes.len() < 64 << 20);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let decoded = decode_image_scaled(&bytes).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    // Scaled down while decoded: the longest side is at most the working side.
    assert!(
        decoded.image.width() <= MAX_WORKING_SIDE,
        "{}",
        decoded.image.width()
    );
    assert_eq!(decoded.image.width(), 3500);
    assert!((decoded.scale - 2.0).abs() < 1e-6);
    // 7000×7000×6 bytes would be 294 MB; the working image is 3500×3500×3 = 37 MB.
    assert!(peak < 64 << 20, "decoding peaked at {} MB", peak >> 20);
    // Reduced to 8 bits (the high byte), and box-averaged: the first working pixel holds
    // the mean of a white and a grey column.
    assert_eq!(decoded.image.get_pixel(10, 10)[0], 0x40);
    assert_eq!(decoded.image.get_pixel(0, 0)[0], 160); // (255 + 64) / 2, rounded
}
