//! Tracks → people (bridging ID switches) → visits, waiting, service and abandonment.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{s_to_us, us_to_s, AnalyticsConfig, PersonWait, Visit, VisitKind};
use crate::time::WallUs;
use crate::vision::pipeline::FrameAnalysis;
use crate::vision::zones::{ZoneEventKind, ZoneKind};

#[derive(Debug, Clone)]
struct TrackState {
    person: u64,
    last_seen: WallUs,
    /// Foot point (bottom centre of the box) in pixels.
    foot: [f64; 2],
    /// Box height in pixels: the scale for "near" when bridging an ID switch.
    height: f64,
    /// A later track already continues this one.
    claimed: bool,
}

#[derive(Debug, Clone)]
struct PersonState {
    first_seen: WallUs,
    last_seen: WallUs,
    wait_start: Option<WallUs>,
    service_start: Option<WallUs>,
    service_counter: Option<u32>,
    service_end: Option<WallUs>,
    tracks: Vec<u64>,
}

#[derive(Debug, Clone)]
struct OpenVisit {
    track_id: u64,
    kind: VisitKind,
    counter: Option<u32>,
    enter_us: WallUs,
    /// Set when the last of `inside` left; the visit is final once this is older than the grace.
    exit_us: Option<WallUs>,
    /// Tracks of the person currently inside (two while an ID switch overlaps).
    inside: BTreeSet<u64>,
}

/// Everyone the camera has seen and not yet reported.
#[derive(Debug, Clone, Default)]
pub(super) struct People {
    tracks: HashMap<u64, TrackState>,
    persons: BTreeMap<u64, PersonState>,
    /// Open (or recently closed, within the grace window) visits by (person, zone).
    visits: BTreeMap<(u64, String), OpenVisit>,
}

fn visit_kind(k: ZoneKind) -> Option<(VisitKind, Option<u32>)> {
    match k {
        ZoneKind::Waiting => Some((VisitKind::Waiting, None)),
        ZoneKind::Service { counter } => Some((VisitKind::Service, Some(counter))),
        ZoneKind::Staff { counter } => Some((VisitKind::Staff, Some(counter))),
        ZoneKind::Entrance => None,
    }
}

impl People {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_frame(
        &mut self,
        now: WallUs,
        origin: WallUs,
        a: &FrameAnalysis,
        zones: &HashMap<String, ZoneKind>,
        cfg: &AnalyticsConfig,
        visits: &mut Vec<Visit>,
        persons: &mut Vec<PersonWait>,
    ) {
        let grace = s_to_us(cfg.grace_s);
        for t in &a.tracks {
            let b = t.bbox;
            let foot = [f64::from(b.x) + f64::from(b.w) / 2.0, f64::from(b.y) + f64::from(b.h)];
            let height = f64::from(b.h);
            let person = match self.tracks.get_mut(&t.id) {
                Some(ts) => {
                    ts.last_seen = now;
                    ts.foot = foot;
                    ts.height = height;
                    ts.person
                }
                None => {
                    let person = self.link(now, foot, grace, cfg.link_max_dist).unwrap_or(t.id);
                    self.tracks.insert(t.id, TrackState { person, last_seen: now, foot, height, claimed: false });
                    self.persons.entry(person).or_insert_with(|| new_person(now)).tracks.push(t.id);
                    person
                }
            };
            if let Some(p) = self.persons.get_mut(&person) {
                p.last_seen = p.last_seen.max(now);
            }
        }

        for e in &a.events {
            let Some((kind, counter)) = zones.get(&e.zone).copied().and_then(visit_kind) else { continue };
            // Events are dated when the change began, which is never after the frame confirming it.
            let at = (origin + s_to_us(e.t)).min(now);
            match e.kind {
                ZoneEventKind::Enter => self.enter(e.track_id, &e.zone, kind, counter, at, grace, visits),
                ZoneEventKind::Exit => self.exit(e.track_id, &e.zone, at),
                ZoneEventKind::Cross(_) => {}
            }
        }

        // Visits left for longer than the grace window are final.
        let done: Vec<(u64, String)> = self
            .visits
            .iter()
            .filter(|(_, v)| v.exit_us.is_some_and(|x| now - x > grace))
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            self.finalize_visit(key, visits);
        }

        // People none of whose tracks were seen within the grace window left the view.
        let gone: Vec<u64> = self.persons.iter().filter(|(_, p)| now - p.last_seen > grace).map(|(&id, _)| id).collect();
        for id in gone {
            self.close_person(id, true, cfg, visits, persons);
        }
    }

    /// Ends everything: every person is reported as still present.
    pub(super) fn finish(&mut self, cfg: &AnalyticsConfig, visits: &mut Vec<Visit>, persons: &mut Vec<PersonWait>) {
        let ids: Vec<u64> = self.persons.keys().copied().collect();
        for id in ids {
            self.close_person(id, false, cfg, visits, persons);
        }
        // Visits of tracks never seen in a frame (events only) have no person state.
        let keys: Vec<(u64, String)> = self.visits.keys().cloned().collect();
        for key in keys {
            self.finalize_visit(key, visits);
        }
        self.tracks.clear();
    }

    /// People in view now with an open waiting visit.
    pub(super) fn waiting_now(&self, now: WallUs) -> usize {
        let mut ids: BTreeSet<u64> = BTreeSet::new();
        for ((person, _), v) in &self.visits {
            if v.kind == VisitKind::Waiting
                && v.exit_us.is_none()
                && self.persons.get(person).is_some_and(|p| p.last_seen == now)
            {
                ids.insert(*person);
            }
        }
        ids.len()
    }

    /// Longest wait so far among people present and not yet served.
    pub(super) fn longest_wait_s(&self, now: WallUs) -> Option<f64> {
        self.persons
            .values()
            .filter(|p| p.service_start.is_none())
            .filter_map(|p| p.wait_start)
            .min()
            .map(|start| us_to_s(now - start).max(0.0))
    }

    /// The person a new track at `foot` continues: the nearest track that vanished (not seen in
    /// this frame) within the grace window, not already continued, within `max_dist` of its
    /// height. The tracker could not bridge the gap; a person rarely appears from nowhere right
    /// where another one vanished.
    fn link(&mut self, now: WallUs, foot: [f64; 2], grace: i64, max_dist: f64) -> Option<u64> {
        let (id, _) = self
            .tracks
            .iter()
            .filter(|(_, t)| !t.claimed && t.last_seen < now && now - t.last_seen <= grace)
            .map(|(&id, t)| (id, (foot[0] - t.foot[0]).hypot(foot[1] - t.foot[1]) / t.height.max(1.0)))
            .filter(|&(_, d)| d <= max_dist)
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))?;
        let t = self.tracks.get_mut(&id)?;
        t.claimed = true;
        Some(t.person)
    }

    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        track: u64,
        zone: &str,
        kind: VisitKind,
        counter: Option<u32>,
        at: WallUs,
        grace: i64,
        visits: &mut Vec<Visit>,
    ) {
        let person = match self.tracks.get(&track) {
            Some(t) => t.person,
            None => {
                // An event for a track never given in a frame: still count it, as its own person.
                self.tracks.insert(track, TrackState { person: track, last_seen: at, foot: [0.0; 2], height: 1.0, claimed: true });
                self.persons.entry(track).or_insert_with(|| new_person(at)).tracks.push(track);
                track
            }
        };
        let key = (person, zone.to_owned());
        let merge = self.visits.get(&key).map(|v| v.exit_us.is_none_or(|x| at - x <= grace));
        match merge {
            Some(true) => {
                if let Some(v) = self.visits.get_mut(&key) {
                    v.inside.insert(track);
                    v.exit_us = None;
                }
            }
            Some(false) | None => {
                if merge == Some(false) {
                    self.finalize_visit(key.clone(), visits);
                }
                let inside = BTreeSet::from([track]);
                self.visits.insert(key, OpenVisit { track_id: track, kind, counter, enter_us: at, exit_us: None, inside });
            }
        }
        if let Some(p) = self.persons.get_mut(&person) {
            match kind {
                VisitKind::Waiting if p.wait_start.is_none() && p.service_start.is_none() => p.wait_start = Some(at),
                VisitKind::Service if p.service_start.is_none() => {
                    p.service_start = Some(at);
                    p.service_counter = counter;
                }
                _ => {}
            }
        }
    }

    fn exit(&mut self, track: u64, zone: &str, at: WallUs) {
        let Some(person) = self.tracks.get(&track).map(|t| t.person) else { return };
        if let Some(v) = self.visits.get_mut(&(person, zone.to_owned())) {
            if v.inside.remove(&track) && v.inside.is_empty() {
                v.exit_us = Some(at.max(v.enter_us));
            }
        }
    }

    fn finalize_visit(&mut self, key: (u64, String), out: &mut Vec<Visit>) {
        let Some(v) = self.visits.remove(&key) else { return };
        let (person, zone) = key;
        // Still inside at the end: the visit ends when its tracks were last seen.
        let exit_us = v
            .exit_us
            .or_else(|| v.inside.iter().filter_map(|t| self.tracks.get(t)).map(|t| t.last_seen).max())
            .unwrap_or(v.enter_us)
            .max(v.enter_us);
        if let Some(p) = self.persons.get_mut(&person) {
            if v.kind == VisitKind::Service && p.service_start == Some(v.enter_us) {
                p.service_end = Some(exit_us);
            }
        }
        out.push(Visit {
            person_id: person,
            track_id: v.track_id,
            zone,
            kind: v.kind,
            counter: v.counter,
            enter_us: v.enter_us,
            exit_us,
        });
    }

    /// Finalises the person's visits and reports them; `left` when they left the view (as
    /// opposed to the session ending with them present).
    fn close_person(
        &mut self,
        id: u64,
        left: bool,
        cfg: &AnalyticsConfig,
        visits: &mut Vec<Visit>,
        persons: &mut Vec<PersonWait>,
    ) {
        let keys: Vec<(u64, String)> = self.visits.range((id, String::new())..).take_while(|(k, _)| k.0 == id).map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.finalize_visit(key, visits);
        }
        let Some(p) = self.persons.remove(&id) else { return };
        for t in &p.tracks {
            self.tracks.remove(t);
        }
        if p.wait_start.is_none() && p.service_start.is_none() {
            return; // walked through: no waiting or service to report
        }
        let wait_end = p.service_start.unwrap_or(p.last_seen);
        let wait_s = p.wait_start.map(|w| us_to_s(wait_end - w).max(0.0));
        let service_s = match (p.service_start, p.service_end) {
            (Some(s), Some(e)) => Some(us_to_s(e - s).max(0.0)),
            _ => None,
        };
        let abandoned = left && p.service_start.is_none() && wait_s.is_some_and(|w| w > cfg.abandon_after_s);
        persons.push(PersonWait {
            person_id: id,
            first_seen_us: p.first_seen,
            last_seen_us: p.last_seen,
            wait_start_us: p.wait_start,
            service_start_us: p.service_start,
            wait_s,
            service_s,
            counter: p.service_counter,
            abandoned,
        });
    }
}

fn new_person(now: WallUs) -> PersonState {
    PersonState {
        first_seen: now,
        last_seen: now,
        wait_start: None,
        service_start: None,
        service_counter: None,
        service_end: None,
        tracks: Vec::new(),
    }
}
