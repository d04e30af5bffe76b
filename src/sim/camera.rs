//! STUB (replaced by helper)
pub struct SimCameraOptions { pub listen: std::net::SocketAddr, pub file: std::path::PathBuf, pub mounts: Vec<String>, pub credentials: Option<(String, String)> }
pub struct SimCamera {}
impl SimCamera {
    pub fn start(_opts: SimCameraOptions) -> Result<SimCamera, SimError> { todo!() }
    pub fn url(&self, _mount: &str) -> String { todo!() }
    pub fn stop(self) {}
}
#[derive(Debug, thiserror::Error)] pub enum SimError { #[error("x")] X }
