//! Golden checks on real data: the shipped geography and the demo outlets.

use super::*;
use crate::{AtlasService, Db};

async fn atlas() -> (tempfile::TempDir, std::sync::Arc<Atlas>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    let service = AtlasService::new(db);
    service.seed(3000).await.expect("seed");
    (dir, service.atlas().await.expect("atlas"))
}

/// The straight-alpha RGBA of a pixel of a PNG.
fn pixel(png: &[u8], (x, y): (f32, f32)) -> [u8; 4] {
    let img = image::load_from_memory(png).expect("a PNG").to_rgba8();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = img.get_pixel(x as u32, y as u32);
    p.0
}

const LUTON: (f64, f64) = (-0.4175, 51.8797);
const BEDFORD: (f64, f64) = (-0.4667, 52.1333);
const HARPENDEN: (f64, f64) = (-0.3570, 51.8160);

#[tokio::test]
async fn a_selections_reach_is_coloured_and_elsewhere_is_empty() {
    let (_d, atlas) = atlas().await;
    let papers = atlas.select("unit:luton", "newspaper").expect("select");
    let tile = TileId::containing(LUTON.0, LUTON.1, 10, 1);
    let png = render(&atlas, std::slice::from_ref(&papers), tile)
        .expect("render")
        .expect("not empty");
    let [r, g, b, a] = pixel(&png, tile.pixel(LUTON.0, LUTON.1));
    assert!(a > 0x20, "Luton is covered: alpha {a}");
    assert!(
        r > g && r > b,
        "newspaper colour (#c2410c), got {r},{g},{b}"
    );
    // Far from Luton: nothing to draw.
    let edinburgh = TileId::containing(-3.19, 55.95, 10, 1);
    assert_eq!(
        render(&atlas, std::slice::from_ref(&papers), edinburgh).expect("render"),
        None
    );
    let atlantic = TileId::new(5, 0, 0, 1).expect("tile");
    assert_eq!(
        render(&atlas, std::slice::from_ref(&papers), atlantic).expect("render"),
        None
    );
    // The same request twice: the same bytes.
    assert_eq!(
        render(&atlas, &[papers], tile)
            .expect("render")
            .expect("png"),
        png
    );
    // @2x is 512 pixels.
    let big = render(
        &atlas,
        &[atlas.select("unit:luton", "").expect("s")],
        TileId { scale: 2, ..tile },
    )
    .expect("render")
    .expect("png");
    assert_eq!(image::load_from_memory(&big).expect("png").width(), 512);
}

#[tokio::test]
async fn merged_layers_show_both_kinds() {
    let (_d, atlas) = atlas().await;
    let radio = atlas
        .select("county:bedfordshire", "radio")
        .expect("select");
    let papers = atlas
        .select("county:bedfordshire", "newspaper")
        .expect("select");
    // Harpenden is in Hertfordshire, a few km south of Bedfordshire: reached by
    // Bedfordshire's radio circles, not by its newspapers (their reach is
    // Bedfordshire or one of its units).
    let tile = TileId::containing(BEDFORD.0, BEDFORD.1, 8, 1);
    assert_eq!(
        tile,
        TileId::containing(HARPENDEN.0, HARPENDEN.1, 8, 1),
        "both in one tile"
    );
    let radio_only = render(&atlas, std::slice::from_ref(&radio), tile)
        .expect("render")
        .expect("png");
    let merged = render(&atlas, &[radio, papers], tile)
        .expect("render")
        .expect("png");
    let at_bedford = tile.pixel(BEDFORD.0, BEDFORD.1);
    let (r1, m1) = (pixel(&radio_only, at_bedford), pixel(&merged, at_bedford));
    assert!(
        m1[0] > r1[0],
        "newspapers add red over Bedford: {r1:?} -> {m1:?}"
    );
    let at_harpenden = tile.pixel(HARPENDEN.0, HARPENDEN.1);
    let (r2, m2) = (
        pixel(&radio_only, at_harpenden),
        pixel(&merged, at_harpenden),
    );
    assert!(
        r2[3] > 0 && r2[2] > r2[1],
        "radio purple at Harpenden: {r2:?}"
    );
    assert_eq!(m2, r2, "no Bedfordshire newspaper reaches Harpenden");
}

#[test]
fn tile_numbers_out_of_range_are_refused() {
    for (z, x, y, scale, says) in [
        (21, 0, 0, 1, "zoom 21"),
        (3, 8, 0, 1, "tile 8/0 does not exist at zoom 3"),
        (0, 0, 1, 1, "tile 0/1"),
        (5, 1, 1, 3, "scale 3"),
    ] {
        let err = TileId::new(z, x, y, scale).expect_err("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(TileId::new(20, (1 << 20) - 1, 0, 2).is_ok());
    let empty = image::load_from_memory(empty_png()).expect("a PNG");
    assert_eq!((empty.width(), empty.height()), (1, 1));
    assert!(empty_png().len() < 100, "{} bytes", empty_png().len());
}

async fn service(settings: TileSettings) -> (tempfile::TempDir, AtlasService, TileService) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("connect");
    let atlas = AtlasService::new(db);
    atlas.seed(3000).await.expect("seed");
    let tiles = TileService::new(atlas.clone(), settings);
    (dir, atlas, tiles)
}

/// The signed key of `layers` at the current data version, as a URL carries it.
async fn url_key(tiles: &TileService, layers: &[(String, String)]) -> String {
    let key = tiles.key(layers).await.expect("key");
    tiles.signed(&key).await.expect("signed")
}

fn layer(sel: &str, kinds: &str) -> Vec<(String, String)> {
    vec![(sel.to_owned(), kinds.to_owned())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_requests_for_one_uncached_tile_render_it_once() {
    let (_d, _a, tiles) = service(TileSettings::default()).await;
    let key = url_key(&tiles, &layer("county:bedfordshire", "")).await;
    let tile = TileId::containing(BEDFORD.0, BEDFORD.1, 9, 1);
    let asks = (0..100).map(|_| {
        let (tiles, key) = (tiles.clone(), key.clone());
        tokio::spawn(async move { tiles.get(&key, tile).await })
    });
    let mut pngs = Vec::new();
    for a in asks {
        pngs.push(a.await.expect("task").expect("tile").png);
    }
    assert_eq!(tiles.renders(), 1);
    assert!(pngs.windows(2).all(|w| w[0] == w[1]));
    // Empty tiles cost next to nothing: the shared empty PNG.
    let far = tiles
        .get(&key, TileId::new(6, 0, 0, 1).expect("tile"))
        .await
        .expect("tile");
    assert!(far.empty && &far.png[..] == empty_png());
}

#[tokio::test]
async fn a_data_change_gives_new_keys_and_refuses_the_old() {
    let (_d, atlas, tiles) = service(TileSettings::default()).await;
    let old = tiles
        .key(&layer("unit:luton", "newspaper"))
        .await
        .expect("key");
    let tile = TileId::containing(LUTON.0, LUTON.1, 11, 1);
    let old_url = tiles.signed(&old).await.expect("signed");
    let before = tiles.get(&old_url, tile).await.expect("tile");
    // A newspaper reaching a circle around Luton changes the coverage.
    let wide = crate::NewOutlet {
        name: "Luton Wide Post".into(),
        kind: model::geo::OutletKind::Newspaper,
        town: "Luton".into(),
        lon: LUTON.0,
        lat: LUTON.1,
        audience: 5,
        reach: crate::Reach::Circle { radius_km: 40.0 },
        source: "test".into(),
    };
    atlas.insert_outlets(&[wide], false).await.expect("insert");
    let new = tiles
        .key(&layer("unit:luton", "newspaper"))
        .await
        .expect("key");
    assert_ne!(new.encode(), old.encode());
    let err = tiles.get(&old_url, tile).await.expect_err("stale key");
    assert!(err.to_string().contains("reload the map"), "{err}");
    let new_url = tiles.signed(&new).await.expect("signed");
    let after = tiles.get(&new_url, tile).await.expect("tile");
    assert_ne!(after.png, before.png, "the image changed with the data");
    assert!(TileKey::decode("not-a-key").is_err());
}

#[tokio::test]
async fn the_disk_cache_survives_a_restart_and_a_damaged_file() {
    let disk = tempfile::tempdir().expect("disk");
    let settings = TileSettings {
        disk: Some(disk.path().to_owned()),
        ..TileSettings::default()
    };
    let (_d, atlas, tiles) = service(settings.clone()).await;
    let key = url_key(&tiles, &layer("unit:luton", "")).await;
    let tile = TileId::containing(LUTON.0, LUTON.1, 10, 2);
    let first = tiles.get(&key, tile).await.expect("tile");
    assert_eq!(tiles.renders(), 1);
    // A new process (fresh memory) reads it from disk.
    let restarted = TileService::new(atlas.clone(), settings.clone());
    let again = restarted.get(&key, tile).await.expect("tile");
    assert_eq!((restarted.renders(), &again.png), (0, &first.png));
    // A damaged file is rendered again, not served.
    let files: Vec<_> = walk(disk.path());
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::write(&files[0], b"garbage").expect("damage");
    let third = TileService::new(atlas, settings);
    assert_eq!(third.get(&key, tile).await.expect("tile").png, first.png);
    assert_eq!(third.renders(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn memory_stays_within_its_budget() {
    let (_d, _a, tiles) = service(TileSettings {
        memory_bytes: 40_000,
        ..TileSettings::default()
    })
    .await;
    let key = url_key(&tiles, &layer("area:east-of-england", "")).await;
    let centre = TileId::containing(0.5, 52.2, 9, 1);
    for dx in 0..3 {
        for dy in 0..3 {
            let t = TileId::new(9, centre.x + dx, centre.y + dy, 1).expect("tile");
            tiles.get(&key, t).await.expect("tile");
        }
    }
    let (count, bytes) = tiles.memory_use();
    assert!(bytes <= 40_000, "{count} tiles, {bytes} bytes");
    assert!(count >= 1);
}

#[tokio::test]
async fn a_radio_circle_is_clipped_to_the_land() {
    let (_d, atlas) = atlas().await;
    // Every radio outlet of the South West: Plymouth's circles reach the sea.
    let radio = atlas.select("area:south-west", "radio").expect("select");
    let plymouth = (-4.14, 50.37);
    let alpha = |(lon, lat): (f64, f64)| {
        let tile = TileId::containing(lon, lat, 9, 1);
        render(&atlas, std::slice::from_ref(&radio), tile)
            .expect("render")
            .map_or(0, |png| pixel(&png, tile.pixel(lon, lat))[3])
    };
    let on_land = alpha((plymouth.0 + 0.09, plymouth.1 + 0.08));
    assert!(
        on_land > 0x20,
        "inland of Plymouth is covered: alpha {on_land}"
    );
    let sea = (plymouth.0 - 0.01, plymouth.1 - 0.12);
    // The point is well inside some radio circle: only the land clip keeps it clear.
    let inside_a_circle = atlas.outlets_in(&radio).iter().any(|o| match o.reach {
        crate::Reach::Circle { radius_km } => {
            let dy = (sea.1 - o.lat) * 111.32;
            let dx = (sea.0 - o.lon) * 111.32 * o.lat.to_radians().cos();
            dx.hypot(dy) < radius_km * 0.8
        }
        _ => false,
    });
    assert!(inside_a_circle, "some radio circle reaches the sea point");
    assert_eq!(alpha(sea), 0, "Plymouth Sound's open sea is not covered");
}

#[tokio::test]
async fn the_basemap_draws_land_boundaries_and_labels_that_agree_across_tile_edges() {
    let (_d, atlas) = atlas().await;
    // London at zoom 9: land, and "London" labelled.
    let tile = TileId::containing(-0.1276, 51.5072, 9, 1);
    let png = base::render(&atlas, tile).expect("render").expect("land");
    let img = image::load_from_memory(&png).expect("png").to_rgba8();
    let land = img
        .pixels()
        .filter(|p| p.0 == [0xe8, 0xee, 0xe4, 0xff])
        .count();
    let ink = img
        .pixels()
        .filter(|p| p.0[3] > 0xc0 && p.0[0] < 0x50 && p.0[1] < 0x60)
        .count();
    assert!(land > 30_000, "mostly land: {land} pixels");
    assert!(ink > 150, "dark label text: {ink} pixels");
    assert_eq!(
        base::render(&atlas, tile).expect("render").expect("land"),
        png,
        "the same tile twice: the same bytes"
    );
    // The open Atlantic: the shared empty tile.
    let atlantic = TileId::containing(-20.0, 45.0, 8, 1);
    assert_eq!(base::render(&atlas, atlantic).expect("render"), None);

    // A label crossing a tile's right edge is drawn on both sides of it, on
    // the same rows.
    let z = 9;
    let label = base::labels(&atlas, z, 1)
        .expect("labels")
        .iter()
        .find(|l| {
            let b = l.bounds;
            (b[0] / 256.0).floor() != (b[2] / 256.0).floor() && b[2] - b[0] > 20.0
        })
        .cloned()
        .expect("some label crosses a vertical tile edge");
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (x, y) = (
        (label.bounds[0] / 256.0).floor() as u32,
        (((label.bounds[1] + label.bounds[3]) / 2.0) / 256.0).floor() as u32,
    );
    let load = |x: u32| {
        let png = base::render(&atlas, TileId::new(z.into(), x, y, 1).expect("tile"))
            .expect("render")
            .expect("land");
        image::load_from_memory(&png).expect("png").to_rgba8()
    };
    let (l, r) = (load(x), load(x + 1));
    let dark = |p: &image::Rgba<u8>| p.0[3] > 0x80 && p.0[0] < 0x90 && p.0[1] < 0x90;
    let rows = |img: &image::RgbaImage, col: u32| -> Vec<u32> {
        (0..256)
            .filter(|&row| {
                (col.saturating_sub(6)..=(col + 6).min(255)).any(|c| dark(img.get_pixel(c, row)))
            })
            .collect()
    };
    let (left_rows, right_rows) = (rows(&l, 255), rows(&r, 0));
    let shared = left_rows.iter().filter(|r| right_rows.contains(r)).count();
    assert!(
        shared >= 3,
        "{label:?}: ink on both sides of the edge on the same rows ({left_rows:?} / {right_rows:?})"
    );
}

#[test]
fn a_ring_larger_than_the_tile_is_clipped_to_it() {
    let mut out = Vec::new();
    // A square around the tile, and a triangle with a corner inside it.
    clip_ring(
        &[
            (-100.0, -100.0),
            (400.0, -100.0),
            (400.0, 400.0),
            (-100.0, 400.0),
        ],
        -4.0,
        260.0,
        &mut out,
    );
    assert_eq!(out.len(), 4);
    for (x, y) in &out {
        assert!(
            [-4.0, 260.0].contains(x) && [-4.0, 260.0].contains(y),
            "{out:?}"
        );
    }
    clip_ring(
        &[(100.0, 100.0), (1000.0, 100.0), (100.0, 1000.0)],
        -4.0,
        260.0,
        &mut out,
    );
    assert!(out.contains(&(100.0, 100.0)), "{out:?}");
    assert!(out
        .iter()
        .all(|&(x, y)| (-4.0..=260.0).contains(&x) && (-4.0..=260.0).contains(&y)));
    // Wholly outside: nothing.
    clip_ring(
        &[(300.0, 300.0), (400.0, 300.0), (400.0, 400.0)],
        -4.0,
        260.0,
        &mut out,
    );
    assert!(out.is_empty());
}

#[tokio::test]
async fn only_keys_signed_with_the_databases_key_are_served() {
    let (_d, atlas, tiles) = service(TileSettings::default()).await;
    let key = tiles.key(&layer("unit:luton", "")).await.expect("key");
    let signed = tiles.signed(&key).await.expect("signed");
    let tile = TileId::containing(LUTON.0, LUTON.1, 10, 1);
    tiles
        .get(&signed, tile)
        .await
        .expect("a signed key is served");
    // Another replica on the same database reads the same signing key.
    let replica = TileService::new(atlas, TileSettings::default());
    assert_eq!(replica.signed(&key).await.expect("signed"), signed);
    replica.get(&signed, tile).await.expect("and serves it");
    // Unsigned, forged, truncated, or signed by another database: refused.
    let (_d2, _a2, elsewhere) = service(TileSettings::default()).await;
    let foreign = elsewhere.signed(&key).await.expect("signed");
    let mut forged = signed.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        key.encode(),
        forged,
        signed[..signed.len() - 4].to_owned(),
        foreign,
    ] {
        let err = tiles.get(&bad, tile).await.expect_err("refused");
        assert!(matches!(err, Error::NotFound(_)), "{bad}: {err}");
        assert!(
            err.to_string().contains("not one this server handed out"),
            "{err}"
        );
    }
}

#[test]
fn fills_add_up_like_alpha_blending_of_one_colour() {
    let mut coverage = Coverage::new(16).expect("coverage");
    let square =
        PathBuilder::from_rect(tiny_skia::Rect::from_ltrb(0.0, 0.0, 16.0, 16.0).expect("rect"));
    let left =
        PathBuilder::from_rect(tiny_skia::Rect::from_ltrb(0.0, 0.0, 8.0, 16.0).expect("rect"));
    coverage.add(OutletKind::Newspaper, 1, Some(&square));
    coverage.add(OutletKind::Newspaper, 2, Some(&left));
    let pm = coverage.composite().expect("composite").expect("filled");
    let a = f64::from(FILL_ALPHA) / 255.0;
    let expect = |n: i32| (255.0 * (1.0 - (1.0 - a).powi(n))).round();
    // Right half: one fill. Left half: three (1 + a group of 2).
    let right = pm.pixel(12, 8).expect("pixel").alpha();
    let left = pm.pixel(3, 8).expect("pixel").alpha();
    assert!(
        (f64::from(right) - expect(1)).abs() <= 1.0,
        "{right} vs {}",
        expect(1)
    );
    assert!(
        (f64::from(left) - expect(3)).abs() <= 1.0,
        "{left} vs {}",
        expect(3)
    );
    // Straight colour is the kind's, whatever the depth.
    let c = pm.pixel(3, 8).expect("pixel").demultiply();
    assert!((i32::from(c.red()) - 0xc2).abs() <= 2 && (i32::from(c.green()) - 0x41).abs() <= 2);
}

#[tokio::test]
async fn the_memory_cache_evicts_the_least_recently_used_tile() {
    // Room for three empty tiles (64 bytes each).
    let (_d, _a, tiles) = service(TileSettings {
        memory_bytes: 3 * 64,
        ..TileSettings::default()
    })
    .await;
    let key = url_key(&tiles, &layer("unit:luton", "")).await;
    let atlantic = |x| TileId::new(6, x, 0, 1).expect("tile");
    for x in 0..3 {
        tiles.get(&key, atlantic(x)).await.expect("tile");
    }
    assert_eq!(tiles.renders(), 3);
    tiles.get(&key, atlantic(0)).await.expect("a hit");
    assert_eq!(tiles.renders(), 3);
    // A fourth tile: the least recently used (1, not 0) makes room.
    tiles.get(&key, atlantic(3)).await.expect("tile");
    assert_eq!(tiles.renders(), 4);
    tiles.get(&key, atlantic(0)).await.expect("still cached");
    assert_eq!(tiles.renders(), 4);
    tiles.get(&key, atlantic(1)).await.expect("rendered again");
    assert_eq!(tiles.renders(), 5);
}

#[test]
fn polygons_round_or_clear_of_a_tile_are_not_rasterised() {
    use geo::{LineString, Polygon};
    let tile = TileId::containing(0.5, 52.0, 12, 1);
    let [w, s, e, n] = tile.bounds();
    let square = |w: f64, s: f64, e: f64, n: f64| {
        LineString::from(vec![(w, s), (e, s), (e, n), (w, n), (w, s)])
    };
    let (dx, dy) = (e - w, n - s);
    // Round the tile: full, no path to fill.
    let round = Polygon::new(square(w - dx, s - dy, e + dx, n + dy), vec![]);
    assert!(matches!(outline(tile, [&round]).shape(), Shape::Full));
    // The tile in its hole: nothing.
    let holed = Polygon::new(
        square(w - 3.0 * dx, s - 3.0 * dy, e + 3.0 * dx, n + 3.0 * dy),
        vec![square(w - dx, s - dy, e + dx, n + dy)],
    );
    assert!(matches!(outline(tile, [&holed]).shape(), Shape::Empty));
    // Three pixels beside the tile (within the margin paths keep, beyond
    // where a stroke would show): nothing on it.
    let beside = Polygon::new(square(e + dx * 3.0 / 256.0, s, e + dx, n), vec![]);
    assert!(matches!(outline(tile, [&beside]).shape(), Shape::Empty));
    // An edge across the tile: rasterised.
    let half = Polygon::new(square(w + dx / 2.0, s - dy, e + dx, n + dy), vec![]);
    assert!(matches!(outline(tile, [&half]).shape(), Shape::Partial(_)));
    // A hole inside the tile: rasterised.
    let pierced = Polygon::new(
        square(w - dx, s - dy, e + dx, n + dy),
        vec![square(
            w + dx / 4.0,
            s + dy / 4.0,
            e - dx / 4.0,
            n - dy / 4.0,
        )],
    );
    assert!(matches!(
        outline(tile, [&pierced]).shape(),
        Shape::Partial(_)
    ));
}

#[tokio::test]
async fn a_tile_is_the_same_whatever_the_thread_rendered_before() {
    let (_d, atlas) = atlas().await;
    let area = atlas.select("area:east-of-england", "").expect("select");
    let radio = atlas
        .select("county:bedfordshire", "radio")
        .expect("select");
    let busy = TileId::containing(BEDFORD.0, BEDFORD.1, 9, 1);
    let quiet = TileId::containing(BEDFORD.0, BEDFORD.1, 12, 1);
    // On a thread of its own that has drawn nothing else first.
    let fresh = |sel: Selection, tile: TileId| {
        let atlas = atlas.clone();
        std::thread::spawn(move || render(&atlas, &[sel], tile).expect("render"))
            .join()
            .expect("thread")
    };
    let alone_quiet = fresh(radio.clone(), quiet).expect("radio reaches Bedford");
    let alone_busy = fresh(area.clone(), busy).expect("the area is drawn");
    // One thread, one after another, both ways round.
    for _ in 0..2 {
        let after_busy = render(&atlas, std::slice::from_ref(&radio), quiet)
            .expect("render")
            .expect("png");
        assert_eq!(after_busy, alone_quiet);
        let after_quiet = render(&atlas, std::slice::from_ref(&area), busy)
            .expect("render")
            .expect("png");
        assert_eq!(after_quiet, alone_busy);
    }
}

#[test]
fn circles_drawn_by_rows_match_the_rasteriser_and_keep_to_the_land() {
    // Land on the left 40 columns of 64.
    let mut land = Mask::new(64, 64).expect("mask");
    land.fill_path(
        &PathBuilder::from_rect(tiny_skia::Rect::from_ltrb(0.0, 0.0, 40.0, 64.0).expect("rect")),
        FillRule::Winding,
        false,
        Transform::identity(),
    );
    // Two circles, one hanging over the top-left corner. On the rim the two
    // anti-aliasings differ by up to a quarter of a fill (tiny-skia samples
    // four sub-rows a pixel).
    let circles = [((30.3, 33.7), 20.4), ((-5.0, 4.0), 18.2)];
    let mut coverage = Coverage::new(64).expect("coverage");
    for (centre, r) in circles {
        coverage.add_circle(OutletKind::Radio, 1, centre, r);
    }
    coverage.fold_circles(&land);
    let pm = coverage.composite().expect("composite").expect("filled");
    // The same circles through tiny-skia, one alpha fill each.
    let mut reference = Pixmap::new(64, 64).expect("pixmap");
    let mut paint = Paint::default();
    paint.set_color_rgba8(0, 0, 0, FILL_ALPHA);
    paint.anti_alias = true;
    for ((cx, cy), r) in circles {
        let p = PathBuilder::from_circle(cx, cy, r).expect("circle");
        reference.fill_path(
            &p,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            Some(&land),
        );
    }
    let (mut ours, mut theirs) = (0u32, 0u32);
    for y in 0..64 {
        for x in 0..64 {
            let a = pm.pixel(x, y).expect("pixel").alpha();
            let b = reference.pixel(x, y).expect("pixel").alpha();
            assert!(
                a.abs_diff(b) <= 10,
                "pixel {x},{y}: {a} drawn by rows, {b} by tiny-skia"
            );
            if x >= 40 {
                assert_eq!(a, 0, "pixel {x},{y} is at sea");
            }
            ours += u32::from(a);
            theirs += u32::from(b);
        }
    }
    // Inside both: two fills' worth; inside one: one.
    let one = pm.pixel(30, 40).expect("pixel").alpha();
    let two = pm.pixel(8, 18).expect("pixel").alpha();
    assert_eq!(one, reference.pixel(30, 40).expect("pixel").alpha());
    assert!(two.abs_diff(reference.pixel(8, 18).expect("pixel").alpha()) <= 1);
    // Over the whole tile within one per cent.
    assert!(
        f64::from(ours.abs_diff(theirs)) < f64::from(theirs) * 0.01,
        "{ours} vs {theirs}"
    );
    // And it leaves nothing behind for the next tile.
    assert!(coverage.composite().expect("composite").is_none());
    assert!(coverage.circles.iter().flatten().all(|d| *d == 0.0));
    assert!(coverage.depth.iter().flatten().all(|d| *d == 0.0));
}

/// Bytes the files and folders under `dir` really take on the disk.
fn disk_use(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let m = e.metadata().expect("metadata");
        total += m.blocks() * 512;
        if m.is_dir() {
            total += disk_use(&e.path());
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_tiles_keeps_the_disk_under_its_bound() {
    let disk = tempfile::tempdir().expect("disk");
    let bound = 96 * 1024;
    let settings = TileSettings {
        disk: Some(disk.path().to_owned()),
        disk_max_bytes: bound,
        ..TileSettings::default()
    };
    let (_d, atlas, tiles) = service(settings.clone()).await;
    // Basemap tiles (public) over London and the sea beside it, all distinct.
    let centre = TileId::containing(-0.1, 51.5, 10, 1);
    let mut asked = 0;
    for dx in 0..8 {
        for dy in 0..5 {
            let t = TileId::new(10, centre.x - 4 + dx, centre.y - 2 + dy, 1).expect("tile");
            tiles.base(t).await.expect("tile");
            asked += 1;
        }
    }
    for x in 0..20 {
        tiles
            .base(TileId::new(12, x, 0, 1).expect("tile"))
            .await
            .expect("empty tile");
        asked += 1;
    }
    let files = walk(disk.path()).len();
    assert!(
        files < asked,
        "{files} files kept of {asked}: some were evicted"
    );
    assert!(files > 1, "{files} files kept");
    let used = disk_use(disk.path());
    assert!(used <= bound, "{used} bytes on disk, bound {bound}");
    assert!(tiles.disk_bytes() <= bound);
    // A restart finds what is there and keeps to the same bound.
    let smaller = TileService::new(
        atlas,
        TileSettings {
            disk_max_bytes: bound / 2,
            ..settings
        },
    );
    smaller.prepare_disk().await.expect("prepare");
    assert!(smaller.disk_bytes() <= bound / 2);
    assert!(
        disk_use(disk.path()) <= bound / 2,
        "{}",
        disk_use(disk.path())
    );
    assert!(!walk(disk.path()).is_empty());
}

#[tokio::test]
async fn an_old_data_versions_tiles_are_deleted_from_disk() {
    let disk = tempfile::tempdir().expect("disk");
    // Left by an earlier run: an old version's tiles, a temporary file, and
    // someone else's files, which stay.
    let old = disk.path().join("0123abcd").join("feedfacefeedface");
    std::fs::create_dir_all(&old).expect("old");
    std::fs::write(old.join("9-1-2.png"), b"\x89PNG\r\n\x1a\nold").expect("old tile");
    std::fs::write(old.join("9-1-3.tmp77"), b"").expect("tmp");
    std::fs::write(old.join("notes.txt"), b"mine").expect("notes");
    std::fs::write(disk.path().join("README"), b"mine").expect("readme");
    let settings = TileSettings {
        disk: Some(disk.path().to_owned()),
        ..TileSettings::default()
    };
    let (_d, atlas, tiles) = service(settings).await;
    // On start.
    tiles.prepare_disk().await.expect("prepare");
    let left: Vec<_> = walk(disk.path());
    assert_eq!(
        left.iter()
            .filter_map(|p| p.file_name()?.to_str())
            .collect::<std::collections::BTreeSet<_>>(),
        ["README", "notes.txt"].into(),
        "{left:?}"
    );
    // When the data changes.
    let tile = TileId::containing(LUTON.0, LUTON.1, 10, 1);
    let before = atlas.atlas().await.expect("atlas").version().to_owned();
    tiles.base(tile).await.expect("tile");
    assert!(disk.path().join(&before).is_dir());
    let wide = crate::NewOutlet {
        name: "Luton Wide Post".into(),
        kind: model::geo::OutletKind::Newspaper,
        town: "Luton".into(),
        lon: LUTON.0,
        lat: LUTON.1,
        audience: 5,
        reach: crate::Reach::Circle { radius_km: 40.0 },
        source: "test".into(),
    };
    atlas.insert_outlets(&[wide], false).await.expect("insert");
    let (after, _) = tiles.base(tile).await.expect("tile");
    assert_ne!(after, before);
    assert!(
        !disk.path().join(&before).exists(),
        "the old version is gone"
    );
    assert_eq!(
        walk(&disk.path().join(&after)).len(),
        1,
        "the new version's tile is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_render_queue_refuses_at_once_and_a_render_nobody_waits_for_is_skipped() {
    let (_d, _a, tiles) = service(TileSettings {
        render_threads: 1,
        render_queue: 2,
        ..TileSettings::default()
    })
    .await;
    let at = |dx: u32| {
        let t = TileId::containing(LUTON.0, LUTON.1, 10, 1);
        TileId { x: t.x + dx, ..t }
    };
    let held = tiles.occupy_render_threads().await;
    let wait_for = |n: usize| {
        let tiles = tiles.clone();
        async move {
            for _ in 0..500 {
                if tiles.queued() == n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("{} queued, expected {n}", tiles.queued());
        }
    };
    let first = {
        let tiles = tiles.clone();
        tokio::spawn(async move { tiles.base(at(0)).await })
    };
    wait_for(1).await;
    // Asked again while queued: the same render, no second place in the queue.
    let same = {
        let tiles = tiles.clone();
        tokio::spawn(async move { tiles.base(at(0)).await })
    };
    let gone = {
        let tiles = tiles.clone();
        tokio::spawn(async move { tiles.base(at(1)).await })
    };
    wait_for(2).await;
    // Full: refused at once, nothing rendered.
    let err = tiles.base(at(2)).await.expect_err("busy");
    assert!(
        matches!(
            err,
            Error::Overloaded {
                retry_after_secs: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // The client of the second tile goes away before its render starts.
    gone.abort();
    assert!(gone.await.is_err(), "aborted");
    drop(held);
    let (_, a) = first.await.expect("task").expect("tile");
    let (_, b) = same.await.expect("task").expect("tile");
    assert_eq!(a.png, b.png);
    wait_for(0).await;
    assert_eq!(
        tiles.renders(),
        1,
        "one render for the first tile, none for the dropped"
    );
    assert_eq!(tiles.in_flight(), 0, "no slot left behind");
    // Asked again, it renders.
    tiles.base(at(1)).await.expect("tile");
    assert_eq!(tiles.renders(), 2);
}

/// Many requests for the same few tiles at once, on several threads: every
/// in-flight slot is gone when they are answered (a slot left behind would
/// hold its tile outside the memory budget for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crowds_asking_for_one_tile_leave_no_slot_behind() {
    let (_d, _a, tiles) = service(TileSettings {
        render_queue: 64,
        ..TileSettings::default()
    })
    .await;
    let base = TileId::containing(LUTON.0, LUTON.1, 9, 1);
    for round in 0..20u32 {
        let held = tiles.occupy_render_threads().await;
        let asks: Vec<_> = (0..48u32)
            .map(|i| {
                let tiles = tiles.clone();
                let t = TileId {
                    x: base.x + round,
                    y: base.y + i % 3,
                    ..base
                };
                tokio::spawn(async move { tiles.base(t).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(held);
        for a in asks {
            a.await.expect("task").expect("tile");
        }
        assert_eq!(tiles.in_flight(), 0, "round {round}: no slot left behind");
    }
}
