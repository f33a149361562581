//! Search: the purpose first (category from the policy, case number, free text), then the
//! plate, time range and cameras. The search itself is the API's handler (policy checks,
//! audit record before results); this page only collects the form and shows the answer.
//! Results link to a record page and their images, each naming the search that listed them
//! (`?search=N`: see `crate::read_access`), and can be exported as CSV (permission Export,
//! audited).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use candor_store::cameras::Camera;
use candor_store::hits::Hit;
use candor_store::reads::StoredRead;
use serde_json::json;

use super::alerts::layout_copy;
use super::{
    Console, Layout, PageError, datetime_local, parse_datetime_local, render, render_status,
    time_text,
};
use crate::auth::{Actor, Permission};
use crate::error::ApiError;
use crate::read_access::{self, GroundsQuery, Refused, Subject};
use crate::search::{PurposeBody, SearchRequest, SearchResults, SearchTarget};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/search", get(search_form).post(run_search))
        .route("/console/search/export", post(export_csv))
        .route("/console/reads/{id}", get(read_record))
}

/// The search form as filled in, kept to show it again with its errors.
#[derive(Default, Clone)]
pub struct SearchForm {
    pub category: String,
    pub case_number: String,
    pub free_text: String,
    pub plate: String,
    pub from: String,
    pub to: String,
    pub cameras: Vec<String>,
    /// Only vehicles of this colour (empty: any).
    pub vehicle_color: String,
    /// Also find look-alike plates (within the policy's budget).
    pub lookalikes: bool,
    /// A search of hits: only reads that produced one, shown with their hits and verdicts.
    pub hits_only: bool,
}

impl SearchForm {
    pub(super) fn parse(body: &[u8]) -> SearchForm {
        let mut f = SearchForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "category" => f.category = v,
                "case_number" => f.case_number = v,
                "free_text" => f.free_text = v,
                "plate" => f.plate = v,
                "from" => f.from = v,
                "to" => f.to = v,
                "cameras" if !v.is_empty() => f.cameras.push(v),
                "vehicle_color" => f.vehicle_color = v,
                "lookalikes" => f.lookalikes = !v.is_empty(),
                "target" => f.hits_only = v == "hits",
                _ => {}
            }
        }
        f
    }

    /// The same fields, as hidden inputs (for the export form).
    pub fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("category", self.category.clone()),
            ("case_number", self.case_number.clone()),
            ("free_text", self.free_text.clone()),
            ("plate", self.plate.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ];
        out.extend(self.cameras.iter().map(|c| ("cameras", c.clone())));
        if self.hits_only {
            out.push(("target", "hits".into()));
        }
        out
    }

    /// What this form searches, and the permission that needs.
    fn target(&self) -> (SearchTarget, Permission) {
        if self.hits_only {
            (SearchTarget::Hits, Permission::SearchHits)
        } else {
            (SearchTarget::Reads, Permission::SearchReads)
        }
    }

    pub fn has_camera(&self, id: &str) -> bool {
        self.cameras.iter().any(|c| c == id)
    }
}

/// Errors next to the fields they are about.
#[derive(Default)]
pub struct FieldErrors {
    pub purpose: Option<String>,
    pub category: Option<String>,
    pub case_number: Option<String>,
    pub free_text: Option<String>,
    pub plate: Option<String>,
    pub range: Option<String>,
    pub general: Option<String>,
}

impl FieldErrors {
    pub(super) fn any(&self) -> bool {
        self.purpose.is_some()
            || self.category.is_some()
            || self.case_number.is_some()
            || self.free_text.is_some()
            || self.plate.is_some()
            || self.range.is_some()
            || self.general.is_some()
    }
}

pub struct CategoryOption {
    pub code: String,
    pub label: String,
}

/// The purpose form's choices: the policy's purpose categories.
pub(super) fn category_options(policy: &candor_policy::PolicyDocument) -> Vec<CategoryOption> {
    policy
        .purpose_categories
        .iter()
        .map(|p| CategoryOption {
            code: p.code.clone(),
            label: p.label.clone(),
        })
        .collect()
}

pub struct ResultRow {
    pub id: i64,
    pub time: String,
    pub camera: String,
    pub location: String,
    pub plate: String,
    pub confidence: String,
    pub image_id: Option<i64>,
    /// For a search of hits: the read's hits, each with its verdict.
    pub hits: Vec<HitCell>,
}

/// A hit as a search result shows it: what it was and what a person decided.
pub struct HitCell {
    pub id: i64,
    /// E.g. "stolen vehicle (V) on State stolen: correct read, stop".
    pub text: String,
}

impl HitCell {
    fn of(hit: &Hit) -> HitCell {
        let verdict = match (&hit.disposition, &hit.action) {
            (None, _) => "unverified".to_string(),
            (Some(d), None) => words(d.value.as_str()),
            (Some(d), Some(a)) => {
                format!("{}, {}", words(d.value.as_str()), words(a.value.as_str()))
            }
        };
        HitCell {
            id: hit.id,
            text: format!(
                "{} ({}) on {}: {verdict}",
                candor_store::hotlists::hit_type_words(&hit.hit_type),
                hit.hit_type,
                hit.details.list_name
            ),
        }
    }
}

/// A code in words: `correct_read` → "correct read".
fn words(code: &str) -> String {
    code.replace('_', " ")
}

/// Each read's hits in a search of hits, by read.
fn hits_by_read(hits: Option<&Vec<Hit>>) -> HashMap<i64, Vec<HitCell>> {
    let mut out: HashMap<i64, Vec<HitCell>> = HashMap::new();
    for h in hits.into_iter().flatten() {
        out.entry(h.read_id).or_default().push(HitCell::of(h));
    }
    out
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    layout: Layout,
    form: SearchForm,
    errors: FieldErrors,
    categories: Vec<CategoryOption>,
    case_example: String,
    cameras: Vec<Camera>,
    /// The vehicle colours a search may ask for.
    colours: Vec<&'static str>,
    results: Option<Vec<ResultRow>>,
    audit_seq: u64,
    more: bool,
    can_search_hits: bool,
    can_export: bool,
    can_view_images: bool,
}

async fn page(
    state: &AppState,
    c: Console,
    form: SearchForm,
    errors: FieldErrors,
    answer: Option<SearchResults>,
) -> Result<Response, PageError> {
    let policy = crate::routes::policy::policy_in_force(state).await?;
    let cameras = state.store.list_cameras().await.map_err(ApiError::from)?;
    let by_id: HashMap<&str, &Camera> = cameras.iter().map(|c| (c.id.as_str(), c)).collect();
    let (results, audit_seq, more) = match &answer {
        Some(a) => {
            let mut hits = hits_by_read(a.hits.as_ref());
            let rows = a
                .reads
                .iter()
                .map(|r| {
                    let mut row = row(r, &by_id);
                    row.hits = hits.remove(&r.id).unwrap_or_default();
                    row
                })
                .collect();
            (Some(rows), a.audit_seq, a.next_cursor.is_some())
        }
        None => (None, 0, false),
    };
    let status = if errors.any() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let page = SearchPage {
        can_search_hits: c.actor.role.allows(Permission::SearchHits),
        can_export: c.actor.role.allows(Permission::Export),
        can_view_images: c.actor.role.allows(Permission::ViewImages),
        layout: c.layout,
        form,
        errors,
        categories: category_options(&policy.document),
        case_example: policy.document.case_number_example.clone(),
        cameras: cameras.clone(),
        colours: candor_vision::VehicleColour::ALL
            .iter()
            .map(|c| c.as_str())
            .collect(),
        results,
        audit_seq,
        more,
    };
    Ok(render_status(status, &page))
}

fn location(read: &StoredRead, cameras: &HashMap<&str, &Camera>) -> String {
    let mut out = cameras
        .get(read.camera_id.as_str())
        .map(|c| {
            if c.direction.is_empty() {
                c.location.clone()
            } else {
                format!("{} ({})", c.location, c.direction)
            }
        })
        .unwrap_or_default();
    if let (Some(lat), Some(lon)) = (read.details.latitude, read.details.longitude) {
        if !out.is_empty() {
            out.push_str(" · ");
        }
        out.push_str(&format!("{lat:.5}, {lon:.5}"));
    }
    out
}

fn row(read: &StoredRead, cameras: &HashMap<&str, &Camera>) -> ResultRow {
    ResultRow {
        id: read.id,
        time: time_text(read.captured_at),
        camera: read.camera_id.clone(),
        location: location(read, cameras),
        plate: read.details.plate.clone(),
        confidence: format!("{:.0}%", read.confidence * 100.0),
        image_id: read.image_id,
        hits: Vec::new(),
    }
}

/// The default time range of an empty search form: a week, or less where the policy caps a
/// search (of a partial plate, the tightest cap) at less; so that the first search fits.
pub(super) fn default_range_ms(policy: &candor_policy::PolicyDocument) -> i64 {
    const WEEK: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);
    let mut range = WEEK.min(policy.max_search_range);
    if policy.partial_plate_search.allowed {
        range = range.min(policy.partial_plate_search.max_range);
    }
    i64::try_from(range.as_millis()).unwrap_or(i64::MAX)
}

/// An empty search form over the default range ([`default_range_ms`]), ending at the next
/// whole minute (the form's precision), so that it covers exactly that range.
pub(super) fn default_form(policy: &candor_policy::PolicyDocument) -> SearchForm {
    default_form_at(policy, candor_store::now_ms())
}

fn default_form_at(policy: &candor_policy::PolicyDocument, now: i64) -> SearchForm {
    const MINUTE: i64 = 60_000;
    let to = (now.div_euclid(MINUTE) + 1) * MINUTE;
    // The form shows whole minutes: round the start up so the range never exceeds the cap.
    let from = (to - default_range_ms(policy)).div_euclid(MINUTE) * MINUTE;
    let from = if to - from > default_range_ms(policy) {
        from + MINUTE
    } else {
        from
    };
    SearchForm {
        from: datetime_local(from),
        to: datetime_local(to),
        ..SearchForm::default()
    }
}

/// The empty form over the default range.
async fn search_form(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    c.require(Permission::SearchReads)?;
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let form = default_form(&policy.document);
    page(&state, c, form, FieldErrors::default(), None).await
}

/// Checks that the form is complete and builds the API's request; a missing purpose stops
/// the search here, before anything is looked up.
pub(super) fn request(form: &SearchForm) -> Result<SearchRequest, Box<FieldErrors>> {
    let mut e = FieldErrors::default();
    if form.category.trim().is_empty() {
        e.category = Some("Choose the purpose category of this search.".into());
    }
    if form.case_number.trim().is_empty() {
        e.case_number = Some("Give the case or incident number this search is for.".into());
    }
    if form.free_text.trim().is_empty() {
        e.free_text = Some("Say in your own words why you need this search.".into());
    }
    if e.category.is_some() || e.case_number.is_some() || e.free_text.is_some() {
        e.purpose =
            Some("A search runs only with a purpose: fill in all three fields below.".into());
    }
    if form.plate.trim().is_empty() {
        e.plate = Some("Give the plate to search for.".into());
    }
    let from = parse_datetime_local(&form.from);
    let to = parse_datetime_local(&form.to);
    let range = match (from, to) {
        (Some(f), Some(t)) if f < t => Some((f, t)),
        (Some(_), Some(_)) => {
            e.range = Some("The start must be before the end.".into());
            None
        }
        _ => {
            e.range = Some("Give the start and end as date and time (UTC).".into());
            None
        }
    };
    let (Some((from, to)), false) = (range, e.any()) else {
        return Err(Box::new(e));
    };
    Ok(SearchRequest {
        plate: form.plate.trim().to_string(),
        lookalikes: form.lookalikes,
        from,
        to,
        cameras: form.cameras.clone(),
        area: None,
        vehicle_color: Some(form.vehicle_color.trim().to_string()).filter(|c| !c.is_empty()),
        purpose: PurposeBody {
            category: form.category.trim().to_string(),
            case_number: form.case_number.trim().to_string(),
            free_text: form.free_text.trim().to_string(),
        },
        limit: None,
        cursor: None,
    })
}

/// Puts an error from the search service next to the field it is about.
pub(super) fn place_error(e: ApiError) -> Result<FieldErrors, ApiError> {
    let mut f = FieldErrors::default();
    match e.code.as_str() {
        "purpose_denied" => f.purpose = Some(e.message),
        "invalid_plate" => f.plate = Some(e.message),
        "invalid_range" => f.range = Some(e.message),
        "invalid_body"
        | "invalid"
        | "invalid_area"
        | "invalid_cursor"
        | "invalid_vehicle_color" => f.general = Some(e.message),
        _ => return Err(e),
    }
    Ok(f)
}

async fn search(
    state: &AppState,
    actor: &Actor,
    form: &SearchForm,
) -> Result<Result<SearchResults, Box<FieldErrors>>, ApiError> {
    let req = match request(form) {
        Ok(r) => r,
        Err(errors) => return Ok(Err(errors)),
    };
    match crate::search::run_search(state, actor, form.target().0, req).await {
        Ok(answer) => Ok(Ok(answer)),
        Err(e) => place_error(e).map(|f| Err(Box::new(f))),
    }
}

async fn run_search(
    State(state): State<AppState>,
    c: Console,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    let form = SearchForm::parse(&body);
    c.require(form.target().1)?;
    match search(&state, &c.actor, &form)
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?
    {
        Ok(answer) => page(&state, c, form, FieldErrors::default(), Some(answer)).await,
        Err(errors) => page(&state, c, form, *errors, None).await,
    }
}

/// One CSV field, quoted; a leading formula character (`=`, `+`, `-`, `@`, tab or carriage
/// return, as OWASP lists them) is neutralised so a spreadsheet shows the text rather than
/// running it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The results as CSV: the search runs again (audited as a search, with its purpose), and
/// the export is audited too before the file is sent.
async fn export_csv(
    State(state): State<AppState>,
    c: Console,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    c.require(Permission::Export)?;
    let form = SearchForm::parse(&body);
    let answer = match search(&state, &c.actor, &form)
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?
    {
        Ok(a) => a,
        Err(errors) => return page(&state, c, form, *errors, None).await,
    };
    let cameras = state.store.list_cameras().await.map_err(ApiError::from)?;
    let by_id: HashMap<&str, &Camera> = cameras.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut hits = hits_by_read(answer.hits.as_ref());
    let mut out = String::from(if form.hits_only {
        "read_id,captured_at_utc,camera,location,plate,confidence,hits\r\n"
    } else {
        "read_id,captured_at_utc,camera,location,plate,confidence\r\n"
    });
    for r in &answer.reads {
        let t = chrono::DateTime::from_timestamp_millis(r.captured_at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{:.3}",
            r.id,
            csv_field(&t),
            csv_field(&r.camera_id),
            csv_field(&location(r, &by_id)),
            csv_field(&r.details.plate),
            r.confidence
        ));
        if form.hits_only {
            let cells: Vec<String> = hits
                .remove(&r.id)
                .unwrap_or_default()
                .into_iter()
                .map(|h| format!("hit {}: {}", h.id, h.text))
                .collect();
            out.push_str(&format!(",{}", csv_field(&cells.join("; "))));
        }
        out.push_str("\r\n");
    }
    crate::auth::record_action(
        &state,
        &c.actor,
        "search.export",
        &format!("case:{}", form.case_number.trim()),
        json!({"search_seq": answer.audit_seq, "rows": answer.reads.len(), "format": "csv"}),
    )
    .await?;
    let name = format!("candor-search-{}.csv", answer.audit_seq);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        out,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "console/read.html")]
struct ReadPage {
    layout: Layout,
    row: ResultRow,
    region: String,
    candidates: String,
    vehicle: String,
    /// GPS the camera sent with the read, in degrees (empty when none).
    position: String,
    /// The camera sent a picture of the plate alone.
    plate_image: bool,
    received: String,
    expires: String,
    /// The grounds it was opened on, in words (`search #12`, `hit 3`).
    opened_from: String,
    /// The same grounds as a query string, for the image's link.
    grounds_query: String,
    can_view_images: bool,
    /// The read's hits, with their verdicts.
    hits: Vec<HitCell>,
}

/// One read, opened from a search of this person that listed it or from a hit
/// (`?search=N` / `?hit=N`, checked by [`read_access::check`]). The view is audited with its
/// grounds and their purpose before the page is sent.
async fn read_record(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    q: Result<Query<GroundsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let grounds = q
        .map_err(|_| Refused::NoGrounds)
        .and_then(|Query(q)| q.grounds());
    let basis = read_access::check(&state, &c.actor, "read.view", Subject::Read(id), grounds)
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let read = state
        .store
        .get_read(&state.keys, id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::not_found(format!("read {id} not found (it may have been purged)"))
        })?;
    read_access::record_view(
        &state,
        &c.actor,
        "read.view",
        format!("read:{id}"),
        &basis,
        json!({}),
    )
    .await?;
    let cameras = state.store.list_cameras().await.map_err(ApiError::from)?;
    let by_id: HashMap<&str, &Camera> = cameras.iter().map(|c| (c.id.as_str(), c)).collect();
    let d = &read.details;
    let vehicle = super::vehicle_text(d);
    let position = super::position_text(d).unwrap_or_default();
    let plate_image = d.plate_image_id.is_some();
    let hits = state
        .store
        .hits_for_reads(&state.keys, &[id])
        .await
        .map_err(ApiError::from)?
        .iter()
        .map(HitCell::of)
        .collect();
    Ok(render(&ReadPage {
        hits,
        row: row(&read, &by_id),
        region: d.region.clone().unwrap_or_default(),
        candidates: d
            .candidates
            .iter()
            .map(|c| format!("{} ({:.0}%)", c.plate, c.confidence * 100.0))
            .collect::<Vec<_>>()
            .join(", "),
        vehicle,
        position,
        plate_image,
        received: time_text(read.received_at),
        expires: time_text(read.expires_at),
        opened_from: basis.grounds.describe(),
        grounds_query: basis.grounds.query(),
        can_view_images: c.actor.role.allows(Permission::ViewImages),
        layout: c.layout,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_range_fits_the_policy() {
        let mut policy = candor_policy::PolicyDocument::default_for_new_agency();
        for now in [1_764_000_000_000, 1_764_000_012_345, 1_764_000_059_999] {
            let f = default_form_at(&policy, now);
            let (from, to) = (
                super::super::parse_datetime_local(&f.from).unwrap(),
                super::super::parse_datetime_local(&f.to).unwrap(),
            );
            assert!(to > now, "the range reaches now");
            assert_eq!(
                to - from,
                7 * 86_400_000,
                "exactly the policy's partial cap"
            );
        }
        policy.partial_plate_search.max_range = std::time::Duration::from_secs(3 * 86_400);
        let f = default_form_at(&policy, 1_764_000_012_345);
        let (from, to) = (
            super::super::parse_datetime_local(&f.from).unwrap(),
            super::super::parse_datetime_local(&f.to).unwrap(),
        );
        assert_eq!(to - from, 3 * 86_400_000);
    }

    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("ABC123"), "\"ABC123\"");
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
        assert_eq!(csv_field("\t=cmd()"), "\"'\t=cmd()\"");
        assert_eq!(csv_field("\r=cmd()"), "\"'\r=cmd()\"");
    }

    #[test]
    fn a_search_without_purpose_is_stopped_before_it_runs() {
        let form = SearchForm {
            plate: "ABC123".into(),
            from: "2026-11-01T00:00".into(),
            to: "2026-11-02T00:00".into(),
            ..SearchForm::default()
        };
        let errors = request(&form).unwrap_err();
        assert!(errors.purpose.is_some());
        assert!(errors.case_number.is_some());
        assert!(errors.plate.is_none());
    }

    #[test]
    fn repeated_camera_fields_are_all_kept() {
        let f = SearchForm::parse(b"plate=A&cameras=c1&cameras=c2&cameras=");
        assert_eq!(f.cameras, vec!["c1", "c2"]);
    }
}
