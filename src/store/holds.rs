//! Legal holds: time ranges retention must not delete.

use super::{Store, StoreError};
use crate::time::WallUs;

/// A legal hold on a camera (or all cameras) over a time range.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct LegalHold {
    /// Row id.
    pub id: i64,
    /// Camera, or none for every camera.
    pub camera_id: Option<String>,
    /// Start of the protected range.
    pub start_us: WallUs,
    /// End of the protected range.
    pub end_us: WallUs,
    /// Why (complaint number, inspection decision…).
    pub reason: String,
    /// Who placed it.
    pub created_by: String,
    /// When.
    pub created_us: WallUs,
    /// When released, if it was.
    pub released_us: Option<WallUs>,
}

impl Store {
    /// Places a hold and returns its id.
    pub async fn add_hold(
        &self,
        camera: Option<&str>,
        start_us: WallUs,
        end_us: WallUs,
        reason: &str,
        by: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO legal_hold (camera_id, start_us, end_us, reason, created_by, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(camera)
        .bind(start_us)
        .bind(end_us)
        .bind(reason)
        .bind(by)
        .bind(crate::time::now_us())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Releases a hold; returns false if there was no such active hold.
    pub async fn release_hold(&self, id: i64, by: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE legal_hold SET released_us = $1, released_by = $2 WHERE id = $3 AND released_us IS NULL")
            .bind(crate::time::now_us())
            .bind(by)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// All holds, newest first.
    pub async fn holds(&self) -> Result<Vec<LegalHold>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, camera_id, start_us, end_us, reason, created_by, created_us, released_us FROM legal_hold ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
