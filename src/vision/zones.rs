//! Zones of one camera view: waiting areas, counter service/staff seats and entrance lines.
//!
//! Zones are drawn once per camera in normalised image coordinates (0..1, origin top-left), so they
//! survive a change of stream resolution. A person is in a zone when their **foot point** (bottom
//! centre of the box) is: that is where they stand, whereas the box centre of a tall person near a
//! border can lie in the zone behind them.
//!
//! Membership has hysteresis in time: a track must be inside (outside) for
//! [`Hysteresis::enter_s`] ([`Hysteresis::exit_s`]) before it counts as having entered (left), so a
//! box jittering on a border is not counted twice. The event carries the time the change *started*,
//! not the time it was confirmed, so visit durations are not shortened by the dwell.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::track::TrackOutput;

/// Errors in a zone definition or zone file. Every message names the zone (or file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// A zone's geometry or attributes are unusable.
    #[error("zone `{zone}`: {reason}")]
    Invalid {
        /// The zone's id.
        zone: String,
        /// What is wrong.
        reason: String,
    },
    /// Two zones share an id.
    #[error("zone id `{0}` is used twice")]
    DuplicateId(String),
    /// The zone file could not be read.
    #[error("cannot read zone file {path}: {source}")]
    Read {
        /// File tried.
        path: std::path::PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The zone file is not valid TOML for the schema (unknown keys are named here).
    #[error("zone file {path}: {message}")]
    Parse {
        /// File parsed.
        path: std::path::PathBuf,
        /// Parser message, with the key and line at fault.
        message: String,
    },
}

/// What a zone is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKindName {
    /// Citizens waiting (seats, queue lines).
    Waiting,
    /// The citizen's side of a counter.
    Service,
    /// The officer's side of a counter.
    Staff,
    /// An entrance line; people crossing it are counted in and out.
    Entrance,
}

/// One zone as written in configuration (`[[zones]]` in a zone file, or under a camera).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Identifier, unique per camera; used in output files.
    pub id: String,
    /// What the zone is for.
    pub kind: ZoneKindName,
    /// Area zones: polygon vertices `[x, y]`, normalised 0..1, at least 3, not self-intersecting.
    #[serde(default)]
    pub polygon: Option<Vec<[f64; 2]>>,
    /// Entrance zones: the line `[[x, y], [x, y]]`. Crossing it from its left to its right, looking
    /// from the first point to the second, is "in" (so for a line drawn left to right across the
    /// image, walking down the image is "in").
    #[serde(default)]
    pub line: Option<[[f64; 2]; 2]>,
    /// Service and staff zones: the counter they belong to.
    #[serde(default)]
    pub counter: Option<u32>,
}

/// A zone file: `[[zones]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFile {
    /// The zones.
    #[serde(default)]
    pub zones: Vec<ZoneSpec>,
}

impl ZoneFile {
    /// Reads and validates a zone file.
    pub fn load(path: &Path) -> Result<Vec<Zone>, ZoneError> {
        let text = std::fs::read_to_string(path).map_err(|source| ZoneError::Read { path: path.to_path_buf(), source })?;
        let file: ZoneFile =
            toml::from_str(&text).map_err(|e| ZoneError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        validate_all(&file.zones)
    }
}

/// Validates a list of zone specs (ids unique, every zone valid).
pub fn validate_all(specs: &[ZoneSpec]) -> Result<Vec<Zone>, ZoneError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        if !seen.insert(s.id.as_str()) {
            return Err(ZoneError::DuplicateId(s.id.clone()));
        }
        out.push(Zone::from_spec(s)?);
    }
    Ok(out)
}

/// The kind of a validated zone, with its counter where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    /// Waiting area.
    Waiting,
    /// Citizen side of counter `counter`.
    Service {
        /// Counter id.
        counter: u32,
    },
    /// Officer side of counter `counter`.
    Staff {
        /// Counter id.
        counter: u32,
    },
    /// Entrance line.
    Entrance,
}

/// The shape of a validated zone, in normalised coordinates.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A simple polygon (at least 3 vertices).
    Polygon(Vec<[f64; 2]>),
    /// A line segment from the first point to the second.
    Line([f64; 2], [f64; 2]),
}

/// A validated zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Identifier.
    pub id: String,
    /// Kind (and counter).
    pub kind: ZoneKind,
    /// Geometry.
    pub shape: Shape,
}

impl Zone {
    /// Validates a spec: area kinds need a polygon, entrances a line; service/staff need a counter.
    pub fn from_spec(s: &ZoneSpec) -> Result<Zone, ZoneError> {
        let bad = |reason: String| ZoneError::Invalid { zone: s.id.clone(), reason };
        if s.id.trim().is_empty() {
            return Err(bad("id must not be empty".into()));
        }
        let kind = match (s.kind, s.counter) {
            (ZoneKindName::Waiting, None) => ZoneKind::Waiting,
            (ZoneKindName::Entrance, None) => ZoneKind::Entrance,
            (ZoneKindName::Service, Some(counter)) => ZoneKind::Service { counter },
            (ZoneKindName::Staff, Some(counter)) => ZoneKind::Staff { counter },
            (ZoneKindName::Service | ZoneKindName::Staff, None) => {
                return Err(bad("service and staff zones need `counter`".into()))
            }
            (ZoneKindName::Waiting | ZoneKindName::Entrance, Some(_)) => {
                return Err(bad("only service and staff zones take `counter`".into()))
            }
        };
        let in_range = |p: &[f64; 2]| p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v));
        let shape = match (kind, &s.polygon, &s.line) {
            (ZoneKind::Entrance, None, Some([a, b])) => {
                if !in_range(a) || !in_range(b) {
                    return Err(bad("line coordinates must be in 0..1 (normalised to the image)".into()));
                }
                if a == b {
                    return Err(bad("line endpoints must differ".into()));
                }
                Shape::Line(*a, *b)
            }
            (ZoneKind::Entrance, _, _) => return Err(bad("entrance zones need `line` (and no `polygon`)".into())),
            (_, Some(poly), None) => {
                if poly.len() < 3 {
                    return Err(bad(format!("polygon has {} points, needs at least 3", poly.len())));
                }
                if let Some((i, p)) = poly.iter().enumerate().find(|(_, p)| !in_range(p)) {
                    return Err(bad(format!(
                        "polygon point {i} {p:?} is outside 0..1 (coordinates are normalised to the image)"
                    )));
                }
                if let Some((i, j)) = self_intersection(poly) {
                    return Err(bad(format!("polygon is self-intersecting (edges {i} and {j} cross)")));
                }
                if polygon_area(poly).abs() < 1e-9 {
                    return Err(bad("polygon has zero area".into()));
                }
                Shape::Polygon(poly.clone())
            }
            _ => return Err(bad("area zones need `polygon` (and no `line`)".into())),
        };
        Ok(Zone { id: s.id.clone(), kind, shape })
    }
}

/// Signed area (shoelace); only its magnitude matters here.
fn polygon_area(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    (0..n).map(|i| p[i][0] * p[(i + 1) % n][1] - p[(i + 1) % n][0] * p[i][1]).sum::<f64>() / 2.0
}

/// 2-D cross product of (b - a) and (c - a): > 0 when c is on one side of a→b, < 0 on the other.
fn cross(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// True when segments p1–p2 and q1–q2 intersect (touching counts).
fn segments_intersect(p1: [f64; 2], p2: [f64; 2], q1: [f64; 2], q2: [f64; 2]) -> bool {
    let d1 = cross(q1, q2, p1);
    let d2 = cross(q1, q2, p2);
    let d3 = cross(p1, p2, q1);
    let d4 = cross(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    let on = |a: [f64; 2], b: [f64; 2], c: [f64; 2], d: f64| {
        d == 0.0 && c[0] >= a[0].min(b[0]) && c[0] <= a[0].max(b[0]) && c[1] >= a[1].min(b[1]) && c[1] <= a[1].max(b[1])
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

/// First pair of non-adjacent edges that intersect, if any (O(n²); zones have a handful of points).
fn self_intersection(p: &[[f64; 2]]) -> Option<(usize, usize)> {
    let n = p.len();
    for i in 0..n {
        for j in i + 1..n {
            // Adjacent edges share a vertex by construction; that is not a crossing.
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            if segments_intersect(p[i], p[(i + 1) % n], p[j], p[(j + 1) % n]) {
                return Some((i, j));
            }
        }
    }
    None
}

/// Even-odd point-in-polygon test (ray casting). Points exactly on an edge may fall either way,
/// which the hysteresis absorbs.
pub fn point_in_polygon(pt: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = poly.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > pt[1]) != (b[1] > pt[1]) {
            let x = a[0] + (pt[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if pt[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// The foot point (bottom centre) of a track's box, normalised by the frame size.
pub fn foot_point(t: &TrackOutput, frame_w: u32, frame_h: u32) -> [f64; 2] {
    let b = t.bbox;
    [f64::from(b.x + b.w / 2.0) / f64::from(frame_w.max(1)), f64::from(b.y + b.h) / f64::from(frame_h.max(1))]
}

/// Minimum dwell times of the membership hysteresis, in seconds of frame time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hysteresis {
    /// Inside continuously this long before an enter (or, for a line, on the new side before a crossing).
    pub enter_s: f64,
    /// Outside continuously this long before an exit.
    pub exit_s: f64,
    /// A track not output for this long has left every zone (at its last-seen time).
    pub gone_s: f64,
}

impl Default for Hysteresis {
    /// About three frames at 5–7 fps each way: longer than detector jitter, short next to a visit.
    fn default() -> Self {
        Hysteresis { enter_s: 0.5, exit_s: 0.5, gone_s: 1.0 }
    }
}

/// Direction of an entrance-line crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the line's left to its right (see [`ZoneSpec::line`]).
    In,
    /// From its right to its left.
    Out,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneEventKind {
    /// The track entered an area zone.
    Enter,
    /// The track left an area zone (or disappeared while in it).
    Exit,
    /// The track crossed an entrance line.
    Cross(Direction),
}

/// A zone event. `t` is when the change began (the first frame on the new side), in frame seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEvent {
    /// Time the change began.
    pub t: f64,
    /// Track id.
    pub track_id: u64,
    /// Zone id.
    pub zone: String,
    /// What happened.
    pub kind: ZoneEventKind,
}

/// Debounced binary state of one track against one zone.
#[derive(Debug, Clone, Copy)]
struct Debounce {
    /// Committed state (inside, or for a line: on the right side).
    state: bool,
    /// A change to `!state` seen since this time and not yet confirmed.
    pending_since: Option<f64>,
    /// For lines: the pending change really crossed the segment (not around its end).
    pending_crossed: bool,
}

/// Per-track state.
#[derive(Debug, Clone)]
struct TrackState {
    last_seen: f64,
    last_point: [f64; 2],
    per_zone: Vec<Option<Debounce>>,
}

/// All zones of one camera and the debounced membership of every track.
#[derive(Debug, Clone)]
pub struct ZoneSet {
    zones: Vec<Zone>,
    hyst: Hysteresis,
    frame_w: u32,
    frame_h: u32,
    tracks: HashMap<u64, TrackState>,
    /// Time of the latest update: only tracks seen then are counted.
    last_t: Option<f64>,
}

impl ZoneSet {
    /// A zone set for frames of `frame_w`×`frame_h` pixels.
    pub fn new(zones: Vec<Zone>, hyst: Hysteresis, frame_w: u32, frame_h: u32) -> ZoneSet {
        ZoneSet { zones, hyst, frame_w, frame_h, tracks: HashMap::new(), last_t: None }
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Changes the frame size (the stream's resolution changed); memberships carry over because
    /// zones are normalised.
    pub fn set_frame_size(&mut self, frame_w: u32, frame_h: u32) {
        self.frame_w = frame_w;
        self.frame_h = frame_h;
    }

    /// Feeds one frame's tracks at time `t` (seconds, non-decreasing) and returns the events it
    /// confirmed, ordered by time.
    pub fn update(&mut self, t: f64, tracks: &[TrackOutput]) -> Vec<ZoneEvent> {
        let mut events = Vec::new();
        self.last_t = Some(t);
        let n = self.zones.len();
        for tr in tracks {
            let p = foot_point(tr, self.frame_w, self.frame_h);
            let st = self.tracks.entry(tr.id).or_insert_with(|| TrackState {
                last_seen: t,
                last_point: p,
                per_zone: vec![None; n],
            });
            let prev_point = st.last_point;
            for (zi, zone) in self.zones.iter().enumerate() {
                step_zone(zone, &self.hyst, t, tr.id, prev_point, p, &mut st.per_zone[zi], &mut events);
            }
            st.last_seen = t;
            st.last_point = p;
        }
        // Tracks no longer output: after `gone_s`, they leave every zone at their last-seen time.
        let gone: Vec<u64> =
            self.tracks.iter().filter(|(_, s)| t - s.last_seen >= self.hyst.gone_s).map(|(&id, _)| id).collect();
        for id in gone {
            self.remove_track(id, &mut events);
        }
        events.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.track_id.cmp(&b.track_id)));
        events
    }

    /// Ends every open membership (end of the video or of the session) and returns the exits.
    pub fn finish(&mut self) -> Vec<ZoneEvent> {
        let mut events = Vec::new();
        let mut ids: Vec<u64> = self.tracks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.remove_track(id, &mut events);
        }
        events
    }

    fn remove_track(&mut self, id: u64, events: &mut Vec<ZoneEvent>) {
        let Some(st) = self.tracks.remove(&id) else { return };
        for (zone, d) in self.zones.iter().zip(&st.per_zone) {
            if let (Shape::Polygon(_), Some(Debounce { state: true, pending_since, .. })) = (&zone.shape, d) {
                // If an exit was already pending, the person left when it began.
                let t = pending_since.unwrap_or(st.last_seen);
                events.push(ZoneEvent { t, track_id: id, zone: zone.id.clone(), kind: ZoneEventKind::Exit });
            }
        }
    }

    /// Number of tracks in the latest update that are (debounced) inside each area zone, by zone id;
    /// entrance lines are not listed. A track no longer output is not counted even while its exit
    /// is still pending, so a zone never counts more people than are in view.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (zi, zone) in self.zones.iter().enumerate() {
            if let Shape::Polygon(_) = zone.shape {
                let c = self
                    .tracks
                    .values()
                    .filter(|s| Some(s.last_seen) == self.last_t)
                    .filter(|s| matches!(s.per_zone[zi], Some(Debounce { state: true, .. })))
                    .count();
                out.insert(zone.id.clone(), c);
            }
        }
        out
    }
}

/// Advances one track's debounced state for one zone with a new observation at `p`.
#[allow(clippy::too_many_arguments)]
fn step_zone(
    zone: &Zone,
    h: &Hysteresis,
    t: f64,
    id: u64,
    prev: [f64; 2],
    p: [f64; 2],
    slot: &mut Option<Debounce>,
    events: &mut Vec<ZoneEvent>,
) {
    match &zone.shape {
        Shape::Polygon(poly) => {
            let raw = point_in_polygon(p, poly);
            // A new track starts "outside" so that one first seen inside produces an enter once the
            // dwell has passed (it was in the zone from its first frame).
            let d = slot.get_or_insert(Debounce { state: false, pending_since: None, pending_crossed: false });
            if raw == d.state {
                d.pending_since = None;
                return;
            }
            let since = *d.pending_since.get_or_insert(t);
            let need = if raw { h.enter_s } else { h.exit_s };
            if t - since >= need - 1e-9 {
                d.state = raw;
                d.pending_since = None;
                let kind = if raw { ZoneEventKind::Enter } else { ZoneEventKind::Exit };
                events.push(ZoneEvent { t: since, track_id: id, zone: zone.id.clone(), kind });
            }
        }
        Shape::Line(a, b) => {
            let side = cross(*a, *b, p);
            if side == 0.0 {
                return; // exactly on the line: no information
            }
            let right = side > 0.0;
            let Some(d) = slot else {
                // The first observation only fixes the side the track starts on.
                *slot = Some(Debounce { state: right, pending_since: None, pending_crossed: false });
                return;
            };
            if right == d.state {
                d.pending_since = None;
                return;
            }
            if d.pending_since.is_none() {
                d.pending_since = Some(t);
                // Walking around the end of the line changes side without crossing it.
                d.pending_crossed = segments_intersect(prev, p, *a, *b);
            }
            let since = d.pending_since.unwrap_or(t);
            if t - since >= h.enter_s - 1e-9 {
                d.state = right;
                d.pending_since = None;
                if d.pending_crossed {
                    let dir = if right { Direction::In } else { Direction::Out };
                    events.push(ZoneEvent { t: since, track_id: id, zone: zone.id.clone(), kind: ZoneEventKind::Cross(dir) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::BBox;

    fn spec(id: &str, kind: ZoneKindName, poly: &[[f64; 2]]) -> ZoneSpec {
        ZoneSpec { id: id.into(), kind, polygon: Some(poly.to_vec()), line: None, counter: None }
    }

    const SQUARE: [[f64; 2]; 4] = [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]];

    /// A track whose foot point is at normalised (x, y) in a 100×100 frame.
    fn at(id: u64, x: f64, y: f64) -> TrackOutput {
        TrackOutput { id, bbox: BBox { x: (x * 100.0) as f32 - 5.0, y: (y * 100.0) as f32 - 20.0, w: 10.0, h: 20.0 }, score: 0.9 }
    }

    #[test]
    fn point_in_polygon_convex_and_concave() {
        assert!(point_in_polygon([0.5, 0.5], &SQUARE));
        assert!(!point_in_polygon([0.1, 0.5], &SQUARE));
        assert!(!point_in_polygon([0.5, 0.8], &SQUARE));
        // An L shape: the notch at top-right is outside.
        let l = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]];
        assert!(point_in_polygon([0.25, 0.25], &l));
        assert!(!point_in_polygon([0.75, 0.25], &l));
        assert!(point_in_polygon([0.75, 0.75], &l));
    }

    #[test]
    fn foot_point_is_bottom_centre() {
        let t = TrackOutput { id: 1, bbox: BBox { x: 10.0, y: 20.0, w: 20.0, h: 40.0 }, score: 1.0 };
        assert_eq!(foot_point(&t, 100, 200), [0.2, 0.3]);
    }

    #[test]
    fn invalid_zones_name_the_zone() {
        let e = |s: ZoneSpec| Zone::from_spec(&s).expect_err("must be rejected").to_string();
        let msg = e(spec("few", ZoneKindName::Waiting, &[[0.0, 0.0], [1.0, 1.0]]));
        assert!(msg.contains("`few`") && msg.contains("at least 3"), "{msg}");
        let msg = e(spec("big", ZoneKindName::Waiting, &[[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]]));
        assert!(msg.contains("`big`") && msg.contains("outside 0..1"), "{msg}");
        let bow = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        let msg = e(spec("bow", ZoneKindName::Waiting, &bow));
        assert!(msg.contains("`bow`") && msg.contains("self-intersecting"), "{msg}");
        let msg = e(spec("svc", ZoneKindName::Service, &SQUARE));
        assert!(msg.contains("`svc`") && msg.contains("counter"), "{msg}");
        let msg = e(ZoneSpec { id: "door".into(), kind: ZoneKindName::Entrance, polygon: None, line: None, counter: None });
        assert!(msg.contains("`door`") && msg.contains("line"), "{msg}");
        assert!(Zone::from_spec(&spec("ok", ZoneKindName::Waiting, &SQUARE)).is_ok());
        let dup = [spec("a", ZoneKindName::Waiting, &SQUARE), spec("a", ZoneKindName::Waiting, &SQUARE)];
        assert!(matches!(validate_all(&dup), Err(ZoneError::DuplicateId(_))));
    }

    #[test]
    fn zone_file_rejects_unknown_keys_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("z.toml");
        std::fs::write(&path, "[[zones]]\nid = \"w\"\nkind = \"waiting\"\npolygon = [[0,0],[1,0],[1,1]]\ncolour = 3\n")
            .expect("write");
        let msg = ZoneFile::load(&path).expect_err("unknown key").to_string();
        assert!(msg.contains("colour"), "{msg}");
        std::fs::write(&path, "[[zones]]\nid = \"s\"\nkind = \"service\"\ncounter = 2\npolygon = [[0,0],[1,0],[1,1]]\n")
            .expect("write");
        let zones = ZoneFile::load(&path).expect("valid");
        assert_eq!(zones[0].kind, ZoneKind::Service { counter: 2 });
    }

    fn square_set() -> ZoneSet {
        let z = Zone::from_spec(&spec("wait", ZoneKindName::Waiting, &SQUARE)).expect("valid");
        ZoneSet::new(vec![z], Hysteresis { enter_s: 0.5, exit_s: 0.5, gone_s: 1.0 }, 100, 100)
    }

    #[test]
    fn hysteresis_ignores_border_flicker_and_dates_events_from_the_start() {
        let mut zs = square_set();
        let mut ev = Vec::new();
        // 10 fps. Outside, then inside from t=1.0, flickering out for two frames at t=3.0–3.1.
        for i in 0..60 {
            let t = f64::from(i) * 0.1;
            let inside = (10..30).contains(&i) || (32..50).contains(&i);
            let x = if inside { 0.3 } else { 0.2 };
            ev.extend(zs.update(t, &[at(7, x, 0.5)]));
            if i == 20 {
                assert_eq!(zs.counts()["wait"], 1);
            }
        }
        let kinds: Vec<_> = ev.iter().map(|e| (e.kind, (e.t * 10.0).round() as i32)).collect();
        assert_eq!(kinds, vec![(ZoneEventKind::Enter, 10), (ZoneEventKind::Exit, 50)], "{ev:?}");
        assert_eq!(zs.counts()["wait"], 0);
    }

    #[test]
    fn short_visits_and_vanishing_tracks() {
        let mut zs = square_set();
        // Inside for only 0.3 s: no visit at all.
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(zs.update(f64::from(i) * 0.1, &[at(1, 0.5, 0.5)]));
        }
        for i in 3..10 {
            ev.extend(zs.update(f64::from(i) * 0.1, &[at(1, 0.1, 0.1)]));
        }
        assert!(ev.is_empty(), "{ev:?}");
        // A track inside that stops being output leaves at its last-seen time after `gone_s`.
        for i in 10..20 {
            ev.extend(zs.update(f64::from(i) * 0.1, &[at(2, 0.5, 0.5)]));
        }
        assert_eq!(zs.counts()["wait"], 1);
        for i in 20..40 {
            ev.extend(zs.update(f64::from(i) * 0.1, &[]));
            // Not in view any more: not counted, even before its exit is confirmed.
            assert_eq!(zs.counts()["wait"], 0);
        }
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!((ev[1].kind, ev[1].track_id), (ZoneEventKind::Exit, 2));
        assert!((ev[1].t - 1.9).abs() < 1e-9);
        // finish() closes what is still open.
        zs.update(5.0, &[at(3, 0.5, 0.5)]);
        zs.update(6.0, &[at(3, 0.5, 0.5)]);
        let end = zs.finish();
        assert_eq!(end.len(), 1);
        assert_eq!((end[0].kind, end[0].t), (ZoneEventKind::Exit, 6.0));
    }

    fn door_set() -> ZoneSet {
        let s = ZoneSpec {
            id: "door".into(),
            kind: ZoneKindName::Entrance,
            polygon: None,
            line: Some([[0.2, 0.5], [0.8, 0.5]]),
            counter: None,
        };
        ZoneSet::new(vec![Zone::from_spec(&s).expect("valid")], Hysteresis::default(), 100, 100)
    }

    fn walk(zs: &mut ZoneSet, id: u64, pts: &[(f64, f64)]) -> Vec<ZoneEvent> {
        let mut ev = Vec::new();
        for (i, &(x, y)) in pts.iter().enumerate() {
            ev.extend(zs.update(i as f64 * 0.2, &[at(id, x, y)]));
        }
        ev
    }

    #[test]
    fn line_crossing_direction() {
        let down: Vec<(f64, f64)> = (0..10).map(|i| (0.5, 0.3 + 0.05 * f64::from(i))).collect();
        let ev = walk(&mut door_set(), 1, &down);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].kind, ZoneEventKind::Cross(Direction::In));
        let up: Vec<(f64, f64)> = down.iter().rev().copied().collect();
        let ev = walk(&mut door_set(), 1, &up);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].kind, ZoneEventKind::Cross(Direction::Out));
    }

    #[test]
    fn line_flicker_and_walking_around_the_end_do_not_count() {
        // Standing on the line, jittering across it every frame.
        let jitter: Vec<(f64, f64)> = (0..20).map(|i| (0.5, if i % 2 == 0 { 0.49 } else { 0.51 })).collect();
        assert!(walk(&mut door_set(), 1, &jitter).is_empty());
        // Walking down past the end of the segment (x = 0.9 > 0.8).
        let around: Vec<(f64, f64)> = (0..10).map(|i| (0.9, 0.3 + 0.05 * f64::from(i))).collect();
        assert!(walk(&mut door_set(), 1, &around).is_empty());
    }
}
