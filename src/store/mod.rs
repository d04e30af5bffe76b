//! The index database: an sqlx pool and one repository per aggregate.
//!
//! SQLite is the embedded default. Queries stay in portable SQL (no SQLite-only
//! functions, `$n` placeholders) so a PostgreSQL backend needs new migrations,
//! not new queries.

mod accounts;
mod alerts;
mod analytics;
mod audit;
mod charts;
mod day_cache;
mod exports;
mod group_commit;
mod health;
mod holds;
mod kpi;
mod segments;
mod service;

pub use accounts::Account;
pub use alerts::{Ack, AlertRow, ApplyReport};
pub use analytics::{OccupancyMinuteRow, PersonWaitRow, StaffedRow, VisitRow};
pub use audit::AuditEntry;
pub use charts::{Marker, OccupancySeries, WaitHistogram};
pub use day_cache::BUDGET_ROWS as DAY_CACHE_ROWS;
pub use exports::ExportRow;
pub use group_commit::TicketWriter;
pub use health::HealthRow;
pub use holds::LegalHold;
pub use kpi::{DossierLink, HallSetup};
pub use segments::{CameraStats, DeletionRow, NewSegment, SegmentClose, SegmentRow};
pub use service::Ingested;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::config::Config;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: sqlx::Error,
    },
    /// Schema migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// The group-commit writer failed or stopped (its own error is logged).
    #[error("database write failed: {0}")]
    Writer(String),
}

/// Handle to the index database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Rows of sealed past days for the KPI reads (see `day_cache`).
    days: std::sync::Arc<day_cache::DayCache>,
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?
            .filename(path)
            .create_if_missing(true)
            // WAL + NORMAL: a crash (even power loss) never corrupts the index; at worst
            // the last transactions roll back, and recovery re-derives them from files.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Store { pool, days: Default::default() })
    }

    /// Makes the hall and camera tables match the configuration (rows are never deleted:
    /// segments of a camera removed from the config stay reachable until retention).
    pub async fn sync_config(&self, cfg: &Config) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for h in &cfg.halls {
            sqlx::query("INSERT INTO hall (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name")
                .bind(&h.id)
                .bind(&h.name)
                .execute(&mut *tx)
                .await?;
        }
        for c in &cfg.cameras {
            sqlx::query(
                "INSERT INTO camera (id, hall_id, name, retention_days, retention_bytes) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET hall_id = excluded.hall_id, name = excluded.name, \
                 retention_days = excluded.retention_days, retention_bytes = excluded.retention_bytes",
            )
            .bind(&c.id)
            .bind(&c.hall)
            .bind(&c.name)
            .bind(c.retention_days.map(i64::from))
            .bind(c.retention_max.map(|b| i64::try_from(b.0).unwrap_or(i64::MAX)))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
