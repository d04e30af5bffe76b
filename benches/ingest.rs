//! Ingestion benchmark: ticket events per second through the `/api/v1` API, side by side with
//! the store called directly (the same events, no HTTP), against the target of
//! 5,000 events/s on SQLite.
//!
//! The real server (`hallwatch serve`, release build) runs on loopback with a fresh SQLite
//! database; a load generator (reqwest, keep-alive, `--connections` concurrent clients) posts
//! realistic ticket lifecycles (issued, called, sometimes recalled, started, finished) either
//! one event per request or in batches of 100. The direct peer calls
//! `Store::ingest_ticket_events` with the same events and concurrency on its own fresh
//! database. Each figure is the median of `--rounds` rounds.
//!
//! Run: `make bench` (or `cargo bench --bench ingest -- --events 20000 --connections 8 --rounds 3`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallwatch::service::{TicketEvent, TicketEventIn, TicketEventKind};
use hallwatch::store::Store;
use sha2::Digest;

const TOKEN: &str = "bench-qms-token";
const TARGET: f64 = 5000.0;

struct Args {
    events: usize,
    connections: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut a = Args { events: 20_000, connections: 8, rounds: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--events" => a.events = it.next().and_then(|s| s.parse().ok()).unwrap_or(a.events),
            "--connections" => a.connections = it.next().and_then(|s| s.parse().ok()).unwrap_or(a.connections).max(1),
            "--rounds" => a.rounds = it.next().and_then(|s| s.parse().ok()).unwrap_or(a.rounds).max(1),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// `n` events of realistic lifecycles, ids prefixed with `round` so each round is new data.
fn lifecycles(round: usize, n: usize) -> Vec<TicketEventIn> {
    let mut out = Vec::with_capacity(n);
    let mut t = 0usize;
    while out.len() < n {
        let start = 7 * 3600 + (t * 7) % (9 * 3600);
        let counter = i64::try_from(1 + t % 20).unwrap_or(1);
        let mut steps = vec![(TicketEventKind::Issued, 0), (TicketEventKind::Called, 300 + t % 900)];
        if t.is_multiple_of(7) {
            steps.push((TicketEventKind::Called, 1260)); // a recall
        }
        steps.push((TicketEventKind::ServiceStarted, 1300));
        steps.push((TicketEventKind::Finished, 1300 + 120 + t % 600));
        for (i, (kind, dt)) in steps.into_iter().enumerate() {
            let s = start + dt;
            let issued = kind == TicketEventKind::Issued;
            out.push(TicketEventIn {
                event_id: format!("r{round}-t{t}-{i}"),
                hall: "h".into(),
                ticket_id: format!("r{round}-t{t}"),
                kind,
                at: format!("2026-12-01T{:02}:{:02}:{:02}+07:00", s / 3600, s / 60 % 60, s % 60),
                number: issued.then(|| format!("A{:03}", t % 1000)),
                field: issued.then(|| if t.is_multiple_of(3) { "DD".to_owned() } else { "HT".to_owned() }),
                counter: (!issued).then_some(counter),
                officer: (!issued).then(|| format!("cb{counter:02}")),
                to_field: None,
                to_counter: None,
                channel: issued.then(|| "kiosk".to_owned()),
                priority: None,
            });
        }
        t += 1;
    }
    out.truncate(n);
    out
}

fn config(storage: &Path, port: u16) -> String {
    let digest = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()));
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndir = \"{}\"\nmin_free = \"1MB\"\n\
         [[halls]]\nid = \"h\"\nname = \"Bench hall\"\n[[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n\
         [[halls.fields]]\ncode = \"DD\"\nname = \"Đất đai\"\n\
         [[access]]\nname = \"qms\"\nrole = \"integration\"\ntoken_sha256 = \"{digest}\"\n",
        storage.display()
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080);
    let cfg = dir.join("hallwatch.toml");
    std::fs::write(&cfg, config(dir, port)).expect("write config");
    let log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_hallwatch"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start hallwatch serve");
    let server = Server(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "server did not start; see {}", dir.join("serve.log").display());
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}/api/v1/ticket-events"))
}

/// Runs `work` on each chunk from `connections` concurrent tasks; returns events per second.
async fn drive<T, F, Fut>(chunks: Vec<(usize, T)>, connections: usize, work: F) -> f64
where
    T: Send + Sync + 'static,
    F: Fn(Arc<Vec<(usize, T)>>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let total: usize = chunks.iter().map(|(n, _)| n).sum();
    let chunks = Arc::new(chunks);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (chunks, next, work) = (chunks.clone(), next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= chunks.len() {
                    break;
                }
                work(chunks.clone(), i).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("load task");
    }
    total as f64 / t0.elapsed().as_secs_f64()
}

async fn api_round(url: &str, events: &[TicketEventIn], batch: usize, connections: usize) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().expect("client");
    let chunks: Vec<(usize, Vec<u8>)> = events
        .chunks(batch)
        .map(|c| {
            let body = if batch == 1 { serde_json::to_vec(&c[0]) } else { serde_json::to_vec(c) };
            (c.len(), body.expect("serialize"))
        })
        .collect();
    let url = url.to_owned();
    drive(chunks, connections, move |chunks, i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let resp = client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(chunks[i].1.clone())
                .send()
                .await
                .expect("post");
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert!(status.is_success(), "{status}: {text}");
        }
    })
    .await
}

async fn direct_round(store: &Store, events: &[TicketEventIn], batch: usize, connections: usize) -> f64 {
    let valid: Vec<TicketEvent> = events.iter().map(|e| e.validate().expect("valid event")).collect();
    let chunks: Vec<(usize, Vec<TicketEvent>)> = valid.chunks(batch).map(|c| (c.len(), c.to_vec())).collect();
    let store = store.clone();
    drive(chunks, connections, move |chunks, i| {
        let store = store.clone();
        async move {
            store.ingest_ticket_events("qms", &chunks[i].1).await.expect("ingest");
        }
    })
    .await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let api_dir = tempfile::tempdir().expect("tempdir");
    let direct_dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = start_server(api_dir.path());
    let store = Store::open(&direct_dir.path().join("direct.db")).await.expect("open direct store");
    println!(
        "ingest benchmark: {} ticket events per round, {} concurrent connections, median of {} rounds, fresh SQLite databases (WAL, synchronous=NORMAL)",
        a.events, a.connections, a.rounds
    );
    let mut round = 0;
    for batch in [1usize, 100] {
        let (mut api, mut direct) = (Vec::new(), Vec::new());
        for _ in 0..a.rounds {
            // API and direct alternate within a round so both see the same machine load.
            round += 1;
            api.push(api_round(&url, &lifecycles(round, a.events), batch, a.connections).await);
            direct.push(direct_round(&store, &lifecycles(round, a.events), batch, a.connections).await);
        }
        let (api_m, direct_m) = (median(api.clone()), median(direct.clone()));
        let rounds = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
        println!(
            "batch {batch:>3}: API {api_m:>8.0} events/s [{}]  direct store {direct_m:>8.0} events/s [{}]  API/direct {:.2}  API vs target {TARGET:.0}/s: {:.2}x {}",
            rounds(&api),
            rounds(&direct),
            api_m / direct_m,
            api_m / TARGET,
            if api_m >= TARGET { "MEETS" } else { "MISSES" }
        );
    }
}
