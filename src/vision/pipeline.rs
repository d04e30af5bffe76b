//! The per-camera analysis step shared by live cameras and `hallwatch analyze`: one decoded frame
//! in, detections → tracks → zone events and counts out. Keeping it in one place is what makes the
//! offline evaluation measure the live behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;

use image::RgbImage;

use super::detect::{DetectError, Detection, Detector};
use super::tiles::Tiling;
use super::track::{TrackOutput, Tracker, TrackerConfig};
use super::zones::{Hysteresis, Zone, ZoneEvent, ZoneSet};

/// What one frame produced.
#[derive(Debug, Clone, Default)]
pub struct FrameAnalysis {
    /// Raw detector output (all scores above the model's threshold).
    pub detections: Vec<Detection>,
    /// People tracked in this frame: everyone in view.
    pub tracks: Vec<TrackOutput>,
    /// Zone events confirmed by this frame.
    pub events: Vec<ZoneEvent>,
    /// Debounced people count per area zone, after this frame.
    pub counts: BTreeMap<String, usize>,
}

/// Detection, tracking and zones for one camera. The detector may be shared between cameras.
#[derive(Debug)]
pub struct CameraAnalyzer {
    detector: Arc<Detector>,
    tracker: Tracker,
    zones: Vec<Zone>,
    hysteresis: Hysteresis,
    tiling: Tiling,
    /// Created at the first frame, when the frame size is known.
    zone_set: Option<ZoneSet>,
}

impl CameraAnalyzer {
    /// A fresh analyser (no tracks yet).
    pub fn new(detector: Arc<Detector>, tracker: TrackerConfig, zones: Vec<Zone>, hysteresis: Hysteresis) -> CameraAnalyzer {
        CameraAnalyzer { detector, tracker: Tracker::new(tracker), zones, hysteresis, tiling: Tiling::OFF, zone_set: None }
    }

    /// Detects on tiles of each frame (small, distant people); [`Tiling::OFF`] by default.
    pub fn with_tiling(mut self, tiling: Tiling) -> CameraAnalyzer {
        self.tiling = tiling;
        self
    }

    /// Analyses one frame taken at `t` seconds (non-decreasing; gaps are fine, all settings are in time).
    pub fn process(&mut self, t: f64, image: &RgbImage) -> Result<FrameAnalysis, DetectError> {
        let detections = self.detector.detect_tiled(image, &self.tiling)?;
        let tracks = self.tracker.update(t, &detections);
        let (w, h) = image.dimensions();
        let zs = self
            .zone_set
            .get_or_insert_with(|| ZoneSet::new(self.zones.clone(), self.hysteresis, w, h));
        zs.set_frame_size(w, h);
        let events = zs.update(t, &tracks);
        let counts = zs.counts();
        Ok(FrameAnalysis { detections, tracks, events, counts })
    }

    /// Ends the session: closes every open zone visit.
    pub fn finish(&mut self) -> Vec<ZoneEvent> {
        self.zone_set.as_mut().map(ZoneSet::finish).unwrap_or_default()
    }
}
