//! Service analytics rows: occupancy, visits, waits and counter staffing.

use super::{Store, StoreError};
use crate::analytics::AnalyticsOutput;
use crate::time::WallUs;

/// One minute of occupancy of one zone.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct OccupancyMinuteRow {
    /// Camera.
    pub camera_id: String,
    /// Zone id, or `all`.
    pub zone: String,
    /// Start of the minute.
    pub minute_us: WallUs,
    /// Mean people count.
    pub mean: f64,
    /// Largest count.
    pub max: i64,
    /// Per-second samples behind the figures.
    pub samples: i64,
}

/// One person's visit to one zone.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct VisitRow {
    /// Camera.
    pub camera_id: String,
    /// Person (first track id of the chain).
    pub person_id: i64,
    /// Track that started the visit.
    pub track_id: i64,
    /// Zone id.
    pub zone: String,
    /// `waiting`, `service` or `staff`.
    pub kind: String,
    /// Counter of service and staff zones.
    pub counter: Option<i64>,
    /// Entry.
    pub enter_us: WallUs,
    /// Exit.
    pub exit_us: WallUs,
}

/// Waiting and service of one person.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct PersonWaitRow {
    /// Camera.
    pub camera_id: String,
    /// Person id.
    pub person_id: i64,
    /// First seen.
    pub first_seen_us: WallUs,
    /// Last seen.
    pub last_seen_us: WallUs,
    /// First entry into a waiting zone.
    pub wait_start_us: Option<WallUs>,
    /// First entry into a service zone.
    pub service_start_us: Option<WallUs>,
    /// Waiting time in seconds.
    pub wait_s: Option<f64>,
    /// Service time in seconds.
    pub service_s: Option<f64>,
    /// Counter served at.
    pub counter: Option<i64>,
    /// Left after a long wait without service.
    pub abandoned: bool,
}

/// A staffed period of a counter.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StaffedRow {
    /// Camera.
    pub camera_id: String,
    /// Counter.
    pub counter: i64,
    /// Start.
    pub from_us: WallUs,
    /// End; none while still staffed.
    pub to_us: Option<WallUs>,
}

/// Tracker ids are `u64` but the database holds `i64`; ids count up from 1 per session, so
/// overflow means corrupt input, reported rather than wrapped.
fn id(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| StoreError::Query(sqlx::Error::Encode(Box::new(e))))
}

fn count(v: usize) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| StoreError::Query(sqlx::Error::Encode(Box::new(e))))
}

impl Store {
    /// Writes everything one analytics step produced, in one transaction. Re-saving the same
    /// rows is harmless except for minutes, which are merged (see the migration).
    pub async fn save_analytics(&self, out: &AnalyticsOutput) -> Result<(), StoreError> {
        let cam = &out.camera_id;
        let mut tx = self.pool.begin().await?;
        for s in &out.samples {
            sqlx::query(
                "INSERT INTO occupancy_sample (camera_id, zone, at_us, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (camera_id, zone, at_us) DO UPDATE SET count = excluded.count",
            )
            .bind(cam)
            .bind(&s.zone)
            .bind(s.at_us)
            .bind(count(s.count)?)
            .execute(&mut *tx)
            .await?;
        }
        for m in &out.minutes {
            sqlx::query(
                "INSERT INTO occupancy_minute (camera_id, zone, minute_us, mean, max, samples) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (camera_id, zone, minute_us) DO UPDATE SET \
                 mean = (occupancy_minute.mean * occupancy_minute.samples + excluded.mean * excluded.samples) \
                        / (occupancy_minute.samples + excluded.samples), \
                 max = CASE WHEN excluded.max > occupancy_minute.max THEN excluded.max ELSE occupancy_minute.max END, \
                 samples = occupancy_minute.samples + excluded.samples",
            )
            .bind(cam)
            .bind(&m.zone)
            .bind(m.minute_us)
            .bind(m.mean)
            .bind(count(m.max)?)
            .bind(count(m.samples)?)
            .execute(&mut *tx)
            .await?;
        }
        for v in &out.visits {
            sqlx::query(
                "INSERT INTO visit (camera_id, person_id, track_id, zone, kind, counter, enter_us, exit_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (camera_id, zone, track_id, enter_us) DO NOTHING",
            )
            .bind(cam)
            .bind(id(v.person_id)?)
            .bind(id(v.track_id)?)
            .bind(&v.zone)
            .bind(v.kind.as_str())
            .bind(v.counter.map(i64::from))
            .bind(v.enter_us)
            .bind(v.exit_us)
            .execute(&mut *tx)
            .await?;
        }
        for p in &out.persons {
            sqlx::query(
                "INSERT INTO person_wait (camera_id, person_id, first_seen_us, last_seen_us, wait_start_us, service_start_us, \
                 wait_s, service_s, counter, abandoned) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (camera_id, person_id, first_seen_us) DO NOTHING",
            )
            .bind(cam)
            .bind(id(p.person_id)?)
            .bind(p.first_seen_us)
            .bind(p.last_seen_us)
            .bind(p.wait_start_us)
            .bind(p.service_start_us)
            .bind(p.wait_s)
            .bind(p.service_s)
            .bind(p.counter.map(i64::from))
            .bind(p.abandoned)
            .execute(&mut *tx)
            .await?;
        }
        for s in &out.staffed {
            // An interval is reported when it opens (to_us NULL) and again when it closes.
            sqlx::query(
                "INSERT INTO counter_staffed (camera_id, counter, from_us, to_us) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (camera_id, counter, from_us) DO UPDATE SET to_us = COALESCE(excluded.to_us, counter_staffed.to_us)",
            )
            .bind(cam)
            .bind(i64::from(s.counter))
            .bind(s.from_us)
            .bind(s.to_us)
            .execute(&mut *tx)
            .await?;
        }
        // The day cache keys minutes by minute, waits by their end, staffed periods by start.
        let earliest = (out.minutes.iter().map(|m| m.minute_us))
            .chain(out.persons.iter().map(|p| p.last_seen_us))
            .chain(out.staffed.iter().map(|s| s.from_us))
            .min();
        super::day_cache::mark_late(&mut tx, earliest).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Occupancy minutes of a camera starting in `[from, to)`, by zone then time.
    pub async fn occupancy_minutes(&self, camera: &str, from: WallUs, to: WallUs) -> Result<Vec<OccupancyMinuteRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT camera_id, zone, minute_us, mean, max, samples FROM occupancy_minute \
             WHERE camera_id = $1 AND minute_us >= $2 AND minute_us < $3 ORDER BY zone, minute_us",
        )
        .bind(camera)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Number of per-second samples of a camera's zone in `[from, to)`.
    pub async fn occupancy_sample_count(&self, camera: &str, zone: &str, from: WallUs, to: WallUs) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM occupancy_sample WHERE camera_id = $1 AND zone = $2 AND at_us >= $3 AND at_us < $4",
        )
        .bind(camera)
        .bind(zone)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Visits of a camera that overlap `[from, to)`, in entry order.
    pub async fn visits(&self, camera: &str, from: WallUs, to: WallUs) -> Result<Vec<VisitRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT camera_id, person_id, track_id, zone, kind, counter, enter_us, exit_us FROM visit \
             WHERE camera_id = $1 AND enter_us < $3 AND exit_us >= $2 ORDER BY enter_us, id",
        )
        .bind(camera)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Waits of people of a camera who left in `[from, to)`, in order of leaving.
    pub async fn person_waits(&self, camera: &str, from: WallUs, to: WallUs) -> Result<Vec<PersonWaitRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT camera_id, person_id, first_seen_us, last_seen_us, wait_start_us, service_start_us, wait_s, service_s, \
             counter, abandoned FROM person_wait WHERE camera_id = $1 AND last_seen_us >= $2 AND last_seen_us < $3 \
             ORDER BY last_seen_us, id",
        )
        .bind(camera)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Staffed intervals of a camera overlapping `[from, to)` (open ones included), by counter then time.
    pub async fn staffed_intervals(&self, camera: &str, from: WallUs, to: WallUs) -> Result<Vec<StaffedRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT camera_id, counter, from_us, to_us FROM counter_staffed \
             WHERE camera_id = $1 AND from_us < $3 AND (to_us IS NULL OR to_us > $2) ORDER BY counter, from_us",
        )
        .bind(camera)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }
}
