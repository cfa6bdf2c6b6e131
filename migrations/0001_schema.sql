-- Switchboard schema, version 1: the migration checklist template.
-- Plain SQL that SQLite and PostgreSQL both accept, so one schema serves both engines.

CREATE TABLE checklist_template (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL
);

CREATE TABLE checklist_template_section (
    id          INTEGER PRIMARY KEY,
    template_id INTEGER NOT NULL REFERENCES checklist_template (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    slug        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    UNIQUE (template_id, position),
    UNIQUE (template_id, slug)
);

-- `automated_check` names the machine check that can verify an item, when one can:
-- dns_ttl, tls_certificate, service_ports or http_host. NULL means a person decides.
CREATE TABLE checklist_template_item (
    id              INTEGER PRIMARY KEY,
    section_id      INTEGER NOT NULL REFERENCES checklist_template_section (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    guidance        TEXT,
    automated_check TEXT CHECK (automated_check IN ('dns_ttl', 'tls_certificate', 'service_ports', 'http_host')),
    UNIQUE (section_id, position)
);

CREATE INDEX checklist_template_item_section ON checklist_template_item (section_id, position);
