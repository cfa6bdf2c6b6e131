#!/usr/bin/python3
"""Mapnik's side of `cargo xtask bench`'s coverage tile comparison.

Renders the reach polygons of a selection's outlets (read from Switchboard's
own GeoJSON feature pages) and the selection's boundary to the same 256-pixel
Web Mercator tiles that `switchboard tiles seed` renders, in the same style
(one colour per outlet kind at the same alpha, boundary on top), encodes each
tile as 32-bit PNG, and prints one JSON line: tiles, seconds, bytes.

usage: mapnik_tiles.py BOUNDS ZOOMS BOUNDARY.geojson PAGE.geojson...
  BOUNDS  west,south,east,north (the selection's, as the seed command uses)
  ZOOMS   from-to, e.g. 5-10
"""

import json
import math
import os
import sys
import tempfile
import time

import mapnik

# Switchboard's kind colours and reach alpha (model::geo, services::tiles).
COLOURS = {
    "newspaper": "#c2410c",
    "radio": "#7c3aed",
    "tv": "#0f766e",
    "online": "#1d4ed8",
}
FILL_OPACITY = 0x30 / 255
MERCATOR = (
    "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 "
    "+units=m +nadgrids=@null +wktext +no_defs"
)
LONLAT = "+proj=longlat +datum=WGS84 +no_defs"
HALF = 20037508.342789244
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def tile_of(lon, lat, z):
    """The tile at zoom z holding lon/lat (services::tiles::TileId::containing)."""
    n = 2**z
    lat = math.radians(max(-85.051128, min(85.051128, lat)))
    x = int(max(0, min(n - 1, math.floor((lon + 180.0) / 360.0 * n))))
    y = (1.0 - math.log(math.tan(lat) + 1.0 / math.cos(lat)) / math.pi) / 2.0 * n
    return x, int(max(0, min(n - 1, math.floor(y))))


def tile_box(z, x, y):
    size = 2 * HALF / 2**z
    return mapnik.Box2d(
        -HALF + x * size, HALF - (y + 1) * size, -HALF + (x + 1) * size, HALF - y * size
    )


def reach_collection(pages):
    """One polygon feature per outlet reach, with its kind."""
    out = []
    for page in pages:
        with open(page, encoding="utf-8") as f:
            doc = json.load(f)
        for feature in doc["features"]:
            kind = feature["properties"]["kind"]
            geometry = feature["geometry"]
            parts = geometry.get("geometries", [geometry])
            for g in parts:
                if g["type"] in ("Polygon", "MultiPolygon"):
                    out.append(
                        {"type": "Feature", "properties": {"kind": kind}, "geometry": g}
                    )
    return {"type": "FeatureCollection", "features": out}


def build_map(reach_path, boundary_path):
    m = mapnik.Map(256, 256, MERCATOR)
    m.background = mapnik.Color(0, 0, 0, 0)
    reach = mapnik.Style()
    for kind, colour in COLOURS.items():
        rule = mapnik.Rule()
        rule.filter = mapnik.Expression("[kind] = '%s'" % kind)
        fill = mapnik.PolygonSymbolizer()
        fill.fill = mapnik.Color(colour)
        fill.fill_opacity = FILL_OPACITY
        rule.symbols.append(fill)
        reach.rules.append(rule)
    m.append_style("reach", reach)
    outline = mapnik.Style()
    rule = mapnik.Rule()
    line = mapnik.LineSymbolizer()
    line.stroke = mapnik.Color(0x17, 0x32, 0x4D, 0xD0)
    line.stroke_width = 1.5
    rule.symbols.append(line)
    outline.rules.append(rule)
    m.append_style("boundary", outline)
    for name, path, style in (
        ("reach", reach_path, "reach"),
        ("boundary", boundary_path, "boundary"),
    ):
        layer = mapnik.Layer(name, LONLAT)
        layer.datasource = mapnik.Datasource(type="geojson", file=path)
        layer.styles.append(style)
        m.layers.append(layer)
    return m


def main():
    bounds = [float(v) for v in sys.argv[1].split(",")]
    z_from, z_to = (int(v) for v in sys.argv[2].split("-"))
    boundary = sys.argv[3]
    pages = sys.argv[4:]
    with tempfile.TemporaryDirectory() as tmp:
        reach_path = os.path.join(tmp, "reach.geojson")
        with open(reach_path, "w", encoding="utf-8") as f:
            json.dump(reach_collection(pages), f)
        m = build_map(reach_path, boundary)
        tiles = []
        for z in range(z_from, z_to + 1):
            nw = tile_of(bounds[0], bounds[3], z)
            se = tile_of(bounds[2], bounds[1], z)
            for x in range(nw[0], se[0] + 1):
                for y in range(nw[1], se[1] + 1):
                    tiles.append((z, x, y))
        # The best of ROUNDS passes: the machine is noisy.
        seconds = float("inf")
        for _ in range(ROUNDS):
            started = time.perf_counter()
            total = 0
            for z, x, y in tiles:
                m.zoom_to_box(tile_box(z, x, y))
                image = mapnik.Image(256, 256)
                mapnik.render(m, image)
                total += len(image.tostring("png32"))
            seconds = min(seconds, time.perf_counter() - started)
    print(json.dumps({"tiles": len(tiles), "seconds": seconds, "bytes": total}))


if __name__ == "__main__":
    main()
