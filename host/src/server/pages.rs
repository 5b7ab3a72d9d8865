//! The pages of the close workspace, rendered on the server with `maud` (every interpolated
//! value is escaped). Forms that change anything carry the session's CSRF token.

use super::auth::{self, Caller, SignInRefused};
use super::{AppState, LoadedClose, ServerError, SharedState};
use crate::close::board::{Board, BoardRow, readable_board};
use crate::close::review::{ProposedEntryView, TaskView, task_view};
use crate::close::{CloseContext, signoff};
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::access::{Actor, Identity, Permission};
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::ledger::PeriodView;
use closebook_ledger::period::PeriodStatus;
use closebook_ledger::store::AuditRecord;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The largest sign-in form: a user name and a password with room to spare.
const LOGIN_BYTES_MAX: usize = 16 * 1024;
/// Audit records on one page of the audit trail.
const AUDIT_PAGE_ROWS: usize = 100;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/login",
            get(login_page)
                .post(login)
                .layer(axum::extract::DefaultBodyLimit::max(LOGIN_BYTES_MAX)),
        )
        .route("/logout", post(logout))
        .route("/closes/{close}/{period}", get(board_page))
        .route("/closes/{close}/{period}/events", get(super::events::events))
        .route("/closes/{close}/{period}/run", post(run_form))
        .route("/closes/{close}/{period}/{entity}/{task}", get(task_page))
        .route("/closes/{close}/{period}/{entity}/{task}/signoff", post(signoff_form))
        .route(
            "/journals",
            get(super::journals::upload_page).post(super::journals::upload),
        )
        .route("/periods", get(periods_page))
        .route("/periods/status", post(period_status_form))
        .route("/reports", get(super::reports::reports_page))
        .route("/reports/{kind}", get(super::reports::report_page))
        .route("/audit", get(audit_page))
        .route("/admin", get(admin_page))
        .route("/static/closebook.js", get(script))
}

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header.bar { background: #1f3a5f; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.2rem; align-items: center; flex-wrap: wrap; }
header.bar a { color: #fff; text-decoration: none; }
header.bar .who { margin-left: auto; }
header.bar form { display: inline; }
main { padding: 1rem 1.2rem; max-width: 1400px; }
table { border-collapse: collapse; background: #fff; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d5d9de; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status-done, .status-reviewed, .status-signed-off, .status-prepared { color: #17643a; font-weight: 600; }
.status-failed, .status-stale { color: #a1231d; font-weight: 600; }
.status-blocked, .status-pending { color: #7a5a00; }
.overdue { color: #a1231d; font-weight: 700; }
.notice { background: #fff7d6; border: 1px solid #e7d27a; padding: .6rem .8rem; margin: .5rem 0; }
.error { background: #fde8e7; border: 1px solid #e0a7a3; padding: .6rem .8rem; margin: .5rem 0; white-space: pre-wrap; }
.ok { background: #e6f4ea; border: 1px solid #9fd3ae; padding: .6rem .8rem; margin: .5rem 0; }
.muted { color: #5f6b78; }
form.inline { display: inline; }
fieldset { border: 1px solid #d5d9de; background: #fff; margin: .5rem 0; }
pre { background: #fff; border: 1px solid #d5d9de; padding: .5rem; overflow-x: auto; }
.bar-meter { display: inline-block; width: 8rem; height: .7rem; background: #dde2e7; vertical-align: middle; }
.bar-meter span { display: block; height: 100%; background: #2f7d4f; }
"#;

/// The page frame: navigation, the signed-in user and sign-out.
pub fn layout(title: &str, caller: Option<&Caller>, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — closebook" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.bar {
                    strong { a href="/" { "closebook" } }
                    @if let Some(caller) = caller {
                        a href="/" { "Closes" }
                        a href="/periods" { "Periods" }
                        a href="/journals" { "Journals" }
                        a href="/reports" { "Reports" }
                        a href="/audit" { "Audit trail" }
                        a href="/admin" { "Admin" }
                        span.who {
                            "Signed in as " strong { (caller.user()) } " "
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(caller.csrf());
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(page.into_string())
}

/// The page of an error: what was refused, escaped.
pub fn error_page(error: &ServerError) -> Html<String> {
    let title = match error.status {
        StatusCode::FORBIDDEN => "Not permitted",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::INTERNAL_SERVER_ERROR => "Server error",
        _ => "Refused",
    };
    layout(
        title,
        None,
        html! {
            div.error { (error.message) }
            @if !error.refusals.is_empty() {
                h2 { "Refused entries" }
                ul { @for refusal in &error.refusals { li { (refusal) } } }
            }
            p { a href="/" { "Back to the workspace" } }
        },
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

async fn login_page(Query(query): Query<LoginQuery>) -> Html<String> {
    login_form(query.next.as_deref(), query.notice.as_deref(), None)
}

fn login_form(next: Option<&str>, notice: Option<&str>, error: Option<&str>) -> Html<String> {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(notice) = notice { div.notice { (notice) } }
            @if let Some(error) = error { div.error role="alert" { (error) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(auth::safe_next(next));
                p { label { "User " input name="user" autocomplete="username" required autofocus; } }
                p { label { "Password " input name="password" type="password" autocomplete="current-password" required; } }
                p { button type="submit" { "Sign in" } }
            }
            p.muted { "An administrator sets passwords with " code { "closebook user set-password USER" } "." }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<SharedState>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = auth::safe_next(form.next.as_deref());
    let user = form.user.trim().to_owned();
    let Ok(_slot) = state.sign_in_slots.clone().try_acquire_owned() else {
        let error = ServerError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy checking other sign-ins; try again in a moment",
        );
        return (error.status, login_form(Some(&next), None, Some(&error.message))).into_response();
    };
    let outcome = state
        .blocking(move |state| auth::sign_in(state, &user, &form.password, address.ip()))
        .await;
    match outcome {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                auth::session_cookie(&session.id, state.config.session_max, state.config.secure_cookies),
            );
            response
        }
        Err(error) => {
            let status = if error.message.contains("too many failed sign-ins") {
                StatusCode::TOO_MANY_REQUESTS
            } else if error.message == SignInRefused::Wrong.to_string() {
                StatusCode::UNAUTHORIZED
            } else {
                error.status
            };
            (status, login_form(Some(&next), None, Some(&error.message))).into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<SharedState>,
    caller: Caller,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ServerError> {
    caller.check_csrf(&form.csrf)?;
    state.blocking(move |state| auth::sign_out(state, &caller)).await?;
    let mut response = Redirect::to("/login?notice=You%20are%20signed%20out.").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::clear_session_cookie());
    Ok(response)
}

/// The entities the caller may read, with their periods.
fn readable_entities(ledger: &mut closebook_ledger::Ledger) -> anyhow::Result<Vec<EntityId>> {
    let all: Vec<EntityId> = ledger.entities()?.into_iter().map(|entity| entity.id).collect();
    Ok(ledger.readable(&all))
}

async fn home(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let (entities, periods) = state
        .with_ledger(&caller.actor, |ledger, _| {
            let entities = readable_entities(ledger)?;
            let periods = match entities.first() {
                Some(entity) => ledger.periods(entity)?,
                None => Vec::new(),
            };
            Ok((entities, periods))
        })
        .await?;
    let closes: Vec<(&String, &LoadedClose)> = state.config.closes.iter().collect();
    Ok(layout(
        "Closes",
        Some(&caller),
        html! {
            @if entities.is_empty() {
                div.notice { "No entity is granted to you yet: ask an administrator for a role." }
            }
            @if closes.is_empty() {
                div.notice { "This server shows no close: start it with " code { "--close close.toml" } "." }
            }
            @for (name, close) in &closes {
                h2 { (name) }
                p.muted { "Configured in " (close.path.display()) }
                p {
                    "Periods: "
                    @for view in periods.iter().filter(|view| view.period.kind.as_str() != "closing") {
                        a href=(format!("/closes/{}/{}", auth::percent_encode(name), auth::percent_encode(view.period.name.as_str()))) {
                            (view.period.name)
                        }
                        " "
                    }
                }
            }
            h2 { "Your entities" }
            ul { @for entity in &entities { li { (entity) } } }
        },
    ))
}

/// A close context for a request: the caller's identity, checked on every operation.
pub fn close_context<'a>(state: &AppState, close: &'a LoadedClose, actor: &Actor, period: &str) -> CloseContext<'a> {
    CloseContext {
        config: &close.config,
        db: state.config.db.clone(),
        cache: crate::commands::plugin::cache_directory(&state.config.db),
        actor: actor.clone(),
        identity: Some(Identity::Authenticated(actor.clone())),
        period: PeriodName::new(period),
        entity_filter: Vec::new(),
        dry_run: false,
        open_ledger: std::cell::RefCell::new(None),
    }
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

fn nonblank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
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
        .with_ledger(&caller.actor, move |ledger, state| {
            let loaded = state.close(&close).map_err(|error| anyhow::anyhow!(error.message))?;
            let mut context = close_context(state, loaded, ledger.actor(), &period);
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
    let (check_close, check_period) = (close.clone(), period.clone());
    // Refusals (a permission, a configuration) show on this page; the run's own failures on the board.
    state
        .with_ledger(&caller.actor, move |ledger, state| {
            super::runs::authorize(ledger, state, &check_close, &check_period, &[])
        })
        .await?;
    let claim = super::runs::claim(&state, &close, &period, caller.user())?;
    let board = format!(
        "/closes/{}/{}",
        auth::percent_encode(&close),
        auth::percent_encode(&period)
    );
    let (actor, run_state) = (caller.actor.clone(), state.clone());
    let (close_name, period_name) = (close.clone(), period.clone());
    tokio::spawn(async move {
        let outcome = run_state
            .with_ledger(&actor, move |ledger, state| {
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
        .with_ledger(&caller.actor, move |ledger, state| {
            let loaded = state
                .close(&close_name)
                .map_err(|error| anyhow::anyhow!(error.message))?;
            let entity = EntityId::new(entity_id);
            ledger.authorize(Permission::LedgerRead, Some(&entity))?;
            let context = close_context(state, loaded, ledger.actor(), &period_name);
            context.check_config()?;
            let view = task_view(&context, &entity, &task_id)?;
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
        @if let Some(entries_are) = view.entries_are {
            h2 { "Entries " (entries_are) " (" (view.entries.len()) ")" }
            (entries_table(&view.entries))
        }
        h2 { "Sign off" }
        @if may_prepare || may_review {
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(caller.csrf());
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
            let loaded = state
                .close(&close_name)
                .map_err(|error| anyhow::anyhow!(error.message))?;
            let entity = EntityId::new(entity_id);
            ledger.authorize(Permission::LedgerRead, Some(&entity))?;
            let context = close_context(state, loaded, ledger.actor(), &period_name);
            context.check_config()?;
            let signed = signoff(&context, &entity, &task_id, review, note.as_deref())?;
            Ok(signed.summary)
        })
        .await?;
    Ok(Redirect::to(&format!(
        "/closes/{}/{}/{}/{}?done={}",
        auth::percent_encode(&close),
        auth::percent_encode(&period),
        auth::percent_encode(&entity),
        auth::percent_encode(&task),
        auth::percent_encode(&summary)
    ))
    .into_response())
}

#[derive(Deserialize)]
struct PeriodsQuery {
    year: Option<String>,
    done: Option<String>,
}

async fn periods_page(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<PeriodsQuery>,
) -> Result<Html<String>, ServerError> {
    let grid = state
        .with_ledger(&caller.actor, |ledger, _| {
            let entities = readable_entities(ledger)?;
            let mut grid = Vec::new();
            for entity in entities {
                let periods = ledger.periods(&entity)?;
                grid.push((entity, periods));
            }
            Ok(grid)
        })
        .await?;
    let years: Vec<String> = {
        let mut years: Vec<String> = grid
            .iter()
            .flat_map(|(_, periods)| periods.iter().map(|view| view.period.fiscal_year.to_string()))
            .collect();
        years.sort();
        years.dedup();
        years
    };
    let year = nonblank(&query.year)
        .map(str::to_owned)
        .or_else(|| years.last().cloned())
        .unwrap_or_default();
    let names: Vec<String> = {
        let mut names = Vec::new();
        for (_, periods) in &grid {
            for view in periods.iter().filter(|view| view.period.fiscal_year.as_str() == year) {
                if !names.contains(&view.period.name.to_string()) {
                    names.push(view.period.name.to_string());
                }
            }
        }
        names
    };
    let cell = |periods: &[PeriodView], name: &str| -> Markup {
        match periods.iter().find(|view| view.period.name.as_str() == name) {
            Some(view) => html! {
                span class=(format!("period-{}", view.status)) { (view.status) }
                @if !view.restricted_modules.is_empty() { br; span.muted { (view.restricted_modules.join(" ")) } }
            },
            None => html! { span.muted { "—" } },
        }
    };
    let body = html! {
        @if let Some(done) = &query.done { div.ok role="status" { (done) } }
        form method="get" action="/periods" {
            label { "Fiscal year " select name="year" { @for option in &years { option value=(option) selected[*option == year] { (option) } } } }
            " " button type="submit" { "Show" }
        }
        table #periods {
            thead { tr { th { "Entity" } @for name in &names { th { (name) } } } }
            tbody { @for (entity, periods) in &grid { tr { th { (entity) } @for name in &names { td { (cell(periods, name)) } } } } }
        }
        h2 { "Change the status of a period" }
        form method="post" action="/periods/status" {
            input type="hidden" name="csrf" value=(caller.csrf());
            fieldset {
                p { "Entities: " @for (entity, _) in &grid { label { input type="checkbox" name="entity" value=(entity); " " (entity) } " " } }
                p { label { "Period " select name="period" { @for name in &names { option value=(name) { (name) } } } } }
                p { label { "New status " select name="status" {
                    option value="open" { "open" } option value="on-hold" { "on hold" } option value="permanently-closed" { "permanently closed" }
                } } }
                button type="submit" { "Review the change…" }
            }
        }
    };
    Ok(layout("Periods", Some(&caller), body))
}

fn parse_status(text: &str) -> Result<PeriodStatus, ServerError> {
    match text {
        "open" => Ok(PeriodStatus::Open),
        "on-hold" => Ok(PeriodStatus::OnHold),
        "permanently-closed" => Ok(PeriodStatus::PermanentlyClosed),
        other => Err(ServerError::bad_request(format!(
            "{other:?} is not a period status: use open, on-hold or permanently-closed"
        ))),
    }
}

async fn period_status_form(
    State(state): State<SharedState>,
    caller: Caller,
    body: String,
) -> Result<Response, ServerError> {
    // A repeated field (`entity=A&entity=B`) is read by hand: axum's Form takes one value.
    let mut entities = Vec::new();
    let (mut csrf, mut period, mut status, mut confirm) = (String::new(), String::new(), String::new(), false);
    for (key, value) in form_urlencoded_pairs(&body) {
        match key.as_str() {
            "entity" => entities.push(EntityId::new(value)),
            "csrf" => csrf = value,
            "period" => period = value,
            "status" => status = value,
            "confirm" => confirm = value == "yes",
            _ => {}
        }
    }
    caller.check_csrf(&csrf)?;
    if entities.is_empty() {
        return Err(ServerError::bad_request(
            "no entity was chosen: tick the entities whose period should change",
        ));
    }
    let target = parse_status(&status)?;
    let period_name = PeriodName::new(period.clone());
    if !confirm {
        // The confirmation names every change before anything is written.
        let (names, target_period) = (entities.clone(), period_name.clone());
        let current = state
            .with_ledger(&caller.actor, move |ledger, _| {
                let mut current = Vec::new();
                for entity in names {
                    let status = ledger
                        .periods(&entity)?
                        .into_iter()
                        .find(|view| view.period.name == target_period)
                        .map_or("missing", |view| view.status);
                    current.push((entity, status));
                }
                Ok(current)
            })
            .await?;
        let body = html! {
            p { "You are about to set period " strong { (period) } " to " strong { (target.as_str()) } " in:" }
            ul { @for (entity, from) in &current {
                li { (entity) ": " (from) " → " (target.as_str()) @if *from == target.as_str() { " (unchanged)" } }
            } }
            form method="post" action="/periods/status" {
                input type="hidden" name="csrf" value=(caller.csrf());
                input type="hidden" name="period" value=(period);
                input type="hidden" name="status" value=(status);
                input type="hidden" name="confirm" value="yes";
                @for (entity, _) in &current { input type="hidden" name="entity" value=(entity); }
                button type="submit" { "Confirm the change" } " "
                a href="/periods" { "Cancel" }
            }
        };
        return Ok(layout("Confirm the period change", Some(&caller), body).into_response());
    }
    let changes = state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.set_period_status(&entities, &period_name, target)?)
        })
        .await?;
    let summary = changes
        .iter()
        .map(|change| format!("{} {}: {} → {}", change.entity, change.period, change.from, change.to))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Redirect::to(&format!(
        "/periods?done={}",
        auth::percent_encode(&format!("Changed: {summary}"))
    ))
    .into_response())
}

/// The pairs of a URL-encoded form body, decoded.
pub fn form_urlencoded_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(value)) => {
                decoded.push(value);
                index += 2;
            }
            (b'+', None) => decoded.push(b' '),
            (other, None) => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[derive(Deserialize)]
struct AuditQuery {
    entity: Option<String>,
    user: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

async fn audit_page(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Html<String>, ServerError> {
    let entity = nonblank(&query.entity).map(|entity| EntityId::new(entity.to_owned()));
    let (user, action, before) = (
        nonblank(&query.user).map(str::to_owned),
        nonblank(&query.action).map(str::to_owned),
        query.before,
    );
    let filter_entity = entity.clone();
    let records: Vec<AuditRecord> = state
        .with_ledger(&caller.actor, move |ledger, _| {
            ledger.authorize(Permission::AuditRead, filter_entity.as_ref())?;
            Ok(ledger.read(|db| {
                db.audit_page(
                    filter_entity.as_ref(),
                    user.as_deref(),
                    action.as_deref(),
                    before,
                    AUDIT_PAGE_ROWS,
                )
            })?)
        })
        .await?;
    let older = records
        .last()
        .filter(|_| records.len() == AUDIT_PAGE_ROWS)
        .map(|record| record.id);
    let keep = |name: &str, value: &Option<String>| {
        nonblank(value).map_or(String::new(), |value| {
            format!("&{name}={}", auth::percent_encode(value))
        })
    };
    let filters = format!(
        "{}{}{}",
        keep("entity", &query.entity),
        keep("user", &query.user),
        keep("action", &query.action)
    );
    let body = html! {
        form method="get" action="/audit" {
            fieldset {
                legend { "Filter" }
                label { "Entity " input name="entity" value=(query.entity.as_deref().unwrap_or("")); } " "
                label { "User " input name="user" value=(query.user.as_deref().unwrap_or("")); } " "
                label { "Action " input name="action" value=(query.action.as_deref().unwrap_or("")) placeholder="e.g. journal.post"; } " "
                button type="submit" { "Apply" }
            }
        }
        table #audit {
            thead { tr { th { "#" } th { "When" } th { "User" } th { "Identity" } th { "Action" } th { "Entity" } th { "Details" } } }
            tbody {
                @for record in &records {
                    tr {
                        td.num { (record.id) }
                        td { (record.at) }
                        td { (record.user) }
                        td { (record.identity.as_deref().unwrap_or("")) @if record.identity.as_deref() == Some("declared") { " (unverified)" } }
                        td { (record.action) }
                        td { (record.entity.as_deref().unwrap_or("")) }
                        td { code { (record.details.to_string()) } }
                    }
                }
            }
        }
        p {
            @if before.is_some() { a href=(format!("/audit?{}", filters.trim_start_matches('&'))) { "Newest" } " " }
            @if let Some(older) = older { a href=(format!("/audit?before={older}{filters}")) { "Older →" } }
        }
    };
    Ok(layout("Audit trail", Some(&caller), body))
}

async fn admin_page(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let (policy, passwords, tokens) = state
        .with_ledger(&caller.actor, |ledger, _| {
            ledger.authorize(Permission::UsersAdmin, None)?;
            let tokens = ledger.api_tokens(None)?;
            let passwords = ledger.read(|db| db.password_users())?;
            Ok((ledger.policy().cloned().unwrap_or_default(), passwords, tokens))
        })
        .await?;
    let body = html! {
        h2 { "Users" }
        table #users {
            thead { tr { th { "User" } th { "Operating-system account" } th { "Groups" } th { "Blocked" } th { "Password set" } } }
            tbody {
                @for (user, access) in &policy.users {
                    tr {
                        td { (user) @if policy.administrator.as_deref() == Some(user.as_str()) { " (administrator)" } }
                        td { (access.os_user.as_deref().unwrap_or("")) }
                        td { (access.groups.iter().cloned().collect::<Vec<_>>().join(", ")) }
                        td { @if access.blocked { "blocked" } }
                        td { (passwords.iter().find(|(id, _)| id == user).map_or("no", |(_, at)| at.as_str())) }
                    }
                }
            }
        }
        h2 { "Roles" }
        table {
            thead { tr { th { "Role" } th { "Permissions" } } }
            tbody { @for (role, permissions) in &policy.roles {
                tr { td { (role) } td { (permissions.iter().map(|permission| permission.as_str()).collect::<Vec<_>>().join(", ")) } }
            } }
        }
        h2 { "API tokens" }
        table #tokens {
            thead { tr { th { "Id" } th { "User" } th { "Name" } th { "Created" } th { "Expires" } th { "Last used" } th { "Revoked" } } }
            tbody { @for token in &tokens {
                tr {
                    td.num { (token.id) } td { (token.user) } td { (token.name) } td { (token.created_at) } td { (token.expires_at) }
                    td { (token.last_used_at.as_deref().unwrap_or("never")) } td { (token.revoked_at.as_deref().unwrap_or("")) }
                }
            } }
        }
        p.muted { "Users, roles and grants change with " code { "closebook setup apply" } "; passwords with " code { "closebook user set-password" } "; tokens with " code { "closebook token create|revoke" } "." }
    };
    Ok(layout("Administration", Some(&caller), body))
}

/// The workspace's only script: follows a running close's progress (server-sent events) and
/// reloads the board when a task finishes. Served from this origin, as the CSP requires.
async fn script() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    (headers, SCRIPT)
}

const SCRIPT: &str = r#"// closebook: live progress of a running close on the board.
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("progress", function (event) {
    live.textContent = event.data;
  });
  source.addEventListener("finished", function () {
    source.close();
    window.location.reload();
  });
})();
"#;
