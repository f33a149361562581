//! Decoding: every format and EXIF orientation; bad input never panics or hangs, and each
//! case gets a clear error naming the problem.

use std::io::Cursor;
use std::path::Path;

use candor_vision::{Engine, RgbImage, VisionError, decode_image, load_image};
use image::{ImageFormat, Rgb};

fn noisy(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) as u8;
        Rgb([v, v.wrapping_add(85), v.wrapping_add(170)])
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

#[test]
fn zero_byte_input_is_empty() {
    let err = decode_image(&[]).unwrap_err();
    assert!(matches!(err, VisionError::Empty), "{err}");
    assert!(err.to_string().contains("zero bytes"));
}

#[test]
fn zero_byte_file_is_empty() {
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        load_image(file.path()).unwrap_err(),
        VisionError::Empty
    ));
}

#[test]
fn missing_file_names_the_path() {
    let err = load_image(Path::new("/nonexistent/plate.jpg")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/plate.jpg"), "{err}");
}

#[test]
fn text_is_not_an_image() {
    let err = decode_image(b"plate,ABC1234\nthis is a CSV file, not a picture\n").unwrap_err();
    assert!(matches!(err, VisionError::UnknownFormat), "{err}");
}

#[test]
fn corrupt_jpeg_is_a_decode_error() {
    // A JPEG signature followed by garbage.
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(7919) % 251) as u8));
    let err = decode_image(&bytes).unwrap_err();
    assert!(
        matches!(err, VisionError::Decode(_) | VisionError::UnknownFormat),
        "{err}"
    );
}

#[test]
fn truncated_jpeg_is_a_decode_error() {
    let bytes = encode(&noisy(320, 240), ImageFormat::Jpeg);
    let err = decode_image(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, VisionError::Decode(_)), "{err}");
}

#[test]
fn truncated_png_is_a_decode_error() {
    let bytes = encode(&noisy(320, 240), ImageFormat::Png);
    let err = decode_image(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, VisionError::Decode(_)), "{err}");
}

#[test]
fn one_pixel_image_is_too_small() {
    let bytes = encode(&noisy(1, 1), ImageFormat::Png);
    let err = decode_image(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            VisionError::TooSmall {
                width: 1,
                height: 1,
                ..
            }
        ),
        "{err}"
    );
}

/// A JPEG whose header declares 20000×20000 but whose data is that of a small image:
/// refused from the header, before any pixel buffer is allocated.
#[test]
fn huge_declared_jpeg_is_refused_before_decoding() {
    let mut bytes = encode(&noisy(64, 48), ImageFormat::Jpeg);
    let sof = bytes
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
        .expect("a JPEG has a start-of-frame marker");
    // SOF: marker(2) length(2) precision(1) height(2) width(2).
    bytes[sof + 5..sof + 7].copy_from_slice(&20000u16.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&20000u16.to_be_bytes());
    let err = decode_image(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            VisionError::TooLarge {
                width: 20000,
                height: 20000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("MP limit"));
}

#[test]
fn huge_declared_bmp_is_refused_before_decoding() {
    let mut bytes = encode(&noisy(32, 32), ImageFormat::Bmp);
    // BITMAPINFOHEADER width and height at offsets 18 and 22.
    bytes[18..22].copy_from_slice(&20000i32.to_le_bytes());
    bytes[22..26].copy_from_slice(&20000i32.to_le_bytes());
    let err = decode_image(&bytes).unwrap_err();
    assert!(matches!(err, VisionError::TooLarge { .. }), "{err}");
}

#[test]
fn good_images_of_every_format_decode() {
    let image = noisy(64, 48);
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::WebP,
    ] {
        let decoded = decode_image(&encode(&image, format)).unwrap();
        assert_eq!(decoded.dimensions(), (64, 48), "{format:?}");
    }
}

#[test]
fn engine_refuses_tiny_images_with_an_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let engine = match Engine::load(&dir) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("skipping: no models to load ({e})");
            return;
        }
    };
    let err = engine.recognize(&noisy(1, 1)).unwrap_err();
    assert!(matches!(err, VisionError::TooSmall { .. }), "{err}");
    // A blank crop reads as nothing or something, but never panics.
    let reader = engine.reader();
    assert!(reader.read_crop(&RgbImage::new(1, 1)).is_err());
    reader.read_crop(&RgbImage::new(3, 3)).unwrap();
}

#[test]
fn bad_models_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::load(dir.path()).err().unwrap();
    assert!(err.to_string().contains("manifest.toml"), "{err}");
    std::fs::write(dir.path().join("manifest.toml"), "[detector]\nfile = 3\n").unwrap();
    let err = Engine::load(dir.path()).err().unwrap();
    assert!(matches!(err, VisionError::Manifest { .. }), "{err}");
}

/// A JPEG with an EXIF orientation tag: value 6 means "rotate 90° clockwise to view".
#[test]
fn exif_orientation_is_honoured() {
    let mut image = RgbImage::from_pixel(64, 48, Rgb([0, 0, 0]));
    // A white block in the top-left corner of the stored pixels.
    for y in 0..16 {
        for x in 0..16 {
            image.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    let jpeg = encode(&image, ImageFormat::Jpeg);
    let mut tiff = b"Exif\0\0II*\0\x08\0\0\0\x01\0".to_vec();
    // Tag 0x0112 (orientation), type SHORT, count 1, value 6; then no next IFD.
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut bytes = jpeg[..2].to_vec();
    bytes.extend_from_slice(&[0xFF, 0xE1]);
    bytes.extend_from_slice(&((tiff.len() + 2) as u16).to_be_bytes());
    bytes.extend_from_slice(&tiff);
    bytes.extend_from_slice(&jpeg[2..]);
    let upright = decode_image(&bytes).unwrap();
    assert_eq!(upright.dimensions(), (48, 64));
    // Rotated clockwise, the stored top-left corner is now the top-right corner.
    assert!(
        upright.get_pixel(40, 8)[0] > 200,
        "white block moved to the top right"
    );
    assert!(upright.get_pixel(8, 8)[0] < 50);
}
