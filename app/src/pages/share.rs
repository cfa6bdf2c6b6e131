//! Share links: the list staff manage, and the read-only map a link opens.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};
use model::auth::{ShareLinkSummary, ShareState};

use crate::{
    pages::{
        checklist::SharedChecklist,
        map::{MapCanvas, MapLayer},
    },
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

#[component]
pub(crate) fn LinkTable(
    links: Vec<ShareLinkSummary>,
    revoke: ServerAction<RevokeShareLink>,
) -> impl IntoView {
    if links.is_empty() {
        return view! { <p class="panel empty-state">"No share links yet."</p> }.into_any();
    }
    view! {
        <section class="panel table-panel">
            <h2>"Links"</h2>
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"Label"</th><th>"Selection"</th><th>"Created"</th><th>"Expires"</th><th>"Opened"</th><th>"State"</th><th></th></tr></thead>
                    <tbody>
                        {links.into_iter().map(|l| {
                            let active = l.state == ShareState::Active;
                            let state = match l.state { ShareState::Active => "active", ShareState::Expired => "expired", ShareState::Revoked => "revoked" };
                            view! {
                                <tr>
                                    <td>{l.label}</td>
                                    <td><A href=selection_href(&l.selection)><code>{l.selection}</code></A></td>
                                    <td>{l.created_at} " by " {l.created_by}</td>
                                    <td>{l.expires_at.unwrap_or_else(|| "never".into())}</td>
                                    <td>{l.open_count}</td>
                                    <td><span class=format!("state state-{state}")>{state}</span></td>
                                    <td>{active.then(|| view! {
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=l.id />
                                            <button type="submit" class="button button-danger">"Revoke"</button>
                                        </ActionForm>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

/// Where a link's selection is seen in the app: a migration's checklist or the map.
fn selection_href(selection: &str) -> String {
    match selection.strip_prefix("migration:") {
        Some(id) => format!("/checklist/{id}"),
        None => format!("/map?sel={selection}"),
    }
}

/// How long a new share link lives (`expires_hours`), a week preselected.
#[component]
pub(crate) fn ExpiresSelect() -> impl IntoView {
    view! {
        <label>
            "Expires "
            <select name="expires_hours">
                <option value="">"never"</option>
                <option value="24">"after a day"</option>
                <option value="168" selected>"after a week"</option>
                <option value="720">"after 30 days"</option>
            </select>
        </label>
    }
}

/// The answer to "create a link": the URL, shown once, or why not.
#[component]
pub(crate) fn CreatedLink(result: Result<String, crate::error::AppError>) -> impl IntoView {
    match result {
        Ok(path) => view! {
            <p class="notice info" role="status">
                "Link created (copy it now: it is shown only once): "
                <a class="share-url" href=path.clone()>{path.clone()}</a>
            </p>
        }
        .into_any(),
        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}
