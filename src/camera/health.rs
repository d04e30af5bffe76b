//! Live health counters of one camera stream, shared between its ingest task,
//! its recorder and the task that persists them.

use std::sync::Mutex;

use crate::store::HealthRow;
use crate::time::{now_us, WallUs};

/// The state of a camera stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Connecting or waiting for the first frame.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// The last attempt failed; waiting before the next.
    Retrying,
    /// Frames arrive but storage refuses new recordings.
    StorageFull,
    /// Stopped because the server is shutting down.
    Stopped,
}

impl StreamState {
    /// Name shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Streaming => "streaming",
            StreamState::Retrying => "retrying",
            StreamState::StorageFull => "storage_full",
            StreamState::Stopped => "stopped",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: StreamState,
    last_frame_us: Option<WallUs>,
    frames: i64,
    bytes: i64,
    dropped: i64,
    skipped: i64,
    reconnects: i64,
    last_error: Option<(String, WallUs)>,
    clock_source: Option<&'static str>,
    codec: Option<(String, u16, u16)>,
    /// (when, frames, bytes) at the previous rate measurement.
    window: (WallUs, i64, i64),
    rates: Option<(f64, f64)>,
}

/// Shared health of one stream.
#[derive(Debug)]
pub struct StreamHealth {
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    inner: Mutex<Inner>,
}

impl StreamHealth {
    /// Fresh health for a stream about to connect.
    pub fn new(camera_id: &str, stream: &str) -> Self {
        StreamHealth {
            camera_id: camera_id.to_owned(),
            stream: stream.to_owned(),
            inner: Mutex::new(Inner {
                state: StreamState::Connecting,
                last_frame_us: None,
                frames: 0,
                bytes: 0,
                dropped: 0,
                skipped: 0,
                reconnects: 0,
                last_error: None,
                clock_source: None,
                codec: None,
                window: (now_us(), 0, 0),
                rates: None,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update of counters;
        // the counters are still the best information we have.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Sets the state.
    pub fn set_state(&self, s: StreamState) {
        self.with(|i| i.state = s);
    }

    /// Current state.
    pub fn state(&self) -> StreamState {
        self.with(|i| i.state)
    }

    /// Counts a received frame, noting where its wall time came from.
    pub fn frame(&self, wall_us: WallUs, bytes: usize, clock: &'static str) {
        self.with(|i| {
            i.clock_source = Some(clock);
            i.frames += 1;
            i.bytes += bytes as i64;
            i.last_frame_us = Some(wall_us);
            if i.state == StreamState::Connecting || i.state == StreamState::Retrying {
                i.state = StreamState::Streaming;
            }
        });
    }

    /// Counts frames that were received but not recorded (lost footage).
    pub fn dropped(&self, n: i64) {
        self.with(|i| i.dropped += n);
    }

    /// Counts frames skipped while waiting for a key frame to start a segment.
    pub fn skipped(&self, n: i64) {
        self.with(|i| i.skipped += n);
    }

    /// Counts a reconnection.
    pub fn reconnected(&self) {
        self.with(|i| i.reconnects += 1);
    }

    /// Records an error message (already free of credentials).
    pub fn error(&self, msg: String) {
        self.with(|i| i.last_error = Some((msg, now_us())));
    }

    /// Records where wall time comes from and the codec.
    pub fn stream_info(&self, clock: &'static str, codec: &str, w: u16, h: u16) {
        self.with(|i| {
            i.clock_source = Some(clock);
            i.codec = Some((codec.to_owned(), w, h));
        });
    }

    /// Where wall time currently comes from.
    pub fn clock_source(&self) -> &'static str {
        self.with(|i| i.clock_source.unwrap_or("receive"))
    }

    /// A snapshot for the database, advancing the fps/bitrate window (call periodically).
    pub fn snapshot(&self) -> HealthRow {
        self.snapshot_inner(true)
    }

    /// A snapshot that leaves the measurement window alone (for API reads).
    pub fn snapshot_readonly(&self) -> HealthRow {
        self.snapshot_inner(false)
    }

    fn snapshot_inner(&self, advance: bool) -> HealthRow {
        let now = now_us();
        self.with(|i| {
            let (t0, f0, b0) = i.window;
            let dt = (now - t0) as f64 / 1e6;
            if advance && dt >= 1.0 {
                i.rates = Some(((i.frames - f0) as f64 / dt, (i.bytes - b0) as f64 * 8.0 / dt));
                i.window = (now, i.frames, i.bytes);
            }
            let streaming = matches!(i.state, StreamState::Streaming | StreamState::StorageFull);
            HealthRow {
                camera_id: self.camera_id.clone(),
                stream: self.stream.clone(),
                state: i.state.as_str().to_owned(),
                last_frame_us: i.last_frame_us,
                fps: i.rates.filter(|_| streaming).map(|r| r.0),
                bitrate_bps: i.rates.filter(|_| streaming).map(|r| r.1),
                reconnects: i.reconnects,
                last_error: i.last_error.as_ref().map(|e| e.0.clone()),
                last_error_us: i.last_error.as_ref().map(|e| e.1),
                clock_source: i.clock_source.map(str::to_owned),
                codec: i.codec.as_ref().map(|c| c.0.clone()),
                width: i.codec.as_ref().map(|c| i64::from(c.1)),
                height: i.codec.as_ref().map(|c| i64::from(c.2)),
                frames_received: i.frames,
                frames_dropped: i.dropped,
                frames_skipped: i.skipped,
                updated_us: now,
            }
        })
    }
}
