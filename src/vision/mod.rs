//! Vision stage: person detection ([`detect`]) and per-camera tracking ([`track`]).
//!
//! `Detector` turns RGB frames into person boxes with a YOLOX-family ONNX model; `Tracker` turns the
//! boxes of successive frames of one camera into anonymous, stable ids and steady per-frame counts.

pub mod detect;
pub mod track;

pub use detect::{BBox, DetectError, Detection, Detector, ModelSpec};
pub use track::{TrackOutput, Tracker, TrackerConfig};
