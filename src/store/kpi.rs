//! Reads for KPIs, the estimated wait and evidence links: the rows the pure functions in
//! `service::{kpi, ewt, evidence}` compute from. Every query is bounded by an indexed time
//! range of one hall, so a dashboard over a month reads a month.

use std::collections::BTreeMap;
use std::future::Future;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::day_cache::sealed_days;
use super::{Store, StoreError};
use crate::service::evidence::{Candidate, TimelineEntry};
use crate::service::ewt::{History, HistoryTx};
use crate::service::kpi::{
    now_tiles, report, CameraWaitRow, CounterRow, DossierRow, GroupBy, KpiInput, NowTiles, OccupancyRow, RatingRow, StaffedSpan,
    StateRow, TicketRow,
};
use crate::service::ticket::{Outcome, Transaction};
use crate::service::OpeningHours;
use crate::time::{local_day_start, to_rfc3339, WallUs, DAY_US};

/// What the configuration says about a hall, for the queries below.
#[derive(Debug, Clone, Default)]
pub struct HallSetup {
    /// Service level per field, minutes.
    pub service_levels: BTreeMap<String, f64>,
    /// Counter → camera whose staff zone watches it.
    pub staff_cameras: BTreeMap<i64, String>,
    /// Analysed cameras of the hall with their waiting zones.
    pub waiting_zones: Vec<(String, Vec<String>)>,
    /// Analysed cameras of the hall (camera waits).
    pub cameras: Vec<String>,
}

impl HallSetup {
    /// The setup of `hall` from the configuration.
    pub fn from_config(cfg: &crate::config::Config, hall: &str) -> HallSetup {
        use crate::vision::zones::ZoneKindName;
        let service_levels = cfg
            .halls
            .iter()
            .filter(|h| h.id == hall)
            .flat_map(|h| h.fields.iter().map(|f| (f.code.clone(), f64::from(f.service_level_minutes))))
            .collect();
        let analysed: Vec<&crate::config::CameraConfig> =
            cfg.cameras.iter().filter(|c| c.hall == hall && c.enabled && c.analyze).collect();
        HallSetup {
            service_levels,
            staff_cameras: crate::service::now::staff_cameras(cfg, hall),
            waiting_zones: analysed
                .iter()
                .map(|c| (c.id.clone(), c.zones.iter().filter(|z| z.kind == ZoneKindName::Waiting).map(|z| z.id.clone()).collect()))
                .filter(|(_, z): &(String, Vec<String>)| !z.is_empty())
                .collect(),
            cameras: analysed.iter().map(|c| c.id.clone()).collect(),
        }
    }
}

fn parse_outcome(s: &str) -> Result<Outcome, sqlx::Error> {
    Outcome::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown outcome {s}").into()))
}

fn outcome(r: &SqliteRow) -> Result<Outcome, sqlx::Error> {
    parse_outcome(&r.try_get::<String, _>("outcome")?)
}

/// SQL returning every row of `SELECT {columns} FROM {from}` as one JSON array of arrays,
/// decoded with [`unpack`].
///
/// Why: sqlx-sqlite hands each row from its worker thread to the caller separately (a channel
/// send and a wake-up per row, plus a row allocation): for the tens of thousands of rows of a
/// month's report that cost more than SQLite's own work (about 3 µs a row); one packed row is
/// one hand-off. SQLite-only (`json_group_array`, `json_array`, and [`real`]): a PostgreSQL
/// backend writes `json_agg(json_build_array(...))` here, and only here. An empty result is
/// `[]`.
fn packed(columns: &str, from: &str) -> String {
    format!("SELECT json_group_array(json_array({columns})) FROM {from}")
}

/// A REAL column for [`packed`], decoded as [`Real`]. SQLite's JSON prints REAL with 15
/// significant digits, which would change KPI figures in their last bits; `quote()` is exact
/// (SQLite falls back to 20 digits when 15 do not round-trip). PostgreSQL's JSON is exact, so
/// there the column is used as is.
fn real(column: &str) -> String {
    format!("quote({column})")
}

/// A REAL packed by [`real`]: its exact SQL literal, parsed with correct rounding.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(try_from = "String")]
struct Real(f64);

impl TryFrom<String> for Real {
    type Error = std::num::ParseFloatError;
    fn try_from(s: String) -> Result<Real, Self::Error> {
        s.parse().map(Real)
    }
}

/// Decodes a [`packed`] result: one `T` (a tuple of the columns, in order) per row.
fn unpack<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// [`TX_PACKED`] columns of one row, in order.
type TxTuple = (
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<WallUs>,
    Option<WallUs>,
    Option<WallUs>,
    i64,
    Option<WallUs>,
    Option<WallUs>,
    String,
);

/// The columns of a [`Transaction`] for [`packed`], decoded by [`tx_from_tuple`].
const TX_PACKED: &str = "x.seq, x.field, x.counter, x.officer_id, x.queued_us, x.first_called_us, x.last_called_us, \
    x.calls, x.service_start_us, x.end_us, x.outcome";

fn tx_from_tuple(t: TxTuple) -> Result<Transaction, sqlx::Error> {
    let (seq, field, counter, officer, queued_us, first_called_us, last_called_us, calls, service_start_us, end_us, outcome) = t;
    Ok(Transaction {
        seq,
        field,
        counter,
        officer,
        queued_us,
        first_called_us,
        last_called_us,
        calls,
        service_start_us,
        end_us,
        outcome: parse_outcome(&outcome)?,
    })
}

const TX_COLUMNS: &str = "x.ticket_id, x.seq, x.field, x.counter, x.officer_id, x.queued_us, x.first_called_us, \
    x.last_called_us, x.calls, x.service_start_us, x.end_us, x.outcome";

fn tx_from_row(r: &SqliteRow) -> Result<Transaction, sqlx::Error> {
    Ok(Transaction {
        seq: r.try_get("seq")?,
        field: r.try_get("field")?,
        counter: r.try_get("counter")?,
        officer: r.try_get("officer_id")?,
        queued_us: r.try_get("queued_us")?,
        first_called_us: r.try_get("first_called_us")?,
        last_called_us: r.try_get("last_called_us")?,
        calls: r.try_get("calls")?,
        service_start_us: r.try_get("service_start_us")?,
        end_us: r.try_get("end_us")?,
        outcome: outcome(r)?,
    })
}

fn state_row(r: &SqliteRow) -> Result<StateRow, sqlx::Error> {
    Ok(StateRow { counter: r.try_get("counter")?, state: r.try_get("state")?, reason: r.try_get("reason")?, at_us: r.try_get("at_us")? })
}

/// How a report reads: its present, and the late-write watermark its reads are made at.
#[derive(Debug, Clone, Copy)]
struct Read {
    now: WallUs,
    watermark: i64,
}

impl Store {
    /// Applies late writes the day cache has not seen; the reads that follow are made at the
    /// returned watermark.
    async fn sync_days(&self, now: WallUs) -> Result<Read, StoreError> {
        let marks: Vec<(i64, WallUs)> = sqlx::query_as("SELECT seq, from_us FROM late_write WHERE seq > $1 ORDER BY seq")
            .bind(self.days.seen())
            .fetch_all(&self.pool)
            .await?;
        self.days.apply(&marks);
        Ok(Read { now, watermark: self.days.seen() })
    }

    /// Forgets every cached day, so the next reads go to the database (the cold path, for
    /// benchmarks).
    pub fn clear_day_cache(&self) {
        self.days.clear();
    }

    /// Keeps at most `rows` rows of past days for the KPI reads (`[reports] cache_rows`).
    pub fn set_day_cache_rows(&self, rows: usize) {
        self.days.set_budget(rows);
    }

    /// Rows held by the day cache.
    pub fn day_cache_rows(&self) -> usize {
        self.days.rows()
    }

    /// `read(a, b)` over `[from, to)`, with the sealed whole days of the range served from the
    /// day cache (missing ones read in runs and kept) and the rest read from the database.
    /// `day_of` is the time column `read` filters on. Every `read` returns rows in time order,
    /// so the rows come out in the order one read of the whole range gives.
    async fn by_day<T, F, Fut>(&self, key: &str, from: WallUs, to: WallUs, at: Read, day_of: fn(&T) -> WallUs, read: F) -> Result<Vec<T>, StoreError>
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(WallUs, WallUs) -> Fut,
        Fut: Future<Output = Result<Vec<T>, StoreError>>,
    {
        let (first, end) = sealed_days(from, to, at.now);
        if first >= end {
            return read(from, to).await;
        }
        let mut out = if from < first { read(from, first).await? } else { Vec::new() };
        let mut day = first;
        while day < end {
            if let Some(rows) = self.days.get::<T>(key, day) {
                out.extend(rows.iter().cloned());
                day += DAY_US;
                continue;
            }
            let mut stop = day + DAY_US;
            while stop < end && !self.days.has(key, stop) {
                stop += DAY_US;
            }
            let mut days: BTreeMap<WallUs, Vec<T>> = (0..(stop - day) / DAY_US).map(|i| (day + i * DAY_US, Vec::new())).collect();
            for r in read(day, stop).await? {
                let d = local_day_start(day_of(&r)).clamp(day, stop - DAY_US);
                days.entry(d).or_default().push(r);
            }
            for (d, rows) in days {
                out.extend(rows.iter().cloned());
                self.days.put(key, d, rows, at.watermark);
            }
            day = stop;
        }
        if end < to {
            out.extend(read(end, to).await?);
        }
        Ok(out)
    }

    /// Counters of a hall.
    pub async fn kpi_counters(&self, hall: &str) -> Result<Vec<CounterRow>, StoreError> {
        let rows = sqlx::query("SELECT number, name, fields, opening_hours FROM counter WHERE hall_id = $1 ORDER BY number")
            .bind(hall)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                // Written by ingest_counters from validated values; unreadable JSON means none.
                let fields: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("fields")?).unwrap_or_default();
                let hours: OpeningHours = serde_json::from_str(&r.try_get::<String, _>("opening_hours")?).unwrap_or_default();
                Ok(CounterRow { number: r.try_get("number")?, name: r.try_get("name")?, fields, hours })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// QMS states of a hall's counters in `[from, to)`, plus each counter's last one before.
    async fn kpi_states(&self, hall: &str, from: WallUs, to: WallUs, at: Read) -> Result<Vec<StateRow>, StoreError> {
        // One statement, one indexed probe per counter: the state holding when the range opens.
        let rows = sqlx::query(
            "SELECT s.counter, s.state, s.reason, s.at_us FROM counter c JOIN counter_state s ON s.id = \
             (SELECT id FROM counter_state WHERE hall_id = c.hall_id AND counter = c.number AND at_us < $2 \
              ORDER BY at_us DESC, id DESC LIMIT 1) \
             WHERE c.hall_id = $1 ORDER BY c.number",
        )
        .bind(hall)
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<StateRow> = rows.iter().map(state_row).collect::<Result<_, sqlx::Error>>()?;
        out.extend(self.by_day(&format!("states/{hall}"), from, to, at, |s: &StateRow| s.at_us, |a, b| self.read_states(hall, a, b)).await?);
        Ok(out)
    }

    async fn read_states(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<StateRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT counter, state, reason, at_us FROM counter_state WHERE hall_id = $1 AND at_us >= $2 AND at_us < $3 \
             ORDER BY at_us, id",
        )
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(state_row).collect::<Result<_, sqlx::Error>>()?)
    }

    /// Camera staffed periods overlapping `[from, to)` of the watched counters.
    async fn kpi_staffed(&self, cams: &BTreeMap<i64, String>, from: WallUs, to: WallUs, at: Read) -> Result<Vec<StaffedSpan>, StoreError> {
        let mut by_camera: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (counter, camera) in cams {
            by_camera.entry(camera.as_str()).or_default().push(*counter);
        }
        let mut out = Vec::new();
        for (camera, counters) in by_camera {
            // A staffed period longer than a day is a stuck seat; looking back one day bounds the scan.
            let spans = self
                .by_day(&format!("staffed/{camera}"), from - DAY_US, to, at, |s: &StaffedSpan| s.from_us, |a, b| {
                    self.read_staffed(camera, a, b)
                })
                .await?;
            out.extend(spans.into_iter().filter(|s| counters.contains(&s.counter) && s.to_us.is_none_or(|t| t > from)));
        }
        Ok(out)
    }

    async fn read_staffed(&self, camera: &str, from: WallUs, to: WallUs) -> Result<Vec<StaffedSpan>, StoreError> {
        let rows = sqlx::query(
            "SELECT counter, from_us, to_us FROM counter_staffed WHERE camera_id = $1 AND from_us >= $2 AND from_us < $3 \
             ORDER BY from_us, counter",
        )
        .bind(camera)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(StaffedSpan { counter: r.try_get("counter")?, from_us: r.try_get("from_us")?, to_us: r.try_get("to_us")? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Queue stays of a hall queued in `[from, to)`.
    async fn kpi_transactions(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<HistoryTx>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS}, t.number, t.priority FROM ticket_transaction x \
             JOIN ticket t ON t.hall_id = x.hall_id AND t.ticket_id = x.ticket_id \
             WHERE x.hall_id = $1 AND x.queued_us >= $2 AND x.queued_us < $3"
        ))
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryTx {
                    ticket_id: r.try_get("ticket_id")?,
                    number: r.try_get("number")?,
                    priority: r.try_get("priority")?,
                    tx: tx_from_row(r)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Everything [`crate::service::kpi::report`] needs for `hall` over `[from, to)`.
    pub async fn kpi_input(&self, hall: &str, from: WallUs, to: WallUs, now: WallUs, setup: &HallSetup) -> Result<KpiInput, StoreError> {
        let at = self.sync_days(now).await?;
        // The reads are independent: run them on separate pool connections (each has its own
        // SQLite thread) so a month's report waits for the slowest read, not for their sum.
        // Largest first (as measured on the benchmark's year), so they start before the pool is taken.
        let (dossiers, transactions, ratings, tickets, occupancy, counters, states, staffed, camera_waits) = tokio::try_join!(
            self.kpi_dossiers(hall, from, to, now),
            self.kpi_stays(hall, from, to, at),
            self.kpi_ratings(hall, from, to, at),
            self.kpi_tickets(hall, from, to, at),
            self.kpi_occupancy(&setup.waiting_zones, from, to, at),
            self.kpi_counters(hall),
            self.kpi_states(hall, from, to, at),
            self.kpi_staffed(&setup.staff_cameras, from, to, at),
            self.kpi_camera_waits(&setup.cameras, from, to, at),
        )?;
        Ok(KpiInput {
            hall: hall.to_owned(),
            from_us: from,
            to_us: to,
            now_us: now,
            service_levels: setup.service_levels.clone(),
            tickets,
            transactions,
            counters,
            states,
            staff_cameras: setup.staff_cameras.clone(),
            staffed,
            camera_waits,
            occupancy,
            has_waiting_zone: !setup.waiting_zones.is_empty(),
            dossiers,
            ratings,
        })
    }

    // The large reads below come packed (see `packed`): a month is tens of thousands of rows.

    /// Tickets of a hall issued in `[from, to)`.
    async fn kpi_tickets(&self, hall: &str, from: WallUs, to: WallUs, at: Read) -> Result<Vec<TicketRow>, StoreError> {
        self.by_day(&format!("tickets/{hall}"), from, to, at, |t: &TicketRow| t.issued_us, |a, b| self.read_tickets(hall, a, b)).await
    }

    async fn read_tickets(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<TicketRow>, StoreError> {
        let json: String = sqlx::query_scalar(&packed(
            "field, counter, officer_id, issued_us, first_called_us, outcome",
            "ticket WHERE hall_id = $1 AND issued_us >= $2 AND issued_us < $3",
        ))
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(unpack::<(Option<String>, Option<i64>, Option<String>, WallUs, Option<WallUs>, String)>(&json)?
            .into_iter()
            .map(|(field, counter, officer, issued_us, first_called_us, outcome)| {
                Ok(TicketRow { field, counter, officer, issued_us, first_called_us, outcome: parse_outcome(&outcome)? })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Queue stays a report over `[from, to)` needs.
    async fn kpi_stays(&self, hall: &str, from: WallUs, to: WallUs, at: Read) -> Result<Vec<Transaction>, StoreError> {
        // Stays queued the day before can still be waiting, or end in the range: a hall closes
        // overnight, so one day back catches them.
        self.by_day(&format!("stays/{hall}"), from - DAY_US, to, at, |x: &Transaction| x.queued_us.unwrap_or_default(), |a, b| {
            self.read_stays(hall, a, b)
        })
        .await
    }

    async fn read_stays(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<Transaction>, StoreError> {
        let json: String = sqlx::query_scalar(&packed(
            TX_PACKED,
            "ticket_transaction x WHERE x.hall_id = $1 AND x.queued_us >= $2 AND x.queued_us < $3",
        ))
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(unpack::<TxTuple>(&json)?.into_iter().map(tx_from_tuple).collect::<Result<_, sqlx::Error>>()?)
    }

    /// Camera waits ending in `[from, to)` at a known counter.
    async fn kpi_camera_waits(&self, cameras: &[String], from: WallUs, to: WallUs, at: Read) -> Result<Vec<CameraWaitRow>, StoreError> {
        let mut out = Vec::new();
        for cam in cameras {
            let waits = self
                .by_day(&format!("waits/{cam}"), from, to, at, |w: &(WallUs, CameraWaitRow)| w.0, |a, b| self.read_camera_waits(cam, a, b))
                .await?;
            out.extend(waits.into_iter().map(|(_, w)| w));
        }
        Ok(out)
    }

    /// Camera waits ending in `[from, to)`, with their end.
    async fn read_camera_waits(&self, cam: &str, from: WallUs, to: WallUs) -> Result<Vec<(WallUs, CameraWaitRow)>, StoreError> {
        let json: String = sqlx::query_scalar(&packed(
            &format!("last_seen_us, counter, {}", real("wait_s")),
            "person_wait WHERE camera_id = $1 AND last_seen_us >= $2 AND last_seen_us < $3 \
             AND wait_s IS NOT NULL AND counter IS NOT NULL",
        ))
        .bind(cam)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(unpack::<(WallUs, i64, Real)>(&json)?.into_iter().map(|(at, counter, wait)| (at, CameraWaitRow { counter, wait_s: wait.0 })).collect())
    }

    /// People in the waiting zones per minute of `[from, to)`, summed over zones.
    async fn kpi_occupancy(&self, zones: &[(String, Vec<String>)], from: WallUs, to: WallUs, at: Read) -> Result<Vec<OccupancyRow>, StoreError> {
        let mut occupancy: BTreeMap<WallUs, f64> = BTreeMap::new();
        for (cam, zones) in zones {
            for zone in zones {
                let key = format!("occupancy/{cam}/{zone}");
                for (m, people) in self.by_day(&key, from, to, at, |o: &(WallUs, f64)| o.0, |a, b| self.read_occupancy(cam, zone, a, b)).await? {
                    *occupancy.entry(m).or_default() += people;
                }
            }
        }
        Ok(occupancy.into_iter().map(|(minute_us, people)| OccupancyRow { minute_us, people }).collect())
    }

    async fn read_occupancy(&self, cam: &str, zone: &str, from: WallUs, to: WallUs) -> Result<Vec<(WallUs, f64)>, StoreError> {
        let json: String = sqlx::query_scalar(&packed(
            &format!("minute_us, {}", real("mean")),
            "occupancy_minute WHERE camera_id = $1 AND zone = $2 AND minute_us >= $3 AND minute_us < $4",
        ))
        .bind(cam)
        .bind(zone)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(unpack::<(WallUs, Real)>(&json)?.into_iter().map(|(m, people)| (m, people.0)).collect())
    }

    /// Dossiers due, completed or still open in `[from, to)` as seen at `now`.
    async fn kpi_dossiers(&self, hall: &str, from: WallUs, to: WallUs, now: WallUs) -> Result<Vec<DossierRow>, StoreError> {
        // The report needs dossiers received before `to` that are due in the range, completed
        // in it, or overdue at min(to, now): completed after that or never. Three disjoint
        // probes cover them: due in the range; else completed at or after `from`; else open.
        // Disjoint, so UNION ALL needs no de-duplication (which cost more than the probes),
        // and each probe is one covering-index range (migration 0011).
        let columns = "field, counter, officer_id, received_us, due_us, returned_us, finished_us, extended";
        let json: String = sqlx::query_scalar(&packed(
            columns,
            &format!(
                "(SELECT {columns} FROM dossier WHERE hall_id = $1 AND due_us >= $2 AND due_us < $3 AND received_us < $3 \
                 UNION ALL SELECT {columns} FROM dossier WHERE hall_id = $1 AND COALESCE(returned_us, finished_us) >= $2 \
                 AND NOT (due_us >= $2 AND due_us < $3) AND received_us < $3 \
                 UNION ALL SELECT {columns} FROM dossier WHERE hall_id = $1 AND COALESCE(returned_us, finished_us) IS NULL \
                 AND NOT (due_us >= $2 AND due_us < $3) AND received_us < $3)"
            ),
        ))
        .bind(hall)
        .bind(from.min(to.min(now)))
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        type DossierTuple = (String, Option<i64>, Option<String>, WallUs, WallUs, Option<WallUs>, Option<WallUs>, i64);
        Ok(unpack::<DossierTuple>(&json)?
            .into_iter()
            .map(|(field, counter, officer, received_us, due_us, returned_us, finished_us, extended)| DossierRow {
                field,
                counter,
                officer,
                received_us,
                due_us,
                returned_us,
                finished_us,
                // BOOLEAN is an integer in SQLite.
                extended: extended != 0,
            })
            .collect())
    }

    /// Ratings given in `[from, to)`, with the rated ticket's field (and counter and officer
    /// when the rating lacks them).
    async fn kpi_ratings(&self, hall: &str, from: WallUs, to: WallUs, at: Read) -> Result<Vec<RatingRow>, StoreError> {
        self.by_day(&format!("ratings/{hall}"), from, to, at, |r: &RatingRow| r.at_us, |a, b| self.read_ratings(hall, a, b)).await
    }

    async fn read_ratings(&self, hall: &str, from: WallUs, to: WallUs) -> Result<Vec<RatingRow>, StoreError> {
        let json: String = sqlx::query_scalar(&packed(
            "r.at_us, r.satisfied, t.field, COALESCE(r.counter, t.counter), COALESCE(r.officer_id, t.officer_id)",
            "rating r LEFT JOIN ticket t ON t.hall_id = r.hall_id AND t.ticket_id = r.ticket_id \
             WHERE r.hall_id = $1 AND r.at_us >= $2 AND r.at_us < $3",
        ))
        .bind(hall)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(unpack::<(WallUs, i64, Option<String>, Option<i64>, Option<String>)>(&json)?
            .into_iter()
            // BOOLEAN is an integer in SQLite.
            .map(|(at_us, satisfied, field, counter, officer)| RatingRow { at_us, satisfied: satisfied != 0, field, counter, officer })
            .collect())
    }

    /// The history [`crate::service::ewt::accuracy`] rebuilds past states from, for tickets
    /// issued in `[from, to)`.
    pub async fn ewt_history(&self, hall: &str, from: WallUs, to: WallUs, setup: &HallSetup) -> Result<History, StoreError> {
        let at = self.sync_days(to).await?;
        let counters = self.kpi_counters(hall).await?;
        let states = self.kpi_states(hall, from - DAY_US, to, at).await?;
        let staffed = self.kpi_staffed(&setup.staff_cameras, from - DAY_US, to, at).await?;
        let transactions = self.kpi_transactions(hall, from - DAY_US, to).await?;
        Ok(History { hall: hall.to_owned(), transactions, counters, states, staff_cameras: setup.staff_cameras.clone(), staffed })
    }

    /// The live dashboard tiles of `hall` at `at`: the hall-now state, today's report by field
    /// and the waiting zones' latest minute (within five minutes).
    pub async fn now_tiles(&self, hall: &str, at: WallUs, setup: &HallSetup, fields: &[(String, String)]) -> Result<NowTiles, StoreError> {
        let now = self.hall_now(hall, at, &setup.staff_cameras).await?;
        let today = report(&self.kpi_input(hall, crate::time::local_day_start(at), at + 1, at, setup).await?, GroupBy::Field);
        let camera = self.waiting_zone_people(setup, at - 5 * 60_000_000, at).await?;
        Ok(now_tiles(&now, &today, fields, camera))
    }

    /// People in the hall's waiting zones in the latest minute recorded within `[since, at]`.
    pub async fn waiting_zone_people(&self, setup: &HallSetup, since: WallUs, at: WallUs) -> Result<Option<f64>, StoreError> {
        let mut total = None;
        for (cam, zones) in &setup.waiting_zones {
            for zone in zones {
                let mean: Option<f64> = sqlx::query_scalar(
                    "SELECT mean FROM occupancy_minute WHERE camera_id = $1 AND zone = $2 AND minute_us >= $3 \
                     AND minute_us <= $4 ORDER BY minute_us DESC LIMIT 1",
                )
                .bind(cam)
                .bind(zone)
                .bind(since)
                .bind(at)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(m) = mean {
                    *total.get_or_insert(0.0) += m;
                }
            }
        }
        Ok(total)
    }

    /// The hall's queue stays, for evidence: a ticket's own stays.
    pub async fn ticket_transactions(&self, hall: &str, ticket_id: &str) -> Result<Vec<Transaction>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM ticket_transaction x WHERE x.hall_id = $1 AND x.ticket_id = $2 ORDER BY x.seq"
        ))
        .bind(hall)
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tx_from_row).collect::<Result<_, sqlx::Error>>()?)
    }

    /// Displayed number of a ticket, if the ticket is known.
    pub async fn ticket_number(&self, hall: &str, ticket_id: &str) -> Result<Option<Option<String>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT number FROM ticket WHERE hall_id = $1 AND ticket_id = $2")
            .bind(hall)
            .bind(ticket_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The camera the QMS registered for a counter.
    pub async fn counter_camera_id(&self, hall: &str, counter: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT camera_id FROM counter WHERE hall_id = $1 AND number = $2")
            .bind(hall)
            .bind(counter)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    /// A dossier's receiving counter, officer and time, and the tickets the source linked.
    pub async fn dossier_link(&self, hall: &str, code: &str) -> Result<Option<DossierLink>, StoreError> {
        let Some(r) = sqlx::query("SELECT counter, officer_id, received_us FROM dossier WHERE hall_id = $1 AND code = $2")
            .bind(hall)
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let tickets: Vec<String> =
            sqlx::query_scalar("SELECT ticket_id FROM dossier_ticket WHERE hall_id = $1 AND dossier_code = $2 ORDER BY ticket_id")
                .bind(hall)
                .bind(code)
                .fetch_all(&self.pool)
                .await?;
        Ok(Some(DossierLink {
            counter: r.try_get("counter")?,
            officer: r.try_get("officer_id")?,
            received_us: r.try_get("received_us")?,
            tickets,
        }))
    }

    /// Stays queued within a day before `at` that could have been in service at `at`.
    pub async fn service_candidates(&self, hall: &str, at: WallUs) -> Result<Vec<Candidate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TX_COLUMNS} FROM ticket_transaction x WHERE x.hall_id = $1 AND x.queued_us >= $2 AND x.queued_us <= $3 \
             AND x.last_called_us <= $3 AND (x.end_us IS NULL OR x.end_us >= $3)"
        ))
        .bind(hall)
        .bind(at - DAY_US)
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(Candidate { ticket_id: r.try_get("ticket_id")?, tx: tx_from_row(r)? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The ticket and dossier a rating (by its source id) names.
    pub async fn rating_link(&self, hall: &str, rating_id: &str) -> Result<Option<(Option<String>, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT ticket_id, dossier_code FROM rating WHERE hall_id = $1 AND source_id = $2 ORDER BY id LIMIT 1")
            .bind(hall)
            .bind(rating_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Timeline of a ticket: its events, its ratings, and status changes of `dossiers`.
    pub async fn ticket_timeline(&self, hall: &str, ticket_id: &str, dossiers: &[String]) -> Result<Vec<TimelineEntry>, StoreError> {
        let mut out = Vec::new();
        let events = sqlx::query(
            "SELECT kind, at_us, counter, officer_id, to_field, to_counter FROM ticket_event \
             WHERE hall_id = $1 AND ticket_id = $2",
        )
        .bind(hall)
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        for r in events {
            let kind: String = r.try_get("kind")?;
            let mut detail = Vec::new();
            if let Some(c) = r.try_get::<Option<i64>, _>("counter")? {
                detail.push(format!("quầy {c}"));
            }
            if let Some(o) = r.try_get::<Option<String>, _>("officer_id")? {
                detail.push(format!("cán bộ {o}"));
            }
            if let Some(f) = r.try_get::<Option<String>, _>("to_field")? {
                detail.push(format!("→ lĩnh vực {f}"));
            }
            if let Some(c) = r.try_get::<Option<i64>, _>("to_counter")? {
                detail.push(format!("→ quầy {c}"));
            }
            let at: WallUs = r.try_get("at_us")?;
            out.push(TimelineEntry { at: to_rfc3339(at), at_us: at, kind: format!("ticket.{kind}"), detail: detail.join(", ") });
        }
        let ratings = sqlx::query("SELECT at_us, scale, score, satisfied FROM rating WHERE hall_id = $1 AND ticket_id = $2")
            .bind(hall)
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await?;
        for r in ratings {
            let at: WallUs = r.try_get("at_us")?;
            let satisfied: bool = r.try_get("satisfied")?;
            let detail = format!(
                "{} on the {} scale{}",
                r.try_get::<i64, _>("score")?,
                r.try_get::<String, _>("scale")?,
                if satisfied { "" } else { " (không hài lòng)" }
            );
            out.push(TimelineEntry { at: to_rfc3339(at), at_us: at, kind: "rating".into(), detail });
        }
        for code in dossiers {
            let rows = sqlx::query("SELECT status, at_us FROM dossier_status WHERE hall_id = $1 AND dossier_code = $2")
                .bind(hall)
                .bind(code)
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                let at: WallUs = r.try_get("at_us")?;
                let status = crate::service::DossierStatus::try_from(r.try_get::<i64, _>("status")?)
                    .map_err(|e| sqlx::Error::Decode(e.into()))?;
                out.push(TimelineEntry {
                    at: to_rfc3339(at),
                    at_us: at,
                    kind: "dossier.status".into(),
                    detail: format!("{code}: {} {}", status.0, status.name_vi()),
                });
            }
        }
        out.sort_by(|a, b| (a.at_us, &a.kind).cmp(&(b.at_us, &b.kind)));
        Ok(out)
    }

    /// Dossiers linked to a ticket by the one-stop software.
    pub async fn ticket_dossiers(&self, hall: &str, ticket_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT dossier_code FROM dossier_ticket WHERE hall_id = $1 AND ticket_id = $2 ORDER BY dossier_code")
            .bind(hall)
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// What a dossier says about where it was received.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierLink {
    /// Receiving counter.
    pub counter: Option<i64>,
    /// Receiving officer.
    pub officer: Option<String>,
    /// Received.
    pub received_us: WallUs,
    /// Tickets the source linked.
    pub tickets: Vec<String>,
}
