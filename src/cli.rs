//! The command line: parses arguments and calls the library. Errors are reported
//! with `anyhow` here, at the edge.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::record::storage::Storage;
use crate::service::import::{import_csv, CsvKind, KnownHalls};
use crate::sim::camera::{SimCamera, SimCameraOptions};
use crate::store::Store;
use crate::time::{parse_rfc3339, to_rfc3339};
use crate::vision::analyze::AnalyzeOptions;
use crate::vision::{ModelSpec, Tiling};

/// HallWatch: records hall cameras and measures waiting and service.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything: ingest, recording, retention, web.
    Serve {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
    },
    /// Serve a clip in a loop over RTSP, as a stand-in camera.
    SimCamera {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8554")]
        listen: SocketAddr,
        /// H.264 MP4 clip.
        #[arg(long)]
        file: PathBuf,
        /// Mount path; repeat for several independent cameras.
        #[arg(long = "mount", default_value = "/cam1")]
        mounts: Vec<String>,
        /// Require this RTSP username.
        #[arg(long, requires = "password")]
        user: Option<String>,
        /// Require this RTSP password.
        #[arg(long, requires = "user")]
        password: Option<String>,
    },
    /// Re-hash stored segments against the index; report missing, altered and orphaned files.
    Verify {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage legal holds, which protect recordings from retention.
    Hold {
        #[command(subcommand)]
        action: HoldAction,
    },
    /// Run the live analysis (decode → detect → track → zones) on a video file and write
    /// tracks.txt (MOTChallenge), detections.txt, counts.csv, visits.csv and crossings.csv.
    Analyze {
        /// Video file.
        #[arg(long)]
        video: PathBuf,
        /// True frame rate, when the container's is wrong (PETS09 vtest.avi says 10, is 7).
        #[arg(long)]
        fps: Option<f64>,
        /// Analyse at this rate instead of every frame.
        #[arg(long)]
        analysis_fps: Option<f64>,
        /// Zone file (TOML, `[[zones]]`).
        #[arg(long)]
        zones: Option<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Detector model (the shipped YOLOX-Nano export).
        #[arg(long, default_value = "models/yolox_nano.onnx")]
        model: PathBuf,
        /// Stop after this many frames.
        #[arg(long)]
        max_frames: Option<u64>,
        /// Detect on an overlapping COLSxROWS grid of tiles plus the full frame, for small people
        /// (e.g. 2x2 on a 384x288 sub-stream); 1x1 is off.
        #[arg(long, default_value = "1x1")]
        tiles: Tiling,
    },
    /// Check an exported clip against its signed manifest, offline.
    VerifyExport {
        /// The exported MP4.
        clip: PathBuf,
        /// Its manifest (JSON).
        manifest: PathBuf,
        /// The installation's public key (hex, from `GET /api/exports/key`); without it the
        /// signature is checked against the key named in the manifest, which proves the
        /// manifest is intact but not who made it.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Manage the accounts people log in with.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Act as a hall's queue system: post counters, officers, ticket events, ratings and
    /// dossiers to a server's /api/v1 ingestion API at a plausible rate, until Ctrl-C.
    SimTickets {
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Integration token (an [[access]] entry with role = "integration").
        #[arg(long, env = "HALLWATCH_TOKEN", hide_env_values = true)]
        token: String,
        /// Hall id.
        #[arg(long, default_value = "demo")]
        hall: String,
        /// Tickets issued per hour of hall time.
        #[arg(long, default_value_t = 40.0)]
        rate: f64,
        /// Counters.
        #[arg(long, default_value_t = 4)]
        counters: u32,
        /// Time compression (10: a 6-minute service lasts 36 s); timestamps stay wall-clock.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Camera named on the counters.
        #[arg(long)]
        camera: Option<String>,
        /// Random seed (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Bulk-load a CSV export of tickets, dossiers or ratings (docs/ingestion.md). Bad rows are
    /// reported with their line; good rows are imported in one transaction. Exit status: 0 all
    /// imported, 2 some rows rejected or conflicting (the good ones imported), 1 nothing imported.
    Import {
        /// tickets, dossiers or ratings.
        kind: String,
        /// The CSV file (UTF-8, header row of JSON field names).
        file: PathBuf,
        /// Configuration file (halls, fields, database).
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Source the records are stored under; use the live integration's token name so a
        /// re-import of its export deduplicates against what it already posted.
        #[arg(long, default_value = "import")]
        source: String,
    },
    /// Create an API access token and print the line to add to the config.
    Token {
        /// Who will hold it (written in the audit log).
        #[arg(long)]
        name: String,
        /// supervisor, auditor, admin or integration.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create an account. The password is read from standard input (one line).
    Add {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Login name.
        name: String,
        /// supervisor, auditor or admin.
        #[arg(long)]
        role: String,
    },
    /// List accounts.
    List {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
    },
    /// Set a new password (read from standard input) and end the account's sessions.
    Passwd {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Login name.
        name: String,
    },
    /// Disable an account and end its sessions.
    Disable {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Login name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum HoldAction {
    /// Place a hold.
    Add {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Camera id; omit to hold every camera.
        #[arg(long)]
        camera: Option<String>,
        /// Start (RFC 3339).
        #[arg(long)]
        start: String,
        /// End (RFC 3339).
        #[arg(long)]
        end: String,
        /// Why: complaint or decision number.
        #[arg(long)]
        reason: String,
        /// Who places it.
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// List holds.
    List {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
    },
    /// Release a hold.
    Release {
        /// Configuration file.
        #[arg(long, short, default_value = "config/hallwatch.toml")]
        config: PathBuf,
        /// Hold id.
        id: i64,
        /// Who releases it.
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,retina=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::SimCamera { listen, file, mounts, user, password } => sim_camera(listen, file, mounts, user.zip(password)),
        Command::Analyze { video, fps, analysis_fps, zones, out, model, max_frames, tiles } => {
            let mut opts = AnalyzeOptions::new(video, out, ModelSpec::yolox_nano(model));
            opts.true_fps = fps;
            opts.analysis_fps = analysis_fps;
            opts.zones = zones;
            opts.max_frames = max_frames;
            opts.tiling = tiles;
            let s = crate::vision::analyze::run(&opts)?;
            println!(
                "analysed {} of {} frames ({} dropped) in {:.1} s ({:.1} ms/frame, {} inference(s)/frame): {} tracks, mean {:.2} people in view, {} zone visits; output in {}",
                s.frames_analysed,
                s.decode.decoded,
                s.decode.dropped,
                s.elapsed_s,
                1000.0 * s.elapsed_s / s.frames_analysed.max(1) as f64,
                tiles.inferences(),
                s.tracks,
                s.mean_count,
                s.visits,
                opts.out_dir.display()
            );
            Ok(())
        }
        Command::Import { kind, file, config, source } => {
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let code = rt.block_on(import(&kind, &file, &config, &source))?;
            drop(rt);
            // 2 = partly imported: scripts must see it, yet it is not a failure of the tool.
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        other => {
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            rt.block_on(run(other))
        }
    }
}

async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            let cancel = CancellationToken::new();
            tokio::spawn(stop_on_signal(cancel.clone()));
            crate::serve::serve(cfg, cancel).await?;
            Ok(())
        }
        Command::SimTickets { url, token, hall, rate, counters, speed, camera, seed } => {
            let cfg = crate::sim::tickets::TicketSimConfig {
                enabled: true,
                hall: hall.clone(),
                token: Some(token.clone()),
                token_env: None,
                rate_per_hour: rate,
                counters,
                speed,
                camera: camera.clone(),
                around_the_clock: true,
            };
            if let Err((key, message)) = cfg.validate() {
                bail!("--{}: {message}", key.replace('_', "-"));
            }
            let params = crate::sim::tickets::SimParams { hall, rate_per_hour: rate, counters, speed, camera, around_the_clock: true };
            let cancel = CancellationToken::new();
            tokio::spawn(stop_on_signal(cancel.clone()));
            let seed = seed.unwrap_or_else(|| u64::try_from(crate::time::now_us()).unwrap_or_default());
            crate::sim::tickets::run(params, crate::sim::tickets::Target { url, token }, seed, cancel).await?;
            Ok(())
        }
        Command::Verify { config, json } => {
            let cfg = Config::load(&config)?;
            let store = Store::open(&cfg.storage.database_path()).await?;
            let storage = Storage::open_shared(&cfg.storage.dir);
            let report = crate::verify::verify(&store, &storage).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for f in &report.findings {
                    println!("{f}");
                }
                println!(
                    "verified {} segments, {:.1} MB: {}",
                    report.checked,
                    report.bytes as f64 / 1e6,
                    if report.is_clean() { "clean" } else { "PROBLEMS FOUND" }
                );
            }
            if !report.is_clean() {
                bail!("verification found {} problem(s)", report.findings.iter().filter(|f| f.is_problem()).count());
            }
            Ok(())
        }
        Command::Hold { action } => hold(action).await,
        Command::User { action } => user(action).await,
        Command::VerifyExport { clip, manifest, public_key } => {
            let check = crate::record::export::verify_export(&clip, &manifest, public_key.as_deref())?;
            for (what, ok) in &check.checks {
                println!("{} {what}", if *ok { "ok  " } else { "FAIL" });
            }
            if public_key.is_none() {
                println!("note: signed by {}; pass --public-key to check it is your installation's key", check.signed_by);
            }
            if !check.ok() {
                bail!("the export does not verify");
            }
            println!("export verified");
            Ok(())
        }
        Command::Token { name, role } => {
            let role = match role.as_str() {
                "supervisor" | "auditor" | "admin" | "integration" => role,
                other => bail!("--role: `{other}` is not one of supervisor, auditor, admin, integration"),
            };
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
            let token = hex::encode(raw);
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
            println!("token (give it to {name}; it is not stored anywhere): {token}");
            println!("add to the config:\n\n[[access]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{digest}\"");
            Ok(())
        }
        Command::SimCamera { .. } | Command::Analyze { .. } | Command::Import { .. } => {
            unreachable!("handled in main")
        }
    }
}

/// `hallwatch import`: returns the exit status (0 all imported, 2 some rows refused); errors
/// (malformed file, database) mean nothing was imported and exit 1 through `main`.
async fn import(kind: &str, file: &Path, config: &Path, source: &str) -> anyhow::Result<i32> {
    let Some(k) = CsvKind::parse(kind) else { bail!("`{kind}` is not one of tickets, dossiers, ratings") };
    if source.trim().is_empty() {
        bail!("--source must not be empty");
    }
    let cfg = Config::load(config)?;
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = Store::open(&cfg.storage.database_path()).await?;
    let r = import_csv(&store, k, &data, &KnownHalls::from_config(&cfg), source)
        .await
        .with_context(|| format!("{}: nothing imported", file.display()))?;
    for b in &r.rejected {
        eprintln!("{}: {b}", file.display());
    }
    for (line, id) in &r.conflicts {
        eprintln!("{}: line {line}: `{id}` is already stored under source `{source}` with different content; refused", file.display());
    }
    println!(
        "{}: {} rows read, {} imported, {} duplicates, {} conflicts, {} rejected",
        file.display(),
        r.rows,
        r.imported,
        r.duplicates,
        r.conflicts.len(),
        r.rejected.len()
    );
    Ok(if r.rejected.is_empty() && r.conflicts.is_empty() { 0 } else { 2 })
}

async fn hold(action: HoldAction) -> anyhow::Result<()> {
    let open = |config: &PathBuf| -> anyhow::Result<Config> { Ok(Config::load(config)?) };
    match action {
        HoldAction::Add { config, camera, start, end, reason, by } => {
            let cfg = open(&config)?;
            if let Some(c) = &camera {
                if !cfg.cameras.iter().any(|x| &x.id == c) {
                    bail!("--camera: no camera `{c}` in {}", config.display());
                }
            }
            let s = parse_rfc3339(&start).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
            let e = parse_rfc3339(&end).map_err(|e| anyhow::anyhow!("--end: {e}"))?;
            if e <= s {
                bail!("--end must be after --start");
            }
            if reason.trim().is_empty() {
                bail!("--reason must say why (complaint or decision number)");
            }
            let store = Store::open(&cfg.storage.database_path()).await?;
            let id = store.add_hold(camera.as_deref(), s, e, &reason, &by).await?;
            println!("hold {id} placed");
        }
        HoldAction::List { config } => {
            let cfg = open(&config)?;
            let store = Store::open(&cfg.storage.database_path()).await?;
            for h in store.holds().await? {
                println!(
                    "{}\t{}\t{} .. {}\t{}\t{}",
                    h.id,
                    h.camera_id.as_deref().unwrap_or("*"),
                    to_rfc3339(h.start_us),
                    to_rfc3339(h.end_us),
                    if h.released_us.is_some() { "released" } else { "active" },
                    h.reason
                );
            }
        }
        HoldAction::Release { config, id, by } => {
            let cfg = open(&config)?;
            let store = Store::open(&cfg.storage.database_path()).await?;
            if !store.release_hold(id, &by).await? {
                bail!("no active hold {id}");
            }
            println!("hold {id} released");
        }
    }
    Ok(())
}

/// Reads a new password from standard input (prompting when it is a terminal).
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("password (input is visible; at least 10 characters): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn user(action: UserAction) -> anyhow::Result<()> {
    use crate::web::accounts::{hash_password, parse_role};
    let open = |config: &PathBuf| -> anyhow::Result<Config> { Ok(Config::load(config)?) };
    match action {
        UserAction::Add { config, name, role } => {
            if parse_role(&role).is_none() {
                bail!("--role: `{role}` is not one of supervisor, auditor, admin");
            }
            if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                bail!("NAME: 1-128 printable characters");
            }
            let hash = hash_password(&read_password()?)?;
            let store = Store::open(&open(&config)?.storage.database_path()).await?;
            if !store.add_account(&name, &role, &hash, crate::time::now_us()).await? {
                bail!("an account `{name}` already exists");
            }
            println!("account {name} ({role}) created");
        }
        UserAction::List { config } => {
            let store = Store::open(&open(&config)?.storage.database_path()).await?;
            for a in store.accounts().await? {
                let state = a.disabled_us.map_or_else(|| "active".to_owned(), |t| format!("disabled {}", to_rfc3339(t)));
                println!("{}\t{}\t{}", a.name, a.role, state);
            }
        }
        UserAction::Passwd { config, name } => {
            let hash = hash_password(&read_password()?)?;
            let store = Store::open(&open(&config)?.storage.database_path()).await?;
            if !store.set_password(&name, &hash).await? {
                bail!("no account `{name}`");
            }
            println!("password of {name} changed; its sessions are ended");
        }
        UserAction::Disable { config, name } => {
            let store = Store::open(&open(&config)?.storage.database_path()).await?;
            if !store.disable_account(&name, crate::time::now_us()).await? {
                bail!("no active account `{name}`");
            }
            println!("account {name} disabled; its sessions are ended");
        }
    }
    Ok(())
}

fn sim_camera(listen: SocketAddr, file: PathBuf, mounts: Vec<String>, credentials: Option<(String, String)>) -> anyhow::Result<()> {
    let sim = SimCamera::start(SimCameraOptions { listen, file, mounts: mounts.clone(), credentials })?;
    for m in &mounts {
        println!("serving {}", sim.url(m));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let c = CancellationToken::new();
        stop_on_signal(c.clone()).await;
    });
    sim.stop();
    Ok(())
}

async fn stop_on_signal(cancel: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
    cancel.cancel();
}
