//! HallWatch: records hall cameras and turns them into service-quality numbers.
//!
//! The pipeline, one module per stage:
//! `camera` (RTSP ingest) → `record` (segments, retention, playback) → `store` (index database);
//! `vision` (decode → detect → track → zones) turns frames into anonymous person tracks and zone counts;
//! `web` serves the API; `sim` provides a simulated camera for the demo, tests and benchmarks.

pub mod analytics;
pub mod camera;
pub mod cli;
pub mod config;
pub mod notify;
pub mod record;
pub mod serve;
pub mod service;
pub mod sim;
pub mod store;
pub mod time;
pub mod verify;
pub mod vision;
pub mod web;
