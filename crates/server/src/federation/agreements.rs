//! Stored agreements as signed documents: which party this instance is, and the status a
//! program manager sees.

use candor_policy::{AgreementDenial, SignedAgreement};
use candor_store::agreements::{AgreementRecord, StoredSignature};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::state::AppState;

pub fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The signed document as stored.
pub fn document(record: &AgreementRecord) -> Result<SignedAgreement, ApiError> {
    let agreement = serde_json::from_str(&record.terms).map_err(|e| {
        ApiError::internal(format!("stored agreement {} is unreadable: {e}", record.id))
    })?;
    Ok(SignedAgreement {
        agreement,
        signatures: record
            .signatures
            .iter()
            .map(|s| candor_policy::AgreementSignature {
                public_key: s.public_key.clone(),
                signer: s.signer.clone(),
                signed_at: time(s.signed_at),
                signature: s.signature.clone(),
            })
            .collect(),
    })
}

pub fn stored_signature(s: &candor_policy::AgreementSignature) -> StoredSignature {
    StoredSignature {
        public_key: s.public_key.to_ascii_lowercase(),
        signer: s.signer.clone(),
        signed_at: s.signed_at.timestamp_millis(),
        signature: s.signature.clone(),
    }
}

/// This instance's index among the parties.
pub fn our_index(state: &AppState, doc: &SignedAgreement) -> Option<usize> {
    doc.agreement.party_index(&state.federation.public_key())
}

/// When it was revoked, if it was.
pub fn revoked_at(record: &AgreementRecord) -> Option<DateTime<Utc>> {
    record.revocation.as_ref().map(|r| time(r.revoked_at))
}

/// `in_force`, `awaiting_signature`, `revoked`, `expired`, `not_yet_in_effect` or
/// `invalid`, with the reason when not in force.
pub fn status(record: &AgreementRecord, doc: &SignedAgreement) -> (&'static str, Option<String>) {
    match doc.check_in_force(revoked_at(record), Utc::now()) {
        Ok(()) => ("in_force", None),
        Err(e) => (
            match e {
                AgreementDenial::NotSignedBy { .. } => "awaiting_signature",
                AgreementDenial::Revoked { .. } => "revoked",
                AgreementDenial::Expired { .. } => "expired",
                AgreementDenial::NotYetInEffect { .. } => "not_yet_in_effect",
                _ => "invalid",
            },
            Some(e.to_string()),
        ),
    }
}

/// One line for the public: what is shared and within which limits.
pub fn scope_summary(a: &candor_policy::Agreement) -> String {
    let mut parts = Vec::new();
    if a.sharing.plate_queries {
        let plates = match (a.limits.partial_plates, a.limits.lookalike) {
            (false, false) => "full plates only",
            (true, false) => "full or partial plates",
            (false, true) => "full plates with look-alike matching",
            (true, true) => "full or partial plates with look-alike matching",
        };
        parts.push(format!(
            "plate queries ({plates}; at most {} per query, {} results; purposes: {})",
            candor_policy::duration_words(a.limits.max_window),
            a.limits.max_results,
            a.purposes.join(", ")
        ));
    }
    if !a.sharing.hit_types.is_empty() {
        parts.push(format!(
            "hit notifications ({})",
            a.sharing.hit_types.join(", ")
        ));
    }
    if !a.sharing.hot_lists.is_empty() {
        parts.push(format!("hot lists ({})", a.sharing.hot_lists.join(", ")));
    }
    let mut text = parts.join("; ");
    if !a.excluded_purposes.is_empty() {
        text.push_str(&format!("; never for: {}", a.excluded_purposes.join(", ")));
    }
    text.push_str(&format!(
        "; kept by the recipient at most {}; no onward sharing",
        candor_policy::duration_words(a.recipient_retention)
    ));
    text
}
