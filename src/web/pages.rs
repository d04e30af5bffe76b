//! The HTML pages, read from `[server] web_dir` so the pages ship as plain files with no
//! front-end build step.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Serves one page of the web directory.
pub async fn page(State(st): State<AppState>, name: &'static str) -> Result<Response, ApiError> {
    let path = st.config.server.web_dir.join(name);
    let html = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("page {}: {e}", path.display())))?;
    let mut resp = axum::response::Html(html).into_response();
    // Pages are small and change with the product: always fetch fresh, never cache data.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}
