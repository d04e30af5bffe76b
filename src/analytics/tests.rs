//! Synthetic scenarios with hand-computed expectations. People scenarios go through the real
//! [`ZoneSet`] (so event dating and hysteresis are the production ones); occupancy and staffing
//! scenarios set the counts directly so the expected figures stay exact.

use std::collections::BTreeMap;

use super::*;
use crate::vision::detect::BBox;
use crate::vision::track::TrackOutput;
use crate::vision::zones::{Hysteresis, ZoneKindName, ZoneSet, ZoneSpec};

/// 2027-01-15T08:00:00Z, on a minute boundary.
const ORIGIN: WallUs = 1_800_000_000_000_000;
const S: i64 = 1_000_000;

const OUT: (f64, f64) = (0.25, 0.75);
const WAIT: (f64, f64) = (0.25, 0.25);
const SVC: (f64, f64) = (0.75, 0.75);

fn zone(id: &str, kind: ZoneKindName, counter: Option<u32>, poly: [[f64; 2]; 4]) -> Zone {
    Zone::from_spec(&ZoneSpec { id: id.into(), kind, polygon: Some(poly.to_vec()), line: None, counter }).expect("valid zone")
}

/// Waiting area top-left, service seat of counter 3 bottom-right, staff seat of counter 3 top-right.
fn hall() -> Vec<Zone> {
    vec![
        zone("wait", ZoneKindName::Waiting, None, [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]),
        zone("svc3", ZoneKindName::Service, Some(3), [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]),
        zone("staff3", ZoneKindName::Staff, Some(3), [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]),
    ]
}

/// A track whose foot point is at normalised (x, y) of a 100×100 frame; boxes are 20 px tall.
fn at(id: u64, (x, y): (f64, f64)) -> TrackOutput {
    TrackOutput { id, bbox: BBox { x: (x * 100.0) as f32 - 5.0, y: (y * 100.0) as f32 - 20.0, w: 10.0, h: 20.0 }, score: 0.9 }
}

/// Everything a run produced.
#[derive(Default)]
struct Collected {
    samples: Vec<OccupancySample>,
    minutes: Vec<OccupancyMinute>,
    visits: Vec<Visit>,
    persons: Vec<PersonWait>,
    staffed: Vec<StaffedInterval>,
    live: BTreeMap<i64, LiveState>,
    /// Frames whose output reported people.
    persons_at: Vec<i64>,
}

impl Collected {
    fn add(&mut self, frame: i64, o: AnalyticsOutput) {
        self.samples.extend(o.samples);
        self.minutes.extend(o.minutes);
        self.visits.extend(o.visits);
        if !o.persons.is_empty() {
            self.persons_at.push(frame);
        }
        self.persons.extend(o.persons);
        self.staffed.extend(o.staffed);
        self.live.insert(frame, o.live);
    }
}

/// Runs a scenario at 5 fps for `secs` seconds through the real zone logic. `people(t)` gives the
/// tracks in view at `t` seconds.
fn run(cfg: AnalyticsConfig, secs: i64, people: impl Fn(f64) -> Vec<TrackOutput>) -> Collected {
    let mut zs = ZoneSet::new(hall(), Hysteresis::default(), 100, 100);
    let mut an = CameraAnalytics::new("cam-1", hall(), cfg).expect("valid").with_origin(ORIGIN);
    let mut c = Collected::default();
    for i in 0..secs * 5 {
        // Division, not multiplication by 0.2, keeps whole and fifth seconds exact.
        let t = i as f64 / 5.0;
        let tracks = people(t);
        let events = zs.update(t, &tracks);
        let a = FrameAnalysis { detections: Vec::new(), tracks, events, counts: zs.counts() };
        c.add(i, an.on_frame(ORIGIN + i * 200_000, &a));
    }
    c.add(i64::MAX, an.finish(ORIGIN + secs * S));
    c
}

fn visit(person: u64, track: u64, zone: &str, enter_s: f64, exit_s: f64) -> (u64, u64, String, WallUs, WallUs) {
    (person, track, zone.to_owned(), ORIGIN + s_to_us(enter_s), ORIGIN + s_to_us(exit_s))
}

fn visits_of(c: &Collected) -> Vec<(u64, u64, String, WallUs, WallUs)> {
    let mut v: Vec<_> = c.visits.iter().map(|v| (v.person_id, v.track_id, v.zone.clone(), v.enter_us, v.exit_us)).collect();
    v.sort_by_key(|x| (x.3, x.0));
    v
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[test]
fn waits_30_s_then_served_60_s_at_counter_3() {
    let c = run(AnalyticsConfig::default(), 120, |t| match t {
        t if t < 10.0 => vec![at(1, OUT)],
        t if t < 40.0 => vec![at(1, WAIT)],
        t if t < 100.0 => vec![at(1, SVC)],
        t if t < 110.0 => vec![at(1, OUT)],
        _ => vec![],
    });
    assert_eq!(visits_of(&c), vec![visit(1, 1, "wait", 10.0, 40.0), visit(1, 1, "svc3", 40.0, 100.0)]);
    let svc = c.visits.iter().find(|v| v.zone == "svc3").expect("service visit");
    assert_eq!((svc.kind, svc.counter), (VisitKind::Service, Some(3)));
    assert_eq!(c.persons.len(), 1, "{:?}", c.persons);
    let p = &c.persons[0];
    assert_eq!(p.person_id, 1);
    assert_eq!(p.wait_start_us, Some(ORIGIN + 10 * S));
    assert_eq!(p.service_start_us, Some(ORIGIN + 40 * S));
    assert!(approx(p.wait_s, 30.0) && approx(p.service_s, 60.0), "{p:?}");
    assert_eq!((p.counter, p.abandoned), (Some(3), false));
    assert_eq!((p.first_seen_us, p.last_seen_us), (ORIGIN, ORIGIN + 109_800_000));
    // Reported once gone: last seen 109.8 s, grace 5 s → the frame at 115.0 s.
    assert_eq!(c.persons_at, vec![575]);

    // Live state while waiting (t = 30 s) and while being served (t = 50 s).
    let l = &c.live[&150];
    assert_eq!((l.waiting_now, l.counts["wait"], l.counts[ALL_ZONE]), (1, 1, 1));
    assert!(approx(l.longest_wait_s, 20.0), "{l:?}");
    let l = &c.live[&250];
    assert_eq!((l.waiting_now, l.longest_wait_s, l.counts["svc3"]), (0, None, 1));
}

#[test]
fn re_entry_within_grace_merges_and_later_one_does_not() {
    let c = run(AnalyticsConfig::default(), 90, |t| match t {
        t if t < 20.0 => vec![at(1, WAIT)],
        t if t < 22.0 => vec![at(1, OUT)], // 2 s out: same visit
        t if t < 40.0 => vec![at(1, WAIT)],
        t if t < 50.0 => vec![at(1, OUT)], // 10 s out: a new visit
        t if t < 70.0 => vec![at(1, WAIT)],
        t if t < 75.0 => vec![at(1, OUT)],
        _ => vec![],
    });
    assert_eq!(visits_of(&c), vec![visit(1, 1, "wait", 0.0, 40.0), visit(1, 1, "wait", 50.0, 70.0)]);
    // Never served, waited 74.8 s (< 300 s): not an abandonment.
    assert_eq!(c.persons.len(), 1);
    let p = &c.persons[0];
    assert!(approx(p.wait_s, 74.8) && p.service_s.is_none() && !p.abandoned, "{p:?}");
}

#[test]
fn id_switch_near_the_vanished_track_is_the_same_person() {
    let c = run(AnalyticsConfig::default(), 80, |t| match t {
        t if t < 20.0 => vec![at(1, WAIT)],
        t if t < 21.0 => vec![], // the tracker lost them for 1.2 s
        // Track 2 reappears 2 px from where track 1 vanished (0.1 box heights); track 3 appears
        // at the same time 50 px away (2.5 heights): a different person.
        t if t < 30.0 => vec![at(2, (0.27, 0.25)), at(3, OUT)],
        t if t < 40.0 => vec![at(2, (0.27, 0.25))],
        t if t < 60.0 => vec![at(2, SVC)],
        t if t < 62.0 => vec![at(2, OUT)],
        _ => vec![],
    });
    // Track 1 left the waiting zone when last seen (19.8 s), track 2 entered at 21.0 s: one visit.
    assert_eq!(visits_of(&c), vec![visit(1, 1, "wait", 0.0, 40.0), visit(1, 2, "svc3", 40.0, 60.0)]);
    assert_eq!(c.persons.len(), 1, "track 3 never waited: {:?}", c.persons);
    let p = &c.persons[0];
    assert_eq!((p.person_id, p.counter), (1, Some(3)));
    assert!(approx(p.wait_s, 40.0) && approx(p.service_s, 20.0), "{p:?}");
    // While the switch is bridged the person keeps waiting: live counts one waiter, 25 s.
    assert!(approx(c.live[&125].longest_wait_s, 25.0), "{:?}", c.live[&125]);
}

#[test]
fn long_wait_then_leaving_is_an_abandonment() {
    let cfg = AnalyticsConfig { abandon_after_s: 120.0, ..AnalyticsConfig::default() };
    let c = run(cfg, 220, |t| {
        let mut v = Vec::new();
        if t < 5.0 {
            v.push(at(1, OUT));
        } else if t < 200.0 {
            v.push(at(1, WAIT));
        } else if t < 202.0 {
            v.push(at(1, OUT));
        }
        if t < 30.0 {
            v.push(at(2, (0.1, 0.1)));
        } else if t < 32.0 {
            v.push(at(2, (0.1, 0.75)));
        }
        v
    });
    let l = &c.live[&500]; // t = 100 s
    assert_eq!(l.waiting_now, 1);
    assert!(approx(l.longest_wait_s, 95.0), "{l:?}");
    let by_id: BTreeMap<u64, &PersonWait> = c.persons.iter().map(|p| (p.person_id, p)).collect();
    assert_eq!(by_id.len(), 2, "{:?}", c.persons);
    // Waited 201.8 s (5.0 → last seen 201.8) and left without service.
    assert!(by_id[&1].abandoned && approx(by_id[&1].wait_s, 196.8), "{:?}", by_id[&1]);
    // Waited 31.8 s: left, but too soon to count as a walkout.
    assert!(!by_id[&2].abandoned && approx(by_id[&2].wait_s, 31.8), "{:?}", by_id[&2]);
}

/// Feeds frames at `fps` with counts from `counts(t)` (and that many tracks as "all").
fn run_counts(
    zones: Vec<Zone>,
    cfg: AnalyticsConfig,
    secs: i64,
    fps: i64,
    counts: impl Fn(f64) -> Vec<(&'static str, usize)>,
) -> Collected {
    let mut an = CameraAnalytics::new("cam-1", zones, cfg).expect("valid").with_origin(ORIGIN);
    let mut c = Collected::default();
    for i in 0..secs * fps {
        let t = i as f64 / fps as f64;
        let counts: BTreeMap<String, usize> = counts(t).into_iter().map(|(z, n)| (z.to_owned(), n)).collect();
        let everyone = counts.values().sum::<usize>() + 1; // plus one person outside every zone
        let tracks = (0..everyone as u64).map(|id| at(id + 1, OUT)).collect();
        let a = FrameAnalysis { detections: Vec::new(), tracks, events: Vec::new(), counts };
        c.add(i, an.on_frame(ORIGIN + i * S / fps, &a));
    }
    c.add(i64::MAX, an.finish(ORIGIN + secs * S));
    c
}

#[test]
fn staffed_intervals_ignore_flicker() {
    let zones = vec![
        zone("staff3", ZoneKindName::Staff, Some(3), [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]),
        zone("staff4", ZoneKindName::Staff, Some(4), [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]),
    ];
    let cfg = AnalyticsConfig { staffed_min_presence_s: 10.0, unstaffed_min_absence_s: 30.0, ..AnalyticsConfig::default() };
    let c = run_counts(zones, cfg, 300, 5, |t| {
        // Counter 3: present 0–100 s with a 10 s absence (shorter than 30 s), then a 5 s visit
        // (shorter than 10 s). Counter 4: staffed from 250 s to the end.
        let p3 = (t < 40.0) || (50.0..100.0).contains(&t) || (200.0..205.0).contains(&t);
        vec![("staff3", usize::from(p3)), ("staff4", usize::from(t >= 250.0))]
    });
    let iv = |counter, from: i64, to: Option<i64>| StaffedInterval { counter, from_us: ORIGIN + from * S, to_us: to.map(|t| ORIGIN + t * S) };
    assert_eq!(c.staffed, vec![iv(3, 0, None), iv(3, 0, Some(100)), iv(4, 250, None), iv(4, 250, Some(300))]);
    let staffed_at = |t: i64| c.live[&(t * 5)].staffed_counters.clone();
    assert_eq!(staffed_at(5), Vec::<u32>::new());
    assert_eq!(staffed_at(10), vec![3]);
    assert_eq!(staffed_at(45), vec![3]);
    assert_eq!(staffed_at(125), vec![3]);
    assert_eq!(staffed_at(130), Vec::<u32>::new());
    assert_eq!(staffed_at(204), Vec::<u32>::new());
    assert_eq!(staffed_at(299), vec![4]);
}

#[test]
fn one_sample_per_second_and_minute_rollup() {
    let zones = vec![zone("wait", ZoneKindName::Waiting, None, [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])];
    let c = run_counts(zones, AnalyticsConfig::default(), 90, 4, |t| {
        let n = match t {
            t if t < 30.0 => 2,
            t if t < 60.0 => 1,
            t if t < 60.5 => 3, // seen by the 60 s sample only
            _ => 0,
        };
        vec![("wait", n)]
    });
    // 90 seconds × ("wait", "all"), sampled at the first frame of each second.
    assert_eq!(c.samples.len(), 180);
    let sample = |zone: &str, s: i64| c.samples.iter().find(|x| x.zone == zone && x.at_us == ORIGIN + s * S).map(|x| x.count);
    assert_eq!((sample("wait", 29), sample("wait", 30), sample("wait", 60), sample("wait", 61)), (Some(2), Some(1), Some(3), Some(0)));
    assert_eq!(sample(ALL_ZONE, 0), Some(3));
    // Minute 0 is complete at the first sample of minute 1 (frame 240 = 60.0 s).
    let m0: Vec<_> = c.minutes.iter().filter(|m| m.minute_us == ORIGIN).collect();
    let m = |zone: &str, minute: i64| {
        c.minutes.iter().find(|m| m.zone == zone && m.minute_us == ORIGIN + minute * 60 * S).map(|m| (m.mean, m.max, m.samples))
    };
    assert_eq!(m0.len(), 2);
    assert_eq!(m("wait", 0), Some((1.5, 2, 60)));
    assert_eq!(m(ALL_ZONE, 0), Some((2.5, 3, 60)));
    // Minute 1 is partial, flushed by finish: 3 then 29 zeros.
    assert_eq!(m("wait", 1), Some((0.1, 3, 30)));
    let all1 = m(ALL_ZONE, 1).expect("all minute 1");
    assert!((all1.0 - 1.1).abs() < 1e-12 && all1.1 == 4 && all1.2 == 30, "{all1:?}");
    // Samples seen before the end of minute 0 did not include minute 1.
    assert_eq!(c.minutes.len(), 4);
}

#[test]
fn minute_is_emitted_when_the_next_minute_starts() {
    let zones = vec![zone("wait", ZoneKindName::Waiting, None, [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])];
    let mut an = CameraAnalytics::new("cam-1", zones, AnalyticsConfig::default()).expect("valid");
    let a = FrameAnalysis { counts: BTreeMap::from([("wait".to_owned(), 1)]), ..FrameAnalysis::default() };
    assert!(an.on_frame(ORIGIN + 59 * S + 999_999, &a).minutes.is_empty());
    let o = an.on_frame(ORIGIN + 60 * S, &a);
    assert_eq!(o.minutes.len(), 2, "wait and all: {:?}", o.minutes);
    assert_eq!(o.live.counts[ALL_ZONE], 0);
    // A clock stepping back does not produce a second sample for a second already sampled.
    assert!(an.on_frame(ORIGIN + 30 * S, &a).samples.is_empty());
}

#[test]
fn bad_settings_are_refused_by_name() {
    let bad = AnalyticsConfig { grace_s: f64::NAN, ..AnalyticsConfig::default() };
    let e = CameraAnalytics::new("c", Vec::new(), bad).expect_err("NaN grace");
    assert!(e.to_string().contains("grace_s"), "{e}");
    let bad = AnalyticsConfig { link_max_dist: 0.0, ..AnalyticsConfig::default() };
    assert!(CameraAnalytics::new("c", Vec::new(), bad).is_err());
    let all = zone(ALL_ZONE, ZoneKindName::Waiting, None, [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]);
    assert!(matches!(CameraAnalytics::new("c", vec![all], AnalyticsConfig::default()), Err(AnalyticsError::ReservedZoneId)));
}
