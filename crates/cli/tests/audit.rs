//! `candor audit verify` against tampering done directly in the database: edit, delete,
//! insert, swap two records, truncate the tail, forge a checkpoint. Each is caught and the
//! record named. A tail deleted together with its checkpoints (or everything deleted), with
//! the head fixed up, passes plain `verify` and is caught by `verify --against` a checkpoint
//! published earlier, read from a file or from the transparency page by URL. Also
//! `candor audit export`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use candor_audit::{Actor, AuditEntry, Outcome};
use candor_store::Store;
use common::candor;

/// A data directory with 30 audit records and a checkpoint of all of them.
async fn data_dir_with_chain(tmp: &Path) -> (PathBuf, Store) {
    let dir = tmp.join("data");
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
    let store = Store::open(&format!("sqlite://{}", dir.join("candor.db").display()))
        .await
        .unwrap();
    let entries = (0..30)
        .map(|i| {
            AuditEntry::new(
                chrono::Utc::now(),
                Actor::User {
                    id: "1".into(),
                    name: "ivy".into(),
                },
                "search.reads",
                format!("case:{i}"),
                Outcome::Success,
            )
            .with_details(serde_json::json!({"results": i}))
        })
        .collect();
    store.append_audit_batch(entries).await.unwrap();
    let cp = candor()
        .args(["audit", "checkpoint", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        cp.status.success(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    assert!(String::from_utf8_lossy(&cp.stdout).contains("length: 30"));
    (dir, store)
}

fn verify(dir: &Path) -> (bool, String) {
    let out = candor()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn tampered(sqls: &[&'static str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    let (ok, text) = verify(&dir);
    assert!(ok && text.contains("intact: 30 records"), "{text}");
    for sql in sqls {
        sqlx::query(*sql).execute(store.pool()).await.unwrap();
    }
    store.close().await;
    let (ok, text) = verify(&dir);
    assert!(!ok, "tampering went unnoticed: {text}");
    assert!(text.contains("TAMPERED"), "{text}");
    text
}

#[tokio::test]
async fn edit_is_caught_and_named() {
    let text =
        tampered(&["UPDATE audit_log SET details = '{\"results\": 0}' WHERE seq = 12"]).await;
    assert!(text.contains("record 12 was modified"), "{text}");
}

#[tokio::test]
async fn delete_is_caught_and_named() {
    let text = tampered(&["DELETE FROM audit_log WHERE seq = 8"]).await;
    assert!(text.contains("record 8 is missing"), "{text}");
}

#[tokio::test]
async fn insert_is_caught_and_named() {
    let text = tampered(&[
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 20",
        "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000",
        "INSERT INTO audit_log (seq, time, actor, action, target, outcome, source, details, prev_hash, hash) \
         SELECT 20, time, actor, action, 'case:planted', outcome, source, details, prev_hash, hash FROM audit_log WHERE seq = 3",
    ])
    .await;
    assert!(text.contains("record 20"), "{text}");
}

#[tokio::test]
async fn swap_is_caught_and_named() {
    let text = tampered(&[
        "UPDATE audit_log SET seq = -1 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = -1",
    ])
    .await;
    assert!(text.contains("record 3"), "{text}");
}

#[tokio::test]
async fn truncated_tail_is_caught_and_named() {
    let text = tampered(&[
        "DELETE FROM audit_log WHERE seq >= 25",
        "UPDATE audit_head SET length = 25, head_hash = (SELECT hash FROM audit_log WHERE seq = 24)",
    ])
    .await;
    assert!(text.contains("records from 25 on were removed"), "{text}");
}

#[tokio::test]
async fn forged_checkpoint_is_caught() {
    // Rewrite the checkpoint to vouch for a different head, keeping the old signature.
    let text = tampered(&[
        "UPDATE audit_checkpoints SET statement = replace(statement, 'length: 30', 'length: 29')",
    ])
    .await;
    assert!(
        text.contains("checkpoint at length 29 is not validly signed"),
        "{text}"
    );
}

#[tokio::test]
async fn export_writes_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    store.close().await;
    let out_file = tmp.path().join("audit.jsonl");
    let out = candor()
        .args(["audit", "export", "--from-seq", "10", "--data-dir"])
        .arg(&dir)
        .arg("--output")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0]["seq"], 10);
    assert_eq!(lines[0]["action"], "search.reads");
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    // Verification with the published public key, as an outside auditor would.
    let public = std::fs::read_to_string(dir.join("keys").join("audit-signing.pub")).unwrap();
    let out = candor()
        .args([
            "audit",
            "verify",
            "--public-key",
            public.trim(),
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the transparency page publishes (checkpoint text, public key, purge receipts) is
/// checked offline by `candor audit verify-checkpoint` / `verify-receipt`, which agree
/// with `candor audit verify --public-key`; a forged statement fails.
#[tokio::test]
async fn published_checkpoint_and_receipt_verify_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    let key = std::fs::read_to_string(dir.join("keys/audit-signing.pub")).unwrap();
    let key = key.trim();
    let text = store
        .audit_checkpoints()
        .await
        .unwrap()
        .last()
        .unwrap()
        .to_text();
    let file = tmp.path().join("checkpoint.txt");
    std::fs::write(&file, &text).unwrap();
    let run = |args: &[&str]| {
        let out = candor().args(args).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let path = file.to_str().unwrap();
    let (ok, out) = run(&[
        "audit",
        "verify-checkpoint",
        "--checkpoint",
        path,
        "--public-key",
        key,
    ]);
    assert!(
        ok && out.contains("checkpoint verifies: 30 records"),
        "{out}"
    );
    let full = candor()
        .args(["audit", "verify", "--public-key", key, "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(full.status.success());
    assert!(String::from_utf8_lossy(&full.stdout).contains("1 checkpoint(s) matched"));

    std::fs::write(&file, text.replace("length: 30", "length: 29")).unwrap();
    let (ok, out) = run(&[
        "audit",
        "verify-checkpoint",
        "--checkpoint",
        path,
        "--public-key",
        key,
    ]);
    assert!(!ok && out.contains("does NOT verify"), "{out}");
    let other = "00".repeat(32);
    std::fs::write(&file, &text).unwrap();
    let (ok, _) = run(&[
        "audit",
        "verify-checkpoint",
        "--checkpoint",
        path,
        "--public-key",
        &other,
    ]);
    assert!(!ok, "another key does not verify it");

    let purge = candor()
        .args(["purge", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        purge.status.success(),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    let receipt = store.list_receipts(1).await.unwrap().remove(0);
    let published = serde_json::json!({
        "receipt_json": receipt.receipt_json, "signature": receipt.signature, "public_key": receipt.public_key,
    });
    let rfile = tmp.path().join("receipt.json");
    std::fs::write(&rfile, published.to_string()).unwrap();
    let rpath = rfile.to_str().unwrap();
    let (ok, out) = run(&["audit", "verify-receipt", "--receipt", rpath]);
    assert!(ok && out.contains("purge receipt verifies"), "{out}");
    let (ok, out) = run(&[
        "audit",
        "verify-receipt",
        "--receipt",
        rpath,
        "--public-key",
        &other,
    ]);
    assert!(!ok && out.contains("not by"), "{out}");
    let forged = published
        .to_string()
        .replace("non_hit_reads\\\":0", "non_hit_reads\\\":1");
    assert_ne!(forged, published.to_string());
    std::fs::write(&rfile, forged).unwrap();
    let (ok, out) = run(&["audit", "verify-receipt", "--receipt", rpath]);
    assert!(!ok && out.contains("does NOT verify"), "{out}");
}

/// `candor audit verify --against SOURCE`: whether it passed, its exit code, and its output.
fn verify_against(dir: &Path, source: &str) -> (bool, Option<i32>, String) {
    let out = candor()
        .args(["audit", "verify", "--against", source, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Appends `n` records, as searches would.
async fn append(store: &Store, n: usize) {
    let entries = (0..n)
        .map(|i| {
            AuditEntry::new(
                chrono::Utc::now(),
                Actor::User {
                    id: "1".into(),
                    name: "ivy".into(),
                },
                "search.reads",
                format!("case:later-{i}"),
                Outcome::Success,
            )
        })
        .collect();
    store.append_audit_batch(entries).await.unwrap();
}

/// Signs a checkpoint with `candor audit checkpoint` and saves its text to `file`, as a
/// member of the public saves it from the transparency page.
fn publish_checkpoint(dir: &Path, file: &Path) -> String {
    let out = candor()
        .args(["audit", "checkpoint", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    std::fs::write(file, &text).unwrap();
    text
}

async fn run_sql(store: &Store, sqls: &[&'static str]) {
    for sql in sqls {
        sqlx::query(*sql).execute(store.pool()).await.unwrap();
    }
}

/// Records appended after a checkpoint are deleted together with the later checkpoint that
/// vouched for them, and the head is fixed up: the chain left is consistent, so plain
/// `verify` passes; against the checkpoint published before the deletion it fails and names
/// the missing records.
#[tokio::test]
async fn tail_deleted_with_its_checkpoint_is_caught_against_the_published_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    append(&store, 10).await;
    let file = tmp.path().join("checkpoint.txt");
    assert!(publish_checkpoint(&dir, &file).contains("length: 40"));
    let source = file.to_str().unwrap();
    append(&store, 2).await;
    let (ok, _, text) = verify_against(&dir, source);
    assert!(ok, "{text}");
    assert!(
        text.contains("the chain holds the checkpoint signed")
            && text.contains("record 39 has its head hash")
            && text.contains("2 record(s) were added since"),
        "{text}"
    );

    run_sql(
        &store,
        &[
            "DELETE FROM audit_log WHERE seq >= 30",
            "DELETE FROM audit_checkpoints WHERE length > 30",
            "UPDATE audit_head SET length = 30, head_hash = (SELECT hash FROM audit_log WHERE seq = 29)",
        ],
    )
    .await;
    store.close().await;
    let (ok, text) = verify(&dir);
    assert!(
        ok && text.contains("intact: 30 records"),
        "plain verify cannot see this: {text}"
    );
    let (ok, code, text) = verify_against(&dir, source);
    assert!(!ok && code == Some(1), "{text}");
    assert!(
        text.contains("audit chain TRUNCATED")
            && text.contains("vouches for 40 records (sequence 0 to 39)")
            && text.contains("the chain now ends at record 29: records 30 to 39 are missing"),
        "{text}"
    );
}

/// Every record and checkpoint deleted and the head reset to an empty chain: plain `verify`
/// finds nothing to check; against a published checkpoint every record it vouched for is
/// missing.
#[tokio::test]
async fn everything_deleted_is_caught_against_the_published_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    let file = tmp.path().join("checkpoint.txt");
    let text = store
        .audit_checkpoints()
        .await
        .unwrap()
        .last()
        .unwrap()
        .to_text();
    std::fs::write(&file, text).unwrap();
    run_sql(
        &store,
        &[
            "DELETE FROM audit_log",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_head SET length = 0, head_hash = zeroblob(32)",
        ],
    )
    .await;
    store.close().await;
    let (ok, text) = verify(&dir);
    assert!(
        ok && text.contains("no records to check"),
        "plain verify cannot see this: {text}"
    );
    let (ok, code, text) = verify_against(&dir, file.to_str().unwrap());
    assert!(!ok && code == Some(1), "{text}");
    assert!(
        text.contains("but the chain now holds none: records 0 to 29 are missing"),
        "{text}"
    );
}

/// `--against` takes the transparency page (HTML or JSON) by URL; a checkpoint whose text
/// was edited, or a file that holds none, is refused with the reason.
#[tokio::test]
async fn against_reads_the_transparency_page_and_refuses_what_is_not_a_valid_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = data_dir_with_chain(tmp.path()).await;
    store.close().await;
    let mut cmd = candor();
    cmd.env("RUST_LOG", "warn").stderr(Stdio::null());
    let (mut child, addr) = common::start_serve(cmd, &dir);
    let page = verify_against(&dir, &format!("http://{addr}/transparency"));
    let json = verify_against(&dir, &format!("http://{addr}/transparency.json"));
    let missing = verify_against(&dir, &format!("http://{addr}/no-such-page"));
    child.kill().unwrap();
    child.wait().unwrap();
    for (ok, _, text) in [page, json] {
        assert!(ok && text.contains("record 29 has its head hash"), "{text}");
    }
    assert!(!missing.0 && missing.2.contains("404"), "{}", missing.2);

    let file = tmp.path().join("checkpoint.txt");
    let text = publish_checkpoint(&dir, &file);
    std::fs::write(&file, text.replace("length: 30", "length: 31")).unwrap();
    let (ok, _, out) = verify_against(&dir, file.to_str().unwrap());
    assert!(
        !ok && out.contains("does NOT verify") && out.contains("signature does not match"),
        "{out}"
    );
    std::fs::write(&file, "hello").unwrap();
    let (ok, _, out) = verify_against(&dir, file.to_str().unwrap());
    assert!(!ok && out.contains("holds no audit checkpoint"), "{out}");
}
