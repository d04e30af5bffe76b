//! The hall right now, from service records and camera staffing: what the dashboard tiles,
//! the public display's estimated wait and the alert rules all start from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::OpeningHours;
use crate::config::Config;
use crate::time::WallUs;

/// A ticket still in a queue today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedTicket {
    /// Source ticket id.
    pub ticket_id: String,
    /// Displayed number.
    pub number: Option<String>,
    /// Field of the queue it is in.
    pub field: Option<String>,
    /// Joined the queue.
    pub queued_us: Option<WallUs>,
    /// `waiting`, `called` or `serving`.
    pub outcome: String,
    /// Counter that called it (or it was assigned to).
    pub counter: Option<i64>,
    /// Last call.
    pub last_called_us: Option<WallUs>,
    /// Priority class.
    pub priority: Option<i64>,
}

/// A transaction that ended recently with a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentService {
    /// Field.
    pub field: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Wait before the call, µs.
    pub wait_us: Option<i64>,
    /// Service time, µs.
    pub service_us: i64,
    /// When it ended.
    pub end_us: WallUs,
}

/// A counter and its state now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterNow {
    /// Counter number.
    pub number: i64,
    /// Name.
    pub name: String,
    /// Fields served.
    pub fields: Vec<String>,
    /// Within its scheduled opening hours now.
    pub scheduled_open: bool,
    /// Latest state from the queue system (`open`, `paused`, `closed`), if any was reported.
    pub qms_state: Option<String>,
    /// Pause reason.
    pub reason: Option<String>,
    /// Since when the QMS state holds.
    pub state_since_us: Option<WallUs>,
    /// Camera watching its staff seat, if any.
    pub camera: Option<String>,
    /// Whether the camera sees the officer's seat occupied; None when no camera covers it.
    pub camera_staffed: Option<bool>,
    /// Number of the ticket being called or served here.
    pub current_ticket: Option<String>,
}

impl CounterNow {
    /// Open for citizens: the QMS says open (or, if it never reported, the schedule does).
    pub fn open(&self) -> bool {
        match self.qms_state.as_deref() {
            Some(s) => s == "open",
            None => self.scheduled_open,
        }
    }

    /// Actually serving: open and, where a camera watches the seat, someone is in it. The
    /// camera and the queue system must agree before a counter counts as staffed.
    pub fn staffed(&self) -> bool {
        self.open() && self.camera_staffed.unwrap_or(true)
    }
}

/// The hall's service state at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HallNow {
    /// Hall.
    pub hall: String,
    /// The instant.
    pub at_us: WallUs,
    /// Tickets queued today and not finished (waiting, called or being served).
    pub queued: Vec<QueuedTicket>,
    /// Services that ended in the last hour.
    pub recent: Vec<RecentService>,
    /// Tickets issued in the last hour, per field.
    pub arrivals_last_hour: BTreeMap<String, i64>,
    /// Tickets served today, per field.
    pub served_today: BTreeMap<String, i64>,
    /// Counters.
    pub counters: Vec<CounterNow>,
}

impl HallNow {
    /// Tickets waiting (not yet called) in `field`.
    pub fn waiting<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a QueuedTicket> {
        self.queued.iter().filter(move |t| t.outcome == "waiting" && t.field.as_deref() == Some(field))
    }

    /// Counters serving `field`.
    pub fn counters_for<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a CounterNow> {
        self.counters.iter().filter(move |c| c.fields.iter().any(|f| f == field))
    }
}

/// Whether `hours` schedule the counter open at `us` (hall-local time).
pub fn scheduled_open(hours: &OpeningHours, us: WallUs) -> bool {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (weekday, minute) = crate::time::local_weekday_minute(us);
    let Some(spans) = hours.get(DAYS[usize::from(weekday) % 7]) else { return false };
    spans.iter().any(|[from, to]| match (super::parse_hhmm(from), super::parse_hhmm(to)) {
        (Some(a), Some(b)) => (a..b).contains(&minute),
        _ => false,
    })
}

/// The camera whose staff zone watches each counter of `hall`, from the camera zones in config.
pub fn staff_cameras(cfg: &Config, hall: &str) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for cam in cfg.cameras.iter().filter(|c| c.hall == hall && c.enabled && c.analyze) {
        for z in &cam.zones {
            if let (crate::vision::zones::ZoneKindName::Staff, Some(n)) = (z.kind, z.counter) {
                out.entry(i64::from(n)).or_insert_with(|| cam.id.clone());
            }
        }
    }
    out
}

/// The camera showing each counter of `hall` (staff or service zone), for evidence links.
pub fn counter_cameras(cfg: &Config, hall: &str) -> BTreeMap<i64, String> {
    let mut out = staff_cameras(cfg, hall);
    for cam in cfg.cameras.iter().filter(|c| c.hall == hall && c.enabled) {
        for z in &cam.zones {
            if let (crate::vision::zones::ZoneKindName::Service, Some(n)) = (z.kind, z.counter) {
                out.entry(i64::from(n)).or_insert_with(|| cam.id.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn opening_hours_in_hall_time() {
        let hours: OpeningHours = serde_json::from_str(r#"{"mon":[["07:30","11:30"],["13:30","17:00"]],"sat":[["07:30","11:30"]]}"#).unwrap();
        let at = |s: &str| scheduled_open(&hours, parse_rfc3339(s).unwrap());
        // 2026-11-30 is a Monday.
        assert!(at("2026-11-30T07:30:00+07:00"));
        assert!(!at("2026-11-30T12:00:00+07:00"));
        assert!(at("2026-11-30T16:59:00+07:00"));
        assert!(!at("2026-11-30T17:00:00+07:00"));
        // 00:30 UTC Monday is 07:30 Monday in the hall.
        assert!(at("2026-11-30T00:30:00Z"));
        assert!(!at("2026-12-01T08:00:00+07:00"));
        assert!(at("2026-12-05T08:00:00+07:00"));
    }
}
