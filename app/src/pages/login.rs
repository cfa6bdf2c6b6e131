//! Sign-in: a plain HTML form posted to `/login`, so it works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::shell::use_me;

/// `/login`: the form, with what went wrong last time.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|q| q.get(k));
    let message = move || {
        let error = get("error");
        match error.as_deref() {
            Some("invalid") => Some((
                "error",
                "The user name or password is not right.".to_owned(),
            )),
            Some("throttled") => Some((
                "error",
                format!(
                    "Too many failed sign-ins. Try again in {} minute(s).",
                    get("retry").unwrap_or_else(|| "a few".into())
                ),
            )),
            Some("too_long") => Some((
                "error",
                format!(
                    "A user name has at most {} characters.",
                    model::auth::limits::USERNAME_MAX
                ),
            )),
            Some("unavailable") => Some((
                "error",
                "Switchboard could not check your sign-in just now. Try again in a moment."
                    .to_owned(),
            )),
            Some(_) => Some((
                "error",
                "Fill in both the user name and the password.".to_owned(),
            )),
            None if get("signed_out").is_some() => {
                Some(("info", "You have signed out.".to_owned()))
            }
            None => None,
        }
    };
    let me = use_me();
    view! {
        <Title text="Sign in" />
        <section class="panel login-panel">
            <h1>"Sign in"</h1>
            {me.map(|me| view! {
                <p class="notice info">"You are signed in as " <strong>{me.username}</strong> ". " <a href="/">"Go to the overview"</a></p>
            })}
            {move || message().map(|(kind, text)| view! {
                <p class=format!("notice {kind}") role=if kind == "error" { "alert" } else { "status" }>{text}</p>
            })}
            <form method="post" action="/login" class="stack">
                <input type="hidden" name="next" value=move || get("next").unwrap_or_else(|| "/".into()) />
                <label>
                    "User name"
                    <input
                        type="text"
                        name="username"
                        autocomplete="username"
                        required
                        autofocus
                        maxlength=model::auth::limits::USERNAME_MAX
                        value=move || get("user").unwrap_or_default()
                    />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required maxlength=model::auth::limits::PASSWORD_MAX />
                </label>
                <button type="submit" class="button button-primary">"Sign in"</button>
            </form>
            <p class="muted small">
                "Opened a shared map? Shared links work without an account. Staff accounts are made by an admin."
            </p>
        </section>
    }
}
