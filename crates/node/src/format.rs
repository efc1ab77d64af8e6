//! Formatting for people (sizes, dates, piece ranges, hex) and parsing of `--piece-size`.

/// Lower-case hex, two digits a byte (peer ids in JSON).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `425 B`, `16 KiB`, `1.50 MiB`: binary units, three significant digits at most.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let unit = UNITS[unit];
    if value.fract() == 0.0 || value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// `1,572,864`: digits in groups of three.
pub(crate) fn thousands(n: u64) -> String {
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

/// `1.50 MiB (1,572,864 bytes)`.
pub(crate) fn size_with_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} ({} bytes)", human_size(bytes), thousands(bytes))
    }
}

/// Seconds since the Unix epoch as `2024-01-31 12:00:00 UTC` (proleptic Gregorian calendar).
pub(crate) fn utc_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Runs of consecutive indices, as inclusive `[first, last]` pairs, from ascending indices.
pub(crate) fn ranges(indices: impl IntoIterator<Item = u32>) -> Vec<[u32; 2]> {
    let mut out: Vec<[u32; 2]> = Vec::new();
    for i in indices {
        match out.last_mut() {
            Some(last) if last[1].checked_add(1) == Some(i) => last[1] = i,
            _ => out.push([i, i]),
        }
    }
    out
}

/// `0-3, 7, 9-12`; past `limit` ranges, `... (N more)`.
pub(crate) fn ranges_text(ranges: &[[u32; 2]], limit: usize) -> String {
    let mut parts: Vec<String> = ranges
        .iter()
        .take(limit)
        .map(|&[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > limit {
        parts.push(format!("... ({} more)", ranges.len() - limit));
    }
    parts.join(", ")
}

/// Parses a size such as `262144`, `16K`, `16k`, `16KiB`, `1M`, `1MiB`, `4MB` (K, M and G are
/// binary: 1024, 1024², 1024³). For `--piece-size`.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a size: use bytes or a suffix, e.g. 262144, 256K, 1M")
    })?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "unknown unit `{suffix}` in `{text}`: use K, M or G (binary), e.g. 256K, 1M"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are small and positive by construction: day 1..=31, month 1..=12.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(16 * 1024), "16 KiB");
        assert_eq!(human_size(1_572_864), "1.50 MiB");
        assert_eq!(human_size(15_360_000), "14.6 MiB");
        assert_eq!(human_size(u64::MAX), "16 EiB");
        assert_eq!(size_with_bytes(425), "425 bytes");
        assert_eq!(size_with_bytes(1_572_864), "1.50 MiB (1,572,864 bytes)");
    }

    #[test]
    fn thousands_groups_digits() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (123_456_789, "123,456,789"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59:59 UTC");
        // Extreme values from hostile torrents must not panic.
        let _ = utc_date(i64::MIN);
        let _ = utc_date(i64::MAX);
    }

    #[test]
    fn ranges_are_compact() {
        let r = ranges([0, 1, 2, 3, 7, 9, 10, 11, 12]);
        assert_eq!(r, [[0, 3], [7, 7], [9, 12]]);
        assert_eq!(ranges_text(&r, 10), "0-3, 7, 9-12");
        assert_eq!(ranges_text(&r, 1), "0-3, ... (2 more)");
        assert!(ranges(std::iter::empty()).is_empty());
        assert_eq!(ranges([u32::MAX - 1, u32::MAX]), [[u32::MAX - 1, u32::MAX]]);
    }

    #[test]
    fn piece_sizes_parse() {
        assert_eq!(parse_size("262144"), Ok(262_144));
        assert_eq!(parse_size("16K"), Ok(16_384));
        assert_eq!(parse_size("16kib"), Ok(16_384));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("4MB"), Ok(4 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("16Q").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
