//! What is appended (an entry) and what is stored (a record), and the chain that turns
//! one into the other.

use crate::hash::{ChainHash, record_hash};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// Candor itself (purge job, ingest, start-up), naming the component.
    System { component: String },
    /// A signed-in user.
    User { id: String, name: String },
    /// A user of a partner agency, acting under a sharing agreement.
    Partner { agency: String, user: String },
    /// Someone not signed in, with the name they claimed (e.g. a failed logon), or empty.
    Anonymous { claimed: String },
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused by policy or permissions.
    Denied,
    /// Attempted and failed (bad password, error).
    Failure,
}

/// What a caller appends: who did what to what, when, from where, with what outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// UTC, millisecond precision (finer precision is dropped when the entry is chained).
    pub time: DateTime<Utc>,
    pub actor: Actor,
    /// A stable dotted name such as `search.reads`, `login.failure`, `hotlist.import`.
    pub action: String,
    /// What was acted on, e.g. `user:42`, `read:9f1c…`, `policy:v3`.
    pub target: String,
    pub outcome: Outcome,
    /// Where the request came from: client IP, device id or partner endpoint.
    pub source: String,
    /// Anything else worth keeping (purpose, case number, query, result count).
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry with empty source and no details; see [`AuditEntry::with_source`] and
    /// [`AuditEntry::with_details`].
    pub fn new(
        time: DateTime<Utc>,
        actor: Actor,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        AuditEntry {
            time: time.trunc_subsecs(3),
            actor,
            action: action.into(),
            target: target.into(),
            outcome,
            source: String::new(),
            details: serde_json::Value::Null,
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An entry as stored: numbered and linked into the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 0, without gaps.
    pub seq: u64,
    /// Hash of record `seq - 1`; [`ChainHash::GENESIS`] for record 0, or an
    /// [`Anchor`](crate::Anchor)'s hash for the first record kept after pruning.
    pub prev_hash: ChainHash,
    /// [`record_hash`] of this record.
    pub hash: ChainHash,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The writer's view of the chain: the next sequence number and the head hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    head: ChainHash,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// An empty chain: the first record is seq 0 and links to [`ChainHash::GENESIS`].
    pub fn new() -> Self {
        Chain {
            next_seq: 0,
            head: ChainHash::GENESIS,
        }
    }

    /// Continues after the last stored record.
    pub fn after(last: &AuditRecord) -> Self {
        Chain {
            next_seq: last.seq + 1,
            head: last.hash,
        }
    }

    /// Continues from a known length and head hash (e.g. every record was pruned and an
    /// anchor holds the link).
    pub fn resume(length: u64, head: ChainHash) -> Self {
        Chain {
            next_seq: length,
            head,
        }
    }

    /// Number of records ever appended (pruned ones included): the next record's seq.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// Whether nothing was ever appended.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Hash of the last record ([`ChainHash::GENESIS`] when empty).
    pub fn head(&self) -> ChainHash {
        self.head
    }

    /// Numbers and links `entry` (its time cut to milliseconds) and advances the chain.
    pub fn next(&mut self, mut entry: AuditEntry) -> AuditRecord {
        entry.time = entry.time.trunc_subsecs(3);
        let seq = self.next_seq;
        let prev_hash = self.head;
        let hash = record_hash(seq, &prev_hash, &entry);
        self.next_seq += 1;
        self.head = hash;
        AuditRecord {
            seq,
            prev_hash,
            hash,
            entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(ms: i64) -> AuditEntry {
        AuditEntry::new(
            Utc.timestamp_micros(ms * 1000 + 456).unwrap(),
            Actor::System {
                component: "purge".into(),
            },
            "purge.run",
            "reads",
            Outcome::Success,
        )
    }

    #[test]
    fn chain_numbers_and_links() {
        let mut chain = Chain::new();
        assert!(chain.is_empty());
        let a = chain.next(entry(1));
        let b = chain.next(entry(2));
        assert_eq!((a.seq, b.seq), (0, 1));
        assert_eq!(a.prev_hash, ChainHash::GENESIS);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(chain.head(), b.hash);
        assert_eq!(chain.len(), 2);
        assert_eq!(Chain::after(&b), chain);
        assert_eq!(a.hash, record_hash(0, &ChainHash::GENESIS, &a.entry));
    }

    #[test]
    fn time_is_kept_to_the_millisecond() {
        let mut raw = entry(5);
        raw.time = Utc.timestamp_micros(5_000_999).unwrap();
        let record = Chain::new().next(raw);
        assert_eq!(record.entry.time.timestamp_micros(), 5_000_000);
    }

    #[test]
    fn record_json_round_trip() {
        let record = Chain::new().next(entry(9).with_details(serde_json::json!({"n": 1.5})));
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains(r#""action":"purge.run""#), "{text}");
        let back: AuditRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            record_hash(back.seq, &back.prev_hash, &back.entry),
            record.hash
        );
    }
}
