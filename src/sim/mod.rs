//! STUB
pub mod camera;
