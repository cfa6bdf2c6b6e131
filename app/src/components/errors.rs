//! How errors read on a page.

use leptos::prelude::*;

/// The fallback of the app's error boundary: every error as a sentence, and a
/// way back.
pub fn error_list(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <section class="panel error-panel" role="alert">
            <h1>"Something went wrong"</h1>
            <ul>
                {move || {
                    // Several parts of a page often fail for one reason: say it once.
                    let mut seen = Vec::new();
                    for (_, e) in errors.get() {
                        let text = e.to_string();
                        if !seen.contains(&text) {
                            seen.push(text);
                        }
                    }
                    seen.into_iter().map(|text| view! { <li>{text}</li> }).collect_view()
                }}
            </ul>
            <p>
                "Reload the page to try again, or go back to the "
                <a href="/">"overview"</a>
                "."
            </p>
        </section>
    }
}
