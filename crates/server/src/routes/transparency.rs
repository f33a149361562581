//! The public transparency page (`/transparency`, HTML) and its open data
//! (`/transparency.json`): no sign-in. Everything on it is computed from the records when
//! asked: the policy in force and its history, purposes, retention, cameras, the usage
//! metrics with year-over-year comparison, the latest signed audit checkpoint and the
//! signed purge receipts, with how to check them.
//!
//! It never shows a plate, a user's identity (only counts), or a camera's location unless
//! the policy's `[transparency]` section says so.
//!
//! To add a section: add a field to [`TransparencyPage`] (it is the JSON), fill it in
//! [`build_page`], and render it in `templates/transparency.html`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use candor_policy::PolicyDocument;
use candor_reports::{Bucket, DateRange, Figures, Period, Report, YearOverYear};
use chrono::Datelike;
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::routes::reports::{self, Breakdown, ComparisonRow, FigureRow};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(transparency_json), components(schemas(TransparencyPage)))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/transparency", get(transparency_html))
        .route("/transparency.json", get(transparency_json))
}

/// Months shown in the monthly charts and table.
const MONTHS_SHOWN: u32 = 24;

/// The whole page, as published in JSON and rendered in HTML.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransparencyPage {
    pub agency_name: String,
    pub statement_of_purpose: String,
    /// When the page was generated (RFC 3339, UTC).
    pub generated_at: String,
    pub policy: PolicySection,
    pub purposes: PurposesSection,
    /// How long each class of record is kept, as the policy in force says.
    pub retention: Vec<RetentionClass>,
    pub cameras: CameraSection,
    pub metrics: MetricsSection,
    pub audit: AuditSection,
    /// Signed purge receipts, newest first; absent when the policy does not publish them.
    pub purge_receipts: Option<Vec<PublishedReceipt>>,
    pub sharing: SharingSection,
}

/// Sharing with other agencies: every agreement both sides signed, and how many queries
/// crossed each one (counts only; never who asked or for what plate).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SharingSection {
    /// Agreements signed by both agencies (in force, expired or revoked), newest first.
    pub agreements: Vec<PublishedAgreement>,
    /// Shared queries per partner agency since records began.
    pub queries_by_partner: Vec<candor_store::agreements::PartnerQueryCounts>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedAgreement {
    pub partner_agency: String,
    /// What is shared, in words.
    pub scope: String,
    /// RFC 3339 dates.
    pub effective: String,
    pub expires: String,
    pub revoked: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicySection {
    pub version: i64,
    /// When this version was published (RFC 3339).
    pub published_at: String,
    /// The policy document in force, without its review settings (sampling rate and flag
    /// thresholds, withheld so they cannot be evaded).
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// Earlier versions, newest first (when the policy publishes its history).
    pub history: Vec<PolicyHistoryEntry>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyHistoryEntry {
    pub version: i64,
    pub published_at: String,
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Purpose {
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PurposesSection {
    /// Purposes a search may give.
    pub allowed: Vec<Purpose>,
    /// Purposes refused by the software.
    pub forbidden: Vec<Purpose>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetentionClass {
    pub class: String,
    /// In words, e.g. `21 days`, `1 year`.
    pub period: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CameraSection {
    /// Cameras in service (active, approval complete), by type.
    pub by_type: BTreeMap<String, i64>,
    pub total: i64,
    /// Approved placements, when the policy publishes them.
    pub placements: Option<Vec<Placement>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Placement {
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    pub direction: String,
    pub justification: String,
    /// Only when the policy publishes coordinates.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub consultation_date: Option<String>,
    pub approving_authority: Option<String>,
    pub approval_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricsSection {
    /// Figures per calendar year, from the first year with records.
    pub years: Vec<Bucket>,
    /// Figures per month, the last 24 months (this one included).
    pub months: Vec<Bucket>,
    /// This year so far against the same days last year.
    pub year_to_date: YearOverYear,
    /// Legal holds in force now.
    pub legal_holds_active: i64,
}

/// The latest signed checkpoint of the audit log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedCheckpoint {
    /// Records in the chain when it was signed.
    pub length: u64,
    /// Hash of the last of them (hex).
    pub head_hash: String,
    /// When it was signed (RFC 3339).
    pub time: String,
    pub key_id: String,
    /// Ed25519 signature (base64) over every byte of `text` before the `signature:` line.
    pub signature: String,
    /// The signed statement, exactly as signed; save it to a file to verify it.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditSection {
    pub checkpoint: Option<PublishedCheckpoint>,
    /// The Ed25519 public key (hex) that signs checkpoints.
    pub public_key: String,
    /// How to check them, in plain words.
    pub how_to_verify: Vec<String>,
}

/// A purge receipt as signed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedReceipt {
    pub id: i64,
    /// When the purge ran (RFC 3339).
    pub run_at: String,
    /// Records deleted: reads without hits, reads with hits, hits, images.
    pub records_purged: i64,
    /// The exact JSON that was signed.
    pub receipt_json: String,
    /// Ed25519 signature over `receipt_json` (hex).
    pub signature: String,
    /// The key that signed it (hex).
    pub public_key: String,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Cameras in service (active with a complete approval record), by type.
pub async fn cameras_by_type(state: &AppState) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut by_type = BTreeMap::new();
    for c in in_service(state).await? {
        *by_type.entry(c.kind.as_str().to_string()).or_default() += 1;
    }
    Ok(by_type)
}

async fn in_service(state: &AppState) -> Result<Vec<candor_store::cameras::Camera>, ApiError> {
    Ok(state
        .store
        .list_cameras()
        .await?
        .into_iter()
        .filter(|c| c.approved && c.status == candor_store::cameras::CameraStatus::Active)
        .collect())
}

/// Retention per class of record, as the policy in force sets it.
pub fn retention_classes(policy: &PolicyDocument) -> Vec<(String, String)> {
    let r = &policy.retention;
    [
        ("Reads without a hit", r.non_hit_reads),
        ("Hits", r.hits),
        ("Images", r.images),
        ("Audit records", r.audit_records),
    ]
    .into_iter()
    .map(|(name, d)| (name.to_string(), candor_policy::duration_words(d)))
    .collect()
}

/// The newest signed audit checkpoint, if any.
pub async fn latest_checkpoint(state: &AppState) -> Result<Option<PublishedCheckpoint>, ApiError> {
    use base64::Engine;
    Ok(state
        .store
        .audit_checkpoints()
        .await?
        .last()
        .map(|c| PublishedCheckpoint {
            length: c.length,
            head_hash: c.head_hash.to_string(),
            time: c.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            key_id: c.key_id.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(c.signature),
            text: c.to_text(),
        }))
}

fn how_to_verify(public_key: &str) -> Vec<String> {
    vec![
        "Save the checkpoint text above, exactly as shown, to a file named checkpoint.txt.".into(),
        format!(
            "Check its signature with the published key: candor audit verify-checkpoint --checkpoint checkpoint.txt --public-key {public_key}. \
             Any Ed25519 tool works too: the signature (base64, on the last line) covers every byte before the line that starts with \"signature:\"."
        ),
        "A signed checkpoint fixes the audit log's first records: if any of them is later changed, removed or reordered, the log no longer matches this head hash. Keep a copy; compare it with later checkpoints.".into(),
        format!(
            "An independent auditor with a copy of the database checks the whole log against every checkpoint with: candor audit verify --data-dir DIR --public-key {public_key}. \
             Adding --against checkpoint.txt (a saved copy, or this page's address) also proves that no record it vouches for was removed since, even with the stored checkpoints."
        ),
        "Each purge receipt is verified the same way: save it as JSON and run candor audit verify-receipt --receipt receipt.json (it holds the signed text, the signature and the key).".into(),
    ]
}

/// Figures side by side in one by-month table.
const FIGURES_PER_TABLE: usize = 7;

/// `rows` in groups of at most `size`, in order.
fn in_groups(rows: Vec<FigureRow>, size: usize) -> Vec<Vec<FigureRow>> {
    let mut groups: Vec<Vec<FigureRow>> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some(group) if group.len() < size => group.push(row),
            _ => groups.push(vec![row]),
        }
    }
    groups
}

/// Names each purpose counted by its label in the policy, as the page lists them (a code
/// no longer in the policy stays as it is).
fn purpose_labels(counts: Vec<Breakdown>, purposes: &PurposesSection) -> Vec<Breakdown> {
    counts
        .into_iter()
        .map(|mut b| {
            if let Some(p) = purposes
                .allowed
                .iter()
                .chain(&purposes.forbidden)
                .find(|p| p.code == b.label)
            {
                b.label = p.label.clone();
            }
            b
        })
        .collect()
}

/// Builds the page from the records, now.
async fn sharing_section(state: &AppState) -> Result<SharingSection, ApiError> {
    let mut agreements: Vec<PublishedAgreement> = state
        .store
        .agreement_summaries()
        .await?
        .into_iter()
        // A draft one side has not signed was never in force: nothing to publish.
        .filter(|a| a.signed_by_both)
        .map(|a| PublishedAgreement {
            partner_agency: a.partner_agency,
            scope: a.scope,
            effective: rfc3339(a.effective_at),
            expires: rfc3339(a.expires_at),
            revoked: a.revoked_at.map(rfc3339),
        })
        .collect();
    agreements.sort_by(|a, b| b.effective.cmp(&a.effective));
    let queries_by_partner = state
        .store
        .shared_query_counts(0, candor_store::now_ms() + 1)
        .await?;
    Ok(SharingSection {
        agreements,
        queries_by_partner,
    })
}

pub async fn build_page(state: &AppState) -> Result<TransparencyPage, ApiError> {
    let policy = crate::routes::policy::policy_in_force(state).await?;
    let doc = &policy.document;
    let choices = &doc.transparency;
    let versions = state.store.policy_versions().await?;
    let published_at = versions
        .iter()
        .find(|v| v.version == policy.version)
        .map(|v| rfc3339(v.created_at))
        .unwrap_or_default();
    let history = if choices.policy_history {
        versions
            .iter()
            .filter(|v| v.version != policy.version)
            .map(|v| PolicyHistoryEntry {
                version: v.version,
                published_at: rfc3339(v.created_at),
                document: published_policy(serde_json::from_str(&v.document).unwrap_or_default()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let purpose = |c: &candor_policy::PurposeCategory| Purpose {
        code: c.code.clone(),
        label: c.label.clone(),
    };

    let cameras = in_service(state).await?;
    let mut by_type = BTreeMap::new();
    for c in &cameras {
        *by_type.entry(c.kind.as_str().to_string()).or_default() += 1;
    }
    let placements = choices.camera_locations.then(|| {
        cameras
            .iter()
            .map(|c| Placement {
                kind: c.kind.as_str().into(),
                location: c.location.clone(),
                direction: c.direction.clone(),
                justification: c.justification.clone(),
                latitude: c.latitude.filter(|_| choices.camera_coordinates),
                longitude: c.longitude.filter(|_| choices.camera_coordinates),
                consultation_date: c.approval.consultation_date.clone(),
                approving_authority: c.approval.approving_authority.clone(),
                approval_date: c.approval.approval_date.clone(),
            })
            .collect()
    });

    // Metrics: every year with records, the last months, and this year so far.
    let today = reports::today();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a real date");
    let counts = reports::load_counts(state, epoch, tomorrow).await?;
    let first_year = counts
        .iter()
        .map(|c| c.day.year())
        .min()
        .unwrap_or(today.year());
    let years_range = DateRange::new(
        chrono::NaiveDate::from_ymd_opt(first_year, 1, 1).expect("a real date"),
        tomorrow,
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let month_start = Period::Month.start_of(today) - chrono::Months::new(MONTHS_SHOWN - 1);
    let months_range =
        DateRange::new(month_start, tomorrow).map_err(|e| ApiError::internal(e.to_string()))?;
    let ytd = DateRange::new(
        chrono::NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("a real date"),
        tomorrow,
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let public = |mut b: Bucket| {
        b.figures = public_figures(b.figures, choices.queries_by_purpose);
        b
    };
    let years = Report::build(&counts, Period::Year, years_range)
        .buckets
        .into_iter()
        .map(public)
        .collect();
    let months = Report::build(&counts, Period::Month, months_range)
        .buckets
        .into_iter()
        .map(public)
        .collect();

    let public_key = crate::routes::audit::audit_signing_key(&state.config.key_dir())
        .map_err(|e| ApiError::internal(format!("the audit signing key is unavailable: {e}")))?
        .verifying_key();
    let public_key = hex::encode(public_key.to_bytes());

    let purge_receipts = if choices.purge_receipts {
        Some(
            state
                .store
                .list_receipts(100)
                .await?
                .into_iter()
                .map(|r| {
                    let c = &r.receipt.counts;
                    PublishedReceipt {
                        id: r.id,
                        run_at: rfc3339(r.receipt.run_at),
                        records_purged: c.non_hit_reads + c.hit_reads + c.hits + c.images,
                        receipt_json: r.receipt_json,
                        signature: r.signature,
                        public_key: r.public_key,
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    Ok(TransparencyPage {
        agency_name: doc.agency_name.clone(),
        statement_of_purpose: doc.statement_of_purpose.clone(),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        policy: PolicySection {
            version: policy.version,
            published_at,
            document: published_policy(serde_json::to_value(doc).unwrap_or_default()),
            history,
        },
        purposes: PurposesSection {
            allowed: doc.purpose_categories.iter().map(purpose).collect(),
            forbidden: doc.forbidden_categories.iter().map(purpose).collect(),
        },
        retention: retention_classes(doc)
            .into_iter()
            .map(|(class, period)| RetentionClass { class, period })
            .collect(),
        cameras: CameraSection {
            total: cameras.len() as i64,
            by_type,
            placements,
        },
        metrics: MetricsSection {
            years,
            months,
            year_to_date: YearOverYear::of(&counts, ytd),
            legal_holds_active: state.store.active_hold_count().await?,
        },
        audit: AuditSection {
            checkpoint: latest_checkpoint(state).await?,
            how_to_verify: how_to_verify(&public_key),
            public_key,
        },
        purge_receipts,
        sharing: sharing_section(state).await?,
    })
}

/// A policy document as published: everything but the review settings (sampling rate and
/// flag thresholds), which would tell a misuser how to stay under them.
fn published_policy(mut document: serde_json::Value) -> serde_json::Value {
    if let Some(map) = document.as_object_mut() {
        map.remove("review");
    }
    document
}

/// The figures the public sees: never per user; per purpose only when the policy says so.
fn public_figures(f: Figures, by_purpose: bool) -> Figures {
    let mut f = f.without_users();
    if !by_purpose {
        f.queries_by_purpose.clear();
    }
    f
}

/// The page's open data.
#[utoipa::path(get, path = "/transparency.json", responses((status = 200, body = TransparencyPage)))]
pub async fn transparency_json(
    State(state): State<AppState>,
) -> Result<Json<TransparencyPage>, ApiError> {
    Ok(Json(build_page(&state).await?))
}

#[derive(Template)]
#[template(path = "transparency.html")]
struct TransparencyHtml {
    page: TransparencyPage,
    policy_text: String,
    retention: Vec<RetentionClass>,
    cameras: Vec<Breakdown>,
    year_labels: Vec<String>,
    year_rows: Vec<FigureRow>,
    month_labels: Vec<String>,
    /// The figures by month, a few to a table, so that each table fits the page's width
    /// with the months running down it.
    month_groups: Vec<Vec<FigureRow>>,
    comparisons: Vec<ComparisonRow>,
    ytd_from: String,
    ytd_to: String,
    previous_from: String,
    previous_to: String,
    hit_types: Vec<Breakdown>,
    purposes: Vec<Breakdown>,
    charts: Vec<String>,
    show_coordinates: bool,
}

fn report_of(buckets: &[Bucket], period: Period) -> Report {
    // Tables and charts take a report; its totals are the sum of the buckets.
    let range = match (buckets.first(), buckets.last()) {
        (Some(a), Some(b)) => DateRange {
            from: a.range.from,
            to: b.range.to,
        },
        _ => DateRange::year(2000).expect("a real year"),
    };
    let mut totals = Figures::default();
    for b in buckets {
        let f = &b.figures;
        totals.detections += f.detections;
        totals.hits += f.hits;
        for (k, v) in &f.hits_by_type {
            *totals.hits_by_type.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &f.queries_by_purpose {
            *totals.queries_by_purpose.entry(k.clone()).or_default() += v;
        }
    }
    Report {
        period,
        range,
        totals,
        buckets: buckets.to_vec(),
        year_over_year: YearOverYear::of(&[], range),
    }
}

/// The page for people.
/// The public page's Content-Security-Policy: no scripts, nothing from elsewhere; its own
/// inline styles and inline SVG charts only; it may not be framed.
pub const TRANSPARENCY_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub async fn transparency_html(
    State(state): State<AppState>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], Html<String>), ApiError> {
    let page = build_page(&state).await?;
    let years = report_of(&page.metrics.years, Period::Year);
    let months = report_of(&page.metrics.months, Period::Month);
    let strip_total = |mut rows: Vec<FigureRow>| {
        for r in &mut rows {
            r.values.pop();
        }
        rows
    };
    let mut charts = reports::report_charts(&years)?;
    charts.insert(
        0,
        reports::comparison_chart(
            &page.metrics.year_to_date,
            &[
                "detections",
                "hits",
                "hits_verified",
                "queries",
                "stops",
                "arrests",
            ],
        )?,
    );
    let monthly = candor_reports::chart::bar_chart(
        "Detections by month",
        &months.labels(),
        &[candor_reports::chart::Series {
            name: "detections",
            values: &months.series("detections"),
        }],
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    charts.push(monthly);
    let ytd = &page.metrics.year_to_date;
    let last = |d: chrono::NaiveDate| d.pred_opt().unwrap_or(d).to_string();
    let show_coordinates = page
        .cameras
        .placements
        .iter()
        .flatten()
        .any(|p| p.latitude.is_some());
    let html = TransparencyHtml {
        policy_text: serde_json::to_string_pretty(&page.policy.document).unwrap_or_default(),
        retention: page.retention.clone(),
        cameras: reports::breakdown(&page.cameras.by_type),
        year_labels: years.labels(),
        year_rows: strip_total(reports::figure_rows(&years)),
        month_labels: months.labels(),
        month_groups: in_groups(
            strip_total(reports::figure_rows(&months)),
            FIGURES_PER_TABLE,
        ),
        comparisons: reports::comparison_rows(ytd),
        ytd_from: ytd.range.from.to_string(),
        ytd_to: last(ytd.range.to),
        previous_from: ytd.previous_range.from.to_string(),
        previous_to: last(ytd.previous_range.to),
        hit_types: reports::breakdown(&years.totals.hits_by_type),
        purposes: purpose_labels(
            reports::breakdown(&years.totals.queries_by_purpose),
            &page.purposes,
        ),
        charts,
        show_coordinates,
        page,
    };
    html.render()
        .map(|page| {
            (
                [(
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    TRANSPARENCY_CSP,
                )],
                Html(page),
            )
        })
        .map_err(|e| ApiError::internal(format!("page template: {e}")))
}
