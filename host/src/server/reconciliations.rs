//! The reconciliations page: an entity's account reconciliations for a period, as
//! `closebook reconcile report --format html` shows them (figures, status, who prepared and
//! reviewed, withdrawals, open items), with the preparer's and reviewer's sign-off forms. Each
//! sign-off goes through the ledger's own checks (close.prepare or close.review, never the
//! preparer reviewing), so the page adds no rule. Statements, figures, items and evidence are
//! entered from the command line (`closebook reconcile …`).

use super::auth::{self, Caller};
use super::pages::layout;
use super::{ServerError, SharedState};
use crate::commands::reconcile::report_body;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::access::Permission;
use closebook_ledger::ids::{AccountNumber, EntityId, PeriodName, UserId};
use closebook_ledger::reconcile::{ReconcileStatus, Reconciliation};
use maud::html;
use serde::Deserialize;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/reconciliations", get(reconciliations_page))
        .route("/reconciliations/signoff", post(signoff_form))
}

#[derive(Deserialize, Default)]
struct ReconciliationsQuery {
    entity: Option<String>,
    period: Option<String>,
    done: Option<String>,
    /// A sign-off the ledger refused, with its reason.
    refused: Option<String>,
}

/// What the page shows of one entity and period, with what the caller may sign.
struct Shown {
    entity: EntityId,
    period: PeriodName,
    reconciliations: Vec<Reconciliation>,
    may_prepare: bool,
    may_review: bool,
    /// The caller.
    user: UserId,
}

async fn reconciliations_page(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ReconciliationsQuery>,
) -> Result<Html<String>, ServerError> {
    let chosen = query
        .entity
        .clone()
        .filter(|entity| !entity.is_empty())
        .zip(query.period.clone().filter(|period| !period.is_empty()));
    let (entities, shown) = state
        .with_ledger_to_read(&caller.actor, move |ledger, _| {
            let entities = ledger.readable_entities()?;
            let Some((entity, period)) = chosen else {
                return Ok((entities, None));
            };
            let (entity, period) = (EntityId::new(entity), PeriodName::new(period));
            let reconciliations = ledger.reconciliations(&entity, &period)?;
            let policy = ledger.policy().cloned().unwrap_or_default();
            let user = ledger.actor().user.to_string();
            let shown = Shown {
                may_prepare: policy.allows(&user, Permission::ClosePrepare, Some(&entity)),
                may_review: policy.allows(&user, Permission::CloseReview, Some(&entity)),
                entity,
                period,
                reconciliations,
                user: UserId::new(user),
            };
            Ok((entities, Some(shown)))
        })
        .await?;
    let body = html! {
        @if let Some(done) = &query.done { div.ok role="status" { (done) } }
        @if let Some(refused) = &query.refused { div.error role="alert" { (refused) } }
        form method="get" action="/reconciliations" {
            label { "Entity " select name="entity" {
                @for entity in &entities {
                    option value=(entity) selected[query.entity.as_deref() == Some(entity.as_str())] { (entity) }
                }
            } }
            " "
            label { "Period " input name="period" placeholder="2026-01" size="10" value=(query.period.as_deref().unwrap_or_default()); }
            " " button type="submit" { "Show" }
        }
        @match &shown {
            None => p.muted { "Choose an entity and a period. Accounts are listed in setup's [[reconciliation]]; statements, subledger figures, items and evidence are entered with closebook reconcile." },
            Some(shown) => {
                h2 { "Reconciliations of " (shown.entity) " for " (shown.period) }
                @if shown.reconciliations.is_empty() {
                    p { "No account is reconciled yet: list accounts in setup's [[reconciliation]], or import a statement with closebook reconcile import-statement." }
                } @else {
                    p {
                        (shown.reconciliations.iter().filter(|found| found.is_reviewed()).count())
                        " of " (shown.reconciliations.len()) " reviewed."
                    }
                    (report_body(&shown.reconciliations))
                    @if shown.may_prepare || shown.may_review {
                        h2 { "Sign off" }
                        @for reconciliation in &shown.reconciliations {
                            (signoff_forms(&caller, shown, reconciliation))
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Reconciliations", Some(&caller), body))
}

/// Why the caller may not review a prepared reconciliation, as the ledger would refuse it: they
/// prepared it, or entered its independent balance or an open item. None when they may.
fn why_not_reviewer(user: &UserId, reconciliation: &Reconciliation) -> Option<&'static str> {
    match &reconciliation.status {
        ReconcileStatus::Prepared { by, .. } if by == user => Some("you prepared it"),
        _ if reconciliation
            .independent
            .as_ref()
            .is_some_and(|balance| &balance.created_by == user) =>
        {
            Some("you entered its statement or figure")
        }
        _ if reconciliation.items.iter().any(|item| &item.created_by == user) => Some("you added one of its items"),
        _ => None,
    }
}

/// The form that prepares or reviews one reconciliation, as its status allows, for the figures
/// the page shows; or why the caller may not review it.
fn signoff_forms(caller: &Caller, shown: &Shown, reconciliation: &Reconciliation) -> maud::Markup {
    let scope = &reconciliation.scope;
    let action = match &reconciliation.status {
        ReconcileStatus::Unreconciled { .. } if shown.may_prepare => Some(("prepare", "Prepare")),
        ReconcileStatus::Prepared { .. } if shown.may_review => Some(("review", "Review")),
        _ => None,
    };
    let barred = match action {
        Some(("review", _)) => why_not_reviewer(&shown.user, reconciliation),
        _ => None,
    };
    html! {
        @if let Some(reason) = barred {
            p.muted {
                (scope.account) " " (reconciliation.account_name) ": another user with close.review reviews it (" (reason) ")."
            }
        } @else if let Some((name, label)) = action {
            form method="post" action="/reconciliations/signoff" {
                input type="hidden" name="csrf" value=(caller.csrf());
                input type="hidden" name="entity" value=(scope.entity);
                input type="hidden" name="account" value=(scope.account);
                input type="hidden" name="dimensions" value=(scope.dimensions);
                input type="hidden" name="period" value=(scope.period);
                input type="hidden" name="fingerprint" value=(reconciliation.fingerprint);
                input type="hidden" name="action" value=(name);
                (scope.account) " " (reconciliation.account_name)
                @if !scope.dimensions.is_empty() { " (" (scope.dimensions) ")" }
                ": "
                input name="note" placeholder="note" size="40";
                " " button type="submit" { (label) }
            }
        }
    }
}

#[derive(Deserialize)]
struct SignoffForm {
    csrf: String,
    entity: String,
    account: String,
    /// The scope's dimension values as canonical text (`department=100;region=EU`).
    #[serde(default)]
    dimensions: String,
    period: String,
    /// The figures the page showed (`Reconciliation::fingerprint`): a sign-off signs those.
    fingerprint: String,
    action: String,
    #[serde(default)]
    note: String,
}

/// `POST /reconciliations/signoff`: `reconcile prepare` or `reconcile review` from the page.
async fn signoff_form(
    State(state): State<SharedState>,
    caller: Caller,
    Form(form): Form<SignoffForm>,
) -> Result<Response, ServerError> {
    caller.check_csrf(&form.csrf)?;
    let review = match form.action.as_str() {
        "prepare" => false,
        "review" => true,
        other => {
            return Err(ServerError::bad_request(format!(
                "{other:?} is not a reconciliation sign-off: use prepare or review"
            )));
        }
    };
    let (entity, period) = (form.entity.clone(), form.period.clone());
    let signed = state
        .with_ledger(&caller.actor, move |ledger, _| {
            let dimensions: Vec<String> = form
                .dimensions
                .split(';')
                .filter(|pair| !pair.is_empty())
                .map(str::to_owned)
                .collect();
            let entity = EntityId::new(form.entity.clone());
            // Checked first: the scope's checks would tell whether an account or period exists
            // in an entity the caller may not read.
            ledger.authorize(Permission::LedgerRead, Some(&entity))?;
            let scope = ledger.read(|db| {
                closebook_ledger::reconcile::scope(
                    db,
                    &entity,
                    &AccountNumber::new(form.account.clone()),
                    &dimensions,
                    &PeriodName::new(form.period.clone()),
                )
            })?;
            // A signer signs what they saw: the ledger checks its permission first (a user who
            // may not sign learns nothing of the figures), then refuses figures that changed
            // since the page was shown, in the transaction that records the sign-off.
            let signed = if review {
                ledger.review_reconciliation(&scope, &form.note, Some(&form.fingerprint))?
            } else {
                ledger.prepare_reconciliation(&scope, &form.note, Some(&form.fingerprint))?
            };
            Ok(format!("{}: {}", scope.describe(), signed.status.describe()))
        })
        .await;
    // A refusal of the sign-off itself (its rules, changed figures) goes back to the page with
    // its reason; a missing permission or entity is the request's error.
    let (key, message) = match signed {
        Ok(done) => ("done", done),
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            ("refused", error.for_client(&state.config.db).message)
        }
        Err(error) => return Err(error),
    };
    Ok(Redirect::to(&format!(
        "/reconciliations?entity={}&period={}&{key}={}",
        auth::percent_encode(&entity),
        auth::percent_encode(&period),
        auth::percent_encode(&message)
    ))
    .into_response())
}
