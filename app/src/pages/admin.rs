//! `/admin`: users, active sessions and the audit log (admins only).

use leptos::prelude::*;
use leptos_meta::Title;
use model::auth::{limits, AuditEntry, Role, SessionSummary, UserSummary};

use crate::{
    components::shell::role_label,
    pages::share::LinkTable,
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

#[component]
fn RoleSelect(selected: Role) -> impl IntoView {
    view! {
        <select name="role">
            {Role::ALL.into_iter().map(|r| view! {
                <option value=r.as_str() selected=r == selected>{role_label(r)}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
fn UserTable(
    users: Vec<UserSummary>,
    set_role: ServerAction<SetUserRole>,
    reset: ServerAction<ResetUserPassword>,
    disable: ServerAction<SetUserDisabled>,
) -> impl IntoView {
    view! {
        <section class="panel table-panel">
            <h2>"Users " <span class="count">{users.len()}</span></h2>
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"User"</th><th>"Role"</th><th>"Sessions"</th><th>"Created"</th><th>"Actions"</th></tr></thead>
                    <tbody>
                        {users.into_iter().map(|u| view! {
                            <tr class:disabled=u.disabled>
                                <td><strong>{u.username.clone()}</strong><br /><span class="muted">{u.display_name.clone()}</span>
                                    {u.disabled.then(|| view! { " " <span class="state state-revoked">"disabled"</span> })}</td>
                                <td>
                                    <ActionForm action=set_role attr:class="inline-form">
                                        <input type="hidden" name="user_id" value=u.id />
                                        <RoleSelect selected=u.role />
                                        <button type="submit" class="button button-quiet">"Set"</button>
                                    </ActionForm>
                                </td>
                                <td>{u.active_sessions}</td>
                                <td>{u.created_at.clone()}</td>
                                <td><div class="row-actions">
                                    <ActionForm action=reset attr:class="inline-form">
                                        <input type="hidden" name="user_id" value=u.id />
                                        <button type="submit" class="button button-quiet">"Reset password"</button>
                                    </ActionForm>
                                    <ActionForm action=disable attr:class="inline-form">
                                        <input type="hidden" name="user_id" value=u.id />
                                        <input type="hidden" name="disabled" value=(!u.disabled).to_string() />
                                        <button type="submit" class="button button-danger">{if u.disabled { "Enable" } else { "Disable" }}</button>
                                    </ActionForm>
                                </div></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn SessionTable(sessions: Vec<SessionSummary>, end: ServerAction<EndSession>) -> impl IntoView {
    view! {
        <section class="panel table-panel">
            <h2>"Active sessions " <span class="count">{sessions.len()}</span></h2>
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"User"</th><th>"Signed in"</th><th>"Last seen"</th><th>"From"</th><th></th></tr></thead>
                    <tbody>
                        {sessions.into_iter().map(|s| view! {
                            <tr>
                                <td>{s.username}</td>
                                <td>{s.created_at}</td>
                                <td>{s.last_seen_at}</td>
                                <td>{s.client_addr} <br /><span class="muted small">{s.user_agent}</span></td>
                                <td>
                                    <ActionForm action=end attr:class="inline-form">
                                        <input type="hidden" name="handle" value=s.handle />
                                        <button type="submit" class="button button-danger">"End"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <section class="panel table-panel">
            <h2>"Audit log"</h2>
            <div class="table-scroll">
                <table class="audit">
                    <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Detail"</th><th>"From"</th></tr></thead>
                    <tbody>
                        {entries.into_iter().map(|e| view! {
                            <tr>
                                <td>{e.at}</td><td>{e.actor}</td><td><code>{e.action}</code></td>
                                <td>{e.target}</td><td>{e.detail}</td><td>{e.client_addr}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
