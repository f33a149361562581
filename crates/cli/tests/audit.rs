//! `candor audit verify` against tampering done directly in the database: edit, delete,
//! insert, swap two records, truncate the tail, forge a checkpoint. Each is caught and the
//! record named. Also `candor audit export`.

use std::path::{Path, PathBuf};
use std::process::Command;

use candor_audit::{Actor, AuditEntry, Outcome};
use candor_store::Store;

fn candor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_candor"))
}

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
