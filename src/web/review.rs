//! The auditors' review room API: clip exports (create with a purpose, list, download clip and
//! manifest, the installation's public key) and the audit log.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{Actor, ApiError, AppState};
use crate::record::export::{self, ExportError, ExportRequest, EXPORTS_DIR};
use crate::store::ExportRow;
use crate::time::parse_rfc3339;

/// `POST /api/cameras/{id}/exports` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    start: String,
    end: String,
    purpose: String,
    #[serde(default)]
    stream: Option<String>,
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            ExportError::NothingRecorded { .. } => ApiError::NotFound(e.to_string()),
            ExportError::SourceAltered { .. } => ApiError::Conflict(e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// `POST /api/cameras/{id}/exports`: exports a range as a signed clip.
pub async fn create(
    State(st): State<AppState>,
    Path(camera): Path<String>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<NewExport>,
) -> Result<Response, ApiError> {
    if !st.config.cameras.iter().any(|c| c.id == camera) {
        return Err(ApiError::NotFound(format!("no camera `{camera}`")));
    }
    let start = parse_rfc3339(&body.start).map_err(|e| ApiError::BadRequest(format!("start: {e}")))?;
    let end = parse_rfc3339(&body.end).map_err(|e| ApiError::BadRequest(format!("end: {e}")))?;
    let stream = body.stream.unwrap_or_else(|| "main".into());
    if stream != "main" && stream != "detect" {
        return Err(ApiError::BadRequest("stream must be `main` or `detect`".into()));
    }
    let req = ExportRequest { camera, stream, start, end, actor: actor.name, purpose: body.purpose };
    let done = export::export(&st.store, &st.storage, &st.export_key, &req).await?;
    let out = serde_json::json!({
        "id": done.id,
        "sha256": done.manifest.body.sha256,
        "clip_url": format!("/api/exports/{}/clip.mp4", done.id),
        "manifest_url": format!("/api/exports/{}/manifest.json", done.id),
        "manifest": done.manifest,
    });
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /api/exports`: the latest exports.
pub async fn list(State(st): State<AppState>) -> Result<Json<Vec<ExportRow>>, ApiError> {
    Ok(Json(st.store.exports(500).await?))
}

async fn file(st: &AppState, actor: &Actor, id: &str, suffix: &str, content_type: &'static str) -> Result<Response, ApiError> {
    // Looked up in the index, never built from the URL alone, so no path can escape `exports/`.
    let row = st.store.export_row(id).await?.ok_or_else(|| ApiError::NotFound(format!("no export `{id}`")))?;
    let path = st.storage.dir().join(EXPORTS_DIR).join(format!("{}{suffix}", row.id));
    let f = tokio::fs::File::open(&path).await.map_err(|e| ApiError::NotFound(format!("export `{id}` file is gone: {e}")))?;
    let len = f.metadata().await.map_err(|e| ApiError::Internal(e.to_string()))?.len();
    st.store.audit(&actor.name, "export.download", &format!("export/{}{suffix}", row.id), Some(&row.purpose), None).await?;
    let mut resp = Body::from_stream(tokio_util::io::ReaderStream::new(f)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}{suffix}\"", row.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET /api/exports/{id}/clip.mp4`.
pub async fn clip(State(st): State<AppState>, Path(id): Path<String>, Extension(actor): Extension<Actor>) -> Result<Response, ApiError> {
    file(&st, &actor, &id, ".mp4", "video/mp4").await
}

/// `GET /api/exports/{id}/manifest.json`.
pub async fn manifest(State(st): State<AppState>, Path(id): Path<String>, Extension(actor): Extension<Actor>) -> Result<Response, ApiError> {
    file(&st, &actor, &id, ".manifest.json", "application/json").await
}

/// `GET /api/exports/key`: the installation's Ed25519 public key, hex, for `verify-export --public-key`.
pub async fn key(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "algorithm": "ed25519", "public_key": hex::encode(st.export_key.verifying_key().as_bytes()) }))
}

/// `GET /api/audit` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/audit`: who watched or exported what, when and why. Reading the log is itself
/// logged, once per reader and query.
pub async fn audit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    axum::extract::Query(q): axum::extract::Query<AuditQuery>,
) -> Result<Json<Vec<crate::store::AuditEntry>>, ApiError> {
    let time = |s: &Option<String>, name: &str, default: i64| {
        s.as_deref().map_or(Ok(default), |s| parse_rfc3339(s).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
    };
    let from = time(&q.from, "from", 0)?;
    let to = time(&q.to, "to", i64::MAX)?;
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let target = format!("audit_log actor={} action={}", q.actor.as_deref().unwrap_or("*"), q.action.as_deref().unwrap_or("*"));
    let first = {
        let mut seen = st.audited.lock().unwrap_or_else(|p| p.into_inner());
        seen.first_time(format!("{}|{target}", actor.name))
    };
    if first {
        st.store.audit(&actor.name, "audit.view", &target, None, None).await?;
    }
    Ok(Json(st.store.audit_search(from, to, q.actor.as_deref(), q.action.as_deref(), limit).await?))
}
