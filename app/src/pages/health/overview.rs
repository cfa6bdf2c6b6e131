//! `/health`: the page and its body (sites, pools, DNS, HAProxy, the backends
//! table and the timeline), kept live: rows poll for changes, and the roll-up
//! reloads when a backend goes UP or DOWN.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::{
    auth::Permission,
    health::{HealthOverview, HealthRollup, TargetLive},
};

use super::{
    backends::{AddTargetForm, FilterForm, TargetRowView},
    panels::{DnsPanel, EventsPanel, HaproxyPanel, PoolsPanel, SitesPanel},
};
use crate::{
    components::shell::can,
    serverfns::health::{get_health, AddHealthTarget, RemoveHealthTarget},
};

/// `/health?state=&pool=&q=`.
#[component]
pub fn HealthPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("state").unwrap_or_default(),
                q.get("pool").unwrap_or_default(),
                q.get("q").unwrap_or_default(),
            )
        })
    });
    let add = ServerAction::<AddHealthTarget>::new();
    let remove = ServerAction::<RemoveHealthTarget>::new();
    let overview = Resource::new(
        move || (filter.get(), add.version().get(), remove.version().get()),
        |((state, pool, q), ..)| get_health(state, pool, q),
    );
    let edit = can(Permission::ConfigureHealth);
    view! {
        <Title text="Health" />
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading health…"</p> }>
            {move || Suspend::new(async move {
                overview.await.map(|o| view! { <Overview o edit add remove /> })
            })}
        </Transition>
    }
}

#[component]
fn Overview(
    o: HealthOverview,
    edit: bool,
    add: ServerAction<AddHealthTarget>,
    remove: ServerAction<RemoveHealthTarget>,
) -> impl IntoView {
    // One signal per row: a live update touches only the rows that changed.
    let rows: HashMap<i64, RwSignal<TargetLive>> = o
        .targets
        .iter()
        .map(|t| (t.id, RwSignal::new(t.live.clone())))
        .collect();
    let now = RwSignal::new(o.rollup.now_ms);
    // Sites, pools and the timeline: reloaded when a backend goes UP or DOWN.
    let pool_names: Vec<String> = o.rollup.pools.iter().map(|p| p.name.clone()).collect();
    let since = o.rollup.now_ms;
    let rollup = RwSignal::new(o.rollup);
    watch_live(rows.clone(), now, since, rollup);
    let total_targets = o.total_targets;
    let summary = move || {
        rollup.with(|r| {
            let up: u32 = r.pools.iter().map(|p| p.up).sum();
            let down: u32 = r.pools.iter().map(|p| p.down).sum();
            let checker = if r.checker.is_empty() {
                "no replica runs the checker right now".to_owned()
            } else {
                format!("checks run on {}", r.checker)
            };
            format!(
                "{total_targets} targets in {} pools at {} sites · {up} UP · {down} DOWN · {checker}",
                r.pools.len(),
                r.sites.len()
            )
        })
    };
    let shown = o.targets.len();
    let matched = o.matched;
    let capped = (matched as usize > shown).then(|| {
        view! {
            <p class="notice info small">
                {format!("{shown} of the {matched} matching backends are listed, problems first: narrow the list with the filters.")}
            </p>
        }
    });
    let targets = o.targets;
    view! {
        <div class="page-head">
            <h1>"Infrastructure health"</h1>
            <p class="lede">{summary}</p>
        </div>
        {move || view! { <SitesPanel sites=rollup.with(|r| r.sites.clone()) /> }}
        {move || view! { <PoolsPanel pools=rollup.with(|r| r.pools.clone()) /> }}
        {o.dns.map(|d| view! { <DnsPanel report=d /> })}
        {(!o.haproxy.is_empty()).then(|| view! { <HaproxyPanel views=o.haproxy /> })}
        <section class="panel table-panel" aria-labelledby="targets-title">
            <div class="section-head">
                <h2 id="targets-title">"Backends"</h2>
                <span class="muted small" aria-live="polite">{format!("{shown} of {matched} shown ({total_targets} in all)")}</span>
            </div>
            <FilterForm pools=pool_names.clone() />
            {capped}
            <div class="table-scroll">
                <table class="targets">
                    <thead>
                        <tr>
                            <th>"Backend"</th><th>"Pool"</th><th>"Check"</th><th>"State"</th>
                            <th>"For"</th><th class="num">"Latency"</th><th>"Recent"</th><th>"Last check"</th><th>"HAProxy"</th>
                            {edit.then(|| view! { <th><span class="visually-hidden">"Actions"</span></th> })}
                        </tr>
                    </thead>
                    <tbody>
                        {targets
                            .into_iter()
                            .map(|t| {
                                let live = rows.get(&t.id).copied().unwrap_or_else(|| RwSignal::new(t.live.clone()));
                                view! { <TargetRowView t live now edit remove /> }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        {move || rollup.with(|r| view! { <EventsPanel events=r.events.clone() now=r.now_ms /> })}
        {edit.then(|| view! { <AddTargetForm pools=pool_names add /> })}
        {move || remove.value().get().and_then(Result::err).map(|e| view! { <p class="notice error" role="alert">{e.to_string()}</p> })}
    }
}

/// Keeps rows current: asks for the rows changed since the last answer every
/// two seconds, and at once when the change feed says a backend went UP or DOWN.
#[cfg(feature = "hydrate")]
fn watch_live(
    rows: HashMap<i64, RwSignal<TargetLive>>,
    now: RwSignal<i64>,
    since: i64,
    rollup: RwSignal<HealthRollup>,
) {
    use std::{cell::Cell, rc::Rc};
    use wasm_bindgen::{closure::Closure, JsCast};
    let since = Rc::new(Cell::new(since));
    let busy = Rc::new(Cell::new(false));
    let rows = Rc::new(rows);
    let poll = {
        let (since, busy, rows) = (since.clone(), busy.clone(), rows.clone());
        move || {
            if busy.replace(true) {
                return;
            }
            let (since, busy, rows) = (since.clone(), busy.clone(), rows.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(delta) = crate::serverfns::health::health_live(since.get()).await {
                    for row in delta.rows {
                        if let Some(signal) = rows.get(&row.id) {
                            signal.set(row);
                        }
                    }
                    since.set(delta.now_ms);
                    now.set(delta.now_ms);
                }
                busy.set(false);
            });
        }
    };
    let Some(window) = web_sys::window() else {
        return;
    };
    let tick = Closure::<dyn FnMut()>::new(poll.clone());
    let timer = window
        .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), 2000)
        .unwrap_or(0);
    crate::components::live::subscribe("health", move |_| {
        poll();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(r) = crate::serverfns::health::get_health_rollup().await {
                rollup.set(r);
            }
        });
    });
    let keep = send_wrapper::SendWrapper::new((tick, window));
    on_cleanup(move || keep.1.clear_interval_with_handle(timer));
}

#[cfg(not(feature = "hydrate"))]
fn watch_live(
    _rows: HashMap<i64, RwSignal<TargetLive>>,
    _now: RwSignal<i64>,
    _since: i64,
    _rollup: RwSignal<HealthRollup>,
) {
}
