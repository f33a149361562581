//! The search service: one function, [`run_search`], that every way of searching plate
//! data goes through (the JSON API, the console). A request in, results out:
//!
//! 1. the actor's role must allow the search (reads or hits);
//! 2. the plate pattern, times, cameras, area and cursor are checked, with errors naming
//!    the problem;
//! 3. the policy in force must allow the purpose and the search's shape (categories,
//!    case-number format, forbidden words, time-range caps, partial-plate rules,
//!    look-alike budget);
//! 4. the store finds the reads (blind index for a whole plate, keyed gram filters and
//!    decryption for a pattern);
//! 5. the search is appended to the audit log — purpose, query, result count, policy
//!    version — durably, before any result leaves this function, together with the ids of
//!    the reads (and, for a search of hits, the hits) it listed (the only grounds on which
//!    one of them opens by id later, see [`crate::read_access`]);
//! 6. it is put in the supervisors' review queue when sampled or flagged.

use candor_platetext::lookalike::LookAlikeClasses;
use candor_platetext::wildcard::Pattern;
use candor_policy::{PlateQuery, Purpose, SearchShape, check_search};
use candor_store::hits::Hit;
use candor_store::reads::StoredRead;
use candor_store::search::{LookAlikes, ReadSearch, SearchCursor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Actor, Permission};
use crate::error::ApiError;
use crate::state::AppState;

/// Why a search is made.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeBody {
    /// A purpose category code from the policy (e.g. `property-crime`, `missing-person`).
    pub category: String,
    /// Case or incident number, in the policy's format.
    pub case_number: String,
    /// The reason, in words.
    pub free_text: String,
}

/// A search's stated purpose and shape (whole or partial plate, time range), as the
/// policy checks them: the same for a local search and one sent to partners.
pub fn search_terms(
    purpose: &PurposeBody,
    partial: bool,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> (Purpose, SearchShape) {
    let purpose = Purpose {
        category: purpose.category.clone(),
        case_number: purpose.case_number.clone(),
        free_text: purpose.free_text.clone(),
    };
    let plate = if partial {
        PlateQuery::Partial
    } else {
        PlateQuery::Full
    };
    (purpose, SearchShape { plate, from, to })
}

/// A bounding box over camera positions, in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl Area {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |m: &str| ApiError::unprocessable("invalid_area", m.to_string());
        let lat = -90.0..=90.0;
        let lon = -180.0..=180.0;
        if !lat.contains(&self.south) || !lat.contains(&self.north) {
            return Err(bad("area latitudes must be between -90 and 90"));
        }
        if !lon.contains(&self.west) || !lon.contains(&self.east) {
            return Err(bad("area longitudes must be between -180 and 180"));
        }
        if self.south > self.north {
            return Err(bad("area south is north of its north; swap them"));
        }
        if self.west > self.east {
            return Err(bad(
                "area west is east of its east; areas across the 180th meridian are not supported, search each side",
            ));
        }
        Ok(())
    }

    fn contains(&self, latitude: f64, longitude: f64) -> bool {
        (self.south..=self.north).contains(&latitude)
            && (self.west..=self.east).contains(&longitude)
    }
}

/// A search of reads or hits.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The plate, or part of it: `?` is exactly one character, `*` any run (spaces and
    /// dashes are ignored). A pattern is a partial-plate search, which the policy may cap.
    pub plate: String,
    /// Also find plates that differ by look-alike characters (0/O, 8/B…), up to the
    /// policy's look-alike budget.
    #[serde(default)]
    pub lookalikes: bool,
    /// From this capture time (Unix ms, inclusive).
    pub from: i64,
    /// Until this capture time (Unix ms, exclusive).
    pub to: i64,
    /// Only these cameras (all when empty).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Only cameras positioned in this box (cameras without a position are left out).
    pub area: Option<Area>,
    /// Only reads of vehicles of this colour (black, white, grey, red, orange, yellow,
    /// green, blue, brown, purple; `silver` and `gray` are grey), as the camera sent it or
    /// Candor named it.
    #[serde(default)]
    pub vehicle_color: Option<String>,
    pub purpose: PurposeBody,
    /// Page size (at most the policy's results cap; default 50).
    pub limit: Option<u32>,
    /// Next page: `next_cursor` of the previous answer.
    pub cursor: Option<String>,
}

/// What is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchTarget {
    /// All reads.
    Reads,
    /// Reads that produced a hit, with their hits.
    Hits,
}

impl SearchTarget {
    /// The permission a search of this target needs.
    pub fn permission(self) -> Permission {
        match self {
            SearchTarget::Reads => Permission::SearchReads,
            SearchTarget::Hits => Permission::SearchHits,
        }
    }

    /// The audit action of a search of this target.
    pub fn audit_action(self) -> &'static str {
        match self {
            SearchTarget::Reads => "search.reads",
            SearchTarget::Hits => "search.hits",
        }
    }
}

/// One page of results, already audited.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// Matching reads, newest first.
    pub reads: Vec<StoredRead>,
    /// For a hit search: the hits of those reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<Vec<Hit>>,
    /// Pass as `cursor` for the next page; none on the last page.
    pub next_cursor: Option<String>,
    /// Policy version in force for this search.
    pub policy_version: i64,
    /// Sequence number of the audit record of this search.
    pub audit_seq: u64,
    /// Why this search went to the supervisors' review queue (empty when it did not).
    pub review_reasons: Vec<String>,
}

fn denied(message: String) -> ApiError {
    ApiError::unprocessable("purpose_denied", message)
}

/// The audit record of a search by `actor`, filed under its case number.
fn audit_entry(
    actor: &Actor,
    target: SearchTarget,
    req: &SearchRequest,
    outcome: candor_audit::Outcome,
    details: serde_json::Value,
) -> candor_audit::AuditEntry {
    candor_audit::AuditEntry::new(
        chrono::Utc::now(),
        candor_audit::Actor::User {
            id: actor.user_id.to_string(),
            name: actor.username.clone(),
        },
        target.audit_action(),
        format!("case:{}", req.purpose.case_number),
        outcome,
    )
    .with_source(actor.remote_addr.clone())
    .with_details(details)
}

/// Records a search the policy refused (who tried what, for which stated purpose, and why
/// it was refused), then gives the refusal to return. Nothing was looked up.
async fn refused(
    state: &AppState,
    actor: &Actor,
    target: SearchTarget,
    req: &SearchRequest,
    policy_version: i64,
    why: String,
) -> ApiError {
    let details = json!({
        "purpose": req.purpose,
        "query": {"plate": req.plate, "lookalikes": req.lookalikes, "from": req.from, "to": req.to},
        "reason": why,
        "policy_version": policy_version,
    });
    let entry = audit_entry(actor, target, req, candor_audit::Outcome::Denied, details);
    match state.store.append_audit(entry).await {
        Ok(_) => denied(why).already_audited(),
        Err(e) => ApiError::from(e),
    }
}

/// Runs a purpose-bound search for `actor` and returns one page of results, audited.
pub async fn run_search(
    state: &AppState,
    actor: &Actor,
    target: SearchTarget,
    req: SearchRequest,
) -> Result<SearchResults, ApiError> {
    actor.require(target.permission())?;
    let pattern = Pattern::parse(&req.plate)
        .map_err(|e| ApiError::unprocessable("invalid_plate", e.to_string()))?;
    let (Some(from), Some(to)) = (
        chrono::DateTime::from_timestamp_millis(req.from),
        chrono::DateTime::from_timestamp_millis(req.to),
    ) else {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from and to must be Unix milliseconds",
        ));
    };
    if let Some(area) = &req.area {
        area.check()?;
    }
    let colour = req
        .vehicle_color
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            candor_vision::VehicleColour::parse(c).ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_vehicle_color",
                    format!(
                        "vehicle colour {:?} is not one of black, white, grey, red, orange, yellow, green, blue, brown, purple",
                        c.chars().take(40).collect::<String>()
                    ),
                )
            })
        })
        .transpose()?;
    let after = req
        .cursor
        .as_deref()
        .map(str::parse::<SearchCursor>)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_cursor", e.to_string()))?;

    let policy = crate::routes::policy::policy_in_force(state).await?;
    let partial = !pattern.is_full_plate();
    let (purpose, shape) = search_terms(&req.purpose, partial, from, to);
    if let Err(e) = check_search(&policy.document, &purpose, &shape) {
        return Err(refused(state, actor, target, &req, policy.version, e.to_string()).await);
    }
    let lookalikes = if req.lookalikes {
        if policy.document.lookalike_budget == 0 {
            let why = "look-alike searches are not allowed by this policy (its look-alike budget is 0); search without look-alikes";
            return Err(refused(state, actor, target, &req, policy.version, why.into()).await);
        }
        Some(LookAlikes {
            classes: LookAlikeClasses::vendor_default(),
            budget: policy.document.lookalike_budget,
        })
    } else {
        None
    };

    let cameras = cameras_filter(state, &req).await?;
    let cap = policy.document.results_cap.max(1);
    let limit = req.limit.unwrap_or(50).clamp(1, cap) as usize;
    let query = ReadSearch {
        pattern: pattern.clone(),
        lookalikes,
        from: req.from,
        to: req.to,
        cameras,
        vehicle_color: colour.map(|c| c.words().iter().map(|w| w.to_string()).collect()),
        hits_only: target == SearchTarget::Hits,
        limit,
        after,
    };
    let page = state.store.search_reads(&state.keys, &query).await?;
    let hits = match target {
        SearchTarget::Hits => {
            let ids: Vec<i64> = page.reads.iter().map(|r| r.id).collect();
            Some(state.store.hits_for_reads(&state.keys, &ids).await?)
        }
        SearchTarget::Reads => None,
    };

    let details = json!({
        "purpose": req.purpose,
        "query": {
            "plate": pattern.to_string(),
            "kind": if partial { "partial" } else { "full" },
            "lookalike_budget": query.lookalikes.as_ref().map(|l| l.budget),
            "vehicle_color": colour.map(|c| c.as_str()),
            "from": req.from,
            "to": req.to,
            "cameras": req.cameras,
            "area": req.area,
            "cursor": req.cursor,
            "limit": limit,
        },
        "results": page.reads.len(),
        "policy_version": policy.version,
    });
    let entry = audit_entry(actor, target, &req, candor_audit::Outcome::Success, details);
    // The audit record, the reads (and hits) it listed and the usage count commit together, before
    // any result returns.
    let mut tx = state.store.begin().await?;
    let record = state.store.append_audit_tx(&mut tx, entry).await?;
    let listed: Vec<i64> = page.reads.iter().map(|r| r.id).collect();
    state
        .store
        .record_search_results(&mut tx, record.seq, &listed)
        .await?;
    if let Some(hits) = &hits {
        let listed_hits: Vec<i64> = hits.iter().map(|h| h.id).collect();
        state
            .store
            .record_search_hits(&mut tx, record.seq, &listed_hits)
            .await?;
    }
    candor_store::metrics::count_search(
        &mut tx,
        candor_store::now_ms(),
        &req.purpose.category,
        actor.user_id,
    )
    .await?;
    tx.commit().await.map_err(candor_store::StoreError::from)?;
    let review_reasons = crate::routes::reviews::consider_for_review(
        state,
        actor,
        &policy.document,
        &crate::routes::reviews::SearchFacts {
            audit_seq: record.seq,
            range_ms: req.to.saturating_sub(req.from),
            results: page.reads.len(),
            partial,
            query_fingerprint: state.keys.query_fingerprint(&pattern.to_string()),
            purpose_chars: req.purpose.free_text.trim().chars().count(),
        },
    )
    .await?;
    Ok(SearchResults {
        reads: page.reads,
        hits,
        next_cursor: page.next.map(|c| c.to_string()),
        policy_version: policy.version,
        audit_seq: record.seq,
        review_reasons,
    })
}

/// The cameras a search is limited to: those named, within the area; `None` for all.
async fn cameras_filter(
    state: &AppState,
    req: &SearchRequest,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(area) = req.area else {
        return Ok((!req.cameras.is_empty()).then(|| req.cameras.clone()));
    };
    let in_area = state
        .store
        .list_cameras()
        .await?
        .into_iter()
        .filter(|c| match (c.latitude, c.longitude) {
            (Some(lat), Some(lon)) => area.contains(lat, lon),
            _ => false,
        })
        .map(|c| c.id)
        .filter(|id| req.cameras.is_empty() || req.cameras.contains(id));
    Ok(Some(in_area.collect()))
}
