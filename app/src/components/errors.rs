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
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                        .collect_view()
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
