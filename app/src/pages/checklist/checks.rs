//! The automated checks: the order pages show them in, the panel with each
//! check's latest result and evidence and the buttons that run them, and the
//! badge class of a verdict.

use leptos::prelude::*;
use model::checklist::{AutomatedCheck, CheckRun, Verdict};

use super::migration::Actions;

/// The checks in the order pages show them.
pub(super) const CHECKS: [AutomatedCheck; 4] = [
    AutomatedCheck::DnsTtl,
    AutomatedCheck::TlsCertificate,
    AutomatedCheck::ServicePorts,
    AutomatedCheck::HttpHost,
];

/// The badge class of a check's verdict (also on the health page's DNS panel).
pub(crate) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "verdict verdict-pass",
        Verdict::Warn => "verdict verdict-warn",
        Verdict::Fail => "verdict verdict-fail",
        Verdict::CannotRun => "verdict verdict-cannot",
    }
}

fn check_help(check: AutomatedCheck, ttl_limit: u32) -> String {
    match check {
        AutomatedCheck::DnsTtl => format!(
            "Before the window: every name's TTL at most {ttl_limit} s. From the window on: each name resolves to the target."
        ),
        AutomatedCheck::TlsCertificate => {
            "A trusted certificate for each name on the target's HTTPS port, with days to expiry.".into()
        }
        AutomatedCheck::ServicePorts => "Each planned service answers on the target.".into(),
        AutomatedCheck::HttpHost => {
            "HTTP answers for each name's Host header on the target, and for HTTP/1.0 without one.".into()
        }
    }
}

// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn ChecksPanel(
    migration: i64,
    services: Vec<String>,
    ttl_limit: u32,
    runs: Vec<CheckRun>,
    actions: Option<Actions>,
) -> impl IntoView {
    let rows = CHECKS
        .into_iter()
        .map(|check| {
            let run = runs.iter().find(|r| r.report.check == check).cloned();
            let result = match run {
                None => view! { <p class="muted">"Not run yet."</p> }.into_any(),
                Some(run) => {
                    let r = run.report;
                    let evidence = r
                        .evidence
                        .iter()
                        .map(|e| view! {
                            <tr>
                                <td>{e.subject.clone()}</td>
                                <td><span class=verdict_class(e.verdict)>{e.verdict.label()}</span></td>
                                <td>{e.detail.clone()}</td>
                            </tr>
                        })
                        .collect_view();
                    let has_evidence = !r.evidence.is_empty();
                    view! {
                        <p>
                            <span class=verdict_class(r.verdict)>{r.verdict.label()}</span> " " {r.summary}
                        </p>
                        <p class="muted small">
                            {run.ran_by} " · " <time datetime=run.ran_at.iso>{run.ran_at.text}</time> " · " {r.elapsed_ms} " ms"
                        </p>
                        {has_evidence.then(|| view! {
                            <details>
                                <summary>"Evidence (" {r.evidence.len()} ")"</summary>
                                <div class="table-scroll">
                                    <table class="evidence">
                                        <thead><tr><th>"Looked at"</th><th>"Verdict"</th><th>"Seen"</th></tr></thead>
                                        <tbody>{evidence}</tbody>
                                    </table>
                                </div>
                            </details>
                        })}
                    }
                    .into_any()
                }
            };
            let button = actions.map(|a| view! {
                <ActionForm action=a.check attr:class="inline-form no-print">
                    <input type="hidden" name="migration" value=migration />
                    <input type="hidden" name="check" value=check.as_str() />
                    <button type="submit" class="button" disabled=move || a.check.pending().get()>"Run"</button>
                </ActionForm>
            });
            view! {
                <li class="check" id=format!("check-{}", check.as_str())>
                    <div class="check-head">
                        <h3>{check.label()}</h3>
                        {button}
                    </div>
                    <p class="muted small">{check_help(check, ttl_limit)}</p>
                    {result}
                </li>
            }
        })
        .collect_view();
    let run_all = actions.map(|a| view! {
        <ActionForm action=a.check attr:class="inline-form no-print">
            <input type="hidden" name="migration" value=migration />
            <input type="hidden" name="check" value="all" />
            <button type="submit" class="button button-primary" disabled=move || a.check.pending().get()>"Run every check"</button>
        </ActionForm>
        {move || a.check.pending().get().then(|| view! {
            <div class="check-progress" role="status" aria-live="polite">
                <progress aria-label="Checks running"></progress> " Checking DNS, certificates and ports…"
            </div>
        })}
        {move || a.check.value().get().and_then(Result::err).map(|e| view! {
            <p class="notice error" role="alert">{e.to_string()}</p>
        })}
    });
    let services = if services.is_empty() {
        "none listed".to_owned()
    } else {
        services.join(", ")
    };
    view! {
        <section class="panel checks" aria-labelledby="checks-title">
            <div class="section-head">
                <h2 id="checks-title">"Automated checks"</h2>
                {run_all}
            </div>
            <p class="muted small">"Services planned: " {services}</p>
            <ul class="check-list">{rows}</ul>
        </section>
    }
}
