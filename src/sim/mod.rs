//! Simulated RTSP cameras (an H.264 clip in a loop over real RTSP) and a simulated queue
//! system posting to the ingestion API, for the demo, tests and benchmarks.

pub mod camera;
pub mod tickets;
