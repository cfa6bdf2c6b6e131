//! The health page's read-only panels: sites (can each fail over?), pools,
//! DNS readiness, HAProxy's own stats and the UP/DOWN timeline.

use leptos::prelude::*;
use model::health::{HaproxyView, HealthEvent, PoolRow, SiteRow};

use super::backends::{ago, state_class};

#[component]
pub fn SitesPanel(sites: Vec<SiteRow>) -> impl IntoView {
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
pub fn PoolsPanel(pools: Vec<PoolRow>) -> impl IntoView {
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
pub fn DnsPanel(report: model::checklist::CheckReport) -> impl IntoView {
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
pub fn HaproxyPanel(views: Vec<HaproxyView>) -> impl IntoView {
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
pub fn EventsPanel(events: Vec<HealthEvent>, now: i64) -> impl IntoView {
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
