//! Share-link pieces several pages show: the table of links with their revoke
//! buttons (share links page, admin), the expiry choice and the one-time
//! answer of a new link (share links page, a migration's share form).

use leptos::prelude::*;
use leptos_router::components::A;
use model::auth::{ShareLinkSummary, ShareState};

use crate::serverfns::share::RevokeShareLink;

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
