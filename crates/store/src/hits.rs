//! Hits and their human verification: first a disposition (is the read right?), then the
//! action taken. A hit is "unverified" until a person records a disposition.

use candor_audit::AuditEntry;
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
    /// The listed vehicle in the source's words (year, make, model, style, colour), which
    /// the officer compares with the car before acting; `None` where the list gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<String>,
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

impl Disposition {
    /// Whether a verdict lets the officer act on the hit at all: a correct read does, and a
    /// wrong-state read does once it is confirmed against the hot-list entry.
    pub fn may_lead_to_action(self) -> bool {
        matches!(self, Disposition::CorrectRead | Disposition::WrongState)
    }

    /// The one rule joining a verdict and an action. Recording that nothing was done is
    /// always allowed; a stop, an arrest or another action needs a correct read, or a
    /// wrong-state read confirmed against the hot-list entry.
    pub fn check_action(
        self,
        hit: i64,
        action: HitAction,
        confirmed_against_entry: bool,
    ) -> Result<(), VerificationRefused> {
        match (self, action) {
            (_, HitAction::None) | (Disposition::CorrectRead, _) => Ok(()),
            (Disposition::WrongState, _) if confirmed_against_entry => Ok(()),
            (Disposition::WrongState, _) => Err(VerificationRefused::WrongStateNotConfirmed {
                hit,
                action: action.as_str(),
            }),
            (Disposition::Misread | Disposition::Dismissed, _) => {
                Err(VerificationRefused::VerdictForbidsAction {
                    hit,
                    verdict: self.as_str(),
                    action: action.as_str(),
                })
            }
        }
    }
}

/// Why an action or a correction of a hit's record is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationRefused {
    #[error(
        "hit {hit} was verified as {verdict}: only a correct read, or a wrong-state read confirmed against the hot-list entry, may lead to {action}; record \"none\", or correct the verdict first with an amendment and a note"
    )]
    VerdictForbidsAction {
        hit: i64,
        verdict: &'static str,
        action: &'static str,
    },
    #[error(
        "hit {hit} was verified as a wrong-state read: check the read against the hot-list entry (vehicle, state, details) and say so (confirmed_against_entry) before recording {action}"
    )]
    WrongStateNotConfirmed { hit: i64, action: &'static str },
    #[error("hit {hit} has no {field} recorded yet, so there is nothing to amend: record it")]
    NothingToAmend { hit: i64, field: &'static str },
    #[error("hit {hit}'s {field} is already {value}: an amendment must change it")]
    AmendmentChangesNothing {
        hit: i64,
        field: &'static str,
        value: &'static str,
    },
    #[error("an amendment needs a note saying why the record is corrected")]
    AmendmentWithoutNote,
    #[error(
        "hit {hit} has the action {action} recorded, which the verdict {verdict} would contradict: amend the action first (to \"none\" if nothing should have been done)"
    )]
    VerdictContradictsAction {
        hit: i64,
        verdict: &'static str,
        action: &'static str,
    },
}

impl VerificationRefused {
    /// The machine-readable code of the refusal, for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            VerificationRefused::VerdictForbidsAction { .. } => "verdict_forbids_action",
            VerificationRefused::WrongStateNotConfirmed { .. } => "wrong_state_not_confirmed",
            VerificationRefused::NothingToAmend { .. } => "nothing_to_amend",
            VerificationRefused::AmendmentChangesNothing { .. } => "amendment_changes_nothing",
            VerificationRefused::AmendmentWithoutNote => "amendment_needs_note",
            VerificationRefused::VerdictContradictsAction { .. } => "verdict_contradicts_action",
        }
    }
}

/// A correction of a hit's disposition or action. The first record is never edited: each
/// correction is recorded beside it, with who, when, what it was and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitChange {
    Disposition(Disposition),
    Action(HitAction),
}

impl HitChange {
    fn field(self) -> &'static str {
        match self {
            HitChange::Disposition(_) => "disposition",
            HitChange::Action(_) => "action",
        }
    }
    fn value(self) -> &'static str {
        match self {
            HitChange::Disposition(d) => d.as_str(),
            HitChange::Action(a) => a.as_str(),
        }
    }
}

/// One recorded correction of a hit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Amendment {
    pub id: i64,
    /// "disposition" or "action".
    pub field: String,
    /// The value before this correction.
    pub previous: String,
    /// The value after it.
    pub amended_to: String,
    pub by_user_id: i64,
    pub by_username: String,
    pub at: i64,
    /// Why the record was corrected.
    pub note: String,
    /// For an action after a wrong-state read: it was confirmed against the hot-list entry.
    pub confirmed_against_entry: bool,
}

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
    /// The action follows a wrong-state read that was confirmed against the hot-list entry.
    pub confirmed_against_entry: bool,
    /// Corrections of the disposition or action, oldest first; `disposition` and `action`
    /// above show the values after them.
    pub amendments: Vec<Amendment>,
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
    disposition_note, action, action_by, action_by_name, action_at, action_note, action_confirmed";

const AMENDMENT_COLUMNS: &str =
    "id, hit_id, field, previous, amended_to, by_user_id, by_username, at, note, confirmed";

fn amendment_from_row(row: &sqlx::any::AnyRow) -> Result<(i64, Amendment), StoreError> {
    Ok((
        row.try_get("hit_id")?,
        Amendment {
            id: row.try_get("id")?,
            field: row.try_get("field")?,
            previous: row.try_get("previous")?,
            amended_to: row.try_get("amended_to")?,
            by_user_id: row.try_get("by_user_id")?,
            by_username: row.try_get("by_username")?,
            at: row.try_get("at")?,
            note: row.try_get("note")?,
            confirmed_against_entry: row.try_get::<i64, _>("confirmed")? != 0,
        },
    ))
}

/// The amendments of these hits, oldest first, by hit id.
async fn amendments_of(
    pool: &sqlx::AnyPool,
    hit_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<Amendment>>, StoreError> {
    let mut out: std::collections::HashMap<i64, Vec<Amendment>> = Default::default();
    for chunk in hit_ids.chunks(200) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AMENDMENT_COLUMNS} FROM hit_amendments WHERE hit_id IN ({}) ORDER BY id",
            list.join(",")
        )));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(pool).await? {
            let (hit_id, a) = amendment_from_row(&row)?;
            out.entry(hit_id).or_default().push(a);
        }
    }
    Ok(out)
}

/// Opens hit rows with their amendments.
async fn open_hits(
    pool: &sqlx::AnyPool,
    keys: &KeyRing,
    rows: &[sqlx::any::AnyRow],
) -> Result<Vec<Hit>, StoreError> {
    let ids = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut amendments = amendments_of(pool, &ids).await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            open_hit(keys, r, amendments.remove(&id).unwrap_or_default())
        })
        .collect()
}

fn open_hit(
    keys: &KeyRing,
    row: &sqlx::any::AnyRow,
    amendments: Vec<Amendment>,
) -> Result<Hit, StoreError> {
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
    let mut disposition = disposition;
    let mut action = action;
    let mut confirmed_against_entry = row.try_get::<i64, _>("action_confirmed")? != 0;
    for a in &amendments {
        let recorded = |a: &Amendment| (a.by_user_id, a.by_username.clone(), a.at, a.note.clone());
        let (by_user_id, by_username, at, note) = recorded(a);
        match a.field.as_str() {
            "disposition" => {
                disposition = Some(Recorded {
                    value: Disposition::parse(&a.amended_to)?,
                    by_user_id,
                    by_username,
                    at,
                    note: Some(note),
                })
            }
            _ => {
                confirmed_against_entry = a.confirmed_against_entry;
                action = Some(Recorded {
                    value: HitAction::parse(&a.amended_to)?,
                    by_user_id,
                    by_username,
                    at,
                    note: Some(note),
                })
            }
        }
    }
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
        confirmed_against_entry,
        amendments,
    })
}

/// A hit's verdict and action as they stand now (after amendments), read inside `tx`.
struct Standing {
    disposition: Option<Disposition>,
    action: Option<HitAction>,
    confirmed: bool,
}

async fn standing(tx: &mut Tx, hit_id: i64) -> Result<Standing, StoreError> {
    let row = sqlx::query("SELECT disposition, action, action_confirmed FROM hits WHERE id = $1")
        .bind(hit_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("hit {hit_id}")))?;
    let mut st = Standing {
        disposition: row
            .try_get::<Option<String>, _>(0)?
            .map(|d| Disposition::parse(&d))
            .transpose()?,
        action: row
            .try_get::<Option<String>, _>(1)?
            .map(|a| HitAction::parse(&a))
            .transpose()?,
        confirmed: row.try_get::<i64, _>(2)? != 0,
    };
    let rows = sqlx::query(
        "SELECT field, amended_to, confirmed FROM hit_amendments WHERE hit_id = $1 ORDER BY id",
    )
    .bind(hit_id)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let to: String = r.try_get(1)?;
        if r.try_get::<String, _>(0)? == "disposition" {
            st.disposition = Some(Disposition::parse(&to)?);
        } else {
            st.action = Some(HitAction::parse(&to)?);
            st.confirmed = r.try_get::<i64, _>(2)? != 0;
        }
    }
    Ok(st)
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

/// Moves one count from `from` to `to` (a corrected verdict or action), on the capture day of
/// the hit's read, so that reports and the transparency page count what stands now.
async fn move_count(
    tx: &mut Tx,
    hit_id: i64,
    metric: &'static str,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT r.captured_at FROM hits h JOIN reads r ON r.id = h.read_id WHERE h.id = $1",
    )
    .bind(hit_id)
    .fetch_one(&mut **tx)
    .await?;
    let day: i64 = row.try_get(0)?;
    let mut tally = crate::metrics::Tally::default();
    tally.add(day, metric, from, -1);
    tally.add(day, metric, to, 1);
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
        Ok(open_hits(self.pool(), keys, row.as_slice()).await?.pop())
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
            let rows = q.fetch_all(self.pool()).await?;
            out.extend(open_hits(self.pool(), keys, &rows).await?);
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
        open_hits(self.pool(), keys, &rows).await
    }

    /// Records the person's verdict, and `audit` (its record in the audit log) in the same
    /// transaction: both or neither. A disposition is recorded once; a second attempt is a
    /// conflict (the first verdict stands, for the metrics).
    pub async fn record_disposition(
        &self,
        hit_id: i64,
        disposition: Disposition,
        user_id: i64,
        username: &str,
        note: Option<&str>,
        audit: AuditEntry,
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
            self.append_audit_tx(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.rollback().await?;
        self.hit_exists(hit_id).await?;
        Err(StoreError::Conflict(format!(
            "hit {hit_id} already has a disposition"
        )))
    }

    /// Records the action taken; needs a disposition first that allows it
    /// ([`Disposition::check_action`]), and is recorded once (then corrected only by
    /// [`Store::amend_hit`]). `audit` is appended in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_action(
        &self,
        hit_id: i64,
        action: HitAction,
        confirmed_against_entry: bool,
        user_id: i64,
        username: &str,
        note: Option<&str>,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let st = standing(&mut tx, hit_id).await?;
        let Some(disposition) = st.disposition else {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "hit {hit_id} is unverified: record a disposition (is the read right?) before the action"
            )));
        };
        if st.action.is_some() {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "hit {hit_id} already has an action recorded (correct it with an amendment and a note)"
            )));
        }
        if let Err(refused) = disposition.check_action(hit_id, action, confirmed_against_entry) {
            tx.rollback().await?;
            return Err(refused.into());
        }
        let res = sqlx::query(
            "UPDATE hits SET action=$1, action_by=$2, action_by_name=$3, action_at=$4, action_note=$5, \
             action_confirmed=$6 WHERE id=$7 AND disposition IS NOT NULL AND action IS NULL",
        )
        .bind(action.as_str())
        .bind(user_id)
        .bind(username)
        .bind(now_ms())
        .bind(note)
        .bind(i64::from(confirmed_against_entry))
        .bind(hit_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "hit {hit_id} already has an action recorded (correct it with an amendment and a note)"
            )));
        }
        count_verification(
            &mut tx,
            hit_id,
            crate::metrics::metric::ACTIONS,
            action.as_str(),
        )
        .await?;
        self.append_audit_tx(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Corrects a hit's disposition or action: a new amendment beside the first record,
    /// which stays as it was. Needs a note; the new value must differ from the current one
    /// and keep the verdict and the action consistent ([`Disposition::check_action`]). The
    /// usage counts move from the old value to the new one. `audit` makes the amendment's
    /// audit record from its id, appended in the same transaction. Returns the amendment's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn amend_hit(
        &self,
        hit_id: i64,
        change: HitChange,
        confirmed_against_entry: bool,
        user_id: i64,
        username: &str,
        note: &str,
        audit: impl FnOnce(i64) -> AuditEntry,
    ) -> Result<i64, StoreError> {
        let note = note.trim();
        if note.is_empty() {
            return Err(VerificationRefused::AmendmentWithoutNote.into());
        }
        let mut tx = self.begin().await?;
        let st = standing(&mut tx, hit_id).await?;
        let checked = match change {
            HitChange::Disposition(d) => match st.disposition {
                None => Err(VerificationRefused::NothingToAmend {
                    hit: hit_id,
                    field: "disposition",
                }),
                Some(old) if old == d => Err(VerificationRefused::AmendmentChangesNothing {
                    hit: hit_id,
                    field: "disposition",
                    value: d.as_str(),
                }),
                Some(old) => match st.action {
                    Some(a) if d.check_action(hit_id, a, st.confirmed).is_err() => {
                        Err(VerificationRefused::VerdictContradictsAction {
                            hit: hit_id,
                            verdict: d.as_str(),
                            action: a.as_str(),
                        })
                    }
                    _ => Ok((old.as_str(), crate::metrics::metric::DISPOSITIONS)),
                },
            },
            HitChange::Action(a) => match (st.action, st.disposition) {
                (None, _) | (_, None) => Err(VerificationRefused::NothingToAmend {
                    hit: hit_id,
                    field: "action",
                }),
                (Some(old), _) if old == a && st.confirmed == confirmed_against_entry => {
                    Err(VerificationRefused::AmendmentChangesNothing {
                        hit: hit_id,
                        field: "action",
                        value: a.as_str(),
                    })
                }
                (Some(old), Some(d)) => d
                    .check_action(hit_id, a, confirmed_against_entry)
                    .map(|()| (old.as_str(), crate::metrics::metric::ACTIONS)),
            },
        };
        let (previous, metric) = match checked {
            Ok(v) => v,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused.into());
            }
        };
        let row = sqlx::query(
            "INSERT INTO hit_amendments (hit_id, field, previous, amended_to, by_user_id, by_username, at, note, confirmed) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id",
        )
        .bind(hit_id)
        .bind(change.field())
        .bind(previous)
        .bind(change.value())
        .bind(user_id)
        .bind(username)
        .bind(now_ms())
        .bind(note)
        .bind(i64::from(confirmed_against_entry))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        if previous != change.value() {
            move_count(&mut tx, hit_id, metric, previous, change.value()).await?;
        }
        self.append_audit_tx(&mut tx, audit(id)).await?;
        tx.commit().await?;
        Ok(id)
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
