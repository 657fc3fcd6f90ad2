//! A known memory leak for the leak verdict's known answer: `demo-server
//! --leak 2MiB/s` allocates that much every second, touches every page (so
//! it is resident, not just reserved) and never frees it.

use std::time::{Duration, Instant};

/// How often the leak takes its next bite.
const BITE_EVERY: Duration = Duration::from_millis(100);

/// Reads a leak rate: a byte count with a unit and `/s` (`2MiB/s`,
/// `500KB/s`, `1048576B/s`; `KiB`, `MiB`, `GiB` are powers of 1,024, `KB`,
/// `MB`, `GB` of 1,000).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let amount = text
        .trim()
        .strip_suffix("/s")
        .ok_or_else(|| format!("--leak '{text}': expected a rate such as 2MiB/s"))?;
    let split = amount
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(amount.len());
    let (number, unit) = amount.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("--leak '{text}': '{number}' is not a number"))?;
    let scale = match unit.trim() {
        "B" | "" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "--leak '{text}': unit '{other}' is not B, KB, MB, GB, KiB, MiB or GiB"
            ))
        }
    };
    let rate = number * scale;
    if !rate.is_finite() || rate < 1.0 {
        return Err(format!("--leak '{text}': the rate must be at least 1 B/s"));
    }
    Ok(rate as u64)
}

/// Starts leaking `bytes_per_s` on a thread of its own, for the life of
/// the process: each bite is the bytes due since the start less those
/// already taken, so the rate holds however late a bite comes.
pub fn start(bytes_per_s: u64) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("demo-leak".into())
        .spawn(move || {
            let started = Instant::now();
            let mut kept: Vec<Vec<u8>> = Vec::new();
            let mut taken: u64 = 0;
            loop {
                std::thread::sleep(BITE_EVERY);
                let due = (started.elapsed().as_secs_f64() * bytes_per_s as f64) as u64;
                let bite = due.saturating_sub(taken) as usize;
                if bite == 0 {
                    continue;
                }
                // Non-zero bytes on every page: resident, not a zero page.
                kept.push(vec![0xA5; bite]);
                taken += bite as u64;
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_their_units() {
        assert_eq!(parse_rate("2MiB/s"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("500KB/s"), Ok(500_000));
        assert_eq!(parse_rate("1.5KiB/s"), Ok(1536));
        assert_eq!(parse_rate("10B/s"), Ok(10));
        assert!(parse_rate("2MiB").unwrap_err().contains("such as 2MiB/s"));
        assert!(parse_rate("2XB/s").unwrap_err().contains("unit 'XB'"));
        assert!(parse_rate("0MiB/s").unwrap_err().contains("at least 1 B/s"));
    }
}
