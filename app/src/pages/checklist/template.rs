//! `/checklist/template`: the template every migration starts from, with the
//! controls staff use to reorder, retire, restore, reword and add points.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use model::{
    auth::Permission,
    checklist::{Template, TemplateSection},
};

use super::checks::CHECKS;
use crate::{
    components::shell::can,
    serverfns::checklist::{
        get_checklist_template, AddTemplateItem, ChangeTemplateItem, RewordTemplateItem,
    },
};

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
