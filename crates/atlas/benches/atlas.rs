//! The reach map's hot paths: writing one page of 250 features (GeoJSON, KML),
//! and reach statistics for an area and for one outlet. The shipped data and the
//! demo outlets, on a SQLite file in a temporary folder.
//!
//! `cargo bench -p atlas --bench atlas`

use atlas::{export, AtlasService, Db};
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
    let east = atlas.select("area:east-of-england", "").expect("select");
    let page = export::page(&atlas, &east, 1, 250).expect("page");
    // Reach polygons are computed once per outlet and kept: warm them first,
    // as a running server has after the first request.
    let _ = export::geojson(&atlas, &page);

    let mut g = c.benchmark_group("page of 250 outlets (East of England)");
    g.bench_function("GeoJSON", |b| b.iter(|| export::geojson(&atlas, &page)));
    g.bench_function("KML", |b| {
        b.iter(|| export::kml(&atlas, "East of England", &page));
    });
    let kml = export::kml(&atlas, "East of England", &page);
    for level in [1, 6] {
        let size = export::kmz_at(&kml, level).expect("kmz").len();
        eprintln!(
            "KMZ at deflate level {level}: {size} bytes from {} bytes of KML",
            kml.len()
        );
        g.bench_function(format!("KMZ from KML, deflate level {level}"), |b| {
            b.iter(|| export::kmz_at(&kml, level).expect("kmz"));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("reach statistics");
    g.bench_function("area selection (East of England)", |b| {
        b.iter(|| {
            let sel = atlas.select("area:east-of-england", "").expect("select");
            (atlas.stats(&sel), atlas.outlets_in(&sel).len())
        });
    });
    let uk = atlas.select("", "").expect("all");
    let radio = atlas
        .outlets_in(&uk)
        .into_iter()
        .find(|o| o.kind == model::geo::OutletKind::Radio)
        .expect("a radio outlet");
    g.bench_function("one radio outlet (circle clipped to land)", |b| {
        b.iter(|| atlas.reach_stats(radio));
    });
    g.finish();
}

criterion_group!(atlas, benches);
criterion_main!(atlas);
