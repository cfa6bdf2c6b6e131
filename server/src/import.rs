//! `POST /import/outlets`: the import form's upload (multipart: `file`, and
//! `replace` when every outlet is to be replaced). A plain HTML answer, so the
//! form works without JavaScript: what was imported, or every problem found
//! (nothing is imported then).

use axum::{
    extract::{Multipart, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    Extension,
};
use model::auth::Permission;
use services::{
    auth::{Client, Principal},
    Error,
};

use crate::AppState;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Switchboard</title><link rel=\"stylesheet\" href=\"/pkg/switchboard.css\"></head><body><main id=\"main\"><section class=\"panel\" role=\"status\"><h1>{title}</h1>{body}<p><a href=\"/import\">Import another file</a> · <a href=\"/map\">Back to the map</a></p></section></main></body></html>"
        )),
    )
        .into_response()
}

/// `POST /import/outlets`.
pub async fn outlets(
    state: State<AppState>,
    who: Extension<Principal>,
    client: Extension<Client>,
    form: Multipart,
) -> Response {
    upload(state, who, client, form, What::Outlets).await
}

/// `POST /import/regions`.
pub async fn regions(
    state: State<AppState>,
    who: Extension<Principal>,
    client: Extension<Client>,
    form: Multipart,
) -> Response {
    upload(state, who, client, form, What::Regions).await
}

#[derive(Clone, Copy)]
enum What {
    Outlets,
    Regions,
}

async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(client): Extension<Client>,
    mut form: Multipart,
    what: What,
) -> Response {
    if let Err(e) = who.require(Permission::EditMap) {
        return page(
            e.status(),
            "Not allowed",
            &format!("<p>{}</p>", escape(&e.message())),
        );
    }
    let mut file: Option<(String, String)> = None;
    let mut replace = false;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("file") => {
                    let name = field.file_name().unwrap_or("upload").to_owned();
                    match field.bytes().await {
                        Ok(bytes) => match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => file = Some((name, text)),
                            Err(_) => {
                                return page(
                                    StatusCode::BAD_REQUEST,
                                    "Nothing was imported",
                                    &format!(
                                        "<p>{} is not UTF-8 text (save it as UTF-8).</p>",
                                        escape(&name)
                                    ),
                                )
                            }
                        },
                        Err(e) => {
                            return page(
                                StatusCode::BAD_REQUEST,
                                "Nothing was imported",
                                &format!("<p>The upload broke off: {}</p>", escape(&e.to_string())),
                            )
                        }
                    }
                }
                Some("replace") => replace = true,
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Nothing was imported",
                    &format!(
                        "<p>The upload could not be read: {}</p>",
                        escape(&e.to_string())
                    ),
                )
            }
        }
    }
    let Some((name, text)) = file.filter(|(n, _)| !n.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Nothing was imported",
            "<p>Choose a file to import.</p>",
        );
    };
    let atlas = &state.services.atlas;
    let (result, action, noun, title) = match what {
        What::Outlets => (
            atlas.import_outlets(&who, &name, &text, replace).await,
            "outlets.import",
            "outlet(s)",
            "Outlets imported",
        ),
        What::Regions => (
            atlas.import_regions(&who, &name, &text).await,
            "regions.import",
            "region(s)",
            "Regions imported",
        ),
    };
    let replaced = replace && matches!(what, What::Outlets);
    match result {
        Ok(n) => {
            let detail = format!(
                "{n} {noun}{}",
                if replaced { ", replacing all" } else { "" }
            );
            if let Err(e) = state
                .services
                .auth
                .audit(&who, &client, action, &name, &detail)
                .await
            {
                tracing::warn!("import not audited: {e}");
            }
            page(
                StatusCode::OK,
                title,
                &format!(
                    "<p>Imported {n} {noun} from <code>{}</code>{}.</p>",
                    escape(&name),
                    if replaced {
                        ", replacing every outlet before"
                    } else {
                        ""
                    }
                ),
            )
        }
        Err(Error::Invalid(problems)) => {
            let msg = problems.to_string();
            let mut lines = msg.lines();
            let head = lines.next().unwrap_or_default();
            let items: String = lines.map(|l| format!("<li>{}</li>", escape(l))).collect();
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nothing was imported",
                &format!(
                    "<p>{}: {}.</p><ul class=\"problems\">{items}</ul>",
                    escape(&name),
                    escape(head)
                ),
            )
        }
        Err(e) => {
            if e.is_fault() {
                tracing::error!(error = ?e, "import failed");
            }
            page(
                e.status(),
                "Nothing was imported",
                &format!("<p>{}</p>", escape(&e.message())),
            )
        }
    }
}
