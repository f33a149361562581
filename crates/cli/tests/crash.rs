//! Crash test: kill -9 the real `candor serve` during sustained ingest, restart it, and find
//! every acknowledged read present and no partial batch.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use candor_store::Store;
use common::{candor, start_serve};

const BATCH: usize = 200;

/// Starts `candor serve` on a free port; returns the child and its base url.
fn start(data_dir: &std::path::Path) -> (Child, String) {
    let mut cmd = candor();
    cmd.env("RUST_LOG", "warn").stderr(Stdio::null());
    let (child, addr) = start_serve(cmd, data_dir);
    (child, format!("http://{addr}"))
}

fn body(key: &str) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    serde_json::json!({
        "idempotency_key": key,
        "reads": (0..BATCH).map(|i| serde_json::json!({
            "plate": format!("CR{i:04}"), "confidence": 0.9, "captured_at": now
        })).collect::<Vec<_>>()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_no_acknowledged_read() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let out = candor()
        .args(["init", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("bootstrap token"));

    let db_url = format!("sqlite://{}", data_dir.join("candor.db").display());
    let store = Store::open(&db_url).await.unwrap();
    let (_, key) = store
        .create_camera(&candor_store::cameras::NewCamera {
            id: "crash-cam".into(),
            name: "crash".into(),
            kind: candor_store::cameras::CameraKind::Fixed,
            location: "lab".into(),
            latitude: None,
            longitude: None,
            direction: "n".into(),
            justification: "crash test".into(),
            approval: candor_store::cameras::Approval {
                consultation_date: Some("2026-01-01".into()),
                permit_reference: Some("P".into()),
                approving_authority: Some("A".into()),
                approval_date: Some("2026-01-01".into()),
            },
        })
        .await
        .unwrap();

    let (mut child, base) = start(&data_dir);
    let client = candor_server::http_client::local();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(
        Vec::<(serde_json::Value, String)>::new(),
    ));
    let mut senders = Vec::new();
    for worker in 0..3 {
        let (client, base, key, acked) = (client.clone(), base.clone(), key.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let batch = body(&format!("w{worker}-b{n}"));
                let res = client
                    .post(format!("{base}/api/v1/reads"))
                    .bearer_auth(&key)
                    .json(&batch)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: serde_json::Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return,
                        };
                        acked
                            .lock()
                            .unwrap()
                            .push((batch, v["batch_id"].as_str().unwrap().to_string()));
                    }
                    // The server died mid-request: this batch was never acknowledged.
                    _ => return,
                }
            }
        }));
    }
    // Sustained ingest for a while, then SIGKILL.
    let start_t = Instant::now();
    while acked.lock().unwrap().len() < 20 && start_t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().expect("kill -9");
    child.wait().unwrap();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} batches acknowledged before the kill",
        acked.len()
    );

    // Restart: every acknowledged batch is complete; no batch is partial.
    let (mut child, base) = start(&data_dir);
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    for (_, batch_id) in &acked {
        assert_eq!(
            store.count_reads_in_batch(batch_id).await.unwrap(),
            BATCH as i64,
            "acknowledged batch {batch_id}"
        );
    }
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT batch_id, read_count FROM ingest_batches")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(rows.len() >= acked.len());
    for (batch_id, read_count) in &rows {
        assert_eq!(
            store.count_reads_in_batch(batch_id).await.unwrap(),
            *read_count,
            "batch {batch_id} is partial"
        );
    }
    let total: i64 = rows.iter().map(|(_, n)| n).sum();
    assert_eq!(
        store.count_reads().await.unwrap(),
        total,
        "no read outside a committed batch"
    );

    // A camera re-sending an acknowledged batch after the restart is told it is stored.
    let (batch, batch_id) = &acked[0];
    let res = client
        .post(format!("{base}/api/v1/reads"))
        .bearer_auth(&key)
        .json(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (&v["duplicate"], v["batch_id"].as_str().unwrap()),
        (&serde_json::json!(true), batch_id.as_str())
    );
    child.kill().unwrap();
    child.wait().unwrap();
    store.close().await;
}
