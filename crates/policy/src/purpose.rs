//! Purpose-bound searches: every search gives a purpose the policy allows, and stays
//! within the policy's limits on time range and partial plates.

use crate::document::{PolicyDocument, words};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a search is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// Code of one of the policy's purpose categories.
    pub category: String,
    /// Case or incident number, in the policy's format.
    pub case_number: String,
    /// The articulable reason, in the user's words.
    pub free_text: String,
}

/// Whether the search names a whole plate or part of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateQuery {
    Full,
    /// Wildcards (`?`, `*`) or no plate at all.
    Partial,
}

/// What a search asks for, as far as policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchShape {
    pub plate: PlateQuery,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Why a search is refused, in words that say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyDenial {
    #[error(
        "\"{label}\" is not a permitted purpose under this agency's policy; \
         searches are allowed only for: {allowed}"
    )]
    ForbiddenCategory { label: String, allowed: String },
    #[error("{given:?} is not a purpose category; choose one of: {allowed}")]
    UnknownCategory { given: String, allowed: String },
    #[error("a case or incident number is required (for example {example})")]
    MissingCaseNumber { example: String },
    #[error("case number {given:?} is not in the agency's format; enter it like {example}")]
    CaseNumberFormat { given: String, example: String },
    #[error(
        "the agency's case-number format is broken ({error}); ask a program manager to fix the policy"
    )]
    PolicyCaseNumberFormat { error: String },
    #[error("describe the reason for this search in the purpose text")]
    MissingFreeText,
    #[error(
        "the purpose text must say at least {min} characters' worth: name what is being investigated (for example \"silver sedan seen leaving a burglary on Elm St\")"
    )]
    FreeTextTooShort { min: u32 },
    #[error(
        "the purpose text uses {word:?}, which this policy does not allow as a reason; describe the criminal investigation or public-safety concern instead"
    )]
    ForbiddenWord { word: String },
    #[error("the search ends before it starts; swap the from and to times")]
    RangeInverted,
    #[error(
        "the search covers {requested}; the policy allows at most {max}; narrow the time range"
    )]
    RangeTooLong { requested: String, max: String },
    #[error("partial-plate searches are not allowed by this policy; search for a full plate")]
    PartialNotAllowed,
    #[error(
        "a partial-plate search may cover at most {max}, this one covers {requested}; narrow the time range or give the full plate"
    )]
    PartialRangeTooLong { requested: String, max: String },
}

fn allowed_list(policy: &PolicyDocument) -> String {
    policy
        .purpose_categories
        .iter()
        .map(|c| format!("{} ({})", c.label, c.code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides whether a search with `purpose` and `shape` is allowed by `policy`. The
/// results cap is not checked here: the store applies `policy.results_cap`.
pub fn check_search(
    policy: &PolicyDocument,
    purpose: &Purpose,
    shape: &SearchShape,
) -> Result<(), PolicyDenial> {
    let category = purpose.category.trim();
    if let Some(forbidden) = policy.forbidden_category(category) {
        return Err(PolicyDenial::ForbiddenCategory {
            label: forbidden.label.clone(),
            allowed: allowed_list(policy),
        });
    }
    if policy.allowed_category(category).is_none() {
        return Err(PolicyDenial::UnknownCategory {
            given: purpose.category.clone(),
            allowed: allowed_list(policy),
        });
    }

    let case_number = purpose.case_number.trim();
    if case_number.is_empty() {
        return Err(PolicyDenial::MissingCaseNumber {
            example: policy.case_number_example.clone(),
        });
    }
    let format = policy
        .case_number_regex()
        .map_err(|e| PolicyDenial::PolicyCaseNumberFormat {
            error: e.to_string(),
        })?;
    if !format.is_match(case_number) {
        return Err(PolicyDenial::CaseNumberFormat {
            given: purpose.case_number.clone(),
            example: policy.case_number_example.clone(),
        });
    }

    let free_text = purpose.free_text.trim();
    if free_text.is_empty() {
        return Err(PolicyDenial::MissingFreeText);
    }
    if policy.purpose_text_too_short(free_text) {
        return Err(PolicyDenial::FreeTextTooShort {
            min: policy.purpose_text.min_chars,
        });
    }
    if let Some(word) = policy.forbidden_word_in(&purpose.free_text) {
        return Err(PolicyDenial::ForbiddenWord { word: word.into() });
    }

    if shape.to < shape.from {
        return Err(PolicyDenial::RangeInverted);
    }
    let requested = (shape.to - shape.from).to_std().unwrap_or(Duration::ZERO);
    if requested > policy.max_search_range {
        return Err(PolicyDenial::RangeTooLong {
            requested: words(requested),
            max: words(policy.max_search_range),
        });
    }
    if shape.plate == PlateQuery::Partial {
        if !policy.partial_plate_search.allowed {
            return Err(PolicyDenial::PartialNotAllowed);
        }
        if requested > policy.partial_plate_search.max_range {
            return Err(PolicyDenial::PartialRangeTooLong {
                requested: words(requested),
                max: words(policy.partial_plate_search.max_range),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> PolicyDocument {
        PolicyDocument::default_for_new_agency()
    }

    fn purpose() -> Purpose {
        Purpose {
            category: "stolen-vehicle".into(),
            case_number: "2026-004512".into(),
            free_text: "Silver sedan reported stolen from Main St lot".into(),
        }
    }

    fn shape(plate: PlateQuery, days: i64, extra_seconds: i64) -> SearchShape {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        SearchShape {
            plate,
            from,
            to: from + chrono::Duration::days(days) + chrono::Duration::seconds(extra_seconds),
        }
    }

    #[test]
    fn a_proper_search_is_allowed() {
        check_search(&policy(), &purpose(), &shape(PlateQuery::Full, 3, 0)).unwrap();
        check_search(&policy(), &purpose(), &shape(PlateQuery::Partial, 3, 0)).unwrap();
    }

    #[test]
    fn forbidden_and_unknown_categories() {
        let mut p = purpose();
        p.category = "immigration-enforcement".into();
        let denial = check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).unwrap_err();
        assert!(matches!(denial, PolicyDenial::ForbiddenCategory { .. }));
        assert!(denial.to_string().contains("Civil immigration enforcement"));
        assert!(
            denial
                .to_string()
                .contains("Stolen vehicle or plate (stolen-vehicle)")
        );
        p.category = "fishing".into();
        let denial = check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).unwrap_err();
        assert!(matches!(denial, PolicyDenial::UnknownCategory { .. }));
        assert!(denial.to_string().contains("choose one of"));
        // codes are exact: a label is not a code
        p.category = "Stolen vehicle or plate".into();
        assert!(check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).is_err());
    }

    #[test]
    fn case_numbers() {
        let mut p = purpose();
        p.case_number = "  ".into();
        assert_eq!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::MissingCaseNumber {
                example: "2026-000123".into()
            })
        );
        p.case_number = "2026-000123x".into();
        let denial = check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).unwrap_err();
        assert!(matches!(denial, PolicyDenial::CaseNumberFormat { .. }));
        assert!(denial.to_string().contains("like 2026-000123"), "{denial}");
        // the format must match the whole number, not a part of it
        p.case_number = "x26-123".into();
        assert!(check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).is_err());
        p.case_number = " 26-123 ".into();
        check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).unwrap();
        let mut broken = policy();
        broken.case_number_format = "(".into();
        assert!(matches!(
            check_search(&broken, &purpose(), &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::PolicyCaseNumberFormat { .. })
        ));
    }

    #[test]
    fn free_text_and_forbidden_words() {
        let mut p = purpose();
        p.free_text = " ".into();
        assert_eq!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::MissingFreeText)
        );
        p.free_text = "x".into();
        assert_eq!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::FreeTextTooShort { min: 10 })
        );
        p.free_text = "  burglary  ".into();
        assert!(matches!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::FreeTextTooShort { .. })
        ));
        p.free_text = "Who attended the PROTEST downtown?".into();
        assert_eq!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)),
            Err(PolicyDenial::ForbiddenWord {
                word: "protest".into()
            })
        );
        // whole words only: "protester" or "curiously" are not the forbidden words
        p.free_text = "Assault on a protester; suspect fled curiously fast".into();
        check_search(&policy(), &p, &shape(PlateQuery::Full, 1, 0)).unwrap();
    }

    #[test]
    fn time_range_limits_at_their_boundaries() {
        let p = purpose();
        // 30 days is the maximum: exactly 30 days passes, one second more does not
        check_search(&policy(), &p, &shape(PlateQuery::Full, 30, 0)).unwrap();
        let denial = check_search(&policy(), &p, &shape(PlateQuery::Full, 30, 1)).unwrap_err();
        assert_eq!(
            denial,
            PolicyDenial::RangeTooLong {
                requested: "30 days 1 second".into(),
                max: "30 days".into()
            }
        );
        assert_eq!(
            check_search(&policy(), &p, &shape(PlateQuery::Full, -1, 0)),
            Err(PolicyDenial::RangeInverted)
        );
        check_search(&policy(), &p, &shape(PlateQuery::Full, 0, 0)).unwrap();
    }

    #[test]
    fn partial_plate_limits() {
        let p = purpose();
        check_search(&policy(), &p, &shape(PlateQuery::Partial, 7, 0)).unwrap();
        assert!(matches!(
            check_search(&policy(), &p, &shape(PlateQuery::Partial, 7, 1)),
            Err(PolicyDenial::PartialRangeTooLong { .. })
        ));
        // a full-plate search over the same range is fine
        check_search(&policy(), &p, &shape(PlateQuery::Full, 7, 1)).unwrap();
        let mut strict = policy();
        strict.partial_plate_search.allowed = false;
        assert_eq!(
            check_search(&strict, &p, &shape(PlateQuery::Partial, 1, 0)),
            Err(PolicyDenial::PartialNotAllowed)
        );
    }
}
