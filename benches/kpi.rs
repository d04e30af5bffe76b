//! KPI query benchmark: one year of a 20-counter hall in SQLite, then the dashboard queries
//! timed over many runs (median and p99) against the issue's target, p99 < 100 ms.
//!
//! The year (2025-01-02 to 2026-01-01, Monday–Saturday; in the past, so its days are sealed
//! and the store may keep them in its day cache, as it does for a live hall) is simulated: four fields of five counters each, a morning
//! rush, 2–6 min services, recalls, no-shows and walkouts, about 1.5 M ticket events with their
//! projection (tickets, transactions), counter states, camera staffing, 525 600 occupancy
//! minutes (31.5 M per-second samples rolled up), ratings and dossiers. Rows are bulk-inserted
//! through the real schema in one transaction; the database is cached under the target
//! directory, so only the first run pays for it.
//!
//! As a peer, "today by field" is also computed the naive way: re-projecting today's tickets
//! from the raw `ticket_event` history (which has no time index) instead of reading the
//! projection.
//!
//! Run: `cargo bench --bench kpi` (`-- --runs N` to change the repetitions).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use hallwatch::service::ewt::{self, EwtSettings};
use hallwatch::service::kpi::{self, GroupBy};
use hallwatch::service::ticket::project;
use hallwatch::service::TicketEvent;
use hallwatch::store::{HallSetup, Store};
use hallwatch::time::{local_day_start, parse_rfc3339};
use sqlx::Row;

const HALL: &str = "bench";
const FIELDS: [&str; 4] = ["HT", "CT", "DD", "KD"];
const MIN: i64 = 60_000_000;
const DAY: i64 = 24 * 60 * MIN;
const TARGET_MS: f64 = 100.0;
const CAMERA: &str = "hall-cam";

/// xorshift64*: deterministic, so every cached database is the same year.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.unit() * (hi - lo) as f64) as i64
    }
}

fn year_start() -> i64 {
    parse_rfc3339("2025-01-02T00:00:00+07:00").expect("constant time")
}

fn counter_field(n: i64) -> &'static str {
    FIELDS[((n - 1) / 5) as usize % 4]
}

/// Writes the simulated year. Returns the number of ticket events.
async fn build(path: &std::path::Path) -> anyhow::Result<u64> {
    // Migrations only; the bulk load uses its own pool so it can checkpoint and close it.
    drop(Store::open(path).await?);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
    let mut tx = pool.begin().await?;
    let hours = r#"{"mon":[["07:30","11:30"],["13:30","17:00"]],"tue":[["07:30","11:30"],["13:30","17:00"]],"wed":[["07:30","11:30"],["13:30","17:00"]],"thu":[["07:30","11:30"],["13:30","17:00"]],"fri":[["07:30","11:30"],["13:30","17:00"]],"sat":[["07:30","11:30"]]}"#;
    for n in 1..=20i64 {
        sqlx::query("INSERT INTO counter (hall_id, number, name, fields, opening_hours, camera_id, updated_us) VALUES ($1, $2, $3, $4, $5, NULL, 0)")
            .bind(HALL)
            .bind(n)
            .bind(format!("Quầy {n}"))
            .bind(format!("[\"{}\"]", counter_field(n)))
            .bind(hours)
            .execute(&mut *tx)
            .await?;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut events: u64 = 0;
    let mut seq_id: u64 = 0;
    for day in 0..365 {
        let d0 = year_start() + day * DAY;
        let (weekday, _) = hallwatch::time::local_weekday_minute(d0);
        // Occupancy of the waiting zone every minute of every day, open or not.
        for m in 0..1440 {
            let open = weekday < 6 && (450..990).contains(&m);
            let mean = if open { 8.0 + 10.0 * rng.unit() } else { 0.0 };
            sqlx::query("INSERT INTO occupancy_minute (camera_id, zone, minute_us, mean, max, samples) VALUES ($1, 'waiting', $2, $3, $4, 60)")
                .bind(CAMERA)
                .bind(d0 + m * MIN)
                .bind(mean)
                .bind(mean.ceil() as i64)
                .execute(&mut *tx)
                .await?;
        }
        if weekday == 6 {
            continue;
        }
        let sessions: Vec<(i64, i64)> = if weekday == 5 { vec![(450, 690)] } else { vec![(450, 690), (810, 1020)] };
        for (a, b) in &sessions {
            for n in 1..=20i64 {
                for (state, at) in [("open", d0 + a * MIN), ("closed", d0 + b * MIN)] {
                    seq_id += 1;
                    sqlx::query("INSERT INTO counter_state (source, source_id, hall_id, counter, state, reason, officer_id, at_us) VALUES ('qms', $1, $2, $3, $4, NULL, NULL, $5)")
                        .bind(format!("cs{seq_id}"))
                        .bind(HALL)
                        .bind(n)
                        .bind(state)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                // The officer steps away once per session for 5–20 minutes.
                let away = d0 + rng.range(a + 30, b - 30) * MIN;
                for (f, t) in [(d0 + a * MIN, away), (away + rng.range(5, 20) * MIN, d0 + b * MIN)] {
                    sqlx::query("INSERT OR IGNORE INTO counter_staffed (camera_id, counter, from_us, to_us) VALUES ($1, $2, $3, $4)")
                        .bind(CAMERA)
                        .bind(n)
                        .bind(f)
                        .bind(t)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        for (fi, field) in FIELDS.iter().enumerate() {
            let mut free: Vec<i64> = vec![0; 5];
            let mut number = 0;
            for (a, b) in &sessions {
                let mut t = d0 + a * MIN;
                let close = d0 + b * MIN;
                loop {
                    // Rush 07:30–10:00: an arrival every ~0.85 min per field, else every ~1.2 min.
                    let gap = if t < d0 + 600 * MIN { 0.85 } else { 1.2 };
                    t += (-(1.0 - rng.unit()).ln() * gap * MIN as f64) as i64;
                    if t >= close - 10 * MIN {
                        break;
                    }
                    number += 1;
                    let ticket = format!("{day}-{field}-{number}");
                    let k = (0..5).min_by_key(|&i| free[i]).unwrap_or(0);
                    let counter = (fi * 5 + k + 1) as i64;
                    let officer = format!("cb{counter:02}");
                    let called = free[k].max(t + 30_000_000);
                    let mut evs: Vec<(&str, i64)> = vec![("issued", t)];
                    let (outcome, end, last_call, calls) = if called >= close {
                        evs.push(("removed", close));
                        ("removed", Some(close), None, 0)
                    } else if rng.unit() < 0.05 {
                        evs.push(("called", called));
                        evs.push(("no_show", called + MIN));
                        free[k] = called + MIN;
                        ("no_show", Some(called + MIN), Some(called), 1)
                    } else {
                        let recall = rng.unit() < 0.08;
                        let last = if recall { called + MIN } else { called };
                        evs.push(("called", called));
                        if recall {
                            evs.push(("called", last));
                        }
                        let end = last + rng.range(2 * MIN, 6 * MIN);
                        evs.push(("finished", end));
                        free[k] = end;
                        ("served", Some(end), Some(last), if recall { 2 } else { 1 })
                    };
                    for (i, (kind, at)) in evs.iter().enumerate() {
                        let on_counter = matches!(*kind, "called" | "finished" | "no_show");
                        sqlx::query("INSERT INTO ticket_event (source, source_id, hall_id, ticket_id, kind, at_us, number, field, counter, officer_id, to_field, to_counter, channel, priority, received_us) VALUES ('qms', $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, 'kiosk', 0, $5)")
                            .bind(format!("{ticket}-{i}"))
                            .bind(HALL)
                            .bind(&ticket)
                            .bind(*kind)
                            .bind(*at)
                            .bind((*kind == "issued").then(|| format!("{}{number:03}", &field[..1])))
                            .bind((*kind == "issued").then_some(*field))
                            .bind(on_counter.then_some(counter))
                            .bind(on_counter.then_some(officer.as_str()))
                            .execute(&mut *tx)
                            .await?;
                        events += 1;
                    }
                    let served = outcome == "served";
                    let tk_counter = (calls > 0).then_some(counter);
                    sqlx::query("INSERT INTO ticket (hall_id, ticket_id, number, field, channel, priority, issued_us, first_called_us, finished_us, counter, officer_id, outcome, calls, transfers) VALUES ($1, $2, $3, $4, 'kiosk', 0, $5, $6, $7, $8, $9, $10, $11, 0)")
                        .bind(HALL)
                        .bind(&ticket)
                        .bind(format!("{}{number:03}", &field[..1]))
                        .bind(*field)
                        .bind(t)
                        .bind((calls > 0).then_some(called))
                        .bind(served.then_some(end).flatten())
                        .bind(tk_counter)
                        .bind(tk_counter.map(|_| officer.as_str()))
                        .bind(outcome)
                        .bind(calls)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("INSERT INTO ticket_transaction (hall_id, ticket_id, seq, field, counter, officer_id, queued_us, first_called_us, last_called_us, calls, service_start_us, end_us, outcome) VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11)")
                        .bind(HALL)
                        .bind(&ticket)
                        .bind(*field)
                        .bind(tk_counter)
                        .bind(tk_counter.map(|_| officer.as_str()))
                        .bind(t)
                        .bind((calls > 0).then_some(called))
                        .bind(last_call)
                        .bind(calls)
                        .bind(end)
                        .bind(outcome)
                        .execute(&mut *tx)
                        .await?;
                    if served && rng.unit() < 0.6 {
                        let score = rng.range(1, 6);
                        sqlx::query("INSERT INTO rating (source, source_id, hall_id, at_us, scale, score, satisfied, ticket_id, dossier_code, counter, officer_id, reasons, comment, device_id) VALUES ('tablet', $1, $2, $3, 'five', $4, $5, $1, NULL, $6, $7, '[]', NULL, NULL)")
                            .bind(&ticket)
                            .bind(HALL)
                            .bind(end.unwrap_or(t) + 20_000_000)
                            .bind(score)
                            .bind(score >= 4)
                            .bind(counter)
                            .bind(officer.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    if served && rng.unit() < 0.3 {
                        let received = end.unwrap_or(t) - MIN;
                        let due = received + rng.range(1, 10) * DAY;
                        let returned = received + rng.range(1, 11) * DAY;
                        sqlx::query("INSERT INTO dossier (hall_id, code, procedure_code, procedure_name, field, channel, received_us, due_us, returned_us, finished_us, extended, counter, officer_id, status, status_at_us, source, updated_us) VALUES ($1, $2, '2.000635', 'Thủ tục', $3, 1, $4, $5, $6, NULL, FALSE, $7, $8, 10, $6, 'onegate', 0)")
                            .bind(HALL)
                            .bind(format!("000.00.01.H29-{ticket}"))
                            .bind(*field)
                            .bind(received)
                            .bind(due)
                            .bind(returned)
                            .bind(counter)
                            .bind(officer.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
        }
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    // Fold the WAL into the file before it is renamed into place.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await?;
    pool.close().await;
    Ok(events)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Times `f` `runs` times; prints and returns (median, p99) in ms.
async fn time<F, Fut>(name: &str, runs: usize, mut f: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut ms = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        size = f().await?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    let verdict = if p99 < TARGET_MS { "meets" } else { "MISSES" };
    println!(
        "{name:<34} {runs:>4} runs  median {p50:>8.2} ms  p99 {p99:>8.2} ms  p99/target {:>5.2}  {verdict} p99 < {TARGET_MS} ms  ({size} rows in the answer)",
        p99 / TARGET_MS
    );
    Ok((p50, p99))
}

/// Today by field, the naive way: today's tickets re-projected from their raw events.
async fn naive_today(store: &Store, from: i64, now: i64, setup: &HallSetup) -> anyhow::Result<usize> {
    let mut by_ticket: BTreeMap<String, Vec<TicketEvent>> = BTreeMap::new();
    for e in store.events_of_tickets_issued(HALL, from, now).await? {
        by_ticket.entry(e.ticket_id.clone()).or_default().push(e);
    }
    let mut input = store.kpi_input(HALL, from, now + 1, now, setup).await?;
    input.transactions = by_ticket.values().filter_map(|e| project(e)).flat_map(|p| p.transactions).collect();
    Ok(kpi::report(&input, GroupBy::Field).groups.len())
}

async fn plans(pool: &sqlx::SqlitePool) -> anyhow::Result<()> {
    for (name, sql) in [
        ("tickets in range", "SELECT field FROM ticket WHERE hall_id = 'bench' AND issued_us >= 0 AND issued_us < 1"),
        ("stays in range", "SELECT x.field FROM ticket_transaction x WHERE x.hall_id = 'bench' AND x.queued_us >= 0 AND x.queued_us < 1"),
        ("ratings in range", "SELECT r.at_us, t.field FROM rating r LEFT JOIN ticket t ON t.hall_id = r.hall_id AND t.ticket_id = r.ticket_id WHERE r.hall_id = 'bench' AND r.at_us >= 0 AND r.at_us < 1"),
        ("occupancy minutes", "SELECT minute_us, mean FROM occupancy_minute WHERE camera_id = 'hall-cam' AND zone = 'waiting' AND minute_us >= 0 AND minute_us < 1"),
        ("latest counter state", "SELECT state FROM counter_state WHERE hall_id = 'bench' AND counter = 1 AND at_us < 1 ORDER BY at_us DESC, id DESC LIMIT 1"),
    ] {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await?;
        let detail: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("detail").ok()).collect();
        println!("  plan of {name:<22} {}", detail.join(" | "));
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut runs = 50usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--runs" {
            runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs);
        }
    }
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("kpi-bench");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join(format!("hall-year-v3-{}.db", env!("CARGO_PKG_VERSION")));
    if !db.exists() {
        let tmp = dir.join("building.db");
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", tmp.display()));
        }
        let t0 = Instant::now();
        println!("building one year of a 20-counter hall in {} (once; cached)", db.display());
        let events = build(&tmp).await?;
        std::fs::rename(&tmp, &db)?;
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", tmp.display()));
        }
        println!("  {events} ticket events in {:.0} s", t0.elapsed().as_secs_f64());
    }
    let store = Store::open(&db).await?;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    for (table, what) in [("ticket_event", "ticket events"), ("ticket", "tickets"), ("ticket_transaction", "transactions"), ("occupancy_minute", "occupancy minutes"), ("rating", "ratings"), ("counter_state", "counter states"), ("dossier", "dossiers")] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&pool).await?;
        println!("  {n:>9} {what}");
    }
    plans(&pool).await?;

    let setup = HallSetup {
        service_levels: FIELDS.iter().map(|f| ((*f).to_owned(), 15.0)).collect(),
        staff_cameras: (1..=20).map(|n| (n, CAMERA.to_owned())).collect(),
        waiting_zones: vec![(CAMERA.into(), vec!["waiting".into()])],
        cameras: vec![CAMERA.into()],
    };
    let fields: Vec<(String, String)> = FIELDS.iter().map(|f| ((*f).to_owned(), (*f).to_owned())).collect();
    // Tuesday 16 December 2025, 10:30 in the hall: mid-morning of a busy week.
    let now = parse_rfc3339("2025-12-16T10:30:00+07:00").map_err(anyhow::Error::msg)?;
    let today = local_day_start(now);
    let monday = today - DAY;
    let month = parse_rfc3339("2025-12-01T00:00:00+07:00").map_err(anyhow::Error::msg)?;
    println!("\ndashboard queries at 2025-12-16 10:30 (hall time), target p99 < {TARGET_MS} ms:");
    let mut results = Vec::new();
    results.push(("hall now tiles", time("hall now tiles", runs, || async {
        Ok(store.now_tiles(HALL, now, &setup, &fields).await?.fields.len())
    }).await?));
    results.push(("today by field", time("today by field", runs, || async {
        Ok(kpi::report(&store.kpi_input(HALL, today, now + 1, now, &setup).await?, GroupBy::Field).groups.len())
    }).await?));
    // The server fills its day cache for the current month at start-up (serve's warm_reports);
    // one untimed report does the same here.
    let warm = kpi::report(&store.kpi_input(HALL, month, now + 1, now, &setup).await?, GroupBy::Counter);
    store.clear_day_cache();
    let cold = kpi::report(&store.kpi_input(HALL, month, now + 1, now, &setup).await?, GroupBy::Counter);
    anyhow::ensure!(warm == cold, "the month's report differs with and without the day cache");
    println!("  (day cache warmed with the month: {} rows)", store.day_cache_rows());
    results.push(("this week by day", time("this week by day", runs, || async {
        Ok(kpi::report(&store.kpi_input(HALL, monday, now + 1, now, &setup).await?, GroupBy::Day).groups.len())
    }).await?));
    results.push(("this month by counter", time("this month by counter", runs, || async {
        Ok(kpi::report(&store.kpi_input(HALL, month, now + 1, now, &setup).await?, GroupBy::Counter).groups.len())
    }).await?));
    results.push(("EWT (public display)", time("EWT (public display)", runs, || async {
        let hall = store.hall_now(HALL, now, &setup.staff_cameras).await?;
        Ok(ewt::display(&hall, &fields, &EwtSettings::default()).fields.len())
    }).await?));
    println!("\nnot dashboard tiles (reports, run on demand):");
    time("EWT accuracy, one day", runs.min(10), || async {
        let h = store.ewt_history(HALL, today - DAY, today, &setup).await?;
        Ok(ewt::accuracy(&h, today - DAY, today, &EwtSettings::default()).len())
    })
    .await?;
    time("year by field", runs.min(5), || async {
        Ok(kpi::report(&store.kpi_input(HALL, year_start(), now + 1, now, &setup).await?, GroupBy::Field).groups.len())
    })
    .await?;
    println!("\npeers: the same reports read wholly from the database (day cache cleared before each run):");
    let (_, cold_p99) = time("this month by counter, cold", runs.min(20), || async {
        store.clear_day_cache();
        Ok(kpi::report(&store.kpi_input(HALL, month, now + 1, now, &setup).await?, GroupBy::Counter).groups.len())
    })
    .await?;
    if let Some((_, (_, p99))) = results.iter().find(|(n, _)| *n == "this month by counter") {
        println!("  the day cache makes the month {:.1}× faster at p99", cold_p99 / p99);
    }
    println!("\npeer: today by field re-projected from raw ticket_event (no projection):");
    let (_, naive_p99) = time("today by field, naive", runs.min(5), || naive_today(&store, today, now, &setup)).await?;
    if let Some((_, (_, p99))) = results.iter().find(|(n, _)| *n == "today by field") {
        println!("  projection is {:.0}× faster at p99", naive_p99 / p99);
    }
    Ok(())
}
