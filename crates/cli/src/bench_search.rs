//! `candor bench-search`: search latency over a large store on SQLite. Builds (or reuses)
//! a data directory holding `--reads` reads spread over `--days` days on `--cameras`
//! cameras, stored through the store's own ingest (sealed per key window, blind index,
//! gram signature), then times exact-plate and wildcard searches end to end through the
//! search service (policy check, search, durable audit record, review flags) from
//! `--clients` clients at once, then the store's part alone.
//!
//! Plates are drawn as states issue them by default ([`IssuedPlates`]): sequential serials
//! in a few common formats, so that plates in circulation share long prefixes and a
//! wildcard built from one plate matches its neighbours' grams too. `--plates random`
//! draws independent random plates instead, which flatters pattern searches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candor_platetext::wildcard::Pattern;
use candor_server::auth::Actor;
use candor_server::search::{PurposeBody, SearchRequest, SearchTarget, run_search};
use candor_store::reads::{NewRead, ReadDetails};
use candor_store::search::ReadSearch;
use rand::Rng;

/// How the stored plates are drawn.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateDraw {
    /// Sequential serials in state formats, with shared prefixes (as on the road).
    Issued,
    /// Independent random plates of 5–8 characters.
    Random,
}

impl PlateDraw {
    fn name(self) -> &'static str {
        match self {
            PlateDraw::Issued => "issued",
            PlateDraw::Random => "random",
        }
    }
}

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
    /// Searches timed of each kind, per client.
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// Clients searching at once (each runs --queries searches of each kind).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// How plates are drawn when building (a reused directory keeps its own).
    #[arg(long, value_enum, default_value_t = PlateDraw::Issued)]
    plates: PlateDraw,
    /// Keep the data directory here and reuse it on the next run (built if empty); a
    /// temporary one is removed afterwards when not given.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Plates searched for: each appears `REPEATS` times, spread over the whole period.
const TARGETS: usize = 200;
const REPEATS: u64 = 25;
/// Characters states issue (most leave out I, O and Q).
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
const CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";

/// Plates as states issue them: each format hands out serials in order, so the plates in
/// circulation are one contiguous run of serials per format and neighbours share all but
/// their last characters. Deterministic, so a reused directory is searched for the plates
/// it holds.
struct IssuedPlates;

impl IssuedPlates {
    /// Formats (`L` letter, `D` digit), the first serial in circulation and how many are:
    /// a California-like `1ABC234`, a Texas-like `ABC1234` and an older `123ABC`.
    const FORMATS: [(&'static str, u64, u64); 3] = [
        ("DLLLDDD", 8 * 23 * 23 * 23 * 1000, 3_000_000),
        ("LLLDDDD", 15 * 23 * 23 * 10_000, 4_000_000),
        ("DDDLLL", 0, 1_500_000),
    ];

    /// The plate of vehicle `v` (any number: vehicles map onto the serials in circulation).
    fn plate(v: u64) -> String {
        let (format, first, count) = Self::FORMATS[(v % 3) as usize];
        let mut serial = first + mix(v) % count;
        // The last position changes fastest, as a sequence counts.
        let mut out: Vec<u8> = format
            .bytes()
            .rev()
            .map(|kind| {
                let symbols: &[u8] = if kind == b'L' { LETTERS } else { b"0123456789" };
                let c = symbols[(serial % symbols.len() as u64) as usize];
                serial /= symbols.len() as u64;
                c
            })
            .collect();
        out.reverse();
        String::from_utf8(out).expect("ASCII")
    }
}

/// A fixed scramble of `x` (splitmix64's finaliser).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_plate(rng: &mut impl Rng) -> String {
    let len = rng.random_range(5..=8);
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The `i`th target plate: fixed, so a reused directory is searched for the same plates.
fn target_plate(draw: PlateDraw, i: usize) -> String {
    match draw {
        // A vehicle beyond any fleet drawn; a fleet vehicle may now and then hold the same
        // serial, which only adds reads of that plate.
        PlateDraw::Issued => IssuedPlates::plate(u64::MAX / 2 + i as u64),
        PlateDraw::Random => {
            let mut x = mix(i as u64);
            (0..7)
                .map(|_| {
                    x = x.rotate_left(7).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    CHARS[(x >> 40) as usize % CHARS.len()] as char
                })
                .collect()
        }
    }
}

/// A plate that is not a target: a random vehicle of a fleet seen about 20 times each over
/// the period, or a random plate.
fn other_plate(draw: PlateDraw, vehicles: u64, rng: &mut impl Rng) -> String {
    match draw {
        PlateDraw::Issued => IssuedPlates::plate(rng.random_range(0..vehicles)),
        PlateDraw::Random => random_plate(rng),
    }
}

/// The file in a bench directory naming how its plates were drawn.
const DRAW_FILE: &str = "bench-plates.txt";

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.reads == 0
        || args.days <= 0
        || args.cameras == 0
        || args.batch_size == 0
        || args.queries == 0
        || args.clients == 0
    {
        anyhow::bail!(
            "--reads, --days, --cameras, --batch-size, --queries and --clients must be at least 1"
        );
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
    let config = candor_server::Config::load(&data_dir)?;
    let state = candor_server::AppState::open(config).await?;
    let now = candor_store::now_ms();

    let stored = state.store.count_reads().await?;
    let draw_file = data_dir.join(DRAW_FILE);
    let draw = if stored == 0 {
        build(&state, &args, now).await?;
        std::fs::write(&draw_file, args.plates.name())?;
        args.plates
    } else {
        // Directories built before plates could be drawn as issued hold random plates.
        let kept = std::fs::read_to_string(&draw_file).unwrap_or_else(|_| "random".into());
        let draw = [PlateDraw::Issued, PlateDraw::Random]
            .into_iter()
            .find(|d| d.name() == kept.trim())
            .ok_or_else(|| anyhow::anyhow!("{} names no plate draw", draw_file.display()))?;
        println!(
            "reusing {} with {stored} reads ({} plates)",
            data_dir.display(),
            draw.name()
        );
        draw
    };
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
        free_text: "search benchmark, timing the search service".into(),
    };
    let day = 86_400_000;
    let request = move |plate: String, range_days: i64| SearchRequest {
        plate,
        lookalikes: false,
        from: now - range_days * day,
        to: now,
        cameras: Vec::new(),
        area: None,
        vehicle_color: None,
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
    println!(
        "end to end (policy check, search, durable audit record, review flags), {} clients at once:",
        args.clients
    );
    for (label, range_days, make) in kinds {
        let started = Instant::now();
        let clients: Vec<_> = (0..args.clients)
            .map(|_| {
                let (state, actor, queries) = (state.clone(), actor.clone(), args.queries);
                let request = request.clone();
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    let mut results = 0;
                    for _ in 0..queries {
                        let plate = make(&target_plate(draw, rand::rng().random_range(0..TARGETS)));
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
                    anyhow::Ok((times, results))
                })
            })
            .collect();
        let (mut times, mut results) = (Vec::new(), 0);
        for client in clients {
            let (t, r) = client.await??;
            times.extend(t);
            results += r;
        }
        let per_second = times.len() as f64 / started.elapsed().as_secs_f64();
        report(label, times, results, None);
        println!("{:<34} {per_second:.1} searches/s in all", "");
    }
    // The store's part alone, and how many reads it decrypted: where the time goes.
    println!("store only (candidate rows, decryption, pattern check):");
    for (label, range_days, make) in kinds {
        let mut times = Vec::new();
        let (mut results, mut decrypted) = (0, 0);
        for _ in 0..args.queries {
            let pattern = make(&target_plate(draw, rng.random_range(0..TARGETS)));
            let query = ReadSearch {
                pattern: Pattern::parse(&pattern)?,
                lookalikes: None,
                from: now - range_days * day,
                to: now,
                cameras: None,
                vehicle_color: None,
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

/// Prints the median, 95th and 99th percentiles and maximum of `times`, with results and
/// reads decrypted per query.
fn report(label: &str, mut times: Vec<Duration>, results: usize, decrypted: Option<usize>) {
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let per_query = |n: usize| n as f64 / times.len() as f64;
    println!(
        "{label:<34} p50 {:7.1} ms  p95 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms  {:6.1} results  {}",
        pct(0.5),
        pct(0.95),
        pct(0.99),
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
    // Keep every read for a year, so the whole period is live and searchable: this
    // benchmark's own data, stamped past what its published policy says (a data directory
    // to time searches in, never one to serve from).
    let year = 365 * 86_400;
    let retention = candor_store::retention::RetentionPolicy {
        non_hit_secs: year,
        hit_secs: year,
        ..candor_server::retention::in_force(state).await?
    };
    let span = args.days * 86_400_000;
    let start = now - span;
    let batches = args.reads.div_ceil(args.batch_size as u64);
    let target_every = (args.reads / (TARGETS as u64 * REPEATS)).max(1);
    let vehicles = (args.reads / 20).max(1_000);
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
                    target_plate(args.plates, rng.random_range(0..TARGETS))
                } else {
                    other_plate(args.plates, vehicles, &mut rng)
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
        let (store, keys, retention) = (state.store.clone(), state.keys.clone(), retention.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn issued_plates_fit_their_formats() {
        for v in 0..3_000u64 {
            let plate = IssuedPlates::plate(v);
            let (format, _, _) = IssuedPlates::FORMATS[(v % 3) as usize];
            assert_eq!(plate.len(), format.len(), "{plate} for {format}");
            for (c, kind) in plate.bytes().zip(format.bytes()) {
                match kind {
                    b'L' => assert!(LETTERS.contains(&c), "{plate} for {format}"),
                    _ => assert!(c.is_ascii_digit(), "{plate} for {format}"),
                }
            }
            assert_eq!(
                plate,
                IssuedPlates::plate(v),
                "the same vehicle, the same plate"
            );
        }
    }

    #[test]
    fn issued_plates_share_prefixes_as_random_ones_do_not() {
        let prefixes = |plates: Vec<String>| -> usize {
            plates
                .iter()
                .map(|p| p[..2].to_string())
                .collect::<HashSet<_>>()
                .len()
        };
        // One format's plates in circulation: a few two-character prefixes for a thousand.
        let issued = prefixes((0..3_000).step_by(3).map(IssuedPlates::plate).collect());
        let mut rng = rand::rng();
        let random = prefixes((0..1_000).map(|_| random_plate(&mut rng)).collect());
        assert!(issued <= 8, "{issued} prefixes");
        assert!(random > 300, "{random} prefixes");
    }
}
