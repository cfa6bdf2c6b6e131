-- no-transaction
-- health_target.kind without its CHECK: the check kinds are the code's list
-- (model::health::CheckKind::ALL), so a new kind needs no migration; a stored
-- kind the code does not know is skipped with a warning.
--
-- SQLite cannot drop a constraint: the table is rebuilt (SQLite's 12 steps,
-- https://www.sqlite.org/lang_altertable.html#otheralter). health_status refers
-- to health_target ON DELETE CASCADE, and dropping a table deletes its rows
-- first, so foreign keys are turned off around the rebuild (which only works
-- outside a transaction: hence no-transaction and the explicit one below) and
-- checked before the commit. Running it again does the same again, so a stop
-- between the commit and sqlx's record of it is harmless.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE health_target_new (
    id             INTEGER PRIMARY KEY,
    pool_id        INTEGER NOT NULL REFERENCES health_pool (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    -- A CheckKind's name: 'tcp', 'http', 'https'...
    kind           TEXT    NOT NULL,
    method         TEXT    NOT NULL DEFAULT 'GET',
    path           TEXT    NOT NULL DEFAULT '/',
    expect_status  INTEGER,
    body_match     TEXT,
    host           TEXT,
    inter_ms       INTEGER NOT NULL,
    fastinter_ms   INTEGER NOT NULL,
    downinter_ms   INTEGER NOT NULL,
    fall           INTEGER NOT NULL,
    rise           INTEGER NOT NULL,
    timeout_ms     INTEGER NOT NULL,
    cert_warn_days INTEGER NOT NULL DEFAULT 21,
    UNIQUE (pool_id, name)
);
INSERT INTO health_target_new (id, pool_id, name, address, kind, method, path, expect_status,
    body_match, host, inter_ms, fastinter_ms, downinter_ms, fall, rise, timeout_ms, cert_warn_days)
SELECT id, pool_id, name, address, kind, method, path, expect_status,
    body_match, host, inter_ms, fastinter_ms, downinter_ms, fall, rise, timeout_ms, cert_warn_days
FROM health_target;
DROP TABLE health_target;
ALTER TABLE health_target_new RENAME TO health_target;
-- A dangling reference fails the CHECK below, so the rebuild rolls back.
CREATE TEMP TABLE health_rebuild_check (dangling INTEGER NOT NULL CHECK (dangling = 0));
INSERT INTO health_rebuild_check SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE health_rebuild_check;
COMMIT;
PRAGMA foreign_keys = ON;
