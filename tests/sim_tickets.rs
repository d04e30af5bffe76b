//! The ticket simulator against a real server's /api/v1 ingestion API.

mod common;

use std::time::Duration;

use common::{free_port, Server};
use hallwatch::sim::tickets::{run, SimParams, Target};
use sha2::Digest;
use tokio_util::sync::CancellationToken;

const QMS_TOKEN: &str = "test-qms-token";

#[tokio::test]
async fn simulator_posts_a_plausible_hall_through_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let digest = hex::encode(sha2::Sha256::digest(QMS_TOKEN.as_bytes()));
    let cfg = common::config(dir.path(), port, 60, &[], "")
        + &format!("\n[[access]]\nname = \"sim-qms\"\nrole = \"integration\"\ntoken_sha256 = \"{digest}\"\n");
    let server = Server::start(dir.path(), &cfg, port);
    let params = SimParams { hall: "h".into(), rate_per_hour: 40.0, counters: 4, speed: 120.0, camera: None, around_the_clock: true };
    let cancel = CancellationToken::new();
    let sim = tokio::spawn(run(params, Target { url: server.url(""), token: QMS_TOKEN.into() }, 42, cancel.clone()));
    tokio::time::sleep(Duration::from_secs(20)).await;
    cancel.cancel();
    // A 404 or a refused token ends the simulator with an error naming the route.
    sim.await.expect("join").unwrap_or_else(|e| panic!("simulator failed: {e}"));
    // 20 s at ×120 is 40 minutes of hall time: about 27 tickets.
    let store = common::store(dir.path()).await;
    let now = hallwatch::service::now::staff_cameras(&hallwatch::config::Config::load(&server.config).expect("config"), "h");
    let hall = store.hall_now("h", hallwatch::time::now_us(), &now).await.expect("hall now");
    let arrivals: i64 = hall.arrivals_last_hour.values().sum();
    assert!(arrivals >= 10, "{arrivals} tickets arrived; log:\n{}", server.log_text());
    assert_eq!(hall.counters.len(), 4);
    assert!(hall.counters.iter().all(|c| c.open()), "{:?}", hall.counters);
    assert!(!hall.served_today.is_empty(), "nothing served: {hall:?}");
}
