//! Leaflet in the browser: the map is created in an effect (effects run only
//! after hydration) and removed when the page goes away. When the selection
//! changes, the overlay is cleared, the map fits the selection, its boundary is
//! drawn and the server is asked how to draw its outlets at that zoom (auto
//! mode, `/api/map/plan`): as vector pages (each page a GeoJSON layer, a
//! progress bar counting the pages) or as coverage tiles. As the user zooms,
//! the same rule ([`model::geo::AutoMode`]) switches between the two. A newer
//! selection, or a switch, cancels an older load.

use leaflet::{LatLng, LatLngBounds, LayerGroup, Map, MapOptions};
use leptos::{html::Div, prelude::*};
use model::geo::{AutoMode, DrawMode, OutletKind};
use send_wrapper::SendWrapper;
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::JsFuture;

use crate::pages::map::canvas::MapLayer;

#[wasm_bindgen]
extern "C" {
    /// `L.control.scale(options)`: the leaflet crate has no binding for it.
    #[wasm_bindgen(js_namespace = ["L", "control"], js_name = scale)]
    fn control_scale(options: &JsValue) -> leaflet::Control;

    /// `L.geoJSON(data, options)`: the crate declares it but does not export it.
    #[wasm_bindgen(js_namespace = L, js_name = geoJSON)]
    fn geo_json(data: &JsValue, options: &JsValue) -> leaflet::GeoJson;

    /// `L.tileLayer(url, options)` with options the crate has no setters for.
    #[wasm_bindgen(js_namespace = L, js_name = tileLayer)]
    fn tile_layer(url: &str, options: &JsValue) -> leaflet::TileLayer;
}

// The JavaScript parts live in a real module (not strings compiled with
// `Function`), so a Content-Security-Policy without 'unsafe-eval' holds.
#[wasm_bindgen(module = "/src/map/glue.js")]
extern "C" {
    /// Starts grouping the overlay's outlet markers on every zoom; answers the
    /// function that regroups now.
    #[wasm_bindgen(js_name = installGrouping)]
    fn install_grouping(
        map: &Map,
        overlay: &LayerGroup,
        container: &web_sys::HtmlElement,
    ) -> js_sys::Function;

    /// Options for one page of outlets: markers, reach style, popups.
    #[wasm_bindgen(js_name = outletOptions)]
    fn glue_outlet_options(colours: &JsValue, details_base: Option<String>) -> JsValue;
}

/// `map.getBoundsZoom(bounds)`: the zoom `fitBounds` will end at.
fn bounds_zoom(map: &Map, bounds: &LatLngBounds) -> f64 {
    js_sys::Reflect::get(map, &"getBoundsZoom".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(map, bounds).ok())
        .and_then(|z| z.as_f64())
        .unwrap_or(UK_ZOOM)
}

/// The server's answer for the current selection (see `/api/map/plan`).
#[derive(Clone)]
struct Plan {
    features: u32,
    auto: AutoMode,
    tiles: String,
}

/// What is on the map now: the selection, its plan, the mode drawn and the
/// layer group holding that mode's content (tiles or outlet pages).
struct Drawn {
    spec: MapLayer,
    plan: Plan,
    mode: DrawMode,
    content: LayerGroup,
}

use model::geo::{UK_CENTER, UK_ZOOM};

struct Handles {
    map: Map,
    overlay: LayerGroup,
    /// Regroups the outlet markers for the current zoom (`installGrouping` in glue.js).
    regroup: js_sys::Function,
}

/// Progress shown under the map: (pages loaded, pages, note).
pub(crate) type Progress = RwSignal<(u32, u32, String)>;

/// Creates the map in `container` once it is in the document, and draws
/// `layer` whenever it changes.
#[allow(clippy::too_many_lines)]
pub(crate) fn mount(container: NodeRef<Div>, layer: Signal<Option<MapLayer>>, progress: Progress) {
    let handles: StoredValue<Option<SendWrapper<Handles>>, LocalStorage> =
        StoredValue::new_local(None);
    let drawn: StoredValue<Option<Drawn>, LocalStorage> = StoredValue::new_local(None);
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let Some(el) = container.get() else { return };
        if handles.with_value(Option::is_none) {
            match create(&el) {
                Ok((map, overlay)) => {
                    let regroup = install_grouping(&map, &overlay, &el);
                    if let Some(url) = el.get_attribute("data-basemap").filter(|u| !u.is_empty()) {
                        // A configured XYZ basemap replaces the shipped land.
                        let options = leaflet::TileLayerOptions::new();
                        options.set_max_zoom(19.0);
                        options.set_attribution(
                            el.get_attribute("data-attribution").unwrap_or_default(),
                        );
                        leaflet::TileLayer::new_options(&url, &options).add_to(&map);
                        let _ = el.set_attribute("data-layers", "tiles");
                    } else {
                        // The server's own offline basemap (land, boundaries, towns).
                        let base = tile_layer(
                            "/tiles/base/{z}/{x}/{y}{r}.png",
                            &options(&[
                                ("maxZoom", JsValue::from_f64(20.0)),
                                ("className", JsValue::from_str("basemap")),
                                ("attribution", JsValue::from_str("Natural Earth, GeoNames")),
                            ])
                            .unwrap_or(JsValue::UNDEFINED),
                        );
                        base.add_to(&map);
                        let _ = el.set_attribute("data-layers", "base");
                    }
                    // Auto mode: a zoom across the rule's line switches the
                    // content between tiles and vectors, keeping the view.
                    let zoom_map = map.clone();
                    let zoom_el = el.clone();
                    let zoom_regroup = regroup.clone();
                    map.on_zoom_end(Box::new(move |_| {
                        let zoom = zoom_map.get_zoom();
                        let switch = drawn
                            .try_update_value(|d| {
                                let d = d.as_mut()?;
                                let want = d.plan.auto.choose(d.plan.features, zoom);
                                (want != d.mode).then(|| {
                                    d.mode = want;
                                    d.content.clear_layers();
                                    (d.spec.clone(), d.plan.clone(), d.content.clone(), want)
                                })
                            })
                            .flatten();
                        let Some((spec, plan, content, mode)) = switch else {
                            return;
                        };
                        let _ = zoom_regroup.call0(&JsValue::NULL);
                        let gen = generation.with_value(|g| g + 1);
                        generation.set_value(gen);
                        let el = zoom_el.clone();
                        let regroup = zoom_regroup.clone();
                        leptos::task::spawn_local(async move {
                            let current =
                                move || generation.try_with_value(|g| *g == gen).unwrap_or(false);
                            let result = draw_content(
                                &content, &spec, &plan, mode, &el, progress, &current, &regroup,
                            )
                            .await;
                            report(result, &current, &el, progress);
                        });
                    }));
                    // Tiles have no markers: a click asks what reaches that point.
                    let click_map = map.clone();
                    map.on_mouse_click(Box::new(move |e: leaflet::MouseEvent| {
                        let tiles = drawn
                            .try_with_value(|d| {
                                d.as_ref()
                                    .filter(|d| d.mode == DrawMode::Tiles)
                                    .map(|d| d.spec.clone())
                            })
                            .flatten();
                        let Some(spec) = tiles else { return };
                        let map = click_map.clone();
                        leptos::task::spawn_local(async move {
                            if let Err(e) = show_reach_at(&map, &spec, &e.lat_lng()).await {
                                leptos::logging::error!("could not ask what reaches here: {e:?}");
                            }
                        });
                    }));
                    handles.set_value(Some(SendWrapper::new(Handles {
                        map,
                        overlay,
                        regroup,
                    })));
                }
                Err(e) => {
                    leptos::logging::error!("could not create the map: {e:?}");
                    return;
                }
            }
        }
        let Some(spec) = layer.get() else { return };
        let gen = generation.with_value(|g| g + 1);
        generation.set_value(gen);
        let Some((map, overlay, regroup)) = handles.with_value(|h| {
            h.as_ref()
                .map(|h| (h.map.clone(), h.overlay.clone(), h.regroup.clone()))
        }) else {
            return;
        };
        // Until the new plan arrives, zooming switches nothing.
        drawn.set_value(None);
        overlay.clear_layers();
        let _ = regroup.call0(&JsValue::NULL);
        let [w, s, e, n] = spec.bounds;
        let bounds = LatLngBounds::new(&LatLng::new(s, w), &LatLng::new(n, e));
        let zoom = bounds_zoom(&map, &bounds).min(13.0);
        map.fit_bounds(&bounds);
        let _ = el.set_attribute("data-selection", &spec.selection);
        let _ = el.set_attribute("data-state", "loading");
        leptos::task::spawn_local(async move {
            let current = move || generation.try_with_value(|g| *g == gen).unwrap_or(false);
            let result = async {
                let Some(plan) = boundary_and_plan(&overlay, &spec, zoom, &current).await? else {
                    return Ok(());
                };
                let content = LayerGroup::new();
                overlay.add_layer(&content);
                // The user may have zoomed while the plan was on its way.
                let mode = plan.auto.choose(plan.features, map.get_zoom());
                drawn.set_value(Some(Drawn {
                    spec: spec.clone(),
                    plan: plan.clone(),
                    mode,
                    content: content.clone(),
                }));
                draw_content(
                    &content, &spec, &plan, mode, &el, progress, &current, &regroup,
                )
                .await
            }
            .await;
            report(result, &current, &el, progress);
        });
    });
    on_cleanup(move || {
        if let Some(Some(h)) = handles.try_update_value(Option::take) {
            h.map.remove();
        }
    });
}

fn create(el: &web_sys::HtmlElement) -> Result<(Map, LayerGroup), JsValue> {
    let options = MapOptions::new();
    options.set_min_zoom(4.0);
    options.set_max_zoom(13.0);
    options.set_zoom_snap(0.5);
    let map = Map::new_with_element(el, &options)?;
    map.set_view(&LatLng::new(UK_CENTER.0, UK_CENTER.1), UK_ZOOM);
    let scale = js_sys::Object::new();
    js_sys::Reflect::set(&scale, &"imperial".into(), &JsValue::TRUE)?;
    js_sys::Reflect::set(&scale, &"metric".into(), &JsValue::TRUE)?;
    control_scale(&scale).add_to(&map);
    // Panes, bottom to top: basemap tiles (Leaflet's tile pane, 200),
    // coverage tiles (350), boundary and outlets (overlay pane, 400).
    map.create_pane_by_name("coverage")
        .style()
        .set_property("z-index", "350")?;
    let overlay = LayerGroup::new();
    overlay.add_to(&map);
    Ok((map, overlay))
}

async fn fetch_json(url: &str) -> Result<JsValue, JsValue> {
    read_json(start_fetch(url)?, url).await
}

/// Sends a GET at once (the browser runs it while other work is awaited).
fn start_fetch(url: &str) -> Result<JsFuture, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    Ok(JsFuture::from(window.fetch_with_str(url)))
}

/// The JSON answer of a GET started by [`start_fetch`].
async fn read_json(pending: JsFuture, url: &str) -> Result<JsValue, JsValue> {
    let response: web_sys::Response = pending.await?.dyn_into()?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()).into());
    }
    JsFuture::from(response.json()?).await
}

fn options(pairs: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        js_sys::Reflect::set(&o, &JsValue::from_str(k), v)?;
    }
    Ok(o.into())
}

/// An object mapping each kind to its colour.
fn colours() -> Result<JsValue, JsValue> {
    let pairs: Vec<(&str, JsValue)> = OutletKind::ALL
        .iter()
        .map(|k| (k.as_str(), JsValue::from_str(k.colour())))
        .collect();
    options(&pairs)
}

/// Options for one page of outlets: coloured markers, faint reach, a popup
/// with a link to the outlet's details (none for someone holding a share link).
fn outlet_options(spec: &MapLayer) -> Result<JsValue, JsValue> {
    let details = spec.share.is_none().then(|| {
        let mut base = format!("/map?sel={}", js_sys::encode_uri_component(&spec.selection));
        if !spec.kinds.is_empty() {
            base.push_str(&format!(
                "&kinds={}",
                js_sys::encode_uri_component(&spec.kinds)
            ));
        }
        base.push_str("&outlet=");
        base
    });
    Ok(glue_outlet_options(&colours()?, details))
}

/// Says on the page that drawing failed (unless a newer drawing replaced it).
fn report(
    result: Result<(), JsValue>,
    current: &dyn Fn() -> bool,
    el: &web_sys::HtmlElement,
    progress: Progress,
) {
    match result {
        Ok(()) => {}
        Err(e) if current() => {
            leptos::logging::error!("could not draw the selection: {e:?}");
            progress.set((
                0,
                0,
                "The outlets could not be loaded; reload the page to try again.".into(),
            ));
            let _ = el.set_attribute("data-state", "error");
        }
        Err(_) => {}
    }
}

/// The query naming the selection, as every data request writes it.
fn data_query(spec: &MapLayer) -> String {
    let mut query = format!("sel={}", js_sys::encode_uri_component(&spec.selection));
    if !spec.kinds.is_empty() {
        query.push_str(&format!("&kinds={}", spec.kinds));
    }
    query.push_str(&format!("&v={}", spec.version));
    query.push_str(&share_query(spec));
    query
}

fn share_query(spec: &MapLayer) -> String {
    spec.share
        .as_ref()
        .map(|t| format!("&share={}", js_sys::encode_uri_component(t)))
        .unwrap_or_default()
}

fn number(v: &JsValue, key: &str) -> Result<f64, JsValue> {
    js_sys::Reflect::get(v, &key.into())?
        .as_f64()
        .ok_or_else(|| format!("the server's answer has no number {key:?}").into())
}

/// Draws the selection's boundary and asks the server how to draw its outlets
/// at `zoom` (both requests in flight at once). `None` when a newer drawing took
/// over meanwhile.
async fn boundary_and_plan(
    overlay: &LayerGroup,
    spec: &MapLayer,
    zoom: f64,
    current: &dyn Fn() -> bool,
) -> Result<Option<Plan>, JsValue> {
    let query = data_query(spec);
    let boundary_url = format!("/api/features/boundary.geojson?{query}");
    let plan_url = format!("/api/map/plan?{query}&z={zoom}");
    let (boundary, plan) = (start_fetch(&boundary_url)?, start_fetch(&plan_url)?);
    let boundary = read_json(boundary, &boundary_url).await?;
    if !current() {
        return Ok(None);
    }
    let outline = options(&[
        ("color", JsValue::from_str("#17324d")),
        ("weight", JsValue::from_f64(2.0)),
        ("fill", JsValue::FALSE),
        ("interactive", JsValue::FALSE),
        ("className", JsValue::from_str("selection-boundary")),
    ])?;
    overlay.add_layer(&geo_json(&boundary, &options(&[("style", outline)])?));
    let plan = read_json(plan, &plan_url).await?;
    if !current() {
        return Ok(None);
    }
    let auto = js_sys::Reflect::get(&plan, &"auto".into())?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(Plan {
        features: number(&plan, "features")? as u32,
        auto: AutoMode {
            max_vector_features: number(&auto, "max_vector_features")? as u32,
            min_vector_zoom: number(&auto, "min_vector_zoom")? as u8,
        },
        tiles: js_sys::Reflect::get(&plan, &"tiles".into())?
            .as_string()
            .ok_or("the plan has no tile URL")?,
    }))
}

/// Draws the selection's outlets in `mode` into `content`: coverage tiles, or
/// each page of outlets in turn.
#[allow(clippy::too_many_arguments)]
async fn draw_content(
    content: &LayerGroup,
    spec: &MapLayer,
    plan: &Plan,
    mode: DrawMode,
    el: &web_sys::HtmlElement,
    progress: Progress,
    current: &dyn Fn() -> bool,
    regroup: &js_sys::Function,
) -> Result<(), JsValue> {
    el.set_attribute("data-state", "loading")?;
    el.set_attribute("data-mode", mode_name(mode))?;
    if mode == DrawMode::Tiles {
        let tiles = tile_layer(
            &plan.tiles,
            &options(&[
                ("pane", JsValue::from_str("coverage")),
                ("maxZoom", JsValue::from_f64(20.0)),
                ("className", JsValue::from_str("coverage-tiles")),
            ])?,
        );
        content.add_layer(&tiles);
        let what = if plan.features <= plan.auto.max_vector_features {
            format!(
                "zoom in to level {} to see each outlet",
                plan.auto.min_vector_zoom
            )
        } else {
            format!(
                "choose a smaller region (at most {}) to see each outlet",
                plan.auto.max_vector_features
            )
        };
        progress.set((
            1,
            1,
            format!(
                "Reach of {} outlet{} drawn as coverage tiles: {what}.",
                plan.features,
                if plan.features == 1 { "" } else { "s" }
            ),
        ));
        el.set_attribute("data-outlets", &plan.features.to_string())?;
        el.set_attribute("data-state", "done")?;
        return Ok(());
    }
    let query = data_query(spec);
    let share = share_query(spec);
    let index = fetch_json(&format!("/api/features/index.json?{query}")).await?;
    let pages = js_sys::Reflect::get(&index, &"pages".into())?;
    let pages: js_sys::Array = pages.dyn_into()?;
    let total_outlets = number(&index, "total")?;
    let total = pages.length();
    progress.set((0, total, String::new()));
    let opts = outlet_options(spec)?;
    for (i, page) in pages.iter().enumerate() {
        if !current() {
            return Ok(());
        }
        let url = js_sys::Reflect::get(&page, &"geojson".into())?
            .as_string()
            .ok_or("page without a URL")?
            + &share;
        let data = fetch_json(&url).await?;
        if !current() {
            return Ok(());
        }
        content.add_layer(&geo_json(&data, &opts));
        regroup.call0(&JsValue::NULL)?;
        let done = u32::try_from(i + 1).unwrap_or(total);
        progress.set((done, total, String::new()));
        el.set_attribute("data-pages-loaded", &done.to_string())?;
    }
    progress.set((
        total,
        total,
        format!(
            "{} outlets drawn ({} page{})",
            total_outlets,
            total,
            if total == 1 { "" } else { "s" }
        ),
    ));
    el.set_attribute("data-outlets", &total_outlets.to_string())?;
    el.set_attribute("data-state", "done")?;
    Ok(())
}

/// A popup at `at` listing the selection's outlets that reach it (from
/// `/api/map/at`), each a link to its details unless the viewer holds a share link.
async fn show_reach_at(map: &Map, spec: &MapLayer, at: &LatLng) -> Result<(), JsValue> {
    let answer = fetch_json(&format!(
        "/api/map/at?{}&lon={:.5}&lat={:.5}",
        data_query(spec),
        at.lng(),
        at.lat()
    ))
    .await?;
    let total = number(&answer, "total")?;
    let outlets: js_sys::Array = js_sys::Reflect::get(&answer, &"outlets".into())?.dyn_into()?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let content = document.create_element("div")?;
    content.set_class_name("reach-at");
    let head = document.create_element("strong")?;
    head.set_text_content(Some(&if total == 0.0 {
        "No outlet of this selection reaches here.".to_owned()
    } else {
        format!(
            "{total} outlet{} reach{} here",
            if total == 1.0 { "" } else { "s" },
            if total == 1.0 { "es" } else { "" }
        )
    }));
    content.append_child(&head)?;
    if outlets.length() > 0 {
        let list = document.create_element("ul")?;
        for o in outlets.iter() {
            let text = |k: &str| {
                js_sys::Reflect::get(&o, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            let item = document.create_element("li")?;
            let name = if spec.share.is_some() {
                document.create_element("span")?
            } else {
                let a = document.create_element("a")?;
                a.set_attribute(
                    "href",
                    &format!(
                        "/map?sel={}{}&outlet={}",
                        js_sys::encode_uri_component(&spec.selection),
                        if spec.kinds.is_empty() {
                            String::new()
                        } else {
                            format!("&kinds={}", spec.kinds)
                        },
                        number(&o, "id")?
                    ),
                )?;
                a
            };
            name.set_text_content(Some(&text("name")));
            item.append_child(&name)?;
            item.append_child(&document.create_text_node(&format!(
                " ({}, {})",
                text("kind"),
                text("town")
            )))?;
            list.append_child(&item)?;
        }
        content.append_child(&list)?;
        if f64::from(outlets.length()) < total {
            let more = document.create_element("p")?;
            more.set_text_content(Some("…and more: the table lists every outlet."));
            content.append_child(&more)?;
        }
    }
    let popup = leaflet::Popup::new_with_lat_lng(at, &leaflet::PopupOptions::new());
    popup.set_content(&content.into());
    popup.open_on(map);
    Ok(())
}

const fn mode_name(mode: DrawMode) -> &'static str {
    match mode {
        DrawMode::Vectors => "vectors",
        DrawMode::Tiles => "tiles",
    }
}
