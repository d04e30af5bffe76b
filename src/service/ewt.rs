//! Estimated waiting time (thời gian chờ dự kiến) for the public display, per field
//! (domain.md §5.3), and its accuracy against the waits that then happened.
//!
//! The estimate is the naive queue formula made honest: tickets ahead × recent service time ÷
//! counters actually staffed (the QMS says open and, where a camera watches the seat, someone
//! sits in it). It is shown as a range from the quartiles of recent service times, never as a
//! point, and "no counter staffed" is its own answer rather than a division by zero.

use std::collections::BTreeMap;

use serde::Serialize;

use super::kpi::{percentile, CounterRow, StaffedSpan, StateRow};
use super::now::{scheduled_open, CounterNow, HallNow, QueuedTicket, RecentService};
use super::ticket::{Outcome, Transaction};
use crate::time::{to_rfc3339, WallUs};

const MINUTE_US: f64 = 60_000_000.0;
const HOUR_US: i64 = 3_600_000_000;

/// Tunables of the estimate (`[estimated_wait]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EwtSettings {
    /// Service time assumed when the last hour has too few services, minutes.
    pub default_service_minutes: f64,
    /// Fewer recent services than this and the default is used.
    pub min_samples: usize,
    /// The range is rounded outwards to this step, minutes.
    pub step_minutes: u32,
}

impl EwtSettings {
    /// The first unacceptable value, as (key, message).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !(self.default_service_minutes > 0.0 && self.default_service_minutes <= 240.0) {
            return Some(("default_service_minutes", "must be more than 0 and at most 240"));
        }
        if self.min_samples == 0 {
            return Some(("min_samples", "must be at least 1"));
        }
        if !(1..=60).contains(&self.step_minutes) {
            return Some(("step_minutes", "must be 1–60"));
        }
        None
    }
}

impl Default for EwtSettings {
    fn default() -> Self {
        EwtSettings { default_service_minutes: 10.0, min_samples: 5, step_minutes: 5 }
    }
}

/// What the display can say about a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EwtState {
    /// A range in minutes.
    Estimate,
    /// No counter of the field is staffed: nobody can say when service resumes.
    NoCounterStaffed,
}

/// The estimate for a ticket taken now in one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldEwt {
    /// Field code.
    pub field: String,
    /// Tickets that will be served before a new one (same or higher priority, waiting).
    pub ahead: usize,
    /// Counters of the field actually staffed.
    pub staffed_counters: usize,
    /// Recent services (last hour) behind the service time.
    pub service_samples: usize,
    /// `recent` or `default` (too few recent services).
    pub service_source: &'static str,
    /// Estimate or no counter staffed.
    pub state: EwtState,
    /// Lower bound, minutes.
    pub low_minutes: Option<u32>,
    /// Upper bound, minutes.
    pub high_minutes: Option<u32>,
    /// What the display shows, in Vietnamese.
    pub text: String,
}

impl FieldEwt {
    /// Middle of the range, minutes (what accuracy is measured on).
    pub fn midpoint(&self) -> Option<f64> {
        Some((f64::from(self.low_minutes?) + f64::from(self.high_minutes?)) / 2.0)
    }
}

/// Waiting tickets in `field` a new ticket of `priority` would be behind: priority classes at
/// or above its own are called first (strict priority, as the QMS does).
pub fn tickets_ahead(now: &HallNow, field: &str, priority: i64) -> usize {
    now.waiting(field).filter(|t| t.priority.unwrap_or(0) >= priority).count()
}

/// The estimate for a ticket of `priority` taken at `now.at_us` in `field`.
pub fn estimate(now: &HallNow, field: &str, priority: i64, s: &EwtSettings) -> FieldEwt {
    let ahead = tickets_ahead(now, field, priority);
    let staffed = now.counters_for(field).filter(|c| c.staffed()).count();
    let mut recent: Vec<f64> = now
        .recent
        .iter()
        .filter(|r| r.field.as_deref() == Some(field) && r.end_us > now.at_us - HOUR_US)
        .map(|r| r.service_us as f64 / MINUTE_US)
        .collect();
    recent.sort_by(f64::total_cmp);
    let samples = recent.len();
    let (q1, q3, source) = match (samples >= s.min_samples.max(1), percentile(&recent, 25.0), percentile(&recent, 75.0)) {
        (true, Some(a), Some(b)) => (a, b, "recent"),
        _ => (s.default_service_minutes * 0.75, s.default_service_minutes * 1.25, "default"),
    };
    let base = FieldEwt {
        field: field.to_owned(),
        ahead,
        staffed_counters: staffed,
        service_samples: samples,
        service_source: source,
        state: EwtState::NoCounterStaffed,
        low_minutes: None,
        high_minutes: None,
        text: "Chưa có quầy phục vụ".to_owned(),
    };
    if staffed == 0 {
        return base;
    }
    let step = f64::from(s.step_minutes.max(1));
    let per = ahead as f64 / staffed as f64;
    let low = ((per * q1) / step).floor() * step;
    let mut high = ((per * q3) / step).ceil() * step;
    if high <= low {
        high = low + step;
    }
    // Waits are minutes of a working day: far below u32::MAX.
    let (low, high) = (low.min(f64::from(u32::MAX)) as u32, high.min(f64::from(u32::MAX)) as u32);
    let text = if low == 0 { format!("dưới {high} phút") } else { format!("khoảng {low}–{high} phút") };
    FieldEwt { state: EwtState::Estimate, low_minutes: Some(low), high_minutes: Some(high), text, ..base }
}

/// A queue stay with what the display needs about its ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryTx {
    /// Source ticket id.
    pub ticket_id: String,
    /// Displayed number.
    pub number: Option<String>,
    /// Priority class.
    pub priority: Option<i64>,
    /// The stay.
    pub tx: Transaction,
}

/// The records needed to rebuild the hall's state at any past instant.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Hall.
    pub hall: String,
    /// Queue stays, any order.
    pub transactions: Vec<HistoryTx>,
    /// Counters.
    pub counters: Vec<CounterRow>,
    /// QMS counter states, any order.
    pub states: Vec<StateRow>,
    /// Counter → camera whose staff zone watches it.
    pub staff_cameras: BTreeMap<i64, String>,
    /// Camera staffed periods.
    pub staffed: Vec<StaffedSpan>,
}

/// Where a stay stood at `t`, from its times (None: not queued yet, or already over).
fn outcome_at(x: &Transaction, t: WallUs) -> Option<&'static str> {
    if x.queued_us? > t || x.end_us.is_some_and(|e| e <= t) {
        return None;
    }
    match (x.first_called_us, x.service_start_us) {
        (_, Some(s)) if s <= t => Some("serving"),
        (Some(c), _) if c <= t => Some("called"),
        _ => Some("waiting"),
    }
}

/// The hall as it stood at `at`, rebuilt from history: what a ticket issued then was shown.
/// Stays never called or ended by the end of their day count as gone (nobody waits overnight).
pub fn hall_at(h: &History, at: WallUs) -> HallNow {
    rebuild(h, h.transactions.iter(), at)
}

/// [`hall_at`] over a subset of the history's stays.
fn rebuild<'a>(h: &History, transactions: impl Iterator<Item = &'a HistoryTx>, at: WallUs) -> HallNow {
    let day_start = crate::time::local_day_start(at);
    let mut queued = Vec::new();
    let mut recent = Vec::new();
    let mut arrivals_last_hour: BTreeMap<String, i64> = BTreeMap::new();
    let mut served_today: BTreeMap<String, i64> = BTreeMap::new();
    for ht in transactions {
        let x = &ht.tx;
        let field = x.field.clone().unwrap_or_default();
        if x.seq == 0 && x.queued_us.is_some_and(|q| q > at - HOUR_US && q <= at) {
            *arrivals_last_hour.entry(field.clone()).or_default() += 1;
        }
        if let (Some(e), Some(s)) = (x.end_us, x.service_us()) {
            if e > at - HOUR_US && e <= at {
                recent.push(RecentService {
                    field: x.field.clone(),
                    counter: x.counter,
                    wait_us: x.wait_us(),
                    service_us: s,
                    end_us: e,
                });
            }
            if x.outcome == Outcome::Served && e >= day_start && e <= at {
                *served_today.entry(field).or_default() += 1;
            }
        }
        if x.queued_us.is_some_and(|q| q >= day_start) {
            if let Some(outcome) = outcome_at(x, at) {
                queued.push(QueuedTicket {
                    ticket_id: ht.ticket_id.clone(),
                    number: ht.number.clone(),
                    field: x.field.clone(),
                    queued_us: x.queued_us,
                    outcome: outcome.to_owned(),
                    counter: x.counter.filter(|_| outcome != "waiting"),
                    last_called_us: x.last_called_us.filter(|c| *c <= at),
                    priority: ht.priority,
                });
            }
        }
    }
    queued.sort_by_key(|q| q.queued_us);
    let counters = h
        .counters
        .iter()
        .map(|c| {
            let state = h.states.iter().filter(|s| s.counter == c.number && s.at_us <= at).max_by_key(|s| s.at_us);
            let camera = h.staff_cameras.get(&c.number).cloned();
            let camera_staffed = camera.as_ref().map(|_| {
                h.staffed.iter().any(|s| s.counter == c.number && s.from_us <= at && s.to_us.is_none_or(|e| e > at))
            });
            CounterNow {
                number: c.number,
                name: c.name.clone(),
                fields: c.fields.clone(),
                scheduled_open: scheduled_open(&c.hours, at),
                qms_state: state.map(|s| s.state.clone()),
                reason: state.and_then(|s| s.reason.clone()),
                state_since_us: state.map(|s| s.at_us),
                camera,
                camera_staffed,
                current_ticket: queued
                    .iter()
                    .filter(|t| t.counter == Some(c.number) && t.outcome != "waiting")
                    .max_by_key(|t| t.last_called_us)
                    .and_then(|t| t.number.clone()),
            }
        })
        .collect();
    HallNow { hall: h.hall.clone(), at_us: at, queued, recent, arrivals_last_hour, served_today, counters }
}

/// How well the display's estimates matched the waits that followed, for one field or `all`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EwtAccuracy {
    /// Field code, or `all`.
    pub field: String,
    /// Tickets with an estimate and a realised wait.
    pub n: usize,
    /// Mean absolute error of the range's midpoint, minutes.
    pub mae_minutes: Option<f64>,
    /// Share whose realised wait fell inside the shown range.
    pub within_range: super::kpi::Rate,
    /// Tickets issued while no counter of their field was staffed (no estimate shown).
    pub no_counter_staffed: usize,
    /// Tickets not called (yet): nothing to compare.
    pub not_called: usize,
}

/// The estimate each ticket issued in `[from, to)` would have seen at its issue (the state just
/// before it joined), against its realised wait. Deterministic: rebuilt from history, so a
/// late event re-scores the past instead of freezing a wrong record.
pub fn accuracy(h: &History, from: WallUs, to: WallUs, s: &EwtSettings) -> Vec<EwtAccuracy> {
    #[derive(Default)]
    struct Acc {
        errors: Vec<f64>,
        within: usize,
        none: usize,
        not_called: usize,
    }
    let mut sorted: Vec<&HistoryTx> = h.transactions.iter().collect();
    sorted.sort_by_key(|t| t.tx.queued_us);
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for ht in sorted.iter().filter(|t| t.tx.seq == 0) {
        let (Some(q), Some(field)) = (ht.tx.queued_us, ht.tx.field.as_deref()) else { continue };
        if !(from..to).contains(&q) {
            continue;
        }
        // Only stays queued in the previous day can matter at `q`: keeps this linear per day.
        let lo = sorted.partition_point(|t| t.tx.queued_us.is_none_or(|x| x < q - 24 * HOUR_US));
        let hi = sorted.partition_point(|t| t.tx.queued_us.is_none_or(|x| x < q));
        let seen = estimate(&rebuild(h, sorted[lo..hi].iter().copied(), q), field, ht.priority.unwrap_or(0), s);
        for a in [acc.entry(field.to_owned()).or_default(), &mut total] {
            match (seen.state, ht.tx.wait_us()) {
                (EwtState::NoCounterStaffed, _) => a.none += 1,
                (_, None) => a.not_called += 1,
                (EwtState::Estimate, Some(w)) => {
                    let real = w as f64 / MINUTE_US;
                    let mid = seen.midpoint().unwrap_or_default();
                    a.errors.push((real - mid).abs());
                    let (lo, hi) = (seen.low_minutes.unwrap_or(0), seen.high_minutes.unwrap_or(0));
                    a.within += usize::from(real >= f64::from(lo) && real <= f64::from(hi));
                }
            }
        }
    }
    let finish = |field: String, a: Acc| EwtAccuracy {
        field,
        n: a.errors.len(),
        mae_minutes: (!a.errors.is_empty()).then(|| a.errors.iter().sum::<f64>() / a.errors.len() as f64),
        within_range: super::kpi::Rate::new(a.within, a.errors.len()),
        no_counter_staffed: a.none,
        not_called: a.not_called,
    };
    let mut out: Vec<EwtAccuracy> = acc.into_iter().map(|(f, a)| finish(f, a)).collect();
    out.push(finish("all".into(), total));
    out
}

/// One counter on the public display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisplayCounter {
    /// Number.
    pub number: i64,
    /// Name.
    pub name: String,
    /// Open for citizens.
    pub open: bool,
    /// Ticket number being called or served (đang phục vụ số).
    pub now_serving: Option<String>,
}

/// One field on the public display: anonymous aggregates only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisplayField {
    /// Field code.
    pub field: String,
    /// Field name.
    pub name: String,
    /// Tickets waiting.
    pub waiting: usize,
    /// Counters open.
    pub counters_open: usize,
    /// Its counters.
    pub counters: Vec<DisplayCounter>,
    /// Estimated wait for a ticket taken now.
    pub ewt: FieldEwt,
}

/// The public display of a hall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Display {
    /// Hall.
    pub hall: String,
    /// When the figures were computed.
    pub updated_at: String,
    /// Per field.
    pub fields: Vec<DisplayField>,
}

/// The public display from the hall's state; `fields` are (code, name) pairs.
pub fn display(now: &HallNow, fields: &[(String, String)], s: &EwtSettings) -> Display {
    Display {
        hall: now.hall.clone(),
        updated_at: to_rfc3339(now.at_us),
        fields: fields
            .iter()
            .map(|(code, name)| DisplayField {
                field: code.clone(),
                name: name.clone(),
                waiting: now.waiting(code).count(),
                counters_open: now.counters_for(code).filter(|c| c.open()).count(),
                counters: now
                    .counters_for(code)
                    .map(|c| DisplayCounter {
                        number: c.number,
                        name: c.name.clone(),
                        open: c.open(),
                        now_serving: c.current_ticket.clone(),
                    })
                    .collect(),
                ewt: estimate(now, code, 0, s),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn counter(number: i64, state: &str, staffed: Option<bool>) -> CounterNow {
        CounterNow {
            number,
            name: format!("Quầy {number}"),
            fields: vec!["HT".into()],
            scheduled_open: true,
            qms_state: Some(state.into()),
            reason: None,
            state_since_us: None,
            camera: None,
            camera_staffed: staffed,
            current_ticket: None,
        }
    }

    fn waiting(n: usize) -> Vec<QueuedTicket> {
        (0..n)
            .map(|i| QueuedTicket {
                ticket_id: i.to_string(),
                number: None,
                field: Some("HT".into()),
                queued_us: Some(0),
                outcome: "waiting".into(),
                counter: None,
                last_called_us: None,
                priority: None,
            })
            .collect()
    }

    fn hall(queued: Vec<QueuedTicket>, services_min: &[i64], counters: Vec<CounterNow>) -> HallNow {
        HallNow {
            hall: "h".into(),
            at_us: 120 * MIN,
            queued,
            recent: services_min
                .iter()
                .map(|m| RecentService { field: Some("HT".into()), counter: Some(1), wait_us: None, service_us: m * MIN, end_us: 100 * MIN })
                .collect(),
            arrivals_last_hour: BTreeMap::new(),
            served_today: BTreeMap::new(),
            counters,
        }
    }

    #[test]
    fn range_from_service_quartiles() {
        // 6 waiting, 2 staffed counters (a third is open but its seat is empty), services
        // 4,6,8,10,12,14 min: Q1 = rank ⌈1.5⌉ = 2 → 6, Q3 = rank ⌈4.5⌉ = 5 → 12.
        // low = 6/2 × 6 = 18 → 15; high = 3 × 12 = 36 → 40.
        let now = hall(
            waiting(6),
            &[4, 6, 8, 10, 12, 14],
            vec![counter(1, "open", None), counter(2, "open", Some(true)), counter(3, "open", Some(false))],
        );
        let e = estimate(&now, "HT", 0, &EwtSettings::default());
        assert_eq!((e.ahead, e.staffed_counters, e.service_source), (6, 2, "recent"));
        assert_eq!((e.low_minutes, e.high_minutes), (Some(15), Some(40)));
        assert_eq!(e.text, "khoảng 15–40 phút");
    }

    #[test]
    fn few_samples_use_the_default_and_no_counter_is_its_own_state() {
        // 2 samples < 5: default 10 min → 7.5 and 12.5; 3 ahead, 1 counter: 22.5 → 20, 37.5 → 40.
        let now = hall(waiting(3), &[1, 2], vec![counter(1, "open", None)]);
        let e = estimate(&now, "HT", 0, &EwtSettings::default());
        assert_eq!((e.service_source, e.low_minutes, e.high_minutes), ("default", Some(20), Some(40)));
        let closed = hall(waiting(3), &[], vec![counter(1, "paused", None), counter(2, "open", Some(false))]);
        let e = estimate(&closed, "HT", 0, &EwtSettings::default());
        assert_eq!(e.state, EwtState::NoCounterStaffed);
        assert_eq!((e.low_minutes, e.high_minutes), (None, None));
        let empty = hall(vec![], &[], vec![counter(1, "open", None)]);
        assert_eq!(estimate(&empty, "HT", 0, &EwtSettings::default()).text, "dưới 5 phút");
    }
}
