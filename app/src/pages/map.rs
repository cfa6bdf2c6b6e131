//! The reach map: the region tree on the left, Leaflet (driven from Rust) with
//! the selection's boundary, outlets and reach, its statistics and its outlets.
//!
//! Everything the page shows comes from the URL (`/map?sel=...&kinds=...&open=...
//! &q=...&outlet=...`), so a link shows the same thing to whoever opens it, and
//! every control is a link or a GET form that works with JavaScript off.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};
use model::geo::{MapView as View, OutletKind, OutletSummary, ReachStats, TreeNode};

use crate::serverfns::map::get_map_view;

/// What the URL says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MapQuery {
    sel: String,
    kinds: String,
    open: String,
    q: String,
    outlet: Option<i64>,
}

impl MapQuery {
    /// `/map?...` with empty parameters left out.
    fn href(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("sel", &self.sel),
            ("kinds", &self.kinds),
            ("open", &self.open),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", model::geo::encode_query_value(v)));
            }
        }
        if let Some(id) = self.outlet {
            parts.push(format!("outlet={id}"));
        }
        if parts.is_empty() {
            "/map".into()
        } else {
            format!("/map?{}", parts.join("&"))
        }
    }

    /// The same view with `code` selected (its branch opens by itself).
    fn select(&self, code: &str) -> Self {
        Self {
            sel: code.to_owned(),
            outlet: None,
            ..self.clone()
        }
    }

    /// The same view with `code` opened or closed in the tree.
    fn toggle(&self, code: &str, open_now: bool) -> Self {
        let mut open: Vec<&str> = self
            .open
            .split(',')
            .filter(|c| !c.is_empty() && *c != code)
            .collect();
        if !open_now {
            open.push(code);
        }
        Self {
            open: open.join(","),
            ..self.clone()
        }
    }

    /// The same view with `kind` added to or removed from the filter.
    fn toggle_kind(&self, kind: OutletKind, on: bool) -> Self {
        let mut kinds: Vec<OutletKind> = self
            .kinds
            .split(',')
            .filter_map(OutletKind::parse)
            .collect();
        if kinds.is_empty() {
            kinds = OutletKind::ALL.to_vec();
        }
        kinds.retain(|k| *k != kind);
        if !on {
            kinds.push(kind);
        }
        kinds.sort();
        let text = if kinds.len() == OutletKind::ALL.len() {
            String::new()
        } else {
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        Self {
            kinds: text,
            outlet: None,
            ..self.clone()
        }
    }
}

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
fn SidePanel(view: View, query: MapQuery) -> impl IntoView {
    let tree = view
        .tree
        .iter()
        .map(|n| tree_item(n, &query))
        .collect_view();
    let search_sel = query.sel.clone();
    let has_query = !view.query.is_empty();
    let clear = MapQuery {
        q: String::new(),
        ..query.clone()
    }
    .href();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(code) = PENDING_FOCUS.with(|p| p.borrow_mut().take()) {
            // After the new tree is in the document.
            request_animation_frame(move || {
                use wasm_bindgen::JsCast;
                let link = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| {
                        d.query_selector(&format!(
                            "li[data-code=\"{code}\"] > .tree-node > .tree-link"
                        ))
                        .ok()
                        .flatten()
                    })
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(link) = link {
                    let _ = link.focus();
                }
            });
        }
    });
    view! {
        <form method="get" action="/map" role="search" class="tree-search">
            <label for="tree-q" class="visually-hidden">"Find a region"</label>
            <input id="tree-q" type="search" name="q" value=view.query.clone() placeholder="Find a region…" autocomplete="off" />
            <input type="hidden" name="sel" value=search_sel />
            <button type="submit" class="button">"Find"</button>
        </form>
        {has_query.then(|| view! { <p class="muted small">"Regions matching “" {view.query.clone()} "” · " <A href=clear>"clear"</A></p> })}
        <nav aria-label="Region tree">
            {if view.tree.is_empty() {
                view! { <p class="empty-state">"No region matches."</p> }.into_any()
            } else {
                view! { <ul class="tree" role="tree" aria-label="Areas, regions and sub-regions" on:keydown=tree_keys>{tree}</ul> }.into_any()
            }}
        </nav>
        <p class="muted small">
            <A href="/map">"Whole UK"</A>
            {move || crate::components::shell::use_me().filter(|me| me.can(model::auth::Permission::EditMap)).map(|_| view! {
                " · " <a href="/import">"Import outlets"</a>
            })}
        </p>
    }
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

#[cfg(feature = "hydrate")]
thread_local! {
    /// The tree node to focus once the tree has re-rendered.
    static PENDING_FOCUS: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Arrow keys in the tree (the WAI-ARIA tree pattern): Up/Down move between
/// visible nodes, Right opens a node or enters it, Left closes it or goes to
/// its parent, Home/End jump to the first/last node. Tab and Enter work as on
/// any link, with or without JavaScript.
#[allow(clippy::needless_pass_by_value)]
fn tree_keys(ev: leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(tree) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(links) = tree.query_selector_all(".tree-link") else {
            return;
        };
        let links: Vec<web_sys::HtmlElement> = (0..links.length())
            .filter_map(|i| links.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .collect();
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let Some(at) = links
            .iter()
            .position(|l| Some(l.unchecked_ref::<web_sys::Element>()) == active.as_ref())
        else {
            return;
        };
        let item = links[at].closest("li[role=treeitem]").ok().flatten();
        let toggle = || {
            item.as_ref()
                .and_then(|i| {
                    i.query_selector(":scope > .tree-node > .tree-toggle")
                        .ok()
                        .flatten()
                })
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        };
        let expanded = item.as_ref().and_then(|i| i.get_attribute("aria-expanded"));
        // Opening or closing re-renders the tree: keep the focus on this node.
        let remember = || {
            let code = item.as_ref().and_then(|i| i.get_attribute("data-code"));
            PENDING_FOCUS.with(|p| *p.borrow_mut() = code);
        };
        let target = match ev.key().as_str() {
            "ArrowDown" => links.get(at + 1).cloned(),
            "ArrowUp" => at.checked_sub(1).and_then(|i| links.get(i).cloned()),
            "Home" => links.first().cloned(),
            "End" => links.last().cloned(),
            "ArrowRight" => match expanded.as_deref() {
                Some("false") => {
                    if let Some(t) = toggle() {
                        remember();
                        t.click();
                    }
                    None
                }
                Some("true") => links.get(at + 1).cloned(),
                _ => None,
            },
            "ArrowLeft" => {
                if expanded.as_deref() == Some("true") {
                    if let Some(t) = toggle() {
                        remember();
                        t.click();
                    }
                    None
                } else {
                    item.as_ref()
                        .and_then(|i| i.parent_element())
                        .and_then(|ul| ul.closest("li[role=treeitem]").ok().flatten())
                        .and_then(|p| {
                            p.query_selector(":scope > .tree-node > .tree-link")
                                .ok()
                                .flatten()
                        })
                        .and_then(|l| l.dyn_into::<web_sys::HtmlElement>().ok())
                }
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(t) = target {
            let _ = t.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

fn tree_item(node: &TreeNode, query: &MapQuery) -> AnyView {
    let select_href = query.select(&node.code).href();
    let toggle_href = query.toggle(&node.code, node.open).href();
    let toggle = node.has_children.then(|| {
        let text = if node.open { "−" } else { "+" };
        let aria = format!(
            "{} {}",
            if node.open { "Collapse" } else { "Expand" },
            node.name
        );
        view! { <A href=toggle_href attr:class="tree-toggle" attr:aria-label=aria>{text}</A> }
    });
    let children = (!node.children.is_empty()).then(|| {
        let items = node
            .children
            .iter()
            .map(|c| tree_item(c, query))
            .collect_view();
        view! { <ul role="group">{items}</ul> }
    });
    let class = if node.selected {
        "tree-node selected"
    } else {
        "tree-node"
    };
    let expanded: Option<String> = node.has_children.then(|| node.open.to_string());
    let selected = node.selected.to_string();
    let current: Option<&'static str> = node.selected.then_some("true");
    let count_label = format!("{} outlets", node.outlets);
    let (code, name, count) = (node.code.clone(), node.name.clone(), node.outlets);
    view! {
        <li role="treeitem" aria-expanded=expanded aria-selected=selected data-code=code>
            <span class=class>
                {toggle}
                <A href=select_href attr:class="tree-link" attr:aria-current=current>
                    {name} <span class="count" aria-label=count_label>{count}</span>
                </A>
            </span>
            {children}
        </li>
    }
    .into_any()
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

/// Where the basemap comes from: the shipped land (no URL) or XYZ tiles. The
/// server provides it as context; the map container carries it to the browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSettings {
    pub basemap_url: Option<String>,
    pub attribution: String,
}

/// What the map draws over the basemap.
#[derive(Clone, Debug, PartialEq)]
pub struct MapLayer {
    pub selection: String,
    pub kinds: String,
    pub bounds: [f64; 4],
    pub version: String,
    /// A share link's token: the map's data requests carry it instead of a session.
    pub share: Option<String>,
}

/// The Leaflet map. The server renders an empty container; once the app
/// hydrates, an effect creates the map in it and draws `layer` (see
/// `crate::map`). Without JavaScript a drawing of the land stands in.
#[component]
pub fn MapCanvas(#[prop(into)] layer: Signal<Option<MapLayer>>) -> impl IntoView {
    let container = NodeRef::<leptos::html::Div>::new();
    let progress = RwSignal::new((0u32, 0u32, String::new()));
    #[cfg(feature = "hydrate")]
    crate::map::mount(container, layer, progress);
    #[cfg(not(feature = "hydrate"))]
    let _ = &layer;
    let label = "Map of the selection".to_owned();
    let settings = use_context::<MapSettings>().unwrap_or_default();
    let attribution = settings
        .basemap_url
        .as_ref()
        .map(|_| settings.attribution.clone());
    view! {
        <div class="map-frame panel">
            <div id="map" class="map" node_ref=container role="region" aria-label=label data-basemap=settings.basemap_url data-attribution=attribution></div>
            <div class="map-progress" role="status" aria-live="polite">
                {move || {
                    let (done, total, note) = progress.get();
                    (total > 0 || !note.is_empty()).then(|| view! {
                        <progress max=total.max(1) value=done></progress>
                        <span>{if note.is_empty() { format!("Loading outlets: page {done} of {total}") } else { note }}</span>
                    })
                }}
            </div>
            <noscript>
                <figure class="map-fallback">
                    <img src="/api/geo/land.svg" alt="Outline of the United Kingdom and Ireland" width="400" />
                    <figcaption>"The interactive map needs JavaScript; the figures and lists below do not."</figcaption>
                </figure>
            </noscript>
        </div>
    }
}
