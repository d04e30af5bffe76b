//! Vision stage: decoding ([`decode`]), person detection ([`detect`], tiled for small people by
//! [`tiles`]), per-camera tracking ([`track`]), zones ([`zones`]), the per-frame step joining them
//! ([`pipeline`]) and the offline run of that step on a file ([`analyze`]).
//!
//! `Detector` turns RGB frames into person boxes with a YOLOX-family ONNX model; `Tracker` turns the
//! boxes of successive frames of one camera into anonymous, stable ids and steady per-frame counts;
//! `ZoneSet` turns tracks into debounced zone visits, line crossings and per-zone counts.

pub mod analyze;
pub mod decode;
pub mod detect;
pub mod live;
pub mod pipeline;
pub mod tiles;
pub mod track;
pub mod zones;

pub use decode::{DecodeConfig, DecodeError, DecodeStats, DecodedFrame, FileDecoder, LiveDecoder};
pub use detect::{BBox, DetectError, Detection, Detector, ModelSpec};
pub use pipeline::{CameraAnalyzer, FrameAnalysis};
pub use tiles::Tiling;
pub use track::{TrackOutput, Tracker, TrackerConfig};
pub use zones::{Hysteresis, Zone, ZoneEvent, ZoneEventKind, ZoneSet};
