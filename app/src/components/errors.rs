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

/// The page a signed-in user sees when their role does not allow `permission`,
/// with status 403; `None` when it does. Pages call it before loading anything.
pub fn require(permission: model::auth::Permission) -> Option<AnyView> {
    let me = crate::components::shell::use_me();
    if me.as_ref().is_some_and(|me| me.can(permission)) {
        return None;
    }
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    let needs = crate::components::shell::role_label(model::auth::Role::least_for(permission));
    Some(
        view! {
            <section class="panel error-panel" role="alert">
                <h1>"Not allowed"</h1>
                <p>{format!("You do not have permission to see this page: it needs the {needs} role.")}</p>
                <p><a href="/">"Back to the overview"</a></p>
            </section>
        }
        .into_any(),
    )
}
