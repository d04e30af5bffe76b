//! Tiled detection for small, distant people.
//!
//! YOLOX-Nano sees a frame through a 416×416 input, so a person 25 px tall in a 384×288 sub-stream
//! (or 60 px in a 1080p street) covers a handful of stride-8 cells and is often missed. Splitting the
//! frame into an overlapping grid of tiles and letterboxing each tile to the full input enlarges
//! everyone by about the grid size; the full frame can be run as well so that people larger than a
//! tile, or cut by a tile border, are still seen whole.
//!
//! This module is the geometry ([`Tiling::tiles`]) and the merge of the per-tile detections
//! ([`merge`]); running the network is [`super::detect::Detector::detect_tiled`].

use std::fmt;
use std::str::FromStr;

use super::detect::{BBox, Detection};

/// How a frame is split for detection. `1×1` (the default) is the plain full-frame detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiling {
    /// Tiles across.
    pub cols: u32,
    /// Tiles down.
    pub rows: u32,
    /// Fraction of a tile's width (height) shared with its right (lower) neighbour, so that a person
    /// cut by one tile's border is whole in the next one.
    pub overlap: f32,
    /// Also run the whole frame: it sees people larger than a tile, and people cut by every tile.
    pub full_frame: bool,
}

/// Overlap between neighbouring tiles, as a fraction of the tile: about a small person's width at
/// 2×2 on a 384×288 frame (a 213×160 tile shares 43×32 px), so most of them are whole in one tile.
pub const DEFAULT_OVERLAP: f32 = 0.2;

/// Largest tile count per axis accepted from config or the command line: beyond 4×4 the tiles of
/// a sub-stream are smaller than the people we want to find, and the cost is 17+ inferences a frame.
pub const MAX_TILES_PER_AXIS: u32 = 4;

impl Default for Tiling {
    fn default() -> Self {
        Tiling::OFF
    }
}

impl Tiling {
    /// No tiling: one inference of the whole frame.
    pub const OFF: Tiling = Tiling { cols: 1, rows: 1, overlap: 0.0, full_frame: true };

    /// A `cols`×`rows` grid with the default overlap, plus the full frame.
    pub fn grid(cols: u32, rows: u32) -> Tiling {
        Tiling { cols, rows, overlap: DEFAULT_OVERLAP, full_frame: true }
    }

    /// Whether this is the plain full-frame detector.
    pub fn is_off(&self) -> bool {
        self.cols * self.rows <= 1
    }

    /// Network runs per frame.
    pub fn inferences(&self) -> usize {
        if self.is_off() {
            1
        } else {
            (self.cols * self.rows) as usize + usize::from(self.full_frame)
        }
    }

    /// The tiles of a `width`×`height` frame, row by row. Tiles have the same size, neighbours share
    /// [`Tiling::overlap`] of it, and the outer tiles touch the frame edges.
    pub fn tiles(&self, width: u32, height: u32) -> Vec<Tile> {
        let xs = axis(width, self.cols, self.overlap);
        let ys = axis(height, self.rows, self.overlap);
        let mut out = Vec::with_capacity(xs.len() * ys.len());
        for &(y, h) in &ys {
            for &(x, w) in &xs {
                out.push(Tile { x, y, w, h, frame_w: width, frame_h: height });
            }
        }
        out
    }
}

/// Start and length of each of `n` equal segments covering `0..len`, neighbours overlapping by
/// `overlap` of a segment.
fn axis(len: u32, n: u32, overlap: f32) -> Vec<(u32, u32)> {
    let n = n.max(1);
    if n == 1 || len == 0 {
        return vec![(0, len)];
    }
    let overlap = overlap.clamp(0.0, 0.9);
    // n segments of length s with steps of s·(1-overlap) span s·(n - (n-1)·overlap) = len.
    let seg = ((len as f32 / (n as f32 - (n - 1) as f32 * overlap)).ceil() as u32).clamp(1, len);
    let span = len - seg;
    (0..n).map(|i| ((span as u64 * i as u64 / (n - 1) as u64) as u32, seg)).collect()
}

/// One tile of a frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
    frame_w: u32,
    frame_h: u32,
}

impl Tile {
    /// Whether `b` (frame pixels) reaches an edge of this tile that lies inside the frame, i.e. the
    /// person may continue beyond the tile and the box may be only part of them. The margin absorbs
    /// the few pixels a detector leaves between a cut body and the image border.
    pub fn cuts(&self, b: &BBox) -> bool {
        let mx = (self.w as f32 * CUT_MARGIN).max(1.0);
        let my = (self.h as f32 * CUT_MARGIN).max(1.0);
        let (x0, y0) = (self.x as f32, self.y as f32);
        let (x1, y1) = (x0 + self.w as f32, y0 + self.h as f32);
        (self.x > 0 && b.x <= x0 + mx)
            || (self.y > 0 && b.y <= y0 + my)
            || (self.x + self.w < self.frame_w && b.x + b.w >= x1 - mx)
            || (self.y + self.h < self.frame_h && b.y + b.h >= y1 - my)
    }
}

/// Distance from an inner tile edge, as a fraction of the tile, within which a box counts as cut.
const CUT_MARGIN: f32 = 0.02;

/// A detection from one source (one tile, or the full frame), in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The detection, mapped to frame pixels.
    pub det: Detection,
    /// Which inference it came from; detections of one source have already been through NMS.
    pub source: usize,
    /// The box touches an inner tile edge: possibly only part of a person.
    pub cut: bool,
}

/// Above this share of the smaller box inside the larger, two boxes from different sources are one
/// person seen at two scales (plain IoU misses that when one box is a loose fit of a small person).
const SAME_PERSON_COVER: f32 = 0.8;
/// A cut box this much inside another source's box is a part of that person.
const CUT_COVER: f32 = 0.5;

fn intersection(a: &BBox, b: &BBox) -> f32 {
    let ix = ((a.x + a.w).min(b.x + b.w) - a.x.max(b.x)).max(0.0);
    let iy = ((a.y + a.h).min(b.y + b.h) - a.y.max(b.y)).max(0.0);
    ix * iy
}

fn union_box(a: &BBox, b: &BBox) -> BBox {
    BBox::from_corners(a.x.min(b.x), a.y.min(b.y), (a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h))
}

/// Merges the detections of all tiles and the full frame into one list, sorted by score.
///
/// Whole boxes go first (by score), then cut ones, so a person is represented by a box that is not
/// cut whenever some source saw them whole. Between different sources a box is a duplicate when its
/// IoU with a kept box exceeds `nms_iou` or most of the smaller box lies inside the other; within a
/// source nothing more is suppressed (the detector's NMS already ran there, and a crowd legitimately
/// has overlapping people). A cut box mostly inside a kept box is dropped; two cut boxes of different
/// tiles that overlap a lot (the two halves of a person on a tile border) are joined. The kept box
/// takes the higher score, because a person partly seen with confidence is still a confident person.
pub fn merge(mut cands: Vec<Candidate>, nms_iou: f32) -> Vec<Detection> {
    cands.sort_by(|a, b| a.cut.cmp(&b.cut).then(b.det.score.total_cmp(&a.det.score)));
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    'next: for c in cands {
        let area_c = c.det.bbox.area();
        for k in kept.iter_mut().filter(|k| k.source != c.source) {
            let inter = intersection(&c.det.bbox, &k.det.bbox);
            let area_k = k.det.bbox.area();
            let smaller = area_c.min(area_k);
            let cover_min = if smaller > 0.0 { inter / smaller } else { 0.0 };
            let duplicate = c.det.bbox.iou(&k.det.bbox) > nms_iou
                || cover_min >= SAME_PERSON_COVER
                || (c.cut && area_c > 0.0 && inter / area_c >= CUT_COVER);
            let halves = c.cut && k.cut && cover_min >= CUT_COVER;
            if halves {
                k.det.bbox = union_box(&k.det.bbox, &c.det.bbox);
            }
            if duplicate || halves {
                k.det.score = k.det.score.max(c.det.score);
                continue 'next;
            }
        }
        kept.push(c);
    }
    let mut out: Vec<Detection> = kept.into_iter().map(|k| k.det).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Errors parsing a tiling such as `2x2`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a tile grid: expected COLSxROWS with 1..={MAX_TILES_PER_AXIS} each, e.g. 2x2 (1x1 = off)")]
pub struct TilingParseError(String);

impl FromStr for Tiling {
    type Err = TilingParseError;

    fn from_str(s: &str) -> Result<Tiling, TilingParseError> {
        let err = || TilingParseError(s.to_string());
        let (c, r) = s.trim().split_once(['x', 'X', '×']).ok_or_else(err)?;
        let cols: u32 = c.trim().parse().map_err(|_| err())?;
        let rows: u32 = r.trim().parse().map_err(|_| err())?;
        if !(1..=MAX_TILES_PER_AXIS).contains(&cols) || !(1..=MAX_TILES_PER_AXIS).contains(&rows) {
            return Err(err());
        }
        Ok(if cols * rows == 1 { Tiling::OFF } else { Tiling::grid(cols, rows) })
    }
}

impl fmt::Display for Tiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32, h: f32, score: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h }, score }
    }

    fn cand(d: Detection, source: usize, cut: bool) -> Candidate {
        Candidate { det: d, source, cut }
    }

    #[test]
    fn grid_covers_the_frame_with_overlap() {
        let tiles = Tiling::grid(2, 2).tiles(384, 288);
        assert_eq!(tiles.len(), 4);
        // 384 / (2 - 0.2) = 213.3 -> 214 wide; 288 / 1.8 = 160 high; outer tiles touch the edges.
        assert_eq!((tiles[0].x, tiles[0].y, tiles[0].w, tiles[0].h), (0, 0, 214, 160));
        assert_eq!((tiles[3].x, tiles[3].y), (384 - 214, 288 - 160));
        assert_eq!((tiles[1].x, tiles[1].y, tiles[2].x, tiles[2].y), (170, 0, 0, 128));
        // Neighbours share about 20% of a tile.
        let shared = tiles[0].x + tiles[0].w - tiles[1].x;
        assert!((40..=46).contains(&shared), "{shared}");
        // 3x2 on 1920x1080: every pixel column and row is covered.
        let t = Tiling::grid(3, 2).tiles(1920, 1080);
        assert_eq!(t.len(), 6);
        assert_eq!(t[2].x + t[2].w, 1920);
        assert_eq!(t[5].y + t[5].h, 1080);
        assert!(t[1].x < t[0].w && t[2].x < t[1].x + t[1].w);
        assert_eq!(Tiling::OFF.tiles(384, 288), vec![Tile { x: 0, y: 0, w: 384, h: 288, frame_w: 384, frame_h: 288 }]);
    }

    #[test]
    fn inference_count() {
        assert_eq!(Tiling::OFF.inferences(), 1);
        assert_eq!(Tiling::grid(2, 2).inferences(), 5);
        assert_eq!(Tiling { full_frame: false, ..Tiling::grid(3, 2) }.inferences(), 6);
    }

    #[test]
    fn cut_only_at_inner_edges() {
        let tiles = Tiling::grid(2, 2).tiles(384, 288);
        // Top-left tile (0..214, 0..160): its right and bottom edges are inner.
        let tl = tiles[0];
        assert!(!tl.cuts(&BBox { x: 0.0, y: 0.0, w: 20.0, h: 40.0 }), "frame edges do not cut");
        assert!(tl.cuts(&BBox { x: 200.0, y: 50.0, w: 14.0, h: 40.0 }), "right edge");
        assert!(tl.cuts(&BBox { x: 50.0, y: 130.0, w: 14.0, h: 30.0 }), "bottom edge");
        assert!(!tl.cuts(&BBox { x: 100.0, y: 50.0, w: 20.0, h: 40.0 }));
        // Bottom-right tile: its left and top edges are inner, right and bottom are the frame's.
        let br = tiles[3];
        assert!(br.cuts(&BBox { x: 170.0, y: 200.0, w: 15.0, h: 40.0 }));
        assert!(!br.cuts(&BBox { x: 360.0, y: 248.0, w: 24.0, h: 40.0 }));
    }

    #[test]
    fn merge_drops_cross_source_duplicates_but_keeps_a_crowd() {
        // The same person from the full frame (source 0) and a tile (source 1), loosely boxed.
        let full = det(100.0, 100.0, 20.0, 50.0, 0.5);
        let tile = det(102.0, 104.0, 15.0, 40.0, 0.8);
        let out = merge(vec![cand(full, 0, false), cand(tile, 1, false)], 0.45);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, tile.bbox, "the higher score wins between whole boxes");
        // Two overlapping people found by the same inference stay two (its own NMS kept them).
        let a = det(100.0, 100.0, 20.0, 50.0, 0.9);
        let b = det(110.0, 102.0, 20.0, 50.0, 0.7);
        assert_eq!(merge(vec![cand(a, 1, false), cand(b, 1, false)], 0.45).len(), 2);
        // Different people side by side from different tiles stay two.
        let c = det(140.0, 100.0, 20.0, 50.0, 0.6);
        assert_eq!(merge(vec![cand(a, 1, false), cand(c, 2, false)], 0.45).len(), 2);
    }

    #[test]
    fn merge_prefers_whole_boxes_and_joins_halves() {
        // A cut box (upper body at a tile border) inside a whole box from another source: one person,
        // the whole box, with the better score.
        let whole = det(100.0, 100.0, 20.0, 50.0, 0.4);
        let part = det(101.0, 100.0, 18.0, 25.0, 0.9);
        let out = merge(vec![cand(part, 1, true), cand(whole, 0, false)], 0.45);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, whole.bbox);
        assert!((out[0].score - 0.9).abs() < 1e-6);
        // The two halves of a person on a horizontal tile border (overlap rows 128..160), nobody else
        // saw them: joined into one box spanning both.
        let top = det(50.0, 110.0, 14.0, 50.0, 0.6); // 110..160
        let bottom = det(51.0, 128.0, 14.0, 42.0, 0.5); // 128..170
        let out = merge(vec![cand(top, 1, true), cand(bottom, 3, true)], 0.45);
        assert_eq!(out.len(), 1);
        let b = out[0].bbox;
        assert_eq!((b.y, b.y + b.h), (110.0, 170.0));
        assert_eq!((b.x, b.x + b.w), (50.0, 65.0));
        // A cut box nobody else explains is kept: it may be the only view of that person.
        let lone = det(300.0, 20.0, 10.0, 30.0, 0.7);
        assert_eq!(merge(vec![cand(lone, 2, true), cand(whole, 0, false)], 0.45).len(), 2);
    }

    #[test]
    fn parses_grids() {
        assert_eq!("2x2".parse::<Tiling>(), Ok(Tiling::grid(2, 2)));
        assert_eq!("3X2".parse::<Tiling>().map(|t| (t.cols, t.rows)), Ok((3, 2)));
        assert_eq!("1x1".parse::<Tiling>(), Ok(Tiling::OFF));
        for bad in ["2", "0x2", "5x1", "axb", ""] {
            assert!(bad.parse::<Tiling>().is_err(), "{bad}");
        }
        assert_eq!(Tiling::grid(2, 3).to_string(), "2x3");
    }
}
