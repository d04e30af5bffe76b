//! `hallwatch serve`: wires the stages together and runs them until told to stop.
//!
//! Order matters at both ends. Start-up: lock storage → open index → recover crashed
//! segments → start cameras → serve HTTP. Shutdown: stop pulling cameras → every
//! recorder closes and indexes its open segment → stop HTTP → exit. Nothing that
//! reached a recorder is left out of the index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::camera::health::StreamHealth;
use crate::camera::session::{self, Sinks, StreamSpec};
use crate::config::Config;
use crate::record::recorder::{Recorder, RecorderSettings};
use crate::record::storage::{Storage, StorageError};
use crate::record::{recovery, retention};
use crate::sim::camera::{SimCamera, SimCameraOptions, SimError};
use crate::store::{Store, StoreError};
use crate::analytics::CameraAnalytics;
use crate::vision::live::{LiveBoard, Outputs};
use crate::vision::{CameraAnalyzer, DetectError, Detector, Hysteresis, TrackerConfig};
use crate::web::{self, AppState};

/// How many frames may wait for a slow disk before ingest pushes back on the camera.
const RECORD_QUEUE_FRAMES: usize = 1024;
/// How often health goes to the database.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// A failure that stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Storage directory problem.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Database problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `[server] web_dir` holds no pages.
    #[error("server.web_dir: {} has no index.html (run from the HallWatch directory, or set web_dir)", .0.display())]
    WebDir(std::path::PathBuf),
    /// The export signing key is unusable.
    #[error(transparent)]
    ExportKey(#[from] crate::record::export::ExportError),
    /// Recovery failed.
    #[error("crash recovery failed: {0}")]
    Recovery(#[from] recovery::RecoveryError),
    /// The simulated camera did not start.
    #[error("simulated camera: {0}")]
    Sim(#[from] SimError),
    /// The detector could not be loaded (missing or different model file…).
    #[error("analysis: {0}")]
    Detector(#[from] DetectError),
    /// A start-up thread failed.
    #[error("start-up task failed: {0}")]
    Thread(String),
    /// The HTTP port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A stream URL did not parse (validated config makes this unreachable).
    #[error("camera {camera}: bad URL: {source}")]
    Url {
        /// Camera.
        camera: String,
        /// Why.
        source: url::ParseError,
    },
}

/// Runs the server until `cancel` fires, then shuts down cleanly.
pub async fn serve(cfg: Config, cancel: CancellationToken) -> Result<(), ServeError> {
    if !cfg.server.web_dir.join("index.html").is_file() {
        return Err(ServeError::WebDir(cfg.server.web_dir.clone()));
    }
    let storage = Arc::new(Storage::open_exclusive(&cfg.storage.dir)?);
    let store = Store::open(&cfg.storage.database_path()).await?;
    store.set_day_cache_rows(cfg.reports.cache_rows);
    store.sync_config(&cfg).await?;
    let rec = recovery::recover(&store, &storage).await?;
    if rec.recovered + rec.dropped > 0 {
        tracing::warn!(recovered = rec.recovered, dropped = rec.dropped, cut_bytes = rec.truncated_bytes, "recovered segments left open by a crash");
    }

    let sim = match &cfg.simulator {
        Some(s) if s.enabled => {
            let opts = SimCameraOptions { listen: s.listen, file: s.file.clone(), mounts: s.mounts.clone(), credentials: None };
            let sim = tokio::task::spawn_blocking(move || SimCamera::start(opts))
                .await
                .map_err(|e| ServeError::Thread(e.to_string()))??;
            tracing::info!(listen = %s.listen, mounts = ?s.mounts, "simulated camera serving {}", s.file.display());
            Some(sim)
        }
        _ => None,
    };

    // The detector is loaded once (sha256 checked) and shared by every camera's analysis.
    let analysis = cfg.analysis.as_ref().filter(|a| a.enabled && cfg.cameras.iter().any(|c| c.enabled && c.analyze));
    let detector = match analysis {
        Some(a) => {
            let spec = a.model_spec();
            let d = tokio::task::spawn_blocking(move || Detector::load(&spec))
                .await
                .map_err(|e| ServeError::Thread(e.to_string()))??;
            Some(Arc::new(d))
        }
        None => None,
    };
    let board = Arc::new(LiveBoard::default());
    let analysis_stop = Arc::new(AtomicBool::new(false));
    let mut analysers = Vec::new();

    let ingest_cancel = CancellationToken::new();
    let mut healths = Vec::new();
    let mut ingest_tasks = Vec::new();
    let mut recorders = Vec::new();
    for cam in cfg.cameras.iter().filter(|c| c.enabled) {
        let analysed_role = cam.analysis_stream().map(|s| s.role).filter(|_| cam.analyze);
        for s in &cam.streams {
            let analyse = detector.is_some() && analysed_role == Some(s.role);
            if !s.records() && !analyse {
                continue;
            }
            let spec = StreamSpec::from_config(&cam.id, s).map_err(|source| ServeError::Url { camera: cam.id.clone(), source })?;
            let health = Arc::new(StreamHealth::new(&cam.id, s.role.as_str()));
            let mut sinks = Sinks::default();
            if s.records() {
                let (tx, rx) = mpsc::channel(RECORD_QUEUE_FRAMES);
                sinks.record = Some(tx);
                let last_end = store.last_segment_end(&cam.id, s.role.as_str()).await?;
                let recorder = Recorder::new(
                    RecorderSettings {
                        camera_id: cam.id.clone(),
                        stream: s.role.as_str().to_owned(),
                        segment_seconds: cfg.storage.segment_seconds,
                        fragment_ms: cfg.storage.fragment_ms,
                        sync_fragments: cfg.storage.sync_fragments,
                    },
                    storage.clone(),
                    store.clone(),
                    tokio::runtime::Handle::current(),
                    health.clone(),
                    last_end,
                );
                let name = format!("rec-{}-{}", cam.id, s.role);
                let handle = std::thread::Builder::new()
                    .name(name.chars().take(15).collect())
                    .spawn(move || recorder.run(rx))
                    .map_err(|e| ServeError::Thread(e.to_string()))?;
                recorders.push(handle);
            }
            if let (true, Some(det), Some(a)) = (analyse, &detector, analysis) {
                let zones = crate::vision::zones::validate_all(&cam.zones).map_err(|e| ServeError::Thread(e.to_string()))?;
                let analyzer_zones = zones.clone();
                let analyzer = CameraAnalyzer::new(det.clone(), TrackerConfig::default(), zones, Hysteresis::default())
                    .with_tiling(cam.tiling());
                let (sink, feed) = crate::vision::live::feed();
                sinks.analysis = Some(sink);
                let analytics = CameraAnalytics::new(cam.id.clone(), analyzer_zones, a.analytics)
                    .map_err(|e| ServeError::Thread(e.to_string()))?;
                let outputs = Outputs { board: board.clone(), analytics, store: store.clone(), rt: tokio::runtime::Handle::current() };
                let (id, fps, stop) = (cam.id.clone(), a.fps, analysis_stop.clone());
                let handle = std::thread::Builder::new()
                    .name(format!("ana-{}", cam.id).chars().take(15).collect())
                    .spawn(move || crate::vision::live::run_camera(id, feed, analyzer, fps, outputs, stop))
                    .map_err(|e| ServeError::Thread(e.to_string()))?;
                analysers.push(handle);
            }
            tracing::info!(
                camera = %cam.id, stream = %s.role, url = %spec.url, transport = ?spec.transport,
                record = s.records(), analyse, "pulling camera stream"
            );
            ingest_tasks.push(tokio::spawn(session::run(spec, sinks, health.clone(), ingest_cancel.child_token())));
            healths.push(health);
        }
    }
    let healths = Arc::new(healths);

    let bg_cancel = CancellationToken::new();
    let health_task = tokio::spawn(write_health(store.clone(), healths.clone(), bg_cancel.clone()));
    let retention_task = tokio::spawn(retention::run(
        store.clone(),
        storage.clone(),
        retention::Policy::from_config(&cfg),
        Duration::from_secs(u64::from(cfg.storage.retention_interval_seconds)),
        bg_cancel.clone(),
    ));

    let cfg = Arc::new(cfg);
    let changes = Arc::new(crate::notify::Changes::default());
    let alerts_task = tokio::spawn(crate::service::alerts::run(
        store.clone(),
        cfg.clone(),
        storage.clone(),
        healths.clone(),
        changes.clone(),
        bg_cancel.clone(),
    ));

    let listen = cfg.server.listen;
    let mut state = AppState::new(cfg.clone(), store.clone(), storage.clone(), healths.clone(), board.clone(), changes.clone())?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|source| ServeError::Listen { addr: listen, source })?;
    let http_cancel = CancellationToken::new();
    // Event streams never end by themselves; they must end for the graceful shutdown to finish.
    state.shutdown = http_cancel.clone();
    let http = {
        let c = http_cancel.clone();
        tokio::spawn(async move {
            let r = axum::serve(listener, web::router(state)).with_graceful_shutdown(async move { c.cancelled().await }).await;
            if let Err(e) = r {
                tracing::error!("HTTP server failed: {e}");
            }
        })
    };
    tokio::spawn(warm_reports(store.clone(), cfg.clone()));
    let tickets_cancel = CancellationToken::new();
    let tickets_task = cfg.simulator.as_ref().and_then(|s| s.tickets.clone()).filter(|t| t.enabled).map(|t| {
        let params = crate::sim::tickets::SimParams {
            hall: t.hall.clone(),
            rate_per_hour: t.rate_per_hour,
            counters: t.counters,
            speed: t.speed,
            camera: t.camera.clone(),
            around_the_clock: t.around_the_clock,
        };
        let target = crate::sim::tickets::Target { url: format!("http://{listen}"), token: t.resolved_token().unwrap_or_default() };
        let seed = u64::try_from(crate::time::now_us()).unwrap_or_default();
        let c = tickets_cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::sim::tickets::run(params, target, seed, c).await {
                tracing::error!("ticket simulator stopped: {e}");
            }
        })
    });
    tracing::info!("HallWatch is serving on http://{listen}/");
    println!("HallWatch dashboard: http://{listen}/");

    cancel.cancelled().await;
    tickets_cancel.cancel();
    if let Some(t) = tickets_task {
        let _ = t.await;
    }
    tracing::info!("shutting down: closing open segments");
    ingest_cancel.cancel();
    for t in ingest_tasks {
        let _ = t.await;
    }
    // Ingest tasks dropped their senders; each recorder drains, closes its segment, exits.
    analysis_stop.store(true, Ordering::Relaxed);
    let joined = tokio::task::spawn_blocking(move || {
        for a in analysers {
            if a.join().is_err() {
                tracing::error!("an analysis thread panicked");
            }
        }
        for r in recorders {
            if r.join().is_err() {
                tracing::error!("a recorder thread panicked");
            }
        }
    })
    .await;
    if joined.is_err() {
        tracing::error!("waiting for recorders failed");
    }
    bg_cancel.cancel();
    let _ = retention_task.await;
    let _ = alerts_task.await;
    let _ = health_task.await;
    if let Err(e) = store.upsert_health(&healths.iter().map(|h| h.snapshot()).collect::<Vec<_>>()).await {
        tracing::warn!("final health write failed: {e}");
    }
    http_cancel.cancel();
    let _ = http.await;
    if let Some(sim) = sim {
        let _ = tokio::task::spawn_blocking(move || sim.stop()).await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn write_health(store: Store, healths: Arc<Vec<Arc<StreamHealth>>>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
            () = cancel.cancelled() => return,
        }
        let rows: Vec<_> = healths.iter().map(|h| h.snapshot()).collect();
        if let Err(e) = store.upsert_health(&rows).await {
            tracing::warn!("cannot write camera health: {e}");
        }
    }
}

/// Reads the last 31 days of every hall once, so that the dashboard's first week or month
/// report after a start finds the past days in the store's day cache.
async fn warm_reports(store: Store, cfg: Arc<Config>) {
    let now = crate::time::now_us();
    let from = crate::time::local_day_start(now) - 31 * crate::time::DAY_US;
    for h in &cfg.halls {
        let setup = crate::store::HallSetup::from_config(&cfg, &h.id);
        let t0 = std::time::Instant::now();
        match store.kpi_input(&h.id, from, now, now, &setup).await {
            Ok(_) => tracing::info!(hall = %h.id, "report day cache warmed: 31 days read in {:.0?}", t0.elapsed()),
            Err(e) => tracing::warn!(hall = %h.id, "report day cache not warmed: {e}"),
        }
    }
}
