-- Service analytics derived from the vision stage (src/analytics). Anonymous by design: only
-- tracker ids, zone ids and times, never images or appearance features. Times are BIGINT µs
-- since the Unix epoch (UTC). No foreign key to `camera`: analytics can be replayed offline for
-- a camera the recording index does not know.

-- People per zone (or `all` = everyone in view), one row per zone per wall second.
CREATE TABLE occupancy_sample (
    camera_id   TEXT NOT NULL,
    zone        TEXT NOT NULL,
    at_us       BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (camera_id, zone, at_us)
);
CREATE INDEX occupancy_sample_by_time ON occupancy_sample (camera_id, at_us);

-- Per-minute roll-up of the samples. Upserted: a minute split across two sessions (a restart)
-- is merged by weighting each part's mean by its samples.
CREATE TABLE occupancy_minute (
    camera_id   TEXT NOT NULL,
    zone        TEXT NOT NULL,
    minute_us   BIGINT NOT NULL,
    mean        DOUBLE PRECISION NOT NULL,
    max         BIGINT NOT NULL,
    samples     BIGINT NOT NULL,
    PRIMARY KEY (camera_id, zone, minute_us)
);
CREATE INDEX occupancy_minute_by_time ON occupancy_minute (camera_id, minute_us);

-- One person's stay in one zone. person_id is the first tracker id of the person's chain of
-- tracks; tracker ids restart with each analysis session, so rows are told apart by time.
CREATE TABLE visit (
    id          INTEGER PRIMARY KEY,
    camera_id   TEXT NOT NULL,
    person_id   BIGINT NOT NULL,
    track_id    BIGINT NOT NULL,
    zone        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('waiting', 'service', 'staff')),
    counter     BIGINT,
    enter_us    BIGINT NOT NULL,
    exit_us     BIGINT NOT NULL
);
CREATE UNIQUE INDEX visit_unique ON visit (camera_id, zone, track_id, enter_us);
CREATE INDEX visit_by_time ON visit (camera_id, enter_us);

-- Waiting and service of one person, written when they leave the view.
CREATE TABLE person_wait (
    id                  INTEGER PRIMARY KEY,
    camera_id           TEXT NOT NULL,
    person_id           BIGINT NOT NULL,
    first_seen_us       BIGINT NOT NULL,
    last_seen_us        BIGINT NOT NULL,
    wait_start_us       BIGINT,
    service_start_us    BIGINT,
    wait_s              DOUBLE PRECISION,
    service_s           DOUBLE PRECISION,
    counter             BIGINT,
    abandoned           BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX person_wait_unique ON person_wait (camera_id, person_id, first_seen_us);
CREATE INDEX person_wait_by_time ON person_wait (camera_id, last_seen_us);

-- Periods a counter's staff seat was occupied; to_us is NULL while still staffed.
CREATE TABLE counter_staffed (
    camera_id   TEXT NOT NULL,
    counter     BIGINT NOT NULL,
    from_us     BIGINT NOT NULL,
    to_us       BIGINT,
    PRIMARY KEY (camera_id, counter, from_us)
);
