//! Service-record ingestion against a real SQLite file: idempotent replay, conflicts, events
//! arriving out of order, dossier status arriving before its dossier, and the hall-now state.

use std::collections::BTreeMap;

use hallwatch::service::{
    Channel, CounterIn, CounterStateIn, CounterStateKind, DossierIn, DossierStatus, DossierStatusIn, TicketEvent,
    TicketEventIn, TicketEventKind,
};
use hallwatch::store::{Ingested, Store};
use hallwatch::time::parse_rfc3339;

fn ev(id: &str, ticket: &str, kind: TicketEventKind, at: &str, counter: Option<i64>) -> TicketEvent {
    TicketEventIn {
        event_id: id.into(),
        hall: "demo".into(),
        ticket_id: ticket.into(),
        kind,
        at: at.into(),
        number: (kind == TicketEventKind::Issued).then(|| format!("A{ticket}")),
        field: (kind == TicketEventKind::Issued).then(|| "HT".into()),
        counter,
        officer: None,
        to_field: None,
        to_counter: None,
        channel: None,
        priority: None,
    }
    .validate()
    .expect("valid event")
}

async fn count(store_path: &std::path::Path, sql: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", store_path.display())).await.expect("connect");
    sqlx::query_scalar(sql).fetch_one(&pool).await.expect("query")
}

#[tokio::test]
async fn replay_is_idempotent_and_order_does_not_matter() {
    use TicketEventKind::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("index.db");
    let store = Store::open(&db).await.expect("open");
    let events = vec![
        ev("e1", "001", Issued, "2026-12-01T08:00:00+07:00", None),
        ev("e2", "001", Called, "2026-12-01T08:10:00+07:00", Some(4)),
        ev("e3", "001", Called, "2026-12-01T08:12:00+07:00", Some(4)),
        ev("e4", "001", Finished, "2026-12-01T08:20:00+07:00", Some(4)),
    ];
    let mut reversed = events.clone();
    reversed.reverse();
    // One at a time, newest first: the worst order a flaky link can produce.
    for e in &reversed {
        assert_eq!(store.ingest_ticket_events("qms", std::slice::from_ref(e)).await.expect("ingest"), vec![Ingested::Stored]);
    }
    let p = store.ticket("demo", "001").await.expect("ticket").expect("exists");
    assert_eq!(p.transactions[0].wait_us(), Some(12 * 60_000_000));
    assert_eq!(p.transactions[0].service_us(), Some(8 * 60_000_000));

    let again = store.ingest_ticket_events("qms", &events).await.expect("replay");
    assert!(again.iter().all(|r| *r == Ingested::Duplicate), "{again:?}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM ticket_event").await, 4);

    let mut changed = events[1].clone();
    changed.counter = Some(5);
    assert_eq!(store.ingest_ticket_events("qms", &[changed]).await.expect("conflict"), vec![Ingested::Conflict]);
    // The same id from another source is another event.
    let other = store.ingest_ticket_events("other-qms", &events[..1]).await.expect("other source");
    assert_eq!(other, vec![Ingested::Stored]);
    assert_eq!(store.ticket("demo", "001").await.expect("ticket").expect("exists"), p);
}

#[tokio::test]
async fn dossier_status_may_arrive_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("index.db");
    let store = Store::open(&db).await.expect("open");
    let status = DossierStatusIn {
        event_id: "s1".into(),
        hall: "demo".into(),
        code: "000.00.01.H29-261201-0001".into(),
        status: DossierStatus(4),
        at: "2026-12-01T10:00:00+07:00".into(),
        officer: None,
        note: None,
    }
    .validate()
    .expect("valid");
    store.ingest_dossier_statuses("onegate", &[status]).await.expect("status");
    let dossier = DossierIn {
        hall: "demo".into(),
        code: "000.00.01.H29-261201-0001".into(),
        procedure_code: "2.000635".into(),
        procedure_name: "Đăng ký khai sinh".into(),
        field: "HT".into(),
        channel: Channel::InPerson,
        received_at: "2026-12-01T08:30:00+07:00".into(),
        due_at: "2026-12-03T17:00:00+07:00".into(),
        returned_at: None,
        finished_at: None,
        extended: false,
        status: DossierStatus(2),
        status_at: None,
        counter: Some(4),
        officer: None,
        tickets: vec!["001".into()],
    }
    .validate()
    .expect("valid");
    assert_eq!(store.ingest_dossiers("onegate", std::slice::from_ref(&dossier)).await.expect("dossier"), vec![Ingested::Stored]);
    assert_eq!(count(&db, "SELECT status FROM dossier").await, 4, "the later status event wins over the older snapshot");
    assert_eq!(store.ingest_dossiers("onegate", &[dossier]).await.expect("replay"), vec![Ingested::Duplicate]);
}

#[tokio::test]
async fn hall_now_joins_queue_counters_and_camera() {
    use TicketEventKind::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("index.db")).await.expect("open");
    let hours: hallwatch::service::OpeningHours =
        serde_json::from_str(r#"{"tue":[["07:30","11:30"]]}"#).expect("hours");
    let counters: Vec<CounterIn> = (1..=2)
        .map(|n| CounterIn {
            hall: "demo".into(),
            number: n,
            name: format!("Quầy {n}"),
            fields: vec!["HT".into()],
            opening_hours: hours.clone(),
            camera: None,
        })
        .collect();
    store.ingest_counters(&counters).await.expect("counters");
    let paused = CounterStateIn {
        event_id: "c2".into(),
        hall: "demo".into(),
        counter: 2,
        state: CounterStateKind::Paused,
        at: "2026-12-01T08:00:00+07:00".into(),
        reason: Some("Đi họp".into()),
        officer: None,
    }
    .validate()
    .expect("valid");
    store.ingest_counter_states("qms", &[paused]).await.expect("state");
    store
        .ingest_ticket_events(
            "qms",
            &[
                ev("1", "001", Issued, "2026-12-01T08:00:00+07:00", None),
                ev("2", "001", Called, "2026-12-01T08:05:00+07:00", Some(1)),
                ev("3", "001", Finished, "2026-12-01T08:15:00+07:00", Some(1)),
                ev("4", "002", Issued, "2026-12-01T08:10:00+07:00", None),
                ev("5", "002", Called, "2026-12-01T08:16:00+07:00", Some(1)),
                ev("6", "003", Issued, "2026-12-01T08:20:00+07:00", None),
            ],
        )
        .await
        .expect("events");
    let at = parse_rfc3339("2026-12-01T08:30:00+07:00").expect("time");
    let cams: BTreeMap<i64, String> = [(1, "cam".to_owned())].into_iter().collect();
    let now = store.hall_now("demo", at, &cams).await.expect("now");
    assert_eq!(now.waiting("HT").count(), 1);
    assert_eq!(now.queued.len(), 2);
    assert_eq!(now.served_today.get("HT"), Some(&1));
    assert_eq!(now.arrivals_last_hour.get("HT"), Some(&3));
    assert_eq!(now.recent.len(), 1);
    assert_eq!(now.recent[0].service_us, 10 * 60_000_000);
    let c1 = &now.counters[0];
    assert!(c1.scheduled_open && c1.open());
    assert_eq!(c1.camera_staffed, Some(false), "no staffed interval recorded");
    assert!(!c1.staffed());
    assert_eq!(c1.current_ticket.as_deref(), Some("A002"));
    let c2 = &now.counters[1];
    assert_eq!(c2.qms_state.as_deref(), Some("paused"));
    assert_eq!(c2.reason.as_deref(), Some("Đi họp"));
    assert!(!c2.open() && c2.camera_staffed.is_none());
}
