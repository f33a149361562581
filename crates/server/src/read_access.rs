//! Opening one read by its id — its record, its scene image, its plate crop — on grounds the
//! person names and Candor checks. This is the one place that decides it ([`check`]); every
//! page or route that opens a read, an image or a crop by id calls it, then records the view
//! with [`record_view`] before answering.
//!
//! The grounds ([`Grounds`], carried as `?search=N` or `?hit=N`):
//!
//! - **a search of the same person that listed the read**: `N` is the search's audit
//!   sequence number (`audit_seq` in its answer). Its audit record must be a successful
//!   `search.reads` or `search.hits` by this person, their role must still allow that
//!   search, and the store must hold that the search listed the read (`search_results`,
//!   written with the search's audit record);
//! - **a hit on the read**, for people who may see hits ([`visible_hit`]: those who receive
//!   the live alerts), while the hit is within the policy's live alert horizon.
//!
//! A read's number alone, a made-up search or someone else's, a search that did not list the
//! read, or a hit on another read opens nothing: the answer is a refusal ([`Refused`]) that
//! carries nothing of the read, and the attempt is audited (outcome `denied`). A view is
//! audited, durably before the data leaves, naming its grounds and their purpose
//! ([`Basis::audit_details`]).
//!
//! Opening one hit by its id (its record, its verdict, its action, a correction) is decided
//! here too ([`visible_hit`], audited by [`open_hit`]): a hit within the live alert horizon
//! opens for people who receive the alerts; an older one only with `?search=N`, where `N` is
//! a successful `search.hits` of the same person that listed the hit (`search_hits`, written
//! with the search's audit record), and its view or verification is audited naming that
//! search and its purpose ([`OpenedHit::audit_details`]).

use candor_store::hits::Hit;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Actor, Permission};
use crate::error::ApiError;
use crate::search::SearchTarget;
use crate::state::AppState;

/// What a person names to open a read: the search that listed it, or a hit on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grounds {
    /// A search, by the sequence number of its audit record.
    Search(u64),
    /// A hit, by its id.
    Hit(i64),
}

impl Grounds {
    /// The query string that names these grounds, for links (`search=12`, `hit=3`).
    pub fn query(&self) -> String {
        match self {
            Grounds::Search(seq) => format!("search={seq}"),
            Grounds::Hit(id) => format!("hit={id}"),
        }
    }

    /// In words, for pages: `search #12`, `hit 3`.
    pub fn describe(&self) -> String {
        match self {
            Grounds::Search(seq) => format!("search #{seq}"),
            Grounds::Hit(id) => format!("hit {id}"),
        }
    }
}

/// The grounds as a page's query string carries them: `?search=N` or `?hit=N`.
#[derive(Debug, Default, Deserialize)]
pub struct GroundsQuery {
    pub search: Option<u64>,
    pub hit: Option<i64>,
}

impl GroundsQuery {
    /// The one set of grounds named; none, or both, is no grounds.
    pub fn grounds(&self) -> Result<Grounds, Refused> {
        match (self.search, self.hit) {
            (Some(seq), None) => Ok(Grounds::Search(seq)),
            (None, Some(id)) => Ok(Grounds::Hit(id)),
            _ => Err(Refused::NoGrounds),
        }
    }
}

/// What is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A read (its record, or its plate crop), by id.
    Read(i64),
    /// A stored image, by id.
    Image(i64),
}

impl Subject {
    fn target(self) -> String {
        match self {
            Subject::Read(id) => format!("read:{id}"),
            Subject::Image(id) => format!("image:{id}"),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Read(id) => write!(f, "read {id}"),
            Subject::Image(id) => write!(f, "image {id}"),
        }
    }
}

/// Why a read or image does not open, in words that say what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "a read, its image or its plate opens only from the results of your search or from a hit: open it from there (its number alone opens nothing)"
    )]
    NoGrounds,
    #[error(
        "search #{seq} is not a search of yours on record: open reads and hits from the results of your own search"
    )]
    NotYourSearch { seq: u64 },
    #[error(
        "search #{seq} did not list hit {hit} (or it has since been purged): open it from the results of your search of hits that listed it"
    )]
    HitNotListed { seq: u64, hit: i64 },
    #[error(
        "search #{seq} did not list {subject} (or it has since been purged): open it from the results that listed it"
    )]
    NotListed { seq: u64, subject: Subject },
    #[error("there is no hit {hit} (it may have been purged)")]
    NoSuchHit { hit: i64 },
    #[error("hit {hit} is not on {subject}: open it from the hit it belongs to")]
    NotTheHits { hit: i64, subject: Subject },
    #[error(
        "hit {hit} is older than the live alert horizon ({horizon}): find it with a search of hits (POST /api/v1/search/hits), with a purpose and a case number, and open it from that search's results (?search=N, N being the search's audit_seq)"
    )]
    OutsideAlertHorizon { hit: i64, horizon: String },
}

impl Refused {
    /// The stable code of the refusal (API error code and audit detail).
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NoGrounds => "grounds_required",
            Refused::NotYourSearch { .. } => "not_your_search",
            Refused::NotListed { .. } | Refused::HitNotListed { .. } => "not_listed",
            Refused::NoSuchHit { .. } => "not_found",
            Refused::NotTheHits { .. } => "not_this_hit",
            Refused::OutsideAlertHorizon { .. } => "outside_alert_horizon",
        }
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        let status = match r {
            Refused::NoGrounds => axum::http::StatusCode::BAD_REQUEST,
            Refused::NoSuchHit { .. } => axum::http::StatusCode::NOT_FOUND,
            _ => axum::http::StatusCode::FORBIDDEN,
        };
        ApiError::new(status, r.code(), r.to_string())
    }
}

/// Grounds that were checked: the read they open, and the purpose they carry.
#[derive(Debug, Clone)]
pub struct Basis {
    pub grounds: Grounds,
    /// The read the grounds are about (for an image: the listed or hit read that has it).
    pub read_id: i64,
    purpose: Value,
}

impl Basis {
    /// What the audit record of a view says about its grounds: the search (`search_seq`)
    /// and its purpose as recorded with it (category, case number, text), or the hit
    /// (`hit_id`) and its type.
    pub fn audit_details(&self) -> Value {
        let mut d = match self.grounds {
            Grounds::Search(seq) => json!({"search_seq": seq}),
            Grounds::Hit(id) => json!({"hit_id": id}),
        };
        d["read_id"] = json!(self.read_id);
        d["purpose"] = self.purpose.clone();
        d
    }
}

/// The start (Unix ms) of the live alert horizon at `now`: hits created since then are the
/// live alerts, which people who receive alerts see without a purpose. The one rule for
/// `GET /api/v1/hits`, opening a hit by id, and a hit as grounds for its read.
pub fn alert_horizon_start(policy: &candor_policy::PolicyDocument, now: i64) -> i64 {
    now.saturating_sub(i64::try_from(policy.alert_horizon.as_millis()).unwrap_or(i64::MAX))
}

/// A hit a person may open, and on what grounds: the live alerts, or a search of hits of
/// theirs that listed it.
#[derive(Debug, Clone)]
pub struct OpenedHit {
    pub hit: Hit,
    /// The search (audit sequence number) and its recorded purpose, for a hit older than
    /// the live alert horizon.
    search: Option<(u64, Value)>,
}

impl OpenedHit {
    /// What the audit record of a view or verification of the hit says about its grounds:
    /// nothing for a live alert; for an older hit, the search of hits that listed it
    /// (`search_seq`) and its purpose as recorded with it.
    pub fn audit_details(&self) -> Value {
        match &self.search {
            None => json!({}),
            Some((seq, purpose)) => json!({"search_seq": seq, "purpose": purpose}),
        }
    }
}

/// A hit, for a person who may see hits (the live alerts show them all): the one rule for
/// opening a hit by id, used by `GET /api/v1/hits/{id}`, verification, and as grounds for
/// its read. Within the policy's live alert horizon it opens as a live alert (`search` is
/// not needed); an older hit opens only on `search`, a search of hits of this person that
/// listed it.
pub async fn visible_hit(
    state: &AppState,
    actor: &Actor,
    id: i64,
    search: Option<u64>,
) -> Result<Result<OpenedHit, Refused>, ApiError> {
    actor.require(Permission::ViewAlerts)?;
    let Some(hit) = state.store.get_hit(&state.keys, id).await? else {
        return Ok(Err(Refused::NoSuchHit { hit: id }));
    };
    let policy = crate::routes::policy::policy_in_force(state).await?;
    if hit.created_at >= alert_horizon_start(&policy.document, candor_store::now_ms()) {
        return Ok(Ok(OpenedHit { hit, search: None }));
    }
    let Some(seq) = search else {
        return Ok(Err(Refused::OutsideAlertHorizon {
            hit: id,
            horizon: candor_policy::duration_words(policy.document.alert_horizon),
        }));
    };
    let Some((target, record)) = your_search(state, actor, seq).await? else {
        return Ok(Err(Refused::NotYourSearch { seq }));
    };
    // The role must still allow a search of hits; a search of reads lists no hits.
    actor.require(SearchTarget::Hits.permission())?;
    if target != SearchTarget::Hits || !state.store.search_listed_hit(seq, id).await? {
        return Ok(Err(Refused::HitNotListed { seq, hit: id }));
    }
    let purpose = record.entry.details["purpose"].clone();
    Ok(Ok(OpenedHit {
        hit,
        search: Some((seq, purpose)),
    }))
}

/// [`visible_hit`] for a route that opens hit `id` (`action` names it in the audit log): a
/// refusal is audited with outcome `denied` and comes back as the error to answer with.
pub async fn open_hit(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    id: i64,
    search: Option<u64>,
) -> Result<OpenedHit, ApiError> {
    match visible_hit(state, actor, id, search).await? {
        Ok(opened) => Ok(opened),
        Err(refused) => {
            crate::auth::append_audit_record(
                state,
                user(actor),
                action,
                &format!("hit:{id}"),
                "denied",
                &actor.remote_addr,
                json!({"reason": refused.code(), "search_seq": search}),
            )
            .await?;
            Err(ApiError::from(refused).already_audited())
        }
    }
}

/// Decides whether `actor` may open `subject` on `grounds`. A refusal is audited as `action`
/// with outcome `denied` and comes back as the error to answer with; a permission the role
/// lacks is refused as everywhere else (403 `forbidden`).
pub async fn check(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    subject: Subject,
    grounds: Result<Grounds, Refused>,
) -> Result<Basis, ApiError> {
    let named = grounds.as_ref().ok().map(Grounds::query);
    let decided = match grounds {
        Ok(g) => decide(state, actor, subject, g).await?,
        Err(r) => Err(r),
    };
    match decided {
        Ok(basis) => Ok(basis),
        Err(refused) => {
            crate::auth::append_audit_record(
                state,
                user(actor),
                action,
                &subject.target(),
                "denied",
                &actor.remote_addr,
                json!({"reason": refused.code(), "grounds": named}),
            )
            .await?;
            Err(ApiError::from(refused).already_audited())
        }
    }
}

/// Records `actor`'s view of `target` on `basis`, with `extra` details; durable when this
/// returns, so the caller answers with the data only after the view is on record.
pub async fn record_view(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    target: String,
    basis: &Basis,
    extra: Value,
) -> Result<(), ApiError> {
    let mut details = basis.audit_details();
    if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    crate::auth::record_action(state, actor, action, &target, details).await
}

fn user(actor: &Actor) -> candor_audit::Actor {
    candor_audit::Actor::User {
        id: actor.user_id.to_string(),
        name: actor.username.clone(),
    }
}

async fn decide(
    state: &AppState,
    actor: &Actor,
    subject: Subject,
    grounds: Grounds,
) -> Result<Result<Basis, Refused>, ApiError> {
    match grounds {
        Grounds::Search(seq) => by_search(state, actor, subject, seq).await,
        Grounds::Hit(id) => by_hit(state, actor, subject, id).await,
    }
}

/// The search's own audit record says whose it was and why; the store says what it listed.
async fn by_search(
    state: &AppState,
    actor: &Actor,
    subject: Subject,
    seq: u64,
) -> Result<Result<Basis, Refused>, ApiError> {
    let Some((target, record)) = your_search(state, actor, seq).await? else {
        return Ok(Err(Refused::NotYourSearch { seq }));
    };
    // The role must still allow what that search searched.
    actor.require(target.permission())?;
    let listed = match subject {
        Subject::Read(id) => state.store.search_listed(seq, id).await?.then_some(id),
        Subject::Image(id) => state.store.search_listed_image(seq, id).await?,
    };
    Ok(match listed {
        Some(read_id) => Ok(Basis {
            grounds: Grounds::Search(seq),
            read_id,
            purpose: record.entry.details["purpose"].clone(),
        }),
        None => Err(Refused::NotListed { seq, subject }),
    })
}

/// The search whose audit record is `seq`, if it is a successful search of reads or hits by
/// `actor`: what it searched, and its record (which holds its purpose).
async fn your_search(
    state: &AppState,
    actor: &Actor,
    seq: u64,
) -> Result<Option<(SearchTarget, candor_audit::AuditRecord)>, ApiError> {
    Ok(state.store.audit_record(seq).await?.and_then(|r| {
        let target = [SearchTarget::Reads, SearchTarget::Hits]
            .into_iter()
            .find(|t| t.audit_action() == r.entry.action)?;
        let theirs =
            r.entry.outcome == candor_audit::Outcome::Success && r.entry.actor == user(actor);
        theirs.then_some((target, r))
    }))
}

async fn by_hit(
    state: &AppState,
    actor: &Actor,
    subject: Subject,
    id: i64,
) -> Result<Result<Basis, Refused>, ApiError> {
    // A hit is grounds for its read as a live alert only; an older hit's read opens from
    // the search of hits that listed it (`?search=N`, which lists its read too).
    let hit = match visible_hit(state, actor, id, None).await? {
        Ok(opened) => opened.hit,
        Err(r) => return Ok(Err(r)),
    };
    let on_subject = match subject {
        Subject::Read(read_id) => hit.read_id == read_id,
        Subject::Image(image_id) => state
            .store
            .get_read(&state.keys, hit.read_id)
            .await?
            .is_some_and(|r| r.image_id == Some(image_id)),
    };
    if !on_subject {
        return Ok(Err(Refused::NotTheHits { hit: id, subject }));
    }
    Ok(Ok(Basis {
        grounds: Grounds::Hit(id),
        read_id: hit.read_id,
        purpose: json!({"kind": "hit_verification", "hit_type": hit.hit_type}),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grounds_come_from_exactly_one_of_search_or_hit() {
        let q = |search, hit| GroundsQuery { search, hit }.grounds();
        assert_eq!(q(Some(12), None), Ok(Grounds::Search(12)));
        assert_eq!(q(None, Some(3)), Ok(Grounds::Hit(3)));
        assert_eq!(q(None, None), Err(Refused::NoGrounds));
        assert_eq!(q(Some(12), Some(3)), Err(Refused::NoGrounds));
        assert_eq!(Grounds::Search(12).query(), "search=12");
        assert_eq!(Grounds::Hit(3).describe(), "hit 3");
    }

    #[test]
    fn refusals_read_as_sentences_and_keep_their_status() {
        let r = Refused::NotListed {
            seq: 7,
            subject: Subject::Image(4),
        };
        assert_eq!(
            r.to_string(),
            "search #7 did not list image 4 (or it has since been purged): open it from the results that listed it"
        );
        let e = ApiError::from(r);
        assert_eq!((e.status.as_u16(), e.code.as_str()), (403, "not_listed"));
        assert_eq!(ApiError::from(Refused::NoGrounds).status.as_u16(), 400);
        assert_eq!(
            ApiError::from(Refused::NoSuchHit { hit: 9 })
                .status
                .as_u16(),
            404
        );
    }
}
