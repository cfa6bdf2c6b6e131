//! Migration checklists: the list of migrations, one migration's working
//! checklist with its automated checks, and the template staff edit.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};
use model::{
    auth::Permission,
    checklist::{
        AutomatedCheck, CheckRun, ItemChange, ItemState, Migration, MigrationItem,
        MigrationSection, MigrationSummary, Progress, Template, TemplateSection, Verdict,
    },
};

use crate::{
    components::shell::use_me,
    pages::share::{CreatedLink, ExpiresSelect},
    serverfns::checklist::{
        get_checklist_template, get_migration, list_migrations, AddTemplateItem,
        ChangeTemplateItem, CreateMigration, RewordTemplateItem, RunCheck, ShareMigration,
        TickItem,
    },
};

/// The checks in the order pages show them.
const CHECKS: [AutomatedCheck; 4] = [
    AutomatedCheck::DnsTtl,
    AutomatedCheck::TlsCertificate,
    AutomatedCheck::ServicePorts,
    AutomatedCheck::HttpHost,
];

/// Zones offered in the "times in" box (any IANA name may be typed).
const ZONES: [&str; 12] = [
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Melbourne",
];

fn can(permission: Permission) -> bool {
    use_me().is_some_and(|me| me.can(permission))
}

/// The `tz` query parameter (empty: the browser's zone from its cookie).
fn query_zone() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.with(|q| q.get("tz").unwrap_or_default()))
}

/// A bar and its words, for a whole checklist or a section.
#[component]
pub fn ProgressBar(progress: Progress, #[prop(optional)] small: bool) -> impl IntoView {
    let words = format!(
        "{} of {} settled ({}%){}",
        progress.settled(),
        progress.total,
        progress.percent(),
        if progress.blocked > 0 {
            format!(", {} blocked", progress.blocked)
        } else {
            String::new()
        }
    );
    let class = if small {
        "progress progress-small"
    } else {
        "progress"
    };
    // Beside a section's title the bar has little room: numbers only.
    let shown = if small {
        let blocked = if progress.blocked > 0 {
            format!(" · {} blocked", progress.blocked)
        } else {
            String::new()
        };
        format!("{}/{}{blocked}", progress.settled(), progress.total)
    } else {
        words.clone()
    };
    view! {
        <div class=class>
            <progress max=progress.total.max(1) value=progress.settled() aria-label=words></progress>
            <span class="progress-words">{shown}</span>
        </div>
    }
}

/// The zone box: a GET form, so it works without JavaScript too.
#[component]
fn ZoneForm(zone: String) -> impl IntoView {
    let open = use_query_map().with_untracked(|q| q.get("open"));
    view! {
        <form method="get" class="inline-form zone-form">
            <label>
                "Times in "
                <input type="text" name="tz" list="zones" value=zone.clone() size="20" aria-describedby="zone-help" />
            </label>
            {open.map(|o| view! { <input type="hidden" name="open" value=o /> })}
            <datalist id="zones">
                {ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}
            </datalist>
            <button type="submit" class="button button-quiet">"Show"</button>
            <span id="zone-help" class="muted small">"an IANA name, e.g. Australia/Melbourne"</span>
        </form>
    }
}

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
struct Drafts(StoredValue<std::collections::HashMap<i64, String>>);

/// What a person who may work the checklist can do on it.
#[derive(Clone, Copy)]
struct Actions {
    tick: ServerAction<TickItem>,
    check: ServerAction<RunCheck>,
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

fn state_class(state: ItemState) -> &'static str {
    match state {
        ItemState::Open => "item-state state-open",
        ItemState::Done => "item-state state-done",
        ItemState::NotApplicable => "item-state state-na",
        ItemState::Blocked => "item-state state-blocked",
    }
}

#[component]
fn SectionView(
    section: MigrationSection,
    migration: i64,
    actions: Option<Actions>,
    open_only: bool,
) -> impl IntoView {
    let heading_id = format!("{}-title", section.slug);
    let labelled_by = heading_id.clone();
    view! {
        <section class="panel checklist-section" id=section.slug.clone() aria-labelledby=labelled_by>
            <div class="section-head">
                <h2 id=heading_id>{section.title.clone()}</h2>
                <ProgressBar progress=section.progress small=true />
            </div>
            <p class="muted">{section.summary.clone()}</p>
            <ol class="checklist-items">
                {section
                    .items
                    .into_iter()
                    .filter(|i| !open_only || !i.state.is_settled())
                    .map(|item| view! { <ItemView item migration actions /> })
                    .collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn ItemView(item: MigrationItem, migration: i64, actions: Option<Actions>) -> impl IntoView {
    let who = match (&item.changed_by, &item.changed_at) {
        (Some(by), Some(at)) => Some(view! {
            <p class="muted small">
                {item.state.label()} " · " {by.clone()} " · " <time datetime=at.iso.clone()>{at.text.clone()}</time>
            </p>
        }),
        _ => None,
    };
    let check = item.automated_check.map(|c| {
        view! { <a class="badge" href=format!("#check-{}", c.as_str()) title="Switchboard can verify this">{c.label()}</a> }
    });
    let item_id = item.id;
    let drafts = use_context::<Drafts>();
    let note_value = drafts
        .and_then(|d| d.0.with_value(|m| m.get(&item_id).cloned()))
        .unwrap_or_else(|| item.note.clone());
    let form = actions.map(|a| {
        let note_id = format!("note-{}", item.id);
        let buttons = ItemState::ALL
            .into_iter()
            .filter(|&s| s != item.state)
            .map(|s| {
                let label = match s {
                    ItemState::Open => "Reopen",
                    other => other.label(),
                };
                view! { <button type="submit" name="state" value=s.as_str() class="button button-quiet">{label}</button> }
            })
            .collect_view();
        view! {
            <ActionForm action=a.tick attr:class="tick-form">
                <input type="hidden" name="migration" value=migration />
                <input type="hidden" name="item" value=item.id />
                <input type="hidden" name="revision" value=item.revision />
                <label class="visually-hidden" for=note_id.clone()>"Note"</label>
                <input type="text" id=note_id name="note" value=note_value placeholder="note" maxlength="2000"
                    on:input=move |ev| {
                        if let Some(d) = drafts {
                            let text = event_target_value(&ev);
                            d.0.update_value(|m| {
                                m.insert(item_id, text);
                            });
                        }
                    }
                />
                {buttons}
            </ActionForm>
        }
    });
    let note = (actions.is_none() && !item.note.is_empty())
        .then(|| view! { <p class="item-note">{item.note.clone()}</p> });
    view! {
        <li class="checklist-item" data-state=item.state.as_str()>
            <div class="item-line">
                <span class=state_class(item.state)>{item.state.label()}</span>
                <span class="item-text">{item.text.clone()}</span>
                {check}
            </div>
            {item.guidance.clone().map(|g| view! { <p class="guidance">{g}</p> })}
            {note}
            {who}
            {form}
        </li>
    }
}

/// The badge class of a check's verdict (also on the health page's DNS panel).
pub(crate) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "verdict verdict-pass",
        Verdict::Warn => "verdict verdict-warn",
        Verdict::Fail => "verdict verdict-fail",
        Verdict::CannotRun => "verdict verdict-cannot",
    }
}

fn check_help(check: AutomatedCheck, ttl_limit: u32) -> String {
    match check {
        AutomatedCheck::DnsTtl => format!(
            "Before the window: every name's TTL at most {ttl_limit} s. From the window on: each name resolves to the target."
        ),
        AutomatedCheck::TlsCertificate => {
            "A trusted certificate for each name on the target's HTTPS port, with days to expiry.".into()
        }
        AutomatedCheck::ServicePorts => "Each planned service answers on the target.".into(),
        AutomatedCheck::HttpHost => {
            "HTTP answers for each name's Host header on the target, and for HTTP/1.0 without one.".into()
        }
    }
}

#[component]
fn ChecksPanel(
    migration: i64,
    services: Vec<String>,
    ttl_limit: u32,
    runs: Vec<CheckRun>,
    actions: Option<Actions>,
) -> impl IntoView {
    let rows = CHECKS
        .into_iter()
        .map(|check| {
            let run = runs.iter().find(|r| r.report.check == check).cloned();
            let result = match run {
                None => view! { <p class="muted">"Not run yet."</p> }.into_any(),
                Some(run) => {
                    let r = run.report;
                    let evidence = r
                        .evidence
                        .iter()
                        .map(|e| view! {
                            <tr>
                                <td>{e.subject.clone()}</td>
                                <td><span class=verdict_class(e.verdict)>{e.verdict.label()}</span></td>
                                <td>{e.detail.clone()}</td>
                            </tr>
                        })
                        .collect_view();
                    let has_evidence = !r.evidence.is_empty();
                    view! {
                        <p>
                            <span class=verdict_class(r.verdict)>{r.verdict.label()}</span> " " {r.summary}
                        </p>
                        <p class="muted small">
                            {run.ran_by} " · " <time datetime=run.ran_at.iso>{run.ran_at.text}</time> " · " {r.elapsed_ms} " ms"
                        </p>
                        {has_evidence.then(|| view! {
                            <details>
                                <summary>"Evidence (" {r.evidence.len()} ")"</summary>
                                <div class="table-scroll">
                                    <table class="evidence">
                                        <thead><tr><th>"Looked at"</th><th>"Verdict"</th><th>"Seen"</th></tr></thead>
                                        <tbody>{evidence}</tbody>
                                    </table>
                                </div>
                            </details>
                        })}
                    }
                    .into_any()
                }
            };
            let button = actions.map(|a| view! {
                <ActionForm action=a.check attr:class="inline-form no-print">
                    <input type="hidden" name="migration" value=migration />
                    <input type="hidden" name="check" value=check.as_str() />
                    <button type="submit" class="button" disabled=move || a.check.pending().get()>"Run"</button>
                </ActionForm>
            });
            view! {
                <li class="check" id=format!("check-{}", check.as_str())>
                    <div class="check-head">
                        <h3>{check.label()}</h3>
                        {button}
                    </div>
                    <p class="muted small">{check_help(check, ttl_limit)}</p>
                    {result}
                </li>
            }
        })
        .collect_view();
    let run_all = actions.map(|a| view! {
        <ActionForm action=a.check attr:class="inline-form no-print">
            <input type="hidden" name="migration" value=migration />
            <input type="hidden" name="check" value="all" />
            <button type="submit" class="button button-primary" disabled=move || a.check.pending().get()>"Run every check"</button>
        </ActionForm>
        {move || a.check.pending().get().then(|| view! {
            <div class="check-progress" role="status" aria-live="polite">
                <progress aria-label="Checks running"></progress> " Checking DNS, certificates and ports…"
            </div>
        })}
        {move || a.check.value().get().and_then(Result::err).map(|e| view! {
            <p class="notice error" role="alert">{e.to_string()}</p>
        })}
    });
    let services = if services.is_empty() {
        "none listed".to_owned()
    } else {
        services.join(", ")
    };
    view! {
        <section class="panel checks" aria-labelledby="checks-title">
            <div class="section-head">
                <h2 id="checks-title">"Automated checks"</h2>
                {run_all}
            </div>
            <p class="muted small">"Services planned: " {services}</p>
            <ul class="check-list">{rows}</ul>
        </section>
    }
}

/// The latest ticks: who changed which point to what, and when.
#[component]
fn ActivityPanel(changes: Vec<ItemChange>) -> impl IntoView {
    if changes.is_empty() {
        return None;
    }
    let count = changes.len();
    Some(view! {
        <section class="panel activity" aria-labelledby="activity-title">
            <details>
                <summary><h2 id="activity-title">{format!("Recent activity ({count})")}</h2></summary>
                <ol class="activity-list">
                    {changes
                        .into_iter()
                        .map(|c| view! {
                            <li>
                                <span class=state_class(c.state)>{c.state.label()}</span> " "
                                <span>{c.item_text}</span>
                                {(!c.note.is_empty()).then(|| view! { <span class="muted">{format!(" — “{}”", c.note)}</span> })}
                                <span class="muted small">{format!(" · {} · ", c.by)} <time datetime=c.at.iso>{c.at.text}</time></span>
                            </li>
                        })
                        .collect_view()}
                </ol>
            </details>
        </section>
    })
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

/// `/checklist/template`: the template every migration starts from; staff edit it.
#[component]
pub fn TemplatePage() -> impl IntoView {
    let change = ServerAction::<ChangeTemplateItem>::new();
    let reword = ServerAction::<RewordTemplateItem>::new();
    let add = ServerAction::<AddTemplateItem>::new();
    let template = Resource::new(
        move || {
            (
                change.version().get(),
                reword.version().get(),
                add.version().get(),
            )
        },
        |_| get_checklist_template(),
    );
    let edit = can(Permission::EditChecklistTemplates).then_some(Edit {
        change,
        reword,
        add,
    });
    view! {
        <Title text="Checklist template" />
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading the checklist…"</p> }>
            {move || Suspend::new(async move {
                template.await.map(|t| view! { <TemplateView template=t edit /> })
            })}
        </Transition>
        {move || {
            let errors = [change.value().get(), reword.value().get()]
                .into_iter()
                .flatten()
                .filter_map(Result::err)
                .chain(add.value().get().and_then(Result::err));
            errors
                .map(|e| view! { <p class="notice error" role="alert">{e.to_string()}</p> })
                .collect_view()
        }}
    }
}

#[derive(Clone, Copy)]
struct Edit {
    change: ServerAction<ChangeTemplateItem>,
    reword: ServerAction<RewordTemplateItem>,
    add: ServerAction<AddTemplateItem>,
}

#[component]
fn TemplateView(template: Template, edit: Option<Edit>) -> impl IntoView {
    let automated = template
        .sections
        .iter()
        .flat_map(|s| &s.items)
        .filter(|i| i.automated_check.is_some() && !i.retired)
        .count();
    let summary = format!(
        "{} points in {} sections · {} can be verified automatically",
        template.item_count(),
        template.sections.len(),
        automated
    );
    let index = template
        .sections
        .iter()
        .map(|s| {
            let href = format!("#{}", s.slug);
            let live = s.items.iter().filter(|i| !i.retired).count();
            view! {
                <li>
                    <a href=href>{s.title.clone()} <span class="count">{live}</span></a>
                </li>
            }
        })
        .collect_view();
    let mode = if edit.is_some() {
        "edits apply to migrations created from now on"
    } else {
        "read-only"
    };
    view! {
        <div class="page-head">
            <p class="muted"><A href="/checklist">"Migrations"</A> " /"</p>
            <h1>"Migration checklist template"</h1>
            <p class="lede">{template.description.clone()}</p>
            <p class="muted">{summary} " · template: " {template.name.clone()} " (" {mode} ")"</p>
        </div>
        <div class="checklist-layout">
            <nav class="section-index panel" aria-label="Checklist sections">
                <h2>"Sections"</h2>
                <ol>{index}</ol>
            </nav>
            <div class="checklist-sections">
                {template
                    .sections
                    .into_iter()
                    .map(|section| view! { <TemplateSectionView section edit /> })
                    .collect_view()}
            </div>
        </div>
    }
}

#[component]
fn TemplateSectionView(section: TemplateSection, edit: Option<Edit>) -> impl IntoView {
    let heading_id = format!("{}-title", section.slug);
    let labelled_by = heading_id.clone();
    let slug = section.slug.clone();
    let add = edit.map(|e| {
        view! {
            <details class="add-point">
                <summary>"Add a point"</summary>
                <ActionForm action=e.add attr:class="stack">
                    <input type="hidden" name="section" value=slug />
                    <label>"Point" <input type="text" name="text" required maxlength="500" /></label>
                    <label>"Guidance (optional)" <input type="text" name="guidance" maxlength="1000" /></label>
                    <label>
                        "Verified by"
                        <select name="check">
                            <option value="">"a person"</option>
                            {CHECKS.iter().map(|c| view! { <option value=c.as_str()>{c.label()}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" class="button button-primary">"Add"</button>
                </ActionForm>
            </details>
        }
    });
    view! {
        <section class="panel checklist-section" id=section.slug.clone() aria-labelledby=labelled_by>
            <h2 id=heading_id>{section.title.clone()}</h2>
            <p class="muted">{section.summary.clone()}</p>
            <ol class="checklist-items">
                {section
                    .items
                    .into_iter()
                    .map(|item| {
                        let (text, guidance) = (item.text.clone(), item.guidance.clone().unwrap_or_default());
                        let controls = edit.map(|e| {
                            let id = item.id;
                            let change_button = move |change: &'static str, label: &'static str| view! {
                                <ActionForm action=e.change attr:class="inline-form">
                                    <input type="hidden" name="id" value=id />
                                    <input type="hidden" name="change" value=change />
                                    <button type="submit" class="button button-quiet" aria-label=format!("{label}: point {id}")>{label}</button>
                                </ActionForm>
                            };
                            view! {
                                <div class="row-actions">
                                    {change_button("up", "Up")}
                                    {change_button("down", "Down")}
                                    {if item.retired { change_button("restore", "Restore") } else { change_button("retire", "Retire") }}
                                    <details>
                                        <summary>"Reword"</summary>
                                        <ActionForm action=e.reword attr:class="stack">
                                            <input type="hidden" name="id" value=id />
                                            <label>"Point" <input type="text" name="text" required maxlength="500" value=text /></label>
                                            <label>"Guidance" <input type="text" name="guidance" maxlength="1000" value=guidance /></label>
                                            <button type="submit" class="button button-primary">"Save"</button>
                                        </ActionForm>
                                    </details>
                                </div>
                            }
                        });
                        let class = if item.retired { "checklist-item retired" } else { "checklist-item" };
                        view! {
                            <li class=class>
                                <span class="item-text">{item.text}</span>
                                {item.retired.then(|| view! { <span class="badge">"retired"</span> })}
                                {item
                                    .automated_check
                                    .map(|c| view! { <span class="badge" title="Switchboard can verify this">{c.label()}</span> })}
                                {item.guidance.map(|g| view! { <p class="guidance">{g}</p> })}
                                {controls}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            {add}
        </section>
    }
}
