//! Alert routes: the list supervisors watch, and acknowledgement with a note.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{Actor, ApiError, AppState};
use crate::store::{Ack, AlertRow};
use crate::time::{now_us, parse_rfc3339};

/// Most alerts one list answers with.
const LIST_LIMIT: i64 = 1000;

/// Query of `GET /api/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Hall id; all halls when absent.
    hall: Option<String>,
    /// `open` (default) or `all`.
    state: Option<String>,
    /// Active at or after (RFC 3339).
    from: Option<String>,
    /// Opened before (RFC 3339).
    to: Option<String>,
}

/// `GET /api/alerts?hall=&state=open|all&from=&to=`: alerts, newest first.
pub async fn list(State(st): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Vec<AlertRow>>, ApiError> {
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => return Err(ApiError::BadRequest(format!("state: `{other}` must be `open` or `all`"))),
    };
    if let Some(h) = &q.hall {
        if !st.config.halls.iter().any(|x| &x.id == h) {
            return Err(ApiError::NotFound(format!("hall: no hall `{h}`")));
        }
    }
    let time = |key: &str, v: &Option<String>| v.as_deref().map(|s| parse_rfc3339(s).map_err(|e| ApiError::BadRequest(format!("{key}: {e}")))).transpose();
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    Ok(Json(st.store.alerts(q.hall.as_deref(), open_only, from, to, LIST_LIMIT).await?))
}

/// Body of `POST /api/alerts/{id}/ack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// What the supervisor saw or did (required).
    note: String,
}

/// `POST /api/alerts/{id}/ack` with `{"note": "…"}`: acknowledges once; a second time is 409.
pub async fn ack(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    body: Result<Json<AckBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("body must be {{\"note\": \"…\"}}: {e}")))?;
    let note = body.note.trim();
    if note.is_empty() || note.len() > 2000 {
        return Err(ApiError::BadRequest("note: say what was seen or done (1–2000 bytes)".into()));
    }
    match st.store.ack_alert(id, &actor.name, note, now_us()).await? {
        Ack::Done(a) => {
            tracing::info!(alert = id, by = %actor.name, "alert acknowledged");
            st.changes.alerts_changed();
            Ok(Json(a).into_response())
        }
        Ack::Already(a) => Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({
                "error": format!("alert {id} was already acknowledged by {}", a.acked_by.clone().unwrap_or_default()),
                "alert": a,
            })),
        )
            .into_response()),
        Ack::Missing => Err(ApiError::NotFound(format!("no alert {id}"))),
    }
}
