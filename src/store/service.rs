//! Service records: idempotent ingestion of tickets, counters, officers, dossiers and ratings,
//! and the ticket projection kept in step with the ticket history.
//!
//! Every `ingest_*` takes a whole batch and runs it in one transaction, so a batch (an API
//! request, a CSV file) lands completely or not at all. A record whose `(source, source_id)`
//! is already stored is a replay: identical content changes nothing (`Duplicate`), different
//! content is refused (`Conflict`) rather than silently overwriting history.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Row, Sqlite, Transaction};

use super::day_cache::mark_late;
use super::{Store, StoreError};
use crate::service::now::{scheduled_open, CounterNow, HallNow, QueuedTicket, RecentService};
use crate::service::ticket::{project, Projection};
use crate::service::{
    CounterIn, CounterStateChange, Dossier, DossierStatus, DossierStatusChange, OfficerIn, OpeningHours, Rating,
    TicketEvent, TicketEventKind,
};
use crate::time::{now_us, WallUs};

/// What became of one ingested record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    /// Stored (or, for snapshots such as counters and dossiers, created or changed).
    Stored,
    /// Already stored with the same content: nothing changed.
    Duplicate,
    /// The source id is taken by different content: refused.
    Conflict,
}

type Tx<'a> = Transaction<'a, Sqlite>;

impl Store {
    /// Stores ticket events and re-projects every ticket they touch.
    pub async fn ingest_ticket_events(&self, source: &str, events: &[TicketEvent]) -> Result<Vec<Ingested>, StoreError> {
        let mut out = self.ingest_ticket_batches(&[(source, events)]).await?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Stores several sources' batches of ticket events in one transaction (group commit):
    /// one result list per batch, in order. Tickets touched by several events are re-projected
    /// once.
    pub async fn ingest_ticket_batches(&self, batches: &[(&str, &[TicketEvent])]) -> Result<Vec<Vec<Ingested>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let received = now_us();
        let mut results = Vec::with_capacity(batches.len());
        let mut touched = BTreeSet::new();
        for (source, events) in batches {
            let mut out = Vec::with_capacity(events.len());
            for e in *events {
                let r = sqlx::query(
                    "INSERT INTO ticket_event (source, source_id, hall_id, ticket_id, kind, at_us, number, field, counter, \
                     officer_id, to_field, to_counter, channel, priority, received_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     ON CONFLICT (source, source_id) DO NOTHING",
                )
                .bind(source)
                .bind(&e.event_id)
                .bind(&e.hall)
                .bind(&e.ticket_id)
                .bind(e.kind.as_str())
                .bind(e.at_us)
                .bind(&e.number)
                .bind(&e.field)
                .bind(e.counter)
                .bind(&e.officer)
                .bind(&e.to_field)
                .bind(e.to_counter)
                .bind(&e.channel)
                .bind(e.priority)
                .bind(received)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 1 {
                    touched.insert((e.hall.clone(), e.ticket_id.clone()));
                    out.push(Ingested::Stored);
                } else {
                    let stored = stored_ticket_event(&mut tx, source, &e.event_id).await?;
                    out.push(if stored.as_ref() == Some(e) { Ingested::Duplicate } else { Ingested::Conflict });
                }
            }
            results.push(out);
        }
        let mut earliest = None;
        for (hall, ticket) in touched {
            let first = reproject_ticket(&mut tx, &hall, &ticket).await?;
            earliest = earliest.into_iter().chain(first).min();
        }
        mark_late(&mut tx, earliest).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// Creates or updates counters (the QMS's current description of each counter).
    pub async fn ingest_counters(&self, counters: &[CounterIn]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(counters.len());
        for c in counters {
            let fields = serde_json::to_string(&c.fields).unwrap_or_default();
            let hours = serde_json::to_string(&c.opening_hours).unwrap_or_default();
            let r = sqlx::query(
                "INSERT INTO counter (hall_id, number, name, fields, opening_hours, camera_id, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (hall_id, number) DO UPDATE SET name = excluded.name, fields = excluded.fields, \
                 opening_hours = excluded.opening_hours, camera_id = excluded.camera_id, updated_us = excluded.updated_us \
                 WHERE counter.name <> excluded.name OR counter.fields <> excluded.fields \
                 OR counter.opening_hours <> excluded.opening_hours OR counter.camera_id IS NOT excluded.camera_id",
            )
            .bind(&c.hall)
            .bind(c.number)
            .bind(&c.name)
            .bind(fields)
            .bind(hours)
            .bind(&c.camera)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
            out.push(if r.rows_affected() == 1 { Ingested::Stored } else { Ingested::Duplicate });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Creates or updates officers.
    pub async fn ingest_officers(&self, officers: &[OfficerIn]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(officers.len());
        for o in officers {
            let r = sqlx::query(
                "INSERT INTO officer (hall_id, id, name, active, updated_us) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (hall_id, id) DO UPDATE SET name = excluded.name, active = excluded.active, \
                 updated_us = excluded.updated_us \
                 WHERE officer.name <> excluded.name OR officer.active <> excluded.active",
            )
            .bind(&o.hall)
            .bind(&o.id)
            .bind(&o.name)
            .bind(o.active)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
            out.push(if r.rows_affected() == 1 { Ingested::Stored } else { Ingested::Duplicate });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Stores counter open / paused / closed changes.
    pub async fn ingest_counter_states(&self, source: &str, changes: &[CounterStateChange]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(changes.len());
        let mut earliest: Option<WallUs> = None;
        for c in changes {
            let r = sqlx::query(
                "INSERT INTO counter_state (source, source_id, hall_id, counter, state, reason, officer_id, at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source, source_id) DO NOTHING",
            )
            .bind(source)
            .bind(&c.event_id)
            .bind(&c.hall)
            .bind(c.counter)
            .bind(c.state.as_str())
            .bind(&c.reason)
            .bind(&c.officer)
            .bind(c.at_us)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 1 {
                earliest = Some(earliest.map_or(c.at_us, |e| e.min(c.at_us)));
                out.push(Ingested::Stored);
            } else {
                let row = sqlx::query(
                    "SELECT hall_id, counter, state, reason, officer_id, at_us FROM counter_state WHERE source = $1 AND source_id = $2",
                )
                .bind(source)
                .bind(&c.event_id)
                .fetch_one(&mut *tx)
                .await?;
                let same = row.try_get::<String, _>("hall_id")? == c.hall
                    && row.try_get::<i64, _>("counter")? == c.counter
                    && row.try_get::<String, _>("state")? == c.state.as_str()
                    && row.try_get::<Option<String>, _>("reason")? == c.reason
                    && row.try_get::<Option<String>, _>("officer_id")? == c.officer
                    && row.try_get::<i64, _>("at_us")? == c.at_us;
                out.push(if same { Ingested::Duplicate } else { Ingested::Conflict });
            }
        }
        mark_late(&mut tx, earliest).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Stores dossier snapshots. A snapshot older than the stored one (by status time) does
    /// not overwrite it; its status still joins the history. Status = latest status event.
    pub async fn ingest_dossiers(&self, source: &str, dossiers: &[Dossier]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(dossiers.len());
        for d in dossiers {
            let r = sqlx::query(
                "INSERT INTO dossier (hall_id, code, procedure_code, procedure_name, field, channel, received_us, due_us, \
                 returned_us, finished_us, extended, counter, officer_id, status, status_at_us, source, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (hall_id, code) DO UPDATE SET procedure_code = excluded.procedure_code, \
                 procedure_name = excluded.procedure_name, field = excluded.field, channel = excluded.channel, \
                 received_us = excluded.received_us, due_us = excluded.due_us, returned_us = excluded.returned_us, \
                 finished_us = excluded.finished_us, extended = excluded.extended, counter = excluded.counter, \
                 officer_id = excluded.officer_id, source = excluded.source, updated_us = excluded.updated_us \
                 WHERE excluded.status_at_us >= dossier.status_at_us AND (\
                 dossier.procedure_code <> excluded.procedure_code OR dossier.procedure_name <> excluded.procedure_name \
                 OR dossier.field <> excluded.field OR dossier.channel <> excluded.channel \
                 OR dossier.received_us <> excluded.received_us OR dossier.due_us <> excluded.due_us \
                 OR dossier.returned_us IS NOT excluded.returned_us OR dossier.finished_us IS NOT excluded.finished_us \
                 OR dossier.extended <> excluded.extended OR dossier.counter IS NOT excluded.counter \
                 OR dossier.officer_id IS NOT excluded.officer_id OR dossier.status <> excluded.status)",
            )
            .bind(&d.hall)
            .bind(&d.code)
            .bind(&d.procedure_code)
            .bind(&d.procedure_name)
            .bind(&d.field)
            .bind(d.channel.code())
            .bind(d.received_us)
            .bind(d.due_us)
            .bind(d.returned_us)
            .bind(d.finished_us)
            .bind(d.extended)
            .bind(d.counter)
            .bind(&d.officer)
            .bind(i64::from(d.status))
            .bind(d.status_at_us)
            .bind(source)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
            let changed = r.rows_affected() == 1;
            // The snapshot's status is a status event too, keyed by its content so a replay
            // of the same snapshot adds nothing.
            let status_id = format!("snapshot:{}:{}:{}", d.code, i64::from(d.status), d.status_at_us);
            let s = sqlx::query(
                "INSERT INTO dossier_status (source, source_id, hall_id, dossier_code, status, at_us, officer_id, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT (source, source_id) DO NOTHING",
            )
            .bind(source)
            .bind(status_id)
            .bind(&d.hall)
            .bind(&d.code)
            .bind(i64::from(d.status))
            .bind(d.status_at_us)
            .bind(&d.officer)
            .execute(&mut *tx)
            .await?;
            let mut linked = false;
            for t in &d.tickets {
                let l = sqlx::query(
                    "INSERT INTO dossier_ticket (hall_id, dossier_code, ticket_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(&d.hall)
                .bind(&d.code)
                .bind(t)
                .execute(&mut *tx)
                .await?;
                linked |= l.rows_affected() == 1;
            }
            refresh_dossier_status(&mut tx, &d.hall, &d.code).await?;
            out.push(if changed || s.rows_affected() == 1 || linked { Ingested::Stored } else { Ingested::Duplicate });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Stores dossier status changes; the dossier's status becomes its latest change.
    pub async fn ingest_dossier_statuses(&self, source: &str, changes: &[DossierStatusChange]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(changes.len());
        for c in changes {
            let r = sqlx::query(
                "INSERT INTO dossier_status (source, source_id, hall_id, dossier_code, status, at_us, officer_id, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source, source_id) DO NOTHING",
            )
            .bind(source)
            .bind(&c.event_id)
            .bind(&c.hall)
            .bind(&c.code)
            .bind(i64::from(c.status))
            .bind(c.at_us)
            .bind(&c.officer)
            .bind(&c.note)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 1 {
                refresh_dossier_status(&mut tx, &c.hall, &c.code).await?;
                out.push(Ingested::Stored);
            } else {
                let row = sqlx::query(
                    "SELECT hall_id, dossier_code, status, at_us, officer_id, note FROM dossier_status WHERE source = $1 AND source_id = $2",
                )
                .bind(source)
                .bind(&c.event_id)
                .fetch_one(&mut *tx)
                .await?;
                let same = row.try_get::<String, _>("hall_id")? == c.hall
                    && row.try_get::<String, _>("dossier_code")? == c.code
                    && row.try_get::<i64, _>("status")? == i64::from(c.status)
                    && row.try_get::<i64, _>("at_us")? == c.at_us
                    && row.try_get::<Option<String>, _>("officer_id")? == c.officer
                    && row.try_get::<Option<String>, _>("note")? == c.note;
                out.push(if same { Ingested::Duplicate } else { Ingested::Conflict });
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Stores ratings.
    pub async fn ingest_ratings(&self, source: &str, ratings: &[Rating]) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(ratings.len());
        let mut earliest: Option<WallUs> = None;
        for r in ratings {
            let reasons = serde_json::to_string(&r.reasons).unwrap_or_default();
            let q = sqlx::query(
                "INSERT INTO rating (source, source_id, hall_id, at_us, scale, score, satisfied, ticket_id, dossier_code, \
                 counter, officer_id, reasons, comment, device_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (source, source_id) DO NOTHING",
            )
            .bind(source)
            .bind(&r.rating_id)
            .bind(&r.hall)
            .bind(r.at_us)
            .bind(r.scale.as_str())
            .bind(r.score)
            .bind(r.satisfied)
            .bind(&r.ticket_id)
            .bind(&r.dossier_code)
            .bind(r.counter)
            .bind(&r.officer)
            .bind(&reasons)
            .bind(&r.comment)
            .bind(&r.device_id)
            .execute(&mut *tx)
            .await?;
            if q.rows_affected() == 1 {
                earliest = Some(earliest.map_or(r.at_us, |e| e.min(r.at_us)));
                out.push(Ingested::Stored);
            } else {
                let row = sqlx::query(
                    "SELECT hall_id, at_us, scale, score, ticket_id, dossier_code, counter, officer_id, reasons, comment, device_id \
                     FROM rating WHERE source = $1 AND source_id = $2",
                )
                .bind(source)
                .bind(&r.rating_id)
                .fetch_one(&mut *tx)
                .await?;
                let same = row.try_get::<String, _>("hall_id")? == r.hall
                    && row.try_get::<i64, _>("at_us")? == r.at_us
                    && row.try_get::<String, _>("scale")? == r.scale.as_str()
                    && row.try_get::<i64, _>("score")? == r.score
                    && row.try_get::<Option<String>, _>("ticket_id")? == r.ticket_id
                    && row.try_get::<Option<String>, _>("dossier_code")? == r.dossier_code
                    && row.try_get::<Option<i64>, _>("counter")? == r.counter
                    && row.try_get::<Option<String>, _>("officer_id")? == r.officer
                    && row.try_get::<String, _>("reasons")? == reasons
                    && row.try_get::<Option<String>, _>("comment")? == r.comment
                    && row.try_get::<Option<String>, _>("device_id")? == r.device_id;
                out.push(if same { Ingested::Duplicate } else { Ingested::Conflict });
            }
        }
        mark_late(&mut tx, earliest).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The raw events of every ticket of `hall` issued in `[from, to)`, as stored (for
    /// re-projecting them, e.g. to check the projection against its source).
    pub async fn events_of_tickets_issued(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<TicketEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_id, hall_id, ticket_id, kind, at_us, number, field, counter, officer_id, to_field, to_counter, \
             channel, priority FROM ticket_event WHERE hall_id = $1 AND ticket_id IN (SELECT ticket_id FROM ticket_event \
             WHERE hall_id = $1 AND kind = 'issued' AND at_us >= $2 AND at_us < $3)",
        )
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The projection of one ticket, as stored.
    pub async fn ticket(&self, hall: &str, ticket_id: &str) -> Result<Option<Projection>, StoreError> {
        let events = ticket_events(&mut *self.pool.acquire().await?, hall, ticket_id).await?;
        Ok(project(&events))
    }
}

async fn stored_ticket_event(tx: &mut Tx<'_>, source: &str, event_id: &str) -> Result<Option<TicketEvent>, StoreError> {
    let row = sqlx::query(
        "SELECT source_id, hall_id, ticket_id, kind, at_us, number, field, counter, officer_id, to_field, to_counter, \
         channel, priority FROM ticket_event WHERE source = $1 AND source_id = $2",
    )
    .bind(source)
    .bind(event_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| event_from_row(&r)).transpose()
}

fn event_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<TicketEvent, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(TicketEvent {
        event_id: r.try_get("source_id")?,
        hall: r.try_get("hall_id")?,
        ticket_id: r.try_get("ticket_id")?,
        // The CHECK constraint admits only known kinds.
        kind: TicketEventKind::parse(&kind).ok_or_else(|| sqlx::Error::Decode(format!("unknown ticket event kind {kind}").into()))?,
        at_us: r.try_get("at_us")?,
        number: r.try_get("number")?,
        field: r.try_get("field")?,
        counter: r.try_get("counter")?,
        officer: r.try_get("officer_id")?,
        to_field: r.try_get("to_field")?,
        to_counter: r.try_get("to_counter")?,
        channel: r.try_get("channel")?,
        priority: r.try_get("priority")?,
    })
}

async fn ticket_events(conn: &mut sqlx::SqliteConnection, hall: &str, ticket_id: &str) -> Result<Vec<TicketEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT source_id, hall_id, ticket_id, kind, at_us, number, field, counter, officer_id, to_field, to_counter, \
         channel, priority FROM ticket_event WHERE hall_id = $1 AND ticket_id = $2",
    )
    .bind(hall)
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// Re-projects one ticket from its events; returns its earliest event time, the first day its
/// rows (ticket, stays, and ratings joined to it) can have changed.
async fn reproject_ticket(tx: &mut Tx<'_>, hall: &str, ticket_id: &str) -> Result<Option<WallUs>, StoreError> {
    let events = ticket_events(tx, hall, ticket_id).await?;
    let earliest = events.iter().map(|e| e.at_us).min();
    let Some(p) = project(&events) else { return Ok(earliest) };
    let t = &p.ticket;
    sqlx::query(
        "INSERT INTO ticket (hall_id, ticket_id, number, field, channel, priority, issued_us, first_called_us, finished_us, \
         counter, officer_id, outcome, calls, transfers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (hall_id, ticket_id) DO UPDATE SET number = excluded.number, field = excluded.field, \
         channel = excluded.channel, priority = excluded.priority, issued_us = excluded.issued_us, \
         first_called_us = excluded.first_called_us, finished_us = excluded.finished_us, counter = excluded.counter, \
         officer_id = excluded.officer_id, outcome = excluded.outcome, calls = excluded.calls, transfers = excluded.transfers",
    )
    .bind(&t.hall)
    .bind(&t.ticket_id)
    .bind(&t.number)
    .bind(&t.field)
    .bind(&t.channel)
    .bind(t.priority)
    .bind(t.issued_us)
    .bind(t.first_called_us)
    .bind(t.finished_us)
    .bind(t.counter)
    .bind(&t.officer)
    .bind(t.outcome.as_str())
    .bind(t.calls)
    .bind(t.transfers)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM ticket_transaction WHERE hall_id = $1 AND ticket_id = $2")
        .bind(hall)
        .bind(ticket_id)
        .execute(&mut **tx)
        .await?;
    for x in &p.transactions {
        sqlx::query(
            "INSERT INTO ticket_transaction (hall_id, ticket_id, seq, field, counter, officer_id, queued_us, first_called_us, \
             last_called_us, calls, service_start_us, end_us, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(hall)
        .bind(ticket_id)
        .bind(x.seq)
        .bind(&x.field)
        .bind(x.counter)
        .bind(&x.officer)
        .bind(x.queued_us)
        .bind(x.first_called_us)
        .bind(x.last_called_us)
        .bind(x.calls)
        .bind(x.service_start_us)
        .bind(x.end_us)
        .bind(x.outcome.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(earliest)
}

/// Sets a dossier's status to its latest status event (ties: the higher code, since codes
/// follow the dossier's life), so status changes may arrive before or after the dossier.
async fn refresh_dossier_status(tx: &mut Tx<'_>, hall: &str, code: &str) -> Result<(), StoreError> {
    let latest: Option<(i64, WallUs)> = sqlx::query_as(
        "SELECT status, at_us FROM dossier_status WHERE hall_id = $1 AND dossier_code = $2 ORDER BY at_us DESC, status DESC LIMIT 1",
    )
    .bind(hall)
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((status, at)) = latest {
        let status = DossierStatus::try_from(status).map_err(|e| sqlx::Error::Decode(e.into()))?;
        sqlx::query("UPDATE dossier SET status = $1, status_at_us = $2 WHERE hall_id = $3 AND code = $4")
            .bind(i64::from(status))
            .bind(at)
            .bind(hall)
            .bind(code)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The hall's service state at `at` (see [`HallNow`]). `staff_cameras` maps counters to the
    /// camera whose staff zone watches them ([`crate::service::now::staff_cameras`]).
    pub async fn hall_now(&self, hall: &str, at: WallUs, staff_cameras: &BTreeMap<i64, String>) -> Result<HallNow, StoreError> {
        const HOUR_US: i64 = 3_600_000_000;
        let day_start = crate::time::local_day_start(at);
        let mut conn = self.pool.acquire().await?;
        let queued = sqlx::query(
            "SELECT x.ticket_id, t.number, x.field, x.queued_us, x.outcome, x.counter, x.last_called_us, t.priority \
             FROM ticket_transaction x JOIN ticket t ON t.hall_id = x.hall_id AND t.ticket_id = x.ticket_id \
             WHERE x.hall_id = $1 AND x.outcome IN ('waiting', 'called', 'serving') AND x.queued_us >= $2 AND x.queued_us <= $3 \
             ORDER BY x.queued_us",
        )
        .bind(hall)
        .bind(day_start)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(QueuedTicket {
                ticket_id: r.try_get("ticket_id")?,
                number: r.try_get("number")?,
                field: r.try_get("field")?,
                queued_us: r.try_get("queued_us")?,
                outcome: r.try_get("outcome")?,
                counter: r.try_get("counter")?,
                last_called_us: r.try_get("last_called_us")?,
                priority: r.try_get("priority")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let recent = sqlx::query(
            "SELECT field, counter, queued_us, last_called_us, end_us FROM ticket_transaction \
             WHERE hall_id = $1 AND end_us > $2 AND end_us <= $3 AND outcome IN ('served', 'transferred') \
             AND last_called_us IS NOT NULL ORDER BY end_us",
        )
        .bind(hall)
        .bind(at - HOUR_US)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let queued: Option<i64> = r.try_get("queued_us")?;
            let called: i64 = r.try_get("last_called_us")?;
            let end: i64 = r.try_get("end_us")?;
            Ok(RecentService {
                field: r.try_get("field")?,
                counter: r.try_get("counter")?,
                wait_us: queued.map(|q| called - q),
                service_us: end - called,
                end_us: end,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let arrivals_last_hour: BTreeMap<String, i64> = sqlx::query_as(
            "SELECT COALESCE(field, ''), COUNT(*) FROM ticket WHERE hall_id = $1 AND issued_us > $2 AND issued_us <= $3 GROUP BY field",
        )
        .bind(hall)
        .bind(at - HOUR_US)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        let served_today: BTreeMap<String, i64> = sqlx::query_as(
            "SELECT COALESCE(field, ''), COUNT(*) FROM ticket_transaction WHERE hall_id = $1 AND outcome = 'served' \
             AND end_us >= $2 AND end_us <= $3 GROUP BY field",
        )
        .bind(hall)
        .bind(day_start)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        let staffed: BTreeSet<(String, i64)> = sqlx::query_as(
            "SELECT camera_id, counter FROM counter_staffed WHERE from_us <= $1 AND (to_us IS NULL OR to_us >= $1)",
        )
        .bind(at)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        let rows = sqlx::query("SELECT number, name, fields, opening_hours, camera_id FROM counter WHERE hall_id = $1 ORDER BY number")
            .bind(hall)
            .fetch_all(&mut *conn)
            .await?;
        let mut counters = Vec::with_capacity(rows.len());
        for r in rows {
            let number: i64 = r.try_get("number")?;
            // One indexed probe per counter for the state holding now (portable SQL, no
            // per-row subquery over the whole history).
            let state: Option<(String, Option<String>, i64)> = sqlx::query_as(
                "SELECT state, reason, at_us FROM counter_state WHERE hall_id = $1 AND counter = $2 AND at_us <= $3 \
                 ORDER BY at_us DESC, id DESC LIMIT 1",
            )
            .bind(hall)
            .bind(number)
            .bind(at)
            .fetch_optional(&mut *conn)
            .await?;
            let fields: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("fields")?).unwrap_or_default();
            let hours: OpeningHours = serde_json::from_str(&r.try_get::<String, _>("opening_hours")?).unwrap_or_default();
            let staff_camera = staff_cameras.get(&number);
            let state = state.as_ref();
            counters.push(CounterNow {
                number,
                name: r.try_get("name")?,
                fields,
                scheduled_open: scheduled_open(&hours, at),
                qms_state: state.map(|s| s.0.clone()),
                reason: state.and_then(|s| s.1.clone()),
                state_since_us: state.map(|s| s.2),
                camera: r.try_get::<Option<String>, _>("camera_id")?.or_else(|| staff_camera.cloned()),
                camera_staffed: staff_camera.map(|c| staffed.contains(&(c.clone(), number))),
                current_ticket: queued
                    .iter()
                    .filter(|t| t.counter == Some(number) && t.outcome != "waiting")
                    .max_by_key(|t| t.last_called_us)
                    .and_then(|t| t.number.clone()),
            });
        }
        Ok(HallNow { hall: hall.to_owned(), at_us: at, queued, recent, arrivals_last_hour, served_today, counters })
    }
}
