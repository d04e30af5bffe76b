//! Alerts on scripted scenarios against the real SQLite store: every kind fires,
//! de-duplicates while the condition persists, escalates where it has levels, clears, and
//! respects the active schedule; acknowledgement records who, when and the note.

mod common;

use std::path::Path;

use hallwatch::analytics::{AnalyticsOutput, OccupancySample, StaffedInterval};
use hallwatch::config::Config;
use hallwatch::service::alerts::{evaluate_hall, Context};
use hallwatch::service::{
    CounterIn, CounterStateIn, CounterStateKind, RatingIn, RatingScale, TicketEventIn, TicketEventKind,
};
use hallwatch::store::{Ack, AlertRow, ApplyReport, HealthRow, NewSegment, SegmentClose, Store};
use hallwatch::time::parse_rfc3339;

const MIN: i64 = 60_000_000;
const SEC: i64 = 1_000_000;

/// Monday 2026-11-30 08:00 in the hall (inside the default Mon–Sat 07:00–17:30 schedule).
fn monday() -> i64 {
    parse_rfc3339("2026-11-30T08:00:00+07:00").expect("time")
}
/// Sunday 2026-12-06 08:00 (after that Monday): outside the schedule.
fn sunday() -> i64 {
    parse_rfc3339("2026-12-06T08:00:00+07:00").expect("time")
}

fn rfc(us: i64) -> String {
    hallwatch::time::to_rfc3339(us)
}

struct Hall {
    _dir: tempfile::TempDir,
    store: Store,
    cfg: Config,
    health: Vec<HealthRow>,
    free_bytes: Option<u64>,
    next_event: u64,
}

impl Hall {
    async fn new(alerts: &str) -> Hall {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[storage]\ndir = \"{}\"\nsegment_seconds = 60\n\n\
             [[halls]]\nid = \"h\"\nname = \"H\"\n\
             [[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\nservice_level_minutes = 10\n\
             [[halls.fields]]\ncode = \"CT\"\nname = \"Chứng thực\"\n\n\
             [[cameras]]\nid = \"cam\"\nhall = \"h\"\nname = \"Sảnh\"\n\
             [[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1/x\"\n\
             [[cameras.zones]]\nid = \"wz\"\nkind = \"waiting\"\npolygon = [[0,0],[1,0],[1,1]]\n\
             [[cameras.zones]]\nid = \"seat1\"\nkind = \"staff\"\ncounter = 1\npolygon = [[0,0],[1,0],[0,1]]\n\n\
             [alerts]\n{alerts}\n",
            dir.path().display()
        );
        let path = dir.path().join("hallwatch.toml");
        let cfg = Config::parse(&text, &path).expect("parse");
        cfg.validate(&path).expect("valid");
        let store = Store::open(&dir.path().join("hallwatch.db")).await.expect("open");
        store.sync_config(&cfg).await.expect("sync");
        Hall { _dir: dir, store, cfg, health: Vec::new(), free_bytes: None, next_event: 0 }
    }

    async fn eval(&self, at: i64) -> ApplyReport {
        let alerts = self.cfg.alerts.clone().expect("[alerts]");
        let ctx = Context { config: &self.cfg, alerts: &alerts, health: self.health.clone(), free_bytes: self.free_bytes, started_us: monday() - 3600 * SEC };
        evaluate_hall(&self.store, &ctx, "h", at).await.expect("evaluate")
    }

    /// Of `ids`, those of alerts of `kind`.
    async fn of(&self, ids: &[i64], kind: &str) -> Vec<i64> {
        let mut out = Vec::new();
        for id in ids {
            if self.store.alert(*id).await.expect("alert").is_some_and(|a| a.kind == kind) {
                out.push(*id);
            }
        }
        out
    }

    async fn all(&self) -> Vec<AlertRow> {
        self.store.alerts(Some("h"), false, None, None, 100).await.expect("alerts")
    }

    async fn event(&mut self, ticket: &str, kind: TicketEventKind, at: i64, field: &str, counter: Option<i64>) {
        self.next_event += 1;
        let e = TicketEventIn {
            event_id: format!("e{}", self.next_event),
            hall: "h".into(),
            ticket_id: ticket.into(),
            kind,
            at: rfc(at),
            number: Some(format!("A{ticket}")),
            field: Some(field.into()),
            counter,
            officer: None,
            to_field: None,
            to_counter: None,
            channel: None,
            priority: None,
        }
        .validate()
        .expect("valid event");
        self.store.ingest_ticket_events("qms", &[e]).await.expect("ingest");
    }

    async fn issue(&mut self, ticket: &str, at: i64, field: &str) {
        self.event(ticket, TicketEventKind::Issued, at, field, None).await;
    }

    async fn serve(&mut self, ticket: &str, called: i64, finished: i64, field: &str, counter: i64) {
        self.event(ticket, TicketEventKind::Called, called, field, Some(counter)).await;
        self.event(ticket, TicketEventKind::Finished, finished, field, Some(counter)).await;
    }

    async fn counters(&self, n: i64, fields: &[&str]) {
        let all_day = serde_json::from_str(r#"{"mon":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}"#).expect("hours");
        let cs: Vec<CounterIn> = (1..=n)
            .map(|i| CounterIn {
                hall: "h".into(),
                number: i,
                name: format!("Quầy {i}"),
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                opening_hours: std::collections::BTreeMap::clone(&all_day),
                camera: None,
            })
            .collect();
        self.store.ingest_counters(&cs).await.expect("counters");
    }

    async fn counter_state(&mut self, counter: i64, state: CounterStateKind, at: i64) {
        self.next_event += 1;
        let s = CounterStateIn { event_id: format!("s{}", self.next_event), hall: "h".into(), counter, state, at: rfc(at), reason: None, officer: None }
            .validate()
            .expect("valid state");
        self.store.ingest_counter_states("qms", &[s]).await.expect("state");
    }
}

fn kinds(rows: &[AlertRow], kind: &str) -> Vec<AlertRow> {
    rows.iter().filter(|a| a.kind == kind).cloned().collect()
}

#[tokio::test]
async fn long_queue_fires_dedups_escalates_renotifies_clears() {
    let mut h = Hall::new("queue_warning = 3\nqueue_critical = 5\ndedup_minutes = 15\nwait_warning_minutes = 120").await;
    let t = monday();
    for i in 0..3 {
        h.issue(&format!("{i}"), t + i * SEC, "HT").await;
    }
    let r = h.eval(t + MIN).await;
    assert_eq!(r.opened.len(), 1, "{r:?}");
    let a = &kinds(&h.all().await, "long_queue")[0];
    assert_eq!((a.subject.as_str(), a.severity.as_str(), a.value), ("field:HT", "warning", 3.0));

    // Persisting: no second alert, no re-notification within the interval.
    let r = h.eval(t + 2 * MIN).await;
    assert!(!r.changed(), "{r:?}");
    assert_eq!(kinds(&h.all().await, "long_queue").len(), 1);

    // Two more tickets: the same alert escalates.
    h.issue("3", t + 3 * MIN, "HT").await;
    h.issue("4", t + 3 * MIN, "HT").await;
    let r = h.eval(t + 4 * MIN).await;
    assert_eq!(r.escalated, vec![a.id]);
    let rows = kinds(&h.all().await, "long_queue");
    assert_eq!((rows.len(), rows[0].severity.as_str(), rows[0].notifications), (1, "critical", 2));

    // Still there after the de-duplication interval: notified once more, still one alert.
    let r = h.eval(t + 20 * MIN).await;
    assert_eq!(r.renotified, vec![a.id]);
    assert!(h.eval(t + 21 * MIN).await.renotified.is_empty());

    // Served down to 2 waiting: cleared.
    for i in 0..3 {
        h.serve(&format!("{i}"), t + 22 * MIN, t + 23 * MIN, "HT", 1).await;
    }
    let r = h.eval(t + 24 * MIN).await;
    assert_eq!(r.cleared, vec![a.id]);
    let row = h.store.alert(a.id).await.expect("q").expect("row");
    assert_eq!(row.cleared_us, Some(t + 24 * MIN));
    assert!(h.store.alerts(Some("h"), true, None, None, 10).await.expect("open").is_empty());
}

#[tokio::test]
async fn flapping_condition_reopens_the_same_alert_within_the_interval() {
    let mut h = Hall::new("queue_warning = 1\nqueue_critical = 5\ndedup_minutes = 15").await;
    let t = monday();
    h.issue("1", t, "CT").await;
    let id = h.eval(t + SEC).await.opened[0];
    h.serve("1", t + MIN, t + 2 * MIN, "CT", 1).await;
    assert_eq!(h.eval(t + 3 * MIN).await.cleared, vec![id]);
    h.issue("2", t + 4 * MIN, "CT").await;
    let r = h.eval(t + 5 * MIN).await;
    assert_eq!((r.opened.len(), r.reopened.clone()), (0, vec![id]), "{r:?}");
    // After the interval a new breach is a new alert.
    h.serve("2", t + 6 * MIN, t + 7 * MIN, "CT", 1).await;
    h.eval(t + 8 * MIN).await;
    h.issue("3", t + 30 * MIN, "CT").await;
    assert_eq!(h.eval(t + 31 * MIN).await.opened.len(), 1);
}

#[tokio::test]
async fn long_queue_respects_the_schedule_and_per_field_overrides() {
    let mut h = Hall::new("queue_warning = 3\nqueue_critical = 5\n[[alerts.fields]]\ncode = \"CT\"\nqueue_warning = 1\nqueue_critical = 2").await;
    let s = sunday();
    for i in 0..4 {
        h.issue(&format!("{i}"), s + i * SEC, "HT").await;
    }
    assert!(!h.eval(s + MIN).await.changed(), "Sunday is outside the schedule");
    assert!(h.all().await.is_empty());
    // 18:00 Monday is outside the hours.
    let evening = parse_rfc3339("2026-11-30T18:00:00+07:00").expect("t");
    for i in 0..4 {
        h.issue(&format!("m{i}"), evening + i * SEC, "HT").await;
    }
    assert!(h.all().await.is_empty() && !h.eval(evening + MIN).await.changed());
    // CT's own thresholds: one ticket is a warning there.
    let t = monday();
    h.issue("c1", t, "CT").await;
    h.eval(t + SEC).await;
    let rows = kinds(&h.all().await, "long_queue");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].subject, "field:CT");
}

#[tokio::test]
async fn long_wait_fires_escalates_and_clears() {
    // HT's service level is 10 min: warning after 10, critical after 20 (twice the level).
    let mut h = Hall::new("queue_warning = 50\nqueue_critical = 60").await;
    let t = monday();
    h.issue("1", t, "HT").await;
    assert!(h.eval(t + 10 * MIN).await.opened.is_empty(), "exactly the level is within it");
    let id = h.eval(t + 11 * MIN).await.opened[0];
    assert!(!h.eval(t + 12 * MIN).await.changed());
    assert_eq!(h.eval(t + 21 * MIN).await.escalated, vec![id]);
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.severity.as_str()), ("long_wait", "critical"));
    assert!(row.message.contains("A1"), "{}", row.message);
    h.event("1", TicketEventKind::Called, t + 22 * MIN, "HT", Some(1)).await;
    assert_eq!(h.eval(t + 23 * MIN).await.cleared, vec![id]);
    // Saturday 18:00 is outside the hours: nothing opens however long the wait.
    let sat = parse_rfc3339("2026-12-05T18:00:00+07:00").expect("t");
    h.issue("2", sat - 60 * MIN, "HT").await;
    assert!(h.eval(sat).await.opened.is_empty());
}

#[tokio::test]
async fn counter_unstaffed_while_its_queue_waits() {
    let mut h = Hall::new("queue_warning = 50\nqueue_critical = 60\nwait_warning_minutes = 120\nunstaffed_warning_minutes = 5\nunstaffed_critical_minutes = 15").await;
    let t = monday();
    h.counters(1, &["HT"]).await;
    h.counter_state(1, CounterStateKind::Open, t - 60 * MIN).await;
    // The camera saw the officer until 08:00, then the seat emptied.
    let mut out = AnalyticsOutput::empty("cam", t);
    out.staffed.push(StaffedInterval { counter: 1, from_us: t - 60 * MIN, to_us: Some(t) });
    h.store.save_analytics(&out).await.expect("staffed");
    // No one waiting: nothing to alert about.
    assert!(h.eval(t + 10 * MIN).await.opened.is_empty(), "no one waiting");
    h.issue("1", t + 10 * MIN, "HT").await;
    let id = h.of(&h.eval(t + 11 * MIN).await.opened, "counter_unstaffed").await[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.subject.as_str(), row.severity.as_str()), ("counter_unstaffed", "counter:1", "warning"));
    assert!(!h.eval(t + 12 * MIN).await.changed());
    assert_eq!(h.of(&h.eval(t + 16 * MIN).await.escalated, "counter_unstaffed").await, vec![id]);
    // The officer sits down again.
    let mut back = AnalyticsOutput::empty("cam", t + 17 * MIN);
    back.staffed.push(StaffedInterval { counter: 1, from_us: t + 17 * MIN, to_us: None });
    h.store.save_analytics(&back).await.expect("staffed");
    assert_eq!(h.of(&h.eval(t + 18 * MIN).await.cleared, "counter_unstaffed").await, vec![id]);
    // A closed counter with an empty seat is not "unstaffed while open".
    let mut gone = AnalyticsOutput::empty("cam", t + 20 * MIN);
    gone.staffed.push(StaffedInterval { counter: 1, from_us: t + 17 * MIN, to_us: Some(t + 20 * MIN) });
    h.store.save_analytics(&gone).await.expect("staffed");
    h.counter_state(1, CounterStateKind::Closed, t + 20 * MIN).await;
    assert!(h.of(&h.eval(t + 40 * MIN).await.opened, "counter_unstaffed").await.is_empty());
    // Outside the schedule: nothing opens.
    h.counter_state(1, CounterStateKind::Open, sunday() - 60 * MIN).await;
    let s = sunday();
    let mut sun = AnalyticsOutput::empty("cam", s);
    sun.staffed.push(StaffedInterval { counter: 1, from_us: s - 60 * MIN, to_us: Some(s - 30 * MIN) });
    h.store.save_analytics(&sun).await.expect("staffed");
    h.issue("s1", s - 20 * MIN, "HT").await;
    assert!(h.of(&h.eval(s).await.opened, "counter_unstaffed").await.is_empty());
}

#[tokio::test]
async fn too_few_counters_for_the_arrival_rate() {
    // 12 arrivals in the last hour, 8 min default service, ρ = 0.8: ⌈12/60 × 8 / 0.8⌉ = 2 needed.
    let mut h = Hall::new("queue_warning = 50\nqueue_critical = 60\nwait_warning_minutes = 120\ndefault_service_minutes = 8\nshort_counters_critical = 2").await;
    let t = monday();
    h.counters(2, &["CT"]).await;
    h.counter_state(1, CounterStateKind::Open, t - 2 * 60 * MIN).await;
    h.counter_state(2, CounterStateKind::Closed, t - 2 * 60 * MIN).await;
    // Counter 1 also has a camera on its seat (the test hall's staff zone): occupied.
    let mut seat = AnalyticsOutput::empty("cam", t);
    seat.staffed.push(StaffedInterval { counter: 1, from_us: t - 2 * 60 * MIN, to_us: None });
    h.store.save_analytics(&seat).await.expect("staffed");
    for i in 0..12 {
        h.issue(&format!("{i}"), t - 55 * MIN + i * 4 * MIN, "CT").await;
    }
    let id = h.eval(t).await.opened[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.subject.as_str(), row.severity.as_str(), row.value), ("too_few_counters", "field:CT", "warning", 1.0));
    assert!(!h.eval(t + SEC).await.changed());
    // Counter 1 closes too: two short, critical.
    h.counter_state(1, CounterStateKind::Closed, t + 2 * SEC).await;
    assert_eq!(h.eval(t + 3 * SEC).await.escalated, vec![id]);
    // Both open: enough.
    h.counter_state(1, CounterStateKind::Open, t + 4 * SEC).await;
    h.counter_state(2, CounterStateKind::Open, t + 4 * SEC).await;
    assert_eq!(h.eval(t + 5 * SEC).await.cleared, vec![id]);
    // The same shortage on Sunday opens nothing.
    let s = sunday();
    for i in 0..12 {
        h.issue(&format!("s{i}"), s - 55 * MIN + i * 4 * MIN, "CT").await;
    }
    h.counter_state(2, CounterStateKind::Closed, s - 60 * MIN).await;
    h.counter_state(1, CounterStateKind::Closed, s - 60 * MIN).await;
    assert!(h.eval(s).await.opened.is_empty());
}

async fn rate(h: &Hall, id: &str, at: i64, score: i64) {
    let r = RatingIn {
        rating_id: id.into(),
        hall: "h".into(),
        at: rfc(at),
        scale: RatingScale::Three,
        score,
        ticket_id: Some("T9".into()),
        dossier_code: None,
        counter: Some(2),
        officer: Some("cb-02".into()),
        reasons: vec!["Chờ lâu".into()],
        comment: None,
        device_id: None,
    }
    .validate()
    .expect("valid rating");
    h.store.ingest_ratings("tablet", &[r]).await.expect("rating");
}

#[tokio::test]
async fn dissatisfied_rating_one_alert_per_rating_closed_by_ack() {
    let h = Hall::new("").await;
    let t = monday();
    rate(&h, "r-ok", t, 3).await;
    rate(&h, "r-bad", t, 1).await;
    let r = h.eval(t + SEC).await;
    assert_eq!(r.opened.len(), 1);
    let id = r.opened[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.subject.as_str()), ("dissatisfied_rating", "rating:tablet/r-bad"));
    assert!(row.message.contains("T9") && row.message.contains("counter 2"), "{}", row.message);
    // An event: it does not clear by itself and is not repeated.
    assert!(!h.eval(t + 60 * MIN).await.changed());
    assert!(h.store.alert(id).await.expect("q").expect("row").cleared_us.is_none());
    // Acknowledged with a note: closed, and never reopened.
    let Ack::Done(a) = h.store.ack_alert(id, "giam-sat-1", "Đã gọi điện xin lỗi công dân", t + 61 * MIN).await.expect("ack") else {
        panic!("first ack must succeed")
    };
    assert_eq!((a.acked_by.as_deref(), a.ack_note.as_deref(), a.acked_us, a.cleared_us), (Some("giam-sat-1"), Some("Đã gọi điện xin lỗi công dân"), Some(t + 61 * MIN), Some(t + 61 * MIN)));
    assert!(matches!(h.store.ack_alert(id, "other", "again", t + 62 * MIN).await.expect("ack"), Ack::Already(_)));
    assert_eq!(h.store.ack_alert(9999, "x", "y", t).await.expect("ack"), Ack::Missing);
    assert!(!h.eval(t + 63 * MIN).await.changed());
    assert_eq!(h.all().await.len(), 1);
    // A second bad rating is a second alert; one given on Sunday opens nothing.
    rate(&h, "r-bad-2", t + 64 * MIN, 1).await;
    assert_eq!(h.eval(t + 65 * MIN).await.opened.len(), 1);
    rate(&h, "r-sun", sunday(), 1).await;
    assert!(h.eval(sunday() + SEC).await.opened.is_empty());
}

fn health(last_frame: Option<i64>, state: &str) -> HealthRow {
    HealthRow { camera_id: "cam".into(), stream: "main".into(), state: state.into(), last_frame_us: last_frame, ..HealthRow::default() }
}

#[tokio::test]
async fn camera_offline_fires_escalates_clears_and_ignores_schedule_by_default() {
    let mut h = Hall::new("camera_offline_seconds = 30\ncamera_offline_critical_seconds = 300\nno_segment_seconds = 1000000").await;
    let t = monday();
    h.health = vec![health(Some(t - 10 * SEC), "streaming")];
    assert!(!h.eval(t).await.changed());
    h.health = vec![health(Some(t - 40 * SEC), "retrying")];
    let id = h.eval(t).await.opened[0];
    assert!(!h.eval(t + 5 * SEC).await.changed());
    assert_eq!(h.eval(t + 300 * SEC).await.escalated, vec![id]);
    h.health = vec![health(Some(t + 301 * SEC), "streaming")];
    assert_eq!(h.eval(t + 302 * SEC).await.cleared, vec![id]);
    // Recording runs on Sundays too, so by default the camera rule does as well.
    h.health = vec![health(Some(sunday() - 60 * SEC), "retrying")];
    assert_eq!(h.eval(sunday()).await.opened.len(), 1);
}

#[tokio::test]
async fn system_alerts_follow_the_schedule_when_asked() {
    let mut h = Hall::new("system_always_active = false\nno_segment_seconds = 100000").await;
    h.health = vec![health(Some(sunday() - 60 * SEC), "retrying")];
    h.free_bytes = Some(1);
    assert!(!h.eval(sunday()).await.changed());
}

async fn segment(store: &Store, start: i64, end: i64, gap_before: bool, bytes: i64) {
    let id = store
        .insert_open_segment(&NewSegment {
            camera_id: "cam".into(),
            stream: "main".into(),
            path: format!("cam/main/{start}.mp4"),
            start_us: start,
            gap_before,
            clock_source: "receive".into(),
            codec: "avc1.64001f".into(),
            width: 640,
            height: 360,
            sample_entry: vec![0],
        })
        .await
        .expect("open segment");
    store
        .close_segment(id, &SegmentClose { end_us: end, frames: 10, bytes, sha256: "00".repeat(32), sample_index: vec![], recovered: false })
        .await
        .expect("close");
}

#[tokio::test]
async fn recording_gap_fires_escalates_and_clears() {
    let mut h = Hall::new("gap_window_minutes = 10\nno_segment_seconds = 180\ncamera_offline_seconds = 100000\ncamera_offline_critical_seconds = 100000").await;
    let t = monday();
    h.health = vec![health(Some(t), "streaming")];
    segment(&h.store, t - 5 * MIN, t - 4 * MIN, false, 1_000_000).await;
    segment(&h.store, t - 4 * MIN, t - 3 * MIN, false, 1_000_000).await;
    assert!(!h.eval(t - 3 * MIN).await.changed());
    // The camera dropped for two minutes: the next segment is flagged.
    segment(&h.store, t - MIN, t, true, 1_000_000).await;
    let id = h.eval(t).await.opened[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.subject.as_str(), row.severity.as_str()), ("recording_gap", "stream:cam/main", "warning"));
    assert!(!h.eval(t + MIN).await.changed());
    // Then nothing at all is recorded for more than 180 s: critical, same alert.
    assert_eq!(h.eval(t + 181 * SEC).await.escalated, vec![id]);
    // Recording resumes; its first segment is flagged, so the gap stays (at its highest level)
    // until that segment leaves the 10-minute window.
    for i in 0..12 {
        segment(&h.store, t + (3 + i) * MIN, t + (4 + i) * MIN, i == 0, 1_000_000).await;
    }
    assert!(!h.eval(t + 12 * MIN).await.changed());
    assert_eq!(h.eval(t + 13 * MIN).await.cleared, vec![id]);
}

#[tokio::test]
async fn storage_low_by_free_space_and_days_left() {
    let mut h = Hall::new("storage_warning_free = \"10GB\"\nstorage_critical_free = \"2GB\"\nstorage_warning_days = 7\nstorage_critical_days = 2\nno_segment_seconds = 100000").await;
    let t = monday();
    h.free_bytes = Some(50_000_000_000);
    assert!(!h.eval(t).await.changed());
    h.free_bytes = Some(5_000_000_000);
    let id = h.eval(t).await.opened[0];
    assert!(!h.eval(t + MIN).await.changed());
    h.free_bytes = Some(1_000_000_000);
    assert_eq!(h.eval(t + 2 * MIN).await.escalated, vec![id]);
    h.free_bytes = Some(50_000_000_000);
    assert_eq!(h.eval(t + 3 * MIN).await.cleared, vec![id]);
    // Days left: 50 GB free, 1 GB written in the last hour = 24 GB/day → 2.1 days: warning.
    for i in 0..10 {
        segment(&h.store, t + 4 * MIN + i * MIN, t + 5 * MIN + i * MIN, false, 100_000_000).await;
    }
    let id = h.eval(t + 20 * MIN).await.opened[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!(row.severity, "warning");
    assert!(row.message.contains("2.1 days"), "{}", row.message);
    // Storage is the node's, not the hall's schedule: it opens on Sundays too.
    assert!(h.eval(sunday()).await.cleared.contains(&id), "no writes in the hour before that Sunday");
    h.free_bytes = Some(1);
    assert_eq!(h.eval(sunday() + 20 * MIN).await.opened.len(), 1);
}

#[tokio::test]
async fn camera_waiting_zone_count_held_for_the_window() {
    let h = Hall::new("queue_warning = 50\nqueue_critical = 60\ncamera_queue_warning = 4\ncamera_queue_critical = 8\ncamera_queue_minutes = 2").await;
    let t = monday();
    let mut out = AnalyticsOutput::empty("cam", t);
    for s in 0..180 {
        let count = if s < 150 { 5 } else { 9 };
        out.samples.push(OccupancySample { zone: "wz".into(), at_us: t + s * SEC, count });
    }
    h.store.save_analytics(&out).await.expect("samples");
    assert!(h.eval(t + 60 * SEC).await.opened.is_empty(), "only one minute of the two-minute window");
    let id = h.eval(t + 121 * SEC).await.opened[0];
    let row = h.store.alert(id).await.expect("q").expect("row");
    assert_eq!((row.kind.as_str(), row.subject.as_str(), row.severity.as_str()), ("long_queue", "zone:cam/wz", "warning"));
    assert!(!h.eval(t + 130 * SEC).await.changed());
    // Nine people held for two minutes needs samples up to 150 + 120 s: not yet, and after 180 s no samples.
    assert!(h.eval(t + 179 * SEC).await.escalated.is_empty());
    assert_eq!(h.eval(t + 400 * SEC).await.cleared, vec![id]);
}

#[test]
fn config_errors_name_the_alert_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = |alerts: &str| {
        let text = format!(
            "[storage]\ndir = \"{}\"\n[[halls]]\nid = \"h\"\nname = \"H\"\n[[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n[alerts]\n{alerts}\n",
            dir.path().display()
        );
        let p = Path::new("t.toml");
        Config::parse(&text, p).and_then(|c| c.validate(p).map(|()| c)).map_err(|e| e.to_string())
    };
    assert!(cfg("").is_ok());
    let e = cfg("queue_warning = 10\nqueue_critical = 5").unwrap_err();
    assert!(e.contains("alerts.queue_critical"), "{e}");
    let e = cfg("[[alerts.fields]]\ncode = \"XX\"").unwrap_err();
    assert!(e.contains("alerts.fields[0].code"), "{e}");
    let e = cfg("[[alerts.fields]]\ncode = \"HT\"\nqueue_critical = 3").unwrap_err();
    assert!(e.contains("alerts.fields[0].queue_critical"), "{e}");
    let e = cfg("active_days = [\"monday\"]").unwrap_err();
    assert!(e.contains("alerts.active_days[0]"), "{e}");
    let e = cfg("no_segment_seconds = 30").unwrap_err();
    assert!(e.contains("alerts.no_segment_seconds"), "{e}");
    let e = cfg("queue_warnig = 3").unwrap_err();
    assert!(e.contains("alerts") && e.contains("queue_warnig"), "{e}");
}
