//! `/firewall`: EC2 instances per region, the regions that could not be read,
//! the host's rules, the pending plan as a diff, apply (when enabled), sync
//! now, and the history of runs and applies. Live on the `firewall` and `job`
//! change feeds; every part reads without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::{
    auth::Permission,
    firewall::{FirewallOverview, Instance, Inventory, Plan, Rule},
};

use crate::{
    components::shell::use_me,
    serverfns::firewall::{get_firewall, FirewallApply, FirewallSyncNow, FirewallView},
};

/// Rules and instances shown before "and N more".
const SHOWN: usize = 300;

#[component]
pub fn FirewallPage() -> impl IntoView {
    let query = use_query_map();
    let zone = Memo::new(move |_| query.with(|q| q.get("tz").unwrap_or_default()));
    let sync = ServerAction::<FirewallSyncNow>::new();
    let apply = ServerAction::<FirewallApply>::new();
    let changed = RwSignal::new(0u32);
    live(changed);
    let view_data = Resource::new(
        move || {
            (
                zone.get(),
                sync.version().get(),
                apply.version().get(),
                changed.get(),
            )
        },
        |(tz, ..)| get_firewall(tz),
    );
    view! {
        <Title text="Firewall" />
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading the firewall…"</p> }>
            {move || Suspend::new(async move {
                view_data.await.map(|v| view! { <Firewall v sync apply /> })
            })}
        </Transition>
    }
}

/// Reloads the page's data when a sync or an apply ends on any replica.
#[cfg(feature = "hydrate")]
fn live(changed: RwSignal<u32>) {
    crate::components::live::subscribe("firewall", move |_| changed.update(|n| *n += 1));
    crate::components::live::subscribe("job", move |data| {
        let job = js_sys::Reflect::get(&data, &"job".into())
            .ok()
            .and_then(|j| j.as_string());
        if job.as_deref() == Some("firewall-sync") {
            changed.update(|n| *n += 1);
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn live(_changed: RwSignal<u32>) {}

fn can(permission: Permission) -> bool {
    use_me().is_some_and(|me| me.can(permission))
}

#[component]
fn Firewall(
    v: FirewallView,
    sync: ServerAction<FirewallSyncNow>,
    apply: ServerAction<FirewallApply>,
) -> impl IntoView {
    let o = &v.overview;
    if !o.configured {
        return view! { <NotConfigured /> }.into_any();
    }
    let backend = o.backend.map_or("?", |b| b.as_str());
    let mode = if !o.apply_enabled {
        "dry run (applying is disabled in the config)".to_owned()
    } else if o.auto_apply {
        "applies by itself after each sync".to_owned()
    } else {
        "applies when confirmed here".to_owned()
    };
    let ports = o
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let running = o.running.clone();
    let busy = running.is_some();
    view! {
        <div class="page-head page-head-row">
            <div>
                <h1>"Firewall"</h1>
                <p class="muted">
                    {format!("Backend {backend} · ports {ports} · sync every {} · {mode} · times in {}", every(o.interval_secs), v.zone)}
                </p>
            </div>
            <div class="toolbar">
                {can(Permission::PlanFirewall).then(|| view! {
                    <ActionForm action=sync>
                        <button type="submit" class="button button-primary" disabled=busy>"Sync now"</button>
                    </ActionForm>
                })}
                {can(Permission::PlanFirewall).then(|| view! {
                    <span class="downloads">
                        <a href="/firewall/export.sh?flavour=iptables" download="">"iptables script"</a>
                        " · "
                        <a href="/firewall/export.sh?flavour=nftables" download="">"nft script"</a>
                    </span>
                })}
            </div>
        </div>
        {running.map(|r| view! {
            <p class="notice info" role="status">
                <progress aria-label="Sync running"></progress>
                {format!(" A sync is running {r}.")}
            </p>
        })}
        {move || sync.value().get().map(|r| match r {
            Ok(msg) => view! { <p class="notice info" role="status">{msg}</p> }.into_any(),
            Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
        })}
        <Summary o=o.clone() />
        {o.inventory.as_ref().map(|inv| region_errors(inv, &v))}
        <PlanPanel plan=o.plan.clone() apply_enabled=o.apply_enabled apply current_error=o.current_error.clone() />
        <Changes v=v.clone() />
        {o.inventory.clone().map(|inv| view! { <Instances inv /> })}
        <CurrentRules rules=o.current.clone() />
        <History v=v.clone() />
        {(o.inventory.is_none()).then(|| view! {
            <p class="muted">{format!("No inventory yet: the first sync runs within {}.", every(o.interval_secs))}</p>
        })}
    }
    .into_any()
}

fn every(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[component]
fn NotConfigured() -> impl IntoView {
    view! {
        <div class="page-head"><h1>"Firewall"</h1></div>
        <section class="panel empty-state">
            <h2>"No firewall is configured"</h2>
            <p>"Start the server with "<code>"--firewall-config firewall.json"</code>" to turn the EC2 instances of every region into allow rules on this host (iptables or nftables) or into a script for another host. A minimal file:"</p>
            <pre>{r#"{
  "backend": "iptables",
  "ports": [22, 80, 3690, 4949, 8140],
  "management": {"source": "198.51.100.0/24", "ports": [22], "comment": "staff VPN"},
  "static": [{"source": "203.0.113.0/24", "ports": [22, 80], "comment": "office"}],
  "apply": {"enabled": false},
  "aws": {"ignore_regions": ["us-west-1"]}
}"#}</pre>
            <p class="muted">"Plans are dry runs until "<code>"apply.enabled"</code>" is true; credentials come from the standard AWS chain. The README lists every field."</p>
        </section>
    }
}

#[component]
fn Summary(o: FirewallOverview) -> impl IntoView {
    let inv = o.inventory.clone().unwrap_or_default();
    let failed = inv.failed().count();
    let running = inv.instances().filter(|i| i.state == "running").count();
    let public = inv
        .instances()
        .filter(|i| i.state == "running" && i.public_ip.is_some())
        .count();
    let plan = o.plan.clone().unwrap_or_default();
    view! {
        <dl class="figures" aria-label="Firewall in figures">
            <div><dt>"Regions read"</dt><dd>{format!("{} of {}", inv.regions.len() - failed, inv.regions.len())}</dd></div>
            <div><dt>"Instances"</dt><dd>{inv.instances().count()}</dd></div>
            <div><dt>"Running with a public IP"</dt><dd>{format!("{public} of {running}")}</dd></div>
            <div><dt>"Rules on the host"</dt><dd>{o.current.len()}</dd></div>
            <div><dt>"Plan"</dt><dd>{format!("+{} −{}", plan.add.len(), plan.remove.len())}</dd></div>
        </dl>
    }
}

fn region_errors(inv: &Inventory, v: &FirewallView) -> impl IntoView {
    let failed: Vec<_> = inv.failed().cloned().collect();
    let error = inv.error.clone();
    (!failed.is_empty() || error.is_some()).then(|| {
        view! {
            <section class="notice error" role="alert" aria-labelledby="region-errors">
                <h2 id="region-errors" class="small">"Regions that could not be read"</h2>
                {error.map(|e| view! { <p>{format!("The region list: {e}")}</p> })}
                <ul>
                    {failed.into_iter().map(|r| {
                        let kept = match r.carried_from_ms {
                            Some(ms) if !r.instances.is_empty() => format!(
                                " Its {} instances are kept as last seen ({}): unknown is not gone, so their rules stay.",
                                r.instances.len(),
                                v.time(ms)
                            ),
                            _ => String::new(),
                        };
                        view! { <li><strong>{r.region.clone()}</strong>{format!(": {}.{kept}", r.error.unwrap_or_default())}</li> }
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

fn rule_text(r: &Rule) -> String {
    format!("{} → tcp/{}  {}", r.source, r.port, r.comment)
}

#[component]
fn PlanPanel(
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

fn instance_line(i: &Instance) -> String {
    format!(
        "{} {} ({}) {}",
        i.id,
        i.public_ip.as_deref().unwrap_or("no public IP"),
        i.state,
        i.region
    )
}

#[component]
fn Changes(v: FirewallView) -> impl IntoView {
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
fn Instances(inv: Inventory) -> impl IntoView {
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

#[component]
fn CurrentRules(rules: Vec<Rule>) -> impl IntoView {
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

#[component]
fn History(v: FirewallView) -> impl IntoView {
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

/// Rules removed and added as a diff: at most `SHOWN` of each, then how many
/// more (the plan and each audited apply).
fn rule_diff(removed: &[Rule], added: &[Rule], label: &'static str) -> impl IntoView {
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

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "done",
        "running" => "active",
        "failed" | "fenced" => "blocked",
        _ => "expired",
    }
}
