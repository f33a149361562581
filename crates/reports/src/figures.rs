//! The usage figures (MCCA metrics and the rest) of a span of days, built from daily counts,
//! and reports of them by period with a year-over-year comparison.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::period::{DateRange, Period};

/// One daily count, as the store keeps it: `count` events of `metric` (kind `label`) on
/// UTC day `day`. Metric names are those of `candor_store::metrics::metric`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub day: NaiveDate,
    pub metric: String,
    pub label: String,
    pub count: i64,
}

/// Verdicts recorded on hits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dispositions {
    pub correct_read: i64,
    pub wrong_state: i64,
    pub misread: i64,
    pub dismissed: i64,
}

/// Every figure of one span of days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    /// Plate reads (detections).
    pub detections: i64,
    /// Hot-list hits.
    pub hits: i64,
    /// Hits by hit type (NCIC list code or the list's own type).
    pub hits_by_type: BTreeMap<String, i64>,
    /// Hits a person verified (recorded a disposition for).
    pub hits_verified: i64,
    pub dispositions: Dispositions,
    /// Misread verdicts per verified hit; none when nothing was verified.
    pub misread_rate: Option<f64>,
    /// Wrong-state verdicts per verified hit; none when nothing was verified.
    pub wrong_state_rate: Option<f64>,
    /// Stops recorded as the action on a verified hit.
    pub stops: i64,
    /// Arrests recorded as the action on a verified hit.
    pub arrests: i64,
    /// Searches of reads by users.
    pub queries: i64,
    /// Searches by purpose category code.
    pub queries_by_purpose: BTreeMap<String, i64>,
    /// Users who searched at least once.
    pub users_querying: i64,
    /// Searches by user (account id); only in reports for program managers and auditors,
    /// never on the public page.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries_by_user: BTreeMap<String, i64>,
    /// Hot plates entered by users.
    pub user_hot_plates: i64,
    /// Supervisor reviews of searches.
    pub reviews: i64,
    /// Reviews that raised a concern.
    pub concerns: i64,
    /// Purge runs.
    pub purges: i64,
    /// Records deleted by purges (reads, hits, images).
    pub records_purged: i64,
    pub legal_holds_placed: i64,
    pub legal_holds_released: i64,
}

/// A headline figure: its key (JSON field and CSV column), its name for people, and how to
/// read it from [`Figures`]. The order is the order of tables, CSV columns and charts.
pub struct Headline {
    pub key: &'static str,
    pub name: &'static str,
    pub get: fn(&Figures) -> i64,
}

pub const HEADLINES: &[Headline] = &[
    Headline {
        key: "detections",
        name: "Detections (plate reads)",
        get: |f| f.detections,
    },
    Headline {
        key: "hits",
        name: "Hot-list hits",
        get: |f| f.hits,
    },
    Headline {
        key: "hits_verified",
        name: "Hits verified by a person",
        get: |f| f.hits_verified,
    },
    Headline {
        key: "correct_read",
        name: "Verified: correct read",
        get: |f| f.dispositions.correct_read,
    },
    Headline {
        key: "wrong_state",
        name: "Verified: wrong state",
        get: |f| f.dispositions.wrong_state,
    },
    Headline {
        key: "misread",
        name: "Verified: misread",
        get: |f| f.dispositions.misread,
    },
    Headline {
        key: "dismissed",
        name: "Verified: dismissed",
        get: |f| f.dispositions.dismissed,
    },
    Headline {
        key: "stops",
        name: "Stops related to ALPR",
        get: |f| f.stops,
    },
    Headline {
        key: "arrests",
        name: "Arrests related to ALPR",
        get: |f| f.arrests,
    },
    Headline {
        key: "queries",
        name: "Searches by users",
        get: |f| f.queries,
    },
    Headline {
        key: "users_querying",
        name: "Users who searched",
        get: |f| f.users_querying,
    },
    Headline {
        key: "user_hot_plates",
        name: "User-entered hot plates",
        get: |f| f.user_hot_plates,
    },
    Headline {
        key: "reviews",
        name: "Searches reviewed by supervisors",
        get: |f| f.reviews,
    },
    Headline {
        key: "concerns",
        name: "Reviews raising a concern",
        get: |f| f.concerns,
    },
    Headline {
        key: "purges",
        name: "Purge runs",
        get: |f| f.purges,
    },
    Headline {
        key: "records_purged",
        name: "Records purged",
        get: |f| f.records_purged,
    },
    Headline {
        key: "legal_holds_placed",
        name: "Legal holds placed",
        get: |f| f.legal_holds_placed,
    },
    Headline {
        key: "legal_holds_released",
        name: "Legal holds released",
        get: |f| f.legal_holds_released,
    },
];

impl Figures {
    /// Sums `counts` whose day is in `range`. Unknown metrics are ignored (a newer store may
    /// count more than this version reports).
    pub fn of(counts: &[Count], range: DateRange) -> Figures {
        let mut f = Figures::default();
        for c in counts.iter().filter(|c| range.contains(c.day)) {
            f.add(c);
        }
        f.finish();
        f
    }

    fn add(&mut self, c: &Count) {
        let n = c.count;
        let bump = |map: &mut BTreeMap<String, i64>| *map.entry(c.label.clone()).or_default() += n;
        match c.metric.as_str() {
            "reads" => self.detections += n,
            "hits" => {
                self.hits += n;
                bump(&mut self.hits_by_type);
            }
            "dispositions" => {
                self.hits_verified += n;
                let d = &mut self.dispositions;
                match c.label.as_str() {
                    "correct_read" => d.correct_read += n,
                    "wrong_state" => d.wrong_state += n,
                    "misread" => d.misread += n,
                    "dismissed" => d.dismissed += n,
                    _ => {}
                }
            }
            "actions" => match c.label.as_str() {
                "stop" => self.stops += n,
                "arrest" => self.arrests += n,
                _ => {}
            },
            "searches" => {
                self.queries += n;
                bump(&mut self.queries_by_purpose);
            }
            "searches_by_user" => bump(&mut self.queries_by_user),
            "user_hot_plates" => self.user_hot_plates += n,
            "reviews" => {
                self.reviews += n;
                if c.label == "concern" {
                    self.concerns += n;
                }
            }
            "purges" => self.purges += n,
            "records_purged" => self.records_purged += n,
            "legal_holds_placed" => self.legal_holds_placed += n,
            "legal_holds_released" => self.legal_holds_released += n,
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.users_querying = self.queries_by_user.values().filter(|n| **n > 0).count() as i64;
        let rate = |n: i64| (self.hits_verified > 0).then(|| n as f64 / self.hits_verified as f64);
        self.misread_rate = rate(self.dispositions.misread);
        self.wrong_state_rate = rate(self.dispositions.wrong_state);
    }

    /// The same figures without the per-user breakdown (for the public).
    pub fn without_users(mut self) -> Figures {
        self.queries_by_user.clear();
        self
    }
}

/// One period of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bucket {
    /// `2026-03-14`, `2026-03`, `2026-Q1` or `2026`.
    pub label: String,
    pub range: DateRange,
    pub figures: Figures,
}

/// Which way a figure moved from one year to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

/// One figure this year against the same days a year earlier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    pub key: String,
    pub name: String,
    pub current: i64,
    pub previous: i64,
    pub change: i64,
    /// Change relative to the earlier figure; none when that was zero.
    pub change_percent: Option<f64>,
    pub trend: Trend,
}

/// A range's figures against the same days a year earlier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct YearOverYear {
    pub range: DateRange,
    pub previous_range: DateRange,
    pub comparisons: Vec<Comparison>,
}

impl YearOverYear {
    pub fn of(counts: &[Count], range: DateRange) -> YearOverYear {
        let previous_range = range.year_earlier();
        let now = Figures::of(counts, range);
        let before = Figures::of(counts, previous_range);
        let comparisons = HEADLINES
            .iter()
            .map(|h| {
                let (current, previous) = ((h.get)(&now), (h.get)(&before));
                let change = current - previous;
                Comparison {
                    key: h.key.into(),
                    name: h.name.into(),
                    current,
                    previous,
                    change,
                    change_percent: (previous != 0)
                        .then(|| change as f64 * 100.0 / previous as f64),
                    trend: match change.signum() {
                        1 => Trend::Up,
                        -1 => Trend::Down,
                        _ => Trend::Flat,
                    },
                }
            })
            .collect();
        YearOverYear {
            range,
            previous_range,
            comparisons,
        }
    }
}

/// Figures over a range, by period, with totals and the year-over-year comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub period: Period,
    pub range: DateRange,
    pub totals: Figures,
    pub buckets: Vec<Bucket>,
    pub year_over_year: YearOverYear,
}

impl Report {
    /// Builds the report of `range` by `period` from `counts`, which must cover `range` and
    /// the same days a year earlier. The first and last buckets are cut to the range.
    pub fn build(counts: &[Count], period: Period, range: DateRange) -> Report {
        let buckets = period
            .buckets(range.from, range.to)
            .into_iter()
            .map(|start| {
                let bucket_range = DateRange {
                    from: start.max(range.from),
                    to: period.next(start).min(range.to),
                };
                Bucket {
                    label: period.label(start),
                    range: bucket_range,
                    figures: Figures::of(counts, bucket_range),
                }
            })
            .collect();
        Report {
            period,
            range,
            totals: Figures::of(counts, range),
            buckets,
            year_over_year: YearOverYear::of(counts, range),
        }
    }

    /// The report without per-user breakdowns.
    pub fn without_users(mut self) -> Report {
        self.totals = self.totals.without_users();
        for b in &mut self.buckets {
            b.figures = std::mem::take(&mut b.figures).without_users();
        }
        self
    }

    /// One headline figure across the buckets, for a chart.
    pub fn series(&self, key: &str) -> Vec<i64> {
        let Some(h) = HEADLINES.iter().find(|h| h.key == key) else {
            return Vec::new();
        };
        self.buckets.iter().map(|b| (h.get)(&b.figures)).collect()
    }

    pub fn labels(&self) -> Vec<String> {
        self.buckets.iter().map(|b| b.label.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn c(day: NaiveDate, metric: &str, label: &str, count: i64) -> Count {
        Count {
            day,
            metric: metric.into(),
            label: label.into(),
            count,
        }
    }

    fn counts() -> Vec<Count> {
        vec![
            c(d(2024, 3, 5), "reads", "", 100),
            c(d(2024, 3, 5), "hits", "V", 4),
            c(d(2024, 3, 5), "dispositions", "misread", 1),
            c(d(2024, 3, 5), "dispositions", "correct_read", 3),
            c(d(2025, 3, 5), "reads", "", 150),
            c(d(2025, 3, 6), "hits", "V", 2),
            c(d(2025, 5, 1), "hits", "F", 1),
            c(d(2025, 3, 6), "dispositions", "wrong_state", 1),
            c(d(2025, 3, 6), "dispositions", "misread", 1),
            c(d(2025, 3, 6), "actions", "arrest", 1),
            c(d(2025, 3, 6), "searches", "stolen-vehicle", 3),
            c(d(2025, 3, 6), "searches_by_user", "7", 2),
            c(d(2025, 4, 6), "searches_by_user", "9", 1),
            c(d(2025, 4, 6), "reviews", "concern", 1),
            c(d(2025, 4, 6), "reviews", "approved", 2),
            c(d(2025, 12, 31), "records_purged", "hits", 5),
            c(d(2025, 12, 31), "records_purged", "non_hit_reads", 50),
            c(d(2026, 1, 1), "reads", "", 1000),
            c(d(2025, 3, 6), "a_future_metric", "", 9),
        ]
    }

    #[test]
    fn figures_and_rates() {
        let f = Figures::of(&counts(), DateRange::year(2025).unwrap());
        assert_eq!(f.detections, 150);
        assert_eq!(f.hits, 3);
        assert_eq!(f.hits_by_type["V"], 2);
        assert_eq!(f.hits_verified, 2);
        assert_eq!(f.misread_rate, Some(0.5));
        assert_eq!(f.wrong_state_rate, Some(0.5));
        assert_eq!((f.arrests, f.stops), (1, 0));
        assert_eq!(f.queries, 3);
        assert_eq!(f.users_querying, 2);
        assert_eq!((f.reviews, f.concerns), (3, 1));
        assert_eq!(f.records_purged, 55);
        assert!(f.clone().without_users().queries_by_user.is_empty());
        let empty = Figures::of(&counts(), DateRange::year(2023).unwrap());
        assert_eq!(empty.misread_rate, None);
    }

    #[test]
    fn report_by_quarter_with_year_over_year() {
        let r = Report::build(&counts(), Period::Quarter, DateRange::year(2025).unwrap());
        assert_eq!(r.labels(), ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]);
        assert_eq!(r.series("hits"), [2, 1, 0, 0]);
        assert_eq!(r.series("records_purged"), [0, 0, 0, 55]);
        let total: i64 = r.series("detections").iter().sum();
        assert_eq!(total, r.totals.detections);
        let yoy = &r.year_over_year;
        assert_eq!(yoy.previous_range, DateRange::year(2024).unwrap());
        let det = yoy
            .comparisons
            .iter()
            .find(|c| c.key == "detections")
            .unwrap();
        assert_eq!((det.current, det.previous, det.change), (150, 100, 50));
        assert_eq!(det.change_percent, Some(50.0));
        assert_eq!(det.trend, Trend::Up);
        let hits = yoy.comparisons.iter().find(|c| c.key == "hits").unwrap();
        assert_eq!(
            (hits.current, hits.previous, hits.trend),
            (3, 4, Trend::Down)
        );
        let arrests = yoy.comparisons.iter().find(|c| c.key == "arrests").unwrap();
        assert_eq!((arrests.previous, arrests.change_percent), (0, None));
    }

    #[test]
    fn partial_buckets_are_cut_to_the_range() {
        let range = DateRange::new(d(2025, 3, 6), d(2025, 4, 7)).unwrap();
        let r = Report::build(&counts(), Period::Month, range);
        assert_eq!(r.buckets[0].range.from, d(2025, 3, 6));
        assert_eq!(r.buckets[1].range.to, d(2025, 4, 7));
        assert_eq!(r.totals.detections, 0, "2025-03-05 is outside");
        assert_eq!(r.totals.users_querying, 2);
    }
}
