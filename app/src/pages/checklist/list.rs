//! `/checklist`: the migrations, each with its progress, and the form that
//! plans a new one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use model::{auth::Permission, checklist::MigrationSummary};

use super::components::{query_zone, ProgressBar, ZONES};
use crate::{
    components::shell::can,
    serverfns::checklist::{list_migrations, CreateMigration},
};

/// `/checklist`: the migrations, and a form for a new one.
#[component]
pub fn ChecklistPage() -> impl IntoView {
    let zone = query_zone();
    let create = ServerAction::<CreateMigration>::new();
    let migrations = Resource::new(move || zone.get(), list_migrations);
    view! {
        <Title text="Migrations" />
        <div class="page-head page-head-row">
            <div>
                <h1>"Migrations"</h1>
                <p class="lede">"Each migration works through its own copy of the checklist; Switchboard verifies DNS, certificates and services."</p>
            </div>
            <p><A href="/checklist/template">"The checklist template"</A></p>
        </div>
        <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading migrations…"</p> }>
            {move || Suspend::new(async move {
                migrations.await.map(|list| view! { <MigrationList list /> })
            })}
        </Suspense>
        {can(Permission::WorkChecklists).then(|| view! { <NewMigrationForm create /> })}
    }
}

#[component]
fn MigrationList(list: Vec<MigrationSummary>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <section class="panel empty-state">
                <p>"No migrations yet. Plan one below: it gets its own checklist from the template."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <ul class="migration-list">
            {list
                .into_iter()
                .map(|m| {
                    let href = format!("/checklist/{}", m.id);
                    view! {
                        <li class="panel migration-card">
                            <h2><A href=href>{m.name}</A></h2>
                            <p class="muted">
                                {m.domains.join(", ")} " · " {m.source_server} " → " {m.target_server} " · owner " {m.owner}
                            </p>
                            <p>
                                <time datetime=m.window.start.iso>{m.window.viewer_text}</time>
                            </p>
                            <ProgressBar progress=m.progress />
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn NewMigrationForm(create: ServerAction<CreateMigration>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="new-migration">
            <h2 id="new-migration">"Plan a migration"</h2>
            <ActionForm action=create attr:class="form-grid new-migration">
                <label>"Name" <input type="text" name="form[name]" required maxlength="120" placeholder="Shop to the new web pool" /></label>
                <label>"Owner" <input type="text" name="form[owner]" required maxlength="100" placeholder="Alice Smith" /></label>
                <label class="wide">
                    "Domains, sub-domains and CDN names"
                    <textarea name="form[domains]" required rows="2" placeholder="shop.example.com, www.shop.example.com, cdn.example.net"></textarea>
                </label>
                <label>"Source server" <input type="text" name="form[source_server]" required placeholder="old-web1.example.com" /></label>
                <label>"Target server" <input type="text" name="form[target_server]" required placeholder="192.0.2.10" /></label>
                <label class="wide">
                    "Services (name or name:port)"
                    <input type="text" name="form[services]" placeholder="http https smtp imap pop3 ftp mysql ssh" />
                </label>
                <label>"Window starts" <input type="datetime-local" name="form[window_start]" required /></label>
                <label>"Window ends" <input type="datetime-local" name="form[window_end]" required /></label>
                <label>
                    "Time zone of the window"
                    <input type="text" name="form[time_zone]" required list="zones-new" value="Europe/London" />
                    <datalist id="zones-new">
                        {ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}
                    </datalist>
                </label>
                <label>"Highest TTL before the move (s)" <input type="text" name="form[ttl_limit]" inputmode="numeric" placeholder="300" /></label>
                <button type="submit" class="button button-primary">"Create the migration"</button>
            </ActionForm>
            {move || create.value().get().and_then(Result::err).map(|e| view! {
                <p class="notice error" role="alert">{e.to_string()}</p>
            })}
            {move || create.pending().get().then(|| view! { <p class="muted" aria-live="polite">"Creating…"</p> })}
        </section>
    }
}
