-- Recording index. Portable by design: times are BIGINT microseconds since the Unix
-- epoch (UTC), flags are BOOLEAN, binary data is BLOB (BYTEA in PostgreSQL), ids are
-- integer identities. The PostgreSQL migration differs only in `INTEGER PRIMARY KEY`
-- → `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY` and BLOB → BYTEA.

CREATE TABLE hall (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL
);

CREATE TABLE camera (
    id          TEXT PRIMARY KEY,
    hall_id     TEXT NOT NULL REFERENCES hall (id),
    name        TEXT NOT NULL,
    retention_days  BIGINT,
    retention_bytes BIGINT
);

-- Health of each camera stream, written by the ingest task every few seconds so that
-- any node (or an operator with SQL) sees it.
CREATE TABLE stream_health (
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    stream          TEXT NOT NULL,
    state           TEXT NOT NULL,
    last_frame_us   BIGINT,
    fps             DOUBLE PRECISION,
    bitrate_bps     DOUBLE PRECISION,
    reconnects      BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_error_us   BIGINT,
    clock_source    TEXT,
    codec           TEXT,
    width           BIGINT,
    height          BIGINT,
    frames_received BIGINT NOT NULL DEFAULT 0,
    frames_dropped  BIGINT NOT NULL DEFAULT 0,
    frames_skipped  BIGINT NOT NULL DEFAULT 0,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (camera_id, stream)
);

-- One row per segment file. A row is inserted as 'open' before the first byte is
-- written and becomes 'closed' with its hash once the file is complete, so a crash
-- leaves an 'open' row that start-up recovery completes from the file itself.
CREATE TABLE segment (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    stream          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    path            TEXT NOT NULL UNIQUE,
    start_us        BIGINT NOT NULL,
    end_us          BIGINT,
    frames          BIGINT NOT NULL DEFAULT 0,
    bytes           BIGINT NOT NULL DEFAULT 0,
    sha256          TEXT,
    gap_before      BOOLEAN NOT NULL,
    clock_source    TEXT NOT NULL,
    codec           TEXT NOT NULL,
    width           BIGINT NOT NULL,
    height          BIGINT NOT NULL,
    sample_entry    BLOB NOT NULL,
    sample_index    BLOB,
    recovered       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX segment_by_time ON segment (camera_id, stream, start_us);

-- Legal holds protect a time range of a camera (or all cameras) from retention.
CREATE TABLE legal_hold (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT,
    start_us        BIGINT NOT NULL,
    end_us          BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_us      BIGINT NOT NULL,
    released_us     BIGINT,
    released_by     TEXT
);

-- Every deleted segment, with why; the record of retention being enforced.
CREATE TABLE segment_deletion (
    id              INTEGER PRIMARY KEY,
    segment_id      BIGINT NOT NULL,
    camera_id       TEXT NOT NULL,
    stream          TEXT NOT NULL,
    path            TEXT NOT NULL,
    start_us        BIGINT NOT NULL,
    end_us          BIGINT,
    bytes           BIGINT NOT NULL,
    sha256          TEXT,
    reason          TEXT NOT NULL,
    deleted_us      BIGINT NOT NULL
);

-- Who accessed recordings, when and why.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    at_us           BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    purpose         TEXT,
    detail          TEXT
);
