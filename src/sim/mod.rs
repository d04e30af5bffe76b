//! Simulated RTSP cameras: serve an H.264 clip in a loop over real RTSP, for the demo, tests and benchmarks.

pub mod camera;
