//! Accounts for people: argon2id passwords, server-side sessions in an `HttpOnly` cookie.
//!
//! Machines (integrations, scripts) keep using bearer tokens from the config; people log in
//! here. The session cookie holds 32 random bytes; the database keeps only their SHA-256.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Actor, ApiError, AppState};
use crate::config::Role;
use crate::time::now_us;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hw_session";
/// A session ends this long after login, however active.
const SESSION_MAX_US: i64 = 12 * 3600 * 1_000_000;
/// A session ends after this long without a request.
pub const SESSION_IDLE_US: i64 = 2 * 3600 * 1_000_000;

/// A password that cannot be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to be a password.
    #[error("a password needs at least 10 characters")]
    TooShort,
    /// The hasher failed (bad parameters or a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes), salted.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < 10 {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of nothing anyone knows, verified when the account does not exist so that a wrong
/// name costs the same time as a wrong password (no account enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut raw = [0u8; 24];
        // Without randomness the decoy is still a valid hash; it only needs to cost time.
        let _ = getrandom::fill(&mut raw);
        hash_password(&hex::encode(raw)).unwrap_or_default()
    })
}

/// The SHA-256 (hex) under which a session token is stored.
pub fn session_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token in the request's cookies, if any. Parsed by hand: one `name=value`
/// lookup in one header does not warrant a cookie-jar dependency.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses an account's stored role.
pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "supervisor" => Some(Role::Supervisor),
        "auditor" => Some(Role::Auditor),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

/// `POST /api/login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    name: String,
    password: String,
}

fn cookie(value: &str, max_age_s: i64) -> Result<HeaderValue, ApiError> {
    // SameSite=Strict: the cookie never rides on another site's request, the first CSRF defence.
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /api/login`: checks the password and starts a session.
pub async fn login(State(st): State<AppState>, Json(body): Json<Login>) -> Result<Response, ApiError> {
    if body.name.len() > 128 || body.password.len() > 1024 {
        return Err(ApiError::BadRequest("name or password too long".into()));
    }
    let account = st.store.account(&body.name).await?;
    let stored = account.as_ref().map_or_else(|| decoy_hash().to_owned(), |a| a.password_hash.clone());
    let password = body.password;
    // argon2 costs tens of milliseconds of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let account = match account {
        Some(a) if ok && a.disabled_us.is_none() => a,
        _ => {
            tracing::warn!(name = %body.name, "failed login");
            st.store.audit(&body.name, "login.failed", "account", None, None).await?;
            return Err(ApiError::Unauthorized("wrong name or password".into()));
        }
    };
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let token = hex::encode(raw);
    let now = now_us();
    st.store.add_session(&session_key(&token), account.id, now, now + SESSION_MAX_US).await?;
    st.store.audit(&account.name, "login", "account", None, None).await?;
    let mut resp = Json(serde_json::json!({ "name": account.name, "role": account.role })).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&token, SESSION_MAX_US / 1_000_000)?);
    Ok(resp)
}

/// `POST /api/logout`: ends the session and clears the cookie.
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        st.store.end_session(&session_key(token)).await?;
    }
    let mut resp = Json(serde_json::json!({ "logged_out": true })).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie("", 0)?);
    Ok(resp)
}

/// `GET /api/me`: who is logged in.
pub async fn me(Extension(actor): Extension<Actor>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": actor.name, "role": actor.role }))
}
