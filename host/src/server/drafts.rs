//! The drafts page: every draft journal of the entities the user may read, with what an
//! approver approves (its lines and debits), who prepared it and where its approval stands; and
//! the forms that submit, approve, reject or discard one. Each action goes through the ledger's
//! own checks (its permission, and never the preparer approving), so the page adds no rule.

use super::auth::{self, Caller};
use super::pages::layout;
use super::{ServerError, SharedState};
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::approval::{ApprovalState, DraftApproval, draft_approvals};
use closebook_ledger::ids::{EntityId, EntryKey};
use closebook_ledger::journal::NewEntry;
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/drafts", get(drafts_page))
        .route("/drafts/action", post(draft_action))
}

#[derive(Deserialize)]
struct DraftsQuery {
    done: Option<String>,
}

async fn drafts_page(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<DraftsQuery>,
) -> Result<Html<String>, ServerError> {
    let drafts = state
        .with_ledger_to_read(&caller.actor, |ledger, _| {
            let user = ledger.user().clone();
            let mut drafts = Vec::new();
            for entity in ledger.readable_entities()? {
                let found = ledger.read(|db| draft_approvals(db, &entity, &user))?;
                drafts.extend(found.into_iter().map(|draft| (entity.clone(), draft)));
            }
            Ok(drafts)
        })
        .await?;
    let body = html! {
        @if let Some(done) = &query.done { div.ok role="status" { (done) } }
        @if drafts.is_empty() {
            p { "No draft journals in the entities you may read." }
        }
        @for (entity, draft) in &drafts { (draft_section(&caller, entity, draft)) }
        p.muted { "A draft that needs approval (setup's [[journal_approval]]) posts once a user with journal.approve who neither imported nor submitted it approves it. Post drafts from the command line with closebook journal post, or through the API." }
    };
    Ok(layout("Drafts", Some(&caller), body))
}

/// One draft: its facts, its lines, and the actions its state allows.
fn draft_section(caller: &Caller, entity: &EntityId, found: &DraftApproval) -> Markup {
    let draft = &found.draft;
    let entry: Option<NewEntry> = serde_json::from_str(&draft.body).ok();
    let action = |name: &str, label: &str, text: Option<&str>| {
        html! {
            form.inline method="post" action="/drafts/action" {
                input type="hidden" name="csrf" value=(caller.csrf());
                input type="hidden" name="entity" value=(entity);
                input type="hidden" name="entry" value=(draft.key);
                input type="hidden" name="action" value=(name);
                @if let Some(placeholder) = text {
                    input name="text" placeholder=(placeholder) size="30";
                    " "
                }
                button type="submit" { (label) }
            }
        }
    };
    html! {
        section.draft id=(format!("draft-{}-{}", entity, draft.key)) {
            h2 { (entity) " " (draft.key) }
            p {
                "Prepared by " (draft.created_by) " from " (draft.source)
                "; debits " (found.debits_text())
                "; approval: " strong { (found.describe()) }
                @if let Some(reason) = &found.reason { br; span.muted { (reason) } }
            }
            @if let Some(entry) = &entry {
                p { (entry.date) " — " (entry.description) " (" (entry.module.as_str()) ")" }
                table {
                    thead { tr { th { "Account" } th { "Dimensions" } th { "Currency" } th.num { "Amount" } th { "Description" } } }
                    tbody { @for line in &entry.lines {
                        tr {
                            td { (line.account) }
                            td { (line.dimensions.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join(" ")) }
                            td { (line.currency.as_ref().map_or("", |currency| currency.as_str())) }
                            td.num { (line.amount) }
                            td { (line.description) }
                        }
                    } }
                }
            }
            p {
                @if found.reason.is_some() {
                    @match &found.state {
                        ApprovalState::NotSubmitted | ApprovalState::Rejected { .. } => { (action("submit", "Submit for approval", None)) }
                        ApprovalState::Submitted { .. } => {
                            (action("approve", "Approve", Some("note (optional)")))
                            " "
                            (action("reject", "Reject", Some("reason (required)")))
                        }
                        ApprovalState::Approved { .. } => {}
                    }
                    " "
                }
                (action("discard", "Discard", Some("reason (required)")))
            }
        }
    }
}

async fn draft_action(
    State(state): State<SharedState>,
    caller: Caller,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    let (mut csrf, mut entity, mut entry, mut action, mut text) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    for (key, value) in fields {
        match key.as_str() {
            "csrf" => csrf = value,
            "entity" => entity = value,
            "entry" => entry = value,
            "action" => action = value,
            "text" => text = value,
            _ => {}
        }
    }
    caller.check_csrf(&csrf)?;
    let entity_id = EntityId::new(entity.clone());
    let key = EntryKey::new(entry.clone());
    let done = match action.as_str() {
        "submit" => format!("Submitted {entry} of {entity} for approval."),
        "approve" => format!("Approved {entry} of {entity}: it posts with journal post."),
        "reject" => format!("Rejected {entry} of {entity}."),
        "discard" => format!("Discarded {entry} of {entity}; its content is in the audit trail."),
        other => {
            return Err(ServerError::bad_request(format!(
                "{other:?} is not a draft action: use submit, approve, reject or discard"
            )));
        }
    };
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            let keys = std::slice::from_ref(&key);
            match action.as_str() {
                "submit" => ledger.submit_drafts(&entity_id, keys)?,
                "approve" => ledger.approve_drafts(&entity_id, keys, &text)?,
                "reject" => ledger.reject_draft(&entity_id, &key, &text)?,
                _ => ledger.discard_draft(&entity_id, &key, &text)?,
            }
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/drafts?done={}", auth::percent_encode(&done))).into_response())
}
