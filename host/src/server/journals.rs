//! The journal upload page: a CSV or JSON file imported into one entity, as drafts or posted.
//! Every refusal is listed by entry, and nothing from the file is written.

use super::api::{ImportQuery, import_body, too_large};
use super::auth::Caller;
use super::pages::layout;
use super::{ServerError, SharedState};
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::response::Html;
use maud::html;

pub async fn upload_page(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let entities = state
        .with_ledger_to_read(&caller.actor, |ledger, _| Ok(ledger.readable_entities()?))
        .await?;
    let body = html! {
        form method="post" action="/journals" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(caller.csrf());
            fieldset {
                legend { "Import a journal file" }
                p { label { "Entity " select name="entity" { @for entity in &entities { option value=(entity) { (entity) } } } } }
                p { label { "Module " select name="module" {
                    @for module in ["ledger", "receivables", "payables", "inventory", "close"] { option value=(module) { (module) } }
                } } }
                p { label { "File (CSV or JSON) " input type="file" name="file" accept=".csv,.json,text/csv,application/json" required; } }
                p { label { "CSV delimiter " input name="delimiter" size="3" value=","; } }
                p { label { input type="checkbox" name="post" value="true"; " Post the entries now (otherwise they are kept as drafts)" } }
                button type="submit" { "Import" }
            }
        }
        p.muted { "CSV columns: entry, date, account, amount (debit positive) or debit/credit, and optionally currency, accounting_amount, description, period, dim.NAME. One refused entry and nothing from the file is written; re-importing an identical entry does nothing." }
    };
    Ok(layout("Journals", Some(&caller), body))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ServerError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ServerError::bad_request(format!("the upload could not be read: {}", error.body_text()))
    }
}

pub async fn upload(
    State(state): State<SharedState>,
    caller: Caller,
    mut multipart: Multipart,
) -> Result<Html<String>, ServerError> {
    let (mut csrf, mut entity, mut module, mut delimiter, mut post) = (String::new(), String::new(), None, None, false);
    let mut file: Option<(String, Bytes)> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().unwrap_or("upload").to_owned();
            file = Some((filename, field.bytes().await.map_err(multipart_error)?));
            continue;
        }
        let value = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "csrf" => csrf = value,
            "entity" => entity = value,
            "module" => module = Some(value),
            "delimiter" => delimiter = Some(value),
            "post" => post = value == "true",
            _ => {}
        }
    }
    caller.check_csrf(&csrf)?;
    let Some((filename, bytes)) = file else {
        return Err(ServerError::bad_request(
            "no file was uploaded: choose a CSV or JSON file",
        ));
    };
    let json = filename.to_ascii_lowercase().ends_with(".json");
    let query = ImportQuery {
        entity: entity.clone(),
        format: Some(if json { "json" } else { "csv" }.to_owned()),
        module,
        post: Some(post),
        source: Some(filename.clone()),
        delimiter: if json { None } else { delimiter },
    };
    let summary = import_body(&state, &caller, query, bytes).await?;
    let body = html! {
        div.ok role="status" { (crate::commands::import::summary_line(&filename, &entity, post, &summary)) }
        p { a href="/journals" { "Import another file" } }
    };
    Ok(layout("Journal imported", Some(&caller), body))
}
