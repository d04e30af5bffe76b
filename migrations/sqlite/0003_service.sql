-- Service records from the hall's queue system (QMS), one-stop dossier software and rating
-- devices (src/service). Same portability rules as 0001: BIGINT µs since the Unix epoch (UTC),
-- BOOLEAN flags, TEXT JSON for small lists, integer identities.
--
-- Every record that arrives from outside carries its source (the integration's token name) and
-- the source's own id; UNIQUE (source, source_id) makes ingestion idempotent: a replay finds
-- the row and changes nothing.

-- Counters (quầy). `fields` is a JSON array of field codes (lĩnh vực) served; `opening_hours`
-- is JSON {"mon": [["07:30","11:30"], ["13:30","17:00"]], …} in the hall's local time.
-- `camera_id` names the camera whose service/staff zones show this counter (evidence links).
CREATE TABLE counter (
    hall_id         TEXT NOT NULL,
    number          BIGINT NOT NULL,
    name            TEXT NOT NULL,
    fields          TEXT NOT NULL,
    opening_hours   TEXT NOT NULL,
    camera_id       TEXT,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (hall_id, number)
);

-- Officers (cán bộ tiếp nhận). Personal data of employees: only what the KPIs need.
CREATE TABLE officer (
    hall_id         TEXT NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (hall_id, id)
);

-- Counter open / paused / closed, as the QMS reports it.
CREATE TABLE counter_state (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    hall_id         TEXT NOT NULL,
    counter         BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'paused', 'closed')),
    reason          TEXT,
    officer_id      TEXT,
    at_us           BIGINT NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX counter_state_by_time ON counter_state (hall_id, counter, at_us);

-- Ticket history exactly as received. The `ticket` and `ticket_transaction` tables below are
-- a projection of it, recomputed per ticket whenever one of its events arrives, so events may
-- come late and in any order.
CREATE TABLE ticket_event (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    hall_id         TEXT NOT NULL,
    ticket_id       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN
                        ('issued', 'called', 'service_started', 'finished', 'no_show', 'transferred', 'removed')),
    at_us           BIGINT NOT NULL,
    number          TEXT,
    field           TEXT,
    counter         BIGINT,
    officer_id      TEXT,
    to_field        TEXT,
    to_counter      BIGINT,
    channel         TEXT,
    priority        BIGINT,
    received_us     BIGINT NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX ticket_event_by_ticket ON ticket_event (hall_id, ticket_id);

-- One row per ticket: the arrival (issue), its final outcome and the first transaction's wait.
-- `issued_us` is NULL while only later events of the ticket have arrived.
CREATE TABLE ticket (
    hall_id         TEXT NOT NULL,
    ticket_id       TEXT NOT NULL,
    number          TEXT,
    field           TEXT,
    channel         TEXT,
    priority        BIGINT,
    issued_us       BIGINT,
    first_called_us BIGINT,
    finished_us     BIGINT,
    counter         BIGINT,
    officer_id      TEXT,
    outcome         TEXT NOT NULL,
    calls           BIGINT NOT NULL,
    transfers       BIGINT NOT NULL,
    PRIMARY KEY (hall_id, ticket_id)
);
CREATE INDEX ticket_by_issue ON ticket (hall_id, issued_us);

-- One row per stay of a ticket in one queue: a transfer closes one transaction and opens the
-- next (as Qmatic's visit transactions). Wait = last_called − queued; service = end − last_called.
CREATE TABLE ticket_transaction (
    hall_id         TEXT NOT NULL,
    ticket_id       TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    field           TEXT,
    counter         BIGINT,
    officer_id      TEXT,
    queued_us       BIGINT,
    first_called_us BIGINT,
    last_called_us  BIGINT,
    calls           BIGINT NOT NULL,
    service_start_us BIGINT,
    end_us          BIGINT,
    outcome         TEXT NOT NULL,
    PRIMARY KEY (hall_id, ticket_id, seq)
);
CREATE INDEX ticket_transaction_by_queue ON ticket_transaction (hall_id, queued_us);
CREATE INDEX ticket_transaction_by_end ON ticket_transaction (hall_id, end_us);

-- Dossiers (hồ sơ) from the one-stop software. `status` is the DVCQG TrangThaiHoSo code
-- (1–10) of the latest status event; `channel` is KENH_THUC_HIEN (1 trực tiếp, 2 trực tuyến,
-- 3 bưu chính công ích).
CREATE TABLE dossier (
    hall_id         TEXT NOT NULL,
    code            TEXT NOT NULL,
    procedure_code  TEXT NOT NULL,
    procedure_name  TEXT NOT NULL,
    field           TEXT NOT NULL,
    channel         BIGINT NOT NULL CHECK (channel IN (1, 2, 3)),
    received_us     BIGINT NOT NULL,
    due_us          BIGINT NOT NULL,
    returned_us     BIGINT,
    finished_us     BIGINT,
    extended        BOOLEAN NOT NULL,
    counter         BIGINT,
    officer_id      TEXT,
    status          BIGINT NOT NULL CHECK (status BETWEEN 1 AND 10),
    status_at_us    BIGINT NOT NULL,
    source          TEXT NOT NULL,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (hall_id, code)
);
CREATE INDEX dossier_by_received ON dossier (hall_id, received_us);
CREATE INDEX dossier_by_due ON dossier (hall_id, due_us);

-- The ticket(s) a dossier came from, when known.
CREATE TABLE dossier_ticket (
    hall_id         TEXT NOT NULL,
    dossier_code    TEXT NOT NULL,
    ticket_id       TEXT NOT NULL,
    PRIMARY KEY (hall_id, dossier_code, ticket_id)
);
CREATE INDEX dossier_ticket_by_ticket ON dossier_ticket (hall_id, ticket_id);

-- Status history of dossiers (CapNhatTienDoHoSoMC-style progress events).
CREATE TABLE dossier_status (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    hall_id         TEXT NOT NULL,
    dossier_code    TEXT NOT NULL,
    status          BIGINT NOT NULL CHECK (status BETWEEN 1 AND 10),
    at_us           BIGINT NOT NULL,
    officer_id      TEXT,
    note            TEXT,
    UNIQUE (source, source_id)
);
CREATE INDEX dossier_status_by_dossier ON dossier_status (hall_id, dossier_code, at_us);

-- Ratings: `scale` 'three' (1 Không hài lòng, 2 Hài lòng, 3 Rất hài lòng) or 'five' (1–5 stars).
-- `reasons` is a JSON array of strings.
CREATE TABLE rating (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    hall_id         TEXT NOT NULL,
    at_us           BIGINT NOT NULL,
    scale           TEXT NOT NULL CHECK (scale IN ('three', 'five')),
    score           BIGINT NOT NULL,
    satisfied       BOOLEAN NOT NULL,
    ticket_id       TEXT,
    dossier_code    TEXT,
    counter         BIGINT,
    officer_id      TEXT,
    reasons         TEXT NOT NULL,
    comment         TEXT,
    device_id       TEXT,
    UNIQUE (source, source_id)
);
CREATE INDEX rating_by_time ON rating (hall_id, at_us);
