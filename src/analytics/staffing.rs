//! Counter staffed state from the staff zones, debounced in time.

use std::collections::BTreeMap;

use super::{s_to_us, AnalyticsConfig, StaffedInterval};
use crate::time::WallUs;
use crate::vision::zones::{Zone, ZoneKind};

#[derive(Debug, Clone, Default)]
struct Counter {
    /// Staff zones of this counter (usually one).
    zones: Vec<String>,
    /// Committed state.
    staffed: bool,
    /// The raw state has differed from `staffed` since this frame (not yet confirmed).
    change_since: Option<WallUs>,
    /// Start of the current staffed interval.
    from_us: WallUs,
}

/// The staffed state of every counter that has a staff zone.
#[derive(Debug, Clone, Default)]
pub(super) struct Staffing {
    counters: BTreeMap<u32, Counter>,
}

impl Staffing {
    pub(super) fn new(zones: &[Zone]) -> Staffing {
        let mut counters: BTreeMap<u32, Counter> = BTreeMap::new();
        for z in zones {
            if let ZoneKind::Staff { counter } = z.kind {
                counters.entry(counter).or_default().zones.push(z.id.clone());
            }
        }
        Staffing { counters }
    }

    /// Advances every counter with the zone counts of the frame at `now`.
    pub(super) fn on_frame(
        &mut self,
        now: WallUs,
        counts: &BTreeMap<String, usize>,
        cfg: &AnalyticsConfig,
        out: &mut Vec<StaffedInterval>,
    ) {
        for (&id, c) in &mut self.counters {
            let occupied = c.zones.iter().any(|z| counts.get(z).copied().unwrap_or(0) > 0);
            if occupied == c.staffed {
                c.change_since = None;
                continue;
            }
            let since = *c.change_since.get_or_insert(now);
            let need = s_to_us(if occupied { cfg.staffed_min_presence_s } else { cfg.unstaffed_min_absence_s });
            if now - since < need {
                continue;
            }
            c.staffed = occupied;
            c.change_since = None;
            // Intervals are dated from when the change began, not when it was confirmed.
            if occupied {
                c.from_us = since;
                out.push(StaffedInterval { counter: id, from_us: since, to_us: None });
            } else {
                out.push(StaffedInterval { counter: id, from_us: c.from_us, to_us: Some(since) });
            }
        }
    }

    /// Counters currently staffed.
    pub(super) fn staffed_now(&self) -> Vec<u32> {
        self.counters.iter().filter(|(_, c)| c.staffed).map(|(&id, _)| id).collect()
    }

    /// Closes every staffed interval at `now` (or where a pending absence began) and resets.
    pub(super) fn finish(&mut self, now: WallUs, out: &mut Vec<StaffedInterval>) {
        for (&id, c) in &mut self.counters {
            if c.staffed {
                let to = c.change_since.unwrap_or(now);
                out.push(StaffedInterval { counter: id, from_us: c.from_us, to_us: Some(to) });
            }
            c.staffed = false;
            c.change_since = None;
        }
    }
}
