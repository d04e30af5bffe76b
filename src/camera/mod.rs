//! Camera ingest: one retina session per configured stream, emitting [`Frame`]s.

pub mod clock;
pub mod health;
pub mod session;

use bytes::Bytes;

/// Video codec parameters of a stream, as needed to write its MP4 sample entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoParams {
    /// Full MP4 `avc1`/`hvc1` sample entry box, including its header.
    pub sample_entry: Vec<u8>,
    /// RFC 6381 codec string, e.g. `avc1.640028`.
    pub codec: String,
    /// Coded width in pixels.
    pub width: u16,
    /// Coded height in pixels.
    pub height: u16,
}

/// One encoded video access unit as received from a camera.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The access unit in MP4 sample form (length-prefixed NAL units).
    pub data: Bytes,
    /// True if decoding can start at this frame (IDR / IRAP).
    pub is_key: bool,
    /// Presentation time in 90 kHz units since the start of the session.
    pub pts_90k: i64,
    /// Wall-clock time of this frame in microseconds since the Unix epoch.
    pub wall_us: i64,
}
