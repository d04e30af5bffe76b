//! Live analysis of one camera: access units from ingest → [`LiveDecoder`] →
//! [`CameraAnalyzer`] → the [`LiveBoard`] the dashboard reads.
//!
//! Ingest hands frames over with `try_send` on a small bounded channel: when analysis
//! falls behind, analysis frames are dropped (and counted) while recording, which has
//! its own lossless channel, is untouched. Decoded pictures the detector has no time
//! for are dropped inside the decoder before colour conversion.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::decode::{DecodeConfig, LiveDecoder};
use super::pipeline::CameraAnalyzer;
use crate::analytics::{AnalyticsOutput, CameraAnalytics};
use crate::store::Store;
use crate::camera::{Frame, VideoParams};
use crate::time::{now_us, WallUs};

/// Batches of frames that may wait for the analysis thread before ingest drops them.
const QUEUE_BATCHES: usize = 16;
/// Lags kept for the percentiles.
const LAG_WINDOW: usize = 1000;

/// What ingest sends to analysis.
#[derive(Debug)]
pub enum AnalysisEvent {
    /// New codec parameters.
    Params(VideoParams),
    /// Access units in order.
    Frames(Vec<Frame>),
    /// The camera session ended; the next frames start a new stream.
    Restart,
}

/// Ingest's end of the feed.
#[derive(Clone, Debug)]
pub struct AnalysisSink {
    tx: SyncSender<AnalysisEvent>,
    dropped: Arc<AtomicU64>,
}

impl AnalysisSink {
    /// Hands over an event without waiting; a full queue drops frames (counted).
    pub fn offer(&self, ev: AnalysisEvent) {
        match self.tx.try_send(ev) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(AnalysisEvent::Frames(v))) => {
                self.dropped.fetch_add(v.len() as u64, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                // Params or Restart lost to a full queue: the decoder resynchronises at the
                // next key frame (it rebuilds on any decode error), so count it as a drop.
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Analysis' end of the feed.
#[derive(Debug)]
pub struct AnalysisFeed {
    rx: Receiver<AnalysisEvent>,
    dropped: Arc<AtomicU64>,
}

/// A connected sink and feed.
pub fn feed() -> (AnalysisSink, AnalysisFeed) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_BATCHES);
    let dropped = Arc::new(AtomicU64::new(0));
    (AnalysisSink { tx, dropped: dropped.clone() }, AnalysisFeed { rx, dropped })
}

/// The live, anonymous state of one camera.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveView {
    /// Camera id.
    pub camera_id: String,
    /// Wall time of the analysed frame.
    pub frame_us: Option<WallUs>,
    /// When this view was produced.
    pub updated_us: WallUs,
    /// People in view.
    pub people: usize,
    /// People per zone (debounced).
    pub zones: BTreeMap<String, usize>,
    /// Where the people in view are: `[x, y, w, h]` normalised to the frame (0..1). No track
    /// ids: a dashboard shows where people are, never who follows whom.
    pub boxes: Vec<[f32; 4]>,
    /// People in waiting zones now.
    pub waiting_now: usize,
    /// Longest current wait among people still waiting, seconds.
    pub longest_wait_s: Option<f64>,
    /// Counters whose staff seat is occupied.
    pub staffed_counters: Vec<u32>,
    /// Frames analysed since start.
    pub frames_analysed: u64,
    /// Frames dropped for analysis (queue full, or the detector busy); recording is unaffected.
    pub frames_dropped: u64,
    /// Median frame-to-state lag over the last frames, ms.
    pub lag_ms_p50: Option<f64>,
    /// 99th percentile lag, ms.
    pub lag_ms_p99: Option<f64>,
    /// The last analysis error.
    pub last_error: Option<String>,
}

/// A recent analysed picture of a camera, for the supervisors' dashboard.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// JPEG bytes, at most [`SNAPSHOT_WIDTH`] pixels wide.
    pub jpeg: bytes::Bytes,
    /// Wall time of the frame.
    pub frame_us: WallUs,
    /// The people in this very frame, as in [`LiveView::boxes`], so overlays match the picture.
    pub boxes: Vec<[f32; 4]>,
}

/// Width of dashboard snapshots: enough to see the hall, too small to read documents on desks.
pub const SNAPSHOT_WIDTH: u32 = 640;
/// Snapshots are taken at most this often per camera, so the encoder costs almost nothing.
const SNAPSHOT_INTERVAL_US: i64 = 1_000_000;

/// The live state of every analysed camera, shared with the web server.
#[derive(Debug, Default)]
pub struct LiveBoard {
    views: Mutex<BTreeMap<String, LiveView>>,
    snapshots: Mutex<BTreeMap<String, Snapshot>>,
    version: AtomicU64,
}

impl LiveBoard {
    /// A snapshot of every camera's view.
    pub fn snapshot(&self) -> Vec<LiveView> {
        self.views.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Increments on every update, so pollers can tell something changed.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// The latest snapshot of a camera.
    pub fn snapshot_of(&self, camera: &str) -> Option<Snapshot> {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).get(camera).cloned()
    }

    fn put_snapshot(&self, camera: &str, s: Snapshot) {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).insert(camera.to_owned(), s);
    }

    fn put(&self, v: LiveView) {
        self.views.lock().unwrap_or_else(|p| p.into_inner()).insert(v.camera_id.clone(), v);
        self.version.fetch_add(1, Ordering::Relaxed);
    }
}

/// Downscales and JPEG-encodes a frame for the dashboard.
fn encode_snapshot(img: &image::RgbImage) -> Result<bytes::Bytes, image::ImageError> {
    let small;
    let img = if img.width() > SNAPSHOT_WIDTH {
        let h = (u64::from(img.height()) * u64::from(SNAPSHOT_WIDTH) / u64::from(img.width().max(1))).max(1);
        small = image::imageops::resize(img, SNAPSHOT_WIDTH, u32::try_from(h).unwrap_or(1), image::imageops::FilterType::Triangle);
        &small
    } else {
        img
    };
    let mut out = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70).encode_image(img)?;
    Ok(bytes::Bytes::from(out))
}

fn percentile(lags: &VecDeque<f64>, q: f64) -> Option<f64> {
    if lags.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = lags.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v.get(i).copied()
}

/// Where one camera's analysis results go.
pub struct Outputs {
    /// The live board.
    pub board: Arc<LiveBoard>,
    /// Visits, waits, occupancy and staffing rows.
    pub analytics: CameraAnalytics,
    /// The database, written through `rt` from this (non-async) thread.
    pub store: Store,
    /// Runtime handle for database calls.
    pub rt: tokio::runtime::Handle,
}

impl Outputs {
    fn save(&self, out: &AnalyticsOutput) {
        let empty = out.samples.is_empty() && out.minutes.is_empty() && out.visits.is_empty() && out.persons.is_empty() && out.staffed.is_empty();
        if !empty {
            if let Err(e) = self.rt.block_on(self.store.save_analytics(out)) {
                tracing::warn!(camera = %out.camera_id, "cannot save analytics: {e}");
            }
        }
    }
}

/// Runs the analysis of one camera until `stop` is set or ingest goes away, then closes
/// its open visits and intervals.
pub fn run_camera(camera_id: String, feed: AnalysisFeed, analyzer: CameraAnalyzer, fps: f64, mut outputs: Outputs, stop: Arc<AtomicBool>) {
    run_loop(&camera_id, feed, analyzer, fps, &mut outputs, &stop);
    let last = outputs.analytics.finish(now_us());
    outputs.save(&last);
}

fn run_loop(camera_id: &str, feed: AnalysisFeed, mut analyzer: CameraAnalyzer, fps: f64, outputs: &mut Outputs, stop: &AtomicBool) {
    let cfg = DecodeConfig { analysis_fps: Some(fps), ..DecodeConfig::live() };
    let mut decoder: Option<LiveDecoder> = None;
    let mut params: Option<VideoParams> = None;
    let mut view = LiveView { camera_id: camera_id.to_owned(), ..LiveView::default() };
    let mut lags: VecDeque<f64> = VecDeque::with_capacity(LAG_WINDOW);
    let mut t0: Option<WallUs> = None;
    let mut last_snapshot: WallUs = i64::MIN / 2;
    let fail = |view: &mut LiveView, msg: String| {
        tracing::warn!(camera = %camera_id, "analysis: {msg}");
        view.last_error = Some(msg);
    };
    while !stop.load(Ordering::Relaxed) {
        // Without a decoder there is nothing to pull: wait for ingest instead of spinning.
        let first = if decoder.is_none() {
            match feed.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            None
        };
        let mut events: Vec<AnalysisEvent> = first.into_iter().collect();
        loop {
            match feed.rx.try_recv() {
                Ok(ev) => events.push(ev),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        for ev in events {
            match ev {
                AnalysisEvent::Params(p) => {
                    match decoder.as_mut() {
                        Some(d) => {
                            if let Err(e) = d.set_params(&p) {
                                fail(&mut view, format!("decoder cannot take new parameters: {e}"));
                                decoder = None;
                            }
                        }
                        None => match LiveDecoder::new(&p, &cfg) {
                            Ok(d) => decoder = Some(d),
                            Err(e) => fail(&mut view, format!("cannot start decoder: {e}")),
                        },
                    }
                    params = Some(p);
                }
                AnalysisEvent::Restart => {
                    // Timestamps restart with the session: rebuild the decoder at the next key frame.
                    decoder = params.as_ref().and_then(|p| LiveDecoder::new(p, &cfg).ok());
                }
                AnalysisEvent::Frames(frames) => {
                    let Some(d) = decoder.as_mut() else { continue };
                    for f in &frames {
                        if let Err(e) = d.push(f) {
                            fail(&mut view, format!("undecodable frame: {e}"));
                        }
                    }
                }
            }
        }
        let Some(d) = decoder.as_mut() else { continue };
        let frame = match d.pull(Duration::from_millis(40)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                fail(&mut view, format!("decoder restarted: {e}"));
                continue;
            }
        };
        let wall = frame.wall_us.unwrap_or_else(now_us);
        let start = *t0.get_or_insert(wall);
        let t = (wall - start) as f64 / 1e6;
        match analyzer.process(t, &frame.image) {
            Ok(a) => {
                let now = now_us();
                if lags.len() == LAG_WINDOW {
                    lags.pop_front();
                }
                lags.push_back((now - wall) as f64 / 1000.0);
                view.frame_us = Some(wall);
                view.updated_us = now;
                let out = outputs.analytics.on_frame(wall, &a);
                outputs.save(&out);
                view.people = a.tracks.len();
                let (fw, fh) = (frame.image.width().max(1) as f32, frame.image.height().max(1) as f32);
                view.boxes = a.tracks.iter().map(|t| [t.bbox.x / fw, t.bbox.y / fh, t.bbox.w / fw, t.bbox.h / fh]).collect();
                view.zones = a.counts;
                view.waiting_now = out.live.waiting_now;
                view.longest_wait_s = out.live.longest_wait_s;
                view.staffed_counters = out.live.staffed_counters;
                view.frames_analysed += 1;
                view.frames_dropped = feed.dropped.load(Ordering::Relaxed) + d.stats().dropped;
                view.lag_ms_p50 = percentile(&lags, 0.5);
                view.lag_ms_p99 = percentile(&lags, 0.99);
                outputs.board.put(view.clone());
                if wall - last_snapshot >= SNAPSHOT_INTERVAL_US {
                    last_snapshot = wall;
                    match encode_snapshot(&frame.image) {
                        Ok(jpeg) => outputs.board.put_snapshot(camera_id, Snapshot { jpeg, frame_us: wall, boxes: view.boxes.clone() }),
                        Err(e) => fail(&mut view, format!("snapshot: {e}")),
                    }
                }
            }
            Err(e) => fail(&mut view, format!("detector failed: {e}")),
        }
    }
}
