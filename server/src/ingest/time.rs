//! Timestamps: unix seconds, or `YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z]` read as UTC.

/// Parses a timestamp field into unix seconds. Accepts an integer (`978300760`), a decimal
/// (`978300760.0`, floored) or an ISO-like date-time in UTC: `2010-12-01 08:26:00`,
/// `2010-12-01T08:26:00Z`, `2010-12-01 08:26`, `2010-12-01`. `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    if let Some(v) = s.parse::<f64>().ok().filter(|v| v.is_finite()) {
        return Some(v.floor() as i64);
    }
    parse_datetime(s.as_bytes())
}

/// The value of an all-digit byte string (1 to 9 digits).
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0')))
}

fn parse_datetime(b: &[u8]) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = 0;
    let rest = &b[10..];
    if !rest.is_empty() {
        if rest[0] != b' ' && rest[0] != b'T' {
            return None;
        }
        let mut t = &rest[1..];
        if let Some(stripped) = t.strip_suffix(b"Z") {
            t = stripped;
        }
        if let Some(dot) = t.iter().position(|&c| c == b'.') {
            digits(&t[dot + 1..])?;
            t = &t[..dot];
        }
        let parts: Vec<&[u8]> = t.split(|&c| c == b':').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let h = digits(parts[0])?;
        let mi = digits(parts[1])?;
        let s = parts.get(2).map_or(Some(0), |p| digits(p))?;
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + s;
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `secs` (Unix seconds) as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (Hinnant's civil-from-days).
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_utc, parse_timestamp};

    #[test]
    fn formats_what_it_parses() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2011-10-24T13:05:09Z",
            "2000-02-29T23:59:59Z",
        ] {
            assert_eq!(format_utc(parse_timestamp(s).unwrap()), s);
        }
    }

    #[test]
    fn formats() {
        assert_eq!(parse_timestamp("978300760"), Some(978_300_760));
        assert_eq!(parse_timestamp("978300760.9"), Some(978_300_760));
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2010-12-01 08:26:00"), Some(1_291_191_960));
        assert_eq!(parse_timestamp("2010-12-01T08:26:00Z"), Some(1_291_191_960));
        assert_eq!(parse_timestamp("2010-12-01 08:26"), Some(1_291_191_960));
        assert_eq!(parse_timestamp("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_timestamp("1969-12-31 23:59:59"), Some(-1));
        for bad in [
            "",
            "x",
            "2001-02-29",
            "2010-13-01",
            "2010-12-01 25:00",
            "2010-12-01X08:26",
            "2010-12-01 08:2é",
            "nan",
            "inf",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
