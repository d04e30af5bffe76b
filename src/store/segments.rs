//! Segment rows: the recording index.

use super::{Store, StoreError};
use crate::time::WallUs;

/// A segment as stored in the index.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SegmentRow {
    /// Row id.
    pub id: i64,
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    /// `open` while being written, `closed` when complete.
    pub state: String,
    /// File path relative to the storage directory.
    pub path: String,
    /// Wall time of the first frame.
    pub start_us: WallUs,
    /// Wall time at the end of the last frame (closed segments).
    pub end_us: Option<WallUs>,
    /// Number of frames.
    pub frames: i64,
    /// File size in bytes.
    pub bytes: i64,
    /// SHA-256 of the whole file, hex.
    pub sha256: Option<String>,
    /// Whether recording was interrupted just before this segment.
    pub gap_before: bool,
    /// `rtcp` or `receive`: where the wall-clock times come from.
    pub clock_source: String,
    /// RFC 6381 codec string.
    pub codec: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// The MP4 sample entry.
    pub sample_entry: Vec<u8>,
    /// Encoded [`crate::record::mp4::SegmentIndex`] (closed segments).
    pub sample_index: Option<Vec<u8>>,
    /// Whether the row was completed by crash recovery.
    pub recovered: bool,
}

/// What is known when a segment file is created.
#[derive(Clone, Debug)]
pub struct NewSegment {
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    /// Relative path.
    pub path: String,
    /// Wall time of the first frame.
    pub start_us: WallUs,
    /// Whether recording was interrupted before it.
    pub gap_before: bool,
    /// `rtcp` or `receive`.
    pub clock_source: String,
    /// RFC 6381 codec string.
    pub codec: String,
    /// Width.
    pub width: u16,
    /// Height.
    pub height: u16,
    /// MP4 sample entry.
    pub sample_entry: Vec<u8>,
}

/// What is known when a segment file is complete.
#[derive(Clone, Debug)]
pub struct SegmentClose {
    /// End wall time.
    pub end_us: WallUs,
    /// Frames.
    pub frames: i64,
    /// File bytes.
    pub bytes: i64,
    /// SHA-256 hex.
    pub sha256: String,
    /// Encoded sample index.
    pub sample_index: Vec<u8>,
    /// Completed by crash recovery.
    pub recovered: bool,
}

/// A deleted segment, as logged by retention.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct DeletionRow {
    /// Segment id.
    pub segment_id: i64,
    /// Camera.
    pub camera_id: String,
    /// Start wall time.
    pub start_us: WallUs,
    /// Bytes freed.
    pub bytes: i64,
    /// Why: `age`, `bytes`, `disk`.
    pub reason: String,
    /// When.
    pub deleted_us: WallUs,
}

const COLUMNS: &str = "id, camera_id, stream, state, path, start_us, end_us, frames, bytes, sha256, gap_before, \
     clock_source, codec, width, height, sample_entry, sample_index, recovered";

/// A segment is under legal hold if an unreleased hold of its camera (or of all
/// cameras) overlaps it.
const NOT_HELD: &str = "NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.released_us IS NULL \
     AND (h.camera_id IS NULL OR h.camera_id = segment.camera_id) \
     AND h.start_us < COALESCE(segment.end_us, segment.start_us + 1) AND h.end_us > segment.start_us)";

impl Store {
    /// Inserts a segment in state `open` and returns its id.
    pub async fn insert_open_segment(&self, s: &NewSegment) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO segment (camera_id, stream, state, path, start_us, gap_before, clock_source, codec, width, height, sample_entry) \
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&s.camera_id)
        .bind(&s.stream)
        .bind(&s.path)
        .bind(s.start_us)
        .bind(s.gap_before)
        .bind(&s.clock_source)
        .bind(&s.codec)
        .bind(i64::from(s.width))
        .bind(i64::from(s.height))
        .bind(&s.sample_entry)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Marks a segment closed with its final figures.
    pub async fn close_segment(&self, id: i64, c: &SegmentClose) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE segment SET state = 'closed', end_us = $1, frames = $2, bytes = $3, sha256 = $4, \
             sample_index = $5, recovered = $6 WHERE id = $7",
        )
        .bind(c.end_us)
        .bind(c.frames)
        .bind(c.bytes)
        .bind(&c.sha256)
        .bind(&c.sample_index)
        .bind(c.recovered)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a segment row that never received a frame.
    pub async fn forget_empty_segment(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM segment WHERE id = $1 AND state = 'open'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Segments still `open`: after a crash, these need recovery.
    pub async fn open_segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM segment WHERE state = 'open' ORDER BY id")).fetch_all(&self.pool).await?)
    }

    /// Every segment, oldest first.
    pub async fn all_segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM segment ORDER BY start_us, id")).fetch_all(&self.pool).await?)
    }

    /// Closed segments of one camera stream overlapping `[start, end)`, in time order.
    pub async fn segments_in_range(
        &self,
        camera: &str,
        stream: &str,
        start: WallUs,
        end: WallUs,
    ) -> Result<Vec<SegmentRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM segment WHERE camera_id = $1 AND stream = $2 AND state = 'closed' \
             AND start_us < $3 AND end_us > $4 ORDER BY start_us, id"
        ))
        .bind(camera)
        .bind(stream)
        .bind(end)
        .bind(start)
        .fetch_all(&self.pool)
        .await?)
    }

    /// End time of the latest closed segment of a stream, to detect a gap after a restart.
    pub async fn last_segment_end(&self, camera: &str, stream: &str) -> Result<Option<WallUs>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(end_us) FROM segment WHERE camera_id = $1 AND stream = $2 AND state = 'closed'",
        )
        .bind(camera)
        .bind(stream)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Total bytes stored for a camera.
    pub async fn camera_bytes(&self, camera: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT SUM(bytes) FROM segment WHERE camera_id = $1")
            .bind(camera)
            .fetch_one(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// The oldest closed, unheld segments, of one camera or of all, up to `limit`.
    pub async fn oldest_deletable(&self, camera: Option<&str>, limit: i64) -> Result<Vec<SegmentRow>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM segment WHERE state = 'closed' AND ($1 IS NULL OR camera_id = $1) AND {NOT_HELD} \
             ORDER BY start_us, id LIMIT $2"
        );
        Ok(sqlx::query_as(&q).bind(camera).bind(limit).fetch_all(&self.pool).await?)
    }

    /// Closed, unheld segments of a camera that ended before `before`.
    pub async fn expired(&self, camera: &str, before: WallUs) -> Result<Vec<SegmentRow>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM segment WHERE state = 'closed' AND camera_id = $1 AND end_us < $2 AND {NOT_HELD} \
             ORDER BY start_us, id"
        );
        Ok(sqlx::query_as(&q).bind(camera).bind(before).fetch_all(&self.pool).await?)
    }

    /// Removes a segment's row and logs the deletion, in one transaction. The caller
    /// deletes the file first: a file without a row is reported by `verify`, while a
    /// row without a file would be a broken promise to an auditor.
    pub async fn delete_segment(&self, seg: &SegmentRow, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO segment_deletion (segment_id, camera_id, stream, path, start_us, end_us, bytes, sha256, reason, deleted_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seg.id)
        .bind(&seg.camera_id)
        .bind(&seg.stream)
        .bind(&seg.path)
        .bind(seg.start_us)
        .bind(seg.end_us)
        .bind(seg.bytes)
        .bind(&seg.sha256)
        .bind(reason)
        .bind(crate::time::now_us())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM segment WHERE id = $1").bind(seg.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The deletion log, newest first.
    pub async fn deletions(&self, limit: i64) -> Result<Vec<DeletionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT segment_id, camera_id, start_us, bytes, reason, deleted_us FROM segment_deletion ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Recording totals of one camera.
#[derive(Clone, Debug, Default, sqlx::FromRow, serde::Serialize)]
pub struct CameraStats {
    /// Closed segments.
    pub segments: i64,
    /// Bytes stored.
    pub bytes: Option<i64>,
    /// Start of the oldest segment.
    pub oldest_us: Option<WallUs>,
    /// End of the newest closed segment.
    pub newest_us: Option<WallUs>,
}

impl Store {
    /// Sum over streams of each stream's largest segment started after `since`: the
    /// space the streams need to write one more segment each.
    pub async fn segment_headroom(&self, since: WallUs) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT SUM(m) FROM (SELECT MAX(bytes) AS m FROM segment WHERE state = 'closed' AND start_us > $1 \
             GROUP BY camera_id, stream) AS per_stream",
        )
        .bind(since)
        .fetch_one(&self.pool)
        .await?
        .unwrap_or(0))
    }

    /// Totals of a camera's closed segments.
    pub async fn camera_stats(&self, camera: &str) -> Result<CameraStats, StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*) AS segments, SUM(bytes) AS bytes, MIN(start_us) AS oldest_us, MAX(end_us) AS newest_us \
             FROM segment WHERE camera_id = $1 AND state = 'closed'",
        )
        .bind(camera)
        .fetch_one(&self.pool)
        .await?)
    }
}
