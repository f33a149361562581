//! Records as a store keeps them: text columns, with `actor` and `details` as the JSON
//! serde_json writes. Verification hashes them straight from that text (no
//! `serde_json::Value` is built), falling back to parsing whenever the text is in any
//! other form, so both ways give the same hash.

use crate::entry::{Actor, AuditEntry, Outcome};
use crate::hash::{ChainHash, Fields, record_hash_in, record_hash_of_text};
use crate::verify::ChainLink;
use chrono::DateTime;
use serde::Deserialize;

/// An entry's fields as stored: `time` in Unix milliseconds, `actor` and `details` as
/// JSON, `outcome` as its name (`success`, `denied`, `failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryText<'a> {
    pub time_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub source: &'a str,
    pub details: &'a str,
}

/// An actor's JSON with its strings borrowed (one with escapes fails: then it is parsed
/// as an [`Actor`]). Any key order and unknown keys are accepted, as by [`Actor`]'s own
/// `Deserialize`.
#[derive(Deserialize)]
struct ActorText<'a> {
    kind: &'a str,
    component: Option<&'a str>,
    id: Option<&'a str>,
    name: Option<&'a str>,
    agency: Option<&'a str>,
    user: Option<&'a str>,
    claimed: Option<&'a str>,
}

impl<'a> ActorText<'a> {
    /// The kind tag and strings [`Fields`] hashes, when the kind has its fields.
    fn parts(&self) -> Option<(u8, &'a str, Option<&'a str>)> {
        match self.kind {
            "system" => Some((1, self.component?, None)),
            "user" => Some((2, self.id?, Some(self.name?))),
            "partner" => Some((3, self.agency?, Some(self.user?))),
            "anonymous" => Some((4, self.claimed?, None)),
            _ => None,
        }
    }
}

fn outcome_from_name(name: &str) -> Option<Outcome> {
    match name {
        "success" => Some(Outcome::Success),
        "denied" => Some(Outcome::Denied),
        "failure" => Some(Outcome::Failure),
        _ => None,
    }
}

impl EntryText<'_> {
    /// The entry these fields hold, or what is wrong with them.
    pub fn parse(&self) -> Result<AuditEntry, String> {
        let time = DateTime::from_timestamp_millis(self.time_ms).ok_or("time out of range")?;
        let actor: Actor = serde_json::from_str(self.actor).map_err(|e| format!("actor: {e}"))?;
        let outcome = serde_json::from_value(serde_json::Value::String(self.outcome.into()))
            .map_err(|e| format!("outcome: {e}"))?;
        let details = serde_json::from_str(self.details).map_err(|e| format!("details: {e}"))?;
        Ok(AuditEntry {
            time,
            actor,
            action: self.action.to_owned(),
            target: self.target.to_owned(),
            outcome,
            source: self.source.to_owned(),
            details,
        })
    }

    /// [`record_hash`](crate::record_hash) of the entry these fields hold, at `seq` after
    /// `prev_hash`; `None` when they hold none (unreadable fields cannot match a hash).
    pub fn record_hash(
        &self,
        buffer: &mut Vec<u8>,
        seq: u64,
        prev_hash: &ChainHash,
    ) -> Option<ChainHash> {
        self.hash_from_text(buffer, seq, prev_hash).or_else(|| {
            let entry = self.parse().ok()?;
            Some(record_hash_in(buffer, seq, prev_hash, &entry))
        })
    }

    /// The fast way: `None` when the text is in any form but the one serde_json writes.
    fn hash_from_text(
        &self,
        buffer: &mut Vec<u8>,
        seq: u64,
        prev_hash: &ChainHash,
    ) -> Option<ChainHash> {
        DateTime::from_timestamp_millis(self.time_ms)?;
        let actor: ActorText = serde_json::from_str(self.actor).ok()?;
        let fields = Fields {
            time_ms: self.time_ms,
            actor: actor.parts()?,
            action: self.action,
            target: self.target,
            outcome: outcome_from_name(self.outcome)?,
            source: self.source,
        };
        record_hash_of_text(buffer, seq, prev_hash, &fields, self.details)
    }
}

/// A stored record borrowed from a store's row: its place in the chain and its entry's
/// fields (`None` when the store could not read them as text, so it matches no hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordText<'a> {
    pub seq: u64,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
    pub entry: Option<EntryText<'a>>,
}

impl ChainLink for RecordText<'_> {
    fn link(&self) -> (u64, ChainHash, ChainHash) {
        (self.seq, self.prev_hash, self.hash)
    }
    fn content_hash(&self, seq: u64, buffer: &mut Vec<u8>) -> Option<ChainHash> {
        self.entry?.record_hash(buffer, seq, &self.prev_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Chain;
    use crate::hash::record_hash;
    use crate::signed::Checkpoint;
    use crate::verify::{TamperKind, verify};
    use chrono::{TimeZone, Utc};
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    /// The text a store writes for `entry`, with the JSON held in `texts`.
    fn texts(entry: &AuditEntry) -> (String, String, String) {
        (
            serde_json::to_string(&entry.actor).unwrap(),
            serde_json::to_value(entry.outcome)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
            serde_json::to_string(&entry.details).unwrap(),
        )
    }

    fn text<'a>(entry: &'a AuditEntry, t: &'a (String, String, String)) -> EntryText<'a> {
        EntryText {
            time_ms: entry.time.timestamp_millis(),
            actor: &t.0,
            action: &entry.action,
            target: &entry.target,
            outcome: &t.1,
            source: &entry.source,
            details: &t.2,
        }
    }

    fn entry(actor: Actor, details: serde_json::Value) -> AuditEntry {
        AuditEntry::new(
            Utc.timestamp_millis_opt(1_764_000_000_123).unwrap(),
            actor,
            "search.reads",
            "case:24-001",
            Outcome::Denied,
        )
        .with_source("10.0.0.7")
        .with_details(details)
    }

    fn actors() -> Vec<Actor> {
        vec![
            Actor::System {
                component: "purge".into(),
            },
            Actor::User {
                id: "7".into(),
                name: "kim".into(),
            },
            Actor::Partner {
                agency: "county".into(),
                user: "lee".into(),
            },
            Actor::Anonymous {
                claimed: String::new(),
            },
        ]
    }

    fn details() -> Vec<serde_json::Value> {
        vec![
            json!(null),
            json!({}),
            json!([]),
            json!({"purpose": "burglary", "results": 12, "query": {"plate": "ABC12*", "from": 1_700_000_000_000i64}}),
            json!({"a": [1, -2, 3.5, -0.0, 1e300, 0.1, u64::MAX, i64::MIN, true, false, null]}),
            json!({"é": "ünïcode ✓", "quote\"d": "tab\t, newline\n, nul\u{0}", "": [[], {}]}),
            json!("just a string"),
            json!(42),
            json!({"z": {"y": {"x": [{"b": 1, "a": 2}]}}}),
        ]
    }

    #[test]
    fn text_hashes_as_the_parsed_entry_without_parsing() {
        let mut buffer = Vec::new();
        for actor in actors() {
            for details in details() {
                let e = entry(actor.clone(), details);
                let t = texts(&e);
                let stored = text(&e, &t);
                let expected = record_hash(3, &ChainHash([5; 32]), &e);
                assert_eq!(
                    stored.hash_from_text(&mut buffer, 3, &ChainHash([5; 32])),
                    Some(expected),
                    "fast path, {t:?}"
                );
                assert_eq!(stored.parse().unwrap(), e);
                assert_eq!(
                    stored.record_hash(&mut buffer, 3, &ChainHash([5; 32])),
                    Some(expected)
                );
            }
        }
    }

    /// Text in another form than serde_json writes is parsed: the hash is the parsed
    /// entry's either way.
    #[test]
    fn other_forms_of_the_text_hash_as_parsed() {
        let mut buffer = Vec::new();
        let e = entry(actors()[1].clone(), json!(null));
        let t = texts(&e);
        let user = r#"{"kind":"user","id":"7","name":"kim"}"#;
        // (text, whether the fast path takes it)
        let actors = [
            (user, true),
            (r#"{"name":"kim","id":"7","kind":"user"}"#, true),
            (r#"{"kind":"user","id":"7","name":"k\u0069m"}"#, false),
            (r#"{"kind":"user","id":"7","name":"kim","extra":5}"#, true),
            (
                r#"{"kind":"user","id":"7","name":"kim","component":5}"#,
                false,
            ),
        ];
        let details = [
            (r#" { "a" : 1 , "b" : [ ] } "#, true),
            (r#"{"b":1,"a":2}"#, false),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"x":{"b":1,"a":2}}"#, false),
            (r#"[1.50, 1E3, -0, 10e-1]"#, true),
            (r#"{"$serde_json::private::Number":"1"}"#, false),
        ];
        let cases = actors
            .map(|(actor, fast)| (actor, r#"{"a":1}"#, fast))
            .into_iter()
            .chain(details.map(|(details, fast)| (user, details, fast)));
        for (actor, details, fast) in cases {
            let stored = EntryText {
                actor,
                details,
                ..text(&e, &t)
            };
            let parsed = stored.parse().unwrap_or_else(|p| panic!("{details}: {p}"));
            let expected = record_hash(0, &ChainHash::GENESIS, &parsed);
            assert_eq!(
                stored
                    .hash_from_text(&mut buffer, 0, &ChainHash::GENESIS)
                    .is_some(),
                fast,
                "{actor} {details}"
            );
            assert_eq!(
                stored.record_hash(&mut buffer, 0, &ChainHash::GENESIS),
                Some(expected),
                "{actor} {details}"
            );
        }
    }

    #[test]
    fn unreadable_text_has_no_hash() {
        let mut buffer = Vec::new();
        let e = entry(actors()[0].clone(), json!({"a": 1}));
        let t = texts(&e);
        let good = text(&e, &t);
        let bad = [
            EntryText {
                details: "not json",
                ..good
            },
            EntryText {
                details: r#"{"a":1} trailing"#,
                ..good
            },
            EntryText {
                actor: r#"{"kind":"user","id":"7"}"#,
                ..good
            },
            EntryText {
                actor: r#"{"kind":"robot","component":"x"}"#,
                ..good
            },
            EntryText {
                outcome: "maybe",
                ..good
            },
            EntryText {
                time_ms: i64::MAX,
                ..good
            },
        ];
        for stored in bad {
            assert!(stored.parse().is_err(), "{stored:?}");
            assert_eq!(
                stored.record_hash(&mut buffer, 0, &ChainHash::GENESIS),
                None,
                "{stored:?}"
            );
        }
    }

    #[test]
    fn stored_records_verify_and_name_the_edited_one() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let mut chain = Chain::new();
        let records: Vec<_> = (0..6)
            .map(|i| {
                chain.next(entry(
                    actors()[i % 4].clone(),
                    details()[i % details().len()].clone(),
                ))
            })
            .collect();
        let held: Vec<_> = records.iter().map(|r| texts(&r.entry)).collect();
        let stored = |edit: Option<(usize, &'static str)>| -> Vec<RecordText<'_>> {
            records
                .iter()
                .zip(&held)
                .map(|(r, t)| {
                    let mut entry = text(&r.entry, t);
                    if let Some((seq, target)) = edit
                        && seq as u64 == r.seq
                    {
                        entry.target = target;
                    }
                    RecordText {
                        seq: r.seq,
                        prev_hash: r.prev_hash,
                        hash: r.hash,
                        entry: Some(entry),
                    }
                })
                .collect()
        };
        let cp = chain.checkpoint(Utc.timestamp_millis_opt(1_800_000_000_000).unwrap(), &key);
        let public = key.verifying_key();
        let report = verify(stored(None), std::slice::from_ref(&cp), None, &public).unwrap();
        assert_eq!((report.records, report.checkpoints_matched), (6, 1));
        let found = verify(stored(Some((4, "case:other"))), &[cp], None, &public).unwrap_err();
        assert_eq!((found.kind, found.seq), (TamperKind::Modified, Some(4)));
        let unreadable = RecordText {
            entry: None,
            ..stored(None)[2]
        };
        let mut with_unreadable = stored(None);
        with_unreadable[2] = unreadable;
        let found = verify(with_unreadable, &[] as &[Checkpoint], None, &public).unwrap_err();
        assert_eq!((found.kind, found.seq), (TamperKind::Modified, Some(2)));
    }
}
