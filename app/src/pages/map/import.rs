//! `/import`: upload real outlets (CSV, GeoJSON or KML). The form posts to
//! `/import/outlets`, which answers with what was imported or every problem.
//! "Data problems" lists stored rows the map could not load and left out.

use leptos::prelude::*;
use leptos_meta::Title;
use model::geo::DataProblemSummary;

use crate::serverfns::map::data_problems;

/// The stored rows the map left out (the first few hundred), or a line saying
/// there are none.
#[component]
fn DataProblemList(problems: DataProblemSummary) -> impl IntoView {
    if problems.total == 0 {
        return view! { <p class="muted">"None: every stored region, town and outlet loads."</p> }
            .into_any();
    }
    let count = if problems.total > problems.shown.len() as u64 {
        format!(
            "{} stored rows could not be loaded (the first {} are listed)",
            problems.total,
            problems.shown.len()
        )
    } else if problems.total == 1 {
        "1 stored row could not be loaded".to_owned()
    } else {
        format!("{} stored rows could not be loaded", problems.total)
    };
    view! {
        <p>{count}" and are left out of the map; the rest is served. Import a corrected file (with “replace” for outlets) or fix the rows in the database."</p>
        <table class="data-problems">
            <thead><tr><th scope="col">"Table"</th><th scope="col">"Row"</th><th scope="col">"Problem"</th></tr></thead>
            <tbody>
                {problems.shown.into_iter().map(|p| view! {
                    <tr><td><code>{p.table}</code></td><td>{p.row}</td><td>{p.problem}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
pub fn ImportPage() -> impl IntoView {
    if let Some(denied) = crate::components::errors::require(model::auth::Permission::EditMap) {
        return view! { <Title text="Import outlets" /> {denied} }.into_any();
    }
    let problems = Resource::new(|| (), |()| data_problems());
    view! {
        <Title text="Import outlets" />
        <div class="page-head">
            <h1>"Import outlets"</h1>
            <p class="lede">"Add real media outlets from a file. The whole file is checked first: if anything is wrong, nothing is imported and every problem is listed with its line or feature and field."</p>
        </div>
        <section class="panel">
            <form method="post" action="/import/outlets" enctype="multipart/form-data" class="form-grid">
                <label>"File (.csv, .geojson or .kml)" <input type="file" name="file" accept=".csv,.geojson,.json,.kml" required /></label>
                <label class="check"><input type="checkbox" name="replace" value="1" />" Replace every outlet (the demo set included)"</label>
                <button type="submit" class="button button-primary">"Import"</button>
            </form>
        </section>
        <section class="panel">
            <h2>"Regions"</h2>
            <p>"Add your own regions to the tree (a sales area, a transmitter's footprint): GeoJSON or KML polygons, each with a "<code>"name"</code>" and optionally a "<code>"parent"</code>" code (no parent: a new area; under an area: a region; under a region: a sub-region) and a "<code>"code"</code>"."</p>
            <form method="post" action="/import/regions" enctype="multipart/form-data" class="form-grid">
                <label>"File (.geojson or .kml)" <input type="file" name="file" accept=".geojson,.json,.kml" required /></label>
                <button type="submit" class="button">"Import regions"</button>
            </form>
        </section>
        <section class="panel" id="data-problems">
            <h2>"Data problems"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Checking the stored map data…"</p> }>
                {move || Suspend::new(async move {
                    problems.await.map(|problems| view! { <DataProblemList problems /> })
                })}
            </Suspense>
        </section>
        <section class="panel">
            <h2>"Formats"</h2>
            <p><strong>"CSV"</strong>": a header line, then one outlet per line:"</p>
            <pre class="sample">"name,kind,town,lon,lat,audience,reach_regions,reach_km\nLuton Herald,newspaper,Luton,-0.4175,51.8797,12000,unit:luton;county:bedfordshire,\nChiltern FM,radio,Luton,-0.4175,51.8797,50000,,35"</pre>
            <p>"Kinds: newspaper, radio, tv, online. Reach is either region codes (as in the map's URL, separated by ;) or a radius in km around the outlet's home, clipped to land."</p>
            <p><strong>"GeoJSON"</strong>": a FeatureCollection; each feature's geometry is the home (a Point) or a GeometryCollection of the home and its reach polygons, with the same properties. "<strong>"KML"</strong>": Placemarks with a Point, optional Polygons and ExtendedData. The map's own GeoJSON and KML downloads import back as they are."</p>
        </section>
    }
    .into_any()
}
