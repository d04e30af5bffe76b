//! Playback benchmark: time to first byte of one MP4 spanning an hour of recording,
//! HallWatch's `recording.mp4` endpoint against `ffmpeg -f concat -c copy` over the
//! same segment files, side by side in one run. Medians of repeated runs.
//!
//! The hour is made from a real recording: a 10 s segment recorded from the simulated
//! camera is hard-linked 360 times under consecutive index rows, so the server sees a
//! genuine hour of 25 fps segments without an hour of waiting.
//!
//! Run: `cargo bench --bench playback` (needs `make setup` for the clip, or any H.264 MP4 via --clip).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hallwatch::store::{NewSegment, SegmentClose, Store};

const TOKEN: &str = "bench-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18081)
}

fn wait_port(port: u16) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn config(storage: &Path, http: u16, rtsp: u16) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()));
    format!(
        "[server]\nlisten = \"127.0.0.1:{http}\"\n[storage]\ndir = \"{}\"\nsegment_seconds = 10\nmin_free = \"1MB\"\n\
         [[halls]]\nid = \"h\"\nname = \"H\"\n[[cameras]]\nid = \"c\"\nhall = \"h\"\nname = \"C\"\n\
         [[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1:{rtsp}/cam\"\n\
         [[access]]\nname = \"bench\"\nrole = \"auditor\"\ntoken_sha256 = \"{digest}\"\n",
        storage.display()
    )
}

fn main() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hallwatch"));
    let mut clip = PathBuf::from("var/media/vtest.mp4");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--clip" {
            clip = args.next().map(PathBuf::from).unwrap_or(clip);
        }
    }
    if !clip.is_file() {
        eprintln!("{} is missing: run `make setup`", clip.display());
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let (rtsp, http) = (free_port(), free_port());
    let cfg_path = dir.path().join("bench.toml");
    std::fs::write(&cfg_path, config(&storage, http, rtsp)).expect("config");

    // 1. Record ~12 s from the simulated camera: at least one closed 10 s segment.
    let mut sim = Command::new(&bin)
        .args(["sim-camera", "--listen", &format!("127.0.0.1:{rtsp}"), "--mount", "/cam", "--file"])
        .arg(&clip)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim-camera");
    wait_port(rtsp);
    let mut server = Command::new(&bin).args(["serve", "--config"]).arg(&cfg_path).env("RUST_LOG", "warn").spawn().expect("serve");
    std::thread::sleep(Duration::from_secs(24));
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
    let _ = sim.kill();
    let _ = sim.wait();

    // 2. Replicate the first full segment into an hour of index rows (hard links).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (first_us, seg_secs) = rt.block_on(async {
        let store = Store::open(&storage.join("hallwatch.db")).await.expect("index");
        let segs = store.all_segments().await.expect("segments");
        let seg = segs.iter().find(|s| s.frames > 0 && s.state == "closed" && !s.gap_before && s.id > 1).or(segs.first()).expect("a recorded segment").clone();
        let dur = seg.end_us.expect("closed") - seg.start_us;
        let base = seg.start_us - 360 * dur;
        for i in 0..360 {
            let start = base + i * dur;
            let rel = format!("c/main/hour/{i:04}.mp4");
            let path = storage.join(&rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::hard_link(storage.join(&seg.path), &path).expect("link");
            let id = store
                .insert_open_segment(&NewSegment {
                    camera_id: "c".into(),
                    stream: "main".into(),
                    path: rel,
                    start_us: start,
                    gap_before: false,
                    clock_source: seg.clock_source.clone(),
                    codec: seg.codec.clone(),
                    width: u16::try_from(seg.width).unwrap_or(0),
                    height: u16::try_from(seg.height).unwrap_or(0),
                    sample_entry: seg.sample_entry.clone(),
                })
                .await
                .expect("insert");
            let close = SegmentClose {
                end_us: start + dur,
                frames: seg.frames,
                bytes: seg.bytes,
                sha256: seg.sha256.clone().unwrap_or_default(),
                sample_index: seg.sample_index.clone().unwrap_or_default(),
                recovered: false,
            };
            store.close_segment(id, &close).await.expect("close");
        }
        (base, dur)
    });
    let hour_end = first_us + 360 * seg_secs;
    let mut list = String::new();
    for i in 0..360 {
        list += &format!("file '{}'\n", storage.join(format!("c/main/hour/{i:04}.mp4")).display());
    }
    let list_path = dir.path().join("concat.txt");
    std::fs::write(&list_path, list).expect("concat list");

    // 3. Serve it (camera offline: the server just retries it) and measure.
    let mut server = Command::new(&bin).args(["serve", "--config"]).arg(&cfg_path).env("RUST_LOG", "warn").spawn().expect("serve");
    wait_port(http);
    let url = format!(
        "http://127.0.0.1:{http}/api/cameras/c/recording.mp4?start={}&end={}&purpose=bench",
        hallwatch::time::to_rfc3339(first_us),
        hallwatch::time::to_rfc3339(hour_end)
    );
    let mut hw = Vec::new();
    let mut total_len = 0;
    for _ in 0..15 {
        let t0 = Instant::now();
        let len = first_byte(&url, TOKEN);
        hw.push(t0.elapsed().as_secs_f64() * 1000.0);
        total_len = len;
    }
    let mut ff = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "concat", "-safe", "0", "-i"])
            .arg(&list_path)
            .args(["-c", "copy", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov", "pipe:1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg");
        let mut b = [0u8; 1];
        let _ = child.stdout.as_mut().map(|o| o.read(&mut b));
        ff.push(t0.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
    let (h, f) = (median(hw), median(ff));
    println!("# Playback: one MP4 over 1 hour (360 × {:.0} s segments, {:.0} MB), time to first byte, median", seg_secs as f64 / 1e6, total_len as f64 / 1e6);
    println!("| server | TTFB ms (median) | runs |");
    println!("|---|---|---|");
    println!("| hallwatch recording.mp4 | {h:.1} | 15 |");
    println!("| ffmpeg -f concat -c copy | {f:.1} | 7 |");
    println!("ratio hallwatch / ffmpeg: {:.3}", h / f);
}

/// GETs `url` with a plain HTTP/1.1 request and returns its Content-Length once the first
/// body byte has arrived: what a browser waits for before it can start playing.
fn first_byte(url: &str, token: &str) -> u64 {
    use std::io::{BufRead, BufReader, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("path");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").expect("send");
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    assert!(status.contains(" 200 "), "playback answered {status}");
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut b = [0u8; 1];
    let _ = r.read(&mut b);
    len
}
