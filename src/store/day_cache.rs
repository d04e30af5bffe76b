//! Rows of sealed hall days, kept in memory for the KPI reads.
//!
//! Why: a month's report reads tens of thousands of rows, and all but today's are rows of past
//! days that no longer change. Keeping them makes a dashboard's month (or week) cost a read of
//! today plus the computation, instead of a read of the month. The answer stays exact: the
//! cached rows are the rows the same query returns.
//!
//! A past day can still change: a late ticket event, a CSV import of last week. Every write
//! that touches a day before the writer's today records a *late write* (`late_write` table,
//! same transaction as the data; see [`mark_late`]). Before a report reads, it applies the marks
//! it has not seen ([`DayCache::apply`]), dropping the days they touch. Marks live in the
//! database, so writes by another process (`hallwatch import`) or another node count too.
//!
//! A day is *sealed*, and may be cached, once it ended [`SEAL_GRACE_US`] ago by both the
//! request's clock and the system clock: a write for today is not marked, so it must have
//! committed before its day is sealed. (On PostgreSQL, whose sequence order is not commit order,
//! `apply` would have to look back over recent marks too; the SQLite backend commits in order.)

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::time::{local_day_start, now_us, WallUs, DAY_US};

/// How long after a day ends it is sealed: a write for today is unmarked, so this bounds how
/// long such a write may take to commit, clock skew between nodes included.
pub const SEAL_GRACE_US: i64 = 10 * 60_000_000;

/// Days kept back from today: the dashboard's longest period is a month, so the current and
/// the previous month. Older days (a year's report) are read from the database, and cannot push
/// the dashboard's days out.
pub const KEEP_DAYS: i64 = 62;

/// Rows kept at most by default, over all entries (about 150 bytes each: some 150 MB, five
/// months of a busy 20-counter hall; `[reports] cache_rows`). The least recently used days go
/// first.
pub const BUDGET_ROWS: usize = 1_000_000;

struct Entry {
    rows: Arc<dyn Any + Send + Sync>,
    len: usize,
    used: u64,
}

struct Inner {
    entries: HashMap<(String, WallUs), Entry>,
    /// Rows kept at most.
    budget: usize,
    /// Highest late-write mark applied.
    seen: i64,
    rows: usize,
    tick: u64,
}

impl Inner {
    /// Drops the least recently used days until the rows fit the budget.
    fn evict(&mut self) {
        while self.rows > self.budget {
            let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = self.entries.remove(&oldest) {
                self.rows -= e.len;
            }
        }
    }
}

/// Cached rows per (read, day); see the module doc.
pub struct DayCache {
    inner: Mutex<Inner>,
}

impl Default for DayCache {
    fn default() -> Self {
        DayCache { inner: Mutex::new(Inner { entries: HashMap::new(), budget: BUDGET_ROWS, seen: 0, rows: 0, tick: 0 }) }
    }
}

impl std::fmt::Debug for DayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("DayCache").field("entries", &inner.entries.len()).field("rows", &inner.rows).finish()
    }
}

impl DayCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache holds no invariant a panic elsewhere could break halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest late-write mark applied: reads made after this call include every write
    /// up to it.
    pub fn seen(&self) -> i64 {
        self.lock().seen
    }

    /// Applies late-write marks `(seq, from_us)` newer than [`Self::seen`]: drops every cached
    /// day from `from_us`'s day on.
    pub fn apply(&self, marks: &[(i64, WallUs)]) {
        let mut inner = self.lock();
        for &(seq, from_us) in marks {
            if seq <= inner.seen {
                continue;
            }
            let day = local_day_start(from_us);
            let before = inner.entries.len();
            inner.entries.retain(|(_, d), _| *d < day);
            if inner.entries.len() != before {
                inner.rows = inner.entries.values().map(|e| e.len).sum();
            }
            inner.seen = seq;
        }
    }

    /// The rows of `read` on `day`, if cached.
    pub fn get<T: Send + Sync + 'static>(&self, read: &str, day: WallUs) -> Option<Arc<Vec<T>>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.entries.get_mut(&(read.to_owned(), day))?;
        e.used = tick;
        e.rows.clone().downcast::<Vec<T>>().ok()
    }

    /// Keeps at most `rows` rows from now on (0: nothing).
    pub fn set_budget(&self, rows: usize) {
        let mut inner = self.lock();
        inner.budget = rows;
        inner.evict();
    }

    /// Whether `read` on `day` is cached.
    pub fn has(&self, read: &str, day: WallUs) -> bool {
        self.lock().entries.contains_key(&(read.to_owned(), day))
    }

    /// Forgets every day.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.rows = 0;
    }

    /// Keeps the rows of `read` on `day`, read after [`Self::seen`] returned `watermark`.
    /// Refused when a mark was applied since: it may have dropped this day before the rows
    /// arrived, so they may predate a late write.
    pub fn put<T: Send + Sync + 'static>(&self, read: &str, day: WallUs, rows: Vec<T>, watermark: i64) {
        let mut inner = self.lock();
        if inner.seen != watermark || rows.len() > inner.budget {
            return;
        }
        inner.tick += 1;
        let len = rows.len();
        let entry = Entry { rows: Arc::new(rows), len, used: inner.tick };
        if let Some(old) = inner.entries.insert((read.to_owned(), day), entry) {
            inner.rows -= old.len;
        }
        inner.rows += len;
        inner.evict();
    }

    /// Rows cached, over all entries.
    pub fn rows(&self) -> usize {
        self.lock().rows
    }
}

/// The whole days of `[from, to)` that are sealed at request time `now` and recent enough to
/// keep ([`KEEP_DAYS`]): `(first, end)` day starts, empty when `first >= end`.
pub fn sealed_days(from: WallUs, to: WallUs, now: WallUs) -> (WallUs, WallUs) {
    let now = now.min(now_us());
    let whole = if local_day_start(from) == from { from } else { local_day_start(from) + DAY_US };
    let first = whole.max(local_day_start(now) - KEEP_DAYS * DAY_US);
    let limit = to.min(now - SEAL_GRACE_US);
    let end = local_day_start(limit.max(first));
    (first, end.max(first))
}

/// Records a late write when `from_us` (the earliest record time a write touched) lies before
/// the writer's today, in the writing transaction.
pub async fn mark_late(conn: &mut sqlx::SqliteConnection, from_us: Option<WallUs>) -> Result<(), sqlx::Error> {
    let now = now_us();
    match from_us {
        Some(from) if from < local_day_start(now) => {
            sqlx::query("INSERT INTO late_write (from_us, written_us) VALUES ($1, $2)")
                .bind(from)
                .bind(now)
                .execute(conn)
                .await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: WallUs = 1_780_000_000_000_000;

    #[test]
    fn sealed_days_are_whole_ended_days() {
        let d0 = local_day_start(D);
        // A range starting mid-day: its first whole day is the next one.
        let (a, b) = sealed_days(d0 + 3_600_000_000, d0 + 5 * DAY_US, d0 + 3 * DAY_US + 1);
        assert_eq!((a, b), (d0 + DAY_US, d0 + 2 * DAY_US));
        // Within the grace after midnight, yesterday is not sealed yet.
        let (a, b) = sealed_days(d0, d0 + 5 * DAY_US, d0 + 2 * DAY_US + SEAL_GRACE_US - 1);
        assert_eq!((a, b), (d0, d0 + DAY_US));
        // Nothing sealed: empty.
        let (a, b) = sealed_days(d0 + 1, d0 + 2, d0 + 3);
        assert!(a >= b);
        // A year: only the last KEEP_DAYS days.
        let (a, b) = sealed_days(d0 - 365 * DAY_US, d0 + DAY_US / 2, d0 + DAY_US / 2);
        assert_eq!((a, b), (d0 - KEEP_DAYS * DAY_US, d0));
    }

    #[test]
    fn marks_drop_days_from_theirs_on_and_racing_fills_are_refused() {
        let c = DayCache::default();
        let d0 = local_day_start(D);
        let w = c.seen();
        for i in 0..3 {
            c.put("tickets/h", d0 + i * DAY_US, vec![i; 10], w);
        }
        assert_eq!(c.rows(), 30);
        c.apply(&[(1, d0 + DAY_US + 5)]);
        assert!(c.get::<i64>("tickets/h", d0).is_some());
        assert!(c.get::<i64>("tickets/h", d0 + DAY_US).is_none());
        assert!(c.get::<i64>("tickets/h", d0 + 2 * DAY_US).is_none());
        assert_eq!(c.rows(), 10);
        // Rows read before mark 1 was applied may predate the late write.
        c.put("tickets/h", d0 + DAY_US, vec![7i64], w);
        assert!(c.get::<i64>("tickets/h", d0 + DAY_US).is_none());
        c.put("tickets/h", d0 + DAY_US, vec![7i64], c.seen());
        assert_eq!(c.get::<i64>("tickets/h", d0 + DAY_US).as_deref(), Some(&vec![7i64]));
        // A wrong type is a miss, not a panic.
        assert!(c.get::<String>("tickets/h", d0).is_none());
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used_day() {
        let c = DayCache::default();
        let d0 = local_day_start(D);
        let half = BUDGET_ROWS / 2;
        c.put("a", d0, vec![0u8; half], 0);
        c.put("b", d0, vec![0u8; half], 0);
        assert!(c.get::<u8>("a", d0).is_some());
        c.put("c", d0, vec![0u8; 10], 0);
        assert!(c.get::<u8>("b", d0).is_none(), "b was used least recently");
        assert!(c.get::<u8>("a", d0).is_some() && c.get::<u8>("c", d0).is_some());
        assert!(c.rows() <= BUDGET_ROWS);
        c.set_budget(0);
        assert_eq!(c.rows(), 0);
        c.put("d", d0, vec![0u8; 1], 0);
        assert!(c.get::<u8>("d", d0).is_none(), "a zero budget keeps nothing");
    }
}
