//! The live hot-list matcher: the core-libs index over every active entry, rebuilt from the
//! store whenever a list changes and swapped in atomically, so ingest never waits for a
//! rebuild.

use std::sync::Arc;

use arc_swap::ArcSwap;
use candor_platetext::matcher::{HotListIndex, MatchKind, MatchOptions};
use candor_store::hits::{HitDetails, NewHit};
use candor_store::hotlists::{EntryFacts, MatchableEntry};
use candor_store::{Store, StoreError};

use crate::config::MatchingConfig;

struct Snapshot {
    index: HotListIndex,
    /// Index entry id `i` is `entries[i]`.
    entries: Vec<MatchableEntry>,
}

/// One hit found for a read, before storage.
#[derive(Debug, Clone)]
pub struct Found {
    pub entry: MatchableEntry,
    pub kind: MatchKind,
}

pub struct Matcher {
    current: ArcSwap<Snapshot>,
    opts: MatchOptions,
    excluded: Vec<String>,
    rebuild_lock: tokio::sync::Mutex<()>,
}

/// How a match is named in hits and alerts.
pub fn kind_name(kind: MatchKind) -> String {
    match kind {
        MatchKind::Exact => "exact".into(),
        MatchKind::LookAlike { substitutions } => format!("lookalike:{substitutions}"),
        MatchKind::MissingOrExtra => "missing_or_extra".into(),
    }
}

impl Matcher {
    /// An empty matcher; call [`Matcher::rebuild`] to load the lists.
    pub fn new(config: &MatchingConfig) -> Matcher {
        let opts = MatchOptions {
            lookalike_budget: config.lookalike_budget,
            allow_missing_or_extra: config.allow_indel,
        };
        Matcher {
            current: ArcSwap::from_pointee(Snapshot {
                index: HotListIndex::build(Vec::new(), opts),
                entries: Vec::new(),
            }),
            opts,
            excluded: config.excluded_hit_types.clone(),
            rebuild_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Reloads every active entry (minus excluded categories) and swaps in a new index.
    pub async fn rebuild(&self, store: &Store) -> Result<(), StoreError> {
        // One rebuild at a time; the last one to finish reflects the latest lists.
        let _guard = self.rebuild_lock.lock().await;
        let mut entries = store.matchable_entries(candor_store::now_ms()).await?;
        entries.retain(|e| !self.excluded.contains(&e.hit_type));
        let opts = self.opts;
        let snapshot = tokio::task::spawn_blocking(move || {
            let index = HotListIndex::build(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (i as i64, e.plate.clone())),
                opts,
            );
            Snapshot { index, entries }
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("matcher rebuild failed: {e}")))?;
        self.current.store(Arc::new(snapshot));
        Ok(())
    }

    /// Number of entries being matched.
    pub fn len(&self) -> usize {
        self.current.load().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every active entry `plate` (normalised) matches at `now`, best match first.
    pub fn find(&self, plate: &str, now: i64) -> Vec<Found> {
        let snap = self.current.load();
        let mut found: Vec<Found> = snap
            .index
            .find(plate)
            .into_iter()
            .filter_map(|m| {
                let e = snap.entries.get(usize::try_from(m.entry_id).ok()?)?;
                // Entries expire (and start) on their own, between rebuilds too.
                if e.expires_at.is_some_and(|t| t <= now) || e.effective_at.is_some_and(|t| t > now)
                {
                    return None;
                }
                Some(Found {
                    entry: e.clone(),
                    kind: m.kind,
                })
            })
            .collect();
        found.sort_by_key(|f| (f.kind, f.entry.priority));
        found
    }
}

impl Found {
    /// The hit to store, with what the entry says (reason, reference, vehicle) looked up.
    pub fn into_hit(self, facts: EntryFacts) -> NewHit {
        NewHit {
            list_id: self.entry.list_id,
            entry_id: self.entry.entry_id,
            user_plate_id: self.entry.user_plate_id,
            hit_type: self.entry.hit_type.clone(),
            priority: self.entry.priority,
            match_kind: kind_name(self.kind),
            retention_secs: self.entry.retention_secs,
            details: HitDetails {
                listed_plate: self.entry.plate,
                list_name: self.entry.list_name,
                state: self.entry.state,
                reason: facts.reason,
                reference: facts.reference,
                vehicle: facts.vehicle,
            },
        }
    }
}
