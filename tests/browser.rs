//! Browser tests: the real server (recording the simulated camera) driven by Debian Chromium
//! through playwright-core (tests/browser/*.mjs). Screenshots of every page are kept under
//! `target/screenshots/` as CI artefacts. `scripts/setup.sh test` installs Chromium, Node and
//! playwright-core.

mod common;

use std::io::Write;
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
    let mut child = Command::new(bin())
        .args(["user", "add", name, "--role", role, "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hallwatch user add");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
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
    std::fs::write(&cfg_path, config(&storage, http, 4, &cams, "")).expect("config");
    add_user(&cfg_path, "thanh-tra", "auditor", "mật khẩu đủ dài");
    add_user(&cfg_path, "giam-sat", "supervisor", "another long one");
    let server = Server::start_with(&cfg_path, dir.path(), http);
    tokio::time::sleep(Duration::from_secs(10)).await;

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
    let out = Command::new(bin())
        .args(["verify-export", clip, manifest, "--public-key", key["public_key"].as_str().expect("key")])
        .output()
        .expect("verify-export");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    let store = store(&storage).await;
    let audit = store.audit_entries(200).await.expect("audit");
    let by_auditor = |action: &str| audit.iter().filter(|a| a.actor == "thanh-tra" && a.action == action).count();
    assert!(by_auditor("recording.view") >= 1, "{audit:?}");
    assert_eq!(by_auditor("recording.export"), 1, "{audit:?}");
    assert!(audit.iter().any(|a| a.action == "recording.view" && a.purpose.as_deref() == Some("Kiểm tra tự động (browser test)")));
    assert_eq!(
        audit.iter().find(|a| a.action == "recording.export").and_then(|a| a.detail.clone()).map(|d| d.contains(result["sha256"].as_str().unwrap_or("?"))),
        Some(true)
    );
}
