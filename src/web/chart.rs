//! Server-drawn SVG charts: no script, prints as drawn. Bar charts carry
//! each value as text; line charts tell their series apart by dash pattern
//! as well as colour, so they read in black and white.

use std::fmt::Write;

/// One bar: its label, its length, and the text printed at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub caption: String,
}

const WIDTH: f64 = 640.0;
const LABEL_WIDTH: f64 = 150.0;
const CAPTION_WIDTH: f64 = 90.0;
const ROW: f64 = 22.0;

/// A horizontal bar chart; bars scale to the largest value. Negative and
/// missing values draw as empty bars, still labelled with their caption.
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let room = WIDTH - LABEL_WIDTH - CAPTION_WIDTH;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    for (n, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * n as f64;
        let length = if max > 0.0 && bar.value.is_finite() && bar.value > 0.0 { room * bar.value / max } else { 0.0 };
        let _ = write!(
            svg,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" class="chart-label">{label}</text><rect x="{LABEL_WIDTH}" y="{ry}" width="{length:.1}" height="{h}" class="chart-bar"/><text x="{cx:.1}" y="{ty}" class="chart-value">{caption}</text>"#,
            lx = LABEL_WIDTH - 6.0,
            ty = y + 15.0,
            ry = y + 3.0,
            h = ROW - 6.0,
            cx = LABEL_WIDTH + length + 4.0,
            label = escape(&bar.label),
            caption = escape(&bar.caption),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One line of a line chart: its legend label and one value per point
/// (`None` leaves a gap, e.g. a missing reading).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub values: Vec<Option<f64>>,
    /// Drawn thicker: the line the reader came for.
    pub emphasis: bool,
}

/// A line chart over points equally spaced along x.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    /// The y axis' unit, printed above it ("kW").
    pub unit: String,
    /// Labels under x positions: (point index, text), e.g. the hours.
    pub x_labels: Vec<(usize, String)>,
    /// Vertical markers: (point index, text), e.g. a detected change.
    pub markers: Vec<(usize, String)>,
    pub lines: Vec<Line>,
}

const LINE_HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 22.0;
const PLOT_HEIGHT: f64 = 190.0;
/// Dash patterns by series, so that lines differ without colour.
const DASHES: [&str; 7] = ["", "6 3", "2 3", "10 3 2 3", "1 5", "8 6", "3 3 8 3"];

/// Draws a line chart: y from 0 (or the lowest value, if negative) to a
/// round maximum with four grid lines, the legend below the plot.
pub fn line_chart(chart: &LineChart) -> String {
    let points = chart.lines.iter().map(|l| l.values.len()).max().unwrap_or(0);
    let finite = || chart.lines.iter().flat_map(|l| l.values.iter().flatten().copied()).filter(|v| v.is_finite());
    let top = nice_ceiling(finite().fold(0.0_f64, f64::max));
    let bottom = finite().fold(0.0_f64, f64::min).min(0.0);
    let span = if top > bottom { top - bottom } else { 1.0 };
    let room = WIDTH - LEFT - RIGHT;
    let x = |i: usize| LEFT + if points > 1 { room * i as f64 / (points - 1) as f64 } else { room / 2.0 };
    let y = |v: f64| TOP + PLOT_HEIGHT * (1.0 - (v - bottom) / span);
    let legend_rows = chart.lines.len().div_ceil(3);
    let height = LINE_HEIGHT + 18.0 * legend_rows.saturating_sub(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart line-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{t}"><title>{t}</title><text x="4" y="12" class="chart-label">{unit}</text>"#,
        t = escape(&chart.title),
        unit = escape(&chart.unit)
    );
    for step in 0..=4 {
        let v = bottom + span * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" class="chart-grid"/><text x="{lx}" y="{ty:.1}" text-anchor="end" class="chart-label">{v}</text>"#,
            x2 = WIDTH - RIGHT,
            yy = y(v),
            lx = LEFT - 4.0,
            ty = y(v) + 4.0,
            v = axis_number(v)
        );
    }
    for (i, label) in &chart.x_labels {
        let _ = write!(
            svg,
            r#"<text x="{xx:.1}" y="{ty}" text-anchor="middle" class="chart-label">{label}</text>"#,
            xx = x(*i),
            ty = TOP + PLOT_HEIGHT + 16.0,
            label = escape(label)
        );
    }
    for (i, label) in &chart.markers {
        let _ = write!(
            svg,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{yb}" class="chart-marker"/><text x="{tx:.1}" y="{ty}" class="chart-label">{label}</text>"#,
            xx = x(*i),
            yb = TOP + PLOT_HEIGHT,
            tx = x(*i) + 3.0,
            ty = TOP + 10.0,
            label = escape(label)
        );
    }
    for (n, line) in chart.lines.iter().enumerate() {
        let style = format!(
            r#"class="chart-line chart-line-{c}{e}" stroke-dasharray="{d}""#,
            c = n % DASHES.len(),
            e = if line.emphasis { " chart-line-main" } else { "" },
            d = DASHES[n % DASHES.len()]
        );
        // One polyline per unbroken run of values.
        let mut run = String::new();
        for (i, v) in line.values.iter().enumerate() {
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    let _ = write!(run, "{:.1},{:.1} ", x(i), y(v));
                }
                None if !run.is_empty() => {
                    let _ = write!(svg, r#"<polyline points="{}" {style}/>"#, run.trim_end());
                    run.clear();
                }
                None => {}
            }
        }
        if !run.is_empty() {
            let _ = write!(svg, r#"<polyline points="{}" {style}/>"#, run.trim_end());
        }
        let (row, col) = (n / 3, n % 3);
        let lx = LEFT + col as f64 * 190.0;
        let ly = TOP + PLOT_HEIGHT + 36.0 + 18.0 * row as f64;
        let _ = write!(
            svg,
            r#"<line x1="{lx}" x2="{lx2}" y1="{ly}" y2="{ly}" {style}/><text x="{tx}" y="{ty}" class="chart-label">{label}</text>"#,
            lx2 = lx + 28.0,
            tx = lx + 34.0,
            ty = ly + 4.0,
            label = escape(&line.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ at or above `v`; 1 for nothing to show.
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v * 0.999_999)
        .unwrap_or(10.0 * power)
}

/// An axis number without needless decimals: 1250, 2.5, 0.25.
fn axis_number(v: f64) -> String {
    let rounded = (v * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 { format!("{rounded:.0}") } else { format!("{rounded}") }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: f64) -> Bar {
        Bar { label: label.into(), value, caption: format!("{value}") }
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bar_chart("Complaints", &[bar("a", 10.0), bar("b", 5.0), bar("c", 0.0)]);
        assert!(svg.contains(r#"width="400.0""#), "{svg}");
        assert!(svg.contains(r#"width="200.0""#), "{svg}");
        assert!(svg.contains(r#"width="0.0""#), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    fn line(label: &str, values: &[Option<f64>]) -> Line {
        Line { label: label.into(), values: values.to_vec(), emphasis: false }
    }

    #[test]
    fn a_line_chart_scales_to_a_round_maximum_and_breaks_at_gaps() {
        let chart = LineChart {
            title: "负荷".into(),
            unit: "kW".into(),
            x_labels: vec![(0, "00:00".into())],
            markers: vec![(2, "change".into())],
            lines: vec![line("a", &[Some(0.0), Some(180.0), None, Some(90.0), Some(45.0)]), line("b", &[Some(10.0)])],
        };
        let svg = line_chart(&chart);
        // 180 rounds up to 200: the top grid line is labelled 200, 90 sits at 45 %.
        assert!(svg.contains(">200</text>"), "{svg}");
        assert!(svg.contains(">50</text>"), "{svg}");
        // The gap splits line a in two runs; line b has one; plus two legend swatches.
        assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
        // x: 5 points over 572 px from 56: index 3 at 485, y of 90 = 22 + 190 × 0.55 = 126.5.
        assert!(svg.contains("485.0,126.5"), "{svg}");
        assert!(svg.contains("chart-marker"));
        assert!(svg.contains(r#"stroke-dasharray="6 3""#), "the second line is dashed");
    }

    #[test]
    fn round_maxima() {
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(2.1), 2.5);
        assert_eq!(nice_ceiling(300.0), 300.0);
        assert_eq!(nice_ceiling(310.0), 400.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(axis_number(62.5), "62.5");
        assert_eq!(axis_number(1250.0), "1250");
    }

    #[test]
    fn labels_are_escaped_and_missing_values_draw_empty() {
        let svg = bar_chart("<t>", &[Bar { label: "A&B <x>".into(), value: f64::NAN, caption: "—".into() }]);
        assert!(svg.contains("A&amp;B &lt;x&gt;"));
        assert!(svg.contains("&lt;t&gt;"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains(r#"width="0.0""#));
    }
}
