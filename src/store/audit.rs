//! The access audit log: who viewed or exported which recording, when and why.

use super::{Store, StoreError};
use crate::time::WallUs;

/// One audit-log entry.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When.
    pub at_us: WallUs,
    /// Who (token or account name).
    pub actor: String,
    /// What, e.g. `recording.view`.
    pub action: String,
    /// On what, e.g. `camera/hall-1 2026-11-30T01:00:00Z..2026-11-30T01:05:00Z`.
    pub target: String,
    /// The purpose the user gave (lý do).
    pub purpose: Option<String>,
    /// Extra detail, e.g. the HTTP range.
    pub detail: Option<String>,
}

impl Store {
    /// Appends an entry.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        purpose: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at_us, actor, action, target, purpose, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(crate::time::now_us())
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(purpose)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest entries.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at_us, actor, action, target, purpose, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Entries in `[from, to)`, newest first, optionally only one actor's or one action's.
    pub async fn audit_search(
        &self,
        from: WallUs,
        to: WallUs,
        actor: Option<&str>,
        action: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at_us, actor, action, target, purpose, detail FROM audit_log \
             WHERE at_us >= $1 AND at_us < $2 AND ($3 IS NULL OR actor = $3) AND ($4 IS NULL OR action = $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(from)
        .bind(to)
        .bind(actor)
        .bind(action)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
