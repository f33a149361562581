//! Inter-agency sharing agreements: the machine-readable document two Candor instances
//! sign, and the decision on each request a partner makes under it.
//!
//! The terms apply both ways: each party may ask the other what the agreement allows, and
//! each pushes the other the hit types it names. An agreement is in force only when both
//! parties' Ed25519 signatures over [`Agreement::signing_bytes`] verify, between its
//! effective and expiry dates, and until either side revokes it.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::document::{PolicyDocument, duration_text, words};
use crate::purpose::{PlateQuery, Purpose};

/// The format tag every agreement carries (and signs).
pub const AGREEMENT_FORMAT: &str = "candor-agreement/1";

/// One of the two agencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub agency_name: String,
    /// e.g. "Virginia, USA".
    pub jurisdiction: String,
    /// Base URL of the agency's Candor instance, e.g. `https://alpr.example.gov`.
    pub instance_url: String,
    /// The instance's Ed25519 federation public key, hex.
    pub public_key: String,
}

/// A field of a read that a query answer may carry. Images never leave the agency that
/// captured them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedField {
    Plate,
    CapturedAt,
    /// The camera's described location (not its id).
    CameraLocation,
    /// Latitude and longitude of the read.
    Coordinates,
    VehicleColor,
    VehicleMake,
    Confidence,
}

impl SharedField {
    pub const ALL: [SharedField; 7] = [
        SharedField::Plate,
        SharedField::CapturedAt,
        SharedField::CameraLocation,
        SharedField::Coordinates,
        SharedField::VehicleColor,
        SharedField::VehicleMake,
        SharedField::Confidence,
    ];

    /// The field in words, for a person choosing what to share.
    pub fn words(self) -> &'static str {
        match self {
            SharedField::Plate => "plate",
            SharedField::CapturedAt => "time of capture",
            SharedField::CameraLocation => "camera location (in words)",
            SharedField::Coordinates => "latitude and longitude",
            SharedField::VehicleColor => "vehicle colour",
            SharedField::VehicleMake => "vehicle make",
            SharedField::Confidence => "read confidence",
        }
    }
}

/// What the parties share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// Each party may query the other's reads.
    pub plate_queries: bool,
    /// Hits of these hot-list hit types are pushed to the other party.
    #[serde(default)]
    pub hit_types: Vec<String>,
    /// Named hot lists shared with the other party.
    #[serde(default)]
    pub hot_lists: Vec<String>,
    /// Fields a query answer may carry.
    #[serde(default)]
    pub fields: Vec<SharedField>,
}

/// Limits on each query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLimits {
    /// Partial (wildcard) plates; off unless stated.
    #[serde(default)]
    pub partial_plates: bool,
    /// Look-alike (misread character) matching; off unless stated.
    #[serde(default)]
    pub lookalike: bool,
    /// Longest time window one query may cover, e.g. "30days".
    #[serde(with = "duration_text")]
    pub max_window: Duration,
    /// Most reads one answer carries.
    pub max_results: u32,
}

/// The terms both program managers sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// Always [`AGREEMENT_FORMAT`].
    pub format: String,
    pub id: String,
    /// Exactly two: the drafting agency first.
    pub parties: Vec<Party>,
    pub sharing: Sharing,
    /// Purpose category codes a query may give.
    pub purposes: Vec<String>,
    /// Purposes ruled out by either jurisdiction (e.g. "immigration-enforcement").
    #[serde(default)]
    pub excluded_purposes: Vec<String>,
    pub limits: QueryLimits,
    /// How long the recipient may keep what it receives, e.g. "30days".
    #[serde(with = "duration_text")]
    pub recipient_retention: Duration,
    /// Whether a recipient may pass data on. Candor agreements never allow it; the field
    /// is in the document so that the signed text says so.
    #[serde(default)]
    pub onward_sharing: bool,
    pub effective: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// A party's signature over the agreement's signing bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSignature {
    /// The signing instance's public key, hex (one of the parties' keys).
    pub public_key: String,
    /// The program manager who signed, for people reading the document.
    pub signer: String,
    pub signed_at: DateTime<Utc>,
    /// Ed25519 signature, hex.
    pub signature: String,
}

/// The agreement with the signatures gathered so far; what the parties exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAgreement {
    pub agreement: Agreement,
    #[serde(default)]
    pub signatures: Vec<AgreementSignature>,
}

/// Something wrong with an agreement's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementInvalid {
    #[error("format is {0:?}; this Candor reads {AGREEMENT_FORMAT:?}")]
    Format(String),
    #[error("the agreement id is empty")]
    NoId,
    #[error("an agreement has exactly two parties, this one has {0}")]
    PartyCount(usize),
    #[error("party {index}: {field} is empty")]
    PartyField { index: usize, field: &'static str },
    #[error("party {index}: instance_url {url:?} must start with http:// or https://")]
    PartyUrl { index: usize, url: String },
    #[error("party {index}: public_key is not a 32-byte Ed25519 key in hex")]
    PartyKey { index: usize },
    #[error("both parties have the same {0}")]
    SameParty(&'static str),
    #[error("nothing is shared: allow plate_queries or name hit_types or hot_lists")]
    NothingShared,
    #[error("plate queries are shared but no fields are: name the fields an answer may carry")]
    NoFields,
    #[error("no purposes are allowed: name at least one purpose category")]
    NoPurposes,
    #[error("purpose {0:?} is both allowed and excluded")]
    PurposeAllowedAndExcluded(String),
    #[error("limits.max_window must be longer than zero")]
    ZeroWindow,
    #[error("limits.max_results must be 1 or more")]
    ZeroResults,
    #[error("recipient_retention must be longer than zero")]
    ZeroRetention,
    #[error("onward_sharing must be false: data received under an agreement is never passed on")]
    OnwardSharing,
    #[error("the agreement expires ({expires}) before it takes effect ({effective})")]
    ExpiresBeforeEffective { effective: String, expires: String },
}

/// Why a partner's request, or an agreement, is refused: each says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementDenial {
    #[error("the agreement's terms are invalid: {0}")]
    Invalid(#[from] AgreementInvalid),
    #[error(
        "the agreement is not signed by {agency}; it takes effect only when both parties have signed"
    )]
    NotSignedBy { agency: String },
    #[error(
        "the signature of {agency} on this agreement does not verify; the terms were changed after signing or the key is wrong"
    )]
    BadSignature { agency: String },
    #[error("a signature on this agreement is by key {key}, which belongs to neither party")]
    SignatureFromStranger { key: String },
    #[error("the request is not from a party to this agreement")]
    NotAParty,
    #[error("the agreement was revoked on {at}")]
    Revoked { at: String },
    #[error("the agreement takes effect on {effective}; it is not in force yet")]
    NotYetInEffect { effective: String },
    #[error("the agreement expired on {expires}")]
    Expired { expires: String },
    #[error("this agreement does not share plate queries")]
    QueriesNotShared,
    #[error("hits of type {hit_type:?} are not shared under this agreement (shared: {shared})")]
    HitTypeNotShared { hit_type: String, shared: String },
    #[error("hot list {name:?} is not shared under this agreement (shared: {shared})")]
    HotListNotShared { name: String, shared: String },
    #[error(
        "onward sharing refused: {what} comes from {claimed:?}, not from the party {party:?}; data received under an agreement is never passed on"
    )]
    OnwardSharing {
        what: &'static str,
        claimed: String,
        party: String,
    },
    #[error("purpose {given:?} is excluded by this agreement (excluded: {excluded})")]
    PurposeExcluded { given: String, excluded: String },
    #[error("purpose {given:?} is not allowed by this agreement (allowed: {allowed})")]
    PurposeNotAllowed { given: String, allowed: String },
    #[error("purpose {given:?} is not allowed by this agency's own policy")]
    PurposeRefusedByPolicy { given: String },
    #[error("a case or incident number is required")]
    MissingCaseNumber,
    #[error("describe the reason for the query in the purpose text")]
    MissingFreeText,
    #[error(
        "the purpose text must say at least {min} characters' worth of what is being investigated"
    )]
    FreeTextTooShort { min: u32 },
    #[error(
        "the purpose text uses {word:?}, which this agency's policy does not allow as a reason"
    )]
    ForbiddenWord { word: String },
    #[error("the query ends before it starts")]
    RangeInverted,
    #[error("the query covers {requested}; the agreement allows at most {max}")]
    WindowTooLong { requested: String, max: String },
    #[error("the query covers {requested}; this agency's policy allows at most {max}")]
    WindowOverPolicy { requested: String, max: String },
    #[error("partial-plate queries are not allowed by this agreement; give the full plate")]
    PartialNotAllowed,
    #[error("partial-plate queries are not allowed by this agency's policy; give the full plate")]
    PartialRefusedByPolicy,
    #[error("look-alike matching is not allowed by this agreement; query the exact plate")]
    LookalikeNotAllowed,
}

impl AgreementDenial {
    /// A stable code for API answers and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            AgreementDenial::Invalid(_) => "agreement_invalid",
            AgreementDenial::NotSignedBy { .. } => "agreement_not_signed",
            AgreementDenial::BadSignature { .. } => "agreement_signature_invalid",
            AgreementDenial::SignatureFromStranger { .. } => "agreement_signature_stranger",
            AgreementDenial::NotAParty => "not_a_party",
            AgreementDenial::Revoked { .. } => "agreement_revoked",
            AgreementDenial::NotYetInEffect { .. } => "agreement_not_in_effect",
            AgreementDenial::Expired { .. } => "agreement_expired",
            AgreementDenial::QueriesNotShared => "queries_not_shared",
            AgreementDenial::HitTypeNotShared { .. } => "hit_type_not_shared",
            AgreementDenial::HotListNotShared { .. } => "hot_list_not_shared",
            AgreementDenial::OnwardSharing { .. } => "onward_sharing",
            AgreementDenial::PurposeExcluded { .. } => "purpose_excluded",
            AgreementDenial::PurposeNotAllowed { .. } => "purpose_not_allowed",
            AgreementDenial::PurposeRefusedByPolicy { .. } => "purpose_refused_by_policy",
            AgreementDenial::MissingCaseNumber => "missing_case_number",
            AgreementDenial::MissingFreeText => "missing_free_text",
            AgreementDenial::FreeTextTooShort { .. } => "free_text_too_short",
            AgreementDenial::ForbiddenWord { .. } => "forbidden_word",
            AgreementDenial::RangeInverted => "range_inverted",
            AgreementDenial::WindowTooLong { .. } => "window_too_long",
            AgreementDenial::WindowOverPolicy { .. } => "window_over_policy",
            AgreementDenial::PartialNotAllowed => "partial_not_allowed",
            AgreementDenial::PartialRefusedByPolicy => "partial_refused_by_policy",
            AgreementDenial::LookalikeNotAllowed => "lookalike_not_allowed",
        }
    }
}

/// Parses a hex Ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl Agreement {
    /// The exact bytes both parties sign: a domain tag and the document as JSON, fields in
    /// declaration order (so the same terms always give the same bytes).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = b"candor-agreement-signature-v1\n".to_vec();
        out.extend(serde_json::to_vec(self).expect("an agreement always serialises"));
        out
    }

    /// Checks the terms, naming the first problem.
    pub fn validate(&self) -> Result<(), AgreementInvalid> {
        if self.format != AGREEMENT_FORMAT {
            return Err(AgreementInvalid::Format(self.format.clone()));
        }
        if self.id.trim().is_empty() {
            return Err(AgreementInvalid::NoId);
        }
        if self.parties.len() != 2 {
            return Err(AgreementInvalid::PartyCount(self.parties.len()));
        }
        for (index, p) in self.parties.iter().enumerate() {
            for (field, value) in [
                ("agency_name", &p.agency_name),
                ("jurisdiction", &p.jurisdiction),
                ("instance_url", &p.instance_url),
            ] {
                if value.trim().is_empty() {
                    return Err(AgreementInvalid::PartyField { index, field });
                }
            }
            if !(p.instance_url.starts_with("http://") || p.instance_url.starts_with("https://")) {
                return Err(AgreementInvalid::PartyUrl {
                    index,
                    url: p.instance_url.clone(),
                });
            }
            if parse_public_key(&p.public_key).is_none() {
                return Err(AgreementInvalid::PartyKey { index });
            }
        }
        let (a, b) = (&self.parties[0], &self.parties[1]);
        if a.public_key.eq_ignore_ascii_case(&b.public_key) {
            return Err(AgreementInvalid::SameParty("public_key"));
        }
        if a.instance_url == b.instance_url {
            return Err(AgreementInvalid::SameParty("instance_url"));
        }
        if a.agency_name == b.agency_name {
            return Err(AgreementInvalid::SameParty("agency_name"));
        }
        let s = &self.sharing;
        if !s.plate_queries && s.hit_types.is_empty() && s.hot_lists.is_empty() {
            return Err(AgreementInvalid::NothingShared);
        }
        if s.plate_queries && s.fields.is_empty() {
            return Err(AgreementInvalid::NoFields);
        }
        if s.plate_queries && self.purposes.is_empty() {
            return Err(AgreementInvalid::NoPurposes);
        }
        if let Some(p) = self
            .purposes
            .iter()
            .find(|p| self.excluded_purposes.contains(p))
        {
            return Err(AgreementInvalid::PurposeAllowedAndExcluded(p.clone()));
        }
        if self.limits.max_window.is_zero() {
            return Err(AgreementInvalid::ZeroWindow);
        }
        if self.limits.max_results == 0 {
            return Err(AgreementInvalid::ZeroResults);
        }
        if self.recipient_retention.is_zero() {
            return Err(AgreementInvalid::ZeroRetention);
        }
        if self.onward_sharing {
            return Err(AgreementInvalid::OnwardSharing);
        }
        if self.expires <= self.effective {
            return Err(AgreementInvalid::ExpiresBeforeEffective {
                effective: date(self.effective),
                expires: date(self.expires),
            });
        }
        Ok(())
    }

    /// The index of the party holding `public_key`.
    pub fn party_index(&self, public_key: &str) -> Option<usize> {
        self.parties
            .iter()
            .position(|p| p.public_key.eq_ignore_ascii_case(public_key.trim()))
    }

    /// The other party than the one at `index`.
    pub fn other(&self, index: usize) -> &Party {
        &self.parties[1 - index]
    }
}

impl SignedAgreement {
    /// Adds (or replaces) the signature of the party holding `key`.
    pub fn sign(
        &mut self,
        key: &SigningKey,
        signer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AgreementDenial> {
        self.agreement.validate()?;
        let public_key = hex::encode(key.verifying_key().to_bytes());
        if self.agreement.party_index(&public_key).is_none() {
            return Err(AgreementDenial::NotAParty);
        }
        let signature = key.sign(&self.agreement.signing_bytes());
        self.signatures
            .retain(|s| !s.public_key.eq_ignore_ascii_case(&public_key));
        self.signatures.push(AgreementSignature {
            public_key,
            signer: signer.to_string(),
            signed_at: now,
            signature: hex::encode(signature.to_bytes()),
        });
        Ok(())
    }

    /// Checks every signature present: each must be a party's and must verify. Returns,
    /// per party, whether it has signed.
    pub fn check_signatures(&self) -> Result<[bool; 2], AgreementDenial> {
        self.agreement.validate()?;
        let bytes = self.agreement.signing_bytes();
        let mut signed = [false; 2];
        for s in &self.signatures {
            let Some(index) = self.agreement.party_index(&s.public_key) else {
                return Err(AgreementDenial::SignatureFromStranger {
                    key: s.public_key.clone(),
                });
            };
            let agency = self.agreement.parties[index].agency_name.clone();
            let key =
                parse_public_key(&s.public_key).ok_or_else(|| AgreementDenial::BadSignature {
                    agency: agency.clone(),
                })?;
            let signature = hex::decode(&s.signature)
                .ok()
                .and_then(|b| Signature::from_slice(&b).ok())
                .ok_or_else(|| AgreementDenial::BadSignature {
                    agency: agency.clone(),
                })?;
            key.verify(&bytes, &signature)
                .map_err(|_| AgreementDenial::BadSignature { agency })?;
            signed[index] = true;
        }
        Ok(signed)
    }

    /// Both parties' signatures verify.
    pub fn check_fully_signed(&self) -> Result<(), AgreementDenial> {
        let signed = self.check_signatures()?;
        for (index, done) in signed.iter().enumerate() {
            if !done {
                return Err(AgreementDenial::NotSignedBy {
                    agency: self.agreement.parties[index].agency_name.clone(),
                });
            }
        }
        Ok(())
    }

    /// In force at `now`: both signatures verify, not revoked, between effective and
    /// expiry.
    pub fn check_in_force(
        &self,
        revoked_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), AgreementDenial> {
        self.check_fully_signed()?;
        if let Some(at) = revoked_at {
            return Err(AgreementDenial::Revoked { at: date(at) });
        }
        if now < self.agreement.effective {
            return Err(AgreementDenial::NotYetInEffect {
                effective: date(self.agreement.effective),
            });
        }
        if now >= self.agreement.expires {
            return Err(AgreementDenial::Expired {
                expires: date(self.agreement.expires),
            });
        }
        Ok(())
    }
}

/// A partner's query, as far as the agreement and policy care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingQuery {
    /// The agency the requesting user belongs to, as the request states it.
    pub requester_agency: String,
    pub purpose: Purpose,
    pub plate: PlateQuery,
    pub lookalike: bool,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Most results asked for.
    pub max_results: u32,
}

/// What a permitted query may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryGrant {
    /// The smallest of the request's, the agreement's and the policy's caps.
    pub max_results: u32,
    pub fields: Vec<SharedField>,
}

/// Decides a query from the party at `from_party` under `signed`, against this agency's
/// own `policy`: the agreement must be in force, share queries, allow the purpose, the
/// plate form and the window; the requester must be the party itself (no onward sharing);
/// and this agency's policy must allow the purpose and the window too.
pub fn decide_query(
    signed: &SignedAgreement,
    revoked_at: Option<DateTime<Utc>>,
    from_party: usize,
    policy: &PolicyDocument,
    query: &IncomingQuery,
    now: DateTime<Utc>,
) -> Result<QueryGrant, AgreementDenial> {
    signed.check_in_force(revoked_at, now)?;
    let a = &signed.agreement;
    let party = a
        .parties
        .get(from_party)
        .ok_or(AgreementDenial::NotAParty)?;
    if !a.sharing.plate_queries {
        return Err(AgreementDenial::QueriesNotShared);
    }
    if query.requester_agency.trim() != party.agency_name {
        return Err(AgreementDenial::OnwardSharing {
            what: "the query",
            claimed: query.requester_agency.clone(),
            party: party.agency_name.clone(),
        });
    }
    let category = query.purpose.category.trim();
    if a.excluded_purposes.iter().any(|p| p == category)
        || policy.forbidden_category(category).is_some()
    {
        return Err(AgreementDenial::PurposeExcluded {
            given: category.to_string(),
            excluded: a.excluded_purposes.join(", "),
        });
    }
    if !a.purposes.iter().any(|p| p == category) {
        return Err(AgreementDenial::PurposeNotAllowed {
            given: category.to_string(),
            allowed: a.purposes.join(", "),
        });
    }
    if policy.allowed_category(category).is_none() {
        return Err(AgreementDenial::PurposeRefusedByPolicy {
            given: category.to_string(),
        });
    }
    if query.purpose.case_number.trim().is_empty() {
        return Err(AgreementDenial::MissingCaseNumber);
    }
    if query.purpose.free_text.trim().is_empty() {
        return Err(AgreementDenial::MissingFreeText);
    }
    if policy.purpose_text_too_short(&query.purpose.free_text) {
        return Err(AgreementDenial::FreeTextTooShort {
            min: policy.purpose_text.min_chars,
        });
    }
    if let Some(word) = policy.forbidden_word_in(&query.purpose.free_text) {
        return Err(AgreementDenial::ForbiddenWord { word: word.into() });
    }
    if query.to < query.from {
        return Err(AgreementDenial::RangeInverted);
    }
    let requested = (query.to - query.from).to_std().unwrap_or(Duration::ZERO);
    if requested > a.limits.max_window {
        return Err(AgreementDenial::WindowTooLong {
            requested: words(requested),
            max: words(a.limits.max_window),
        });
    }
    if requested > policy.max_search_range {
        return Err(AgreementDenial::WindowOverPolicy {
            requested: words(requested),
            max: words(policy.max_search_range),
        });
    }
    if query.plate == PlateQuery::Partial {
        if !a.limits.partial_plates {
            return Err(AgreementDenial::PartialNotAllowed);
        }
        if !policy.partial_plate_search.allowed {
            return Err(AgreementDenial::PartialRefusedByPolicy);
        }
    }
    if query.lookalike && !a.limits.lookalike {
        return Err(AgreementDenial::LookalikeNotAllowed);
    }
    Ok(QueryGrant {
        max_results: query
            .max_results
            .max(1)
            .min(a.limits.max_results)
            .min(policy.results_cap.max(1)),
        fields: a.sharing.fields.clone(),
    })
}

/// Decides a hit notification from the party at `from_party`: the agreement must be in
/// force and share `hit_type`, and the hit must be the party's own (`origin_instance` is
/// its instance), never one it received from someone else.
pub fn decide_hit(
    signed: &SignedAgreement,
    revoked_at: Option<DateTime<Utc>>,
    from_party: usize,
    hit_type: &str,
    origin_instance: &str,
    now: DateTime<Utc>,
) -> Result<(), AgreementDenial> {
    signed.check_in_force(revoked_at, now)?;
    let a = &signed.agreement;
    let party = a
        .parties
        .get(from_party)
        .ok_or(AgreementDenial::NotAParty)?;
    if origin_instance.trim_end_matches('/') != party.instance_url.trim_end_matches('/') {
        return Err(AgreementDenial::OnwardSharing {
            what: "the hit",
            claimed: origin_instance.to_string(),
            party: party.instance_url.clone(),
        });
    }
    if !a.sharing.hit_types.iter().any(|t| t == hit_type) {
        return Err(AgreementDenial::HitTypeNotShared {
            hit_type: hit_type.to_string(),
            shared: if a.sharing.hit_types.is_empty() {
                "none".into()
            } else {
                a.sharing.hit_types.join(", ")
            },
        });
    }
    Ok(())
}

/// Whether a party may receive the named hot list under `signed` at `now`: the agreement
/// is in force and names the list in `sharing.hot_lists`.
pub fn decide_hot_list(
    signed: &SignedAgreement,
    revoked_at: Option<DateTime<Utc>>,
    list_name: &str,
    now: DateTime<Utc>,
) -> Result<(), AgreementDenial> {
    signed.check_in_force(revoked_at, now)?;
    let shared = &signed.agreement.sharing.hot_lists;
    if !shared.iter().any(|n| n == list_name) {
        return Err(AgreementDenial::HotListNotShared {
            name: list_name.to_string(),
            shared: if shared.is_empty() {
                "none".into()
            } else {
                shared.join(", ")
            },
        });
    }
    Ok(())
}

/// Whether hits of `hit_type` go to the other party under `signed` at `now`.
pub fn shares_hit_type(
    signed: &SignedAgreement,
    revoked_at: Option<DateTime<Utc>>,
    hit_type: &str,
    now: DateTime<Utc>,
) -> bool {
    signed.check_in_force(revoked_at, now).is_ok()
        && signed
            .agreement
            .sharing
            .hit_types
            .iter()
            .any(|t| t == hit_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn party(name: &str, url: &str, k: &SigningKey) -> Party {
        Party {
            agency_name: name.into(),
            jurisdiction: "Virginia, USA".into(),
            instance_url: url.into(),
            public_key: hex::encode(k.verifying_key().to_bytes()),
        }
    }

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    fn agreement() -> Agreement {
        Agreement {
            format: AGREEMENT_FORMAT.into(),
            id: "agr-1".into(),
            parties: vec![
                party("Northtown PD", "https://north.example", &key(1)),
                party("Southville SO", "https://south.example", &key(2)),
            ],
            sharing: Sharing {
                plate_queries: true,
                hit_types: vec!["stolen-vehicle".into()],
                hot_lists: vec![],
                fields: vec![SharedField::Plate, SharedField::CapturedAt],
            },
            purposes: vec!["stolen-vehicle".into(), "violent-crime".into()],
            excluded_purposes: vec!["immigration-enforcement".into()],
            limits: QueryLimits {
                partial_plates: false,
                lookalike: false,
                max_window: Duration::from_secs(7 * 86_400),
                max_results: 100,
            },
            recipient_retention: Duration::from_secs(30 * 86_400),
            onward_sharing: false,
            effective: t(1),
            expires: t(28),
        }
    }

    fn signed() -> SignedAgreement {
        let mut s = SignedAgreement {
            agreement: agreement(),
            signatures: vec![],
        };
        s.sign(&key(1), "PM North", t(1)).unwrap();
        s.sign(&key(2), "PM South", t(1)).unwrap();
        s
    }

    fn query() -> IncomingQuery {
        IncomingQuery {
            requester_agency: "Northtown PD".into(),
            purpose: Purpose {
                category: "stolen-vehicle".into(),
                case_number: "N-2026-77".into(),
                free_text: "Stolen silver sedan seen heading south".into(),
            },
            plate: PlateQuery::Full,
            lookalike: false,
            from: t(10),
            to: t(12),
            max_results: 500,
        }
    }

    fn policy() -> PolicyDocument {
        PolicyDocument::default_for_new_agency()
    }

    fn decide(q: &IncomingQuery) -> Result<QueryGrant, AgreementDenial> {
        decide_query(&signed(), None, 0, &policy(), q, t(15))
    }

    #[test]
    fn terms_are_validated_with_a_reason() {
        agreement().validate().unwrap();
        let mut a = agreement();
        a.onward_sharing = true;
        assert_eq!(a.validate(), Err(AgreementInvalid::OnwardSharing));
        let mut a = agreement();
        a.parties.pop();
        assert_eq!(a.validate(), Err(AgreementInvalid::PartyCount(1)));
        let mut a = agreement();
        a.parties[1].public_key = "zz".into();
        assert_eq!(a.validate(), Err(AgreementInvalid::PartyKey { index: 1 }));
        let mut a = agreement();
        a.parties[1].public_key = a.parties[0].public_key.clone();
        assert_eq!(a.validate(), Err(AgreementInvalid::SameParty("public_key")));
        let mut a = agreement();
        a.expires = a.effective;
        assert!(matches!(
            a.validate(),
            Err(AgreementInvalid::ExpiresBeforeEffective { .. })
        ));
        let mut a = agreement();
        a.purposes.push("immigration-enforcement".into());
        assert!(matches!(
            a.validate(),
            Err(AgreementInvalid::PurposeAllowedAndExcluded(_))
        ));
        let mut a = agreement();
        a.sharing = Sharing {
            plate_queries: false,
            hit_types: vec![],
            hot_lists: vec![],
            fields: vec![],
        };
        assert_eq!(a.validate(), Err(AgreementInvalid::NothingShared));
        let mut a = agreement();
        a.parties[0].instance_url = "north.example".into();
        assert!(matches!(
            a.validate(),
            Err(AgreementInvalid::PartyUrl { .. })
        ));
    }

    #[test]
    fn the_document_round_trips_to_the_same_signing_bytes() {
        let s = signed();
        let text = serde_json::to_string(&s).unwrap();
        let back: SignedAgreement = serde_json::from_str(&text).unwrap();
        assert_eq!(back.agreement.signing_bytes(), s.agreement.signing_bytes());
        back.check_fully_signed().unwrap();
    }

    #[test]
    fn both_signatures_are_needed_and_must_verify() {
        let mut s = SignedAgreement {
            agreement: agreement(),
            signatures: vec![],
        };
        s.sign(&key(1), "PM North", t(1)).unwrap();
        assert_eq!(s.check_signatures().unwrap(), [true, false]);
        assert_eq!(
            s.check_in_force(None, t(15)),
            Err(AgreementDenial::NotSignedBy {
                agency: "Southville SO".into()
            })
        );
        // a stranger cannot sign
        assert_eq!(
            s.sign(&key(9), "someone", t(1)),
            Err(AgreementDenial::NotAParty)
        );
        s.sign(&key(2), "PM South", t(1)).unwrap();
        s.check_in_force(None, t(15)).unwrap();
        // terms changed after signing: both signatures fail
        let mut changed = s.clone();
        changed.agreement.limits.max_results = 10_000;
        assert!(matches!(
            changed.check_in_force(None, t(15)),
            Err(AgreementDenial::BadSignature { .. })
        ));
        // a signature by a key that is no party's
        let mut stranger = s.clone();
        stranger.signatures[0].public_key = hex::encode(key(9).verifying_key().to_bytes());
        assert!(matches!(
            stranger.check_signatures(),
            Err(AgreementDenial::SignatureFromStranger { .. })
        ));
        // a forged signature (other key's bytes under this party's name)
        let mut forged = s.clone();
        forged.signatures[1].signature = forged.signatures[0].signature.clone();
        assert_eq!(
            forged.check_signatures(),
            Err(AgreementDenial::BadSignature {
                agency: "Southville SO".into()
            })
        );
    }

    #[test]
    fn in_force_only_between_dates_and_until_revoked() {
        let s = signed();
        assert!(matches!(
            s.check_in_force(None, t(1) - chrono::Duration::seconds(1)),
            Err(AgreementDenial::NotYetInEffect { .. })
        ));
        s.check_in_force(None, t(1)).unwrap();
        assert!(matches!(
            s.check_in_force(None, t(28)),
            Err(AgreementDenial::Expired { .. })
        ));
        let denial = s.check_in_force(Some(t(14)), t(15)).unwrap_err();
        assert_eq!(denial.code(), "agreement_revoked");
        assert!(denial.to_string().contains("2026-11-14"), "{denial}");
    }

    #[test]
    fn a_proper_query_is_granted_with_the_smallest_cap() {
        let grant = decide(&query()).unwrap();
        assert_eq!(grant.max_results, 100);
        assert_eq!(
            grant.fields,
            vec![SharedField::Plate, SharedField::CapturedAt]
        );
        let mut q = query();
        q.max_results = 5;
        assert_eq!(decide(&q).unwrap().max_results, 5);
        // the other party may query too
        let mut q = query();
        q.requester_agency = "Southville SO".into();
        decide_query(&signed(), None, 1, &policy(), &q, t(15)).unwrap();
    }

    #[test]
    fn purposes_are_checked_against_agreement_and_own_policy() {
        let mut q = query();
        q.purpose.category = "immigration-enforcement".into();
        let d = decide(&q).unwrap_err();
        assert_eq!(d.code(), "purpose_excluded");
        q.purpose.category = "property-crime".into();
        let d = decide(&q).unwrap_err();
        assert_eq!(d.code(), "purpose_not_allowed");
        assert!(
            d.to_string().contains("stolen-vehicle, violent-crime"),
            "{d}"
        );
        // allowed by the agreement but not by this agency's policy
        let mut strict = policy();
        strict
            .purpose_categories
            .retain(|c| c.code != "violent-crime");
        q.purpose.category = "violent-crime".into();
        let d = decide_query(&signed(), None, 0, &strict, &q, t(15)).unwrap_err();
        assert_eq!(d.code(), "purpose_refused_by_policy");
        let mut q = query();
        q.purpose.free_text = "curious about a neighbour".into();
        assert_eq!(decide(&q).unwrap_err().code(), "forbidden_word");
        let mut q = query();
        q.purpose.case_number = " ".into();
        assert_eq!(decide(&q), Err(AgreementDenial::MissingCaseNumber));
        // this agency's floor on the purpose text binds a partner's query as a local search
        let mut q = query();
        q.purpose.free_text = "  car  ".into();
        assert_eq!(
            decide(&q),
            Err(AgreementDenial::FreeTextTooShort { min: 10 })
        );
    }

    #[test]
    fn windows_plate_forms_and_onward_sharing() {
        let mut q = query();
        q.to = q.from + chrono::Duration::days(7);
        decide(&q).unwrap();
        q.to += chrono::Duration::seconds(1);
        assert_eq!(
            decide(&q),
            Err(AgreementDenial::WindowTooLong {
                requested: "7 days 1 second".into(),
                max: "7 days".into()
            })
        );
        let mut q = query();
        q.to = q.from - chrono::Duration::seconds(1);
        assert_eq!(decide(&q), Err(AgreementDenial::RangeInverted));
        let mut q = query();
        q.plate = PlateQuery::Partial;
        assert_eq!(decide(&q), Err(AgreementDenial::PartialNotAllowed));
        let mut q = query();
        q.lookalike = true;
        assert_eq!(decide(&q), Err(AgreementDenial::LookalikeNotAllowed));
        // the party relays a query for a third agency's user
        let mut q = query();
        q.requester_agency = "Westburg PD".into();
        assert_eq!(decide(&q).unwrap_err().code(), "onward_sharing");
        // queries not shared at all
        let mut a = agreement();
        a.sharing.plate_queries = false;
        let mut s = SignedAgreement {
            agreement: a,
            signatures: vec![],
        };
        s.sign(&key(1), "a", t(1)).unwrap();
        s.sign(&key(2), "b", t(1)).unwrap();
        assert_eq!(
            decide_query(&s, None, 0, &policy(), &query(), t(15)),
            Err(AgreementDenial::QueriesNotShared)
        );
    }

    #[test]
    fn hits_only_of_shared_types_and_only_the_partys_own() {
        let s = signed();
        decide_hit(
            &s,
            None,
            1,
            "stolen-vehicle",
            "https://south.example/",
            t(15),
        )
        .unwrap();
        let d = decide_hit(&s, None, 1, "warrant", "https://south.example", t(15)).unwrap_err();
        assert_eq!(d.code(), "hit_type_not_shared");
        assert!(d.to_string().contains("shared: stolen-vehicle"), "{d}");
        let d = decide_hit(
            &s,
            None,
            1,
            "stolen-vehicle",
            "https://north.example",
            t(15),
        )
        .unwrap_err();
        assert_eq!(d.code(), "onward_sharing");
        assert!(shares_hit_type(&s, None, "stolen-vehicle", t(15)));
        assert!(!shares_hit_type(&s, Some(t(14)), "stolen-vehicle", t(15)));
        assert!(!shares_hit_type(&s, None, "warrant", t(15)));
    }

    #[test]
    fn only_named_hot_lists_while_in_force() {
        let mut s = signed();
        assert_eq!(
            decide_hot_list(&s, None, "stolen", t(15))
                .unwrap_err()
                .code(),
            "hot_list_not_shared"
        );
        s.agreement.sharing.hot_lists = vec!["stolen".into()];
        s.sign(&key(1), "a", t(1)).unwrap();
        s.sign(&key(2), "b", t(1)).unwrap();
        decide_hot_list(&s, None, "stolen", t(15)).unwrap();
        let d = decide_hot_list(&s, None, "warrants", t(15)).unwrap_err();
        assert!(d.to_string().contains("shared: stolen"), "{d}");
        let d = decide_hot_list(&s, Some(t(14)), "stolen", t(15)).unwrap_err();
        assert_eq!(d.code(), "agreement_revoked");
    }
}
