//! Hall KPIs (domain.md §5) as pure functions over rows the store fetched.
//!
//! Nothing here touches the database, so every formula is testable by hand and the same code
//! serves SQLite and, later, PostgreSQL. Every figure carries its sample count: a 100 % on-time
//! rate over two dossiers must not look like one over two thousand.
//!
//! Conventions: waits and service times are in minutes; percentiles are nearest-rank (the
//! p-th percentile of n sorted values is the value at rank ⌈p·n/100⌉), so a supervisor can
//! check them by counting; times are hall-local (UTC+7) for hour and day groups.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ticket::{Outcome, Transaction};
use super::OpeningHours;
use crate::time::{local_day_start, to_rfc3339, WallUs, DAY_US, HALL_UTC_OFFSET_US};

const MINUTE_US: f64 = 60_000_000.0;

/// How a report is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Field (lĩnh vực) of the queue.
    Field,
    /// Counter (quầy) that called the ticket.
    Counter,
    /// Officer (cán bộ) at that counter.
    Officer,
    /// Hall-local hour of the day, e.g. `08:00`.
    Hour,
    /// Hall-local calendar day, e.g. `2026-12-01`.
    Day,
}

impl GroupBy {
    /// Parses the `by=` query value.
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "field" => GroupBy::Field,
            "counter" => GroupBy::Counter,
            "officer" => GroupBy::Officer,
            "hour" => GroupBy::Hour,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }
}

/// A group's label; counters sort numerically, `None` means the record did not say.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum GroupKey {
    /// Counter number.
    Number(i64),
    /// Field code, officer id, hour or date.
    Text(String),
    /// The record lacks the attribute (e.g. a ticket never called has no counter).
    None,
}

/// The group of a record with these attributes, at `at_us` (for hour and day groups).
pub fn group_key(by: GroupBy, field: Option<&str>, counter: Option<i64>, officer: Option<&str>, at_us: WallUs) -> GroupKey {
    match by {
        GroupBy::Field => field.map_or(GroupKey::None, |f| GroupKey::Text(f.to_owned())),
        GroupBy::Counter => counter.map_or(GroupKey::None, GroupKey::Number),
        GroupBy::Officer => officer.map_or(GroupKey::None, |o| GroupKey::Text(o.to_owned())),
        GroupBy::Hour => {
            let (_, minute) = crate::time::local_weekday_minute(at_us);
            GroupKey::Text(format!("{:02}:00", minute / 60))
        }
        GroupBy::Day => GroupKey::Text(local_date(at_us)),
    }
}

/// Hall-local date `YYYY-MM-DD` of `us`.
pub fn local_date(us: WallUs) -> String {
    let secs = (us + HALL_UTC_OFFSET_US).div_euclid(1_000_000);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => format!("@{us}us"),
    }
}

/// Mean, median, p90 and max of a sample, with its size.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Stats {
    /// Sample size.
    pub n: usize,
    /// Mean.
    pub mean: Option<f64>,
    /// Median (nearest rank).
    pub p50: Option<f64>,
    /// 90th percentile (nearest rank).
    pub p90: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
}

/// Nearest-rank percentile of an ascending sample.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

impl Stats {
    /// Summarises `values` (any order).
    pub fn of(mut values: Vec<f64>) -> Stats {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n == 0 {
            return Stats::default();
        }
        Stats {
            n,
            mean: Some(values.iter().sum::<f64>() / n as f64),
            p50: percentile(&values, 50.0),
            p90: percentile(&values, 90.0),
            max: values.last().copied(),
        }
    }
}

/// A share: `n` of `of`, as a percentage (None when `of` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Rate {
    /// Percentage.
    pub pct: Option<f64>,
    /// Numerator.
    pub n: usize,
    /// Denominator (the sample count).
    pub of: usize,
}

impl Rate {
    /// `n` of `of`.
    pub fn new(n: usize, of: usize) -> Rate {
        Rate { pct: (of > 0).then(|| n as f64 * 100.0 / of as f64), n, of }
    }
}

/// A ticket issued in the report's range.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    /// Field it was issued for.
    pub field: Option<String>,
    /// Last counter.
    pub counter: Option<i64>,
    /// Last officer.
    pub officer: Option<String>,
    /// Issue time.
    pub issued_us: WallUs,
    /// First call.
    pub first_called_us: Option<WallUs>,
    /// Outcome of its last transaction.
    pub outcome: Outcome,
}

/// A counter as configured in the queue system.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterRow {
    /// Number.
    pub number: i64,
    /// Name.
    pub name: String,
    /// Fields served; the first is the counter's main field.
    pub fields: Vec<String>,
    /// Scheduled opening hours.
    pub hours: OpeningHours,
}

/// A QMS counter state change.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    /// Counter.
    pub counter: i64,
    /// `open`, `paused` or `closed`.
    pub state: String,
    /// Pause reason.
    pub reason: Option<String>,
    /// When.
    pub at_us: WallUs,
}

/// A period the camera saw a counter's staff seat occupied (`to_us` None: still staffed).
#[derive(Debug, Clone, PartialEq)]
pub struct StaffedSpan {
    /// Counter.
    pub counter: i64,
    /// Start.
    pub from_us: WallUs,
    /// End.
    pub to_us: Option<WallUs>,
}

/// A camera-measured wait of a person who reached a counter.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraWaitRow {
    /// Counter reached.
    pub counter: i64,
    /// Wait, seconds.
    pub wait_s: f64,
}

/// People in the hall's waiting zones during one minute (summed over zones and cameras).
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyRow {
    /// Start of the minute.
    pub minute_us: WallUs,
    /// Mean people over the minute.
    pub people: f64,
}

/// A dossier relevant to the range.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierRow {
    /// Field.
    pub field: String,
    /// Receiving counter.
    pub counter: Option<i64>,
    /// Receiving officer.
    pub officer: Option<String>,
    /// Received.
    pub received_us: WallUs,
    /// Due (hẹn trả).
    pub due_us: WallUs,
    /// Returned (releaseDate).
    pub returned_us: Option<WallUs>,
    /// Processing finished (finishDate).
    pub finished_us: Option<WallUs>,
    /// Extension granted.
    pub extended: bool,
}

/// A rating given in the range.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    /// When.
    pub at_us: WallUs,
    /// Hài lòng or better.
    pub satisfied: bool,
    /// Field of the rated ticket, if linked.
    pub field: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Officer.
    pub officer: Option<String>,
}

/// Everything a report is computed from.
#[derive(Debug, Clone, Default)]
pub struct KpiInput {
    /// Hall.
    pub hall: String,
    /// Range start (inclusive).
    pub from_us: WallUs,
    /// Range end (exclusive).
    pub to_us: WallUs,
    /// The present: open intervals and unfinished things end here.
    pub now_us: WallUs,
    /// Service level per field, minutes (fields absent use [`DEFAULT_SERVICE_LEVEL_MIN`]).
    pub service_levels: BTreeMap<String, f64>,
    /// Tickets issued in the range.
    pub tickets: Vec<TicketRow>,
    /// Transactions queued in the range (waits) or ended in it (service time, utilisation),
    /// plus those still waiting at its start (queue length).
    pub transactions: Vec<Transaction>,
    /// Counters.
    pub counters: Vec<CounterRow>,
    /// QMS states in the range, plus each counter's last state before it.
    pub states: Vec<StateRow>,
    /// Camera staff-zone watchers: counter → camera.
    pub staff_cameras: BTreeMap<i64, String>,
    /// Camera staffed periods overlapping the range.
    pub staffed: Vec<StaffedSpan>,
    /// Camera waits ending in the range.
    pub camera_waits: Vec<CameraWaitRow>,
    /// Waiting-zone occupancy per minute in the range.
    pub occupancy: Vec<OccupancyRow>,
    /// Whether the hall has any waiting zone on an analysed camera.
    pub has_waiting_zone: bool,
    /// Dossiers released, due or overdue in the range.
    pub dossiers: Vec<DossierRow>,
    /// Ratings in the range.
    pub ratings: Vec<RatingRow>,
}

/// Service level when a field has none configured, minutes (the config default).
pub const DEFAULT_SERVICE_LEVEL_MIN: f64 = 15.0;

/// Dossier on-time figures (domain.md §4.3, OpenCPS definitions), both denominators labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DossierOnTime {
    /// Completed in the period before due: trước hạn.
    pub betimes: usize,
    /// Completed in the period on time: đúng hạn.
    pub ontime: usize,
    /// Completed in the period late: trễ hạn.
    pub overtime: usize,
    /// Not completed, already past due at min(now, period end): đang quá hạn.
    pub overdue: usize,
    /// `(betimes + ontime) / completed in period` (Huế "đã xử lý"; OpenCPS ontimePercentage).
    pub on_time_of_completed: LabelledRate,
    /// `completed by due / due in period, including overdue unfinished` (Vĩnh Phúc "hồ sơ đến hạn").
    pub on_time_of_due: LabelledRate,
}

/// A rate with its denominator spelled out.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LabelledRate {
    /// What the denominator counts.
    pub denominator: &'static str,
    /// The rate.
    #[serde(flatten)]
    pub rate: Rate,
}

/// Queue, service, satisfaction and dossier KPIs of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupKpis {
    /// The group (`all` for the hall total).
    pub group: GroupKey,
    /// Arrivals: tickets issued (|T|).
    pub arrivals: usize,
    /// Arrivals per hour of the range (λ).
    pub arrivals_per_hour: Option<f64>,
    /// % served: |S| / |T|.
    pub served: Rate,
    /// No-show rate (bỏ qua): outcome no-show / |T|.
    pub no_show: Rate,
    /// Walkout rate (bỏ về): removed, or never called by the end of its day / |T|.
    pub walkout: Rate,
    /// Tickets still in a queue (today's, not yet called or finished).
    pub in_queue: usize,
    /// Waiting time (called − queued, last call), minutes, per queue stay.
    pub wait_minutes: Stats,
    /// % above service level: waits over the field's level / called.
    pub above_service_level: Rate,
    /// Service time (end − last call), minutes.
    pub service_minutes: Stats,
    /// % satisfied: satisfied ratings / ratings.
    pub satisfaction: Rate,
    /// Rating response rate: ratings / served tickets.
    pub rating_response: Rate,
    /// Dossier on-time rate.
    pub dossiers: DossierOnTime,
}

/// Per-counter time KPIs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterKpis {
    /// Counter number.
    pub counter: i64,
    /// Name.
    pub name: String,
    /// `qms` when open time comes from reported states, `schedule` when the QMS never
    /// reported this counter and it is assumed open during its hours.
    pub open_source: &'static str,
    /// Open time in the range (QMS), minutes.
    pub open_minutes: f64,
    /// Scheduled time in the range, minutes.
    pub scheduled_minutes: f64,
    /// Paused time by reason, minutes.
    pub paused_minutes: BTreeMap<String, f64>,
    /// Σ service time of services ended here in the range, minutes.
    pub service_minutes: f64,
    /// Services behind `service_minutes`.
    pub services: usize,
    /// Utilisation: Σ service / open time (None when never open).
    pub utilisation: Option<f64>,
    /// Availability: open time within scheduled hours / scheduled time.
    pub availability: Option<f64>,
    /// Camera watching the staff seat.
    pub staff_camera: Option<String>,
    /// Unstaffed-while-open minutes: open in QMS ∩ scheduled, minus camera-staffed periods.
    /// None when no camera staff zone watches this counter.
    pub unstaffed_while_open_minutes: Option<f64>,
    /// Why a figure is missing.
    pub note: Option<String>,
}

/// Camera wait vs ticket wait in one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraVsTicket {
    /// Field (a camera wait counts for its counter's first field).
    pub field: String,
    /// Mean camera-measured wait, minutes.
    pub camera_mean_minutes: Option<f64>,
    /// Camera waits.
    pub camera_n: usize,
    /// Mean ticket wait, minutes.
    pub ticket_mean_minutes: Option<f64>,
    /// Ticket waits.
    pub ticket_n: usize,
    /// Camera − ticket, minutes: positive means people stand longer than their tickets show
    /// (waiting before taking a ticket, or companions).
    pub discrepancy_minutes: Option<f64>,
}

/// People waiting without a ticket: waiting-zone occupancy N(t) − waiting tickets L_q(t).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithoutTicket {
    /// Minutes with occupancy data (the sample).
    pub minutes: usize,
    /// Mean people in the waiting zones.
    pub mean_people: Option<f64>,
    /// Mean waiting tickets at those minutes.
    pub mean_waiting_tickets: Option<f64>,
    /// Mean of N − L_q.
    pub mean_gap: Option<f64>,
    /// Largest N − L_q.
    pub max_gap: Option<f64>,
    /// Why it is empty, if it is.
    pub note: Option<String>,
}

/// Little's-law cross-check: W ≈ L / λ against the measured mean wait.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LittleCheck {
    /// Field, or `all`.
    pub field: String,
    /// Window length, minutes.
    pub window_minutes: f64,
    /// L: time-average of waiting tickets over the window.
    pub mean_waiting: f64,
    /// Arrivals in the window.
    pub arrivals: usize,
    /// λ, arrivals per hour.
    pub arrivals_per_hour: f64,
    /// W_est = L / λ, minutes.
    pub estimated_wait_minutes: Option<f64>,
    /// Measured mean wait of the window's called tickets, minutes.
    pub measured_wait_minutes: Option<f64>,
    /// Measured waits.
    pub measured_n: usize,
    /// L over the first and second half of the window.
    pub mean_waiting_halves: [f64; 2],
    /// L changes by more than a quarter between halves: not steady, the check is unreliable.
    pub trending: bool,
}

/// A whole KPI report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    /// Hall.
    pub hall: String,
    /// Range start.
    pub from: String,
    /// Range end.
    pub to: String,
    /// Grouping.
    pub by: GroupBy,
    /// One entry per group.
    pub groups: Vec<GroupKpis>,
    /// The hall as a whole.
    pub total: GroupKpis,
    /// Per-counter utilisation, availability and unstaffed-while-open time.
    pub counters: Vec<CounterKpis>,
    /// Camera wait vs ticket wait, per field.
    pub camera_vs_ticket: Vec<CameraVsTicket>,
    /// People waiting without a ticket.
    pub waiting_without_ticket: WithoutTicket,
    /// Little's-law cross-check per field and for the hall.
    pub littles_law: Vec<LittleCheck>,
}

/// A time interval `[start, end)`.
pub type Span = (WallUs, WallUs);

/// Total length of disjoint spans, minutes.
pub fn span_minutes(spans: &[Span]) -> f64 {
    spans.iter().map(|(a, b)| (b - a) as f64).sum::<f64>() / MINUTE_US
}

/// Sorted, merged spans.
pub fn normalise(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(a, b)| b > a);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Intersection of two normalised span lists.
pub fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a` minus `b`, both normalised.
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(s, e) in a {
        let mut cur = s;
        for &(bs, be) in b.iter().filter(|(bs, be)| *be > s && *bs < e) {
            if bs > cur {
                out.push((cur, bs));
            }
            cur = cur.max(be);
        }
        if cur < e {
            out.push((cur, e));
        }
    }
    out
}

/// Scheduled opening spans of `hours` over `[from, to)`, hall-local days.
pub fn scheduled_spans(hours: &OpeningHours, from: WallUs, to: WallUs) -> Vec<Span> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut out = Vec::new();
    let mut day = local_day_start(from);
    while day < to {
        let (weekday, _) = crate::time::local_weekday_minute(day);
        for [a, b] in hours.get(DAYS[usize::from(weekday) % 7]).into_iter().flatten() {
            if let (Some(a), Some(b)) = (super::parse_hhmm(a), super::parse_hhmm(b)) {
                let (s, e) = (day + i64::from(a) * 60_000_000, day + i64::from(b) * 60_000_000);
                out.push((s.max(from), e.min(to)));
            }
        }
        day += DAY_US;
    }
    normalise(out)
}

/// QMS spans in one state (`open` or `paused`) of one counter, from its state changes sorted
/// by time (including the last change before `from`), clipped to `[from, to)`. Returns the
/// spans and the pause reason of each (empty for open).
pub fn state_spans(states: &[&StateRow], wanted: &str, from: WallUs, to: WallUs) -> Vec<(Span, String)> {
    let mut out = Vec::new();
    for (i, s) in states.iter().enumerate() {
        if s.state != wanted {
            continue;
        }
        let end = states.get(i + 1).map_or(to, |n| n.at_us);
        let (a, b) = (s.at_us.max(from), end.min(to));
        if a < b {
            out.push(((a, b), s.reason.clone().unwrap_or_default()));
        }
    }
    out
}

/// Walkout (bỏ về): removed, or never called though its hall day has ended.
fn is_walkout(t: &TicketRow, now: WallUs) -> bool {
    t.outcome == Outcome::Removed
        || (t.first_called_us.is_none() && t.outcome == Outcome::Waiting && local_day_start(t.issued_us) + DAY_US <= now)
}

/// When a queue stay stopped waiting: its last call, else its end, else the end of its day
/// (nobody waits overnight), capped at `now`.
fn waiting_until(x: &Transaction, now: WallUs) -> Option<WallUs> {
    let q = x.queued_us?;
    Some(x.last_called_us.or(x.end_us).unwrap_or_else(|| (local_day_start(q) + DAY_US).min(now)))
}

fn minutes(us: i64) -> f64 {
    us as f64 / MINUTE_US
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Dossier release time: result returned, else processing finished.
fn released(d: &DossierRow) -> Option<WallUs> {
    d.returned_us.or(d.finished_us)
}

/// OpenCPS classification of a completed dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Trước hạn: finished before due, or returned before due with an extension.
    Betimes,
    /// Đúng hạn: everything else completed.
    Ontime,
    /// Trễ hạn: returned after due.
    Overtime,
}

/// Classifies a completed dossier as OpenCPS does (domain.md §4.3); None if not completed.
pub fn timeliness(d: &DossierRow) -> Option<Timeliness> {
    let release = released(d)?;
    if d.finished_us.is_some_and(|f| f < d.due_us) || (d.extended && release < d.due_us) {
        Some(Timeliness::Betimes)
    } else if release > d.due_us {
        Some(Timeliness::Overtime)
    } else {
        Some(Timeliness::Ontime)
    }
}

#[derive(Default)]
struct Acc {
    arrivals: usize,
    served: usize,
    no_show: usize,
    walkout: usize,
    in_queue: usize,
    waits: Vec<f64>,
    above: usize,
    services: Vec<f64>,
    ratings: usize,
    satisfied: usize,
    dossiers: DossierOnTime,
    completed: usize,
    due: usize,
    due_ok: usize,
}

impl Acc {
    fn finish(self, group: GroupKey, hours: f64) -> GroupKpis {
        let mut dossiers = self.dossiers;
        // OpenCPS reports 100 % when nothing was completed; the count of 0 beside it says so.
        let mut completed = Rate::new(dossiers.betimes + dossiers.ontime, self.completed);
        if self.completed == 0 {
            completed.pct = Some(100.0);
        }
        dossiers.on_time_of_completed = LabelledRate {
            denominator: "completed in period (đã xử lý); 100 when none, as OpenCPS",
            rate: completed,
        };
        dossiers.on_time_of_due = LabelledRate {
            denominator: "due in period (hồ sơ đến hạn), overdue unfinished included",
            rate: Rate::new(self.due_ok, self.due),
        };
        let called = self.waits.len();
        GroupKpis {
            group,
            arrivals: self.arrivals,
            arrivals_per_hour: (hours > 0.0).then(|| self.arrivals as f64 / hours),
            served: Rate::new(self.served, self.arrivals),
            no_show: Rate::new(self.no_show, self.arrivals),
            walkout: Rate::new(self.walkout, self.arrivals),
            in_queue: self.in_queue,
            above_service_level: Rate::new(self.above, called),
            wait_minutes: Stats::of(self.waits),
            service_minutes: Stats::of(self.services),
            satisfaction: Rate::new(self.satisfied, self.ratings),
            rating_response: Rate::new(self.ratings, self.served),
            dossiers,
        }
    }
}

/// Computes the report for `by` from `input`.
pub fn report(input: &KpiInput, by: GroupBy) -> KpiReport {
    let (from, to, now) = (input.from_us, input.to_us, input.now_us);
    let end = to.min(now).max(from);
    let hours = (end - from) as f64 / 3_600_000_000.0;
    let mut groups: BTreeMap<GroupKey, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    let mut each = |key: GroupKey, f: &mut dyn FnMut(&mut Acc)| {
        f(groups.entry(key).or_default());
        f(&mut total);
    };

    for t in &input.tickets {
        let key = group_key(by, t.field.as_deref(), t.counter, t.officer.as_deref(), t.issued_us);
        let walkout = is_walkout(t, now);
        each(key, &mut |a| {
            a.arrivals += 1;
            match t.outcome {
                Outcome::Served => a.served += 1,
                Outcome::NoShow => a.no_show += 1,
                _ => {}
            }
            if walkout {
                a.walkout += 1;
            } else if matches!(t.outcome, Outcome::Waiting | Outcome::Called | Outcome::Serving) {
                a.in_queue += 1;
            }
        });
    }
    for x in &input.transactions {
        let key = |at| group_key(by, x.field.as_deref(), x.counter, x.officer.as_deref(), at);
        if let (Some(q), Some(w)) = (x.queued_us, x.wait_us()) {
            if (from..to).contains(&q) {
                let sl = x.field.as_ref().and_then(|f| input.service_levels.get(f)).copied().unwrap_or(DEFAULT_SERVICE_LEVEL_MIN);
                let wait = minutes(w);
                each(key(q), &mut |a| {
                    a.waits.push(wait);
                    a.above += usize::from(wait > sl);
                });
            }
        }
        if let (Some(e), Some(s)) = (x.end_us, x.service_us()) {
            if (from..to).contains(&e) {
                let service = minutes(s);
                each(key(e), &mut |a| a.services.push(service));
            }
        }
    }
    for r in &input.ratings {
        let key = group_key(by, r.field.as_deref(), r.counter, r.officer.as_deref(), r.at_us);
        each(key, &mut |a| {
            a.ratings += 1;
            a.satisfied += usize::from(r.satisfied);
        });
    }
    let due_horizon = end;
    for d in &input.dossiers {
        let class = timeliness(d);
        if let (Some(rel), Some(class)) = (released(d), class) {
            if (from..to).contains(&rel) {
                let key = group_key(by, Some(&d.field), d.counter, d.officer.as_deref(), rel);
                each(key, &mut |a| {
                    a.completed += 1;
                    match class {
                        Timeliness::Betimes => a.dossiers.betimes += 1,
                        Timeliness::Ontime => a.dossiers.ontime += 1,
                        Timeliness::Overtime => a.dossiers.overtime += 1,
                    }
                });
            }
        }
        let key = group_key(by, Some(&d.field), d.counter, d.officer.as_deref(), d.due_us);
        let done_by_horizon = released(d).is_some_and(|r| r <= due_horizon);
        if !done_by_horizon && d.due_us <= due_horizon && d.received_us < to {
            each(key.clone(), &mut |a| a.dossiers.overdue += 1);
        }
        // Due in the period: counted once its due date has passed, or once it is completed.
        if (from..to).contains(&d.due_us) && (d.due_us <= due_horizon || done_by_horizon) {
            let ok = done_by_horizon && class.is_some_and(|c| c != Timeliness::Overtime);
            each(key, &mut |a| {
                a.due += 1;
                a.due_ok += usize::from(ok);
            });
        }
    }
    KpiReport {
        hall: input.hall.clone(),
        from: to_rfc3339(from),
        to: to_rfc3339(to),
        by,
        groups: groups.into_iter().map(|(k, a)| a.finish(k, hours)).collect(),
        total: total.finish(GroupKey::Text("all".into()), hours),
        counters: counter_kpis(input),
        camera_vs_ticket: camera_vs_ticket(input),
        waiting_without_ticket: without_ticket(input),
        littles_law: littles_law(input),
    }
}

/// Utilisation, availability and unstaffed-while-open time per counter.
pub fn counter_kpis(input: &KpiInput) -> Vec<CounterKpis> {
    let (from, end) = (input.from_us, input.to_us.min(input.now_us).max(input.from_us));
    let mut out = Vec::with_capacity(input.counters.len());
    for c in &input.counters {
        let mut states: Vec<&StateRow> = input.states.iter().filter(|s| s.counter == c.number).collect();
        states.sort_by_key(|s| s.at_us);
        let scheduled = scheduled_spans(&c.hours, from, end);
        let (open, open_source) = if states.is_empty() {
            (scheduled.clone(), "schedule")
        } else {
            (normalise(state_spans(&states, "open", from, end).into_iter().map(|(s, _)| s).collect()), "qms")
        };
        let mut paused_minutes: BTreeMap<String, f64> = BTreeMap::new();
        for ((a, b), reason) in state_spans(&states, "paused", from, end) {
            *paused_minutes.entry(reason).or_default() += minutes(b - a);
        }
        let services: Vec<f64> = input
            .transactions
            .iter()
            .filter(|x| x.counter == Some(c.number) && x.end_us.is_some_and(|e| (from..input.to_us).contains(&e)))
            .filter_map(Transaction::service_us)
            .map(minutes)
            .collect();
        let open_minutes = span_minutes(&open);
        let scheduled_minutes = span_minutes(&scheduled);
        let open_scheduled = intersect(&open, &scheduled);
        let staff_camera = input.staff_cameras.get(&c.number).cloned();
        let (unstaffed, note) = match &staff_camera {
            Some(_) => {
                let staffed = normalise(
                    input
                        .staffed
                        .iter()
                        .filter(|s| s.counter == c.number)
                        .map(|s| (s.from_us, s.to_us.unwrap_or(end)))
                        .collect(),
                );
                (Some(span_minutes(&subtract(&open_scheduled, &staffed))), None)
            }
            None => (None, Some("no camera staff zone watches this counter".to_owned())),
        };
        let service_minutes: f64 = services.iter().sum();
        out.push(CounterKpis {
            counter: c.number,
            name: c.name.clone(),
            open_source,
            open_minutes,
            scheduled_minutes,
            paused_minutes,
            service_minutes,
            services: services.len(),
            utilisation: (open_minutes > 0.0).then(|| service_minutes / open_minutes),
            availability: (scheduled_minutes > 0.0).then(|| span_minutes(&open_scheduled) / scheduled_minutes),
            staff_camera,
            unstaffed_while_open_minutes: unstaffed,
            note,
        });
    }
    out
}

/// Camera wait vs ticket wait per field.
pub fn camera_vs_ticket(input: &KpiInput) -> Vec<CameraVsTicket> {
    let main_field: BTreeMap<i64, &str> =
        input.counters.iter().filter_map(|c| Some((c.number, c.fields.first()?.as_str()))).collect();
    let mut camera: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for w in &input.camera_waits {
        if let Some(f) = main_field.get(&w.counter) {
            camera.entry((*f).to_owned()).or_default().push(w.wait_s / 60.0);
        }
    }
    let mut ticket: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for x in &input.transactions {
        if let (Some(f), Some(q), Some(w)) = (&x.field, x.queued_us, x.wait_us()) {
            if (input.from_us..input.to_us).contains(&q) {
                ticket.entry(f.clone()).or_default().push(minutes(w));
            }
        }
    }
    let fields: std::collections::BTreeSet<&String> = camera.keys().chain(ticket.keys()).collect();
    fields
        .into_iter()
        .map(|f| {
            let cam = camera.get(f).map(Vec::as_slice).unwrap_or_default();
            let tk = ticket.get(f).map(Vec::as_slice).unwrap_or_default();
            let (cm, tm) = (mean(cam), mean(tk));
            CameraVsTicket {
                field: f.clone(),
                camera_mean_minutes: cm,
                camera_n: cam.len(),
                ticket_mean_minutes: tm,
                ticket_n: tk.len(),
                discrepancy_minutes: cm.zip(tm).map(|(c, t)| c - t),
            }
        })
        .collect()
}

/// Waiting intervals of the transactions, as sorted start and end lists for counting.
struct Waiting {
    starts: Vec<WallUs>,
    ends: Vec<WallUs>,
}

impl Waiting {
    fn of<'a>(txs: impl Iterator<Item = &'a Transaction>, now: WallUs) -> Waiting {
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for x in txs {
            if let (Some(q), Some(u)) = (x.queued_us, waiting_until(x, now)) {
                if u > q {
                    starts.push(q);
                    ends.push(u);
                }
            }
        }
        starts.sort_unstable();
        ends.sort_unstable();
        Waiting { starts, ends }
    }

    /// Tickets waiting at instant `t` (queued at or before, not yet called).
    fn at(&self, t: WallUs) -> usize {
        self.starts.partition_point(|&s| s <= t) - self.ends.partition_point(|&e| e <= t)
    }
}

/// ∫ waiting tickets dt over `[a, b)`, in ticket·µs.
fn waiting_integral(spans: &[Span], a: WallUs, b: WallUs) -> f64 {
    spans.iter().map(|&(s, e)| (e.min(b) - s.max(a)).max(0) as f64).sum()
}

/// People waiting without a ticket: per minute with occupancy, N − L_q at the minute's middle.
pub fn without_ticket(input: &KpiInput) -> WithoutTicket {
    if !input.has_waiting_zone {
        return WithoutTicket {
            minutes: 0,
            mean_people: None,
            mean_waiting_tickets: None,
            mean_gap: None,
            max_gap: None,
            note: Some("no analysed camera of this hall has a waiting zone".into()),
        };
    }
    let waiting = Waiting::of(input.transactions.iter(), input.now_us);
    let (mut people, mut tickets, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
    for o in input.occupancy.iter().filter(|o| (input.from_us..input.to_us).contains(&o.minute_us)) {
        let lq = waiting.at(o.minute_us + 30_000_000) as f64;
        people.push(o.people);
        tickets.push(lq);
        gaps.push(o.people - lq);
    }
    WithoutTicket {
        minutes: gaps.len(),
        mean_people: mean(&people),
        mean_waiting_tickets: mean(&tickets),
        mean_gap: mean(&gaps),
        max_gap: gaps.iter().copied().reduce(f64::max),
        note: gaps.is_empty().then(|| "no occupancy minutes recorded in this range".into()),
    }
}

/// Little's-law check per field and for the whole hall over `[from, min(to, now))`.
pub fn littles_law(input: &KpiInput) -> Vec<LittleCheck> {
    let (a, b) = (input.from_us, input.to_us.min(input.now_us));
    // Two halves need at least two microseconds.
    if b - a < 2 {
        return Vec::new();
    }
    let mut fields: Vec<Option<&str>> = vec![None];
    let mut seen: Vec<&str> = input.transactions.iter().filter_map(|x| x.field.as_deref()).collect();
    seen.sort_unstable();
    seen.dedup();
    fields.extend(seen.into_iter().map(Some));
    let mid = a + (b - a) / 2;
    fields
        .into_iter()
        .map(|field| {
            let txs: Vec<&Transaction> =
                input.transactions.iter().filter(|x| field.is_none() || x.field.as_deref() == field).collect();
            let spans: Vec<Span> = txs
                .iter()
                .filter_map(|x| Some((x.queued_us?, waiting_until(x, input.now_us)?)))
                .collect();
            let window = (b - a) as f64;
            let l = waiting_integral(&spans, a, b) / window;
            let halves =
                [waiting_integral(&spans, a, mid) / (mid - a) as f64, waiting_integral(&spans, mid, b) / (b - mid) as f64];
            let arrivals = txs.iter().filter(|x| x.queued_us.is_some_and(|q| (a..b).contains(&q))).count();
            let measured: Vec<f64> = txs
                .iter()
                .filter(|x| x.queued_us.is_some_and(|q| (a..b).contains(&q)))
                .filter_map(|x| x.wait_us())
                .map(minutes)
                .collect();
            let lambda_per_min = arrivals as f64 / (window / MINUTE_US);
            let big = halves[0].max(halves[1]);
            LittleCheck {
                field: field.unwrap_or("all").to_owned(),
                window_minutes: window / MINUTE_US,
                mean_waiting: l,
                arrivals,
                arrivals_per_hour: lambda_per_min * 60.0,
                estimated_wait_minutes: (arrivals > 0).then(|| l / lambda_per_min),
                measured_wait_minutes: mean(&measured),
                measured_n: measured.len(),
                mean_waiting_halves: halves,
                trending: big > 0.5 && (halves[0] - halves[1]).abs() > 0.25 * big,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::of(vec![5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        // n = 10: p50 at rank 5 → 5; p90 at rank 9 → 9.
        assert_eq!((s.p50, s.p90, s.max, s.mean), (Some(5.0), Some(9.0), Some(10.0), Some(5.5)));
        assert_eq!(Stats::of(vec![]).n, 0);
    }

    #[test]
    fn span_algebra() {
        let a = normalise(vec![(0, 10), (5, 20), (30, 40)]);
        assert_eq!(a, vec![(0, 20), (30, 40)]);
        assert_eq!(intersect(&a, &[(15, 35)]), vec![(15, 20), (30, 35)]);
        assert_eq!(subtract(&a, &[(5, 8), (18, 32)]), vec![(0, 5), (8, 18), (32, 40)]);
    }
}

/// One field's live tiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldTile {
    /// Field code.
    pub field: String,
    /// Field name.
    pub name: String,
    /// Tickets waiting now.
    pub waiting_tickets: usize,
    /// Longest current wait of a waiting ticket, minutes.
    pub longest_wait_minutes: Option<f64>,
    /// Served today.
    pub served_today: i64,
    /// Waits of tickets queued today, minutes (mean, p90 …).
    pub wait_today: Stats,
    /// Counters open (QMS).
    pub counters_open: usize,
    /// Counters staffed (QMS open and, where watched, camera sees the officer).
    pub counters_staffed: usize,
    /// Satisfaction today.
    pub satisfaction_today: Rate,
}

/// The hall-now dashboard tiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NowTiles {
    /// Hall.
    pub hall: String,
    /// When.
    pub at: String,
    /// People in the waiting zones now (camera; None without a waiting zone or recent data).
    pub waiting_camera: Option<f64>,
    /// Tickets waiting now, all fields.
    pub waiting_tickets: usize,
    /// Per field.
    pub fields: Vec<FieldTile>,
}

/// The live tiles from the hall's state, today's report by field, the field names and the
/// camera's waiting-zone count.
pub fn now_tiles(now: &super::now::HallNow, today: &KpiReport, fields: &[(String, String)], waiting_camera: Option<f64>) -> NowTiles {
    let mut names: Vec<(String, String)> = fields.to_vec();
    for c in &now.counters {
        for f in &c.fields {
            if !names.iter().any(|(code, _)| code == f) {
                names.push((f.clone(), f.clone()));
            }
        }
    }
    let tiles = names
        .into_iter()
        .map(|(code, name)| {
            let group = today.groups.iter().find(|g| g.group == GroupKey::Text(code.clone()));
            FieldTile {
                waiting_tickets: now.waiting(&code).count(),
                longest_wait_minutes: now.waiting(&code).filter_map(|t| t.queued_us).min().map(|q| minutes(now.at_us - q)),
                served_today: now.served_today.get(&code).copied().unwrap_or(0),
                wait_today: group.map(|g| g.wait_minutes.clone()).unwrap_or_default(),
                counters_open: now.counters_for(&code).filter(|c| c.open()).count(),
                counters_staffed: now.counters_for(&code).filter(|c| c.staffed()).count(),
                satisfaction_today: group.map(|g| g.satisfaction).unwrap_or_default(),
                field: code,
                name,
            }
        })
        .collect();
    NowTiles {
        hall: now.hall.clone(),
        at: to_rfc3339(now.at_us),
        waiting_camera,
        waiting_tickets: now.queued.iter().filter(|t| t.outcome == "waiting").count(),
        fields: tiles,
    }
}
