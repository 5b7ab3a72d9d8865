//! The entity × period grid of statuses and module access, and a mass status change that names
//! every change before it is made.

use super::auth::{self, Caller};
use super::pages::{layout, nonblank};
use super::{ServerError, SharedState};
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::ledger::PeriodView;
use closebook_ledger::period::PeriodStatus;
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/periods", get(periods_page))
        .route("/periods/status", post(period_status_form))
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
        .with_ledger_to_read(&caller.actor, |ledger, _| {
            let entities = ledger.readable_entities()?;
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
    // As pairs: the entities are one field repeated (`entity=A&entity=B`).
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    let mut entities = Vec::new();
    let (mut csrf, mut period, mut status, mut confirm) = (String::new(), String::new(), String::new(), false);
    for (key, value) in fields {
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
            .with_ledger_to_read(&caller.actor, move |ledger, _| {
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
