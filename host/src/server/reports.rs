//! Report pages: the trial balance, and the balance sheet and income statement as the same
//! self-contained HTML the command line writes, each with a CSV download.

use super::auth::{self, Caller};
use super::pages::layout;
use super::{ServerError, SharedState};
use crate::cli::{Format, StatementFormat};
use crate::commands::report::trial_balance_table;
use crate::statements;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use closebook_ledger::access::Permission;
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::report::{self, TrialBalance};
use closebook_ledger::statement;
use maud::html;
use serde::Deserialize;

/// The reports the server renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    TrialBalance,
    BalanceSheet,
    IncomeStatement,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [
        ReportKind::TrialBalance,
        ReportKind::BalanceSheet,
        ReportKind::IncomeStatement,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ReportKind::TrialBalance => "trial-balance",
            ReportKind::BalanceSheet => "balance-sheet",
            ReportKind::IncomeStatement => "income-statement",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ReportKind::TrialBalance => "Trial balance",
            ReportKind::BalanceSheet => "Balance sheet",
            ReportKind::IncomeStatement => "Income statement",
        }
    }

    pub fn parse(slug: &str) -> Result<ReportKind, ServerError> {
        ReportKind::ALL
            .into_iter()
            .find(|kind| kind.slug() == slug)
            .ok_or_else(|| {
                ServerError::not_found(format!(
                    "there is no report {slug:?}: the reports are trial-balance, balance-sheet and income-statement"
                ))
            })
    }
}

#[derive(Deserialize)]
pub struct ReportQuery {
    pub entity: Option<String>,
    pub period: Option<String>,
    pub format: Option<String>,
}

impl ReportQuery {
    pub fn scope(&self) -> Result<(EntityId, PeriodName), ServerError> {
        let entity = self.entity.as_deref().map(str::trim).filter(|value| !value.is_empty());
        let period = self.period.as_deref().map(str::trim).filter(|value| !value.is_empty());
        match (entity, period) {
            (Some(entity), Some(period)) => Ok((EntityId::new(entity.to_owned()), PeriodName::new(period.to_owned()))),
            _ => Err(ServerError::bad_request(
                "a report needs an entity and a period: add ?entity=ENTITY&period=PERIOD",
            )),
        }
    }
}

/// A report computed for the caller.
pub enum Computed {
    TrialBalance(TrialBalance),
    Statement(statement::Statement),
}

/// Computes a report as the caller may see it (ledger.read in the entity).
pub async fn compute(
    state: &SharedState,
    caller: &Caller,
    kind: ReportKind,
    entity: EntityId,
    period: PeriodName,
) -> Result<Computed, ServerError> {
    state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            ledger.authorize(Permission::LedgerRead, Some(&entity))?;
            Ok(match kind {
                ReportKind::TrialBalance => Computed::TrialBalance(ledger.read(|db| {
                    report::trial_balance_keeping_openings(db, &entity, &period, &[], false, &state.openings)
                })?),
                ReportKind::BalanceSheet => Computed::Statement(
                    ledger.read(|db| Ok(statement::balance_sheet(db, std::slice::from_ref(&entity), &period)?))?,
                ),
                ReportKind::IncomeStatement => Computed::Statement(
                    ledger.read(|db| Ok(statement::income_statement(db, std::slice::from_ref(&entity), &period)?))?,
                ),
            })
        })
        .await
}

pub async fn reports_page(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let (entities, periods) = state
        .with_ledger_to_read(&caller.actor, |ledger, _| super::pages::entities_and_periods(ledger))
        .await?;
    let body = html! {
        @for kind in ReportKind::ALL {
            form method="get" action=(format!("/reports/{}", kind.slug())) {
                fieldset {
                    legend { (kind.title()) }
                    label { "Entity " select name="entity" { @for entity in &entities { option value=(entity) { (entity) } } } } " "
                    label { "Period " select name="period" { @for view in periods.iter().rev() { option value=(view.period.name) { (view.period.name) } } } } " "
                    button type="submit" name="format" value="html" { "Show" } " "
                    button type="submit" name="format" value="csv" { "Download CSV" }
                }
            }
        }
    };
    Ok(layout("Reports", Some(&caller), body))
}

pub async fn report_page(
    State(state): State<SharedState>,
    caller: Caller,
    Path(kind): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ServerError> {
    let kind = ReportKind::parse(&kind)?;
    let (entity, period) = query.scope()?;
    let csv = query.format.as_deref() == Some("csv");
    let computed = compute(&state, &caller, kind, entity.clone(), period.clone()).await?;
    if csv {
        let text = match &computed {
            Computed::TrialBalance(trial_balance) => trial_balance_table(trial_balance, &[], Format::Csv).to_csv()?,
            Computed::Statement(statement) => statements::render(statement, StatementFormat::Csv)?,
        };
        let filename = format!(
            "{}-{}-{}.csv",
            kind.slug(),
            safe_filename(entity.as_str()),
            safe_filename(period.as_str())
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            text,
        )
            .into_response());
    }
    let csv_link = format!(
        "/reports/{}?entity={}&period={}&format=csv",
        kind.slug(),
        auth::percent_encode(entity.as_str()),
        auth::percent_encode(period.as_str())
    );
    match computed {
        // The statements are the command line's own HTML page: print-ready, escaped, no scripts.
        Computed::Statement(statement) => {
            Ok(Html(statements::render(&statement, StatementFormat::Html)?).into_response())
        }
        Computed::TrialBalance(trial_balance) => {
            let table = trial_balance_table(&trial_balance, &[], Format::Table);
            let body = html! {
                p { "Entity " strong { (trial_balance.entity) } ", period " strong { (trial_balance.period) } ", in " (trial_balance.currency) " · " a href=(csv_link) { "Download CSV" } }
                (table.to_html())
            };
            Ok(layout(&format!("Trial balance {}", trial_balance.period), Some(&caller), body).into_response())
        }
    }
}

/// A file name part made of letters, digits, `-` and `_` only.
fn safe_filename(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' {
                character
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_name_cannot_leave_its_folder_or_break_the_header() {
        assert_eq!(safe_filename("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_filename("ACME-US"), "ACME-US");
        assert_eq!(safe_filename("a\"; b\r\n"), "a___b__");
    }
}
