//! Numbers as people read them: thousands separators, binary byte units,
//! durations. Every renderer formats through here.

/// Thousands separators for counts.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float with thousands separators and `decimals` places.
pub fn group_f(x: f64, decimals: usize) -> String {
    let text = format!("{:.decimals$}", x.max(0.0));
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let whole = group(whole.parse().unwrap_or(0));
    if frac.is_empty() {
        whole
    } else {
        format!("{whole}.{frac}")
    }
}

/// Bytes in binary units with one decimal (B, KiB, MiB, GiB, TiB).
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
        format!("{value:.1} {}", units[unit])
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

/// A time in ms, printed in ms below 10 s and in s above.
pub fn time_ms(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{} s", group_f(ms / 1000.0, 1))
    } else if ms >= 100.0 {
        format!("{} ms", group_f(ms, 0))
    } else {
        format!("{ms:.2} ms")
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
        assert_eq!(group_f(12345.678, 1), "12,345.7");
        assert_eq!(group_f(999.96, 1), "1,000.0");
        assert_eq!(group_f(5.0, 0), "5");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(uptime(90_061.0), "1 d 1 h");
    }
}
