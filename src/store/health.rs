//! Camera stream health rows.

use super::{Store, StoreError};
use crate::time::WallUs;

/// Health of one camera stream, as shown by `GET /api/cameras`.
#[derive(Clone, Debug, Default, sqlx::FromRow, serde::Serialize)]
pub struct HealthRow {
    /// Camera id.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    /// `connecting`, `streaming`, `retrying`, `storage_full`, `disabled`.
    pub state: String,
    /// Wall time of the last frame received.
    pub last_frame_us: Option<WallUs>,
    /// Frames per second over the last measurement window.
    pub fps: Option<f64>,
    /// Bits per second over the last measurement window.
    pub bitrate_bps: Option<f64>,
    /// Reconnections since the server started.
    pub reconnects: i64,
    /// The last error, with credentials removed.
    pub last_error: Option<String>,
    /// When the last error happened.
    pub last_error_us: Option<WallUs>,
    /// `rtcp` when times come from the camera's sender reports, else `receive`.
    pub clock_source: Option<String>,
    /// RFC 6381 codec.
    pub codec: Option<String>,
    /// Width.
    pub width: Option<i64>,
    /// Height.
    pub height: Option<i64>,
    /// Frames received since start.
    pub frames_received: i64,
    /// Frames received but not recorded (storage full or failing): lost footage.
    pub frames_dropped: i64,
    /// Frames before the first key frame after a (re)connect, which no decoder could use.
    pub frames_skipped: i64,
    /// When this row was written.
    pub updated_us: WallUs,
}

impl Store {
    /// Writes the health of several streams in one transaction.
    pub async fn upsert_health(&self, rows: &[HealthRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for h in rows {
            sqlx::query(
                "INSERT INTO stream_health (camera_id, stream, state, last_frame_us, fps, bitrate_bps, reconnects, last_error, \
                 last_error_us, clock_source, codec, width, height, frames_received, frames_dropped, frames_skipped, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (camera_id, stream) DO UPDATE SET state = excluded.state, last_frame_us = excluded.last_frame_us, \
                 fps = excluded.fps, bitrate_bps = excluded.bitrate_bps, reconnects = excluded.reconnects, \
                 last_error = excluded.last_error, last_error_us = excluded.last_error_us, clock_source = excluded.clock_source, \
                 codec = excluded.codec, width = excluded.width, height = excluded.height, \
                 frames_received = excluded.frames_received, frames_dropped = excluded.frames_dropped, frames_skipped = excluded.frames_skipped, updated_us = excluded.updated_us",
            )
            .bind(&h.camera_id)
            .bind(&h.stream)
            .bind(&h.state)
            .bind(h.last_frame_us)
            .bind(h.fps)
            .bind(h.bitrate_bps)
            .bind(h.reconnects)
            .bind(&h.last_error)
            .bind(h.last_error_us)
            .bind(&h.clock_source)
            .bind(&h.codec)
            .bind(h.width)
            .bind(h.height)
            .bind(h.frames_received)
            .bind(h.frames_dropped)
            .bind(h.frames_skipped)
            .bind(h.updated_us)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Health of every stream.
    pub async fn health(&self) -> Result<Vec<HealthRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT camera_id, stream, state, last_frame_us, fps, bitrate_bps, reconnects, last_error, last_error_us, \
             clock_source, codec, width, height, frames_received, frames_dropped, frames_skipped, updated_us \
             FROM stream_health ORDER BY camera_id, stream",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
