//! The agency's written policy as data: TOML or JSON, validated before use.
//!
//! Durations are written the human way (`"21days"`, `"3m"`, `"9months"`, `"1year"`; a
//! month is 30.44 days, a year 365.25 days).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 60 * MINUTE;
/// humantime's units, so presets print back as written.
const MONTH: u64 = 2_630_016;
const YEAR: u64 = 31_557_600;

/// Audit records are kept at least this long (CJIS: at least one year).
pub const MIN_AUDIT_RETENTION: Duration = Duration::from_secs(YEAR);

/// A purpose category: a stable code and a label for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeCategory {
    pub code: String,
    pub label: String,
}

/// Whether partial-plate (wildcard) searches are allowed, and over what time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialPlateSearch {
    pub allowed: bool,
    #[serde(with = "duration_text")]
    pub max_range: Duration,
}

/// How long each class of record is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(with = "duration_text")]
    pub non_hit_reads: Duration,
    #[serde(with = "duration_text")]
    pub hits: Duration,
    /// Images are never kept longer than the read they belong to.
    #[serde(with = "duration_text")]
    pub images: Duration,
    #[serde(with = "duration_text")]
    pub audit_records: Duration,
}

/// US states whose law limits how long non-hit reads may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jurisdiction {
    /// About 3 minutes: only hits are kept.
    NewHampshire,
    Maine,
    Virginia,
    Minnesota,
    Utah,
    Arkansas,
}

impl Jurisdiction {
    pub const ALL: [Jurisdiction; 6] = [
        Jurisdiction::NewHampshire,
        Jurisdiction::Maine,
        Jurisdiction::Virginia,
        Jurisdiction::Minnesota,
        Jurisdiction::Utah,
        Jurisdiction::Arkansas,
    ];

    /// The longest the law lets non-hit reads be kept.
    pub fn non_hit_limit(self) -> Duration {
        Duration::from_secs(match self {
            Jurisdiction::NewHampshire => 3 * MINUTE,
            Jurisdiction::Maine | Jurisdiction::Virginia => 21 * DAY,
            Jurisdiction::Minnesota => 60 * DAY,
            Jurisdiction::Utah => 9 * MONTH,
            Jurisdiction::Arkansas => 150 * DAY,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Jurisdiction::NewHampshire => "New Hampshire",
            Jurisdiction::Maine => "Maine",
            Jurisdiction::Virginia => "Virginia",
            Jurisdiction::Minnesota => "Minnesota",
            Jurisdiction::Utah => "Utah",
            Jurisdiction::Arkansas => "Arkansas",
        }
    }
}

/// Per-user counts past which a supervisor is asked to review a user's queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagThresholds {
    pub queries_per_day: u32,
    pub partial_queries_per_day: u32,
    /// Searches for one plate by one user within a week (a stalking pattern).
    pub same_plate_queries_per_week: u32,
    pub exports_per_week: u32,
}

/// Query review: a random sample plus flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// Fraction of queries sampled for supervisor review, `0.0..=1.0`.
    pub sample_rate: f64,
    pub flags: FlagThresholds,
}

/// The agency's ALPR policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Raised on every change; users must acknowledge the current version.
    pub version: u32,
    pub agency_name: String,
    pub statement_of_purpose: String,
    /// Purposes a search may give.
    pub purpose_categories: Vec<PurposeCategory>,
    /// Purposes named so that a search giving them is refused with a clear reason.
    pub forbidden_categories: Vec<PurposeCategory>,
    /// Words that may not appear in a purpose's free text (whole words, any case).
    pub forbidden_words: Vec<String>,
    /// Regular expression a case number must match in full.
    pub case_number_format: String,
    /// A case number in that format, shown to users when theirs does not match.
    pub case_number_example: String,
    /// Longest time range one search may cover.
    #[serde(with = "duration_text")]
    pub max_search_range: Duration,
    pub partial_plate_search: PartialPlateSearch,
    /// How far back the live alert list (`GET /api/v1/hits`, the Alerts page) reaches
    /// without a purpose. Older hits are found only by a purpose-bound search of hits.
    #[serde(with = "duration_text", default = "default_alert_horizon")]
    pub alert_horizon: Duration,
    /// Most results one search returns.
    pub results_cap: u32,
    pub retention: Retention,
    /// State law the retention must respect, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<Jurisdiction>,
    /// Look-alike substitutions allowed when matching hot lists, `0..=2`.
    pub lookalike_budget: u8,
    /// Longest expiry a user-entered hot plate may have.
    #[serde(with = "duration_text")]
    pub user_hot_plate_max_expiry: Duration,
    /// An account unused this long is disabled.
    #[serde(with = "duration_text")]
    pub idle_account_limit: Duration,
    /// How long a training certificate is valid.
    #[serde(with = "duration_text")]
    pub training_validity: Duration,
    pub review: ReviewSettings,
    /// What the public transparency page shows beyond what it always shows (the MCCA
    /// metrics, policy, purposes, retention, camera counts, audit checkpoint).
    #[serde(default)]
    pub transparency: Transparency,
    /// How much a search's purpose text must say.
    #[serde(default)]
    pub purpose_text: PurposeTextRules,
}

/// How much a search's purpose text must say: a floor below which a search is refused, and
/// a length below which it goes to the supervisors' review queue (a reason in a few words is
/// allowed, but someone reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurposeTextRules {
    /// Fewest characters a purpose text may have (spaces at either end not counted).
    pub min_chars: u32,
    /// A purpose text shorter than this is queued for review (reason `short_purpose`).
    pub review_below_chars: u32,
}

impl Default for PurposeTextRules {
    fn default() -> Self {
        PurposeTextRules {
            min_chars: 10,
            review_below_chars: 30,
        }
    }
}

/// The live alert horizon of a policy that does not name one: the last 24 hours.
pub const DEFAULT_ALERT_HORIZON: Duration = Duration::from_secs(DAY);

fn default_alert_horizon() -> Duration {
    DEFAULT_ALERT_HORIZON
}

/// The program manager's choices for the public transparency page. Every default keeps
/// operationally sensitive detail off the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transparency {
    /// List each approved camera's location in words (and direction of view); otherwise
    /// only counts by camera type appear.
    pub camera_locations: bool,
    /// List each camera's map coordinates too (needs `camera_locations`).
    pub camera_coordinates: bool,
    /// Show searches broken down by purpose category (the total always appears).
    pub queries_by_purpose: bool,
    /// Publish the signed purge receipts (what each purge deleted, signed).
    pub purge_receipts: bool,
    /// Publish every earlier policy version, not just the one in force.
    pub policy_history: bool,
}

impl Default for Transparency {
    fn default() -> Self {
        Transparency {
            camera_locations: false,
            camera_coordinates: false,
            queries_by_purpose: true,
            purge_receipts: true,
            policy_history: true,
        }
    }
}

/// One thing wrong with a policy document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyProblem {
    #[error("version must be 1 or more")]
    ZeroVersion,
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("no purpose categories are allowed; add at least one to purpose_categories")]
    NoPurposeCategories,
    #[error("purpose category code {code:?} is listed more than once")]
    DuplicateCategory { code: String },
    #[error("purpose category {code:?} is both allowed and forbidden")]
    AllowedAndForbidden { code: String },
    #[error("purpose category code {code:?} must be lower-case letters, digits and dashes")]
    BadCategoryCode { code: String },
    #[error("case_number_format {pattern:?} is not a valid regular expression: {error}")]
    BadCaseNumberFormat { pattern: String, error: String },
    #[error("case_number_example {example:?} does not match case_number_format {pattern:?}")]
    ExampleDoesNotMatch { example: String, pattern: String },
    #[error("{field} must be longer than zero")]
    ZeroDuration { field: &'static str },
    #[error("partial_plate_search.max_range ({partial}) is longer than max_search_range ({full})")]
    PartialRangeLongerThanFull { partial: String, full: String },
    #[error("results_cap must be 1 or more")]
    ZeroResultsCap,
    #[error("retention.audit_records is {given}; audit records must be kept at least 1 year")]
    AuditRetentionTooShort { given: String },
    #[error("retention.non_hit_reads is {given}, but {jurisdiction} law allows at most {limit}")]
    RetentionOverLegalLimit {
        jurisdiction: &'static str,
        limit: String,
        given: String,
    },
    #[error("retention.images ({images}) is longer than both reads and hits are kept")]
    ImagesOutliveReads { images: String },
    #[error("lookalike_budget is {given}; it may be 0, 1 or 2")]
    LookalikeBudgetTooHigh { given: u8 },
    #[error("review.sample_rate is {given}; it must be between 0 and 1")]
    SampleRateOutOfRange { given: f64 },
    #[error("forbidden word {word:?} must be one word of letters or digits")]
    BadForbiddenWord { word: String },
    #[error("transparency.camera_coordinates needs transparency.camera_locations")]
    CoordinatesWithoutLocations,
    #[error("purpose_text.min_chars must be 1 or more")]
    ZeroPurposeMinimum,
}

/// Every problem found in a policy document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PolicyInvalid(pub Vec<PolicyProblem>);

impl fmt::Display for PolicyInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the policy has {} problem(s): ", self.0.len())?;
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// A policy document that could not be read or is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("policy TOML: {0}")]
    Toml(String),
    #[error("policy JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Invalid(#[from] PolicyInvalid),
}

/// A duration the way the policy file writes it (machine-readable, parsed back by
/// humantime): whole years or months (`"1year"`, `"9months"`), days, hours or minutes when
/// it is one (`"60days"`, `"3m"`), otherwise humantime's form. For people, use [`words`].
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        return humantime::format_duration(d).to_string();
    }
    match secs {
        // humantime's years and months (365.25 and 30.44 days), which it prints back
        // as "1year", "9months".
        s if s.is_multiple_of(YEAR) || s.is_multiple_of(MONTH) => {
            humantime::format_duration(d).to_string()
        }
        s if s % DAY == 0 => format!("{}days", s / DAY),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % MINUTE == 0 => format!("{}m", s / MINUTE),
        _ => humantime::format_duration(d).to_string(),
    }
}

/// A duration as people write it in a sentence: "7 days", "1 year", "24 hours",
/// "7 days 1 minute". Whole years and months (humantime's: 365.25 and 30.44 days) read as
/// such; anything else reads in days, hours, minutes and seconds. This is the one
/// formatting of durations for people: messages, pages and JSON fields meant for reading.
pub fn words(d: Duration) -> String {
    fn unit(n: u64, one: &str) -> String {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    }
    let secs = d.as_secs();
    if secs == 0 {
        return if d.is_zero() {
            "no time".into()
        } else {
            "under a second".into()
        };
    }
    if secs.is_multiple_of(YEAR) {
        return unit(secs / YEAR, "year");
    }
    if secs.is_multiple_of(MONTH) {
        return unit(secs / MONTH, "month");
    }
    let parts = [
        (secs / DAY, "day"),
        (secs % DAY / 3600, "hour"),
        (secs % 3600 / MINUTE, "minute"),
        (secs % MINUTE, "second"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, one)| unit(*n, one))
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`words`] for a span in Unix milliseconds (negative spans read as no time).
pub fn words_ms(ms: i64) -> String {
    words(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// Serde for durations as [`human`] text, parsed by humantime.
/// A length of time as people write it ("21 days", "1 year", "3m"), read as the document
/// reads its durations; `None` when it is not one.
pub fn parse_words(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

pub(crate) mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::human(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); write it like \"21days\", \"3m\" or \"9months\""
            ))
        })
    }
}

fn category(code: &str, label: &str) -> PurposeCategory {
    PurposeCategory {
        code: code.into(),
        label: label.into(),
    }
}

impl PolicyDocument {
    /// Safe defaults for an agency starting out: short retention, a closed list of
    /// criminal-investigation purposes, partial searches over a week at most, audit kept
    /// three years. The agency name and statement are placeholders to edit.
    pub fn default_for_new_agency() -> Self {
        PolicyDocument {
            version: 1,
            agency_name: "New agency (edit me)".into(),
            statement_of_purpose: "Licence-plate reads are used only for criminal \
                investigations and articulable public-safety concerns, by trained users, \
                with every access recorded and reviewed."
                .into(),
            purpose_categories: vec![
                category("stolen-vehicle", "Stolen vehicle or plate"),
                category("wanted-person", "Wanted person or warrant"),
                category(
                    "missing-person",
                    "Missing or endangered person (AMBER, Silver alert)",
                ),
                category("violent-crime", "Violent crime investigation"),
                category("property-crime", "Property crime investigation"),
                category("hit-and-run", "Hit-and-run or traffic crime"),
                category("public-safety", "Articulable public-safety concern"),
            ],
            forbidden_categories: vec![
                category("immigration-enforcement", "Civil immigration enforcement"),
                category(
                    "protected-activity",
                    "Monitoring lawful protest, religion or politics",
                ),
                category("personal-use", "Personal or non-work use"),
            ],
            forbidden_words: ["protest", "rally", "immigration", "curious", "personal"]
                .map(String::from)
                .to_vec(),
            case_number_format: r"[0-9]{2,4}-[0-9]{3,8}".into(),
            case_number_example: "2026-000123".into(),
            max_search_range: Duration::from_secs(30 * DAY),
            partial_plate_search: PartialPlateSearch {
                allowed: true,
                max_range: Duration::from_secs(7 * DAY),
            },
            alert_horizon: DEFAULT_ALERT_HORIZON,
            results_cap: 1000,
            retention: Retention {
                non_hit_reads: Duration::from_secs(21 * DAY),
                hits: Duration::from_secs(YEAR),
                images: Duration::from_secs(21 * DAY),
                audit_records: Duration::from_secs(3 * YEAR),
            },
            jurisdiction: None,
            lookalike_budget: 1,
            user_hot_plate_max_expiry: Duration::from_secs(30 * DAY),
            idle_account_limit: Duration::from_secs(90 * DAY),
            training_validity: Duration::from_secs(YEAR),
            review: ReviewSettings {
                sample_rate: 0.05,
                flags: FlagThresholds {
                    queries_per_day: 50,
                    partial_queries_per_day: 10,
                    same_plate_queries_per_week: 5,
                    exports_per_week: 10,
                },
            },
            transparency: Transparency::default(),
            purpose_text: PurposeTextRules::default(),
        }
    }

    /// Sets the jurisdiction and shortens non-hit (and image) retention to its legal
    /// limit where it is longer.
    pub fn apply_jurisdiction(&mut self, jurisdiction: Jurisdiction) {
        let limit = jurisdiction.non_hit_limit();
        self.jurisdiction = Some(jurisdiction);
        self.retention.non_hit_reads = self.retention.non_hit_reads.min(limit);
        self.retention.images = self
            .retention
            .images
            .min(self.retention.non_hit_reads.max(self.retention.hits));
    }

    /// The first forbidden word that `text` contains as a whole word, in any case (any
    /// script: "ÜBERWACHUNG" is "überwachung"). The one test of a purpose's words, for a
    /// local search and a partner's alike.
    pub fn forbidden_word_in(&self, text: &str) -> Option<&str> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .find_map(|word| {
                let word = word.to_lowercase();
                self.forbidden_words
                    .iter()
                    .find(|f| f.to_lowercase() == word)
            })
            .map(String::as_str)
    }

    /// Whether a purpose's text says less than `purpose_text.min_chars` (spaces at either
    /// end not counted): refused, for a local search and a partner's alike.
    pub fn purpose_text_too_short(&self, text: &str) -> bool {
        (text.trim().chars().count() as u64) < u64::from(self.purpose_text.min_chars)
    }

    /// The allowed category with this code.
    pub fn allowed_category(&self, code: &str) -> Option<&PurposeCategory> {
        self.purpose_categories.iter().find(|c| c.code == code)
    }

    /// The forbidden category with this code.
    pub fn forbidden_category(&self, code: &str) -> Option<&PurposeCategory> {
        self.forbidden_categories.iter().find(|c| c.code == code)
    }

    /// The case-number pattern, anchored to match a whole case number.
    pub(crate) fn case_number_regex(&self) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&format!("^(?:{})$", self.case_number_format))
    }

    /// Checks every rule and returns all problems at once.
    pub fn validate(&self) -> Result<(), PolicyInvalid> {
        use PolicyProblem as P;
        let mut problems = Vec::new();
        if self.version == 0 {
            problems.push(P::ZeroVersion);
        }
        for (field, value) in [
            ("agency_name", &self.agency_name),
            ("statement_of_purpose", &self.statement_of_purpose),
            ("case_number_example", &self.case_number_example),
        ] {
            if value.trim().is_empty() {
                problems.push(P::Empty { field });
            }
        }
        if self.purpose_categories.is_empty() {
            problems.push(P::NoPurposeCategories);
        }
        let mut seen: Vec<&str> = Vec::new();
        for c in self
            .purpose_categories
            .iter()
            .chain(&self.forbidden_categories)
        {
            let valid_code = !c.code.is_empty()
                && c.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid_code {
                problems.push(P::BadCategoryCode {
                    code: c.code.clone(),
                });
            }
            if c.label.trim().is_empty() {
                problems.push(P::Empty {
                    field: "purpose category label",
                });
            }
            if seen.contains(&c.code.as_str()) {
                let both = self.allowed_category(&c.code).is_some()
                    && self.forbidden_category(&c.code).is_some();
                problems.push(if both {
                    P::AllowedAndForbidden {
                        code: c.code.clone(),
                    }
                } else {
                    P::DuplicateCategory {
                        code: c.code.clone(),
                    }
                });
            }
            seen.push(&c.code);
        }
        for word in &self.forbidden_words {
            if word.is_empty() || !word.chars().all(char::is_alphanumeric) {
                problems.push(P::BadForbiddenWord { word: word.clone() });
            }
        }
        match self.case_number_regex() {
            Err(e) => problems.push(P::BadCaseNumberFormat {
                pattern: self.case_number_format.clone(),
                error: e.to_string(),
            }),
            Ok(re) if !self.case_number_example.trim().is_empty() => {
                if !re.is_match(&self.case_number_example) {
                    problems.push(P::ExampleDoesNotMatch {
                        example: self.case_number_example.clone(),
                        pattern: self.case_number_format.clone(),
                    });
                }
            }
            Ok(_) => {}
        }
        for (field, value) in [
            ("max_search_range", self.max_search_range),
            (
                "partial_plate_search.max_range",
                self.partial_plate_search.max_range,
            ),
            ("alert_horizon", self.alert_horizon),
            ("retention.non_hit_reads", self.retention.non_hit_reads),
            ("retention.hits", self.retention.hits),
            ("retention.images", self.retention.images),
            ("user_hot_plate_max_expiry", self.user_hot_plate_max_expiry),
            ("idle_account_limit", self.idle_account_limit),
            ("training_validity", self.training_validity),
        ] {
            if value.is_zero() {
                problems.push(P::ZeroDuration { field });
            }
        }
        if self.partial_plate_search.max_range > self.max_search_range {
            problems.push(P::PartialRangeLongerThanFull {
                partial: words(self.partial_plate_search.max_range),
                full: words(self.max_search_range),
            });
        }
        if self.results_cap == 0 {
            problems.push(P::ZeroResultsCap);
        }
        if self.retention.audit_records < MIN_AUDIT_RETENTION {
            problems.push(P::AuditRetentionTooShort {
                given: words(self.retention.audit_records),
            });
        }
        if let Some(j) = self.jurisdiction
            && self.retention.non_hit_reads > j.non_hit_limit()
        {
            problems.push(P::RetentionOverLegalLimit {
                jurisdiction: j.name(),
                limit: words(j.non_hit_limit()),
                given: words(self.retention.non_hit_reads),
            });
        }
        if self.retention.images > self.retention.non_hit_reads.max(self.retention.hits) {
            problems.push(P::ImagesOutliveReads {
                images: words(self.retention.images),
            });
        }
        if self.lookalike_budget > 2 {
            problems.push(P::LookalikeBudgetTooHigh {
                given: self.lookalike_budget,
            });
        }
        if !(0.0..=1.0).contains(&self.review.sample_rate) {
            problems.push(P::SampleRateOutOfRange {
                given: self.review.sample_rate,
            });
        }
        if self.transparency.camera_coordinates && !self.transparency.camera_locations {
            problems.push(P::CoordinatesWithoutLocations);
        }
        if self.purpose_text.min_chars == 0 {
            problems.push(P::ZeroPurposeMinimum);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyInvalid(problems))
        }
    }

    /// Reads and validates a TOML policy.
    pub fn from_toml(text: &str) -> Result<Self, PolicyLoadError> {
        let doc: Self = toml::from_str(text).map_err(|e| PolicyLoadError::Toml(e.to_string()))?;
        doc.validate()?;
        Ok(doc)
    }

    /// Reads and validates a JSON policy.
    pub fn from_json(text: &str) -> Result<Self, PolicyLoadError> {
        let doc: Self =
            serde_json::from_str(text).map_err(|e| PolicyLoadError::Json(e.to_string()))?;
        doc.validate()?;
        Ok(doc)
    }

    /// The policy as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a policy document always serialises")
    }

    /// The policy as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a policy document always serialises")
    }

    /// What differs from `earlier`, field by field, in words: what a person who accepted
    /// `earlier` must notice. The version number is left out, and so are the review
    /// thresholds (`review.*`), which users are not shown so that they cannot be evaded.
    pub fn changes_since(&self, earlier: &PolicyDocument) -> Vec<PolicyChange> {
        let fields = |doc: &PolicyDocument| {
            let mut out = std::collections::BTreeMap::new();
            let value = serde_json::to_value(doc).expect("a policy document always serialises");
            flatten("", &value, &mut out);
            out
        };
        let (before, after) = (fields(earlier), fields(self));
        let names: std::collections::BTreeSet<&String> =
            before.keys().chain(after.keys()).collect();
        names
            .into_iter()
            .filter(|f| f.as_str() != "version" && !f.starts_with("review."))
            .filter_map(|f| {
                let (b, a) = (before.get(f), after.get(f));
                (b != a).then(|| PolicyChange {
                    field: f.clone(),
                    before: b.cloned().unwrap_or_else(|| "—".into()),
                    after: a.cloned().unwrap_or_else(|| "—".into()),
                })
            })
            .collect()
    }
}

/// One field that differs between two versions of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// Where it is in the document, e.g. `retention.non_hit_reads`.
    pub field: String,
    /// Its value before and after, in words ("—" where it was absent).
    pub before: String,
    pub after: String,
}

/// Every leaf of `value` under its dotted path, in words; a list is one field.
fn flatten(
    path: &str,
    value: &serde_json::Value,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    use serde_json::Value;
    let shown = |v: &Value| match v {
        // A list of categories reads as their labels.
        Value::Object(m) => m
            .get("label")
            .and_then(Value::as_str)
            .map_or_else(|| v.to_string(), str::to_string),
        Value::String(s) => humantime::parse_duration(s).map_or_else(|_| s.clone(), words),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    };
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) => {
            out.insert(
                path.to_string(),
                items.iter().map(shown).collect::<Vec<_>>().join("; "),
            );
        }
        other => {
            out.insert(path.to_string(), shown(other));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_words_are_whole_words_in_any_case_and_script() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.forbidden_words = vec!["hobby".into(), "Überwachung".into()];
        assert_eq!(doc.forbidden_word_in("a HOBBY of mine"), Some("hobby"));
        assert_eq!(
            doc.forbidden_word_in("allgemeine ÜBERWACHUNG"),
            Some("Überwachung")
        );
        assert_eq!(doc.forbidden_word_in("hobbyist club"), None);
    }

    #[test]
    fn changes_since_an_earlier_version_are_named_in_words() {
        let earlier = PolicyDocument::default_for_new_agency();
        let mut now = earlier.clone();
        now.version = 2;
        now.retention.non_hit_reads = Duration::from_secs(14 * DAY);
        now.forbidden_words.push("hobby".into());
        now.review.sample_rate = 0.5;
        let changes = now.changes_since(&earlier);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["forbidden_words", "retention.non_hit_reads"]);
        assert_eq!(
            (changes[1].before.as_str(), changes[1].after.as_str()),
            ("21 days", "14 days")
        );
        assert!(changes[0].after.ends_with("; hobby"), "{:?}", changes[0]);
        assert!(earlier.changes_since(&earlier).is_empty());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let d = Duration::from_secs;
        assert_eq!(words(d(7 * DAY)), "7 days");
        assert_eq!(words(d(7 * DAY + 60)), "7 days 1 minute");
        assert_eq!(words(d(YEAR)), "1 year");
        assert_eq!(words(d(3 * YEAR)), "3 years");
        assert_eq!(words(d(9 * MONTH)), "9 months");
        assert_eq!(words(d(21 * DAY)), "21 days");
        assert_eq!(words(d(DAY)), "1 day");
        assert_eq!(words(d(3600)), "1 hour");
        assert_eq!(words(d(90 * 60)), "1 hour 30 minutes");
        assert_eq!(words(d(180)), "3 minutes");
        assert_eq!(words_ms(604_860_000), "7 days 1 minute");
    }

    #[test]
    fn alert_horizon_defaults_to_a_day_when_a_stored_policy_has_none() {
        let doc = PolicyDocument::default_for_new_agency();
        let mut v = serde_json::to_value(&doc).unwrap();
        v.as_object_mut().unwrap().remove("alert_horizon");
        let back: PolicyDocument = serde_json::from_value(v).unwrap();
        assert_eq!(back.alert_horizon, Duration::from_secs(DAY));
    }

    fn problems(doc: &PolicyDocument) -> Vec<PolicyProblem> {
        doc.validate().err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let doc = PolicyDocument::default_for_new_agency();
        doc.validate().unwrap();
        let toml_text = doc.to_toml();
        assert!(
            toml_text.contains("non_hit_reads = \"21days\""),
            "{toml_text}"
        );
        assert_eq!(PolicyDocument::from_toml(&toml_text).unwrap(), doc);
        assert_eq!(PolicyDocument::from_json(&doc.to_json()).unwrap(), doc);
    }

    #[test]
    fn audit_retention_of_at_least_a_year_is_enforced() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.retention.audit_records = Duration::from_secs(364 * DAY);
        assert_eq!(
            problems(&doc),
            [PolicyProblem::AuditRetentionTooShort {
                given: "364 days".into()
            }]
        );
        doc.retention.audit_records = MIN_AUDIT_RETENTION;
        doc.validate().unwrap();
    }

    #[test]
    fn jurisdiction_presets() {
        let expect = [
            (Jurisdiction::NewHampshire, 3 * MINUTE),
            (Jurisdiction::Maine, 21 * DAY),
            (Jurisdiction::Virginia, 21 * DAY),
            (Jurisdiction::Minnesota, 60 * DAY),
            (Jurisdiction::Utah, 9 * MONTH),
            (Jurisdiction::Arkansas, 150 * DAY),
        ];
        for (j, secs) in expect {
            assert_eq!(j.non_hit_limit(), Duration::from_secs(secs), "{}", j.name());
            let mut doc = PolicyDocument::default_for_new_agency();
            doc.retention.non_hit_reads = Duration::from_secs(YEAR);
            doc.retention.images = Duration::from_secs(YEAR);
            doc.apply_jurisdiction(j);
            doc.validate().unwrap();
            assert!(doc.retention.non_hit_reads <= j.non_hit_limit());
            assert_eq!(PolicyDocument::from_toml(&doc.to_toml()).unwrap(), doc);
        }
        let mut nh = PolicyDocument::default_for_new_agency();
        nh.apply_jurisdiction(Jurisdiction::NewHampshire);
        assert_eq!(nh.retention.non_hit_reads, Duration::from_secs(180));
        assert_eq!(
            nh.retention.hits,
            Duration::from_secs(YEAR),
            "hits are kept"
        );
    }

    #[test]
    fn retention_over_the_legal_limit_is_refused() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.jurisdiction = Some(Jurisdiction::Maine);
        doc.retention.non_hit_reads = Duration::from_secs(30 * DAY);
        assert_eq!(
            problems(&doc),
            [PolicyProblem::RetentionOverLegalLimit {
                jurisdiction: "Maine",
                limit: "21 days".into(),
                given: "30 days".into()
            }]
        );
        assert!(
            doc.validate()
                .unwrap_err()
                .to_string()
                .contains("Maine law allows at most 21 days")
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.version = 0;
        doc.agency_name = " ".into();
        doc.case_number_format = "([0-9]".into();
        doc.lookalike_budget = 3;
        doc.results_cap = 0;
        doc.review.sample_rate = 1.5;
        doc.forbidden_categories
            .push(category("stolen-vehicle", "oops"));
        doc.purpose_categories.push(category("Bad Code", "x"));
        doc.forbidden_words.push("two words".into());
        doc.partial_plate_search.max_range = Duration::from_secs(60 * DAY);
        doc.idle_account_limit = Duration::ZERO;
        let found = problems(&doc);
        let expected = [
            PolicyProblem::ZeroVersion,
            PolicyProblem::Empty {
                field: "agency_name",
            },
            PolicyProblem::BadCategoryCode {
                code: "Bad Code".into(),
            },
            PolicyProblem::AllowedAndForbidden {
                code: "stolen-vehicle".into(),
            },
            PolicyProblem::BadForbiddenWord {
                word: "two words".into(),
            },
            PolicyProblem::ZeroDuration {
                field: "idle_account_limit",
            },
            PolicyProblem::PartialRangeLongerThanFull {
                partial: "60 days".into(),
                full: "30 days".into(),
            },
            PolicyProblem::ZeroResultsCap,
            PolicyProblem::LookalikeBudgetTooHigh { given: 3 },
            PolicyProblem::SampleRateOutOfRange { given: 1.5 },
        ];
        for e in &expected {
            assert!(found.contains(e), "missing {e:?} in {found:?}");
        }
        assert!(
            found
                .iter()
                .any(|p| matches!(p, PolicyProblem::BadCaseNumberFormat { .. }))
        );
        assert_eq!(found.len(), expected.len() + 1, "{found:?}");
    }

    #[test]
    fn transparency_choices_default_safe_and_are_checked() {
        let doc = PolicyDocument::default_for_new_agency();
        assert!(!doc.transparency.camera_locations && !doc.transparency.camera_coordinates);
        // A policy written before the section existed reads with the safe defaults.
        let old = doc.to_toml().replace("[transparency]", "[unused]");
        let old: String = old.split("[unused]").next().unwrap().to_string();
        assert_eq!(
            PolicyDocument::from_toml(&old).unwrap().transparency,
            Transparency::default()
        );
        let mut bad = doc.clone();
        bad.transparency.camera_coordinates = true;
        assert_eq!(problems(&bad), [PolicyProblem::CoordinatesWithoutLocations]);
        bad.transparency.camera_locations = true;
        bad.validate().unwrap();
        bad.purpose_text.min_chars = 0;
        assert_eq!(problems(&bad), [PolicyProblem::ZeroPurposeMinimum]);
        let text = doc.to_toml().replace(
            "policy_history = true",
            "policy_history = true\nplates = true",
        );
        assert!(
            PolicyDocument::from_toml(&text)
                .unwrap_err()
                .to_string()
                .contains("plates")
        );
    }

    #[test]
    fn case_number_example_must_match() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.case_number_example = "ABC".into();
        assert!(matches!(
            problems(&doc)[..],
            [PolicyProblem::ExampleDoesNotMatch { .. }]
        ));
    }

    #[test]
    fn images_do_not_outlive_reads() {
        let mut doc = PolicyDocument::default_for_new_agency();
        doc.retention.images = Duration::from_secs(2 * YEAR);
        assert!(matches!(
            problems(&doc)[..],
            [PolicyProblem::ImagesOutliveReads { .. }]
        ));
    }

    #[test]
    fn load_errors_are_clear() {
        let e = PolicyDocument::from_toml("version = \"one\"").unwrap_err();
        assert!(matches!(e, PolicyLoadError::Toml(_)), "{e}");
        let text = PolicyDocument::default_for_new_agency()
            .to_toml()
            .replace("results_cap = 1000", "results_cap = 1000\nresult_cap = 5");
        let e = PolicyDocument::from_toml(&text).unwrap_err();
        assert!(e.to_string().contains("result_cap"), "{e}");
        let text = PolicyDocument::default_for_new_agency().to_toml().replace(
            "non_hit_reads = \"21days\"",
            "non_hit_reads = \"3 fortnights\"",
        );
        let e = PolicyDocument::from_toml(&text).unwrap_err();
        assert!(e.to_string().contains("is not a duration"), "{e}");
        let bad = PolicyDocument::default_for_new_agency()
            .to_json()
            .replace("\"lookalike_budget\": 1", "\"lookalike_budget\": 7");
        let e = PolicyDocument::from_json(&bad).unwrap_err();
        assert!(e.to_string().contains("lookalike_budget is 7"), "{e}");
    }
}
