//! Charts as inline SVG, drawn by the code: no script, no font or stylesheet fetched, so a
//! review opens anywhere, offline. Every data point is an element with its value in a
//! `data-value` attribute and a `<title>` a screen reader or a hover shows.

use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 264.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
/// Above the plot: the legend, in rows of `LEGEND_PER_ROW`, so it never covers a line at 100%.
const TOP: f64 = 44.0;
const BOTTOM: f64 = 40.0;
const LEGEND_PER_ROW: usize = 3;
const LEGEND_ROW: f64 = 16.0;

/// Colours with at least 3:1 contrast against white, told apart by shape as well.
pub const SERIES_COLOURS: [&str; 6] = [
    "#1f5fa8", "#b3471d", "#2f7d32", "#7b3f98", "#8a6d00", "#00697a",
];

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
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

/// One line of a line chart: its name and `(x, y)` points.
pub struct Line<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
    /// Dashed, for a comparison line (the holdout).
    pub dashed: bool,
}

fn open(out: &mut String, chart: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" data-chart="{}" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(chart),
        escape(title),
        escape(title)
    );
}

fn axes(out: &mut String, y_max: f64, y_label: &dyn Fn(f64) -> String, x_label: &str) {
    let (x0, y0, x1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT);
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = y0 - (y0 - TOP) * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#d0d0d0" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            escape(&y_label(v))
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
        (x0 + x1) / 2.0,
        HEIGHT - 6.0,
        escape(x_label)
    );
}

/// A line chart with y from 0 to 1 (a share), x from 0 to `x_max` (days).
pub fn share_lines(
    chart: &str,
    title: &str,
    x_label: &str,
    x_max: f64,
    lines: &[Line<'_>],
) -> String {
    let mut out = String::new();
    open(&mut out, chart, title);
    axes(&mut out, 1.0, &|v| format!("{:.0}%", v * 100.0), x_label);
    let x = |v: f64| LEFT + (WIDTH - LEFT - RIGHT) * v / x_max.max(1.0);
    let y = |v: f64| HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * v;
    for tick in (0..=(x_max as i64)).step_by(7) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">{tick}</text>"##,
            x(tick as f64),
            HEIGHT - BOTTOM + 14.0
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        let path: Vec<String> = line
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline class="series" data-series="{}" fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            escape(line.name),
            path.join(" ")
        );
        for (px, py) in &line.points {
            let _ = write!(
                out,
                r#"<circle class="point" data-series="{}" data-x="{px}" data-value="{py:.4}" cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: day {px}, {:.0}% unrecovered</title></circle>"#,
                escape(line.name),
                x(*px),
                y(*py),
                escape(line.name),
                py * 100.0
            );
        }
        legend(&mut out, i, line.name, colour);
    }
    out.push_str("</svg>");
    out
}

fn legend(out: &mut String, i: usize, name: &str, colour: &str) {
    let column = (WIDTH - LEFT - RIGHT) / LEGEND_PER_ROW as f64;
    let lx = LEFT + column * (i % LEGEND_PER_ROW) as f64;
    let ly = 6.0 + LEGEND_ROW * (i / LEGEND_PER_ROW) as f64;
    let _ = write!(
        out,
        r##"<rect x="{lx:.1}" y="{ly:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
        lx + 14.0,
        ly + 9.0,
        escape(name)
    );
}

/// A grouped bar chart: per category (a date), one bar per series.
pub fn grouped_bars(
    chart: &str,
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(String, Vec<u64>)],
) -> String {
    let mut out = String::new();
    open(&mut out, chart, title);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    // A top for the axis that its four intervals divide into whole counts: 4, 8, 20 × 10^n.
    let top = {
        let mut step = 1u64;
        loop {
            if let Some(t) = [4, 8, 20].iter().map(|m| m * step).find(|t| *t >= max) {
                break t;
            }
            step *= 10;
        }
    } as f64;
    axes(&mut out, top, &|v| format!("{v:.0}"), x_label);
    let plot = WIDTH - LEFT - RIGHT;
    let band = plot / categories.len().max(1) as f64;
    let bar = (band * 0.8 / series.len().max(1) as f64).min(28.0);
    let y0 = HEIGHT - BOTTOM;
    for (c, category) in categories.iter().enumerate() {
        let start = LEFT + band * c as f64 + (band - bar * series.len() as f64) / 2.0;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            LEFT + band * (c as f64 + 0.5),
            y0 + 14.0,
            escape(category)
        );
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0);
            let h = (y0 - TOP) * v as f64 / top;
            let colour = SERIES_COLOURS[s % SERIES_COLOURS.len()];
            let _ = write!(
                out,
                r#"<rect class="point" data-series="{}" data-x="{}" data-value="{v}" x="{:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}" fill="{colour}"><title>{}, {}: {v}</title></rect>"#,
                escape(name),
                escape(category),
                start + bar * s as f64,
                y0 - h,
                escape(name),
                escape(category)
            );
        }
    }
    for (s, (name, _)) in series.iter().enumerate() {
        legend(&mut out, s, name, SERIES_COLOURS[s % SERIES_COLOURS.len()]);
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_chart_is_drawn_should_carry_each_point_and_escape_names() {
        let svg = share_lines(
            "curve",
            "Still unrecovered",
            "days",
            28.0,
            &[Line {
                name: "treated <v2>",
                points: vec![(0.0, 1.0), (7.0, 0.5)],
                dashed: false,
            }],
        );
        assert_eq!(svg.matches(r#"class="point""#).count(), 2);
        assert!(svg.contains("treated &lt;v2&gt;") && !svg.contains("<v2>"));
        let bars = grouped_bars(
            "per_day",
            "Firings",
            "date",
            &["11-16".to_owned(), "11-17".to_owned()],
            &[
                ("d14".to_owned(), vec![3, 0]),
                ("d30".to_owned(), vec![1, 7]),
            ],
        );
        assert_eq!(bars.matches(r#"class="point""#).count(), 4);
        // Whole counts on the axis: 0, 2, 4, 6, 8 for a highest bar of 7.
        for tick in ["0", "2", "4", "6", "8"] {
            assert!(
                bars.contains(&format!(r##"fill="#333">{tick}</text>"##)),
                "{tick}"
            );
        }
        assert!(bars.contains(r#"data-value="7""#));
    }
}
