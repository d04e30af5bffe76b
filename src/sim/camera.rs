//! A simulated RTSP camera: serves an H.264 clip in an endless loop over real RTSP.
//!
//! The clip is demuxed and parsed once, at [`SimCamera::start`], into memory (its encoded
//! access units, shared by all mounts). Each mount then gets its own media pipeline
//! `appsrc ! clocksync ! rtph264pay` (one per mount, shared by that mount's clients), so each
//! mount looks like a separate camera: its own SSRC, sequence numbers and RTP timestamp base.
//! Nothing is decoded or re-encoded while serving.
//!
//! Timing: the appsrc is live; each access unit is stamped with
//! `start running time + loop number × clip length + its time in the clip`, so timestamps (and
//! therefore RTP timestamps) keep increasing across the loop point, and `clocksync` releases
//! each unit at its time on the pipeline clock, i.e. in real time at the clip's frame rate.
//! SPS/PPS are sent in-band before every IDR (`config-interval=-1`), so a client joining
//! mid-stream can start at the next key frame. RTCP sender reports, TCP-interleaved and UDP
//! transports are gst-rtsp-server's defaults.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// Largest clip (sum of its encoded frames) that is loaded into memory.
const MAX_CLIP_BYTES: usize = 512 * 1024 * 1024;
/// Longest time demuxing the clip into memory may go without producing a frame.
const LOAD_STALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How far behind the clock a stream may fall before it skips ahead instead of catching up.
const MAX_LATE_NS: u64 = 1_000_000_000;
/// Frame duration used when the clip carries no timestamps and no frame rate.
const DEFAULT_FRAME_NS: u64 = 40_000_000;

/// Options for a simulated camera server.
#[derive(Clone, Debug)]
pub struct SimCameraOptions {
    pub listen: std::net::SocketAddr,
    pub file: std::path::PathBuf,
    /// Mount paths, e.g. ["/cam1"]; a URL is rtsp://{listen}{mount}.
    pub mounts: Vec<String>,
    /// Optional RTSP Basic/Digest credentials required from clients (user, password), to test camera auth.
    pub credentials: Option<(String, String)>,
}

/// Errors starting a simulated camera.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// GStreamer could not be initialised.
    #[error("cannot initialise GStreamer: {0}")]
    Init(String),
    /// A GStreamer element needed by the simulated camera is not installed.
    #[error("GStreamer element {0:?} is missing (install the GStreamer plugins: base, good, bad)")]
    MissingElement(&'static str),
    /// The clip file does not exist.
    #[error("clip {0} does not exist")]
    FileNotFound(PathBuf),
    /// The clip has no H.264 video stream.
    #[error("clip {path} has no H.264 video stream ({detail})")]
    NotH264 { path: PathBuf, detail: String },
    /// The clip could not be read or demuxed.
    #[error("cannot load clip {path}: {detail}")]
    Load { path: PathBuf, detail: String },
    /// A mount path is not of the form "/name".
    #[error("invalid mount path {0:?}: it must start with '/' and not be \"/\" alone")]
    InvalidMount(String),
    /// No mount path was given.
    #[error("no mount path given")]
    NoMounts,
    /// The listen address could not be bound (e.g. the port is in use).
    #[error("cannot listen on {addr}: {detail}")]
    Bind { addr: SocketAddr, detail: String },
    /// The server thread could not be started or died while starting.
    #[error("simulated camera thread failed: {0}")]
    Thread(String),
}

/// A running simulated camera server.
pub struct SimCamera {
    addr: SocketAddr,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCamera")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimCamera {
    /// Starts serving on a background thread running a glib MainLoop; returns once the port is bound (error if the file is missing / not H.264 / port busy).
    pub fn start(opts: SimCameraOptions) -> Result<SimCamera, SimError> {
        init()?;
        if opts.mounts.is_empty() {
            return Err(SimError::NoMounts);
        }
        for m in &opts.mounts {
            if !m.starts_with('/') || m.len() < 2 || m.contains(char::is_whitespace) {
                return Err(SimError::InvalidMount(m.clone()));
            }
        }
        for name in ["appsrc", "clocksync", "rtph264pay"] {
            if gst::ElementFactory::find(name).is_none() {
                return Err(SimError::MissingElement(name));
            }
        }
        let clip = Arc::new(Clip::load(&opts.file)?);
        tracing::info!(
            file = %opts.file.display(),
            frames = clip.frames.len(),
            loop_ms = clip.loop_ns / 1_000_000,
            "simulated camera clip loaded"
        );

        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sim-camera".into())
            .spawn(move || serve_thread(opts, clip, tx))
            .map_err(|e| SimError::Thread(e.to_string()))?;
        match rx.recv() {
            Ok(Ok((addr, context, main_loop))) => {
                tracing::info!(%addr, "simulated camera listening");
                Ok(SimCamera {
                    addr,
                    context,
                    main_loop,
                    thread: Some(thread),
                })
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SimError::Thread(
                    "server thread exited while starting".into(),
                ))
            }
        }
    }

    /// The RTSP URL of a mount, e.g. `rtsp://127.0.0.1:8554/cam1` (uses the bound port, so a
    /// listen port of 0 works; an unspecified listen address is shown as loopback).
    pub fn url(&self, mount: &str) -> String {
        let mount = mount.trim_start_matches('/');
        format!("rtsp://{}/{}", self.addr, mount)
    }

    /// Stops the server and its thread.
    pub fn stop(self) {
        // Drop does the work.
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let ml = self.main_loop.clone();
            // Quit from inside the loop, so a quit can never come before `run()` starts.
            self.context.invoke(move || ml.quit());
            if thread.join().is_err() {
                tracing::warn!("simulated camera thread panicked");
            }
            tracing::info!(addr = %self.addr, "simulated camera stopped");
        }
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn init() -> Result<(), SimError> {
    // Idempotent and thread-safe.
    gst::init().map_err(|e| SimError::Init(e.to_string()))
}

type Started = Result<(SocketAddr, glib::MainContext, glib::MainLoop), SimError>;

fn serve_thread(opts: SimCameraOptions, clip: Arc<Clip>, tx: mpsc::Sender<Started>) {
    let context = glib::MainContext::new();
    let res = context.with_thread_default(|| {
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let (server, source, addr) = match build_server(&opts, &clip, &context) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if tx
            .send(Ok((addr, context.clone(), main_loop.clone())))
            .is_err()
        {
            source.destroy();
            return;
        }
        main_loop.run();

        // Stop accepting, close every client (which tears down its sessions and media).
        source.destroy();
        server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        if let Some(pool) = server.session_pool() {
            pool.filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        }
        // Let pending teardown callbacks run.
        let deadline = Instant::now() + Duration::from_millis(500);
        while context.iteration(false) && Instant::now() < deadline {}
    });
    if res.is_err() {
        let _ = tx.send(Err(SimError::Thread(
            "cannot acquire the server main context".into(),
        )));
    }
}

fn build_server(
    opts: &SimCameraOptions,
    clip: &Arc<Clip>,
    context: &glib::MainContext,
) -> Result<(rtsp::RTSPServer, glib::Source, SocketAddr), SimError> {
    let server = rtsp::RTSPServer::new();
    server.set_address(&opts.listen.ip().to_string());
    server.set_service(&opts.listen.port().to_string());

    let role = "hallwatch-sim-user";
    if let Some((user, pass)) = &opts.credentials {
        let auth = rtsp::RTSPAuth::new();
        let token = rtsp::RTSPToken::builder()
            .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
            .build();
        auth.add_basic(&rtsp::RTSPAuth::make_basic(user, pass), &token);
        auth.add_digest(user, pass, &token);
        // The C API takes a bit mask here, which the Rust enum can only carry as its raw value.
        use glib::translate::IntoGlib;
        use rtsp::gst_rtsp::RTSPAuthMethod;
        auth.set_supported_methods(RTSPAuthMethod::__Unknown(
            RTSPAuthMethod::Basic.into_glib() | RTSPAuthMethod::Digest.into_glib(),
        ));
        server.set_auth(Some(&auth));
    }

    let mounts = server
        .mount_points()
        .ok_or_else(|| SimError::Thread("RTSP server has no mount points".into()))?;
    for mount in &opts.mounts {
        let factory = make_factory(clip.clone(), mount);
        if opts.credentials.is_some() {
            factory.add_role_from_structure(
                &gst::Structure::builder(role)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        mounts.add_factory(mount, factory);
    }

    let source = server
        .create_source(None::<&rtsp::gio::Cancellable>)
        .map_err(|e| SimError::Bind {
            addr: opts.listen,
            detail: e.to_string(),
        })?;
    source.attach(Some(context));
    let port = u16::try_from(server.bound_port()).map_err(|_| SimError::Bind {
        addr: opts.listen,
        detail: "server did not report a bound port".into(),
    })?;
    let ip = match opts.listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok((server, source, SocketAddr::new(ip, port)))
}

/// One media factory per mount: each mount's media is its own pipeline, shared by its clients.
fn make_factory(clip: Arc<Clip>, mount: &str) -> rtsp::RTSPMediaFactory {
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(
        "( appsrc name=src is-live=true format=time do-timestamp=false min-latency=0 \
         ! clocksync ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
    );
    factory.set_shared(true);
    let mount = mount.to_string();
    factory.connect_media_configure(move |_, media| {
        let element = media.element();
        let Some(src) = element
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name("src"))
        else {
            tracing::error!(mount = %mount, "simulated camera media has no appsrc");
            return;
        };
        src.set_property("caps", &clip.caps);
        let feed = Mutex::new(Feed::default());
        let clip = clip.clone();
        src.connect("need-data", false, move |args| {
            if let Ok(src) = args[0].get::<gst::Element>() {
                let mut feed = feed.lock().unwrap_or_else(|e| e.into_inner());
                feed.push_next(&clip, &src);
            }
            None
        });
        tracing::debug!(mount = %mount, "simulated camera media configured");
    });
    factory
}

/// Per-media position in the endless loop over the clip.
#[derive(Default)]
struct Feed {
    /// Running time (ns) at which the first frame was sent.
    origin: Option<u64>,
    /// Index of the next frame in the clip.
    next: usize,
    /// Offset (ns) of the current loop: loop number × clip length.
    loop_offset: u64,
    pushed: u64,
}

impl Feed {
    /// Called from the appsrc streaming thread when its queue is empty: pushes the next frame.
    /// The frame's timestamps are running times; `clocksync` downstream waits for them.
    fn push_next(&mut self, clip: &Clip, src: &gst::Element) {
        let now = running_time(src);
        let frame = &clip.frames[self.next];
        let origin = self.origin.get_or_insert(now.unwrap_or(0));
        // If the stream fell far behind the clock (blocked before the first PLAY, paused...),
        // skip ahead to now instead of bursting: times still only go forward.
        if let Some(now) = now {
            let due = *origin + self.loop_offset + frame.dts;
            if now > due + MAX_LATE_NS {
                *origin += now - due;
            }
        }
        let origin = *origin;
        let mut buffer = frame.buffer.copy();
        {
            let b = buffer.make_mut();
            let base = origin + self.loop_offset;
            b.set_pts(gst::ClockTime::from_nseconds(base + frame.pts));
            b.set_dts(gst::ClockTime::from_nseconds(base + frame.dts));
            b.set_duration(gst::ClockTime::from_nseconds(frame.duration));
            if self.pushed > 0 {
                b.unset_flags(gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC);
            }
        }
        self.next += 1;
        if self.next == clip.frames.len() {
            self.next = 0;
            self.loop_offset += clip.loop_ns;
        }
        self.pushed += 1;
        let ret = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buffer]);
        if ret != gst::FlowReturn::Ok && ret != gst::FlowReturn::Flushing {
            tracing::debug!(?ret, "simulated camera push-buffer");
        }
    }
}

/// Current running time of the element's pipeline, in ns (None when it has no clock yet).
fn running_time(element: &gst::Element) -> Option<u64> {
    let (clock, base) = (element.clock()?, element.base_time()?);
    Some(clock.time().nseconds().saturating_sub(base.nseconds()))
}

/// The streams that parsebin found in the clip.
#[derive(Default)]
struct Found {
    /// An H.264 stream was found and linked.
    h264: bool,
    /// All streams found, by caps name.
    streams: Vec<String>,
    /// parsebin has drained all its streams.
    complete: bool,
}

impl Found {
    fn describe(&self) -> String {
        if self.streams.is_empty() {
            "none".into()
        } else {
            self.streams.join(", ")
        }
    }
}

/// One encoded access unit of the clip, with times relative to the clip's start.
struct ClipFrame {
    buffer: gst::Buffer,
    pts: u64,
    dts: u64,
    duration: u64,
}

/// The whole clip, demuxed and parsed to H.264 AVC access units.
struct Clip {
    caps: gst::Caps,
    frames: Vec<ClipFrame>,
    /// Length of one loop in ns: the next loop starts this much after the previous one.
    loop_ns: u64,
}

impl Clip {
    /// Demuxes `path` with `filesrc ! parsebin ! h264parse ! appsink` into memory.
    fn load(path: &Path) -> Result<Clip, SimError> {
        if !path.is_file() {
            return Err(SimError::FileNotFound(path.to_path_buf()));
        }
        let load_err = |detail: String| SimError::Load {
            path: path.to_path_buf(),
            detail,
        };
        let make = |name: &'static str| {
            gst::ElementFactory::make(name)
                .build()
                .map_err(|_| SimError::MissingElement(name))
        };
        let pipeline = gst::Pipeline::new();
        let filesrc = make("filesrc")?;
        filesrc.set_property("location", path.to_string_lossy().as_ref());
        let parsebin = make("parsebin")?;
        let h264parse = make("h264parse")?;
        let capsfilter = make("capsfilter")?;
        capsfilter.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .build(),
        );
        let appsink = make("appsink")?;
        appsink.set_property("sync", false);
        appsink.set_property("max-buffers", 64u32);
        pipeline
            .add_many([&filesrc, &parsebin, &h264parse, &capsfilter, &appsink])
            .map_err(|e| load_err(e.to_string()))?;
        gst::Element::link_many([&filesrc, &parsebin]).map_err(|e| load_err(e.to_string()))?;
        gst::Element::link_many([&h264parse, &capsfilter, &appsink])
            .map_err(|e| load_err(e.to_string()))?;

        // Link the first H.264 stream to h264parse and any other stream to a fakesink;
        // remember what was found for the error message.
        let found: Arc<Mutex<Found>> = Arc::default();
        {
            let found = found.clone();
            let sink_pad = h264parse.static_pad("sink").expect("h264parse sink pad");
            let pipeline = pipeline.downgrade();
            parsebin.connect_pad_added(move |_, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps
                    .structure(0)
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                found.streams.push(name.clone());
                if name == "video/x-h264" && !found.h264 && pad.link(&sink_pad).is_ok() {
                    found.h264 = true;
                    return;
                }
                if let (Some(pipeline), Ok(fakesink)) = (
                    pipeline.upgrade(),
                    gst::ElementFactory::make("fakesink")
                        .property("sync", false)
                        .property("async", false)
                        .build(),
                ) {
                    if pipeline.add(&fakesink).is_ok() {
                        let _ = fakesink.sync_state_with_parent();
                        if let Some(p) = fakesink.static_pad("sink") {
                            let _ = pad.link(&p);
                        }
                    }
                }
            });
        }
        {
            let found = found.clone();
            // parsebin emits "drained" once all streams hit EOS (it does not emit no-more-pads).
            parsebin.connect("drained", false, move |_| {
                found.lock().unwrap_or_else(|e| e.into_inner()).complete = true;
                None
            });
        }

        let bus = pipeline.bus().expect("pipeline bus");
        let result = (|| {
            pipeline
                .set_state(gst::State::Playing)
                .map_err(|_| Self::bus_error(&bus, path, &found, "cannot start demuxing"))?;
            let mut last_progress = Instant::now();
            let mut frames = Vec::new();
            let mut caps: Option<gst::Caps> = None;
            let mut bytes = 0usize;
            loop {
                let sample = appsink
                    .emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&50_000_000u64]);
                if let Some(sample) = sample {
                    if caps.is_none() {
                        caps = sample.caps_owned();
                    }
                    if let Some(buffer) = sample.buffer_owned() {
                        bytes += buffer.size();
                        if bytes > MAX_CLIP_BYTES {
                            return Err(load_err(format!(
                                "clip is larger than {} MiB",
                                MAX_CLIP_BYTES >> 20
                            )));
                        }
                        frames.push(buffer);
                    }
                    last_progress = Instant::now();
                    continue;
                }
                if appsink.property::<bool>("eos") {
                    break;
                }
                if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                    return Err(Self::error_from(msg, path, &found));
                }
                {
                    let found = found.lock().unwrap_or_else(|e| e.into_inner());
                    if found.complete && !found.h264 {
                        return Err(SimError::NotH264 {
                            path: path.to_path_buf(),
                            detail: format!("streams found: {}", found.describe()),
                        });
                    }
                }
                if last_progress.elapsed() > LOAD_STALL_TIMEOUT {
                    return Err(load_err("demuxing the clip stalled".into()));
                }
            }
            let caps = caps.ok_or_else(|| SimError::NotH264 {
                path: path.to_path_buf(),
                detail: "no H.264 frames".into(),
            })?;
            Ok((caps, frames))
        })();
        let _ = pipeline.set_state(gst::State::Null);
        let (caps, buffers) = result?;
        Clip::from_buffers(caps, buffers).map_err(load_err)
    }

    fn bus_error(bus: &gst::Bus, path: &Path, found: &Mutex<Found>, fallback: &str) -> SimError {
        match bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(500),
            &[gst::MessageType::Error],
        ) {
            Some(msg) => Self::error_from(msg, path, found),
            None => SimError::Load {
                path: path.to_path_buf(),
                detail: fallback.into(),
            },
        }
    }

    fn error_from(msg: gst::Message, path: &Path, found: &Mutex<Found>) -> SimError {
        let detail = match msg.view() {
            gst::MessageView::Error(e) => e.error().to_string(),
            _ => "unknown error".into(),
        };
        let found = found.lock().unwrap_or_else(|e| e.into_inner());
        if !found.h264 && !found.streams.is_empty() {
            SimError::NotH264 {
                path: path.to_path_buf(),
                detail: format!("streams found: {}", found.describe()),
            }
        } else if !found.h264 {
            SimError::NotH264 {
                path: path.to_path_buf(),
                detail,
            }
        } else {
            SimError::Load {
                path: path.to_path_buf(),
                detail,
            }
        }
    }

    /// Normalises the frames' times to start at 0 and computes the loop length.
    fn from_buffers(caps: gst::Caps, buffers: Vec<gst::Buffer>) -> Result<Clip, String> {
        if buffers.is_empty() {
            return Err("the clip has no frames".into());
        }
        let frame_ns = caps
            .structure(0)
            .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .map(|f| (1_000_000_000u64 * f.denom() as u64) / f.numer() as u64)
            .unwrap_or(DEFAULT_FRAME_NS);

        // (pts, dts) of every buffer, when all of them carry timestamps.
        let times: Option<Vec<(u64, u64)>> = buffers
            .iter()
            .map(|b| {
                let pts = b.pts()?.nseconds();
                Some((pts, b.dts().map_or(pts, |d| d.nseconds())))
            })
            .collect();
        let mut frames: Vec<ClipFrame> = Vec::with_capacity(buffers.len());
        if let Some(times) = times {
            let base = times.iter().map(|&(p, d)| p.min(d)).min().unwrap_or(0);
            for (b, &(pts, dts)) in buffers.iter().zip(&times) {
                let (pts, dts) = (pts - base, dts - base);
                if let Some(prev) = frames.last() {
                    if dts <= prev.dts {
                        return Err(format!(
                            "decode timestamps do not increase ({} ns after {} ns)",
                            dts, prev.dts
                        ));
                    }
                }
                frames.push(ClipFrame {
                    buffer: b.clone(),
                    pts,
                    dts,
                    duration: b.duration().map(|d| d.nseconds()).unwrap_or(0),
                });
            }
            // Fill missing durations from the next frame's decode time.
            for i in 0..frames.len() {
                if frames[i].duration == 0 {
                    frames[i].duration = frames
                        .get(i + 1)
                        .map(|n| n.dts - frames[i].dts)
                        .unwrap_or(frame_ns);
                }
            }
        } else {
            for (i, b) in buffers.iter().enumerate() {
                let t = i as u64 * frame_ns;
                frames.push(ClipFrame {
                    buffer: b.clone(),
                    pts: t,
                    dts: t,
                    duration: frame_ns,
                });
            }
        }
        let last = frames.last().expect("non-empty");
        let end = frames
            .iter()
            .map(|f| f.pts + f.duration)
            .max()
            .unwrap_or(0)
            .max(last.dts + last.duration);
        // The next loop's first frame (at loop_ns + its dts >= loop_ns) must come after this
        // loop's last one.
        let loop_ns = end.max(last.dts + 1);
        Ok(Clip {
            caps,
            frames,
            loop_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_camera_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SimCamera>();
        check::<SimError>();
    }

    fn buffers(times: &[(Option<u64>, Option<u64>)]) -> Vec<gst::Buffer> {
        gst::init().unwrap();
        times
            .iter()
            .map(|&(pts_ms, dur_ms)| {
                let mut b = gst::Buffer::with_size(4).unwrap();
                let r = b.get_mut().unwrap();
                r.set_pts(pts_ms.map(gst::ClockTime::from_mseconds));
                r.set_dts(pts_ms.map(gst::ClockTime::from_mseconds));
                r.set_duration(dur_ms.map(gst::ClockTime::from_mseconds));
                b
            })
            .collect()
    }

    fn caps(fps: i32) -> gst::Caps {
        gst::init().unwrap();
        gst::Caps::builder("video/x-h264")
            .field("framerate", gst::Fraction::new(fps, 1))
            .build()
    }

    #[test]
    fn loop_length_follows_the_clip_times() {
        let ms = 1_000_000;
        // Starts at 1 s (an edit list, say), 25 fps, last duration missing.
        let clip = Clip::from_buffers(
            caps(25),
            buffers(&[
                (Some(1000), Some(40)),
                (Some(1040), Some(40)),
                (Some(1080), None),
            ]),
        )
        .unwrap();
        let times: Vec<_> = clip
            .frames
            .iter()
            .map(|f| (f.pts, f.dts, f.duration))
            .collect();
        assert_eq!(
            times,
            [
                (0, 0, 40 * ms),
                (40 * ms, 40 * ms, 40 * ms),
                (80 * ms, 80 * ms, 40 * ms)
            ]
        );
        assert_eq!(clip.loop_ns, 120 * ms);

        // No timestamps at all (raw H.264): the caps' frame rate sets the pace.
        let clip = Clip::from_buffers(caps(10), buffers(&[(None, None); 4])).unwrap();
        assert_eq!(clip.frames[3].pts, 300 * ms);
        assert_eq!(clip.loop_ns, 400 * ms);

        // Decode times must increase.
        assert!(
            Clip::from_buffers(caps(25), buffers(&[(Some(0), None), (Some(0), None)])).is_err()
        );
        assert!(Clip::from_buffers(caps(25), Vec::new()).is_err());
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = SimCamera::start(SimCameraOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            file: "/nonexistent/clip.mp4".into(),
            mounts: vec!["/cam1".into()],
            credentials: None,
        })
        .unwrap_err();
        assert!(matches!(err, SimError::FileNotFound(_)), "{err}");
    }

    #[test]
    fn bad_mount_is_an_error() {
        let err = SimCamera::start(SimCameraOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            file: "/nonexistent/clip.mp4".into(),
            mounts: vec!["cam1".into()],
            credentials: None,
        })
        .unwrap_err();
        assert!(matches!(err, SimError::InvalidMount(_)), "{err}");
    }
}
