//! Web performance in a real browser (benches/web.mjs, Debian Chromium via playwright-core)
//! against the real server (release build) on loopback: dashboard first paint, the delay from
//! a posted ticket to the dashboard's tile, and the public display's memory after 10,000
//! updates. Needs `scripts/setup.sh test` (Chromium, playwright-core).
//!
//! Run: `make bench` (or `cargo bench --bench web -- --updates 10000`).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

const TOKEN: &str = "bench-qms-token";
const NAME: &str = "bench-supervisor";
const PASSWORD: &str = "bench supervisor password";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn main() {
    let mut updates = 10_000u32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--updates" {
            updates = it.next().and_then(|s| s.parse().ok()).unwrap_or(updates);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let digest = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()));
    let cfg = dir.path().join("hallwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndir = \"{}\"\nmin_free = \"1MB\"\n\
             [[halls]]\nid = \"h\"\nname = \"Bench hall\"\n[[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n\
             [[access]]\nname = \"qms\"\nrole = \"integration\"\ntoken_sha256 = \"{digest}\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let bin = env!("CARGO_BIN_EXE_hallwatch");
    let mut add = Command::new(bin)
        .args(["user", "add", NAME, "--role", "supervisor", "--config"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    writeln!(add.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(add.wait().expect("user add").success(), "user add failed");
    let log = std::fs::File::create(dir.path().join("serve.log")).expect("log");
    let _server = Server(
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve"),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let counters = r#"[{"hall":"h","number":1,"name":"Quầy 1","fields":["HT"],"opening_hours":{}}]"#;
    let st = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-X", "PUT", "-H", "content-type: application/json", "-H", &format!("authorization: Bearer {TOKEN}")])
        .args(["--data", counters, &format!("http://127.0.0.1:{port}/api/v1/counters")])
        .status()
        .expect("curl");
    assert!(st.success(), "could not post counters");
    println!("web benchmark: Debian Chromium (playwright-core) against hallwatch serve on loopback, {updates} display updates");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/web.mjs");
    let st = Command::new("node")
        .arg(script)
        .args([&format!("http://127.0.0.1:{port}"), NAME, PASSWORD, TOKEN, &updates.to_string()])
        .status()
        .expect("node (run scripts/setup.sh test)");
    assert!(st.success(), "web.mjs failed");
}
