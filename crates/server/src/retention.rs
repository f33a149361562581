//! The retention in force: the published policy's periods, in the store's terms.
//!
//! The policy document in force (`routes::policy::policy_in_force`) is the one home of how
//! long each class of record is kept; `candor.toml` sets none of it. Everything that applies
//! retention asks [`in_force`]: ingest stamps each read's and image's expiry with it, the
//! purge and its receipt name it, audit pruning takes its audit period, and
//! `GET /api/v1/retention` shows it. Storing a new policy version applies its periods to
//! what is already stored, in the same transaction (`Store::save_policy_version`, given
//! [`of_document`]).

use std::time::Duration;

use candor_policy::PolicyDocument;
use candor_store::retention::RetentionPolicy;

use crate::error::ApiError;
use crate::state::AppState;

/// The retention periods of policy `version`, whose document is `document`, in whole
/// seconds (a fraction of a second counts as a whole one, so no period becomes zero).
pub fn of_document(version: i64, document: &PolicyDocument) -> RetentionPolicy {
    let secs = |d: Duration| {
        i64::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(i64::MAX)
    };
    let r = &document.retention;
    RetentionPolicy {
        policy_version: version,
        non_hit_secs: secs(r.non_hit_reads),
        hit_secs: secs(r.hits),
        image_secs: secs(r.images),
        audit_secs: secs(r.audit_records),
    }
}

/// The retention of the policy version in force (the safe defaults, stored as version 1,
/// until a program manager publishes another).
pub async fn in_force(state: &AppState) -> Result<RetentionPolicy, ApiError> {
    let policy = crate::routes::policy::policy_in_force(state).await?;
    Ok(of_document(policy.version, &policy.document))
}
