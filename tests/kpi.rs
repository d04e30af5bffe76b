//! KPIs, estimated waiting time and evidence links against a real SQLite store, on a scripted
//! fixture day (Tuesday 2026-12-01, hall time). Every expected number is worked out by hand in
//! the comment beside it, never by calling the code under test.

use std::path::Path;
use std::sync::Arc;

use hallwatch::config::Config;
use hallwatch::service::ewt::{self, EwtSettings, EwtState};
use hallwatch::service::kpi::{self, GroupBy, GroupKey, GroupKpis, KpiReport};
use hallwatch::service::{
    Channel, CounterIn, CounterStateIn, CounterStateKind, DossierIn, DossierStatus, RatingIn, RatingScale, TicketEvent,
    TicketEventIn, TicketEventKind,
};
use hallwatch::store::{HallSetup, NewSegment, SegmentClose, Store};
use hallwatch::time::parse_rfc3339;

const HALL: &str = "demo";

fn t(hhmm: &str) -> String {
    format!("2026-12-01T{hhmm}:00+07:00")
}

fn us(hhmm: &str) -> i64 {
    parse_rfc3339(&t(hhmm)).expect("time")
}

fn ev(id: &str, ticket: &str, kind: TicketEventKind, at: &str, field: &str, counter: Option<i64>) -> TicketEvent {
    TicketEventIn {
        event_id: id.into(),
        hall: HALL.into(),
        ticket_id: ticket.into(),
        kind,
        at: t(at),
        number: (kind == TicketEventKind::Issued).then(|| format!("{field}{ticket}")),
        field: (kind == TicketEventKind::Issued).then(|| field.into()),
        counter,
        officer: None,
        to_field: (kind == TicketEventKind::Transferred).then(|| "HT".into()),
        to_counter: None,
        channel: None,
        priority: None,
    }
    .validate()
    .expect("valid event")
}

fn state(id: &str, counter: i64, kind: CounterStateKind, at: &str, reason: Option<&str>) -> hallwatch::service::CounterStateChange {
    CounterStateIn {
        event_id: id.into(),
        hall: HALL.into(),
        counter,
        state: kind,
        at: t(at),
        reason: reason.map(str::to_owned),
        officer: None,
    }
    .validate()
    .expect("valid state")
}

fn dossier(code: &str, received: &str, due: &str, finished: Option<&str>, returned: Option<&str>, tickets: &[&str]) -> hallwatch::service::Dossier {
    DossierIn {
        hall: HALL.into(),
        code: code.into(),
        procedure_code: "2.000635".into(),
        procedure_name: "Đăng ký khai sinh".into(),
        field: "HT".into(),
        channel: Channel::InPerson,
        received_at: received.into(),
        due_at: due.into(),
        returned_at: returned.map(str::to_owned),
        finished_at: finished.map(str::to_owned),
        extended: false,
        status: if returned.is_some() { DossierStatus::RETURNED } else { DossierStatus(4) },
        status_at: None,
        counter: Some(1),
        officer: Some("cb1".into()),
        tickets: tickets.iter().map(|s| (*s).to_owned()).collect(),
    }
    .validate()
    .expect("valid dossier")
}

fn rating(id: &str, ticket: &str, scale: RatingScale, score: i64) -> hallwatch::service::Rating {
    RatingIn {
        rating_id: id.into(),
        hall: HALL.into(),
        at: t("09:30"),
        scale,
        score,
        ticket_id: Some(ticket.into()),
        dossier_code: None,
        counter: None,
        officer: None,
        reasons: vec![],
        comment: None,
        device_id: None,
    }
    .validate()
    .expect("valid rating")
}

fn setup() -> HallSetup {
    HallSetup {
        service_levels: [("HT".to_owned(), 15.0), ("CT".to_owned(), 10.0)].into_iter().collect(),
        staff_cameras: [(1, "cam".to_owned()), (2, "cam".to_owned())].into_iter().collect(),
        waiting_zones: vec![("cam".into(), vec!["wz".into()])],
        cameras: vec!["cam".into()],
    }
}

/// The fixture day. Counters 1, 2 serve HT, counter 3 CT; all open Tue 08:00–12:00.
async fn fixture(db: &Path) -> Store {
    use TicketEventKind::*;
    let store = Store::open(db).await.expect("open");
    let hours: hallwatch::service::OpeningHours = serde_json::from_str(r#"{"tue":[["08:00","12:00"]]}"#).expect("hours");
    let counters: Vec<CounterIn> = [(1, "HT"), (2, "HT"), (3, "CT")]
        .into_iter()
        .map(|(n, f)| CounterIn {
            hall: HALL.into(),
            number: n,
            name: format!("Quầy {n}"),
            fields: vec![f.into()],
            opening_hours: hours.clone(),
            camera: None,
        })
        .collect();
    store.ingest_counters(&counters).await.expect("counters");
    // Counter 1: open 07:55–12:00. Counter 2: open 08:00, paused 09:00 (meeting), open 09:30,
    // closed 11:00. Counter 3 never reports: the schedule stands in.
    store
        .ingest_counter_states(
            "qms",
            &[
                state("s1", 1, CounterStateKind::Open, "07:55", None),
                state("s2", 1, CounterStateKind::Closed, "12:00", None),
                state("s3", 2, CounterStateKind::Open, "08:00", None),
                state("s4", 2, CounterStateKind::Paused, "09:00", Some("Đi họp")),
                state("s5", 2, CounterStateKind::Open, "09:30", None),
                state("s6", 2, CounterStateKind::Closed, "11:00", None),
            ],
        )
        .await
        .expect("states");
    let events = vec![
        // 001 HT: normal. wait 5, service 10 at counter 1.
        ev("1a", "001", Issued, "08:00", "HT", None),
        ev("1b", "001", Called, "08:05", "HT", Some(1)),
        ev("1c", "001", Finished, "08:15", "HT", Some(1)),
        // 002 HT: recalled; wait to the last call 08:20 = 18, service 10 at counter 2.
        ev("2a", "002", Issued, "08:02", "HT", None),
        ev("2b", "002", Called, "08:10", "HT", Some(2)),
        ev("2c", "002", Called, "08:20", "HT", Some(2)),
        ev("2d", "002", Finished, "08:30", "HT", Some(2)),
        // 003 HT: no-show; wait 10.
        ev("3a", "003", Issued, "08:05", "HT", None),
        ev("3b", "003", Called, "08:15", "HT", Some(1)),
        ev("3c", "003", NoShow, "08:17", "HT", Some(1)),
        // 004 HT: walked out (removed) at 08:40, never called.
        ev("4a", "004", Issued, "08:10", "HT", None),
        ev("4b", "004", Removed, "08:40", "HT", None),
        // 005 HT: never called all day: a walkout once the day is over.
        ev("5a", "005", Issued, "08:20", "HT", None),
        // 006 CT: wait 15, served 5 at counter 3, transferred to HT at 08:50; then wait 10,
        // service 20 at counter 1.
        ev("6a", "006", Issued, "08:30", "CT", None),
        ev("6b", "006", Called, "08:45", "CT", Some(3)),
        ev("6c", "006", Transferred, "08:50", "CT", None),
        ev("6d", "006", Called, "09:00", "CT", Some(1)),
        ev("6e", "006", Finished, "09:20", "CT", Some(1)),
    ];
    store.ingest_ticket_events("qms", &events).await.expect("events");
    // 007 CT arrives newest first, one event at a time: wait 2, service 10 at counter 3.
    for e in [ev("7c", "007", Finished, "09:12", "CT", Some(3)), ev("7b", "007", Called, "09:02", "CT", Some(3)), ev("7a", "007", Issued, "09:00", "CT", None)] {
        store.ingest_ticket_events("qms", &[e]).await.expect("late event");
    }
    // Ratings: 001 3/3 (satisfied), 002 3/5 stars (dissatisfied), 007 5/5 (satisfied).
    store
        .ingest_ratings(
            "tablet",
            &[rating("r1", "001", RatingScale::Three, 3), rating("r2", "002", RatingScale::Five, 3), rating("r3", "007", RatingScale::Five, 5)],
        )
        .await
        .expect("ratings");
    store
        .ingest_dossiers(
            "onegate",
            &[
                // D1: finished 11-30 before due 12-01 17:00, returned 12-01 09:00: trước hạn.
                dossier("D1", "2026-11-25T08:00:00+07:00", &t("17:00"), Some("2026-11-30T10:00:00+07:00"), Some(&t("09:00")), &["001"]),
                // D2: returned exactly at due 12-01 10:00: đúng hạn.
                dossier("D2", "2026-11-28T08:00:00+07:00", &t("10:00"), None, Some(&t("10:00")), &[]),
                // D3: late but returned 11-30, before the period: not counted.
                dossier("D3", "2026-11-20T08:00:00+07:00", "2026-11-29T17:00:00+07:00", None, Some("2026-11-30T18:00:00+07:00"), &[]),
                // D4: due 12-01 15:00, not returned: đang quá hạn.
                dossier("D4", "2026-11-25T08:00:00+07:00", &t("15:00"), None, None, &[]),
                // D5: received 09:10 at counter 1 (ticket 006 in service 09:00–09:20), due 12-05: còn hạn.
                dossier("D5", &t("09:10"), "2026-12-05T17:00:00+07:00", None, None, &[]),
                // D6: due 12-01 16:00, returned 16:30: trễ hạn.
                dossier("D6", "2026-11-26T08:00:00+07:00", &t("16:00"), None, Some(&t("16:30")), &[]),
            ],
        )
        .await
        .expect("dossiers");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.expect("connect");
    // Camera: counter 1 staffed 08:00–09:00 and 09:10–12:00; counter 2 08:00–10:00.
    for (c, a, b) in [(1, "08:00", "09:00"), (1, "09:10", "12:00"), (2, "08:00", "10:00")] {
        sqlx::query("INSERT INTO counter_staffed (camera_id, counter, from_us, to_us) VALUES ('cam', $1, $2, $3)")
            .bind(c)
            .bind(us(a))
            .bind(us(b))
            .execute(&pool)
            .await
            .expect("staffed");
    }
    // Camera waits: 10 min at counter 1 and 20 at counter 2 (HT), 5 at counter 3 (CT); one
    // person never reached a counter (ignored).
    for (i, (c, w)) in [(Some(1), 600.0), (Some(2), 1200.0), (Some(3), 300.0), (None, 900.0)].into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO person_wait (camera_id, person_id, first_seen_us, last_seen_us, wait_s, counter, abandoned) \
             VALUES ('cam', $1, $2, $3, $4, $5, FALSE)",
        )
        .bind(i as i64)
        .bind(us("08:00"))
        .bind(us("09:00"))
        .bind(w)
        .bind(c)
        .execute(&pool)
        .await
        .expect("person_wait");
    }
    // Waiting zone: 5 people at 08:06, 3 at 08:21, 6.5 at 08:41; the `all` zone is not a waiting zone.
    for (zone, m, mean) in [("wz", "08:06", 5.0), ("wz", "08:21", 3.0), ("wz", "08:41", 6.5), ("all", "08:06", 40.0)] {
        sqlx::query("INSERT INTO occupancy_minute (camera_id, zone, minute_us, mean, max, samples) VALUES ('cam', $1, $2, $3, 7, 60)")
            .bind(zone)
            .bind(us(m))
            .bind(mean)
            .execute(&pool)
            .await
            .expect("occupancy");
    }
    store
}

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a value");
    assert!((a - b).abs() < 1e-6, "{a} != {b}");
}

fn group<'a>(r: &'a KpiReport, key: &str) -> &'a GroupKpis {
    r.groups.iter().find(|g| g.group == GroupKey::Text(key.into())).expect("group")
}

async fn day_report(store: &Store, by: GroupBy) -> KpiReport {
    let (from, to) = (us("00:00"), parse_rfc3339("2026-12-02T00:00:00+07:00").expect("t"));
    let now = parse_rfc3339("2026-12-03T00:00:00+07:00").expect("t");
    kpi::report(&store.kpi_input(HALL, from, to, now, &setup()).await.expect("input"), by)
}

#[tokio::test]
async fn queue_kpis_of_the_fixture_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let r = day_report(&store, GroupBy::Field).await;
    let all = &r.total;
    // Arrivals 7; served 001, 002, 006, 007 = 4/7; no-show 003 = 1/7; walkout 004 + 005 = 2/7.
    assert_eq!(all.arrivals, 7);
    assert_eq!((all.served.n, all.served.of), (4, 7));
    assert_eq!((all.no_show.n, all.walkout.n, all.in_queue), (1, 2, 0));
    // Waits (all stays): 5, 18, 10, 15, 10, 2 → mean 60/6 = 10; sorted 2,5,10,10,15,18:
    // p50 rank 3 → 10, p90 rank ⌈5.4⌉ = 6 → 18. Above level: 18 > 15 (HT), 15 > 10 (CT) = 2/6.
    assert_eq!(all.wait_minutes.n, 6);
    close(all.wait_minutes.mean, 10.0);
    close(all.wait_minutes.p50, 10.0);
    close(all.wait_minutes.p90, 18.0);
    close(all.wait_minutes.max, 18.0);
    assert_eq!((all.above_service_level.n, all.above_service_level.of), (2, 6));
    let ht = group(&r, "HT");
    // HT tickets 001–005: served 2/5, no-show 1/5, walkout 2/5. HT stays: 5, 18, 10, 10 (006
    // after transfer) → mean 43/4 = 10.75, p50 rank 2 → 10, p90 rank 4 → 18; above 15: 1/4.
    assert_eq!((ht.arrivals, ht.served.n, ht.no_show.n, ht.walkout.n), (5, 2, 1, 2));
    close(ht.walkout.pct, 40.0);
    close(ht.wait_minutes.mean, 10.75);
    close(ht.wait_minutes.p50, 10.0);
    close(ht.wait_minutes.p90, 18.0);
    assert_eq!((ht.above_service_level.n, ht.above_service_level.of), (1, 4));
    // HT services: 10 (001), 10 (002), 20 (006 after transfer) → mean 40/3, p90 rank 3 → 20.
    close(ht.service_minutes.mean, 40.0 / 3.0);
    close(ht.service_minutes.p90, 20.0);
    let ct = group(&r, "CT");
    // CT: 006 (wait 15, service 5 before its transfer) and 007 (wait 2, service 10).
    close(ct.wait_minutes.mean, 8.5);
    assert_eq!((ct.above_service_level.n, ct.above_service_level.of), (1, 2));
    close(ct.service_minutes.mean, 7.5);
    // Ratings: 2 of 3 satisfied (3/3 yes, 3/5 no, 5/5 yes); response 3 ratings / 4 served.
    assert_eq!((all.satisfaction.n, all.satisfaction.of, all.rating_response.n, all.rating_response.of), (2, 3, 3, 4));
    assert_eq!((ht.satisfaction.n, ht.satisfaction.of, ht.rating_response.of), (1, 2, 2));
    assert_eq!((ct.satisfaction.n, ct.satisfaction.of, ct.rating_response.of), (1, 1, 2));
    // Arrivals per hour: 7 over a 24 h day.
    close(all.arrivals_per_hour, 7.0 / 24.0);
}

#[tokio::test]
async fn grouping_by_counter_hour_and_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let r = day_report(&store, GroupBy::Counter).await;
    let c1 = r.groups.iter().find(|g| g.group == GroupKey::Number(1)).expect("counter 1");
    // Stays called at counter 1: 001 (5), 003 (10), 006 after transfer (10) → mean 25/3.
    close(c1.wait_minutes.mean, 25.0 / 3.0);
    let r = day_report(&store, GroupBy::Hour).await;
    // Queued 08:xx: 001, 002, 003, 006 (CT stay) and 006's HT stay at 08:50 → waits 5, 18, 10,
    // 15, 10; queued 09:00: 007 → 2.
    assert_eq!(group(&r, "08:00").wait_minutes.n, 5);
    assert_eq!(group(&r, "09:00").wait_minutes.n, 1);
    let r = day_report(&store, GroupBy::Day).await;
    assert_eq!(group(&r, "2026-12-01").arrivals, 7);
}

#[tokio::test]
async fn counters_camera_and_littles_law() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let r = day_report(&store, GroupBy::Field).await;
    let c = |n: i64| r.counters.iter().find(|c| c.counter == n).expect("counter");
    // Counter 1: open 07:55–12:00 = 245 min; scheduled 08:00–12:00 = 240; availability 240/240.
    // Services ended there: 001 (10) + 006 (20) = 30 → utilisation 30/245.
    let c1 = c(1);
    assert_eq!((c1.open_source, c1.open_minutes, c1.scheduled_minutes), ("qms", 245.0, 240.0));
    close(c1.availability, 1.0);
    close(c1.utilisation, 30.0 / 245.0);
    // Open ∩ scheduled 08:00–12:00 minus staffed 08:00–09:00, 09:10–12:00 → 10 min unstaffed.
    close(c1.unstaffed_while_open_minutes, 10.0);
    // Counter 2: open 08:00–09:00 and 09:30–11:00 = 150 min, paused 30 min "Đi họp";
    // availability 150/240; service 10 (002) → 10/150. Staffed 08:00–10:00 → unstaffed 10:00–11:00 = 60.
    let c2 = c(2);
    assert_eq!(c2.open_minutes, 150.0);
    assert_eq!(c2.paused_minutes.get("Đi họp"), Some(&30.0));
    close(c2.availability, 150.0 / 240.0);
    close(c2.utilisation, 10.0 / 150.0);
    close(c2.unstaffed_while_open_minutes, 60.0);
    // Counter 3: never reported, so open = schedule (240); no camera watches it.
    let c3 = c(3);
    assert_eq!((c3.open_source, c3.open_minutes), ("schedule", 240.0));
    close(c3.utilisation, 15.0 / 240.0);
    assert_eq!(c3.unstaffed_while_open_minutes, None);
    assert!(c3.note.as_deref().is_some_and(|n| n.contains("no camera")));

    // Camera vs ticket: HT camera (10 + 20)/2 = 15 vs ticket 10.75 → +4.25; CT 5 vs 8.5 → −3.5.
    let cv = |f: &str| r.camera_vs_ticket.iter().find(|c| c.field == f).expect("field");
    close(cv("HT").discrepancy_minutes, 4.25);
    assert_eq!((cv("HT").camera_n, cv("HT").ticket_n), (2, 4));
    close(cv("CT").discrepancy_minutes, -3.5);

    // Without a ticket, tickets waiting at each minute's middle:
    // 08:06:30 → 002 [08:02, 08:20), 003 [08:05, 08:15) = 2; 5 − 2 = 3.
    // 08:21:30 → 004 [08:10, 08:40), 005 [08:20, midnight) = 2; 3 − 2 = 1.
    // 08:41:30 → 005, 006 [08:30, 08:45) = 2; 6.5 − 2 = 4.5.
    // Mean people 14.5/3, tickets 2, gap 8.5/3, max 4.5; the `all` zone is ignored.
    let w = &r.waiting_without_ticket;
    assert_eq!(w.minutes, 3);
    close(w.mean_people, 14.5 / 3.0);
    close(w.mean_waiting_tickets, 2.0);
    close(w.mean_gap, 8.5 / 3.0);
    close(w.max_gap, 4.5);

    // Little's law over the day, CT: stays 006 [08:30, 08:45) and 007 [09:00, 09:02) → ∫ = 17
    // ticket-minutes; λ = 2 arrivals; W_est = 17/2 = 8.5, as measured (15 + 2)/2. L = 17/1440
    // is far below half a person, so it cannot count as trending.
    let ll = r.littles_law.iter().find(|l| l.field == "CT").expect("CT");
    close(ll.estimated_wait_minutes, 8.5);
    close(ll.measured_wait_minutes, 8.5);
    assert_eq!(ll.arrivals, 2);
    close(Some(ll.mean_waiting), 17.0 / 1440.0);
    assert!(!ll.trending);
}

#[tokio::test]
async fn littles_law_flags_a_filling_hall() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let now = parse_rfc3339("2026-12-03T00:00:00+07:00").expect("t");
    let input = store.kpi_input(HALL, us("07:30"), us("08:30"), now, &setup()).await.expect("input");
    let ll = kpi::littles_law(&input);
    let ht = ll.iter().find(|l| l.field == "HT").expect("HT");
    // HT waiting in 07:30–08:30: 001 [08:00, 08:05) 5, 002 [08:02, 08:20) 18, 003 [08:05, 08:15) 10,
    // 004 [08:10, 08:40) 20 of it, 005 [08:20, …) 10 of it → 63 ticket-minutes; L = 63/60 = 1.05.
    // λ = 5 arrivals / 60 min → W_est = 63/5 = 12.6; measured: 5, 18, 10 → 11.
    close(Some(ht.mean_waiting), 1.05);
    close(ht.estimated_wait_minutes, 12.6);
    close(ht.measured_wait_minutes, 11.0);
    assert_eq!((ht.arrivals, ht.measured_n), (5, 3));
    // Halves: 07:30–08:00 has nobody (L = 0), 08:00–08:30 L = 63/30 = 2.1: the hall is filling.
    close(Some(ht.mean_waiting_halves[0]), 0.0);
    close(Some(ht.mean_waiting_halves[1]), 2.1);
    assert!(ht.trending);
}

#[tokio::test]
async fn dossier_on_time_with_both_denominators() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let r = day_report(&store, GroupBy::Field).await;
    let d = &group(&r, "HT").dossiers;
    // Completed in period: D1 betimes, D2 ontime, D6 overtime (D3 was returned the day before).
    assert_eq!((d.betimes, d.ontime, d.overtime, d.overdue), (1, 1, 1, 1));
    // (1 + 1) / 3 completed.
    assert_eq!((d.on_time_of_completed.rate.n, d.on_time_of_completed.rate.of), (2, 3));
    assert!(d.on_time_of_completed.denominator.starts_with("completed in period"));
    // Due in period: D1, D2, D4 (overdue), D6 → on time D1, D2 = 2/4.
    assert_eq!((d.on_time_of_due.rate.n, d.on_time_of_due.rate.of), (2, 4));
    close(d.on_time_of_due.rate.pct, 50.0);
    assert!(d.on_time_of_due.denominator.starts_with("due in period"));
}

#[tokio::test]
async fn ewt_accuracy_on_the_scripted_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(&dir.path().join("db")).await;
    let from = us("00:00");
    let to = parse_rfc3339("2026-12-02T00:00:00+07:00").expect("t");
    let history = store.ewt_history(HALL, from, to, &setup()).await.expect("history");
    let acc = ewt::accuracy(&history, from, to, &EwtSettings::default());
    let ht = acc.iter().find(|a| a.field == "HT").expect("HT");
    // No field has 5 services in the hour before any issue, so every estimate uses the default
    // 10 min: Q1 7.5, Q3 12.5 per ticket ahead per staffed counter, rounded out to 5 min.
    // HT counters 1 and 2 are QMS-open and camera-staffed from 08:00.
    // 001 at 08:00: 0 ahead → 0–5, mid 2.5; wait 5 → error 2.5 (inside the range).
    // 002 at 08:02: 001 waiting (called 08:05): 1 ahead / 2 → 3.75 ⌊0⌋, 6.25 ⌈10⌉; mid 5; wait 18 → 13.
    // 003 at 08:05: 001 called at 08:05, 002 waiting: 1 ahead → 0–10, mid 5; wait 10 → 5 (inside).
    // 004 at 08:10 and 005 at 08:20: never called, nothing to compare.
    // MAE = (2.5 + 13 + 5) / 3; 2 of 3 inside the range.
    assert_eq!((ht.n, ht.not_called, ht.no_counter_staffed), (3, 2, 0));
    close(ht.mae_minutes, 20.5 / 3.0);
    assert_eq!((ht.within_range.n, ht.within_range.of), (2, 3));
    // CT: 006 at 08:30 and 007 at 09:00 see counter 3 (no camera, schedule open): 0 ahead → 0–5,
    // mid 2.5; waits 15 and 2 → errors 12.5 and 0.5; 007 within range.
    let ct = acc.iter().find(|a| a.field == "CT").expect("CT");
    close(ct.mae_minutes, 6.5);
    assert_eq!((ct.within_range.n, ct.within_range.of), (1, 2));

    // At 12:30 counters 1 and 2 are closed.
    let at = |s: &str| ewt::hall_at(&history, us(s));
    let e = ewt::estimate(&at("12:30"), "HT", 0, &EwtSettings::default());
    assert_eq!(e.state, EwtState::NoCounterStaffed);
    // 12:30: 005 still waiting (never called) → 1 ahead, but nobody to call it.
    assert_eq!(e.ahead, 1);
}

async fn segment(store: &Store, cam: &str, from: &str, to: &str) -> i64 {
    let id = store
        .insert_open_segment(&NewSegment {
            camera_id: cam.into(),
            stream: "main".into(),
            path: format!("{cam}/main/{from}.mp4"),
            start_us: us(from),
            gap_before: false,
            clock_source: "receive".into(),
            codec: "avc1.640028".into(),
            width: 640,
            height: 360,
            sample_entry: vec![],
        })
        .await
        .expect("segment");
    let close = SegmentClose { end_us: us(to), frames: 1, bytes: 1, sha256: format!("sha-{from}"), sample_index: vec![], recovered: false };
    store.close_segment(id, &close).await.expect("close");
    id
}

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[tokio::test]
async fn evidence_links_and_their_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hallwatch.db");
    let text = format!(
        "[storage]\ndir = \"{dir}\"\n[[halls]]\nid = \"demo\"\nname = \"Demo\"\n\
         [[cameras]]\nid = \"cam\"\nhall = \"demo\"\nname = \"Sảnh\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1/a\"\n\
         [[cameras.zones]]\nid = \"s1\"\nkind = \"staff\"\ncounter = 1\npolygon = [[0,0],[0.5,0],[0.5,0.5]]\n\
         [[access]]\nname = \"giam-sat\"\nrole = \"supervisor\"\ntoken_sha256 = \"{sup}\"\n\
         [[access]]\nname = \"thanh-tra\"\nrole = \"auditor\"\ntoken_sha256 = \"{aud}\"\n",
        dir = dir.path().display(),
        sup = token_hash("sup-token"),
        aud = token_hash("aud-token"),
    );
    let cfg = Config::parse(&text, Path::new("t.toml")).expect("config");
    let store = fixture(&db).await;
    store.sync_config(&cfg).await.expect("sync");
    // Ticket 006's service at counter 1: called 09:00, finished 09:20 → 08:59:30–09:20:30.
    let mut segs = Vec::new();
    for (a, b) in [("08:40", "08:59"), ("08:59", "09:10"), ("09:10", "09:20"), ("09:20", "09:30"), ("09:31", "09:40")] {
        segs.push(segment(&store, "cam", a, b).await);
    }
    let state = hallwatch::web::AppState::new(
        Arc::new(cfg),
        store.clone(),
        Arc::new(hallwatch::record::storage::Storage::open_shared(dir.path())),
        Arc::new(Vec::new()),
        Arc::new(hallwatch::vision::live::LiveBoard::default()),
        Arc::default(),
    )
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, hallwatch::web::router(state)).await });
    let client = reqwest::Client::new();
    let get = |q: &str, token: Option<&str>| {
        let mut r = client.get(format!("http://{addr}/api/evidence?hall=demo&{q}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get("ticket=006", None).await.expect("anon").status(), 401);
    assert_eq!(get("ticket=006", Some("sup-token")).await.expect("sup").status(), 403);

    let body: serde_json::Value = get("ticket=006", Some("aud-token")).await.expect("aud").json().await.expect("json");
    let clips = body["clips"].as_array().expect("clips");
    // Stay 0 at counter 3: no camera for it. Stay 1 at counter 1: camera from the staff zone.
    assert!(clips[0]["note"].as_str().is_some_and(|n| n.contains("no camera")), "{body}");
    let clip = &clips[1];
    assert_eq!(clip["camera"], "cam");
    assert_eq!(clip["start"], "2026-12-01T01:59:30Z");
    assert_eq!(clip["end"], "2026-12-01T02:20:30Z");
    // Overlapping 08:59:30–09:20:30: segments 08:59, 09:10 and 09:20 (not 08:40–08:59 nor 09:31).
    let ids: Vec<i64> = clip["segments"].as_array().expect("segs").iter().map(|s| s["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, vec![segs[1], segs[2], segs[3]]);
    assert!(clip["url"].as_str().is_some_and(|u| u.starts_with("/api/cameras/cam/recording.mp4?start=2026-12-01T01%3A59%3A30Z")));
    let kinds: Vec<&str> = body["timeline"].as_array().expect("tl").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["ticket.issued", "ticket.called", "ticket.transferred", "ticket.called", "ticket.finished"]);

    // D5 names no ticket: heuristic join to 006, in service at counter 1 at 09:10.
    let body: serde_json::Value = get("dossier=D5", Some("aud-token")).await.expect("d5").json().await.expect("json");
    assert_eq!((body["ticket_id"].as_str(), body["link"].as_str()), (Some("006"), Some("heuristic")));
    // D1 names ticket 001; its timeline shows the dossier's statuses and 001's rating.
    let body: serde_json::Value = get("dossier=D1", Some("aud-token")).await.expect("d1").json().await.expect("json");
    assert_eq!((body["ticket_id"].as_str(), body["link"].as_str()), (Some("001"), Some("recorded")));
    let kinds: Vec<&str> = body["timeline"].as_array().expect("tl").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"dossier.status") && kinds.contains(&"rating"), "{kinds:?}");
    // The dissatisfied rating r2 leads to ticket 002's service at counter 2 (no camera: noted).
    let body: serde_json::Value = get("rating=r2", Some("aud-token")).await.expect("r2").json().await.expect("json");
    assert_eq!((body["ticket_id"].as_str(), body["link"].as_str()), (Some("002"), Some("rating")));

    let audit = store.audit_entries(10).await.expect("audit");
    assert_eq!(audit.iter().filter(|a| a.action == "evidence.lookup").count(), 4);
    assert!(audit.iter().any(|a| a.target == "dossier/demo/D5" && a.actor == "thanh-tra"));

    // Auditors name a ticket by its displayed number on a day: HT001 on 2026-12-01 is ticket
    // 001, with dossier D1 it came from.
    let body: serde_json::Value = get("ticket=HT001&day=2026-12-01", Some("aud-token")).await.expect("HT001").json().await.expect("json");
    assert_eq!((body["ticket_id"].as_str(), body["number"].as_str()), (Some("001"), Some("HT001")), "{body}");
    assert_eq!(body["dossiers"], serde_json::json!(["D1"]), "{body}");

    // The public display needs no token; KPIs need one.
    assert_eq!(client.get(format!("http://{addr}/api/display/demo")).send().await.expect("display").status(), 200);
    let kpi = client.get(format!("http://{addr}/api/kpi?hall=demo&from=2026-12-01&to=2026-12-01&by=counter"));
    assert_eq!(kpi.try_clone().expect("clone").send().await.expect("kpi").status(), 401);
    let body: serde_json::Value = kpi.bearer_auth("sup-token").send().await.expect("kpi").json().await.expect("json");
    assert_eq!(body["total"]["arrivals"], 7);
}

/// A report over sealed days is the same whether the days come from the database or from the
/// store's day cache, and a late write, by this store or by another process on the same
/// database (`hallwatch import`), shows in the next report.
#[tokio::test]
async fn the_day_cache_keeps_sealed_days_and_late_writes_reach_it() {
    use TicketEventKind::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let store = fixture(&db).await;
    let cold = day_report(&store, GroupBy::Counter).await;
    assert!(store.day_cache_rows() > 0, "the fixture day has ended, so its rows are kept");
    assert_eq!(day_report(&store, GroupBy::Counter).await, cold, "served from the cache, the same report");

    // Ticket 099 arrives late: issued 10:00, called 10:04 to counter 3, finished 10:10.
    let late = [
        ev("late-1", "099", Issued, "10:00", "CT", None),
        ev("late-2", "099", Called, "10:04", "CT", Some(3)),
        ev("late-3", "099", Finished, "10:10", "CT", Some(3)),
    ];
    store.ingest_ticket_events("qms", &late).await.expect("late ticket");
    let after = day_report(&store, GroupBy::Counter).await;
    assert_eq!(after.total.arrivals, cold.total.arrivals + 1);
    assert_eq!(after.total.wait_minutes.n, cold.total.wait_minutes.n + 1);
    let services = |r: &KpiReport| r.counters.iter().find(|c| c.counter == 3).map(|c| c.services);
    assert_eq!(services(&after), services(&cold).map(|n| n + 1));
    store.clear_day_cache();
    assert_eq!(day_report(&store, GroupBy::Counter).await, after, "read from the database, the same report");

    // Another process rates ticket 099 (5/5) on the fixture day.
    let other = Store::open(&db).await.expect("second store");
    other.ingest_ratings("tablet", &[rating("late-r", "099", RatingScale::Five, 5)]).await.expect("late rating");
    let rated = day_report(&store, GroupBy::Counter).await;
    assert_eq!(rated.total.satisfaction.of, after.total.satisfaction.of + 1);
    assert_eq!(rated.total.satisfaction.n, after.total.satisfaction.n + 1);
}
