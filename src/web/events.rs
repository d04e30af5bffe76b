//! `GET /api/events`: a Server-Sent Events stream that keeps the dashboard live without
//! reloads. It sends `live` (the anonymous live camera state) whenever analysis produced a new
//! frame, throttled to five a second, and `changed` (version numbers) whenever service records
//! or alerts changed, so the page refetches just that part.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};

use super::AppState;
use crate::notify::Versions;

/// How often the live camera state may be sent.
const LIVE_EVERY: Duration = Duration::from_millis(200);

struct Cursor {
    st: AppState,
    live_version: Option<u64>,
    versions: Option<Versions>,
}

/// `GET /api/events`.
pub async fn events(State(st): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let shutdown = st.shutdown.clone().cancelled_owned();
    let cursor = Cursor { st, live_version: None, versions: None };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            let live = c.st.live.version();
            if c.live_version != Some(live) {
                c.live_version = Some(live);
                let data = serde_json::to_string(&c.st.live.snapshot()).unwrap_or_else(|_| "[]".into());
                return Some((Ok(Event::default().event("live").data(data)), c));
            }
            let v = c.st.changes.versions();
            if c.versions != Some(v) {
                c.versions = Some(v);
                let data = serde_json::to_string(&v).unwrap_or_else(|_| "{}".into());
                return Some((Ok(Event::default().event("changed").data(data)), c));
            }
            // Record changes wake us at once; live frames are looked for every LIVE_EVERY.
            tokio::select! {
                () = c.st.changes.changed() => {}
                () = tokio::time::sleep(LIVE_EVERY) => {}
            }
        }
    });
    Sse::new(stream.take_until(shutdown)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The public display refreshes at least this often, so its "updated at" moves and a silent
/// stream is recognisably stale.
const DISPLAY_EVERY: Duration = Duration::from_secs(10);

/// `GET /api/display/{hall}/events`: the public display's figures (as `/api/display/{hall}`),
/// sent at once, on every change of service records, and every ten seconds. Public: anonymous
/// aggregates only.
pub async fn display_events(
    State(st): State<AppState>,
    axum::extract::Path(hall): axum::extract::Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, super::ApiError> {
    if !st.config.halls.iter().any(|h| h.id == hall) {
        return Err(super::ApiError::NotFound(format!("no hall `{hall}`")));
    }
    let shutdown = st.shutdown.clone().cancelled_owned();
    let stream = futures::stream::unfold((st, hall, true), |(st, hall, first)| async move {
        if !first {
            tokio::select! {
                () = st.changes.changed() => {}
                () = tokio::time::sleep(DISPLAY_EVERY) => {}
            }
        }
        let data = match super::kpi::display_data(&st, &hall).await {
            Ok(d) => serde_json::to_string(&d).unwrap_or_else(|_| "{}".into()),
            // A failed read is skipped: the page keeps its figures and shows them as stale.
            Err(e) => {
                tracing::warn!(%hall, "display figures: {e}");
                return Some((Ok(Event::default().comment("retrying")), (st, hall, false)));
            }
        };
        Some((Ok(Event::default().event("display").data(data)), (st, hall, false)))
    });
    Ok(Sse::new(stream.take_until(shutdown)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
