//! The `/api/v1` ingestion API against a real server and a real SQLite database:
//! authentication, idempotent replay, out-of-order arrival, hostile input, OpenAPI.

mod common;

use std::path::PathBuf;

use common::service::{config, scalar, table_counts, ADMIN_TOKEN, QMS_TOKEN, SUPERVISOR_TOKEN};
use common::{free_port, Server};
use serde_json::{json, Value};

struct Hall {
    _dir: tempfile::TempDir,
    db: PathBuf,
    server: Server,
    http: reqwest::Client,
}

impl Hall {
    fn start() -> Hall {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let server = Server::start(dir.path(), &config(dir.path(), port), port);
        Hall { db: dir.path().join("hallwatch.db"), _dir: dir, server, http: reqwest::Client::new() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.request(method, self.server.url(path)).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(QMS_TOKEN), body.to_string().into_bytes()).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, Vec::new()).await
    }
}

fn at(minute: u32, second: u32) -> String {
    format!("2026-12-01T08:{minute:02}:{second:02}+07:00")
}

/// A ticket's life: issued, called, recalled, served at counter 3, transferred to DD at
/// counter 5, called there, served. `p` prefixes the ticket and event ids.
fn lifecycle(p: &str) -> Vec<Value> {
    let t = format!("{p}-T");
    let e = |n: u32, kind: &str, extra: Value| {
        let mut v = json!({"event_id": format!("{p}-e{n}"), "hall": "h", "ticket_id": t, "kind": kind});
        if let (Some(o), Some(x)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        v
    };
    vec![
        e(1, "issued", json!({"at": at(0, 0), "number": "A023", "field": "HT", "channel": "kiosk"})),
        e(2, "called", json!({"at": at(6, 0), "counter": 3, "officer": "cb01"})),
        e(3, "called", json!({"at": at(7, 0), "counter": 3, "officer": "cb01"})),
        e(4, "service_started", json!({"at": at(7, 40), "counter": 3, "officer": "cb01"})),
        e(5, "transferred", json!({"at": at(12, 0), "counter": 3, "to_field": "DD", "to_counter": 5})),
        e(6, "called", json!({"at": at(20, 0), "counter": 5, "officer": "cb02"})),
        e(7, "service_started", json!({"at": at(20, 30), "counter": 5, "officer": "cb02"})),
        e(8, "finished", json!({"at": at(31, 0), "counter": 5, "officer": "cb02"})),
    ]
}

#[tokio::test]
async fn authentication_and_openapi() {
    let h = Hall::start();
    let body = json!(lifecycle("auth")[0]).to_string().into_bytes();
    let post = reqwest::Method::POST;
    let (s, v) = h.send(post.clone(), "/api/v1/ticket-events", None, body.clone()).await;
    assert_eq!(s, 401, "{v}");
    let (s, _) = h.send(post.clone(), "/api/v1/ticket-events", Some("not-a-token"), body.clone()).await;
    assert_eq!(s, 401);
    let (s, v) = h.send(post.clone(), "/api/v1/ticket-events", Some(SUPERVISOR_TOKEN), body.clone()).await;
    assert_eq!(s, 403, "{v}");
    let (s, _) = h.get("/api/v1/tickets/h/auth-T", Some(SUPERVISOR_TOKEN)).await;
    assert_eq!(s, 403);
    assert_eq!(table_counts(&h.db).await.iter().map(|(_, n)| n).sum::<i64>(), 0, "refused calls stored nothing");
    let (s, v) = h.send(post.clone(), "/api/v1/ticket-events", Some(QMS_TOKEN), body.clone()).await;
    assert_eq!((s, v["stored"].as_u64()), (200, Some(1)), "{v}");
    // An admin may post too; its records have their own source, so this is not a replay.
    let (s, v) = h.send(post, "/api/v1/ticket-events", Some(ADMIN_TOKEN), body).await;
    assert_eq!((s, v["stored"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(scalar(&h.db, "SELECT COUNT(DISTINCT source) FROM ticket_event").await, 2);

    // The description is public and covers every /api/v1 route the server answers.
    let (s, doc) = h.get("/api/openapi.json", None).await;
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().expect("paths");
    let routes = [
        ("/api/v1/ticket-events", "post"),
        ("/api/v1/dossiers", "post"),
        ("/api/v1/dossier-status", "post"),
        ("/api/v1/ratings", "post"),
        ("/api/v1/counters", "put"),
        ("/api/v1/officers", "put"),
        ("/api/v1/counter-states", "post"),
        ("/api/v1/tickets/{hall}/{ticket_id}", "get"),
    ];
    for (p, m) in routes {
        assert!(paths.get(p).and_then(|x| x.get(m)).is_some(), "{m} {p} not described");
    }
    assert_eq!(paths.keys().filter(|k| k.starts_with("/api/v1/")).count(), routes.len(), "undocumented or unknown paths: {:?}", paths.keys());
    assert!(doc["components"]["schemas"]["TicketEventIn"]["properties"]["event_id"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Posts one of each record kind; returns the (path, method, body) list for replays.
fn everything() -> Vec<(&'static str, reqwest::Method, Value)> {
    vec![
        (
            "/api/v1/counters",
            reqwest::Method::PUT,
            json!([
                {"hall": "h", "number": 3, "name": "Quầy 3", "fields": ["HT"],
                 "opening_hours": {"mon": [["07:30", "11:30"], ["13:30", "17:00"]], "sat": [["07:30", "11:30"]]}},
                {"hall": "h", "number": 5, "name": "Quầy 5", "fields": ["DD", "HT"], "opening_hours": {"mon": [["07:30", "11:30"]]}, "camera": "quay-5"}
            ]),
        ),
        ("/api/v1/officers", reqwest::Method::PUT, json!([{"hall": "h", "id": "cb01", "name": "Nguyễn Văn A"}, {"hall": "h", "id": "cb02", "name": "Trần Thị B"}])),
        (
            "/api/v1/counter-states",
            reqwest::Method::POST,
            json!({"event_id": "cs1", "hall": "h", "counter": 3, "state": "open", "at": at(0, 0), "officer": "cb01"}),
        ),
        ("/api/v1/ticket-events", reqwest::Method::POST, Value::Array(lifecycle("rp"))),
        (
            "/api/v1/dossiers",
            reqwest::Method::POST,
            json!({"hall": "h", "code": "000.00.01.H29-261201-0001", "procedure_code": "2.000635", "procedure_name": "Đăng ký khai sinh",
                   "field": "HT", "channel": "in_person", "received_at": at(10, 0), "due_at": "2026-12-03T17:00:00+07:00",
                   "status": 2, "counter": 3, "officer": "cb01", "tickets": ["rp-T"]}),
        ),
        (
            "/api/v1/dossier-status",
            reqwest::Method::POST,
            json!([{"event_id": "ds1", "hall": "h", "code": "000.00.01.H29-261201-0001", "status": 4, "at": "2026-12-02T09:00:00+07:00"},
                   {"event_id": "ds2", "hall": "h", "code": "000.00.01.H29-261201-0001", "status": 10, "at": "2026-12-03T10:00:00+07:00", "note": "Đã trả"}]),
        ),
        (
            "/api/v1/ratings",
            reqwest::Method::POST,
            json!({"rating_id": "r1", "hall": "h", "at": at(31, 20), "scale": "five", "score": 2, "ticket_id": "rp-T", "counter": 5,
                   "officer": "cb02", "reasons": ["Chờ lâu"], "device_id": "tab-5"}),
        ),
    ]
}

#[tokio::test]
async fn replay_changes_nothing_and_conflicts_are_refused() {
    let h = Hall::start();
    for (path, m, body) in everything() {
        let (s, v) = h.send(m, path, Some(QMS_TOKEN), body.to_string().into_bytes()).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(v["duplicates"], 0, "{path}: {v}");
        assert!(v["stored"].as_u64() > Some(0), "{path}: {v}");
    }
    let before = table_counts(&h.db).await;
    let ticket_before = h.get("/api/v1/tickets/h/rp-T", Some(QMS_TOKEN)).await;
    assert_eq!(scalar(&h.db, "SELECT status FROM dossier").await, 10);
    for (path, m, body) in everything() {
        let n = body.as_array().map_or(1, Vec::len) as u64;
        let (s, v) = h.send(m, path, Some(QMS_TOKEN), body.to_string().into_bytes()).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!((v["stored"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(n)), "{path}: replay must say duplicates: {v}");
    }
    assert_eq!(table_counts(&h.db).await, before, "a replay changed the database");
    assert_eq!(h.get("/api/v1/tickets/h/rp-T", Some(QMS_TOKEN)).await, ticket_before);

    // Same id, different content: refused (409), the rest of the batch stored.
    let mut changed = lifecycle("rp")[7].clone();
    changed["at"] = json!(at(45, 0));
    let fresh = json!({"event_id": "new-e1", "hall": "h", "ticket_id": "new-T", "kind": "issued", "at": at(40, 0), "number": "A024", "field": "HT"});
    let (s, v) = h.post("/api/v1/ticket-events", &json!([fresh, changed])).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["stored"], 1);
    assert_eq!(v["conflicts"], json!([{"index": 1, "id": "rp-e8"}]));
    assert_eq!(h.get("/api/v1/tickets/h/rp-T", Some(QMS_TOKEN)).await, ticket_before, "a conflicting replay changed history");
    let mut r = everything()[6].2.clone();
    r["score"] = json!(5);
    let (s, v) = h.post("/api/v1/ratings", &r).await;
    assert_eq!((s, v["conflicts"][0]["id"].as_str()), (409, Some("r1")), "{v}");
}

#[tokio::test]
async fn out_of_order_events_give_the_same_projection() {
    let h = Hall::start();
    let in_order = lifecycle("in");
    let mut reversed = lifecycle("rev");
    reversed.reverse();
    let (s, v) = h.post("/api/v1/ticket-events", &Value::Array(in_order)).await;
    assert_eq!(s, 200, "{v}");
    // One event per request, newest first: each arrival re-projects the ticket.
    for e in &reversed {
        let (s, v) = h.post("/api/v1/ticket-events", e).await;
        assert_eq!(s, 200, "{v}");
    }
    let (_, a) = h.get("/api/v1/tickets/h/in-T", Some(QMS_TOKEN)).await;
    let (_, b) = h.get("/api/v1/tickets/h/rev-T", Some(ADMIN_TOKEN)).await;
    let strip = |mut v: Value| {
        v["ticket"]["ticket_id"] = Value::Null;
        v
    };
    assert_eq!(strip(a.clone()), strip(b), "projection depends on arrival order");
    // And it is the right one: wait = last call − queued, service = end − last call.
    let x = &a["transactions"];
    let us = |m: u32, s: u32| (i64::from(m) * 60 + i64::from(s)) * 1_000_000;
    let wait0 = x[0]["last_called_us"].as_i64().unwrap() - x[0]["queued_us"].as_i64().unwrap();
    let wait1 = x[1]["last_called_us"].as_i64().unwrap() - x[1]["queued_us"].as_i64().unwrap();
    let service1 = x[1]["end_us"].as_i64().unwrap() - x[1]["last_called_us"].as_i64().unwrap();
    assert_eq!((wait0, wait1, service1), (us(7, 0), us(8, 0), us(11, 0)), "{a}");
    assert_eq!((a["ticket"]["calls"].as_i64(), a["ticket"]["transfers"].as_i64()), (Some(3), Some(1)), "{a}");
    assert_eq!(a["ticket"]["outcome"], "served");
    // The same projection is in the tables the KPIs read.
    let q = "SELECT SUM(last_called_us - queued_us) FROM ticket_transaction WHERE ticket_id = ";
    assert_eq!(scalar(&h.db, &format!("{q}'in-T'")).await, scalar(&h.db, &format!("{q}'rev-T'")).await);
    let (s, _) = h.get("/api/v1/tickets/h/nobody", Some(QMS_TOKEN)).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn hostile_input_is_refused_whole() {
    let h = Hall::start();
    let good = lifecycle("ok");
    let cases: Vec<(&str, Vec<u8>, u16, Value)> = vec![
        ("truncated JSON", br#"[{"event_id": "x", "hall": "h""#.to_vec(), 400, json!({"index": 0})),
        ("not JSON", b"event_id=1&hall=h".to_vec(), 400, json!({"index": 0})),
        ("trailing garbage", format!("{} xyz", good[0]).into_bytes(), 400, json!({"index": 0})),
        ("wrong type", json!([good[0], {"event_id": "x", "hall": "h", "ticket_id": "t", "kind": "called", "at": at(1, 0), "counter": "three"}]).to_string().into_bytes(), 400, json!({"index": 1, "field": "counter"})),
        ("unknown JSON key", json!([good[0], good[1], {"event_id": "x", "hall": "h", "ticket_id": "t", "kind": "removed", "at": at(1, 0), "colour": "red"}]).to_string().into_bytes(), 400, json!({"index": 2})),
        ("unknown kind", json!([{"event_id": "x", "hall": "h", "ticket_id": "t", "kind": "teleported", "at": at(1, 0)}]).to_string().into_bytes(), 400, json!({"index": 0, "field": "kind"})),
        ("unknown hall", json!([good[0], {"event_id": "x", "hall": "elsewhere", "ticket_id": "t", "kind": "removed", "at": at(1, 0)}]).to_string().into_bytes(), 400, json!({"index": 1, "field": "hall"})),
        ("unknown field", json!([good[0], {"event_id": "x", "hall": "h", "ticket_id": "t", "kind": "issued", "at": at(1, 0), "number": "Z1", "field": "XX"}]).to_string().into_bytes(), 400, json!({"index": 1, "field": "field"})),
        ("bad time", json!([good[1], good[0], {"event_id": "x", "hall": "h", "ticket_id": "t", "kind": "removed", "at": "2026-12-01 08:00"}]).to_string().into_bytes(), 400, json!({"index": 2, "field": "at"})),
        ("nul in id", json!({"event_id": "a\u{0}b", "hall": "h", "ticket_id": "t", "kind": "removed", "at": at(1, 0)}).to_string().into_bytes(), 400, json!({"index": 0, "field": "event_id"})),
    ];
    for (what, body, status, first) in cases {
        let (s, v) = h.send(reqwest::Method::POST, "/api/v1/ticket-events", Some(QMS_TOKEN), body).await;
        assert_eq!(s, status, "{what}: {v}");
        let e = &v["errors"][0];
        for (k, want) in first.as_object().into_iter().flatten() {
            assert_eq!(&e[k], want, "{what}: {v}");
        }
        assert!(v["error"].as_str().is_some_and(|m| m.contains("nothing stored")), "{what}: {v}");
    }
    // Every invalid record is listed, not just the first.
    let many = json!([{"event_id": "", "hall": "h", "ticket_id": "t", "kind": "removed", "at": at(1, 0)}, good[0],
                      {"event_id": "y", "hall": "h", "ticket_id": "t", "kind": "called", "at": at(1, 0)}]);
    let (s, v) = h.post("/api/v1/ticket-events", &many).await;
    assert_eq!(s, 400);
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!((v["errors"][1]["index"].as_u64(), v["errors"][1]["field"].as_str()), (Some(2), Some("counter")), "{v}");
    // Counters name the unknown field code inside their list.
    let c = json!({"hall": "h", "number": 1, "name": "Q1", "fields": ["HT", "ZZ"], "opening_hours": {}});
    let (s, v) = h.send(reqwest::Method::PUT, "/api/v1/counters", Some(QMS_TOKEN), c.to_string().into_bytes()).await;
    assert_eq!((s, v["errors"][0]["field"].as_str()), (400, Some("fields[1]")), "{v}");

    // Over 16 MiB: 413 before parsing.
    let huge = format!("[{}]", vec![good[0].to_string(); 120_000].join(","));
    assert!(huge.len() > 16 << 20);
    // Its own connection: the server closes it after refusing the unread body.
    let resp = reqwest::Client::new()
        .post(h.server.url("/api/v1/ticket-events"))
        .bearer_auth(QMS_TOKEN)
        .body(huge)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 413);
    let v: Value = resp.json().await.expect("JSON error body");
    assert!(v["error"].as_str().is_some_and(|m| m.contains("16 MiB")), "{v}");
    // Under 16 MiB but more than 10,000 records.
    let small: Vec<Value> = (0..10_001).map(|i| json!({"hall": "h", "id": format!("o{i}"), "name": "X"})).collect();
    let (s, v) = h.send(reqwest::Method::PUT, "/api/v1/officers", Some(QMS_TOKEN), Value::Array(small).to_string().into_bytes()).await;
    assert_eq!(s, 413, "{v}");

    assert_eq!(table_counts(&h.db).await.iter().map(|(_, n)| n).sum::<i64>(), 0, "hostile input stored something");
    let (s, _) = h.post("/api/v1/ticket-events", &Value::Array(good)).await;
    assert_eq!(s, 200, "the server still works");
}
