//! `/admin`: the page (admins only) and its actions: add users, set roles,
//! reset passwords, disable users, end sessions, revoke share links.

use leptos::prelude::*;
use leptos_meta::Title;
use model::auth::{limits, Role};

use super::tables::{AuditTable, RoleSelect, SessionTable, UserTable};
use crate::{
    components::share_links::LinkTable,
    serverfns::admin::{
        list_audit, list_sessions, list_users, AddUser, EndSession, ResetUserPassword,
        SetUserDisabled, SetUserRole,
    },
    serverfns::share::{list_share_links, RevokeShareLink},
};

/// The admin page.
#[component]
pub fn AdminPage() -> impl IntoView {
    if let Some(denied) = crate::components::errors::require(model::auth::Permission::ManageUsers) {
        return view! { <Title text="Admin" /> {denied} }.into_any();
    }
    let add = ServerAction::<AddUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let end = ServerAction::<EndSession>::new();
    let revoke = ServerAction::<RevokeShareLink>::new();
    let changes = move || {
        (
            add.version().get(),
            set_role.version().get(),
            reset.version().get(),
            disable.version().get(),
            end.version().get(),
        )
    };
    let users = Resource::new(changes, |_| list_users());
    let sessions = Resource::new(changes, |_| list_sessions());
    let audit = Resource::new(
        move || (changes(), revoke.version().get()),
        |_| list_audit(),
    );
    let links = Resource::new(move || revoke.version().get(), |_| list_share_links());
    let outcome = move || {
        let errors = [
            add.value().get().and_then(Result::err),
            set_role.value().get().and_then(Result::err),
            disable.value().get().and_then(Result::err),
            end.value().get().and_then(Result::err),
            reset.value().get().and_then(Result::err),
        ];
        errors
            .into_iter()
            .flatten()
            .map(|e| view! { <p class="notice error" role="alert">{e.to_string()}</p> })
            .collect_view()
    };

    view! {
        <Title text="Admin" />
        <div class="page-head">
            <h1>"Admin"</h1>
            <p class="lede">"Users and their roles, who is signed in, and everything changed through Switchboard."</p>
        </div>
        {outcome}
        {move || reset.value().get().and_then(Result::ok).map(|pw| view! {
            <p class="notice info" role="status">"New password (shown once): " <code class="secret">{pw}</code></p>
        })}
        <Suspense fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                users.await.map(|users| view! { <UserTable users set_role reset disable /> })
            })}
        </Suspense>
        <section class="panel">
            <h2>"Add a user"</h2>
            <ActionForm action=add attr:class="form-grid">
                <label>"User name" <input type="text" name="username" required autocomplete="off" maxlength=limits::USERNAME_MAX /></label>
                <label>"Display name" <input type="text" name="display_name" maxlength=limits::DISPLAY_NAME_MAX /></label>
                <label>"Role" <RoleSelect selected=Role::Staff /></label>
                <label>"Password" <input type="password" name="password" required minlength=limits::PASSWORD_MIN maxlength=limits::PASSWORD_MAX autocomplete="new-password" /></label>
                <button type="submit" class="button button-primary">"Add user"</button>
            </ActionForm>
        </section>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                sessions.await.map(|sessions| view! { <SessionTable sessions end /> })
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                links.await.map(|links| view! { <LinkTable links revoke /> })
            })}
        </Suspense>
        <p class="muted">"New share links are made on the " <a href="/shares">"Share links"</a> " page."</p>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move { audit.await.map(|entries| view! { <AuditTable entries /> }) })}
        </Suspense>
    }
    .into_any()
}
