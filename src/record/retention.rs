//! Retention: per-camera age and size limits, a global free-space floor, and legal
//! holds that override both. Oldest segments go first; every deletion is logged in
//! `segment_deletion` and in the server log.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::storage::Storage;
use crate::config::Config;
use crate::store::{SegmentRow, Store, StoreError};
use crate::time::now_us;

/// What one retention pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted for age.
    pub by_age: u64,
    /// Segments deleted for the camera's byte limit.
    pub by_bytes: u64,
    /// Segments deleted to restore the free-space floor.
    pub by_disk: u64,
    /// Whether the free-space floor could not be restored (everything left is held or open).
    pub disk_short: bool,
}

/// Per-camera limits.
#[derive(Clone, Debug)]
pub struct CameraLimits {
    /// Camera id.
    pub camera_id: String,
    /// Maximum age in days.
    pub max_days: Option<u32>,
    /// Maximum bytes.
    pub max_bytes: Option<u64>,
}

/// The retention policy of a server.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Limits per camera.
    pub cameras: Vec<CameraLimits>,
    /// Free-space floor in bytes.
    pub min_free: u64,
}

impl Policy {
    /// The policy configured in `cfg`.
    pub fn from_config(cfg: &Config) -> Policy {
        Policy {
            cameras: cfg
                .cameras
                .iter()
                .map(|c| CameraLimits {
                    camera_id: c.id.clone(),
                    max_days: c.retention_days,
                    max_bytes: c.retention_max.map(|b| b.0),
                })
                .collect(),
            min_free: cfg.storage.min_free.0,
        }
    }
}

/// Deletes one segment; returns false if its file could not be removed (the row stays).
async fn delete(store: &Store, storage: &Storage, seg: &SegmentRow, reason: &str) -> Result<bool, StoreError> {
    match std::fs::remove_file(storage.resolve(&seg.path)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            // Keep the row: its file is still there and still accounted for.
            tracing::error!(segment = seg.id, path = %seg.path, "retention cannot delete file: {e}");
            return Ok(false);
        }
    }
    store.delete_segment(seg, reason).await?;
    tracing::info!(
        segment = seg.id, camera = %seg.camera_id, path = %seg.path, bytes = seg.bytes,
        start = %crate::time::to_rfc3339(seg.start_us), reason, "retention deleted segment"
    );
    Ok(true)
}

/// Runs one retention pass.
pub async fn run_once(store: &Store, storage: &Storage, policy: &Policy) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    let now = now_us();
    for cam in &policy.cameras {
        if let Some(days) = cam.max_days {
            let before = now - i64::from(days) * 86_400 * 1_000_000;
            for seg in store.expired(&cam.camera_id, before).await? {
                if delete(store, storage, &seg, "age").await? {
                    report.by_age += 1;
                }
            }
        }
        if let Some(max) = cam.max_bytes {
            let mut used = u64::try_from(store.camera_bytes(&cam.camera_id).await?).unwrap_or(0);
            'bytes: while used > max {
                let batch = store.oldest_deletable(Some(&cam.camera_id), 32).await?;
                let mut progress = false;
                for seg in batch {
                    if !delete(store, storage, &seg, "bytes").await? {
                        continue;
                    }
                    progress = true;
                    report.by_bytes += 1;
                    used = used.saturating_sub(u64::try_from(seg.bytes).unwrap_or(0));
                    if used <= max {
                        break 'bytes;
                    }
                }
                // Nothing left that may be deleted (held, open, or undeletable files).
                if !progress {
                    break;
                }
            }
        }
    }
    // Keep room for two more segments of every stream on top of the configured floor,
    // so recorders meet the floor at a segment boundary (refused cleanly) rather than
    // ENOSPC mid-fragment, and so the gate does not flap open and shut.
    let headroom = store.segment_headroom(now - 3600 * 1_000_000).await?;
    let floor = policy.min_free.max(2 * u64::try_from(headroom).unwrap_or(0));
    loop {
        let free = match storage.free_bytes() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("cannot measure free space: {e}");
                break;
            }
        };
        if free >= floor {
            storage.set_accepting(true);
            break;
        }
        let mut progress = false;
        for seg in store.oldest_deletable(None, 8).await? {
            if delete(store, storage, &seg, "disk").await? {
                progress = true;
                report.by_disk += 1;
            }
        }
        if !progress {
            report.disk_short = true;
            storage.set_accepting(false);
            break;
        }
    }
    Ok(report)
}

/// Runs retention every `interval`, or sooner when woken, until cancelled.
pub async fn run(store: Store, storage: Arc<Storage>, policy: Policy, interval: Duration, cancel: CancellationToken) {
    loop {
        match run_once(&store, &storage, &policy).await {
            Ok(r) if r != RetentionReport::default() => tracing::info!(?r, "retention pass"),
            Ok(_) => {}
            Err(e) => tracing::error!("retention failed: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = storage.wake_retention.notified() => {}
            () = cancel.cancelled() => return,
        }
    }
}
