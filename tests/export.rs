//! Clip export end to end: record the simulated camera, export a range with a purpose, download
//! clip and manifest, check them offline with `hallwatch verify-export`, and prove that
//! tampering with either is caught, that altered source footage is refused, that every step is
//! audited, and that only auditors may export.

mod common;

use std::time::Duration;

use common::*;
use hallwatch::time::to_rfc3339;

const SUPERVISOR_TOKEN: &str = "test-supervisor-token";

#[tokio::test(flavor = "multi_thread")]
async fn exports_are_signed_verifiable_audited_and_refuse_altered_footage() {
    use sha2::Digest;
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let (sim_port, http) = (free_port(), free_port());
    let _sim = sim_camera(sim_port, &["/cam"]);
    let cams = [Cam { id: "sim", url: format!("rtsp://127.0.0.1:{sim_port}/cam"), transport: "tcp", extra: String::new() }];
    let sup = hex::encode(sha2::Sha256::digest(SUPERVISOR_TOKEN.as_bytes()));
    let cfg = config(&storage, http, 3, &cams, "")
        + &format!("\n[[access]]\nname = \"sup\"\nrole = \"supervisor\"\ntoken_sha256 = \"{sup}\"\n");
    let server = Server::start(dir.path(), &cfg, http);
    tokio::time::sleep(Duration::from_secs(11)).await;

    let segs: Vec<_> = segments(&storage, "sim").await.into_iter().filter(|s| s.state == "closed").collect();
    assert!(segs.len() >= 2, "{} closed segments; log:\n{}", segs.len(), server.log_text());
    let start = segs[0].start_us + 500_000;
    let end = segs[1].end_us.expect("closed") - 500_000;
    let client = reqwest::Client::new();
    let url = server.url("/api/cameras/sim/exports");
    let body = serde_json::json!({ "start": to_rfc3339(start), "end": to_rfc3339(end), "purpose": "Khiếu nại số 12/2026" });

    assert_eq!(client.post(&url).json(&body).send().await.expect("anon").status(), 401);
    assert_eq!(client.post(&url).bearer_auth(SUPERVISOR_TOKEN).json(&body).send().await.expect("sup").status(), 403);
    let no_purpose = serde_json::json!({ "start": to_rfc3339(start), "end": to_rfc3339(end), "purpose": " " });
    assert_eq!(client.post(&url).bearer_auth(AUDITOR_TOKEN).json(&no_purpose).send().await.expect("no purpose").status(), 400);

    let resp = client.post(&url).bearer_auth(AUDITOR_TOKEN).json(&body).send().await.expect("export");
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap_or_default());
    let created: serde_json::Value = resp.json().await.expect("json");
    let sources = created["manifest"]["body"]["sources"].as_array().expect("sources").clone();
    assert_eq!(sources.len(), 2, "the range spans two segments: {sources:?}");
    assert_eq!(sources[0]["sha256"], serde_json::json!(segs[0].sha256));
    assert_eq!(created["manifest"]["body"]["exported_by"], "auditor");

    let get = |path: String| {
        let client = client.clone();
        let url = server.url(&path);
        async move { client.get(url).bearer_auth(AUDITOR_TOKEN).send().await.expect("download") }
    };
    let clip_resp = get(created["clip_url"].as_str().expect("url").to_owned()).await;
    assert_eq!(clip_resp.status(), 200);
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, clip_resp.bytes().await.expect("clip")).expect("write clip");
    let manifest = dir.path().join("manifest.json");
    let m = get(created["manifest_url"].as_str().expect("url").to_owned()).await.bytes().await.expect("manifest");
    std::fs::write(&manifest, &m).expect("write manifest");
    let (frames, dur) = ffprobe(&clip);
    assert!(frames > 0 && dur > 2.0, "clip {frames} frames, {dur:.2} s");
    decodes_cleanly(&clip);

    let key: serde_json::Value = client.get(server.url("/api/exports/key")).send().await.expect("key").json().await.expect("json");
    let key = key["public_key"].as_str().expect("key").to_owned();
    let (ok, out) = verify_export(&clip, &manifest, Some(&key));
    assert!(ok && out.contains("export verified"), "{out}");
    let (ok, out) = verify_export(&clip, &manifest, Some(&"00".repeat(32)));
    assert!(!ok && out.contains("FAIL signed by the trusted installation key"), "{out}");

    // One flipped byte in the clip, or an edited purpose in the manifest, is caught.
    let mut bytes = std::fs::read(&clip).expect("read clip");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let bad_clip = dir.path().join("bad.mp4");
    std::fs::write(&bad_clip, &bytes).expect("write");
    let (ok, out) = verify_export(&bad_clip, &manifest, Some(&key));
    assert!(!ok && out.contains("FAIL clip sha256"), "{out}");
    let edited = String::from_utf8(m.to_vec()).expect("utf8").replace("Khiếu nại số 12/2026", "Khiếu nại số 13/2026");
    let bad_manifest = dir.path().join("bad.json");
    std::fs::write(&bad_manifest, edited).expect("write");
    let (ok, out) = verify_export(&clip, &bad_manifest, Some(&key));
    assert!(!ok && out.contains("FAIL manifest signature valid"), "{out}");

    // Altered source footage is refused, not exported.
    let victim = storage.join(&segs[0].path);
    let mut seg_bytes = std::fs::read(&victim).expect("read segment");
    let last = seg_bytes.len() - 10;
    seg_bytes[last] ^= 0xff;
    std::fs::write(&victim, seg_bytes).expect("tamper");
    let refused = client.post(&url).bearer_auth(AUDITOR_TOKEN).json(&body).send().await.expect("export");
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.expect("body").contains("does not match its recorded SHA-256"));

    let store = store(&storage).await;
    let audit = store.audit_entries(100).await.expect("audit");
    let exports: Vec<_> = audit.iter().filter(|a| a.action == "recording.export").collect();
    assert_eq!(exports.len(), 1, "{audit:?}");
    assert_eq!(exports[0].purpose.as_deref(), Some("Khiếu nại số 12/2026"));
    assert_eq!(audit.iter().filter(|a| a.action == "export.download").count(), 2);
    // The verify command does not count exported clips as orphan recordings.
    let (_, report) = verify(&server.config);
    assert!(report.contains("ALTERED") && !report.contains("ORPHAN"), "{report}");
}
