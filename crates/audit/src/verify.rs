//! Verification of stored records against the chain rules, checkpoints and an anchor.

use crate::entry::AuditRecord;
use crate::hash::{ChainHash, record_hash_in};
use crate::signed::{Anchor, Checkpoint, StatementError};
use ed25519_dalek::VerifyingKey;
use std::fmt;

/// A record as verification sees it: its place in the chain, and its content's hash.
/// Implemented by [`AuditRecord`] (owned or borrowed) and by
/// [`RecordText`](crate::RecordText), a record borrowed from a store's row.
pub trait ChainLink {
    /// As stored: the seq, the link to the record before and this record's hash.
    fn link(&self) -> (u64, ChainHash, ChainHash);
    /// [`record_hash`](crate::record_hash) of this record's content and stored link,
    /// computed as if it were record `seq` (`buffer` is scratch space); `None` when the
    /// content cannot be read, so it matches no hash.
    fn content_hash(&self, seq: u64, buffer: &mut Vec<u8>) -> Option<ChainHash>;
}

impl ChainLink for AuditRecord {
    fn link(&self) -> (u64, ChainHash, ChainHash) {
        (self.seq, self.prev_hash, self.hash)
    }
    fn content_hash(&self, seq: u64, buffer: &mut Vec<u8>) -> Option<ChainHash> {
        Some(record_hash_in(buffer, seq, &self.prev_hash, &self.entry))
    }
}

impl<T: ChainLink> ChainLink for &T {
    fn link(&self) -> (u64, ChainHash, ChainHash) {
        (**self).link()
    }
    fn content_hash(&self, seq: u64, buffer: &mut Vec<u8>) -> Option<ChainHash> {
        (**self).content_hash(seq, buffer)
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Seq of the first record expected: the anchor's, or 0.
    pub first_seq: u64,
    /// Records checked.
    pub records: u64,
    /// Chain length (pruned records included): the next seq.
    pub length: u64,
    /// Hash of the last record (the anchor's link, or genesis, when there is none).
    pub head_hash: ChainHash,
    /// Checkpoints whose head hash was compared with a record.
    pub checkpoints_matched: usize,
    /// Checkpoints older than the anchor: only their signature could be checked.
    pub checkpoints_pruned: usize,
    /// Whether the chain starts from an anchor.
    pub anchored: bool,
}

impl VerifyReport {
    /// The sequence number of the last record checked (`length - 1`); `None` when no record
    /// was checked.
    pub fn last_seq(&self) -> Option<u64> {
        (self.records > 0).then(|| self.length - 1)
    }

    /// What was checked, in words: "228 records checked (sequence 0 to 227)". The one
    /// wording for the CLI, the API and the console.
    pub fn summary(&self) -> String {
        match (self.records, self.last_seq()) {
            (0, _) | (_, None) => "no records to check".into(),
            (1, Some(last)) => format!("1 record checked (sequence {last})"),
            (n, Some(last)) => format!(
                "{n} records checked (sequence {} to {last})",
                self.first_seq
            ),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TamperKind {
    /// The record's content no longer matches its stored hash.
    Modified,
    /// Records are missing: a gap in the sequence, or one deleted and the rest renumbered.
    Deleted,
    /// A record that does not belong: a repeated seq, or one its successor skips over.
    Inserted,
    /// A record comes before one with a lower seq.
    Reordered,
    /// The record does not link to the hash of the record before it: that one was altered
    /// and re-hashed, or this one's link was edited.
    ChainBreak,
    /// A checkpoint counts more records than the chain holds.
    TruncatedTail { checkpoint_length: u64 },
    /// The chain's hash at a checkpoint's length differs from the checkpoint's head:
    /// history before that point was rewritten.
    CheckpointMismatch { checkpoint_length: u64 },
    /// A checkpoint's signature does not verify with the key.
    ForgedCheckpoint {
        checkpoint_length: u64,
        problem: StatementError,
    },
    /// The anchor's signature does not verify with the key.
    ForgedAnchor { problem: StatementError },
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TamperFinding {
    pub kind: TamperKind,
    /// The first bad record: the altered, missing, inserted or out-of-place one; for a
    /// truncated tail the first missing record; for a checkpoint mismatch the first record
    /// not vouched for by an earlier matching checkpoint; none for forged statements.
    pub seq: Option<u64>,
}

impl fmt::Display for TamperFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq.unwrap_or_default();
        match &self.kind {
            TamperKind::Modified => write!(f, "record {seq} was modified after it was written"),
            TamperKind::Deleted => write!(f, "record {seq} is missing (deleted)"),
            TamperKind::Inserted => write!(f, "record {seq} was inserted into the chain"),
            TamperKind::Reordered => write!(f, "record {seq} is out of order"),
            TamperKind::ChainBreak => write!(
                f,
                "record {seq} does not chain from the record before it: one of them was \
                 altered and re-hashed, or records between them were replaced"
            ),
            TamperKind::TruncatedTail { checkpoint_length } => write!(
                f,
                "the chain ends at {seq} records but a checkpoint vouches for \
                 {checkpoint_length}: records from {seq} on were removed"
            ),
            TamperKind::CheckpointMismatch { checkpoint_length } => write!(
                f,
                "the chain differs from the checkpoint at length {checkpoint_length}: \
                 records from {seq} to {} were rewritten",
                checkpoint_length.saturating_sub(1)
            ),
            TamperKind::ForgedCheckpoint {
                checkpoint_length,
                problem,
            } => write!(
                f,
                "the checkpoint at length {checkpoint_length} is not validly signed: {problem}"
            ),
            TamperKind::ForgedAnchor { problem } => {
                write!(f, "the pruning anchor is not validly signed: {problem}")
            }
        }
    }
}

impl std::error::Error for TamperFinding {}

fn finding(kind: TamperKind, seq: u64) -> TamperFinding {
    TamperFinding {
        kind,
        seq: Some(seq),
    }
}

/// Verifies `records` (in stored order, from the first kept one) as a chain: every record
/// hashes to its stored hash, links to the one before, and follows it in sequence; every
/// checkpoint and the anchor are signed by `key`, each checkpoint's head hash is the
/// hash of the record at its length, and no checkpoint is longer than the chain.
///
/// Records may be owned or borrowed [`AuditRecord`]s, or a store's rows. Checks
/// signatures first, then walks the records once, returning the first problem.
/// Checkpoints must be signed by `key` alone; a rotated key's checkpoints are verified
/// in a separate call with that key. [`Verifier`] does the same for records pushed one
/// at a time.
pub fn verify<R: ChainLink>(
    records: impl IntoIterator<Item = R>,
    checkpoints: &[Checkpoint],
    anchor: Option<&Anchor>,
    key: &VerifyingKey,
) -> Result<VerifyReport, TamperFinding> {
    let mut verifier = Verifier::new(checkpoints, anchor, key)?;
    for record in records {
        verifier.push(&record)?;
    }
    verifier.finish()
}

/// [`verify`] for records pushed one at a time, e.g. rows borrowed from a database
/// cursor: [`Verifier::push`] each in stored order, then [`Verifier::finish`].
pub struct Verifier<'c> {
    /// Checkpoints not yet reached, longest first.
    pending: Vec<&'c Checkpoint>,
    report: VerifyReport,
    /// First record not yet vouched for by a matching checkpoint.
    vouched_until: u64,
    expected_seq: u64,
    expected_link: ChainHash,
    /// The link of the last record checked.
    previous_link: Option<ChainHash>,
    /// A record came with a seq past `expected_seq` (this one): the rest is only searched
    /// for the missing record, to tell a reordering from a deletion.
    gap_at: Option<u64>,
    buffer: Vec<u8>,
}

impl<'c> Verifier<'c> {
    /// Checks the anchor's and every checkpoint's signature, and the checkpoints at the
    /// chain's start.
    pub fn new(
        checkpoints: &'c [Checkpoint],
        anchor: Option<&Anchor>,
        key: &VerifyingKey,
    ) -> Result<Self, TamperFinding> {
        if let Some(anchor) = anchor {
            anchor.verify(key).map_err(|problem| TamperFinding {
                kind: TamperKind::ForgedAnchor { problem },
                seq: None,
            })?;
        }
        for cp in checkpoints {
            cp.verify(key).map_err(|problem| TamperFinding {
                kind: TamperKind::ForgedCheckpoint {
                    checkpoint_length: cp.length,
                    problem,
                },
                seq: None,
            })?;
        }
        let (first_seq, start_link) =
            anchor.map_or((0, ChainHash::GENESIS), |a| (a.seq, a.prev_hash));
        let mut pending: Vec<&Checkpoint> = checkpoints.iter().collect();
        pending.sort_by_key(|cp| std::cmp::Reverse(cp.length));
        let mut verifier = Verifier {
            pending,
            report: VerifyReport {
                first_seq,
                records: 0,
                length: first_seq,
                head_hash: start_link,
                checkpoints_matched: 0,
                checkpoints_pruned: 0,
                anchored: anchor.is_some(),
            },
            vouched_until: first_seq,
            expected_seq: first_seq,
            expected_link: start_link,
            previous_link: None,
            gap_at: None,
            buffer: Vec::with_capacity(512),
        };
        verifier.settle(first_seq, start_link)?;
        Ok(verifier)
    }

    /// Compares the checkpoints up to `length` records with the chain's `head` there.
    fn settle(&mut self, length: u64, head: ChainHash) -> Result<(), TamperFinding> {
        while let Some(cp) = self.pending.last().filter(|cp| cp.length <= length) {
            if cp.length < self.report.first_seq {
                self.report.checkpoints_pruned += 1;
            } else if cp.head_hash != head {
                return Err(finding(
                    TamperKind::CheckpointMismatch {
                        checkpoint_length: cp.length,
                    },
                    self.vouched_until,
                ));
            } else {
                self.report.checkpoints_matched += 1;
                self.vouched_until = cp.length;
            }
            self.pending.pop();
        }
        Ok(())
    }

    /// Checks the next stored record; an error is the first problem (push no more).
    pub fn push(&mut self, r: &impl ChainLink) -> Result<(), TamperFinding> {
        let (seq, prev_hash, hash) = r.link();
        if let Some(gap_at) = self.gap_at {
            if seq == self.expected_seq {
                return Err(finding(TamperKind::Reordered, gap_at));
            }
            return Ok(());
        }
        if seq < self.expected_seq {
            return Err(finding(TamperKind::Inserted, seq));
        }
        if seq > self.expected_seq {
            self.gap_at = Some(seq);
            return Ok(());
        }
        let matches = r.content_hash(seq, &mut self.buffer) == Some(hash);
        if prev_hash != self.expected_link {
            if self.previous_link == Some(prev_hash) {
                // This record skips the one before it, which therefore was slipped in.
                return Err(finding(TamperKind::Inserted, seq - 1));
            }
            if !matches && r.content_hash(seq + 1, &mut self.buffer) == Some(hash) {
                // Written as the next seq: the record before it was deleted and the rest
                // renumbered.
                return Err(finding(TamperKind::Deleted, seq));
            }
            return Err(finding(TamperKind::ChainBreak, seq));
        }
        if !matches {
            return Err(finding(TamperKind::Modified, seq));
        }
        self.previous_link = Some(prev_hash);
        self.expected_link = hash;
        self.expected_seq += 1;
        self.report.records += 1;
        self.settle(self.expected_seq, hash)
    }

    /// After the last record: what was verified, or the first problem.
    pub fn finish(mut self) -> Result<VerifyReport, TamperFinding> {
        if self.gap_at.is_some() {
            // The missing record never came: it was deleted.
            return Err(finding(TamperKind::Deleted, self.expected_seq));
        }
        self.report.length = self.expected_seq;
        self.report.head_hash = self.expected_link;
        if let Some(cp) = self.pending.last() {
            return Err(finding(
                TamperKind::TruncatedTail {
                    checkpoint_length: self.pending[0].length.max(cp.length),
                },
                self.expected_seq,
            ));
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_counts_records_and_names_the_last_sequence_number() {
        let report = |first_seq, records, length| VerifyReport {
            first_seq,
            records,
            length,
            head_hash: ChainHash::GENESIS,
            checkpoints_matched: 0,
            checkpoints_pruned: 0,
            anchored: false,
        };
        assert_eq!(
            report(0, 228, 228).summary(),
            "228 records checked (sequence 0 to 227)"
        );
        assert_eq!(report(0, 228, 228).last_seq(), Some(227));
        assert_eq!(
            report(100, 28, 128).summary(),
            "28 records checked (sequence 100 to 127)"
        );
        assert_eq!(report(5, 1, 6).summary(), "1 record checked (sequence 5)");
        assert_eq!(report(0, 0, 0).summary(), "no records to check");
    }

    use super::*;
    use crate::entry::{Actor, AuditEntry, Chain, Outcome};
    use crate::hash::record_hash;
    use chrono::{TimeZone, Utc};
    use ed25519_dalek::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn entry(i: u64) -> AuditEntry {
        AuditEntry::new(
            Utc.timestamp_millis_opt(1_764_000_000_000 + i as i64)
                .unwrap(),
            Actor::User {
                id: format!("{}", i % 5),
                name: "user".into(),
            },
            "search.reads",
            format!("query:{i}"),
            Outcome::Success,
        )
        .with_details(serde_json::json!({ "results": i }))
    }

    fn chain(n: u64) -> (Vec<AuditRecord>, Chain) {
        let mut chain = Chain::new();
        let records = (0..n).map(|i| chain.next(entry(i))).collect();
        (records, chain)
    }

    fn when() -> chrono::DateTime<Utc> {
        Utc.timestamp_millis_opt(1_764_000_100_000).unwrap()
    }

    fn check(records: &[AuditRecord], cps: &[Checkpoint]) -> Result<VerifyReport, TamperFinding> {
        let borrowed = verify(records, cps, None, &key().verifying_key());
        assert_eq!(
            borrowed,
            verify(records.to_vec(), cps, None, &key().verifying_key()),
            "owned and borrowed records verify alike"
        );
        borrowed
    }

    fn at(kind: TamperKind, seq: u64) -> TamperFinding {
        finding(kind, seq)
    }

    #[test]
    fn intact_chain_verifies() {
        let (records, chain) = chain(10);
        let cps = [
            Checkpoint::sign(4, records[3].hash, when(), &key()),
            chain.checkpoint(when(), &key()),
        ];
        let report = check(&records, &cps).unwrap();
        assert_eq!(report.records, 10);
        assert_eq!(report.length, 10);
        assert_eq!(report.head_hash, chain.head());
        assert_eq!(report.checkpoints_matched, 2);
        assert!(!report.anchored);
        // an empty chain with a length-0 checkpoint is fine too
        let empty = Chain::new().checkpoint(when(), &key());
        assert_eq!(check(&[], &[empty]).unwrap().length, 0);
    }

    #[test]
    fn modified_record() {
        let (mut records, _) = chain(10);
        records[6].entry.target = "query:other".into();
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Modified, 6)));
        let (mut records, _) = chain(10);
        records[2].entry.outcome = Outcome::Denied;
        records[7].entry.action = "export".into();
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Modified, 2)));
    }

    #[test]
    fn modified_and_rehashed_record_breaks_the_next_link() {
        let (mut records, _) = chain(10);
        records[6].entry.details = serde_json::json!({ "results": 0 });
        records[6].hash = record_hash(6, &records[6].prev_hash, &records[6].entry);
        assert_eq!(check(&records, &[]), Err(at(TamperKind::ChainBreak, 7)));
    }

    #[test]
    fn rewritten_history_is_caught_by_a_checkpoint() {
        let (records, chain_before) = chain(10);
        let cps = [
            Checkpoint::sign(3, records[2].hash, when(), &key()),
            chain_before.checkpoint(when(), &key()),
        ];
        // re-chain everything from record 5 on with one entry altered
        let mut rewritten = records[..5].to_vec();
        let mut forger = Chain::after(&records[4]);
        for (i, r) in records.iter().enumerate().skip(5) {
            let mut e = r.entry.clone();
            if i == 5 {
                e.target = "query:hidden".into();
            }
            rewritten.push(forger.next(e));
        }
        assert_eq!(
            check(&rewritten, &cps),
            Err(at(
                TamperKind::CheckpointMismatch {
                    checkpoint_length: 10
                },
                3
            ))
        );
    }

    #[test]
    fn deleted_record() {
        let (mut records, _) = chain(10);
        records.remove(4);
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Deleted, 4)));
        // first record deleted with no anchor
        let (records, _) = chain(3);
        assert_eq!(check(&records[1..], &[]), Err(at(TamperKind::Deleted, 0)));
    }

    #[test]
    fn deleted_record_with_renumbering() {
        let (mut records, _) = chain(10);
        records.remove(4);
        for r in &mut records[4..] {
            r.seq -= 1;
        }
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Deleted, 4)));
    }

    #[test]
    fn inserted_record() {
        // a duplicate seq
        let (mut records, _) = chain(10);
        let copy = records[5].clone();
        records.insert(6, copy);
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Inserted, 5)));
        // a well-formed forged record slipped in with the rest renumbered
        let (mut records, _) = chain(10);
        let mut forger = Chain::after(&records[4]);
        let forged = forger.next(entry(99));
        records.insert(5, forged);
        for r in &mut records[6..] {
            r.seq += 1;
        }
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Inserted, 5)));
    }

    #[test]
    fn reordered_records() {
        let (mut records, _) = chain(10);
        records.swap(3, 4);
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Reordered, 4)));
        let (mut records, _) = chain(10);
        let moved = records.remove(2);
        records.push(moved);
        assert_eq!(check(&records, &[]), Err(at(TamperKind::Reordered, 3)));
    }

    #[test]
    fn truncated_tail() {
        let (records, chain) = chain(10);
        let cp = chain.checkpoint(when(), &key());
        assert_eq!(
            check(&records[..7], &[cp]),
            Err(at(
                TamperKind::TruncatedTail {
                    checkpoint_length: 10
                },
                7
            ))
        );
        // without a checkpoint, a shorter chain is indistinguishable from an older one
        assert!(check(&records[..7], &[]).is_ok());
    }

    #[test]
    fn forged_checkpoint() {
        let (records, chain) = chain(10);
        let mut cp = chain.checkpoint(when(), &key());
        cp.length = 12;
        let found = check(&records, &[cp]).unwrap_err();
        assert!(matches!(
            found.kind,
            TamperKind::ForgedCheckpoint {
                checkpoint_length: 12,
                problem: StatementError::BadSignature
            }
        ));
        assert_eq!(found.seq, None);
        let foreign = chain.checkpoint(when(), &SigningKey::from_bytes(&[1; 32]));
        assert!(matches!(
            check(&records, &[foreign]).unwrap_err().kind,
            TamperKind::ForgedCheckpoint {
                problem: StatementError::WrongKey { .. },
                ..
            }
        ));
    }

    #[test]
    fn pruned_chain_verifies_from_its_anchor() {
        let (records, chain) = chain(10);
        let old = Checkpoint::sign(2, records[1].hash, when(), &key());
        let at_cut = Checkpoint::sign(4, records[3].hash, when(), &key());
        let anchor = Anchor::sign(4, records[3].hash, when(), &key());
        let head = chain.checkpoint(when(), &key());
        let public = key().verifying_key();
        let report = verify(
            records[4..].to_vec(),
            &[old, at_cut, head.clone()],
            Some(&anchor),
            &public,
        )
        .unwrap();
        assert_eq!(report.first_seq, 4);
        assert_eq!(report.records, 6);
        assert_eq!(report.checkpoints_pruned, 1);
        assert_eq!(report.checkpoints_matched, 2);
        assert!(report.anchored);
        // more pruned than the anchor says
        assert_eq!(
            verify(records[5..].to_vec(), &[], Some(&anchor), &public),
            Err(at(TamperKind::Deleted, 4))
        );
        // an anchor moved by hand no longer verifies
        let moved = Anchor {
            seq: 6,
            prev_hash: records[5].hash,
            ..anchor.clone()
        };
        assert!(matches!(
            verify(records[6..].to_vec(), &[], Some(&moved), &public)
                .unwrap_err()
                .kind,
            TamperKind::ForgedAnchor { .. }
        ));
        // everything pruned: the chain is just the anchor
        let all = Anchor::sign(10, chain.head(), when(), &key());
        let report = verify(Vec::<AuditRecord>::new(), &[head], Some(&all), &public).unwrap();
        assert_eq!((report.length, report.records), (10, 0));
    }

    #[test]
    fn findings_read_as_plain_words() {
        let text = at(TamperKind::Deleted, 4).to_string();
        assert_eq!(text, "record 4 is missing (deleted)");
        let text = at(
            TamperKind::TruncatedTail {
                checkpoint_length: 10,
            },
            7,
        )
        .to_string();
        assert!(text.contains("from 7 on were removed"), "{text}");
    }
}
