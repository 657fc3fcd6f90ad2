//! Hand-written SVG charts: self-contained (no scripts, no external fonts
//! or assets), so they embed in an HTML report or open on their own.

use crate::html::escape;
use crate::number::sig_n;
use scalewall_stats::usl::{Point, UslFit};
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 58.0;

/// A tick label: integers without decimals, others to 3 significant figures.
fn tick_label(v: f64) -> String {
    sig_n(v, 3)
}

/// About five round tick values from 0 to at least `max`.
pub fn ticks(max: f64) -> Vec<f64> {
    if !max.is_finite() || max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step).ceil() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// Measured points, the fitted USL curve, the linear-scaling line λN and the
/// peak N*, with throughput in `unit`.
pub fn usl_chart(title: &str, points: &[Point], fit: &UslFit, unit: &str) -> String {
    let max_n = points.iter().map(|p| p.concurrency).fold(1.0, f64::max);
    let peak = fit.peak_concurrency();
    let mut x_max = max_n * 1.1;
    if let Some(n) = peak {
        if n <= 4.0 * max_n {
            x_max = x_max.max(n * 1.25);
        }
    }
    let max_x_measured = points.iter().map(|p| p.throughput).fold(0.0, f64::max);
    let max_model = (0..=200)
        .map(|i| fit.throughput_at(1.0 + (x_max - 1.0) * f64::from(i) / 200.0))
        .fold(0.0, f64::max);
    let y_ticks = ticks(max_x_measured.max(max_model) * 1.1);
    let x_ticks = ticks(x_max);
    let (x_top, y_top) = (
        *x_ticks.last().unwrap_or(&1.0),
        *y_ticks.last().unwrap_or(&1.0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |n: f64| LEFT + n / x_top * plot_w;
    let sy = |x: f64| TOP + plot_h - x / y_top * plot_h;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12" role="img"><title>{}</title>"#,
        escape(title)
    );
    let _ = write!(
        s,
        r##"<rect class="bg" width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    // grid and axes
    for &t in &y_ticks {
        let y = sy(t);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5" class="grid"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick_label(t)
        );
    }
    for &t in &x_ticks {
        let x = sx(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#f0f0f0" class="grid"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            tick_label(t)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">concurrency N</text><text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">throughput X ({})</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0,
        TOP + plot_h / 2.0,
        escape(unit)
    );
    // linear scaling λN, clipped at the top of the plot
    let n_clip = (y_top / fit.lambda.max(f64::MIN_POSITIVE)).min(x_top);
    let _ = write!(
        s,
        r##"<line class="linear" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="6 4"/>"##,
        sx(0.0),
        sy(0.0),
        sx(n_clip),
        sy(fit.lambda * n_clip)
    );
    // fitted curve
    let mut path = String::new();
    for i in 0..=240 {
        let n = x_top * f64::from(i) / 240.0;
        let x = fit.throughput_at(n).clamp(0.0, y_top);
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            sx(n),
            sy(x)
        );
    }
    let _ = write!(
        s,
        r##"<path class="usl-fit" d="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##
    );
    // the wall
    if let (Some(n), Some(x)) = (peak, fit.peak_throughput()) {
        if n <= x_top {
            let _ = write!(
                s,
                r##"<line class="peak" x1="{:.1}" y1="{TOP}" x2="{:.1}" y2="{:.1}" stroke="#d62728" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" fill="#d62728">N* ≈ {} ({} {})</text>"##,
                sx(n),
                sx(n),
                TOP + plot_h,
                sx(n) + 6.0,
                TOP + 14.0,
                sig_n(n, 3),
                sig_n(x, 4),
                escape(unit)
            );
        }
    }
    // measured points
    for p in points {
        let _ = write!(
            s,
            r##"<circle class="measured" cx="{:.1}" cy="{:.1}" r="4" fill="#ff7f0e"><title>N = {}, X = {}</title></circle>"##,
            sx(p.concurrency),
            sy(p.throughput),
            sig_n(p.concurrency, 4),
            sig_n(p.throughput, 5)
        );
    }
    // legend
    let lx = LEFT + 12.0;
    let _ = write!(
        s,
        r##"<g font-size="11"><circle cx="{lx}" cy="{:.1}" r="4" fill="#ff7f0e"/><text x="{:.1}" y="{:.1}">measured</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1f77b4" stroke-width="2"/><text x="{:.1}" y="{:.1}">USL fit σ = {}, κ = {}, λ = {}</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">linear scaling λN</text></g>"##,
        TOP + 10.0,
        lx + 10.0,
        TOP + 14.0,
        lx - 6.0,
        TOP + 28.0,
        lx + 6.0,
        TOP + 28.0,
        lx + 10.0,
        TOP + 32.0,
        sig_n(fit.sigma, 3),
        sig_n(fit.kappa, 3),
        sig_n(fit.lambda, 4),
        lx - 6.0,
        TOP + 46.0,
        lx + 6.0,
        TOP + 46.0,
        lx + 10.0,
        TOP + 50.0,
    );
    s.push_str("</svg>\n");
    s
}

/// One line of a [`line_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// Lines over a shared x axis, with optional shaded spans (e.g. the load
/// steps a resource series belongs to), each labelled.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    spans: &[(f64, f64, String)],
) -> String {
    line_chart_sized(title, x_label, y_label, series, spans, HEIGHT)
}

/// [`line_chart`] at a given height (the width stays [`WIDTH`]).
pub fn line_chart_sized(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    spans: &[(f64, f64, String)],
    height: f64,
) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all
        .clone()
        .map(|p| p.0)
        .chain(spans.iter().map(|s| s.1))
        .fold(0.0, f64::max)
        .max(1e-9);
    let y_max = all.map(|p| p.1).fold(0.0, f64::max);
    let x_ticks = ticks(x_max);
    let y_ticks = ticks(y_max);
    let (x_top, y_top) = (
        *x_ticks.last().unwrap_or(&1.0),
        *y_ticks.last().unwrap_or(&1.0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = height - TOP - BOTTOM;
    let x = |v: f64| LEFT + plot_w * v / x_top;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_top);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="line-chart" viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" font-size="12"><title>{t}</title><text x="{cx}" y="24" text-anchor="middle" font-size="15">{t}</text>"##,
        t = escape(title),
        cx = WIDTH / 2.0
    );
    for (k, (x0, x1, label)) in spans.iter().enumerate() {
        let fill = if k % 2 == 0 { "#f0f0f0" } else { "#e4e4e4" };
        let _ = write!(
            out,
            r##"<rect class="span" x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="{fill}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#555">{}</text>"##,
            x(*x0),
            (x(*x1) - x(*x0)).max(0.5),
            (x(*x0) + x(*x1)) / 2.0,
            TOP + 12.0,
            escape(label)
        );
    }
    for v in &y_ticks {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd" class="grid"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(*v) + 4.0,
            tick_label(*v),
            yy = y(*v)
        );
    }
    for v in &x_ticks {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            x(*v),
            height - BOTTOM + 18.0,
            tick_label(*v)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        LEFT + plot_w / 2.0,
        height - 16.0,
        escape(x_label),
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = write!(
            out,
            r##"<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{}"/><text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"##,
            path.join(" "),
            LEFT + 8.0 + 150.0 * k as f64,
            height - 2.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per (label, value), in `unit`.
pub fn bar_chart(title: &str, unit: &str, bars: &[(String, f64)]) -> String {
    let height = TOP + 28.0 * bars.len() as f64 + 40.0;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let top = *ticks(max).last().unwrap_or(&1.0);
    let plot_w = WIDTH - 120.0 - RIGHT - 80.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" font-size="12"><title>{t}</title><text x="{cx}" y="24" text-anchor="middle" font-size="15">{t}</text>"##,
        t = escape(title),
        cx = WIDTH / 2.0
    );
    for (k, (label, value)) in bars.iter().enumerate() {
        let y = TOP + 28.0 * k as f64;
        let w = plot_w * value / top;
        let _ = write!(
            out,
            r##"<text x="112" y="{:.1}" text-anchor="end">{}</text><rect class="bar" x="120" y="{y:.1}" width="{w:.1}" height="20" fill="{}"/><text x="{:.1}" y="{:.1}">{} {}</text>"##,
            y + 14.0,
            escape(label),
            PALETTE[0],
            126.0 + w,
            y + 14.0,
            sig_n(*value, 4),
            escape(unit)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_stats::usl;

    #[test]
    fn line_and_bar_charts_draw_every_series_span_and_bar() {
        let series = vec![
            Series {
                name: "host CPU %".into(),
                points: vec![(0.0, 10.0), (1.0, 50.0), (2.0, 40.0)],
            },
            Series {
                name: "target CPU %".into(),
                points: vec![(0.0, 5.0), (2.0, 30.0)],
            },
        ];
        let chart = line_chart(
            "CPU <during> load",
            "s",
            "%",
            &series,
            &[(0.0, 1.0, "N=1".into()), (1.0, 2.0, "N=2".into())],
        );
        assert_eq!(chart.matches(r#"class="series""#).count(), 2);
        assert_eq!(chart.matches(r#"class="span""#).count(), 2);
        assert!(chart.contains("CPU &lt;during&gt; load"));
        let bars = bar_chart("latency", "ms", &[("p50".into(), 1.0), ("p99".into(), 4.0)]);
        assert_eq!(bars.matches(r#"class="bar""#).count(), 2);
        assert!(bars.starts_with("<svg") && bars.ends_with("</svg>"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(1234.0);
        assert!(*t.last().unwrap() >= 1234.0 && t.len() <= 8, "{t:?}");
        assert_eq!(ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(tick_label(500.0), "500");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(12_000.0), "12,000");
    }

    #[test]
    fn chart_has_points_curve_linear_line_and_peak() {
        let ns = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let points: Vec<Point> = ns
            .iter()
            .map(|&n| Point {
                concurrency: n,
                throughput: usl::usl(0.05, 0.002, 200.0, n),
            })
            .collect();
        let fit = usl::fit(&points).unwrap();
        let svg = usl_chart("demo <sweep>", &points, &fit, "req/s");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="measured""#).count(), 6);
        assert!(svg.contains(r#"class="usl-fit""#) && svg.contains(r#"class="linear""#));
        assert!(
            svg.contains(r#"class="peak""#) && svg.contains("N* ≈ 21.8"),
            "peak label"
        );
        assert!(svg.contains("demo &lt;sweep&gt;"), "title escaped");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
