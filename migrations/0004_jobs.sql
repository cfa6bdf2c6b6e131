-- Scheduled jobs: one lease row per job, held by one replica while it runs,
-- and the history of runs. Times here are UTC milliseconds since the Unix epoch,
-- fine enough to show that runs never overlap.
--
-- `fence` grows by one on every acquisition: a holder that lost its lease (it
-- stalled past `expires_ms` and another replica took over) finds its fence
-- stale on its next heartbeat or write and stops.

CREATE TABLE job_lease (
    job         TEXT    PRIMARY KEY,
    fence       INTEGER NOT NULL DEFAULT 0,
    holder      TEXT,
    holder_host TEXT,
    holder_pid  INTEGER,
    acquired_ms INTEGER,
    expires_ms  INTEGER,
    next_due_ms INTEGER NOT NULL DEFAULT 0
);

-- outcome: running, ok, failed, abandoned (its holder died), fenced (it lost
-- its lease while running and stopped).
CREATE TABLE job_run (
    id             INTEGER PRIMARY KEY,
    job            TEXT    NOT NULL,
    fence          INTEGER NOT NULL,
    holder         TEXT    NOT NULL,
    trigger        TEXT    NOT NULL,
    started_ms     INTEGER NOT NULL,
    finished_ms    INTEGER,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'abandoned', 'fenced')),
    detail         TEXT    NOT NULL DEFAULT '',
    took_over_from TEXT,
    UNIQUE (job, fence)
);
CREATE INDEX job_run_job_started ON job_run (job, started_ms);
