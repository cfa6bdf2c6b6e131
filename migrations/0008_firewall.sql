-- Firewall sync: inventories of EC2 instances and the audit of every apply.
-- Times are UTC milliseconds since the epoch.

-- One inventory across every region, kept whole as JSON (model::firewall::Inventory):
-- a region that could not be read carries the instances it last had, so each
-- snapshot stands alone. `plan` is what applying would have changed at the time.
CREATE TABLE firewall_snapshot (
    id              INTEGER PRIMARY KEY,
    taken_ms        INTEGER NOT NULL,
    -- The sync run (job_run.fence of job 'firewall-sync') that took it.
    fence           INTEGER NOT NULL,
    regions_ok      INTEGER NOT NULL,
    regions_failed  INTEGER NOT NULL,
    instances       INTEGER NOT NULL,
    inventory       TEXT    NOT NULL,
    plan            TEXT
);
CREATE INDEX firewall_snapshot_taken ON firewall_snapshot (taken_ms);

-- Every apply, whether it worked or not: who, when, the diff and the result.
CREATE TABLE firewall_apply (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    -- A user name, or 'scheduler'.
    actor     TEXT    NOT NULL,
    backend   TEXT    NOT NULL,
    fence     INTEGER NOT NULL,
    -- JSON lists of model::firewall::Rule.
    added     TEXT    NOT NULL,
    removed   TEXT    NOT NULL,
    ok        INTEGER NOT NULL CHECK (ok IN (0, 1)),
    message   TEXT    NOT NULL
);
CREATE INDEX firewall_apply_at ON firewall_apply (at_ms);
