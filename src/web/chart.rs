//! Server-drawn SVG bar charts: no script, prints as drawn, readable without
//! colour (every bar carries its value as text).

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

    #[test]
    fn labels_are_escaped_and_missing_values_draw_empty() {
        let svg = bar_chart("<t>", &[Bar { label: "A&B <x>".into(), value: f64::NAN, caption: "—".into() }]);
        assert!(svg.contains("A&amp;B &lt;x&gt;"));
        assert!(svg.contains("&lt;t&gt;"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains(r#"width="0.0""#));
    }
}
