//! `candor user bootstrap`: the first administrator comes only from the `candor init` token.

use std::process::Command;

fn candor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_candor"))
}

fn bootstrap(dir: &std::path::Path, token: &str, username: &str) -> std::process::Output {
    candor()
        .args(["user", "bootstrap", "--data-dir"])
        .arg(dir)
        .args(["--username", username, "--display-name", "First Admin"])
        .env("CANDOR_BOOTSTRAP_TOKEN", token)
        .env("CANDOR_ADMIN_PASSWORD", "a long first-admin passphrase")
        .output()
        .unwrap()
}

#[test]
fn first_administrator_needs_the_init_token_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let init = candor()
        .args(["init", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let stdout = String::from_utf8_lossy(&init.stdout);
    let token = stdout
        .lines()
        .skip_while(|l| !l.contains("bootstrap token"))
        .nth(1)
        .expect("token line")
        .trim()
        .to_string();

    let wrong = bootstrap(&dir, "not-the-token", "chief");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("does not match"));

    let ok = bootstrap(&dir, &token, "chief");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Created administrator"));

    // Spent: a second administrator cannot be made this way.
    let again = bootstrap(&dir, &token, "chief2");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exist"));

    let list = candor()
        .args(["user", "list", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing.contains("chief") && listing.contains("administrator"),
        "{listing}"
    );
}

/// Issue 26: `init` takes the agency's name and says what to do next.
#[test]
fn init_takes_the_agency_name_and_says_the_next_step() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let init = candor()
        .args(["init", "--agency-name", "Springfield Police", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let stdout = String::from_utf8_lossy(&init.stdout);
    assert!(
        stdout.contains("Next: create the first administrator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("candor user bootstrap --data-dir"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(dir.join("candor.toml")).unwrap();
    assert!(
        config.contains("agency_name = \"Springfield Police\""),
        "{config}"
    );
}
