//! Partner search: the same purpose form as a local search, sent to the partner agencies
//! whose agreements (in force) share plate queries. The search itself is the federation
//! API's handler (checked here against each agreement before anything is sent, checked
//! again by each partner, audited before the answers are shown); this page collects the
//! form and shows each partner's answer or its refusal, partner by partner.

use askama::Template;
use axum::Router;
use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;

use super::search::{
    CategoryOption, FieldErrors, SearchForm, category_options, default_form, place_error, request,
};
use super::{Console, Layout, PageError, render_status, time_text};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::federation::agreements::{document, our_index, revoked_at};
use crate::federation::manage::{self as api, FederatedSearchAnswer, FederatedSearchRequest};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/console/search/partners",
        get(partner_form).post(run_partner_search),
    )
}

/// A partner whose agreement lets this agency's users query its reads.
pub struct PartnerOption {
    pub agreement_id: String,
    pub agency: String,
    pub scope: String,
    pub chosen: bool,
}

/// One read a partner shared (only the fields its agreement allows are filled).
pub struct SharedRow {
    pub plate: String,
    pub time: String,
    pub location: String,
    pub vehicle: String,
}

/// One partner's answer, or why there is none.
pub struct PartnerAnswer {
    pub agreement_id: String,
    pub agency: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub rows: Vec<SharedRow>,
}

#[derive(Template)]
#[template(path = "console/partner_search.html")]
struct PartnerSearchPage {
    layout: Layout,
    form: SearchForm,
    errors: FieldErrors,
    categories: Vec<CategoryOption>,
    case_example: String,
    partners: Vec<PartnerOption>,
    answers: Option<Vec<PartnerAnswer>>,
    audit_seq: u64,
}

/// The agreements in force that share plate queries, with this instance as a party.
async fn partners(state: &AppState, chosen: &[String]) -> Result<Vec<PartnerOption>, ApiError> {
    let now = Utc::now();
    let mut out = Vec::new();
    for record in state.store.agreements().await? {
        let doc = document(&record)?;
        if our_index(state, &doc).is_none()
            || !doc.agreement.sharing.plate_queries
            || doc.check_in_force(revoked_at(&record), now).is_err()
        {
            continue;
        }
        out.push(PartnerOption {
            chosen: chosen.contains(&record.id),
            agreement_id: record.id,
            agency: record.partner_agency,
            scope: record.scope_summary,
        });
    }
    Ok(out)
}

fn answers(answer: &FederatedSearchAnswer) -> Vec<PartnerAnswer> {
    answer
        .results
        .iter()
        .map(|r| PartnerAnswer {
            agreement_id: r.agreement_id.clone(),
            agency: r.partner_agency.clone(),
            outcome: r.outcome.clone(),
            reason: r.error.as_ref().map(|e| e.message.clone()),
            rows: r
                .reads
                .iter()
                .map(|s| SharedRow {
                    plate: s.plate.clone().unwrap_or_default(),
                    time: s.captured_at.map(time_text).unwrap_or_default(),
                    location: s.camera_location.clone().unwrap_or_default(),
                    vehicle: [s.vehicle_color.as_deref(), s.vehicle_make.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" "),
                })
                .collect(),
        })
        .collect()
}

async fn page(
    state: &AppState,
    c: Console,
    form: SearchForm,
    chosen: &[String],
    errors: FieldErrors,
    answer: Option<FederatedSearchAnswer>,
) -> Result<Response, PageError> {
    let policy = crate::routes::policy::policy_in_force(state).await?;
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = PartnerSearchPage {
        layout: c.layout,
        form,
        errors,
        categories: category_options(&policy.document),
        case_example: policy.document.case_number_example.clone(),
        partners: partners(state, chosen).await?,
        audit_seq: answer.as_ref().map_or(0, |a| a.audit_seq),
        answers: answer.as_ref().map(answers),
    };
    Ok(render_status(status, &page))
}

/// The empty form: the default range of a search here, every partner.
async fn partner_form(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    c.require(Permission::SearchReads)?;
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let form = default_form(&policy.document);
    page(&state, c, form, &[], FieldErrors::default(), None).await
}

async fn run_partner_search(
    State(state): State<AppState>,
    c: Console,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    c.require(Permission::SearchReads)?;
    let form = SearchForm::parse(&body);
    let chosen: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, v)| k == "agreements" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .collect();
    // The same checks as the local form: no purpose, nothing is sent.
    let req = match request(&form) {
        Ok(r) => r,
        Err(errors) => return page(&state, c, form, &chosen, *errors, None).await,
    };
    let body = FederatedSearchRequest {
        agreements: chosen.clone(),
        plate: req.plate,
        from: req.from,
        to: req.to,
        purpose: req.purpose,
        max_results: None,
    };
    match api::federated_search(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(body),
    )
    .await
    {
        Ok(axum::Json(answer)) => {
            page(
                &state,
                c,
                form,
                &chosen,
                FieldErrors::default(),
                Some(answer),
            )
            .await
        }
        Err(e) => match place_error(e) {
            Ok(errors) => page(&state, c, form, &chosen, errors, None).await,
            Err(e) => Err(PageError::within(c.layout, e)),
        },
    }
}
