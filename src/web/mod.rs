//! The HTTP server: JSON API and pages, with access checked from one route table.

pub mod accounts;
mod alerts;
mod api;
mod auth;
mod error;
mod events;
mod ingest;
mod kpi;
mod pages;
mod review;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, get_service, post};
use axum::Router;

use crate::camera::health::StreamHealth;
use crate::config::Config;
use crate::record::storage::Storage;
use crate::store::Store;

pub use auth::{required_access, Access, Actor};
pub use error::ApiError;
pub use ingest::{ApiDoc, Batch, ConflictRef, ErrorBody, IngestReport, RecordError, MAX_BODY_BYTES, MAX_RECORDS};
pub use kpi::parse_bound;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the server runs with.
    pub config: Arc<Config>,
    /// The index database.
    pub store: Store,
    /// The recording directory.
    pub storage: Arc<Storage>,
    /// Live health of every stream being pulled.
    pub health: Arc<Vec<Arc<StreamHealth>>>,
    /// Recent recording views already audited, so a browser's many Range requests
    /// for one view make one audit entry.
    pub audited: Arc<std::sync::Mutex<auth::AuditDedup>>,
    /// Live analysis state of every analysed camera.
    pub live: Arc<crate::vision::live::LiveBoard>,
    /// Cancelled when the server shuts down: ends the live event streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Group-commit writer for ticket events.
    pub tickets: crate::store::TicketWriter,
    /// Halls and field codes records are checked against, built once from the config.
    pub known_halls: Arc<crate::service::import::KnownHalls>,
    /// Version counters that wake live pages.
    pub changes: Arc<crate::notify::Changes>,
    /// The installation's key that signs export manifests.
    pub export_key: Arc<ed25519_dalek::SigningKey>,
}

impl AppState {
    /// The state for a server: the installation's export key is loaded (created on first
    /// use) from the storage directory, and the ticket writer task is started.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        storage: Arc<Storage>,
        health: Arc<Vec<Arc<StreamHealth>>>,
        live: Arc<crate::vision::live::LiveBoard>,
        changes: Arc<crate::notify::Changes>,
    ) -> Result<AppState, crate::record::export::ExportError> {
        let export_key = Arc::new(crate::record::export::installation_key(storage.dir())?);
        let tickets = crate::store::TicketWriter::spawn(store.clone());
        let known_halls = Arc::new(crate::service::import::KnownHalls::from_config(&config));
        Ok(AppState {
            config,
            store,
            storage,
            health,
            audited: Default::default(),
            live,
            export_key,
            changes,
            tickets,
            known_halls,
            shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|s: State<AppState>| pages::page(s, "index.html")))
        .route("/login", get(|s: State<AppState>| pages::page(s, "login.html")))
        .route("/review", get(|s: State<AppState>| pages::page(s, "review.html")))
        .route("/display", get(|s: State<AppState>| pages::page(s, "display.html")))
        .route("/static/{*path}", get_service(tower_http::services::ServeDir::new(&state.config.server.web_dir)))
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/login", post(accounts::login))
        .route("/api/logout", post(accounts::logout))
        .route("/api/me", get(accounts::me))
        .route("/api/cameras", get(api::cameras))
        .route("/api/live", get(api::live))
        .route("/api/events", get(events::events))
        .route("/api/halls", get(kpi::halls))
        .route("/api/display/{hall}/events", get(events::display_events))
        .route("/api/charts/occupancy", get(kpi::occupancy_chart))
        .route("/api/charts/waits", get(kpi::waits_chart))
        .route("/api/hall/{hall}/counters", get(kpi::counters_now))
        .route("/api/cameras/{id}/segments", get(api::segments))
        .route("/api/cameras/{id}/snapshot.jpg", get(api::snapshot))
        .route("/api/cameras/{id}/zones", get(api::zones))
        .route("/api/cameras/{id}/markers", get(kpi::markers))
        .route("/api/cameras/{id}/recording.mp4", get(api::recording))
        .route("/api/cameras/{id}/exports", post(review::create))
        .route("/api/exports", get(review::list))
        .route("/api/audit", get(review::audit))
        .route("/api/exports/key", get(review::key))
        .route("/api/exports/{id}/clip.mp4", get(review::clip))
        .route("/api/exports/{id}/manifest.json", get(review::manifest))
        .route("/api/alerts", get(alerts::list))
        .route("/api/alerts/{id}/ack", post(alerts::ack))
        .merge(ingest::routes())
        .route("/api/kpi", get(kpi::report))
        .route("/api/kpi/ewt-accuracy", get(kpi::ewt_accuracy))
        .route("/api/hall/{hall}/now", get(kpi::hall_now))
        .route("/api/display/{hall}", get(kpi::display))
        .route("/api/evidence", get(kpi::lookup))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::check))
        .fallback(|| async { ApiError::NotFound("no such page".into()) })
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
