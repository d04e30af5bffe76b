-- Alerts (src/service/alerts.rs): one row per episode of a condition on one subject.
-- `kind` is the rule (long_queue, long_wait, counter_unstaffed, too_few_counters,
-- dissatisfied_rating, camera_offline, recording_gap, storage_low); `subject` what it is about
-- (`field:HT`, `counter:3`, `rating:qms/r-1`, `stream:hall/main`, `storage`). At most one row per
-- (hall, kind, subject) has `cleared_us` NULL: that is the de-duplication. `severity` is the
-- highest level reached in the episode; `notified_us` / `notifications` record the
-- re-notifications, at most one per de-duplication interval.
CREATE TABLE alert (
    id              INTEGER PRIMARY KEY,
    hall            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
    message         TEXT NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    opened_us       BIGINT NOT NULL,
    last_seen_us    BIGINT NOT NULL,
    notified_us     BIGINT NOT NULL,
    notifications   BIGINT NOT NULL,
    cleared_us      BIGINT,
    acked_us        BIGINT,
    acked_by        TEXT,
    ack_note        TEXT
);
CREATE INDEX alert_by_subject ON alert (hall, kind, subject, opened_us);
CREATE INDEX alert_by_time ON alert (hall, opened_us);
