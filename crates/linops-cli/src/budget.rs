//! Memory: parsing `--mem`, the default budget, and the peak resident set read back from
//! `/proc/self/status` (`VmHWM`, Linux; `None` elsewhere).

use crate::error::{CliError, CliResult};

/// Bytes from `256M`, `1G`, `64K`, `1.5G`, `1000` (binary multiples: `M` = 2²⁰).
///
/// # Errors
/// Anything else, naming the value.
pub fn parse_bytes(s: &str) -> CliResult<u64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_end_matches("ib").trim_end_matches('b');
    let (num, mult) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1u64 << 10),
        Some('m') => (&body[..body.len() - 1], 1 << 20),
        Some('g') => (&body[..body.len() - 1], 1 << 30),
        Some('t') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        CliError::new(
            "--mem",
            format!("{s:?} is not a size (examples: 256M, 2G, 1000000)"),
        )
    })?;
    if !v.is_finite() || v <= 0.0 || v * mult as f64 > u64::MAX as f64 {
        return Err(CliError::new(
            "--mem",
            format!("{s:?} must be a positive size"),
        ));
    }
    Ok((v * mult as f64) as u64)
}

fn proc_kib(file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(file).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process in bytes (`VmHWM`).
pub fn peak_rss() -> Option<u64> {
    proc_kib("/proc/self/status", "VmHWM:").map(|k| k * 1024)
}

/// Current resident set size in bytes (`VmRSS`).
pub fn rss() -> Option<u64> {
    proc_kib("/proc/self/status", "VmRSS:").map(|k| k * 1024)
}

/// The default working-set budget: half of `MemAvailable` (4 GiB when unknown).
pub fn default_budget() -> u64 {
    proc_kib("/proc/meminfo", "MemAvailable:").map_or(4 << 30, |k| k * 1024 / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256M").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-5M").is_err());
    }
}
