//! Accounts and their server-side sessions.

use super::{Store, StoreError};
use crate::time::WallUs;

/// A login account.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Login name, also the name written to the audit log.
    pub name: String,
    /// `supervisor`, `auditor` or `admin`.
    pub role: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Created.
    pub created_us: WallUs,
    /// Disabled (no login, sessions void) since.
    pub disabled_us: Option<WallUs>,
}

/// How stale a session's `last_seen_us` may get before a request refreshes it.
const LAST_SEEN_STEP_US: i64 = 60_000_000;

/// Ends every session of the account called `name` (password changed, account disabled).
async fn end_sessions_of(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, name: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM session WHERE account_id = (SELECT id FROM account WHERE name = $1)")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Creates an account; false if the name is taken.
    pub async fn add_account(&self, name: &str, role: &str, password_hash: &str, now: WallUs) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO account (name, role, password_hash, created_us) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The account called `name`.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, role, password_hash, created_us, disabled_us FROM account WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// All accounts, by name.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, role, password_hash, created_us, disabled_us FROM account ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces an account's password and ends its sessions; false if there is no such account.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE account SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, name).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Disables an account and ends its sessions; false if there is no such active account.
    pub async fn disable_account(&self, name: &str, now: WallUs) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE account SET disabled_us = $1 WHERE name = $2 AND disabled_us IS NULL")
            .bind(now)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, name).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records a new session (by the SHA-256 of its token).
    pub async fn add_session(&self, token_sha256: &str, account_id: i64, now: WallUs, expires: WallUs) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO session (token_sha256, account_id, created_us, expires_us, last_seen_us) VALUES ($1, $2, $3, $4, $3)")
            .bind(token_sha256)
            .bind(account_id)
            .bind(now)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live account behind a session token hash: not expired, not idle longer than
    /// `idle_us`, account not disabled. Touches `last_seen_us`.
    pub async fn session_account(&self, token_sha256: &str, now: WallUs, idle_us: i64) -> Result<Option<Account>, StoreError> {
        let account: Option<Account> = sqlx::query_as(
            "SELECT a.id, a.name, a.role, a.password_hash, a.created_us, a.disabled_us FROM session s \
             JOIN account a ON a.id = s.account_id \
             WHERE s.token_sha256 = $1 AND s.expires_us > $2 AND s.last_seen_us > $3 AND a.disabled_us IS NULL",
        )
        .bind(token_sha256)
        .bind(now)
        .bind(now - idle_us)
        .fetch_optional(&self.pool)
        .await?;
        if account.is_some() {
            // Every request of a page passes here: the idle clock only needs minute precision,
            // so the row is rewritten at most once a minute, not on every request.
            sqlx::query("UPDATE session SET last_seen_us = $1 WHERE token_sha256 = $2 AND last_seen_us < $3")
                .bind(now)
                .bind(token_sha256)
                .bind(now - LAST_SEEN_STEP_US)
                .execute(&self.pool)
                .await?;
        }
        Ok(account)
    }

    /// Ends a session.
    pub async fn end_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM session WHERE token_sha256 = $1").bind(token_sha256).execute(&self.pool).await?;
        Ok(())
    }
}
