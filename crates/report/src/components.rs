//! The visual parts the HTML report and the `watch` dashboard share: one
//! stylesheet (light and dark by `prefers-color-scheme`, print-friendly),
//! status badges that carry their meaning in words and colour (never a
//! glyph alone), summary cards, scenario panels and sparklines. Pure: each
//! returns HTML text; callers escape nothing twice (every text argument is
//! plain text and is escaped here, every `*_html` argument is markup).

use crate::html::escape;
use scalewall_model::Severity;
use scalewall_stats::number::sig;
use std::fmt::Write as _;

/// The stylesheet of every scalewall page.
pub const STYLE: &str = r#":root{--bg:#fff;--fg:#1d1f23;--muted:#5c6370;--line:#d8dce2;--card:#f5f6f8;--code:#eceef1;--accent:#1f5fbf;--span1:#eef0f3}
@media (prefers-color-scheme:dark){:root{--bg:#15171b;--fg:#e4e6ea;--muted:#9aa0aa;--line:#363b44;--card:#1d2026;--code:#272b33;--accent:#7fb0ff;--span1:#20242b}
svg text:not([fill]){fill:var(--fg)}svg .bg{fill:var(--card)}svg .grid{stroke:var(--line)}svg rect.span{fill:var(--span1)}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg);max-width:1200px;margin:0 auto;padding:14px 24px 40px}
h1{font-size:22px;margin:6px 0 2px}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:3px;margin:26px 0 8px}h3{font-size:15px;margin:14px 0 6px}
.meta{color:var(--muted);font-size:12.5px;margin:0 0 8px}a{color:var(--accent)}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;line-height:18px;font-weight:700;letter-spacing:.02em;color:#fff;white-space:nowrap;vertical-align:1px}
.tone-good{background:#2e7d32}.tone-warn{background:#f2b824;color:#1d1f23}.tone-high{background:#e8590c}.tone-bad{background:#c62828}.tone-neutral{background:#6b7280}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:10px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.card h3{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:0 0 3px;font-weight:600}
.card .big{font-size:22px;font-weight:700;line-height:1.2}.card .detail{font-size:12px;color:var(--muted)}
.summary ul{margin:4px 0 8px;padding-left:20px}.summary li{margin:2px 0}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th{font-weight:600;background:var(--card)}td:first-child,th:first-child,.text{text-align:left}.num{white-space:nowrap}
code{background:var(--code);padding:0 3px;border-radius:3px;font-size:12.5px}pre{background:var(--code);padding:8px 10px;overflow:auto;font-size:12px}
blockquote{border-left:4px solid #c62828;margin:6px 0;padding:2px 10px;background:var(--card)}
.panel{border:1px solid var(--line);border-radius:8px;padding:4px 14px 10px;margin:14px 0;break-inside:avoid}
.panel>h3{margin-top:8px}.panel-body{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:14px;align-items:start}
.charts{display:grid;gap:8px}svg{max-width:100%;height:auto}figure{margin:0}section>figure{max-width:760px}
.spark{vertical-align:middle}details{margin:6px 0}details>summary{cursor:pointer;color:var(--accent)}
@media (max-width:900px){.panel-body{grid-template-columns:1fr}}
@media print{body{max-width:none;padding:0;font-size:11px;background:#fff;color:#000}.panel,.card,table,svg{break-inside:avoid}details::details-content{content-visibility:visible;display:block}details>summary{color:#000}a{color:#000}}
"#;

/// What a badge's colour says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// All is well (OK, improved, completed).
    Good,
    /// Worth a look (STRAINED, MEDIUM, WARNING, interrupted).
    Warn,
    /// Serious (HIGH, CRITICAL in a capacity plan).
    High,
    /// Broken (CRITICAL finding, BREAKS, FAILED, regressed).
    Bad,
    /// Informational (LOW, untested, unchanged).
    Neutral,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Good => "tone-good",
            Tone::Warn => "tone-warn",
            Tone::High => "tone-high",
            Tone::Bad => "tone-bad",
            Tone::Neutral => "tone-neutral",
        }
    }

    /// The tone of a status word scalewall prints: finding severities,
    /// capacity-plan statuses, threshold statuses, run outcomes, watch job
    /// statuses and comparison decisions.
    pub fn of_word(word: &str) -> Tone {
        match word.to_ascii_uppercase().as_str() {
            "OK" | "COMPLETED" | "IMPROVED" | "HEALTHY" => Tone::Good,
            "STRAINED" | "MEDIUM" | "WARNING" | "INTERRUPTED" | "RECOVERING" => Tone::Warn,
            "HIGH" | "TIMEOUT" => Tone::High,
            "CRITICAL" | "BREAKS" | "FAILED" | "FAILING" | "REGRESSED" | "DOWN" => Tone::Bad,
            _ => Tone::Neutral,
        }
    }
}

/// A badge: the word itself on its colour.
pub fn badge(word: &str, tone: Tone) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        tone.class(),
        escape(word)
    )
}

/// A badge whose colour follows its word ([`Tone::of_word`]).
pub fn status_badge(word: &str) -> String {
    badge(word, Tone::of_word(word))
}

/// The upper-case name of a severity.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
    }
}

/// A finding severity's badge. A CRITICAL finding is broken now (red),
/// HIGH needs attention (orange).
pub fn severity_badge(severity: Severity) -> String {
    let tone = match severity {
        Severity::Critical => Tone::Bad,
        Severity::High => Tone::High,
        Severity::Medium => Tone::Warn,
        Severity::Low => Tone::Neutral,
    };
    badge(severity_name(severity), tone)
}

/// A summary card: a small title, a big value and a line of detail.
pub fn card(title: &str, value_html: &str, detail_html: &str) -> String {
    let mut out = format!(
        "<div class=\"card\"><h3>{}</h3><div class=\"big\">{value_html}</div>",
        escape(title)
    );
    if !detail_html.is_empty() {
        let _ = write!(out, "<div class=\"detail\">{detail_html}</div>");
    }
    out.push_str("</div>");
    out
}

/// A scenario panel: a heading, the tables and text on the left, the
/// charts on the right (one column on a narrow screen).
pub fn panel(id: &str, title_html: &str, body_html: &str, charts: &[String]) -> String {
    let mut out = format!(
        "<section class=\"panel\" id=\"{}\"><h3>{title_html}</h3><div class=\"panel-body\"><div>{body_html}</div><div class=\"charts\">",
        escape(id)
    );
    for chart in charts {
        let _ = write!(out, "<figure>{chart}</figure>");
    }
    out.push_str("</div></div></section>\n");
    out
}

/// A collapsed block: `summary` (plain text) opens to `body_html`.
pub fn details(summary: &str, body_html: &str) -> String {
    format!(
        "<details><summary>{}</summary>{body_html}</details>\n",
        escape(summary)
    )
}

/// An SVG sparkline of `values` (oldest first), with the point at
/// `marked` (e.g. the baseline) drawn as a dot; empty for fewer than two
/// values. `label` says what the values are, for screen readers.
pub fn sparkline(values: &[f64], marked: Option<usize>, label: &str) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let (w, h) = (120.0, 24.0);
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let span = (max - min).max(max.abs() * 1e-9).max(1e-12);
    let step = w / (values.len() - 1) as f64;
    let at = |i: usize, v: f64| (i as f64 * step, h - 2.0 - (v - min) / span * (h - 4.0));
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (x, y) = at(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let dot = marked
        .filter(|i| *i < values.len())
        .map_or(String::new(), |i| {
            let (x, y) = at(i, values[i]);
            format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="#e8590c"/>"##)
        });
    format!(
        r##"<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}: last {} runs, {} to {}"><polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>{dot}</svg>"##,
        escape(label),
        values.len(),
        sig(min),
        sig(max),
        points.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_says_its_status_in_words_with_its_colour() {
        assert_eq!(
            status_badge("BREAKS"),
            "<span class=\"badge tone-bad\">BREAKS</span>"
        );
        assert_eq!(Tone::of_word("strained"), Tone::Warn);
        assert_eq!(Tone::of_word("OK"), Tone::Good);
        assert_eq!(Tone::of_word("whatever"), Tone::Neutral);
        assert_eq!(
            severity_badge(Severity::High),
            "<span class=\"badge tone-high\">HIGH</span>"
        );
        assert!(badge("<x>", Tone::Good).contains("&lt;x&gt;"));
    }

    #[test]
    fn a_sparkline_marks_its_baseline_and_names_its_range() {
        let svg = sparkline(&[1.0, 2.0, 1.5], Some(0), "api.rps");
        assert!(svg.contains("<polyline") && svg.contains("<circle cx=\"0.0\" cy=\"22.0\""));
        assert!(
            svg.contains("aria-label=\"api.rps: last 3 runs, 1 to 2\""),
            "{svg}"
        );
        assert_eq!(sparkline(&[1.0], None, "x"), "");
        assert!(!sparkline(&[1.0, 1.0], Some(9), "x").contains("<circle"));
    }

    #[test]
    fn panels_put_the_charts_beside_the_body() {
        let html = panel("s-api", "api", "<table></table>", &["<svg></svg>".into()]);
        assert!(html.contains(
            "<div class=\"panel-body\"><div><table></table></div><div class=\"charts\"><figure><svg></svg></figure>"
        ));
        assert!(card("Health", "9 / 10", "").contains("<div class=\"big\">9 / 10</div></div>"));
    }
}
