//! The simulated camera, checked with real RTSP clients (ffprobe / ffmpeg, installed by
//! `scripts/setup.sh test`): TCP and UDP transports, a 10 s recording across the loop point of
//! a 3 s clip, camera credentials, and start-up errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hallwatch::sim::camera::{SimCamera, SimCameraOptions, SimError};

const FPS: f64 = 25.0;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (install ffmpeg: scripts/setup.sh test): {e}")
    });
    out
}

/// Makes the 3 s, 25 fps, 320×240 H.264 test clip (GOP 1 s, no B-frames).
fn make_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("clip.mp4");
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "3",
        ])
        .args([
            "-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
        ])
        .arg(&clip));
    assert!(
        out.status.success(),
        "ffmpeg clip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    clip
}

fn start(file: &Path, mounts: &[&str], credentials: Option<(&str, &str)>) -> SimCamera {
    SimCamera::start(SimCameraOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        file: file.to_path_buf(),
        mounts: mounts.iter().map(|m| m.to_string()).collect(),
        credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
    })
    .expect("start simulated camera")
}

/// ffprobe of an RTSP URL: "codec,width,height" of the video stream.
fn probe_rtsp(url: &str, transport: &str) -> Result<String, String> {
    let out = run(Command::new("timeout")
        .args(["20", "ffprobe", "-v", "error", "-rtsp_transport", transport])
        .args([
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
        ])
        .args(["-of", "csv=p=0", url]));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Records `seconds` of `url` with `ffmpeg -c copy` into `out`.
fn record(url: &str, transport: &str, seconds: u32, out: &Path) {
    let o = run(Command::new("timeout")
        .arg((seconds + 20).to_string())
        .args(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-rtsp_transport", transport, "-i", url])
        .args(["-t", &seconds.to_string(), "-c", "copy"])
        .arg(out));
    assert!(
        o.status.success(),
        "ffmpeg record {url} over {transport}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Decode timestamps (seconds) and key flags of the video packets of a file.
fn packets(file: &Path) -> Vec<(f64, bool)> {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=dts_time,flags", "-of", "csv=p=0"])
        .arg(file));
    assert!(out.status.success(), "ffprobe {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split(',');
            let dts: f64 = it.next().unwrap().parse().expect("dts_time");
            let key = it.next().unwrap_or("").starts_with('K');
            (dts, key)
        })
        .collect()
}

/// Checks a recording of `seconds` s of the 25 fps clip: frame count, pace, monotonic time.
/// A client that joins mid-stream starts at the next key frame (up to 1 s later, GOP 25) and
/// ffmpeg's `-t` counts from the first packet it saw, so `joined` allows up to 1 s less.
fn check_recording(file: &Path, seconds: f64, joined: bool) {
    let pk = packets(file);
    let n = pk.len() as f64;
    let expected = seconds * FPS;
    let min = if joined {
        expected - FPS - 2.0
    } else {
        expected * 0.95
    };
    assert!(
        n >= min && n <= expected * 1.05,
        "{}: {n} frames, expected about {expected}",
        file.display()
    );
    for w in pk.windows(2) {
        assert!(w[1].0 > w[0].0, "{}: dts goes back {w:?}", file.display());
    }
    let span = pk.last().unwrap().0 - pk.first().unwrap().0;
    assert!(
        (span - (n - 1.0) / FPS).abs() < 0.1,
        "{}: {n} frames span {span:.3} s, not {FPS} fps",
        file.display()
    );
    assert!(
        pk[0].1,
        "{}: first frame is not a key frame",
        file.display()
    );
    let keys = pk.iter().filter(|p| p.1).count() as f64;
    assert!(
        keys >= seconds - 1.0,
        "{}: only {keys} key frames",
        file.display()
    );
}

#[test]
fn serves_clip_in_a_loop_over_tcp_and_udp() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path());
    let cam = start(&clip, &["/cam1", "/cam2"], None);
    let url1 = cam.url("/cam1");
    let url2 = cam.url("/cam2");
    assert!(
        url1.starts_with("rtsp://127.0.0.1:") && url1.ends_with("/cam1"),
        "{url1}"
    );

    assert_eq!(probe_rtsp(&url1, "tcp").unwrap(), "h264,320,240");
    assert_eq!(probe_rtsp(&url2, "udp").unwrap(), "h264,320,240");

    // 10 s over TCP from a 3 s clip crosses the loop point three times. A second client joins
    // the same mount over UDP mid-stream, and a third records the other mount: each must get
    // a clean stream at the clip's rate, paced in real time.
    let tcp_out = dir.path().join("tcp.mp4");
    let udp_out = dir.path().join("udp.mp4");
    let cam2_out = dir.path().join("cam2.mp4");
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| record(&url1, "tcp", 10, &tcp_out));
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            record(&url1, "udp", 5, &udp_out);
        });
        s.spawn(|| record(&url2, "tcp", 5, &cam2_out));
    });
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9),
        "10 s of video came in {took:?}: not paced in real time"
    );
    check_recording(&tcp_out, 10.0, false);
    check_recording(&udp_out, 5.0, true);
    check_recording(&cam2_out, 5.0, false);

    let t = Instant::now();
    cam.stop();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
}

#[test]
fn requires_credentials_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path());
    let cam = start(&clip, &["/cam1"], Some(("user", "s3cret")));
    let url = cam.url("/cam1");
    let with = |cred: &str| url.replacen("rtsp://", &format!("rtsp://{cred}@"), 1);

    let err = probe_rtsp(&url, "tcp").unwrap_err();
    assert!(err.contains("401"), "no credentials: {err}");
    let err = probe_rtsp(&with("user:wrong"), "tcp").unwrap_err();
    assert!(err.contains("401"), "wrong password: {err}");
    assert_eq!(
        probe_rtsp(&with("user:s3cret"), "tcp").unwrap(),
        "h264,320,240"
    );
    assert_eq!(
        probe_rtsp(&with("user:s3cret"), "udp").unwrap(),
        "h264,320,240"
    );
    cam.stop();
}

#[test]
fn start_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |file: PathBuf, listen: &str| SimCameraOptions {
        listen: listen.parse().unwrap(),
        file,
        mounts: vec!["/cam1".into()],
        credentials: None,
    };

    let err = SimCamera::start(opts(dir.path().join("missing.mp4"), "127.0.0.1:0")).unwrap_err();
    assert!(matches!(err, SimError::FileNotFound(_)), "{err}");

    // An MPEG-4 part 2 clip (like the raw PETS AVI) is refused: it would need re-encoding.
    let mpeg4 = dir.path().join("mpeg4.mp4");
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "1",
            "-c:v",
            "mpeg4",
        ])
        .arg(&mpeg4));
    assert!(out.status.success());
    let err = SimCamera::start(opts(mpeg4, "127.0.0.1:0")).unwrap_err();
    assert!(matches!(err, SimError::NotH264 { .. }), "{err}");

    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, vec![0x55u8; 4096]).unwrap();
    assert!(SimCamera::start(opts(garbage, "127.0.0.1:0")).is_err());

    // Port busy.
    let clip = make_clip(dir.path());
    let cam = start(&clip, &["/cam1"], None);
    let addr = cam.url("/cam1");
    let hostport = addr.trim_start_matches("rtsp://").trim_end_matches("/cam1");
    let err = SimCamera::start(opts(clip.clone(), hostport)).unwrap_err();
    assert!(matches!(err, SimError::Bind { .. }), "{err}");
    cam.stop();
}
