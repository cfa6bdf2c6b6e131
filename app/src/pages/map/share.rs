//! Share links: the page staff create and revoke them on (`/shares`), and the
//! read-only map (or checklist) a link opens (`/share/:token`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::canvas::{MapCanvas, MapLayer};
use crate::{
    components::share_links::{CreatedLink, ExpiresSelect, LinkTable},
    pages::checklist::SharedChecklist,
    serverfns::share::{list_share_links, open_share, CreateShareLink, RevokeShareLink},
};

/// `/share/:token`: the shared map, for anyone holding the link.
#[component]
pub fn SharedMapPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let shared = Resource::new(token, open_share);
    view! {
        <Title text="Shared map" />
        <Suspense fallback=|| view! { <p class="loading">"Opening the shared map…"</p> }>
            {move || Suspend::new(async move {
                shared.await.map(|m| {
                    if m.migration.is_some() {
                        return view! { <SharedChecklist token=token() /> }.into_any();
                    }
                    let expiry = m
                        .expires_at
                        .map_or_else(|| "It does not expire.".to_owned(), |at| format!("It expires on {at}."));
                    let layer = m.valid.then(|| MapLayer {
                        selection: m.selection.clone(),
                        kinds: String::new(),
                        bounds: m.bounds,
                        version: m.data_version.clone(),
                        share: Some(token()),
                    });
                    let note = (!m.valid).then(|| view! {
                        <p class="notice info">"This link's selection is not a region the map knows, so only the map is shown."</p>
                    });
                    view! {
                        <div class="page-head">
                            <h1>{m.label}</h1>
                            <p class="muted">
                                "A read-only map shared with you: selection " <code>{m.selection}</code> ". " {expiry}
                            </p>
                        </div>
                        {note}
                        <MapCanvas layer=Signal::stored(layer) />
                    }
                    .into_any()
                })
            })}
        </Suspense>
    }
}

/// `/shares`: create, list and revoke share links (staff and admins).
#[component]
pub fn ShareLinksPage() -> impl IntoView {
    if let Some(denied) =
        crate::components::errors::require(model::auth::Permission::ManageShareLinks)
    {
        return view! { <Title text="Share links" /> {denied} }.into_any();
    }
    let create = ServerAction::<CreateShareLink>::new();
    // "Share this map" on the map page links here with its selection.
    let preset =
        leptos_router::hooks::use_query_map().with_untracked(|q| q.get("sel").unwrap_or_default());
    let revoke = ServerAction::<RevokeShareLink>::new();
    let links = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_share_links(),
    );
    view! {
        <Title text="Share links" />
        <div class="page-head">
            <h1>"Share links"</h1>
            <p class="lede">"Read-only map links for people without an account. Revoke one and it stops working at once."</p>
        </div>
        <section class="panel">
            <h2>"New link"</h2>
            <ActionForm action=create attr:class="form-grid">
                <label>"Label" <input type="text" name="label" required maxlength=model::auth::limits::SHARE_LABEL_MAX placeholder="East of England reach for the client" /></label>
                <label>"Map selection" <input type="text" name="selection" required maxlength=model::auth::limits::SHARE_SELECTION_MAX value=preset placeholder="county:bedfordshire" /></label>
                <ExpiresSelect />
                <button type="submit" class="button button-primary">"Create link"</button>
            </ActionForm>
            {move || create.value().get().map(|r| view! { <CreatedLink result=r /> })}
        </section>
        <Suspense fallback=|| view! { <p class="loading">"Loading links…"</p> }>
            {move || Suspend::new(async move {
                links.await.map(|links| view! { <LinkTable links revoke /> })
            })}
        </Suspense>
    }
    .into_any()
}
