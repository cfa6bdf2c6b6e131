-- Working migrations: each one gets its own copy of the checklist template, so a
-- later template edit never rewrites a running checklist. Times are UTC seconds
-- since the epoch; `time_zone` is the IANA name the window was planned in.

-- Templates are edited by staff: items are retired, never deleted (a retired item
-- stays in the checklists copied while it was in use).
ALTER TABLE checklist_template_item ADD COLUMN retired_at INTEGER;
ALTER TABLE checklist_template ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

CREATE TABLE migration (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- Domains, sub-domains and CDN names, one per line, validated and lower case.
    domains       TEXT    NOT NULL,
    source_server TEXT    NOT NULL,
    target_server TEXT    NOT NULL,
    -- The services the plan moves, one `name:port` per line (smtp:25, https:443).
    services      TEXT    NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    time_zone     TEXT    NOT NULL,
    owner         TEXT    NOT NULL,
    -- The highest DNS TTL (seconds) that is low enough before the move.
    ttl_limit     INTEGER NOT NULL,
    template_slug TEXT    NOT NULL,
    template_revision INTEGER NOT NULL,
    created_by    INTEGER NOT NULL REFERENCES app_user (id),
    created_at    INTEGER NOT NULL,
    CHECK (window_end > window_start)
);

CREATE TABLE migration_section (
    id           INTEGER PRIMARY KEY,
    migration_id INTEGER NOT NULL REFERENCES migration (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    slug         TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    UNIQUE (migration_id, position)
);

-- One row per point. A tick is one UPDATE of one row guarded by `revision`, so
-- people ticking different points never touch each other's rows, and a tick made
-- on a stale view of the same point is refused instead of overwriting.
CREATE TABLE migration_item (
    id              INTEGER PRIMARY KEY,
    migration_id    INTEGER NOT NULL REFERENCES migration (id) ON DELETE CASCADE,
    section_id      INTEGER NOT NULL REFERENCES migration_section (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    guidance        TEXT,
    automated_check TEXT,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'not_applicable', 'blocked')),
    note            TEXT    NOT NULL DEFAULT '',
    changed_by      TEXT,
    changed_at      INTEGER,
    revision        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (section_id, position)
);
CREATE INDEX migration_item_migration ON migration_item (migration_id, state);

-- Every tick, kept: who changed which point to what, and when.
CREATE TABLE migration_item_change (
    id           INTEGER PRIMARY KEY,
    migration_id INTEGER NOT NULL REFERENCES migration (id) ON DELETE CASCADE,
    item_id      INTEGER NOT NULL REFERENCES migration_item (id) ON DELETE CASCADE,
    state        TEXT    NOT NULL,
    note         TEXT    NOT NULL,
    changed_by   TEXT    NOT NULL,
    changed_at   INTEGER NOT NULL
);
CREATE INDEX migration_item_change_migration ON migration_item_change (migration_id, id);

-- Every run of an automated check, with its evidence (JSON), newest last.
CREATE TABLE migration_check (
    id           INTEGER PRIMARY KEY,
    migration_id INTEGER NOT NULL REFERENCES migration (id) ON DELETE CASCADE,
    check_name   TEXT    NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('pass', 'warn', 'fail', 'cannot_run')),
    summary      TEXT    NOT NULL,
    evidence     TEXT    NOT NULL,
    elapsed_ms   INTEGER NOT NULL,
    ran_by       TEXT    NOT NULL,
    ran_at       INTEGER NOT NULL
);
CREATE INDEX migration_check_migration ON migration_check (migration_id, check_name, id);
