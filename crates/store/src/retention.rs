//! Retention: expiry per class, legal holds, purge and purge receipts.
//!
//! The periods come from the published policy in force ([`RetentionPolicy`], built by the
//! server from the policy document); reads and images are stamped with their expiry at
//! ingest, a newly published version shortens what is stored to it (`shorten_to`, run by
//! [`Store::save_policy_version`]), and [`Store::purge`] deletes what has expired.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Retention periods per data class, in seconds, as the published policy in force sets them
/// (the server builds this from the policy document; the store only applies it). Every read
/// gets its expiry at ingest from this; the purge deletes what has expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// The policy version these periods come from; recorded in purge receipts.
    pub policy_version: i64,
    pub non_hit_secs: i64,
    /// Hits on a list with its own hit retention keep that instead.
    pub hit_secs: i64,
    pub image_secs: i64,
    pub audit_secs: i64,
}

impl RetentionPolicy {
    /// How long an image is kept: as long as the hit when it shows one.
    pub fn image_secs_for(&self, shows_a_hit: bool) -> i64 {
        if shows_a_hit {
            self.image_secs.max(self.hit_secs)
        } else {
            self.image_secs
        }
    }
}

/// What [`Store::save_policy_version`] shortened to the new policy's retention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Shortened {
    pub reads: u64,
    pub images: u64,
}

/// What one purge run did. Signed with the receipt key and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurgeReceipt {
    pub run_at: i64,
    /// Everything that expired at or before this instant was purged (unless held).
    pub cutoff: i64,
    /// The policy version whose retention was in force, as text. Receipts signed before
    /// retention came from the published policy name a configuration profile here
    /// (`default-1`) and carry a `policy_profile` too, kept in their signed text.
    pub policy_version: String,
    pub classes: Vec<String>,
    pub counts: PurgeCounts,
    /// Key windows destroyed by this run: nothing sealed under them can be read again.
    pub windows_destroyed: Vec<WindowSpan>,
    /// Ended windows whose key was kept because a legal hold still holds records in them.
    pub windows_kept_for_holds: Vec<WindowSpan>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurgeCounts {
    pub non_hit_reads: i64,
    pub hit_reads: i64,
    pub hits: i64,
    pub images: i64,
    pub image_files: i64,
    pub ingest_batches: i64,
    /// Expired reads kept because of a legal hold.
    pub held_reads_kept: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowSpan {
    pub window: i64,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// A stored, signed receipt.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SignedReceipt {
    pub id: i64,
    pub receipt: PurgeReceipt,
    /// The exact JSON that was signed.
    pub receipt_json: String,
    /// Ed25519 signature over `receipt_json`, hex.
    pub signature: String,
    /// The verifying key, hex.
    pub public_key: String,
}

impl SignedReceipt {
    /// Checks the signature against the embedded public key.
    pub fn verify(&self) -> Result<(), StoreError> {
        use ed25519_dalek::Verifier;
        let bad = |m: &str| StoreError::Crypto(format!("purge receipt {}: {m}", self.id));
        let pk: [u8; 32] = hex::decode(&self.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("bad public key"))?;
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("bad signature"))?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| bad("bad public key"))?;
        vk.verify(
            self.receipt_json.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .map_err(|_| bad("signature does not verify"))
    }
}

/// An explicit, audited exception that keeps a read (with its hits and image) past expiry.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LegalHold {
    pub id: i64,
    pub read_id: i64,
    pub reason: String,
    pub case_number: String,
    pub created_by: i64,
    pub created_by_name: String,
    pub created_at: i64,
    pub released_by: Option<i64>,
    pub released_by_name: Option<String>,
    pub released_at: Option<i64>,
    pub release_note: Option<String>,
}

use sqlx::Row;

use crate::Store;
use crate::keys::KeyRing;

const HOLD_COLUMNS: &str = "id, read_id, reason, case_number, created_by, created_by_name, created_at, released_by, \
    released_by_name, released_at, release_note";

fn hold_from_row(r: &sqlx::any::AnyRow) -> Result<LegalHold, StoreError> {
    Ok(LegalHold {
        id: r.try_get("id")?,
        read_id: r.try_get("read_id")?,
        reason: r.try_get("reason")?,
        case_number: r.try_get("case_number")?,
        created_by: r.try_get("created_by")?,
        created_by_name: r.try_get("created_by_name")?,
        created_at: r.try_get("created_at")?,
        released_by: r.try_get("released_by")?,
        released_by_name: r.try_get("released_by_name")?,
        released_at: r.try_get("released_at")?,
        release_note: r.try_get("release_note")?,
    })
}

/// Shortens what is already stored to `policy`, inside the transaction that stores the
/// policy version it comes from ([`Store::save_policy_version`]): each read without a hit,
/// and each image that shows none, whose expiry lies beyond its capture time plus the
/// policy's period now expires then (the next purge takes what is past it).
///
/// Only ever shorter: a longer period applies to what is ingested from now on, never to
/// what is stored (its expiry was promised when it came in). Hit reads keep the expiry they
/// were given, since a hot list may set its own hit retention; so does an image linked to a
/// hit read or captured by the same camera at the same instant as one (the plate crop an
/// OpenALPR agent sends beside the vehicle crop is linked to its read by no column). A
/// shortened record stays sealed under the key of the window its old expiry chose: the
/// database row goes at the new expiry, the key when that window ends.
pub(crate) async fn shorten_to(
    tx: &mut crate::Tx,
    policy: &RetentionPolicy,
) -> Result<Shortened, StoreError> {
    // Bounded so that `captured_at + period` cannot overflow a BIGINT.
    let ms = |secs: i64| secs.saturating_mul(1000).min(i64::MAX / 2);
    let reads = sqlx::query(
        "UPDATE reads SET expires_at = captured_at + $1 \
         WHERE is_hit = 0 AND expires_at > captured_at + $1",
    )
    .bind(ms(policy.non_hit_secs))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let images = sqlx::query(
        "UPDATE images SET expires_at = captured_at + $1 \
         WHERE expires_at > captured_at + $1 AND NOT EXISTS (SELECT 1 FROM reads r \
         WHERE r.is_hit = 1 AND (r.image_id = images.id \
         OR (r.camera_id = images.camera_id AND r.captured_at = images.captured_at)))",
    )
    .bind(ms(policy.image_secs))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(Shortened { reads, images })
}

async fn count(tx: &mut crate::Tx, sql: &'static str, now: i64) -> Result<i64, StoreError> {
    let row = sqlx::query(sql).bind(now).fetch_one(&mut **tx).await?;
    Ok(row.try_get(0)?)
}

impl Store {
    /// Places a legal hold on a read (and so on its hits and image).
    pub async fn place_hold(
        &self,
        read_id: i64,
        reason: &str,
        case_number: &str,
        user_id: i64,
        username: &str,
    ) -> Result<LegalHold, StoreError> {
        if reason.trim().is_empty() || case_number.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a legal hold needs a reason and a case number".into(),
            ));
        }
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT COUNT(*) FROM reads WHERE id = $1")
            .bind(read_id)
            .fetch_one(&mut *tx)
            .await?;
        if exists.try_get::<i64, _>(0)? == 0 {
            return Err(StoreError::not_found(format!(
                "read {read_id} (it may already have been purged)"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO legal_holds (read_id, reason, case_number, created_by, created_by_name, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
        )
        .bind(read_id)
        .bind(reason.trim())
        .bind(case_number.trim())
        .bind(user_id)
        .bind(username)
        .bind(crate::now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        tx.commit().await?;
        self.get_hold(id)
            .await?
            .ok_or_else(|| StoreError::not_found("legal hold"))
    }

    /// Releases a hold; the read then follows its normal expiry.
    pub async fn release_hold(
        &self,
        id: i64,
        user_id: i64,
        username: &str,
        note: Option<&str>,
    ) -> Result<LegalHold, StoreError> {
        let res = sqlx::query(
            "UPDATE legal_holds SET released_by=$1, released_by_name=$2, released_at=$3, release_note=$4 \
             WHERE id=$5 AND released_at IS NULL",
        )
        .bind(user_id)
        .bind(username)
        .bind(crate::now_ms())
        .bind(note)
        .bind(id)
        .execute(self.pool())
        .await?;
        let hold = self
            .get_hold(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("legal hold {id}")))?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "legal hold {id} was already released"
            )));
        }
        Ok(hold)
    }

    pub async fn get_hold(&self, id: i64) -> Result<Option<LegalHold>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    pub async fn list_holds(&self, active_only: bool) -> Result<Vec<LegalHold>, StoreError> {
        let filter = if active_only {
            " WHERE released_at IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds{filter} ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(hold_from_row).collect()
    }

    /// Purges everything expired at `now` that no legal hold keeps: reads (with their hits),
    /// images (rows and files), idempotency records; then destroys the key of every ended
    /// window that holds nothing more. Writes and returns a signed receipt.
    pub async fn purge(
        &self,
        keys: &KeyRing,
        image_dir: &std::path::Path,
        policy: &RetentionPolicy,
        now: i64,
    ) -> Result<SignedReceipt, StoreError> {
        let mut counts = PurgeCounts::default();
        let mut tx = self.begin().await?;
        counts.non_hit_reads = count(
            &mut tx,
            "SELECT COUNT(*) FROM reads WHERE expires_at <= $1 AND is_hit = 0 AND id NOT IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL)",
            now,
        )
        .await?;
        counts.hit_reads = count(
            &mut tx,
            "SELECT COUNT(*) FROM reads WHERE expires_at <= $1 AND is_hit = 1 AND id NOT IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL)",
            now,
        )
        .await?;
        counts.held_reads_kept = count(
            &mut tx,
            "SELECT COUNT(*) FROM reads WHERE expires_at <= $1 AND id IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL)",
            now,
        )
        .await?;
        // Corrections of a hit go with it.
        sqlx::query(
            "DELETE FROM hit_amendments WHERE hit_id IN (SELECT h.id FROM hits h WHERE h.read_id IN \
             (SELECT id FROM reads WHERE expires_at <= $1 \
             AND id NOT IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL)))",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        counts.hits = sqlx::query(
            "DELETE FROM hits WHERE read_id IN (SELECT id FROM reads WHERE expires_at <= $1 \
             AND id NOT IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL))",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "DELETE FROM reads WHERE expires_at <= $1 AND id NOT IN (SELECT read_id FROM legal_holds WHERE released_at IS NULL)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Images: expired, and not the image of a held read.
        let image_rows = sqlx::query(
            "SELECT id, key_window, file_name FROM images WHERE expires_at <= $1 AND id NOT IN \
             (SELECT r.image_id FROM reads r WHERE r.image_id IS NOT NULL AND r.id IN \
              (SELECT read_id FROM legal_holds WHERE released_at IS NULL))",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut image_files = Vec::new();
        for r in &image_rows {
            let id: i64 = r.try_get("id")?;
            let window: i64 = r.try_get("key_window")?;
            let name: String = r.try_get("file_name")?;
            sqlx::query("UPDATE reads SET image_id = NULL WHERE image_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM images WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            image_files.push(crate::images::image_path(image_dir, window, &name));
        }
        counts.images = image_rows.len() as i64;
        counts.ingest_batches = sqlx::query("DELETE FROM ingest_batches WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
        tx.commit().await?;

        for path in image_files {
            match std::fs::remove_file(&path) {
                Ok(()) => counts.image_files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(StoreError::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        }

        // Windows whose span has ended: every record in them has expired.
        let mut windows_destroyed = Vec::new();
        let mut windows_kept_for_holds = Vec::new();
        for (w, (starts_at, ends_at)) in self.window_spans(keys).await? {
            if ends_at > now {
                continue;
            }
            let span = WindowSpan {
                window: w,
                starts_at,
                ends_at,
            };
            let left = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM reads WHERE key_window = $1) + (SELECT COUNT(*) FROM images WHERE key_window = $1) \
                 + (SELECT COUNT(*) FROM hits WHERE key_window = $1)",
            )
            .bind(w)
            .fetch_one(self.pool())
            .await?;
            if left.try_get::<i64, _>(0)? > 0 {
                windows_kept_for_holds.push(span);
                continue;
            }
            keys.destroy(w)?;
            let dir = crate::images::window_dir(image_dir, w);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            sqlx::query("UPDATE key_windows SET destroyed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(w)
                .execute(self.pool())
                .await?;
            windows_destroyed.push(span);
        }

        let receipt = PurgeReceipt {
            run_at: crate::now_ms(),
            cutoff: now,
            policy_version: policy.policy_version.to_string(),
            classes: vec![
                "non_hit_reads".into(),
                "hits".into(),
                "images".into(),
                "ingest_batches".into(),
            ],
            counts,
            windows_destroyed,
            windows_kept_for_holds,
        };
        self.store_receipt(keys, receipt).await
    }

    /// The windows whose keys still exist, ascending, each with its span as recorded when it
    /// was first used (and widened if used again under another window length). A key with
    /// no recorded span (never used by a committed record) takes the span under the window
    /// length configured now.
    pub async fn window_spans(&self, keys: &KeyRing) -> Result<Vec<(i64, (i64, i64))>, StoreError> {
        let recorded: std::collections::HashMap<i64, (i64, i64)> =
            sqlx::query("SELECT id, starts_at, ends_at FROM key_windows")
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
                .collect::<Result<_, sqlx::Error>>()?;
        Ok(keys
            .live_windows()?
            .into_iter()
            .map(|w| {
                (
                    w,
                    recorded
                        .get(&w)
                        .copied()
                        .unwrap_or_else(|| keys.window_span(w)),
                )
            })
            .collect())
    }

    async fn store_receipt(
        &self,
        keys: &KeyRing,
        receipt: PurgeReceipt,
    ) -> Result<SignedReceipt, StoreError> {
        use ed25519_dalek::Signer;
        let signer = keys.receipt_signer()?;
        let receipt_json =
            serde_json::to_string(&receipt).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let signature = signer.sign(receipt_json.as_bytes()).to_bytes().to_vec();
        let public_key = signer.verifying_key().to_bytes().to_vec();
        let row = sqlx::query(
            "INSERT INTO purge_receipts (run_at, receipt, signature, public_key) VALUES ($1,$2,$3,$4) RETURNING id",
        )
        .bind(receipt.run_at)
        .bind(&receipt_json)
        .bind(&signature)
        .bind(&public_key)
        .fetch_one(self.pool())
        .await?;
        Ok(SignedReceipt {
            id: row.try_get(0)?,
            receipt,
            receipt_json,
            signature: hex::encode(signature),
            public_key: hex::encode(public_key),
        })
    }

    /// Purge receipts, newest first.
    pub async fn list_receipts(&self, limit: i64) -> Result<Vec<SignedReceipt>, StoreError> {
        let rows = sqlx::query("SELECT id, receipt, signature, public_key FROM purge_receipts ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let receipt_json: String = r.try_get("receipt")?;
                Ok(SignedReceipt {
                    id: r.try_get("id")?,
                    receipt: serde_json::from_str(&receipt_json)
                        .map_err(|e| StoreError::Crypto(e.to_string()))?,
                    receipt_json,
                    signature: hex::encode(r.try_get::<Vec<u8>, _>("signature")?),
                    public_key: hex::encode(r.try_get::<Vec<u8>, _>("public_key")?),
                })
            })
            .collect()
    }
}
