//! Multi-person tracker for hall cameras analysed at a low rate (5–7 fps), in the ByteTrack family.
//!
//! Why it looks the way it does:
//! * **Two-stage association** (ByteTrack): confident detections are matched to all live tracks first;
//!   the leftover low-score detections (partly occluded or seated people the detector is unsure about)
//!   may only *continue* remaining tracks, never start new ones. That keeps people alive through
//!   occlusion without letting low-score clutter become people.
//! * **Time, not frames**: every duration in [`TrackerConfig`] is in seconds of frame timestamps, so
//!   the behaviour does not change when the analysis rate changes or frames are dropped.
//! * **Low rate matching**: at 7 fps a walking person moves about a third of their height between
//!   frames, so boxes of the same person often do not overlap. Matching uses IoU, and falls back to a
//!   centre distance normalised by the person's height (with a size-ratio gate) whose radius grows with
//!   the time the track has been unmatched. Detection scores are deliberately *not* mixed into the
//!   similarity: a seated, half-hidden person has a low score and must still keep their track.
//! * **Bridging**: a confirmed track that misses a detection keeps being output on its Kalman
//!   prediction for [`TrackerConfig::coast_output_s`], so the per-frame count does not flicker when
//!   the detector misses someone for a frame or two. It stays matchable (not output) until
//!   [`TrackerConfig::lost_timeout_s`].
//! * **Static false positives**: posters, signposts and coat stands can score as people. They are
//!   perfectly rigid, so their detection box only shows sub-pixel compression noise, whereas a real
//!   person, even seated, shifts by a few pixels within tens of seconds (breathing, head and hand
//!   movement, posture). A track whose box centre stayed essentially fixed for
//!   [`TrackerConfig::static_window_s`] *and* whose mean score is below
//!   [`TrackerConfig::static_max_score`] is kept (so it keeps absorbing its detections and cannot
//!   respawn) but not output, until it moves.

use std::collections::VecDeque;

use super::detect::{BBox, Detection};

/// Tracker settings; all durations are seconds of frame time. [`Default`] is tuned for 5–7 fps hall
/// cameras and is meant to work unchanged from 384×288 to 1080p.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high" (stage 1, may start tracks).
    pub high_score: f32,
    /// Detections below this score are ignored entirely.
    pub low_score: f32,
    /// Minimum score to start a new track from an unmatched high detection.
    pub new_track_score: f32,
    /// Number of matched detections before a track is confirmed and output.
    pub min_hits: u32,
    /// A tentative (unconfirmed) track unmatched for longer than this is dropped.
    pub tentative_timeout_s: f64,
    /// A confirmed track unmatched for longer than this is deleted; a person reappearing later gets a
    /// new id.
    pub lost_timeout_s: f64,
    /// Shorter lifetime for a lost track that was *walking* when last seen (speed above
    /// [`TrackerConfig::moving_speed`]): a walker is found again quickly or has left, and a stale
    /// walking track mostly steals the id of the next person entering near it. Still people (the
    /// hall case: seated, occluded) keep [`TrackerConfig::lost_timeout_s`].
    pub lost_timeout_moving_s: f64,
    /// Speed, in person heights per second, above which a track counts as walking.
    pub moving_speed: f32,
    /// A confirmed track unmatched for at most this long is still output (on its prediction).
    pub coast_output_s: f64,
    /// Minimum similarity (IoU or the distance fallback) for a stage-1 match.
    pub match_min_sim: f32,
    /// Minimum similarity for a stage-2 (low-score detection) match; stricter, as low boxes are noisier.
    pub low_match_min_sim: f32,
    /// Centre-distance gate radius in person heights for a track matched in the previous frame.
    pub gate_base: f32,
    /// Growth of the gate radius, in person heights per second unmatched (a person walks ~1 height/s).
    pub gate_growth_per_s: f32,
    /// Upper bound of the gate radius, in person heights.
    pub gate_max: f32,
    /// Largest allowed height ratio between a track and a detection for the distance fallback.
    pub max_size_ratio: f32,
    /// Weight of the distance fallback relative to IoU (below 1 so overlap wins when it exists).
    pub fallback_weight: f32,
    /// Use optimal (Hungarian) assignment; `false` uses greedy best-similarity-first.
    pub hungarian: bool,
    /// Velocity of an unmatched track decays with this time constant, so a person who stopped behind
    /// an occluder is looked for where they were last seen rather than far away.
    pub velocity_decay_s: f64,
    /// A confirmed track kept alive only by low-score detections is output for at most this long after
    /// its last high-score detection: long enough to bridge a person walking behind someone, short
    /// enough that clutter which "stole" a track (a person walking past a poster) stops counting.
    pub low_only_output_s: f64,
    /// Observation window for static false-positive suppression; 0 disables it.
    pub static_window_s: f64,
    /// A track is static when the standard deviation of its box centre over the window is below this
    /// fraction of its height…
    pub static_max_jitter: f32,
    /// …or below this many pixels, whichever is larger (compression noise does not shrink with size).
    pub static_max_jitter_px: f32,
    /// Only tracks whose mean score over the window is below this can be suppressed: a confident
    /// still person is more likely than a confident poster.
    pub static_max_score: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high_score: 0.6,
            low_score: 0.3,
            new_track_score: 0.65,
            min_hits: 2,
            tentative_timeout_s: 0.3,
            lost_timeout_s: 5.0,
            lost_timeout_moving_s: 2.0,
            moving_speed: 0.1,
            coast_output_s: 0.45,
            match_min_sim: 0.2,
            low_match_min_sim: 0.3,
            gate_base: 0.6,
            gate_growth_per_s: 1.0,
            gate_max: 2.5,
            max_size_ratio: 1.5,
            fallback_weight: 0.5,
            hungarian: true,
            velocity_decay_s: 1.0,
            low_only_output_s: 2.0,
            static_window_s: 10.0,
            static_max_jitter: 0.03,
            static_max_jitter_px: 1.0,
            static_max_score: 0.7,
        }
    }
}

/// One tracked person in the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackOutput {
    /// Anonymous id, unique per tracker (i.e. per camera), never reused.
    pub id: u64,
    /// Box in pixels: the matched detection, or the Kalman prediction while bridging a miss.
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
}

/// Constant-velocity Kalman filter on box centre and size: state `[cx, cy, w, h, vcx, vcy, vw, vh]`
/// (velocities per second). Width and height are filtered separately (not aspect ratio) because a
/// person's width changes with pose independently of height.
#[derive(Debug, Clone, PartialEq)]
pub struct Kalman {
    /// State mean.
    pub x: [f64; 8],
    /// State covariance.
    pub p: [[f64; 8]; 8],
}

// Noise levels relative to box size: errors scale with how big the person appears, which is what makes
// one setting work from 20-px to 400-px people.
const MEAS_STD: f64 = 0.05; // detector box noise, fraction of size
const PROC_POS_STD: f64 = 0.05; // unmodelled position change, fraction of size per sqrt(s)
const PROC_VEL_STD: f64 = 0.5; // acceleration, fraction of size per s per sqrt(s)
const INIT_VEL_STD: f64 = 1.0; // initial velocity uncertainty, fraction of size per s
// Box size changes only slowly (perspective as people walk); a large size-velocity noise lets one
// half-body detection start a "shrinking" trend that collapses the predicted box while coasting.
const PROC_SIZE_VEL_STD: f64 = 0.05;
const INIT_SIZE_VEL_STD: f64 = 0.1;

// Index loops mirror the matrix equations term by term; iterator chains would hide them.
#[allow(clippy::needless_range_loop)]
impl Kalman {
    /// Starts a filter at a measured box with zero velocity.
    pub fn new(b: &BBox) -> Kalman {
        let z = measurement(b);
        let mut x = [0.0; 8];
        x[..4].copy_from_slice(&z);
        let mut p = [[0.0; 8]; 8];
        let s = size_scale(&x);
        for i in 0..4 {
            p[i][i] = (2.0 * MEAS_STD * s[i]).powi(2);
            let v = if i < 2 { INIT_VEL_STD } else { INIT_SIZE_VEL_STD };
            p[i + 4][i + 4] = (v * s[i]).powi(2);
        }
        Kalman { x, p }
    }

    /// Advances the state by `dt` seconds.
    pub fn predict(&mut self, dt: f64) {
        if dt <= 0.0 {
            return;
        }
        for i in 0..4 {
            self.x[i] += self.x[i + 4] * dt;
        }
        // P = F P F' with F = [[I, dt I], [0, I]]; done in place: rows then columns.
        for i in 0..4 {
            for j in 0..8 {
                self.p[i][j] += dt * self.p[i + 4][j];
            }
        }
        for j in 0..4 {
            for i in 0..8 {
                self.p[i][j] += dt * self.p[i][j + 4];
            }
        }
        let s = size_scale(&self.x);
        for i in 0..4 {
            self.p[i][i] += (PROC_POS_STD * s[i]).powi(2) * dt;
            let v = if i < 2 { PROC_VEL_STD } else { PROC_SIZE_VEL_STD };
            self.p[i + 4][i + 4] += (v * s[i]).powi(2) * dt;
        }
        // Keep sizes positive: a shrinking velocity must not flip a box inside out while coasting.
        self.x[2] = self.x[2].max(1.0);
        self.x[3] = self.x[3].max(1.0);
    }

    /// Multiplies the velocity by `factor` (used while unmatched).
    fn damp_velocity(&mut self, factor: f64) {
        for v in &mut self.x[4..] {
            *v *= factor;
        }
    }

    /// Corrects the state with a measured box.
    pub fn update(&mut self, b: &BBox) {
        let z = measurement(b);
        let s_scale = size_scale(&self.x);
        // S = H P H' + R, where H selects the first four state components.
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.p[i][j];
            }
            s[i][i] += (MEAS_STD * s_scale[i]).powi(2);
        }
        let Some(si) = invert4(&s) else { return };
        // K = P H' S^-1 (8x4)
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|m| self.p[i][m] * si[m][j]).sum();
            }
        }
        let y: Vec<f64> = (0..4).map(|i| z[i] - self.x[i]).collect();
        for i in 0..8 {
            self.x[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
        }
        // P = (I - K H) P
        let old = self.p;
        for i in 0..8 {
            for j in 0..8 {
                self.p[i][j] = old[i][j] - (0..4).map(|m| k[i][m] * old[m][j]).sum::<f64>();
            }
        }
        self.x[2] = self.x[2].max(1.0);
        self.x[3] = self.x[3].max(1.0);
    }

    /// The current box estimate.
    pub fn bbox(&self) -> BBox {
        BBox::from_center(self.x[0] as f32, self.x[1] as f32, self.x[2] as f32, self.x[3] as f32)
    }
}

fn measurement(b: &BBox) -> [f64; 4] {
    [b.cx() as f64, b.cy() as f64, b.w.max(1.0) as f64, b.h.max(1.0) as f64]
}

/// Scale for each of cx, cy, w, h: x-things scale with width, y-things with height.
fn size_scale(x: &[f64; 8]) -> [f64; 4] {
    [x[2], x[3], x[2], x[3]]
}

/// Inverts a 4x4 matrix by Gauss-Jordan elimination with partial pivoting.
fn invert4(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for c in 0..4 {
        let piv = (c..4).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[piv][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, piv);
        inv.swap(c, piv);
        let d = a[c][c];
        for j in 0..4 {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..4 {
            if r != c {
                let f = a[r][c];
                for j in 0..4 {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    Some(inv)
}

/// Maximum-similarity assignment; `sim[i][j]` for row i, column j, pairs below `min_sim` never match.
/// Returns (row, column) pairs.
fn assign(sim: &[Vec<f32>], min_sim: f32, hungarian: bool) -> Vec<(usize, usize)> {
    let rows = sim.len();
    let cols = sim.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    if !hungarian {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, r) in sim.iter().enumerate() {
            for (j, &s) in r.iter().enumerate() {
                if s >= min_sim {
                    pairs.push((s, i, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut ru, mut cu) = (vec![false; rows], vec![false; cols]);
        let mut out = Vec::new();
        for (_, i, j) in pairs {
            if !ru[i] && !cu[j] {
                ru[i] = true;
                cu[j] = true;
                out.push((i, j));
            }
        }
        return out;
    }
    // Hungarian (shortest augmenting path, O(n^3)) on a square matrix padded with "no match" cells.
    // Forbidden pairs cost more than leaving both sides unmatched, so they are never chosen.
    let n = rows.max(cols);
    let cost = |i: usize, j: usize| -> f64 {
        if i < rows && j < cols && sim[i][j] >= min_sim {
            1.0 - f64::from(sim[i][j])
        } else {
            1.0 + 1e-3
        }
    };
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; n + 1]);
    let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    (1..=n)
        .filter_map(|j| {
            let (i, c) = (p[j].checked_sub(1)?, j - 1);
            (i < rows && c < cols && sim[i][c] >= min_sim).then_some((i, c))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    kf: Kalman,
    confirmed: bool,
    hits: u32,
    last_t: f64,
    last_matched_t: f64,
    last_high_t: f64,
    /// Speed at the last match, in heights per second.
    speed: f32,
    score: f32,
    last_det: BBox,
    /// (time, cx, cy, h, score) of matched detections within the static window.
    history: VecDeque<(f64, f32, f32, f32, f32)>,
    first_t: f64,
    suppressed: bool,
}

impl Track {
    fn unmatched_for(&self, t: f64) -> f64 {
        t - self.last_matched_t
    }

    fn record(&mut self, t: f64, d: &Detection, window: f64) {
        self.history.push_back((t, d.bbox.cx(), d.bbox.cy(), d.bbox.h, d.score));
        while self.history.front().is_some_and(|h| h.0 < t - window) {
            self.history.pop_front();
        }
    }

    /// Static-false-positive test: see the module documentation.
    fn is_static(&self, cfg: &TrackerConfig, t: f64) -> bool {
        // Need the whole window observed, and densely enough that "no motion" is not a sampling artefact.
        if cfg.static_window_s <= 0.0 || t - self.first_t < cfg.static_window_s || self.history.len() < 8 {
            return false;
        }
        let span = self.history.back().map_or(0.0, |b| b.0) - self.history.front().map_or(0.0, |f| f.0);
        if span < 0.8 * cfg.static_window_s {
            return false;
        }
        let n = self.history.len() as f32;
        let mean = |f: fn(&(f64, f32, f32, f32, f32)) -> f32| self.history.iter().map(f).sum::<f32>() / n;
        let (mx, my, mh, ms) = (mean(|h| h.1), mean(|h| h.2), mean(|h| h.3), mean(|h| h.4));
        if ms >= cfg.static_max_score {
            return false;
        }
        let var = self.history.iter().map(|h| (h.1 - mx).powi(2) + (h.2 - my).powi(2)).sum::<f32>() / n;
        var.sqrt() < (cfg.static_max_jitter * mh).max(cfg.static_max_jitter_px)
    }
}

/// Per-camera multi-person tracker. Feed it every analysed frame in time order.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    last_t: Option<f64>,
}

impl Tracker {
    /// Creates an empty tracker.
    pub fn new(cfg: TrackerConfig) -> Tracker {
        Tracker { cfg, tracks: Vec::new(), next_id: 1, last_t: None }
    }

    /// The settings in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Similarity of a track (predicted box) and a detection: IoU, or the gated distance fallback.
    fn similarity(&self, tr: &Track, d: &BBox, t: f64) -> f32 {
        let p = tr.kf.bbox();
        let iou = p.iou(d);
        if tr.suppressed {
            // A suppressed static object must not grab people walking past it.
            return iou;
        }
        let ratio = (p.h / d.h).max(d.h / p.h);
        if !ratio.is_finite() || ratio > self.cfg.max_size_ratio {
            return iou;
        }
        let h = 0.5 * (p.h + d.h);
        let dist = ((p.cx() - d.cx()).powi(2) + (p.cy() - d.cy()).powi(2)).sqrt() / h.max(1.0);
        let gate = (self.cfg.gate_base + self.cfg.gate_growth_per_s * tr.unmatched_for(t) as f32).min(self.cfg.gate_max);
        let fallback = if dist < gate { self.cfg.fallback_weight * (1.0 - dist / gate) } else { 0.0 };
        iou.max(fallback)
    }

    /// Similarity for stage 2 (low-score detections): IoU only, and only between similar sizes. Low
    /// boxes are often half bodies or merged groups; letting them continue a track by distance, or
    /// with a very different size, drags the filter onto the wrong thing (seen on PETS: a half-body box
    /// shrank a track until it was lost, and a walker's track was captured by a signpost).
    fn low_similarity(&self, tr: &Track, d: &BBox) -> f32 {
        let p = tr.kf.bbox();
        let ratio = (p.h / d.h).max(d.h / p.h);
        if !ratio.is_finite() || ratio > self.cfg.max_size_ratio {
            return 0.0;
        }
        p.iou(d)
    }

    /// Processes the detections of the frame at time `t_seconds` (monotonic; any epoch) and returns
    /// the people to report for this frame. A frame with no detections still advances the tracks.
    pub fn update(&mut self, t_seconds: f64, dets: &[Detection]) -> Vec<TrackOutput> {
        let t = t_seconds;
        // A time jump backwards (camera clock reset) invalidates all motion state: start over.
        if self.last_t.is_some_and(|l| t < l) {
            self.tracks.clear();
        }
        let first_frame = self.last_t.is_none();
        self.last_t = Some(t);

        for tr in &mut self.tracks {
            let dt = t - tr.last_t;
            tr.kf.predict(dt);
            if tr.unmatched_for(tr.last_t) > 0.0 && self.cfg.velocity_decay_s > 0.0 {
                tr.kf.damp_velocity((-dt / self.cfg.velocity_decay_s).exp());
            }
            tr.last_t = t;
        }

        let valid = |d: &&Detection| {
            d.score >= self.cfg.low_score && d.bbox.w > 0.0 && d.bbox.h > 0.0 && d.bbox.x.is_finite() && d.bbox.y.is_finite()
        };
        let (high, low): (Vec<&Detection>, Vec<&Detection>) =
            dets.iter().filter(valid).partition(|d| d.score >= self.cfg.high_score);

        // Stage 1: confident detections against every track.
        let all: Vec<usize> = (0..self.tracks.len()).collect();
        let sim: Vec<Vec<f32>> = all
            .iter()
            .map(|&ti| high.iter().map(|d| self.similarity(&self.tracks[ti], &d.bbox, t)).collect())
            .collect();
        let m1 = assign(&sim, self.cfg.match_min_sim, self.cfg.hungarian);
        let mut track_matched = vec![false; self.tracks.len()];
        let mut high_used = vec![false; high.len()];
        let mut updates: Vec<(usize, Detection)> = Vec::new();
        for (ti, di) in m1 {
            track_matched[ti] = true;
            high_used[di] = true;
            updates.push((ti, *high[di]));
        }

        // Stage 2: low-score detections may only continue confirmed tracks left over from stage 1.
        let rest: Vec<usize> = (0..self.tracks.len()).filter(|&i| !track_matched[i] && self.tracks[i].confirmed).collect();
        let sim2: Vec<Vec<f32>> = rest
            .iter()
            .map(|&ti| low.iter().map(|d| self.low_similarity(&self.tracks[ti], &d.bbox)).collect())
            .collect();
        for (r, di) in assign(&sim2, self.cfg.low_match_min_sim, self.cfg.hungarian) {
            track_matched[rest[r]] = true;
            updates.push((rest[r], *low[di]));
        }

        for (ti, d) in updates {
            let window = self.cfg.static_window_s;
            let min_hits = self.cfg.min_hits;
            let high_score = self.cfg.high_score;
            let tr = &mut self.tracks[ti];
            tr.kf.update(&d.bbox);
            tr.speed = (tr.kf.x[4].hypot(tr.kf.x[5]) / tr.kf.x[3].max(1.0)) as f32;
            tr.hits += 1;
            tr.last_matched_t = t;
            if d.score >= high_score {
                tr.last_high_t = t;
            }
            tr.score = d.score;
            tr.last_det = d.bbox;
            tr.record(t, &d, window);
            if tr.hits >= min_hits {
                tr.confirmed = true;
            }
        }

        // Drop what has been gone too long.
        let cfg = &self.cfg;
        self.tracks.retain(|tr| {
            let gone = tr.unmatched_for(t);
            if tr.confirmed {
                let walking = tr.speed > cfg.moving_speed;
                gone <= if walking { cfg.lost_timeout_moving_s.min(cfg.lost_timeout_s) } else { cfg.lost_timeout_s }
            } else {
                gone <= cfg.tentative_timeout_s
            }
        });

        // New tracks from confident detections nobody claimed.
        for (di, d) in high.iter().enumerate() {
            if high_used[di] || d.score < self.cfg.new_track_score {
                continue;
            }
            let mut tr = Track {
                id: self.next_id,
                kf: Kalman::new(&d.bbox),
                // ByteTrack confirms on the first frame so a restarted stream counts immediately.
                confirmed: first_frame || self.cfg.min_hits <= 1,
                hits: 1,
                last_t: t,
                last_matched_t: t,
                last_high_t: t,
                speed: 0.0,
                score: d.score,
                last_det: d.bbox,
                history: VecDeque::new(),
                first_t: t,
                suppressed: false,
            };
            tr.record(t, d, self.cfg.static_window_s);
            self.next_id += 1;
            self.tracks.push(tr);
        }

        let mut out = Vec::new();
        for tr in &mut self.tracks {
            tr.suppressed = tr.is_static(&self.cfg, t);
            if !tr.confirmed || tr.suppressed || t - tr.last_high_t > self.cfg.low_only_output_s {
                continue;
            }
            let gone = tr.unmatched_for(t);
            if gone <= 0.0 {
                out.push(TrackOutput { id: tr.id, bbox: tr.last_det, score: tr.score });
            } else if gone <= self.cfg.coast_output_s {
                out.push(TrackOutput { id: tr.id, bbox: tr.kf.bbox(), score: tr.score });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection { bbox: BBox { x, y, w: 40.0, h: 100.0 }, score }
    }

    #[test]
    fn kalman_predict_and_update() {
        let mut kf = Kalman::new(&BBox::from_center(100.0, 200.0, 40.0, 100.0));
        // Feed a box moving +10 px/s in x at 5 fps; the filter must learn the velocity.
        for k in 1..=25 {
            kf.predict(0.2);
            kf.update(&BBox::from_center(100.0 + 2.0 * k as f32, 200.0, 40.0, 100.0));
        }
        assert!((kf.x[4] - 10.0).abs() < 1.0, "vx {}", kf.x[4]);
        assert!((kf.x[0] - 150.0).abs() < 1.0, "cx {}", kf.x[0]);
        let var_before = kf.p[0][0];
        kf.predict(1.0);
        assert!((kf.x[0] - 160.0).abs() < 1.5, "predicted cx {}", kf.x[0]);
        assert!(kf.p[0][0] > var_before, "prediction must grow uncertainty");
        kf.update(&BBox::from_center(160.0, 200.0, 40.0, 100.0));
        assert!(kf.p[0][0] < var_before * 4.0);
        let b = kf.bbox();
        assert!((b.w - 40.0).abs() < 0.5 && (b.h - 100.0).abs() < 0.5);
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn invert4_roundtrip() {
        let m = [[4.0, 1.0, 0.0, 0.5], [1.0, 3.0, 0.2, 0.0], [0.0, 0.2, 2.0, 0.1], [0.5, 0.0, 0.1, 1.0]];
        let inv = invert4(&m).expect("invertible");
        for i in 0..4 {
            for j in 0..4 {
                let v: f64 = (0..4).map(|k| m[i][k] * inv[k][j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn hungarian_beats_greedy_where_it_should() {
        // Greedy takes 0.9 (row0,col0) and then row1 has nothing; optimal pairs (0,1) and (1,0).
        let sim = vec![vec![0.9, 0.8], vec![0.7, 0.0]];
        let mut h = assign(&sim, 0.2, true);
        h.sort();
        assert_eq!(h, vec![(0, 1), (1, 0)]);
        assert_eq!(assign(&sim, 0.2, false), vec![(0, 0)]);
        // Rectangular and thresholded.
        let sim = vec![vec![0.1, 0.5, 0.0]];
        assert_eq!(assign(&sim, 0.2, true), vec![(0, 1)]);
    }

    #[test]
    fn keeps_id_through_two_missed_frames() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let dt = 1.0 / 7.0;
        let mut id = None;
        for k in 0..6 {
            let out = tr.update(k as f64 * dt, &[det(100.0 + 8.0 * k as f32, 50.0, 0.8)]);
            id = Some(out[0].id);
        }
        // Two frames with no detection: still output (bridging), same id.
        for k in 6..8 {
            let out = tr.update(k as f64 * dt, &[]);
            assert_eq!(out.len(), 1, "bridged output at frame {k}");
            assert_eq!(Some(out[0].id), id);
            assert!((out[0].bbox.x - (100.0 + 8.0 * k as f32)).abs() < 8.0, "prediction follows motion");
        }
        let out = tr.update(8.0 * dt, &[det(164.0, 50.0, 0.8)]);
        assert_eq!(out.len(), 1);
        assert_eq!(Some(out[0].id), id);
    }

    #[test]
    fn fast_mover_without_overlap_keeps_id() {
        // At 5 fps a person walking across the view moves more than their width between frames.
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut ids = Vec::new();
        for k in 0..10 {
            let out = tr.update(k as f64 * 0.2, &[det(100.0 + 45.0 * k as f32, 50.0, 0.8)]);
            ids.extend(out.iter().map(|o| o.id));
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }

    #[test]
    fn low_score_detection_continues_but_does_not_start_tracks() {
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.update(0.0, &[det(100.0, 50.0, 0.8)]);
        tr.update(0.2, &[det(101.0, 50.0, 0.8)]);
        // Occluded: only a low-score box. Same id, and the lone low box elsewhere is not a person.
        let out = tr.update(0.4, &[det(102.0, 50.0, 0.3), det(500.0, 50.0, 0.3)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox.x, 102.0);
        for k in 3..20 {
            let out = tr.update(k as f64 * 0.2, &[det(500.0, 50.0, 0.3)]);
            assert!(out.iter().all(|o| o.bbox.x < 300.0), "{out:?}");
        }
    }

    #[test]
    fn new_id_after_lost_timeout() {
        let cfg = TrackerConfig::default();
        let timeout = cfg.lost_timeout_s;
        let mut tr = Tracker::new(cfg);
        let a = tr.update(0.0, &[det(100.0, 50.0, 0.8)])[0].id;
        tr.update(0.2, &[det(100.0, 50.0, 0.8)]);
        // Back in the same place just before the timeout: same person.
        let b = tr.update(0.2 + timeout - 0.1, &[det(100.0, 50.0, 0.8)]);
        assert_eq!(b[0].id, a);
        // Gone for longer than the timeout (time-based, whatever the number of frames in between).
        let t0 = 0.2 + timeout - 0.1;
        assert!(tr.update(t0 + 1.0, &[]).is_empty(), "not output after the bridging time");
        tr.update(t0 + timeout + 0.5, &[]);
        tr.update(t0 + timeout + 0.7, &[det(100.0, 50.0, 0.8)]);
        let c = tr.update(t0 + timeout + 0.9, &[det(100.0, 50.0, 0.8)]);
        assert_eq!(c.len(), 1);
        assert_ne!(c[0].id, a);
    }

    #[test]
    fn static_false_positive_suppressed_but_jittering_person_kept() {
        let cfg = TrackerConfig::default();
        let window = cfg.static_window_s;
        let mut tr = Tracker::new(cfg);
        // A poster: medium score, box fixed to within compression noise (±0.2 px).
        // A seated person: same score, small deterministic "breathing / fidgeting" motion of a few px.
        let dt = 1.0 / 7.0;
        let frames = ((window + 5.0) / dt) as usize;
        let mut last = Vec::new();
        for k in 0..frames {
            let noise = if k % 2 == 0 { 0.2 } else { -0.2 };
            // ~4 px standard deviation on a 90 px tall person: posture shifts plus frame-to-frame fidgeting.
            let fidget = 5.0 * ((k as f32) * 0.1).sin() + 2.0 * ((k as f32) * 0.9).cos();
            let poster = Detection { bbox: BBox { x: 30.0 + noise, y: 100.0, w: 18.0, h: 34.0 }, score: 0.66 };
            let person = Detection {
                bbox: BBox { x: 300.0 + fidget, y: 200.0 - 0.5 * fidget, w: 50.0, h: 90.0 },
                score: 0.66,
            };
            last = tr.update(k as f64 * dt, &[poster, person]);
            if (k as f64) * dt < window - 1.0 {
                assert_eq!(last.len(), 2, "both output before the window has elapsed (frame {k})");
            }
        }
        assert_eq!(last.len(), 1, "{last:?}");
        assert!(last[0].bbox.x > 200.0, "the person is kept: {last:?}");
        // A confident static detection is not suppressed (a person standing very still).
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..frames {
            last = tr.update(k as f64 * dt, &[Detection { bbox: BBox { x: 30.0, y: 100.0, w: 18.0, h: 34.0 }, score: 0.85 }]);
        }
        assert_eq!(last.len(), 1);
    }
}
