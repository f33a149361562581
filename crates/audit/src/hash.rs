//! The record hash: SHA-256 over a canonical binary encoding.
//!
//! Every field is written in a fixed order; strings and byte runs carry an 8-byte
//! big-endian length prefix and enums a one-byte tag, so no two different records encode
//! to the same bytes. `details` JSON is encoded structurally (object keys sorted, numbers
//! as their shortest text), so it hashes the same however the store serialised it.

use crate::entry::{Actor, AuditEntry, Outcome};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A SHA-256 value in the chain: a record's hash or a link to one. Shown and serialised
/// as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The link of the first record of a chain that was never pruned: 32 zero bytes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// Text that is not a 64-digit hex hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 hash (64 hex digits)")]
pub struct HashParseError(pub String);

impl FromStr for ChainHash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| HashParseError(s.to_string()))?;
        Ok(ChainHash(bytes))
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Domain separation: a record hash can never collide with another use of SHA-256 here.
const DOMAIN: &[u8] = b"candor-audit-record-v1\0";

/// Writes the canonical encoding into a buffer, hashed in one go at the end.
struct Encoder(Vec<u8>);

impl Encoder {
    fn tag(&mut self, tag: u8) {
        self.0.push(tag);
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }
    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }
    fn json(&mut self, value: &serde_json::Value) {
        use serde_json::Value;
        use std::io::Write;
        match value {
            Value::Null => self.tag(0),
            Value::Bool(b) => self.tag(if *b { 2 } else { 1 }),
            Value::Number(n) => {
                self.tag(3);
                // length prefix patched in after writing the digits, avoiding a String
                let at = self.0.len();
                self.u64(0);
                write!(self.0, "{n}").expect("writing to a Vec cannot fail");
                let len = (self.0.len() - at - 8) as u64;
                self.0[at..at + 8].copy_from_slice(&len.to_be_bytes());
            }
            Value::String(s) => {
                self.tag(4);
                self.bytes(s.as_bytes());
            }
            Value::Array(items) => {
                self.tag(5);
                self.u64(items.len() as u64);
                items.iter().for_each(|item| self.json(item));
            }
            Value::Object(map) => {
                self.tag(6);
                self.u64(map.len() as u64);
                // serde_json keeps keys sorted unless its `preserve_order` feature is on
                // somewhere in the build; sort only then.
                let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b);
                if sorted {
                    for (key, item) in map {
                        self.bytes(key.as_bytes());
                        self.json(item);
                    }
                } else {
                    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                    entries.sort_unstable_by_key(|(key, _)| *key);
                    for (key, item) in entries {
                        self.bytes(key.as_bytes());
                        self.json(item);
                    }
                }
            }
        }
    }
}

/// The hash of record `seq` linking to `prev_hash` and holding `entry`.
pub fn record_hash(seq: u64, prev_hash: &ChainHash, entry: &AuditEntry) -> ChainHash {
    record_hash_in(&mut Vec::with_capacity(512), seq, prev_hash, entry)
}

/// [`record_hash`] encoding into `buffer` (cleared first), so a loop reuses one allocation.
pub(crate) fn record_hash_in(
    buffer: &mut Vec<u8>,
    seq: u64,
    prev_hash: &ChainHash,
    entry: &AuditEntry,
) -> ChainHash {
    buffer.clear();
    let mut e = Encoder(std::mem::take(buffer));
    e.0.extend_from_slice(DOMAIN);
    e.u64(seq);
    e.0.extend_from_slice(&prev_hash.0);
    e.u64(entry.time.timestamp_millis() as u64);
    match &entry.actor {
        Actor::System { component } => {
            e.tag(1);
            e.bytes(component.as_bytes());
        }
        Actor::User { id, name } => {
            e.tag(2);
            e.bytes(id.as_bytes());
            e.bytes(name.as_bytes());
        }
        Actor::Partner { agency, user } => {
            e.tag(3);
            e.bytes(agency.as_bytes());
            e.bytes(user.as_bytes());
        }
        Actor::Anonymous { claimed } => {
            e.tag(4);
            e.bytes(claimed.as_bytes());
        }
    }
    e.bytes(entry.action.as_bytes());
    e.bytes(entry.target.as_bytes());
    e.tag(match entry.outcome {
        Outcome::Success => 1,
        Outcome::Denied => 2,
        Outcome::Failure => 3,
    });
    e.bytes(entry.source.as_bytes());
    e.json(&entry.details);
    let hash = ChainHash(Sha256::digest(&e.0).into());
    *buffer = e.0;
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn entry() -> AuditEntry {
        AuditEntry::new(
            Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            Actor::User {
                id: "7".into(),
                name: "kim".into(),
            },
            "search.reads",
            "reads",
            Outcome::Success,
        )
        .with_source("10.0.0.5")
        .with_details(json!({"case": "24-001", "results": 3}))
    }

    #[test]
    fn hash_text_round_trip() {
        let h = record_hash(0, &ChainHash::GENESIS, &entry());
        assert_eq!(h.to_string().len(), 64);
        assert_eq!(h.to_string().parse::<ChainHash>().unwrap(), h);
        assert!("abc".parse::<ChainHash>().is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ChainHash>(&json).unwrap(), h);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = entry();
        let h = record_hash(5, &ChainHash::GENESIS, &base);
        assert_ne!(h, record_hash(6, &ChainHash::GENESIS, &base));
        assert_ne!(h, record_hash(5, &ChainHash([1; 32]), &base));
        let variants: Vec<AuditEntry> = vec![
            AuditEntry {
                time: base.time + chrono::Duration::milliseconds(1),
                ..base.clone()
            },
            AuditEntry {
                actor: Actor::User {
                    id: "7".into(),
                    name: "kin".into(),
                },
                ..base.clone()
            },
            AuditEntry {
                action: "search.hits".into(),
                ..base.clone()
            },
            AuditEntry {
                target: "hits".into(),
                ..base.clone()
            },
            AuditEntry {
                outcome: Outcome::Denied,
                ..base.clone()
            },
            AuditEntry {
                source: "10.0.0.6".into(),
                ..base.clone()
            },
            AuditEntry {
                details: json!({"case": "24-001", "results": 4}),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(h, record_hash(5, &ChainHash::GENESIS, &v), "{v:?}");
        }
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let a = Actor::User {
            id: "ab".into(),
            name: "c".into(),
        };
        let b = Actor::User {
            id: "a".into(),
            name: "bc".into(),
        };
        let (mut x, mut y) = (entry(), entry());
        x.actor = a;
        y.actor = b;
        assert_ne!(
            record_hash(0, &ChainHash::GENESIS, &x),
            record_hash(0, &ChainHash::GENESIS, &y)
        );
    }

    #[test]
    fn details_hash_ignores_key_order_and_formatting() {
        let one: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[true,null]}"#).unwrap();
        let two: serde_json::Value =
            serde_json::from_str(r#"{ "b" : [true, null], "a" : 1 }"#).unwrap();
        let (mut x, mut y) = (entry(), entry());
        x.details = one;
        y.details = two;
        assert_eq!(
            record_hash(0, &ChainHash::GENESIS, &x),
            record_hash(0, &ChainHash::GENESIS, &y)
        );
        y.details = json!({"a": "1", "b": [true, null]});
        assert_ne!(
            record_hash(0, &ChainHash::GENESIS, &x),
            record_hash(0, &ChainHash::GENESIS, &y)
        );
    }
}
