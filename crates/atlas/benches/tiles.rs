//! Coverage tiles: ms per tile for a unit, a county and an area at three zooms,
//! rendered without caches (the renderer alone), and PNG encoding alone.
//!
//! `cargo bench -p atlas --bench tiles`

use atlas::{
    tiles::{render, TileId},
    AtlasService, Db,
};
use criterion::{criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let atlas = rt.block_on(async {
        let db = Db::connect(&url).await.expect("db");
        let service = AtlasService::new(db);
        service.seed(3000).await.expect("seed");
        service.atlas().await.expect("atlas")
    });
    // Centred on Bedford: the unit Bedford, the county Bedfordshire, the area
    // East of England.
    let (lon, lat) = (-0.4667, 52.1333);
    let mut g = c.benchmark_group("coverage tile, 256 px");
    g.sample_size(20);
    for (name, sel) in [
        ("unit", "unit:bedford"),
        ("county", "county:bedfordshire"),
        ("area", "area:east-of-england"),
    ] {
        let s = atlas.select(sel, "").expect("select");
        for z in [6u8, 9, 12] {
            let tile = TileId::containing(lon, lat, z, 1);
            // Warm the per-outlet reach geometry, as a running server has.
            let _ = render(&atlas, std::slice::from_ref(&s), tile);
            g.bench_function(format!("{name} z{z}"), |b| {
                b.iter(|| render(&atlas, std::slice::from_ref(&s), tile).expect("render"));
            });
        }
    }
    g.finish();

    // The tile set `cargo xtask bench` compares with Mapnik: every tile of
    // East of England's bounds at zooms 5 to 10, one after another.
    let mut g = c.benchmark_group("the seed's tile set");
    g.sample_size(10);
    let s = atlas.select("area:east-of-england", "").expect("select");
    let b = atlas.bounds(&s);
    let mut set = Vec::new();
    for z in 5..=10u8 {
        let nw = TileId::containing(b[0], b[3], z, 1);
        let se = TileId::containing(b[2], b[1], z, 1);
        for x in nw.x..=se.x {
            for y in nw.y..=se.y {
                set.push(TileId::new(u32::from(z), x, y, 1).expect("tile"));
            }
        }
    }
    g.bench_function(format!("area z5-10 ({} tiles)", set.len()), |bch| {
        bch.iter(|| {
            for &tile in &set {
                render(&atlas, std::slice::from_ref(&s), tile).expect("render");
            }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("PNG encoding alone (256 px, a full coverage tile)");
    let s = atlas.select("area:east-of-england", "").expect("select");
    let tile = TileId::containing(lon, lat, 9, 1);
    let png = render(&atlas, std::slice::from_ref(&s), tile)
        .expect("render")
        .expect("png");
    let rgba = image::load_from_memory(&png).expect("png").to_rgba8();
    // Speed against size: the renderer uses fast + adaptive.
    use image::codecs::png::{CompressionType, FilterType};
    for (name, compression, filter) in [
        (
            "fast + adaptive (used)",
            CompressionType::Fast,
            FilterType::Adaptive,
        ),
        (
            "fast + no filter",
            CompressionType::Fast,
            FilterType::NoFilter,
        ),
        (
            "default + adaptive",
            CompressionType::Default,
            FilterType::Adaptive,
        ),
        (
            "best + adaptive",
            CompressionType::Best,
            FilterType::Adaptive,
        ),
    ] {
        let encode = || {
            use image::ImageEncoder as _;
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new_with_quality(&mut out, compression, filter)
                .write_image(&rgba, 256, 256, image::ExtendedColorType::Rgba8)
                .expect("encode");
            out
        };
        eprintln!("PNG {name}: {} bytes", encode().len());
        g.bench_function(name, |b| b.iter(encode));
    }
    g.finish();
}

criterion_group!(tiles, benches);
criterion_main!(tiles);
