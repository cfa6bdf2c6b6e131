//! Firewall sync: not built yet; says honestly what will be here.

use leptos::prelude::*;
use leptos_meta::Title;

/// `/firewall`: an honest empty state until the EC2 sync lands.
#[component]
pub fn FirewallPage() -> impl IntoView {
    view! {
        <Title text="Firewall" />
        <div class="page-head">
            <h1>"Firewall"</h1>
        </div>
        <section class="panel empty-state">
            <h2>"No firewall is managed yet"</h2>
            <p>"This page will turn the EC2 instances of every region into host firewall allow rules:"</p>
            <ul>
                <li>"an inventory per region, with regions that could not be read reported, never guessed;"</li>
                <li>"a plan of rules to add and remove before anything changes, applied atomically with iptables or nftables;"</li>
                <li>"an audit trail of every sync, and a schedule that never overlaps itself."</li>
            </ul>
            <p class="muted">"No AWS account or firewall host is configured in this version of Switchboard."</p>
        </section>
    }
}
