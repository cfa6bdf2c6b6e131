-- Sign-in throttling that concurrent attempts cannot overrun: an attempt first
-- upserts its client address's row here, which makes attempts from one address
-- take turns (the row lock on PostgreSQL, the write lock on SQLite) while they
-- count the failures in the window and reserve their own. `at` is the last
-- attempt, for pruning.
CREATE TABLE login_attempt_lock (
    key TEXT    PRIMARY KEY,
    at  INTEGER NOT NULL
);

-- Failures are now keyed per account and address ('user:<name>|addr:<ip>') and
-- per address ('addr:<ip>'); rows of the old per-account keys would never be
-- read again (they expire within the 15-minute window anyway).
DELETE FROM login_failure WHERE key LIKE 'user:%';
