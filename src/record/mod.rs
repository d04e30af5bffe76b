//! Recording: frames in, segment files and index rows out; retention; playback.
//!
//! Nothing here decodes or re-encodes video: samples go from the camera to disk
//! and from disk to the HTTP response byte for byte.

pub mod export;
pub mod mp4;
pub mod playback;
pub mod recorder;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod storage;
