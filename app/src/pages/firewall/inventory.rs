//! The EC2 inventory: what changed since the previous one, and the instances
//! of each region.

use leptos::prelude::*;
use model::firewall::{Instance, Inventory};

use super::SHOWN;
use crate::serverfns::firewall::FirewallView;

fn instance_line(i: &Instance) -> String {
    format!(
        "{} {} ({}) {}",
        i.id,
        i.public_ip.as_deref().unwrap_or("no public IP"),
        i.state,
        i.region
    )
}

// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn Changes(v: FirewallView) -> impl IntoView {
    let c = v.overview.changes.clone();
    let since = c.since_ms.map(|ms| v.time(ms));
    let empty = c.appeared.is_empty() && c.gone.is_empty() && c.changed.is_empty();
    since.map(|since| {
        view! {
            <section class="panel" aria-labelledby="changes-title">
                <h2 id="changes-title">{format!("Changed since the inventory of {since}")}</h2>
                {if empty {
                    view! { <p class="muted">"Nothing appeared, went or changed."</p> }.into_any()
                } else {
                    view! {
                        <ul class="stack">
                            {c.appeared.iter().map(|i| view! { <li>{format!("New: {}", instance_line(i))}</li> }).collect_view()}
                            {c.gone.iter().map(|i| view! { <li>{format!("Gone: {}", instance_line(i))}</li> }).collect_view()}
                            {c.changed.iter().map(|(a, b)| view! { <li>{format!("Changed: {} → {}", instance_line(a), instance_line(b))}</li> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        }
    })
}

#[component]
pub fn Instances(inv: Inventory) -> impl IntoView {
    let max = inv
        .regions
        .iter()
        .map(|r| r.instances.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = inv
        .regions
        .iter()
        .map(|r| {
            let n = r.instances.len();
            let colour = if r.error.is_some() {
                "var(--danger)"
            } else {
                "var(--accent)"
            };
            let style = format!("width: {}%; --kind: {colour}", n * 100 / max);
            view! {
                <div class="bar-row">
                    <span class="bar-label">{r.region.clone()}</span>
                    <span class="bar-track"><span class="bar" style=style></span></span>
                    <span class="bar-value">{n}</span>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="instances-title">
            <h2 id="instances-title">"Instances per region"</h2>
            <div class="bars bars-wide" role="img" aria-label="Instances per region">{bars}</div>
            {inv.regions.into_iter().map(|r| {
                let summary = format!(
                    "{}: {} instances, {} page(s), {} ms{}",
                    r.region,
                    r.instances.len(),
                    r.pages,
                    r.took_ms,
                    if r.error.is_some() { " (not read)" } else { "" }
                );
                let more = r.instances.len().saturating_sub(SHOWN);
                view! {
                    <details>
                        <summary>{summary}</summary>
                        <div class="table-scroll">
                            <table>
                                <thead><tr><th scope="col">"Instance"</th><th scope="col">"State"</th><th scope="col">"Public IP"</th><th scope="col">"Public DNS"</th><th scope="col">"Tags"</th></tr></thead>
                                <tbody>
                                    {r.instances.iter().take(SHOWN).map(|i| view! {
                                        <tr>
                                            <td><code>{i.id.clone()}</code></td>
                                            <td>{i.state.clone()}</td>
                                            <td>{i.public_ip.clone().unwrap_or_default()}</td>
                                            <td class="break">{i.public_dns.clone().unwrap_or_default()}</td>
                                            <td>{i.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        {(more > 0).then(|| view! { <p class="muted">{format!("… and {more} more")}</p> })}
                    </details>
                }
            }).collect_view()}
        </section>
    }
}
