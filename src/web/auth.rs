//! Who is calling, and may they? One table maps every route to the roles allowed.
//! The check runs before any handler, so an anonymous call to recordings gets 401
//! before anything is looked up.

use std::collections::HashMap;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{accounts, ApiError, AppState};
use crate::config::Role;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Holders of one of these roles.
    Roles(&'static [Role]),
}

const RECORDINGS: Access = Access::Roles(&[Role::Auditor, Role::Admin]);
/// People who work in the hall: live views and service statistics (named counters and
/// officers), no recordings.
const PEOPLE: Access = Access::Roles(&[Role::Supervisor, Role::Auditor, Role::Admin]);
/// Service records come from integrations; an admin may post corrections by hand.
const INGEST: Access = Access::Roles(&[Role::Integration, Role::Admin]);

/// The route table. A route missing here is refused to everyone (fail closed).
const ROUTES: &[(&str, Access)] = &[
    ("/", PEOPLE),
    ("/login", Access::Public),
    ("/review", RECORDINGS),
    // The citizens' wait display: anonymous aggregates, no login.
    ("/display", Access::Public),
    // Scripts and styles only: no data is ever in them.
    ("/static/{*path}", Access::Public),
    ("/api/health", Access::Public),
    // Operational health only: no footage, no personal data.
    ("/api/cameras", Access::Public),
    // Anonymous aggregates only (counts per zone), the same figures a public display shows.
    ("/api/live", Access::Public),
    ("/api/login", Access::Public),
    ("/api/logout", Access::Public),
    ("/api/me", PEOPLE),
    ("/api/events", PEOPLE),
    // Hall names, and the public display's anonymous figures.
    ("/api/halls", Access::Public),
    ("/api/display/{hall}/events", Access::Public),
    ("/api/charts/occupancy", PEOPLE),
    ("/api/charts/waits", PEOPLE),
    ("/api/hall/{hall}/counters", PEOPLE),
    // Live footage of the hall: people who work there, not the public display.
    ("/api/cameras/{id}/snapshot.jpg", PEOPLE),
    ("/api/cameras/{id}/zones", PEOPLE),
    ("/api/cameras/{id}/segments", RECORDINGS),
    ("/api/cameras/{id}/markers", RECORDINGS),
    ("/api/cameras/{id}/recording.mp4", RECORDINGS),
    ("/api/cameras/{id}/exports", RECORDINGS),
    ("/api/exports", RECORDINGS),
    ("/api/audit", RECORDINGS),
    // A public key: publishing it is what lets anyone check an export.
    ("/api/exports/key", Access::Public),
    ("/api/exports/{id}/clip.mp4", RECORDINGS),
    ("/api/exports/{id}/manifest.json", RECORDINGS),
    ("/api/alerts", PEOPLE),
    // Acknowledging is acting on the hall: supervisors and admins, not auditors.
    ("/api/alerts/{id}/ack", Access::Roles(&[Role::Supervisor, Role::Admin])),
    // Describes the API only, no data.
    ("/api/openapi.json", Access::Public),
    ("/api/v1/ticket-events", INGEST),
    ("/api/v1/dossiers", INGEST),
    ("/api/v1/dossier-status", INGEST),
    ("/api/v1/ratings", INGEST),
    ("/api/v1/counters", INGEST),
    ("/api/v1/officers", INGEST),
    ("/api/v1/counter-states", INGEST),
    ("/api/v1/tickets/{hall}/{ticket_id}", INGEST),
    ("/api/kpi", PEOPLE),
    ("/api/kpi/ewt-accuracy", PEOPLE),
    ("/api/hall/{hall}/now", PEOPLE),
    // What the hall's public screen shows: per-field counts, ticket numbers and wait ranges.
    ("/api/display/{hall}", Access::Public),
    // Leads straight to footage of one citizen's service: the recording roles only.
    ("/api/evidence", RECORDINGS),
];

/// The access rule of a route pattern.
pub fn required_access(route: &str) -> Option<Access> {
    ROUTES.iter().find(|(r, _)| *r == route).map(|(_, a)| *a)
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Name written to the audit log.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Middleware applying the route table.
pub async fn check(State(state): State<AppState>, matched: Option<MatchedPath>, mut req: Request, next: Next) -> Response {
    let Some(route) = matched.as_ref().map(MatchedPath::as_str) else {
        return ApiError::NotFound("no such page".into()).into_response();
    };
    let Some(access) = required_access(route) else {
        return ApiError::Forbidden("this route is not open to any role".into()).into_response();
    };
    if let Access::Roles(roles) = access {
        let actor = match identify(&state, req.headers()).await {
            Ok(a) => a,
            // A person opening a page is sent to the login page; API clients get the 401.
            Err(ApiError::Unauthorized(_)) if !route.starts_with("/api/") => {
                let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
                let to = format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
                return axum::response::Redirect::to(&to).into_response();
            }
            Err(e) => return e.into_response(),
        };
        if !roles.contains(&actor.role) {
            return ApiError::Forbidden(format!("role {:?} may not use this", actor.role)).into_response();
        }
        req.extensions_mut().insert(actor);
    }
    next.run(req).await
}

/// Who sent the request: a bearer token from the config (machines) or a session cookie
/// (people who logged in).
async fn identify(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Actor, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(token) = bearer {
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        let t = state
            .config
            .access
            .iter()
            .find(|t| t.token_sha256.eq_ignore_ascii_case(&digest))
            .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
        return Ok(Actor { name: t.name.clone(), role: t.role });
    }
    let Some(session) = accounts::session_token(headers) else {
        return Err(ApiError::Unauthorized("log in first, or send `Authorization: Bearer <token>`".into()));
    };
    let account = state
        .store
        .session_account(&accounts::session_key(session), crate::time::now_us(), accounts::SESSION_IDLE_US)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("session expired: log in again".into()))?;
    let role = accounts::parse_role(&account.role).ok_or_else(|| ApiError::Internal(format!("account {} has role {}", account.name, account.role)))?;
    Ok(Actor { name: account.name, role })
}

/// Remembers recently audited views for ten minutes.
#[derive(Debug, Default)]
pub struct AuditDedup {
    seen: HashMap<String, std::time::Instant>,
}

impl AuditDedup {
    /// True if `key` was not seen in the last ten minutes (and records it).
    pub fn first_time(&mut self, key: String) -> bool {
        let now = std::time::Instant::now();
        let ttl = std::time::Duration::from_secs(600);
        self.seen.retain(|_, t| now.duration_since(*t) < ttl);
        self.seen.insert(key, now).is_none()
    }
}
