//! `/firewall`: the page, kept live on the `firewall` and `job` change feeds,
//! its head (backend, ports, mode, sync now, scripts), the figures, the
//! regions that could not be read, and the page shown when no firewall is
//! configured.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::{
    auth::Permission,
    firewall::{FirewallOverview, Inventory},
};

use super::{
    history::History,
    inventory::{Changes, Instances},
    plan::{CurrentRules, PlanPanel},
};
use crate::{
    components::shell::can,
    serverfns::firewall::{get_firewall, FirewallApply, FirewallSyncNow, FirewallView},
};

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
