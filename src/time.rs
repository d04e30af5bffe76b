//! Wall-clock helpers. All stored times are microseconds since the Unix epoch (UTC),
//! a type both SQLite and PostgreSQL hold natively as a 64-bit integer.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Microseconds since the Unix epoch.
pub type WallUs = i64;

/// The current wall-clock time.
pub fn now_us() -> WallUs {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Converts a `SystemTime` to microseconds since the epoch (negative before 1970).
pub fn system_time_us(t: std::time::SystemTime) -> WallUs {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// Formats as RFC 3339 in UTC with microseconds.
pub fn to_rfc3339(us: WallUs) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{us}us"))
}

/// Parses an RFC 3339 timestamp (any offset).
pub fn parse_rfc3339(s: &str) -> Result<WallUs, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-30T08:00:00+07:00 ({e})"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).map_err(|_| format!("`{s}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let us = parse_rfc3339("2026-11-30T08:00:00.5+07:00").unwrap();
        assert_eq!(to_rfc3339(us), "2026-11-30T01:00:00.5Z");
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
