//! Live analysis end to end: the simulated camera serves the PETS clip over RTSP, the
//! real server decodes, detects (real model), tracks and counts, while recording goes on.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

fn demo_clip() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/var/media/vtest.mp4"));
    assert!(p.is_file(), "{} is missing: `make test` runs scripts/setup.sh, which makes it", p.display());
    p
}

fn model() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/yolox_nano.onnx"));
    assert!(p.is_file(), "{} is missing: run scripts/setup.sh", p.display());
    p
}

const ZONE: &str = "[[cameras.zones]]\nid = \"walkway\"\nkind = \"waiting\"\n\
    polygon = [[0.00, 0.33], [0.62, 0.32], [0.85, 0.30], [1.00, 0.30], [1.00, 0.86], [0.80, 0.75], [0.60, 0.62], [0.40, 0.52], [0.20, 0.46], [0.00, 0.42]]\n";

#[tokio::test(flavor = "multi_thread")]
async fn live_counts_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let (port, http) = (free_port(), free_port());
    let sim = std::process::Command::new(bin())
        .args(["sim-camera", "--listen", &format!("127.0.0.1:{port}"), "--mount", "/hall", "--file"])
        .arg(demo_clip())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _sim = Proc(Some(sim));
    std::thread::sleep(Duration::from_secs(2));
    let cams = [Cam { id: "hall", url: format!("rtsp://127.0.0.1:{port}/hall"), transport: "tcp", extra: String::new() }];
    let cfg = config(&storage, http, 10, &cams, "").replace(
        "[[halls]]",
        &format!("[analysis]\nmodel = \"{}\"\nfps = 5\n\n[[halls]]", model().display()),
    ) + ZONE;
    let mut server = Server::start(dir.path(), &cfg, http);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let live: serde_json::Value = reqwest::get(server.url("/api/live")).await.unwrap().json().await.unwrap();
    let v = &live[0];
    assert_eq!(v["camera_id"], "hall", "{live}\n{}", server.log_text());
    let analysed = v["frames_analysed"].as_u64().unwrap();
    assert!(analysed >= 50, "only {analysed} frames analysed in ~18 s at 5 fps: {v}");
    // PETS S2L1 has 3–8 people in view through its first minute; the walkway holds some of them.
    let people = v["people"].as_u64().unwrap();
    assert!((2..=12).contains(&people), "people in view: {v}");
    let walkway = v["zones"]["walkway"].as_u64().unwrap();
    assert!(walkway <= people, "{v}");
    let p99 = v["lag_ms_p99"].as_f64().unwrap();
    assert!(p99 < 1000.0, "live state must follow the frame within 1 s: {v}");
    // Recording is untouched by analysis.
    let cams: serde_json::Value = reqwest::get(server.url("/api/cameras")).await.unwrap().json().await.unwrap();
    assert_eq!(cams[0]["streams"][0]["frames_dropped"], 0, "{cams}");
    assert!(server.proc.signal_and_wait("TERM"), "{}", server.log_text());
    let segs = segments(&storage, "hall").await;
    assert!(segs.len() >= 2 && segs.iter().all(|s| s.state == "closed"));
    // Occupancy went to the database, one sample per second per zone, and the clean stop
    // flushed the open minute and closed the visits.
    let index = store(&storage).await;
    let (from, to) = (now_us() - 120_000_000, now_us());
    let samples = index.occupancy_sample_count("hall", "all", from, to).await.unwrap();
    assert!((12..=30).contains(&samples), "{samples} per-second samples of `all` for ~20 s of analysis");
    let minutes = index.occupancy_minutes("hall", from, to).await.unwrap();
    assert!(minutes.iter().any(|m| m.zone == "walkway"), "{minutes:?}");
    let visits = index.visits("hall", from, to).await.unwrap();
    assert!(visits.iter().all(|v| v.zone == "walkway" && v.exit_us >= v.enter_us), "{visits:?}");
    assert!(!visits.is_empty(), "people walked the walkway: visits expected");
}

#[test]
fn a_different_model_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).unwrap();
    let fake = dir.path().join("model.onnx");
    std::fs::write(&fake, b"not the model").unwrap();
    let cams = [Cam { id: "c", url: "rtsp://127.0.0.1:9/x".into(), transport: "tcp", extra: String::new() }];
    let cfg = config(&storage, free_port(), 10, &cams, "")
        .replace("[[halls]]", &format!("[analysis]\nmodel = \"{}\"\n\n[[halls]]", fake.display()));
    let path = dir.path().join("c.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(bin()).args(["serve", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("sha256"), "{err}");
    // And a missing one names the key.
    let cfg = std::fs::read_to_string(&path).unwrap().replace(&fake.display().to_string(), "/nonexistent/model.onnx");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(bin()).args(["serve", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("analysis.model"), "{err}");
}
