//! Usage reports, pure: no HTTP, no SQL. The server hands in daily counts from the store;
//! this crate groups them by period (day, month, quarter, year), compares a range with the
//! same days a year earlier, computes rates (misread, wrong state), and shapes the result
//! as JSON, CSV and SVG charts.

pub mod chart;
pub mod export;
pub mod figures;
pub mod period;

pub use figures::{Bucket, Comparison, Count, Figures, HEADLINES, Report, Trend, YearOverYear};
pub use period::{DateRange, Period};

/// A report that cannot be made, in words a caller can pass on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Invalid(String),
    #[error("chart: {0}")]
    Chart(String),
}
