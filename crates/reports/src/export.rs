//! CSV exports: one row per period and a total row; and the year-over-year table.

use std::collections::BTreeSet;

use crate::figures::{Figures, HEADLINES, Report, YearOverYear};

fn rate_text(rate: Option<f64>) -> String {
    rate.map(|r| format!("{r:.4}")).unwrap_or_default()
}

/// The report as CSV: `period,from,to`, every headline figure, the two rates, then one
/// column per hit type (`hits_type:V`), purpose category (`queries_purpose:…`) and, when the
/// report has them, user (`queries_user:…`). Dates are the first day and the day after the
/// last (exclusive).
pub fn report_csv(report: &Report) -> String {
    let all: Vec<&Figures> = report
        .buckets
        .iter()
        .map(|b| &b.figures)
        .chain([&report.totals])
        .collect();
    let keys = |pick: fn(&Figures) -> Vec<&String>| -> BTreeSet<String> {
        all.iter().flat_map(|f| pick(f)).cloned().collect()
    };
    let types = keys(|f| f.hits_by_type.keys().collect());
    let purposes = keys(|f| f.queries_by_purpose.keys().collect());
    let users = keys(|f| f.queries_by_user.keys().collect());

    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["period", "from", "to"].map(String::from).to_vec();
    header.extend(HEADLINES.iter().map(|h| h.key.to_string()));
    header.extend(["misread_rate", "wrong_state_rate"].map(String::from));
    header.extend(types.iter().map(|t| format!("hits_type:{t}")));
    header.extend(purposes.iter().map(|p| format!("queries_purpose:{p}")));
    header.extend(users.iter().map(|u| format!("queries_user:{u}")));
    w.write_record(&header).expect("CSV to memory");

    let rows = report
        .buckets
        .iter()
        .map(|b| (b.label.as_str(), b.range, &b.figures))
        .chain([("total", report.range, &report.totals)]);
    for (label, range, f) in rows {
        let mut row = vec![
            label.to_string(),
            range.from.to_string(),
            range.to.to_string(),
        ];
        row.extend(HEADLINES.iter().map(|h| (h.get)(f).to_string()));
        row.push(rate_text(f.misread_rate));
        row.push(rate_text(f.wrong_state_rate));
        let get = |map: &std::collections::BTreeMap<String, i64>, k: &String| {
            map.get(k).copied().unwrap_or(0).to_string()
        };
        row.extend(types.iter().map(|t| get(&f.hits_by_type, t)));
        row.extend(purposes.iter().map(|p| get(&f.queries_by_purpose, p)));
        row.extend(users.iter().map(|u| get(&f.queries_by_user, u)));
        w.write_record(&row).expect("CSV to memory");
    }
    String::from_utf8(w.into_inner().expect("CSV to memory")).expect("CSV of UTF-8 text")
}

/// The year-over-year comparison as CSV, one row per headline figure.
pub fn year_over_year_csv(yoy: &YearOverYear) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "figure",
        "from",
        "to",
        "current",
        "previous_from",
        "previous_to",
        "previous",
        "change",
        "change_percent",
        "trend",
    ])
    .expect("CSV to memory");
    for c in &yoy.comparisons {
        w.write_record([
            c.key.clone(),
            yoy.range.from.to_string(),
            yoy.range.to.to_string(),
            c.current.to_string(),
            yoy.previous_range.from.to_string(),
            yoy.previous_range.to.to_string(),
            c.previous.to_string(),
            c.change.to_string(),
            c.change_percent
                .map(|p| format!("{p:.1}"))
                .unwrap_or_default(),
            serde_json::to_value(c.trend)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        ])
        .expect("CSV to memory");
    }
    String::from_utf8(w.into_inner().expect("CSV to memory")).expect("CSV of UTF-8 text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::Count;
    use crate::period::{DateRange, Period};
    use chrono::NaiveDate;

    #[test]
    fn csv_rows_and_dynamic_columns() {
        let day = NaiveDate::from_ymd_opt(2025, 2, 3).unwrap();
        let counts = vec![
            Count {
                day,
                metric: "reads".into(),
                label: String::new(),
                count: 12,
            },
            Count {
                day,
                metric: "hits".into(),
                label: "V".into(),
                count: 2,
            },
            Count {
                day,
                metric: "searches".into(),
                label: "burglary".into(),
                count: 1,
            },
        ];
        let r = Report::build(&counts, Period::Quarter, DateRange::year(2025).unwrap());
        let text = report_csv(&r);
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header = rdr.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5);
        assert_eq!(&rows[0][0], "2025-Q1");
        assert_eq!(&rows[0][col("detections")], "12");
        assert_eq!(&rows[0][col("hits_type:V")], "2");
        assert_eq!(&rows[1][col("hits_type:V")], "0");
        assert_eq!(&rows[4][0], "total");
        assert_eq!(&rows[4][col("queries_purpose:burglary")], "1");
        assert_eq!(&rows[4][col("misread_rate")], "");
        let yoy = year_over_year_csv(&r.year_over_year);
        assert!(
            yoy.lines().any(|l| l
                .starts_with("detections,2025-01-01,2026-01-01,12,2024-01-01,2025-01-01,0,12,,up")),
            "{yoy}"
        );
    }
}
