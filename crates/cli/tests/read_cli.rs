//! `candor read --json`: one object per image, errors reported per file, non-zero exit
//! when any file failed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shipped models, or `None` (the test is skipped) when the checkout has none.
fn models() -> Option<PathBuf> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if !models.join("manifest.toml").is_file() {
        eprintln!("skipping: no models in {}", models.display());
        return None;
    }
    Some(models)
}

/// `candor read ARGS --models MODELS DIR`.
fn candor_read(args: &[&str], models: &Path, dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("read")
        .args(args)
        .arg("--models")
        .arg(models)
        .arg(dir)
        .output()
        .unwrap()
}

/// A folder holding one flat grey image, `grey.png`.
fn folder_with_grey_image(width: u32, height: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]))
        .save(dir.path().join("grey.png"))
        .unwrap();
    dir
}

#[test]
fn read_json_reports_each_file_and_fails_on_bad_ones() {
    let Some(models) = models() else { return };
    let dir = folder_with_grey_image(320, 240);
    std::fs::write(dir.path().join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.path().join("notes.bmp"), b"not a bitmap").unwrap();

    let out = candor_read(&["--json", "--top-n", "3"], &models, dir.path());
    assert!(!out.status.success(), "two files are bad, so the run fails");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "one line per file, the run goes on after errors"
    );
    let by_name = |name: &str| {
        lines
            .iter()
            .find(|l| l["image"].as_str().unwrap().ends_with(name))
            .unwrap()
    };
    let grey = by_name("grey.png");
    assert_eq!(grey["error"], serde_json::Value::Null);
    assert_eq!(
        (grey["width"].as_u64(), grey["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(grey["plates"].is_array() && grey["elapsed_ms"].is_number());
    assert!(
        by_name("empty.jpg")["error"]
            .as_str()
            .unwrap()
            .contains("zero bytes")
    );
    assert!(by_name("notes.bmp")["error"].as_str().is_some());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("2 of 3 files"), "{stderr}");
}

#[test]
fn an_unknown_region_is_refused_before_any_file_is_read() {
    let Some(models) = models() else { return };
    let dir = folder_with_grey_image(64, 32);
    let out = candor_read(&["--json", "--region", "br,ZZ"], &models, dir.path());
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing read");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--region: unknown plate region \"ZZ\"") && stderr.contains("US-NY"),
        "{stderr}"
    );
}
