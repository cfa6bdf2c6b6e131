//! The checked backends: a row per backend with its state as HAProxy writes
//! it, latency sparkline and remove button; the filter form above the table
//! and the form that adds one.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::health::{CheckKind, HealthState, TargetLive, TargetRow};

use crate::serverfns::health::{AddHealthTarget, RemoveHealthTarget};

pub(super) fn ago(now_ms: i64, then_ms: i64) -> String {
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

pub(super) fn state_class(state: Option<HealthState>) -> &'static str {
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
pub fn TargetRowView(
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

#[component]
pub fn FilterForm(pools: Vec<String>) -> impl IntoView {
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
pub fn AddTargetForm(pools: Vec<String>, add: ServerAction<AddHealthTarget>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="add-target-title">
            <h2 id="add-target-title">"Add a backend"</h2>
            <ActionForm action=add attr:class="form-grid">
                <label>"Pool" <select name="form[pool]">{pools.into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}</select></label>
                <label>"Name" <input type="text" name="form[name]" required maxlength="100" /></label>
                <label>"Address (host:port)" <input type="text" name="form[address]" required placeholder="10.0.0.5:80" /></label>
                <label>"Check" <select name="form[check]">{check_kind_options()}</select></label>
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

/// One option per check kind (`CheckKind::ALL`), the default first and chosen,
/// so a new kind reaches the form without an edit here.
fn check_kind_options() -> impl IntoView {
    let first = CheckKind::default();
    std::iter::once(first)
        .chain(CheckKind::ALL.into_iter().filter(move |&k| k != first))
        .map(|k| view! { <option value=k.as_str() selected=k == first>{k.label()}</option> })
        .collect_view()
}
