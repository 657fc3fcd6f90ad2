//! Numbers as people read them, one format everywhere (text, Markdown,
//! HTML, comparisons, findings, verdicts): thousands separators, 3–4
//! significant digits without trailing zeros, signed percentages, binary
//! byte units, durations, one unit name per rate (req/s for HTTP, ops/s
//! otherwise) and counted nouns with their plurals. Pure.

/// Thousands separators for counts.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` with `digits` significant digits (at least 1), no trailing zeros and
/// thousands separators: whole numbers from 1,000 up keep every digit
/// (86,646 stays 86,646; 1,234.5 is 1,235), smaller ones keep `digits`
/// (12.35, 0.01235, 0.02). Infinities are `∞`, NaN is `n/a`.
pub fn sig_n(x: f64, digits: u32) -> String {
    if x.is_nan() {
        return "n/a".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "-∞" }.into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    let digits = digits.max(1) as i32;
    let magnitude = if a == 0.0 {
        0
    } else {
        a.log10().floor() as i32
    };
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    // Half away from zero (formatting alone rounds 1,234.5 to even).
    let scale = 10f64.powi(decimals as i32);
    let rounded = (a * scale).round() / scale;
    let mut text = format!("{rounded:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let whole = group(whole.parse().unwrap_or(0));
    let body = if frac.is_empty() {
        whole
    } else {
        format!("{whole}.{frac}")
    };
    if body == "0" {
        body
    } else {
        format!("{sign}{body}")
    }
}

/// `x` with 4 significant digits: the format of every measured figure.
pub fn sig(x: f64) -> String {
    sig_n(x, 4)
}

/// A coefficient of determination to 4 decimals without trailing zeros;
/// a fit just short of perfect says "> 0.9999", never a rounded-up 1.
pub fn r_squared(r2: f64) -> String {
    if r2 < 1.0 && r2 > 0.99995 {
        return "> 0.9999".into();
    }
    let text = format!("{r2:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A relative change (0.0034 = +0.34 %) with its sign and 2–3 significant
/// digits; an infinite one (from zero) is "new".
pub fn change(relative: f64) -> String {
    if !relative.is_finite() {
        return "new".into();
    }
    let pct = relative * 100.0;
    let digits = if pct.abs() >= 1.0 { 3 } else { 2 };
    let text = sig_n(pct, digits);
    if text == "0" {
        "0 %".into()
    } else if pct > 0.0 {
        format!("+{text} %")
    } else {
        format!("{text} %")
    }
}

/// A share in percent (12.345 → "12.3 %"): 3 significant digits.
pub fn pct(x: f64) -> String {
    format!("{} %", sig_n(x, 3))
}

/// A duration in ms with 4 significant digits ("0.523 ms", "1,020 ms").
pub fn ms(x: f64) -> String {
    format!("{} ms", sig(x))
}

/// A count with its noun, singular or plural: "1 run", "3 runs",
/// "1,000 connections".
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{} {}", group(n), if n == 1 { singular } else { plural })
}

/// The unit name of a rate of a protocol's operations: `req/s` for HTTP,
/// `ops/s` for everything else.
pub fn rate_unit(protocol: &str) -> &'static str {
    if protocol.starts_with("http") {
        "req/s"
    } else {
        "ops/s"
    }
}

/// Bytes in binary units (B, KiB, MiB, GiB, TiB) with 3 significant digits.
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{} {}", sig_n(value, 3), units[unit])
    }
}

/// Seconds as days, hours and minutes.
pub fn uptime(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min {} s", s % 60),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// A time in ms, printed in ms below 10 s and in s above, 4 significant
/// digits.
pub fn time_ms(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{} s", sig(ms / 1000.0))
    } else {
        format!("{} ms", sig(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(uptime(90_061.0), "1 d 1 h");
    }

    /// Issue 21: one number format everywhere.
    #[test]
    fn figures_have_four_significant_digits_and_no_trailing_zeros() {
        assert_eq!(sig(86_646.4), "86,646");
        assert_eq!(sig(1234.5), "1,235");
        assert_eq!(sig(999.96), "1,000");
        assert_eq!(sig(12.345), "12.35");
        assert_eq!(sig(12.5), "12.5");
        assert_eq!(sig(5.0), "5");
        assert_eq!(sig(0.0289), "0.0289");
        assert_eq!(sig(0.019999), "0.02");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(-0.00001), "-0.00001");
        assert_eq!(sig(-4.56789), "-4.568");
        assert_eq!(sig(f64::INFINITY), "∞");
        assert_eq!(sig(f64::NAN), "n/a");
        assert_eq!(sig_n(21.794, 3), "21.8");
        assert_eq!(change(86_353.0 / 86_646.0 - 1.0), "-0.34 %");
        assert_eq!(change(0.123), "+12.3 %");
        assert_eq!(change(-0.067), "-6.7 %");
        assert_eq!(change(12.34), "+1,234 %");
        assert_eq!(change(0.0), "0 %");
        assert_eq!(change(f64::INFINITY), "new");
        assert_eq!(pct(12.345), "12.3 %");
        assert_eq!(ms(0.5234), "0.5234 ms");
        assert_eq!(time_ms(1020.4), "1,020 ms");
        assert_eq!(time_ms(12_345.0), "12.35 s");
        assert_eq!(r_squared(0.99996), "> 0.9999");
        assert_eq!(r_squared(0.98765), "0.9877");
        assert_eq!(r_squared(1.0), "1");
        assert_eq!(r_squared(0.5), "0.5");
        assert_eq!(count(1, "run", "runs"), "1 run");
        assert_eq!(count(1000, "run", "runs"), "1,000 runs");
        assert_eq!(count(0, "run", "runs"), "0 runs");
        assert_eq!(rate_unit("http"), "req/s");
        assert_eq!(rate_unit("https"), "req/s");
        assert_eq!(rate_unit("redis"), "ops/s");
    }
}
