//! KPI, live tiles, public display, EWT accuracy and evidence endpoints.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{Actor, ApiError, AppState};
use crate::service::evidence::{self, Clip, Evidence, Link, SegmentRef};
use crate::service::ewt::{self, EwtAccuracy};
use crate::service::kpi::{self, GroupBy, KpiReport, NowTiles};
use crate::store::HallSetup;
use crate::time::{now_us, parse_rfc3339, to_rfc3339, WallUs, DAY_US, HALL_UTC_OFFSET_US};

/// Longest KPI range: a year and a day (leap years, and a `to` date's whole day).
const MAX_KPI_RANGE_US: i64 = 367 * DAY_US;
/// Longest EWT accuracy range: it rebuilds the hall at every ticket's issue.
const MAX_ACCURACY_RANGE_US: i64 = 31 * DAY_US;

/// Parses a range bound: RFC 3339, or a hall-local date `YYYY-MM-DD` meaning its midnight
/// (for `to`, the midnight ending that day, so `from=2026-12-01&to=2026-12-01` is one day).
pub fn parse_bound(name: &str, s: &str, is_end: bool) -> Result<WallUs, ApiError> {
    if let Ok(us) = parse_rfc3339(s) {
        return Ok(us);
    }
    let date = (|| {
        let mut it = s.splitn(3, '-');
        let y: i32 = it.next()?.parse().ok()?;
        let m: u8 = it.next()?.parse().ok()?;
        let d: u8 = it.next()?.parse().ok()?;
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
    })()
    .ok_or_else(|| ApiError::BadRequest(format!("{name}: `{s}` is neither RFC 3339 nor a date YYYY-MM-DD")))?;
    let midnight = date.midnight().assume_utc().unix_timestamp() * 1_000_000 - HALL_UTC_OFFSET_US;
    Ok(if is_end { midnight + DAY_US } else { midnight })
}

fn hall_known(st: &AppState, hall: &str) -> Result<(), ApiError> {
    if st.config.halls.iter().any(|h| h.id == hall) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no hall `{hall}`")))
    }
}

fn field_names(st: &AppState, hall: &str) -> Vec<(String, String)> {
    st.config.halls.iter().filter(|h| h.id == hall).flat_map(|h| h.fields.iter().map(|f| (f.code.clone(), f.name.clone()))).collect()
}

fn range(from: &str, to: &str, max: i64) -> Result<(WallUs, WallUs), ApiError> {
    let (from, to) = (parse_bound("from", from, false)?, parse_bound("to", to, true)?);
    if to <= from {
        return Err(ApiError::BadRequest("to must be after from".into()));
    }
    if to - from > max {
        return Err(ApiError::BadRequest(format!("at most {} days per request", max / DAY_US)));
    }
    Ok((from, to))
}

/// Query of `GET /api/kpi`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    hall: String,
    from: String,
    to: String,
    #[serde(default)]
    by: Option<String>,
}

/// `GET /api/kpi?hall=&from=&to=&by=field|counter|officer|hour|day`.
pub async fn report(State(st): State<AppState>, Query(q): Query<KpiQuery>) -> Result<Json<KpiReport>, ApiError> {
    hall_known(&st, &q.hall)?;
    let (from, to) = range(&q.from, &q.to, MAX_KPI_RANGE_US)?;
    let by = match q.by.as_deref() {
        None => GroupBy::Field,
        Some(b) => GroupBy::parse(b).ok_or_else(|| ApiError::BadRequest("by must be field, counter, officer, hour or day".into()))?,
    };
    let setup = HallSetup::from_config(&st.config, &q.hall);
    let input = st.store.kpi_input(&q.hall, from, to, now_us(), &setup).await?;
    Ok(Json(kpi::report(&input, by)))
}

/// `GET /api/hall/{hall}/now`: live tiles per field.
pub async fn hall_now(State(st): State<AppState>, Path(hall): Path<String>) -> Result<Json<NowTiles>, ApiError> {
    hall_known(&st, &hall)?;
    let setup = HallSetup::from_config(&st.config, &hall);
    Ok(Json(st.store.now_tiles(&hall, now_us(), &setup, &field_names(&st, &hall)).await?))
}

/// `GET /api/display/{hall}`: the public display (anonymous aggregates only).
pub async fn display(State(st): State<AppState>, Path(hall): Path<String>) -> Result<Json<ewt::Display>, ApiError> {
    hall_known(&st, &hall)?;
    Ok(Json(display_data(&st, &hall).await?))
}

/// The public display's figures for a known hall.
pub async fn display_data(st: &AppState, hall: &str) -> Result<ewt::Display, ApiError> {
    let setup = HallSetup::from_config(&st.config, hall);
    let now = st.store.hall_now(hall, now_us(), &setup.staff_cameras).await?;
    Ok(ewt::display(&now, &field_names(st, hall), &st.config.estimated_wait))
}

/// A hall as listed by `GET /api/halls`.
#[derive(serde::Serialize)]
pub struct HallView {
    id: String,
    name: String,
}

/// `GET /api/halls`: the halls this node serves (public: names only).
pub async fn halls(State(st): State<AppState>) -> Json<Vec<HallView>> {
    Json(st.config.halls.iter().map(|h| HallView { id: h.id.clone(), name: h.name.clone() }).collect())
}

/// Query of `GET /api/kpi/ewt-accuracy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracyQuery {
    hall: String,
    from: String,
    to: String,
}

/// `GET /api/kpi/ewt-accuracy?hall=&from=&to=`: MAE of the display's estimates.
pub async fn ewt_accuracy(State(st): State<AppState>, Query(q): Query<AccuracyQuery>) -> Result<Json<Vec<EwtAccuracy>>, ApiError> {
    hall_known(&st, &q.hall)?;
    let (from, to) = range(&q.from, &q.to, MAX_ACCURACY_RANGE_US)?;
    let setup = HallSetup::from_config(&st.config, &q.hall);
    let history = st.store.ewt_history(&q.hall, from, to, &setup).await?;
    Ok(Json(ewt::accuracy(&history, from, to, &st.config.estimated_wait)))
}

/// The ticket id an auditor means by `given`: a ticket id, else a displayed number ("A023",
/// which repeats daily) on hall-local `day`, by default within the last 31 days. Unknown
/// values come back as given, for the caller's "no ticket" answer.
async fn ticket_id(st: &AppState, hall: &str, given: &str, day: Option<&str>) -> Result<String, ApiError> {
    if st.store.ticket_number(hall, given).await?.is_some() {
        return Ok(given.to_owned());
    }
    let (from, to) = match day {
        Some(d) => {
            let from = crate::time::local_day_start(parse_bound("day", d, false)?);
            (from, from + DAY_US)
        }
        None => (now_us() - 31 * DAY_US, now_us() + DAY_US),
    };
    Ok(st.store.ticket_by_number(hall, given, from, to).await?.unwrap_or_else(|| given.to_owned()))
}

/// Query of `GET /api/evidence`: exactly one of ticket, dossier, rating.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    hall: String,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    dossier: Option<String>,
    #[serde(default)]
    rating: Option<String>,
    /// Seconds before the call and after the end (default 30).
    #[serde(default)]
    margin_s: Option<i64>,
    /// Passed on to the playback URL, which audits the view with it.
    #[serde(default)]
    purpose: Option<String>,
    /// Hall-local day (`YYYY-MM-DD`) to look for a ticket by its displayed number in, when
    /// `ticket` is not a ticket id; default: the last 31 days.
    #[serde(default)]
    day: Option<String>,
}

/// `GET /api/evidence?hall=&ticket=|dossier=|rating=`: recording intervals, segments,
/// playback URLs and the timeline of the service. Every lookup is audited.
pub async fn lookup(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<EvidenceQuery>,
) -> Result<Json<Evidence>, ApiError> {
    hall_known(&st, &q.hall)?;
    let margin_s = q.margin_s.unwrap_or(evidence::DEFAULT_MARGIN_S);
    if !(0..=600).contains(&margin_s) {
        return Err(ApiError::BadRequest("margin_s must be 0–600".into()));
    }
    let purpose = q.purpose.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("evidence");
    if purpose.len() > 500 {
        return Err(ApiError::BadRequest("purpose is limited to 500 characters".into()));
    }
    let hall = q.hall.as_str();
    let (ticket, link, dossiers, target) = match (&q.ticket, &q.dossier, &q.rating) {
        (Some(t), None, None) => {
            let id = ticket_id(&st, hall, t, q.day.as_deref()).await?;
            (id.clone(), Link::Ticket, st.store.ticket_dossiers(hall, &id).await?, format!("ticket/{hall}/{t}"))
        }
        (None, Some(code), None) => {
            let d = st.store.dossier_link(hall, code).await?.ok_or_else(|| ApiError::NotFound(format!("no dossier `{code}`")))?;
            let (ticket, link) = match d.tickets.first() {
                Some(t) => (t.clone(), Link::Recorded),
                None => {
                    let counter = d.counter.ok_or_else(|| {
                        ApiError::NotFound(format!("dossier `{code}` names no ticket and no receiving counter"))
                    })?;
                    let cands = st.store.service_candidates(hall, d.received_us).await?;
                    let c = evidence::heuristic_ticket(&cands, counter, d.officer.as_deref(), d.received_us).ok_or_else(|| {
                        ApiError::NotFound(format!("no ticket was in service at counter {counter} when `{code}` was received"))
                    })?;
                    (c.ticket_id.clone(), Link::Heuristic)
                }
            };
            (ticket, link, vec![code.clone()], format!("dossier/{hall}/{code}"))
        }
        (None, None, Some(r)) => {
            let (ticket, dossier) =
                st.store.rating_link(hall, r).await?.ok_or_else(|| ApiError::NotFound(format!("no rating `{r}`")))?;
            let ticket = ticket.ok_or_else(|| ApiError::NotFound(format!("rating `{r}` names no ticket")))?;
            let mut dossiers = st.store.ticket_dossiers(hall, &ticket).await?;
            dossiers.extend(dossier.filter(|d| !dossiers.contains(d)));
            (ticket, Link::Rating, dossiers, format!("rating/{hall}/{r}"))
        }
        _ => return Err(ApiError::BadRequest("give exactly one of ticket, dossier, rating".into())),
    };
    let number = st.store.ticket_number(hall, &ticket).await?.ok_or_else(|| ApiError::NotFound(format!("no ticket `{ticket}`")))?;
    let zones = crate::service::now::counter_cameras(&st.config, hall);
    let mut clips = Vec::new();
    for tx in st.store.ticket_transactions(hall, &ticket).await? {
        let mut clip = Clip {
            seq: tx.seq,
            field: tx.field.clone(),
            counter: tx.counter,
            officer: tx.officer.clone(),
            camera: None,
            start: None,
            end: None,
            segments: Vec::new(),
            url: None,
            note: None,
        };
        let camera = match tx.counter {
            Some(c) => evidence::counter_camera(st.store.counter_camera_id(hall, c).await?.as_deref(), &zones, c),
            None => None,
        };
        match (camera, evidence::service_interval(&tx, margin_s * 1_000_000)) {
            (None, _) => clip.note = Some("no camera is linked to this counter".into()),
            (_, None) => clip.note = Some("not served here (no call and end)".into()),
            (Some(cam), Some((start, end))) => {
                let segs = st.store.segments_in_range(&cam, "main", start, end).await?;
                if segs.is_empty() {
                    clip.note = Some("no recording covers this interval".into());
                } else {
                    clip.url = Some(evidence::playback_url(&cam, start, end, purpose));
                }
                clip.segments = segs
                    .into_iter()
                    .map(|s| SegmentRef {
                        id: s.id,
                        start: to_rfc3339(s.start_us),
                        end: to_rfc3339(s.end_us.unwrap_or(s.start_us)),
                        sha256: s.sha256,
                    })
                    .collect();
                clip.start = Some(to_rfc3339(start));
                clip.end = Some(to_rfc3339(end));
                clip.camera = Some(cam);
            }
        }
        clips.push(clip);
    }
    let timeline = st.store.ticket_timeline(hall, &ticket, &dossiers).await?;
    st.store.audit(&actor.name, "evidence.lookup", &target, Some(purpose), Some(&format!("ticket {ticket}"))).await?;
    tracing::info!(actor = %actor.name, %target, "evidence lookup");
    Ok(Json(Evidence { hall: hall.to_owned(), ticket_id: ticket, number, link, dossiers, clips, timeline }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_hall_local_days() {
        let from = parse_bound("from", "2026-12-01", false).unwrap();
        assert_eq!(from, parse_rfc3339("2026-12-01T00:00:00+07:00").unwrap());
        let to = parse_bound("to", "2026-12-01", true).unwrap();
        assert_eq!(to, parse_rfc3339("2026-12-02T00:00:00+07:00").unwrap());
        assert!(parse_bound("to", "2026-13-01", true).is_err());
    }
}

/// Query of `GET /api/charts/occupancy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccupancyQuery {
    hall: String,
    day: String,
    #[serde(default)]
    weeks: Option<i64>,
}

/// `GET /api/charts/occupancy?hall=&day=YYYY-MM-DD[&weeks=4]`: people in the hall's waiting
/// zones through the day, in 15-minute buckets, against the same weekday's average.
pub async fn occupancy_chart(State(st): State<AppState>, Query(q): Query<OccupancyQuery>) -> Result<Json<crate::store::OccupancySeries>, ApiError> {
    hall_known(&st, &q.hall)?;
    let day = crate::time::local_day_start(parse_bound("day", &q.day, false)?);
    let weeks = q.weeks.unwrap_or(4).clamp(1, 12);
    let zones: Vec<(String, String)> = HallSetup::from_config(&st.config, &q.hall)
        .waiting_zones
        .into_iter()
        .flat_map(|(cam, zones)| zones.into_iter().map(move |z| (cam.clone(), z)))
        .collect();
    Ok(Json(st.store.occupancy_series(&zones, day, weeks).await?))
}

/// Query of `GET /api/charts/waits`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitsQuery {
    hall: String,
    from: String,
    to: String,
}

/// `GET /api/charts/waits?hall=&from=&to=`: ticket waits in 5-minute buckets per field.
pub async fn waits_chart(State(st): State<AppState>, Query(q): Query<WaitsQuery>) -> Result<Json<crate::store::WaitHistogram>, ApiError> {
    hall_known(&st, &q.hall)?;
    let (from, to) = range(&q.from, &q.to, MAX_KPI_RANGE_US)?;
    Ok(Json(st.store.wait_histogram(&q.hall, from, to, 60).await?))
}

/// `GET /api/hall/{hall}/counters`: every counter now: scheduled, QMS state (with pause
/// reason), whether the camera sees the officer's seat taken, and the ticket being served.
pub async fn counters_now(State(st): State<AppState>, Path(hall): Path<String>) -> Result<Json<Vec<crate::service::now::CounterNow>>, ApiError> {
    hall_known(&st, &hall)?;
    let setup = HallSetup::from_config(&st.config, &hall);
    Ok(Json(st.store.hall_now(&hall, now_us(), &setup.staff_cameras).await?.counters))
}

/// Query of `GET /api/cameras/{id}/markers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkersQuery {
    start: String,
    end: String,
}

/// `GET /api/cameras/{id}/markers?start=&end=`: what to mark on the camera's recording
/// timeline: tickets called and finished and ratings at the counters it shows, and alerts.
pub async fn markers(
    State(st): State<AppState>,
    Path(camera): Path<String>,
    Query(q): Query<MarkersQuery>,
) -> Result<Json<Vec<crate::store::Marker>>, ApiError> {
    let cam = st.config.cameras.iter().find(|c| c.id == camera).ok_or_else(|| ApiError::NotFound(format!("no camera `{camera}`")))?;
    let (from, to) = range(&q.start, &q.end, MAX_KPI_RANGE_US)?;
    let mut counters: Vec<i64> = crate::service::now::counter_cameras(&st.config, &cam.hall)
        .into_iter()
        .filter(|(_, c)| *c == camera)
        .map(|(n, _)| n)
        .collect();
    counters.extend(st.store.counters_with_camera(&cam.hall, &camera).await?);
    counters.sort_unstable();
    counters.dedup();
    Ok(Json(st.store.camera_markers(&cam.hall, &counters, from, to).await?))
}
