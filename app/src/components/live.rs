//! The change feed (`/api/events`, server-sent events) for live pages.

/// Calls `on_event` with the JSON `data` of every event of `topic` (the payload
/// the services published, as `{"origin": ..., "data": ...}`'s `data`) until the
/// calling component is cleaned up. The browser reconnects a dropped feed itself.
#[cfg(feature = "hydrate")]
pub fn subscribe(topic: &str, mut on_event: impl FnMut(wasm_bindgen::JsValue) + 'static) {
    use leptos::prelude::on_cleanup;
    use wasm_bindgen::{closure::Closure, JsCast};
    let Ok(source) = web_sys::EventSource::new("/api/events") else {
        return;
    };
    let listener =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev
                .data()
                .as_string()
                .and_then(|text| js_sys::JSON::parse(&text).ok())
                .and_then(|v| js_sys::Reflect::get(&v, &"data".into()).ok())
                .unwrap_or(wasm_bindgen::JsValue::NULL);
            on_event(data);
        });
    let _ = source.add_event_listener_with_callback(topic, listener.as_ref().unchecked_ref());
    let keep = send_wrapper::SendWrapper::new((source, listener));
    on_cleanup(move || keep.0.close());
}
