//! Alert rows: the stateful side of `service::alerts`, and the inputs the evaluator needs that
//! are not in `HallNow` (seat empty since, waiting-zone counts, recording progress, ratings).

use std::collections::BTreeSet;

use sqlx::Row;

use super::{Store, StoreError};
use crate::service::alerts::{AlertKind, Condition, RatingInput, Severity};
use crate::service::RatingScale;
use crate::time::WallUs;

/// One alert as stored and served by `GET /api/alerts`.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct AlertRow {
    /// Id (used to acknowledge).
    pub id: i64,
    /// Hall.
    pub hall: String,
    /// Rule, e.g. `long_queue`.
    pub kind: String,
    /// What it is about, e.g. `field:HT`.
    pub subject: String,
    /// Highest level reached: `warning` or `critical`.
    pub severity: String,
    /// The latest description.
    pub message: String,
    /// The latest measured value.
    pub value: f64,
    /// First breach.
    pub opened_us: WallUs,
    /// Last evaluation that still saw the condition.
    pub last_seen_us: WallUs,
    /// Last (re-)notification.
    pub notified_us: WallUs,
    /// Notifications sent: the opening, escalations and re-notifications.
    pub notifications: i64,
    /// When the condition ended (or, for a rating, when it was acknowledged).
    pub cleared_us: Option<WallUs>,
    /// When acknowledged.
    pub acked_us: Option<WallUs>,
    /// Who acknowledged it (the token's name).
    pub acked_by: Option<String>,
    /// What they noted.
    pub ack_note: Option<String>,
}

/// What one `apply_alerts` pass changed, by alert id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// New alerts.
    pub opened: Vec<i64>,
    /// Warning → critical.
    pub escalated: Vec<i64>,
    /// Still open after a de-duplication interval: notified again.
    pub renotified: Vec<i64>,
    /// Cleared within the de-duplication interval and breached again: the same alert reopened.
    pub reopened: Vec<i64>,
    /// Condition gone.
    pub cleared: Vec<i64>,
}

impl ApplyReport {
    /// Whether anything changed besides `last_seen_us`.
    pub fn changed(&self) -> bool {
        !(self.opened.is_empty() && self.escalated.is_empty() && self.renotified.is_empty() && self.reopened.is_empty() && self.cleared.is_empty())
    }
}

/// Outcome of an acknowledgement.
#[derive(Clone, Debug, PartialEq)]
pub enum Ack {
    /// Acknowledged now.
    Done(AlertRow),
    /// It already was (by someone, at some time): nothing changed.
    Already(AlertRow),
    /// No alert with that id.
    Missing,
}

const COLUMNS: &str = "id, hall, kind, subject, severity, message, value, opened_us, last_seen_us, notified_us, notifications, \
                       cleared_us, acked_us, acked_by, ack_note";

fn severity_of(s: &str) -> Severity {
    if s == "critical" {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn notify(row_id: i64, hall: &str, c: &Condition, what: &str) {
    tracing::warn!(alert = row_id, hall, kind = c.kind.as_str(), subject = %c.subject, severity = c.severity.as_str(), "alert {what}: {}", c.message);
}

impl Store {
    /// Turns the conditions holding at `now` in `hall` into alert rows: one open alert per
    /// (kind, subject); escalation to the highest severity seen; a re-notification at most once
    /// per `dedup_us`; a condition that returns within `dedup_us` of clearing reopens the same
    /// alert rather than a new one; state alerts whose condition is gone clear. Rating alerts
    /// are events: each rating opens one alert once, ever, and only acknowledgement closes it.
    pub async fn apply_alerts(&self, hall: &str, conditions: &[Condition], now: WallUs, dedup_us: i64) -> Result<ApplyReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut report = ApplyReport::default();
        let mut present = BTreeSet::new();
        for c in conditions {
            present.insert((c.kind.as_str(), c.subject.as_str()));
            let open: Option<AlertRow> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM alert WHERE hall = $1 AND kind = $2 AND subject = $3 AND cleared_us IS NULL ORDER BY id DESC LIMIT 1"
            ))
            .bind(hall)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(a) = open {
                let escalate = c.severity > severity_of(&a.severity);
                let renotify = escalate || now - a.notified_us >= dedup_us;
                let severity = c.severity.max(severity_of(&a.severity));
                sqlx::query(
                    "UPDATE alert SET last_seen_us = $1, message = $2, value = $3, severity = $4, \
                     notified_us = CASE WHEN $5 THEN $1 ELSE notified_us END, notifications = notifications + CASE WHEN $5 THEN 1 ELSE 0 END \
                     WHERE id = $6",
                )
                .bind(now)
                .bind(&c.message)
                .bind(c.value)
                .bind(severity.as_str())
                .bind(renotify)
                .bind(a.id)
                .execute(&mut *tx)
                .await?;
                if escalate {
                    notify(a.id, hall, c, "escalated");
                    report.escalated.push(a.id);
                } else if renotify {
                    notify(a.id, hall, c, "still open");
                    report.renotified.push(a.id);
                }
                continue;
            }
            let previous: Option<AlertRow> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM alert WHERE hall = $1 AND kind = $2 AND subject = $3 ORDER BY id DESC LIMIT 1"
            ))
            .bind(hall)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(p) = previous {
                if c.kind.is_event() {
                    continue;
                }
                if p.cleared_us.is_some_and(|t| now - t < dedup_us) {
                    let escalate = c.severity > severity_of(&p.severity);
                    sqlx::query(
                        "UPDATE alert SET cleared_us = NULL, last_seen_us = $1, message = $2, value = $3, severity = $4, \
                         notified_us = CASE WHEN $5 THEN $1 ELSE notified_us END, notifications = notifications + CASE WHEN $5 THEN 1 ELSE 0 END \
                         WHERE id = $6",
                    )
                    .bind(now)
                    .bind(&c.message)
                    .bind(c.value)
                    .bind(c.severity.max(severity_of(&p.severity)).as_str())
                    .bind(escalate)
                    .bind(p.id)
                    .execute(&mut *tx)
                    .await?;
                    if escalate {
                        notify(p.id, hall, c, "escalated");
                        report.escalated.push(p.id);
                    }
                    report.reopened.push(p.id);
                    continue;
                }
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alert (hall, kind, subject, severity, message, value, opened_us, last_seen_us, notified_us, notifications) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, 1) RETURNING id",
            )
            .bind(hall)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .bind(c.severity.as_str())
            .bind(&c.message)
            .bind(c.value)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            notify(id, hall, c, "opened");
            report.opened.push(id);
        }
        let open = sqlx::query("SELECT id, kind, subject FROM alert WHERE hall = $1 AND cleared_us IS NULL")
            .bind(hall)
            .fetch_all(&mut *tx)
            .await?;
        for r in open {
            let (id, kind, subject): (i64, String, String) = (r.try_get("id")?, r.try_get("kind")?, r.try_get("subject")?);
            if AlertKind::parse(&kind).is_some_and(AlertKind::is_event) || present.contains(&(kind.as_str(), subject.as_str())) {
                continue;
            }
            sqlx::query("UPDATE alert SET cleared_us = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *tx).await?;
            tracing::info!(alert = id, hall, kind, subject, "alert cleared");
            report.cleared.push(id);
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Alerts, newest first: of one hall or all, only open ones or all, and (for `from`/`to`)
    /// those active at some time in `[from, to)`.
    pub async fn alerts(&self, hall: Option<&str>, open_only: bool, from: Option<WallUs>, to: Option<WallUs>, limit: i64) -> Result<Vec<AlertRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM alert WHERE ($1 IS NULL OR hall = $1) AND ($2 = FALSE OR cleared_us IS NULL) \
             AND ($3 IS NULL OR cleared_us IS NULL OR cleared_us >= $3) AND ($4 IS NULL OR opened_us < $4) \
             ORDER BY opened_us DESC, id DESC LIMIT $5"
        ))
        .bind(hall)
        .bind(open_only)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One alert.
    pub async fn alert(&self, id: i64) -> Result<Option<AlertRow>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM alert WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    /// Acknowledges an alert once, recording who, when and their note. A rating alert is
    /// closed by its acknowledgement; a state alert stays open until its condition ends.
    pub async fn ack_alert(&self, id: i64, by: &str, note: &str, now: WallUs) -> Result<Ack, StoreError> {
        let r = sqlx::query(
            "UPDATE alert SET acked_us = $1, acked_by = $2, ack_note = $3, \
             cleared_us = CASE WHEN kind = $4 AND cleared_us IS NULL THEN $1 ELSE cleared_us END \
             WHERE id = $5 AND acked_us IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(note)
        .bind(AlertKind::DissatisfiedRating.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        let row = self.alert(id).await?;
        Ok(match (r.rows_affected(), row) {
            (_, None) => Ack::Missing,
            (1, Some(a)) => Ack::Done(a),
            (_, Some(a)) => Ack::Already(a),
        })
    }

    /// End of the last interval in which the camera saw `counter`'s staff seat occupied,
    /// before `at` (None: never seen occupied).
    pub async fn seat_empty_since(&self, camera: &str, counter: i64, at: WallUs) -> Result<Option<WallUs>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MAX(to_us) FROM counter_staffed WHERE camera_id = $1 AND counter = $2 AND to_us <= $3")
            .bind(camera)
            .bind(counter)
            .bind(at)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Lowest per-second count of a zone in `[from, to]`, and the first sample's time.
    pub async fn zone_min_since(&self, camera: &str, zone: &str, from: WallUs, to: WallUs) -> Result<(Option<i64>, Option<WallUs>), StoreError> {
        let r = sqlx::query("SELECT MIN(count) AS m, MIN(at_us) AS f FROM occupancy_sample WHERE camera_id = $1 AND zone = $2 AND at_us >= $3 AND at_us <= $4")
            .bind(camera)
            .bind(zone)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("m")?, r.try_get("f")?))
    }

    /// For one stream: the latest recorded instant (a closed segment's end, or the start of the
    /// one being written) and the start of the latest segment that follows a gap.
    pub async fn recording_progress(&self, camera: &str, stream: &str) -> Result<(Option<WallUs>, Option<WallUs>), StoreError> {
        let r = sqlx::query(
            "SELECT MAX(COALESCE(end_us, start_us)) AS last, MAX(CASE WHEN gap_before THEN start_us END) AS gap \
             FROM segment WHERE camera_id = $1 AND stream = $2",
        )
        .bind(camera)
        .bind(stream)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get("last")?, r.try_get("gap")?))
    }

    /// Bytes of closed segments that started after `since` (the recent write rate).
    pub async fn bytes_recorded_since(&self, since: WallUs) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT SUM(bytes) FROM segment WHERE state = 'closed' AND start_us > $1")
            .bind(since)
            .fetch_one(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// Dissatisfied ratings of `hall` rated in `[from, to]` that have no alert yet.
    pub async fn unalerted_dissatisfied_ratings(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<RatingInput>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.source, r.source_id, r.at_us, r.scale, r.score, r.ticket_id, r.counter, r.officer_id FROM rating r \
             WHERE r.hall_id = $1 AND r.satisfied = FALSE AND r.at_us >= $2 AND r.at_us <= $3 AND NOT EXISTS \
             (SELECT 1 FROM alert a WHERE a.hall = r.hall_id AND a.kind = $4 AND a.subject = 'rating:' || r.source || '/' || r.source_id) \
             ORDER BY r.at_us",
        )
        .bind(hall)
        .bind(from)
        .bind(to)
        .bind(AlertKind::DissatisfiedRating.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (source, id): (String, String) = (r.try_get("source")?, r.try_get("source_id")?);
                let scale: String = r.try_get("scale")?;
                Ok(RatingInput {
                    key: format!("{source}/{id}"),
                    at_us: r.try_get("at_us")?,
                    scale: if scale == "five" { RatingScale::Five } else { RatingScale::Three },
                    score: r.try_get("score")?,
                    ticket_id: r.try_get("ticket_id")?,
                    counter: r.try_get("counter")?,
                    officer: r.try_get("officer_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
