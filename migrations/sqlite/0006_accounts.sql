-- People who log in to the web pages. Passwords are argon2id PHC strings; sessions are kept
-- server-side and found by the SHA-256 of the cookie value, so the database never holds a
-- usable session token.
CREATE TABLE account (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('supervisor', 'auditor', 'admin')),
    password_hash   TEXT NOT NULL,
    created_us      BIGINT NOT NULL,
    disabled_us     BIGINT
);

CREATE TABLE session (
    token_sha256    TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES account (id),
    created_us      BIGINT NOT NULL,
    expires_us      BIGINT NOT NULL,
    last_seen_us    BIGINT NOT NULL
);
CREATE INDEX session_by_account ON session (account_id);
