//! Infrastructure health: not built yet; says honestly what will be here.

use leptos::prelude::*;
use leptos_meta::Title;

/// `/health`: an honest empty state until the health checks land.
#[component]
pub fn HealthPage() -> impl IntoView {
    view! {
        <Title text="Health" />
        <div class="page-head">
            <h1>"Infrastructure health"</h1>
        </div>
        <section class="panel empty-state">
            <h2>"No backends are checked yet"</h2>
            <p>"This page will show every pool of backends across data centres and cloud regions:"</p>
            <ul>
                <li>"UP, DOWN and since when, from checks run the HAProxy way (inter, fall, rise);"</li>
                <li>"the stats of your real HAProxy instances beside our own checks, with disagreements flagged;"</li>
                <li>"whether each data centre can fail over, and whether DNS TTLs allow it quickly."</li>
            </ul>
            <p class="muted">"Health checks are not configured in this version of Switchboard."</p>
        </section>
    }
}
