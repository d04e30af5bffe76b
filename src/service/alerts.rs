//! Alerts (domain.md §6): long queue, long wait, counter unstaffed while its queue waits, too
//! few counters for the arrival rate, dissatisfied rating, camera offline, recording gap and
//! storage low.
//!
//! Two layers. [`evaluate`] is pure: rules + what the hall looks like now → the conditions that
//! hold, each with a severity. The store (`Store::apply_alerts`) turns conditions into alert
//! rows: it opens one on the first breach, keeps one open alert per (kind, subject), escalates
//! it from warning to critical, re-notifies at most once per de-duplication interval and
//! clears it when the condition is gone. [`run`] gathers the inputs every few seconds in
//! `serve`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::now::{staff_cameras, HallNow};
use super::{parse_hhmm, RatingScale};
use crate::camera::health::StreamHealth;
use crate::config::{ByteSize, Config};
use crate::record::storage::Storage;
use crate::store::{ApplyReport, HealthRow, Store, StoreError};
use crate::time::WallUs;

const MINUTE_US: i64 = 60_000_000;
const SECOND_US: i64 = 1_000_000;
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `[alerts]`: hall-wide defaults, per-field overrides, the schedule and the system rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Seconds between two evaluations. Default 5.
    #[serde(default = "d_interval")]
    pub interval_seconds: u32,
    /// An open alert is re-notified at most once per this many minutes. Default 15.
    #[serde(default = "d_dedup")]
    pub dedup_minutes: u32,
    /// Hall-local weekdays on which alerts open. Default Monday to Saturday.
    #[serde(default = "d_days")]
    pub active_days: Vec<String>,
    /// Hall-local `[from, to]` spans (HH:MM) in which alerts open. Default 07:00–17:30.
    #[serde(default = "d_hours")]
    pub active_hours: Vec<[String; 2]>,
    /// Camera offline, recording gap and storage low ignore the schedule (recording runs day
    /// and night). Default true.
    #[serde(default = "d_true")]
    pub system_always_active: bool,
    /// Waiting tickets in the field at or above which the queue is long (warning). Default 10.
    #[serde(default)]
    pub queue_warning: Option<u32>,
    /// Same, critical. Default 20.
    #[serde(default)]
    pub queue_critical: Option<u32>,
    /// Minutes the oldest waiting ticket may wait before a warning. Default: the field's
    /// `service_level_minutes`.
    #[serde(default)]
    pub wait_warning_minutes: Option<u32>,
    /// Same, critical. Default: twice the service level.
    #[serde(default)]
    pub wait_critical_minutes: Option<u32>,
    /// Minutes an open counter's seat may be empty (camera) while its queue waits. Default 5.
    #[serde(default)]
    pub unstaffed_warning_minutes: Option<u32>,
    /// Same, critical. Default 15.
    #[serde(default)]
    pub unstaffed_critical_minutes: Option<u32>,
    /// Target utilisation of staffed counters in the required-counters formula. Default 0.8.
    #[serde(default)]
    pub target_utilisation: Option<f64>,
    /// Mean service time assumed when no service ended in the last hour, minutes. Default 8.
    #[serde(default)]
    pub default_service_minutes: Option<f64>,
    /// Counters short of the required number from which "too few counters" is critical. Default 2.
    #[serde(default)]
    pub short_counters_critical: Option<u32>,
    /// People in a camera waiting zone at or above which, for `camera_queue_minutes`, a long
    /// queue (warning) is raised hall-wide. Absent: the camera rule is off.
    #[serde(default)]
    pub camera_queue_warning: Option<u32>,
    /// Same, critical.
    #[serde(default)]
    pub camera_queue_critical: Option<u32>,
    /// Minutes the waiting-zone count must stay at or above the threshold. Default 2.
    #[serde(default = "d_camera_queue_minutes")]
    pub camera_queue_minutes: u32,
    /// Seconds without a frame before a camera stream is offline (warning). Default 30.
    #[serde(default = "d_offline")]
    pub camera_offline_seconds: u32,
    /// Seconds without a frame before it is critical. Default 300.
    #[serde(default = "d_offline_critical")]
    pub camera_offline_critical_seconds: u32,
    /// A segment flagged `gap_before` that started in the last this many minutes is a recording
    /// gap (warning). Default 10.
    #[serde(default = "d_gap_window")]
    pub gap_window_minutes: u32,
    /// Seconds without any segment of a recorded stream before the gap is critical; must exceed
    /// `storage.segment_seconds`. Default 180.
    #[serde(default = "d_no_segment")]
    pub no_segment_seconds: u32,
    /// Free space on the recording disk below which storage is low (warning). Default "20GB".
    #[serde(default = "d_storage_warning_free")]
    pub storage_warning_free: ByteSize,
    /// Same, critical. Default "5GB".
    #[serde(default = "d_storage_critical_free")]
    pub storage_critical_free: ByteSize,
    /// Days of recording left at the last hour's write rate below which storage is low
    /// (warning). Default 7.
    #[serde(default = "d_storage_warning_days")]
    pub storage_warning_days: f64,
    /// Same, critical. Default 2.
    #[serde(default = "d_storage_critical_days")]
    pub storage_critical_days: f64,
    /// Per-field overrides, `[[alerts.fields]]`.
    #[serde(default)]
    pub fields: Vec<FieldAlertConfig>,
}

/// Thresholds that may differ per field (lĩnh vực), as `[alerts]` or `[[alerts.fields]]` set them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldAlertKeys {
    /// Waiting tickets in the field at or above which the queue is long (warning). Default 10.
    pub queue_warning: Option<u32>,
    /// Same, critical. Default 20.
    pub queue_critical: Option<u32>,
    /// Minutes the oldest waiting ticket may wait before a warning. Default: the field's
    /// `service_level_minutes`.
    pub wait_warning_minutes: Option<u32>,
    /// Same, critical. Default: twice the service level.
    pub wait_critical_minutes: Option<u32>,
    /// Minutes an open counter's seat may be empty (camera) while its queue waits. Default 5.
    pub unstaffed_warning_minutes: Option<u32>,
    /// Same, critical. Default 15.
    pub unstaffed_critical_minutes: Option<u32>,
    /// Target utilisation of staffed counters in the required-counters formula. Default 0.8.
    pub target_utilisation: Option<f64>,
    /// Mean service time assumed when no service ended in the last hour, minutes. Default 8.
    pub default_service_minutes: Option<f64>,
    /// Counters short of the required number from which "too few counters" is critical. Default 2.
    pub short_counters_critical: Option<u32>,
}

/// `[[alerts.fields]]`: overrides for one field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldAlertConfig {
    /// Hall; absent means every hall with this field code.
    #[serde(default)]
    pub hall: Option<String>,
    /// Field code, e.g. `HT`.
    pub code: String,
    /// Waiting tickets in the field at or above which the queue is long (warning). Default 10.
    #[serde(default)]
    pub queue_warning: Option<u32>,
    /// Same, critical. Default 20.
    #[serde(default)]
    pub queue_critical: Option<u32>,
    /// Minutes the oldest waiting ticket may wait before a warning. Default: the field's
    /// `service_level_minutes`.
    #[serde(default)]
    pub wait_warning_minutes: Option<u32>,
    /// Same, critical. Default: twice the service level.
    #[serde(default)]
    pub wait_critical_minutes: Option<u32>,
    /// Minutes an open counter's seat may be empty (camera) while its queue waits. Default 5.
    #[serde(default)]
    pub unstaffed_warning_minutes: Option<u32>,
    /// Same, critical. Default 15.
    #[serde(default)]
    pub unstaffed_critical_minutes: Option<u32>,
    /// Target utilisation of staffed counters in the required-counters formula. Default 0.8.
    #[serde(default)]
    pub target_utilisation: Option<f64>,
    /// Mean service time assumed when no service ended in the last hour, minutes. Default 8.
    #[serde(default)]
    pub default_service_minutes: Option<f64>,
    /// Counters short of the required number from which "too few counters" is critical. Default 2.
    #[serde(default)]
    pub short_counters_critical: Option<u32>,
}

macro_rules! field_keys {
    ($src:expr) => {
        FieldAlertKeys {
            queue_warning: $src.queue_warning,
            queue_critical: $src.queue_critical,
            wait_warning_minutes: $src.wait_warning_minutes,
            wait_critical_minutes: $src.wait_critical_minutes,
            unstaffed_warning_minutes: $src.unstaffed_warning_minutes,
            unstaffed_critical_minutes: $src.unstaffed_critical_minutes,
            target_utilisation: $src.target_utilisation,
            default_service_minutes: $src.default_service_minutes,
            short_counters_critical: $src.short_counters_critical,
        }
    };
}

impl AlertsConfig {
    /// The hall-wide field thresholds.
    pub fn defaults(&self) -> FieldAlertKeys {
        field_keys!(self)
    }
}

impl FieldAlertConfig {
    /// The thresholds this override sets.
    pub fn keys(&self) -> FieldAlertKeys {
        field_keys!(self)
    }
}

fn d_interval() -> u32 {
    5
}
fn d_dedup() -> u32 {
    15
}
fn d_days() -> Vec<String> {
    WEEKDAYS[..6].iter().map(|d| (*d).to_owned()).collect()
}
fn d_hours() -> Vec<[String; 2]> {
    vec![["07:00".to_owned(), "17:30".to_owned()]]
}
fn d_true() -> bool {
    true
}
fn d_camera_queue_minutes() -> u32 {
    2
}
fn d_offline() -> u32 {
    30
}
fn d_offline_critical() -> u32 {
    300
}
fn d_gap_window() -> u32 {
    10
}
fn d_no_segment() -> u32 {
    180
}
fn d_storage_warning_free() -> ByteSize {
    ByteSize(20_000_000_000)
}
fn d_storage_critical_free() -> ByteSize {
    ByteSize(5_000_000_000)
}
fn d_storage_warning_days() -> f64 {
    7.0
}
fn d_storage_critical_days() -> f64 {
    2.0
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            interval_seconds: d_interval(),
            dedup_minutes: d_dedup(),
            active_days: d_days(),
            active_hours: d_hours(),
            system_always_active: true,
            queue_warning: None,
            queue_critical: None,
            wait_warning_minutes: None,
            wait_critical_minutes: None,
            unstaffed_warning_minutes: None,
            unstaffed_critical_minutes: None,
            target_utilisation: None,
            default_service_minutes: None,
            short_counters_critical: None,
            camera_queue_warning: None,
            camera_queue_critical: None,
            camera_queue_minutes: d_camera_queue_minutes(),
            camera_offline_seconds: d_offline(),
            camera_offline_critical_seconds: d_offline_critical(),
            gap_window_minutes: d_gap_window(),
            no_segment_seconds: d_no_segment(),
            storage_warning_free: d_storage_warning_free(),
            storage_critical_free: d_storage_critical_free(),
            storage_warning_days: d_storage_warning_days(),
            storage_critical_days: d_storage_critical_days(),
            fields: Vec::new(),
        }
    }
}

/// A bad `[alerts]` value: the key below `alerts` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct AlertsConfigError {
    /// Key path below `alerts`, e.g. `fields[0].queue_critical`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> AlertsConfigError {
    AlertsConfigError { key: key.into(), message: message.into() }
}

fn pair_ordered(prefix: &str, warn: (&str, Option<u32>), crit: (&str, Option<u32>)) -> Result<(), AlertsConfigError> {
    for (k, v) in [warn, crit] {
        if v == Some(0) {
            return Err(bad(format!("{prefix}{k}"), "must be at least 1"));
        }
    }
    if let (Some(w), Some(c)) = (warn.1, crit.1) {
        if c < w {
            return Err(bad(format!("{prefix}{}", crit.0), format!("{c} is below {} ({w})", warn.0)));
        }
    }
    Ok(())
}

impl FieldAlertKeys {
    fn validate(&self, prefix: &str) -> Result<(), AlertsConfigError> {
        pair_ordered(prefix, ("queue_warning", self.queue_warning), ("queue_critical", self.queue_critical))?;
        pair_ordered(prefix, ("wait_warning_minutes", self.wait_warning_minutes), ("wait_critical_minutes", self.wait_critical_minutes))?;
        pair_ordered(
            prefix,
            ("unstaffed_warning_minutes", self.unstaffed_warning_minutes),
            ("unstaffed_critical_minutes", self.unstaffed_critical_minutes),
        )?;
        if self.target_utilisation.is_some_and(|u| !(u > 0.0 && u <= 1.0)) {
            return Err(bad(format!("{prefix}target_utilisation"), "must be in (0, 1]"));
        }
        if self.default_service_minutes.is_some_and(|m| !(m > 0.0 && m <= 480.0)) {
            return Err(bad(format!("{prefix}default_service_minutes"), "must be in (0, 480]"));
        }
        if self.short_counters_critical == Some(0) {
            return Err(bad(format!("{prefix}short_counters_critical"), "must be at least 1"));
        }
        Ok(())
    }

    /// The built-in defaults that do not depend on the field's service level.
    fn builtin() -> FieldAlertKeys {
        FieldAlertKeys {
            queue_warning: Some(10),
            queue_critical: Some(20),
            unstaffed_warning_minutes: Some(5),
            unstaffed_critical_minutes: Some(15),
            ..FieldAlertKeys::default()
        }
    }

    /// `self` where set, else `base`.
    fn or(&self, base: &FieldAlertKeys) -> FieldAlertKeys {
        FieldAlertKeys {
            queue_warning: self.queue_warning.or(base.queue_warning),
            queue_critical: self.queue_critical.or(base.queue_critical),
            wait_warning_minutes: self.wait_warning_minutes.or(base.wait_warning_minutes),
            wait_critical_minutes: self.wait_critical_minutes.or(base.wait_critical_minutes),
            unstaffed_warning_minutes: self.unstaffed_warning_minutes.or(base.unstaffed_warning_minutes),
            unstaffed_critical_minutes: self.unstaffed_critical_minutes.or(base.unstaffed_critical_minutes),
            target_utilisation: self.target_utilisation.or(base.target_utilisation),
            default_service_minutes: self.default_service_minutes.or(base.default_service_minutes),
            short_counters_critical: self.short_counters_critical.or(base.short_counters_critical),
        }
    }
}

impl AlertsConfig {
    /// Checks values that parse but make no sense; `hall_fields` are the configured
    /// (hall, field code) pairs, so an override of an unknown field is refused.
    pub fn validate(&self, hall_fields: &BTreeSet<(String, String)>, segment_seconds: u32) -> Result<(), AlertsConfigError> {
        if !(1..=3600).contains(&self.interval_seconds) {
            return Err(bad("interval_seconds", format!("{} is out of range 1..=3600", self.interval_seconds)));
        }
        if self.dedup_minutes == 0 {
            return Err(bad("dedup_minutes", "must be at least 1"));
        }
        Schedule::parse(&self.active_days, &self.active_hours)?;
        self.defaults().or(&FieldAlertKeys::builtin()).validate("")?;
        pair_ordered("", ("camera_queue_warning", self.camera_queue_warning), ("camera_queue_critical", self.camera_queue_critical))?;
        if self.camera_queue_minutes == 0 {
            return Err(bad("camera_queue_minutes", "must be at least 1"));
        }
        pair_ordered(
            "",
            ("camera_offline_seconds", Some(self.camera_offline_seconds)),
            ("camera_offline_critical_seconds", Some(self.camera_offline_critical_seconds)),
        )?;
        if self.gap_window_minutes == 0 {
            return Err(bad("gap_window_minutes", "must be at least 1"));
        }
        if self.no_segment_seconds <= segment_seconds {
            return Err(bad(
                "no_segment_seconds",
                format!("{} must exceed storage.segment_seconds ({segment_seconds}): a segment is only indexed when cut", self.no_segment_seconds),
            ));
        }
        if self.storage_critical_free > self.storage_warning_free {
            return Err(bad("storage_critical_free", "is above storage_warning_free"));
        }
        for (k, v) in [("storage_warning_days", self.storage_warning_days), ("storage_critical_days", self.storage_critical_days)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(bad(k, "must be a number of days ≥ 0"));
            }
        }
        if self.storage_critical_days > self.storage_warning_days {
            return Err(bad("storage_critical_days", "is above storage_warning_days"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            let known = match &f.hall {
                Some(h) => hall_fields.contains(&(h.clone(), f.code.clone())),
                None => hall_fields.iter().any(|(_, c)| *c == f.code),
            };
            if !known {
                return Err(bad(format!("fields[{i}].code"), format!("no field `{}` in [[halls.fields]]", f.code)));
            }
            f.keys().validate(&format!("fields[{i}]."))?;
            // Overrides are checked against the defaults they combine with.
            f.keys().or(&self.defaults()).or(&FieldAlertKeys::builtin()).validate(&format!("fields[{i}]."))?;
        }
        Ok(())
    }

    /// The schedule (validated config makes the fallback unreachable).
    pub fn schedule(&self) -> Schedule {
        Schedule::parse(&self.active_days, &self.active_hours).unwrap_or_else(|_| Schedule::always())
    }

    /// The rules of `hall`, resolving per-field overrides and service levels from `cfg`.
    pub fn rules(&self, cfg: &Config, hall: &str) -> Rules {
        let mut fields = BTreeMap::new();
        for f in cfg.halls.iter().filter(|h| h.id == hall).flat_map(|h| &h.fields) {
            let mut keys = self.defaults();
            // A hall-less override applies first, so a hall-specific one wins.
            for o in self.fields.iter().filter(|o| o.code == f.code && o.hall.is_none()) {
                keys = o.keys().or(&keys);
            }
            for o in self.fields.iter().filter(|o| o.code == f.code && o.hall.as_deref() == Some(hall)) {
                keys = o.keys().or(&keys);
            }
            fields.insert(f.code.clone(), FieldRules::resolve(&keys, f.service_level_minutes));
        }
        Rules {
            fields,
            default_field: FieldRules::resolve(&self.defaults(), 15),
            camera_queue: self.camera_queue_warning.map(|w| CameraQueueRule {
                warning: i64::from(w),
                critical: self.camera_queue_critical.map(i64::from),
                hold_us: i64::from(self.camera_queue_minutes) * MINUTE_US,
            }),
            offline_warning_us: i64::from(self.camera_offline_seconds) * SECOND_US,
            offline_critical_us: i64::from(self.camera_offline_critical_seconds) * SECOND_US,
            gap_window_us: i64::from(self.gap_window_minutes) * MINUTE_US,
            no_segment_us: i64::from(self.no_segment_seconds) * SECOND_US,
            storage_warning_free: self.storage_warning_free.0,
            storage_critical_free: self.storage_critical_free.0,
            storage_warning_days: self.storage_warning_days,
            storage_critical_days: self.storage_critical_days,
        }
    }
}

/// Hall-local weekdays and hours in which alerts open.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    days: [bool; 7],
    spans: Vec<(u32, u32)>,
}

impl Schedule {
    /// Every day, all day.
    pub fn always() -> Schedule {
        Schedule { days: [true; 7], spans: vec![(0, 24 * 60)] }
    }

    /// Parses weekday names (`mon`…`sun`) and `[from, to]` HH:MM spans.
    pub fn parse(days: &[String], hours: &[[String; 2]]) -> Result<Schedule, AlertsConfigError> {
        let mut out = Schedule { days: [false; 7], spans: Vec::new() };
        for (i, d) in days.iter().enumerate() {
            let Some(n) = WEEKDAYS.iter().position(|w| *w == d.as_str()) else {
                return Err(bad(format!("active_days[{i}]"), format!("`{d}` is not one of {}", WEEKDAYS.join(", "))));
            };
            out.days[n] = true;
        }
        for (i, [from, to]) in hours.iter().enumerate() {
            let (Some(a), Some(b)) = (parse_hhmm(from), parse_hhmm(to)) else {
                return Err(bad(format!("active_hours[{i}]"), "times must be HH:MM"));
            };
            if a >= b {
                return Err(bad(format!("active_hours[{i}]"), "starts after it ends"));
            }
            out.spans.push((a, b));
        }
        Ok(out)
    }

    /// Whether alerts may open at `us`.
    pub fn active(&self, us: WallUs) -> bool {
        let (weekday, minute) = crate::time::local_weekday_minute(us);
        self.days[usize::from(weekday) % 7] && self.spans.iter().any(|(a, b)| (*a..*b).contains(&minute))
    }
}

/// The resolved thresholds of one field, in µs where they are durations.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRules {
    /// Waiting tickets, warning.
    pub queue_warning: i64,
    /// Waiting tickets, critical.
    pub queue_critical: i64,
    /// Oldest wait, warning.
    pub wait_warning_us: i64,
    /// Oldest wait, critical.
    pub wait_critical_us: i64,
    /// Seat empty while open and the queue waits, warning.
    pub unstaffed_warning_us: i64,
    /// Same, critical.
    pub unstaffed_critical_us: i64,
    /// Target utilisation ρ in required = ⌈λ·S/ρ⌉.
    pub target_utilisation: f64,
    /// S when no service ended in the last hour.
    pub default_service_us: i64,
    /// Shortfall from which too-few-counters is critical.
    pub short_counters_critical: i64,
}

impl FieldRules {
    fn resolve(k: &FieldAlertKeys, service_level_minutes: u32) -> FieldRules {
        let wait_warning = k.wait_warning_minutes.unwrap_or(service_level_minutes);
        FieldRules {
            queue_warning: i64::from(k.queue_warning.unwrap_or(10)),
            queue_critical: i64::from(k.queue_critical.unwrap_or(20)),
            wait_warning_us: i64::from(wait_warning) * MINUTE_US,
            wait_critical_us: i64::from(k.wait_critical_minutes.unwrap_or(2 * wait_warning)) * MINUTE_US,
            unstaffed_warning_us: i64::from(k.unstaffed_warning_minutes.unwrap_or(5)) * MINUTE_US,
            unstaffed_critical_us: i64::from(k.unstaffed_critical_minutes.unwrap_or(15)) * MINUTE_US,
            target_utilisation: k.target_utilisation.unwrap_or(0.8),
            default_service_us: (k.default_service_minutes.unwrap_or(8.0) * MINUTE_US as f64) as i64,
            short_counters_critical: i64::from(k.short_counters_critical.unwrap_or(2)),
        }
    }
}

/// The camera long-queue rule (hall-wide: a waiting zone is not tied to one field).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraQueueRule {
    /// People, warning.
    pub warning: i64,
    /// People, critical.
    pub critical: Option<i64>,
    /// How long the count must hold.
    pub hold_us: i64,
}

/// Every threshold of one hall.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Per configured field.
    pub fields: BTreeMap<String, FieldRules>,
    /// For tickets of a field missing from the config.
    pub default_field: FieldRules,
    /// Camera waiting-zone rule, if enabled.
    pub camera_queue: Option<CameraQueueRule>,
    /// Camera stream without frames, warning.
    pub offline_warning_us: i64,
    /// Same, critical.
    pub offline_critical_us: i64,
    /// Window in which a `gap_before` segment is a recording gap.
    pub gap_window_us: i64,
    /// No segment at all for this long is a critical gap.
    pub no_segment_us: i64,
    /// Free bytes, warning.
    pub storage_warning_free: u64,
    /// Free bytes, critical.
    pub storage_critical_free: u64,
    /// Days left, warning.
    pub storage_warning_days: f64,
    /// Days left, critical.
    pub storage_critical_days: f64,
}

impl Rules {
    fn field(&self, code: &str) -> &FieldRules {
        self.fields.get(code).unwrap_or(&self.default_field)
    }
}

/// The alert rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Too many waiting tickets in a field, or people in a waiting zone.
    LongQueue,
    /// The oldest waiting ticket of a field waits too long.
    LongWait,
    /// Counter open in the QMS, seat empty on camera, while its queue waits.
    CounterUnstaffed,
    /// Fewer staffed counters than the arrival rate needs.
    TooFewCounters,
    /// A "Không hài lòng" rating (one alert per rating).
    DissatisfiedRating,
    /// A camera stream delivers no frames.
    CameraOffline,
    /// A recorded stream has a hole in its segments.
    RecordingGap,
    /// The recording disk is nearly full.
    StorageLow,
}

impl AlertKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LongQueue => "long_queue",
            AlertKind::LongWait => "long_wait",
            AlertKind::CounterUnstaffed => "counter_unstaffed",
            AlertKind::TooFewCounters => "too_few_counters",
            AlertKind::DissatisfiedRating => "dissatisfied_rating",
            AlertKind::CameraOffline => "camera_offline",
            AlertKind::RecordingGap => "recording_gap",
            AlertKind::StorageLow => "storage_low",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<AlertKind> {
        [
            AlertKind::LongQueue,
            AlertKind::LongWait,
            AlertKind::CounterUnstaffed,
            AlertKind::TooFewCounters,
            AlertKind::DissatisfiedRating,
            AlertKind::CameraOffline,
            AlertKind::RecordingGap,
            AlertKind::StorageLow,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Platform health rather than service: may ignore the schedule.
    pub fn is_system(self) -> bool {
        matches!(self, AlertKind::CameraOffline | AlertKind::RecordingGap | AlertKind::StorageLow)
    }

    /// An event rather than a state: it never clears by itself, only when acknowledged.
    pub fn is_event(self) -> bool {
        self == AlertKind::DissatisfiedRating
    }
}

/// Warning or critical (orange or red on the dashboard).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Needs attention.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A condition that holds now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    /// The rule.
    pub kind: AlertKind,
    /// What it is about, e.g. `field:HT`; with `kind` the de-duplication key.
    pub subject: String,
    /// Level reached now.
    pub severity: Severity,
    /// One line for the supervisor.
    pub message: String,
    /// The measured value (tickets, minutes, counters, score, seconds, bytes…).
    pub value: f64,
}

/// People in one camera waiting zone over the camera-queue hold window.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitingArea {
    /// Camera.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Lowest per-second count in the window (None: no samples).
    pub min_count: Option<i64>,
    /// Earliest sample in the window: the window is covered only if it is near its start.
    pub first_sample_us: Option<WallUs>,
}

/// One camera stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInput {
    /// Camera.
    pub camera: String,
    /// Stream role.
    pub stream: String,
    /// Whether it is recorded (recording-gap rule).
    pub records: bool,
    /// Health state (`stopped` streams are not offline, the server is stopping).
    pub state: String,
    /// Last frame received.
    pub last_frame_us: Option<WallUs>,
    /// Latest segment end, or start of the segment being written.
    pub last_recorded_us: Option<WallUs>,
    /// Start of the latest segment flagged `gap_before`.
    pub last_gap_us: Option<WallUs>,
}

/// The recording disk.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageInput {
    /// Free bytes now.
    pub free_bytes: u64,
    /// Bytes written per day at the last hour's rate.
    pub bytes_per_day: f64,
}

/// A dissatisfied rating not yet alerted.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingInput {
    /// `source/rating_id`.
    pub key: String,
    /// When.
    pub at_us: WallUs,
    /// Scale.
    pub scale: RatingScale,
    /// Score.
    pub score: i64,
    /// Rated ticket.
    pub ticket_id: Option<String>,
    /// Counter.
    pub counter: Option<i64>,
    /// Officer.
    pub officer: Option<String>,
}

/// Everything the evaluator looks at for one hall.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// Queue, recent services, arrivals and counters now.
    pub hall: &'a HallNow,
    /// Counters whose watched seat is empty now, with since when.
    pub seat_empty_since: BTreeMap<i64, WallUs>,
    /// Waiting zones (for the camera queue rule).
    pub waiting_areas: Vec<WaitingArea>,
    /// The hall's camera streams.
    pub streams: Vec<StreamInput>,
    /// The recording disk, when known.
    pub storage: Option<StorageInput>,
    /// Dissatisfied ratings.
    pub dissatisfied: Vec<RatingInput>,
    /// When the server started (a stream that never delivered a frame is offline since then).
    pub started_us: WallUs,
}

fn level(value: i64, warning: i64, critical: i64) -> Option<Severity> {
    if value >= critical {
        Some(Severity::Critical)
    } else if value >= warning {
        Some(Severity::Warning)
    } else {
        None
    }
}

fn minutes(us: i64) -> f64 {
    us as f64 / MINUTE_US as f64
}

/// The conditions that hold at `now`. Pure: the same inputs give the same conditions.
pub fn evaluate(rules: &Rules, inp: &Inputs<'_>, now: WallUs) -> Vec<Condition> {
    let mut out = Vec::new();
    let hall = inp.hall;
    let mut fields: BTreeSet<&str> = rules.fields.keys().map(String::as_str).collect();
    fields.extend(hall.queued.iter().filter_map(|t| t.field.as_deref()));
    for field in fields {
        let r = rules.field(field);
        let subject = format!("field:{field}");
        let waiting: Vec<_> = hall.waiting(field).collect();
        let n = i64::try_from(waiting.len()).unwrap_or(i64::MAX);
        if let Some(severity) = level(n, r.queue_warning, r.queue_critical) {
            out.push(Condition {
                kind: AlertKind::LongQueue,
                subject: subject.clone(),
                severity,
                message: format!("{n} tickets waiting in {field} (warning at {}, critical at {})", r.queue_warning, r.queue_critical),
                value: n as f64,
            });
        }
        if let Some(oldest) = waiting.iter().filter_map(|t| t.queued_us).min() {
            let wait = now - oldest;
            // "Longer than" the service level: a wait of exactly the limit is still within it.
            if let Some(severity) = level(wait, r.wait_warning_us + 1, r.wait_critical_us + 1) {
                let number = waiting.iter().find(|t| t.queued_us == Some(oldest)).and_then(|t| t.number.clone()).unwrap_or_default();
                out.push(Condition {
                    kind: AlertKind::LongWait,
                    subject: subject.clone(),
                    severity,
                    message: format!("ticket {number} in {field} has waited {:.0} min (limit {:.0} min)", minutes(wait), minutes(r.wait_warning_us)),
                    value: minutes(wait),
                });
            }
        }
        too_few_counters(r, hall, field, &subject, &mut out);
    }
    for c in &hall.counters {
        let Some(&since) = inp.seat_empty_since.get(&c.number) else { continue };
        if !c.open() || c.camera_staffed != Some(false) {
            continue;
        }
        // Only the fields with waiting tickets matter; the strictest of their thresholds applies.
        let busy: Vec<&str> = c.fields.iter().map(String::as_str).filter(|f| hall.waiting(f).next().is_some()).collect();
        let (Some(warn), Some(crit)) = (
            busy.iter().map(|f| rules.field(f).unstaffed_warning_us).min(),
            busy.iter().map(|f| rules.field(f).unstaffed_critical_us).min(),
        ) else {
            continue;
        };
        // The seat counts as empty from when it emptied or the counter opened, whichever is later.
        let empty_for = now - since.max(c.state_since_us.unwrap_or(since));
        if let Some(severity) = level(empty_for, warn, crit) {
            out.push(Condition {
                kind: AlertKind::CounterUnstaffed,
                subject: format!("counter:{}", c.number),
                severity,
                message: format!(
                    "{} is open but its seat has been empty for {:.0} min while {} has tickets waiting",
                    c.name,
                    minutes(empty_for),
                    busy.join(", ")
                ),
                value: minutes(empty_for),
            });
        }
    }
    if let Some(rule) = &rules.camera_queue {
        for a in &inp.waiting_areas {
            let (Some(min), Some(first)) = (a.min_count, a.first_sample_us) else { continue };
            // The window counts as covered if sampling began within 10 s of its start.
            if first > now - rule.hold_us + 10 * SECOND_US {
                continue;
            }
            if let Some(severity) = level(min, rule.warning, rule.critical.unwrap_or(i64::MAX)) {
                out.push(Condition {
                    kind: AlertKind::LongQueue,
                    subject: format!("zone:{}/{}", a.camera, a.zone),
                    severity,
                    message: format!("at least {min} people in waiting zone {} of camera {} for {:.0} min", a.zone, a.camera, minutes(rule.hold_us)),
                    value: min as f64,
                });
            }
        }
    }
    for r in &inp.dissatisfied {
        let at = r.counter.map(|c| format!(" at counter {c}")).unwrap_or_default();
        let ticket = r.ticket_id.as_deref().map(|t| format!(" for ticket {t}")).unwrap_or_default();
        let officer = r.officer.as_deref().map(|o| format!(" (officer {o})")).unwrap_or_default();
        let lowest = r.score == 1;
        out.push(Condition {
            kind: AlertKind::DissatisfiedRating,
            subject: format!("rating:{}", r.key),
            severity: if lowest && r.scale == RatingScale::Five { Severity::Critical } else { Severity::Warning },
            message: format!("dissatisfied rating ({} on the {} scale){ticket}{at}{officer}", r.score, r.scale.as_str()),
            value: r.score as f64,
        });
    }
    system_conditions(rules, inp, now, &mut out);
    out
}

/// Too few counters for the arrival rate: required = ⌈λ·S/ρ⌉ with λ the arrivals of the last
/// hour (per µs), S the mean service time of the last hour's services in the field (or the
/// configured default) and ρ the target utilisation. A counter serving several fields counts
/// for each of them, so this errs towards silence in halls with shared counters; a field with
/// no known counter is skipped.
fn too_few_counters(r: &FieldRules, hall: &HallNow, field: &str, subject: &str, out: &mut Vec<Condition>) {
    let arrivals = hall.arrivals_last_hour.get(field).copied().unwrap_or(0);
    if arrivals == 0 {
        return;
    }
    let services: Vec<i64> = hall.recent.iter().filter(|s| s.field.as_deref() == Some(field)).map(|s| s.service_us).collect();
    let mean_service_us = if services.is_empty() {
        r.default_service_us as f64
    } else {
        services.iter().sum::<i64>() as f64 / services.len() as f64
    };
    let lambda_per_us = arrivals as f64 / 3_600_000_000.0;
    let required = (lambda_per_us * mean_service_us / r.target_utilisation).ceil() as i64;
    // A field whose counters the QMS never sent cannot be judged (and would alert forever).
    if hall.counters_for(field).next().is_none() {
        return;
    }
    let staffed = hall.counters_for(field).filter(|c| c.staffed()).count() as i64;
    let short = required - staffed;
    if short <= 0 {
        return;
    }
    out.push(Condition {
        kind: AlertKind::TooFewCounters,
        subject: subject.to_owned(),
        severity: if short >= r.short_counters_critical { Severity::Critical } else { Severity::Warning },
        message: format!(
            "{field}: {staffed} staffed counters for {arrivals} arrivals in the last hour and {:.1} min mean service; {required} needed at {:.0}% utilisation",
            mean_service_us / MINUTE_US as f64,
            r.target_utilisation * 100.0
        ),
        value: short as f64,
    });
}

fn system_conditions(rules: &Rules, inp: &Inputs<'_>, now: WallUs, out: &mut Vec<Condition>) {
    for s in &inp.streams {
        let subject = format!("stream:{}/{}", s.camera, s.stream);
        if s.state != "stopped" {
            let silent = now - s.last_frame_us.unwrap_or(inp.started_us);
            if let Some(severity) = level(silent, rules.offline_warning_us, rules.offline_critical_us) {
                out.push(Condition {
                    kind: AlertKind::CameraOffline,
                    subject: subject.clone(),
                    severity,
                    message: format!("camera {} ({}) has sent no frame for {} s (state {})", s.camera, s.stream, silent / SECOND_US, s.state),
                    value: (silent / SECOND_US) as f64,
                });
            }
        }
        if !s.records {
            continue;
        }
        let quiet = now - s.last_recorded_us.unwrap_or(inp.started_us);
        if quiet >= rules.no_segment_us {
            out.push(Condition {
                kind: AlertKind::RecordingGap,
                subject,
                severity: Severity::Critical,
                message: format!("camera {} ({}) has recorded nothing for {} s", s.camera, s.stream, quiet / SECOND_US),
                value: (quiet / SECOND_US) as f64,
            });
        } else if let Some(gap) = s.last_gap_us.filter(|g| *g > now - rules.gap_window_us) {
            out.push(Condition {
                kind: AlertKind::RecordingGap,
                subject,
                severity: Severity::Warning,
                message: format!("camera {} ({}): recording resumed after a gap at {}", s.camera, s.stream, crate::time::to_rfc3339(gap)),
                value: ((now - gap) / SECOND_US) as f64,
            });
        }
    }
    if let Some(st) = &inp.storage {
        let days_left = if st.bytes_per_day > 0.0 { st.free_bytes as f64 / st.bytes_per_day } else { f64::INFINITY };
        let severity = if st.free_bytes < rules.storage_critical_free || days_left < rules.storage_critical_days {
            Some(Severity::Critical)
        } else if st.free_bytes < rules.storage_warning_free || days_left < rules.storage_warning_days {
            Some(Severity::Warning)
        } else {
            None
        };
        if let Some(severity) = severity {
            let days = if days_left.is_finite() { format!("{days_left:.1} days") } else { "no writes".to_owned() };
            out.push(Condition {
                kind: AlertKind::StorageLow,
                subject: "storage".to_owned(),
                severity,
                message: format!("recording disk: {:.1} GB free ({days} at the last hour's write rate)", st.free_bytes as f64 / 1e9),
                value: st.free_bytes as f64,
            });
        }
    }
}

/// What one evaluation pass needs from outside the database.
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The alert settings.
    pub alerts: &'a AlertsConfig,
    /// Health of the streams this server pulls (from `StreamHealth::snapshot_readonly`).
    pub health: Vec<HealthRow>,
    /// Free bytes on the recording disk, when known.
    pub free_bytes: Option<u64>,
    /// Server start.
    pub started_us: WallUs,
}

/// Gathers the inputs of `hall` at `now`, evaluates them, applies the schedule and records
/// the result in the alert table.
pub async fn evaluate_hall(store: &Store, ctx: &Context<'_>, hall: &str, now: WallUs) -> Result<ApplyReport, StoreError> {
    let cfg = ctx.config;
    let staff = staff_cameras(cfg, hall);
    let hall_now = store.hall_now(hall, now, &staff).await?;
    let mut seat_empty_since = BTreeMap::new();
    for c in hall_now.counters.iter().filter(|c| c.camera_staffed == Some(false)) {
        if let Some(cam) = staff.get(&c.number) {
            let since = store.seat_empty_since(cam, c.number, now).await?;
            // Never seen staffed: empty since the start of the hall day at the latest.
            seat_empty_since.insert(c.number, since.unwrap_or_else(|| crate::time::local_day_start(now)));
        }
    }
    let mut waiting_areas = Vec::new();
    if let Some(hold) = ctx.alerts.camera_queue_warning.map(|_| i64::from(ctx.alerts.camera_queue_minutes) * MINUTE_US) {
        for cam in cfg.cameras.iter().filter(|c| c.hall == hall && c.enabled && c.analyze) {
            for z in cam.zones.iter().filter(|z| z.kind == crate::vision::zones::ZoneKindName::Waiting) {
                let (min_count, first_sample_us) = store.zone_min_since(&cam.id, &z.id, now - hold, now).await?;
                waiting_areas.push(WaitingArea { camera: cam.id.clone(), zone: z.id.clone(), min_count, first_sample_us });
            }
        }
    }
    let mut streams = Vec::new();
    for cam in cfg.cameras.iter().filter(|c| c.hall == hall && c.enabled) {
        for s in &cam.streams {
            let Some(h) = ctx.health.iter().find(|h| h.camera_id == cam.id && h.stream == s.role.as_str()) else { continue };
            let (last_recorded_us, last_gap_us) = if s.records() {
                store.recording_progress(&cam.id, s.role.as_str()).await?
            } else {
                (None, None)
            };
            streams.push(StreamInput {
                camera: cam.id.clone(),
                stream: s.role.as_str().to_owned(),
                records: s.records(),
                state: h.state.clone(),
                last_frame_us: h.last_frame_us,
                last_recorded_us,
                last_gap_us,
            });
        }
    }
    let storage = match ctx.free_bytes {
        Some(free_bytes) => {
            let written = store.bytes_recorded_since(now - 3_600_000_000).await?;
            Some(StorageInput { free_bytes, bytes_per_day: written as f64 * 24.0 })
        }
        None => None,
    };
    let dissatisfied = store.unalerted_dissatisfied_ratings(hall, crate::time::local_day_start(now), now).await?;
    let rules = ctx.alerts.rules(cfg, hall);
    let inputs = Inputs { hall: &hall_now, seat_empty_since, waiting_areas, streams, storage, dissatisfied, started_us: ctx.started_us };
    let mut conditions = evaluate(&rules, &inputs, now);
    // Outside the schedule nothing is watched: scheduled conditions are dropped, so they
    // neither open nor keep alerts open.
    if !ctx.alerts.schedule().active(now) {
        conditions.retain(|c| c.kind.is_system() && ctx.alerts.system_always_active);
    }
    store.apply_alerts(hall, &conditions, now, i64::from(ctx.alerts.dedup_minutes) * MINUTE_US).await
}

/// Evaluates every hall every `interval_seconds` until `cancel` fires.
pub async fn run(
    store: Store,
    config: Arc<Config>,
    storage: Arc<Storage>,
    health: Arc<Vec<Arc<StreamHealth>>>,
    changes: Arc<crate::notify::Changes>,
    cancel: CancellationToken,
) {
    let Some(alerts) = config.alerts.clone() else { return };
    let started_us = crate::time::now_us();
    let interval = Duration::from_secs(u64::from(alerts.interval_seconds));
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => return,
        }
        let ctx = Context {
            config: &config,
            alerts: &alerts,
            health: health.iter().map(|h| h.snapshot_readonly()).collect(),
            free_bytes: storage.free_bytes().ok(),
            started_us,
        };
        let now = crate::time::now_us();
        for hall in &config.halls {
            match evaluate_hall(&store, &ctx, &hall.id, now).await {
                Ok(r) if r.changed() => {
                    tracing::debug!(hall = %hall.id, ?r, "alerts evaluated");
                    changes.alerts_changed();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(hall = %hall.id, "alert evaluation failed: {e}"),
            }
        }
    }
}

