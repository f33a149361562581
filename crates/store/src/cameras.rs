//! Camera registry: placement, approval record (MCCA), status and API keys.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::keys::KeyRing;
use crate::{Store, StoreError, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    Fixed,
    Mobile,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    Active,
    Suspended,
    Decommissioned,
}

impl CameraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraKind::Fixed => "fixed",
            CameraKind::Mobile => "mobile",
            CameraKind::Trailer => "trailer",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "fixed" => Ok(CameraKind::Fixed),
            "mobile" => Ok(CameraKind::Mobile),
            "trailer" => Ok(CameraKind::Trailer),
            other => Err(StoreError::Invalid(format!(
                "camera type {other:?} is not one of fixed, mobile, trailer"
            ))),
        }
    }
}

impl CameraStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraStatus::Active => "active",
            CameraStatus::Suspended => "suspended",
            CameraStatus::Decommissioned => "decommissioned",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(CameraStatus::Active),
            "suspended" => Ok(CameraStatus::Suspended),
            "decommissioned" => Ok(CameraStatus::Decommissioned),
            other => Err(StoreError::Invalid(format!(
                "camera status {other:?} is not one of active, suspended, decommissioned"
            ))),
        }
    }
}

/// The approval record MCCA asks for before a camera may collect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Community consultation date, YYYY-MM-DD.
    pub consultation_date: Option<String>,
    pub permit_reference: Option<String>,
    pub approving_authority: Option<String>,
    /// Approval date, YYYY-MM-DD.
    pub approval_date: Option<String>,
}

impl Approval {
    /// Missing parts of the approval record, by field name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let blank = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").is_empty();
        if blank(&self.consultation_date) {
            out.push("consultation_date");
        }
        if blank(&self.permit_reference) {
            out.push("permit_reference");
        }
        if blank(&self.approving_authority) {
            out.push("approving_authority");
        }
        if blank(&self.approval_date) {
            out.push("approval_date");
        }
        out
    }

    /// What keeps the approval from being in force on `today` (UTC): a missing part, by
    /// field name, or a date still to come (a consultation or an approval recorded ahead of
    /// time has not happened), or an approval dated before its consultation. Empty when the
    /// camera is approved.
    pub fn not_in_force(&self, today: chrono::NaiveDate) -> Vec<String> {
        let mut out: Vec<String> = self.missing().into_iter().map(str::to_string).collect();
        let date = |v: &Option<String>| {
            v.as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        };
        let (consulted, approved) = (date(&self.consultation_date), date(&self.approval_date));
        for (name, d) in [
            ("consultation_date", consulted),
            ("approval_date", approved),
        ] {
            if let Some(d) = d
                && d > today
            {
                out.push(format!("{name} {d} (still to come)"));
            }
        }
        if let (Some(c), Some(a)) = (consulted, approved)
            && a < c
        {
            out.push(format!(
                "approval_date {a} (before the consultation on {c})"
            ));
        }
        out
    }

    /// [`Approval::not_in_force`] today.
    pub fn not_in_force_today(&self) -> Vec<String> {
        self.not_in_force(chrono::Utc::now().date_naive())
    }

    fn validate(&self) -> Result<(), StoreError> {
        for (name, v) in [
            ("consultation_date", &self.consultation_date),
            ("approval_date", &self.approval_date),
        ] {
            if let Some(d) = v
                && !d.trim().is_empty()
                && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
            {
                return Err(StoreError::Invalid(format!(
                    "{name} {d:?} is not a date in the form YYYY-MM-DD"
                )));
            }
        }
        Ok(())
    }
}

/// A camera to register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCamera {
    /// Stable identifier chosen by the agency, e.g. "main-st-nb".
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CameraKind,
    /// Where it is, in words (address, intersection, vehicle unit).
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Direction of view, e.g. "northbound".
    pub direction: String,
    /// Why it is placed there.
    pub justification: String,
    #[serde(default)]
    pub approval: Approval,
}

/// A registered camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CameraKind,
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub direction: String,
    pub justification: String,
    pub approval: Approval,
    pub status: CameraStatus,
    /// Whether the approval record is complete and in force (its dates have come).
    pub approved: bool,
    /// The stream the server watches for this camera, without credentials.
    pub stream: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why a camera may not send reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestRefusal {
    /// What keeps the approval from being in force ([`Approval::not_in_force`]).
    NotApproved(Vec<String>),
    Suspended,
    Decommissioned,
}

impl std::fmt::Display for IngestRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestRefusal::NotApproved(missing) => write!(
                f,
                "camera is not approved: its approval record lacks or has not reached {}; an administrator must complete it first",
                missing.join(", ")
            ),
            IngestRefusal::Suspended => write!(
                f,
                "camera is suspended; an administrator must reactivate it"
            ),
            IngestRefusal::Decommissioned => {
                write!(f, "camera is decommissioned and may not send reads")
            }
        }
    }
}

impl Camera {
    /// Whether this camera may send reads now.
    pub fn ingest_allowed(&self) -> Result<(), IngestRefusal> {
        match self.status {
            CameraStatus::Decommissioned => Err(IngestRefusal::Decommissioned),
            CameraStatus::Suspended => Err(IngestRefusal::Suspended),
            CameraStatus::Active => {
                let missing = self.approval.not_in_force_today();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(IngestRefusal::NotApproved(missing))
                }
            }
        }
    }
}

/// Fields to change on a camera; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraUpdate {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<CameraKind>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub direction: Option<String>,
    pub justification: Option<String>,
    pub approval: Option<Approval>,
    pub status: Option<CameraStatus>,
}

/// A stream address as the store keeps it: whole (sealed) and without credentials (shown).
#[derive(Clone, Copy)]
pub struct StreamAddressText<'a> {
    pub full: &'a str,
    pub shown: &'a str,
}

/// Binds a sealed stream address to its camera, so it cannot be moved to another.
fn stream_aad(camera_id: &str) -> Vec<u8> {
    format!("camera-stream:{camera_id}").into_bytes()
}

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn new_api_key() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    format!("cam_{}", hex::encode(raw))
}

const CAMERA_COLUMNS: &str = "id, name, kind, location, latitude, longitude, direction, justification, \
    consultation_date, permit_reference, approving_authority, approval_date, status, stream_shown, \
    created_at, updated_at";

fn camera_from_row(row: &sqlx::any::AnyRow) -> Result<Camera, StoreError> {
    let approval = Approval {
        consultation_date: row.try_get("consultation_date")?,
        permit_reference: row.try_get("permit_reference")?,
        approving_authority: row.try_get("approving_authority")?,
        approval_date: row.try_get("approval_date")?,
    };
    let approved = approval.not_in_force_today().is_empty();
    Ok(Camera {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: CameraKind::parse(&row.try_get::<String, _>("kind")?)?,
        location: row.try_get("location")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        direction: row.try_get("direction")?,
        justification: row.try_get("justification")?,
        approval,
        status: CameraStatus::parse(&row.try_get::<String, _>("status")?)?,
        approved,
        stream: row.try_get("stream_shown")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn check_text(name: &str, v: &str, max: usize) -> Result<(), StoreError> {
    if v.trim().is_empty() {
        return Err(StoreError::Invalid(format!(
            "camera {name} must not be empty"
        )));
    }
    if v.len() > max {
        return Err(StoreError::Invalid(format!(
            "camera {name} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn check_coords(lat: Option<f64>, lon: Option<f64>) -> Result<(), StoreError> {
    if let Some(lat) = lat
        && !(-90.0..=90.0).contains(&lat)
    {
        return Err(StoreError::Invalid(format!(
            "latitude {lat} is outside -90..90"
        )));
    }
    if let Some(lon) = lon
        && !(-180.0..=180.0).contains(&lon)
    {
        return Err(StoreError::Invalid(format!(
            "longitude {lon} is outside -180..180"
        )));
    }
    Ok(())
}

impl NewCamera {
    fn validate(&self) -> Result<(), StoreError> {
        check_text("id", &self.id, 64)?;
        if !self
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(StoreError::Invalid(format!(
                "camera id {:?} may use only letters, digits, '-', '_' and '.'",
                self.id
            )));
        }
        check_text("name", &self.name, 200)?;
        check_text("location", &self.location, 500)?;
        check_text("direction", &self.direction, 100)?;
        check_text("justification", &self.justification, 4000)?;
        check_coords(self.latitude, self.longitude)?;
        self.approval.validate()
    }
}

impl Store {
    /// Registers a camera (status active) and returns it with its API key, which is shown
    /// only now: the store keeps only its SHA-256 hash.
    pub async fn create_camera(&self, cam: &NewCamera) -> Result<(Camera, String), StoreError> {
        cam.validate()?;
        let key = new_api_key();
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO cameras (id, name, kind, location, latitude, longitude, direction, justification, \
             consultation_date, permit_reference, approving_authority, approval_date, status, api_key_hash, \
             created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
        )
        .bind(&cam.id)
        .bind(&cam.name)
        .bind(cam.kind.as_str())
        .bind(&cam.location)
        .bind(cam.latitude)
        .bind(cam.longitude)
        .bind(&cam.direction)
        .bind(&cam.justification)
        .bind(&cam.approval.consultation_date)
        .bind(&cam.approval.permit_reference)
        .bind(&cam.approval.approving_authority)
        .bind(&cam.approval.approval_date)
        .bind(CameraStatus::Active.as_str())
        .bind(hash_key(&key))
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await;
        match res {
            Ok(_) => {}
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    return Err(StoreError::Conflict(format!(
                        "a camera with id {:?} already exists",
                        cam.id
                    )));
                }
                return Err(e);
            }
        }
        let camera = self
            .get_camera(&cam.id)
            .await?
            .ok_or_else(|| StoreError::not_found("camera"))?;
        Ok((camera, key))
    }

    pub async fn get_camera(&self, id: &str) -> Result<Option<Camera>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(camera_from_row).transpose()
    }

    pub async fn list_cameras(&self) -> Result<Vec<Camera>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(camera_from_row).collect()
    }

    /// Each camera's location, by camera id.
    pub async fn camera_locations(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT id, location FROM cameras")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("location")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The camera that owns `api_key`, if any.
    pub async fn camera_by_api_key(&self, api_key: &str) -> Result<Option<Camera>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMERA_COLUMNS} FROM cameras WHERE api_key_hash = $1"
        )))
        .bind(hash_key(api_key))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(camera_from_row).transpose()
    }

    /// Applies `update`. A decommissioned camera stays decommissioned.
    pub async fn update_camera(
        &self,
        id: &str,
        update: &CameraUpdate,
    ) -> Result<Camera, StoreError> {
        let current = self
            .get_camera(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("camera {id:?}")))?;
        if current.status == CameraStatus::Decommissioned {
            return Err(StoreError::Conflict(format!(
                "camera {id:?} is decommissioned and cannot be changed"
            )));
        }
        let mut next = NewCamera {
            id: current.id.clone(),
            name: update.name.clone().unwrap_or(current.name),
            kind: update.kind.unwrap_or(current.kind),
            location: update.location.clone().unwrap_or(current.location),
            latitude: update.latitude.or(current.latitude),
            longitude: update.longitude.or(current.longitude),
            direction: update.direction.clone().unwrap_or(current.direction),
            justification: update
                .justification
                .clone()
                .unwrap_or(current.justification),
            approval: update.approval.clone().unwrap_or(current.approval),
        };
        next.id = current.id;
        next.validate()?;
        let status = update.status.unwrap_or(current.status);
        sqlx::query(
            "UPDATE cameras SET name=$1, kind=$2, location=$3, latitude=$4, longitude=$5, direction=$6, \
             justification=$7, consultation_date=$8, permit_reference=$9, approving_authority=$10, \
             approval_date=$11, status=$12, updated_at=$13 WHERE id=$14",
        )
        .bind(&next.name)
        .bind(next.kind.as_str())
        .bind(&next.location)
        .bind(next.latitude)
        .bind(next.longitude)
        .bind(&next.direction)
        .bind(&next.justification)
        .bind(&next.approval.consultation_date)
        .bind(&next.approval.permit_reference)
        .bind(&next.approval.approving_authority)
        .bind(&next.approval.approval_date)
        .bind(status.as_str())
        .bind(now_ms())
        .bind(&next.id)
        .execute(self.pool())
        .await?;
        self.get_camera(id)
            .await?
            .ok_or_else(|| StoreError::not_found("camera"))
    }

    /// Sets (or, with `None`, removes) the stream the server watches for camera `id`: the
    /// full address sealed, the address without credentials in clear. Returns the camera.
    pub async fn set_camera_stream(
        &self,
        keys: &KeyRing,
        id: &str,
        address: Option<StreamAddressText<'_>>,
    ) -> Result<Camera, StoreError> {
        let (sealed, shown) = match address {
            Some(a) => (
                Some(keys.seal_secret(&stream_aad(id), a.full.as_bytes())?),
                Some(a.shown),
            ),
            None => (None, None),
        };
        let res = sqlx::query(
            "UPDATE cameras SET stream_sealed=$1, stream_shown=$2, updated_at=$3 \
             WHERE id=$4 AND status <> 'decommissioned'",
        )
        .bind(sealed)
        .bind(shown)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::not_found(format!(
                "camera {id:?} (or it is decommissioned)"
            )));
        }
        self.get_camera(id)
            .await?
            .ok_or_else(|| StoreError::not_found("camera"))
    }

    /// Every camera that has a stream, with its full address unsealed (for the watcher
    /// only; never show or log it).
    pub async fn camera_streams(
        &self,
        keys: &KeyRing,
    ) -> Result<Vec<(Camera, String)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMERA_COLUMNS}, stream_sealed FROM cameras \
             WHERE stream_sealed IS NOT NULL ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let camera = camera_from_row(row)?;
                let sealed: Vec<u8> = row.try_get("stream_sealed")?;
                let full = keys.open_secret(&stream_aad(&camera.id), &sealed)?;
                let full = String::from_utf8(full)
                    .map_err(|_| StoreError::Crypto("a stream address is not text".into()))?;
                Ok((camera, full))
            })
            .collect()
    }

    /// Issues a new API key for the camera; the old one stops working at once.
    pub async fn rotate_camera_key(&self, id: &str) -> Result<String, StoreError> {
        let key = new_api_key();
        let res = sqlx::query("UPDATE cameras SET api_key_hash=$1, updated_at=$2 WHERE id=$3")
            .bind(hash_key(&key))
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("camera {id:?}")));
        }
        Ok(key)
    }
}
