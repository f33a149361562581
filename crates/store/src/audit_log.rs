//! The audit log's storage: records of the candor-audit hash chain, the chain head, signed
//! checkpoints and the pruning anchor.
//!
//! Appends are serialised on the one-row `audit_head` table (SQLite: the write transaction
//! taken by `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE`), so the chain never forks,
//! also across processes, and each append is committed (durable) before it returns. The
//! chain rules themselves (hashing, linking, verification) live in candor-audit.

use candor_audit::{
    Anchor, AuditEntry, AuditRecord, Chain, ChainHash, Checkpoint, EntryText, RecordText,
    SigningKey, TamperFinding, TamperKind, Verifier, VerifyReport, VerifyingKey,
};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use sqlx::any::AnyRow;
use sqlx::{Any, Connection, Executor, Row};

use crate::{Backend, Store, StoreError, Tx};

/// Rows handed to the verifying thread at a time (PostgreSQL).
const VERIFY_BATCH: usize = 4096;

/// The outcome of verifying the stored chain.
pub type AuditVerdict = Result<VerifyReport, TamperFinding>;

fn hash_from_bytes(bytes: &[u8]) -> Option<ChainHash> {
    <[u8; 32]>::try_from(bytes).ok().map(ChainHash)
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("audit sequence {n} is out of range")))
}

/// A row of the log read by column position ([`col`]), text and bytes borrowed from it:
/// through sqlx's `Any` driver, or (verifying on SQLite) straight from rusqlite.
trait LogRow {
    fn int(&self, index: usize) -> Result<i64, String>;
    fn text(&self, index: usize) -> Result<&str, String>;
    fn bytes(&self, index: usize) -> Result<&[u8], String>;
}

impl LogRow for AnyRow {
    fn int(&self, index: usize) -> Result<i64, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }
    fn text(&self, index: usize) -> Result<&str, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }
    fn bytes(&self, index: usize) -> Result<&[u8], String> {
        self.try_get(index).map_err(|e| e.to_string())
    }
}

impl LogRow for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Integer(n) => Ok(n),
            other => Err(format!("{:?} is not an integer", other.data_type())),
        }
    }
    fn text(&self, index: usize) -> Result<&str, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| e.to_string()),
            other => Err(format!("{:?} is not text", other.data_type())),
        }
    }
    fn bytes(&self, index: usize) -> Result<&[u8], String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Ok(bytes),
            other => Err(format!("{:?} is not bytes", other.data_type())),
        }
    }
}

/// A record row as verification reads it. A damaged hash or link reads as one no record
/// has, and unreadable entry fields as none, so verification names the record; a row
/// without even a seq and hashes is an error.
fn record_text(row: &impl LogRow) -> Result<RecordText<'_>, StoreError> {
    let damaged = |e: String| StoreError::Invalid(format!("an audit record row is damaged: {e}"));
    let seq = u64::try_from(row.int(col::SEQ).map_err(damaged)?).unwrap_or(u64::MAX);
    let prev_hash = hash_from_bytes(row.bytes(col::PREV_HASH).map_err(damaged)?);
    let hash = hash_from_bytes(row.bytes(col::HASH).map_err(damaged)?);
    Ok(RecordText {
        seq,
        prev_hash: prev_hash.unwrap_or_default(),
        hash: hash.unwrap_or_default(),
        entry: entry_text(row).ok(),
    })
}

/// A record row's entry fields, as stored.
fn entry_text(row: &impl LogRow) -> Result<EntryText<'_>, String> {
    let text = |index: usize, name: &str| row.text(index).map_err(|e| format!("{name}: {e}"));
    Ok(EntryText {
        time_ms: row.int(col::TIME).map_err(|e| format!("time: {e}"))?,
        actor: text(col::ACTOR, "actor")?,
        action: text(col::ACTION, "action")?,
        target: text(col::TARGET, "target")?,
        outcome: text(col::OUTCOME, "outcome")?,
        source: text(col::SOURCE, "source")?,
        details: text(col::DETAILS, "details")?,
    })
}

/// Reads one stored record. A row whose fields cannot be read back (edited into nonsense)
/// becomes a record whose content cannot match its hash, so verification names it.
fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let RecordText {
        seq,
        prev_hash,
        hash,
        ..
    } = record_text(row)?;
    let entry = match entry_text(row).and_then(|text| text.parse()) {
        Ok(entry) => entry,
        Err(problem) => AuditEntry::new(
            DateTime::<Utc>::UNIX_EPOCH,
            candor_audit::Actor::Anonymous {
                claimed: String::new(),
            },
            "unreadable",
            format!("audit:{seq}"),
            candor_audit::Outcome::Failure,
        )
        .with_details(serde_json::json!({ "unreadable": problem })),
    };
    Ok(AuditRecord {
        seq,
        prev_hash,
        hash,
        entry,
    })
}

/// Column positions of [`RECORD_COLUMNS`] (read by index: faster than by name).
mod col {
    pub const SEQ: usize = 0;
    pub const TIME: usize = 1;
    pub const ACTOR: usize = 2;
    pub const ACTION: usize = 3;
    pub const TARGET: usize = 4;
    pub const OUTCOME: usize = 5;
    pub const SOURCE: usize = 6;
    pub const DETAILS: usize = 7;
    pub const PREV_HASH: usize = 8;
    pub const HASH: usize = 9;
}

/// The columns every record query selects, in [`col`] order.
const RECORD_COLUMNS: &str =
    "seq, time, actor, action, target, outcome, source, details, prev_hash, hash";

const HEAD_SQL: &str = "SELECT length, head_hash FROM audit_head WHERE id = 1";
const CHECKPOINTS_SQL: &str = "SELECT id, statement FROM audit_checkpoints ORDER BY id";
const ANCHOR_SQL: &str = "SELECT statement FROM audit_anchor WHERE id = 1";

/// The head row's length and hash.
fn head_from(row: &impl LogRow) -> Result<(u64, ChainHash), StoreError> {
    let damaged = |e: String| StoreError::Invalid(format!("the audit head is damaged: {e}"));
    let length = row.int(0).map_err(damaged)?;
    let hash = hash_from_bytes(row.bytes(1).map_err(damaged)?);
    Ok((u64::try_from(length).unwrap_or(0), hash.unwrap_or_default()))
}

/// A checkpoint row (id, statement).
fn checkpoint_from(row: &impl LogRow) -> Result<Checkpoint, StoreError> {
    let id = row.int(0).unwrap_or_default();
    let unreadable =
        |e: String| StoreError::Invalid(format!("stored audit checkpoint {id} is unreadable: {e}"));
    let text = row.text(1).map_err(unreadable)?;
    Checkpoint::from_text(text).map_err(|e| unreadable(e.to_string()))
}

/// The anchor row (statement).
fn anchor_from(row: &impl LogRow) -> Result<Anchor, StoreError> {
    let unreadable =
        |e: String| StoreError::Invalid(format!("the audit anchor is unreadable: {e}"));
    Anchor::from_text(row.text(0).map_err(unreadable)?).map_err(|e| unreadable(e.to_string()))
}

async fn read_head<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<(u64, ChainHash), StoreError> {
    head_from(&sqlx::query(HEAD_SQL).fetch_one(db).await?)
}

async fn read_checkpoints<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = sqlx::query(CHECKPOINTS_SQL).fetch_all(db).await?;
    rows.iter().map(checkpoint_from).collect()
}

async fn read_anchor<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Option<Anchor>, StoreError> {
    let row = sqlx::query(ANCHOR_SQL).fetch_optional(db).await?;
    row.as_ref().map(anchor_from).transpose()
}

/// SQLite: verifies the log in `file` on this (blocking) thread with rusqlite, each row's
/// fields borrowed straight from SQLite and pushed to the verifier. Through sqlx every
/// value of every row is copied and rows cross threads one by one, which held
/// verification to about 140,000 records/s (docs/benchmarks.md). One read transaction
/// is one snapshot: appends made meanwhile are neither half-seen nor taken for tampering.
fn verify_sqlite_file(
    file: &str,
    key: &VerifyingKey,
    published: Option<Checkpoint>,
) -> Result<AuditVerdict, StoreError> {
    use rusqlite::OpenFlags;
    let mut conn = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "mmap_size", 1_073_741_824i64)?;
    let snapshot = conn.transaction()?;
    let anchor = snapshot
        .query_row(ANCHOR_SQL, [], |row| Ok(anchor_from(row)))
        .optional()?
        .transpose()?;
    let mut checkpoints = snapshot
        .prepare(CHECKPOINTS_SQL)?
        .query_map([], |row| Ok(checkpoint_from(row)))?
        .collect::<Result<Result<Vec<_>, _>, _>>()??;
    checkpoints.extend(published);
    let (head_len, head_hash) = snapshot.query_row(HEAD_SQL, [], |row| Ok(head_from(row)))??;
    let mut verifier = match Verifier::new(&checkpoints, anchor.as_ref(), key) {
        Ok(verifier) => verifier,
        Err(finding) => return Ok(Err(finding)),
    };
    let mut records = snapshot.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq"
    ))?;
    let mut rows = records.query([])?;
    while let Some(row) = rows.next()? {
        if let Err(finding) = verifier.push(&record_text(row)?) {
            return Ok(Err(finding));
        }
    }
    Ok(verifier
        .finish()
        .and_then(|report| check_head(report, head_len, head_hash)))
}

/// PostgreSQL (through `Any`): verifies the log on `conn` in one read-only snapshot, so
/// appends made meanwhile are neither half-seen nor taken for tampering. Rows stream
/// from the database while a blocking thread hashes and checks them (constant memory).
async fn verify_any(
    conn: &mut sqlx::AnyConnection,
    key: &VerifyingKey,
    published: Option<Checkpoint>,
) -> Result<AuditVerdict, StoreError> {
    let mut snapshot = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let anchor = read_anchor(&mut *snapshot).await?;
    let mut checkpoints = read_checkpoints(&mut *snapshot).await?;
    checkpoints.extend(published);
    let (head_len, head_hash) = read_head(&mut *snapshot).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<AnyRow>>(4);
    let key = *key;
    let verifier = tokio::task::spawn_blocking(move || -> Result<AuditVerdict, StoreError> {
        let mut verifier = match Verifier::new(&checkpoints, anchor.as_ref(), &key) {
            Ok(verifier) => verifier,
            Err(finding) => return Ok(Err(finding)),
        };
        while let Some(batch) = rx.blocking_recv() {
            for row in &batch {
                if let Err(finding) = verifier.push(&record_text(row)?) {
                    return Ok(Err(finding));
                }
            }
        }
        Ok(verifier.finish())
    });
    let mut batches = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq"
    )))
    .fetch(&mut *snapshot)
    .try_chunks(VERIFY_BATCH);
    let failure = loop {
        match batches.try_next().await {
            Ok(Some(batch)) => {
                if tx.send(batch).await.is_err() {
                    break None; // the verifier stopped at a finding
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e.1),
        }
    };
    drop(batches);
    drop(tx);
    let verdict = verifier
        .await
        .map_err(|e| StoreError::Invalid(format!("audit verification stopped: {e}")))?;
    snapshot.rollback().await?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(verdict?.and_then(|report| check_head(report, head_len, head_hash)))
}

fn outcome_text(o: candor_audit::Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Records per multi-row INSERT (10 parameters each: well under both backends' limits).
const ROWS_PER_INSERT: usize = 100;

async fn insert_record(tx: &mut Tx, r: &AuditRecord) -> Result<(), StoreError> {
    insert_records(tx, std::slice::from_ref(r)).await
}

/// Inserts records with multi-row INSERTs (one round trip per [`ROWS_PER_INSERT`]).
async fn insert_records(tx: &mut Tx, records: &[AuditRecord]) -> Result<(), StoreError> {
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_log (seq, time, actor, action, target, outcome, source, details, prev_hash, hash) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 10;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let actor = serde_json::to_string(&r.entry.actor)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let details = serde_json::to_string(&r.entry.details)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            query = query
                .bind(to_i64(r.seq)?)
                .bind(r.entry.time.timestamp_millis())
                .bind(actor)
                .bind(r.entry.action.clone())
                .bind(r.entry.target.clone())
                .bind(outcome_text(r.entry.outcome))
                .bind(r.entry.source.clone())
                .bind(details)
                .bind(r.prev_hash.0.to_vec())
                .bind(r.hash.0.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Locks the chain head for this transaction and returns the writer's chain.
    async fn lock_audit_head(&self, tx: &mut Tx) -> Result<Chain, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT length, head_hash FROM audit_head WHERE id = 1",
            Backend::Postgres => "SELECT length, head_hash FROM audit_head WHERE id = 1 FOR UPDATE",
        };
        let row = sqlx::query(sql).fetch_one(&mut **tx).await?;
        let length: i64 = row.try_get("length")?;
        let head: Vec<u8> = row.try_get("head_hash")?;
        let head = hash_from_bytes(&head)
            .ok_or_else(|| StoreError::Invalid("the audit head hash is damaged".into()))?;
        Ok(Chain::resume(u64::try_from(length).unwrap_or(0), head))
    }

    async fn save_audit_head(tx: &mut Tx, chain: &Chain) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit_head SET length = $1, head_hash = $2 WHERE id = 1")
            .bind(to_i64(chain.len())?)
            .bind(chain.head().0.to_vec())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Appends one entry and commits; the record is durable when this returns.
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let mut tx = self.begin().await?;
        let record = self.append_audit_tx(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Appends entries in order in one transaction (one commit for all).
    pub async fn append_audit_batch(
        &self,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let mut chain = self.lock_audit_head(&mut tx).await?;
        let records: Vec<AuditRecord> = entries.into_iter().map(|e| chain.next(e)).collect();
        insert_records(&mut tx, &records).await?;
        Self::save_audit_head(&mut tx, &chain).await?;
        tx.commit().await?;
        Ok(records)
    }

    /// Appends inside the caller's transaction (begun with [`Store::begin`]): the record
    /// commits or rolls back with the caller's own changes.
    pub async fn append_audit_tx(
        &self,
        tx: &mut Tx,
        entry: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        let mut chain = self.lock_audit_head(tx).await?;
        let record = chain.next(entry);
        insert_record(tx, &record).await?;
        Self::save_audit_head(tx, &chain).await?;
        Ok(record)
    }

    /// The chain's length (pruned records included) and head hash, as the writer sees them.
    pub async fn audit_head(&self) -> Result<(u64, ChainHash), StoreError> {
        read_head(self.pool()).await
    }

    /// Up to `limit` stored records with `seq >= from_seq`, by seq.
    pub async fn audit_records(
        &self,
        from_seq: u64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        )))
        .bind(to_i64(from_seq)?)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Stored record `seq`, if it is held (not pruned, not past the head).
    pub async fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>, StoreError> {
        Ok(self
            .audit_records(seq, 1)
            .await?
            .into_iter()
            .find(|r| r.seq == seq))
    }

    /// Records filtered for reading (newest first): by action prefix, actor user id, time
    /// range; paginated with `before_seq`.
    pub async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM audit_log \
             WHERE seq < $1 AND time >= $2 AND time < $3 AND action LIKE $4 ESCAPE '\\' AND target LIKE $5 ESCAPE '\\' \
             ORDER BY seq DESC LIMIT $6"
        )))
        .bind(filter.before_seq.map(to_i64).transpose()?.unwrap_or(i64::MAX))
        .bind(filter.from_ms.unwrap_or(i64::MIN))
        .bind(filter.to_ms.unwrap_or(i64::MAX))
        .bind(format!("{}%", like_escape(filter.action_prefix.as_deref().unwrap_or(""))))
        .bind(filter.target.as_deref().map(like_escape).unwrap_or_else(|| "%".into()))
        .bind(filter.limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Stores a signed checkpoint.
    pub async fn save_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_checkpoints (length, time, statement) VALUES ($1, $2, $3)")
            .bind(to_i64(checkpoint.length)?)
            .bind(checkpoint.time.timestamp_millis())
            .bind(checkpoint.to_text())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Signs and stores a checkpoint of the chain as it stands now.
    pub async fn checkpoint_audit(
        &self,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<Checkpoint, StoreError> {
        let (length, head) = self.audit_head().await?;
        let checkpoint = Checkpoint::sign(length, head, now, key);
        self.save_audit_checkpoint(&checkpoint).await?;
        Ok(checkpoint)
    }

    /// Every stored checkpoint, oldest first. An unreadable one is an error naming it.
    pub async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        read_checkpoints(self.pool()).await
    }

    /// The checkpoint stored last, if any (without reading the others).
    pub async fn latest_audit_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let row =
            sqlx::query("SELECT id, statement FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(checkpoint_from).transpose()
    }

    /// Whether a stored record with `from_seq <= seq < to_seq` has one of `actions`.
    pub async fn audit_has_action(
        &self,
        from_seq: u64,
        to_seq: u64,
        actions: &[&str],
    ) -> Result<bool, StoreError> {
        if actions.is_empty() || from_seq >= to_seq {
            return Ok(false);
        }
        let among = (3..3 + actions.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT seq FROM audit_log WHERE seq >= $1 AND seq < $2 AND action IN ({among}) LIMIT 1"
        )))
        .bind(to_i64(from_seq)?)
        .bind(to_i64(to_seq)?);
        for action in actions {
            query = query.bind(*action);
        }
        Ok(query.fetch_optional(self.pool()).await?.is_some())
    }

    /// The pruning anchor, when records were pruned.
    pub async fn audit_anchor(&self) -> Result<Option<Anchor>, StoreError> {
        read_anchor(self.pool()).await
    }

    /// Prunes records older than `cutoff` under retention, leaving a signed anchor that the
    /// first kept record chains from, so the rest stays verifiable. Returns how many records
    /// were removed.
    pub async fn prune_audit_before(
        &self,
        cutoff: DateTime<Utc>,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let chain = self.lock_audit_head(&mut tx).await?;
        // The first record to keep: the first at or after the cutoff, or the end of the chain.
        let row = sqlx::query("SELECT MIN(seq) AS s FROM audit_log WHERE time >= $1")
            .bind(cutoff.timestamp_millis())
            .fetch_one(&mut *tx)
            .await?;
        let keep_from: Option<i64> = row.try_get("s")?;
        let keep_from = match keep_from {
            Some(s) => u64::try_from(s).unwrap_or(0),
            None => chain.len(),
        };
        let row = sqlx::query("SELECT MIN(seq) AS s FROM audit_log")
            .fetch_one(&mut *tx)
            .await?;
        let first: Option<i64> = row.try_get("s")?;
        let Some(first) = first.and_then(|s| u64::try_from(s).ok()) else {
            return Ok(0);
        };
        if keep_from <= first {
            return Ok(0);
        }
        // The kept chain links to the hash of the last pruned record.
        let prev = if keep_from == chain.len() {
            chain.head()
        } else {
            let row = sqlx::query("SELECT prev_hash FROM audit_log WHERE seq = $1")
                .bind(to_i64(keep_from)?)
                .fetch_one(&mut *tx)
                .await?;
            let bytes: Vec<u8> = row.try_get("prev_hash")?;
            hash_from_bytes(&bytes).ok_or_else(|| {
                StoreError::Invalid(format!("audit record {keep_from} is damaged"))
            })?
        };
        let anchor = Anchor::sign(keep_from, prev, now, key);
        let done = sqlx::query("DELETE FROM audit_log WHERE seq < $1")
            .bind(to_i64(keep_from)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_anchor WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO audit_anchor (id, first_seq, statement) VALUES (1, $1, $2)")
            .bind(to_i64(keep_from)?)
            .bind(anchor.to_text())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Verifies the whole stored chain against its checkpoints, anchor and head, in one
    /// snapshot, streaming the records (constant memory). `Ok(Err(finding))` names the
    /// first bad record. The CLI's `candor audit verify` and the API's verify endpoint
    /// both come here.
    pub async fn verify_audit(&self, key: &VerifyingKey) -> Result<AuditVerdict, StoreError> {
        self.verify_audit_against(key, None).await
    }

    /// [`Store::verify_audit`], with `published` (a checkpoint kept outside the store, e.g.
    /// from the transparency page) checked as one of the stored ones: its signature, that
    /// the chain's hash at its length is its head, and that the chain reaches that far. A
    /// tail deleted together with the stored checkpoints that vouched for it is then a
    /// [`TamperKind::TruncatedTail`] at the published length.
    pub async fn verify_audit_against(
        &self,
        key: &VerifyingKey,
        published: Option<&Checkpoint>,
    ) -> Result<AuditVerdict, StoreError> {
        let published = published.cloned();
        match &self.sqlite_file {
            Some(file) => {
                let (file, key) = (file.clone(), *key);
                tokio::task::spawn_blocking(move || verify_sqlite_file(&file, &key, published))
                    .await
                    .map_err(|e| StoreError::Invalid(format!("audit verification stopped: {e}")))?
            }
            None => verify_any(&mut *self.pool().acquire().await?, key, published).await,
        }
    }
}

/// The head row is the writer's own unsigned checkpoint: a chain shorter than it lost its
/// tail; a longer one, or another head hash, had records added behind the writer's back.
fn check_head(report: VerifyReport, head_len: u64, head_hash: ChainHash) -> AuditVerdict {
    if head_len > report.length {
        return Err(TamperFinding {
            kind: TamperKind::TruncatedTail {
                checkpoint_length: head_len,
            },
            seq: Some(report.length),
        });
    }
    if head_len < report.length {
        return Err(TamperFinding {
            kind: TamperKind::Inserted,
            seq: Some(head_len),
        });
    }
    if head_hash != report.head_hash {
        return Err(TamperFinding {
            kind: TamperKind::CheckpointMismatch {
                checkpoint_length: head_len,
            },
            seq: Some(head_len.saturating_sub(1)),
        });
    }
    Ok(report)
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// What to read from the log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action_prefix: Option<String>,
    /// Exact target, e.g. `user:42`.
    pub target: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Page backwards from here (exclusive).
    pub before_seq: Option<u64>,
    pub limit: i64,
}
