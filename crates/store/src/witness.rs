//! Audit checkpoints witnessed for partner agencies: the newest checkpoint each partner
//! sent under an agreement, one per agreement and day. Whether a checkpoint may be stored
//! (key pinned, signature, no rollback or fork) is decided by the caller before
//! [`Store::put_witnessed_checkpoint`]; this module only keeps what was decided.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// One witnessed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    pub agreement_id: String,
    pub partner_agency: String,
    /// The partner's audit public key (hex), pinned at first sight for the agreement.
    pub public_key: String,
    pub length: u64,
    pub head_hash: String,
    /// When the partner signed it (Unix ms).
    pub signed_at: i64,
    /// The signed statement, exactly as received.
    pub statement: String,
    /// When this instance witnessed it (Unix ms).
    pub witnessed_at: i64,
}

const DAY_MS: i64 = 86_400_000;

fn row(r: &AnyRow) -> Result<WitnessedCheckpoint, sqlx::Error> {
    let length: i64 = r.try_get("length")?;
    Ok(WitnessedCheckpoint {
        agreement_id: r.try_get("agreement_id")?,
        partner_agency: r.try_get("partner_agency")?,
        public_key: r.try_get("public_key")?,
        length: u64::try_from(length).unwrap_or_default(),
        head_hash: r.try_get("head_hash")?,
        signed_at: r.try_get("signed_at")?,
        statement: r.try_get("statement")?,
        witnessed_at: r.try_get("witnessed_at")?,
    })
}

impl Store {
    /// Keeps a witnessed checkpoint: it replaces the one witnessed earlier the same day
    /// under the agreement, and stays next to those of earlier days.
    pub async fn put_witnessed_checkpoint(
        &self,
        w: &WitnessedCheckpoint,
    ) -> Result<(), StoreError> {
        let length = i64::try_from(w.length)
            .map_err(|_| StoreError::Invalid("a checkpoint length beyond i64".into()))?;
        sqlx::query(
            "INSERT INTO witnessed_checkpoints (agreement_id, witnessed_day, partner_agency, public_key, length, head_hash, signed_at, statement, witnessed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (agreement_id, witnessed_day) DO UPDATE SET partner_agency = excluded.partner_agency, \
             public_key = excluded.public_key, length = excluded.length, head_hash = excluded.head_hash, \
             signed_at = excluded.signed_at, statement = excluded.statement, witnessed_at = excluded.witnessed_at",
        )
        .bind(&w.agreement_id)
        .bind(w.witnessed_at.div_euclid(DAY_MS))
        .bind(&w.partner_agency)
        .bind(&w.public_key)
        .bind(length)
        .bind(&w.head_hash)
        .bind(w.signed_at)
        .bind(&w.statement)
        .bind(w.witnessed_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest checkpoint witnessed under the agreement, if any.
    pub async fn latest_witnessed_checkpoint(
        &self,
        agreement_id: &str,
    ) -> Result<Option<WitnessedCheckpoint>, StoreError> {
        let r = sqlx::query(
            "SELECT agreement_id, partner_agency, public_key, length, head_hash, signed_at, statement, witnessed_at \
             FROM witnessed_checkpoints WHERE agreement_id = $1 ORDER BY witnessed_day DESC LIMIT 1",
        )
        .bind(agreement_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// Witnessed checkpoints (under one agreement, or all), newest first, at most `limit`.
    pub async fn witnessed_checkpoints(
        &self,
        agreement_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<WitnessedCheckpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT agreement_id, partner_agency, public_key, length, head_hash, signed_at, statement, witnessed_at \
             FROM witnessed_checkpoints WHERE ($1 = '' OR agreement_id = $1) \
             ORDER BY witnessed_at DESC, agreement_id LIMIT $2",
        )
        .bind(agreement_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }
}
