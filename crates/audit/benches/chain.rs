//! Audit chain throughput: appending records and verifying them.
//!
//! `cargo bench -p candor-audit --bench chain`; criterion prints records per second
//! (`thrpt`). Targets: append >= 20,000 records/s, verify >= 500,000 records/s.
//! `verify` runs over borrowed records; `verify_owned` also drops each record.

use candor_audit::{Actor, AuditEntry, AuditRecord, Chain, Outcome, SigningKey, verify};
use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const RECORDS: u64 = 100_000;

/// A typical search entry: user actor, client address and a purpose in the details.
fn entry(i: u64) -> AuditEntry {
    AuditEntry::new(
        Utc.timestamp_millis_opt(1_764_000_000_000 + i as i64)
            .unwrap(),
        Actor::User {
            id: format!("{}", i % 50),
            name: format!("investigator{}", i % 50),
        },
        "search.reads",
        "reads",
        Outcome::Success,
    )
    .with_source("10.20.30.40")
    .with_details(serde_json::json!({
        "purpose": "stolen-vehicle",
        "case": format!("24-{i:06}"),
        "query": {"plate": "ABC?23*", "from": "2026-11-01", "to": "2026-11-28"},
        "results": i % 40,
        "policy_version": 3
    }))
}

fn bench(c: &mut Criterion) {
    let entries: Vec<AuditEntry> = (0..RECORDS).map(entry).collect();
    let mut chain = Chain::new();
    let records: Vec<AuditRecord> = entries.iter().map(|e| chain.next(e.clone())).collect();
    let key = SigningKey::from_bytes(&[7; 32]);
    let checkpoints = [chain.checkpoint(Utc::now(), &key)];
    let public = key.verifying_key();

    let mut group = c.benchmark_group("audit_chain");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(RECORDS));
    group.bench_function("append", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| {
                let mut chain = Chain::new();
                for e in entries {
                    black_box(chain.next(e));
                }
                chain.head()
            },
            BatchSize::LargeInput,
        )
    });
    // The verifier's own cost, over records already in memory.
    group.bench_function("verify", |b| {
        b.iter(|| verify(&records, &checkpoints, None, &public).expect("intact chain"))
    });
    // Also taking ownership and dropping each record, as a caller streaming from a store
    // does (decoding is the store's cost and not counted).
    group.bench_function("verify_owned", |b| {
        b.iter_batched(
            || records.clone(),
            |records| verify(records, &checkpoints, None, &public).expect("intact chain"),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
