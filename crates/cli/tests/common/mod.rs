//! Running the real `candor` binary in tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `candor` binary built for these tests.
pub fn candor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_candor"))
}

/// Starts `cmd` (the binary with its working folder, environment and stderr already set) as
/// `serve` on a free loopback port over `data_dir`; returns it once it listens, with its
/// address (`127.0.0.1:PORT`).
pub fn start_serve(mut cmd: Command, data_dir: &Path) -> (Child, String) {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn candor serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}
