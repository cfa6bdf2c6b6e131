//! `/checklist/:id`: one migration's working checklist, kept current as anyone
//! ticks it (notes being typed survive the redraw), with the form that shares
//! it; and the read-only copy a share link opens.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};
use model::{auth::Permission, checklist::Migration};

use super::{
    checks::ChecksPanel,
    components::{query_zone, ProgressBar, ZoneForm},
    items::{ActivityPanel, SectionView},
};
use crate::{
    components::{
        share_links::{CreatedLink, ExpiresSelect},
        shell::can,
    },
    serverfns::checklist::{get_migration, RunCheck, ShareMigration, TickItem},
};

/// `/checklist/:id`: one migration's working checklist.
#[component]
pub fn MigrationPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        })
    });
    let zone = query_zone();
    let print = Memo::new(move |_| query.with(|q| q.get("view").as_deref() == Some("print")));
    let tick = ServerAction::<TickItem>::new();
    let check = ServerAction::<RunCheck>::new();
    let share = ServerAction::<ShareMigration>::new();
    let live = RwSignal::new(0_u32);
    watch_live_changes(id, live);
    // Notes typed but not yet saved survive the page redrawing (a colleague's
    // tick arriving live); a refused tick changes nothing, so nothing reloads.
    let drafts = Drafts(StoredValue::new(std::collections::HashMap::new()));
    provide_context(drafts);
    let saved = RwSignal::new(0_u32);
    Effect::new(move |_| {
        if let Some(Ok(item)) = tick.value().get() {
            drafts.0.update_value(|d| {
                d.remove(&item.id);
            });
            saved.update(|n| *n += 1);
        }
    });
    let migration = Resource::new(
        move || {
            (
                id.get(),
                zone.get(),
                saved.get(),
                check.version().get(),
                live.get(),
            )
        },
        |(id, zone, ..)| get_migration(id, zone),
    );
    let editable = can(Permission::WorkChecklists);
    let sharable = can(Permission::ManageShareLinks);
    view! {
        <Title text="Migration" />
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading the checklist…"</p> }>
            {move || Suspend::new(async move {
                migration.await.map(|m| {
                    let actions = (editable && !print.get_untracked()).then_some(Actions { tick, check });
                    view! {
                        <Title text=m.summary.name.clone() />
                        <MigrationBody m actions print=print.get_untracked() />
                        {(sharable && !print.get_untracked()).then(|| view! { <ShareForm migration=id.get_untracked() share /> })}
                    }
                })
            })}
        </Transition>
    }
}

/// Notes being typed, by point: kept while the checklist redraws.
#[derive(Clone, Copy)]
pub(super) struct Drafts(pub(super) StoredValue<std::collections::HashMap<i64, String>>);

/// What a person who may work the checklist can do on it.
#[derive(Clone, Copy)]
pub struct Actions {
    pub(super) tick: ServerAction<TickItem>,
    pub(super) check: ServerAction<RunCheck>,
}

/// Reloads the checklist when anyone (through any replica) changes it.
#[cfg(feature = "hydrate")]
fn watch_live_changes(id: Memo<i64>, live: RwSignal<u32>) {
    crate::components::live::subscribe("checklist", move |data| {
        #[allow(clippy::cast_precision_loss)]
        let ours = js_sys::Reflect::get(&data, &"migration".into())
            .ok()
            .and_then(|m| m.as_f64())
            == Some(id.get_untracked() as f64);
        if ours {
            live.update(|n| *n += 1);
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn watch_live_changes(_id: Memo<i64>, _live: RwSignal<u32>) {}

#[component]
fn MigrationBody(
    m: Migration,
    actions: Option<Actions>,
    /// Printable: no controls, no links into the app.
    print: bool,
    /// Opened through a share link: read-only, only the zone can change.
    #[prop(optional)]
    shared: bool,
) -> impl IntoView {
    let query = use_query_map();
    let open_only = Memo::new(move |_| query.with(|q| q.get("open").is_some_and(|v| v == "1")));
    let s = m.summary.clone();
    let id = s.id;
    let planned = (s.window.planned_text != s.window.viewer_text).then(|| {
        view! { <p class="muted">{format!("Planned as {}", s.window.planned_text)}</p> }
    });
    let zone = m.viewer_zone.clone();
    let filter_link = move || {
        if open_only.get() {
            view! { <A href=format!("/checklist/{id}?tz={zone}")>"Show every point"</A> }.into_any()
        } else {
            view! { <A href=format!("/checklist/{id}?open=1&tz={zone}")>"Show only open points"</A> }
                .into_any()
        }
    };
    let index = m
        .sections
        .iter()
        .map(|sec| {
            let href = format!("#{}", sec.slug);
            view! {
                <li>
                    <a href=href>{sec.title.clone()}</a>
                    <ProgressBar progress=sec.progress small=true />
                </li>
            }
        })
        .collect_view();
    let all_sections = m.sections.clone();
    let sections = move || {
        let open_only = open_only.get();
        all_sections
            .iter()
            .filter(|sec| !open_only || sec.items.iter().any(|i| !i.state.is_settled()))
            .cloned()
            .map(|section| view! { <SectionView section migration=id actions open_only /> })
            .collect_view()
    };
    let errors = actions.map(|a| {
        view! {
            {move || a.tick.value().get().and_then(Result::err).map(|e| view! {
                <p class="notice error" role="alert">{e.to_string()}</p>
            })}
        }
    });
    view! {
        <div class="page-head">
            {(!print && !shared).then(|| view! { <p class="muted"><A href="/checklist">"Migrations"</A> " /"</p> })}
            <h1>{s.name.clone()}</h1>
            <p class="lede">
                {s.domains.join(", ")} " · from " <strong>{s.source_server.clone()}</strong>
                " to " <strong>{s.target_server.clone()}</strong> " · owner " {s.owner.clone()}
            </p>
            <p>
                "Window: " <time datetime=s.window.start.iso.clone()>{s.window.viewer_text.clone()}</time>
            </p>
            {planned}
            <ProgressBar progress=s.progress />
        </div>
        {shared.then(|| view! { <div class="toolbar no-print"><ZoneForm zone=m.viewer_zone.clone() /></div> })}
        {(!print && !shared).then(|| view! {
            <div class="toolbar no-print">
                {filter_link}
                <a href=format!("/checklist/{id}/export.md?tz={}", m.viewer_zone) download="">"Markdown"</a>
                <a href=format!("/checklist/{id}/export.csv") download="">"CSV"</a>
                <a href=format!("/checklist/{id}?view=print&tz={}", m.viewer_zone)>"Printable view"</a>
                <ZoneForm zone=m.viewer_zone.clone() />
            </div>
        })}
        {errors}
        <ChecksPanel migration=id services=m.services.clone() ttl_limit=m.ttl_limit runs=m.checks.clone() actions />
        <ActivityPanel changes=m.activity.clone() />
        <div class="checklist-layout">
            <nav class="section-index panel no-print" aria-label="Checklist sections">
                <h2>"Sections"</h2>
                <ol>{index}</ol>
            </nav>
            <div class="checklist-sections">{sections}</div>
        </div>
        <p class="muted small">
            "From the template “" {m.template_name.clone()} "”, created " {m.created_at.text.clone()} ". Times in " {m.viewer_zone.clone()} "."
        </p>
    }
}

#[component]
fn ShareForm(migration: i64, share: ServerAction<ShareMigration>) -> impl IntoView {
    view! {
        <section class="panel no-print" aria-labelledby="share-title">
            <h2 id="share-title">"Share read-only"</h2>
            <p class="muted">"People with the link see this checklist and its checks, without an account and without JavaScript. Revoke it on the share links page."</p>
            <ActionForm action=share attr:class="inline-form">
                <input type="hidden" name="migration" value=migration />
                <label>"Label " <input type="text" name="label" maxlength="100" placeholder="for the client" /></label>
                <ExpiresSelect />
                <button type="submit" class="button">"Create link"</button>
            </ActionForm>
            {move || share.value().get().map(|r| view! { <CreatedLink result=r /> })}
        </section>
    }
}

/// The read-only checklist a share link opens.
#[component]
pub fn SharedChecklist(token: String) -> impl IntoView {
    let zone = query_zone();
    let shared = Resource::new(
        move || (token.clone(), zone.get()),
        |(token, zone)| crate::serverfns::checklist::open_shared_migration(token, zone),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Opening the shared checklist…"</p> }>
            {move || Suspend::new(async move {
                shared.await.map(|s| {
                    let expiry = s
                        .expires_at
                        .map_or_else(|| "It does not expire.".to_owned(), |at| format!("It expires on {at}."));
                    view! {
                        <Title text=s.label.clone() />
                        <p class="notice info">"A read-only checklist shared with you (" {s.label} "). " {expiry}</p>
                        <MigrationBody m=s.migration actions=None print=false shared=true />
                    }
                })
            })}
        </Suspense>
    }
}
