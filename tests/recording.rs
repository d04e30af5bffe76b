//! End-to-end recording tests against real RTSP servers: HallWatch's own simulated
//! camera (gst-rtsp-server, TCP) and VLC (an independent implementation, UDP only,
//! clients join mid-GOP). Each test runs the real `hallwatch serve` binary.

mod common;

use std::time::Duration;

use common::*;
use hallwatch::store::SegmentRow;

const FPS: f64 = 25.0;

fn seg_secs(s: &SegmentRow) -> f64 {
    secs(s.start_us, s.end_us.expect("closed segment"))
}

/// Every segment is closed, accepted by ffprobe with the indexed frame count and
/// duration, and the segments tile the recorded span without hidden holes.
fn check_segments(storage: &std::path::Path, segs: &[SegmentRow], expect_gaps: usize) {
    assert!(!segs.is_empty(), "no segments");
    for s in segs {
        assert_eq!(s.state, "closed", "segment {} left open", s.id);
        let (frames, dur) = ffprobe(&storage.join(&s.path));
        assert_eq!(frames as i64, s.frames, "segment {} frame count", s.id);
        assert!((dur - seg_secs(s)).abs() < 0.1, "segment {}: ffprobe {dur:.3} s, index {:.3} s", s.id, seg_secs(s));
    }
    let gaps = segs.iter().skip(1).filter(|s| s.gap_before).count();
    assert_eq!(gaps, expect_gaps, "gap flags: {:?}", segs.iter().map(|s| s.gap_before).collect::<Vec<_>>());
    if expect_gaps == 0 {
        let span = secs(segs[0].start_us, segs.last().and_then(|s| s.end_us).expect("end"));
        let sum: f64 = segs.iter().map(seg_secs).sum();
        assert!((sum - span).abs() / span < 0.02, "durations {sum:.2} s cover {span:.2} s of wall time");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_sim_camera_and_vlc_and_plays_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let (sim_port, vlc_port, http) = (free_port(), free_port(), free_port());
    let _sim = sim_camera(sim_port, &["/cam"]);
    let _vlc = vlc(vlc_port);
    let cams = [
        Cam { id: "sim", url: format!("rtsp://127.0.0.1:{sim_port}/cam"), transport: "tcp", extra: String::new() },
        Cam { id: "vlc", url: format!("rtsp://127.0.0.1:{vlc_port}/cam"), transport: "udp", extra: String::new() },
    ];
    let mut server = Server::start(dir.path(), &config(&storage, http, 4, &cams, ""), http);
    tokio::time::sleep(Duration::from_secs(16)).await;

    // Playback while the server runs: a 7.5 s range starting 1.5 s into the first segment.
    let client = reqwest::Client::new();
    for cam in ["sim", "vlc"] {
        let segs = segments(&storage, cam).await;
        let closed: Vec<_> = segs.iter().filter(|s| s.state == "closed").collect();
        assert!(closed.len() >= 2, "{cam}: {} closed segments after 16 s; log:\n{}", closed.len(), server.log_text());
        let start_us = closed[0].start_us + 1_500_000;
        let end_us = start_us + 7_500_000;
        let url = server.url(&format!(
            "/api/cameras/{cam}/recording.mp4?start={}&end={}&purpose=test",
            hallwatch::time::to_rfc3339(start_us),
            hallwatch::time::to_rfc3339(end_us)
        ));
        let anon = client.get(&url).send().await.unwrap();
        assert_eq!(anon.status(), 401, "anonymous playback must be refused");
        let resp = client.get(&url).bearer_auth(AUDITOR_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{cam} playback: {}", resp.text().await.unwrap_or_default());
        let first = resp.headers()["x-recording-start"].to_str().unwrap().to_owned();
        let first_us = hallwatch::time::parse_rfc3339(&first).unwrap();
        let body = resp.bytes().await.unwrap();
        // The file starts at the key frame at or before the requested start (GOP = 1 s).
        assert!(first_us <= start_us && start_us - first_us <= 1_050_000, "{cam}: first frame {first} for start {start_us}");
        let file = dir.path().join(format!("{cam}-play.mp4"));
        std::fs::write(&file, &body).unwrap();
        let (frames, dur) = ffprobe(&file);
        let expect = secs(first_us, end_us);
        assert!((dur - expect).abs() < 0.15, "{cam}: playback lasts {dur:.2} s, expected {expect:.2} s");
        assert!((frames as f64 - dur * FPS).abs() <= 2.0, "{cam}: {frames} frames in {dur:.2} s");
        decodes_cleanly(&file);
        // HTTP Range: a slice in the middle equals the same bytes of the full body.
        let r = client.get(&url).bearer_auth(AUDITOR_TOKEN).header("Range", "bytes=1000-1999").send().await.unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(&r.bytes().await.unwrap()[..], &body[1000..2000]);
    }

    let stop_us = now_us();
    assert!(server.proc.signal_and_wait("TERM"), "server did not stop cleanly; log:\n{}", server.log_text());
    for cam in ["sim", "vlc"] {
        let segs = segments(&storage, cam).await;
        check_segments(&storage, &segs, 0);
        // The clean stop indexed the segment that was open: footage up to the stop is there.
        let last_end = segs.last().and_then(|s| s.end_us).unwrap();
        assert!(secs(last_end, stop_us) < 1.5, "{cam}: last indexed frame {:.2} s before SIGTERM", secs(last_end, stop_us));
    }
    let (ok, out) = verify(&server.config);
    assert!(ok && out.contains("clean"), "verify: {out}");
    let audit = store(&storage).await.audit_entries(10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "recording.view" && a.actor == "auditor" && a.purpose.as_deref() == Some("test")));
}

#[tokio::test(flavor = "multi_thread")]
async fn camera_drop_is_a_gap_and_spares_other_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let (port_a, port_b, http) = (free_port(), free_port(), free_port());
    let mut sim_a = sim_camera(port_a, &["/cam"]);
    let _sim_b = sim_camera(port_b, &["/cam"]);
    let cams = [
        Cam { id: "a", url: format!("rtsp://127.0.0.1:{port_a}/cam"), transport: "tcp", extra: String::new() },
        Cam { id: "b", url: format!("rtsp://127.0.0.1:{port_b}/cam"), transport: "tcp", extra: String::new() },
    ];
    let mut server = Server::start(dir.path(), &config(&storage, http, 4, &cams, ""), http);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let drop_us = now_us();
    let _ = sim_a.signal_and_wait("KILL");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let back_us = now_us();
    let _sim_a2 = sim_camera(port_a, &["/cam"]);
    tokio::time::sleep(Duration::from_secs(10)).await;

    let cams_json: serde_json::Value = reqwest::get(server.url("/api/cameras")).await.unwrap().json().await.unwrap();
    let a = &cams_json[0]["streams"][0];
    assert_eq!(a["state"], "streaming", "camera a after its return: {a}");
    assert!(a["reconnects"].as_i64().unwrap() >= 1, "{a}");
    assert!(a["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");

    // The timeline API shows the outage as a gap.
    let segs_a = segments(&storage, "a").await;
    let url = server.url(&format!(
        "/api/cameras/a/segments?start={}&end={}",
        hallwatch::time::to_rfc3339(segs_a[0].start_us),
        hallwatch::time::to_rfc3339(now_us())
    ));
    let tl: serde_json::Value =
        reqwest::Client::new().get(url).bearer_auth(AUDITOR_TOKEN).send().await.unwrap().json().await.unwrap();
    let gaps = tl["gaps"].as_array().unwrap();
    let outage = gaps.iter().find(|g| {
        let (s, e) = (g["start_us"].as_i64().unwrap(), g["end_us"].as_i64().unwrap());
        s <= drop_us + 1_000_000 && e >= back_us
    });
    assert!(outage.is_some(), "no gap covering the outage in {tl}");

    assert!(server.proc.signal_and_wait("TERM"), "log:\n{}", server.log_text());
    let segs_a = segments(&storage, "a").await;
    check_segments(&storage, &segs_a, 1);
    let resumed = segs_a.iter().find(|s| s.gap_before).unwrap();
    assert!(secs(back_us, resumed.start_us) < 6.0, "recording resumed {:.1} s after the camera returned", secs(back_us, resumed.start_us));
    // Camera b recorded straight through.
    let segs_b = segments(&storage, "b").await;
    check_segments(&storage, &segs_b, 0);
    let span_b = secs(segs_b[0].start_us, segs_b.last().unwrap().end_us.unwrap());
    assert!(span_b > 24.0, "camera b recorded only {span_b:.1} s");
    let (ok, out) = verify(&server.config);
    assert!(ok, "verify: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_loses_at_most_the_fragment_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let (port, http) = (free_port(), free_port());
    let _sim = sim_camera(port, &["/cam"]);
    let cams = [Cam { id: "c", url: format!("rtsp://127.0.0.1:{port}/cam"), transport: "tcp", extra: String::new() }];
    let mut server = Server::start(dir.path(), &config(&storage, http, 60, &cams, ""), http);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let kill_us = now_us();
    assert!(!server.proc.signal_and_wait("KILL"));
    let open = segments(&storage, "c").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, "open", "the segment was mid-write");

    // Restart: recovery completes the open row from the file, then recording goes on.
    let mut server = Server::start_with(&server.config.clone(), dir.path(), http);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(server.proc.signal_and_wait("INT"), "log:\n{}", server.log_text());
    let segs = segments(&storage, "c").await;
    assert!(segs.len() >= 2, "{segs:?}");
    let rec = &segs[0];
    assert!(rec.recovered && rec.state == "closed");
    let lost = secs(rec.end_us.unwrap(), kill_us);
    assert!(lost <= 2.0, "the crash lost {lost:.2} s (fragment is 1 s)");
    assert!(segs[1].gap_before, "the restart gap is flagged");
    check_segments(&storage, &segs, 1);
    let (ok, out) = verify(&server.config);
    assert!(ok && out.contains("clean"), "verify after crash + restart: {out}");
}

/// Unmounts a tmpfs when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(st.success(), "this test needs root to mount a small tmpfs as a disk that fills up");
        Tmpfs(path.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn camera_state(server: &Server) -> serde_json::Value {
    let v: serde_json::Value = reqwest::get(server.url("/api/cameras")).await.unwrap().json().await.unwrap();
    v[0]["streams"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_deletes_oldest_then_refuses_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    let _disk = Tmpfs::mount(&storage, "3m");
    let (port, http) = (free_port(), free_port());
    let _sim = sim_camera(port, &["/cam"]);
    let cams = [Cam { id: "c", url: format!("rtsp://127.0.0.1:{port}/cam"), transport: "tcp", extra: String::new() }];
    // The index lives off the small disk, as recommended for production.
    let db = dir.path().join("index.db");
    let extra = format!("database = \"{}\"", db.display());
    let cfg = config(&storage, http, 2, &cams, &extra).replace("min_free = \"1MB\"", "min_free = \"64KB\"");
    let mut server = Server::start(dir.path(), &cfg, http);
    let index = hallwatch::store::Store::open(&db).await.unwrap();

    // Phase 1: the disk fills; retention deletes the oldest segments and recording goes on.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let deleted = index.deletions(1000).await.unwrap();
    assert!(!deleted.is_empty() && deleted.iter().all(|d| d.reason == "disk"), "{deleted:?}\n{}", server.log_text());
    assert_eq!(camera_state(&server).await["state"], "streaming");

    // Phase 2: an auditor holds everything; nothing may be deleted, so new recording is refused.
    let hold = std::process::Command::new(bin())
        .args(["hold", "add", "--config"])
        .arg(&server.config)
        .args(["--start", "2000-01-01T00:00:00Z", "--end", "2100-01-01T00:00:00Z", "--reason", "thanh tra"])
        .output()
        .unwrap();
    assert!(hold.status.success(), "{}", String::from_utf8_lossy(&hold.stderr));
    let t0 = std::time::Instant::now();
    loop {
        let st = camera_state(&server).await;
        if st["state"] == "storage_full" && st["frames_dropped"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "never reached storage_full: {st}\n{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let held_segments = index.all_segments().await.unwrap().len();
    assert!(reqwest::get(server.url("/api/health")).await.unwrap().status().is_success(), "server must stay up");

    // Phase 3: the hold is released; retention makes room and recording resumes by itself.
    let release = std::process::Command::new(bin())
        .args(["hold", "release", "--config"])
        .arg(&server.config)
        .arg("1")
        .output()
        .unwrap();
    assert!(release.status.success(), "{}", String::from_utf8_lossy(&release.stderr));
    let t0 = std::time::Instant::now();
    loop {
        let segs = index.all_segments().await.unwrap();
        let st = camera_state(&server).await;
        if st["state"] == "streaming" && segs.iter().any(|s| s.gap_before && s.state == "closed") {
            break;
        }
        let brief: Vec<_> = segs.iter().map(|s| (s.id, s.state.clone(), s.gap_before)).collect();
        assert!(t0.elapsed() < Duration::from_secs(30), "recording did not resume: {st} {brief:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(held_segments > 0);
    assert!(server.proc.signal_and_wait("TERM"), "log:\n{}", server.log_text());
    let (ok, out) = verify(&server.config);
    assert!(ok, "index and files disagree after a full disk: {out}");
    for s in index.all_segments().await.unwrap() {
        ffprobe(&storage.join(&s.path));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn camera_credentials_work_and_never_leak() {
    const PASSWORD: &str = "Mk7-secret-pass";
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let (port, http) = (free_port(), free_port());
    let _sim = sim_camera_with(port, &["/cam"], Some(("hallwatch", PASSWORD)));
    let cams = [
        Cam {
            id: "good",
            url: format!("rtsp://127.0.0.1:{port}/cam"),
            transport: "tcp",
            extra: format!("username = \"hallwatch\"\npassword = \"{PASSWORD}\"\n"),
        },
        Cam {
            id: "bad",
            url: format!("rtsp://127.0.0.1:{port}/cam"),
            transport: "tcp",
            extra: "username = \"hallwatch\"\npassword = \"wrong-Pw-123\"\n".into(),
        },
    ];
    let cfg = config(&storage, http, 2, &cams, "");
    let mut server = Server::start(dir.path(), &cfg, http);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let api = reqwest::get(server.url("/api/cameras")).await.unwrap().text().await.unwrap();
    let cams: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(cams[0]["streams"][0]["state"], "streaming", "{api}");
    let bad = &cams[1]["streams"][0];
    assert_eq!(bad["state"], "retrying", "{api}");
    assert!(bad["last_error"].as_str().unwrap_or("").contains("401"), "{bad}");
    assert!(server.proc.signal_and_wait("TERM"));
    assert!(!segments(&storage, "good").await.is_empty());
    assert!(segments(&storage, "bad").await.is_empty());
    let log = server.log_text();
    for secret in [PASSWORD, "wrong-Pw-123"] {
        assert!(!api.contains(secret) && !log.contains(secret), "a camera password leaked");
    }
}
