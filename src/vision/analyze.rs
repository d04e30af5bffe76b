//! `hallwatch analyze`: the live analysis step ([`CameraAnalyzer`]) run on a video file, writing
//! MOTChallenge tracks, per-frame counts and zone visits for offline evaluation.
//!
//! Output files in the output directory:
//! * `tracks.txt`: MOTChallenge `frame,id,left,top,width,height,score,-1,-1,-1`, frames 1-based
//!   (frame n = n-th decoded frame), pixels of the original video;
//! * `detections.txt`: the bare detector output in the same format (id -1), for baselines;
//! * `counts.csv`: `frame,zone,count` per analysed frame; zone `all` is everyone in view;
//! * `visits.csv`: `track_id,zone,enter_s,exit_s`, seconds from the first frame;
//! * `crossings.csv`: `track_id,zone,direction,t_s` for entrance lines.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::decode::{DecodeConfig, DecodeError, DecodeStats, FileDecoder};
use super::detect::{DetectError, Detector, ModelSpec};
use super::pipeline::CameraAnalyzer;
use super::tiles::Tiling;
use super::track::TrackerConfig;
use super::zones::{Direction, Hysteresis, ZoneError, ZoneEvent, ZoneEventKind, ZoneFile};

/// Errors of an analysis run.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// Decoding the video failed.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// Loading or running the detector failed.
    #[error("{0}")]
    Detect(#[from] DetectError),
    /// The zone file is invalid.
    #[error("{0}")]
    Zones(#[from] ZoneError),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// File or directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The options are inconsistent.
    #[error("{0}")]
    Options(String),
}

/// What to analyse and how.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// The video file.
    pub video: PathBuf,
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    /// True frame rate when the container's is wrong (PETS09 `vtest.avi` says 10, is 7).
    pub true_fps: Option<f64>,
    /// Analyse at this rate; `None` analyses every frame (needed for MOT evaluation).
    pub analysis_fps: Option<f64>,
    /// Zone file (`[[zones]]`); `None`: only the `all` count.
    pub zones: Option<PathBuf>,
    /// Detector model.
    pub model: ModelSpec,
    /// Tracker settings.
    pub tracker: TrackerConfig,
    /// Zone hysteresis.
    pub hysteresis: Hysteresis,
    /// Stop after this many decoded frames (e.g. a quick check on the start of a clip).
    pub max_frames: Option<u64>,
    /// Tiled detection for small people ([`Tiling::OFF`] by default).
    pub tiling: Tiling,
}

impl AnalyzeOptions {
    /// Defaults for everything but the input, output and model.
    pub fn new(video: impl Into<PathBuf>, out_dir: impl Into<PathBuf>, model: ModelSpec) -> AnalyzeOptions {
        AnalyzeOptions {
            video: video.into(),
            out_dir: out_dir.into(),
            true_fps: None,
            analysis_fps: None,
            zones: None,
            model,
            tracker: TrackerConfig::default(),
            hysteresis: Hysteresis::default(),
            max_frames: None,
            tiling: Tiling::OFF,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeSummary {
    /// Decoder counters.
    pub decode: DecodeStats,
    /// Frames run through detection and tracking.
    pub frames_analysed: u64,
    /// Distinct track ids output.
    pub tracks: u64,
    /// Mean number of people in view per analysed frame.
    pub mean_count: f64,
    /// Completed zone visits.
    pub visits: u64,
    /// Wall-clock seconds the run took.
    pub elapsed_s: f64,
}

/// One output file being written.
struct Out {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Out {
    fn create(dir: &Path, name: &str, header: Option<&str>) -> Result<Out, AnalyzeError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| AnalyzeError::Output { path: path.clone(), source })?;
        let mut out = Out { path, w: BufWriter::new(file) };
        if let Some(h) = header {
            out.line(format_args!("{h}"))?;
        }
        Ok(out)
    }

    fn line(&mut self, args: std::fmt::Arguments<'_>) -> Result<(), AnalyzeError> {
        self.w
            .write_fmt(args)
            .and_then(|()| self.w.write_all(b"\n"))
            .map_err(|source| AnalyzeError::Output { path: self.path.clone(), source })
    }

    fn close(mut self) -> Result<(), AnalyzeError> {
        self.w.flush().map_err(|source| AnalyzeError::Output { path: self.path.clone(), source })
    }
}

/// A finished visit.
struct Visit {
    track_id: u64,
    zone: String,
    enter_s: f64,
    exit_s: f64,
}

/// Pairs enter and exit events into visits and collects line crossings.
#[derive(Default)]
struct Visits {
    open: HashMap<(u64, String), f64>,
    done: Vec<Visit>,
    crossings: Vec<(u64, String, Direction, f64)>,
}

impl Visits {
    fn add(&mut self, events: &[ZoneEvent], t0: f64) {
        for e in events {
            let t = e.t - t0;
            match e.kind {
                ZoneEventKind::Enter => {
                    self.open.insert((e.track_id, e.zone.clone()), t);
                }
                ZoneEventKind::Exit => {
                    if let Some(enter_s) = self.open.remove(&(e.track_id, e.zone.clone())) {
                        self.done.push(Visit { track_id: e.track_id, zone: e.zone.clone(), enter_s, exit_s: t });
                    }
                }
                ZoneEventKind::Cross(d) => self.crossings.push((e.track_id, e.zone.clone(), d, t)),
            }
        }
    }
}

/// Runs decode → detect → track → zones on `opts.video` and writes the output files.
pub fn run(opts: &AnalyzeOptions) -> Result<AnalyzeSummary, AnalyzeError> {
    let started = Instant::now();
    if opts.max_frames == Some(0) {
        return Err(AnalyzeError::Options("max frames must be at least 1".into()));
    }
    let zones = match &opts.zones {
        Some(p) => ZoneFile::load(p)?,
        None => Vec::new(),
    };
    let detector = Arc::new(Detector::load(&opts.model)?);
    let mut analyzer =
        CameraAnalyzer::new(detector, opts.tracker.clone(), zones.clone(), opts.hysteresis).with_tiling(opts.tiling);
    let cfg = DecodeConfig { analysis_fps: opts.analysis_fps, true_fps: opts.true_fps, drop_when_slow: false, scale_to: None };
    let mut decoder = FileDecoder::open(&opts.video, &cfg)?;

    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| AnalyzeError::Output { path: dir.clone(), source })?;
    let mut tracks_out = Out::create(dir, "tracks.txt", None)?;
    let mut dets_out = Out::create(dir, "detections.txt", None)?;
    let mut counts_out = Out::create(dir, "counts.csv", Some("frame,zone,count"))?;
    let area_zones: Vec<String> = zones
        .iter()
        .filter(|z| matches!(z.shape, super::zones::Shape::Polygon(_)))
        .map(|z| z.id.clone())
        .collect();

    let mut visits = Visits::default();
    let mut t0: Option<f64> = None;
    let mut analysed = 0u64;
    let mut people_sum = 0u64;
    let mut ids = std::collections::HashSet::new();
    while let Some(frame) = decoder.next_frame()? {
        if opts.max_frames.is_some_and(|m| frame.index >= m) {
            break;
        }
        let t = frame.pts_s;
        let first = *t0.get_or_insert(t);
        let result = analyzer.process(t, &frame.image)?;
        let n = frame.index + 1; // MOTChallenge frames are 1-based
        for d in &result.detections {
            let b = d.bbox;
            dets_out.line(format_args!("{n},-1,{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1", b.x, b.y, b.w, b.h, d.score))?;
        }
        for tr in &result.tracks {
            let b = tr.bbox;
            ids.insert(tr.id);
            tracks_out.line(format_args!(
                "{n},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                tr.id, b.x, b.y, b.w, b.h, tr.score
            ))?;
        }
        counts_out.line(format_args!("{n},all,{}", result.tracks.len()))?;
        for z in &area_zones {
            let c = result.counts.get(z).copied().unwrap_or(0);
            counts_out.line(format_args!("{n},{z},{c}"))?;
        }
        visits.add(&result.events, first);
        analysed += 1;
        people_sum += result.tracks.len() as u64;
        if analysed.is_multiple_of(100) {
            tracing::info!(frame = n, analysed, people = result.tracks.len(), "analysing");
        }
    }
    if analysed == 0 {
        return Err(AnalyzeError::Decode(DecodeError::NoVideo(format!("{}: no frame analysed", opts.video.display()))));
    }
    visits.add(&analyzer.finish(), t0.unwrap_or(0.0));
    tracks_out.close()?;
    dets_out.close()?;
    counts_out.close()?;

    let mut done = std::mem::take(&mut visits.done);
    done.sort_by(|a, b| a.enter_s.total_cmp(&b.enter_s).then(a.track_id.cmp(&b.track_id)));
    let mut visits_out = Out::create(dir, "visits.csv", Some("track_id,zone,enter_s,exit_s"))?;
    for v in &done {
        visits_out.line(format_args!("{},{},{:.3},{:.3}", v.track_id, v.zone, v.enter_s, v.exit_s))?;
    }
    visits_out.close()?;
    let mut cross_out = Out::create(dir, "crossings.csv", Some("track_id,zone,direction,t_s"))?;
    for (id, zone, d, t) in &visits.crossings {
        let d = match d {
            Direction::In => "in",
            Direction::Out => "out",
        };
        cross_out.line(format_args!("{id},{zone},{d},{t:.3}"))?;
    }
    cross_out.close()?;

    let summary = AnalyzeSummary {
        decode: decoder.stats(),
        frames_analysed: analysed,
        tracks: ids.len() as u64,
        mean_count: people_sum as f64 / analysed as f64,
        visits: done.len() as u64,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    tracing::info!(?summary, "analysis done");
    Ok(summary)
}
