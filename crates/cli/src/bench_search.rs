//! `candor bench-search`: search latency over a large store on SQLite. Builds (or reuses)
//! a data directory holding `--reads` reads spread over `--days` days on `--cameras`
//! cameras, stored through the store's own ingest (sealed per key window, blind index,
//! gram signature), then times exact-plate and wildcard searches end to end through the
//! search service: policy check, search, durable audit record, review flags.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candor_platetext::wildcard::Pattern;
use candor_server::auth::Actor;
use candor_server::search::{PurposeBody, SearchRequest, SearchTarget, run_search};
use candor_store::reads::{NewRead, ReadDetails};
use candor_store::search::ReadSearch;
use rand::Rng;

#[derive(clap::Args)]
pub struct Args {
    /// Reads to store (when building).
    #[arg(long, default_value_t = 10_000_000)]
    reads: u64,
    /// Days the capture times spread over, ending now.
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Cameras the reads come from.
    #[arg(long, default_value_t = 50)]
    cameras: usize,
    /// Reads per ingest batch while building.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Searches timed of each kind.
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// Keep the data directory here and reuse it on the next run (built if empty); a
    /// temporary one is removed afterwards when not given.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Plates searched for: each appears `REPEATS` times, spread over the whole period.
const TARGETS: usize = 200;
const REPEATS: u64 = 25;
const CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";

fn random_plate(rng: &mut impl Rng) -> String {
    let len = rng.random_range(5..=8);
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The `i`th target plate: fixed, so a reused directory is searched for the same plates.
fn target_plate(i: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..7)
        .map(|_| {
            x = x.rotate_left(7).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            CHARS[(x >> 40) as usize % CHARS.len()] as char
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.reads == 0 || args.days <= 0 || args.cameras == 0 || args.batch_size == 0 {
        anyhow::bail!("--reads, --days, --cameras and --batch-size must be at least 1");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let data_dir = args.dir.clone().unwrap_or_else(|| temp.path().join("data"));
    let fresh = !data_dir.join(candor_server::config::CONFIG_FILE).exists();
    if fresh {
        candor_server::datadir::init_data_dir(&data_dir, None).await?;
    }
    let mut config = candor_server::Config::load(&data_dir)?;
    // Keep every read for a year, so the whole period is live and searchable.
    config.retention.non_hit_secs = Some(365 * 86_400);
    config.retention.hit_secs = Some(365 * 86_400);
    let state = candor_server::AppState::open(config).await?;
    let now = candor_store::now_ms();

    let stored = state.store.count_reads().await?;
    if stored == 0 {
        build(&state, &args, now).await?;
    } else {
        println!("reusing {} with {stored} reads", data_dir.display());
    }
    let stored = state.store.count_reads().await?;
    let size = std::fs::metadata(data_dir.join("candor.db"))
        .map(|m| m.len())
        .unwrap_or(0);

    let user = match state.store.user_by_username("bench").await? {
        Some(u) => u,
        None => {
            state
                .store
                .create_user(
                    &candor_store::users::NewUser {
                        username: "bench".into(),
                        display_name: "Search benchmark".into(),
                        role: "investigator".into(),
                        password_hash: "unusable".into(),
                        created_by: None,
                    },
                    now,
                )
                .await?
        }
    };
    let actor = Actor {
        user_id: user.id,
        username: user.username.clone(),
        role: candor_server::auth::Role::Investigator,
        csrf_token: String::new(),
        remote_addr: "bench".into(),
        policy_version: 1,
        training_expires: Some(now + 86_400_000),
        access_granted: true,
    };
    let purpose = PurposeBody {
        category: "stolen-vehicle".into(),
        case_number: "2026-000001".into(),
        free_text: "search benchmark".into(),
    };
    let day = 86_400_000;
    let request = |plate: String, range_days: i64| SearchRequest {
        plate,
        lookalikes: false,
        from: now - range_days * day,
        to: now,
        cameras: Vec::new(),
        area: None,
        purpose: purpose.clone(),
        limit: Some(50),
        cursor: None,
    };

    println!(
        "store:              {stored} reads over {} days, {} cameras, SQLite {:.2} GB",
        args.days,
        args.cameras,
        size as f64 / 1e9
    );
    let mut rng = rand::rng();
    // Whole plates over the policy's longest range (30 days); patterns over its longest
    // partial range (7 days): a prefix with one unknown character, and an inner run.
    let kinds: [SearchKind; 3] = [
        ("exact plate, 30 days", 30, |p| p.to_string()),
        ("wildcard AB?DE*, 7 days", 7, |p| {
            format!("{}?{}*", &p[..2], &p[3..5])
        }),
        ("wildcard *CDE*, 7 days", 7, |p| format!("*{}*", &p[2..5])),
    ];
    println!("end to end (policy check, search, durable audit record, review flags):");
    for (label, range_days, make) in kinds {
        let mut times = Vec::new();
        let mut results = 0;
        for _ in 0..args.queries {
            let plate = make(&target_plate(rng.random_range(0..TARGETS)));
            let t = Instant::now();
            let out = run_search(
                &state,
                &actor,
                SearchTarget::Reads,
                request(plate, range_days),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            times.push(t.elapsed());
            results += out.reads.len();
        }
        report(label, times, results, None);
    }
    // The store's part alone, and how many reads it decrypted: where the time goes.
    println!("store only (candidate rows, decryption, pattern check):");
    for (label, range_days, make) in kinds {
        let mut times = Vec::new();
        let (mut results, mut decrypted) = (0, 0);
        for _ in 0..args.queries {
            let pattern = make(&target_plate(rng.random_range(0..TARGETS)));
            let query = ReadSearch {
                pattern: Pattern::parse(&pattern)?,
                lookalikes: None,
                from: now - range_days * day,
                to: now,
                cameras: None,
                hits_only: false,
                limit: 50,
                after: None,
            };
            let t = Instant::now();
            let page = state.store.search_reads(&state.keys, &query).await?;
            times.push(t.elapsed());
            results += page.reads.len();
            decrypted += page.decrypted;
        }
        report(label, times, results, Some(decrypted));
    }
    state.store.close().await;
    Ok(())
}

/// A kind of search timed: its label, the days searched, and the plate or pattern it makes
/// from a target plate.
type SearchKind = (&'static str, i64, fn(&str) -> String);

/// Prints the median, 95th percentile and maximum of `times`, with results and reads
/// decrypted per query.
fn report(label: &str, mut times: Vec<Duration>, results: usize, decrypted: Option<usize>) {
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let per_query = |n: usize| n as f64 / times.len() as f64;
    println!(
        "{label:<34} p50 {:7.1} ms  p95 {:7.1} ms  max {:7.1} ms  {:6.1} results  {}",
        pct(0.5),
        pct(0.95),
        pct(1.0),
        per_query(results),
        decrypted.map_or(String::new(), |d| format!("{:7.1} decrypted", per_query(d)))
    );
}

/// Stores `args.reads` reads in capture-time order, as cameras would send them, two
/// batches in flight so sealing overlaps the database writes.
async fn build(state: &candor_server::AppState, args: &Args, now: i64) -> anyhow::Result<()> {
    let cameras: Vec<String> = (0..args.cameras).map(|i| format!("cam-{i:03}")).collect();
    for (i, id) in cameras.iter().enumerate() {
        state
            .store
            .create_camera(&candor_store::cameras::NewCamera {
                id: id.clone(),
                name: id.clone(),
                kind: candor_store::cameras::CameraKind::Fixed,
                location: "bench".into(),
                latitude: Some(40.0 + i as f64 * 0.01),
                longitude: Some(-75.0),
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
    }
    let span = args.days * 86_400_000;
    let start = now - span;
    let batches = args.reads.div_ceil(args.batch_size as u64);
    let target_every = (args.reads / (TARGETS as u64 * REPEATS)).max(1);
    let t = Instant::now();
    let mut in_flight: Vec<tokio::task::JoinHandle<anyhow::Result<()>>> = Vec::new();
    let mut rng = rand::rng();
    let mut n: u64 = 0;
    for b in 0..batches {
        let count = (args.reads - n).min(args.batch_size as u64);
        let reads: Vec<NewRead> = (0..count)
            .map(|_| {
                n += 1;
                let plate = if n.is_multiple_of(target_every) {
                    target_plate(rng.random_range(0..TARGETS))
                } else {
                    random_plate(&mut rng)
                };
                NewRead {
                    captured_at: start + (span as f64 * n as f64 / args.reads as f64) as i64,
                    confidence: 0.9,
                    details: ReadDetails {
                        plate,
                        region: Some("us-ca".into()),
                        latitude: Some(40.0),
                        longitude: Some(-75.0),
                        heading: Some(90.0),
                        ..Default::default()
                    },
                    image_id: None,
                    hits: Vec::new(),
                }
            })
            .collect();
        let camera = cameras[b as usize % cameras.len()].clone();
        let (store, keys, retention) = (
            state.store.clone(),
            state.keys.clone(),
            state.retention.clone(),
        );
        if in_flight.len() >= 2 {
            in_flight.remove(0).await??;
        }
        in_flight.push(tokio::spawn(async move {
            store
                .ingest_batch(
                    &keys,
                    &retention,
                    &camera,
                    &format!("bench-{b}"),
                    b"bench",
                    reads,
                )
                .await?;
            Ok(())
        }));
        if (b + 1) % 200 == 0 {
            println!(
                "built {n} reads in {:.0} s ({:.0} reads/s)",
                t.elapsed().as_secs_f64(),
                n as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    for task in in_flight {
        task.await??;
    }
    println!(
        "build:              {n} reads in {:.0} s ({:.0} reads/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
