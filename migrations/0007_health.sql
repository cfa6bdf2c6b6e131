-- Infrastructure health: pools of backends in sites (data centres or cloud
-- regions), checked the HAProxy way. Times are UTC milliseconds since the epoch.

CREATE TABLE health_site (
    id    INTEGER PRIMARY KEY,
    name  TEXT    NOT NULL UNIQUE,
    -- 'datacentre' or 'cloud' (a cloud provider's region).
    kind  TEXT    NOT NULL CHECK (kind IN ('datacentre', 'cloud'))
);

-- A pool serves one service (web, mail...) from one site. `needed` is how many
-- healthy backends carry the pool's own traffic: a site can fail over when the
-- other sites' pools of the same service have that many healthy backends spare.
CREATE TABLE health_pool (
    id       INTEGER PRIMARY KEY,
    site_id  INTEGER NOT NULL REFERENCES health_site (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL UNIQUE,
    service  TEXT    NOT NULL,
    needed   INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE health_target (
    id             INTEGER PRIMARY KEY,
    pool_id        INTEGER NOT NULL REFERENCES health_pool (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('tcp', 'http', 'https')),
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

-- The checker's latest view of each target, written in batches by the replica
-- that runs the checker, read by every replica's pages.
CREATE TABLE health_status (
    target_id   INTEGER PRIMARY KEY REFERENCES health_target (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL CHECK (state IN ('up', 'down')),
    health      INTEGER NOT NULL,
    since_ms    INTEGER NOT NULL,
    last_ok     INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    warning     TEXT,
    checked_ms  INTEGER NOT NULL,
    -- The latest latencies, oldest first, comma-separated; '-' for a failed check.
    recent      TEXT    NOT NULL,
    checks      INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX health_status_updated ON health_status (updated_ms);

-- Every UP/DOWN change, for the timeline.
CREATE TABLE health_event (
    id         INTEGER PRIMARY KEY,
    target_id  INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    pool       TEXT    NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    message    TEXT    NOT NULL
);
CREATE INDEX health_event_at ON health_event (at_ms);
