//! A simulated queue system (QMS) for the demo hall: it posts counters, officers, counter
//! states, ticket events, ratings and dossiers to the real `/api/v1` ingestion API with an
//! integration token, as a hall's QMS, rating tablets and one-stop software would.
//!
//! [`Generator`] is a pure, seeded simulation of the hall (arrivals per field as a Poisson
//! process, lognormal service times, recalls, no-shows, walkouts, transfers, ratings,
//! dossiers); [`run`] drives it with the wall clock and delivers its batches over HTTP,
//! retrying with backoff and resending the same event ids while the API is unavailable
//! (ingestion is idempotent, so a resend after a lost response changes nothing).

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::service::{
    Channel, CounterIn, CounterStateIn, CounterStateKind, DossierIn, DossierStatus, OfficerIn, OpeningHours, RatingIn,
    RatingScale, TicketEventIn, TicketEventKind,
};
use crate::time::{to_rfc3339, WallUs};

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;

/// The demo hall's fields (as in config/hallwatch.toml): code, ticket prefix, share of
/// arrivals, median service minutes, and a typical procedure (code, name) for dossiers.
const FIELDS: [(&str, &str, f64, f64, &str, &str); 3] = [
    ("HT", "A", 0.45, 6.0, "2.000635", "Đăng ký khai sinh"),
    ("CT", "B", 0.35, 3.0, "2.000815", "Chứng thực bản sao từ bản chính"),
    ("DD", "C", 0.20, 10.0, "1.004227", "Đăng ký biến động đất đai"),
];
/// Fields each counter serves, cycled when there are more counters.
const COUNTER_FIELDS: [&[&str]; 4] = [&["HT"], &["HT", "CT"], &["CT"], &["DD"]];
const OFFICERS: [&str; 4] = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"];

/// `[simulator.tickets]`: the simulated QMS that `serve` runs against its own API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSimConfig {
    /// Whether `serve` starts it. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Hall id the records are for.
    pub hall: String,
    /// Integration token (plain text: the demo's own; use `token_env` elsewhere).
    #[serde(default)]
    pub token: Option<String>,
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Tickets issued per hour of hall time, all fields together. Default 40.
    #[serde(default = "default_rate")]
    pub rate_per_hour: f64,
    /// Counters. Default 4.
    #[serde(default = "default_counters")]
    pub counters: u32,
    /// Time compression: 1 is real time; 10 makes a 6-minute service last 36 s. Timestamps
    /// are always the real wall clock. Default 1.
    #[serde(default = "one")]
    pub speed: f64,
    /// Camera shown as watching the counters. Default none.
    #[serde(default)]
    pub camera: Option<String>,
    /// Open the counters every day, all day, so the demo is alive whenever it is started
    /// (otherwise Mon–Fri 07:30–11:30, 13:30–17:00 and Sat mornings). Default true.
    #[serde(default = "yes")]
    pub around_the_clock: bool,
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}
fn default_rate() -> f64 {
    40.0
}
fn default_counters() -> u32 {
    4
}

impl TicketSimConfig {
    /// Checks values, returning the key below `simulator.tickets` and the problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.rate_per_hour > 0.0 && self.rate_per_hour <= 10_000.0) {
            return Err(("rate_per_hour".into(), format!("{} is out of range (0, 10000]", self.rate_per_hour)));
        }
        if !(1..=50).contains(&self.counters) {
            return Err(("counters".into(), format!("{} is out of range 1..=50", self.counters)));
        }
        if !(self.speed > 0.0 && self.speed <= 600.0) {
            return Err(("speed".into(), format!("{} is out of range (0, 600]", self.speed)));
        }
        match (&self.token, &self.token_env) {
            (Some(_), Some(_)) => Err(("token_env".into(), "set either token or token_env, not both".into())),
            (None, None) => Err(("token".into(), "an integration token is needed (token or token_env)".into())),
            (None, Some(var)) if std::env::var(var).is_err() => Err(("token_env".into(), format!("environment variable `{var}` is not set"))),
            _ => Ok(()),
        }
    }

    /// The token, from the file or the environment.
    pub fn resolved_token(&self) -> Option<String> {
        self.token.clone().or_else(|| self.token_env.as_ref().and_then(|v| std::env::var(v).ok()))
    }
}

/// What the generator simulates.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParams {
    /// Hall id.
    pub hall: String,
    /// Tickets per hour of hall time.
    pub rate_per_hour: f64,
    /// Counters.
    pub counters: u32,
    /// Time compression.
    pub speed: f64,
    /// Camera named on the counters.
    pub camera: Option<String>,
    /// Counters scheduled open all day, every day.
    pub around_the_clock: bool,
}

/// One request to the ingestion API.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    /// `PUT /api/v1/counters`.
    Counters(Vec<CounterIn>),
    /// `PUT /api/v1/officers`.
    Officers(Vec<OfficerIn>),
    /// `POST /api/v1/counter-states`.
    CounterStates(Vec<CounterStateIn>),
    /// `POST /api/v1/ticket-events`.
    TicketEvents(Vec<TicketEventIn>),
    /// `POST /api/v1/ratings`.
    Ratings(Vec<RatingIn>),
    /// `POST /api/v1/dossiers`.
    Dossiers(Vec<DossierIn>),
}

impl Batch {
    /// HTTP method and path.
    pub fn route(&self) -> (reqwest::Method, &'static str) {
        match self {
            Batch::Counters(_) => (reqwest::Method::PUT, "/api/v1/counters"),
            Batch::Officers(_) => (reqwest::Method::PUT, "/api/v1/officers"),
            Batch::CounterStates(_) => (reqwest::Method::POST, "/api/v1/counter-states"),
            Batch::TicketEvents(_) => (reqwest::Method::POST, "/api/v1/ticket-events"),
            Batch::Ratings(_) => (reqwest::Method::POST, "/api/v1/ratings"),
            Batch::Dossiers(_) => (reqwest::Method::POST, "/api/v1/dossiers"),
        }
    }

    /// The JSON array sent.
    pub fn body(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Batch::Counters(v) => serde_json::to_value(v),
            Batch::Officers(v) => serde_json::to_value(v),
            Batch::CounterStates(v) => serde_json::to_value(v),
            Batch::TicketEvents(v) => serde_json::to_value(v),
            Batch::Ratings(v) => serde_json::to_value(v),
            Batch::Dossiers(v) => serde_json::to_value(v),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Batch::Counters(v) => v.is_empty(),
            Batch::Officers(v) => v.is_empty(),
            Batch::CounterStates(v) => v.is_empty(),
            Batch::TicketEvents(v) => v.is_empty(),
            Batch::Ratings(v) => v.is_empty(),
            Batch::Dossiers(v) => v.is_empty(),
        }
    }
}

#[derive(Clone, Debug)]
struct SimTicket {
    /// Issue order, for "oldest first" across queues.
    order: u64,
    id: String,
    number: String,
    field: usize,
    /// When the citizen gives up and leaves (bỏ về).
    walkout_at: WallUs,
}

#[derive(Clone, Debug)]
enum Desk {
    Idle,
    /// Called; at `next` the citizen arrives, or (no-show) the officer recalls / skips.
    Calling { ticket: SimTicket, next: WallUs, no_show: bool, recalled: bool },
    Serving { ticket: SimTicket, until: WallUs },
}

#[derive(Clone, Debug)]
struct SimCounter {
    number: i64,
    fields: Vec<usize>,
    officer: String,
    desk: Desk,
}

/// The simulated hall: deterministic for a given seed and sequence of `step` times.
pub struct Generator {
    p: SimParams,
    rng: StdRng,
    /// Prefix of every id, unique per run, so a restarted simulator never reuses an event id
    /// for different content (the API would refuse it as a conflict).
    run: String,
    seq: u64,
    numbers: [u32; 3],
    next_arrival: WallUs,
    queues: [VecDeque<SimTicket>; 3],
    counters: Vec<SimCounter>,
    dossiers: u32,
}

/// Probability of each outcome, per call or per service.
const NO_SHOW: f64 = 0.05;
const TRANSFER: f64 = 0.04;
const RATED: f64 = 0.6;
const DISSATISFIED: f64 = 0.1;
const DOSSIER: f64 = 0.5;
/// Mean patience before a waiting citizen leaves, minutes of hall time.
const PATIENCE_MINUTES: f64 = 50.0;

impl Generator {
    /// A hall starting at `start` (µs), seeded.
    pub fn new(p: SimParams, seed: u64, start: WallUs) -> Generator {
        let counters = (0..p.counters)
            .map(|i| {
                let i = i as usize;
                SimCounter {
                    number: i as i64 + 1,
                    fields: COUNTER_FIELDS[i % COUNTER_FIELDS.len()]
                        .iter()
                        .filter_map(|f| FIELDS.iter().position(|x| x.0 == *f))
                        .collect(),
                    officer: format!("cb-{:02}", i + 1),
                    desk: Desk::Idle,
                }
            })
            .collect();
        let mut g = Generator {
            run: format!("sim{}", start / SECOND_US),
            p,
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            numbers: [0; 3],
            next_arrival: start,
            queues: Default::default(),
            counters,
            dossiers: 0,
        };
        g.next_arrival = start + g.interarrival(None, 0);
        g
    }

    fn id(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{}-{what}{}", self.run, self.seq)
    }

    /// Scales hall-time durations to the wall clock.
    fn wall(&self, hall_us: f64) -> WallUs {
        (hall_us / self.p.speed) as WallUs
    }

    /// Exponential inter-arrival time of the Poisson arrivals. Consistency with the simulated
    /// camera: the demo camera's walkway zone stands in for the waiting area, so the arrival
    /// rate is scaled by (people in the waiting zone + 1) / (waiting tickets + 1), bounded to
    /// [0.5, 2]: more people in view than tickets waiting brings more arrivals, fewer brings
    /// fewer, and the waiting queue tracks the number of people the camera counts there.
    fn interarrival(&mut self, people: Option<usize>, waiting: usize) -> WallUs {
        let factor = people.map_or(1.0, |p| ((p as f64 + 1.0) / (waiting as f64 + 1.0)).clamp(0.5, 2.0));
        let per_us = self.p.rate_per_hour * factor / 3_600_000_000.0;
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        self.wall(-u.ln() / per_us).max(1)
    }

    /// Lognormal service time around the field's median (σ = 0.5), hall time.
    fn service_time(&mut self, field: usize) -> f64 {
        // Box–Muller: one standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (self.rng.gen_range(f64::EPSILON..1.0), self.rng.gen());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        FIELDS[field].3 * MINUTE_US as f64 * (0.5 * z).exp()
    }

    fn hours(&self) -> OpeningHours {
        let span = |a: &str, b: &str| [a.to_owned(), b.to_owned()];
        let mut h = OpeningHours::new();
        for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            let spans = if self.p.around_the_clock {
                vec![span("00:00", "24:00")]
            } else if d == "sat" {
                vec![span("07:30", "11:30")]
            } else if d == "sun" {
                continue;
            } else {
                vec![span("07:30", "11:30"), span("13:30", "17:00")]
            };
            h.insert(d.to_owned(), spans);
        }
        h
    }

    /// What a QMS sends when it connects: counters, officers, and every counter opened.
    pub fn setup(&mut self, now: WallUs) -> Vec<Batch> {
        let hours = self.hours();
        let counters = self
            .counters
            .iter()
            .map(|c| CounterIn {
                hall: self.p.hall.clone(),
                number: c.number,
                name: format!("Quầy {}", c.number),
                fields: c.fields.iter().map(|f| FIELDS[*f].0.to_owned()).collect(),
                opening_hours: hours.clone(),
                camera: self.p.camera.clone(),
            })
            .collect();
        let officers = self
            .counters
            .iter()
            .enumerate()
            .map(|(i, c)| OfficerIn { hall: self.p.hall.clone(), id: c.officer.clone(), name: OFFICERS[i % OFFICERS.len()].to_owned(), active: true })
            .collect();
        let mut states = Vec::new();
        for i in 0..self.counters.len() {
            let (number, officer) = (self.counters[i].number, self.counters[i].officer.clone());
            states.push(CounterStateIn {
                event_id: self.id("s"),
                hall: self.p.hall.clone(),
                counter: number,
                state: CounterStateKind::Open,
                at: to_rfc3339(now),
                reason: None,
                officer: Some(officer),
            });
        }
        vec![Batch::Counters(counters), Batch::Officers(officers), Batch::CounterStates(states)]
    }

    /// Tickets waiting now.
    pub fn waiting(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    fn event(&mut self, t: &SimTicket, kind: TicketEventKind, at: WallUs, counter: Option<&SimCounter>) -> TicketEventIn {
        TicketEventIn {
            event_id: self.id("e"),
            hall: self.p.hall.clone(),
            ticket_id: t.id.clone(),
            kind,
            at: to_rfc3339(at),
            number: Some(t.number.clone()),
            field: Some(FIELDS[t.field].0.to_owned()),
            counter: counter.map(|c| c.number),
            officer: counter.map(|c| c.officer.clone()),
            to_field: None,
            to_counter: None,
            channel: (kind == TicketEventKind::Issued).then(|| "kiosk".to_owned()),
            priority: None,
        }
    }

    /// Everything that happened up to `now`; `people_waiting` is the camera's waiting-zone count.
    pub fn step(&mut self, now: WallUs, people_waiting: Option<usize>) -> Vec<Batch> {
        let mut events = Vec::new();
        let mut ratings = Vec::new();
        let mut dossiers = Vec::new();
        while self.next_arrival <= now {
            let at = self.next_arrival;
            let r: f64 = self.rng.gen();
            let mut acc = 0.0;
            let field = FIELDS.iter().position(|f| {
                acc += f.2;
                r < acc
            });
            let field = field.unwrap_or(FIELDS.len() - 1);
            self.numbers[field] += 1;
            let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
            let t = SimTicket {
                order: self.seq,
                id: self.id("t"),
                number: format!("{}{:03}", FIELDS[field].1, self.numbers[field] % 1000),
                field,
                walkout_at: at + self.wall(-u.ln() * PATIENCE_MINUTES * MINUTE_US as f64),
            };
            events.push(self.event(&t, TicketEventKind::Issued, at, None));
            self.queues[field].push_back(t);
            let waiting = self.waiting();
            self.next_arrival = at + self.interarrival(people_waiting, waiting);
        }
        for q in 0..self.queues.len() {
            let (left, stay): (Vec<SimTicket>, Vec<SimTicket>) = self.queues[q].drain(..).partition(|t| t.walkout_at <= now);
            self.queues[q] = stay.into();
            for t in left {
                let at = t.walkout_at;
                events.push(self.event(&t, TicketEventKind::Removed, at, None));
            }
        }
        for i in 0..self.counters.len() {
            self.advance(i, now, &mut events, &mut ratings, &mut dossiers);
        }
        [Batch::TicketEvents(events), Batch::Ratings(ratings), Batch::Dossiers(dossiers)].into_iter().filter(|b| !b.is_empty()).collect()
    }

    fn advance(&mut self, i: usize, now: WallUs, events: &mut Vec<TicketEventIn>, ratings: &mut Vec<RatingIn>, dossiers: &mut Vec<DossierIn>) {
        let mut counter = self.counters[i].clone();
        let desk = std::mem::replace(&mut counter.desk, Desk::Idle);
        match desk {
            Desk::Idle => {
                // The oldest waiting ticket among the fields this counter serves.
                let Some(q) = counter.fields.iter().copied().filter(|f| !self.queues[*f].is_empty()).min_by_key(|f| self.queues[*f].front().map(|t| t.order))
                else {
                    return;
                };
                let Some(ticket) = self.queues[q].pop_front() else { return };
                events.push(self.event(&ticket, TicketEventKind::Called, now, Some(&counter)));
                let no_show = self.rng.gen_bool(NO_SHOW);
                let walk_hall: f64 = self.rng.gen_range(10.0..40.0);
                let walk = self.wall(walk_hall * SECOND_US as f64);
                self.counters[i].desk = Desk::Calling { ticket, next: now + walk, no_show, recalled: false };
            }
            Desk::Calling { ticket, next, no_show, recalled } if next <= now => {
                if no_show && !recalled {
                    // Gọi lại: a second call, then a skip if still nobody comes.
                    events.push(self.event(&ticket, TicketEventKind::Called, next, Some(&counter)));
                    let wait = self.wall(30.0 * SECOND_US as f64);
                    self.counters[i].desk = Desk::Calling { ticket, next: next + wait, no_show, recalled: true };
                } else if no_show {
                    events.push(self.event(&ticket, TicketEventKind::NoShow, next, Some(&counter)));
                    self.counters[i].desk = Desk::Idle;
                } else {
                    events.push(self.event(&ticket, TicketEventKind::ServiceStarted, next, Some(&counter)));
                    let service = self.service_time(ticket.field);
                    let until = next + self.wall(service);
                    self.counters[i].desk = Desk::Serving { ticket, until };
                }
            }
            Desk::Serving { ticket, until } if until <= now => {
                self.counters[i].desk = Desk::Idle;
                if self.rng.gen_bool(TRANSFER) {
                    // Chuyển quầy: wrong field chosen at the kiosk; back in the right queue.
                    let to = (ticket.field + 1 + self.rng.gen_range(0..FIELDS.len() - 1)) % FIELDS.len();
                    let mut e = self.event(&ticket, TicketEventKind::Transferred, until, Some(&counter));
                    e.to_field = Some(FIELDS[to].0.to_owned());
                    events.push(e);
                    let walkout_at = until + (ticket.walkout_at - until).max(self.wall(10.0 * MINUTE_US as f64));
                    self.queues[to].push_back(SimTicket { field: to, walkout_at, ..ticket });
                    return;
                }
                events.push(self.event(&ticket, TicketEventKind::Finished, until, Some(&counter)));
                if self.rng.gen_bool(RATED) {
                    let dissatisfied = self.rng.gen_bool(DISSATISFIED);
                    let score = if dissatisfied { 1 } else { self.rng.gen_range(2..=3) };
                    ratings.push(RatingIn {
                        rating_id: self.id("r"),
                        hall: self.p.hall.clone(),
                        at: to_rfc3339(until + self.wall(15.0 * SECOND_US as f64)),
                        scale: RatingScale::Three,
                        score,
                        ticket_id: Some(ticket.id.clone()),
                        dossier_code: None,
                        counter: Some(counter.number),
                        officer: Some(counter.officer.clone()),
                        reasons: if dissatisfied { vec!["Thời gian chờ lâu".to_owned()] } else { Vec::new() },
                        comment: None,
                        device_id: Some(format!("tablet-{}", counter.number)),
                    });
                }
                if FIELDS[ticket.field].0 != "CT" && self.rng.gen_bool(DOSSIER) {
                    self.dossiers += 1;
                    let f = FIELDS[ticket.field];
                    dossiers.push(DossierIn {
                        hall: self.p.hall.clone(),
                        code: format!("000.00.01.H29-{}-{:04}", self.run, self.dossiers),
                        procedure_code: f.4.to_owned(),
                        procedure_name: f.5.to_owned(),
                        field: f.0.to_owned(),
                        channel: Channel::InPerson,
                        received_at: to_rfc3339(until),
                        due_at: to_rfc3339(until + 5 * 24 * 60 * MINUTE_US),
                        returned_at: None,
                        finished_at: None,
                        extended: false,
                        status: DossierStatus(2),
                        status_at: None,
                        counter: Some(counter.number),
                        officer: Some(counter.officer.clone()),
                        tickets: vec![ticket.id.clone()],
                    });
                }
            }
            Desk::Calling { .. } | Desk::Serving { .. } => {}
        }
    }
}

/// Why the simulator stopped.
#[derive(Debug, thiserror::Error)]
pub enum TicketSimError {
    /// The token was refused: nothing will ever get through.
    #[error("{path}: the API refused the integration token ({status}); check [[access]] has it with role = \"integration\"")]
    Refused {
        /// Route.
        path: &'static str,
        /// Status.
        status: u16,
    },
    /// The route does not exist on this server.
    #[error("{path}: answered 404: this server has no /api/v1 ingestion API")]
    NoRoute {
        /// Route.
        path: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Where and how to post.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Integration token.
    pub token: String,
}

/// Runs the simulated QMS against `target` until `cancel` fires.
pub async fn run(p: SimParams, target: Target, seed: u64, cancel: CancellationToken) -> Result<(), TicketSimError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| TicketSimError::Client(e.to_string()))?;
    let base = target.url.trim_end_matches('/').to_owned();
    let mut g = Generator::new(p.clone(), seed, crate::time::now_us());
    let mut dossiers_supported = true;
    tracing::info!(hall = %p.hall, url = %base, rate_per_hour = p.rate_per_hour, speed = p.speed, "ticket simulator started");
    let mut pending: VecDeque<Batch> = g.setup(crate::time::now_us()).into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while let Some(b) = pending.pop_front() {
            if matches!(b, Batch::Dossiers(_)) && !dossiers_supported {
                continue;
            }
            match deliver(&client, &base, &target.token, &b, &cancel).await {
                Ok(()) => {}
                Err(TicketSimError::NoRoute { path }) if matches!(b, Batch::Dossiers(_)) => {
                    tracing::warn!("{path} is not served here: the simulator stops sending dossiers");
                    dossiers_supported = false;
                }
                Err(e) => return Err(e),
            }
            if cancel.is_cancelled() {
                return Ok(());
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel.cancelled() => return Ok(()),
        }
        let people = waiting_people(&client, &base).await;
        pending.extend(g.step(crate::time::now_us(), people));
    }
}

/// People in waiting zones on the server's cameras, from the public `/api/live`.
async fn waiting_people(client: &reqwest::Client, base: &str) -> Option<usize> {
    #[derive(Deserialize)]
    struct View {
        waiting_now: usize,
    }
    let views: Vec<View> = client.get(format!("{base}/api/live")).send().await.ok()?.json().await.ok()?;
    (!views.is_empty()).then(|| views.iter().map(|v| v.waiting_now).sum())
}

/// Sends one batch until it is accepted, backing off 0.5 s doubling to 10 s while the server
/// is unreachable or failing (5xx, 429). The body, and so every event id, is the same on
/// each attempt. A 400 is logged and the batch dropped: resending would not fix it.
async fn deliver(client: &reqwest::Client, base: &str, token: &str, b: &Batch, cancel: &CancellationToken) -> Result<(), TicketSimError> {
    let (method, path) = b.route();
    let body = b.body().map_err(|e| TicketSimError::Client(e.to_string()))?;
    let mut backoff = Duration::from_millis(500);
    loop {
        let sent = client.request(method.clone(), format!("{base}{path}")).bearer_auth(token).json(&body).send().await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => return Err(TicketSimError::Refused { path, status: r.status().as_u16() }),
            Ok(r) if r.status().as_u16() == 404 => return Err(TicketSimError::NoRoute { path }),
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                tracing::error!(%path, %status, "the API rejected a simulated batch, dropped: {text}");
                return Ok(());
            }
            Ok(r) => tracing::warn!(%path, status = %r.status(), "API unavailable; retrying in {backoff:?}"),
            Err(e) => tracing::warn!(%path, "API unreachable ({e}); retrying in {backoff:?}"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = cancel.cancelled() => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ticket::{project, Outcome};

    fn params() -> SimParams {
        SimParams { hall: "demo".into(), rate_per_hour: 40.0, counters: 4, speed: 1.0, camera: Some("hall".into()), around_the_clock: true }
    }

    /// Eight hall hours, one step a second, with the camera showing `people`.
    fn day(seed: u64, people: Option<usize>) -> (Vec<Batch>, Generator) {
        let start = crate::time::parse_rfc3339("2026-11-30T07:30:00+07:00").expect("t");
        let mut g = Generator::new(params(), seed, start);
        let mut out = g.setup(start);
        for s in 1..=8 * 3600 {
            out.extend(g.step(start + s * SECOND_US, people));
        }
        (out, g)
    }

    #[test]
    fn same_seed_same_day() {
        assert_eq!(day(7, None).0, day(7, None).0);
        assert_ne!(day(7, None).0, day(8, None).0);
    }

    #[test]
    fn every_record_is_valid_and_the_day_is_plausible() {
        let (batches, _) = day(1, None);
        let mut events = Vec::new();
        let (mut ratings, mut dissatisfied, mut dossiers) = (0, 0, 0);
        for b in &batches {
            match b {
                Batch::Counters(v) => v.iter().for_each(|c| c.validate().expect("counter")),
                Batch::Officers(v) => v.iter().for_each(|o| o.validate().expect("officer")),
                Batch::CounterStates(v) => v.iter().for_each(|s| drop(s.validate().expect("state"))),
                Batch::TicketEvents(v) => events.extend(v.iter().map(|e| e.validate().expect("event"))),
                Batch::Ratings(v) => {
                    for r in v {
                        ratings += 1;
                        dissatisfied += usize::from(!r.validate().expect("rating").satisfied);
                    }
                }
                Batch::Dossiers(v) => {
                    for d in v {
                        d.validate().expect("dossier");
                        dossiers += 1;
                    }
                }
            }
        }
        let mut by_ticket: std::collections::BTreeMap<String, Vec<_>> = Default::default();
        for e in events {
            by_ticket.entry(e.ticket_id.clone()).or_default().push(e);
        }
        let outcomes: Vec<Outcome> = by_ticket.values().filter_map(|ev| project(ev)).map(|p| p.ticket.outcome).collect();
        let n = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
        // 40 an hour for 8 hours: about 320 tickets.
        assert!((250..400).contains(&outcomes.len()), "{} tickets", outcomes.len());
        assert!(n(Outcome::Served) > outcomes.len() * 3 / 4, "served {}", n(Outcome::Served));
        assert!(n(Outcome::NoShow) > 0 && n(Outcome::Removed) > 0, "no-shows {} walkouts {}", n(Outcome::NoShow), n(Outcome::Removed));
        let transfers = by_ticket.values().filter_map(|ev| project(ev)).filter(|p| p.ticket.transfers > 0).count();
        assert!(transfers > 0);
        assert!(ratings > 100 && dissatisfied > 0 && dissatisfied < ratings / 4, "{dissatisfied} of {ratings}");
        assert!(dossiers > 30, "{dossiers}");
    }

    #[test]
    fn more_people_in_view_bring_more_arrivals() {
        let issued = |people| {
            day(3, people)
                .0
                .iter()
                .map(|b| match b {
                    Batch::TicketEvents(v) => v.iter().filter(|e| e.kind == TicketEventKind::Issued).count(),
                    _ => 0,
                })
                .sum::<usize>()
        };
        assert!(issued(Some(12)) > issued(Some(0)));
    }

    #[test]
    fn speed_compresses_durations_not_timestamps() {
        let start = crate::time::parse_rfc3339("2026-11-30T07:30:00+07:00").expect("t");
        let mut g = Generator::new(SimParams { speed: 10.0, ..params() }, 5, start);
        let mut issued = 0;
        for s in 1..=360 {
            for b in g.step(start + s * SECOND_US, None) {
                if let Batch::TicketEvents(v) = b {
                    for e in v.iter().filter(|e| e.kind == TicketEventKind::Issued) {
                        issued += 1;
                        let at = crate::time::parse_rfc3339(&e.at).expect("t");
                        assert!(at > start && at <= start + 360 * SECOND_US);
                    }
                }
            }
        }
        // Six wall minutes at ×10 are an hour of hall time: about 40 tickets.
        assert!((20..65).contains(&issued), "{issued}");
    }
}
