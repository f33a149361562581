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
    /// Writes a placeholder for a count or length known only later; see [`Encoder::patch`].
    fn placeholder(&mut self) -> usize {
        let at = self.0.len();
        self.u64(0);
        at
    }
    fn patch(&mut self, at: usize, value: u64) {
        self.0[at..at + 8].copy_from_slice(&value.to_be_bytes());
    }
    fn number(&mut self, n: &serde_json::Number) {
        use std::io::Write;
        self.tag(3);
        // length prefix patched in after writing the digits, avoiding a String
        let at = self.placeholder();
        write!(self.0, "{n}").expect("writing to a Vec cannot fail");
        let len = (self.0.len() - at - 8) as u64;
        self.patch(at, len);
    }
    fn json(&mut self, value: &serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::Null => self.tag(0),
            Value::Bool(b) => self.tag(if *b { 2 } else { 1 }),
            Value::Number(n) => self.number(n),
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

    /// Encodes JSON text as [`Encoder::json`] encodes the value it parses to, without
    /// building that value. `None` (the buffer then holds garbage) when the text is not
    /// JSON or an object's keys are not strictly ascending (as serde_json writes them):
    /// the caller parses the text instead.
    fn json_text(&mut self, text: &str) -> Option<()> {
        use serde::de::DeserializeSeed;
        let mut parser = serde_json::Deserializer::from_str(text);
        Transcode(self).deserialize(&mut parser).ok()?;
        parser.end().ok()
    }
}

/// Parses JSON into the canonical encoding as it goes: the same bytes as [`Encoder::json`]
/// of the parsed `serde_json::Value`, since the parser hands it the same calls (numbers
/// become the same `serde_json::Number`).
struct Transcode<'e>(&'e mut Encoder);

impl<'de> serde::de::DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.tag(0);
        Ok(())
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.0.tag(if b { 2 } else { 1 });
        Ok(())
    }
    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.0.number(&n.into());
        Ok(())
    }
    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        self.0.number(&n.into());
        Ok(())
    }
    fn visit_f64<E>(self, n: f64) -> Result<(), E> {
        // what `serde_json::Value` does with a float
        match serde_json::Number::from_f64(n) {
            Some(n) => self.0.number(&n),
            None => self.0.tag(0),
        }
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.0.tag(4);
        self.0.bytes(s.as_bytes());
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.tag(5);
        let at = self.0.placeholder();
        let mut count = 0;
        while seq.next_element_seed(Transcode(&mut *self.0))?.is_some() {
            count += 1;
        }
        self.0.patch(at, count);
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.tag(6);
        let at = self.0.placeholder();
        let mut count = 0;
        // Where the previous key's bytes lie in the buffer.
        let mut previous: Option<std::ops::Range<usize>> = None;
        while let Some(key) = map.next_key_seed(Key(&mut *self.0))? {
            let buffer = &self.0.0;
            if previous.is_some_and(|p| buffer[p] >= buffer[key.clone()]) {
                return Err(serde::de::Error::custom("keys not strictly ascending"));
            }
            map.next_value_seed(Transcode(&mut *self.0))?;
            previous = Some(key);
            count += 1;
        }
        self.0.patch(at, count);
        Ok(())
    }
}

/// An object key: written length-prefixed; gives where its bytes lie in the buffer.
struct Key<'e>(&'e mut Encoder);

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
    type Value = std::ops::Range<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_> {
    type Value = std::ops::Range<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        // serde_json's `arbitrary_precision` feature passes numbers as maps with this key
        if key.starts_with("$serde_json::private::") {
            return Err(E::custom("serde_json private key"));
        }
        self.0.bytes(key.as_bytes());
        Ok(self.0.0.len() - key.len()..self.0.0.len())
    }
}

/// The hashed fields other than `details`, borrowed from wherever they are kept.
pub(crate) struct Fields<'a> {
    pub time_ms: i64,
    /// The actor's kind tag and its one or two strings.
    pub actor: (u8, &'a str, Option<&'a str>),
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: Outcome,
    pub source: &'a str,
}

impl<'a> Fields<'a> {
    fn of(entry: &'a AuditEntry) -> Self {
        let actor = match &entry.actor {
            Actor::System { component } => (1, component.as_str(), None),
            Actor::User { id, name } => (2, id.as_str(), Some(name.as_str())),
            Actor::Partner { agency, user } => (3, agency.as_str(), Some(user.as_str())),
            Actor::Anonymous { claimed } => (4, claimed.as_str(), None),
        };
        Fields {
            time_ms: entry.time.timestamp_millis(),
            actor,
            action: &entry.action,
            target: &entry.target,
            outcome: entry.outcome,
            source: &entry.source,
        }
    }
}

/// Encodes a record into `buffer` (cleared first, so a loop reuses one allocation) with
/// `details` written by `details`, and hashes it; `None` when `details` gives up.
fn hash_with(
    buffer: &mut Vec<u8>,
    seq: u64,
    prev_hash: &ChainHash,
    fields: &Fields,
    details: impl FnOnce(&mut Encoder) -> Option<()>,
) -> Option<ChainHash> {
    buffer.clear();
    let mut e = Encoder(std::mem::take(buffer));
    e.0.extend_from_slice(DOMAIN);
    e.u64(seq);
    e.0.extend_from_slice(&prev_hash.0);
    e.u64(fields.time_ms as u64);
    let (tag, first, second) = fields.actor;
    e.tag(tag);
    e.bytes(first.as_bytes());
    if let Some(second) = second {
        e.bytes(second.as_bytes());
    }
    e.bytes(fields.action.as_bytes());
    e.bytes(fields.target.as_bytes());
    e.tag(match fields.outcome {
        Outcome::Success => 1,
        Outcome::Denied => 2,
        Outcome::Failure => 3,
    });
    e.bytes(fields.source.as_bytes());
    let written = details(&mut e);
    let hash = written.map(|()| ChainHash(Sha256::digest(&e.0).into()));
    *buffer = e.0;
    hash
}

/// The hash of record `seq` linking to `prev_hash` and holding `entry`.
pub fn record_hash(seq: u64, prev_hash: &ChainHash, entry: &AuditEntry) -> ChainHash {
    record_hash_in(&mut Vec::with_capacity(512), seq, prev_hash, entry)
}

/// [`record_hash`] encoding into `buffer`, so a loop reuses one allocation.
pub(crate) fn record_hash_in(
    buffer: &mut Vec<u8>,
    seq: u64,
    prev_hash: &ChainHash,
    entry: &AuditEntry,
) -> ChainHash {
    let details = |e: &mut Encoder| {
        e.json(&entry.details);
        Some(())
    };
    hash_with(buffer, seq, prev_hash, &Fields::of(entry), details)
        .expect("encoding a parsed value cannot give up")
}

/// [`record_hash_in`] with `details` as JSON text, encoded without parsing it into a value;
/// `None` when [`Encoder::json_text`] gives up (then parse, and use [`record_hash_in`]).
pub(crate) fn record_hash_of_text(
    buffer: &mut Vec<u8>,
    seq: u64,
    prev_hash: &ChainHash,
    fields: &Fields,
    details: &str,
) -> Option<ChainHash> {
    hash_with(buffer, seq, prev_hash, fields, |e| e.json_text(details))
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
