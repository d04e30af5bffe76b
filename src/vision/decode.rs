//! Video decoding for analysis, with GStreamer.
//!
//! Two sources share one sink side:
//! * [`LiveDecoder`]: the H.264/H.265 access units ingest already receives (length-prefixed, the
//!   MP4 sample form) go into `appsrc → parser → decoder`, so a camera is never opened twice;
//! * [`FileDecoder`]: `filesrc ! decodebin`, for `hallwatch analyze`.
//!
//! The shared tail is `queue → videoconvert → videoscale → RGB caps → appsink`. Frames are chosen
//! for the analysis rate and dropped for a slow consumer *before* `videoconvert`, because colour
//! conversion of a frame nobody looks at is the most expensive waste here: a pad probe on the queue
//! input applies the rate, and in live mode the queue is leaky (one slot), so when the detector is
//! busy the decoded frame waiting there is replaced by the newer one and counted as dropped.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use image::RgbImage;

use crate::camera::{Frame, VideoParams};

/// Errors from building or running a decoding pipeline.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// GStreamer could not be initialised.
    #[error("cannot initialise GStreamer: {0}")]
    Init(String),
    /// A GStreamer element is not installed.
    #[error("GStreamer element `{0}` is missing (install gstreamer1.0-plugins-base, -good, -bad and gstreamer1.0-libav)")]
    MissingElement(&'static str),
    /// The video file does not exist.
    #[error("video file {0} not found")]
    NotFound(PathBuf),
    /// The stream parameters cannot describe a decodable stream.
    #[error("unusable stream parameters: {0}")]
    BadParams(String),
    /// An access unit is not well-formed length-prefixed NAL data; it was not decoded.
    #[error("corrupt access unit: {0}")]
    Corrupt(String),
    /// The pipeline reported an error (undecodable data, unknown format, negotiation failure).
    #[error("decoding failed in {element}: {message}{}", debug.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Stream {
        /// Element that reported it.
        element: String,
        /// GStreamer's message.
        message: String,
        /// Debug detail, if any.
        debug: Option<String>,
    },
    /// The file has no video stream, or decoding produced no frame in time.
    #[error("{0}")]
    NoVideo(String),
    /// Building or running the pipeline failed for another reason.
    #[error("pipeline: {0}")]
    Pipeline(String),
}

/// How frames are chosen and delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeConfig {
    /// Frames per second handed to the consumer; `None` hands over every frame.
    pub analysis_fps: Option<f64>,
    /// File only: the true frame rate when the container lies; frame `i` then has time `i / fps`.
    pub true_fps: Option<f64>,
    /// Drop frames (before conversion) when the consumer is slower than the stream. Live: yes, the
    /// camera does not wait. File analysis: no, the file can wait and every frame is wanted.
    pub drop_when_slow: bool,
    /// Scale output frames to this width × height; `None` keeps the decoded size.
    pub scale_to: Option<(u32, u32)>,
}

impl DecodeConfig {
    /// Live cameras: 5 fps, dropping when the detector is slow.
    pub fn live() -> DecodeConfig {
        DecodeConfig { analysis_fps: Some(5.0), true_fps: None, drop_when_slow: true, scale_to: None }
    }

    /// Files: every frame, never dropping.
    pub fn file() -> DecodeConfig {
        DecodeConfig { analysis_fps: None, true_fps: None, drop_when_slow: false, scale_to: None }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        for (name, v) in [("analysis fps", self.analysis_fps), ("true fps", self.true_fps)] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(DecodeError::BadParams(format!("{name} must be a positive number, got {v}")));
                }
            }
        }
        if matches!(self.scale_to, Some((0, _) | (_, 0))) {
            return Err(DecodeError::BadParams("scale size must be non-zero".into()));
        }
        Ok(())
    }
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    /// 0-based number of this frame among all decoded frames of the stream (before rate selection
    /// and drops), so a file's frame `n` is annotation frame `index + 1`.
    pub index: u64,
    /// Presentation time in seconds (file: from its start, or `index / true_fps`; live: the
    /// session's 90 kHz clock).
    pub pts_s: f64,
    /// Wall-clock time in µs since the Unix epoch (live only: the access unit's ingest time).
    pub wall_us: Option<i64>,
    /// The picture.
    pub image: RgbImage,
}

/// Frame counters of a decoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames out of the decoder.
    pub decoded: u64,
    /// Frames not selected by the analysis rate.
    pub skipped: u64,
    /// Selected frames dropped because the consumer was busy.
    pub dropped: u64,
    /// Frames handed to the consumer.
    pub delivered: u64,
    /// Live only: pipelines rebuilt after an error or a parameter change.
    pub restarts: u64,
}

fn make(name: &'static str) -> Result<gst::Element, DecodeError> {
    gst::ElementFactory::make(name).build().map_err(|_| DecodeError::MissingElement(name))
}

fn init() -> Result<(), DecodeError> {
    gst::init().map_err(|e| DecodeError::Init(e.to_string()))
}

fn perr<E: std::fmt::Display>(e: E) -> DecodeError {
    DecodeError::Pipeline(e.to_string())
}

#[derive(Default)]
struct Counters {
    decoded: AtomicU64,
    skipped: AtomicU64,
    selected: AtomicU64,
    converted: AtomicU64,
}

/// Chooses frames for the analysis rate: one per `interval`, on a fixed schedule so the rate is
/// exact on average whatever the source rate.
struct RateGate {
    interval: Option<f64>,
    next_due: f64,
}

impl RateGate {
    fn admit(&mut self, t: f64) -> bool {
        let Some(iv) = self.interval else { return true };
        // Half a millisecond of slack absorbs timestamp rounding (e.g. 90 kHz → ns).
        if t + 5e-4 < self.next_due {
            return false;
        }
        self.next_due += iv;
        if self.next_due <= t {
            // After a gap, restart the schedule here rather than admitting a burst.
            self.next_due = t + iv;
        }
        true
    }
}

/// The running pipeline: the tail (queue → convert → appsink) plus whatever source was attached.
struct Core {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    counters: Arc<Counters>,
    delivered: u64,
    true_fps: Option<f64>,
}

impl Core {
    /// Builds the tail; returns it and the element the decoder output must be linked to.
    fn new(cfg: &DecodeConfig) -> Result<(Core, gst::Element), DecodeError> {
        cfg.validate()?;
        init()?;
        let pipeline = gst::Pipeline::new();
        let queue = make("queue")?;
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 0u64);
        if cfg.drop_when_slow {
            queue.set_property("max-size-buffers", 1u32);
            queue.set_property_from_str("leaky", "downstream");
        } else {
            queue.set_property("max-size-buffers", 2u32);
        }
        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        let mut caps = gst::Caps::builder("video/x-raw").field("format", "RGB");
        if let Some((w, h)) = cfg.scale_to {
            caps = caps.field("width", w as i32).field("height", h as i32);
        }
        let appsink = gst_app::AppSink::builder()
            .caps(&caps.build())
            .sync(false)
            // Conversion output waits here for the consumer; the drop happens in the queue before it.
            .max_buffers(1)
            .drop(false)
            .build();
        pipeline.add_many([&queue, &convert, &scale, appsink.upcast_ref()]).map_err(perr)?;
        gst::Element::link_many([&queue, &convert, &scale, appsink.upcast_ref()]).map_err(perr)?;

        let counters = Arc::new(Counters::default());
        let gate = Mutex::new(RateGate { interval: cfg.analysis_fps.map(|f| 1.0 / f), next_due: 0.0 });
        let true_fps = cfg.true_fps;
        let c = counters.clone();
        let qsink = queue.static_pad("sink").ok_or_else(|| perr("queue has no sink pad"))?;
        qsink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let index = c.decoded.fetch_add(1, Ordering::Relaxed);
            let Some(buf) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
            let t = match (true_fps, buf.pts()) {
                (Some(f), _) => index as f64 / f,
                (None, Some(p)) => p.nseconds() as f64 / 1e9,
                (None, None) => index as f64 / 25.0,
            };
            let admit = gate.lock().unwrap_or_else(|e| e.into_inner()).admit(t);
            if !admit {
                c.skipped.fetch_add(1, Ordering::Relaxed);
                // `Handled` (the binding then releases the buffer) rather than `Drop`: with `Drop`
                // GStreamer 1.22 logs `gst_mini_object_unref: assertion 'mini_object != NULL'` per frame
                // through this binding.
                return gst::PadProbeReturn::Handled;
            }
            let b = buf.make_mut();
            // The offset field survives videoconvert (it is copied with the timestamps) and carries
            // the frame number to the consumer. The pts is left alone even with a true fps: buffers
            // past the segment's end (the container's idea of the duration) would be clipped.
            b.set_offset(index);
            c.selected.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        let c = counters.clone();
        let csink = convert.static_pad("sink").ok_or_else(|| perr("videoconvert has no sink pad"))?;
        csink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.converted.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        Ok((Core { pipeline, appsink, counters, delivered: 0, true_fps }, queue))
    }

    fn stats(&self) -> DecodeStats {
        let c = &self.counters;
        let selected = c.selected.load(Ordering::Relaxed);
        let converted = c.converted.load(Ordering::Relaxed);
        DecodeStats {
            decoded: c.decoded.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            // At most one frame sits in the queue, so this is exact at the end and off by one at most.
            dropped: selected.saturating_sub(converted).saturating_sub(u64::from(!self.appsink.is_eos())),
            delivered: self.delivered,
            restarts: 0,
        }
    }

    fn start(&self) -> Result<(), DecodeError> {
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(self.bus_error().unwrap_or_else(|| DecodeError::Pipeline("cannot start the pipeline".into())));
        }
        Ok(())
    }

    /// The first error message waiting on the bus, if any.
    fn bus_error(&self) -> Option<DecodeError> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(DecodeError::Stream {
                element: msg.src().map(|s| s.name().to_string()).unwrap_or_else(|| "?".into()),
                message: e.error().to_string(),
                debug: e.debug().map(|d| d.to_string()),
            }),
            _ => None,
        }
    }

    /// Waits up to `timeout` for a frame. `Ok(None)` on timeout or end of stream (see `is_eos`).
    fn pull(&mut self, timeout: Duration) -> Result<Option<DecodedFrame>, DecodeError> {
        let sample = self.appsink.try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64));
        let Some(sample) = sample else {
            return match self.bus_error() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let mut frame = sample_to_frame(&sample, self.delivered)?;
        if let Some(f) = self.true_fps {
            frame.pts_s = frame.index as f64 / f;
        }
        self.delivered += 1;
        Ok(Some(frame))
    }

    fn is_eos(&self) -> bool {
        self.appsink.is_eos()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Copies an RGB sample into an image, honouring GStreamer's 4-byte row alignment.
fn sample_to_frame(sample: &gst::Sample, fallback_index: u64) -> Result<DecodedFrame, DecodeError> {
    let caps = sample.caps().ok_or_else(|| perr("frame without caps"))?;
    let s = caps.structure(0).ok_or_else(|| perr("empty caps"))?;
    let w = s.get::<i32>("width").map_err(perr)?;
    let h = s.get::<i32>("height").map_err(perr)?;
    let (w, h) = (u32::try_from(w).map_err(perr)?, u32::try_from(h).map_err(perr)?);
    let buffer = sample.buffer().ok_or_else(|| perr("sample without buffer"))?;
    let map = buffer.map_readable().map_err(perr)?;
    let row = w as usize * 3;
    let stride = (row + 3) & !3;
    let need = stride * (h as usize).saturating_sub(1) + row;
    if w == 0 || h == 0 || map.len() < need {
        return Err(perr(format!("RGB frame {w}x{h} has {} bytes, needs {need}", map.len())));
    }
    let mut raw = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        raw.extend_from_slice(&map[y * stride..y * stride + row]);
    }
    let image = RgbImage::from_raw(w, h, raw).ok_or_else(|| perr("image size"))?;
    let index = match buffer.offset() {
        u64::MAX => fallback_index, // GST_BUFFER_OFFSET_NONE: no frame number travelled with it
        i => i,
    };
    let pts_s = buffer.pts().map(|p| p.nseconds() as f64 / 1e9).unwrap_or(0.0);
    Ok(DecodedFrame { index, pts_s, wall_us: None, image })
}

/// Decodes a video file (`filesrc ! decodebin`), in order, every frame or at the analysis rate.
pub struct FileDecoder {
    core: Core,
    path: PathBuf,
    last_progress: Instant,
}

/// A decoder that stops making progress this long is reported as stuck rather than waited on forever.
const FILE_STALL: Duration = Duration::from_secs(30);

impl FileDecoder {
    /// Opens `path` and starts decoding.
    pub fn open(path: &Path, cfg: &DecodeConfig) -> Result<FileDecoder, DecodeError> {
        if !path.is_file() {
            return Err(DecodeError::NotFound(path.to_path_buf()));
        }
        let (core, tail) = Core::new(cfg)?;
        let src = make("filesrc")?;
        src.set_property("location", path.to_string_lossy().as_ref());
        let decodebin = make("decodebin")?;
        core.pipeline.add_many([&src, &decodebin]).map_err(perr)?;
        src.link(&decodebin).map_err(perr)?;
        let tail_pad = tail.static_pad("sink").ok_or_else(|| perr("tail has no sink pad"))?;
        let weak = core.pipeline.downgrade();
        decodebin.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/"));
            if is_video && !tail_pad.is_linked() {
                if let Err(e) = pad.link(&tail_pad) {
                    tracing::warn!("cannot link the video stream: {e:?}");
                }
                return;
            }
            // Other streams (audio, a second video) go to a fakesink so they do not stall the demuxer.
            if let (Some(p), Ok(sink)) = (weak.upgrade(), gst::ElementFactory::make("fakesink").property("sync", false).build()) {
                if p.add(&sink).is_ok() {
                    let _ = sink.sync_state_with_parent();
                    if let Some(sp) = sink.static_pad("sink") {
                        let _ = pad.link(&sp);
                    }
                }
            }
        });
        core.start()?;
        Ok(FileDecoder { core, path: path.to_path_buf(), last_progress: Instant::now() })
    }

    /// The next frame, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>, DecodeError> {
        loop {
            if let Some(f) = self.core.pull(Duration::from_millis(100))? {
                self.last_progress = Instant::now();
                return Ok(Some(f));
            }
            if self.core.is_eos() {
                if let Some(e) = self.core.bus_error() {
                    return Err(e);
                }
                if self.core.delivered == 0 && self.core.stats().decoded == 0 {
                    return Err(DecodeError::NoVideo(format!("{}: no video frames decoded", self.path.display())));
                }
                return Ok(None);
            }
            if self.last_progress.elapsed() > FILE_STALL {
                return Err(DecodeError::NoVideo(format!(
                    "{}: no frame decoded for {} s",
                    self.path.display(),
                    FILE_STALL.as_secs()
                )));
            }
        }
    }

    /// Frame counters so far.
    pub fn stats(&self) -> DecodeStats {
        self.core.stats()
    }
}

/// The codec configuration record found in a sample entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodecConfig {
    h265: bool,
    /// avcC / hvcC payload (without the box header): GStreamer's `codec_data`.
    record: Vec<u8>,
    /// Bytes of each NAL unit's length prefix.
    nal_length_size: usize,
}

/// Finds `avcC`/`hvcC` among the child boxes of an `avc1`/`avc3`/`hvc1`/`hev1` sample entry.
fn codec_config(params: &VideoParams) -> Result<CodecConfig, DecodeError> {
    let e = &params.sample_entry;
    let bad = |m: &str| DecodeError::BadParams(format!("sample entry ({}): {m}", params.codec));
    if e.len() < 8 {
        return Err(bad("shorter than a box header"));
    }
    let h265 = match &e[4..8] {
        b"avc1" | b"avc3" => false,
        b"hvc1" | b"hev1" => true,
        other => return Err(bad(&format!("type {:?} is not H.264 or H.265", String::from_utf8_lossy(other)))),
    };
    // Box header (8) + VisualSampleEntry fields (78), then child boxes.
    let mut off = 86usize;
    while off + 8 <= e.len() {
        let size = u32::from_be_bytes([e[off], e[off + 1], e[off + 2], e[off + 3]]) as usize;
        if size < 8 || off + size > e.len() {
            return Err(bad("child box size out of range"));
        }
        let kind = &e[off + 4..off + 8];
        if kind == b"avcC" || kind == b"hvcC" {
            let record = e[off + 8..off + size].to_vec();
            let len_byte = if h265 { 21 } else { 4 };
            if record.len() <= len_byte || record[0] != 1 {
                return Err(bad("codec configuration record is truncated or of an unknown version"));
            }
            let nal_length_size = usize::from(record[len_byte] & 3) + 1;
            if nal_length_size == 3 {
                return Err(bad("NAL length size 3 is not allowed"));
            }
            return Ok(CodecConfig { h265, record, nal_length_size });
        }
        off += size;
    }
    Err(bad("no avcC/hvcC box"))
}

/// Checks that `data` is a sequence of length-prefixed NAL units that exactly fills it.
fn check_length_prefixed(data: &[u8], len_size: usize) -> Result<(), DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Corrupt("empty access unit".into()));
    }
    let mut off = 0usize;
    while off < data.len() {
        if off + len_size > data.len() {
            return Err(DecodeError::Corrupt(format!("truncated NAL length at byte {off} of {}", data.len())));
        }
        let n = data[off..off + len_size].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        off += len_size;
        if n == 0 || off + n > data.len() {
            return Err(DecodeError::Corrupt(format!(
                "NAL unit of {n} bytes at byte {off} does not fit the {}-byte access unit",
                data.len()
            )));
        }
        off += n;
    }
    Ok(())
}

/// Decodes the access units of one camera stream as ingest receives them.
///
/// Feed with [`LiveDecoder::push`] from the ingest side; take frames with [`LiveDecoder::pull`].
/// A pipeline error (undecodable data) is returned once from `pull`, the pipeline is torn down, and
/// a fresh one starts at the next key frame. New stream parameters (resolution or codec change)
/// restart it the same way.
pub struct LiveDecoder {
    params: VideoParams,
    codec: CodecConfig,
    cfg: DecodeConfig,
    core: Option<(Core, gst_app::AppSrc)>,
    /// Recent (pts ns, wall µs) of pushed frames, to give decoded frames their wall time.
    times: VecDeque<(u64, i64)>,
    restarts: u64,
    /// Counters of torn-down pipelines, so stats survive restarts.
    past: DecodeStats,
    waiting_key_skipped: u64,
}

impl LiveDecoder {
    /// Prepares a decoder for a stream; the pipeline starts at the first key frame.
    pub fn new(params: &VideoParams, cfg: &DecodeConfig) -> Result<LiveDecoder, DecodeError> {
        cfg.validate()?;
        init()?;
        let codec = codec_config(params)?;
        Ok(LiveDecoder {
            params: params.clone(),
            codec,
            cfg: cfg.clone(),
            core: None,
            times: VecDeque::new(),
            restarts: 0,
            past: DecodeStats::default(),
            waiting_key_skipped: 0,
        })
    }

    /// New parameters from ingest: if they differ, the pipeline restarts at the next key frame.
    pub fn set_params(&mut self, params: &VideoParams) -> Result<(), DecodeError> {
        if *params == self.params {
            return Ok(());
        }
        let codec = codec_config(params)?;
        tracing::info!(codec = %params.codec, width = params.width, height = params.height, "stream parameters changed; restarting the decoder");
        self.teardown();
        self.params = params.clone();
        self.codec = codec;
        Ok(())
    }

    fn teardown(&mut self) {
        if let Some((core, _)) = self.core.take() {
            let s = core.stats();
            self.past.decoded += s.decoded;
            self.past.skipped += s.skipped;
            self.past.dropped += s.dropped;
            self.past.delivered += s.delivered;
            self.restarts += 1;
        }
        self.times.clear();
    }

    fn build(&self) -> Result<(Core, gst_app::AppSrc), DecodeError> {
        let (core, tail) = Core::new(&self.cfg)?;
        let (name, format, parser, decoder) = if self.codec.h265 {
            ("video/x-h265", "hvc1", "h265parse", "avdec_h265")
        } else {
            ("video/x-h264", "avc", "h264parse", "avdec_h264")
        };
        let caps = gst::Caps::builder(name)
            .field("stream-format", format)
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(self.codec.record.clone()))
            .build();
        let appsrc = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(true)
            // Bounded: if decoding itself cannot keep up, old access units go rather than memory.
            .max_bytes(16 << 20)
            .block(false)
            .build();
        appsrc.set_property_from_str("leaky-type", "downstream");
        let parse = make(parser)?;
        let dec = make(decoder)?;
        core.pipeline.add_many([appsrc.upcast_ref(), &parse, &dec]).map_err(perr)?;
        gst::Element::link_many([appsrc.upcast_ref(), &parse, &dec, &tail]).map_err(perr)?;
        core.start()?;
        Ok((core, appsrc))
    }

    /// Queues one access unit for decoding. Frames before the first key frame (of a session or
    /// after a restart) are skipped, as they cannot be decoded. A malformed access unit is refused
    /// with [`DecodeError::Corrupt`] and the stream continues.
    pub fn push(&mut self, frame: &Frame) -> Result<(), DecodeError> {
        check_length_prefixed(&frame.data, self.codec.nal_length_size)?;
        if self.core.is_none() {
            if !frame.is_key {
                self.waiting_key_skipped += 1;
                return Ok(());
            }
            self.core = Some(self.build()?);
        }
        let Some((_, appsrc)) = &self.core else { return Ok(()) };
        let pts_ns = (frame.pts_90k.max(0) as u64).saturating_mul(100_000) / 9;
        let mut buf = gst::Buffer::from_slice(frame.data.clone());
        {
            let b = buf.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
            if !frame.is_key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if self.times.len() >= 256 {
            self.times.pop_front();
        }
        self.times.push_back((pts_ns, frame.wall_us));
        if let Err(e) = appsrc.push_buffer(buf) {
            // Flushing or errored pipeline: surface the bus error and restart at the next key frame.
            let err = self.core.as_ref().and_then(|(c, _)| c.bus_error());
            self.teardown();
            return Err(err.unwrap_or_else(|| DecodeError::Pipeline(format!("appsrc refused a frame: {e:?}"))));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the next decoded frame. On a pipeline error the error is returned,
    /// the pipeline is dropped, and decoding resumes at the next key frame pushed.
    pub fn pull(&mut self, timeout: Duration) -> Result<Option<DecodedFrame>, DecodeError> {
        let Some((core, _)) = &mut self.core else {
            std::thread::sleep(timeout);
            return Ok(None);
        };
        match core.pull(timeout) {
            Ok(Some(mut f)) => {
                let pts_ns = (f.pts_s * 1e9).round() as u64;
                // Exact match on the pushed pts (within rounding), else nothing rather than a guess.
                f.wall_us = self.times.iter().find(|(p, _)| p.abs_diff(pts_ns) < 1_000).map(|&(_, w)| w);
                Ok(Some(f))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!("live decoder failed, restarting at the next key frame: {e}");
                self.teardown();
                Err(e)
            }
        }
    }

    /// Signals the end of the stream and returns the frames still in the pipeline.
    pub fn finish(&mut self) -> Result<Vec<DecodedFrame>, DecodeError> {
        let mut out = Vec::new();
        if let Some((_, appsrc)) = &self.core {
            let _ = appsrc.end_of_stream();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some((core, _)) = &self.core {
            if core.is_eos() || Instant::now() > deadline {
                break;
            }
            if let Some(f) = self.pull(Duration::from_millis(50))? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Frame counters over the decoder's life, across restarts.
    pub fn stats(&self) -> DecodeStats {
        let mut s = self.past;
        if let Some((core, _)) = &self.core {
            let c = core.stats();
            s.decoded += c.decoded;
            s.skipped += c.skipped;
            s.dropped += c.dropped;
            s.delivered += c.delivered;
        }
        s.skipped += self.waiting_key_skipped;
        s.restarts = self.restarts;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_gate_subsamples_evenly() {
        let mut g = RateGate { interval: Some(0.2), next_due: 0.0 };
        let admitted = (0..70).filter(|&i| g.admit(f64::from(i) / 7.0)).count();
        assert_eq!(admitted, 50, "7 fps for 10 s at 5 fps");
        let mut all = RateGate { interval: None, next_due: 0.0 };
        assert!((0..10).all(|i| all.admit(f64::from(i))));
        // After a gap the schedule restarts instead of letting a burst through.
        let mut g = RateGate { interval: Some(0.2), next_due: 0.0 };
        assert!(g.admit(0.0) && g.admit(10.0) && !g.admit(10.1) && g.admit(10.2));
    }

    #[test]
    fn length_prefix_check() {
        assert!(check_length_prefixed(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 9], 4).is_ok());
        assert!(check_length_prefixed(&[0, 0, 0, 9, 0x65, 1], 4).is_err());
        assert!(check_length_prefixed(&[0, 0, 0, 1, 0x65, 0], 4).is_err());
        assert!(check_length_prefixed(&[], 4).is_err());
        assert!(check_length_prefixed(&[0, 1, 0x65], 2).is_ok());
    }

    #[test]
    fn sample_entry_without_avcc_is_rejected() {
        let mut entry = vec![0u8; 86];
        entry[..4].copy_from_slice(&86u32.to_be_bytes());
        entry[4..8].copy_from_slice(b"avc1");
        let p = VideoParams { sample_entry: entry, codec: "avc1.640028".into(), width: 64, height: 64 };
        let err = LiveDecoder::new(&p, &DecodeConfig::live()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("no avcC"), "{err}");
    }
}
