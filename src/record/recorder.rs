//! The recorder of one camera stream: turns [`StreamEvent`]s into segment files and
//! index rows. It runs on its own thread so that a slow disk never stalls network
//! ingest of any camera; it talks to the database through the runtime handle.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::segment::{Finished, SegmentFile};
use super::storage::{segment_path, Storage};
use crate::camera::health::{StreamHealth, StreamState};
use crate::camera::session::StreamEvent;
use crate::camera::{Frame, VideoParams};
use crate::store::{NewSegment, SegmentClose, Store};
use crate::time::WallUs;

/// Two frames further apart than this in RTP time are a discontinuity, not a slow frame.
const MAX_FRAME_GAP_90K: i64 = 10 * 90_000;
/// A new segment starting within this of the previous end continues it seamlessly.
const CONTIGUOUS_US: i64 = 1_000_000;

/// Settings of a recorder.
#[derive(Clone, Debug)]
pub struct RecorderSettings {
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    /// Target segment length.
    pub segment_seconds: u32,
    /// Fragment length.
    pub fragment_ms: u32,
    /// fdatasync every fragment.
    pub sync_fragments: bool,
}

enum Opened {
    Yes,
    /// Not a key frame (or no parameters yet): nothing to start a file with.
    WaitingForKey,
    /// Storage or the index refused: this frame is lost.
    Refused,
}

struct OpenSegment {
    id: i64,
    rel: String,
    file: SegmentFile,
    start_us: WallUs,
    start_pts: i64,
}

/// Records one stream.
pub struct Recorder {
    cfg: RecorderSettings,
    storage: Arc<Storage>,
    store: Store,
    rt: Handle,
    health: Arc<StreamHealth>,
    params: Option<VideoParams>,
    current: Option<OpenSegment>,
    /// The latest frame, kept until the next one tells its duration.
    held: Option<Frame>,
    last_duration: u32,
    last_end_us: Option<WallUs>,
    /// Recording was interrupted since `last_end_us`.
    interrupted: bool,
    /// Closes that failed (database unavailable) and are retried.
    unclosed: Vec<(i64, SegmentClose)>,
}

impl Recorder {
    /// A recorder; `last_end_us` is the end of the stream's latest stored segment.
    pub fn new(
        cfg: RecorderSettings,
        storage: Arc<Storage>,
        store: Store,
        rt: Handle,
        health: Arc<StreamHealth>,
        last_end_us: Option<WallUs>,
    ) -> Self {
        Recorder {
            cfg,
            storage,
            store,
            rt,
            health,
            params: None,
            current: None,
            held: None,
            last_duration: 90_000 / 25,
            last_end_us,
            interrupted: last_end_us.is_some(),
            unclosed: Vec::new(),
        }
    }

    /// Consumes events until the channel closes, then closes the open segment.
    pub fn run(mut self, mut rx: mpsc::Receiver<StreamEvent>) {
        while let Some(ev) = rx.blocking_recv() {
            match ev {
                StreamEvent::Params(p) => {
                    if self.params.as_ref() != Some(&p) {
                        // New codec parameters need a new sample entry, so a new file.
                        self.end_segment();
                        self.params = Some(p);
                    }
                }
                StreamEvent::Frames(frames) => frames.into_iter().for_each(|f| self.on_frame(f)),
                StreamEvent::Disconnected => {
                    self.end_segment();
                    self.interrupted = true;
                }
            }
        }
        self.end_segment();
        self.retry_unclosed();
    }

    fn on_frame(&mut self, f: Frame) {
        if let Some(h) = self.held.take() {
            let d = f.pts_90k - h.pts_90k;
            if d <= 0 || d > MAX_FRAME_GAP_90K {
                tracing::warn!(camera = %self.cfg.camera_id, delta_90k = d, "timestamp discontinuity; starting a new segment");
                self.held = Some(h);
                self.end_segment();
                self.interrupted = true;
            } else {
                self.last_duration = u32::try_from(d).unwrap_or(u32::MAX);
                self.append(h, self.last_duration);
            }
        }
        let seg_90k = i64::from(self.cfg.segment_seconds) * 90_000;
        if f.is_key && self.current.as_ref().is_some_and(|c| f.pts_90k - c.start_pts >= seg_90k) {
            self.end_segment();
        }
        if self.current.is_none() {
            match self.try_open(&f) {
                Opened::Yes => {}
                Opened::WaitingForKey => {
                    self.health.skipped(1);
                    return;
                }
                Opened::Refused => {
                    // Lost footage: the next segment must start after a flagged gap.
                    self.health.dropped(1);
                    self.interrupted = true;
                    return;
                }
            }
        }
        self.held = Some(f);
    }

    /// Starts a segment at `f` if possible.
    fn try_open(&mut self, f: &Frame) -> Opened {
        if !self.storage.accepting() {
            self.health.set_state(StreamState::StorageFull);
            return Opened::Refused;
        }
        let Some(params) = self.params.clone() else { return Opened::WaitingForKey };
        if !f.is_key {
            return Opened::WaitingForKey;
        }
        if self.health.state() == StreamState::StorageFull {
            self.health.set_state(StreamState::Streaming);
        }
        self.retry_unclosed();
        let contiguous = !self.interrupted
            && self.last_end_us.is_some_and(|e| (f.wall_us - e).abs() < CONTIGUOUS_US);
        let start_us = match self.last_end_us {
            Some(e) if contiguous => e,
            _ => f.wall_us,
        };
        // Any break after a previous segment is a gap an auditor must see.
        let gap_before = self.last_end_us.is_some() && !contiguous;
        let rel = segment_path(&self.cfg.camera_id, &self.cfg.stream, start_us);
        let row = NewSegment {
            camera_id: self.cfg.camera_id.clone(),
            stream: self.cfg.stream.clone(),
            path: rel.clone(),
            start_us,
            gap_before,
            clock_source: self.health.clock_source().to_owned(),
            codec: params.codec.clone(),
            width: params.width,
            height: params.height,
            sample_entry: params.sample_entry.clone(),
        };
        // The row comes first: a file without a row would be an orphan after a crash,
        // while an open row without a file is simply dropped by recovery.
        let id = match self.rt.block_on(self.store.insert_open_segment(&row)) {
            Ok(id) => id,
            Err(e) => {
                self.fail(format!("cannot index new segment: {e}"));
                return Opened::Refused;
            }
        };
        match SegmentFile::create(&self.storage.resolve(&rel), &params, self.cfg.sync_fragments) {
            Ok(file) => {
                tracing::debug!(camera = %self.cfg.camera_id, path = %rel, gap_before, "segment opened");
                self.current = Some(OpenSegment { id, rel, file, start_us, start_pts: f.pts_90k });
                self.interrupted = false;
                Opened::Yes
            }
            Err(e) => {
                // `create` cleans up after itself; any file at this path is another segment's.
                if let Err(e2) = self.rt.block_on(self.store.forget_empty_segment(id)) {
                    tracing::error!("cannot drop index row of failed segment {id}: {e2}");
                }
                self.write_failed(e);
                Opened::Refused
            }
        }
    }

    fn append(&mut self, f: Frame, duration: u32) {
        let frag_90k = u64::from(self.cfg.fragment_ms) * 90;
        let Some(cur) = self.current.as_mut() else {
            self.health.dropped(1);
            return;
        };
        cur.file.push(f.data, duration, f.is_key);
        if cur.file.pending_90k() >= frag_90k {
            if let Err(e) = cur.file.flush_fragment() {
                self.abort_segment();
                self.write_failed(e);
            }
        }
    }

    /// Closes the open segment, including the held frame.
    fn end_segment(&mut self) {
        if let Some(h) = self.held.take() {
            if self.current.is_some() {
                self.append(h, self.last_duration);
            }
        }
        let Some(cur) = self.current.take() else { return };
        let (id, rel, start_us) = (cur.id, cur.rel, cur.start_us);
        match cur.file.finish() {
            Ok(done) => self.index(id, &rel, start_us, done),
            Err(e) => {
                self.write_failed(e);
            }
        }
    }

    /// After a write failure: keep what reached the disk, drop the rest.
    fn abort_segment(&mut self) {
        if let Some(cur) = self.current.take() {
            let done = cur.file.salvage();
            self.index(cur.id, &cur.rel, cur.start_us, done);
        }
        self.held = None;
    }

    fn index(&mut self, id: i64, rel: &str, start_us: WallUs, done: Finished) {
        let frames = done.index.frame_count();
        if frames == 0 {
            let _ = std::fs::remove_file(self.storage.resolve(rel));
            if let Err(e) = self.rt.block_on(self.store.forget_empty_segment(id)) {
                tracing::error!("cannot drop empty segment {id}: {e}");
            }
            return;
        }
        let end_us = start_us + (done.index.duration_90k() as i64) * 1_000_000 / 90_000;
        let close = SegmentClose {
            end_us,
            frames: frames as i64,
            bytes: done.bytes as i64,
            sha256: done.sha256,
            sample_index: done.index.encode(),
            recovered: false,
        };
        self.last_end_us = Some(end_us);
        if let Err(e) = self.rt.block_on(self.store.close_segment(id, &close)) {
            tracing::error!(camera = %self.cfg.camera_id, "cannot close segment {id} in the index (will retry): {e}");
            self.unclosed.push((id, close));
        }
    }

    fn retry_unclosed(&mut self) {
        let pending = std::mem::take(&mut self.unclosed);
        for (id, close) in pending {
            if let Err(e) = self.rt.block_on(self.store.close_segment(id, &close)) {
                tracing::error!("segment {id} still not closed in the index: {e}");
                self.unclosed.push((id, close));
            }
        }
    }

    fn write_failed(&mut self, e: std::io::Error) {
        let full = e.raw_os_error() == Some(28); // ENOSPC
        self.fail(format!("recording write failed: {e}"));
        if full {
            // Refuse new segments until retention has made room.
            self.storage.set_accepting(false);
            self.health.set_state(StreamState::StorageFull);
        }
        self.interrupted = true;
        self.storage.wake_retention.notify_one();
    }

    fn fail(&mut self, msg: String) {
        tracing::error!(camera = %self.cfg.camera_id, stream = %self.cfg.stream, "{msg}");
        self.health.error(msg);
    }
}
