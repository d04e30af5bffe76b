//! Retention against a real index database and real files: by age, by bytes, by the
//! free-disk floor, and never a segment under legal hold.

use std::path::Path;

use hallwatch::config::Config;
use hallwatch::record::retention::{run_once, CameraLimits, Policy};
use hallwatch::record::storage::Storage;
use hallwatch::store::{NewSegment, SegmentClose, Store};
use hallwatch::time::now_us;

const DAY: i64 = 86_400 * 1_000_000;
const SIZE: i64 = 10_000;

async fn setup(dir: &Path) -> (Store, Storage) {
    let text = format!(
        "[storage]\ndir = \"{}\"\n[[halls]]\nid = \"h\"\nname = \"H\"\n\
         [[cameras]]\nid = \"a\"\nhall = \"h\"\nname = \"A\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1/a\"\n\
         [[cameras]]\nid = \"b\"\nhall = \"h\"\nname = \"B\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1/b\"\n",
        dir.display()
    );
    let cfg = Config::parse(&text, Path::new("t.toml")).unwrap();
    let store = Store::open(&dir.join("hallwatch.db")).await.unwrap();
    store.sync_config(&cfg).await.unwrap();
    (store, Storage::open_exclusive(dir).unwrap())
}

/// Ten one-hour segments of camera `cam`, the oldest `days_back` days ago, one per day.
async fn make_segments(store: &Store, storage: &Storage, cam: &str, days_back: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..10 {
        let start = now_us() - (days_back - i) * DAY;
        let rel = format!("{cam}/main/{start}.mp4");
        let path = storage.resolve(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![0u8; SIZE as usize]).unwrap();
        let id = store
            .insert_open_segment(&NewSegment {
                camera_id: cam.into(),
                stream: "main".into(),
                path: rel,
                start_us: start,
                gap_before: false,
                clock_source: "receive".into(),
                codec: "avc1.640028".into(),
                width: 640,
                height: 360,
                sample_entry: vec![],
            })
            .await
            .unwrap();
        let close = SegmentClose {
            end_us: start + 3600 * 1_000_000,
            frames: 1,
            bytes: SIZE,
            sha256: "x".into(),
            sample_index: vec![],
            recovered: false,
        };
        store.close_segment(id, &close).await.unwrap();
        ids.push(id);
    }
    ids
}

fn remaining(segs: &[hallwatch::store::SegmentRow], cam: &str) -> Vec<i64> {
    segs.iter().filter(|s| s.camera_id == cam).map(|s| s.id).collect()
}

#[tokio::test]
async fn by_age_keeps_held_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (store, storage) = setup(dir.path()).await;
    let a = make_segments(&store, &storage, "a", 10).await;
    let b = make_segments(&store, &storage, "b", 10).await;
    // Hold camera a's third-oldest segment (day -8) for a complaint.
    let held = store.all_segments().await.unwrap().into_iter().find(|s| s.id == a[2]).unwrap();
    store.add_hold(Some("a"), held.start_us + 1, held.start_us + 2, "khiếu nại 12/2026", "test").await.unwrap();
    let policy = Policy {
        cameras: vec![
            CameraLimits { camera_id: "a".into(), max_days: Some(3), max_bytes: None },
            CameraLimits { camera_id: "b".into(), max_days: None, max_bytes: None },
        ],
        min_free: 0,
    };
    let r = run_once(&store, &storage, &policy).await.unwrap();
    // Days -10..-4 ended more than 3 days ago: 7 segments, one of them held.
    assert_eq!(r.by_age, 6);
    let segs = store.all_segments().await.unwrap();
    let left = remaining(&segs, "a");
    assert!(left.contains(&a[2]), "held segment deleted");
    assert_eq!(left, vec![a[2], a[7], a[8], a[9]]);
    assert_eq!(remaining(&segs, "b"), b, "camera b has no age limit");
    // Deleted files are gone and each deletion is logged with its reason.
    for id in &a[..2] {
        assert!(!segs.iter().any(|s| s.id == *id));
    }
    let log = store.deletions(100).await.unwrap();
    assert_eq!(log.len(), 6);
    assert!(log.iter().all(|d| d.reason == "age" && d.camera_id == "a"));
    let files = std::fs::read_dir(storage.resolve("a/main")).unwrap().count();
    assert_eq!(files, 4);
    // Releasing the hold lets the next pass delete it.
    let hold_id = store.holds().await.unwrap()[0].id;
    assert!(store.release_hold(hold_id, "test").await.unwrap());
    assert_eq!(run_once(&store, &storage, &policy).await.unwrap().by_age, 1);
}

#[tokio::test]
async fn by_bytes_deletes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (store, storage) = setup(dir.path()).await;
    let a = make_segments(&store, &storage, "a", 10).await;
    let oldest = store.all_segments().await.unwrap().into_iter().find(|s| s.id == a[0]).unwrap();
    store.add_hold(None, oldest.start_us, oldest.start_us + 1, "thanh tra", "test").await.unwrap();
    let policy = Policy {
        cameras: vec![CameraLimits { camera_id: "a".into(), max_days: None, max_bytes: Some(5 * SIZE as u64) }],
        min_free: 0,
    };
    let r = run_once(&store, &storage, &policy).await.unwrap();
    assert_eq!(r.by_bytes, 5);
    let left = remaining(&store.all_segments().await.unwrap(), "a");
    // The held oldest stays; then the newest four.
    assert_eq!(left, vec![a[0], a[6], a[7], a[8], a[9]]);
}

#[tokio::test]
async fn free_disk_floor_deletes_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (store, storage) = setup(dir.path()).await;
    let a = make_segments(&store, &storage, "a", 10).await;
    let b = make_segments(&store, &storage, "b", 20).await;
    let keep = store.all_segments().await.unwrap().into_iter().find(|s| s.id == a[9]).unwrap();
    store.add_hold(Some("a"), keep.start_us, keep.end_us.unwrap(), "giữ", "test").await.unwrap();
    // A floor no disk can meet: everything unheld goes, oldest first, then new recording is refused.
    let policy = Policy { cameras: vec![], min_free: u64::MAX };
    assert!(storage.accepting());
    let r = run_once(&store, &storage, &policy).await.unwrap();
    assert_eq!(r.by_disk, 19);
    assert!(r.disk_short);
    assert!(!storage.accepting(), "storage must refuse new segments");
    let log = store.deletions(100).await.unwrap();
    // Oldest first: camera b's segments (20 days back) went before camera a's.
    let order: Vec<i64> = log.iter().rev().map(|d| d.segment_id).collect();
    assert_eq!(&order[..10], &b[..]);
    assert_eq!(remaining(&store.all_segments().await.unwrap(), "a"), vec![a[9]]);
    // Space returns: recording is accepted again.
    let ok = Policy { cameras: vec![], min_free: 0 };
    run_once(&store, &storage, &ok).await.unwrap();
    assert!(storage.accepting());
}
