//! The close's pages: the board (with its filters, live progress and "Run the close"), a task
//! as its reviewer sees it, and sign-off.

use super::auth::{self, Caller};
use super::pages::{CsrfForm, layout, nonblank};
use super::{ServerError, SharedState};
use crate::close::board::{Board, BoardRow, readable_board};
use crate::close::finding::{EXPLANATION_CHARS_MAX, ExplainTarget, FindingView, explain};
use crate::close::review::{ProposedEntryView, TaskView, readable_task_view};
use crate::close::signoff;
use crate::output::grouped;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::access::Permission;
use closebook_ledger::ids::EntityId;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/closes/{close}/{period}", get(board_page))
        .route("/closes/{close}/{period}/events", get(super::events::events))
        .route("/closes/{close}/{period}/run", post(run_form))
        .route("/closes/{close}/{period}/{entity}/{task}", get(task_page))
        .route("/closes/{close}/{period}/{entity}/{task}/signoff", post(signoff_form))
        .route("/closes/{close}/{period}/{entity}/{task}/explain", post(explain_form))
}

#[derive(Deserialize, Default)]
pub struct BoardFilter {
    entity: Option<String>,
    area: Option<String>,
    owner: Option<String>,
    status: Option<String>,
    mine: Option<String>,
    overdue: Option<String>,
}

impl BoardFilter {
    fn keeps(&self, row: &BoardRow, mine: &[String]) -> bool {
        nonblank(&self.entity).is_none_or(|entity| row.entity == entity)
            && nonblank(&self.area).is_none_or(|area| row.area == area)
            && nonblank(&self.owner).is_none_or(|owner| row.owner == owner)
            && nonblank(&self.status).is_none_or(|status| row.status.as_str() == status)
            && (nonblank(&self.mine).is_none() || mine.contains(&row.owner))
            && (nonblank(&self.overdue).is_none() || row.overdue)
    }
}

/// Loads a close's board for the caller, with the names the caller answers to (user, groups).
pub async fn load_board(
    state: &SharedState,
    caller: &Caller,
    close: &str,
    period: &str,
) -> Result<(Board, Vec<String>), ServerError> {
    state.close(close)?;
    let (close, period) = (close.to_owned(), period.to_owned());
    state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            let mut context = state.close_context(ledger.actor(), &close, &period)?;
            let today = chrono::Local::now().date_naive();
            let board = readable_board(&mut context, ledger, today)?;
            let user = ledger.actor().user.clone();
            let mut mine = ledger.read(|db| db.groups_of(&user))?;
            mine.push(user.to_string());
            Ok((board, mine))
        })
        .await
}

fn percent_meter(percent: u32) -> Markup {
    html! {
        span.bar-meter title=(format!("{percent} %")) { span style=(format!("width: {percent}%")) {} }
        " " (percent) " %"
    }
}

fn status_class(status: &str) -> String {
    format!("status-{status}")
}

async fn board_page(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
    Query(filter): Query<BoardFilter>,
) -> Result<Html<String>, ServerError> {
    let (board, mine) = load_board(&state, &caller, &close, &period).await?;
    let running = super::runs::current(&state, &close, &period);
    let rows: Vec<&BoardRow> = board.rows.iter().filter(|row| filter.keeps(row, &mine)).collect();
    let options = |values: Vec<&str>| {
        let mut values = values;
        values.sort_unstable();
        values.dedup();
        values.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let entities = options(board.rows.iter().map(|row| row.entity.as_str()).collect());
    let areas = options(board.rows.iter().map(|row| row.area.as_str()).collect());
    let owners = options(board.rows.iter().map(|row| row.owner.as_str()).collect());
    let base = format!(
        "/closes/{}/{}",
        auth::percent_encode(&close),
        auth::percent_encode(&period)
    );
    let complete: u32 = {
        let done = board.rows.iter().filter(|row| row.status.is_complete()).count();
        u32::try_from((done * 100).checked_div(board.rows.len()).unwrap_or(0)).unwrap_or(100)
    };
    let body = html! {
        p {
            "Close " strong { (board.close) } ", period " strong { (board.period) } ", as of " (board.today) ": "
            (percent_meter(complete)) " complete"
        }
        @if let Some(run) = &running {
            div.notice #running { "A run of this close is under way (started by " (run.user) " at " (run.started) " UTC); the board reloads when it ends." }
        }
        form method="post" action=(format!("{base}/run")) {
            input type="hidden" name="csrf" value=(caller.csrf());
            button type="submit" #run-close { "Run the close" } " "
            span.muted { "Runs every task that is ready, in every entity you may run it in; the board follows it live." }
        }
        p.muted #live role="status" data-events=(format!("{base}/events")) { "" }
        form method="get" action=(base) {
            fieldset {
                legend { "Filter" }
                (select("entity", "Entity", &entities, nonblank(&filter.entity)))
                (select("area", "Area", &areas, nonblank(&filter.area)))
                (select("owner", "Owner", &owners, nonblank(&filter.owner)))
                label { input type="checkbox" name="mine" value="1" checked[nonblank(&filter.mine).is_some()]; " My tasks" } " "
                label { input type="checkbox" name="overdue" value="1" checked[nonblank(&filter.overdue).is_some()]; " Overdue" } " "
                button type="submit" { "Apply" } " "
                a href=(base) { "Clear" }
            }
        }
        table #board {
            thead { tr { th { "Entity" } th { "Area" } th { "Task" } th { "Owner" } th { "Due" } th { "Status" } th { "Prepared" } th { "Reviewed" } th { "Notes" } } }
            tbody {
                @for row in &rows {
                    tr {
                        td { (row.entity) }
                        td { (row.area) }
                        td { a href=(format!("{base}/{}/{}", auth::percent_encode(&row.entity), auth::percent_encode(&row.task))) { (row.name) } br; span.muted { (row.task) } }
                        td { (row.owner) }
                        td class=[row.overdue.then_some("overdue")] { (row.due) @if row.overdue { " overdue" } }
                        td class=(status_class(row.status.as_str())) { (row.status.as_str()) }
                        td { (row.prepared_by.as_deref().unwrap_or("")) @if row.prepared_by.as_ref().is_some_and(|user| row.unverified.contains(user)) { " (unverified)" } }
                        td { (row.reviewed_by.as_deref().unwrap_or("")) @if row.reviewed_by.as_ref().is_some_and(|user| row.unverified.contains(user)) { " (unverified)" } }
                        td {
                            @if !row.blocked_by.is_empty() { "waits on " (row.blocked_by.join(", ")) br; }
                            @if let Some(message) = &row.message { (message) }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "No task matches the filter." } }
        h2 { "Complete" }
        (complete_table("By entity", &board.complete_by_entity))
        (complete_table("By area", &board.complete_by_area))
        (complete_table("By owner", &board.complete_by_owner))
        script src="/static/closebook.js" {}
    };
    Ok(layout(&format!("Close board {period}"), Some(&caller), body))
}

fn select(name: &str, label: &str, values: &[String], chosen: Option<&str>) -> Markup {
    html! {
        label { (label) " "
            select name=(name) {
                option value="" { "all" }
                @for value in values { option value=(value) selected[chosen == Some(value.as_str())] { (value) } }
            }
        }
        " "
    }
}

fn complete_table(title: &str, values: &BTreeMap<String, u32>) -> Markup {
    html! {
        table {
            thead { tr { th { (title) } th { "Complete" } } }
            tbody { @for (key, percent) in values { tr { td { (key) } td { (percent_meter(*percent)) } } } }
        }
    }
}

/// `POST /closes/{close}/{period}/run`: starts the close in the background and goes back to
/// the board, which follows its progress.
async fn run_form(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ServerError> {
    caller.check_csrf(&form.csrf)?;
    state.close(&close)?;
    // Refusals (a permission, a configuration) show on this page; the run's own failures on the board.
    let claim = super::runs::authorize_and_claim(&state, &caller, &close, &period, &[]).await?;
    let board = format!(
        "/closes/{}/{}",
        auth::percent_encode(&close),
        auth::percent_encode(&period)
    );
    let (actor, run_state) = (caller.actor.clone(), state.clone());
    let (close_name, period_name) = (close.clone(), period.clone());
    tokio::spawn(async move {
        let outcome = run_state
            .with_ledger_unqueued(&actor, move |ledger, state| {
                let _claim = claim;
                super::runs::run(ledger, state, &close, &period, &[], None)
            })
            .await;
        if let Err(error) = outcome {
            // The board shows the failed tasks; a refusal of the whole run is the log's.
            tracing::warn!(close = %close_name, period = %period_name, error = %error.message, "a close run started from the board was refused");
        }
    });
    Ok(Redirect::to(&board).into_response())
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

async fn task_page(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period, entity, task)): Path<(String, String, String, String)>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, ServerError> {
    state.close(&close)?;
    let (close_name, period_name, entity_id, task_id) = (close.clone(), period.clone(), entity.clone(), task.clone());
    let (view, may_prepare, may_review) = state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(entity_id);
            let context = state.task_context(ledger, &close_name, &period_name, &entity)?;
            let view = readable_task_view(&context, ledger, &entity, &task_id)?;
            let policy = ledger.policy().cloned().unwrap_or_default();
            let user = ledger.actor().user.to_string();
            Ok((
                view,
                policy.allows(&user, Permission::ClosePrepare, Some(&entity)),
                policy.allows(&user, Permission::CloseReview, Some(&entity)),
            ))
        })
        .await?;
    let action = format!(
        "/closes/{}/{}/{}/{}/signoff",
        auth::percent_encode(&close),
        auth::percent_encode(&period),
        auth::percent_encode(&entity),
        auth::percent_encode(&task)
    );
    let explain_action = action.replace("/signoff", "/explain");
    let board = format!(
        "/closes/{}/{}",
        auth::percent_encode(&close),
        auth::percent_encode(&period)
    );
    let body = html! {
        p { a href=(board) { "← Board" } }
        @if let Some(done) = &flash.done { div.ok role="status" { (done) } }
        (task_summary(&view))
        @if !view.step_log.is_empty() {
            h2 { "Step log" }
            pre { @for line in &view.step_log { (line) "\n" } }
        }
        @if !view.findings.is_empty() {
            h2 { "Findings (" (view.findings.len()) ")" }
            (findings_table(&view.findings, may_prepare.then_some((caller.csrf(), explain_action.as_str()))))
        }
        @if !view.proposed_items.is_empty() || !view.proposed_clearings.is_empty() {
            h2 { "Reconciling items proposed (" (view.proposed_items.len()) ") and clearings (" (view.proposed_clearings.len()) ")" }
            (crate::close::review::reconciliation_proposals_table(&view).to_html())
        }
        @if let Some(entries_are) = view.entries_are {
            h2 { "Entries " (entries_are) " (" (view.entries.len()) ")" }
            (entries_table(&view.entries))
        }
        h2 { "Sign off" }
        @if may_prepare || may_review {
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(caller.csrf());
                input type="hidden" name="run" value=(view.run.as_deref().unwrap_or_default());
                p { label { "Note " input name="note" size="60"; } }
                p {
                    @if may_prepare { button type="submit" name="review" value="false" { "Sign off as preparer" } " " }
                    @if may_review { button type="submit" name="review" value="true" { "Sign off as reviewer" } }
                }
                p.muted { "A reviewer approves the entries shown above: a review of a step's proposal posts exactly those." }
            }
        } @else {
            p.muted { "You may not prepare or review tasks of " (view.entity) "." }
        }
        h2 { "History" }
        table {
            thead { tr { th { "When" } th { "Who" } th { "Event" } th { "Details" } } }
            tbody {
                @for event in &view.events {
                    tr {
                        td { (event.at) }
                        td { (event.user) @if event.is_unverified() { " (unverified)" } }
                        td { (event.event) }
                        td { code { (event.details.to_string()) } }
                    }
                }
            }
        }
    };
    Ok(layout(&format!("{} — {}", view.name, view.entity), Some(&caller), body))
}

fn task_summary(view: &TaskView) -> Markup {
    html! {
        table {
            tbody {
                tr { th { "Task" } td { (view.task) " — " (view.name) } }
                tr { th { "Entity, period" } td { (view.entity) ", " (view.period) } }
                tr { th { "Step" } td { (view.step) } }
                tr { th { "Status" } td class=(status_class(view.status.as_str())) { (view.status.as_str()) } }
                tr { th { "Owner" } td { (view.owner) } }
                tr { th { "Reviewer" } td { (view.reviewer.as_deref().unwrap_or("none")) } }
                tr { th { "Prepared by" } td { (view.prepared_by.as_deref().unwrap_or("")) } }
                tr { th { "Reviewed by" } td { (view.reviewed_by.as_deref().unwrap_or("")) } }
                @if !view.unverified.is_empty() {
                    tr { th { "Unverified" } td { "declared, not verified: " (view.unverified.join(", ")) } }
                }
                tr { th { "Depends on" } td {
                    @for (dependency, status) in &view.after { (dependency) " (" (status.as_str()) ")" br; }
                } }
                @if let Some(message) = &view.message { tr { th { "Message" } td { (message) } } }
            }
        }
    }
}

/// The task's findings with their explanations: what the reviewer signs off with the entries.
/// With `explain` (the caller's CSRF token and the form's address, for a preparer), each
/// finding that waits for an explanation has a form to give it.
fn findings_table(findings: &[FindingView], explain: Option<(&str, &str)>) -> Markup {
    html! {
        table.findings {
            thead { tr { th { "Account" } th { "Dimensions" } th { "Measure" } th { "Current" } th { "Baseline" } th { "Change" } th { "Threshold" } th { "Status" } th { "Explanation" } } }
            tbody {
                @for view in findings {
                    @let key = &view.finding.key;
                    tr {
                        td { (key.account) }
                        td { (key.dimensions) }
                        td { (key.measure) }
                        td.num { (grouped(key.current)) }
                        td.num { (grouped(key.baseline)) }
                        td.num { (grouped(key.current - key.baseline)) }
                        td { (view.finding.threshold) }
                        td class=(status_class(view.status.as_str())) { (view.status.as_str()) }
                        td {
                            @if let Some(explanation) = &view.explanation {
                                (explanation.text) " " span.muted { "(" (explanation.explained_by) ", " (explanation.explained_at) ")" }
                            } @else if let Some(earlier) = &view.earlier {
                                span.muted { "explained for " (grouped(earlier.key.current)) " against " (grouped(earlier.key.baseline)) ": " }
                                (earlier.text) " " span.muted { "(" (earlier.explained_by) ")" }
                            }
                            @if let Some((csrf, action)) = &explain {
                                @if view.status.blocks_signoff(&view.finding) {
                                    form method="post" action=(action) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="account" value=(key.account);
                                        input type="hidden" name="dimensions" value=(key.dimensions);
                                        input type="hidden" name="measure" value=(key.measure);
                                        label { "Why it moved " input name="text" size="50" maxlength=(EXPLANATION_CHARS_MAX) required; }
                                        " " button type="submit" { "Explain" }
                                    }
                                }
                            }
                        }
                    }
                    tr { td {} td colspan="8" .muted { (view.finding.message) } }
                }
            }
        }
    }
}

fn entries_table(entries: &[ProposedEntryView]) -> Markup {
    html! {
        table.entries {
            thead { tr { th { "Entry" } th { "Date" } th { "Account" } th { "Dimensions" } th { "Currency" } th { "Amount" } th { "Accounting amount" } th { "Description" } } }
            tbody {
                @for entry in entries {
                    tr {
                        td colspan="8" {
                            strong { (entry.key.as_deref().unwrap_or("(new)")) } " — " (entry.description)
                            " (" (entry.entity) ", " (entry.date)
                            @if let Some(period) = &entry.period { ", period " (period) }
                            @if let Some(reversal) = &entry.reversal_date { ", reverses on " (reversal) }
                            ")"
                        }
                    }
                    @for line in &entry.lines {
                        tr {
                            td {}
                            td { (entry.date) }
                            td { (line.account) " " span.muted { (line.account_name) } }
                            td { (line.dimensions.join(" ")) }
                            td { (line.currency) }
                            td.num { (line.amount) }
                            td.num { (line.accounting_amount.as_deref().unwrap_or("at the day's rate")) }
                            td { (line.description) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct SignoffForm {
    csrf: String,
    review: String,
    note: Option<String>,
    /// The run the page showed (empty: none); the sign-off is refused when the task holds
    /// another.
    run: String,
}

async fn signoff_form(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period, entity, task)): Path<(String, String, String, String)>,
    Form(form): Form<SignoffForm>,
) -> Result<Response, ServerError> {
    caller.check_csrf(&form.csrf)?;
    state.close(&close)?;
    let review = form.review == "true";
    let note = form.note.filter(|note| !note.trim().is_empty());
    let (close_name, period_name, entity_id, task_id) = (close.clone(), period.clone(), entity.clone(), task.clone());
    let summary = state
        .with_ledger(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(entity_id);
            let context = state.task_context(ledger, &close_name, &period_name, &entity)?;
            let signed = signoff(&context, &entity, &task_id, review, note.as_deref(), Some(&form.run))?;
            Ok(signed.summary)
        })
        .await?;
    Ok(back_to_task((&close, &period, &entity, &task), &summary))
}

#[derive(Deserialize)]
struct ExplainForm {
    csrf: String,
    account: String,
    /// The finding's dimension values as canonical text (`department=300;region=EU`).
    #[serde(default)]
    dimensions: String,
    measure: String,
    text: String,
}

/// `POST …/explain`: the preparer's explanation of a finding, as `closebook close explain`.
async fn explain_form(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period, entity, task)): Path<(String, String, String, String)>,
    Form(form): Form<ExplainForm>,
) -> Result<Response, ServerError> {
    caller.check_csrf(&form.csrf)?;
    state.close(&close)?;
    let (close_name, period_name, entity_id, task_id) = (close.clone(), period.clone(), entity.clone(), task.clone());
    let summary = state
        .with_ledger(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(entity_id);
            let context = state.task_context(ledger, &close_name, &period_name, &entity)?;
            let dimensions: Vec<String> = form
                .dimensions
                .split(';')
                .filter(|pair| !pair.is_empty())
                .map(str::to_owned)
                .collect();
            // Exactly the finding the form was shown for (no dimension values: the whole account).
            let target = ExplainTarget {
                account: &form.account,
                dimensions: Some(&dimensions),
                measure: Some(&form.measure),
            };
            Ok(explain(&context, &entity, &task_id, &target, &form.text)?.join("; "))
        })
        .await?;
    Ok(back_to_task((&close, &period, &entity, &task), &summary))
}

/// Back to the task's page, saying what was done.
fn back_to_task((close, period, entity, task): (&str, &str, &str, &str), done: &str) -> Response {
    Redirect::to(&format!(
        "/closes/{}/{}/{}/{}?done={}",
        auth::percent_encode(close),
        auth::percent_encode(period),
        auth::percent_encode(entity),
        auth::percent_encode(task),
        auth::percent_encode(done)
    ))
    .into_response()
}
