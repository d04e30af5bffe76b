//! The `/api/v1` ingestion API: service records posted by the hall's systems, and its
//! OpenAPI description at `/api/openapi.json`.
//!
//! Handlers stay thin: parse the body (naming the JSON path of a syntax or type error),
//! validate the whole batch (nothing is stored if any record is invalid), then hand the batch
//! to the store, which makes it idempotent per source and re-projects tickets whatever order
//! their events arrive in. The caller's token name is the source.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{OpenApi, ToSchema};

use super::{Actor, ApiError, AppState};
use crate::service::import::Record;
use crate::service::ticket::Projection;
use crate::service::{
    Channel, CounterIn, CounterStateIn, CounterStateKind, DossierIn, DossierStatus, DossierStatusIn, OfficerIn,
    RatingIn, RatingScale, TicketEventIn, TicketEventKind,
};
use crate::store::{Ingested, StoreError};

/// Largest request body: 10,000 records of a few hundred bytes each fit with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most records in one request.
pub const MAX_RECORDS: usize = 10_000;

/// The ingestion routes (access rules are in `web::auth`'s table like every route).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ticket-events", post(ticket_events))
        .route("/api/v1/dossiers", post(dossiers))
        .route("/api/v1/dossier-status", post(dossier_status))
        .route("/api/v1/ratings", post(ratings))
        .route("/api/v1/counters", put(counters))
        .route("/api/v1/officers", put(officers))
        .route("/api/v1/counter-states", post(counter_states))
        .route("/api/v1/tickets/{hall}/{ticket_id}", get(ticket))
        .route("/api/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// One record, or an array of up to 10,000: the request body, as clients build it and the
/// OpenAPI description shows it. Handlers parse the two shapes directly (see `parse`) so an
/// error keeps its JSON path.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Batch<T> {
    /// A single record.
    One(T),
    /// Several records (at most 10,000), stored in one transaction.
    Many(Vec<T>),
}

/// What became of a batch (HTTP 200, or 409 when `conflicts` is not empty).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestReport {
    /// Records stored: new, or (counters, officers, dossiers) created or changed.
    pub stored: usize,
    /// Records already stored with the same content: a replay, nothing changed.
    pub duplicates: usize,
    /// Records whose id is already stored with different content: refused, the rest stored.
    pub conflicts: Vec<ConflictRef>,
}

/// A refused record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConflictRef {
    /// Position in the posted array (0 for a single object).
    pub index: usize,
    /// The record's id (`event_id`, `rating_id`, dossier `code`…).
    pub id: String,
}

/// An error answer. Invalid records and malformed JSON list every problem in `errors`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// One entry per problem, when the body was at fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RecordError>,
}

/// One problem with one record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordError {
    /// Position in the posted array (0 for a single object).
    pub index: usize,
    /// The field at fault (a JSON path below the record, e.g. `opening_hours.mon[0]`), or empty for the record as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn error(status: StatusCode, error: String, errors: Vec<RecordError>) -> Response {
    (status, Json(ErrorBody { error, errors })).into_response()
}

/// Splits a serde path such as `[3].opening_hours.mon` into the record index and the field below it.
fn split_path(path: &str) -> (usize, String) {
    if let Some(rest) = path.strip_prefix('[') {
        if let Some((n, tail)) = rest.split_once(']') {
            if let Ok(i) = n.parse() {
                return (i, tail.trim_start_matches('.').to_owned());
            }
        }
    }
    (0, if path == "." { String::new() } else { path.to_owned() })
}

/// Parses one object or an array of them, naming the JSON path of any error.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ErrorBody> {
    let bad = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        let (index, field) = split_path(&path);
        let message = e.inner().to_string();
        ErrorBody { error: format!("malformed JSON at `{path}`: {message}; nothing stored"), errors: vec![RecordError { index, field, message }] }
    };
    // The first significant byte says which shape was sent; parsing each shape directly
    // (rather than an untagged enum) keeps serde's precise message and path.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let mut de = serde_json::Deserializer::from_slice(body);
    let records = if first == Some(&b'[') {
        serde_path_to_error::deserialize::<_, Vec<T>>(&mut de).map_err(bad)?
    } else {
        vec![serde_path_to_error::deserialize::<_, T>(&mut de).map_err(bad)?]
    };
    de.end().map_err(|e| {
        let message = e.to_string();
        ErrorBody { error: format!("malformed JSON: {message}; nothing stored"), errors: vec![RecordError { index: 0, field: String::new(), message }] }
    })?;
    Ok(records)
}

/// The whole ingestion path shared by every endpoint: body → records → validated batch → store.
async fn ingest<T, F, Fut>(st: &AppState, body: Result<Bytes, BytesRejection>, store: F) -> Response
where
    T: Record + DeserializeOwned,
    F: FnOnce(Vec<T::Valid>) -> Fut,
    Fut: Future<Output = Result<Vec<Ingested>, StoreError>>,
{
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} MiB; send at most {MAX_RECORDS} records per request", MAX_BODY_BYTES >> 20),
                vec![],
            );
        }
        Err(e) => return error(e.status(), format!("cannot read the request body: {e}"), vec![]),
    };
    let records: Vec<T> = match parse(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(e)).into_response(),
    };
    if records.len() > MAX_RECORDS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} records in one request; at most {MAX_RECORDS}, nothing stored", records.len()),
            vec![],
        );
    }
    let known = &st.known_halls;
    let mut valid = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for (index, r) in records.iter().enumerate() {
        match r.check(known) {
            Ok(v) => valid.push(v),
            Err(e) => errors.push(RecordError { index, field: e.field, message: e.message }),
        }
    }
    if !errors.is_empty() {
        return error(StatusCode::BAD_REQUEST, format!("{} invalid record(s); nothing stored", errors.len()), errors);
    }
    let outcome = match store(valid).await {
        Ok(o) => o,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if outcome.contains(&Ingested::Stored) {
        st.changes.service_changed();
    }
    let mut report = IngestReport { stored: 0, duplicates: 0, conflicts: Vec::new() };
    for (index, (r, x)) in records.iter().zip(&outcome).enumerate() {
        match x {
            Ingested::Stored => report.stored += 1,
            Ingested::Duplicate => report.duplicates += 1,
            Ingested::Conflict => report.conflicts.push(ConflictRef { index, id: r.id() }),
        }
    }
    if !report.conflicts.is_empty() {
        tracing::warn!(conflicts = report.conflicts.len(), "ingestion refused records whose id is stored with different content");
    }
    let status = if report.conflicts.is_empty() { StatusCode::OK } else { StatusCode::CONFLICT };
    (status, Json(report)).into_response()
}

const OK_DOC: &str = "Stored; replays counted as duplicates";
const CONFLICT_DOC: &str = "Some records conflict with stored ones (same id, different content) and were refused; the others were stored. Same body as 200";
const BAD_DOC: &str = "Malformed JSON or invalid records (every problem listed); nothing stored";

/// `POST /api/v1/ticket-events`.
#[utoipa::path(post, path = "/api/v1/ticket-events", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<TicketEventIn>,
    responses((status = 200, description = OK_DOC, body = IngestReport), (status = 409, description = CONFLICT_DOC, body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn ticket_events(State(st): State<AppState>, Extension(actor): Extension<Actor>, body: Result<Bytes, BytesRejection>) -> Response {
    let writer = st.tickets.clone();
    ingest::<TicketEventIn, _, _>(&st, body, |v| async move { writer.ingest(&actor.name, v).await }).await
}

/// `POST /api/v1/dossiers`.
#[utoipa::path(post, path = "/api/v1/dossiers", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<DossierIn>,
    responses((status = 200, description = "Stored (`stored`: created or changed; `duplicates`: nothing new)", body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn dossiers(State(st): State<AppState>, Extension(actor): Extension<Actor>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<DossierIn, _, _>(&st, body, |v| async move { store.ingest_dossiers(&actor.name, &v).await }).await
}

/// `POST /api/v1/dossier-status`.
#[utoipa::path(post, path = "/api/v1/dossier-status", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<DossierStatusIn>,
    responses((status = 200, description = OK_DOC, body = IngestReport), (status = 409, description = CONFLICT_DOC, body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn dossier_status(State(st): State<AppState>, Extension(actor): Extension<Actor>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<DossierStatusIn, _, _>(&st, body, |v| async move { store.ingest_dossier_statuses(&actor.name, &v).await }).await
}

/// `POST /api/v1/ratings`.
#[utoipa::path(post, path = "/api/v1/ratings", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<RatingIn>,
    responses((status = 200, description = OK_DOC, body = IngestReport), (status = 409, description = CONFLICT_DOC, body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn ratings(State(st): State<AppState>, Extension(actor): Extension<Actor>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<RatingIn, _, _>(&st, body, |v| async move { store.ingest_ratings(&actor.name, &v).await }).await
}

/// `PUT /api/v1/counters`: the queue system's current description of its counters.
#[utoipa::path(put, path = "/api/v1/counters", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<CounterIn>,
    responses((status = 200, description = "Created or updated (`duplicates`: unchanged)", body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn counters(State(st): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<CounterIn, _, _>(&st, body, |v| async move { store.ingest_counters(&v).await }).await
}

/// `PUT /api/v1/officers`.
#[utoipa::path(put, path = "/api/v1/officers", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<OfficerIn>,
    responses((status = 200, description = "Created or updated (`duplicates`: unchanged)", body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn officers(State(st): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<OfficerIn, _, _>(&st, body, |v| async move { store.ingest_officers(&v).await }).await
}

/// `POST /api/v1/counter-states`.
#[utoipa::path(post, path = "/api/v1/counter-states", tag = "ingestion", security(("bearer" = [])),
    request_body = Batch<CounterStateIn>,
    responses((status = 200, description = OK_DOC, body = IngestReport), (status = 409, description = CONFLICT_DOC, body = IngestReport),
        (status = 400, description = BAD_DOC, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body over 16 MiB or more than 10,000 records", body = ErrorBody)))]
pub async fn counter_states(State(st): State<AppState>, Extension(actor): Extension<Actor>, body: Result<Bytes, BytesRejection>) -> Response {
    let store = st.store.clone();
    ingest::<CounterStateIn, _, _>(&st, body, |v| async move { store.ingest_counter_states(&actor.name, &v).await }).await
}

/// `GET /api/v1/tickets/{hall}/{ticket_id}`: the stored projection of one ticket (times in µs),
/// so an integration can check what its events added up to.
#[utoipa::path(get, path = "/api/v1/tickets/{hall}/{ticket_id}", tag = "ingestion", security(("bearer" = [])),
    params(("hall" = String, Path, description = "Hall id"), ("ticket_id" = String, Path, description = "The source's ticket id")),
    responses((status = 200, description = "The ticket and its transactions (wait = last_called_us − queued_us; service = end_us − last_called_us)"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn ticket(State(st): State<AppState>, Path((hall, ticket_id)): Path<(String, String)>) -> Result<Json<Projection>, ApiError> {
    st.store.ticket(&hall, &ticket_id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no ticket `{ticket_id}` in hall `{hall}`")))
}

/// The OpenAPI description of the ingestion API.
#[derive(OpenApi)]
#[openapi(
    info(title = "HallWatch ingestion API", description = "Service records from the hall's queue system, one-stop software and rating devices. See docs/ingestion.md."),
    paths(ticket_events, dossiers, dossier_status, ratings, counters, officers, counter_states, ticket),
    components(schemas(TicketEventIn, TicketEventKind, DossierIn, DossierStatus, Channel, DossierStatusIn, RatingIn, RatingScale,
        CounterIn, OfficerIn, CounterStateIn, CounterStateKind, IngestReport, ConflictRef, ErrorBody, RecordError)),
    modifiers(&BearerAuth),
    tags((name = "ingestion", description = "Authenticate with `Authorization: Bearer <token>` of an `[[access]]` entry with role `integration` (or `admin`); the token's name is the records' source."))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the paths refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_index_and_field() {
        assert_eq!(split_path("[3].opening_hours.mon"), (3, "opening_hours.mon".to_owned()));
        assert_eq!(split_path("counter"), (0, "counter".to_owned()));
        assert_eq!(split_path("."), (0, String::new()));
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let body = br#"[{"hall": "h", "id": "o1", "name": "A"}, {"hall": "h", "id": 7, "name": "B"}]"#;
        let Err(e) = parse::<OfficerIn>(body) else { panic!("parsed") };
        assert_eq!((e.errors[0].index, e.errors[0].field.as_str()), (1, "id"));
        assert_eq!(parse::<OfficerIn>(br#"{"hall": "h", "id": "o1", "name": "A"}"#).map(|v| v.len()).ok(), Some(1));
    }

    #[test]
    fn every_route_is_described() {
        let doc = ApiDoc::openapi();
        for p in ["/api/v1/ticket-events", "/api/v1/dossiers", "/api/v1/dossier-status", "/api/v1/ratings", "/api/v1/counters",
            "/api/v1/officers", "/api/v1/counter-states", "/api/v1/tickets/{hall}/{ticket_id}"] {
            assert!(doc.paths.paths.contains_key(p), "{p} missing from the OpenAPI description");
        }
    }
}
