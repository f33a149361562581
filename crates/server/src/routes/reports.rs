//! Usage reports for program managers and auditors (permission `view_reports`): the MCCA
//! metrics and the rest by day, month, quarter or year, with the year-over-year comparison,
//! as JSON or CSV over the API, and in the console with charts and a printable annual or
//! six-monthly usage report. Every figure is computed from the store's records
//! (`candor_store::metrics`); every viewing and export is audited before it is answered.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use candor_reports::chart::{Series, bar_chart};
use candor_reports::period::parse_date;
use candor_reports::{Count, DateRange, Figures, HEADLINES, Period, Report, YearOverYear};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(usage, year_over_year),
    components(schemas(UsageAnswer, Report, YearOverYear))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/usage", get(usage))
        .route("/api/v1/reports/usage/year-over-year", get(year_over_year))
        .route("/console/reports", get(console_reports))
        .route("/console/reports/usage-report", get(usage_report_page))
}

/// Most periods one report may hold (a year and a bit by day).
const MAX_BUCKETS: usize = 400;

/// Unix milliseconds at the start of UTC day `d`.
pub fn day_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// Today (UTC).
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The store's daily counts on the days in `[from, to)`.
pub async fn load_counts(
    state: &AppState,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Count>, ApiError> {
    let rows = state.store.usage_counts(day_ms(from), day_ms(to)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let day = chrono::DateTime::from_timestamp_millis(r.day)?.date_naive();
            Some(Count {
                day,
                metric: r.metric,
                label: r.label,
                count: r.count,
            })
        })
        .collect())
}

/// A report of `range` by `period`, from the store (the counts cover the year before too,
/// for the comparison).
pub async fn build_report(
    state: &AppState,
    period: Period,
    range: DateRange,
) -> Result<Report, ApiError> {
    let counts = load_counts(state, range.year_earlier().from, range.to).await?;
    Ok(Report::build(&counts, period, range))
}

/// Which report, from query parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct UsageQuery {
    /// `day`, `month` (default), `quarter` or `year`.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD` (default: 1 January this year).
    pub from: Option<String>,
    /// Day after the last, `YYYY-MM-DD`, exclusive (default: tomorrow, so today is in).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

struct Chosen {
    period: Period,
    range: DateRange,
    format: Format,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_report", message)
}

fn choose(q: &UsageQuery) -> Result<Chosen, ApiError> {
    let today = today();
    let period = match q.period.as_deref().filter(|s| !s.is_empty()) {
        Some(p) => Period::parse(p).map_err(|e| invalid(e.to_string()))?,
        None => Period::Month,
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => parse_date("from", t).map_err(|e| invalid(e.to_string()))?,
        None => NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January exists"),
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => parse_date("to", t).map_err(|e| invalid(e.to_string()))?,
        None => today.succ_opt().unwrap_or(today),
    };
    let range = DateRange::new(from, to).map_err(|e| invalid(e.to_string()))?;
    let buckets = period.buckets(range.from, range.to).len();
    if buckets > MAX_BUCKETS {
        return Err(invalid(format!(
            "{buckets} {}s is too many for one report (at most {MAX_BUCKETS}); choose a longer period or a shorter range",
            period.as_str()
        )));
    }
    let format = match q.format.as_deref().unwrap_or("json") {
        "json" | "" => Format::Json,
        "csv" => Format::Csv,
        other => return Err(invalid(format!("format {other:?} is not json or csv"))),
    };
    Ok(Chosen {
        period,
        range,
        format,
    })
}

fn parse_query(params: Result<Query<UsageQuery>, QueryRejection>) -> Result<UsageQuery, ApiError> {
    params.map(|Query(q)| q).map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{}; give period, from, to (YYYY-MM-DD) and format",
                e.body_text()
            ),
        )
    })
}

/// Replaces user ids in the per-user breakdown with `username (id)`, so a report names
/// who searched how often (for program managers and auditors only).
async fn name_users(state: &AppState, report: &mut Report) -> Result<(), ApiError> {
    let names: BTreeMap<String, String> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), format!("{} ({})", u.username, u.id)))
        .collect();
    let rename = |f: &mut Figures| {
        f.queries_by_user = std::mem::take(&mut f.queries_by_user)
            .into_iter()
            .map(|(id, n)| (names.get(&id).cloned().unwrap_or(id), n))
            .collect();
    };
    rename(&mut report.totals);
    for b in &mut report.buckets {
        rename(&mut b.figures);
    }
    Ok(())
}

/// A report, as the API answers it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageAnswer {
    pub report: Report,
    /// Legal holds in force now.
    pub legal_holds_active: i64,
    /// When these figures were computed (RFC 3339).
    pub generated_at: String,
}

fn csv_response(file_name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn audited_report(
    state: &AppState,
    actor: &Actor,
    q: &UsageQuery,
    what: &str,
) -> Result<(Chosen, Report), ApiError> {
    let chosen = choose(q)?;
    let mut report = build_report(state, chosen.period, chosen.range).await?;
    name_users(state, &mut report).await?;
    auth::record_action(
        state,
        actor,
        if chosen.format == Format::Csv {
            "report.export"
        } else {
            "report.view"
        },
        "reports",
        json!({"report": what, "period": chosen.period.as_str(), "from": chosen.range.from,
               "to": chosen.range.to, "format": if chosen.format == Format::Csv { "csv" } else { "json" }}),
    )
    .await?;
    Ok((chosen, report))
}

/// Usage figures by period with totals and the year-over-year comparison (program
/// managers, auditors, supervisors, administrators). JSON, or CSV with `format=csv`: one
/// row per period and a `total` row. Audited.
#[utoipa::path(get, path = "/api/v1/reports/usage", params(UsageQuery), responses(
    (status = 200, body = UsageAnswer), (status = 403, body = ErrorBody),
    (status = 422, description = "bad period, dates or format", body = ErrorBody)))]
pub async fn usage(
    State(state): State<AppState>,
    actor: Actor,
    params: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    actor.require(Permission::ViewReports)?;
    let q = parse_query(params)?;
    let (chosen, report) = audited_report(&state, &actor, &q, "usage").await?;
    if chosen.format == Format::Csv {
        let name = format!(
            "candor-usage-{}-{}-by-{}.csv",
            chosen.range.from,
            chosen.range.to,
            chosen.period.as_str()
        );
        return Ok(csv_response(
            &name,
            candor_reports::export::report_csv(&report),
        ));
    }
    Ok(Json(UsageAnswer {
        report,
        legal_holds_active: state.store.active_hold_count().await?,
        generated_at: chrono::Utc::now().to_rfc3339(),
    })
    .into_response())
}

/// The range's figures against the same days a year earlier, JSON or CSV. Audited.
#[utoipa::path(get, path = "/api/v1/reports/usage/year-over-year", params(UsageQuery), responses(
    (status = 200, body = YearOverYear), (status = 403, body = ErrorBody),
    (status = 422, description = "bad dates or format", body = ErrorBody)))]
pub async fn year_over_year(
    State(state): State<AppState>,
    actor: Actor,
    params: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    actor.require(Permission::ViewReports)?;
    let mut q = parse_query(params)?;
    // The comparison does not depend on the period; a yearly one keeps the work small.
    q.period = Some("year".into());
    let (chosen, report) = audited_report(&state, &actor, &q, "year_over_year").await?;
    let yoy = report.year_over_year;
    if chosen.format == Format::Csv {
        let name = format!(
            "candor-year-over-year-{}-{}.csv",
            chosen.range.from, chosen.range.to
        );
        return Ok(csv_response(
            &name,
            candor_reports::export::year_over_year_csv(&yoy),
        ));
    }
    Ok(Json(yoy).into_response())
}

// ---- Console pages ---------------------------------------------------------------------

/// A headline figure's row in a table: its name and one formatted value per column.
pub struct FigureRow {
    pub name: String,
    pub values: Vec<String>,
}

/// A count by kind (hit type, purpose, user).
pub struct Breakdown {
    pub label: String,
    pub count: i64,
}

pub fn breakdown(map: &BTreeMap<String, i64>) -> Vec<Breakdown> {
    map.iter()
        .map(|(label, count)| Breakdown {
            label: label.clone(),
            count: *count,
        })
        .collect()
}

/// `12.5%`, or an em dash when there is no rate.
pub fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// A comparison row, formatted.
pub struct ComparisonRow {
    pub name: String,
    pub current: i64,
    pub previous: i64,
    pub change: String,
    pub trend: &'static str,
}

pub fn comparison_rows(yoy: &YearOverYear) -> Vec<ComparisonRow> {
    yoy.comparisons
        .iter()
        .map(|c| ComparisonRow {
            name: c.name.clone(),
            current: c.current,
            previous: c.previous,
            change: match c.change_percent {
                Some(p) => format!("{:+} ({p:+.1}%)", c.change),
                None => format!("{:+}", c.change),
            },
            trend: match c.trend {
                candor_reports::Trend::Up => "↑ up",
                candor_reports::Trend::Down => "↓ down",
                candor_reports::Trend::Flat => "→ flat",
            },
        })
        .collect()
}

/// Charts of a report's main figures, by period (SVG documents).
pub fn report_charts(report: &Report) -> Result<Vec<String>, ApiError> {
    let labels = report.labels();
    let chart = |title: &str, keys: &[(&str, &str)]| {
        let values: Vec<Vec<i64>> = keys.iter().map(|(k, _)| report.series(k)).collect();
        let series: Vec<Series<'_>> = keys
            .iter()
            .zip(&values)
            .map(|((_, name), v)| Series { name, values: v })
            .collect();
        bar_chart(title, &labels, &series).map_err(|e| ApiError::internal(e.to_string()))
    };
    Ok(vec![
        chart("Detections", &[("detections", "detections")])?,
        chart(
            "Hits, and hits verified",
            &[("hits", "hits"), ("hits_verified", "verified")],
        )?,
        chart("Searches by users", &[("queries", "searches")])?,
        chart(
            "Stops and arrests after verified hits",
            &[("stops", "stops"), ("arrests", "arrests")],
        )?,
    ])
}

/// This range against a year earlier, as a chart of the headline counts.
pub fn comparison_chart(yoy: &YearOverYear, keys: &[&str]) -> Result<String, ApiError> {
    let picked: Vec<&candor_reports::Comparison> = keys
        .iter()
        .filter_map(|k| yoy.comparisons.iter().find(|c| c.key == *k))
        .collect();
    let labels: Vec<String> = picked.iter().map(|c| c.key.replace('_', " ")).collect();
    let current: Vec<i64> = picked.iter().map(|c| c.current).collect();
    let previous: Vec<i64> = picked.iter().map(|c| c.previous).collect();
    let (now_name, before_name) = (
        format!(
            "{} – {}",
            yoy.range.from,
            yoy.range.to.pred_opt().unwrap_or(yoy.range.to)
        ),
        format!(
            "{} – {}",
            yoy.previous_range.from,
            yoy.previous_range
                .to
                .pred_opt()
                .unwrap_or(yoy.previous_range.to)
        ),
    );
    bar_chart(
        "Year over year",
        &labels,
        &[
            Series {
                name: &before_name,
                values: &previous,
            },
            Series {
                name: &now_name,
                values: &current,
            },
        ],
    )
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// Rows of every headline figure, one column per bucket and a total column.
pub fn figure_rows(report: &Report) -> Vec<FigureRow> {
    let mut rows: Vec<FigureRow> = HEADLINES
        .iter()
        .map(|h| FigureRow {
            name: h.name.to_string(),
            values: report
                .buckets
                .iter()
                .map(|b| (h.get)(&b.figures))
                .chain([(h.get)(&report.totals)])
                .map(|v| v.to_string())
                .collect(),
        })
        .collect();
    for (name, get) in [
        (
            "Misread rate",
            (|f: &Figures| f.misread_rate) as fn(&Figures) -> Option<f64>,
        ),
        ("Wrong-state rate", |f: &Figures| f.wrong_state_rate),
    ] {
        rows.push(FigureRow {
            name: name.into(),
            values: report
                .buckets
                .iter()
                .map(|b| percent(get(&b.figures)))
                .chain([percent(get(&report.totals))])
                .collect(),
        });
    }
    rows
}

#[derive(Template)]
#[template(path = "reports/console.html")]
struct ConsoleReportsPage {
    layout: crate::console::Layout,
    username: String,
    period: &'static str,
    /// Each period's name, and whether it is the one shown.
    periods: Vec<(&'static str, bool)>,
    from: String,
    to: String,
    error: Option<String>,
    bucket_labels: Vec<String>,
    rows: Vec<FigureRow>,
    charts: Vec<String>,
    yoy_chart: String,
    comparisons: Vec<ComparisonRow>,
    previous_from: String,
    previous_to: String,
    hit_types: Vec<Breakdown>,
    purposes: Vec<Breakdown>,
    users: Vec<Breakdown>,
    legal_holds_active: i64,
    /// Shared queries per partner agency in the period (both directions).
    shared_queries: Vec<candor_store::agreements::PartnerQueryCounts>,
    export_query: String,
    this_year: i32,
}

fn html(t: &impl Template) -> Result<Html<String>, ApiError> {
    t.render()
        .map(Html)
        .map_err(|e| ApiError::internal(format!("page template: {e}")))
}

/// The console's reports page: period selector, charts, tables, exports. Audited.
pub async fn console_reports(
    State(state): State<AppState>,
    console: crate::console::Console,
    params: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Html<String>, ApiError> {
    let crate::console::Console { actor, layout } = console;
    actor.require(Permission::ViewReports)?;
    let mut q = parse_query(params)?;
    q.format = None;
    // A bad choice is shown on the page, with this year's report below it.
    let (error, chosen_q) = match choose(&q) {
        Ok(_) => (None, q),
        Err(e) => (Some(e.message.clone()), UsageQuery::default()),
    };
    let (chosen, report) = audited_report(&state, &actor, &chosen_q, "console").await?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("period", chosen.period.as_str())
        .append_pair("from", &chosen.range.from.to_string())
        .append_pair("to", &chosen.range.to.to_string())
        .finish();
    let yoy = &report.year_over_year;
    let page = ConsoleReportsPage {
        layout,
        username: actor.username.clone(),
        period: chosen.period.as_str(),
        periods: Period::ALL
            .iter()
            .map(|p| (p.as_str(), *p == chosen.period))
            .collect(),
        from: chosen.range.from.to_string(),
        to: chosen.range.to.to_string(),
        error,
        bucket_labels: report.labels(),
        rows: figure_rows(&report),
        charts: report_charts(&report)?,
        yoy_chart: comparison_chart(yoy, &["detections", "hits", "queries", "arrests"])?,
        comparisons: comparison_rows(yoy),
        previous_from: yoy.previous_range.from.to_string(),
        previous_to: yoy.previous_range.to.to_string(),
        hit_types: breakdown(&report.totals.hits_by_type),
        purposes: breakdown(&report.totals.queries_by_purpose),
        users: breakdown(&report.totals.queries_by_user),
        legal_holds_active: state.store.active_hold_count().await?,
        shared_queries: state
            .store
            .shared_query_counts(day_ms(chosen.range.from), day_ms(chosen.range.to))
            .await?,
        export_query: query,
        this_year: today().year(),
    };
    html(&page)
}

/// Which statutory report.
#[derive(Debug, Deserialize)]
pub struct StatutoryQuery {
    pub year: Option<i32>,
    /// 1 (January–June) or 2 (July–December); the whole year when absent.
    pub half: Option<u32>,
}

#[derive(Template)]
#[template(path = "reports/usage_report.html")]
struct UsageReportPage {
    layout: crate::console::Layout,
    agency_name: String,
    statement_of_purpose: String,
    title: String,
    from: String,
    to_inclusive: String,
    previous_from: String,
    previous_to_inclusive: String,
    policy_version: i64,
    jurisdiction: String,
    retention: Vec<(String, String)>,
    cameras: Vec<Breakdown>,
    quarter_labels: Vec<String>,
    rows: Vec<FigureRow>,
    comparisons: Vec<ComparisonRow>,
    hit_types: Vec<Breakdown>,
    purposes: Vec<Breakdown>,
    misread_rate: String,
    wrong_state_rate: String,
    legal_holds_active: i64,
    checkpoint: Option<crate::routes::transparency::PublishedCheckpoint>,
    generated_at: String,
    prepared_by: String,
}

/// The printable usage report for a year or half-year, in the form state laws ask agencies
/// to file (six-monthly in Arkansas, annual elsewhere): every figure from the records, with
/// the comparison to the same period a year earlier. Audited.
pub async fn usage_report_page(
    State(state): State<AppState>,
    console: crate::console::Console,
    params: Result<Query<StatutoryQuery>, QueryRejection>,
) -> Result<Html<String>, ApiError> {
    let crate::console::Console { actor, layout } = console;
    actor.require(Permission::ViewReports)?;
    let Query(q) = params.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("{}; give year and optionally half (1 or 2)", e.body_text()),
        )
    })?;
    let year = q.year.unwrap_or(today().year() - 1);
    let (range, title) = match q.half {
        None => (
            DateRange::year(year).map_err(|e| invalid(e.to_string()))?,
            format!("Annual ALPR usage report {year}"),
        ),
        Some(h) => (
            DateRange::half_year(year, h).map_err(|e| invalid(e.to_string()))?,
            format!(
                "Six-monthly ALPR usage report {year}, {}",
                if h == 1 {
                    "January–June"
                } else {
                    "July–December"
                }
            ),
        ),
    };
    let report = build_report(&state, Period::Quarter, range)
        .await?
        .without_users();
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let cameras = crate::routes::transparency::cameras_by_type(&state).await?;
    auth::record_action(
        &state,
        &actor,
        "report.view",
        "reports",
        json!({"report": "usage_report", "from": range.from, "to": range.to}),
    )
    .await?;
    let last_day = |d: NaiveDate| d.pred_opt().unwrap_or(d).to_string();
    let yoy = &report.year_over_year;
    let page = UsageReportPage {
        layout,
        agency_name: policy.document.agency_name.clone(),
        statement_of_purpose: policy.document.statement_of_purpose.clone(),
        title,
        from: range.from.to_string(),
        to_inclusive: last_day(range.to),
        previous_from: yoy.previous_range.from.to_string(),
        previous_to_inclusive: last_day(yoy.previous_range.to),
        policy_version: policy.version,
        jurisdiction: policy
            .document
            .jurisdiction
            .map(|j| j.name().to_string())
            .unwrap_or_else(|| "none set".into()),
        retention: crate::routes::transparency::retention_classes(&policy.document),
        cameras: breakdown(&cameras),
        quarter_labels: report.labels(),
        rows: figure_rows(&report),
        comparisons: comparison_rows(yoy),
        hit_types: breakdown(&report.totals.hits_by_type),
        purposes: breakdown(&report.totals.queries_by_purpose),
        misread_rate: percent(report.totals.misread_rate),
        wrong_state_rate: percent(report.totals.wrong_state_rate),
        legal_holds_active: state.store.active_hold_count().await?,
        checkpoint: crate::routes::transparency::latest_checkpoint(&state).await?,
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        prepared_by: actor.username.clone(),
    };
    html(&page)
}
