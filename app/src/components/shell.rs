//! The app shell: the header with its navigation and user menu, and the
//! hydration marker.

use leptos::prelude::*;
use leptos_router::components::A;
use model::auth::{Me, Permission, Role};

/// The signed-in user, if any, for this page load.
///
/// The server knows the user before it renders (the auth middleware put them in
/// the request), so this is a [`SharedValue`]: computed during SSR, serialized
/// into the page, read back while hydrating. No resource, no `Suspense`, no
/// round trip; signing in or out reloads the page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CurrentUser(pub Option<Me>);

/// Puts the [`CurrentUser`] in context; call once, at the top of the app.
pub fn provide_current_user() {
    let me = SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            crate::serverfns::principal().0.user().cloned()
        }
        #[cfg(not(feature = "ssr"))]
        {
            None::<Me>
        }
    })
    .into_inner();
    provide_context(CurrentUser(me));
}

/// The signed-in user, if any.
#[must_use]
pub fn use_me() -> Option<Me> {
    use_context::<CurrentUser>().and_then(|c| c.0)
}

/// Whether the signed-in user may do `permission` (no one signed in: no).
#[must_use]
pub fn can(permission: Permission) -> bool {
    use_me().is_some_and(|me| me.can(permission))
}

/// The header on every page: the product name, the parts the user may see,
/// and who is signed in.
#[component]
pub fn AppHeader() -> impl IntoView {
    view! {
        <header class="app-header">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◎"</span>
                "Switchboard"
            </A>
            {use_me().map(|me| view! { <MainNav me=me.clone() /> <UserMenu me /> })}
        </header>
    }
}

#[component]
fn MainNav(me: Me) -> impl IntoView {
    view! {
        <nav aria-label="Main">
            <ul>
                <li><A href="/map">"Map"</A></li>
                <li><A href="/health">"Health"</A></li>
                <li><A href="/firewall">"Firewall"</A></li>
                <li><A href="/checklist">"Checklist"</A></li>
                {me.can(Permission::ManageShareLinks).then(|| view! { <li><A href="/shares">"Share links"</A></li> })}
                {me.can(Permission::ManageUsers).then(|| view! { <li><A href="/admin">"Admin"</A></li> })}
            </ul>
        </nav>
    }
}

/// Name, role and the sign-out forms (plain posts: they work without JavaScript).
#[component]
fn UserMenu(me: Me) -> impl IntoView {
    view! {
        <details class="user-menu">
            <summary>
                <span class="user-name">{me.display_name.clone()}</span>
                <span class=format!("role-badge role-{}", me.role.as_str())>{role_label(me.role)}</span>
            </summary>
            <div class="user-menu-body">
                <p class="muted">"Signed in as " <strong>{me.username.clone()}</strong></p>
                <form method="post" action="/logout">
                    <button type="submit" class="button">"Sign out"</button>
                </form>
                <form method="post" action="/logout">
                    <input type="hidden" name="everywhere" value="1" />
                    <button type="submit" class="button button-quiet">"Sign out everywhere"</button>
                </form>
            </div>
        </details>
    }
}

/// A role as people read it.
#[must_use]
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Staff => "staff",
        Role::Admin => "admin",
    }
}

/// Marks `<html data-hydrated>` once the WebAssembly app has taken over the
/// page, so people's tools and the browser tests can tell SSR from hydrated.
#[component]
pub fn HydrationMarker() -> impl IntoView {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
