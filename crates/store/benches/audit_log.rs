//! Audit log storage on SQLite: append rate (batched, and one durable commit per record)
//! and verification rate of the stored chain. Targets: append ≥ 20,000 records/s,
//! verify ≥ 500,000 records/s.
//!
//!     cargo bench -p candor-store --bench audit_log

use candor_audit::{Actor, AuditEntry, Outcome, SigningKey};
use candor_store::Store;
use candor_store::testing::TestDb;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn entry(i: u64) -> AuditEntry {
    AuditEntry::new(
        chrono::Utc::now(),
        Actor::User {
            id: "17".into(),
            name: "investigator.one".into(),
        },
        "search.reads",
        format!("case:2026-{i:06}"),
        Outcome::Success,
    )
    .with_source("10.20.30.40")
    .with_details(serde_json::json!({
        "purpose": "burglary",
        "case_number": format!("2026-{i:06}"),
        "query": {"plate": "ABC12*", "from": 1_700_000_000_000i64, "to": 1_700_086_400_000i64},
        "results": 12,
        "policy_version": 3
    }))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = TestDb::sqlite().unwrap();
    let store: Store = rt.block_on(db.open()).unwrap();
    let key = SigningKey::from_bytes(&[3u8; 32]);

    let mut group = c.benchmark_group("audit_log");
    group.sample_size(10);
    const BATCH: u64 = 1000;
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("append_batch_1000", |b| {
        b.iter(|| {
            rt.block_on(store.append_audit_batch((0..BATCH).map(entry).collect()))
                .unwrap()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_one_durable", |b| {
        b.iter(|| rt.block_on(store.append_audit(entry(1))).unwrap())
    });

    // Verification over a chain of (at least) 200,000 records.
    let (len, _) = rt.block_on(store.audit_head()).unwrap();
    let more = 200_000u64.saturating_sub(len);
    for chunk in 0..more.div_ceil(10_000) {
        let n = (more - chunk * 10_000).min(10_000);
        rt.block_on(store.append_audit_batch((0..n).map(entry).collect()))
            .unwrap();
    }
    rt.block_on(store.checkpoint_audit(&key, chrono::Utc::now()))
        .unwrap();
    let (len, _) = rt.block_on(store.audit_head()).unwrap();
    group.throughput(Throughput::Elements(len));
    group.bench_function(format!("verify_{len}"), |b| {
        b.iter(|| {
            let report = rt
                .block_on(store.verify_audit(&key.verifying_key()))
                .unwrap()
                .unwrap();
            assert_eq!(report.length, len);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
