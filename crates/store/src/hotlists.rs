//! Hot lists, their entries, and user hot plates with supervisor approval.
//!
//! A list is replaced as a whole, in one transaction: an import either stores every entry
//! of the file or, if any line is bad, nothing (the old list stays as it was).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Store, StoreError, now_ms};

/// NCIC list codes (REFERENCE.md) and what they mean.
pub const NCIC_CODES: &[(&str, &str)] = &[
    ("A", "AMBER alert"),
    ("F", "felony vehicle"),
    ("W", "wanted person"),
    ("V", "stolen vehicle"),
    ("P", "stolen plate"),
    ("M", "missing person"),
    ("C", "supervised release"),
    ("H", "protection order"),
    ("K", "protective interest"),
    ("L", "violent person"),
    ("R", "stolen Canadian vehicle"),
    ("T", "gang/terrorist"),
    ("X", "sex offender"),
];

/// Hit type of user-entered hot plates.
pub const USER_HIT_TYPE: &str = "U";

pub fn is_known_hit_type(code: &str) -> bool {
    code == USER_HIT_TYPE || NCIC_CODES.iter().any(|(c, _)| *c == code)
}

/// A hit type in words ("wanted person"); an unknown code as it is.
pub fn hit_type_words(code: &str) -> &str {
    if code == USER_HIT_TYPE {
        return "user-entered hot plate";
    }
    NCIC_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, words)| words)
}

/// Hit types from the most urgent for an officer (a person at risk, or a danger) to the
/// least (property); alerts are listed in this order.
const URGENCY: &[&str] = &[
    "A",
    "M",
    "W",
    "L",
    "T",
    "F",
    "H",
    "K",
    "X",
    "C",
    "V",
    "R",
    "P",
    USER_HIT_TYPE,
];

/// Where a hit type stands in [`URGENCY`] (0 first); unknown codes come last.
pub fn hit_type_urgency(code: &str) -> usize {
    URGENCY
        .iter()
        .position(|c| *c == code)
        .unwrap_or(URGENCY.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    Ncic,
    State,
    Amber,
    User,
    /// Received from a partner agency under a sharing agreement (see
    /// [`Store::import_partner_hot_list`]).
    Partner,
}

impl ListSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ListSource::Ncic => "ncic",
            ListSource::State => "state",
            ListSource::Amber => "amber",
            ListSource::User => "user",
            ListSource::Partner => "partner",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "ncic" => Ok(ListSource::Ncic),
            "state" => Ok(ListSource::State),
            "amber" => Ok(ListSource::Amber),
            "user" => Ok(ListSource::User),
            "partner" => Ok(ListSource::Partner),
            other => Err(StoreError::Invalid(format!(
                "list source {other:?} is not one of ncic, state, amber, user, partner"
            ))),
        }
    }
}

/// How a list is described when it is created or re-imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HotListSpec {
    pub name: String,
    pub source: ListSource,
    /// Hit type for entries that carry none (CSV): an NCIC list code, or "U".
    pub hit_type: String,
    /// 1 (highest) to 9.
    pub priority: i64,
    /// How long hits on this list are kept, seconds; the policy's hit retention if absent.
    pub hit_retention_secs: Option<i64>,
}

impl HotListSpec {
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(StoreError::Invalid(
                "hot list name must be 1–200 characters".into(),
            ));
        }
        if !is_known_hit_type(&self.hit_type) {
            return Err(StoreError::Invalid(format!(
                "hit type {:?} is not an NCIC list code ({}) or U (user)",
                self.hit_type,
                NCIC_CODES
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !(1..=9).contains(&self.priority) {
            return Err(StoreError::Invalid(format!(
                "priority {} is outside 1–9",
                self.priority
            )));
        }
        if let Some(r) = self.hit_retention_secs
            && r <= 0
        {
            return Err(StoreError::Invalid(
                "hit_retention_secs must be positive".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HotList {
    pub id: i64,
    pub name: String,
    pub source: ListSource,
    /// The list's own hit type: that of CSV entries, which carry none.
    pub hit_type: String,
    /// The hit types its entries carry, sorted (an NCIC extract mixes several).
    pub hit_types: Vec<String>,
    pub priority: i64,
    pub hit_retention_secs: Option<i64>,
    /// Bumped by every re-import.
    pub version: i64,
    pub entry_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One plate on a list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HotListEntry {
    /// Normalised plate.
    pub plate: String,
    pub state: Option<String>,
    pub hit_type: String,
    /// Source reference, e.g. the NCIC number.
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub effective_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub priority: Option<i64>,
    /// Other source columns (vehicle make, colour, …) as JSON.
    pub details: Option<String>,
}

/// A problem on one line of an import file.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    pub message: String,
}

/// The line-by-line validation report of an import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// "ncic" or "csv".
    pub format: String,
    pub lines: usize,
    pub accepted: usize,
    /// Entries skipped because the agency excludes their category.
    pub excluded: usize,
    /// The first [`ImportReport::MAX_ERRORS`] bad lines, in file order.
    pub errors: Vec<LineError>,
    /// How many lines were bad in all (`errors` lists the first of them).
    pub error_count: usize,
    /// True when the file was refused: nothing was imported.
    pub rejected: bool,
}

impl ImportReport {
    /// Most bad lines a report lists; the rest are counted in `error_count`. A 10 MB file of
    /// bad lines gives a report of a few kilobytes, not tens of megabytes.
    pub const MAX_ERRORS: usize = 100;
    /// Longest message kept for one line (a message may quote the line's own text).
    pub const MAX_MESSAGE_BYTES: usize = 300;

    /// Counts a bad line and lists it when fewer than [`Self::MAX_ERRORS`] are listed.
    fn fail(&mut self, line: usize, message: String) {
        self.error_count += 1;
        if self.errors.len() < Self::MAX_ERRORS {
            let message = if message.len() > Self::MAX_MESSAGE_BYTES {
                let mut end = Self::MAX_MESSAGE_BYTES;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}…", &message[..end])
            } else {
                message
            };
            self.errors.push(LineError { line, message });
        }
    }
}

fn parse_date_ms(s: &str, fmt: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, fmt).ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Parses an NCIC license-plate-reader extract (fixed width, one header line).
/// Entries whose list code is in `excluded` are skipped and counted.
pub fn parse_ncic(text: &str, excluded: &[String]) -> (Vec<HotListEntry>, ImportReport) {
    let text = crate::input::text_without_bom(text);
    let mut report = ImportReport {
        format: "ncic".into(),
        ..Default::default()
    };
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        report.lines = line_no;
        if i == 0 {
            continue; // header
        }
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut fail = |m: String| report.fail(line_no, m);
        if !line.is_ascii() {
            fail("line contains non-ASCII characters; the extract is fixed-width ASCII".into());
            continue;
        }
        if line.len() < 39 {
            fail(format!(
                "line is {} characters; an entry needs at least 39 (through the plate state)",
                line.len()
            ));
            continue;
        }
        let col = |a: usize, b: usize| line.get(a..b.min(line.len())).unwrap_or("").trim();
        let code = col(0, 1);
        if !NCIC_CODES.iter().any(|(c, _)| *c == code) {
            fail(format!(
                "list code {code:?} (column 1) is not an NCIC list code"
            ));
            continue;
        }
        let nic = col(0, 10);
        let ori = col(10, 19);
        let entry_date = col(19, 27);
        let Some(effective_at) = parse_date_ms(entry_date, "%Y%m%d") else {
            fail(format!(
                "entry date {entry_date:?} (columns 20–27) is not a date YYYYMMDD"
            ));
            continue;
        };
        let plate = candor_platetext::normalize(col(27, 37));
        if plate.is_empty() {
            fail("plate (columns 28–37) is empty".into());
            continue;
        }
        let state = col(37, 39);
        if state.len() != 2 || !state.chars().all(|c| c.is_ascii_alphabetic()) {
            fail(format!(
                "plate state {state:?} (columns 38–39) is not a two-letter code"
            ));
            continue;
        }
        if excluded.iter().any(|e| e == code) {
            report.excluded += 1;
            continue;
        }
        let details = serde_json::json!({
            "ori": ori,
            "plate_expiry_year": col(39, 43),
            "plate_type": col(43, 45),
            "vehicle_year": col(45, 49),
            "make": col(49, 53),
            "model": col(53, 56),
            "style": col(56, 58),
            "colour": col(58, line.len()),
        });
        entries.push(HotListEntry {
            plate,
            state: Some(state.to_ascii_uppercase()),
            hit_type: code.to_string(),
            reference: Some(nic.to_string()),
            reason: NCIC_CODES
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, d)| d.to_string()),
            effective_at: Some(effective_at),
            expires_at: None,
            priority: None,
            details: Some(details.to_string()),
        });
    }
    report.accepted = entries.len();
    report.rejected = report.error_count > 0;
    (entries, report)
}

/// Line numbers as an editor shows them, from byte offsets (the CSV reader's own line count
/// is one too many for every record of a file with CRLF line ends, which is every file a
/// browser uploads). Offsets must come in ascending order; each byte is counted once.
#[derive(Default)]
struct LineCounter {
    /// Bytes counted so far, and the newlines among them.
    pos: usize,
    newlines: usize,
}

impl LineCounter {
    /// The line of the first character at or after `byte` that is not a line end.
    fn line_at(&mut self, text: &str, byte: usize) -> usize {
        let b = text.as_bytes();
        let mut end = byte.min(b.len());
        while end < b.len() && (b[end] == b'\r' || b[end] == b'\n') {
            end += 1;
        }
        if end > self.pos {
            self.newlines += b[self.pos..end].iter().filter(|&&c| c == b'\n').count();
            self.pos = end;
        }
        self.newlines + 1
    }
}

/// Parses a CSV hot list: a header naming some of `plate, state, reason, effective_date,
/// expiry_date, priority` (plate required), dates as YYYY-MM-DD.
/// CSV columns that describe the listed vehicle, and the key each is kept under in an
/// entry's details (the NCIC extract's keys, so both read the same on an alert card).
pub const VEHICLE_COLUMNS: &[(&str, &str)] = &[
    ("vehicle_year", "vehicle_year"),
    ("year", "vehicle_year"),
    ("make", "make"),
    ("model", "model"),
    ("style", "style"),
    ("colour", "colour"),
    ("color", "colour"),
];

fn vehicle_key(column: &str) -> Option<&'static str> {
    VEHICLE_COLUMNS
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, key)| *key)
}

/// The listed vehicle in words ("2019 HOND CIV 4D, colour SIL") from an entry's details, as
/// the source wrote it; `None` when the details name no vehicle.
pub fn listed_vehicle(details: &str) -> Option<String> {
    let d: serde_json::Value = serde_json::from_str(details).ok()?;
    let field = |k: &str| {
        d.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let vehicle: Vec<&str> = ["vehicle_year", "make", "model", "style"]
        .into_iter()
        .filter_map(field)
        .collect();
    let mut words = vehicle.join(" ");
    if let Some(colour) = field("colour") {
        if !words.is_empty() {
            words.push_str(", ");
        }
        words.push_str("colour ");
        words.push_str(colour);
    }
    (!words.is_empty()).then_some(words)
}

pub fn parse_csv(text: &str, default_hit_type: &str) -> (Vec<HotListEntry>, ImportReport) {
    let text = crate::input::text_without_bom(text);
    let mut report = ImportReport {
        format: "csv".into(),
        ..Default::default()
    };
    let mut entries = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match rdr.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect::<Vec<_>>(),
        Err(e) => {
            report.fail(1, format!("cannot read the header: {e}"));
            report.rejected = true;
            return (entries, report);
        }
    };
    const KNOWN: &[&str] = &[
        "plate",
        "state",
        "reason",
        "effective_date",
        "expiry_date",
        "priority",
    ];
    for h in &headers {
        if !KNOWN.contains(&h.as_str()) && vehicle_key(h).is_none() {
            report.fail(
                1,
                format!(
                    "unknown column {h:?}; known columns: {}, {}",
                    KNOWN.join(", "),
                    VEHICLE_COLUMNS
                        .iter()
                        .map(|(column, _)| *column)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let idx = |name: &str| headers.iter().position(|h| h == name);
    let Some(plate_col) = idx("plate") else {
        report.fail(1, "the header has no \"plate\" column".into());
        report.rejected = true;
        return (entries, report);
    };
    let (state_col, reason_col, eff_col, exp_col, prio_col) = (
        idx("state"),
        idx("reason"),
        idx("effective_date"),
        idx("expiry_date"),
        idx("priority"),
    );
    report.lines = 1;
    let mut lines = LineCounter::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| lines.line_at(text, p.byte() as usize))
                    .unwrap_or(report.lines + 1);
                report.lines = report.lines.max(line);
                report.fail(line, format!("not valid CSV: {e}"));
                continue;
            }
        };
        let line_no = rec
            .position()
            .map(|p| lines.line_at(text, p.byte() as usize))
            .unwrap_or(report.lines + 1);
        report.lines = report.lines.max(line_no);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.len() != headers.len() {
            report.fail(
                line_no,
                format!(
                    "has {} fields but the header has {}",
                    rec.len(),
                    headers.len()
                ),
            );
            continue;
        }
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let mut errs = Vec::new();
        let plate = candor_platetext::normalize(get(Some(plate_col)).unwrap_or(""));
        if plate.is_empty() {
            errs.push("plate is empty".to_string());
        }
        let date = |c: Option<usize>, name: &str, errs: &mut Vec<String>| match get(c) {
            None => None,
            Some(v) => {
                let d = parse_date_ms(v, "%Y-%m-%d");
                if d.is_none() {
                    errs.push(format!("{name} {v:?} is not a date YYYY-MM-DD"));
                }
                d
            }
        };
        let effective_at = date(eff_col, "effective_date", &mut errs);
        let expires_at = date(exp_col, "expiry_date", &mut errs).map(|d| d + 86_400_000);
        let priority = match get(prio_col) {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(p) if (1..=9).contains(&p) => Some(p),
                _ => {
                    errs.push(format!("priority {v:?} is not a whole number 1–9"));
                    None
                }
            },
        };
        if !errs.is_empty() {
            report.fail(line_no, errs.join("; "));
            continue;
        }
        // The listed vehicle, under the keys an NCIC extract's details use.
        let vehicle: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .enumerate()
            .filter_map(|(c, h)| Some((vehicle_key(h)?, get(Some(c))?)))
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        entries.push(HotListEntry {
            plate,
            state: get(state_col).map(|s| s.to_ascii_uppercase()),
            hit_type: default_hit_type.to_string(),
            reference: None,
            reason: get(reason_col).map(str::to_string),
            effective_at,
            expires_at,
            priority,
            details: (!vehicle.is_empty()).then(|| serde_json::Value::Object(vehicle).to_string()),
        });
    }
    report.accepted = entries.len();
    report.rejected = report.error_count > 0;
    (entries, report)
}

const LIST_COLUMNS: &str = "id, name, source, hit_type, hit_types, priority, hit_retention_secs, version, entry_count, created_at, updated_at";

fn list_from_row(row: &sqlx::any::AnyRow) -> Result<HotList, StoreError> {
    Ok(HotList {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        source: ListSource::parse(&row.try_get::<String, _>("source")?)?,
        hit_types: match row.try_get::<Option<String>, _>("hit_types")? {
            Some(t) if !t.is_empty() => t.split(',').map(str::to_string).collect(),
            _ => vec![row.try_get("hit_type")?],
        },
        hit_type: row.try_get("hit_type")?,
        priority: row.try_get("priority")?,
        hit_retention_secs: row.try_get("hit_retention_secs")?,
        version: row.try_get("version")?,
        entry_count: row.try_get("entry_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Rows per multi-row INSERT of entries (10 parameters each).
const ENTRIES_PER_INSERT: usize = 500;

/// An entry the matcher can match, with what a hit needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchableEntry {
    pub list_id: Option<i64>,
    pub entry_id: Option<i64>,
    pub user_plate_id: Option<i64>,
    pub plate: String,
    pub state: Option<String>,
    pub hit_type: String,
    pub priority: i64,
    pub list_name: String,
    pub retention_secs: Option<i64>,
    pub effective_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl Store {
    /// Creates the list named `spec.name`, or replaces its entries and settings, atomically.
    pub async fn replace_hot_list(
        &self,
        spec: &HotListSpec,
        entries: &[HotListEntry],
    ) -> Result<HotList, StoreError> {
        spec.validate()?;
        let now = now_ms();
        let types: std::collections::BTreeSet<&str> =
            entries.iter().map(|e| e.hit_type.as_str()).collect();
        let hit_types = if types.is_empty() {
            spec.hit_type.clone()
        } else {
            types.into_iter().collect::<Vec<_>>().join(",")
        };
        let mut tx = self.begin().await?;
        let existing = sqlx::query("SELECT id, version FROM hot_lists WHERE name = $1")
            .bind(&spec.name)
            .fetch_optional(&mut *tx)
            .await?;
        let list_id: i64 = match existing {
            Some(row) => {
                let id: i64 = row.try_get("id")?;
                let version: i64 = row.try_get("version")?;
                sqlx::query(
                    "UPDATE hot_lists SET source=$1, hit_type=$2, priority=$3, hit_retention_secs=$4, version=$5, \
                     entry_count=$6, updated_at=$7, hit_types=$9 WHERE id=$8",
                )
                .bind(spec.source.as_str())
                .bind(&spec.hit_type)
                .bind(spec.priority)
                .bind(spec.hit_retention_secs)
                .bind(version + 1)
                .bind(entries.len() as i64)
                .bind(now)
                .bind(id)
                .bind(&hit_types)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM hot_list_entries WHERE list_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let row = sqlx::query(
                    "INSERT INTO hot_lists (name, source, hit_type, priority, hit_retention_secs, version, entry_count, \
                     created_at, updated_at, hit_types) VALUES ($1,$2,$3,$4,$5,1,$6,$7,$7,$8) RETURNING id",
                )
                .bind(&spec.name)
                .bind(spec.source.as_str())
                .bind(&spec.hit_type)
                .bind(spec.priority)
                .bind(spec.hit_retention_secs)
                .bind(entries.len() as i64)
                .bind(now)
                .bind(&hit_types)
                .fetch_one(&mut *tx)
                .await?;
                row.try_get(0)?
            }
        };
        for chunk in entries.chunks(ENTRIES_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO hot_list_entries (list_id, plate, state, hit_type, reference, reason, effective_at, \
                 expires_at, priority, details) VALUES ",
            );
            sql.push_str(&crate::values_rows(self.backend(), chunk.len(), 10));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(list_id)
                    .bind(&e.plate)
                    .bind(&e.state)
                    .bind(&e.hit_type)
                    .bind(&e.reference)
                    .bind(&e.reason)
                    .bind(e.effective_at)
                    .bind(e.expires_at)
                    .bind(e.priority)
                    .bind(&e.details);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.get_hot_list(list_id)
            .await?
            .ok_or_else(|| StoreError::not_found("hot list"))
    }

    pub async fn get_hot_list(&self, id: i64) -> Result<Option<HotList>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LIST_COLUMNS} FROM hot_lists WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(list_from_row).transpose()
    }

    pub async fn list_hot_lists(&self) -> Result<Vec<HotList>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LIST_COLUMNS} FROM hot_lists ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(list_from_row).collect()
    }

    /// Deletes a list and its entries (hits already made keep their sealed copy).
    pub async fn delete_hot_list(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM hot_list_entries WHERE list_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM hot_lists WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("hot list {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Entries of a list, in insertion order (for inspection and tests).
    pub async fn hot_list_entries(
        &self,
        list_id: i64,
        limit: i64,
    ) -> Result<Vec<HotListEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT plate, state, hit_type, reference, reason, effective_at, expires_at, priority, details \
             FROM hot_list_entries WHERE list_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(list_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HotListEntry {
                    plate: r.try_get("plate")?,
                    state: r.try_get("state")?,
                    hit_type: r.try_get("hit_type")?,
                    reference: r.try_get("reference")?,
                    reason: r.try_get("reason")?,
                    effective_at: r.try_get("effective_at")?,
                    expires_at: r.try_get("expires_at")?,
                    priority: r.try_get("priority")?,
                    details: r.try_get("details")?,
                })
            })
            .collect()
    }

    /// Everything the matcher should match at `now`: list entries not yet expired, and
    /// approved user hot plates not yet expired.
    pub async fn matchable_entries(&self, now: i64) -> Result<Vec<MatchableEntry>, StoreError> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT e.id, e.list_id, e.plate, e.state, e.hit_type, COALESCE(e.priority, l.priority) AS priority, \
             l.name, l.hit_retention_secs, e.effective_at, e.expires_at \
             FROM hot_list_entries e JOIN hot_lists l ON l.id = e.list_id \
             WHERE e.expires_at IS NULL OR e.expires_at > $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        out.reserve(rows.len());
        for r in &rows {
            out.push(MatchableEntry {
                list_id: Some(r.try_get("list_id")?),
                entry_id: Some(r.try_get("id")?),
                user_plate_id: None,
                plate: r.try_get("plate")?,
                state: r.try_get("state")?,
                hit_type: r.try_get("hit_type")?,
                priority: r.try_get("priority")?,
                list_name: r.try_get("name")?,
                retention_secs: r.try_get("hit_retention_secs")?,
                effective_at: r.try_get("effective_at")?,
                expires_at: r.try_get("expires_at")?,
            });
        }
        let rows = sqlx::query(
            "SELECT id, plate, state, hit_type, priority, expires_at FROM user_hot_plates \
             WHERE status = 'approved' AND expires_at > $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for r in &rows {
            out.push(MatchableEntry {
                list_id: None,
                entry_id: None,
                user_plate_id: Some(r.try_get("id")?),
                plate: r.try_get("plate")?,
                state: r.try_get("state")?,
                hit_type: r.try_get("hit_type")?,
                priority: r.try_get("priority")?,
                list_name: "user hot plates".into(),
                retention_secs: None,
                effective_at: None,
                expires_at: Some(r.try_get("expires_at")?),
            });
        }
        Ok(out)
    }

    /// Changes whenever a list is imported, replaced or deleted, or a user hot plate is
    /// decided: cheap to poll.
    pub async fn hot_list_fingerprint(&self) -> Result<(i64, i64, i64, i64), StoreError> {
        let a = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(version), 0) AS BIGINT), CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM hot_lists",
        )
        .fetch_one(self.pool())
        .await?;
        let b =
            sqlx::query("SELECT CAST(COALESCE(MAX(decided_at), 0) AS BIGINT) FROM user_hot_plates")
                .fetch_one(self.pool())
                .await?;
        Ok((a.try_get(0)?, a.try_get(1)?, a.try_get(2)?, b.try_get(0)?))
    }

    /// Reason, reference and listed vehicle of a list entry or user hot plate, for a hit's
    /// sealed details.
    pub async fn entry_facts(
        &self,
        entry_id: Option<i64>,
        user_plate_id: Option<i64>,
    ) -> Result<EntryFacts, StoreError> {
        if let Some(id) = entry_id {
            let row = sqlx::query(
                "SELECT reason, reference, details FROM hot_list_entries WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            if let Some(r) = row {
                let details: Option<String> = r.try_get("details")?;
                return Ok(EntryFacts {
                    reason: r.try_get("reason")?,
                    reference: r.try_get("reference")?,
                    vehicle: details.as_deref().and_then(listed_vehicle),
                });
            }
        }
        if let Some(id) = user_plate_id {
            let row = sqlx::query("SELECT reason, case_number FROM user_hot_plates WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            if let Some(r) = row {
                return Ok(EntryFacts {
                    reason: r.try_get("reason")?,
                    reference: r.try_get("case_number")?,
                    vehicle: None,
                });
            }
        }
        Ok(EntryFacts::default())
    }
}

/// What a hit carries from the entry it matched (see [`Store::entry_facts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFacts {
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub vehicle: Option<String>,
}

/// A user hot plate to enter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserPlate {
    pub plate: String,
    pub state: Option<String>,
    pub reason: String,
    pub case_number: String,
    /// Unix ms; at most the policy's maximum from now.
    pub expires_at: i64,
    /// NCIC-style category; "U" if absent.
    pub hit_type: Option<String>,
    /// 1–9; 5 if absent.
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserPlateStatus {
    /// Entered, waiting for a supervisor: does not match yet.
    Pending,
    Approved,
    Rejected,
}

impl UserPlateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserPlateStatus::Pending => "pending",
            UserPlateStatus::Approved => "approved",
            UserPlateStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(UserPlateStatus::Pending),
            "approved" => Ok(UserPlateStatus::Approved),
            "rejected" => Ok(UserPlateStatus::Rejected),
            other => Err(StoreError::Invalid(format!(
                "status {other:?} is not one of pending, approved, rejected"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserPlate {
    pub id: i64,
    pub plate: String,
    pub state: Option<String>,
    pub reason: String,
    pub case_number: String,
    pub hit_type: String,
    pub priority: i64,
    pub expires_at: i64,
    pub entered_by: i64,
    pub entered_by_name: String,
    pub entered_at: i64,
    pub status: UserPlateStatus,
    /// True once `expires_at` has passed: it no longer matches.
    pub expired: bool,
    pub decided_by: Option<i64>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
}

const USER_PLATE_COLUMNS: &str = "id, plate, state, reason, case_number, hit_type, priority, expires_at, entered_by, \
    entered_by_name, entered_at, status, decided_by, decided_by_name, decided_at, decision_note";

fn user_plate_from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<UserPlate, StoreError> {
    let expires_at: i64 = r.try_get("expires_at")?;
    Ok(UserPlate {
        id: r.try_get("id")?,
        plate: r.try_get("plate")?,
        state: r.try_get("state")?,
        reason: r.try_get("reason")?,
        case_number: r.try_get("case_number")?,
        hit_type: r.try_get("hit_type")?,
        priority: r.try_get("priority")?,
        expires_at,
        entered_by: r.try_get("entered_by")?,
        entered_by_name: r.try_get("entered_by_name")?,
        entered_at: r.try_get("entered_at")?,
        status: UserPlateStatus::parse(&r.try_get::<String, _>("status")?)?,
        expired: expires_at <= now,
        decided_by: r.try_get("decided_by")?,
        decided_by_name: r.try_get("decided_by_name")?,
        decided_at: r.try_get("decided_at")?,
        decision_note: r.try_get("decision_note")?,
    })
}

impl Store {
    /// Enters a user hot plate, pending a supervisor's approval. `max_expiry_ms` is the
    /// policy's longest allowed lifetime.
    pub async fn create_user_plate(
        &self,
        p: &NewUserPlate,
        user_id: i64,
        username: &str,
        max_expiry_ms: i64,
    ) -> Result<UserPlate, StoreError> {
        let now = now_ms();
        let plate = candor_platetext::normalize(&p.plate);
        if plate.is_empty() {
            return Err(StoreError::Invalid(
                "plate must contain letters or digits".into(),
            ));
        }
        if p.reason.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a user hot plate needs a reason".into(),
            ));
        }
        if p.case_number.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a user hot plate needs a case number".into(),
            ));
        }
        if p.expires_at <= now {
            return Err(StoreError::Invalid(
                "expires_at must be in the future".into(),
            ));
        }
        if p.expires_at > now + max_expiry_ms {
            return Err(StoreError::Invalid(format!(
                "expires_at is too far ahead: the policy allows at most {} days",
                max_expiry_ms / 86_400_000
            )));
        }
        let hit_type = p
            .hit_type
            .clone()
            .unwrap_or_else(|| USER_HIT_TYPE.to_string());
        if !is_known_hit_type(&hit_type) {
            return Err(StoreError::Invalid(format!(
                "hit type {hit_type:?} is not an NCIC list code or U"
            )));
        }
        let priority = p.priority.unwrap_or(5);
        if !(1..=9).contains(&priority) {
            return Err(StoreError::Invalid(format!(
                "priority {priority} is outside 1–9"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO user_hot_plates (plate, state, reason, case_number, hit_type, priority, expires_at, \
             entered_by, entered_by_name, entered_at, status) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'pending') \
             RETURNING id",
        )
        .bind(&plate)
        .bind(p.state.as_ref().map(|s| s.to_ascii_uppercase()))
        .bind(p.reason.trim())
        .bind(p.case_number.trim())
        .bind(&hit_type)
        .bind(priority)
        .bind(p.expires_at)
        .bind(user_id)
        .bind(username)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        let id: i64 = row.try_get(0)?;
        self.get_user_plate(id)
            .await?
            .ok_or_else(|| StoreError::not_found("user hot plate"))
    }

    pub async fn get_user_plate(&self, id: i64) -> Result<Option<UserPlate>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_PLATE_COLUMNS} FROM user_hot_plates WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let now = now_ms();
        row.as_ref()
            .map(|r| user_plate_from_row(r, now))
            .transpose()
    }

    pub async fn list_user_plates(
        &self,
        status: Option<UserPlateStatus>,
    ) -> Result<Vec<UserPlate>, StoreError> {
        let rows = match status {
            Some(s) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_PLATE_COLUMNS} FROM user_hot_plates WHERE status = $1 ORDER BY id DESC"
            )))
            .bind(s.as_str())
            .fetch_all(self.pool())
            .await?,
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_PLATE_COLUMNS} FROM user_hot_plates ORDER BY id DESC"
            )))
            .fetch_all(self.pool())
            .await?,
        };
        let now = now_ms();
        rows.iter().map(|r| user_plate_from_row(r, now)).collect()
    }

    /// A supervisor approves or rejects a pending user hot plate. The person who entered it
    /// may not decide on it; an expired entry cannot be approved.
    pub async fn decide_user_plate(
        &self,
        id: i64,
        approve: bool,
        user_id: i64,
        username: &str,
        note: Option<&str>,
    ) -> Result<UserPlate, StoreError> {
        let current = self
            .get_user_plate(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("user hot plate {id}")))?;
        if current.status != UserPlateStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "user hot plate {id} is already {}",
                current.status.as_str()
            )));
        }
        if current.entered_by == user_id {
            return Err(StoreError::Conflict(
                "you entered this hot plate; another supervisor must approve or reject it".into(),
            ));
        }
        if approve && current.expired {
            return Err(StoreError::Conflict(format!(
                "user hot plate {id} has expired and cannot be approved"
            )));
        }
        let status = if approve {
            UserPlateStatus::Approved
        } else {
            UserPlateStatus::Rejected
        };
        let res = sqlx::query(
            "UPDATE user_hot_plates SET status=$1, decided_by=$2, decided_by_name=$3, decided_at=$4, decision_note=$5 \
             WHERE id=$6 AND status='pending'",
        )
        .bind(status.as_str())
        .bind(user_id)
        .bind(username)
        .bind(now_ms())
        .bind(note)
        .bind(id)
        .execute(self.pool())
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "user hot plate {id} was decided by someone else first"
            )));
        }
        self.get_user_plate(id)
            .await?
            .ok_or_else(|| StoreError::not_found("user hot plate"))
    }
}

/// Format of a hot-list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Ncic,
    Csv,
}

impl ImportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Ncic => "ncic",
            ImportFormat::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "ncic" => Ok(ImportFormat::Ncic),
            "csv" => Ok(ImportFormat::Csv),
            other => Err(StoreError::Invalid(format!(
                "import format {other:?} is not one of ncic, csv"
            ))),
        }
    }
}

impl Store {
    /// Validates a whole file and, only if every line is good, replaces the list with it in
    /// one transaction. Returns the list (absent when rejected) and the line-by-line report.
    pub async fn import_hot_list(
        &self,
        spec: &HotListSpec,
        format: ImportFormat,
        text: &str,
        excluded_hit_types: &[String],
    ) -> Result<(Option<HotList>, ImportReport), StoreError> {
        spec.validate()?;
        if spec.source == ListSource::Partner {
            return Err(StoreError::Invalid(
                "a partner's hot list comes only through its sharing agreement (the Sharing page, or POST /api/v1/agreements/{id}/hotlists/{name}/import), not as a file".into(),
            ));
        }
        let text = crate::input::text_without_bom(text);
        if let Some(line) = crate::input::first_binary_line(text) {
            let report = ImportReport {
                format: format.as_str().into(),
                lines: line,
                rejected: true,
                errors: vec![LineError {
                    line,
                    message: "this is not a text file (it holds binary data): import the list as \
                              CSV text or as the NCIC text extract"
                        .into(),
                }],
                ..Default::default()
            };
            return Ok((None, report));
        }
        let (mut entries, report) = match format {
            ImportFormat::Ncic => parse_ncic(text, excluded_hit_types),
            ImportFormat::Csv => parse_csv(text, &spec.hit_type),
        };
        if report.rejected {
            return Ok((None, report));
        }
        if format == ImportFormat::Csv && excluded_hit_types.contains(&spec.hit_type) {
            return Err(StoreError::Invalid(format!(
                "this agency excludes hit type {:?}; a list of that type cannot be imported",
                spec.hit_type
            )));
        }
        entries.dedup();
        let list = self.replace_hot_list(spec, &entries).await?;
        Ok((Some(list), report))
    }
}

#[cfg(test)]
mod urgency_tests {
    use super::*;

    #[test]
    fn every_hit_type_has_words_and_a_place_in_the_urgency_order() {
        for (code, words) in NCIC_CODES {
            assert_eq!(hit_type_words(code), *words);
            assert!(hit_type_urgency(code) < URGENCY.len(), "{code} unranked");
        }
        assert_eq!(hit_type_words(USER_HIT_TYPE), "user-entered hot plate");
        assert_eq!(hit_type_words("Q"), "Q");
        assert!(hit_type_urgency("W") < hit_type_urgency("V"));
        assert!(hit_type_urgency("A") < hit_type_urgency("P"));
        assert_eq!(hit_type_urgency("Q"), URGENCY.len());
    }
}

#[cfg(test)]
mod plate_tests {
    use super::*;

    /// A hot list carries plates as a person typed them; the entry must be stored in the
    /// one normal form that reads are matched in (`candor_platetext::normalize`), or a
    /// full-width plate matches at ingest but never on import.
    #[test]
    fn a_hot_list_plate_is_stored_in_the_form_reads_are_matched_in() {
        let (entries, report) = parse_csv("plate,state\nＡＢＣ １２３,CA\nxy-9 8,NY\n", "V");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let plates: Vec<&str> = entries.iter().map(|e| e.plate.as_str()).collect();
        assert_eq!(plates, ["ABC123", "XY98"]);
    }

    /// The officer compares the car with the listed vehicle before acting on a wrong-state
    /// read, so a list's vehicle columns are kept and read the same from CSV and NCIC.
    #[test]
    fn a_listed_vehicle_is_kept_and_read_in_words() {
        let (entries, report) = parse_csv(
            "plate,state,year,make,model,color\nABC123,CA,2019,Honda,Civic,silver\nXY98,NY,,,,\n",
            "V",
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let vehicle = entries[0].details.as_deref().and_then(listed_vehicle);
        assert_eq!(vehicle.as_deref(), Some("2019 Honda Civic, colour silver"));
        assert_eq!(entries[1].details, None);
        let ncic = r#"{"ori":"CA0000000","vehicle_year":"2019","make":"HOND","model":"CIV","style":"4D","colour":"SIL"}"#;
        assert_eq!(
            listed_vehicle(ncic).as_deref(),
            Some("2019 HOND CIV 4D, colour SIL")
        );
        assert_eq!(
            listed_vehicle(r#"{"colour":"BLK"}"#).as_deref(),
            Some("colour BLK")
        );
        assert_eq!(listed_vehicle(r#"{"ori":"X"}"#), None);
    }
}
