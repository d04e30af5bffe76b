//! Browser tests: the real server (recording the simulated camera) driven by Debian Chromium
//! through playwright-core (tests/browser/*.mjs). Screenshots of every page are kept under
//! `target/screenshots/` as CI artefacts. `scripts/setup.sh test` installs Chromium, Node and
//! playwright-core.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

fn add_user(config: &Path, name: &str, role: &str, password: &str) {
    let (ok, out) = hallwatch_user(config, &["add", name, "--role", role], Some(password));
    assert!(ok, "user add: {out}");
}

/// Runs one browser script; its last stdout line is JSON.
fn run_script(script: &str, args: &[&str]) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "browser tests need Chromium and playwright-core: run scripts/setup.sh test"
    );
    let out = Command::new("node").arg(dir.join(script)).args(args).output().expect("run node (install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("script result JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn auditor_reviews_plays_exports_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let (sim_port, http) = (free_port(), free_port());
    let _sim = sim_camera(sim_port, &["/cam"]);
    let cams = [Cam { id: "sim", url: format!("rtsp://127.0.0.1:{sim_port}/cam"), transport: "tcp", extra: String::new() }];
    let cfg_path = dir.path().join("hallwatch.toml");
    std::fs::write(&cfg_path, service_config(&storage, http, &cams, "").replace("segment_seconds = 10", "segment_seconds = 4"))
        .expect("config");
    add_user(&cfg_path, "thanh-tra", "auditor", "mật khẩu đủ dài");
    add_user(&cfg_path, "giam-sat", "supervisor", "another long one");
    let server = Server::start_with(&cfg_path, dir.path(), http);
    tokio::time::sleep(Duration::from_secs(10)).await;

    // Ticket A023 was served at counter 1, which camera "sim" shows, while it was recording.
    let qms = reqwest::Client::new();
    let now = hallwatch::time::now_us();
    let at = |s: i64| hallwatch::time::to_rfc3339(now - s * 1_000_000);
    let counters = serde_json::json!([{ "hall": "h", "number": 1, "name": "Quầy 1", "fields": ["HT"], "opening_hours": {}, "camera": "sim" }]);
    let r = qms.put(server.url("/api/v1/counters")).bearer_auth(QMS_TOKEN).json(&counters).send().await.expect("counters");
    assert!(r.status().is_success());
    let events = serde_json::json!([
        { "event_id": "1", "hall": "h", "ticket_id": "t-023", "kind": "issued", "at": at(300), "number": "A023", "field": "HT" },
        { "event_id": "2", "hall": "h", "ticket_id": "t-023", "kind": "called", "at": at(7), "counter": 1 },
        { "event_id": "3", "hall": "h", "ticket_id": "t-023", "kind": "finished", "at": at(2), "counter": 1 }]);
    let r = qms.post(server.url("/api/v1/ticket-events")).bearer_auth(QMS_TOKEN).json(&events).send().await.expect("events");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());

    // Role checks without a browser: the review page and the audit log are the auditors'.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let anon = client.get(server.url("/review")).send().await.expect("anon page");
    assert_eq!(anon.status(), 303);
    assert_eq!(client.get(server.url("/api/audit")).send().await.expect("anon audit").status(), 401);
    let login = client
        .post(server.url("/api/login"))
        .json(&serde_json::json!({ "name": "giam-sat", "password": "another long one" }))
        .send()
        .await
        .expect("login");
    let cookie = login.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    for path in ["/review", "/api/audit", "/api/exports"] {
        let r = client.get(server.url(path)).header("cookie", &cookie).send().await.expect("supervisor");
        assert_eq!(r.status(), 403, "{path} must be refused to a supervisor");
    }

    let shots = screenshots();
    let result = run_script("review.mjs", &[&server.url(""), shots.to_str().expect("utf8"), "thanh-tra", "mật khẩu đủ dài"]);
    let clip = result["clip"].as_str().expect("clip");
    let manifest = result["manifest"].as_str().expect("manifest");
    decodes_cleanly(Path::new(clip));
    let key: serde_json::Value = client.get(server.url("/api/exports/key")).send().await.expect("key").json().await.expect("json");
    let (ok, out) = verify_export(Path::new(clip), Path::new(manifest), Some(key["public_key"].as_str().expect("key")));
    assert!(ok, "{out}");

    let store = store(&storage).await;
    let audit = store.audit_entries(200).await.expect("audit");
    let by_auditor = |action: &str| audit.iter().filter(|a| a.actor == "thanh-tra" && a.action == action).count();
    assert!(by_auditor("recording.view") >= 1, "{audit:?}");
    assert_eq!(by_auditor("recording.export"), 1, "{audit:?}");
    assert_eq!(by_auditor("evidence.lookup"), 1, "{audit:?}");
    assert!(audit.iter().any(|a| a.action == "recording.view" && a.purpose.as_deref() == Some("Kiểm tra tự động (browser test)")));
    assert_eq!(
        audit.iter().find(|a| a.action == "recording.export").and_then(|a| a.detail.clone()).map(|d| d.contains(result["sha256"].as_str().unwrap_or("?"))),
        Some(true)
    );
}

const QMS_TOKEN: &str = "test-qms-token";

/// A config with the hall's fields, alerts evaluated every second at all hours, and an
/// integration token for posting service records.
fn service_config(storage: &Path, http: u16, cams: &[Cam<'_>], extra_top: &str) -> String {
    use sha2::Digest;
    let qms = hex::encode(sha2::Sha256::digest(QMS_TOKEN.as_bytes()));
    config(storage, http, 10, cams, "").replace(
        "name = \"Test hall\"\n",
        &format!(
            "name = \"Test hall\"\n[[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n\n{extra_top}\n\
             [alerts]\ninterval_seconds = 1\nactive_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
             active_hours = [[\"00:00\", \"24:00\"]]\n\n\
             [[access]]\nname = \"qms\"\nrole = \"integration\"\ntoken_sha256 = \"{qms}\"\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn supervisor_sees_live_changes_acknowledges_and_changes_the_chart_range() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/yolox_nano.onnx");
    assert!(model.exists(), "needs the model: run scripts/setup.sh test");
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let (sim_port, http) = (free_port(), free_port());
    let sim = Command::new(bin())
        .args(["sim-camera", "--listen", &format!("127.0.0.1:{sim_port}"), "--mount", "/hall", "--file"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("var/media/vtest.mp4"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim camera");
    let _sim = Proc(Some(sim));
    std::thread::sleep(Duration::from_secs(2));
    let zone = "[[cameras.zones]]\nid = \"walkway\"\nkind = \"waiting\"\n\
        polygon = [[0.00, 0.33], [1.00, 0.30], [1.00, 0.86], [0.00, 0.42]]\n";
    let cams = [Cam { id: "hall", url: format!("rtsp://127.0.0.1:{sim_port}/hall"), transport: "tcp", extra: zone.to_owned() }];
    let analysis = format!("[analysis]\nmodel = \"{}\"\nfps = 5\n", model.display());
    let cfg_path = dir.path().join("hallwatch.toml");
    std::fs::write(&cfg_path, service_config(&storage, http, &cams, "")).expect("config");
    let text = std::fs::read_to_string(&cfg_path).expect("read");
    // [analysis] is a top-level table: it goes before the first [[halls]].
    std::fs::write(&cfg_path, text.replacen("[[halls]]", &format!("{analysis}\n[[halls]]"), 1)).expect("config");
    add_user(&cfg_path, "giam-sat", "supervisor", "giám sát viên 2026");
    let _server = Server::start_with(&cfg_path, dir.path(), http);
    let shots = screenshots();
    let r = run_script("dashboard.mjs", &[&_server.url(""), shots.to_str().expect("utf8"), "giam-sat", "giám sát viên 2026", QMS_TOKEN]);
    assert_ne!(r["tile"][0], r["tile"][1], "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn citizen_display_matches_the_api_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let http = free_port();
    let cfg_path = dir.path().join("hallwatch.toml");
    std::fs::write(&cfg_path, service_config(&storage, http, &[], "")).expect("config");
    let mut server = Server::start_with(&cfg_path, dir.path(), http);
    // A small queue: two counters, tickets waiting and one being served.
    let client = reqwest::Client::new();
    let now = hallwatch::time::now_us();
    let t = |m: i64| hallwatch::time::to_rfc3339(now - m * 60_000_000);
    let post = |path: &str, method: reqwest::Method, body: serde_json::Value| {
        client.request(method, server.url(path)).bearer_auth(QMS_TOKEN).json(&body).send()
    };
    let counters = serde_json::json!([
        { "hall": "h", "number": 1, "name": "Quầy 1", "fields": ["HT"], "opening_hours": {} },
        { "hall": "h", "number": 2, "name": "Quầy 2", "fields": ["HT"], "opening_hours": {} }]);
    assert!(post("/api/v1/counters", reqwest::Method::PUT, counters).await.expect("counters").status().is_success());
    let mut events = Vec::new();
    for (i, n) in ["A001", "A002", "A003", "A004"].iter().enumerate() {
        let i = i64::try_from(i).expect("small");
        events.push(serde_json::json!({ "event_id": format!("i{n}"), "hall": "h", "ticket_id": n, "kind": "issued", "at": t(30 - i), "number": n, "field": "HT" }));
    }
    events.push(serde_json::json!({ "event_id": "c1", "hall": "h", "ticket_id": "A001", "kind": "called", "at": t(5), "counter": 2 }));
    let r = post("/api/v1/ticket-events", reqwest::Method::POST, serde_json::Value::Array(events)).await.expect("events");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());

    let shots = screenshots();
    let pid = server.proc.pid().to_string();
    let log = dir.path().join("restarted.log");
    let cfg = cfg_path.to_str().expect("utf8");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/display.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([&server.url(""), shots.to_str().expect("utf8"), &pid, log.to_str().expect("utf8")])
        .arg(bin())
        .args(["serve", "--config", cfg])
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Whatever happened, stop the server the script restarted.
    for line in stdout.lines() {
        if let Some(p) = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["restarted"].as_i64()) {
            let _ = Command::new("kill").arg("-TERM").arg(p.to_string()).status();
        }
    }
    server.proc.0 = None;
    assert!(out.status.success(), "display.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}
