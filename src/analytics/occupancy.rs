//! Per-second occupancy samples and their per-minute roll-up.

use std::collections::BTreeMap;

use super::{OccupancyMinute, OccupancySample};
use crate::time::WallUs;

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    sum: u64,
    max: usize,
    n: usize,
}

/// Samples the counts once per wall second and accumulates them per wall minute.
#[derive(Debug, Clone, Default)]
pub(super) struct Occupancy {
    last_second: Option<i64>,
    /// Open minutes, by (minute start, zone).
    acc: BTreeMap<(WallUs, String), Acc>,
}

impl Occupancy {
    /// Takes a sample per zone if `now` is the first frame of a new wall second; completed
    /// minutes (those before the sample's minute) are moved to `minutes`.
    pub(super) fn on_frame(
        &mut self,
        now: WallUs,
        counts: &BTreeMap<String, usize>,
        samples: &mut Vec<OccupancySample>,
        minutes: &mut Vec<OccupancyMinute>,
    ) {
        let sec = now.div_euclid(SECOND_US);
        if self.last_second.is_some_and(|s| s >= sec) {
            return;
        }
        self.last_second = Some(sec);
        let at_us = sec * SECOND_US;
        let minute = at_us - at_us.rem_euclid(MINUTE_US);
        // Every minute before this one is complete: frames come in time order.
        let rest = self.acc.split_off(&(minute, String::new()));
        let done = std::mem::replace(&mut self.acc, rest);
        emit(done, minutes);
        for (zone, &count) in counts {
            samples.push(OccupancySample { zone: zone.clone(), at_us, count });
            let a = self.acc.entry((minute, zone.clone())).or_default();
            a.sum += count as u64;
            a.max = a.max.max(count);
            a.n += 1;
        }
    }

    /// Flushes every open minute (end of session) and forgets the last sampled second.
    pub(super) fn finish(&mut self, minutes: &mut Vec<OccupancyMinute>) {
        emit(std::mem::take(&mut self.acc), minutes);
        self.last_second = None;
    }
}

fn emit(done: BTreeMap<(WallUs, String), Acc>, minutes: &mut Vec<OccupancyMinute>) {
    for ((minute_us, zone), a) in done {
        if a.n == 0 {
            continue;
        }
        minutes.push(OccupancyMinute { zone, minute_us, mean: a.sum as f64 / a.n as f64, max: a.max, samples: a.n });
    }
}
