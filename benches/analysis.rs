//! Analysis benchmark, side by side in one run:
//! - the whole analysis path (GStreamer decode + detect + track + zones) in frames per
//!   second against the bare model's inference rate on the same frames and threads;
//! - how many cameras at 5 fps that sustains;
//! - the live lag, frame timestamp to dashboard state, p50 and p99, from a real server
//!   analysing the simulated camera while it records.
//!
//! Run: `cargo bench --bench analysis` (needs `make setup`: model, ONNX Runtime, demo clip).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallwatch::vision::{CameraAnalyzer, DecodeConfig, Detector, FileDecoder, Hysteresis, ModelSpec, TrackerConfig};

const FRAMES: usize = 200;
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn zones() -> Vec<hallwatch::vision::Zone> {
    hallwatch::vision::zones::ZoneFile::load(&root().join("config/zones/pets09.toml")).expect("zone file")
}

/// Decode + detect + track + zones over the first FRAMES frames of the clip, in fps.
fn pipeline_fps(clip: &Path, det: &Arc<Detector>) -> f64 {
    let mut dec = FileDecoder::open(clip, &DecodeConfig::file()).expect("open clip");
    let mut an = CameraAnalyzer::new(det.clone(), TrackerConfig::default(), zones(), Hysteresis::default());
    let t0 = Instant::now();
    let mut n = 0;
    while n < FRAMES {
        let Some(f) = dec.next_frame().expect("decode") else { break };
        an.process(f.pts_s, &f.image).expect("analyse");
        n += 1;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

/// Inference alone on the same (already decoded) frames, in fps.
fn bare_fps(frames: &[image::RgbImage], det: &Detector) -> f64 {
    let t0 = Instant::now();
    for f in frames {
        det.detect(f).expect("detect");
    }
    frames.len() as f64 / t0.elapsed().as_secs_f64()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18082)
}

/// Runs the server on `cams` simulated cameras (recording and analysing all of them, with
/// `workers` inference workers) for `secs`, and returns its /api/live views.
fn live_run(clip: &Path, model: &Path, secs: u64, cams: usize, workers: usize) -> Vec<serde_json::Value> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hallwatch"));
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("rec");
    std::fs::create_dir(&storage).expect("mkdir");
    let (rtsp, http) = (free_port(), free_port());
    let mut sim_cmd = Command::new(&bin);
    sim_cmd.args(["sim-camera", "--listen", &format!("127.0.0.1:{rtsp}"), "--file"]).arg(clip);
    for i in 0..cams {
        sim_cmd.args(["--mount", &format!("/hall{i}")]);
    }
    let mut sim = sim_cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim-camera");
    std::thread::sleep(Duration::from_secs(2));
    let zones = std::fs::read_to_string(root().join("config/zones/pets09.toml")).expect("zones").replace("[[zones]]", "[[cameras.zones]]");
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{http}\"\n[storage]\ndir = \"{}\"\nmin_free = \"100MB\"\n[analysis]\nmodel = \"{}\"\nfps = 5\nworkers = {workers}\n\
         [[halls]]\nid = \"h\"\nname = \"H\"\n",
        storage.display(),
        model.display()
    );
    for i in 0..cams {
        cfg += &format!(
            "[[cameras]]\nid = \"hall{i}\"\nhall = \"h\"\nname = \"Hall {i}\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1:{rtsp}/hall{i}\"\n{zones}\n"
        );
    }
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(&cfg_path, cfg).expect("config");
    let mut server = Command::new(&bin).args(["serve", "--config"]).arg(&cfg_path).env("RUST_LOG", "warn").stdout(Stdio::null()).spawn().expect("serve");
    std::thread::sleep(Duration::from_secs(secs));
    let out = Command::new("curl").args(["-sf", &format!("http://127.0.0.1:{http}/api/live")]).output().expect("curl");
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
    let _ = sim.kill();
    let _ = sim.wait();
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap_or_default()
}

fn main() {
    let clip = root().join("var/media/vtest.mp4");
    let model = root().join("models/yolox_nano.onnx");
    if !clip.is_file() || !model.is_file() {
        eprintln!("run `make setup` first (needs {} and {})", clip.display(), model.display());
        std::process::exit(2);
    }
    let threads: usize = std::env::var("HALLWATCH_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut spec = ModelSpec::yolox_nano(&model);
    spec.intra_threads = threads;
    let det = Arc::new(Detector::load(&spec).expect("load model"));
    let mut dec = FileDecoder::open(&clip, &DecodeConfig::file()).expect("open clip");
    let mut frames = Vec::new();
    while frames.len() < FRAMES {
        match dec.next_frame().expect("decode") {
            Some(f) => frames.push(f.image),
            None => break,
        }
    }
    // Warm-up, then alternate the two measurements so machine noise hits both alike.
    bare_fps(&frames[..10], &det);
    let (mut bare, mut pipe) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare.push(bare_fps(&frames, &det));
        pipe.push(pipeline_fps(&clip, &det));
    }
    let (b, p) = (median(bare.clone()), median(pipe.clone()));
    println!("# Analysis path vs bare inference: PETS09 768x576, {} frames, {threads} ONNX thread(s), {ROUNDS} rounds", frames.len());
    println!("| path | fps (median) | runs |");
    println!("|---|---|---|");
    println!("| bare inference (detect only, pre-decoded frames) | {b:.1} | {bare:.1?} |");
    println!("| pipeline (decode + detect + track + zones) | {p:.1} | {pipe:.1?} |");
    println!("ratio pipeline / bare: {:.3}", p / b);
    println!("inference {:.1} ms/frame: physical limit {:.0} cameras at 5 fps on one core; pipeline sustains {:.1} cameras at 5 fps per core", 1000.0 / b, b / 5.0, p / 5.0);
    // Live: the real server records and analyses N simulated cameras (PETS clip, 7 fps) at 5 fps.
    const SECS: u64 = 40;
    println!("\n# Live: recording + analysis at 5 fps per camera, {SECS} s, 2 inference workers");
    println!("| cameras | analysed fps per camera (mean) | analysis frames dropped | lag p50 ms (worst camera) | lag p99 ms (worst camera) |");
    println!("|---|---|---|---|---|");
    for cams in [1usize, 4, 8, 12, 16] {
        let views = live_run(&clip, &model, SECS, cams, 2);
        let n = views.len().max(1) as f64;
        // Analysis starts a second or two after the server; count over the run's length.
        let fps = views.iter().filter_map(|v| v["frames_analysed"].as_f64()).sum::<f64>() / n / (SECS as f64 - 2.0);
        let dropped: u64 = views.iter().filter_map(|v| v["frames_dropped"].as_u64()).sum();
        let worst = |k: &str| views.iter().filter_map(|v| v[k].as_f64()).fold(0.0, f64::max);
        println!("| {cams} ({} reporting) | {fps:.2} | {dropped} | {:.0} | {:.0} |", views.len(), worst("lag_ms_p50"), worst("lag_ms_p99"));
    }
}
