//! The binary's handling of bad configuration: a clear error naming the key, and a
//! non-zero exit, before anything is started.

use std::process::Command;

fn serve_with(cfg: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, cfg.replace("STORAGE", &dir.path().display().to_string())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hallwatch")).args(["serve", "--config"]).arg(&path).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const GOOD: &str = "[storage]\ndir = \"STORAGE\"\n[[halls]]\nid = \"h\"\nname = \"H\"\n\
    [[cameras]]\nid = \"c\"\nhall = \"h\"\nname = \"C\"\n[[cameras.streams]]\nrole = \"main\"\nurl = \"rtsp://127.0.0.1:1/x\"\n";

#[test]
fn unknown_key_is_named() {
    let (ok, err) = serve_with(&GOOD.replace("role = \"main\"", "role = \"main\"\nurll = \"x\""));
    assert!(!ok);
    assert!(err.contains("cameras[0].streams[0]") && err.contains("unknown field `urll`"), "{err}");
}

#[test]
fn bad_url_is_named() {
    let (ok, err) = serve_with(&GOOD.replace("rtsp://127.0.0.1:1/x", "htp:/camera"));
    assert!(!ok);
    assert!(err.contains("cameras[0].streams[0].url"), "{err}");
}

#[test]
fn password_in_url_is_refused_without_echoing_it() {
    let (ok, err) = serve_with(&GOOD.replace("rtsp://127.0.0.1:1/x", "rtsp://admin:s3cretpw@10.0.0.5/x"));
    assert!(!ok);
    assert!(err.contains("cameras[0].streams[0].url") && !err.contains("s3cretpw"), "{err}");
}

#[test]
fn missing_storage_dir_is_named() {
    let (ok, err) = serve_with(&GOOD.replace("STORAGE", "/nonexistent/hallwatch-recordings"));
    assert!(!ok);
    assert!(err.contains("storage.dir") && err.contains("does not exist"), "{err}");
}

#[test]
fn invalid_value_is_named() {
    let (ok, err) = serve_with(&GOOD.replace("[[halls]]", "segment_seconds = 0\n[[halls]]"));
    assert!(!ok);
    assert!(err.contains("storage.segment_seconds"), "{err}");
}

#[test]
fn example_config_is_valid() {
    // The documented example must parse; only its paths and secrets are site-specific.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = text.replace("/srv/hallwatch", &dir.path().display().to_string());
    let cfg = hallwatch::config::Config::parse(&text, std::path::Path::new("example.toml")).unwrap();
    assert_eq!(cfg.cameras[0].streams.len(), 2);
    assert!(!cfg.cameras[0].streams[1].records());
}
