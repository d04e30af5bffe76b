//! Series for the dashboard charts: waiting-zone occupancy through a day against the same
//! weekday's average, and the distribution of ticket waits. Bucketed in SQL so a chart costs a
//! few dozen rows, not thousands.

use std::collections::BTreeMap;

use super::{Store, StoreError};
use crate::time::{WallUs, DAY_US};

/// Width of an occupancy bucket.
pub const OCCUPANCY_BUCKET_US: i64 = 15 * 60_000_000;
/// Width of a wait-distribution bucket.
pub const WAIT_BUCKET_US: i64 = 5 * 60_000_000;

/// Occupancy of a day against the same weekday's average.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OccupancySeries {
    /// Start of each bucket, minutes after hall-local midnight.
    pub minute_of_day: Vec<i64>,
    /// Mean people in the waiting zones in each bucket of the day (None: no samples).
    pub day: Vec<Option<f64>>,
    /// The same, averaged over the previous `weeks` same weekdays that have samples.
    pub weekday_average: Vec<Option<f64>>,
    /// How many previous weeks were looked at.
    pub weeks: i64,
}

/// Ticket waits of a period in buckets, per field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WaitHistogram {
    /// Lower edge of each bucket, minutes.
    pub bucket_minutes: Vec<i64>,
    /// Tickets per bucket, per field.
    pub fields: BTreeMap<String, Vec<i64>>,
}

impl Store {
    /// Per-bucket mean people over `zones` (camera, zone) between `from` and `from + 1 day`.
    async fn occupancy_buckets(&self, zones: &[(String, String)], from: WallUs) -> Result<BTreeMap<i64, f64>, StoreError> {
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for (camera, zone) in zones {
            // Several zones add up: people in each, per bucket (mean over the bucket's minutes).
            let rows: Vec<(i64, f64)> = sqlx::query_as(
                "SELECT (minute_us - $3) / $5 AS bucket, AVG(mean) FROM occupancy_minute \
                 WHERE camera_id = $1 AND zone = $2 AND minute_us >= $3 AND minute_us < $4 GROUP BY bucket",
            )
            .bind(camera)
            .bind(zone)
            .bind(from)
            .bind(from + DAY_US)
            .bind(OCCUPANCY_BUCKET_US)
            .fetch_all(&self.pool)
            .await?;
            for (b, m) in rows {
                *sums.entry(b).or_default() += m;
            }
        }
        Ok(sums)
    }

    /// Waiting-zone occupancy of the hall-local day starting at `day_start`, against the mean of
    /// the previous `weeks` same weekdays.
    pub async fn occupancy_series(&self, zones: &[(String, String)], day_start: WallUs, weeks: i64) -> Result<OccupancySeries, StoreError> {
        let n = usize::try_from(DAY_US / OCCUPANCY_BUCKET_US).unwrap_or(96);
        let day = self.occupancy_buckets(zones, day_start).await?;
        let mut sum = vec![0.0; n];
        let mut count = vec![0u32; n];
        for w in 1..=weeks {
            for (b, m) in self.occupancy_buckets(zones, day_start - w * 7 * DAY_US).await? {
                if let Some(i) = usize::try_from(b).ok().filter(|i| *i < n) {
                    sum[i] += m;
                    count[i] += 1;
                }
            }
        }
        let at = |i: usize| i64::try_from(i).unwrap_or(0);
        Ok(OccupancySeries {
            minute_of_day: (0..n).map(|i| at(i) * OCCUPANCY_BUCKET_US / 60_000_000).collect(),
            day: (0..n).map(|i| day.get(&at(i)).copied()).collect(),
            weekday_average: (0..n).map(|i| (count[i] > 0).then(|| sum[i] / f64::from(count[i]))).collect(),
            weeks,
        })
    }

    /// Waits (last call − joined the queue) of stays called in `[from, to)`, in 5-minute
    /// buckets up to `max_minutes` (longer waits land in the last bucket).
    pub async fn wait_histogram(&self, hall: &str, from: WallUs, to: WallUs, max_minutes: i64) -> Result<WaitHistogram, StoreError> {
        let last = max_minutes * 60_000_000 / WAIT_BUCKET_US;
        let rows: Vec<(Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT field, CASE WHEN (last_called_us - queued_us) / $4 > $5 THEN $5 ELSE (last_called_us - queued_us) / $4 END AS bucket, \
             COUNT(*) FROM ticket_transaction \
             WHERE hall_id = $1 AND last_called_us >= $2 AND last_called_us < $3 AND queued_us IS NOT NULL \
             AND last_called_us >= queued_us GROUP BY field, bucket",
        )
        .bind(hall)
        .bind(from)
        .bind(to)
        .bind(WAIT_BUCKET_US)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let n = usize::try_from(last + 1).unwrap_or(1);
        let mut fields: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (field, bucket, count) in rows {
            let v = fields.entry(field.unwrap_or_default()).or_insert_with(|| vec![0; n]);
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|i| v.get_mut(i)) {
                *slot += count;
            }
        }
        Ok(WaitHistogram { bucket_minutes: (0..=last).map(|i| i * WAIT_BUCKET_US / 60_000_000).collect(), fields })
    }
}

/// Something to mark on a recording timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Marker {
    /// When.
    pub at_us: WallUs,
    /// `ticket.called`, `ticket.finished`, `rating`, `alert`.
    pub kind: String,
    /// What to show: ticket number and counter, rating score, alert message.
    pub label: String,
}

impl Store {
    /// Markers for a camera's timeline over `[from, to)`: tickets called and finished and
    /// ratings at the counters it shows, and the hall's alerts opened then.
    pub async fn camera_markers(&self, hall: &str, counters: &[i64], from: WallUs, to: WallUs) -> Result<Vec<Marker>, StoreError> {
        let mut out = Vec::new();
        for c in counters {
            let rows: Vec<(Option<String>, Option<i64>, Option<i64>)> = sqlx::query_as(
                "SELECT t.number, x.last_called_us, x.end_us FROM ticket_transaction x \
                 JOIN ticket t ON t.hall_id = x.hall_id AND t.ticket_id = x.ticket_id \
                 WHERE x.hall_id = $1 AND x.counter = $2 AND x.last_called_us >= $3 AND x.last_called_us < $4",
            )
            .bind(hall)
            .bind(c)
            .bind(from - DAY_US)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
            for (number, called, end) in rows {
                let number = number.unwrap_or_else(|| "?".into());
                if let Some(at) = called.filter(|t| (from..to).contains(t)) {
                    out.push(Marker { at_us: at, kind: "ticket.called".into(), label: format!("{number} → quầy {c}") });
                }
                if let Some(at) = end.filter(|t| (from..to).contains(t)) {
                    out.push(Marker { at_us: at, kind: "ticket.finished".into(), label: format!("{number} ✓ quầy {c}") });
                }
            }
            let ratings: Vec<(WallUs, i64, String, bool)> = sqlx::query_as(
                "SELECT at_us, score, scale, satisfied FROM rating WHERE hall_id = $1 AND counter = $2 AND at_us >= $3 AND at_us < $4",
            )
            .bind(hall)
            .bind(c)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
            for (at, score, scale, satisfied) in ratings {
                let mood = if satisfied { "hài lòng" } else { "không hài lòng" };
                out.push(Marker { at_us: at, kind: "rating".into(), label: format!("quầy {c}: {score} ({scale}) {mood}") });
            }
        }
        let alerts: Vec<(WallUs, String, String)> =
            sqlx::query_as("SELECT opened_us, severity, message FROM alert WHERE hall = $1 AND opened_us >= $2 AND opened_us < $3")
                .bind(hall)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        for (at, severity, message) in alerts {
            out.push(Marker { at_us: at, kind: "alert".into(), label: format!("{severity}: {message}") });
        }
        out.sort_by_key(|m| m.at_us);
        Ok(out)
    }

    /// The ticket of `hall` with displayed `number` issued in `[from, to)` (the latest if the
    /// number came round twice): how auditors name tickets.
    pub async fn ticket_by_number(&self, hall: &str, number: &str, from: WallUs, to: WallUs) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT ticket_id FROM ticket WHERE hall_id = $1 AND number = $2 AND issued_us >= $3 AND issued_us < $4 \
             ORDER BY issued_us DESC LIMIT 1",
        )
        .bind(hall)
        .bind(number)
        .bind(from)
        .bind(to)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Counters of `hall` whose record names `camera` as the camera that shows them.
    pub async fn counters_with_camera(&self, hall: &str, camera: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT number FROM counter WHERE hall_id = $1 AND camera_id = $2 ORDER BY number")
            .bind(hall)
            .bind(camera)
            .fetch_all(&self.pool)
            .await?)
    }
}
