//! A binary run outside the source tree still finds its models: `init` copies them into the
//! data directory, and `serve` says at start-up whether recognition is on, loudly when not.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::start_serve;

fn repo_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// `candor` run from `cwd`, with `CANDOR_MODELS` set only when `models` is given.
fn candor(cwd: &Path, models: Option<&Path>) -> Command {
    let mut cmd = common::candor();
    cmd.current_dir(cwd).env_remove("CANDOR_MODELS");
    if let Some(models) = models {
        cmd.env("CANDOR_MODELS", models);
    }
    cmd
}

/// `candor init` of `cwd/data` run from `cwd`; returns the data directory and what init said.
fn init(cwd: &Path, models: Option<&Path>) -> (PathBuf, String) {
    let data = cwd.join("data");
    let Output { status, stdout, .. } = candor(cwd, models)
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&stdout).into_owned();
    assert!(status.success(), "{said}");
    (data, said)
}

/// What `serve` logs before it listens: starts it, waits for the listening line, stops it.
fn serve_log(cwd: &Path, data_dir: &Path) -> String {
    let mut cmd = candor(cwd, None);
    cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
    let (mut child, _) = start_serve(cmd, data_dir);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

#[test]
fn init_copies_the_models_and_serve_finds_them_outside_the_tree() {
    if !repo_models().join("manifest.toml").is_file() {
        eprintln!("skipping: the checkout has no models");
        return;
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let (data, said) = init(elsewhere.path(), Some(&repo_models()));
    assert!(said.contains("Recognition models: copied from"), "{said}");
    assert!(data.join("models/manifest.toml").is_file());

    // no CANDOR_MODELS and no models/ above the working folder: only the data directory's copy
    let log = serve_log(elsewhere.path(), &data);
    assert!(log.contains("recognition on"), "{log}");
    assert!(!log.contains("RECOGNITION IS OFF"), "{log}");
}

#[test]
fn without_models_init_and_serve_say_recognition_is_off_and_how_to_fix_it() {
    let elsewhere = tempfile::tempdir().unwrap();
    let (data, said) = init(elsewhere.path(), None);
    assert!(said.contains("RECOGNITION WILL BE OFF"), "{said}");

    let log = serve_log(elsewhere.path(), &data);
    assert!(log.contains("RECOGNITION IS OFF"), "{log}");
    assert!(
        log.contains(&data.join("models").display().to_string()),
        "{log}"
    );
}
