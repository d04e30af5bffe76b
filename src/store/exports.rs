//! The list of exported clips.

use super::{Store, StoreError};
use crate::time::WallUs;

/// One exported clip.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct ExportRow {
    /// Export id (also the file name stem under `exports/`).
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Stream role.
    pub stream: String,
    /// Range start.
    pub start_us: WallUs,
    /// Range end.
    pub end_us: WallUs,
    /// When exported.
    pub created_us: WallUs,
    /// Who exported it.
    pub actor: String,
    /// Why.
    pub purpose: String,
    /// SHA-256 of the clip.
    pub sha256: String,
    /// Clip size.
    pub bytes: i64,
    /// SHA-256 of the manifest file.
    pub manifest_sha256: String,
}

impl Store {
    /// Records an export.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_export(
        &self,
        id: &str,
        camera: &str,
        stream: &str,
        start: WallUs,
        end: WallUs,
        created: WallUs,
        actor: &str,
        purpose: &str,
        sha256: &str,
        bytes: u64,
        manifest_sha256: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO export (id, camera_id, stream, start_us, end_us, created_us, actor, purpose, sha256, bytes, manifest_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id)
        .bind(camera)
        .bind(stream)
        .bind(start)
        .bind(end)
        .bind(created)
        .bind(actor)
        .bind(purpose)
        .bind(sha256)
        .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
        .bind(manifest_sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One export.
    pub async fn export_row(&self, id: &str) -> Result<Option<ExportRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM export WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    /// Exports, newest first.
    pub async fn exports(&self, limit: i64) -> Result<Vec<ExportRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM export ORDER BY created_us DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?)
    }
}
