//! The pages of the close workspace, rendered on the server with `maud` (every interpolated
//! value is escaped): the frame every page shares, sign-in and sign-out, the list of closes, and
//! the board's script. The close's own pages are in `close_pages`, the periods grid in
//! `periods`, the audit trail and administration in `admin`. Forms that change anything carry
//! the session's CSRF token.

use super::auth::{self, Caller};
use super::{LoadedClose, ServerError, SharedState};
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::ids::EntityId;
use closebook_ledger::ledger::PeriodView;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use std::net::SocketAddr;

/// The largest sign-in form: a user name and a password with room to spare.
const LOGIN_BYTES_MAX: usize = 16 * 1024;

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
        .route(
            "/journals",
            get(super::journals::upload_page).post(super::journals::upload),
        )
        .route("/reports", get(super::reports::reports_page))
        .route("/reports/{kind}", get(super::reports::report_page))
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
                        a href="/drafts" { "Drafts" }
                        a href="/reconciliations" { "Reconciliations" }
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

async fn login_page(State(state): State<SharedState>, Query(query): Query<LoginQuery>) -> Response {
    login_form(
        &state,
        StatusCode::OK,
        query.next.as_deref(),
        query.notice.as_deref(),
        None,
    )
}

/// The sign-in form with a fresh form token (and its cookie), answered with `status`.
fn login_form(
    state: &SharedState,
    status: StatusCode,
    next: Option<&str>,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let (token, cookie) = match auth::login_token(state.config.secure_cookies) {
        Ok(fresh) => fresh,
        Err(error) => {
            return ServerError::internal(format!("making the sign-in form's token: {error:#}")).into_response();
        }
    };
    let page = layout(
        "Sign in",
        None,
        html! {
            @if let Some(notice) = notice { div.notice { (notice) } }
            @if let Some(error) = error { div.error role="alert" { (error) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(auth::safe_next(next));
                input type="hidden" name="login_token" value=(token);
                p { label { "User " input name="user" autocomplete="username" required autofocus; } }
                p { label { "Password " input name="password" type="password" autocomplete="current-password" required; } }
                p { button type="submit" { "Sign in" } }
            }
            p.muted { "An administrator sets passwords with " code { "closebook user set-password USER" } "." }
        },
    );
    let mut response = (status, page).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
    /// The form's token, matched against the sign-in cookie (login CSRF).
    #[serde(default)]
    login_token: String,
}

async fn login(
    State(state): State<SharedState>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = auth::safe_next(form.next.as_deref());
    if !auth::login_token_matches(&headers, &form.login_token) {
        // Nothing is checked or counted: the form did not come from this server's sign-in page
        // in this browser (or it is more than an hour old).
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            Some(&next),
            None,
            Some(
                "this sign-in form has expired or was not served by this workspace (cookies must be on for it): nothing was checked; sign in again on this page",
            ),
        );
    }
    let user = form.user.trim().to_owned();
    let address = auth::client_address(&state.config.trusted_proxies, address.ip(), &headers);
    let Ok(_slot) = state.sign_in_slots.clone().try_acquire_owned() else {
        return login_form(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(&next),
            None,
            Some("the server is busy checking other sign-ins; try again in a moment"),
        );
    };
    let outcome = state
        .blocking(move |state| auth::sign_in(state, &user, &form.password, address))
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
        // 401 for a wrong name or password, 429 when throttled (typed, see `error::status_of`).
        Err(error) => login_form(&state, error.status, Some(&next), None, Some(&error.message)),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub csrf: String,
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

/// The entities the caller may read, and the periods of the first (the calendar the pages
/// offer periods from).
pub(super) fn entities_and_periods(
    ledger: &mut closebook_ledger::Ledger,
) -> anyhow::Result<(Vec<EntityId>, Vec<PeriodView>)> {
    let entities = ledger.readable_entities()?;
    let periods = match entities.first() {
        Some(entity) => ledger.periods(entity)?,
        None => Vec::new(),
    };
    Ok((entities, periods))
}

/// A query or form value, unless it is blank.
pub(super) fn nonblank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
}

async fn home(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let (entities, periods) = state
        .with_ledger_to_read(&caller.actor, |ledger, _| entities_and_periods(ledger))
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
