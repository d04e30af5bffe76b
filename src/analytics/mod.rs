//! Service analytics for one camera: zone occupancy, visits, waiting and service times,
//! abandonment and counter staffing, computed from the vision stage's per-frame output.
//!
//! Everything here is pure (no I/O, no clock): [`CameraAnalytics`] is fed one
//! [`FrameAnalysis`] per analysed frame with that frame's wall time, and returns the rows that
//! became final plus the [`LiveState`] to broadcast. The store writes the rows
//! ([`crate::store::Store::save_analytics`]).
//!
//! # Time
//! All output times are wall-clock microseconds since the Unix epoch ([`WallUs`]). Frame times are
//! given by the caller as wall µs. Zone events carry seconds relative to the start of the
//! camera's analysis (the `t` passed to [`crate::vision::CameraAnalyzer::process`]); they are
//! converted as `origin_us + t × 10⁶`, where `origin_us` is the wall time of `t = 0`, set with
//! [`CameraAnalytics::with_origin`]. If no origin is set, the first frame given to
//! [`CameraAnalytics::on_frame`] is taken as `t = 0`, which is right when the caller starts `t` at
//! its first analysed frame.
//!
//! # Privacy
//! Only anonymous tracker ids and points derived from boxes (foot points) are kept; no image
//! data enters this module.

mod occupancy;
mod people;
mod staffing;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::time::WallUs;
use crate::vision::pipeline::FrameAnalysis;
use crate::vision::zones::{Zone, ZoneKind};

/// The pseudo-zone counting everyone in view (every track output in the frame).
pub const ALL_ZONE: &str = "all";

/// An unusable analytics setup.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A setting is out of range.
    #[error("analytics setting `{key}` = {value}: {reason}")]
    Config {
        /// The setting's name.
        key: &'static str,
        /// The value given.
        value: f64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A zone uses the id reserved for "everyone in view".
    #[error("zone id `{ALL_ZONE}` is reserved for the count of everyone in view")]
    ReservedZoneId,
}

/// Tunables of the analytics stage. All durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// A person who leaves a zone and comes back within this time has one visit, not two; a
    /// track that vanished this recently can be continued by a new track (ID switch); a person
    /// is gone (left the view) once none of their tracks has been seen for this long.
    pub grace_s: f64,
    /// An ID switch is bridged when the new track's first foot point is within this distance of
    /// the vanished track's last foot point, in units of the vanished box's height (so the
    /// tolerance scales with how close the person is to the camera).
    pub link_max_dist: f64,
    /// A person who waited longer than this and left the view without reaching a service zone
    /// abandoned (walkout, "bỏ về").
    pub abandon_after_s: f64,
    /// A staff seat must be occupied this long before its counter counts as staffed, so someone
    /// passing behind the counter does not open it.
    pub staffed_min_presence_s: f64,
    /// A staff seat must be empty this long before its counter counts as unstaffed, so an
    /// officer bending down or briefly occluded does not close it.
    pub unstaffed_min_absence_s: f64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            grace_s: 5.0,
            link_max_dist: 1.0,
            abandon_after_s: 300.0,
            staffed_min_presence_s: 10.0,
            unstaffed_min_absence_s: 30.0,
        }
    }
}

impl AnalyticsConfig {
    /// Checks every setting is finite and non-negative (the distance strictly positive).
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let checks = [
            ("grace_s", self.grace_s),
            ("abandon_after_s", self.abandon_after_s),
            ("staffed_min_presence_s", self.staffed_min_presence_s),
            ("unstaffed_min_absence_s", self.unstaffed_min_absence_s),
        ];
        for (key, value) in checks {
            if !value.is_finite() || value < 0.0 {
                return Err(AnalyticsError::Config { key, value, reason: "must be a finite number of seconds ≥ 0" });
            }
        }
        if !self.link_max_dist.is_finite() || self.link_max_dist <= 0.0 {
            return Err(AnalyticsError::Config {
                key: "link_max_dist",
                value: self.link_max_dist,
                reason: "must be a finite distance > 0 (in box heights)",
            });
        }
        Ok(())
    }
}

/// The number of people in one zone at one wall second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OccupancySample {
    /// Zone id, or [`ALL_ZONE`].
    pub zone: String,
    /// Start of the wall second.
    pub at_us: WallUs,
    /// People counted at the first analysed frame of that second.
    pub count: usize,
}

/// Per-minute roll-up of the per-second samples of one zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OccupancyMinute {
    /// Zone id, or [`ALL_ZONE`].
    pub zone: String,
    /// Start of the wall minute (UTC).
    pub minute_us: WallUs,
    /// Mean count over the samples.
    pub mean: f64,
    /// Largest sample.
    pub max: usize,
    /// Number of samples (seconds with an analysed frame; 60 when none were missed).
    pub samples: usize,
}

/// What a visited zone is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitKind {
    /// A waiting area.
    Waiting,
    /// The citizen side of a counter.
    Service,
    /// The officer side of a counter.
    Staff,
}

impl VisitKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitKind::Waiting => "waiting",
            VisitKind::Service => "service",
            VisitKind::Staff => "staff",
        }
    }
}

/// One person's stay in one zone. Re-entries within the grace window are part of the same visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Visit {
    /// The person: the first track id of the chain of tracks bridged across ID switches.
    pub person_id: u64,
    /// The track that started the visit.
    pub track_id: u64,
    /// Zone id.
    pub zone: String,
    /// Zone kind.
    pub kind: VisitKind,
    /// Counter of a service or staff zone.
    pub counter: Option<u32>,
    /// When the person entered.
    pub enter_us: WallUs,
    /// When the person left (or was last seen in it).
    pub exit_us: WallUs,
}

/// Waiting and service of one person, written when they leave the view (or at the end).
/// Only people who entered a waiting or service zone get one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonWait {
    /// The person id (first track id of the chain).
    pub person_id: u64,
    /// First frame the person was seen.
    pub first_seen_us: WallUs,
    /// Last frame the person was seen.
    pub last_seen_us: WallUs,
    /// First entry into a waiting zone (before any service).
    pub wait_start_us: Option<WallUs>,
    /// First entry into a service zone.
    pub service_start_us: Option<WallUs>,
    /// Waiting time: wait start → service start; for someone never served, wait start → last
    /// seen (how long they waited before leaving).
    pub wait_s: Option<f64>,
    /// Time in the first service visit (merged across short re-entries).
    pub service_s: Option<f64>,
    /// Counter of the first service visit.
    pub counter: Option<u32>,
    /// Left the view after waiting more than `abandon_after_s` without reaching a service zone.
    pub abandoned: bool,
}

/// A period during which a counter's staff seat was occupied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffedInterval {
    /// Counter id.
    pub counter: u32,
    /// Start of the presence (not when it was confirmed).
    pub from_us: WallUs,
    /// Start of the absence that ended it; `None` while still staffed. An interval is reported
    /// once when it opens and again when it closes, with the same `from_us` (the store upserts).
    pub to_us: Option<WallUs>,
}

/// The camera's current state, for live displays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveState {
    /// Camera id.
    pub camera_id: String,
    /// Wall time of the frame this describes.
    pub at_us: WallUs,
    /// People per area zone, plus [`ALL_ZONE`].
    pub counts: BTreeMap<String, usize>,
    /// People currently inside a waiting zone.
    pub waiting_now: usize,
    /// Longest current wait (since first entering a waiting zone) among people still present and
    /// not yet served.
    pub longest_wait_s: Option<f64>,
    /// Counters currently staffed, ascending.
    pub staffed_counters: Vec<u32>,
}

/// What one call produced: the live state, and the rows that became final.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyticsOutput {
    /// Camera id.
    pub camera_id: String,
    /// Current state.
    pub live: LiveState,
    /// New per-second occupancy samples.
    pub samples: Vec<OccupancySample>,
    /// Minutes completed (all open minutes at [`CameraAnalytics::finish`]).
    pub minutes: Vec<OccupancyMinute>,
    /// Visits closed for good (past the grace window).
    pub visits: Vec<Visit>,
    /// People who left the view (all remaining people at finish).
    pub persons: Vec<PersonWait>,
    /// Staffed intervals opened or closed.
    pub staffed: Vec<StaffedInterval>,
}

impl AnalyticsOutput {
    /// An output with nothing in it: no rows, and a live state of an empty view at `at_us`.
    pub fn empty(camera_id: &str, at_us: WallUs) -> AnalyticsOutput {
        AnalyticsOutput {
            camera_id: camera_id.to_owned(),
            live: LiveState {
                camera_id: camera_id.to_owned(),
                at_us,
                counts: BTreeMap::new(),
                waiting_now: 0,
                longest_wait_s: None,
                staffed_counters: Vec::new(),
            },
            samples: Vec::new(),
            minutes: Vec::new(),
            visits: Vec::new(),
            persons: Vec::new(),
            staffed: Vec::new(),
        }
    }
}

/// Seconds → µs (rounded).
fn s_to_us(s: f64) -> i64 {
    (s * 1e6).round() as i64
}

/// µs → seconds.
fn us_to_s(us: i64) -> f64 {
    us as f64 / 1e6
}

/// The analytics of one camera session.
#[derive(Debug, Clone)]
pub struct CameraAnalytics {
    camera_id: String,
    cfg: AnalyticsConfig,
    origin_us: Option<WallUs>,
    zone_kinds: HashMap<String, ZoneKind>,
    last_us: Option<WallUs>,
    occupancy: occupancy::Occupancy,
    people: people::People,
    staffing: staffing::Staffing,
}

impl CameraAnalytics {
    /// Analytics for `camera_id` with its zones (the same list given to the vision stage).
    pub fn new(camera_id: impl Into<String>, zones: Vec<Zone>, cfg: AnalyticsConfig) -> Result<Self, AnalyticsError> {
        cfg.validate()?;
        if zones.iter().any(|z| z.id == ALL_ZONE) {
            return Err(AnalyticsError::ReservedZoneId);
        }
        let staffing = staffing::Staffing::new(&zones);
        let zone_kinds = zones.into_iter().map(|z| (z.id, z.kind)).collect();
        Ok(CameraAnalytics {
            camera_id: camera_id.into(),
            cfg,
            origin_us: None,
            zone_kinds,
            last_us: None,
            occupancy: occupancy::Occupancy::default(),
            people: people::People::default(),
            staffing,
        })
    }

    /// Sets the wall time of analysis time `t = 0` (see the module docs on time).
    pub fn with_origin(mut self, t0_us: WallUs) -> Self {
        self.origin_us = Some(t0_us);
        self
    }

    /// The camera id.
    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }

    /// Feeds one analysed frame taken at `wall_us`.
    pub fn on_frame(&mut self, wall_us: WallUs, a: &FrameAnalysis) -> AnalyticsOutput {
        // A wall clock stepping back (re-anchoring) must not reorder our state machines: hold
        // time still until it catches up.
        let now = self.last_us.map_or(wall_us, |l| wall_us.max(l));
        self.last_us = Some(now);
        let origin = *self.origin_us.get_or_insert(now);
        let mut out = self.empty_output(now);

        let mut counts = a.counts.clone();
        counts.insert(ALL_ZONE.to_owned(), a.tracks.len());
        self.occupancy.on_frame(now, &counts, &mut out.samples, &mut out.minutes);
        self.staffing.on_frame(now, &a.counts, &self.cfg, &mut out.staffed);
        self.people.on_frame(now, origin, a, &self.zone_kinds, &self.cfg, &mut out.visits, &mut out.persons);

        out.live.counts = counts;
        out.live.waiting_now = self.people.waiting_now(now);
        out.live.longest_wait_s = self.people.longest_wait_s(now);
        out.live.staffed_counters = self.staffing.staffed_now();
        out
    }

    /// Ends the session at `wall_us`: closes every open visit (at the last time its track was
    /// seen), reports everyone still present (never as abandoned: they did not leave), closes
    /// staffed intervals and flushes the open minutes. The analytics can then be fed a new session.
    pub fn finish(&mut self, wall_us: WallUs) -> AnalyticsOutput {
        let now = self.last_us.map_or(wall_us, |l| wall_us.max(l));
        let mut out = self.empty_output(now);
        self.occupancy.finish(&mut out.minutes);
        self.staffing.finish(now, &mut out.staffed);
        self.people.finish(&self.cfg, &mut out.visits, &mut out.persons);
        self.origin_us = None;
        self.last_us = None;
        out
    }

    fn empty_output(&self, now: WallUs) -> AnalyticsOutput {
        AnalyticsOutput::empty(&self.camera_id, now)
    }
}
