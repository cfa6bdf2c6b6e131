//! The firewall's history: the sync runs and the audit of applies.

use leptos::prelude::*;

use super::plan::rule_diff;
use crate::serverfns::firewall::FirewallView;

// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn History(v: FirewallView) -> impl IntoView {
    let o = &v.overview;
    view! {
        <section class="panel table-panel" aria-labelledby="runs-title">
            <h2 id="runs-title">"Sync runs"</h2>
            <div class="table-scroll">
                <table>
                    <thead><tr><th scope="col">"Run"</th><th scope="col">"Started"</th><th scope="col">"Finished"</th><th scope="col">"Trigger"</th><th scope="col">"Replica"</th><th scope="col">"Outcome"</th><th scope="col">"Detail"</th></tr></thead>
                    <tbody>
                        {o.runs.iter().map(|r| {
                            let detail = match &r.took_over_from {
                                Some(from) => format!("took over from {from}. {}", r.detail),
                                None => r.detail.clone(),
                            };
                            view! {
                                <tr>
                                    <td class="num">{r.fence}</td>
                                    <td>{v.time(r.started_ms)}</td>
                                    <td>{r.finished_ms.map(|ms| v.time(ms)).unwrap_or_default()}</td>
                                    <td>{r.trigger.clone()}</td>
                                    <td>{r.holder.clone()}</td>
                                    <td><span class=format!("state state-{}", outcome_class(&r.outcome))>{r.outcome.clone()}</span></td>
                                    <td>{detail}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="panel table-panel" aria-labelledby="applies-title">
            <h2 id="applies-title">"Applies (audit)"</h2>
            {o.applies.is_empty().then(|| view! { <p class="muted">"Nothing applied yet."</p> })}
            <ul class="stack">
                {o.applies.iter().map(|a| {
                    let head = format!(
                        "{} · {} · {} · +{} −{} · {}",
                        v.time(a.at_ms),
                        a.actor,
                        a.backend,
                        a.added.len(),
                        a.removed.len(),
                        a.message
                    );
                    view! {
                        <li>
                            <details>
                                <summary><span class=if a.ok { "state state-done" } else { "state state-blocked" }>{if a.ok { "ok" } else { "failed" }}</span>" " {head}</summary>
                                {rule_diff(&a.removed, &a.added, "The rules this apply changed")}
                            </details>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "done",
        "running" => "active",
        "failed" | "fenced" => "blocked",
        _ => "expired",
    }
}
