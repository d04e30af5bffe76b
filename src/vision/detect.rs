//! Person detection with a YOLOX-family ONNX model run through ONNX Runtime (`ort`).
//!
//! Everything model-specific (file, checksum, input size, strides, thresholds, class) lives in
//! [`ModelSpec`], so another YOLOX export (e.g. YOLOX-Tiny at 416 or YOLOX-S at 640) can be dropped
//! in by configuration only. Pre-processing follows the YOLOX reference exactly (letterbox with the
//! image at the top-left and pad value 114, BGR, 0–255 floats, NCHW, no mean/std) because the
//! export was trained that way; any deviation costs recall on small people.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use image::RgbImage;
use ndarray::Array4;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};

use super::tiles::{merge, Candidate, Tiling};

/// An axis-aligned box in pixels of the original image: `x`,`y` is the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge in pixels.
    pub x: f32,
    /// Top edge in pixels.
    pub y: f32,
    /// Width in pixels.
    pub w: f32,
    /// Height in pixels.
    pub h: f32,
}

impl BBox {
    /// Builds a box from its corner coordinates (x1,y1 top-left; x2,y2 bottom-right).
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x: x1, y: y1, w: x2 - x1, h: y2 - y1 }
    }

    /// Builds a box from its centre and size.
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
        BBox { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    }

    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Centre x.
    pub fn cx(&self) -> f32 {
        self.x + self.w / 2.0
    }

    /// Centre y.
    pub fn cy(&self) -> f32 {
        self.y + self.h / 2.0
    }

    /// Intersection over union with `other` (0 when disjoint or degenerate).
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = ((self.x + self.w).min(other.x + other.w) - self.x.max(other.x)).max(0.0);
        let iy = ((self.y + self.h).min(other.y + other.h) - self.y.max(other.y)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// One detected person.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Box in original-image pixels.
    pub bbox: BBox,
    /// Confidence, objectness × class probability, in 0..1.
    pub score: f32,
}

/// Errors from loading or running the detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The model file could not be read (usually: setup has not copied it yet).
    #[error("cannot read detector model {path}: {source} (run scripts/setup.sh, or copy it from ../shared/models/)")]
    ModelMissing {
        /// Path that was tried.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The model file exists but is not the expected one.
    #[error("detector model {path} has sha256 {actual}, expected {expected} (corrupt or a different export: replace it, or update the spec's sha256)")]
    ChecksumMismatch {
        /// Path of the model file.
        path: PathBuf,
        /// sha256 the spec asks for.
        expected: String,
        /// sha256 of the file on disk.
        actual: String,
    },
    /// The spec itself is unusable (zero sizes, no strides, ...).
    #[error("invalid model spec: {0}")]
    InvalidSpec(String),
    /// ONNX Runtime could not be loaded or failed to build the session or run it.
    #[error("ONNX Runtime ({context}): {message}")]
    Runtime {
        /// What we were doing.
        context: &'static str,
        /// Message from ONNX Runtime.
        message: String,
    },
    /// The model's inputs/outputs do not match what the spec describes.
    #[error("model does not match its spec: {0}")]
    ModelMismatch(String),
}

fn rt<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> DetectError {
    move |e| DetectError::Runtime { context, message: e.to_string() }
}

/// Everything the detector needs to know about a YOLOX-family export.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Path of the `.onnx` file.
    pub path: PathBuf,
    /// Expected sha256 of the file, lowercase hex. Checked at load so a truncated or swapped file fails
    /// loudly instead of silently producing bad counts.
    pub sha256: String,
    /// Network input width in pixels.
    pub input_width: u32,
    /// Network input height in pixels.
    pub input_height: u32,
    /// Output strides of the detection heads, in the order the export concatenates them.
    pub strides: Vec<u32>,
    /// Detections below this score are dropped before NMS. Kept low by default because the tracker's
    /// second association stage uses low-score boxes to keep occluded people alive.
    pub score_threshold: f32,
    /// IoU above which the lower-scored of two boxes is suppressed.
    pub nms_iou: f32,
    /// Class index of "person" in the model's class list (COCO: 0).
    pub class_id: usize,
    /// Letterbox padding value (YOLOX was trained with 114).
    pub pad_value: u8,
    /// Threads ONNX Runtime may use inside one inference (intra-op pool).
    pub intra_threads: usize,
    /// Inference workers (sessions) shared by all cameras: up to this many frames are
    /// analysed at the same time, one per core being the natural choice.
    pub workers: usize,
    /// ONNX Runtime shared library; `None` uses `ORT_DYLIB_PATH`, then the system's `libonnxruntime.so`.
    /// Only the first detector loaded in a process decides (ONNX Runtime allows one environment).
    pub ort_library: Option<PathBuf>,
}

impl ModelSpec {
    /// sha256 of the YOLOX-Nano export the project ships (Kazuhito00/YOLOX-ONNX-TFLite-Sample).
    pub const YOLOX_NANO_SHA256: &'static str =
        "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14";

    /// The spec of the shipped YOLOX-Nano export (416×416, strides 8/16/32, COCO person = 0).
    pub fn yolox_nano(path: impl Into<PathBuf>) -> ModelSpec {
        ModelSpec {
            path: path.into(),
            sha256: Self::YOLOX_NANO_SHA256.to_string(),
            input_width: 416,
            input_height: 416,
            strides: vec![8, 16, 32],
            score_threshold: 0.1,
            nms_iou: 0.45,
            class_id: 0,
            pad_value: 114,
            intra_threads: 1,
            workers: 1,
            ort_library: None,
        }
    }

    fn validate(&self) -> Result<(), DetectError> {
        if self.input_width == 0 || self.input_height == 0 {
            return Err(DetectError::InvalidSpec("input size must be non-zero".into()));
        }
        if self.strides.is_empty() || self.strides.contains(&0) {
            return Err(DetectError::InvalidSpec("strides must be non-empty and non-zero".into()));
        }
        if self.workers == 0 {
            return Err(DetectError::InvalidSpec("workers must be at least 1".into()));
        }
        if self.intra_threads == 0 {
            return Err(DetectError::InvalidSpec("intra_threads must be at least 1".into()));
        }
        Ok(())
    }
}

/// How an image maps into the network input: scaled by `scale`, placed at the top-left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Input pixels per original pixel.
    pub scale: f32,
    /// Width of the resized image inside the input (the rest is padding).
    pub resized_w: u32,
    /// Height of the resized image inside the input.
    pub resized_h: u32,
    src_w: u32,
    src_h: u32,
}

impl Letterbox {
    /// Fits a `src_w`×`src_h` image into `dst_w`×`dst_h` keeping the aspect ratio.
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Letterbox {
        let scale = (dst_w as f32 / src_w.max(1) as f32).min(dst_h as f32 / src_h.max(1) as f32);
        // Same rounding as the YOLOX reference (int(w * r)), clamped so it never exceeds the input.
        let resized_w = ((src_w as f32 * scale) as u32).clamp(1, dst_w);
        let resized_h = ((src_h as f32 * scale) as u32).clamp(1, dst_h);
        Letterbox { scale, resized_w, resized_h, src_w, src_h }
    }

    /// Maps a box in network-input pixels back to original-image pixels, clipped to the image.
    pub fn to_original(&self, b: BBox) -> BBox {
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        let x1 = (b.x / self.scale).clamp(0.0, w);
        let y1 = (b.y / self.scale).clamp(0.0, h);
        let x2 = ((b.x + b.w) / self.scale).clamp(0.0, w);
        let y2 = ((b.y + b.h) / self.scale).clamp(0.0, h);
        BBox::from_corners(x1, y1, x2, y2)
    }
}

/// Writes `img` letterboxed into one NCHW BGR slot (`out` = 3×H×W floats, already filled with the
/// pad value). Bilinear with half-pixel centres, like OpenCV's INTER_LINEAR that YOLOX used.
fn fill_input(img: &RgbImage, lb: &Letterbox, in_w: usize, in_h: usize, out: &mut [f32]) {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let (rw, rh) = (lb.resized_w as usize, lb.resized_h as usize);
    let fx = sw as f32 / rw as f32;
    let fy = sh as f32 / rh as f32;
    // Precompute horizontal taps once per frame; they are the same for every row.
    let xtaps: Vec<(usize, usize, f32)> = (0..rw)
        .map(|x| {
            let s = ((x as f32 + 0.5) * fx - 0.5).max(0.0);
            let x0 = (s as usize).min(sw - 1);
            let x1 = (x0 + 1).min(sw - 1);
            (x0, x1, s - x0 as f32)
        })
        .collect();
    let plane = in_w * in_h;
    for y in 0..rh {
        let s = ((y as f32 + 0.5) * fy - 0.5).max(0.0);
        let y0 = (s as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = s - y0 as f32;
        let r0 = &raw[y0 * sw * 3..(y0 + 1) * sw * 3];
        let r1 = &raw[y1 * sw * 3..(y1 + 1) * sw * 3];
        for (x, &(x0, x1, wx)) in xtaps.iter().enumerate() {
            for c in 0..3 {
                let a = r0[x0 * 3 + c] as f32 * (1.0 - wx) + r0[x1 * 3 + c] as f32 * wx;
                let b = r1[x0 * 3 + c] as f32 * (1.0 - wx) + r1[x1 * 3 + c] as f32 * wx;
                // RGB in, BGR out: channel c goes to plane 2 - c.
                out[(2 - c) * plane + y * in_w + x] = a * (1.0 - wy) + b * wy;
            }
        }
    }
}

/// Greedy non-maximum suppression; returns the kept detections sorted by descending score.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if keep.iter().all(|k| k.bbox.iou(&d.bbox) <= iou_threshold) {
            keep.push(d);
        }
    }
    keep
}

/// Decodes one image's raw YOLOX output (`anchors` rows of `row_len` = 5 + classes floats) into
/// person boxes in network-input pixels, above `spec.score_threshold`, before NMS.
fn decode(spec: &ModelSpec, out: &[f32], row_len: usize) -> Vec<Detection> {
    let mut dets = Vec::new();
    let mut row = 0usize;
    for &s in &spec.strides {
        let gw = (spec.input_width / s) as usize;
        let gh = (spec.input_height / s) as usize;
        let stride = s as f32;
        for gy in 0..gh {
            for gx in 0..gw {
                let r = &out[row * row_len..(row + 1) * row_len];
                row += 1;
                let score = r[4] * r[5 + spec.class_id];
                if score < spec.score_threshold {
                    continue;
                }
                let cx = (r[0] + gx as f32) * stride;
                let cy = (r[1] + gy as f32) * stride;
                let w = r[2].exp() * stride;
                let h = r[3].exp() * stride;
                if !(w.is_finite() && h.is_finite()) {
                    continue;
                }
                dets.push(Detection { bbox: BBox::from_center(cx, cy, w, h), score });
            }
        }
    }
    dets
}

/// The one ONNX Runtime environment of the process (ONNX Runtime allows only one).
static ORT_ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

fn environment(library: Option<&Path>) -> Result<&'static Environment, DetectError> {
    let env = ORT_ENV.get_or_init(|| {
        // Load the library explicitly: ort's lazy fallback panics when it is missing, we want an error.
        let path: PathBuf = match (library, std::env::var_os("ORT_DYLIB_PATH")) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("libonnxruntime.so"),
        };
        ort::init_from(&path)
            .map_err(|e| format!("{e} (set ORT_DYLIB_PATH to libonnxruntime.so.1.32.0; scripts/setup.sh installs it)"))?
            .with_name("hallwatch")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|e| DetectError::Runtime { context: "loading the library", message: e.clone() })
}

/// A loaded person detector. Cheap to share (`Arc<Detector>`) between camera workers: they share a
/// pool of [`ModelSpec::workers`] sessions, each with [`ModelSpec::intra_threads`] threads, which
/// keeps the total CPU use bounded no matter how many cameras there are.
pub struct Detector {
    spec: ModelSpec,
    // ONNX Runtime's run needs exclusive access in ort 2.0, hence one mutex per session.
    sessions: Vec<Mutex<Session>>,
    /// Where a caller that finds every session busy queues, spread round-robin.
    next: AtomicUsize,
    dynamic_batch: bool,
    anchors: usize,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("spec", &self.spec)
            .field("dynamic_batch", &self.dynamic_batch)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Reads the model, checks its sha256, builds the inference session and checks its shapes.
    pub fn load(spec: &ModelSpec) -> Result<Detector, DetectError> {
        spec.validate()?;
        let bytes = std::fs::read(&spec.path)
            .map_err(|source| DetectError::ModelMissing { path: spec.path.clone(), source })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(spec.sha256.trim()) {
            return Err(DetectError::ChecksumMismatch {
                path: spec.path.clone(),
                expected: spec.sha256.clone(),
                actual,
            });
        }
        let env = environment(spec.ort_library.as_deref())?;
        let build = || {
            Session::builder(env)
                .map_err(rt("creating session options"))?
                .with_intra_threads(spec.intra_threads)
                .map_err(rt("setting intra-op threads"))?
                .with_inter_threads(1)
                .map_err(rt("setting inter-op threads"))?
                // Spinning threads burn CPU between frames; at 5–7 fps per camera that is pure waste.
                .with_intra_op_spinning(false)
                .map_err(rt("disabling spinning"))?
                .commit_from_memory(&bytes)
                .map_err(rt("loading the model"))
        };
        let session = build()?;

        let input = session
            .inputs()
            .first()
            .ok_or_else(|| DetectError::ModelMismatch("model has no inputs".into()))?;
        let shape = input
            .dtype()
            .tensor_shape()
            .ok_or_else(|| DetectError::ModelMismatch("input is not a tensor".into()))?;
        if shape.len() != 4 || shape[1] != 3 {
            return Err(DetectError::ModelMismatch(format!("input shape {shape:?}, expected [N,3,H,W]")));
        }
        let fixed_mismatch = |dim: i64, want: u32| dim > 0 && dim != i64::from(want);
        if fixed_mismatch(shape[2], spec.input_height) || fixed_mismatch(shape[3], spec.input_width) {
            return Err(DetectError::ModelMismatch(format!(
                "input shape {shape:?}, spec says {}x{} (width x height)",
                spec.input_width, spec.input_height
            )));
        }
        let dynamic_batch = shape[0] < 0;
        let anchors: usize = spec
            .strides
            .iter()
            .map(|&s| ((spec.input_width / s) * (spec.input_height / s)) as usize)
            .sum();
        let mut sessions = vec![Mutex::new(session)];
        for _ in 1..spec.workers {
            sessions.push(Mutex::new(build()?));
        }
        Ok(Detector { spec: spec.clone(), sessions, next: AtomicUsize::new(0), dynamic_batch, anchors })
    }

    /// The spec this detector was loaded with.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Whether the model accepts several images per run (dynamic batch dimension).
    pub fn batches(&self) -> bool {
        self.dynamic_batch
    }

    /// Detects people in one RGB frame; boxes are in the frame's pixels, sorted by score.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let mut all = self.run(std::slice::from_ref(img))?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Detects people in several frames (e.g. one per camera): one run when the model has a dynamic
    /// batch dimension, else one run per frame. Results are in input order.
    pub fn detect_batch(&self, imgs: &[RgbImage]) -> Result<Vec<Vec<Detection>>, DetectError> {
        if self.dynamic_batch {
            self.run(imgs)
        } else {
            let mut out = Vec::with_capacity(imgs.len());
            for img in imgs {
                out.push(self.detect(img)?);
            }
            Ok(out)
        }
    }

    /// Detects people in one frame split as `tiling` says (see [`super::tiles`]): each tile (and the
    /// full frame, if asked) is letterboxed to the network input, and the boxes are mapped back to
    /// frame pixels and merged. With several workers and a model without a batch dimension, the
    /// tiles of the frame run on the workers at the same time.
    pub fn detect_tiled(&self, img: &RgbImage, tiling: &Tiling) -> Result<Vec<Detection>, DetectError> {
        if tiling.is_off() {
            return self.detect(img);
        }
        let tiles = tiling.tiles(img.width(), img.height());
        let mut views: Vec<RgbImage> = tiles
            .iter()
            .map(|t| image::imageops::crop_imm(img, t.x, t.y, t.w, t.h).to_image())
            .collect();
        if tiling.full_frame {
            views.push(img.clone());
        }
        let per_view = if self.dynamic_batch || self.sessions.len() == 1 {
            self.detect_batch(&views)?
        } else {
            // Spread the views over the workers: one thread per session, each running its share.
            let share = views.len().div_ceil(self.sessions.len());
            std::thread::scope(|s| {
                let handles: Vec<_> = views.chunks(share).map(|chunk| s.spawn(move || self.detect_batch(chunk))).collect();
                let mut all = Vec::with_capacity(views.len());
                for h in handles {
                    match h.join() {
                        Ok(r) => all.extend(r?),
                        Err(p) => std::panic::resume_unwind(p),
                    }
                }
                Ok::<_, DetectError>(all)
            })?
        };
        let mut cands = Vec::new();
        for (source, dets) in per_view.into_iter().enumerate() {
            match tiles.get(source) {
                Some(t) => cands.extend(dets.into_iter().map(|d| {
                    let b = d.bbox;
                    let bbox = BBox { x: b.x + t.x as f32, y: b.y + t.y as f32, ..b };
                    Candidate { det: Detection { bbox, score: d.score }, source, cut: t.cuts(&bbox) }
                })),
                // The full frame: nothing is cut there.
                None => cands.extend(dets.into_iter().map(|det| Candidate { det, source, cut: false })),
            }
        }
        Ok(merge(cands, self.spec.nms_iou))
    }

    fn run(&self, imgs: &[RgbImage]) -> Result<Vec<Vec<Detection>>, DetectError> {
        if imgs.is_empty() {
            return Ok(Vec::new());
        }
        let (in_w, in_h) = (self.spec.input_width as usize, self.spec.input_height as usize);
        let mut input = Array4::<f32>::from_elem((imgs.len(), 3, in_h, in_w), f32::from(self.spec.pad_value));
        let mut boxes = Vec::with_capacity(imgs.len());
        for (i, img) in imgs.iter().enumerate() {
            if img.width() == 0 || img.height() == 0 {
                return Err(DetectError::InvalidSpec("empty image".into()));
            }
            let lb = Letterbox::new(img.width(), img.height(), self.spec.input_width, self.spec.input_height);
            let mut slot = input.index_axis_mut(ndarray::Axis(0), i);
            let buf = slot
                .as_slice_mut()
                .ok_or_else(|| DetectError::InvalidSpec("input buffer not contiguous".into()))?;
            fill_input(img, &lb, in_w, in_h, buf);
            boxes.push(lb);
        }
        let tensor = TensorRef::from_array_view(&input).map_err(rt("creating the input tensor"))?;
        // Take a free session if there is one, else queue on one; a poisoned lock only means
        // another thread panicked mid-run, and the session itself is still valid.
        let mut session = match self.sessions.iter().find_map(|m| m.try_lock().ok()) {
            Some(s) => s,
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
                self.sessions[i].lock().unwrap_or_else(|e| e.into_inner())
            }
        };
        let outputs = session.run(ort::inputs![tensor]).map_err(rt("running the model"))?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(rt("reading the output"))?;
        if shape.len() != 3
            || shape[0] != imgs.len() as i64
            || shape[1] != self.anchors as i64
            || shape[2] < 6 + self.spec.class_id as i64
        {
            return Err(DetectError::ModelMismatch(format!(
                "output shape {shape:?}, expected [{}, {}, 5+classes] for the spec's strides",
                imgs.len(),
                self.anchors
            )));
        }
        let row_len = shape[2] as usize;
        let per_image = self.anchors * row_len;
        Ok(boxes
            .iter()
            .enumerate()
            .map(|(i, lb)| {
                let raw = decode(&self.spec, &data[i * per_image..(i + 1) * per_image], row_len);
                nms(raw, self.spec.nms_iou)
                    .into_iter()
                    .map(|d| Detection { bbox: lb.to_original(d.bbox), score: d.score })
                    .filter(|d| d.bbox.w >= 1.0 && d.bbox.h >= 1.0)
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_math_and_mapping_back() {
        // 768x576 into 416x416: limited by width, scale 416/768, image occupies the top 312 rows.
        let lb = Letterbox::new(768, 576, 416, 416);
        assert!((lb.scale - 416.0 / 768.0).abs() < 1e-6);
        assert_eq!((lb.resized_w, lb.resized_h), (416, 312));
        let b = lb.to_original(BBox { x: 104.0, y: 52.0, w: 52.0, h: 104.0 });
        for (got, want) in [(b.x, 192.0), (b.y, 96.0), (b.w, 96.0), (b.h, 192.0)] {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
        // A box reaching into the padding is clipped to the image.
        let c = lb.to_original(BBox { x: 400.0, y: 300.0, w: 50.0, h: 50.0 });
        assert!((c.x + c.w - 768.0).abs() < 1e-3 && (c.y + c.h - 576.0).abs() < 1e-3, "{c:?}");
        // Portrait and upscaling: 288x384 into 416x416 is limited by height, scale 416/384 > 1.
        let p = Letterbox::new(288, 384, 416, 416);
        assert_eq!((p.resized_w, p.resized_h), (312, 416));
    }

    #[test]
    fn fill_input_places_bgr_top_left_with_padding() {
        // 4x2 image, solid colour: every covered input pixel must equal it in BGR, padding stays 114.
        let img = RgbImage::from_pixel(4, 2, image::Rgb([10, 20, 30]));
        let lb = Letterbox::new(4, 2, 8, 8);
        assert_eq!((lb.resized_w, lb.resized_h), (8, 4));
        let mut buf = vec![114.0f32; 3 * 64];
        fill_input(&img, &lb, 8, 8, &mut buf);
        assert_eq!(buf[0], 30.0); // B plane first
        assert_eq!(buf[64], 20.0);
        assert_eq!(buf[128 + 3 * 8 + 7], 10.0); // R plane, last covered row
        assert_eq!(buf[4 * 8], 114.0); // first padding row
    }

    #[test]
    fn nms_keeps_best_and_disjoint_boxes() {
        let d = |x: f32, score: f32| Detection { bbox: BBox { x, y: 0.0, w: 10.0, h: 20.0 }, score };
        let kept = nms(vec![d(0.0, 0.5), d(1.0, 0.9), d(30.0, 0.3), d(2.0, 0.4)], 0.45);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].bbox.x, 30.0);
        assert!((d(0.0, 1.0).bbox.iou(&d(5.0, 1.0).bbox) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn decode_grid_math() {
        // One stride-32 head on a 64x64 input: 2x2 cells; put a person in cell (x=1, y=0).
        let spec = ModelSpec {
            strides: vec![32],
            input_width: 64,
            input_height: 64,
            ..ModelSpec::yolox_nano("unused")
        };
        let row_len = 5 + 2;
        let mut out = vec![0.0f32; 4 * row_len];
        out[row_len..2 * row_len].copy_from_slice(&[0.5, 0.25, 0.0, (2.0f32).ln(), 0.9, 0.8, 0.1]);
        let dets = decode(&spec, &out, row_len);
        assert_eq!(dets.len(), 1);
        let b = dets[0].bbox;
        assert!((b.cx() - 48.0).abs() < 1e-4 && (b.cy() - 8.0).abs() < 1e-4);
        assert!((b.w - 32.0).abs() < 1e-3 && (b.h - 64.0).abs() < 1e-3);
        assert!((dets[0].score - 0.72).abs() < 1e-6);
    }

    #[test]
    fn missing_and_wrong_model_give_clear_errors() {
        let spec = ModelSpec::yolox_nano("/nonexistent/yolox_nano.onnx");
        assert!(matches!(Detector::load(&spec), Err(DetectError::ModelMissing { .. })));
        let path = std::env::temp_dir().join(format!("hallwatch-not-a-model-{}.onnx", std::process::id()));
        std::fs::write(&path, b"not a model").expect("temp file");
        let err = Detector::load(&ModelSpec::yolox_nano(&path));
        let _ = std::fs::remove_file(&path);
        assert!(matches!(err, Err(DetectError::ChecksumMismatch { .. })), "{err:?}");
    }

    /// The model file: `HALLWATCH_MODEL`, else `models/yolox_nano.onnx` in the crate.
    fn model_path() -> PathBuf {
        std::env::var_os("HALLWATCH_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/yolox_nano.onnx"))
    }

    /// Decodes the first frame of the PETS clip with ffmpeg (as PPM on a pipe, so no image codec is
    /// needed here). Panics with an explanation when the data or ffmpeg is missing: this test must not
    /// pass silently without having run.
    fn pets_frame() -> RgbImage {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // SHARED_DIR is the same override scripts/setup.sh honours.
        let shared = std::env::var_os("SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"));
        let candidates = [shared.join("data/pets09_s2l1/vtest.avi")];
        let video = candidates.iter().find(|p| p.exists()).unwrap_or_else(|| {
            panic!("PETS clip not found (looked for {candidates:?}); this test needs ../shared/data from the dev setup")
        });
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(video)
            .args(["-frames:v", "1", "-f", "image2pipe", "-vcodec", "ppm", "-"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run ffmpeg (apt install ffmpeg): {e}"));
        assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
        // PPM header: "P6\n<w> <h>\n255\n" then packed RGB.
        let mut fields = Vec::new();
        let mut pos = 0;
        while fields.len() < 4 {
            while out.stdout[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let start = pos;
            while !out.stdout[pos].is_ascii_whitespace() {
                pos += 1;
            }
            fields.push(String::from_utf8_lossy(&out.stdout[start..pos]).into_owned());
        }
        assert_eq!(fields[0], "P6");
        let w: u32 = fields[1].parse().expect("ppm width");
        let h: u32 = fields[2].parse().expect("ppm height");
        RgbImage::from_raw(w, h, out.stdout[pos + 1..].to_vec()).expect("ppm size")
    }

    #[test]
    fn real_model_finds_people_in_a_pets_frame() {
        let path = model_path();
        let det = Detector::load(&ModelSpec::yolox_nano(&path)).unwrap_or_else(|e| {
            panic!("real-model test needs the model and ONNX Runtime (ORT_DYLIB_PATH); run scripts/setup.sh test: {e}")
        });
        let frame = pets_frame();
        let dets = det.detect(&frame).expect("inference");
        let confident: Vec<_> = dets.iter().filter(|d| d.score >= 0.5).collect();
        // Frame 1 of PETS09-S2L1 has 3 annotated people (plus a few unannotated at the edges).
        assert!((2..=8).contains(&confident.len()), "{} confident people: {dets:?}", confident.len());
        for d in &confident {
            let b = d.bbox;
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 768.0 && b.y + b.h <= 576.0, "{b:?}");
            // Pedestrians in this view are 40–120 px tall and upright.
            assert!(b.h > 30.0 && b.h < 200.0 && b.h > b.w, "{b:?}");
        }
        // Batch API returns the same as single-frame calls.
        let batch = det.detect_batch(&[frame.clone(), frame.clone()]).expect("batch");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[1].len(), dets.len());
        // A pool of two workers serves two cameras at once with the same results.
        let mut spec = ModelSpec::yolox_nano(&path);
        spec.workers = 2;
        let pool = std::sync::Arc::new(Detector::load(&spec).expect("pool"));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (pool, frame) = (pool.clone(), frame.clone());
                std::thread::spawn(move || (0..5).map(|_| pool.detect(&frame).expect("inference").len()).collect::<Vec<_>>())
            })
            .collect();
        for r in runs {
            assert!(r.join().expect("worker").iter().all(|&n| n == dets.len()));
        }
        // Tiled: the pool spreads the tiles over its two workers and must agree with one worker;
        // boxes are mapped back into the frame, and the people seen plainly are still there.
        let tiling = Tiling::grid(2, 2);
        let tiled = det.detect_tiled(&frame, &tiling).expect("tiled");
        assert_eq!(pool.detect_tiled(&frame, &tiling).expect("tiled on the pool").len(), tiled.len());
        for d in &tiled {
            let b = d.bbox;
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 768.0 && b.y + b.h <= 576.0, "{b:?}");
        }
        for c in &confident {
            assert!(tiled.iter().any(|t| t.bbox.iou(&c.bbox) >= 0.5), "tiles lost {c:?}: {tiled:?}");
        }
    }
}
