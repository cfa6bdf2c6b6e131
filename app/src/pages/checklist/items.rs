//! A migration's sections and their points: each point's state, note and
//! tick form; and the recent activity (who ticked what, when).

use leptos::prelude::*;
use model::checklist::{ItemChange, ItemState, MigrationItem, MigrationSection};

use super::{
    components::ProgressBar,
    migration::{Actions, Drafts},
};

fn state_class(state: ItemState) -> &'static str {
    match state {
        ItemState::Open => "item-state state-open",
        ItemState::Done => "item-state state-done",
        ItemState::NotApplicable => "item-state state-na",
        ItemState::Blocked => "item-state state-blocked",
    }
}

#[component]
pub fn SectionView(
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

/// The latest ticks: who changed which point to what, and when.
#[component]
pub fn ActivityPanel(changes: Vec<ItemChange>) -> impl IntoView {
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
