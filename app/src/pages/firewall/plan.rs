//! Rules: the pending plan as a diff with its apply form, the rules on the
//! host now, and the diff both the plan and the audit of applies show.

use leptos::prelude::*;
use model::{
    auth::Permission,
    firewall::{Plan, Rule},
};

use super::SHOWN;
use crate::{components::shell::can, serverfns::firewall::FirewallApply};

fn rule_text(r: &Rule) -> String {
    format!("{} → tcp/{}  {}", r.source, r.port, r.comment)
}

#[component]
pub fn PlanPanel(
    plan: Option<Plan>,
    apply_enabled: bool,
    apply: ServerAction<FirewallApply>,
    current_error: Option<String>,
) -> impl IntoView {
    let may_apply = apply_enabled && can(Permission::ApplyFirewall);
    view! {
        <section class="panel" aria-labelledby="plan-title">
            <h2 id="plan-title">"Pending plan"</h2>
            {current_error.map(|e| view! { <p class="notice error" role="alert">{format!("The host's rules could not be read: {e}")}</p> })}
            {match plan {
                None => view! { <p class="muted">"No plan until the first inventory."</p> }.into_any(),
                Some(p) if p.is_empty() => view! {
                    <p>{format!("Nothing to change: the host's {} rules are what the inventory asks for.", p.unchanged)}</p>
                }.into_any(),
                Some(p) => {
                    let adds = p.add.len();
                    let removes = p.remove.len();
                    view! {
                        <p>{format!("{adds} to add, {removes} to remove, {} unchanged.", p.unchanged)}</p>
                        {rule_diff(&p.remove, &p.add, "The plan as a diff")}
                        {if may_apply {
                            view! {
                                <ActionForm action=apply attr:class="inline-form">
                                    <input type="hidden" name="digest" value=p.digest.clone() />
                                    <label><input type="checkbox" name="confirm" value="yes" required />" I have read the plan"</label>
                                    <button type="submit" class="button button-danger">{format!("Apply {} changes", adds + removes)}</button>
                                </ActionForm>
                            }.into_any()
                        } else if apply_enabled {
                            view! { <p class="muted">"Applying needs the admin role."</p> }.into_any()
                        } else {
                            view! { <p class="muted">"Dry run: applying is disabled in the firewall config (apply.enabled)."</p> }.into_any()
                        }}
                    }.into_any()
                }
            }}
            {move || apply.value().get().map(|r| match r {
                Ok(rec) => view! { <p class="notice info" role="status">{format!("Applied: {}", rec.message)}</p> }.into_any(),
                Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn CurrentRules(rules: Vec<Rule>) -> impl IntoView {
    let more = rules.len().saturating_sub(SHOWN);
    view! {
        <section class="panel" aria-labelledby="rules-title">
            <details>
                <summary><h2 id="rules-title" class="inline">{format!("Rules on the host now ({})", rules.len())}</h2></summary>
                <div class="table-scroll">
                    <table>
                        <thead><tr><th scope="col">"Source"</th><th scope="col">"Port"</th><th scope="col">"Comment"</th></tr></thead>
                        <tbody>
                            {rules.iter().take(SHOWN).map(|r| view! {
                                <tr><td><code>{r.source.clone()}</code></td><td class="num">{r.port}</td><td>{r.comment.clone()}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {(more > 0).then(|| view! { <p class="muted">{format!("… and {more} more")}</p> })}
            </details>
        </section>
    }
}

/// Rules removed and added as a diff: at most `SHOWN` of each, then how many
/// more (the plan and each audited apply).
pub(super) fn rule_diff(removed: &[Rule], added: &[Rule], label: &'static str) -> impl IntoView {
    let more_remove = removed.len().saturating_sub(SHOWN);
    let more_add = added.len().saturating_sub(SHOWN);
    let lines = |rules: &[Rule], sign: char, class: &'static str| {
        rules
            .iter()
            .take(SHOWN)
            .map(|r| view! { <span class=class>{format!("{sign} {}\n", rule_text(r))}</span> })
            .collect_view()
    };
    view! {
        <pre class="diff" aria-label=label>
            {lines(removed, '-', "diff-remove")}
            {(more_remove > 0).then(|| format!("  … and {more_remove} more removals\n"))}
            {lines(added, '+', "diff-add")}
            {(more_add > 0).then(|| format!("  … and {more_add} more additions\n"))}
        </pre>
    }
}
