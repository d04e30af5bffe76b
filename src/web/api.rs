//! JSON API handlers for cameras, segments and recordings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{Actor, ApiError, AppState};
use crate::record::playback::{playback_parts, VirtualMp4};
use crate::store::{CameraStats, HealthRow};
use crate::time::{parse_rfc3339, to_rfc3339, WallUs};

/// Longest range one request may ask for.
const MAX_RANGE_US: i64 = 24 * 3600 * 1_000_000;
/// Segments closer than this are contiguous on the timeline.
const GAP_TOLERANCE_US: i64 = 1_000_000;

/// A camera as listed by `GET /api/cameras`.
#[derive(Serialize)]
pub struct CameraView {
    id: String,
    name: String,
    hall: String,
    enabled: bool,
    streams: Vec<HealthRow>,
    recording: CameraStats,
    retention_days: Option<u32>,
    retention_bytes: Option<u64>,
    /// Days until the recording disk is full at the last hour's write rate of all cameras
    /// (the disk is shared, so every camera shows the same figure); none when nothing is written.
    storage_days_left: Option<f64>,
}

/// `GET /api/cameras`: every configured camera with its health and recording totals.
pub async fn cameras(State(st): State<AppState>) -> Result<Json<Vec<CameraView>>, ApiError> {
    let stored = st.store.health().await?;
    let now = crate::time::now_us();
    let per_day = st.store.bytes_recorded_since(now - 3_600_000_000).await? as f64 * 24.0;
    let storage_days_left = match st.storage.free_bytes() {
        Ok(free) if per_day > 0.0 => Some(free as f64 / per_day),
        _ => None,
    };
    let mut out = Vec::new();
    for c in &st.config.cameras {
        // Prefer the live counters of this process; fall back to the database (another node).
        let mut streams: Vec<HealthRow> = st.health.iter().filter(|h| h.camera_id == c.id).map(|h| h.snapshot_readonly()).collect();
        if streams.is_empty() {
            streams = stored.iter().filter(|h| h.camera_id == c.id).cloned().collect();
        }
        out.push(CameraView {
            id: c.id.clone(),
            name: c.name.clone(),
            hall: c.hall.clone(),
            enabled: c.enabled,
            streams,
            recording: st.store.camera_stats(&c.id).await?,
            retention_days: c.retention_days,
            retention_bytes: c.retention_max.map(|b| b.0),
            storage_days_left,
        });
    }
    Ok(Json(out))
}

/// `GET /api/live`: anonymous live counts of every analysed camera.
pub async fn live(State(st): State<AppState>) -> Json<Vec<crate::vision::live::LiveView>> {
    Json(st.live.snapshot())
}

/// Query of range endpoints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    start: String,
    end: String,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
}

struct Range {
    camera: String,
    stream: String,
    start: WallUs,
    end: WallUs,
}

fn parse_range(st: &AppState, id: &str, q: &RangeQuery) -> Result<Range, ApiError> {
    if !st.config.cameras.iter().any(|c| c.id == id) {
        return Err(ApiError::NotFound(format!("no camera `{id}`")));
    }
    let start = parse_rfc3339(&q.start).map_err(|e| ApiError::BadRequest(format!("start: {e}")))?;
    let end = parse_rfc3339(&q.end).map_err(|e| ApiError::BadRequest(format!("end: {e}")))?;
    if end <= start {
        return Err(ApiError::BadRequest("end must be after start".into()));
    }
    if end - start > MAX_RANGE_US {
        return Err(ApiError::BadRequest("at most 24 hours per request".into()));
    }
    let stream = q.stream.clone().unwrap_or_else(|| "main".into());
    if stream != "main" && stream != "detect" {
        return Err(ApiError::BadRequest("stream must be `main` or `detect`".into()));
    }
    Ok(Range { camera: id.to_owned(), stream, start, end })
}

#[derive(Serialize)]
struct SegmentView {
    id: i64,
    start: String,
    end: String,
    start_us: WallUs,
    end_us: WallUs,
    frames: i64,
    bytes: i64,
    sha256: Option<String>,
    gap_before: bool,
    clock_source: String,
    codec: String,
    width: i64,
    height: i64,
    recovered: bool,
}

#[derive(Serialize)]
struct GapView {
    start: String,
    end: String,
    start_us: WallUs,
    end_us: WallUs,
}

#[derive(Serialize)]
pub struct Timeline {
    camera: String,
    stream: String,
    start: String,
    end: String,
    segments: Vec<SegmentView>,
    gaps: Vec<GapView>,
}

fn gap(start: WallUs, end: WallUs) -> GapView {
    GapView { start: to_rfc3339(start), end: to_rfc3339(end), start_us: start, end_us: end }
}

/// `GET /api/cameras/{id}/segments?start=…&end=…`: segments and gaps for a timeline.
pub async fn segments(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Timeline>, ApiError> {
    let r = parse_range(&st, &id, &q)?;
    let segs = st.store.segments_in_range(&r.camera, &r.stream, r.start, r.end).await?;
    let mut gaps = Vec::new();
    let mut cursor = r.start;
    for s in &segs {
        if s.start_us - cursor > GAP_TOLERANCE_US {
            gaps.push(gap(cursor, s.start_us));
        }
        cursor = cursor.max(s.end_us.unwrap_or(s.start_us));
    }
    let now = crate::time::now_us();
    let horizon = r.end.min(now);
    if horizon - cursor > GAP_TOLERANCE_US {
        gaps.push(gap(cursor, horizon));
    }
    let segments = segs
        .into_iter()
        .map(|s| {
            let end_us = s.end_us.unwrap_or(s.start_us);
            SegmentView {
                id: s.id,
                start: to_rfc3339(s.start_us),
                end: to_rfc3339(end_us),
                start_us: s.start_us,
                end_us,
                frames: s.frames,
                bytes: s.bytes,
                sha256: s.sha256,
                gap_before: s.gap_before,
                clock_source: s.clock_source,
                codec: s.codec,
                width: s.width,
                height: s.height,
                recovered: s.recovered,
            }
        })
        .collect();
    Ok(Json(Timeline {
        camera: r.camera,
        stream: r.stream,
        start: to_rfc3339(r.start),
        end: to_rfc3339(r.end),
        segments,
        gaps,
    }))
}

/// `GET /api/cameras/{id}/recording.mp4?start=…&end=…&purpose=…`: one playable MP4
/// over the range, with HTTP Range support. Every view is audited with its purpose.
pub async fn recording(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = parse_range(&st, &id, &q)?;
    let purpose = q.purpose.as_deref().map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("purpose (lý do) is required to view a recording: add &purpose=…".into())
    })?;
    if purpose.len() > 500 {
        return Err(ApiError::BadRequest("purpose is limited to 500 characters".into()));
    }
    let segs = st.store.segments_in_range(&r.camera, &r.stream, r.start, r.end).await?;
    let (parts, first) = playback_parts(&st.storage, &segs, r.start, r.end).map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(first_us) = first else {
        return Err(ApiError::NotFound(format!(
            "camera `{}` has no recording between {} and {}",
            r.camera,
            to_rfc3339(r.start),
            to_rfc3339(r.end)
        )));
    };
    let target = format!("camera/{}/{} {}..{}", r.camera, r.stream, to_rfc3339(r.start), to_rfc3339(r.end));
    let first_view = {
        let mut seen = st.audited.lock().unwrap_or_else(|p| p.into_inner());
        seen.first_time(format!("{}|{}|{}", actor.name, target, purpose))
    };
    if first_view {
        st.store.audit(&actor.name, "recording.view", &target, Some(purpose), None).await?;
    }
    let mp4 = VirtualMp4::build(parts).map_err(|e| ApiError::Internal(e.to_string()))?;
    let duration_ms = mp4.duration_90k() / 90;
    let mut resp = Arc::new(mp4).into_response(&headers);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&to_rfc3339(first_us)) {
        h.insert("x-recording-start", v);
    }
    h.insert("x-recording-duration-ms", HeaderValue::from(duration_ms));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(resp.into_response())
}

/// `GET /api/cameras/{id}/snapshot.jpg`: the latest analysed picture (≤ 640 px wide, about
/// once a second) for the supervisors' live view. Footage of people, so logged in only, and the
/// first view per person and camera in ten minutes is written to the audit log.
pub async fn snapshot(State(st): State<AppState>, Path(id): Path<String>, Extension(actor): Extension<Actor>) -> Result<Response, ApiError> {
    let snap = st.live.snapshot_of(&id).ok_or_else(|| ApiError::NotFound(format!("no live picture of camera `{id}` (not analysed, or not started)")))?;
    let first = {
        let mut seen = st.audited.lock().unwrap_or_else(|p| p.into_inner());
        seen.first_time(format!("{}|live|{id}", actor.name))
    };
    if first {
        st.store.audit(&actor.name, "live.view", &format!("camera/{id}"), None, None).await?;
    }
    let mut resp = snap.jpeg.into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(&to_rfc3339(snap.frame_us)) {
        h.insert("x-frame-time", v);
    }
    // The boxes of this frame (normalised, anonymous), so the overlay matches the picture.
    if let Ok(v) = serde_json::to_string(&snap.boxes).map_err(|e| e.to_string()).and_then(|j| HeaderValue::from_str(&j).map_err(|e| e.to_string())) {
        h.insert("x-boxes", v);
    }
    Ok(resp)
}

/// A camera's analysis zones, normalised to the frame, for drawing on its live picture.
#[derive(Serialize)]
pub struct ZoneView {
    id: String,
    kind: crate::vision::zones::ZoneKindName,
    polygon: Option<Vec<[f64; 2]>>,
    line: Option<[[f64; 2]; 2]>,
    counter: Option<u32>,
}

/// `GET /api/cameras/{id}/zones`.
pub async fn zones(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<ZoneView>>, ApiError> {
    let cam = st.config.cameras.iter().find(|c| c.id == id).ok_or_else(|| ApiError::NotFound(format!("no camera `{id}`")))?;
    Ok(Json(
        cam.zones
            .iter()
            .map(|z| ZoneView { id: z.id.clone(), kind: z.kind, polygon: z.polygon.clone(), line: z.line, counter: z.counter })
            .collect(),
    ))
}
