//! `Store::save_analytics` against a real SQLite file: rows round-trip, staffed intervals are
//! upserted open → closed, a minute split across two saves is merged, re-saving is harmless.


use hallwatch::analytics::{
    AnalyticsConfig, AnalyticsOutput, CameraAnalytics, OccupancyMinute, OccupancySample, PersonWait,
    StaffedInterval, Visit, VisitKind,
};
use hallwatch::store::{OccupancyMinuteRow, PersonWaitRow, StaffedRow, Store, VisitRow};
use hallwatch::vision::FrameAnalysis;

const T0: i64 = 1_800_000_000_000_000;
const S: i64 = 1_000_000;

fn empty(camera: &str) -> AnalyticsOutput {
    AnalyticsOutput::empty(camera, T0)
}

#[tokio::test]
async fn save_analytics_round_trips_through_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("index.db")).await.expect("open");

    let mut first = empty("cam-1");
    first.samples = (0..3).map(|i| OccupancySample { zone: "wait".into(), at_us: T0 + i * S, count: 2 }).collect();
    first.minutes = vec![OccupancyMinute { zone: "wait".into(), minute_us: T0, mean: 2.0, max: 2, samples: 30 }];
    first.visits = vec![
        Visit { person_id: 1, track_id: 1, zone: "wait".into(), kind: VisitKind::Waiting, counter: None, enter_us: T0 + 10 * S, exit_us: T0 + 40 * S },
        Visit { person_id: 1, track_id: 2, zone: "svc3".into(), kind: VisitKind::Service, counter: Some(3), enter_us: T0 + 40 * S, exit_us: T0 + 100 * S },
    ];
    first.persons = vec![PersonWait {
        person_id: 1,
        first_seen_us: T0,
        last_seen_us: T0 + 110 * S,
        wait_start_us: Some(T0 + 10 * S),
        service_start_us: Some(T0 + 40 * S),
        wait_s: Some(30.0),
        service_s: Some(60.0),
        counter: Some(3),
        abandoned: false,
    }];
    first.staffed = vec![StaffedInterval { counter: 3, from_us: T0, to_us: None }];
    store.save_analytics(&first).await.expect("save 1");
    // Saving the same rows again (a retry) must not duplicate visits or people.
    let mut retry = first.clone();
    retry.minutes.clear();
    store.save_analytics(&retry).await.expect("save retry");

    let open = store.staffed_intervals("cam-1", T0, T0 + 3600 * S).await.expect("staffed");
    assert_eq!(open, vec![StaffedRow { camera_id: "cam-1".into(), counter: 3, from_us: T0, to_us: None }]);

    // Second save: the interval closes; the rest of the minute arrives (another session).
    let mut second = empty("cam-1");
    second.staffed = vec![StaffedInterval { counter: 3, from_us: T0, to_us: Some(T0 + 100 * S) }];
    second.minutes = vec![OccupancyMinute { zone: "wait".into(), minute_us: T0, mean: 1.0, max: 4, samples: 30 }];
    store.save_analytics(&second).await.expect("save 2");

    let minutes = store.occupancy_minutes("cam-1", T0, T0 + 60 * S).await.expect("minutes");
    assert_eq!(
        minutes,
        vec![OccupancyMinuteRow { camera_id: "cam-1".into(), zone: "wait".into(), minute_us: T0, mean: 1.5, max: 4, samples: 60 }]
    );
    assert_eq!(store.occupancy_sample_count("cam-1", "wait", T0, T0 + 60 * S).await.expect("samples"), 3);

    let visits = store.visits("cam-1", T0, T0 + 3600 * S).await.expect("visits");
    assert_eq!(visits.len(), 2);
    assert_eq!(
        visits[1],
        VisitRow {
            camera_id: "cam-1".into(),
            person_id: 1,
            track_id: 2,
            zone: "svc3".into(),
            kind: "service".into(),
            counter: Some(3),
            enter_us: T0 + 40 * S,
            exit_us: T0 + 100 * S,
        }
    );
    // A range after the visits finds none; other cameras are separate.
    assert!(store.visits("cam-1", T0 + 200 * S, T0 + 300 * S).await.expect("visits").is_empty());
    assert!(store.visits("cam-2", T0, T0 + 3600 * S).await.expect("visits").is_empty());

    let waits = store.person_waits("cam-1", T0, T0 + 3600 * S).await.expect("waits");
    assert_eq!(
        waits,
        vec![PersonWaitRow {
            camera_id: "cam-1".into(),
            person_id: 1,
            first_seen_us: T0,
            last_seen_us: T0 + 110 * S,
            wait_start_us: Some(T0 + 10 * S),
            service_start_us: Some(T0 + 40 * S),
            wait_s: Some(30.0),
            service_s: Some(60.0),
            counter: Some(3),
            abandoned: false,
        }]
    );

    let closed = store.staffed_intervals("cam-1", T0, T0 + 3600 * S).await.expect("staffed");
    assert_eq!(closed, vec![StaffedRow { camera_id: "cam-1".into(), counter: 3, from_us: T0, to_us: Some(T0 + 100 * S) }]);
    // A late duplicate of the opening row must not reopen it.
    store.save_analytics(&first).await.expect("save 1 again");
    let still = store.staffed_intervals("cam-1", T0, T0 + 3600 * S).await.expect("staffed");
    assert_eq!(still[0].to_us, Some(T0 + 100 * S));
    // Outside the interval: nothing.
    assert!(store.staffed_intervals("cam-1", T0 + 200 * S, T0 + 300 * S).await.expect("staffed").is_empty());
}

/// The output of the real analytics (not hand-built) is accepted by the database.
#[tokio::test]
async fn analytics_output_saves_every_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("index.db")).await.expect("open");
    let mut an = CameraAnalytics::new("cam-9", Vec::new(), AnalyticsConfig::default()).expect("valid").with_origin(T0);
    for i in 0..150 {
        let out = an.on_frame(T0 + i * S / 2, &FrameAnalysis::default());
        store.save_analytics(&out).await.expect("save");
    }
    store.save_analytics(&an.finish(T0 + 75 * S)).await.expect("save finish");
    assert_eq!(store.occupancy_sample_count("cam-9", "all", T0, T0 + 75 * S).await.expect("count"), 75);
    let minutes = store.occupancy_minutes("cam-9", T0, T0 + 120 * S).await.expect("minutes");
    let samples: Vec<i64> = minutes.iter().map(|m| m.samples).collect();
    assert_eq!(samples, vec![60, 15]);
}
