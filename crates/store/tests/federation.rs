//! Federation records: agreements, signatures, revocations, nonces, received hits, the
//! outbox and shared-query counts, on SQLite and (when configured) PostgreSQL.

use candor_store::Store;
use candor_store::agreements::{
    FederationRequest, NewAgreement, NewOutboxMessage, NewReceivedHit, Revocation, StoredSignature,
};
use candor_store::keys::KeyRing;
use candor_store::testing::TestDb;

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Store, KeyRing) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDb::all().await.expect("test database") {
        let store = db.open().await.expect("open store");
        let key_dir = db.path().join("keys");
        KeyRing::create(&key_dir).unwrap();
        let keys = KeyRing::open(&key_dir, 86_400_000).unwrap();
        test(store.clone(), keys).await;
        store.close().await;
        db.finish().await.expect("drop test schema");
    }
}

fn agreement(id: &str, partner: &str) -> NewAgreement {
    NewAgreement {
        id: id.into(),
        terms: "{}".into(),
        partner_agency: partner.into(),
        partner_url: "https://partner.example".into(),
        partner_key: "ab".repeat(32),
        scope_summary: "plate queries (full plates, at most 7days)".into(),
        effective_at: 1_000,
        expires_at: 2_000_000_000_000,
    }
}

fn message(body: &[u8], now: i64) -> NewOutboxMessage<'_> {
    NewOutboxMessage {
        agreement_id: "a1",
        kind: "hit",
        url: "https://p/federation/v1/hits",
        body,
        created_at: now,
        expires_at: now + 86_400_000,
    }
}

fn request(partner: &str, direction: &str, outcome: &str, at: i64) -> FederationRequest {
    FederationRequest {
        agreement_id: "a1".into(),
        direction: direction.into(),
        partner_agency: partner.into(),
        user_name: "det. smith".into(),
        user_role: "investigator".into(),
        purpose_category: "stolen-vehicle".into(),
        case_number: "26-1".into(),
        outcome: outcome.into(),
        reason: String::new(),
        result_count: 1,
        at,
    }
}

#[tokio::test]
async fn agreements_signatures_and_revocations() {
    each_backend(|store, _keys| async move {
        store
            .insert_agreement(&agreement("a1", "Southville SO"), 10)
            .await
            .unwrap();
        let dup = store.insert_agreement(&agreement("a1", "Other"), 11).await;
        assert!(
            matches!(dup, Err(candor_store::StoreError::Conflict(_))),
            "{dup:?}"
        );
        let sig = |key: &str, at| StoredSignature {
            public_key: key.into(),
            signer: "PM".into(),
            signed_at: at,
            signature: "00".into(),
        };
        store
            .put_agreement_signature("a1", &sig("k1", 20))
            .await
            .unwrap();
        store
            .put_agreement_signature("a1", &sig("k1", 21))
            .await
            .unwrap();
        store
            .put_agreement_signature("a1", &sig("k2", 22))
            .await
            .unwrap();
        let a = store.agreement("a1").await.unwrap().unwrap();
        assert_eq!(
            a.signatures.len(),
            2,
            "re-signing replaces the earlier signature"
        );
        assert_eq!(a.signatures[0].signed_at, 21);
        assert!(a.revocation.is_none());
        let summaries = store.agreement_summaries().await.unwrap();
        assert!(summaries[0].signed_by_both && summaries[0].revoked_at.is_none());

        let revocation = Revocation {
            revoked_at: 30,
            side: "local".into(),
            revoked_by: "pm".into(),
            reason: "ended".into(),
        };
        assert!(
            store
                .revoke_agreement("a1", &revocation)
                .await
                .unwrap()
                .first
        );
        let again = Revocation {
            revoked_at: 40,
            ..revocation.clone()
        };
        assert!(
            !store.revoke_agreement("a1", &again).await.unwrap().first,
            "first revocation stands"
        );
        let a = store.agreement("a1").await.unwrap().unwrap();
        assert_eq!(a.revocation, Some(revocation));
        assert_eq!(
            store.agreement_summaries().await.unwrap()[0].revoked_at,
            Some(30)
        );
        assert!(store.agreement("nope").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn nonces_are_single_use_within_the_window() {
    each_backend(|store, _keys| async move {
        assert!(
            store
                .remember_nonce("a1", "n1", 1_000, 600_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .remember_nonce("a1", "n1", 2_000, 600_000)
                .await
                .unwrap()
        );
        // the same nonce under another agreement is a different request
        assert!(
            store
                .remember_nonce("a2", "n1", 2_000, 600_000)
                .await
                .unwrap()
        );
        // long after, the old nonce is forgotten (its timestamp refuses it anyway)
        assert!(
            store
                .remember_nonce("a1", "n1", 1_000_000, 600_000)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn received_hits_are_sealed_and_expire() {
    each_backend(|store, keys| async move {
        store
            .insert_agreement(&agreement("a1", "Southville SO"), 10)
            .await
            .unwrap();
        let now = candor_store::now_ms();
        let id = store
            .store_received_hit(
                &keys,
                &NewReceivedHit {
                    agreement_id: "a1",
                    partner_agency: "Southville SO",
                    hit_type: "stolen-vehicle",
                    payload: b"{\"plate\":\"ABC123\"}",
                    received_at: now,
                    expires_at: now + 60_000,
                },
            )
            .await
            .unwrap();
        let raw: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM received_hits WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(
            !raw.windows(6).any(|w| w == b"ABC123"),
            "plate stored in clear"
        );
        let hits = store.received_hits(&keys, now, 10).await.unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].payload, b"{\"plate\":\"ABC123\"}");
        assert_eq!(hits[0].agreement_id, "a1");
        assert!(
            store
                .received_hits(&keys, now + 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.purge_received_hits(now + 60_000).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn outbox_retries_then_delivers_or_gives_up() {
    each_backend(|store, keys| async move {
        store
            .insert_agreement(&agreement("a1", "Southville SO"), 10)
            .await
            .unwrap();
        let now = candor_store::now_ms();
        let first = store
            .enqueue_outbox(&keys, &message(b"one", now))
            .await
            .unwrap();
        let second = store
            .enqueue_outbox(&keys, &message(b"two", now))
            .await
            .unwrap();
        let due = store.due_outbox(&keys, now, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![first, second]
        );
        assert_eq!(due[0].body, b"one");
        store
            .outbox_failed(first, now, "connection refused", Some(now + 1_000))
            .await
            .unwrap();
        store.outbox_delivered(second, now).await.unwrap();
        assert!(store.due_outbox(&keys, now, 10).await.unwrap().is_empty());
        let due = store.due_outbox(&keys, now + 1_000, 10).await.unwrap();
        assert_eq!((due.len(), due[0].attempts), (1, 1));
        assert_eq!(due[0].last_error.as_deref(), Some("connection refused"));
        store
            .outbox_failed(first, now + 1_000, "HTTP 500", None)
            .await
            .unwrap();
        assert!(
            store
                .due_outbox(&keys, now + 100_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let all = store.outbox_for(&keys, "a1").await.unwrap();
        assert!(all[0].gave_up_at.is_some() && all[0].body.is_empty());
        assert!(all[1].delivered_at.is_some() && all[1].body.is_empty());
    })
    .await;
}

#[tokio::test]
async fn shared_queries_are_counted_per_partner() {
    each_backend(|store, _keys| async move {
        for r in [
            request("Southville SO", "incoming", "answered", 100),
            request("Southville SO", "incoming", "answered", 101),
            request("Southville SO", "incoming", "denied", 102),
            request("Southville SO", "outgoing", "answered", 103),
            request("Eastham PD", "outgoing", "failed", 104),
            request("Eastham PD", "incoming", "answered", 5_000),
        ] {
            store.record_federation_request(&r).await.unwrap();
        }
        let counts = store.shared_query_counts(0, 1_000).await.unwrap();
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[0].partner_agency, "Eastham PD");
        assert_eq!((counts[0].incoming_answered, counts[0].outgoing), (0, 1));
        assert_eq!(
            (
                counts[1].incoming_answered,
                counts[1].incoming_denied,
                counts[1].outgoing
            ),
            (2, 1, 1)
        );
        let incoming = store.federation_requests("incoming", 10).await.unwrap();
        assert_eq!(incoming.len(), 4);
        assert_eq!(incoming[0].at, 5_000);
    })
    .await;
}

#[tokio::test]
async fn a_partner_hot_list_is_replaced_with_its_origin_recorded() {
    use candor_store::agreements::PartnerHotList;
    use candor_store::hotlists::{HotListEntry, HotListSpec, ListSource};
    each_backend(|store, _keys| async move {
        store
            .insert_agreement(&agreement("a1", "Northtown PD"), 1_000)
            .await
            .unwrap();
        let spec = HotListSpec {
            name: "stolen (from Northtown PD)".into(),
            source: ListSource::Partner,
            hit_type: "V".into(),
            priority: 2,
            hit_retention_secs: None,
        };
        let entry = |plate: &str| HotListEntry {
            plate: plate.into(),
            hit_type: "V".into(),
            ..Default::default()
        };
        let origin = |version: i64| PartnerHotList {
            list_name: spec.name.clone(),
            agreement_id: "a1".into(),
            partner_agency: "Northtown PD".into(),
            remote_name: "stolen".into(),
            remote_version: version,
            entry_count: 0,
            imported_at: 5_000 + version,
            imported_by: "pm".into(),
        };
        let first = store
            .import_partner_hot_list(&spec, &[entry("AAA111")], &origin(1))
            .await
            .unwrap();
        assert_eq!(first.source, ListSource::Partner);
        let again = store
            .import_partner_hot_list(&spec, &[entry("AAA111"), entry("BBB222")], &origin(2))
            .await
            .unwrap();
        assert_eq!((again.id, again.entry_count), (first.id, 2));
        let held = store.partner_hot_lists().await.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].remote_version, held[0].entry_count), (2, 2));
        // Another source under a partner's name is refused.
        let wrong = HotListSpec {
            source: ListSource::State,
            ..spec.clone()
        };
        assert!(
            store
                .import_partner_hot_list(&wrong, &[], &origin(3))
                .await
                .is_err()
        );
        let (list, entries) = store
            .hot_list_by_name("stolen (from Northtown PD)", 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((list.id, entries.len()), (first.id, 2));
        assert!(store.hot_list_by_name("nope", 10).await.unwrap().is_none());

        // Revoking the agreement withdraws what was received under it: nothing shared
        // under a revoked agreement is matched any more.
        let revocation = Revocation {
            revoked_at: 9_000,
            side: "partner".into(),
            revoked_by: "their pm".into(),
            reason: "ended".into(),
        };
        let outcome = store.revoke_agreement("a1", &revocation).await.unwrap();
        assert!(outcome.first);
        assert_eq!(outcome.withdrawn_lists, vec![spec.name.clone()]);
        assert!(store.partner_hot_lists().await.unwrap().is_empty());
        assert!(
            store
                .hot_list_by_name("stolen (from Northtown PD)", 10)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.matchable_entries(9_001).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn witnessed_checkpoints_keep_the_newest_of_each_day_per_agreement() {
    use candor_store::witness::WitnessedCheckpoint;
    const DAY: i64 = 86_400_000;
    each_backend(|store, _keys| async move {
        store
            .insert_agreement(&agreement("a1", "Southville SO"), 10)
            .await
            .unwrap();
        store
            .insert_agreement(&agreement("a2", "Eastham PD"), 10)
            .await
            .unwrap();
        assert_eq!(store.latest_witnessed_checkpoint("a1").await.unwrap(), None);
        let seen = |agreement: &str, length: u64, at: i64| WitnessedCheckpoint {
            agreement_id: agreement.into(),
            partner_agency: "Southville SO".into(),
            public_key: "cd".repeat(32),
            length,
            head_hash: format!("{length:064x}"),
            signed_at: at - 5,
            statement: format!("candor audit checkpoint v1\nlength: {length}\n"),
            witnessed_at: at,
        };
        let day1 = 20_000 * DAY;
        for (length, at) in [(5, day1 + 1_000), (9, day1 + 2_000), (12, day1 + DAY + 10)] {
            store
                .put_witnessed_checkpoint(&seen("a1", length, at))
                .await
                .unwrap();
        }
        store
            .put_witnessed_checkpoint(&seen("a2", 3, day1 + 500))
            .await
            .unwrap();
        // The same day's newer one replaced the older; the next day's stands beside it.
        let latest = store.latest_witnessed_checkpoint("a1").await.unwrap();
        assert_eq!(latest, Some(seen("a1", 12, day1 + DAY + 10)));
        let a1 = store.witnessed_checkpoints(Some("a1"), 100).await.unwrap();
        let lengths: Vec<u64> = a1.iter().map(|w| w.length).collect();
        assert_eq!(lengths, [12, 9]);
        let all = store.witnessed_checkpoints(None, 100).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(store.witnessed_checkpoints(None, 1).await.unwrap().len(), 1);
    })
    .await;
}
