//! Writing one segment file: an init segment, then one fragment per ~second.
//!
//! A fragment is written with a single `write_all` and (optionally) `fdatasync`ed,
//! so after a crash the file holds whole fragments plus at most one torn one, which
//! recovery cuts off. The SHA-256 is computed as bytes are written, so closing a
//! segment never re-reads it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::mp4::{self, FragmentIndex, SampleInfo, SegmentIndex};
use crate::camera::VideoParams;

/// A segment file being written.
pub struct SegmentFile {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    /// Bytes known to be fully written.
    len: u64,
    index: SegmentIndex,
    sequence: u32,
    decode_time: u64,
    pending: Vec<(SampleInfo, Bytes)>,
    pending_90k: u64,
    sync: bool,
    buf: Vec<u8>,
}

/// A completed segment file.
#[derive(Debug)]
pub struct Finished {
    /// The sample index.
    pub index: SegmentIndex,
    /// SHA-256, hex.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
}

impl SegmentFile {
    /// Creates the file (it must not exist) and writes the init segment.
    pub fn create(path: &Path, params: &VideoParams, sync: bool) -> std::io::Result<SegmentFile> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        let mut s = SegmentFile {
            path: path.to_owned(),
            file,
            hasher: Sha256::new(),
            len: 0,
            index: SegmentIndex::default(),
            sequence: 0,
            decode_time: 0,
            pending: Vec::new(),
            pending_90k: 0,
            sync,
            buf: Vec::new(),
        };
        let init = mp4::init_segment(params);
        if let Err(e) = s.write_durable(&init) {
            // A file without even an init segment is useless and would be an orphan.
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(s)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a sample for the current fragment.
    pub fn push(&mut self, data: Bytes, duration: u32, is_key: bool) {
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.pending.push((SampleInfo { duration, size, is_key }, data));
        self.pending_90k += u64::from(duration);
    }

    /// Duration of the samples not yet written.
    pub fn pending_90k(&self) -> u64 {
        self.pending_90k
    }

    /// Duration of everything in the file plus pending samples.
    pub fn duration_90k(&self) -> u64 {
        self.decode_time + self.pending_90k
    }

    /// Frames written or pending.
    pub fn frames(&self) -> u64 {
        self.index.frame_count() + self.pending.len() as u64
    }

    /// Writes the pending samples as one fragment.
    pub fn flush_fragment(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let samples: Vec<SampleInfo> = self.pending.iter().map(|(s, _)| *s).collect();
        self.sequence += 1;
        let header = mp4::fragment_header(self.sequence, self.decode_time, &samples);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&header);
        for (_, data) in &self.pending {
            buf.extend_from_slice(data);
        }
        let data_offset = self.len + header.len() as u64;
        let result = self.write_durable(&buf);
        self.buf = buf;
        result?;
        self.index.fragments.push(FragmentIndex { data_offset, samples });
        self.decode_time += self.pending_90k;
        self.pending.clear();
        self.pending_90k = 0;
        Ok(())
    }

    /// Writes `bytes` at the end; on failure cuts the file back to its last good length
    /// so that it always holds whole fragments.
    fn write_durable(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let r = self.file.write_all(bytes).and_then(|()| if self.sync { self.file.sync_data() } else { Ok(()) });
        match r {
            Ok(()) => {
                self.hasher.update(bytes);
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(e2) = self.file.set_len(self.len) {
                    tracing::error!(path = %self.path.display(), "cannot cut torn fragment: {e2}");
                }
                // set_len leaves the cursor where the failed write stopped.
                let _ = std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }

    /// Writes pending samples, syncs and returns the index and hash.
    pub fn finish(mut self) -> std::io::Result<Finished> {
        self.flush_fragment()?;
        self.file.sync_all()?;
        Ok(self.into_finished())
    }

    /// Gives up on pending samples (after a write failure) and returns what is on disk.
    pub fn salvage(mut self) -> Finished {
        self.pending.clear();
        if let Err(e) = self.file.sync_all() {
            tracing::warn!(path = %self.path.display(), "sync after failed write: {e}");
        }
        self.into_finished()
    }

    fn into_finished(self) -> Finished {
        Finished {
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.len,
            index: self.index,
        }
    }
}

/// SHA-256 of a file, hex.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}
