//! The offline basemap (`/tiles/base/{z}/{x}/{y}.png`): land, coast, region
//! boundaries and town labels where they fit, so the app needs no internet
//! tiles. The sea is the map's background colour: a tile with no land is the
//! shared empty PNG.
//!
//! Labels are placed once per zoom for the whole country (largest towns first,
//! a label only where it overlaps none already placed) and each tile draws the
//! labels that touch it, so a label crossing a tile edge is drawn the same in
//! both tiles. Text is DejaVu Sans Condensed, its glyph outlines filled by
//! tiny-skia over a white halo.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use model::geo::Level;
use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform,
};

use super::{encode, path, TileId};
use crate::{touches, Atlas, Error, Result};

const LAND: (u8, u8, u8) = (0xe8, 0xee, 0xe4);
const COAST: (u8, u8, u8, u8) = (0x5b, 0x70, 0x83, 0xff);
const AREA_LINE: (u8, u8, u8, u8) = (0x6f, 0x80, 0x90, 0xc0);
const COUNTY_LINE: (u8, u8, u8, u8) = (0x8c, 0x9a, 0xa6, 0xa0);
const UNIT_LINE: (u8, u8, u8, u8) = (0xa8, 0xb3, 0xbc, 0x90);
const TEXT: (u8, u8, u8, u8) = (0x2d, 0x3a, 0x45, 0xff);
/// Label text size in pixels at scale 1.
const TEXT_PX: f32 = 11.0;

/// The smallest town labelled at a zoom.
const fn min_population(z: u8) -> i64 {
    match z {
        0..=4 => 1_000_000,
        5 => 300_000,
        6 => 120_000,
        7 => 50_000,
        8 => 20_000,
        9 => 8_000,
        10 => 3_000,
        _ => 0,
    }
}

/// A placed label in world pixels at its zoom: the town's dot and the text box.
#[derive(Clone, Debug)]
pub(super) struct Label {
    name: String,
    dot: (f64, f64),
    /// Where the text's baseline starts.
    origin: (f64, f64),
    /// Left, top, right, bottom, with the dot and the halo.
    pub(super) bounds: [f64; 4],
}

fn font() -> Result<&'static ttf_parser::Face<'static>> {
    static FACE: OnceLock<std::result::Result<ttf_parser::Face<'static>, String>> = OnceLock::new();
    FACE.get_or_init(|| {
        ttf_parser::Face::parse(dejavu::sans_condensed::regular(), 0).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("label font: {e}")))
}

/// The width of `text` in pixels at `px`.
fn text_width(face: &ttf_parser::Face<'_>, text: &str, px: f32) -> f32 {
    let scale = px / f32::from(face.units_per_em());
    text.chars()
        .filter_map(|c| face.glyph_index(c))
        .map(|g| f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale)
        .sum()
}

/// Glyph outlines into a tiny-skia path, font units (y up) to pixels (y down).
struct Outline<'a> {
    pb: &'a mut PathBuilder,
    x: f32,
    y: f32,
    scale: f32,
}

impl ttf_parser::OutlineBuilder for Outline<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.pb
            .move_to(self.x + x * self.scale, self.y - y * self.scale);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.pb
            .line_to(self.x + x * self.scale, self.y - y * self.scale);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.pb.quad_to(
            self.x + x1 * self.scale,
            self.y - y1 * self.scale,
            self.x + x * self.scale,
            self.y - y * self.scale,
        );
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.pb.cubic_to(
            self.x + x1 * self.scale,
            self.y - y1 * self.scale,
            self.x + x2 * self.scale,
            self.y - y2 * self.scale,
            self.x + x * self.scale,
            self.y - y * self.scale,
        );
    }
    fn close(&mut self) {
        self.pb.close();
    }
}

/// `text` as one path with its baseline starting at (x, y), in pixels.
fn text_path(
    face: &ttf_parser::Face<'_>,
    text: &str,
    x: f32,
    y: f32,
    px: f32,
) -> Option<tiny_skia::Path> {
    let scale = px / f32::from(face.units_per_em());
    let mut pb = PathBuilder::new();
    let mut pen = x;
    for c in text.chars() {
        let Some(g) = face.glyph_index(c) else {
            continue;
        };
        face.outline_glyph(
            g,
            &mut Outline {
                pb: &mut pb,
                x: pen,
                y,
                scale,
            },
        );
        pen += f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale;
    }
    pb.finish()
}

/// World pixel coordinates of a longitude/latitude at zoom `z` and `scale`.
fn world(lon: f64, lat: f64, z: u8, scale: u32) -> (f64, f64) {
    let n = f64::from(1u32 << z) * f64::from(super::TILE * scale);
    let (x, y) = super::mercator(lon, lat);
    (x * n, y * n)
}

/// The labels of zoom `z` at `scale`, placed once per data version.
pub(super) fn labels(atlas: &Atlas, z: u8, scale: u32) -> Result<Arc<Vec<Label>>> {
    type Placed = HashMap<(String, u8, u32), Arc<Vec<Label>>>;
    static PLACED: OnceLock<Mutex<Placed>> = OnceLock::new();
    let key = (atlas.version().to_owned(), z, scale);
    let placed = PLACED.get_or_init(Mutex::default);
    if let Some(l) = placed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return Ok(l.clone());
    }
    let face = font()?;
    let px = TEXT_PX * f32::from(u8::try_from(scale).unwrap_or(1));
    let px64 = f64::from(px);
    let mut towns: Vec<&crate::dataset::Town> = atlas
        .towns()
        .iter()
        .filter(|t| t.population >= min_population(z))
        .collect();
    towns.sort_by(|a, b| b.population.cmp(&a.population).then(a.name.cmp(&b.name)));
    // Collision checks through a grid of placed boxes.
    let cell = 64.0 * f64::from(scale);
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    let mut out: Vec<Label> = Vec::new();
    #[allow(clippy::cast_possible_truncation)]
    let cells = |b: [f64; 4]| {
        let (x0, y0) = ((b[0] / cell).floor() as i64, (b[1] / cell).floor() as i64);
        let (x1, y1) = ((b[2] / cell).floor() as i64, (b[3] / cell).floor() as i64);
        (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y)))
    };
    for t in towns {
        let dot = world(t.lon, t.lat, z, scale);
        let width = f64::from(text_width(face, &t.name, px));
        let gap = 4.0 * f64::from(scale);
        // Right of the dot, else left of it.
        for side in [1.0, -1.0] {
            let left = if side > 0.0 {
                dot.0 + gap
            } else {
                dot.0 - gap - width
            };
            let b = [
                left.min(dot.0) - 2.0,
                dot.1 - px64 * 0.75,
                (left + width).max(dot.0) + 2.0,
                dot.1 + px64 * 0.5,
            ];
            let clear = cells(b).all(|c| {
                grid.get(&c)
                    .is_none_or(|ids| ids.iter().all(|&i| !touches(out[i].bounds, b)))
            });
            if clear {
                for c in cells(b) {
                    grid.entry(c).or_default().push(out.len());
                }
                out.push(Label {
                    name: t.name.clone(),
                    dot,
                    origin: (left, dot.1 + px64 * 0.35),
                    bounds: b,
                });
                break;
            }
        }
    }
    let out = Arc::new(out);
    let mut placed = placed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Only the current data version's placements are kept.
    placed.retain(|(v, _, _), _| *v == key.0);
    placed.insert(key, out.clone());
    Ok(out)
}

fn paint(c: (u8, u8, u8, u8)) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c.0, c.1, c.2, c.3);
    p.anti_alias = true;
    p
}

/// Renders one basemap tile; `None` when it holds no land (open sea, abroad).
///
/// # Errors
/// The label font or the PNG encoder failed (a bug).
pub fn render(atlas: &Atlas, tile: TileId) -> Result<Option<Vec<u8>>> {
    let bounds = tile.bounds();
    let size = tile.size();
    let k = f32::from(u8::try_from(tile.scale).unwrap_or(1));
    let Some(land) = path(tile, atlas.land_near(bounds)) else {
        return Ok(None);
    };
    let mut pm = Pixmap::new(size, size).ok_or_else(|| Error::Internal("tile pixmap".into()))?;
    pm.fill_path(
        &land,
        &paint((LAND.0, LAND.1, LAND.2, 0xff)),
        FillRule::EvenOdd,
        Transform::identity(),
        None,
    );
    if pm.pixels().iter().all(|p| p.alpha() == 0) {
        return Ok(None);
    }
    // Boundaries: units up close, counties from zoom 7, areas always.
    let mut levels = vec![(Level::Area, AREA_LINE, 1.1)];
    if tile.z >= 7 {
        levels.insert(0, (Level::County, COUNTY_LINE, 0.8));
    }
    if tile.z >= 9 {
        levels.insert(0, (Level::Unit, UNIT_LINE, 0.6));
    }
    for (level, colour, width) in levels {
        let Some(p) = path(
            tile,
            atlas
                .outlines_near(level, bounds)
                .flat_map(|mp| mp.0.iter()),
        ) else {
            continue;
        };
        let stroke = Stroke {
            width: width * k,
            line_join: LineJoin::Round,
            dash: (level == Level::Unit)
                .then(|| StrokeDash::new(vec![3.0 * k, 2.0 * k], 0.0))
                .flatten(),
            ..Stroke::default()
        };
        pm.stroke_path(&p, &paint(colour), &stroke, Transform::identity(), None);
    }
    pm.stroke_path(
        &land,
        &paint(COAST),
        &Stroke {
            width: 0.8 * k,
            line_join: LineJoin::Round,
            ..Stroke::default()
        },
        Transform::identity(),
        None,
    );
    draw_labels(&mut pm, atlas, tile, k)?;
    encode(&pm).map(Some)
}

fn draw_labels(pm: &mut Pixmap, atlas: &Atlas, tile: TileId, k: f32) -> Result<()> {
    let face = font()?;
    let edge = f64::from(tile.size());
    let x0 = f64::from(tile.x) * edge;
    let y0 = f64::from(tile.y) * edge;
    let halo = Stroke {
        width: 3.0 * k,
        line_join: LineJoin::Round,
        line_cap: LineCap::Round,
        ..Stroke::default()
    };
    let text = paint(TEXT);
    let white = paint((0xff, 0xff, 0xff, 0xe0));
    for l in labels(atlas, tile.z, tile.scale)?.iter() {
        if !touches(l.bounds, [x0, y0, x0 + edge, y0 + edge]) {
            continue;
        }
        #[allow(clippy::cast_possible_truncation)]
        let at = |x: f64, y: f64| ((x - x0) as f32, (y - y0) as f32);
        let (dx, dy) = at(l.dot.0, l.dot.1);
        if let Some(dot) = PathBuilder::from_circle(dx, dy, 2.2 * k) {
            pm.stroke_path(
                &dot,
                &white,
                &Stroke {
                    width: 1.5 * k,
                    ..Stroke::default()
                },
                Transform::identity(),
                None,
            );
            pm.fill_path(&dot, &text, FillRule::Winding, Transform::identity(), None);
        }
        let (tx, ty) = at(l.origin.0, l.origin.1);
        if let Some(p) = text_path(face, &l.name, tx, ty, TEXT_PX * k) {
            pm.stroke_path(&p, &white, &halo, Transform::identity(), None);
            pm.fill_path(&p, &text, FillRule::Winding, Transform::identity(), None);
        }
    }
    Ok(())
}
