//! Evidence links: from a ticket, a dossier code or a rating to the recording of the service
//! it came from, so an auditor jumps from "A023" or "000.00.01.H29-251015-0042" to the video.
//!
//! The service interval is the counter's camera from the (last) call to the end, plus a margin
//! either side: the call is when the citizen walks up, and clocks of the QMS and the camera
//! may differ by seconds.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ticket::Transaction;
use crate::time::{to_rfc3339, WallUs};

/// Default margin around a service, seconds.
pub const DEFAULT_MARGIN_S: i64 = 30;

/// How a dossier or rating was tied to the ticket shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The ticket itself was asked for.
    Ticket,
    /// The one-stop software named the ticket (dossier_ticket).
    Recorded,
    /// Guessed: same counter and officer, the ticket in service when the dossier was received.
    Heuristic,
    /// The rating named the ticket.
    Rating,
}

/// The recording interval of one service: `[last call − margin, end + margin]`; None until the
/// stay has a call and an end.
pub fn service_interval(tx: &Transaction, margin_us: i64) -> Option<(WallUs, WallUs)> {
    let start = tx.last_called_us.or(tx.service_start_us)?;
    Some((start - margin_us, tx.end_us? + margin_us))
}

/// The camera showing `counter`: the one the QMS registered for it, else the one whose staff or
/// service zone covers it in config ([`super::now::counter_cameras`]).
pub fn counter_camera(registered: Option<&str>, from_zones: &BTreeMap<i64, String>, counter: i64) -> Option<String> {
    registered.map(str::to_owned).or_else(|| from_zones.get(&counter).cloned())
}

/// A queue stay that could have produced a dossier.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Ticket.
    pub ticket_id: String,
    /// The stay.
    pub tx: Transaction,
}

/// The ticket in service at `counter` (and with `officer`, when the dossier names one) at
/// `received_us`: called at or before it and not ended before it. The latest call wins when
/// stays overlap (a recall or a forgotten "finish").
pub fn heuristic_ticket<'a>(candidates: &'a [Candidate], counter: i64, officer: Option<&str>, received_us: WallUs) -> Option<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| c.tx.counter == Some(counter))
        .filter(|c| match (officer, c.tx.officer.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        })
        .filter(|c| c.tx.last_called_us.is_some_and(|t| t <= received_us) && c.tx.end_us.is_none_or(|e| e >= received_us))
        .max_by_key(|c| c.tx.last_called_us)
}

/// The playback URL of a camera over an interval (the existing recording endpoint; it asks
/// the viewer for a purpose, which the evidence request passes on). Camera ids are checked
/// at config load to be `[A-Za-z0-9_-]`, so the path needs no escaping.
pub fn playback_url(camera: &str, start: WallUs, end: WallUs, purpose: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("start", &to_rfc3339(start))
        .append_pair("end", &to_rfc3339(end))
        .append_pair("purpose", purpose)
        .finish();
    format!("/api/cameras/{camera}/recording.mp4?{query}")
}

/// A recording segment overlapping a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRef {
    /// Segment id.
    pub id: i64,
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
    /// SHA-256 of the file, for the chain of custody.
    pub sha256: Option<String>,
}

/// The footage of one service (one queue stay) of the ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clip {
    /// Stay number (0 = the queue of issue, then per transfer).
    pub seq: i64,
    /// Field.
    pub field: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Officer.
    pub officer: Option<String>,
    /// Camera.
    pub camera: Option<String>,
    /// Interval start.
    pub start: Option<String>,
    /// Interval end.
    pub end: Option<String>,
    /// Segments overlapping the interval.
    pub segments: Vec<SegmentRef>,
    /// Where to play it.
    pub url: Option<String>,
    /// Why something is missing.
    pub note: Option<String>,
}

/// One thing that happened to the ticket (or its dossier), for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: String,
    /// µs, for sorting by clients.
    pub at_us: WallUs,
    /// `ticket.issued`, `ticket.called`, …, `rating`, `dossier.status`.
    pub kind: String,
    /// Counter, officer, score or status, as text.
    pub detail: String,
}

/// Everything an auditor gets for one lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Hall.
    pub hall: String,
    /// Ticket shown.
    pub ticket_id: String,
    /// Its displayed number.
    pub number: Option<String>,
    /// How it was reached.
    pub link: Link,
    /// The dossier asked for (or linked).
    pub dossiers: Vec<String>,
    /// One clip per service of the ticket.
    pub clips: Vec<Clip>,
    /// Events of the ticket, its ratings and its dossiers' status changes, by time.
    pub timeline: Vec<TimelineEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ticket::Outcome;

    fn tx(counter: i64, officer: Option<&str>, called: i64, end: Option<i64>) -> Transaction {
        Transaction {
            seq: 0,
            field: None,
            counter: Some(counter),
            officer: officer.map(str::to_owned),
            queued_us: Some(0),
            first_called_us: Some(called),
            last_called_us: Some(called),
            calls: 1,
            service_start_us: None,
            end_us: end,
            outcome: if end.is_some() { Outcome::Served } else { Outcome::Called },
        }
    }

    #[test]
    fn interval_is_call_to_end_plus_margin() {
        assert_eq!(service_interval(&tx(1, None, 100_000_000, Some(400_000_000)), 30_000_000), Some((70_000_000, 430_000_000)));
        assert_eq!(service_interval(&tx(1, None, 100, None), 30), None);
    }

    #[test]
    fn url_is_encoded() {
        let u = playback_url("quay-3", 0, 60_000_000, "kiểm tra");
        assert_eq!(u, "/api/cameras/quay-3/recording.mp4?start=1970-01-01T00%3A00%3A00Z&end=1970-01-01T00%3A01%3A00Z&purpose=ki%E1%BB%83m+tra");
    }

    #[test]
    fn heuristic_picks_the_service_in_progress() {
        let c = |id: &str, t| Candidate { ticket_id: id.into(), tx: t };
        let cands = [c("a", tx(4, Some("x"), 10, Some(20))), c("b", tx(4, Some("x"), 20, Some(30))), c("c", tx(5, Some("x"), 21, Some(30)))];
        assert_eq!(heuristic_ticket(&cands, 4, Some("x"), 25).map(|c| c.ticket_id.as_str()), Some("b"));
        assert_eq!(heuristic_ticket(&cands, 4, Some("y"), 25), None);
        assert_eq!(heuristic_ticket(&cands, 4, None, 35), None);
    }
}
