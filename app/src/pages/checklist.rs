//! The migration checklist template, read-only, grouped by section.

use leptos::prelude::*;
use leptos_meta::Title;
use model::checklist::{Template, TemplateSection};

use crate::serverfns::checklist::get_checklist_template;

/// `/checklist`: the template every migration starts from.
#[component]
pub fn ChecklistPage() -> impl IntoView {
    let template = Resource::new(|| (), |()| get_checklist_template());
    view! {
        <Title text="Checklist" />
        <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading the checklist…"</p> }>
            {move || Suspend::new(async move {
                template.await.map(|t| view! { <TemplateView template=t /> })
            })}
        </Suspense>
    }
}

#[component]
fn TemplateView(template: Template) -> impl IntoView {
    let automated = template
        .sections
        .iter()
        .flat_map(|s| &s.items)
        .filter(|i| i.automated_check.is_some())
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
            view! {
                <li>
                    <a href=href>{s.title.clone()} <span class="count">{s.items.len()}</span></a>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="page-head">
            <h1>"Migration checklist"</h1>
            <p class="lede">{template.description.clone()}</p>
            <p class="muted">{summary} " · template: " {template.name.clone()} " (read-only)"</p>
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
                    .map(|section| view! { <SectionView section /> })
                    .collect_view()}
            </div>
        </div>
    }
}

#[component]
fn SectionView(section: TemplateSection) -> impl IntoView {
    let heading_id = format!("{}-title", section.slug);
    let labelled_by = heading_id.clone();
    view! {
        <section class="panel checklist-section" id=section.slug.clone() aria-labelledby=labelled_by>
            <h2 id=heading_id>{section.title.clone()}</h2>
            <p class="muted">{section.summary.clone()}</p>
            <ol class="checklist-items">
                {section
                    .items
                    .into_iter()
                    .map(|item| {
                        view! {
                            <li class="checklist-item">
                                <span class="item-text">{item.text}</span>
                                {item
                                    .automated_check
                                    .map(|c| view! { <span class="badge" title="Switchboard can verify this">{c.label()}</span> })}
                                {item.guidance.map(|g| view! { <p class="guidance">{g}</p> })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}
