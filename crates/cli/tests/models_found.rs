//! A binary run outside the source tree still finds its models: `init` copies them into the
//! data directory, and `serve` says at start-up whether recognition is on, loudly when not.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// `candor ARGS` run from `cwd`, with `CANDOR_MODELS` set only when `models` is given.
fn candor(cwd: &Path, models: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_candor"));
    cmd.current_dir(cwd).env_remove("CANDOR_MODELS");
    if let Some(models) = models {
        cmd.env("CANDOR_MODELS", models);
    }
    cmd
}

/// What `serve` logs before it listens: starts it, waits for the listening line, stops it.
fn serve_log(cwd: &Path, data_dir: &Path) -> String {
    let mut child = candor(cwd, None)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn candor serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read listening line");
    assert!(line.starts_with("listening on "), "unexpected {line:?}");
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
    let data = elsewhere.path().join("data");
    let init = candor(elsewhere.path(), Some(&repo_models()))
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success(), "{said}");
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
    let data = elsewhere.path().join("data");
    let init = candor(elsewhere.path(), None)
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success(), "{said}");
    assert!(said.contains("RECOGNITION WILL BE OFF"), "{said}");

    let log = serve_log(elsewhere.path(), &data);
    assert!(log.contains("RECOGNITION IS OFF"), "{log}");
    assert!(
        log.contains(&data.join("models").display().to_string()),
        "{log}"
    );
}
