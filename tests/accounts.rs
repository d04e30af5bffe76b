//! Accounts end to end: `hallwatch user add` → `POST /api/login` → an `HttpOnly` session
//! cookie that carries the account's role through the route table; logout, password change
//! and disabling end sessions; a supervisor account is refused recordings.

mod common;

use common::{config, free_port, hallwatch_user as user, Server};

async fn login(http: &reqwest::Client, server: &Server, name: &str, password: &str) -> reqwest::Response {
    http.post(server.url("/api/login"))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .expect("login request")
}

fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp.headers().get("set-cookie").expect("set-cookie").to_str().expect("ascii").to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    set.split(';').next().expect("cookie pair").to_owned()
}

#[tokio::test]
async fn people_log_in_and_roles_follow_their_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("rec");
    std::fs::create_dir_all(&storage).expect("mkdir");
    let port = free_port();
    let cfg_text = config(&storage, port, 60, &[], "");
    let cfg = dir.path().join("hallwatch.toml");
    std::fs::write(&cfg, &cfg_text).expect("write config");

    let (ok, out) = user(&cfg, &["add", "lan", "--role", "auditor"], Some("correct horse battery"));
    assert!(ok, "{out}");
    let (ok, out) = user(&cfg, &["add", "minh", "--role", "supervisor"], Some("another long secret"));
    assert!(ok, "{out}");
    let (ok, out) = user(&cfg, &["add", "lan", "--role", "auditor"], Some("correct horse battery"));
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = user(&cfg, &["add", "x", "--role", "auditor"], Some("short"));
    assert!(!ok && out.contains("10 characters"), "{out}");
    let (ok, out) = user(&cfg, &["add", "y", "--role", "root"], Some("long enough password"));
    assert!(!ok && out.contains("--role"), "{out}");

    let server = Server::start_with(&cfg, dir.path(), port);
    let http = reqwest::Client::new();
    let segments = server.url("/api/cameras/none/segments");

    // Wrong password and unknown name look the same.
    let bad = login(&http, &server, "lan", "wrong password!").await;
    assert_eq!(bad.status(), 401);
    let nobody = login(&http, &server, "nobody", "wrong password!").await;
    assert_eq!(nobody.status(), 401);
    assert_eq!(bad.text().await.expect("body"), nobody.text().await.expect("body"));

    let ok = login(&http, &server, "lan", "correct horse battery").await;
    assert_eq!(ok.status(), 200);
    let auditor = session_cookie(&ok);
    let me: serde_json::Value =
        http.get(server.url("/api/me")).header("cookie", &auditor).send().await.expect("me").json().await.expect("json");
    assert_eq!(me["role"], "auditor");
    // The auditor passes the role check and reaches the handler, which then finds fault with
    // the request itself (no such camera, no time range).
    let r = http.get(&segments).header("cookie", &auditor).send().await.expect("segments");
    assert!(![401, 403].contains(&r.status().as_u16()), "{}", r.status());

    let sup = session_cookie(&login(&http, &server, "minh", "another long secret").await);
    let r = http.get(&segments).header("cookie", &sup).send().await.expect("segments");
    assert_eq!(r.status(), 403, "a supervisor may not browse recordings");
    assert_eq!(http.get(&segments).send().await.expect("anon").status(), 401);
    let forged = "hw_session=".to_owned() + &"ab".repeat(32);
    assert_eq!(http.get(&segments).header("cookie", forged).send().await.expect("forged").status(), 401);

    // Logout ends the session server-side: replaying the old cookie fails.
    let out = http.post(server.url("/api/logout")).header("cookie", &auditor).send().await.expect("logout");
    assert_eq!(out.status(), 200);
    assert_eq!(http.get(&segments).header("cookie", &auditor).send().await.expect("after logout").status(), 401);

    // Disabling an account ends its live sessions and its logins.
    let (ok, out) = user(&cfg, &["disable", "minh"], None);
    assert!(ok, "{out}");
    assert_eq!(http.get(server.url("/api/me")).header("cookie", &sup).send().await.expect("me").status(), 401);
    assert_eq!(login(&http, &server, "minh", "another long secret").await.status(), 401);

    // A password change ends sessions too, and the new password works.
    let again = session_cookie(&login(&http, &server, "lan", "correct horse battery").await);
    let (ok, out) = user(&cfg, &["passwd", "lan"], Some("a brand new passphrase"));
    assert!(ok, "{out}");
    assert_eq!(http.get(server.url("/api/me")).header("cookie", &again).send().await.expect("me").status(), 401);
    assert_eq!(login(&http, &server, "lan", "a brand new passphrase").await.status(), 200);

    let (ok, out) = user(&cfg, &["list"], None);
    assert!(ok && out.contains("lan\tauditor\tactive") && out.contains("minh\tsupervisor\tdisabled"), "{out}");
}
