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
mod pool;

pub use cache::{Tile, TileKey, TileService, TileSettings};

use geo::Polygon;
use model::geo::OutletKind;
use tiny_skia::{FillRule, Mask, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::{
    atlas::{touches, Atlas, Selection},
    Error, Result,
};

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
            return Err(Error::Invalid(format!(
                "zoom {z} is out of range: tiles go from 0 to {MAX_ZOOM}"
            )));
        }
        let n = 1u32 << z;
        if x >= n || y >= n {
            return Err(Error::Invalid(format!(
                "tile {x}/{y} does not exist at zoom {z}: x and y go from 0 to {}",
                n - 1
            )));
        }
        if scale != 1 && scale != 2 {
            return Err(Error::Invalid(format!(
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
    #[allow(clippy::cast_precision_loss)]
    let edge = tile.size() as f32;
    let mut pb = PathBuilder::new();
    let mut ring_px: Vec<(f32, f32)> = Vec::new();
    let mut clipped: Vec<(f32, f32)> = Vec::new();
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
            pb.move_to(ring[0].0, ring[0].1);
            for &(x, y) in &ring[1..] {
                pb.line_to(x, y);
            }
            pb.close();
        }
    }
    pb.finish()
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
    let mut coverage = Coverage::new(size)?;
    let mut land: Option<Mask> = None;
    let mut outlines: Vec<tiny_skia::Path> = Vec::new();
    for sel in layers {
        // Outlets of one kind with the same regions as reach (every online
        // outlet of an area, say) are one shape: filled once, n deep.
        let mut groups: Vec<(OutletKind, &crate::atlas::Outlet, u32)> = Vec::new();
        let mut by_reach: std::collections::HashMap<(OutletKind, &[String]), usize> =
            std::collections::HashMap::new();
        for o in atlas.outlets_in(sel) {
            if let crate::atlas::Reach::Regions(codes) = &o.reach {
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
            if let crate::atlas::Reach::Circle { radius_km } = o.reach {
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
                let Some(p) = PathBuilder::from_circle(cx, cy, radius) else {
                    continue;
                };
                if land.is_none() {
                    land = Some(land_mask(atlas, tile)?);
                }
                coverage.add(kind, n, &p, FillRule::Winding, land.as_ref());
                continue;
            }
            if !touches(bounds, atlas.reach_bounds(o)) {
                continue;
            }
            if let Some(p) = path(tile, &atlas.reach_geometry(o).0) {
                coverage.add(kind, n, &p, FillRule::EvenOdd, None);
            }
        }
        for (_, _, boundary, outline) in atlas.boundaries(sel) {
            if touches(bounds, outline) {
                outlines.extend(path(tile, &boundary.0));
            }
        }
    }
    let pm = match coverage.composite()? {
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

/// Reach fills added up per outlet kind (see [`render`]).
struct Coverage {
    size: u32,
    /// Scratch: one fill's anti-aliased coverage.
    scratch: Mask,
    /// Optical depth per pixel, per kind (`OutletKind::ALL` order).
    depth: [Option<Vec<f32>>; 4],
    /// The pixels any fill touched: `x0..x1`, `y0..y1` (empty at first).
    touched: (usize, usize, usize, usize),
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

impl Coverage {
    fn new(size: u32) -> Result<Self> {
        Ok(Self {
            size,
            scratch: Mask::new(size, size).ok_or_else(|| Error::Internal("tile mask".into()))?,
            depth: [None, None, None, None],
            touched: (usize::MAX, usize::MAX, 0, 0),
        })
    }

    /// Adds `n` fills of `path` in `kind`'s colour, clipped by `clip`.
    fn add(
        &mut self,
        kind: OutletKind,
        n: u32,
        path: &tiny_skia::Path,
        rule: FillRule,
        clip: Option<&Mask>,
    ) {
        let size = self.size as usize;
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
            .fill_path(path, rule, true, Transform::identity());
        // The depth one pixel gains at each coverage: n fills of alpha `a`
        // over a fraction c of the pixel.
        #[allow(clippy::cast_precision_loss)]
        let n = n as f32;
        let per_fill = depth_per_fill();
        let gain: [f32; 256] = std::array::from_fn(|c| n * per_fill[c]);
        let t = &mut self.touched;
        *t = (t.0.min(x0), t.1.min(y0), t.2.max(x1), t.3.max(y1));
        let slot = kind.index();
        let depth = self.depth[slot].get_or_insert_with(|| vec![0.0; size * size]);
        let cover = self.scratch.data_mut();
        for y in y0..y1 {
            let row = y * size + x0..y * size + x1;
            let (cover, depth) = (&mut cover[row.clone()], &mut depth[row.clone()]);
            match clip {
                None => {
                    for (c, d) in cover.iter_mut().zip(depth) {
                        *d += gain[usize::from(*c)];
                        *c = 0;
                    }
                }
                Some(clip) => {
                    for ((c, d), l) in cover.iter_mut().zip(depth).zip(&clip.data()[row]) {
                        // Coverage times the land's, both out of 255.
                        let c2 = (u32::from(*c) * u32::from(*l) + 127) / 255;
                        *d += gain[c2 as usize];
                        *c = 0;
                    }
                }
            }
        }
    }

    /// The kinds laid down in order, as a premultiplied pixmap; `None` when
    /// nothing was filled.
    fn composite(self) -> Result<Option<Pixmap>> {
        if self.depth.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut pm = canvas_for(self.size)?;
        let layers: Vec<([f32; 4], &[f32])> = OutletKind::ALL
            .iter()
            .zip(&self.depth)
            .filter_map(|(kind, depth)| {
                let (r, g, b) = rgb(*kind);
                let colour = [f32::from(r), f32::from(g), f32::from(b), 255.0];
                depth.as_deref().map(|d| (colour, d))
            })
            .collect();
        // One pass over the pixels fills touched (the rest stay transparent), in
        // floats, rounded once when stored.
        let size = self.size as usize;
        let (x0, y0, x1, y1) = self.touched;
        let data = pm.data_mut();
        for y in y0..y1 {
            let first = y * size + x0;
            let row = &mut data[first * 4..(y * size + x1) * 4];
            for (j, px) in row.chunks_exact_mut(4).enumerate() {
                let i = first + j;
                let mut out = [0.0f32; 4];
                for (colour, depth) in &layers {
                    let d = depth[i];
                    if d <= 0.0 {
                        continue;
                    }
                    let a = 1.0 - (-d).exp();
                    for (o, c) in out.iter_mut().zip(colour) {
                        *o = c * a + *o * (1.0 - a);
                    }
                }
                for (p, o) in px.iter_mut().zip(out) {
                    // In 0..=255: truncating after adding a half rounds.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    {
                        *p = (o + 0.5) as u8;
                    }
                }
            }
        }
        Ok(Some(pm))
    }
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
