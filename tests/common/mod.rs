//! Shared helpers for the end-to-end tests: real RTSP servers (HallWatch's simulated
//! camera, VLC), the real `hallwatch` binary, ffprobe and the real index database.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod service;

use hallwatch::store::{SegmentRow, Store};

/// The `hallwatch` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hallwatch"))
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves nothing behind.
pub struct Proc(pub Option<Child>);

impl Proc {
    /// The pid.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(Child::id).unwrap_or(0)
    }
    /// Sends a signal and waits for exit; returns whether it exited with status 0.
    pub fn signal_and_wait(&mut self, sig: &str) -> bool {
        let Some(mut c) = self.0.take() else { return false };
        let _ = Command::new("kill").arg(format!("-{sig}")).arg(c.id().to_string()).status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_tcp(port: u16, timeout: Duration) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < timeout, "nothing listening on port {port} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// World-readable media directory (VLC runs as `nobody` and must read the clip).
fn media_dir() -> PathBuf {
    let d = std::env::temp_dir().join("hallwatch-test-media");
    std::fs::create_dir_all(&d).expect("media dir");
    let _ = Command::new("chmod").arg("755").arg(&d).status();
    d
}

/// A 640×360 25 fps H.264 clip (GOP 1 s, no B-frames, noisy so it has a realistic
/// bitrate), 120 s long, made once per machine with ffmpeg.
pub fn clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let path = media_dir().join("clip-640x360-25fps-v1.mp4");
        if !path.is_file() {
            let tmp = media_dir().join(format!("clip-{}.tmp.mp4", std::process::id()));
            let st = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "120"])
                .args(["-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k"])
                .args(["-g", "25", "-bf", "0", "-pix_fmt", "yuv420p"])
                .arg(&tmp)
                .status()
                .expect("run ffmpeg");
            assert!(st.success(), "ffmpeg could not make the test clip");
            std::fs::rename(&tmp, &path).expect("rename clip");
            let _ = Command::new("chmod").arg("644").arg(&path).status();
        }
        path
    })
    .clone()
}

/// Starts `hallwatch sim-camera` serving the test clip on `port` at each mount.
pub fn sim_camera(port: u16, mounts: &[&str]) -> Proc {
    sim_camera_with(port, mounts, None)
}

/// Like [`sim_camera`], requiring RTSP credentials `(user, password)` when given.
pub fn sim_camera_with(port: u16, mounts: &[&str], creds: Option<(&str, &str)>) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.args(["sim-camera", "--listen", &format!("127.0.0.1:{port}"), "--file"]).arg(clip());
    for m in mounts {
        cmd.args(["--mount", m]);
    }
    if let Some((u, p)) = creds {
        cmd.args(["--user", u, "--password", p]);
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start sim-camera");
    wait_tcp(port, Duration::from_secs(15));
    Proc(Some(child))
}

/// Starts VLC as an RTSP server (as `nobody`: VLC refuses root) at rtsp://127.0.0.1:port/cam.
/// VLC serves RTP over UDP only and starts streaming at once, so clients join mid-GOP.
pub fn vlc(port: u16) -> Proc {
    let clip = clip();
    let sout = format!("#rtp{{sdp=rtsp://127.0.0.1:{port}/cam}}");
    let child = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args(["cvlc", "-I", "dummy", "--no-audio"])
        .arg(&clip)
        .args(["--sout", &sout, "--sout-keep"])
        .env("HOME", "/tmp")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vlc (apt package vlc-bin)");
    wait_tcp(port, Duration::from_secs(15));
    Proc(Some(child))
}

/// A camera in a test configuration.
pub struct Cam<'a> {
    pub id: &'a str,
    pub url: String,
    pub transport: &'a str,
    /// More keys for the stream table (credentials).
    pub extra: String,
}

/// The token every test configuration accepts as an auditor.
pub const AUDITOR_TOKEN: &str = "test-auditor-token";

/// A test configuration: one hall, the given cameras, 1 s fragments.
pub fn config(storage: &Path, http_port: u16, segment_seconds: u32, cams: &[Cam<'_>], extra_storage: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(AUDITOR_TOKEN.as_bytes()));
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:{http_port}\"\n\n[storage]\ndir = \"{}\"\nsegment_seconds = {segment_seconds}\n\
         min_free = \"1MB\"\nretention_interval_seconds = 1\n{extra_storage}\n\n[[halls]]\nid = \"h\"\nname = \"Test hall\"\n\n\
         [[access]]\nname = \"auditor\"\nrole = \"auditor\"\ntoken_sha256 = \"{digest}\"\n",
        storage.display()
    );
    for c in cams {
        s += &format!(
            "\n[[cameras]]\nid = \"{}\"\nhall = \"h\"\nname = \"{}\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"{}\"\ntransport = \"{}\"\n{}",
            c.id, c.id, c.url, c.transport, c.extra
        );
    }
    s
}

/// A running `hallwatch serve`.
pub struct Server {
    pub proc: Proc,
    pub http_port: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Writes `cfg` next to `storage` and starts the server; waits until HTTP answers.
    pub fn start(dir: &Path, cfg: &str, http_port: u16) -> Server {
        let config = dir.join("hallwatch.toml");
        std::fs::write(&config, cfg).expect("write config");
        Self::start_with(&config, dir, http_port)
    }

    /// Starts the server on an existing config file.
    pub fn start_with(config: &Path, dir: &Path, http_port: u16) -> Server {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let log = dir.join(format!("serve-{n}.log"));
        let logf = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,hallwatch=debug")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("start hallwatch serve");
        let s = Server { proc: Proc(Some(child)), http_port, config: config.to_owned(), log };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            if t0.elapsed() > Duration::from_secs(20) {
                panic!("server did not start; log:\n{}", std::fs::read_to_string(&s.log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Opens the index database of a storage dir.
pub async fn store(storage: &Path) -> Store {
    Store::open(&storage.join("hallwatch.db")).await.expect("open index")
}

/// Segments of a camera, oldest first.
pub async fn segments(storage: &Path, camera: &str) -> Vec<SegmentRow> {
    store(storage).await.all_segments().await.expect("segments").into_iter().filter(|s| s.camera_id == camera).collect()
}

/// ffprobe's frame count and duration of a file; panics with ffprobe's message if it rejects it.
pub fn ffprobe(path: &Path) -> (u64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames:format=duration", "-of", "default=nw=1"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success() && err.trim().is_empty(), "ffprobe rejects {}: {err}", path.display());
    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).unwrap_or("0").trim().to_owned();
    (get("nb_read_frames=").parse().unwrap_or(0), get("duration=").parse().unwrap_or(0.0))
}

/// Decodes a file fully with ffmpeg and asserts there is no decode error.
pub fn decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-f", "null", "-"]).output().expect("run ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{} does not decode cleanly: {err}", path.display());
}

/// Runs `hallwatch verify` and returns (success, output).
pub fn verify(config: &Path) -> (bool, String) {
    let out = Command::new(bin()).args(["verify", "--config"]).arg(config).output().expect("run verify");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Microseconds now.
pub fn now_us() -> i64 {
    hallwatch::time::now_us()
}

/// Seconds between two µs timestamps.
pub fn secs(a: i64, b: i64) -> f64 {
    (b - a) as f64 / 1e6
}

/// Runs `hallwatch user ARGS --config CONFIG`, writing `password` (if any) as its input line.
pub fn hallwatch_user(config: &Path, args: &[&str], password: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("user")
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hallwatch user");
    if let (Some(p), Some(mut stdin)) = (password, child.stdin.take()) {
        writeln!(stdin, "{p}").expect("write password");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Runs `hallwatch verify-export CLIP MANIFEST [--public-key KEY]`.
pub fn verify_export(clip: &Path, manifest: &Path, key: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("verify-export").arg(clip).arg(manifest);
    if let Some(k) = key {
        cmd.args(["--public-key", k]);
    }
    let out = cmd.output().expect("run verify-export");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
