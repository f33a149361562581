//! `candor bench-ingest`: sustained ingest throughput through the real HTTP server, with
//! matching on against a large hot list, on SQLite or PostgreSQL.

use std::time::{Duration, Instant};

use candor_store::hotlists::{HotListEntry, HotListSpec, ListSource};
use candor_store::testing::TestDb;
use rand::Rng;

#[derive(clap::Args)]
pub struct Args {
    /// Hot-list entries to match against.
    #[arg(long, default_value_t = 1_000_000)]
    entries: usize,
    /// Batches to send.
    #[arg(long, default_value_t = 200)]
    batches: usize,
    /// Reads per batch.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Concurrent camera connections.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Share of reads that are hot-list plates (hits).
    #[arg(long, default_value_t = 0.001)]
    hit_rate: f64,
    /// Run on PostgreSQL (a fresh schema, dropped afterwards) instead of a temporary SQLite
    /// database.
    #[arg(long)]
    postgres: Option<String>,
}

fn random_plate(rng: &mut impl Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    let len = rng.random_range(5..=8);
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batches == 0 || args.batch_size == 0 || args.clients == 0 {
        anyhow::bail!("--batches, --batch-size and --clients must be at least 1");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let db = match &args.postgres {
        Some(url) => TestDb::postgres_at(url).await?,
        None => TestDb::sqlite()?,
    };
    let data_dir = db.path().join("data");
    candor_server::datadir::init_data_dir(&data_dir, Some(&db.url)).await?;
    let mut config = candor_server::Config::load(&data_dir)?;
    config.ingest.max_batch_reads = config.ingest.max_batch_reads.max(args.batch_size);
    config.ingest.max_body_bytes = config.ingest.max_body_bytes.max(args.batch_size * 1024);
    let state = candor_server::AppState::open(config).await?;

    let mut rng = rand::rng();
    let hot: Vec<String> = (0..args.entries).map(|_| random_plate(&mut rng)).collect();
    let entries: Vec<HotListEntry> = hot
        .iter()
        .map(|p| HotListEntry {
            plate: p.clone(),
            hit_type: "V".into(),
            ..Default::default()
        })
        .collect();
    let t = Instant::now();
    let spec = HotListSpec {
        name: "bench".into(),
        source: ListSource::Ncic,
        hit_type: "V".into(),
        priority: 1,
        hit_retention_secs: None,
    };
    state.store.replace_hot_list(&spec, &entries).await?;
    drop(entries);
    let import_time = t.elapsed();
    let (_, key) = state
        .store
        .create_camera(&candor_store::cameras::NewCamera {
            id: "bench-cam".into(),
            name: "bench".into(),
            kind: candor_store::cameras::CameraKind::Fixed,
            location: "bench".into(),
            latitude: None,
            longitude: None,
            direction: "n".into(),
            justification: "benchmark".into(),
            approval: candor_store::cameras::Approval {
                consultation_date: Some("2026-01-01".into()),
                permit_reference: Some("B".into()),
                approving_authority: Some("B".into()),
                approval_date: Some("2026-01-01".into()),
            },
        })
        .await?;
    let t = Instant::now();
    state.matcher.rebuild(&state.store).await?;
    let index_time = t.elapsed();

    // Bodies are made before the clock starts. Reads are a millisecond apart, and each batch
    // is later than the one before, as a camera's are (they end before now), and batches are
    // sent in that order.
    let start = chrono::Utc::now()
        - chrono::Duration::milliseconds((args.batches * args.batch_size) as i64);
    let mut bodies = std::collections::VecDeque::with_capacity(args.batches);
    for b in 0..args.batches {
        let reads: Vec<serde_json::Value> = (0..args.batch_size)
            .map(|i| {
                let plate = if rng.random_bool(args.hit_rate.clamp(0.0, 1.0)) && !hot.is_empty() {
                    hot[rng.random_range(0..hot.len())].clone()
                } else {
                    random_plate(&mut rng)
                };
                serde_json::json!({
                    "plate": plate, "confidence": 0.9, "region": "us-ca",
                    "captured_at": (start + chrono::Duration::milliseconds((b * args.batch_size + i) as i64)).to_rfc3339(),
                    "latitude": 40.0, "longitude": -75.0, "heading": 90.0
                })
            })
            .collect();
        bodies.push_back(serde_json::to_vec(
            &serde_json::json!({ "idempotency_key": format!("bench-{b}"), "reads": reads }),
        )?);
    }
    drop(hot);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/v1/reads", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(candor_server::serve(state.clone(), listener, async {
        let _ = stop_rx.await;
    }));

    let client = candor_server::http_client::local();
    // `serve` loads the hot lists into the matcher before it answers; that start-up (seconds
    // for a million entries) is not ingest, so the clock starts once /health answers.
    let health = url.replace("/api/v1/reads", "/health");
    let ready_by = Instant::now() + Duration::from_secs(300);
    while !client
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > ready_by {
            anyhow::bail!("the server did not become ready within 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, url, key, queue) = (client.clone(), url.clone(), key.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut hits = 0i64;
            while let Some(body) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = res.status();
                let out: serde_json::Value = res.json().await?;
                if status.as_u16() != 201 {
                    anyhow::bail!("batch refused: {status} {out}");
                }
                hits += out["hits"].as_i64().unwrap_or(0);
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>((latencies, hits))
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut hits = 0;
    for task in tasks {
        let (l, h) = task.await??;
        latencies.extend(l);
        hits += h;
    }
    let elapsed = t.elapsed();
    let _ = stop_tx.send(());
    server.await??;
    let stored = state.store.count_reads().await?;
    state.store.close().await;
    db.finish().await?;

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let total = (args.batches * args.batch_size) as f64;
    println!(
        "backend:            {}",
        if args.postgres.is_some() {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    println!(
        "hot-list entries:   {} (import {:.1} s, index build {:.1} s)",
        args.entries,
        import_time.as_secs_f64(),
        index_time.as_secs_f64()
    );
    println!(
        "batches:            {} x {} reads, {} concurrent clients",
        args.batches, args.batch_size, args.clients
    );
    println!("reads stored:       {stored} ({hits} hits)");
    println!("elapsed:            {:.2} s", elapsed.as_secs_f64());
    println!(
        "sustained:          {:.0} reads/s",
        total / elapsed.as_secs_f64()
    );
    println!(
        "batch latency:      p50 {:.1} ms, p99 {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    if stored as f64 != total {
        anyhow::bail!("stored {stored} reads, expected {total}");
    }
    Ok(())
}
