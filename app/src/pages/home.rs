//! The overview: the four parts of Switchboard and what each is for.

use leptos::prelude::*;
use leptos_meta::Title;

struct Part {
    href: &'static str,
    title: &'static str,
    /// SVG path data of a 24 px line icon.
    icon: &'static str,
    text: &'static str,
}

const PARTS: [Part; 4] = [
    Part {
        href: "/map",
        title: "Reach map",
        icon: "M3 6l6-3 6 3 6-3v15l-6 3-6-3-6 3zM9 3v15M15 6v15",
        text: "Media outlets and the areas they reach across the UK, chosen from a region tree.",
    },
    Part {
        href: "/health",
        title: "Infrastructure health",
        icon: "M2 12h4l3-8 4 16 3-8h6",
        text: "Backends in pools across data centres, checked the HAProxy way, with HAProxy's own stats.",
    },
    Part {
        href: "/firewall",
        title: "Firewall",
        icon: "M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z",
        text: "EC2 instances in every region turned into allow rules: planned, applied atomically, audited.",
    },
    Part {
        href: "/checklist",
        title: "Migration checklist",
        icon: "M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zM7 12l3 3 7-7",
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
                                <svg class="card-icon" viewBox="0 0 24 24" aria-hidden="true">
                                    <path d=p.icon />
                                </svg>
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
