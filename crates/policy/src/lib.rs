//! Policy: roles, permissions, training gates, purposes. Pure decisions.
//!
//! Nothing here reads a clock, a file or a database: callers pass the policy document, the
//! account's state and `now`, and get back a decision with a reason a person can act on.

mod access;
mod agreement;
mod document;
mod duties;
mod purpose;
mod roles;

pub use access::{AccessDenied, AccessGate};
pub use agreement::{
    AGREEMENT_FORMAT, Agreement, AgreementDenial, AgreementInvalid, AgreementSignature,
    IncomingQuery, Party, QueryGrant, QueryLimits, SharedField, Sharing, SignedAgreement,
    decide_hit, decide_hot_list, decide_query, parse_public_key, shares_hit_type,
};
pub use document::human as human_duration;
pub use document::{
    DEFAULT_ALERT_HORIZON, FlagThresholds, Jurisdiction, MIN_AUDIT_RETENTION, PartialPlateSearch,
    PolicyChange, PolicyDocument, PolicyInvalid, PolicyLoadError, PolicyProblem, PurposeCategory,
    PurposeTextRules, Retention, ReviewSettings, Transparency,
};
pub use document::{
    parse_words as duration_from_words, words as duration_words, words_ms as duration_words_ms,
};
pub use duties::{
    DualControl, DutyRefused, check_approval, check_start, credentials_need_second_person,
    role_needs_second_person,
};
pub use purpose::{PlateQuery, PolicyDenial, Purpose, SearchShape, check_search};
pub use roles::{Permission, Role, UnknownCode, permission_matrix_markdown};
