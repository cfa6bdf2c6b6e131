-- The reach map's data: the region tree (areas -> counties -> units, with their
-- boundaries as GeoJSON in WGS84), towns with population, media outlets and the
-- data version the tile cache keys on.

CREATE TABLE geo_node (
    code      TEXT    PRIMARY KEY,
    name      TEXT    NOT NULL,
    level     TEXT    NOT NULL CHECK (level IN ('area', 'county', 'unit')),
    parent    TEXT,
    geometry  TEXT    NOT NULL,
    source    TEXT    NOT NULL
);
CREATE INDEX geo_node_parent ON geo_node (parent);

-- GeoNames towns (id = geonameid for shipped rows).
CREATE TABLE town (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    lon        REAL    NOT NULL,
    lat        REAL    NOT NULL,
    population INTEGER NOT NULL
);

-- Reach is one of: a list of region codes (reach_regions, comma-separated), a
-- circle of reach_radius_m metres around (lon, lat) clipped to land, or a GeoJSON
-- geometry (reach_geometry). source: 'demo' for the generated set, else where
-- an import came from.
CREATE TABLE outlet (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('newspaper', 'radio', 'tv', 'online')),
    town            TEXT    NOT NULL,
    lon             REAL    NOT NULL,
    lat             REAL    NOT NULL,
    audience        INTEGER NOT NULL,
    reach_regions   TEXT,
    reach_radius_m  INTEGER,
    reach_geometry  TEXT,
    source          TEXT    NOT NULL
);

-- geography_digest, outlets_digest and version (a digest of both).
CREATE TABLE dataset (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
