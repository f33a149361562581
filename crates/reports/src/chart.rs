//! SVG bar charts, drawn on the server with plotters' SVG backend. Built without plotters'
//! `ttf` feature: text extents are estimated and the labels are written as SVG `<text>`, so
//! no font file is needed; the viewer's browser draws the text with its own fonts.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 280;
/// Most category labels written under the axis; the rest are skipped evenly.
const MAX_LABELS: usize = 12;
/// Colour-blind-safe pair (blue, orange), then more.
const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

fn chart_error<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// One named series of values, one per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [i64],
}

/// A bar chart: one group of bars per category label, one bar per series (a legend when
/// there are several). Returns the SVG document.
pub fn bar_chart(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
) -> Result<String, ReportError> {
    if let Some(s) = series.iter().find(|s| s.values.len() != labels.len()) {
        return Err(ReportError::Chart(format!(
            "series {:?} has {} values for {} labels",
            s.name,
            s.values.len(),
            labels.len()
        )));
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = labels.len().max(1);
    // Headroom above the tallest bar: with a legend, enough for its box (about a fifth of
    // the plot per series), so that it never covers a bar.
    let headroom = if series.len() > 1 {
        1.1 + 0.15 * series.len() as f64
    } else {
        1.1
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..n as f64, 0f64..(max as f64 * headroom))
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            // Counts are whole numbers: a small maximum gets fewer ticks, and a tick between
            // two whole numbers is left unlabelled (not "0, 0, 1").
            .y_labels((max as usize + 1).min(6))
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-6 {
                    format!("{y:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(chart_error)?;
        let width = 0.8 / series.len().max(1) as f64;
        for (si, s) in series.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            let bars = s.values.iter().enumerate().map(move |(i, v)| {
                let x0 = i as f64 + 0.1 + si as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *v as f64)], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(chart_error)?
                .label(s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(chart_error)?;
        }
        // Category labels centred under their group, at most MAX_LABELS of them.
        let step = labels.len().div_ceil(MAX_LABELS).max(1);
        let style =
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, label) in labels.iter().enumerate().step_by(step) {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(label.clone(), (x, y + 6), style.clone()))
                .map_err(chart_error)?;
        }
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_labels_and_no_font_files() {
        let labels: Vec<String> = ["2024", "2025"].map(String::from).to_vec();
        let svg = bar_chart(
            "Detections",
            &labels,
            &[
                Series {
                    name: "this year",
                    values: &[10, 20],
                },
                Series {
                    name: "last year",
                    values: &[5, 0],
                },
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in ["Detections", "2024", "2025", "this year", "last year"] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.matches("<rect").count() >= 4);
        let bad = bar_chart(
            "x",
            &labels,
            &[Series {
                name: "s",
                values: &[1],
            }],
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("1 values for 2 labels")
        );
    }

    /// The `(y, height)` of every `<rect>` filled with `colour` (upper-case hex).
    fn rects(svg: &str, colour: &str) -> Vec<(f64, f64)> {
        let attr = |tag: &str, name: &str| -> f64 {
            let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[start..].split('"').next().unwrap().parse().unwrap()
        };
        svg.split("<rect")
            .skip(1)
            .map(|t| t.split("/>").next().unwrap())
            .filter(|t| t.contains(&format!("fill=\"{colour}\"")))
            .map(|t| (attr(t, "y"), attr(t, "height")))
            .collect()
    }

    #[test]
    fn the_legend_sits_above_the_tallest_bar() {
        let labels: Vec<String> = ["2024", "2025", "2026"].map(String::from).to_vec();
        let svg = bar_chart(
            "Detections",
            &labels,
            &[
                Series {
                    name: "last year",
                    values: &[3, 5, 9],
                },
                Series {
                    name: "this year",
                    values: &[4, 6, 10],
                },
            ],
        )
        .unwrap();
        let bars: Vec<_> = ["#0072B2", "#E69F00"]
            .iter()
            .flat_map(|c| rects(&svg, c))
            .filter(|&(_, h)| h > 12.0)
            .collect();
        let tallest_top = bars.iter().map(|&(y, _)| y).fold(f64::MAX, f64::min);
        let legend = rects(&svg, "#FFFFFF");
        let (y, h) = legend
            .iter()
            .copied()
            .find(|&(_, h)| h < 100.0)
            .expect("legend box");
        assert!(
            y + h <= tallest_top,
            "legend {y}+{h} over a bar at {tallest_top}: {svg}"
        );
    }

    #[test]
    fn a_small_maximum_has_whole_number_ticks() {
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let svg = bar_chart(
            "t",
            &labels,
            &[Series {
                name: "s",
                values: &[0, 1],
            }],
        )
        .unwrap();
        let ticks: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split('>').nth(1)?.split('<').next()?.trim()))
            .filter(|t| t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty())
            .collect();
        assert_eq!(ticks, ["0", "1"], "{svg}");
    }

    #[test]
    fn many_labels_are_thinned() {
        let labels: Vec<String> = (0..100).map(|i| format!("d{i:03}")).collect();
        let values = vec![1; 100];
        let svg = bar_chart(
            "t",
            &labels,
            &[Series {
                name: "s",
                values: &values,
            }],
        )
        .unwrap();
        let shown = labels.iter().filter(|l| svg.contains(l.as_str())).count();
        assert!(shown <= MAX_LABELS && shown > 0, "{shown} in {svg}");
    }
}
