//! The alert routes on a real server: who may list, who may acknowledge, and a second
//! acknowledgement is a clear 409. The server's own evaluator raises the alert (storage low,
//! with a threshold no disk meets).

mod common;

use std::time::{Duration, Instant};

use common::{free_port, Server, AUDITOR_TOKEN};
use sha2::Digest;

const SUPERVISOR_TOKEN: &str = "test-supervisor-token";

#[tokio::test]
async fn list_and_acknowledge_with_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let digest = hex::encode(sha2::Sha256::digest(SUPERVISOR_TOKEN.as_bytes()));
    let cfg = common::config(dir.path(), port, 60, &[], "")
        + &format!(
            "\n[alerts]\ninterval_seconds = 1\nactive_days = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]\n\
             active_hours = [[\"00:00\", \"24:00\"]]\nstorage_warning_free = \"1000TB\"\nstorage_critical_free = \"999TB\"\n\
             [[access]]\nname = \"giam-sat\"\nrole = \"supervisor\"\ntoken_sha256 = \"{digest}\"\n"
        );
    let server = Server::start(dir.path(), &cfg, port);
    let http = reqwest::Client::new();
    let list = |token: Option<&'static str>| {
        let mut r = http.get(server.url("/api/alerts?hall=h&state=all"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(list(None).await.expect("get").status(), 401);
    let t0 = Instant::now();
    let alert = loop {
        let rows: Vec<serde_json::Value> = list(Some(AUDITOR_TOKEN)).await.expect("get").json().await.expect("json");
        if let Some(a) = rows.into_iter().find(|a| a["kind"] == "storage_low") {
            break a;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no storage_low alert; log:\n{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(alert["severity"], "critical");
    let id = alert["id"].as_i64().expect("id");
    let ack = |token: &'static str, body: serde_json::Value| http.post(server.url(&format!("/api/alerts/{id}/ack"))).bearer_auth(token).json(&body).send();
    assert_eq!(ack(AUDITOR_TOKEN, serde_json::json!({"note": "x"})).await.expect("post").status(), 403, "auditors look, they do not act");
    assert_eq!(ack(SUPERVISOR_TOKEN, serde_json::json!({"note": "  "})).await.expect("post").status(), 400);
    let r = ack(SUPERVISOR_TOKEN, serde_json::json!({"note": "Đã báo kỹ thuật thay ổ đĩa"})).await.expect("post");
    assert_eq!(r.status(), 200);
    let a: serde_json::Value = r.json().await.expect("json");
    assert_eq!((a["acked_by"].as_str(), a["ack_note"].as_str()), (Some("giam-sat"), Some("Đã báo kỹ thuật thay ổ đĩa")));
    assert!(a["acked_us"].as_i64().is_some());
    let again = ack(SUPERVISOR_TOKEN, serde_json::json!({"note": "again"})).await.expect("post");
    assert_eq!(again.status(), 409);
    let body: serde_json::Value = again.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("already acknowledged by giam-sat")), "{body}");
    assert_eq!(ack(SUPERVISOR_TOKEN, serde_json::json!({"note": "n"})).await.expect("post").status(), 409);
    let missing = http.post(server.url("/api/alerts/999999/ack")).bearer_auth(SUPERVISOR_TOKEN).json(&serde_json::json!({"note": "n"})).send().await.expect("post");
    assert_eq!(missing.status(), 404);
    let bad = http.get(server.url("/api/alerts?state=closed")).bearer_auth(SUPERVISOR_TOKEN).send().await.expect("get");
    assert_eq!(bad.status(), 400);
    // Still open (the disk is still "low"), and acknowledged.
    let open: Vec<serde_json::Value> = http.get(server.url("/api/alerts")).bearer_auth(SUPERVISOR_TOKEN).send().await.expect("get").json().await.expect("json");
    assert!(open.iter().any(|a| a["id"] == id && a["ack_note"].is_string()), "{open:?}");
}
