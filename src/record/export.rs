//! Clip export for auditors: a time range of one camera becomes a standalone MP4 and a JSON
//! manifest (source segments with their SHA-256, the clip's SHA-256, who exported it, when and
//! why), signed with the installation's Ed25519 key, so anyone can check it offline with
//! `hallwatch verify-export`.
//!
//! Chain of custody: every source segment is re-hashed against the index before it is used,
//! and an export is refused if one was altered. The clip bytes are the same the playback
//! endpoint serves (no re-encoding).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::playback::{playback_parts, PlaybackError, VirtualMp4};
use super::storage::Storage;
use crate::store::{Store, StoreError};
use crate::time::{now_us, to_rfc3339, WallUs};

/// Directory under the storage root holding exported clips and manifests.
pub const EXPORTS_DIR: &str = "exports";
/// File under the storage root holding the installation's signing key seed (hex).
const KEY_FILE: &str = "installation.ed25519";
/// Longest exportable range: an export is evidence of an event, not a bulk copy.
pub const MAX_EXPORT_US: i64 = 4 * 3600 * 1_000_000;

/// Why an export or its verification failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request itself is wrong (range, purpose).
    #[error("{0}")]
    Invalid(String),
    /// Nothing was recorded in the range.
    #[error("no recording of camera `{camera}` between {start} and {end}")]
    NothingRecorded {
        /// Camera.
        camera: String,
        /// Range start.
        start: String,
        /// Range end.
        end: String,
    },
    /// A source segment no longer matches its recorded hash: the export is refused.
    #[error("segment {segment} ({path}) does not match its recorded SHA-256: refusing to export altered footage")]
    SourceAltered {
        /// Segment id.
        segment: i64,
        /// Its file.
        path: String,
    },
    /// Building the MP4 failed.
    #[error(transparent)]
    Playback(#[from] PlaybackError),
    /// Disk trouble.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Database trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The installation key file is unusable.
    #[error("signing key {path}: {message}")]
    Key {
        /// Key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_owned(), source }
}

/// One source segment as listed in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSegment {
    /// Segment row id.
    pub segment_id: i64,
    /// File, relative to the storage directory.
    pub path: String,
    /// First frame, RFC 3339.
    pub start: String,
    /// End, RFC 3339.
    pub end: String,
    /// SHA-256 of the whole segment file, as indexed when it was closed.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: i64,
    /// Completed by crash recovery.
    pub recovered: bool,
    /// Recording was interrupted just before it.
    pub gap_before: bool,
}

/// What the signature covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestBody {
    /// Manifest format version.
    pub version: u32,
    /// Export id.
    pub export_id: String,
    /// Camera.
    pub camera: String,
    /// Stream role.
    pub stream: String,
    /// Requested range start, RFC 3339.
    pub requested_start: String,
    /// Requested range end, RFC 3339.
    pub requested_end: String,
    /// Wall time of the clip's first frame, RFC 3339.
    pub first_frame: String,
    /// Clip duration in milliseconds.
    pub duration_ms: u64,
    /// Frames in the clip.
    pub frames: u64,
    /// Clip file name.
    pub file: String,
    /// Clip size in bytes.
    pub bytes: u64,
    /// SHA-256 of the clip file.
    pub sha256: String,
    /// Source segments, in time order.
    pub sources: Vec<SourceSegment>,
    /// Who exported it.
    pub exported_by: String,
    /// When, RFC 3339.
    pub exported_at: String,
    /// Why (lý do).
    pub purpose: String,
}

/// An Ed25519 signature over the manifest body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The installation's public key, hex.
    pub public_key: String,
    /// The signature, hex, over the body's canonical bytes ([`canonical_bytes`]).
    pub value: String,
}

/// The manifest file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What is signed.
    pub body: ManifestBody,
    /// The signature.
    pub signature: ManifestSignature,
}

/// The bytes that are signed: the body as compact JSON with object keys sorted (through
/// `serde_json::Value`, whose maps are ordered), so any JSON tool can rebuild them.
pub fn canonical_bytes(body: &ManifestBody) -> Vec<u8> {
    serde_json::to_value(body).and_then(|v| serde_json::to_vec(&v)).unwrap_or_default()
}

/// Loads the installation's signing key, creating it (owner-only permissions) on first use.
pub fn installation_key(storage_dir: &Path) -> Result<SigningKey, ExportError> {
    let path = storage_dir.join(KEY_FILE);
    let key_err = |message: String| ExportError::Key { path: path.clone(), message };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let raw = hex::decode(text.trim()).map_err(|e| key_err(format!("not hex: {e}")))?;
            let seed: [u8; 32] = raw.try_into().map_err(|_| key_err("must hold 32 bytes".into()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| key_err(format!("no randomness: {e}")))?;
            let tmp = path.with_extension("tmp");
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?
            };
            f.write_all(hex::encode(seed).as_bytes()).and_then(|()| f.sync_all()).map_err(io(&tmp))?;
            // A rename, so a crash never leaves a half-written key that would later sign.
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            tracing::info!(path = %path.display(), "created the installation's export signing key");
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(source) => Err(ExportError::Io { path, source }),
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Camera.
    pub camera: String,
    /// Stream role.
    pub stream: String,
    /// Range start.
    pub start: WallUs,
    /// Range end.
    pub end: WallUs,
    /// Who asks.
    pub actor: String,
    /// Why.
    pub purpose: String,
}

/// A finished export.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// Export id.
    pub id: String,
    /// Clip path.
    pub clip: PathBuf,
    /// Manifest path.
    pub manifest_path: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
}


/// Exports `req` into `<storage>/exports/<id>.mp4` and `<id>.manifest.json`, records it and
/// writes an audit entry.
pub async fn export(store: &Store, storage: &Storage, key: &SigningKey, req: &ExportRequest) -> Result<Exported, ExportError> {
    let purpose = req.purpose.trim();
    if purpose.is_empty() || purpose.len() > 500 {
        return Err(ExportError::Invalid("purpose (lý do) is required, at most 500 characters".into()));
    }
    if req.end <= req.start || req.end - req.start > MAX_EXPORT_US {
        return Err(ExportError::Invalid("the range must be non-empty and at most 4 hours".into()));
    }
    let segs = store.segments_in_range(&req.camera, &req.stream, req.start, req.end).await?;
    let nothing = || ExportError::NothingRecorded {
        camera: req.camera.clone(),
        start: to_rfc3339(req.start),
        end: to_rfc3339(req.end),
    };
    let (parts, first) = playback_parts(storage, &segs, req.start, req.end)?;
    let first = first.ok_or_else(nothing)?;
    let used: Vec<_> = segs.iter().filter(|s| parts.iter().any(|p| p.path == storage.resolve(&s.path))).collect();
    let mut sources = Vec::with_capacity(used.len());
    for s in used {
        let path = storage.resolve(&s.path);
        let stored = s.sha256.clone().unwrap_or_default();
        let actual = tokio::task::spawn_blocking({
            let path = path.clone();
            move || super::segment::hash_file(&path).map(|(sha, _)| sha).map_err(io(&path))
        })
        .await
        .map_err(|e| ExportError::Invalid(format!("hashing task failed: {e}")))??;
        if actual != stored {
            tracing::error!(segment = s.id, path = %s.path, "export refused: segment altered");
            return Err(ExportError::SourceAltered { segment: s.id, path: s.path.clone() });
        }
        sources.push(SourceSegment {
            segment_id: s.id,
            path: s.path.clone(),
            start: to_rfc3339(s.start_us),
            end: to_rfc3339(s.end_us.unwrap_or(s.start_us)),
            sha256: stored,
            bytes: s.bytes,
            recovered: s.recovered,
            gap_before: s.gap_before,
        });
    }
    let mp4 = Arc::new(VirtualMp4::build(parts)?);
    let (duration_ms, frames, len) = (mp4.duration_90k() / 90, mp4.frame_count(), mp4.len());

    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| ExportError::Invalid(format!("no randomness: {e}")))?;
    let created = now_us();
    let id = format!("{}-{}-{}", req.camera, created / 1_000_000, hex::encode(raw));
    let dir = storage.dir().join(EXPORTS_DIR);
    tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))?;
    let clip = dir.join(format!("{id}.mp4"));
    let part = dir.join(format!("{id}.mp4.part"));

    // Written under a temporary name and renamed when complete and synced: a crash or a full
    // disk leaves no clip that looks finished.
    let written = async {
        let mut f = tokio::fs::File::create(&part).await.map_err(io(&part))?;
        let mut hasher = Sha256::new();
        let mut stream = std::pin::pin!(mp4.clone().stream_range(0, len));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(io(&part))?;
            hasher.update(&chunk);
            tokio::io::AsyncWriteExt::write_all(&mut f, &chunk).await.map_err(io(&part))?;
        }
        f.sync_all().await.map_err(io(&part))?;
        tokio::fs::rename(&part, &clip).await.map_err(io(&clip))?;
        Ok::<_, ExportError>(hex::encode(hasher.finalize()))
    }
    .await;
    let sha256 = match written {
        Ok(h) => h,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };

    let body = ManifestBody {
        version: 1,
        export_id: id.clone(),
        camera: req.camera.clone(),
        stream: req.stream.clone(),
        requested_start: to_rfc3339(req.start),
        requested_end: to_rfc3339(req.end),
        first_frame: to_rfc3339(first),
        duration_ms,
        frames,
        file: format!("{id}.mp4"),
        bytes: len,
        sha256: sha256.clone(),
        sources,
        exported_by: req.actor.clone(),
        exported_at: to_rfc3339(created),
        purpose: purpose.to_owned(),
    };
    let signature = key.sign(&canonical_bytes(&body));
    let manifest = Manifest {
        body,
        signature: ManifestSignature {
            algorithm: "ed25519".into(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            value: hex::encode(signature.to_bytes()),
        },
    };
    let manifest_path = dir.join(format!("{id}.manifest.json"));
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Invalid(e.to_string()))?;
    let tmp = manifest_path.with_extension("json.part");
    tokio::fs::write(&tmp, &text).await.map_err(io(&tmp))?;
    tokio::fs::rename(&tmp, &manifest_path).await.map_err(io(&manifest_path))?;
    let manifest_sha = hex::encode(Sha256::digest(&text));
    store
        .add_export(&id, &req.camera, &req.stream, req.start, req.end, created, &req.actor, purpose, &sha256, len, &manifest_sha)
        .await?;
    let target = format!("camera/{}/{} {}..{}", req.camera, req.stream, to_rfc3339(req.start), to_rfc3339(req.end));
    store.audit(&req.actor, "recording.export", &target, Some(purpose), Some(&format!("export {id} sha256 {sha256}"))).await?;
    Ok(Exported { id, clip, manifest_path, manifest })
}

/// What `verify-export` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportCheck {
    /// Each check and whether it passed.
    pub checks: BTreeMap<String, bool>,
    /// The key that signed, hex.
    pub signed_by: String,
}

impl ExportCheck {
    /// All checks passed.
    pub fn ok(&self) -> bool {
        self.checks.values().all(|v| *v)
    }
}

/// Checks a clip against its manifest offline: the clip's size and SHA-256, and the manifest's
/// Ed25519 signature; with `trusted_key` (hex), also that this installation signed it.
pub fn verify_export(clip: &Path, manifest: &Path, trusted_key: Option<&str>) -> Result<ExportCheck, ExportError> {
    let text = std::fs::read(manifest).map_err(io(manifest))?;
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| ExportError::Invalid(format!("{}: not a HallWatch export manifest: {e}", manifest.display())))?;
    let mut checks = BTreeMap::new();
    let (sha, len) = super::segment::hash_file(clip).map_err(io(clip))?;
    checks.insert("clip size matches manifest".to_owned(), len == m.body.bytes);
    checks.insert("clip sha256 matches manifest".to_owned(), sha == m.body.sha256);
    let key_bytes: Option<[u8; 32]> = hex::decode(&m.signature.public_key).ok().and_then(|v| v.try_into().ok());
    let sig_bytes: Option<[u8; 64]> = hex::decode(&m.signature.value).ok().and_then(|v| v.try_into().ok());
    let valid = match (key_bytes.and_then(|k| VerifyingKey::from_bytes(&k).ok()), sig_bytes) {
        (Some(key), Some(sig)) if m.signature.algorithm == "ed25519" => {
            key.verify(&canonical_bytes(&m.body), &Signature::from_bytes(&sig)).is_ok()
        }
        _ => false,
    };
    checks.insert("manifest signature valid".to_owned(), valid);
    if let Some(trusted) = trusted_key {
        checks.insert("signed by the trusted installation key".to_owned(), trusted.trim().eq_ignore_ascii_case(&m.signature.public_key));
    }
    Ok(ExportCheck { checks, signed_by: m.signature.public_key })
}
