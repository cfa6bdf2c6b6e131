//! Leaflet in the browser: the map is created in an effect (effects run only
//! after hydration) and removed when the page goes away.

use leaflet::{LatLng, Map, MapOptions};
use leptos::{html::Div, prelude::*};
use send_wrapper::SendWrapper;
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `L.control.scale(options)`: the leaflet crate has no binding for it.
    #[wasm_bindgen(js_namespace = ["L", "control"], js_name = scale)]
    fn control_scale(options: &JsValue) -> leaflet::Control;

    /// `L.geoJSON(data, options)`: the crate declares it but does not export it.
    #[wasm_bindgen(js_namespace = L, js_name = geoJSON)]
    fn geo_json(data: &JsValue, options: &JsValue) -> leaflet::GeoJson;
}

use model::geo::{UK_CENTER, UK_ZOOM};

/// Creates the map in `container` once it is in the document.
pub(crate) fn mount(container: NodeRef<Div>) {
    let map: StoredValue<Option<SendWrapper<Map>>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let Some(el) = container.get() else { return };
        if map.with_value(Option::is_some) {
            return;
        }
        match create(&el) {
            Ok(m) => {
                let handle = m.clone();
                map.set_value(Some(SendWrapper::new(m)));
                leptos::task::spawn_local(async move {
                    if let Err(e) = add_land(&handle, &el).await {
                        leptos::logging::error!("could not draw the land outline: {e:?}");
                        let _ = el.set_attribute("data-error", "land outline unavailable");
                    }
                });
            }
            Err(e) => leptos::logging::error!("could not create the map: {e:?}"),
        }
    });
    on_cleanup(move || {
        if let Some(Some(m)) = map.try_update_value(Option::take) {
            m.remove();
        }
    });
}

fn create(el: &web_sys::HtmlElement) -> Result<Map, JsValue> {
    let options = MapOptions::new();
    options.set_min_zoom(4.0);
    options.set_max_zoom(12.0);
    options.set_zoom_snap(0.5);
    let map = Map::new_with_element(el, &options)?;
    map.set_view(&LatLng::new(UK_CENTER.0, UK_CENTER.1), UK_ZOOM);
    let scale = js_sys::Object::new();
    js_sys::Reflect::set(&scale, &"imperial".into(), &JsValue::TRUE)?;
    js_sys::Reflect::set(&scale, &"metric".into(), &JsValue::TRUE)?;
    control_scale(&scale).add_to(&map);
    Ok(map)
}

/// Fetches the shipped land polygons and draws them as the basemap.
async fn add_land(map: &Map, el: &web_sys::HtmlElement) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str("/api/geo/land.geojson"))
            .await?
            .dyn_into()?;
    if !response.ok() {
        return Err(format!("land outline: HTTP {}", response.status()).into());
    }
    let data = JsFuture::from(response.json()?).await?;
    let style = js_sys::Object::new();
    for (k, v) in [
        ("color", JsValue::from_str("#5b7083")),
        ("weight", JsValue::from_f64(1.0)),
        ("fillColor", JsValue::from_str("#e8eee4")),
        ("fillOpacity", JsValue::from_f64(1.0)),
        ("interactive", JsValue::FALSE),
        ("className", JsValue::from_str("land")),
    ] {
        js_sys::Reflect::set(&style, &k.into(), &v)?;
    }
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"style".into(), &style)?;
    map.add_layer(&geo_json(&data, &options));
    el.set_attribute("data-layers", "land")?;
    Ok(())
}
