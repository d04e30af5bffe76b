//! `hallwatch verify`: re-hashes stored segments against the index and reports
//! missing, altered and orphaned files.

use std::collections::HashSet;
use std::path::Path;

use crate::record::mp4::SegmentIndex;
use crate::record::segment::hash_file;
use crate::record::storage::Storage;
use crate::store::{Store, StoreError};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Indexed, but the file is gone.
    Missing {
        /// Segment id.
        segment: i64,
        /// Relative path.
        path: String,
    },
    /// The file's hash or size differs from the index.
    Altered {
        /// Segment id.
        segment: i64,
        /// Relative path.
        path: String,
        /// What differs.
        detail: String,
    },
    /// A segment file the index does not know.
    Orphan {
        /// Relative path.
        path: String,
    },
    /// A segment still open: being recorded now, or awaiting recovery at the next start.
    Open {
        /// Segment id.
        segment: i64,
        /// Relative path.
        path: String,
    },
}

impl Finding {
    /// Whether this finding means the archive is not intact.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Finding::Open { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Missing { segment, path } => write!(f, "MISSING  segment {segment}: {path}"),
            Finding::Altered { segment, path, detail } => write!(f, "ALTERED  segment {segment}: {path}: {detail}"),
            Finding::Orphan { path } => write!(f, "ORPHAN   {path} (not in the index)"),
            Finding::Open { segment, path } => {
                write!(f, "OPEN     segment {segment}: {path} (recording now, or recovered at next start)")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Closed segments checked.
    pub checked: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Everything not in order.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// True when no finding is a problem.
    pub fn is_clean(&self) -> bool {
        !self.findings.iter().any(Finding::is_problem)
    }
}

/// Verifies every indexed segment and looks for orphans.
pub async fn verify(store: &Store, storage: &Storage) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut known = HashSet::new();
    for seg in store.all_segments().await? {
        known.insert(seg.path.clone());
        if seg.state == "open" {
            report.findings.push(Finding::Open { segment: seg.id, path: seg.path });
            continue;
        }
        let path = storage.resolve(&seg.path);
        let (sha, len) = match hash_file(&path) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.findings.push(Finding::Missing { segment: seg.id, path: seg.path });
                continue;
            }
            Err(e) => {
                report.findings.push(Finding::Altered { segment: seg.id, path: seg.path, detail: format!("unreadable: {e}") });
                continue;
            }
        };
        report.checked += 1;
        report.bytes += len;
        let mut problems = Vec::new();
        if i64::try_from(len).ok() != Some(seg.bytes) {
            problems.push(format!("size {len} bytes, index says {}", seg.bytes));
        }
        if seg.sha256.as_deref() != Some(sha.as_str()) {
            problems.push(format!("sha256 {sha}, index says {}", seg.sha256.as_deref().unwrap_or("none")));
        }
        match seg.sample_index.as_deref().map(SegmentIndex::decode) {
            Some(Ok(idx)) if idx.frame_count() as i64 == seg.frames => {}
            Some(Ok(idx)) => problems.push(format!("sample index has {} frames, row says {}", idx.frame_count(), seg.frames)),
            Some(Err(e)) => problems.push(format!("sample index unreadable: {e}")),
            None => problems.push("no sample index".into()),
        }
        if !problems.is_empty() {
            report.findings.push(Finding::Altered { segment: seg.id, path: seg.path, detail: problems.join("; ") });
        }
    }
    let mut files = Vec::new();
    collect_mp4(storage.dir(), storage.dir(), &mut files);
    files.sort();
    for rel in files {
        if !known.contains(&rel) {
            report.findings.push(Finding::Orphan { path: rel });
        }
    }
    Ok(report)
}

fn collect_mp4(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            // Exported clips are checked against their own signed manifests (`verify-export`).
            if dir == root && p.file_name().is_some_and(|n| n == crate::record::export::EXPORTS_DIR) {
                continue;
            }
            collect_mp4(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "mp4") {
            if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
}
