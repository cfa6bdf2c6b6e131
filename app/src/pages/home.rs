//! The overview: the four parts of Switchboard and what each is for.

use leptos::prelude::*;
use leptos_meta::Title;

struct Part {
    href: &'static str,
    title: &'static str,
    icon: &'static str,
    text: &'static str,
}

const PARTS: [Part; 4] = [
    Part {
        href: "/map",
        title: "Reach map",
        icon: "🗺",
        text: "Media outlets and the areas they reach across the UK, chosen from a region tree.",
    },
    Part {
        href: "/health",
        title: "Infrastructure health",
        icon: "♥",
        text: "Backends in pools across data centres, checked the HAProxy way, with HAProxy's own stats.",
    },
    Part {
        href: "/firewall",
        title: "Firewall",
        icon: "⛨",
        text: "EC2 instances in every region turned into allow rules: planned, applied atomically, audited.",
    },
    Part {
        href: "/checklist",
        title: "Migration checklist",
        icon: "☑",
        text: "Everything to settle when sites and services move between servers, section by section.",
    },
];

/// `/`: a card for each part.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <div class="page-head">
            <h1>"Overview"</h1>
            <p class="lede">"One place for reach maps, infrastructure health, firewall sync and migrations."</p>
        </div>
        <ul class="cards">
            {PARTS
                .iter()
                .map(|p| {
                    view! {
                        <li class="card">
                            <a href=p.href>
                                <span class="card-icon" aria-hidden="true">{p.icon}</span>
                                <h2>{p.title}</h2>
                                <p>{p.text}</p>
                            </a>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
