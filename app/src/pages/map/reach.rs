//! `/map`, the reach map: the region tree on the left, Leaflet (driven from
//! Rust) with the selection's boundary, outlets and reach, its statistics and
//! its outlets.
//!
//! Everything the page shows comes from the URL (`/map?sel=...&kinds=...&open=...
//! &q=...&outlet=...`, see [`MapQuery`]), so a link shows the same thing to
//! whoever opens it, and every control is a link or a GET form that works with
//! JavaScript off.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};
use model::geo::{MapView as View, OutletKind, OutletSummary, ReachStats};

use super::{
    canvas::{MapCanvas, MapLayer},
    query::MapQuery,
    tree::SidePanel,
};
use crate::serverfns::map::get_map_view;

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `/map`.
#[component]
pub fn MapPage() -> impl IntoView {
    let query = use_query_map();
    let current = Memo::new(move |_| {
        query.with(|q| MapQuery {
            sel: q.get("sel").unwrap_or_default(),
            kinds: q.get("kinds").unwrap_or_default(),
            open: q.get("open").unwrap_or_default(),
            q: q.get("q").unwrap_or_default(),
            outlet: q.get("outlet").and_then(|o| o.parse().ok()),
        })
    });
    let view_data = Resource::new(
        move || current.get(),
        |m| get_map_view(m.sel, m.kinds, m.open, m.q, m.outlet),
    );
    let layer = Signal::derive(move || {
        view_data.get().and_then(Result::ok).map(|v| MapLayer {
            kinds: v
                .kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
            selection: v.selection,
            bounds: v.bounds,
            version: v.data_version,
            share: None,
        })
    });
    let part = move |which: Part| {
        Suspend::new(async move {
            let q = current.get_untracked();
            view_data.await.map(|v| match which {
                Part::Side => view! { <SidePanel view=v query=q /> }.into_any(),
                Part::Head => view! { <MapHead view=v query=q /> }.into_any(),
                Part::Body => view! { <MapBody view=v query=q /> }.into_any(),
            })
        })
    };
    view! {
        <Title text="Reach map" />
        <div class="map-layout">
            <aside class="map-side panel" aria-label="Regions">
                <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading regions…"</p> }>
                    {move || part(Part::Side)}
                </Suspense>
            </aside>
            <div class="map-main">
                <Suspense fallback=|| view! { <h1>"Reach map"</h1> }>{move || part(Part::Head)}</Suspense>
                <MapCanvas layer />
                <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading figures…"</p> }>
                    {move || part(Part::Body)}
                </Suspense>
            </div>
        </div>
    }
}

#[derive(Clone, Copy)]
enum Part {
    Side,
    Head,
    Body,
}

#[component]
fn MapHead(view: View, query: MapQuery) -> impl IntoView {
    let kinds = OutletKind::ALL
        .iter()
        .map(|&k| {
            let on = view.kinds.is_empty() || view.kinds.contains(&k);
            let href = query.toggle_kind(k, on).href();
            let style = format!("--kind: {}", k.colour());
            view! {
                <A href=href attr:class=if on { "chip chip-on" } else { "chip" } attr:style=style attr:aria-pressed=on.to_string()>
                    <span class="swatch" aria-hidden="true"></span>{k.label()}
                </A>
            }
        })
        .collect_view();
    view! {
        <div class="page-head page-head-row">
            <h1>{view.title.clone()}</h1>
            {view.demo.then(|| view! { <span class="badge badge-demo" title="Generated outlets at real towns: not real media data">"Demo data"</span> })}
            {(!view.selection.is_empty()).then(|| {
                let href = format!("/shares?sel={}", model::geo::encode_query_value(&view.selection));
                move || crate::components::shell::use_me()
                    .filter(|me| me.can(model::auth::Permission::ManageShareLinks))
                    .map(|_| view! { <a class="button" href=href.clone()>"Share this map"</a> })
            })}
        </div>
        <div class="chips" role="group" aria-label="Outlet kinds">{kinds}</div>
    }
}

#[component]
fn MapBody(view: View, query: MapQuery) -> impl IntoView {
    let kinds = view
        .kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let per_kind = kind_bars(&view.stats);
    let index_href = format!(
        "/api/features/index.json?sel={}{}",
        model::geo::encode_query_value(&view.selection),
        if kinds.is_empty() {
            String::new()
        } else {
            format!("&kinds={kinds}")
        }
    );
    let page_href = |ext: &str| index_href.replace("index.json", &format!("1.{ext}"));
    let (kml, kmz, geojson) = (page_href("kml"), page_href("kmz"), page_href("geojson"));
    let outlets_heading = format!(
        "Outlets based here ({}{})",
        thousands(u64::from(view.outlet_total)),
        if view.outlet_total as usize > view.outlets.len() {
            format!(", the {} largest shown", view.outlets.len())
        } else {
            String::new()
        }
    );
    let outlet_rows = view
        .outlets
        .iter()
        .map(|o| outlet_row(o, &query))
        .collect_view();
    let details = view.outlet.clone().map(|(o, s)| {
        let close = MapQuery {
            outlet: None,
            ..query.clone()
        }
        .href();
        view! { <OutletDetails outlet=o stats=s close /> }
    });
    view! {
        {details}
        <section class="panel stats" aria-labelledby="stats-title">
            <h2 id="stats-title">"Reach of the selection"</h2>
            <dl class="figures">
                <div><dt>"Population in towns"</dt><dd>{thousands(view.stats.population)}</dd></div>
                <div><dt>"Towns"</dt><dd>{thousands(u64::from(view.stats.towns))}</dd></div>
                <div><dt>"Area"</dt><dd>{format!("{} km²", thousands(km2(view.stats.area_km2)))}</dd></div>
                <div><dt>"Outlets"</dt><dd>{thousands(u64::from(view.stats.outlets_by_kind.iter().sum::<u32>()))}</dd></div>
            </dl>
            {per_kind}
        </section>
        <section class="panel table-panel" aria-labelledby="outlets-title">
            <h2 id="outlets-title">{outlets_heading}</h2>
            {if view.outlets.is_empty() {
                view! { <p class="empty-state">"No outlets of these kinds are based here."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                        <table>
                            <thead><tr><th>"Outlet"</th><th>"Kind"</th><th>"Town"</th><th class="num">"Audience"</th><th>"Reach"</th></tr></thead>
                            <tbody>{outlet_rows}</tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <p class="muted small downloads">
                "Download this selection: "
                <a href=index_href.clone()>"index (JSON)"</a> " · page 1 as "
                <a href=kml download>"KML"</a> ", "
                <a href=kmz download>"KMZ"</a> ", "
                <a href=geojson download>"GeoJSON"</a>
                " · data version " <code>{view.data_version.clone()}</code>
            </p>
        </section>
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn km2(v: f64) -> u64 {
    v.max(0.0).round() as u64
}

fn outlet_row(o: &OutletSummary, query: &MapQuery) -> impl IntoView {
    let href = MapQuery {
        outlet: Some(o.id),
        ..query.clone()
    }
    .href();
    let style = format!("--kind: {}", o.kind.colour());
    let (name, kind, town, audience, reach) = (
        o.name.clone(),
        o.kind.label(),
        o.town.clone(),
        thousands(o.audience),
        o.reach.clone(),
    );
    view! {
        <tr>
            <td><A href=href>{name}</A></td>
            <td><span class="kind" style=style><span class="swatch" aria-hidden="true"></span>{kind}</span></td>
            <td>{town}</td>
            <td class="num">{audience}</td>
            <td>{reach}</td>
        </tr>
    }
}

/// A bar per kind: how many outlets of each are based in the selection.
fn kind_bars(stats: &ReachStats) -> impl IntoView {
    let max = stats
        .outlets_by_kind
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = OutletKind::ALL
        .iter()
        .zip(stats.outlets_by_kind)
        .map(|(k, n)| {
            let width = format!("width: {}%; --kind: {}", n * 100 / max, k.colour());
            view! {
                <div class="bar-row">
                    <span class="bar-label">{k.label()}</span>
                    <span class="bar-track"><span class="bar" style=width></span></span>
                    <span class="bar-value">{n}</span>
                </div>
            }
        })
        .collect_view();
    view! { <div class="bars" role="img" aria-label="Outlets by kind">{bars}</div> }
}

#[component]
fn OutletDetails(outlet: OutletSummary, stats: ReachStats, close: String) -> impl IntoView {
    let style = format!("--kind: {}", outlet.kind.colour());
    view! {
        <section class="panel outlet-details" aria-labelledby="outlet-title" style=style>
            <div class="page-head-row">
                <h2 id="outlet-title"><span class="swatch" aria-hidden="true"></span>{outlet.name.clone()}</h2>
                <A href=close attr:class="button">"Close"</A>
            </div>
            <p class="muted">
                {outlet.kind.label()} " in " {outlet.town.clone()} " · audience " {thousands(outlet.audience)}
                " · reach: " {outlet.reach.clone()}
                {outlet.demo.then_some(" · demo data")}
            </p>
            <dl class="figures">
                <div><dt>"Population reached (towns)"</dt><dd>{thousands(stats.population)}</dd></div>
                <div><dt>"Towns reached"</dt><dd>{thousands(u64::from(stats.towns))}</dd></div>
                <div><dt>"Area reached"</dt><dd>{format!("{} km²", thousands(km2(stats.area_km2)))}</dd></div>
                <div><dt>"Other outlets in that area"</dt><dd>{thousands(u64::from(stats.outlets_by_kind.iter().sum::<u32>()))}</dd></div>
            </dl>
        </section>
    }
}
