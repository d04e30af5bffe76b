//! Start-up recovery: completes index rows left `open` by a crash, from the files.

use super::mp4;
use super::segment::hash_file;
use super::storage::Storage;
use crate::store::{SegmentClose, Store, StoreError};

/// What recovery did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Segments completed from their files.
    pub recovered: u64,
    /// Open rows whose file never got a complete fragment (removed).
    pub dropped: u64,
    /// Bytes of torn fragments cut off the end of files.
    pub truncated_bytes: u64,
}

/// A recovery failure.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Completes every `open` segment row. Must run before any recorder starts.
pub async fn recover(store: &Store, storage: &Storage) -> Result<RecoveryReport, RecoveryError> {
    let mut report = RecoveryReport::default();
    for seg in store.open_segments().await? {
        let path = storage.resolve(&seg.path);
        let io = |source| RecoveryError::Io { path: path.display().to_string(), source };
        let scanned = match std::fs::File::open(&path) {
            Ok(f) => match mp4::scan(std::io::BufReader::new(f)) {
                Ok(s) => Some(s),
                // A read error says nothing about the file's content: never delete on it.
                Err(mp4::Mp4Error::Io(e)) => return Err(io(e)),
                // Torn before the init segment was complete: nothing recorded.
                Err(_) => None,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        let Some(scanned) = scanned.filter(|s| s.index.frame_count() > 0) else {
            tracing::warn!(segment = seg.id, path = %seg.path, "crashed segment has no complete fragment; removing it");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
            store.forget_empty_segment(seg.id).await?;
            report.dropped += 1;
            continue;
        };
        let len = std::fs::metadata(&path).map_err(io)?.len();
        if len > scanned.valid_len {
            let f = std::fs::OpenOptions::new().write(true).open(&path).map_err(io)?;
            f.set_len(scanned.valid_len).map_err(io)?;
            f.sync_all().map_err(io)?;
            report.truncated_bytes += len - scanned.valid_len;
        }
        let (sha256, bytes) = hash_file(&path).map_err(io)?;
        let end_us = seg.start_us + (scanned.index.duration_90k() as i64) * 1_000_000 / 90_000;
        let close = SegmentClose {
            end_us,
            frames: scanned.index.frame_count() as i64,
            bytes: bytes as i64,
            sha256,
            sample_index: scanned.index.encode(),
            recovered: true,
        };
        store.close_segment(seg.id, &close).await?;
        tracing::info!(segment = seg.id, path = %seg.path, frames = close.frames, cut_bytes = len - scanned.valid_len, "recovered segment after a crash");
        report.recovered += 1;
    }
    Ok(report)
}
