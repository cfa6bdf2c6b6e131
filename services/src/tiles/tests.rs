//! Golden checks on real data: the shipped geography and the demo outlets.

use super::*;
use crate::{atlas::AtlasService, Db};

async fn atlas() -> (tempfile::TempDir, std::sync::Arc<Atlas>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::testing::database_url(dir.path()).await;
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
