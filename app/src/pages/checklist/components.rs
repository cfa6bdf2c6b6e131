//! What several checklist pages show: the progress bar, the "times in" zone
//! box with the zones it offers, and the `tz` query parameter they follow.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::checklist::Progress;

/// Zones offered in the "times in" box (any IANA name may be typed).
pub(super) const ZONES: [&str; 12] = [
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Melbourne",
];

/// The `tz` query parameter (empty: the browser's zone from its cookie).
pub(super) fn query_zone() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.with(|q| q.get("tz").unwrap_or_default()))
}

/// A bar and its words, for a whole checklist or a section.
#[component]
pub fn ProgressBar(progress: Progress, #[prop(optional)] small: bool) -> impl IntoView {
    let words = format!(
        "{} of {} settled ({}%){}",
        progress.settled(),
        progress.total,
        progress.percent(),
        if progress.blocked > 0 {
            format!(", {} blocked", progress.blocked)
        } else {
            String::new()
        }
    );
    let class = if small {
        "progress progress-small"
    } else {
        "progress"
    };
    // Beside a section's title the bar has little room: numbers only.
    let shown = if small {
        let blocked = if progress.blocked > 0 {
            format!(" · {} blocked", progress.blocked)
        } else {
            String::new()
        };
        format!("{}/{}{blocked}", progress.settled(), progress.total)
    } else {
        words.clone()
    };
    view! {
        <div class=class>
            <progress max=progress.total.max(1) value=progress.settled() aria-label=words></progress>
            <span class="progress-words">{shown}</span>
        </div>
    }
}

/// The zone box: a GET form, so it works without JavaScript too.
// Props are owned (Leptos); the macro exempts only private components from this lint.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn ZoneForm(zone: String) -> impl IntoView {
    let open = use_query_map().with_untracked(|q| q.get("open"));
    view! {
        <form method="get" class="inline-form zone-form">
            <label>
                "Times in "
                <input type="text" name="tz" list="zones" value=zone.clone() size="20" aria-describedby="zone-help" />
            </label>
            {open.map(|o| view! { <input type="hidden" name="open" value=o /> })}
            <datalist id="zones">
                {ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}
            </datalist>
            <button type="submit" class="button button-quiet">"Show"</button>
            <span id="zone-help" class="muted small">"an IANA name, e.g. Australia/Melbourne"</span>
        </form>
    }
}
