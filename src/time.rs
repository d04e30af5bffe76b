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

/// The halls' time zone, Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving since 1975),
/// so a fixed offset is exact and needs no time-zone database.
pub const HALL_UTC_OFFSET_US: i64 = 7 * 3600 * 1_000_000;

/// One hall day, µs (the hall's offset is fixed, so every day has this length).
pub const DAY_US: i64 = 86_400_000_000;

/// Start (as UTC µs) of the hall-local calendar day containing `us`.
pub fn local_day_start(us: WallUs) -> WallUs {
    (us + HALL_UTC_OFFSET_US).div_euclid(DAY_US) * DAY_US - HALL_UTC_OFFSET_US
}

/// Hall-local weekday (0 = Monday … 6 = Sunday) and minute of the day of `us`.
pub fn local_weekday_minute(us: WallUs) -> (u8, u32) {
    let local = us + HALL_UTC_OFFSET_US;
    let days = local.div_euclid(DAY_US);
    // 1970-01-01 was a Thursday (weekday 3 counting from Monday = 0).
    let weekday = u8::try_from((days + 3).rem_euclid(7)).unwrap_or(0);
    let minute = u32::try_from(local.rem_euclid(DAY_US) / 60_000_000).unwrap_or(0);
    (weekday, minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hall_local_time() {
        // Tuesday 2026-12-01 08:05 in Hà Nội.
        let us = parse_rfc3339("2026-12-01T08:05:00+07:00").unwrap();
        assert_eq!(local_weekday_minute(us), (1, 8 * 60 + 5));
        assert_eq!(local_day_start(us), parse_rfc3339("2026-12-01T00:00:00+07:00").unwrap());
        let late = parse_rfc3339("2026-12-01T23:59:00+07:00").unwrap();
        assert_eq!(local_day_start(late), local_day_start(us));
    }

    #[test]
    fn round_trip() {
        let us = parse_rfc3339("2026-11-30T08:00:00.5+07:00").unwrap();
        assert_eq!(to_rfc3339(us), "2026-11-30T01:00:00.5Z");
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
