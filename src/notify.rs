//! Change notifications from the stages to live pages: each kind of state has a version
//! counter, bumped when it changes, and one `Notify` wakes every waiting event stream at once.
//! Streams then send what changed, so a page learns of a change within milliseconds without
//! polling the database.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::Notify;

/// What changed, as version numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Versions {
    /// Service records (tickets, counters, dossiers, ratings).
    pub service: u64,
    /// Alerts (opened, escalated, cleared, acknowledged).
    pub alerts: u64,
}

/// The shared counters.
#[derive(Debug, Default)]
pub struct Changes {
    service: AtomicU64,
    alerts: AtomicU64,
    wake: Notify,
}

impl Changes {
    /// Service records changed.
    pub fn service_changed(&self) {
        self.service.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_waiters();
    }

    /// Alerts changed.
    pub fn alerts_changed(&self) {
        self.alerts.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_waiters();
    }

    /// The current versions.
    pub fn versions(&self) -> Versions {
        Versions { service: self.service.load(Ordering::Relaxed), alerts: self.alerts.load(Ordering::Relaxed) }
    }

    /// Resolves at the next change (or spuriously; callers compare versions).
    pub async fn changed(&self) {
        self.wake.notified().await;
    }
}
