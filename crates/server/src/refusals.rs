//! Refused actions (403) go into the audit log, bounded and grouped: the first refusal of a
//! kind (who, route, reason) in a window of [`WINDOW_MS`] is recorded at once; repeats in
//! the window are only counted, and the count goes into the next record of that kind. So a
//! script hammering a route it may not use leaves one record per window, not one per try.
//! Refusals a handler records itself (a read opened without grounds, a search the policy
//! refuses) are not recorded twice.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::error::Refusal;
use crate::state::AppState;

/// How long repeats of one kind of refusal are grouped into one record.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Most kinds of refusal tracked at once; past it, refusals are grouped by route and reason
/// alone, whoever made them.
pub const MAX_KINDS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    who: String,
    route: String,
    code: String,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    repeats: u64,
}

/// The refusals seen lately, by kind.
#[derive(Debug, Default)]
pub struct RefusalLog {
    windows: Mutex<HashMap<Kind, Window>>,
}

/// What to record for one refusal: nothing (a repeat in its window), or a record with the
/// number of repeats since the last one of its kind.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Counted,
    Record { repeats_before: u64 },
}

impl RefusalLog {
    fn decide(&self, mut kind: Kind, now: i64) -> Decision {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if !windows.contains_key(&kind) && windows.len() >= MAX_KINDS {
            windows.retain(|_, w| now - w.started < WINDOW_MS || w.repeats > 0);
            if windows.len() >= MAX_KINDS {
                kind.who = "(many)".into();
            }
        }
        match windows.get_mut(&kind) {
            Some(w) if now - w.started < WINDOW_MS => {
                w.repeats += 1;
                Decision::Counted
            }
            Some(w) => {
                let repeats_before = w.repeats;
                *w = Window {
                    started: now,
                    repeats: 0,
                };
                Decision::Record { repeats_before }
            }
            None => {
                windows.insert(
                    kind,
                    Window {
                        started: now,
                        repeats: 0,
                    },
                );
                Decision::Record { repeats_before: 0 }
            }
        }
    }
}

/// Middleware: records each 403 answer as `access.refused` (outcome `denied`), grouped.
pub async fn record_refusals(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into());
    let (parts, body) = req.into_parts();
    let source = crate::auth::remote_addr(&parts, &state.config.trusted_proxies);
    let res = next.run(Request::from_parts(parts, body)).await;
    if res.status() != StatusCode::FORBIDDEN {
        return res;
    }
    let refusal = res
        .extensions()
        .get::<Refusal>()
        .cloned()
        .unwrap_or(Refusal {
            code: "forbidden".into(),
            user: None,
            audited: false,
        });
    if refusal.audited {
        return res;
    }
    let who = match &refusal.user {
        Some((id, _)) => format!("user:{id}"),
        None => format!("address:{source}"),
    };
    let route = format!("{method} {route}");
    let kind = Kind {
        who,
        route: route.clone(),
        code: refusal.code.clone(),
    };
    let now = candor_store::now_ms();
    if let Decision::Record { repeats_before } = state.refusals.decide(kind, now) {
        let actor = match refusal.user {
            Some((id, name)) => candor_audit::Actor::User {
                id: id.to_string(),
                name,
            },
            None => candor_audit::Actor::Anonymous {
                claimed: String::new(),
            },
        };
        let details = json!({
            "code": candor_audit::bounded(&refusal.code),
            "repeats_before": repeats_before,
            "window_secs": WINDOW_MS / 1000,
        });
        let target = format!("route:{}", candor_audit::bounded(&route));
        if let Err(e) = crate::auth::append_audit_record(
            &state,
            actor,
            "access.refused",
            &target,
            "denied",
            &source,
            details,
        )
        .await
        {
            tracing::warn!(error = %e.message, "could not record a refusal in the audit log");
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(who: &str) -> Kind {
        Kind {
            who: who.into(),
            route: "GET /api/v1/audit".into(),
            code: "forbidden".into(),
        }
    }

    #[test]
    fn repeats_in_a_window_are_counted_into_the_next_record() {
        let log = RefusalLog::default();
        assert_eq!(
            log.decide(kind("a"), 0),
            Decision::Record { repeats_before: 0 }
        );
        for t in 1..=5 {
            assert_eq!(log.decide(kind("a"), t), Decision::Counted);
        }
        assert_eq!(
            log.decide(kind("b"), 6),
            Decision::Record { repeats_before: 0 }
        );
        assert_eq!(
            log.decide(kind("a"), WINDOW_MS),
            Decision::Record { repeats_before: 5 }
        );
    }

    #[test]
    fn past_the_kind_limit_refusals_group_by_route_alone() {
        let log = RefusalLog::default();
        for i in 0..MAX_KINDS {
            log.decide(kind(&i.to_string()), 0);
        }
        assert_eq!(
            log.decide(kind("new"), 1),
            Decision::Record { repeats_before: 0 }
        );
        assert_eq!(log.decide(kind("newer"), 2), Decision::Counted);
        assert!(log.windows.lock().unwrap().len() <= MAX_KINDS + 1);
    }
}
