//! The admin page's tables: users (with their role, password and disable
//! forms), active sessions, and the audit log.

use leptos::prelude::*;
use model::auth::{AuditEntry, Role, SessionSummary, UserSummary};

use crate::{
    components::shell::role_label,
    serverfns::admin::{EndSession, ResetUserPassword, SetUserDisabled, SetUserRole},
};

#[component]
pub fn RoleSelect(selected: Role) -> impl IntoView {
    view! {
        <select name="role">
            {Role::ALL.into_iter().map(|r| view! {
                <option value=r.as_str() selected=r == selected>{role_label(r)}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
pub fn UserTable(
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
pub fn SessionTable(sessions: Vec<SessionSummary>, end: ServerAction<EndSession>) -> impl IntoView {
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
pub fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
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
