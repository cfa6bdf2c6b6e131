//! Coverage tiles: the reach of one or more selections rendered into a Web
//! Mercator tile (256 px, or 512 for `@2x`), anti-aliased with tiny-skia, one
//! colour per outlet kind with overlap shown by alpha blending, the selected
//! regions' boundaries drawn on top, encoded to PNG with the `image` crate.
//!
//! This module is the coverage renderer; `base` renders the basemap and
//! `cache` keeps both. A tile with nothing to draw is `None`: the caller answers
//! one shared transparent PNG ([`empty_png`]).

pub mod base;
pub mod cache;
mod disk;
mod pool;

pub use cache::{
    Tile, TileKey, TileService, TileSettings, DEFAULT_DISK_MAX_BYTES, QUEUE_PER_THREAD,
};

use geo::Polygon;
use model::geo::OutletKind;
use tiny_skia::{FillRule, Mask, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::{touches, Atlas, Error, Result, Selection};

/// The deepest zoom served.
pub const MAX_ZOOM: u8 = 20;
/// Tile edge in pixels at scale 1.
pub const TILE: u32 = 256;

/// Fill opacity of one outlet's reach (overlaps add up).
const FILL_ALPHA: u8 = 0x30;

/// A transparent 1x1 PNG: what every empty tile is, made once.
#[must_use]
pub fn empty_png() -> &'static [u8] {
    static EMPTY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| {
        Pixmap::new(1, 1)
            .and_then(|pm| encode(&pm).ok())
            .unwrap_or_default()
    })
}

/// A tile's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
    /// 1 (256 px) or 2 (`@2x`, 512 px).
    pub scale: u32,
}

impl TileId {
    /// Checks z, x and y against the zoom's range.
    ///
    /// # Errors
    /// `Error::Invalid` saying which number is out of range.
    pub fn new(z: u32, x: u32, y: u32, scale: u32) -> Result<Self> {
        if z > u32::from(MAX_ZOOM) {
            return Err(Error::invalid(format!(
                "zoom {z} is out of range: tiles go from 0 to {MAX_ZOOM}"
            )));
        }
        let n = 1u32 << z;
        if x >= n || y >= n {
            return Err(Error::invalid(format!(
                "tile {x}/{y} does not exist at zoom {z}: x and y go from 0 to {}",
                n - 1
            )));
        }
        if scale != 1 && scale != 2 {
            return Err(Error::invalid(format!(
                "scale {scale}: tiles come at 1x or 2x"
            )));
        }
        Ok(Self {
            z: u8::try_from(z).unwrap_or(MAX_ZOOM),
            x,
            y,
            scale,
        })
    }

    fn size(self) -> u32 {
        TILE * self.scale
    }

    /// The tile's bounds in degrees: west, south, east, north.
    #[must_use]
    pub fn bounds(self) -> [f64; 4] {
        let n = f64::from(1u32 << self.z);
        let lon = |x: f64| x / n * 360.0 - 180.0;
        let lat = |y: f64| {
            (std::f64::consts::PI * (1.0 - 2.0 * y / n))
                .sinh()
                .atan()
                .to_degrees()
        };
        let (x, y) = (f64::from(self.x), f64::from(self.y));
        [lon(x), lat(y + 1.0), lon(x + 1.0), lat(y)]
    }

    /// The tile at zoom `z` that contains a longitude/latitude.
    #[must_use]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn containing(lon: f64, lat: f64, z: u8, scale: u32) -> Self {
        let n = f64::from(1u32 << z);
        let (mx, my) = mercator(lon, lat);
        let x = (mx * n).floor().clamp(0.0, n - 1.0) as u32;
        let y = (my * n).floor().clamp(0.0, n - 1.0) as u32;
        Self { z, x, y, scale }
    }

    /// A longitude/latitude as pixels in this tile (may fall outside it).
    #[allow(clippy::cast_possible_truncation)]
    #[must_use]
    pub fn pixel(self, lon: f64, lat: f64) -> (f32, f32) {
        let n = f64::from(1u32 << self.z);
        let size = f64::from(self.size());
        let (mx, my) = mercator(lon, lat);
        (
            ((mx * n - f64::from(self.x)) * size) as f32,
            ((my * n - f64::from(self.y)) * size) as f32,
        )
    }
}

/// Web Mercator: a longitude/latitude as fractions of the world's width and
/// height (0 to 1, y down), latitudes clamped to the square world.
#[must_use]
pub fn mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    (
        (lon + 180.0) / 360.0,
        (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0,
    )
}

/// The polygons as one path in tile pixels, simplified for the zoom (a point
/// within half a pixel of the last one kept is dropped) and without the rings
/// that lie wholly outside the tile (tiny-skia clips the rest as it fills).
fn path<'a>(
    tile: TileId,
    polygons: impl IntoIterator<Item = &'a Polygon<f64>>,
) -> Option<tiny_skia::Path> {
    outline(tile, polygons).path
}

/// What polygons make of a tile (see [`outline`]).
enum Shape {
    /// Nothing of them is on the tile.
    Empty,
    /// They cover every pixel of it: no edge crosses the tile.
    Full,
    /// Edges cross the tile: this path fills or strokes it.
    Partial(tiny_skia::Path),
}

/// The polygons as a path in tile pixels (see [`path`]), and whether any edge
/// of it comes near the tile: when none does, every pixel is covered alike,
/// fully or not at all, and the path need not be rasterised.
struct Outline {
    path: Option<tiny_skia::Path>,
    /// An edge lies within `NEAR` pixels of the tile.
    edges_near: bool,
    /// The tile's centre is inside (even-odd) the rings kept.
    centre_inside: bool,
}

impl Outline {
    fn shape(self) -> Shape {
        match self.path {
            Some(p) if self.edges_near => Shape::Partial(p),
            Some(_) if self.centre_inside => Shape::Full,
            _ => Shape::Empty,
        }
    }
}

/// How close to the tile, in pixels, an edge must come to be drawn: more than
/// any half stroke, less than [`MARGIN`] (so that the cut [`clip_ring`] makes
/// around the tile never counts).
const NEAR: f32 = 2.0;

fn outline<'a>(tile: TileId, polygons: impl IntoIterator<Item = &'a Polygon<f64>>) -> Outline {
    #[allow(clippy::cast_precision_loss)]
    let edge = tile.size() as f32;
    let centre = edge / 2.0;
    let mut pb = PathBuilder::new();
    let mut ring_px: Vec<(f32, f32)> = Vec::new();
    let mut clipped: Vec<(f32, f32)> = Vec::new();
    let (mut edges_near, mut centre_inside) = (false, false);
    for polygon in polygons {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            ring_px.clear();
            let (mut min_x, mut min_y, mut max_x, mut max_y) =
                (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            let last = ring.0.len().saturating_sub(1);
            for (i, c) in ring.0.iter().enumerate() {
                let (px, py) = tile.pixel(c.x, c.y);
                if let Some(&(lx, ly)) = ring_px.last() {
                    if i != last && (px - lx).abs() + (py - ly).abs() < 0.5 {
                        continue;
                    }
                }
                min_x = min_x.min(px);
                min_y = min_y.min(py);
                max_x = max_x.max(px);
                max_y = max_y.max(py);
                ring_px.push((px, py));
            }
            // A ring outside the tile (with room for a stroke), or thinner than
            // a quarter pixel at this zoom, adds nothing (and tiny-skia warns
            // about filling a line).
            if ring_px.len() < 3
                || max_x - min_x < 0.25
                || max_y - min_y < 0.25
                || max_x < -MARGIN
                || max_y < -MARGIN
                || min_x > edge + MARGIN
                || min_y > edge + MARGIN
            {
                continue;
            }
            // A ring much larger than the tile (the coast of Great Britain up
            // close) is clipped to it first, so that the rasteriser sees the
            // few edges that matter. The cut runs outside the tile, so strokes
            // along it are never seen.
            let ring: &[(f32, f32)] = if max_x - min_x > 2.0 * edge || max_y - min_y > 2.0 * edge {
                clip_ring(&ring_px, -MARGIN, edge + MARGIN, &mut clipped);
                &clipped
            } else {
                &ring_px
            };
            if ring.len() < 3 {
                continue;
            }
            let mut prev = ring[ring.len() - 1];
            for &(x, y) in ring {
                let (px, py) = prev;
                prev = (x, y);
                // Edges near the tile (by their bounds: a diagonal edge past
                // a corner counts too, which only costs a rasterising).
                edges_near |= px.min(x) <= edge + NEAR
                    && px.max(x) >= -NEAR
                    && py.min(y) <= edge + NEAR
                    && py.max(y) >= -NEAR;
                // A ray from the centre to the right crosses this edge.
                if (py > centre) != (y > centre)
                    && centre < px + (centre - py) / (y - py) * (x - px)
                {
                    centre_inside = !centre_inside;
                }
            }
            pb.move_to(ring[0].0, ring[0].1);
            for &(x, y) in &ring[1..] {
                pb.line_to(x, y);
            }
            pb.close();
        }
    }
    Outline {
        path: pb.finish(),
        edges_near,
        centre_inside,
    }
}

/// Pixels around a tile that paths keep (wider than any stroke).
const MARGIN: f32 = 4.0;

/// Sutherland-Hodgman: `ring` clipped to the square `lo..=hi` on both axes, into
/// `out`. Right for filling; the cut edges lie on the square's border.
fn clip_ring(ring: &[(f32, f32)], lo: f32, hi: f32, out: &mut Vec<(f32, f32)>) {
    let mut input: Vec<(f32, f32)> = ring.to_vec();
    // Left, right, top, bottom: (axis, bound, keep values above the bound?).
    for (axis, bound, above) in [(0, lo, true), (0, hi, false), (1, lo, true), (1, hi, false)] {
        out.clear();
        let inside = |p: (f32, f32)| {
            let v = if axis == 0 { p.0 } else { p.1 };
            if above {
                v >= bound
            } else {
                v <= bound
            }
        };
        let cross = |a: (f32, f32), b: (f32, f32)| {
            let (va, vb) = if axis == 0 { (a.0, b.0) } else { (a.1, b.1) };
            let t = (bound - va) / (vb - va);
            if axis == 0 {
                (bound, a.1 + t * (b.1 - a.1))
            } else {
                (a.0 + t * (b.0 - a.0), bound)
            }
        };
        let Some(&last) = input.last() else {
            return;
        };
        let mut prev = last;
        for &p in &input {
            match (inside(prev), inside(p)) {
                (true, true) => out.push(p),
                (true, false) => out.push(cross(prev, p)),
                (false, true) => {
                    out.push(cross(prev, p));
                    out.push(p);
                }
                (false, false) => {}
            }
            prev = p;
        }
        std::mem::swap(&mut input, out);
    }
    std::mem::swap(&mut input, out);
}

fn rgb(kind: OutletKind) -> (u8, u8, u8) {
    let hex = kind.colour().trim_start_matches('#');
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    (byte(0), byte(2), byte(4))
}

/// Renders the reach of every outlet in `layers` (merged into one image, as the
/// seed's `lyrs=a,b,c`), with the layers' boundaries. `None` when the tile
/// has nothing on it.
///
/// Fills are not composited one by one (hundreds of passes over the tile's
/// pixels): each fill's coverage is added into one buffer per outlet kind as
/// optical depth, `-ln(1 - alpha)`, and each kind is composited once at the
/// end with `alpha = 1 - e^-depth`, which is exactly what that many alpha fills
/// of one colour give. Kinds are laid down in `OutletKind::ALL` order.
///
/// # Errors
/// Encoding failed (a bug).
pub fn render(atlas: &Atlas, layers: &[Selection], tile: TileId) -> Result<Option<Vec<u8>>> {
    let bounds = tile.bounds();
    let size = tile.size();
    let mut coverage = Coverage::take(size)?;
    let mut land: Option<Mask> = None;
    let mut outlines: Vec<tiny_skia::Path> = Vec::new();
    for sel in layers {
        // Outlets of one kind with the same regions as reach (every online
        // outlet of an area, say) are one shape: filled once, n deep.
        let mut groups: Vec<(OutletKind, &crate::Outlet, u32)> = Vec::new();
        let mut by_reach: std::collections::HashMap<(OutletKind, &[String]), usize> =
            std::collections::HashMap::new();
        for o in atlas.outlets_in(sel) {
            if let crate::Reach::Regions(codes) = &o.reach {
                let key = (o.kind, codes.as_slice());
                if let Some(&at) = by_reach.get(&key) {
                    groups[at].2 += 1;
                    continue;
                }
                by_reach.insert(key, groups.len());
            }
            groups.push((o.kind, o, 1));
        }
        for (kind, o, n) in groups {
            if let crate::Reach::Circle { radius_km } = o.reach {
                // A transmitter's circle is a circle in Web Mercator: drawn as
                // one and clipped to the land by a mask, not by polygon
                // clipping (a hundred times the work).
                let (cx, cy) = tile.pixel(o.lon, o.lat);
                let radius = circle_pixels(tile, o.lat, radius_km);
                #[allow(clippy::cast_precision_loss)]
                let edge = size as f32;
                if cx + radius < 0.0
                    || cy + radius < 0.0
                    || cx - radius > edge
                    || cy - radius > edge
                {
                    continue;
                }
                if land.is_none() {
                    land = Some(land_mask(atlas, tile)?);
                }
                coverage.add_circle(kind, n, (cx, cy), radius);
                continue;
            }
            if !touches(bounds, atlas.reach_bounds(o)) {
                continue;
            }
            match outline(tile, &atlas.reach_geometry(o).0).shape() {
                Shape::Empty => {}
                Shape::Full => coverage.add(kind, n, None),
                Shape::Partial(p) => coverage.add(kind, n, Some(&p)),
            }
        }
        for (_, _, boundary, outline_bounds) in atlas.boundaries(sel) {
            if touches(bounds, outline_bounds) {
                // A boundary with no edge near the tile draws nothing on it.
                if let Shape::Partial(p) = outline(tile, &boundary.0).shape() {
                    outlines.push(p);
                }
            }
        }
    }
    if let Some(land) = &land {
        coverage.fold_circles(land);
    }
    let composited = coverage.composite()?;
    // Composited is zeroed: fit for the next tile.
    Coverage::give_back(coverage);
    let pm = match composited {
        Some(pm) => pm,
        None if outlines.is_empty() => return Ok(None),
        None => canvas_for(size)?,
    };
    stroke_outlines(pm, &outlines, tile)
}

/// Strokes the selections' boundaries on `pm` and encodes it; `None` when the
/// tile ends up empty.
fn stroke_outlines(
    mut pm: Pixmap,
    outlines: &[tiny_skia::Path],
    tile: TileId,
) -> Result<Option<Vec<u8>>> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(0x17, 0x32, 0x4d, 0xd0);
    paint.anti_alias = true;
    let stroke = Stroke {
        width: 1.5 * f32::from(u8::try_from(tile.scale).unwrap_or(1)),
        ..Stroke::default()
    };
    for p in outlines {
        pm.stroke_path(p, &paint, &stroke, Transform::identity(), None);
    }
    if pm.pixels().iter().all(|p| p.alpha() == 0) {
        return Ok(None);
    }
    encode(&pm).map(Some)
}

fn canvas_for(size: u32) -> Result<Pixmap> {
    Pixmap::new(size, size).ok_or_else(|| Error::Internal("tile pixmap".into()))
}

/// Reach fills added up per outlet kind (see [`render`]). Its buffers are
/// kept per thread between tiles ([`Coverage::take`]) and left zeroed.
struct Coverage {
    size: u32,
    /// Scratch: one fill's anti-aliased coverage.
    scratch: Mask,
    /// Optical depth per pixel, per kind (`OutletKind::ALL` order), allocated
    /// on first use.
    depth: [Vec<f32>; 4],
    /// Which kinds' `depth` holds anything.
    drawn: [bool; 4],
    /// Depth every pixel of the tile has, per kind: fills that cover it all.
    uniform: [f32; 4],
    /// The pixels partial fills touched: `x0..x1`, `y0..y1` (empty at first).
    touched: (usize, usize, usize, usize),
    /// Reach circles per kind before they are clipped to the land, as depth
    /// differences along rows (`size + 1` a row): a pixel's depth is the sum
    /// of its row up to it. See [`Coverage::add_circle`].
    circles: [Vec<f32>; 4],
    /// The rows circles reached: `y0..y1`.
    circle_rows: (usize, usize),
}

thread_local! {
    /// One thread's [`Coverage`] between tiles (a 256 px tile's takes 1 MiB
    /// of depth buffers: allocating and zeroing them per tile cost more than
    /// compositing).
    static SPARE: std::cell::RefCell<Option<Coverage>> = const { std::cell::RefCell::new(None) };
}

/// The optical depth one fill of alpha `FILL_ALPHA` over a fraction `c / 255` of
/// a pixel adds: `-ln(1 - alpha * c / 255)`, for every `c` (logarithms once).
fn depth_per_fill() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let a = f32::from(FILL_ALPHA) / 255.0;
        std::array::from_fn(|c| {
            #[allow(clippy::cast_precision_loss)]
            let c = c as f32;
            -(1.0 - a * c / 255.0).ln()
        })
    })
}

/// Steps per unit of optical depth in [`opacity`]'s table.
const DEPTH_STEPS: f32 = 256.0;

/// `1 - e^-depth` from a table, to within 1/512 (a fifth of one 8-bit step):
/// depth in steps of 1/`DEPTH_STEPS` up to 16, where it is 1 to 7 decimals.
fn opacity(depth: f32) -> f32 {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..4096)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let d = i as f32 / DEPTH_STEPS;
                1.0 - (-d).exp()
            })
            .collect()
    });
    // Non-negative and finite: truncating after adding a half rounds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = (depth * DEPTH_STEPS + 0.5) as usize;
    table[i.min(table.len() - 1)]
}

impl Coverage {
    fn new(size: u32) -> Result<Self> {
        Ok(Self {
            size,
            scratch: Mask::new(size, size).ok_or_else(|| Error::Internal("tile mask".into()))?,
            depth: Default::default(),
            drawn: [false; 4],
            uniform: [0.0; 4],
            touched: (usize::MAX, usize::MAX, 0, 0),
            circles: Default::default(),
            circle_rows: (usize::MAX, 0),
        })
    }

    /// This thread's spare of the size, or a new one.
    fn take(size: u32) -> Result<Self> {
        match SPARE.with(std::cell::RefCell::take) {
            Some(spare) if spare.size == size => Ok(spare),
            _ => Self::new(size),
        }
    }

    /// Keeps a composited coverage for this thread's next tile.
    fn give_back(self) {
        SPARE.with(|spare| *spare.borrow_mut() = Some(self));
    }

    /// Adds `n` fills in `kind`'s colour of `path` (even-odd; the whole tile
    /// when `None`).
    fn add(&mut self, kind: OutletKind, n: u32, path: Option<&tiny_skia::Path>) {
        let size = self.size as usize;
        #[allow(clippy::cast_precision_loss)]
        let n = n as f32;
        let per_fill = depth_per_fill();
        let slot = kind.index();
        let Some(path) = path else {
            // The whole tile, evenly: one number.
            self.uniform[slot] += n * per_fill[255];
            return;
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (x0, y0, x1, y1) = {
            let b = path.bounds();
            let clamp = |v: f32| (v.max(0.0) as usize).min(size);
            (
                clamp(b.left().floor()),
                clamp(b.top().floor()),
                clamp(b.right().ceil() + 1.0),
                clamp(b.bottom().ceil() + 1.0),
            )
        };
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        self.scratch
            .fill_path(path, FillRule::EvenOdd, true, Transform::identity());
        // The depth one pixel gains at each coverage: n fills of alpha `a`
        // over a fraction c of the pixel.
        let gain: [f32; 256] = std::array::from_fn(|c| n * per_fill[c]);
        let t = &mut self.touched;
        *t = (t.0.min(x0), t.1.min(y0), t.2.max(x1), t.3.max(y1));
        self.drawn[slot] = true;
        let depth = Self::buffer(&mut self.depth[slot], size);
        let cover = self.scratch.data_mut();
        for y in y0..y1 {
            let row = y * size + x0..y * size + x1;
            for (c, d) in cover[row.clone()].iter_mut().zip(&mut depth[row]) {
                *d += gain[usize::from(*c)];
                *c = 0;
            }
        }
    }

    /// Adds `n` fills in `kind`'s colour of a circle (centre and radius in
    /// pixels), to be clipped to the land by [`Coverage::fold_circles`].
    ///
    /// A tile holds a hundred transmitters' circles and more, most larger
    /// than it: rasterised as paths, each cost a pass over its box twice
    /// (mask, then depth). Here a row's run of fully covered pixels costs two
    /// additions to a row of differences, and only the pixels on the rim (about
    /// its length in pixels) are visited, each covered by `r - d + 1/2`
    /// clamped to 0..1 (`d` the distance of the pixel's centre), the depth
    /// linear in coverage.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn add_circle(&mut self, kind: OutletKind, n: u32, (cx, cy): (f32, f32), r: f32) {
        let size = self.size as usize;
        let edge = size as f32;
        let (outer, inner) = (r + 0.5, r - 0.5);
        // Rows whose pixel centres the rim can reach.
        let top = (cy - outer - 0.5).ceil().clamp(0.0, edge) as usize;
        let bottom = (cy + outer - 0.5).floor().clamp(-1.0, edge - 1.0);
        if bottom < 0.0 || r.is_nan() || r <= 0.0 {
            return;
        }
        let bottom = bottom as usize + 1;
        if top >= bottom {
            return;
        }
        let slot = kind.index();
        let w = n as f32 * depth_per_fill()[255];
        let stride = size + 1;
        let buf = &mut self.circles[slot];
        if buf.is_empty() {
            buf.resize(size * stride, 0.0);
        }
        self.circle_rows = (self.circle_rows.0.min(top), self.circle_rows.1.max(bottom));
        // Pixel columns whose centres lie within `h` of the centre, clamped
        // to the tile: `a..b`.
        let columns = |h: f32| {
            let a = (cx - h - 0.5).ceil().clamp(0.0, edge) as usize;
            let b = ((cx + h - 0.5).floor() + 1.0).clamp(0.0, edge) as usize;
            (a, b.max(a))
        };
        for y in top..bottom {
            let dy = y as f32 + 0.5 - cy;
            let dy2 = dy * dy;
            if dy2 >= outer * outer {
                continue;
            }
            let row = &mut buf[y * stride..(y + 1) * stride];
            let (oa, ob) = columns((outer * outer - dy2).sqrt());
            let (ia, ib) = if inner > 0.0 && dy2 < inner * inner {
                columns((inner * inner - dy2).sqrt())
            } else {
                (ob, ob)
            };
            // Fully covered: one run.
            if ia < ib {
                row[ia] += w;
                row[ib] -= w;
            }
            // The rim either side.
            for x in (oa..ia.min(ob)).chain(ib.max(oa)..ob) {
                let d = (x as f32 + 0.5 - cx).hypot(dy);
                let c = (r - d + 0.5).clamp(0.0, 1.0);
                if c > 0.0 {
                    row[x] += w * c;
                    row[x + 1] -= w * c;
                }
            }
        }
    }

    /// Adds the circles to the depth, each pixel's in proportion to how much
    /// of it is land.
    #[allow(clippy::cast_precision_loss)]
    fn fold_circles(&mut self, land: &Mask) {
        let size = self.size as usize;
        let stride = size + 1;
        let (y0, y1) = std::mem::replace(&mut self.circle_rows, (usize::MAX, 0));
        if y0 >= y1 {
            return;
        }
        let per_land: [f32; 256] = std::array::from_fn(|l| l as f32 / 255.0);
        for slot in 0..4 {
            let buf = &mut self.circles[slot];
            if buf.is_empty() {
                continue;
            }
            let mut any = false;
            let depth = Self::buffer(&mut self.depth[slot], size);
            for y in y0..y1 {
                let diffs = &mut buf[y * stride..(y + 1) * stride];
                let row = y * size..(y + 1) * size;
                let mut sum = 0.0f32;
                for ((diff, d), l) in diffs
                    .iter_mut()
                    .zip(&mut depth[row.clone()])
                    .zip(&land.data()[row])
                {
                    sum += std::mem::take(diff);
                    if sum > 0.0 {
                        *d += sum * per_land[usize::from(*l)];
                        any = true;
                    }
                }
                diffs[size] = 0.0;
            }
            if any {
                self.drawn[slot] = true;
                let t = &mut self.touched;
                *t = (0, t.1.min(y0), size, t.3.max(y1));
            }
        }
    }

    /// A kind's depth buffer, allocated (zeroed) on first use.
    fn buffer(depth: &mut Vec<f32>, size: usize) -> &mut [f32] {
        if depth.is_empty() {
            depth.resize(size * size, 0.0);
        }
        depth
    }

    /// The kinds laid down in order, as a premultiplied pixmap; `None` when
    /// nothing was filled. Leaves the coverage empty for the next tile.
    fn composite(&mut self) -> Result<Option<Pixmap>> {
        let uniform = std::mem::take(&mut self.uniform);
        let drawn = std::mem::take(&mut self.drawn);
        let (x0, y0, x1, y1) = std::mem::replace(&mut self.touched, (usize::MAX, usize::MAX, 0, 0));
        if !drawn.contains(&true) && uniform.iter().all(|u| *u <= 0.0) {
            return Ok(None);
        }
        let mut pm = canvas_for(self.size)?;
        let size = self.size as usize;
        // Per kind in order: colour, the depth all pixels have, and the
        // buffer of the rest if any.
        let mut layers: Vec<Layer> = Vec::new();
        for (slot, (kind, depth)) in OutletKind::ALL.iter().zip(&mut self.depth).enumerate() {
            if !drawn[slot] && uniform[slot] <= 0.0 {
                continue;
            }
            let (r, g, b) = rgb(*kind);
            let colour = [f32::from(r), f32::from(g), f32::from(b), 255.0];
            layers.push(Layer {
                colour,
                uniform: uniform[slot],
                depth: drawn[slot].then_some(&mut depth[..]),
            });
        }
        let blend = |out: &mut [f32; 4], colour: &[f32; 4], depth: f32| {
            if depth > 0.0 {
                let a = opacity(depth);
                for (o, c) in out.iter_mut().zip(colour) {
                    *o = c * a + *o * (1.0 - a);
                }
            }
        };
        let store = |px: &mut [u8], out: [f32; 4]| {
            for (p, o) in px.iter_mut().zip(out) {
                // In 0..=255: truncating after adding a half rounds.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                {
                    *p = (o + 0.5) as u8;
                }
            }
        };
        // Fills over the whole tile: every pixel outside the touched box is
        // that one colour.
        if uniform.iter().any(|u| *u > 0.0) {
            let mut out = [0.0f32; 4];
            for layer in &layers {
                blend(&mut out, &layer.colour, layer.uniform);
            }
            let mut px = [0u8; 4];
            store(&mut px, out);
            for p in pm.data_mut().chunks_exact_mut(4) {
                p.copy_from_slice(&px);
            }
        }
        // One pass over the pixels partial fills touched, in floats, rounded
        // once when stored; the depth read is zeroed for the next tile. Most
        // pixels lie in runs of the same depths (inside a region, away from
        // rims and coasts): a pixel with its left neighbour's depths is a copy.
        let data = pm.data_mut();
        for y in y0..y1 {
            let (first, last) = (y * size + x0, y * size + x1);
            let row = &mut data[first * 4..last * 4];
            let mut before = [f32::NAN; 4];
            let mut px_before = [0u8; 4];
            for (j, px) in row.chunks_exact_mut(4).enumerate() {
                let i = first + j;
                let mut depths = [0.0f32; 4];
                for (d, layer) in depths.iter_mut().zip(&layers) {
                    *d = layer.uniform + layer.depth.as_ref().map_or(0.0, |depth| depth[i]);
                }
                if depths != before {
                    before = depths;
                    let mut out = [0.0f32; 4];
                    for (layer, d) in layers.iter().zip(depths) {
                        blend(&mut out, &layer.colour, d);
                    }
                    store(&mut px_before, out);
                }
                px.copy_from_slice(&px_before);
            }
            for layer in &mut layers {
                if let Some(depth) = &mut layer.depth {
                    depth[first..last].fill(0.0);
                }
            }
        }
        Ok(Some(pm))
    }
}

/// One kind as [`Coverage::composite`] lays it down.
struct Layer<'a> {
    colour: [f32; 4],
    /// Depth every pixel has.
    uniform: f32,
    /// Depth per pixel on top, if any.
    depth: Option<&'a mut [f32]>,
}

/// The radius in pixels of a reach circle of `radius_km` around latitude `lat`
/// (the circle the atlas clips to land: `radius_km / 111.32` degrees of
/// latitude, which Web Mercator draws round).
#[allow(clippy::cast_possible_truncation)]
fn circle_pixels(tile: TileId, lat: f64, radius_km: f64) -> f32 {
    let degrees = radius_km / (111.32 * lat.to_radians().cos().max(0.01));
    let per_degree = f64::from(tile.size()) * f64::from(1u32 << tile.z) / 360.0;
    (degrees * per_degree) as f32
}

/// The land in this tile as a mask (anti-aliased coverage).
fn land_mask(atlas: &Atlas, tile: TileId) -> Result<Mask> {
    let size = tile.size();
    let mut mask = Mask::new(size, size).ok_or_else(|| Error::Internal("tile mask".into()))?;
    if let Some(p) = path(tile, atlas.land_near(tile.bounds())) {
        mask.fill_path(&p, FillRule::EvenOdd, true, Transform::identity());
    }
    Ok(mask)
}

/// `PremultipliedColorU8::demultiply` as a table, `[alpha * 256 + channel]`:
/// the same bytes without three `f64` divisions a pixel.
fn demultiplied() -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u8; 256 * 256];
        for alpha in 0..=255u8 {
            for c in 0..=255u8 {
                let premultiplied = tiny_skia::PremultipliedColorU8::from_rgba(
                    c.min(alpha),
                    c.min(alpha),
                    c.min(alpha),
                    alpha,
                );
                t[usize::from(alpha) * 256 + usize::from(c)] =
                    premultiplied.map_or(0, |p| p.demultiply().red());
            }
        }
        t
    })
}

/// PNG with straight alpha (tiny-skia keeps premultiplied colour), fast
/// compression and adaptive filtering.
fn encode(pm: &Pixmap) -> Result<Vec<u8>> {
    use image::ImageEncoder as _;
    let mut rgba = Vec::with_capacity(pm.data().len());
    let table = demultiplied();
    for p in pm.pixels() {
        let a = p.alpha();
        let row = &table[usize::from(a) * 256..usize::from(a) * 256 + 256];
        rgba.extend_from_slice(&[
            row[usize::from(p.red())],
            row[usize::from(p.green())],
            row[usize::from(p.blue())],
            a,
        ]);
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        &rgba,
        pm.width(),
        pm.height(),
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| Error::Internal(format!("png: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
