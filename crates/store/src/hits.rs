//! Hits and their human verification: first a disposition (is the read right?), then the
//! action taken. A hit is "unverified" until a person records a disposition.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::keys::{KeyRing, WindowKeys};
use crate::reads::hit_aad;
use crate::{Store, StoreError, Tx, now_ms};

/// A match found by the matcher, to be stored with its read.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHit {
    pub list_id: Option<i64>,
    pub entry_id: Option<i64>,
    pub user_plate_id: Option<i64>,
    /// NCIC list code (A, F, W, V, P, …) or the list's own hit type.
    pub hit_type: String,
    pub priority: i64,
    /// How it matched: "exact", "lookalike", "indel", with detail.
    pub match_kind: String,
    /// The list's retention for its hits, seconds (policy default if `None`).
    pub retention_secs: Option<i64>,
    pub details: HitDetails,
}

/// The sensitive part of a hit (hot-list data), sealed at rest with the read's window key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HitDetails {
    pub listed_plate: String,
    pub list_name: String,
    pub state: Option<String>,
    pub reason: Option<String>,
    /// Source reference, e.g. the NCIC number or a case number.
    pub reference: Option<String>,
}

/// The person's verdict on a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    CorrectRead,
    WrongState,
    Misread,
    Dismissed,
}

/// What was done after a verified hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HitAction {
    None,
    Stop,
    Arrest,
    Other,
}

macro_rules! str_enum {
    ($t:ty, $what:literal, $($v:path => $s:literal),+) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($v => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($s => Ok($v),)+
                    other => Err(StoreError::Invalid(format!(
                        concat!($what, " {:?} is not one of {}"), other, [$($s),+].join(", ")
                    ))),
                }
            }
        }
    };
}

str_enum!(Disposition, "disposition", Disposition::CorrectRead => "correct_read", Disposition::WrongState => "wrong_state",
    Disposition::Misread => "misread", Disposition::Dismissed => "dismissed");
str_enum!(HitAction, "action", HitAction::None => "none", HitAction::Stop => "stop", HitAction::Arrest => "arrest",
    HitAction::Other => "other");

/// Who recorded something, and when.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recorded<T> {
    pub value: T,
    pub by_user_id: i64,
    pub by_username: String,
    pub at: i64,
    pub note: Option<String>,
}

/// A stored hit, opened.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub id: i64,
    pub read_id: i64,
    pub camera_id: String,
    pub list_id: Option<i64>,
    pub entry_id: Option<i64>,
    pub user_plate_id: Option<i64>,
    pub hit_type: String,
    pub priority: i64,
    pub match_kind: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub details: HitDetails,
    /// "unverified", "verified" (disposition recorded) or "closed" (action recorded too).
    pub status: String,
    #[schema(value_type = Option<Object>)]
    pub disposition: Option<Recorded<Disposition>>,
    #[schema(value_type = Option<Object>)]
    pub action: Option<Recorded<HitAction>>,
}

pub(crate) async fn insert_hit(
    tx: &mut Tx,
    keys: &WindowKeys,
    read_id: i64,
    camera_id: &str,
    expires_at: i64,
    created_at: i64,
    h: &NewHit,
) -> Result<i64, StoreError> {
    let plain = serde_json::to_vec(&h.details).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let sealed = keys.seal(&hit_aad(read_id), &plain)?;
    let row = sqlx::query(
        "INSERT INTO hits (read_id, camera_id, list_id, entry_id, user_plate_id, hit_type, priority, match_kind, \
         created_at, expires_at, key_window, sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
    )
    .bind(read_id)
    .bind(camera_id)
    .bind(h.list_id)
    .bind(h.entry_id)
    .bind(h.user_plate_id)
    .bind(&h.hit_type)
    .bind(h.priority)
    .bind(&h.match_kind)
    .bind(created_at)
    .bind(expires_at)
    .bind(keys.window)
    .bind(sealed)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

const HIT_COLUMNS: &str = "id, read_id, camera_id, list_id, entry_id, user_plate_id, hit_type, priority, match_kind, \
    created_at, expires_at, key_window, sealed, disposition, disposition_by, disposition_by_name, disposition_at, \
    disposition_note, action, action_by, action_by_name, action_at, action_note";

fn open_hit(keys: &KeyRing, row: &sqlx::any::AnyRow) -> Result<Hit, StoreError> {
    let id: i64 = row.try_get("id")?;
    let read_id: i64 = row.try_get("read_id")?;
    let window: i64 = row.try_get("key_window")?;
    let sealed: Vec<u8> = row.try_get("sealed")?;
    let wk = keys.get(window)?.ok_or_else(|| {
        StoreError::Crypto(format!(
            "hit {id}: the key of window {window} has been destroyed"
        ))
    })?;
    let details: HitDetails = serde_json::from_slice(&wk.open(&hit_aad(read_id), &sealed)?)
        .map_err(|e| StoreError::Crypto(format!("hit {id}: {e}")))?;
    let disposition = match row.try_get::<Option<String>, _>("disposition")? {
        Some(d) => Some(Recorded {
            value: Disposition::parse(&d)?,
            by_user_id: row
                .try_get::<Option<i64>, _>("disposition_by")?
                .unwrap_or_default(),
            by_username: row
                .try_get::<Option<String>, _>("disposition_by_name")?
                .unwrap_or_default(),
            at: row
                .try_get::<Option<i64>, _>("disposition_at")?
                .unwrap_or_default(),
            note: row.try_get("disposition_note")?,
        }),
        None => None,
    };
    let action = match row.try_get::<Option<String>, _>("action")? {
        Some(a) => Some(Recorded {
            value: HitAction::parse(&a)?,
            by_user_id: row
                .try_get::<Option<i64>, _>("action_by")?
                .unwrap_or_default(),
            by_username: row
                .try_get::<Option<String>, _>("action_by_name")?
                .unwrap_or_default(),
            at: row
                .try_get::<Option<i64>, _>("action_at")?
                .unwrap_or_default(),
            note: row.try_get("action_note")?,
        }),
        None => None,
    };
    let status = match (&disposition, &action) {
        (None, _) => "unverified",
        (Some(_), None) => "verified",
        (Some(_), Some(_)) => "closed",
    };
    Ok(Hit {
        id,
        read_id,
        camera_id: row.try_get("camera_id")?,
        list_id: row.try_get("list_id")?,
        entry_id: row.try_get("entry_id")?,
        user_plate_id: row.try_get("user_plate_id")?,
        hit_type: row.try_get("hit_type")?,
        priority: row.try_get("priority")?,
        match_kind: row.try_get("match_kind")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        details,
        status: status.to_string(),
        disposition,
        action,
    })
}

/// Counts a disposition or action for the usage metrics, on the capture day of the hit's
/// read (so that a period's verified hits are among its hits).
async fn count_verification(
    tx: &mut Tx,
    hit_id: i64,
    metric: &'static str,
    label: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT r.captured_at FROM hits h JOIN reads r ON r.id = h.read_id WHERE h.id = $1",
    )
    .bind(hit_id)
    .fetch_one(&mut **tx)
    .await?;
    let mut tally = crate::metrics::Tally::default();
    tally.add(row.try_get(0)?, metric, label, 1);
    tally.write(tx).await
}

impl Store {
    pub async fn get_hit(&self, keys: &KeyRing, id: i64) -> Result<Option<Hit>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HIT_COLUMNS} FROM hits WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|r| open_hit(keys, r)).transpose()
    }

    /// The hits of these reads, by read then hit id.
    pub async fn hits_for_reads(
        &self,
        keys: &KeyRing,
        read_ids: &[i64],
    ) -> Result<Vec<Hit>, StoreError> {
        let mut out = Vec::new();
        for chunk in read_ids.chunks(200) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {HIT_COLUMNS} FROM hits WHERE read_id IN ({}) ORDER BY read_id, id",
                list.join(",")
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push(open_hit(keys, &row)?);
            }
        }
        Ok(out)
    }

    /// Hits created in `[from, to)`, newest first; `unverified_only` keeps those without a
    /// disposition.
    pub async fn list_hits(
        &self,
        keys: &KeyRing,
        from: i64,
        to: i64,
        unverified_only: bool,
        limit: i64,
    ) -> Result<Vec<Hit>, StoreError> {
        let filter = if unverified_only {
            " AND disposition IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HIT_COLUMNS} FROM hits WHERE created_at >= $1 AND created_at < $2{filter} \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        )))
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| open_hit(keys, r)).collect()
    }

    /// Records the person's verdict. A disposition is recorded once; a second attempt is a
    /// conflict (the first verdict stands, for the metrics).
    pub async fn record_disposition(
        &self,
        hit_id: i64,
        disposition: Disposition,
        user_id: i64,
        username: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE hits SET disposition=$1, disposition_by=$2, disposition_by_name=$3, disposition_at=$4, \
             disposition_note=$5 WHERE id=$6 AND disposition IS NULL",
        )
        .bind(disposition.as_str())
        .bind(user_id)
        .bind(username)
        .bind(now_ms())
        .bind(note)
        .bind(hit_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            count_verification(
                &mut tx,
                hit_id,
                crate::metrics::metric::DISPOSITIONS,
                disposition.as_str(),
            )
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.rollback().await?;
        self.hit_exists(hit_id).await?;
        Err(StoreError::Conflict(format!(
            "hit {hit_id} already has a disposition"
        )))
    }

    /// Records the action taken; needs a disposition first, and is recorded once.
    pub async fn record_action(
        &self,
        hit_id: i64,
        action: HitAction,
        user_id: i64,
        username: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE hits SET action=$1, action_by=$2, action_by_name=$3, action_at=$4, action_note=$5 \
             WHERE id=$6 AND disposition IS NOT NULL AND action IS NULL",
        )
        .bind(action.as_str())
        .bind(user_id)
        .bind(username)
        .bind(now_ms())
        .bind(note)
        .bind(hit_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            count_verification(
                &mut tx,
                hit_id,
                crate::metrics::metric::ACTIONS,
                action.as_str(),
            )
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.rollback().await?;
        self.hit_exists(hit_id).await?;
        let row = sqlx::query("SELECT disposition FROM hits WHERE id = $1")
            .bind(hit_id)
            .fetch_one(self.pool())
            .await?;
        if row.try_get::<Option<String>, _>(0)?.is_none() {
            Err(StoreError::Conflict(format!(
                "hit {hit_id} is unverified: record a disposition (is the read right?) before the action"
            )))
        } else {
            Err(StoreError::Conflict(format!(
                "hit {hit_id} already has an action recorded"
            )))
        }
    }

    async fn hit_exists(&self, hit_id: i64) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM hits WHERE id = $1")
            .bind(hit_id)
            .fetch_one(self.pool())
            .await?;
        if row.try_get::<i64, _>(0)? == 0 {
            return Err(StoreError::not_found(format!("hit {hit_id}")));
        }
        Ok(())
    }
}
