//! Periods a report is broken into (UTC calendar days, months, quarters, years) and the
//! date ranges reports cover.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// How a report groups its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
    Quarter,
    Year,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Day, Period::Month, Period::Quarter, Period::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Result<Period, ReportError> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                ReportError::Invalid(format!(
                    "period {s:?} is not one of day, month, quarter, year"
                ))
            })
    }

    /// The first day of the bucket holding `d`.
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        let ymd = |y, m| NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month exists");
        match self {
            Period::Day => d,
            Period::Month => ymd(d.year(), d.month()),
            Period::Quarter => ymd(d.year(), (d.month0() / 3) * 3 + 1),
            Period::Year => ymd(d.year(), 1),
        }
    }

    /// The first day of the bucket after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start.succ_opt().unwrap_or(start),
            Period::Month => start + Months::new(1),
            Period::Quarter => start + Months::new(3),
            Period::Year => start + Months::new(12),
        }
    }

    /// How people write the bucket starting at `start`: `2026-03-14`, `2026-03`, `2026-Q1`,
    /// `2026`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Period::Day => start.format("%Y-%m-%d").to_string(),
            Period::Month => start.format("%Y-%m").to_string(),
            Period::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
            Period::Year => start.year().to_string(),
        }
    }

    /// Bucket starts covering `[from, to)`: the first is the bucket holding `from`.
    pub fn buckets(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut b = self.start_of(from);
        while b < to {
            out.push(b);
            b = self.next(b);
        }
        out
    }
}

/// A span of whole UTC days, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DateRange {
    /// First day, inclusive.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Day after the last, exclusive.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
}

impl DateRange {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<DateRange, ReportError> {
        if from >= to {
            return Err(ReportError::Invalid(format!(
                "the range must end after it starts (from {from}, to {to})"
            )));
        }
        Ok(DateRange { from, to })
    }

    /// Calendar year `year`.
    pub fn year(year: i32) -> Result<DateRange, ReportError> {
        let from = NaiveDate::from_ymd_opt(year, 1, 1)
            .ok_or_else(|| ReportError::Invalid(format!("year {year} is out of range")))?;
        DateRange::new(from, Period::Year.next(from))
    }

    /// Half `half` (1 = January–June, 2 = July–December) of `year`: the six-monthly report
    /// some state laws ask for (Arkansas).
    pub fn half_year(year: i32, half: u32) -> Result<DateRange, ReportError> {
        let month = match half {
            1 => 1,
            2 => 7,
            other => {
                return Err(ReportError::Invalid(format!(
                    "half {other} is not 1 (January–June) or 2 (July–December)"
                )));
            }
        };
        let from = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| ReportError::Invalid(format!("year {year} is out of range")))?;
        DateRange::new(from, from + Months::new(6))
    }

    /// The same days one year earlier (29 February maps to 28 February).
    pub fn year_earlier(self) -> DateRange {
        let back = |d: NaiveDate| d - Months::new(12);
        DateRange {
            from: back(self.from),
            to: back(self.to),
        }
    }

    /// Whether `d` falls in the range.
    pub fn contains(self, d: NaiveDate) -> bool {
        self.from <= d && d < self.to
    }

    /// Number of days covered.
    pub fn days(self) -> i64 {
        (self.to - self.from).num_days()
    }
}

/// Reads `YYYY-MM-DD`, naming the field in the error.
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, ReportError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ReportError::Invalid(format!("{field} {text:?} is not a date like 2026-01-31"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn buckets_and_labels() {
        let q = Period::Quarter;
        assert_eq!(q.start_of(d(2025, 8, 17)), d(2025, 7, 1));
        assert_eq!(q.label(d(2025, 7, 1)), "2025-Q3");
        assert_eq!(
            q.buckets(d(2025, 2, 10), d(2025, 7, 2)),
            [d(2025, 1, 1), d(2025, 4, 1), d(2025, 7, 1)]
        );
        assert_eq!(Period::Month.label(d(2024, 2, 1)), "2024-02");
        assert_eq!(Period::Month.next(d(2024, 12, 1)), d(2025, 1, 1));
        assert_eq!(Period::Year.buckets(d(2024, 6, 1), d(2026, 1, 1)).len(), 2);
        assert_eq!(Period::Day.buckets(d(2024, 2, 28), d(2024, 3, 1)).len(), 2);
        assert_eq!(Period::parse("quarter").unwrap(), Period::Quarter);
        assert!(
            Period::parse("week")
                .unwrap_err()
                .to_string()
                .contains("week")
        );
    }

    #[test]
    fn ranges() {
        let h2 = DateRange::half_year(2025, 2).unwrap();
        assert_eq!((h2.from, h2.to), (d(2025, 7, 1), d(2026, 1, 1)));
        assert!(DateRange::half_year(2025, 3).is_err());
        let leap = DateRange::new(d(2024, 2, 29), d(2024, 3, 2)).unwrap();
        assert_eq!(leap.year_earlier().from, d(2023, 2, 28));
        assert!(DateRange::new(d(2025, 1, 2), d(2025, 1, 2)).is_err());
        assert_eq!(DateRange::year(2024).unwrap().days(), 366);
        assert!(
            parse_date("from", "2025-13-01")
                .unwrap_err()
                .to_string()
                .contains("from")
        );
    }
}
