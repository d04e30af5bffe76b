//! Recording benchmark: HallWatch against `ffmpeg -c copy -f segment`, side by side.
//!
//! N simulated 1080p25 H.264 streams (~4 Mbit/s, GOP 50) are served by
//! `hallwatch sim-camera` over RTSP. HallWatch (`serve`) and N ffmpeg processes
//! record all of them at the same time over TCP, for the same window. Printed:
//! CPU seconds per stream-hour for both and their ratio, peak memory, and frames lost.
//!
//! Run: `make bench` (or `cargo bench --bench record -- --streams 8 --seconds 60`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    streams: Vec<usize>,
    seconds: u64,
    runs: usize,
    clip: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args { streams: vec![8, 32], seconds: 60, runs: 1, clip: PathBuf::from("var/media/bench1080p.mp4") };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--streams" => {
                a.streams = it.next().unwrap_or_default().split(',').filter_map(|s| s.parse().ok()).collect();
            }
            "--seconds" => a.seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(60),
            "--runs" => a.runs = it.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1),
            "--clip" => a.clip = it.next().map(PathBuf::from).unwrap_or(a.clip),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// CPU seconds (user + system) of a process and its reaped children.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command: state is index 0, utime 11, stime 12 (1-based 14 and 15).
    let ticks: f64 = [11usize, 12].iter().filter_map(|&i| f.get(i)?.parse::<f64>().ok()).sum();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100.0)
}

/// (peak RSS, current private memory) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        status.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let hwm = get("VmHWM:");
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |k: &str| -> u64 {
        rollup.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (hwm, field("Private_Clean:") + field("Private_Dirty:"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18554)
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
}

fn wait_http(url: &str, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if Command::new("curl").args(["-sf", "-o", "/dev/null", url]).status().is_ok_and(|s| s.success()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn count_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output();
    out.ok().and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_with_ext(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

struct Outcome {
    cpu_s: f64,
    peak_rss_kib: u64,
    private_kib: u64,
    recorded_frames: u64,
    lost_frames: Option<u64>,
}

fn main() {
    let args = parse_args();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hallwatch"));
    if !args.clip.is_file() {
        eprintln!("{} is missing: run `make bench` (scripts/setup.sh bench creates it)", args.clip.display());
        std::process::exit(2);
    }
    println!("# Recording benchmark: {} s per run, clip {}", args.seconds, args.clip.display());
    println!("| streams | recorder | CPU s / stream-hour | ratio vs ffmpeg | peak RSS MiB | private MiB / stream | frames recorded | frames lost |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for &n in &args.streams {
        let mut per_run: Vec<(f64, f64)> = (0..args.runs).map(|_| run(&bin, &args, n)).collect();
        per_run.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
        let (hw, ff) = per_run[per_run.len() / 2];
        summary.push(format!(
            "| {n} | {} | {hw:.1} | {ff:.1} | {:.2} |",
            args.runs,
            hw / ff.max(1e-9)
        ));
    }
    println!("\n# Median run (by ratio)\n| streams | runs | hallwatch CPU s / stream-hour | ffmpeg CPU s / stream-hour | ratio |\n|---|---|---|---|---|");
    for line in summary {
        println!("{line}");
    }
}

/// Records `n` streams with both recorders at once; returns CPU s per stream-hour (hallwatch, ffmpeg).
fn run(bin: &Path, args: &Args, n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rtsp_port = free_port();
    let http_port = free_port();
    let mounts: Vec<String> = (0..n).map(|i| format!("/s{i}")).collect();
    let mut sim_cmd = Command::new(bin);
    sim_cmd.args(["sim-camera", "--listen", &format!("127.0.0.1:{rtsp_port}"), "--file"]).arg(&args.clip);
    for m in &mounts {
        sim_cmd.args(["--mount", m]);
    }
    let mut sim = sim_cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start sim-camera");
    std::thread::sleep(Duration::from_secs(2));

    let rec = dir.path().join("hallwatch");
    std::fs::create_dir_all(&rec).expect("mkdir");
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{http_port}\"\n[storage]\ndir = \"{}\"\nmin_free = \"1GB\"\n[[halls]]\nid = \"b\"\nname = \"Bench\"\n",
        rec.display()
    );
    for (i, m) in mounts.iter().enumerate() {
        cfg += &format!(
            "[[cameras]]\nid = \"c{i}\"\nhall = \"b\"\nname = \"c{i}\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1:{rtsp_port}{m}\"\n"
        );
    }
    let cfg_path = dir.path().join("bench.toml");
    std::fs::write(&cfg_path, cfg).expect("write config");
    let mut hw = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hallwatch");
    let mut ffmpegs: Vec<Child> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let out = dir.path().join(format!("ff{i}"));
        std::fs::create_dir_all(&out).expect("mkdir");
        let c = Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i"])
            .arg(format!("rtsp://127.0.0.1:{rtsp_port}{m}"))
            .args(["-c", "copy", "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1"])
            .arg(out.join("%05d.mp4"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ffmpeg");
        ffmpegs.push(c);
    }
    if !wait_http(&format!("http://127.0.0.1:{http_port}/api/health"), Duration::from_secs(20)) {
        eprintln!("hallwatch did not start");
    }
    // Warm-up: connections set up, first key frames seen; then measure a clean window.
    std::thread::sleep(Duration::from_secs(3));
    let hw_cpu0 = cpu_seconds(hw.id());
    let ff_cpu0: f64 = ffmpegs.iter().map(|c| cpu_seconds(c.id())).sum();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    let hw_cpu = cpu_seconds(hw.id()) - hw_cpu0;
    let ff_cpu: f64 = ffmpegs.iter().map(|c| cpu_seconds(c.id())).sum::<f64>() - ff_cpu0;
    let (hw_hwm, hw_priv) = memory_kib(hw.id());
    let ff_mem: Vec<(u64, u64)> = ffmpegs.iter().map(|c| memory_kib(c.id())).collect();

    // Frame accounting for HallWatch from its own counters, read before stopping.
    let cams = Command::new("curl").args(["-sf", &format!("http://127.0.0.1:{http_port}/api/cameras")]).output();
    let (mut received, mut skipped, mut dropped) = (0u64, 0u64, 0u64);
    if let Ok(o) = cams {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) {
            for c in v.as_array().into_iter().flatten() {
                for s in c["streams"].as_array().into_iter().flatten() {
                    received += s["frames_received"].as_u64().unwrap_or(0);
                    skipped += s["frames_skipped"].as_u64().unwrap_or(0);
                    dropped += s["frames_dropped"].as_u64().unwrap_or(0);
                }
            }
        }
    }
    sigterm(&hw);
    for c in &ffmpegs {
        sigterm(c);
    }
    let _ = hw.wait();
    for c in &mut ffmpegs {
        let _ = c.wait();
    }
    sigterm(&sim);
    let _ = sim.wait();

    let mut hw_files = Vec::new();
    files_with_ext(&rec, "mp4", &mut hw_files);
    let hw_frames: u64 = hw_files.iter().map(|p| count_frames(p)).sum();
    let mut ff_files = Vec::new();
    files_with_ext(dir.path(), "mp4", &mut ff_files);
    ff_files.retain(|p| !p.starts_with(&rec));
    let ff_frames: u64 = ff_files.iter().map(|p| count_frames(p)).sum();
    let hw_lost = received.saturating_sub(skipped).saturating_sub(hw_frames) + dropped;

    let stream_hours = n as f64 * elapsed / 3600.0;
    let hw_o = Outcome { cpu_s: hw_cpu, peak_rss_kib: hw_hwm, private_kib: hw_priv, recorded_frames: hw_frames, lost_frames: Some(hw_lost) };
    let ff_o = Outcome {
        cpu_s: ff_cpu,
        peak_rss_kib: ff_mem.iter().map(|m| m.0).sum(),
        private_kib: ff_mem.iter().map(|m| m.1).sum(),
        recorded_frames: ff_frames,
        lost_frames: None,
    };
    let ratio = (hw_o.cpu_s / stream_hours) / (ff_o.cpu_s / stream_hours).max(1e-9);
    for (name, o, r) in [("hallwatch", &hw_o, Some(ratio)), ("ffmpeg", &ff_o, None)] {
        println!(
            "| {n} | {name} | {:.1} | {} | {:.1} | {:.2} | {} | {} |",
            o.cpu_s / stream_hours,
            r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "1.00".into()),
            o.peak_rss_kib as f64 / 1024.0,
            o.private_kib as f64 / 1024.0 / n as f64,
            o.recorded_frames,
            o.lost_frames.map(|l| l.to_string()).unwrap_or_else(|| "n/a (no receive count)".into()),
        );
    }
    (hw_o.cpu_s / stream_hours, ff_o.cpu_s / stream_hours)
}
