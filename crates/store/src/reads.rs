//! Reads: batched, idempotent, encrypted ingest, and reading back.
//!
//! Each read's plate and other sensitive details are sealed with the key of the window its
//! expiry falls in; the row keeps only what the purge and searches need in clear (camera,
//! times, confidence, hit flag, blind index of the plate, keyed filter of its grams).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::hits::NewHit;
use crate::keys::{KeyRing, WindowKeys};
use crate::retention::RetentionPolicy;
use crate::{Store, StoreError, now_ms};

/// An alternative reading of the plate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    pub plate: String,
    pub confidence: f64,
}

/// The sensitive part of a read, sealed at rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadDetails {
    /// Normalised plate text (upper-case letters and digits).
    pub plate: String,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Jurisdiction as read, e.g. "us-ca".
    pub region: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Direction of travel, degrees.
    pub heading: Option<f64>,
    /// The camera's own reference to its image, if it keeps one.
    pub image_ref: Option<String>,
    pub vehicle_color: Option<String>,
    /// How sure Candor was of `vehicle_color` when it named the colour itself (0–1); `None`
    /// when the camera sent the colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_color_confidence: Option<f64>,
    pub vehicle_make: Option<String>,
    /// Vehicle model, body type and model year, as the camera's engine gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_year: Option<String>,
    /// A stored picture of the plate alone, as the camera sent it (OpenALPR
    /// `best_plate_jpeg`); the read's own image is then the camera's vehicle crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_image_id: Option<i64>,
    /// Where the plate is in the read's stored image (reads Candor made from an image).
    #[serde(default, rename = "box", skip_serializing_if = "Option::is_none")]
    pub plate_box: Option<PlateBox>,
    /// For a read Candor made from a camera stream: the vehicle's pass it sums up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<StreamPass>,
}

/// How a stream read came about: the frames of one vehicle's pass, voted into one read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamPass {
    /// First and last frame the plate was read in (ms since the epoch).
    pub first_seen: i64,
    pub last_seen: i64,
    /// Frames the plate was read in.
    pub sightings: u32,
    /// Which way the plate moved through the picture: approaching, receding,
    /// left_to_right, right_to_left or stationary.
    pub direction: String,
}

/// A plate's box in its image, in that image's pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlateBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A read ready to store, with the hits the matcher found for it.
#[derive(Debug, Clone)]
pub struct NewRead {
    pub captured_at: i64,
    /// 0–1.
    pub confidence: f64,
    pub details: ReadDetails,
    pub image_id: Option<i64>,
    pub hits: Vec<NewHit>,
}

/// A stored read, opened.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredRead {
    pub id: i64,
    pub camera_id: String,
    pub batch_id: String,
    pub captured_at: i64,
    pub received_at: i64,
    pub expires_at: i64,
    pub confidence: f64,
    pub is_hit: bool,
    pub image_id: Option<i64>,
    pub details: ReadDetails,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestOutcome {
    pub batch_id: String,
    /// True when this idempotency key was seen before: nothing new was stored.
    pub duplicate: bool,
    pub read_count: i64,
    pub hit_count: i64,
    /// Hits created by this call (empty for a duplicate).
    pub hits: Vec<IngestedHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestedHit {
    pub hit_id: i64,
    pub read_id: i64,
    /// Position of the read in the submitted batch.
    pub read_index: usize,
    /// Position of the hit in that read's `hits`.
    pub hit_index: usize,
}

/// Rows per multi-row INSERT (12 parameters each; well under both backends' limits).
const ROWS_PER_INSERT: usize = 200;

pub(crate) fn read_aad(camera_id: &str, captured_at: i64) -> Vec<u8> {
    format!("read:{camera_id}:{captured_at}").into_bytes()
}

pub(crate) fn hit_aad(read_id: i64) -> Vec<u8> {
    format!("hit:{read_id}").into_bytes()
}

struct PreparedRead {
    captured_at: i64,
    expires_at: i64,
    window: i64,
    plate_index: Vec<u8>,
    plate_filter: i64,
    confidence: f64,
    image_id: Option<i64>,
    sealed: Vec<u8>,
    hits: Vec<NewHit>,
    keys: std::sync::Arc<WindowKeys>,
}

/// A batch sealed and indexed, ready to write: everything its transaction needs is computed
/// before it, so the writer's critical section holds only SQL.
pub(crate) struct PreparedBatch {
    camera_id: String,
    idempotency_key: String,
    request_hash: Vec<u8>,
    batch_id: String,
    received_at: i64,
    /// Of the batch record: the latest expiry of its reads.
    expires_at: i64,
    /// Key windows its reads are sealed in, with their spans.
    windows: Vec<(i64, (i64, i64))>,
    reads: Vec<PreparedRead>,
}

impl PreparedBatch {
    pub(crate) fn read_count(&self) -> usize {
        self.reads.len()
    }

    fn hit_count(&self) -> usize {
        self.reads.iter().map(|p| p.hits.len()).sum()
    }
}

/// Seals each read with the key of its expiry's window, computes its blind index and gram
/// signature, and gives the batch its id.
fn prepare_batch(
    keys: &KeyRing,
    policy: &RetentionPolicy,
    camera_id: &str,
    idempotency_key: &str,
    request_hash: &[u8],
    reads: Vec<NewRead>,
) -> Result<PreparedBatch, StoreError> {
    let received_at = now_ms();
    let mut prepared = Vec::with_capacity(reads.len());
    for r in reads {
        let is_hit = !r.hits.is_empty();
        let retention_secs = if is_hit {
            r.hits
                .iter()
                .map(|h| h.retention_secs.unwrap_or(policy.hit_secs))
                .max()
                .unwrap_or(policy.hit_secs)
        } else {
            policy.non_hit_secs
        };
        let expires_at = r
            .captured_at
            .saturating_add(retention_secs.saturating_mul(1000));
        // A read that arrives already past its retention goes into the current window,
        // never into one that may already be purged.
        let window = keys.window_for(expires_at.max(received_at));
        let wk = keys.get_or_create(window)?;
        let plaintext =
            serde_json::to_vec(&r.details).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let sealed = wk.seal(&read_aad(camera_id, r.captured_at), &plaintext)?;
        prepared.push(PreparedRead {
            captured_at: r.captured_at,
            expires_at,
            window,
            plate_index: wk.blind_index(&r.details.plate),
            plate_filter: wk.plate_filter(&r.details.plate),
            confidence: r.confidence,
            image_id: r.image_id,
            sealed,
            hits: r.hits,
            keys: wk,
        });
    }
    let windows: BTreeSet<i64> = prepared.iter().map(|p| p.window).collect();
    let expires_at = prepared
        .iter()
        .map(|p| p.expires_at)
        .max()
        .unwrap_or(received_at)
        .max(received_at);
    Ok(PreparedBatch {
        camera_id: camera_id.to_string(),
        idempotency_key: idempotency_key.to_string(),
        request_hash: request_hash.to_vec(),
        batch_id: uuid::Uuid::new_v4().to_string(),
        received_at,
        expires_at,
        windows: windows
            .into_iter()
            .map(|w| (w, keys.window_span(w)))
            .collect(),
        reads: prepared,
    })
}

/// Columns a new `reads` row is written with, in the order [`bind_read`] binds them.
const INSERT_COLUMNS: [&str; 12] = [
    "camera_id",
    "batch_id",
    "captured_at",
    "received_at",
    "expires_at",
    "key_window",
    "plate_index",
    "plate_filter",
    "confidence",
    "is_hit",
    "image_id",
    "sealed",
];

/// `INSERT INTO reads (…) VALUES` with placeholders for `rows` rows.
fn insert_reads_sql(backend: crate::Backend, rows: usize) -> String {
    format!(
        "INSERT INTO reads ({}) VALUES {}",
        INSERT_COLUMNS.join(", "),
        crate::values_rows(backend, rows, INSERT_COLUMNS.len())
    )
}

/// Binds one read's values for [`INSERT_COLUMNS`].
fn bind_read<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    b: &PreparedBatch,
    p: &PreparedRead,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&b.camera_id)
        .bind(&b.batch_id)
        .bind(p.captured_at)
        .bind(b.received_at)
        .bind(p.expires_at)
        .bind(p.window)
        .bind(&p.plate_index)
        .bind(p.plate_filter)
        .bind(p.confidence)
        .bind(i64::from(!p.hits.is_empty()))
        .bind(p.image_id)
        .bind(&p.sealed)
}

/// Writes `batches` in the caller's transaction and counts them in the usage tallies; returns
/// each batch's outcome, in order. A batch whose idempotency key is already stored fails
/// the whole call with a unique violation.
async fn write_batches(
    tx: &mut crate::Tx,
    backend: crate::Backend,
    batches: &[&PreparedBatch],
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(batches.len());
    let windows: BTreeSet<(i64, (i64, i64))> = batches
        .iter()
        .flat_map(|b| b.windows.iter().copied())
        .collect();
    for (window, span) in windows {
        ensure_window(tx, window, span).await?;
    }
    let mut tally = crate::metrics::Tally::default();
    for b in batches {
        sqlx::query(
            "INSERT INTO ingest_batches (camera_id, idempotency_key, batch_id, request_hash, received_at, \
             read_count, hit_count, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(&b.camera_id)
        .bind(&b.idempotency_key)
        .bind(&b.batch_id)
        .bind(&b.request_hash)
        .bind(b.received_at)
        .bind(b.read_count() as i64)
        .bind(b.hit_count() as i64)
        .bind(b.expires_at)
        .execute(&mut **tx)
        .await?;
        for p in &b.reads {
            tally.add(p.captured_at, crate::metrics::metric::READS, "", 1);
            for h in &p.hits {
                tally.add(p.captured_at, crate::metrics::metric::HITS, &h.hit_type, 1);
            }
        }
    }

    // Reads without hits, of every batch: multi-row inserts.
    let plain: Vec<(&PreparedBatch, &PreparedRead)> = batches
        .iter()
        .flat_map(|b| b.reads.iter().map(move |p| (*b, p)))
        .filter(|(_, p)| p.hits.is_empty())
        .collect();
    for chunk in plain.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_reads_sql(backend, chunk.len())));
        for (b, p) in chunk {
            q = bind_read(q, b, p);
        }
        q.execute(&mut **tx).await?;
    }
    let insert_one_read = insert_reads_sql(backend, 1) + " RETURNING id";

    // Reads with hits: one at a time, to learn their ids for the hits.
    for b in batches {
        let mut hits_out = Vec::new();
        for (read_index, p) in b
            .reads
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.hits.is_empty())
        {
            let row = bind_read(
                sqlx::query(sqlx::AssertSqlSafe(insert_one_read.as_str())),
                b,
                p,
            )
            .fetch_one(&mut **tx)
            .await?;
            let read_id: i64 = row.try_get(0)?;
            for (hit_index, h) in p.hits.iter().enumerate() {
                let hit_id = crate::hits::insert_hit(
                    tx,
                    &p.keys,
                    read_id,
                    &b.camera_id,
                    p.expires_at,
                    b.received_at,
                    h,
                )
                .await?;
                hits_out.push(IngestedHit {
                    hit_id,
                    read_id,
                    read_index,
                    hit_index,
                });
            }
        }
        outcomes.push(IngestOutcome {
            batch_id: b.batch_id.clone(),
            duplicate: false,
            read_count: b.read_count() as i64,
            hit_count: b.hit_count() as i64,
            hits: hits_out,
        });
    }
    tally.write(tx).await?;
    Ok(outcomes)
}

/// Writes `batches` in `tx` and commits (durable when this returns), or rolls back.
pub(crate) async fn commit_batches(
    mut tx: crate::Tx,
    backend: crate::Backend,
    batches: &[&PreparedBatch],
) -> Result<Vec<IngestOutcome>, StoreError> {
    match write_batches(&mut tx, backend, batches).await {
        Ok(outcomes) => {
            tx.commit().await?;
            Ok(outcomes)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

impl Store {
    /// Stores a batch of reads from `camera_id` in one transaction, idempotently: a batch
    /// whose `idempotency_key` was already stored returns the first outcome with
    /// `duplicate: true` and stores nothing. Returns only after the commit is durable.
    ///
    /// `request_hash` identifies the batch's content: the same key with different content
    /// is refused as a conflict.
    ///
    /// On SQLite, batches that arrive while another commit is in flight are committed
    /// together with one fsync (see `group_commit`); each call still returns only after the
    /// transaction holding its batch is durable, and a batch is never split.
    pub async fn ingest_batch(
        &self,
        keys: &KeyRing,
        policy: &RetentionPolicy,
        camera_id: &str,
        idempotency_key: &str,
        request_hash: &[u8],
        reads: Vec<NewRead>,
    ) -> Result<IngestOutcome, StoreError> {
        if let Some(existing) = self
            .find_batch(camera_id, idempotency_key, request_hash)
            .await?
        {
            return Ok(existing);
        }
        // Encryption and hashing happen before the transaction, to keep it short.
        let batch = prepare_batch(
            keys,
            policy,
            camera_id,
            idempotency_key,
            request_hash,
            reads,
        )?;
        let written = match &self.ingest_queue {
            Some(queue) => queue.clone().commit(self.clone(), batch).await,
            // PostgreSQL: concurrent transactions; the server groups their commits itself.
            None => commit_batches(self.begin().await?, self.backend(), &[&batch])
                .await
                .map(|mut outcomes| outcomes.remove(0)),
        };
        match written {
            Err(e) if e.is_unique_violation() => {
                // Another request with the same key committed first.
                self.find_batch(camera_id, idempotency_key, request_hash)
                    .await?
                    .ok_or_else(|| StoreError::Conflict("idempotency key race".into()))
            }
            other => other,
        }
    }

    async fn find_batch(
        &self,
        camera_id: &str,
        idempotency_key: &str,
        request_hash: &[u8],
    ) -> Result<Option<IngestOutcome>, StoreError> {
        let row = sqlx::query(
            "SELECT batch_id, request_hash, read_count, hit_count FROM ingest_batches \
             WHERE camera_id = $1 AND idempotency_key = $2",
        )
        .bind(camera_id)
        .bind(idempotency_key)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored_hash: Vec<u8> = row.try_get("request_hash")?;
        if stored_hash != request_hash {
            return Err(StoreError::Conflict(format!(
                "idempotency key {idempotency_key:?} was already used for a different batch; use a new key for new reads"
            )));
        }
        Ok(Some(IngestOutcome {
            batch_id: row.try_get("batch_id")?,
            duplicate: true,
            read_count: row.try_get("read_count")?,
            hit_count: row.try_get("hit_count")?,
            hits: Vec::new(),
        }))
    }

    /// One read, opened with its window key. Errors with [`StoreError::Crypto`] if the key
    /// is gone (the window was purged).
    pub async fn get_read(
        &self,
        keys: &KeyRing,
        id: i64,
    ) -> Result<Option<StoredRead>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {READ_COLUMNS} FROM reads WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|r| open_read(keys, r)).transpose()
    }

    /// Reads of one exact (normalised) plate captured in `[from, to)`, newest first (the
    /// first page of [`Store::search_reads`] for that plate).
    pub async fn reads_by_plate(
        &self,
        keys: &KeyRing,
        plate: &str,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<StoredRead>, StoreError> {
        let pattern = candor_platetext::wildcard::Pattern::parse(plate)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let q = crate::search::ReadSearch {
            pattern,
            lookalikes: None,
            from,
            to,
            cameras: None,
            vehicle_color: None,
            hits_only: false,
            limit: usize::try_from(limit.max(1)).unwrap_or(1),
            after: None,
        };
        Ok(self.search_reads(keys, &q).await?.reads)
    }

    /// Number of reads stored for a batch.
    pub async fn count_reads_in_batch(&self, batch_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM reads WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Total number of reads stored.
    pub async fn count_reads(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM reads")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }
}

pub(crate) const READ_COLUMNS: &str = "id, camera_id, batch_id, captured_at, received_at, expires_at, key_window, confidence, is_hit, image_id, sealed";

pub(crate) fn open_read(keys: &KeyRing, row: &sqlx::any::AnyRow) -> Result<StoredRead, StoreError> {
    let id: i64 = row.try_get("id")?;
    let camera_id: String = row.try_get("camera_id")?;
    let captured_at: i64 = row.try_get("captured_at")?;
    let window: i64 = row.try_get("key_window")?;
    let sealed: Vec<u8> = row.try_get("sealed")?;
    let wk = keys.get(window)?.ok_or_else(|| {
        StoreError::Crypto(format!(
            "read {id}: the key of window {window} has been destroyed"
        ))
    })?;
    let plain = wk.open(&read_aad(&camera_id, captured_at), &sealed)?;
    let details: ReadDetails = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Crypto(format!("read {id}: {e}")))?;
    Ok(StoredRead {
        id,
        camera_id,
        batch_id: row.try_get("batch_id")?,
        captured_at,
        received_at: row.try_get("received_at")?,
        expires_at: row.try_get("expires_at")?,
        confidence: row.try_get("confidence")?,
        is_hit: row.try_get::<i64, _>("is_hit")? != 0,
        image_id: row.try_get("image_id")?,
        details,
    })
}

/// Records that `window` is in use (its key file already exists).
/// Records a window and its span (the span of expiry times its records may have), or widens
/// the recorded span when the same window number comes back under another window length
/// (`retention.key_window_secs` changed): a window's recorded span always covers every
/// record sealed in it, whatever the configuration says later.
pub(crate) async fn ensure_window(
    tx: &mut crate::Tx,
    window: i64,
    (starts_at, ends_at): (i64, i64),
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_windows (id, starts_at, ends_at, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (id) DO UPDATE SET \
         starts_at = CASE WHEN excluded.starts_at < key_windows.starts_at THEN excluded.starts_at ELSE key_windows.starts_at END, \
         ends_at = CASE WHEN excluded.ends_at > key_windows.ends_at THEN excluded.ends_at ELSE key_windows.ends_at END \
         WHERE excluded.starts_at < key_windows.starts_at OR excluded.ends_at > key_windows.ends_at",
    )
    .bind(window)
    .bind(starts_at)
    .bind(ends_at)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
