//! `/health`: sites, pools and every checked backend, live; HAProxy's own
//! stats beside our checks; DNS readiness; the UP/DOWN timeline.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::{
    auth::Permission,
    health::{
        HaproxyView, HealthEvent, HealthOverview, HealthRollup, HealthState, PoolRow, SiteRow,
        TargetLive, TargetRow,
    },
};

use crate::{
    components::shell::use_me,
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
    let edit = use_me().is_some_and(|me| me.can(Permission::ConfigureHealth));
    view! {
        <Title text="Health" />
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading health…"</p> }>
            {move || Suspend::new(async move {
                overview.await.map(|o| view! { <Overview o edit add remove /> })
            })}
        </Transition>
    }
}

fn ago(now_ms: i64, then_ms: i64) -> String {
    if then_ms <= 0 {
        return "—".into();
    }
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d", s / 86_400),
    }
}

fn state_class(state: Option<HealthState>) -> &'static str {
    match state {
        Some(HealthState::Up) => "hstate hstate-up",
        Some(HealthState::Down) => "hstate hstate-down",
        None => "hstate hstate-unknown",
    }
}

/// The state as HAProxy writes it: `UP`, `DOWN`, `UP 2/3` going down, `DOWN 1/2` going up.
fn state_text(live: &TargetLive, rise: u32, fall: u32) -> String {
    match live.state {
        None => "not checked yet".into(),
        Some(HealthState::Up) if live.health < rise + fall - 1 => {
            format!("UP {}/{}", live.health - rise + 1, fall)
        }
        Some(HealthState::Down) if live.health > 0 => format!("DOWN {}/{}", live.health, rise),
        Some(s) => s.label().into(),
    }
}

/// Latencies as a tiny line; failed checks as red dots on the baseline.
#[component]
fn Sparkline(recent: Vec<Option<u32>>) -> impl IntoView {
    const W: f64 = 80.0;
    const H: f64 = 18.0;
    let max = recent.iter().flatten().copied().max().unwrap_or(1).max(1);
    let n = recent.len().max(2);
    #[allow(clippy::cast_precision_loss)]
    let x = |i: usize| i as f64 * W / (n - 1) as f64;
    let mut line = String::new();
    let mut dots = Vec::new();
    for (i, r) in recent.iter().enumerate() {
        match r {
            Some(ms) => {
                let y = H - 1.0 - f64::from(*ms) * (H - 2.0) / f64::from(max);
                line.push_str(&format!(
                    "{}{:.1},{:.1} ",
                    if line.is_empty() { "M" } else { "L" },
                    x(i),
                    y
                ));
            }
            None => dots.push(x(i)),
        }
    }
    let label = format!(
        "latest {} checks: {} failed, slowest {} ms",
        recent.len(),
        dots.len(),
        max
    );
    view! {
        <svg class="spark" width="80" height="18" viewBox="0 0 80 18" role="img" aria-label=label>
            <path d=line fill="none" stroke="currentColor" stroke-width="1.2" />
            {dots.into_iter().map(|x| view! { <circle cx=format!("{x:.1}") cy="16" r="1.8" class="spark-fail" /> }).collect_view()}
        </svg>
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

#[component]
fn TargetRowView(
    t: TargetRow,
    live: RwSignal<TargetLive>,
    now: RwSignal<i64>,
    edit: bool,
    remove: ServerAction<RemoveHealthTarget>,
) -> impl IntoView {
    let (rise, fall) = (t.timing.rise, t.timing.fall);
    let check = format!(
        "{} {} · inter {} ms · fall {fall} rise {rise}",
        t.kind.as_str().to_uppercase(),
        t.request,
        t.timing.inter_ms
    );
    let haproxy = t.haproxy.clone().unwrap_or_default();
    let disagrees = t.disagrees;
    let id = t.id;
    view! {
        <tr data-id=t.id data-state=move || live.with(|l| l.state.map_or("unknown", HealthState::as_str))>
            <td><strong>{t.name}</strong><br /><code class="small">{t.address}</code></td>
            <td>{t.pool}</td>
            <td class="small">{check}</td>
            <td>
                <span class=move || live.with(|l| state_class(l.state))>{move || live.with(|l| state_text(l, rise, fall))}</span>
                {move || live.with(|l| l.warning.clone()).map(|w| view! { <br /><span class="hwarn small">{w}</span> })}
            </td>
            <td class="small">{move || ago(now.get(), live.with(|l| l.since_ms))}</td>
            <td class="num">{move || live.with(|l| if l.checked_ms > 0 { format!("{} ms", l.latency_ms) } else { "—".into() })}</td>
            <td>{move || view! { <Sparkline recent=live.with(|l| l.recent.clone()) /> }}</td>
            <td class="small">{move || live.with(|l| l.message.clone())}</td>
            <td class="small">
                {haproxy}
                {disagrees.then(|| view! { <br /><span class="hwarn" title="HAProxy and our checker disagree">"disagrees"</span> })}
            </td>
            {edit.then(|| view! {
                <td>
                    <ActionForm action=remove>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="button button-quiet" aria-label=format!("Remove backend {id}")>"Remove"</button>
                    </ActionForm>
                </td>
            })}
        </tr>
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

#[component]
fn FilterForm(pools: Vec<String>) -> impl IntoView {
    let query = use_query_map();
    let (state, pool, q) = query.with_untracked(|m| {
        (
            m.get("state").unwrap_or_default(),
            m.get("pool").unwrap_or_default(),
            m.get("q").unwrap_or_default(),
        )
    });
    view! {
        <form method="get" class="inline-form filters" role="search">
            <label>
                "Show "
                <select name="state">
                    {[("", "every backend"), ("problems", "problems only"), ("down", "DOWN only")]
                        .into_iter()
                        .map(|(v, l)| view! { <option value=v selected=state == v>{l}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>
                "Pool "
                <select name="pool">
                    <option value="">"all pools"</option>
                    {pools.into_iter().map(|p| {
                        let selected = p == pool;
                        view! { <option value=p.clone() selected=selected>{p.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Name or address " <input type="text" name="q" value=q size="14" /></label>
            <button type="submit" class="button">"Filter"</button>
        </form>
    }
}

#[component]
fn SitesPanel(sites: Vec<SiteRow>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="sites-title">
            <h2 id="sites-title">"Sites"</h2>
            <ul class="site-cards">
                {sites.into_iter().map(|s| {
                    let (class, verdict) = if s.can_fail_over {
                        ("site-card site-ok", "can fail over")
                    } else {
                        ("site-card site-risk", "cannot fail over")
                    };
                    view! {
                        <li class=class>
                            <h3>{s.name} " " <span class="muted small">{s.kind}</span></h3>
                            <p>{format!("{} of {} backends UP", s.up, s.total)}</p>
                            <p class="failover"><strong>{verdict}</strong></p>
                            <ul class="small muted">{s.failover.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn PoolsPanel(pools: Vec<PoolRow>) -> impl IntoView {
    view! {
        <section class="panel table-panel" aria-labelledby="pools-title">
            <h2 id="pools-title">"Pools"</h2>
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"Pool"</th><th>"Site"</th><th>"Service"</th><th>"State"</th><th>"UP"</th><th>"Needed"</th></tr></thead>
                    <tbody>
                        {pools.into_iter().map(|p| {
                            let class = format!("pstate pstate-{}", p.state.as_str());
                            let short = (p.up < p.needed).then(|| view! { " " <span class="hwarn small">"below capacity"</span> });
                            view! {
                                <tr data-pool=p.name.clone()>
                                    <td><a href=format!("/health?pool={}", p.name)>{p.name.clone()}</a></td>
                                    <td>{p.site}</td>
                                    <td>{p.service}</td>
                                    <td><span class=class>{p.state.label()}</span></td>
                                    <td>
                                        <meter min="0" max=p.total.max(1) value=p.up low=p.needed.max(1) optimum=p.total.max(1)></meter>
                                        " " {format!("{} / {}", p.up, p.total)} {short}
                                    </td>
                                    <td>{p.needed}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn DnsPanel(report: model::checklist::CheckReport) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="dns-title">
            <h2 id="dns-title">"DNS readiness"</h2>
            <p class="muted small">"A long TTL keeps clients on a failed site after DNS changes: browsers, ISPs and offices cache the answer."</p>
            <p><span class=crate::pages::checklist::verdict_class(report.verdict)>{report.verdict.label()}</span> " " {report.summary}</p>
            <ul class="small">
                {report.evidence.into_iter().map(|e| view! { <li><code>{e.subject}</code> " " {e.detail}</li> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn HaproxyPanel(views: Vec<HaproxyView>) -> impl IntoView {
    view! {
        <section class="panel table-panel" aria-labelledby="haproxy-title">
            <h2 id="haproxy-title">"HAProxy"</h2>
            {views.into_iter().map(|v| {
                let body = match v.error {
                    Some(e) => view! { <p class="notice error">{e}</p> }.into_any(),
                    None => view! {
                        <div class="table-scroll">
                            <table class="haproxy">
                                <thead><tr><th>"Proxy"</th><th>"Server"</th><th>"Status"</th><th>"Check"</th><th class="num">"Sessions"</th><th class="num">"Bytes in/out"</th><th>"Changed"</th></tr></thead>
                                <tbody>
                                    {v.rows.into_iter().map(|r| {
                                        let class = if r.status.starts_with("UP") || r.status == "OPEN" { "hstate hstate-up" } else if r.status.starts_with("DOWN") { "hstate hstate-down" } else { "hstate hstate-unknown" };
                                        view! {
                                            <tr>
                                                <td>{r.proxy}</td><td>{r.service}</td>
                                                <td><span class=class>{r.status}</span></td>
                                                <td class="small">{r.check_status} " " {r.check_detail}</td>
                                                <td class="num">{format!("{} ({} total)", r.sessions, r.sessions_total)}</td>
                                                <td class="num">{format!("{} / {}", r.bytes_in, r.bytes_out)}</td>
                                                <td class="small">{r.last_change_secs.map(|s| format!("{s} s ago")).unwrap_or_default()}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                };
                view! { <h3>{v.name}</h3> {body} }
            }).collect_view()}
        </section>
    }
}

#[component]
fn EventsPanel(events: Vec<HealthEvent>, now: i64) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="events-title">
            <h2 id="events-title">"Timeline"</h2>
            {if events.is_empty() {
                view! { <p class="muted">"No backend has gone UP or DOWN yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline">
                        {events.into_iter().map(|e| view! {
                            <li>
                                <span class=state_class(Some(e.to))>{e.to.label()}</span> " "
                                <strong>{e.name}</strong> " (" {e.pool} ") "
                                <span class="muted small">{format!("{} ago · {}", ago(now, e.at_ms), e.message)}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn AddTargetForm(pools: Vec<String>, add: ServerAction<AddHealthTarget>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="add-target-title">
            <h2 id="add-target-title">"Add a backend"</h2>
            <ActionForm action=add attr:class="form-grid">
                <label>"Pool" <select name="form[pool]">{pools.into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}</select></label>
                <label>"Name" <input type="text" name="form[name]" required maxlength="100" /></label>
                <label>"Address (host:port)" <input type="text" name="form[address]" required placeholder="10.0.0.5:80" /></label>
                <label>"Check" <select name="form[check]"><option value="http">"HTTP"</option><option value="https">"HTTPS"</option><option value="tcp">"TCP connect"</option></select></label>
                <label>"Path" <input type="text" name="form[path]" placeholder="/healthz" /></label>
                <label>"inter (ms)" <input type="text" name="form[inter]" inputmode="numeric" placeholder="2000" /></label>
                <label>"fall" <input type="text" name="form[fall]" inputmode="numeric" placeholder="3" /></label>
                <label>"rise" <input type="text" name="form[rise]" inputmode="numeric" placeholder="2" /></label>
                <button type="submit" class="button button-primary">"Add"</button>
            </ActionForm>
            {move || add.value().get().and_then(Result::err).map(|e| view! { <p class="notice error" role="alert">{e.to_string()}</p> })}
        </section>
    }
}
