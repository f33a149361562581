//! `candor read --json`: one object per image, errors reported per file, non-zero exit
//! when any file failed.

use std::path::Path;
use std::process::Command;

#[test]
fn read_json_reports_each_file_and_fails_on_bad_ones() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if !models.join("manifest.toml").is_file() {
        eprintln!("skipping: no models in {}", models.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save(dir.path().join("grey.png"))
        .unwrap();
    std::fs::write(dir.path().join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.path().join("notes.bmp"), b"not a bitmap").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["read", "--json", "--top-n", "3", "--models"])
        .arg(&models)
        .arg(dir.path())
        .output()
        .unwrap();
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
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if !models.join("manifest.toml").is_file() {
        eprintln!("skipping: no models in {}", models.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(64, 32, image::Rgb([128, 128, 128]))
        .save(dir.path().join("grey.png"))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["read", "--json", "--region", "br,ZZ", "--models"])
        .arg(&models)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing read");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--region: unknown plate region \"ZZ\"") && stderr.contains("US-NY"),
        "{stderr}"
    );
}
