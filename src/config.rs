//! The TOML configuration: schema, defaults and validation.
//!
//! Every table rejects unknown keys, and every error names the offending key
//! (for example `cameras[1].streams[0].url`), so an operator editing the file by
//! hand learns exactly what to fix.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration problem, always naming the key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("{path}: {key}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The key path, e.g. `cameras[0].streams[0].transport`.
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where recordings and the index live.
    pub storage: StorageConfig,
    /// The halls this node serves.
    #[serde(default)]
    pub halls: Vec<HallConfig>,
    /// The cameras to record.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// The built-in simulated camera, for the demo hall.
    #[serde(default)]
    pub simulator: Option<SimulatorConfig>,
    /// People detection and tracking; absent means no analysis.
    #[serde(default)]
    pub analysis: Option<AnalysisConfig>,
    /// Alert rules (`[alerts]`); absent means no alerts are evaluated.
    #[serde(default)]
    pub alerts: Option<crate::service::alerts::AlertsConfig>,
    /// API access tokens for machines (people log in with accounts: `hallwatch user`).
    #[serde(default)]
    pub access: Vec<AccessToken>,
    /// How the public display estimates waits.
    #[serde(default)]
    pub estimated_wait: crate::service::ewt::EwtSettings,
    /// KPI report settings.
    #[serde(default)]
    pub reports: ReportsConfig,
}

/// KPI report settings (`[reports]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Rows of past days the KPI reads keep in memory (about 150 bytes each); 0 turns the
    /// day cache off. Default 1,000,000.
    #[serde(default = "default_cache_rows")]
    pub cache_rows: usize,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { cache_rows: default_cache_rows() }
    }
}

fn default_cache_rows() -> usize {
    crate::store::DAY_CACHE_ROWS
}

/// HTTP server settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server binds to.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory of the web pages (HTML, JS, CSS), relative to the working directory. Default `web`.
    #[serde(default = "default_web_dir")]
    pub web_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            web_dir: default_web_dir(),
        }
    }
}

fn default_web_dir() -> PathBuf {
    PathBuf::from("web")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Storage settings shared by all cameras.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for segment files. It must already exist: a missing mount must
    /// not silently fill the system disk.
    pub dir: PathBuf,
    /// SQLite database file; defaults to `hallwatch.db` inside `dir`.
    #[serde(default)]
    pub database: Option<PathBuf>,
    /// Target segment length in seconds; segments are cut on the first key frame after it.
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: u32,
    /// Fragment length in milliseconds: at most this much is lost on a crash.
    #[serde(default = "default_fragment_ms")]
    pub fragment_ms: u32,
    /// Global floor of free disk space. Below it the oldest segments are deleted;
    /// if nothing can be deleted, new recording is refused until space returns.
    #[serde(default = "default_min_free")]
    pub min_free: ByteSize,
    /// How often retention runs, in seconds.
    #[serde(default = "default_retention_interval")]
    pub retention_interval_seconds: u32,
    /// Whether to `fdatasync` each fragment, so a power cut (not just a process
    /// crash) loses at most the fragment in flight.
    #[serde(default = "default_true")]
    pub sync_fragments: bool,
}

fn default_segment_seconds() -> u32 {
    60
}
fn default_fragment_ms() -> u32 {
    1000
}
fn default_min_free() -> ByteSize {
    ByteSize(1 << 30)
}
fn default_retention_interval() -> u32 {
    30
}
fn default_true() -> bool {
    true
}

impl StorageConfig {
    /// The database file path.
    pub fn database_path(&self) -> PathBuf {
        self.database
            .clone()
            .unwrap_or_else(|| self.dir.join("hallwatch.db"))
    }
}

/// A hall (Bộ phận Một cửa / TTPVHCC).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HallConfig {
    /// Stable identifier used in URLs and the database.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Fields (lĩnh vực) served in this hall, with their service levels.
    #[serde(default)]
    pub fields: Vec<FieldConfig>,
}

/// A field (lĩnh vực): a queue of the hall, e.g. hộ tịch.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Code used by the queue system and the one-stop software, e.g. `HT`.
    pub code: String,
    /// Display name, e.g. "Hộ tịch".
    pub name: String,
    /// Service level: a ticket waiting longer than this counts as "above service level". Default 15.
    #[serde(default = "default_service_level")]
    pub service_level_minutes: u32,
}

fn default_service_level() -> u32 {
    15
}

/// One camera and its streams.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Stable identifier used in URLs, paths and the database.
    pub id: String,
    /// The hall this camera is in.
    pub hall: String,
    /// Display name.
    pub name: String,
    /// A disabled camera is kept in the config but not connected.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Keep recordings at most this many days.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Keep at most this many bytes of recordings for this camera.
    #[serde(default)]
    pub retention_max: Option<ByteSize>,
    /// The RTSP streams of this camera.
    pub streams: Vec<StreamConfig>,
    /// Analysis zones of this camera's view (`[[cameras.zones]]`, same schema as a zone file).
    #[serde(default)]
    pub zones: Vec<crate::vision::zones::ZoneSpec>,
    /// Whether to analyse this camera when `[analysis]` is enabled. Default true. The
    /// `detect` stream is analysed when the camera has one, else `main`.
    #[serde(default = "default_true")]
    pub analyze: bool,
    /// Detect on a `[cols, rows]` grid of overlapping tiles plus the full frame, for small,
    /// distant people (e.g. `[2, 2]` on a 384×288 sub-stream). Default `[1, 1]`: off.
    #[serde(default)]
    pub tiles: Option<[u32; 2]>,
}

impl CameraConfig {
    /// How this camera's frames are split for detection.
    pub fn tiling(&self) -> crate::vision::Tiling {
        match self.tiles {
            Some([cols, rows]) if cols * rows > 1 => crate::vision::Tiling::grid(cols, rows),
            _ => crate::vision::Tiling::OFF,
        }
    }

    /// The stream analysis uses: the sub-stream when there is one, as NVRs do.
    pub fn analysis_stream(&self) -> Option<&StreamConfig> {
        self.streams
            .iter()
            .find(|s| s.role == StreamRole::Detect)
            .or_else(|| self.streams.iter().find(|s| s.role == StreamRole::Main))
    }
}

/// People detection settings: the model spec lives here so that another YOLOX-family
/// export can be dropped in without code changes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Whether `serve` analyses cameras.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The ONNX model file.
    pub model: PathBuf,
    /// Its sha256 (lowercase hex); checked at start-up. Default: the shipped YOLOX-Nano.
    #[serde(default)]
    pub model_sha256: Option<String>,
    /// Network input size `[width, height]`. Default `[416, 416]`.
    #[serde(default)]
    pub input_size: Option<[u32; 2]>,
    /// Detection heads' strides. Default `[8, 16, 32]`.
    #[serde(default)]
    pub strides: Option<Vec<u32>>,
    /// Lowest detection score kept (the tracker uses low scores to keep occluded people). Default 0.1.
    #[serde(default)]
    pub score_threshold: Option<f32>,
    /// Non-maximum suppression IoU. Default 0.45.
    #[serde(default)]
    pub nms_iou: Option<f32>,
    /// Class index of "person". Default 0 (COCO).
    #[serde(default)]
    pub person_class: Option<usize>,
    /// Threads ONNX Runtime uses per inference. Default 1.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Inference workers shared by all cameras (frames analysed at once). Default 1.
    #[serde(default = "default_threads")]
    pub workers: usize,
    /// Frames analysed per second and camera. Default 5.
    #[serde(default = "default_analysis_fps")]
    pub fps: f64,
    /// Visit, wait and staffing rules (`[analysis.analytics]`).
    #[serde(default)]
    pub analytics: crate::analytics::AnalyticsConfig,
}

fn default_threads() -> usize {
    1
}
fn default_analysis_fps() -> f64 {
    5.0
}

impl AnalysisConfig {
    /// The detector's model spec.
    pub fn model_spec(&self) -> crate::vision::ModelSpec {
        let mut m = crate::vision::ModelSpec::yolox_nano(&self.model);
        if let Some(h) = &self.model_sha256 {
            m.sha256 = h.to_ascii_lowercase();
        }
        if let Some([w, h]) = self.input_size {
            m.input_width = w;
            m.input_height = h;
        }
        if let Some(s) = &self.strides {
            m.strides = s.clone();
        }
        if let Some(t) = self.score_threshold {
            m.score_threshold = t;
        }
        if let Some(t) = self.nms_iou {
            m.nms_iou = t;
        }
        if let Some(c) = self.person_class {
            m.class_id = c;
        }
        m.intra_threads = self.threads;
        m.workers = self.workers;
        m
    }
}

/// What a stream is used for.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum StreamRole {
    /// The full-resolution stream, recorded.
    Main,
    /// A sub-stream for analytics.
    Detect,
}

impl StreamRole {
    /// The name used in the database and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamRole::Main => "main",
            StreamRole::Detect => "detect",
        }
    }
}

impl fmt::Display for StreamRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RTP transport.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// RTP interleaved on the RTSP TCP connection (default: passes NAT and firewalls).
    #[default]
    Tcp,
    /// RTP over UDP, for cameras that only offer it.
    Udp,
}

/// One RTSP stream of a camera.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// `main` or `detect`.
    pub role: StreamRole,
    /// `rtsp://host[:port]/path`; credentials go in `username`/`password`.
    pub url: String,
    /// RTSP username (Basic or Digest).
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password.
    #[serde(default)]
    pub password: Option<String>,
    /// Name of an environment variable holding the password, to keep it out of the file.
    #[serde(default)]
    pub password_env: Option<String>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: TransportKind,
    /// Whether to record this stream; defaults to true for `main`, false for `detect`.
    #[serde(default)]
    pub record: Option<bool>,
}

// Hand-written so that a password never reaches a log line via `{:?}`.
impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConfig")
            .field("role", &self.role)
            .field("url", &self.url)
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("transport", &self.transport)
            .field("record", &self.record)
            .finish()
    }
}

impl StreamConfig {
    /// Whether this stream is recorded.
    pub fn records(&self) -> bool {
        self.record.unwrap_or(self.role == StreamRole::Main)
    }

    /// The password, from the file or from the named environment variable.
    pub fn resolved_password(&self) -> Option<String> {
        match (&self.password, &self.password_env) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(var)) => std::env::var(var).ok(),
            (None, None) => None,
        }
    }
}

/// The built-in simulated camera (demo hall, tests, benchmarks).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Whether `serve` starts it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// RTSP listen address.
    pub listen: SocketAddr,
    /// H.264 MP4 clip served in a loop.
    pub file: PathBuf,
    /// Mount paths, one simulated camera each.
    pub mounts: Vec<String>,
    /// The simulated queue system (`[simulator.tickets]`), posting to this server's API.
    #[serde(default)]
    pub tickets: Option<crate::sim::tickets::TicketSimConfig>,
}

/// Role granted by an access token or an account.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Live views and statistics.
    Supervisor,
    /// Supervisor plus recordings and the audit log.
    Auditor,
    /// Everything.
    Admin,
    /// A system posting service records (queue system, one-stop software, rating devices)
    /// to `/api/v1`; its token name is the records' source.
    Integration,
}

/// A bearer token for API clients.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessToken {
    /// Who holds it, as written in the audit log.
    pub name: String,
    /// The role it grants.
    pub role: Role,
    /// SHA-256 of the token, hex; the token itself never sits in the file.
    pub token_sha256: String,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A byte count written as an integer or as a string like `"500MB"` or `"2GiB"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let num: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size such as \"500MB\" or \"2GiB\""))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown size unit `{other}` (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
        };
        Ok(ByteSize((num * mult).round() as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg = Self::parse(&text, path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Parses TOML text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.message().to_owned();
            if let Some(span) = inner.span() {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                message = format!("{message} (line {line})");
            }
            ConfigError::Parse {
                path: path.to_owned(),
                key: if key == "." { "(top level)".into() } else { key },
                message,
            }
        })
    }

    /// Checks values that parse but make no sense, naming the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        if !self.storage.dir.is_dir() {
            return Err(invalid(
                "storage.dir".into(),
                format!(
                    "directory {} does not exist; create it (or mount the recording disk) first",
                    self.storage.dir.display()
                ),
            ));
        }
        if !(2..=3600).contains(&self.storage.segment_seconds) {
            return Err(invalid(
                "storage.segment_seconds".into(),
                format!("{} is out of range 2..=3600", self.storage.segment_seconds),
            ));
        }
        if !(100..=2000).contains(&self.storage.fragment_ms) {
            return Err(invalid(
                "storage.fragment_ms".into(),
                format!(
                    "{} is out of range 100..=2000 (a crash may lose at most one fragment)",
                    self.storage.fragment_ms
                ),
            ));
        }
        if self.storage.retention_interval_seconds == 0 {
            return Err(invalid(
                "storage.retention_interval_seconds".into(),
                "must be at least 1".into(),
            ));
        }
        if let Some((key, message)) = self.estimated_wait.problem() {
            return Err(invalid(format!("estimated_wait.{key}"), message.into()));
        }
        let mut hall_ids = std::collections::HashSet::new();
        for (i, h) in self.halls.iter().enumerate() {
            check_id(&h.id).map_err(|m| invalid(format!("halls[{i}].id"), m))?;
            if !hall_ids.insert(h.id.as_str()) {
                return Err(invalid(format!("halls[{i}].id"), format!("duplicate hall id `{}`", h.id)));
            }
            let mut codes = std::collections::HashSet::new();
            for (j, f) in h.fields.iter().enumerate() {
                check_id(&f.code).map_err(|m| invalid(format!("halls[{i}].fields[{j}].code"), m))?;
                if !codes.insert(f.code.as_str()) {
                    return Err(invalid(format!("halls[{i}].fields[{j}].code"), format!("duplicate field code `{}`", f.code)));
                }
                if f.service_level_minutes == 0 {
                    return Err(invalid(format!("halls[{i}].fields[{j}].service_level_minutes"), "must be at least 1".into()));
                }
            }
        }
        let mut cam_ids = std::collections::HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let key = |k: &str| format!("cameras[{i}].{k}");
            check_id(&c.id).map_err(|m| invalid(key("id"), m))?;
            if !cam_ids.insert(c.id.as_str()) {
                return Err(invalid(key("id"), format!("duplicate camera id `{}`", c.id)));
            }
            if !hall_ids.contains(c.hall.as_str()) {
                return Err(invalid(key("hall"), format!("no hall with id `{}` in [[halls]]", c.hall)));
            }
            if c.retention_days == Some(0) {
                return Err(invalid(key("retention_days"), "must be at least 1".into()));
            }
            if c.streams.is_empty() {
                return Err(invalid(key("streams"), "a camera needs at least one stream".into()));
            }
            if let Some(t) = c.tiles {
                let max = crate::vision::tiles::MAX_TILES_PER_AXIS;
                if t.iter().any(|n| !(1..=max).contains(n)) {
                    return Err(invalid(key("tiles"), format!("{t:?}: columns and rows must be 1..={max}")));
                }
            }
            crate::vision::zones::validate_all(&c.zones).map_err(|e| invalid(key("zones"), e.to_string()))?;
            let mut roles = std::collections::HashSet::new();
            for (j, s) in c.streams.iter().enumerate() {
                let skey = |k: &str| format!("cameras[{i}].streams[{j}].{k}");
                if !roles.insert(s.role) {
                    return Err(invalid(skey("role"), format!("two `{}` streams", s.role)));
                }
                check_rtsp_url(&s.url).map_err(|m| invalid(skey("url"), m))?;
                if s.password.is_some() && s.password_env.is_some() {
                    return Err(invalid(skey("password_env"), "set either password or password_env, not both".into()));
                }
                if let Some(var) = &s.password_env {
                    if std::env::var(var).is_err() {
                        return Err(invalid(skey("password_env"), format!("environment variable `{var}` is not set")));
                    }
                }
            }
        }
        if let Some(sim) = &self.simulator {
            if sim.enabled && !sim.file.is_file() {
                return Err(invalid(
                    "simulator.file".into(),
                    format!("{} does not exist (run `make setup` to create the demo clip)", sim.file.display()),
                ));
            }
            if let Some(t) = &sim.tickets {
                if !hall_ids.contains(t.hall.as_str()) {
                    return Err(invalid("simulator.tickets.hall".into(), format!("no hall with id `{}` in [[halls]]", t.hall)));
                }
                t.validate().map_err(|(k, m)| invalid(format!("simulator.tickets.{k}"), m))?;
            }
            for (i, m) in sim.mounts.iter().enumerate() {
                if !m.starts_with('/') || m.len() < 2 {
                    return Err(invalid(format!("simulator.mounts[{i}]"), format!("`{m}` must look like \"/hall\"")));
                }
            }
        }
        if let Some(a) = self.analysis.as_ref().filter(|a| a.enabled) {
            if !a.model.is_file() {
                return Err(invalid(
                    "analysis.model".into(),
                    format!("{} does not exist (run `make setup` to install the model)", a.model.display()),
                ));
            }
            if !(a.fps > 0.0 && a.fps <= 30.0) {
                return Err(invalid("analysis.fps".into(), format!("{} is out of range (0, 30]", a.fps)));
            }
            if !(1..=64).contains(&a.workers) {
                return Err(invalid("analysis.workers".into(), format!("{} is out of range 1..=64", a.workers)));
            }
            if !(1..=64).contains(&a.threads) {
                return Err(invalid("analysis.threads".into(), format!("{} is out of range 1..=64", a.threads)));
            }
            if let Some(h) = &a.model_sha256 {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("analysis.model_sha256".into(), "must be 64 hex digits".into()));
                }
            }
            a.analytics.validate().map_err(|e| invalid("analysis.analytics".into(), e.to_string()))?;
            if a.score_threshold.is_some_and(|t| !(0.0..1.0).contains(&t)) {
                return Err(invalid("analysis.score_threshold".into(), "must be in [0, 1)".into()));
            }
        }
        if let Some(a) = &self.alerts {
            let fields = self.halls.iter().flat_map(|h| h.fields.iter().map(|f| (h.id.clone(), f.code.clone()))).collect();
            a.validate(&fields, self.storage.segment_seconds).map_err(|e| invalid(format!("alerts.{}", e.key), e.message))?;
        }
        for (i, t) in self.access.iter().enumerate() {
            if t.token_sha256.len() != 64 || !t.token_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!("access[{i}].token_sha256"), "must be 64 hex digits (sha256 of the token)".into()));
            }
        }
        Ok(())
    }
}

/// Identifiers appear in URLs and file paths, so they are kept to a safe alphabet.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{id}` must be 1-64 characters of a-z, A-Z, 0-9, '-' or '_'"))
    }
}

fn check_rtsp_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    if url.scheme() != "rtsp" && url.scheme() != "rtsps" {
        return Err(format!("scheme must be rtsp or rtsps, not `{}`", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in `username` and `password` (or `password_env`), not in the URL".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(extra: &str) -> String {
        format!(
            "[storage]\ndir = \"/tmp\"\n[[halls]]\nid = \"h\"\nname = \"H\"\n\
             [[cameras]]\nid = \"c1\"\nhall = \"h\"\nname = \"C\"\n\
             [[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1/x\"\n{extra}"
        )
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        let p = Path::new("test.toml");
        let c = Config::parse(text, p)?;
        c.validate(p)?;
        Ok(c)
    }

    #[test]
    fn accepts_minimal() {
        let c = load(&base("")).unwrap();
        assert_eq!(c.storage.segment_seconds, 60);
        assert!(c.cameras[0].streams[0].records());
    }

    #[test]
    fn unknown_key_names_the_key() {
        let e = load(&base("urll = \"x\"")).unwrap_err().to_string();
        assert!(e.contains("cameras[0].streams[0]"), "{e}");
        assert!(e.contains("urll"), "{e}");
    }

    #[test]
    fn bad_zone_names_the_key_and_zone() {
        let zone = "\n[[cameras.zones]]\nid = \"z1\"\nkind = \"staff\"\npolygon = [[0,0],[1,0],[1,1]]\n";
        let e = load(&format!("{}{zone}", base(""))).unwrap_err().to_string();
        assert!(e.contains("cameras[0].zones") && e.contains("`z1`") && e.contains("counter"), "{e}");
        let ok = zone.replace("kind = \"staff\"", "kind = \"staff\"\ncounter = 2");
        assert!(load(&format!("{}{ok}", base(""))).is_ok());
    }

    #[test]
    fn bad_url_names_the_key() {
        let e = load(&base("").replace("rtsp://127.0.0.1/x", "http://x/")).unwrap_err().to_string();
        assert!(e.contains("cameras[0].streams[0].url"), "{e}");
        let e = load(&base("").replace("rtsp://127.0.0.1/x", "rtsp://u:p@h/x")).unwrap_err().to_string();
        assert!(e.contains("credentials"), "{e}");
        assert!(!e.contains(":p@"), "password echoed: {e}");
    }

    #[test]
    fn missing_storage_dir() {
        let e = load(&base("").replace("/tmp", "/nonexistent/rec")).unwrap_err().to_string();
        assert!(e.contains("storage.dir"), "{e}");
    }

    #[test]
    fn bad_enum_value() {
        let e = load(&base("transport = \"sctp\"")).unwrap_err().to_string();
        assert!(e.contains("cameras[0].streams[0].transport"), "{e}");
    }

    #[test]
    fn alert_and_ticket_simulator_keys_are_named() {
        let fields = "[[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n";
        let with = |extra: &str| load(&base("").replace("[[cameras]]", &format!("{fields}[[cameras]]")).replace("rtsp://127.0.0.1/x\"\n", &format!("rtsp://127.0.0.1/x\"\n{extra}")));
        assert!(with("[alerts]\n").is_ok());
        let e = with("[alerts]\nstorage_warning_free = \"lots\"").unwrap_err().to_string();
        assert!(e.contains("alerts.storage_warning_free"), "{e}");
        let e = with("[alerts]\nactive_hours = [[\"18:00\", \"07:00\"]]").unwrap_err().to_string();
        assert!(e.contains("alerts.active_hours[0]"), "{e}");
        let e = with("[alerts]\n[[alerts.fields]]\ncode = \"HT\"\nqueue_warnings = 3").unwrap_err().to_string();
        assert!(e.contains("alerts.fields[0]") && e.contains("queue_warnings"), "{e}");
        let sim = "[simulator]\nenabled = false\nlisten = \"127.0.0.1:8554\"\nfile = \"x.mp4\"\nmounts = [\"/a\"]\n[simulator.tickets]\nhall = \"h\"\n";
        let e = with(sim).unwrap_err().to_string();
        assert!(e.contains("simulator.tickets.token"), "{e}");
        let e = with(&format!("{sim}token = \"t\"\nspeed = 0")).unwrap_err().to_string();
        assert!(e.contains("simulator.tickets.speed"), "{e}");
        assert!(with(&format!("{sim}token = \"t\"")).is_ok());
    }

    #[test]
    fn reports_keys_are_named() {
        let with = |extra: &str| load(&base("").replace("[[halls]]", &format!("{extra}\n[[halls]]")));
        assert_eq!(with("").unwrap().reports.cache_rows, crate::store::DAY_CACHE_ROWS);
        assert_eq!(with("[reports]\ncache_rows = 0").unwrap().reports.cache_rows, 0);
        let e = with("[reports]\ncache_rows = -1").unwrap_err().to_string();
        assert!(e.contains("reports.cache_rows"), "{e}");
        let e = with("[reports]\ncache_days = 5").unwrap_err().to_string();
        assert!(e.contains("reports") && e.contains("cache_days"), "{e}");
    }

    #[test]
    fn estimated_wait_keys_are_named() {
        let with = |extra: &str| load(&base("").replace("[[halls]]", &format!("{extra}\n[[halls]]")));
        assert_eq!(with("").unwrap().estimated_wait.step_minutes, 5);
        assert_eq!(with("[estimated_wait]\ndefault_service_minutes = 6.5").unwrap().estimated_wait.default_service_minutes, 6.5);
        let e = with("[estimated_wait]\nstep_minutes = 0").unwrap_err().to_string();
        assert!(e.contains("estimated_wait.step_minutes"), "{e}");
        let e = with("[estimated_wait]\nsteps = 5").unwrap_err().to_string();
        assert!(e.contains("estimated_wait") && e.contains("steps"), "{e}");
    }

    #[test]
    fn tiles_per_camera() {
        assert!(load(&base("")).unwrap().cameras[0].tiling().is_off());
        let t = load(&base("").replace("name = \"C\"\n", "name = \"C\"\ntiles = [3, 2]\n")).unwrap().cameras[0].tiling();
        assert_eq!((t.cols, t.rows, t.full_frame), (3, 2, true));
        let e = load(&base("").replace("name = \"C\"\n", "name = \"C\"\ntiles = [0, 2]\n")).unwrap_err().to_string();
        assert!(e.contains("cameras[0].tiles"), "{e}");
        let e = load(&base("").replace("name = \"C\"\n", "name = \"C\"\ntiles = 2\n")).unwrap_err().to_string();
        assert!(e.contains("tiles"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!("2GiB".parse::<ByteSize>().unwrap().0, 2 << 30);
        assert_eq!("500MB".parse::<ByteSize>().unwrap().0, 500_000_000);
        assert!("5 parsecs".parse::<ByteSize>().is_err());
    }
}
