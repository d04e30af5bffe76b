-- Clips exported for auditors: the MP4 and its signed manifest live under the storage
-- directory's `exports/`; this row lists them. Exports are not subject to camera retention:
-- they exist because someone with a purpose asked for them, and are deleted by hand.
CREATE TABLE export (
    id              TEXT PRIMARY KEY,
    camera_id       TEXT NOT NULL,
    stream          TEXT NOT NULL,
    start_us        BIGINT NOT NULL,
    end_us          BIGINT NOT NULL,
    created_us      BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           BIGINT NOT NULL,
    manifest_sha256 TEXT NOT NULL
);
CREATE INDEX export_by_time ON export (created_us);
