//! The recording directory: layout of segment paths, the free-space gate, and the
//! lock that keeps two servers from writing the same directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::time::WallUs;

/// The recording directory shared by all recorders and retention.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    accepting: AtomicBool,
    /// Wakes retention early (a write failed, or space is short).
    pub wake_retention: Notify,
    _lock: Option<std::fs::File>,
}

/// Storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another server holds the directory.
    #[error("storage directory {0} is in use by another HallWatch process")]
    Locked(PathBuf),
    /// I/O failure.
    #[error("storage directory {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Storage {
    /// Opens the directory for writing, taking an exclusive lock on it.
    pub fn open_exclusive(dir: &Path) -> Result<Storage, StorageError> {
        let lock_path = dir.join(".hallwatch.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StorageError::Io { path: lock_path.clone(), source })?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StorageError::Locked(dir.to_owned())),
            Err(std::fs::TryLockError::Error(source)) => return Err(StorageError::Io { path: lock_path, source }),
        }
        Ok(Storage {
            dir: dir.to_owned(),
            accepting: AtomicBool::new(true),
            wake_retention: Notify::new(),
            _lock: Some(f),
        })
    }

    /// Opens the directory read-only (verify, playback tools).
    pub fn open_shared(dir: &Path) -> Storage {
        Storage {
            dir: dir.to_owned(),
            accepting: AtomicBool::new(false),
            wake_retention: Notify::new(),
            _lock: None,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Absolute path of a stored relative segment path.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Whether new segments may be started.
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    /// Opens or closes the gate for new segments.
    pub fn set_accepting(&self, yes: bool) {
        if self.accepting.swap(yes, Ordering::Relaxed) != yes {
            if yes {
                tracing::info!("storage has room again; recording new segments");
            } else {
                tracing::error!("storage is full; refusing new segments until retention makes room");
            }
        }
    }

    /// Bytes available to this process on the recording file system.
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        fs4::available_space(&self.dir)
    }
}

/// Relative path of a new segment: `camera/stream/YYYY-MM-DD/<start µs>.mp4` (UTC date),
/// so an operator can find a day's files by hand and names sort by time.
pub fn segment_path(camera: &str, stream: &str, start_us: WallUs) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(start_us.div_euclid(1_000_000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "invalid-date".into());
    format!("{camera}/{stream}/{date}/{start_us}.mp4")
}
