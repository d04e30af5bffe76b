//! One retina RTSP session per camera stream, reconnecting forever with capped
//! exponential backoff. Frames go to the recorder over a bounded channel; a dead
//! camera only ever affects its own task.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use retina::client::{Credentials, PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, ParametersRef};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::clock::WallClock;
use super::health::{StreamHealth, StreamState};
use super::{Frame, VideoParams};
use crate::vision::live::{AnalysisEvent, AnalysisSink};
use crate::config::{StreamConfig, StreamRole, TransportKind};
use crate::time::system_time_us;

/// Longest wait between reconnection attempts: short, because every second of
/// backoff after a camera returns is footage lost.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A session that streamed this long resets the backoff.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);
/// No frame for this long means the camera is gone even if TCP says otherwise.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// A batch of frames is handed to the recorder once it spans this much time (or at a
/// key frame), bounding what a crash can lose on top of the fragment in flight.
const BATCH_US: i64 = 200_000;
/// Pause when the socket is drained, so the next read finds many packets waiting.
/// Far below what socket buffers hold at camera bitrates, and below `BATCH_US`.
const READ_COALESCE: Duration = Duration::from_millis(100);
/// Camera clocks further than this from ours are not trusted for wall time.
const MAX_CLOCK_SKEW_US: i64 = 5_000_000;

/// What the ingest task tells the recorder.
#[derive(Debug)]
pub enum StreamEvent {
    /// Codec parameters, sent after connecting and whenever they change.
    Params(VideoParams),
    /// Access units in order. They travel in small batches because each hand-over wakes
    /// the recorder thread: per-frame hand-over cost more CPU than the recording itself.
    Frames(Vec<Frame>),
    /// The session ended; frames after this follow a gap.
    Disconnected,
}

/// Where a stream's frames go: the recorder (lossless: ingest waits for it) and
/// analysis (lossy: frames are dropped when it falls behind).
#[derive(Debug, Default)]
pub struct Sinks {
    /// The recorder's channel, if this stream is recorded.
    pub record: Option<mpsc::Sender<StreamEvent>>,
    /// Analysis, if this stream is analysed.
    pub analysis: Option<AnalysisSink>,
}

impl Sinks {
    /// Sends new parameters; false when the recorder has gone away.
    async fn params(&self, p: &VideoParams) -> bool {
        if let Some(a) = &self.analysis {
            a.offer(AnalysisEvent::Params(p.clone()));
        }
        match &self.record {
            Some(tx) => tx.send(StreamEvent::Params(p.clone())).await.is_ok(),
            None => true,
        }
    }

    /// Sends a batch of frames; false when the recorder has gone away.
    async fn frames(&self, batch: Vec<Frame>) -> bool {
        if let Some(a) = &self.analysis {
            a.offer(AnalysisEvent::Frames(batch.clone()));
        }
        match &self.record {
            // Awaiting here is deliberate: recording must not lose frames, so a stalled
            // disk pushes back on the camera connection instead.
            Some(tx) => tx.send(StreamEvent::Frames(batch)).await.is_ok(),
            None => true,
        }
    }

    /// Tells both sides the session ended.
    async fn disconnected(&self) {
        if let Some(a) = &self.analysis {
            a.offer(AnalysisEvent::Restart);
        }
        if let Some(tx) = &self.record {
            let _ = tx.send(StreamEvent::Disconnected).await;
        }
    }
}

/// An ingest failure, with credentials already removed from its text.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// retina reported an RTSP/RTP error.
    #[error("{0}")]
    Rtsp(String),
    /// The camera offers no H.264/H.265 video.
    #[error("no H.264 or H.265 video stream in the camera's SDP (found: {0})")]
    NoVideo(String),
    /// The camera stopped sending frames.
    #[error("no frames for {0} s")]
    Timeout(u64),
    /// The camera sent parameters retina cannot put in an MP4 sample entry.
    #[error("unusable codec parameters: {0}")]
    Params(String),
}

/// Everything needed to pull one stream.
#[derive(Clone)]
pub struct StreamSpec {
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub role: StreamRole,
    /// URL without credentials.
    pub url: Url,
    username: Option<String>,
    password: Option<String>,
    /// RTP transport.
    pub transport: TransportKind,
}

impl std::fmt::Debug for StreamSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSpec")
            .field("camera_id", &self.camera_id)
            .field("role", &self.role)
            .field("url", &self.url.as_str())
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl StreamSpec {
    /// Builds a spec from validated configuration.
    pub fn from_config(camera_id: &str, s: &StreamConfig) -> Result<Self, url::ParseError> {
        Ok(StreamSpec {
            camera_id: camera_id.to_owned(),
            role: s.role,
            url: Url::parse(&s.url)?,
            username: s.username.clone(),
            password: s.resolved_password(),
            transport: s.transport,
        })
    }

    fn credentials(&self) -> Option<Credentials> {
        self.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: self.password.clone().unwrap_or_default(),
        })
    }

    /// Removes any trace of the credentials from a message.
    fn redact(&self, msg: String) -> String {
        let mut msg = msg;
        for secret in [&self.password, &self.username].into_iter().flatten() {
            if secret.len() >= 3 {
                msg = msg.replace(secret.as_str(), "***");
            }
        }
        msg
    }
}

/// Pulls a stream until `cancel` fires, reconnecting after every failure.
pub async fn run(spec: StreamSpec, sinks: Sinks, health: Arc<StreamHealth>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    let mut first = true;
    loop {
        if !first {
            health.reconnected();
        }
        first = false;
        health.set_state(StreamState::Connecting);
        let started = Instant::now();
        let mut batch = Vec::new();
        let result = tokio::select! {
            r = pull(&spec, &sinks, &health, &cancel, &mut batch) => r,
            () = cancel.cancelled() => Ok(()),
        };
        // Whatever ended the session, frames already received are recorded.
        if !batch.is_empty() {
            sinks.frames(batch).await;
        }
        // The recorder closes its segment on this.
        sinks.disconnected().await;
        if cancel.is_cancelled() {
            health.set_state(StreamState::Stopped);
            return;
        }
        let msg = match result {
            Ok(()) => "the camera ended the stream".to_owned(),
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= HEALTHY_SESSION {
            backoff = Duration::from_millis(500);
        }
        tracing::warn!(camera = %spec.camera_id, stream = %spec.role, retry_in_ms = backoff.as_millis() as u64, "stream failed: {msg}");
        health.error(msg);
        health.set_state(StreamState::Retrying);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = cancel.cancelled() => { health.set_state(StreamState::Stopped); return; }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn video_params(p: Option<ParametersRef<'_>>) -> Result<Option<VideoParams>, IngestError> {
    let Some(ParametersRef::Video(v)) = p else {
        return Ok(None);
    };
    let sample_entry = v
        .mp4_sample_entry()
        .build()
        .map_err(|e| IngestError::Params(e.to_string()))?;
    let (w, h) = v.pixel_dimensions();
    Ok(Some(VideoParams {
        sample_entry,
        codec: v.rfc6381_codec().to_owned(),
        width: u16::try_from(w).unwrap_or(u16::MAX),
        height: u16::try_from(h).unwrap_or(u16::MAX),
    }))
}

/// One session: connect, set up the video stream, and forward frames until it fails.
async fn pull(
    spec: &StreamSpec,
    sinks: &Sinks,
    health: &StreamHealth,
    cancel: &CancellationToken,
    batch: &mut Vec<Frame>,
) -> Result<(), IngestError> {
    let rtsp = |e: retina::Error| IngestError::Rtsp(spec.redact(e.to_string()));
    let opts = SessionOptions::default()
        .creds(spec.credentials())
        .user_agent(format!("HallWatch/{}", env!("CARGO_PKG_VERSION")));
    let mut session = Session::describe(spec.url.clone(), opts).await.map_err(rtsp)?;
    let idx = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        .ok_or_else(|| {
            let found: Vec<String> = session
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            IngestError::NoVideo(found.join(", "))
        })?;
    let clock_rate = session.streams()[idx].clock_rate_hz();
    let transport = match spec.transport {
        TransportKind::Tcp => Transport::Tcp(Default::default()),
        TransportKind::Udp => Transport::Udp(Default::default()),
    };
    session
        .setup(idx, SetupOptions::default().transport(transport))
        .await
        .map_err(rtsp)?;
    let max_jump = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
    let session = session
        .play(PlayOptions::default().enforce_timestamps_with_max_jump_secs(max_jump))
        .await
        .map_err(rtsp)?;
    let mut demuxed = session.demuxed().map_err(rtsp)?;

    let mut clock = WallClock::new(clock_rate, MAX_CLOCK_SKEW_US);
    let mut params = video_params(demuxed.streams()[idx].parameters())?;
    if let Some(p) = &params {
        health.stream_info(clock.source().as_str(), &p.codec, p.width, p.height);
        if !sinks.params(p).await {
            return Ok(());
        }
    }
    let scale = |ticks: i64| -> i64 {
        if clock_rate == 90_000 {
            ticks
        } else {
            ticks * 90_000 / i64::from(clock_rate)
        }
    };
    loop {
        let due = batch.first().is_some_and(|f| batch.last().is_some_and(|l| l.wall_us - f.wall_us >= BATCH_US || l.is_key));
        if due && !sinks.frames(std::mem::take(batch)).await {
            return Ok(());
        }
        // Take what is already buffered without waiting; when nothing is, let packets
        // gather in the socket buffer for a moment before waiting on the socket. Waking
        // for every frame as it lands cost a context switch per frame, which was most of
        // the ingest CPU. (`now_or_never` polls with a no-op waker, so arriving packets
        // do not wake this task during the pause.)
        let item = match demuxed.next().now_or_never() {
            Some(item) => item,
            None => tokio::select! {
                item = async {
                    tokio::time::sleep(READ_COALESCE).await;
                    demuxed.next().await
                } => item,
                () = tokio::time::sleep(FRAME_TIMEOUT) => return Err(IngestError::Timeout(FRAME_TIMEOUT.as_secs())),
                () = cancel.cancelled() => return Ok(()),
            },
        };
        let Some(item) = item else { return Ok(()) };
        match item.map_err(rtsp)? {
            CodecItem::VideoFrame(f) if f.stream_id() == idx => {
                if f.has_new_parameters() || params.is_none() {
                    let p = video_params(demuxed.streams()[idx].parameters())?;
                    if p.is_some() && p != params {
                        params = p;
                        if let Some(p) = &params {
                            health.stream_info(clock.source().as_str(), &p.codec, p.width, p.height);
                            // Frames before the change belong to the old parameters.
                            if !batch.is_empty() && !sinks.frames(std::mem::take(batch)).await {
                                return Ok(());
                            }
                            if !sinks.params(p).await {
                                return Ok(());
                            }
                        }
                    }
                }
                let received = system_time_us(f.start_ctx().received_wall().into());
                let ts = f.timestamp();
                let wall_us = clock.frame_wall(ts.timestamp(), received);
                let is_key = f.is_random_access_point();
                let pts_90k = scale(ts.elapsed());
                let data = bytes::Bytes::from(f.into_data());
                health.frame(wall_us, data.len(), clock.source().as_str());
                batch.push(Frame { data, is_key, pts_90k, wall_us });
            }
            CodecItem::Rtcp(pkt) if pkt.stream_id() == idx => {
                let Some(ts) = pkt.rtp_timestamp() else { continue };
                let received = system_time_us(pkt.ctx().received_wall().into());
                for p in pkt.pkts() {
                    if let Ok(Some(sr)) = p.as_sender_report() {
                        clock.on_sender_report(ts.timestamp(), sr.ntp_timestamp().0, received);
                    }
                }
            }
            _ => {}
        }
    }
}
