-- Accounts: users with roles, database-backed sessions, sign-in throttling,
-- share links for map viewers, and the audit log. Times are UTC seconds since
-- the Unix epoch (INTEGER), the same on SQLite and PostgreSQL.

CREATE TABLE app_user (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'staff', 'admin')),
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- `id` is the SHA-256 of the cookie's token: the table alone cannot sign anyone in.
CREATE TABLE app_session (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    client_addr  TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
);
CREATE INDEX app_session_user ON app_session (user_id);

-- One row per failed sign-in, keyed by account ('user:<name>') and by address
-- ('addr:<ip>'); old rows are pruned as new ones arrive.
CREATE TABLE login_failure (
    id     INTEGER PRIMARY KEY,
    key    TEXT    NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX login_failure_key_at ON login_failure (key, at);

CREATE TABLE share_link (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    selection   TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES app_user (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    last_opened_at INTEGER,
    open_count  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_id    INTEGER REFERENCES app_user (id),
    actor_name  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    client_addr TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
