//! The WebAssembly edge: the `wit_bindgen::generate!` bindings of the `close-step` world, the
//! [`Ledger`] implementation over the host's `ledger` and `log` imports, and the glue that turns
//! a [`CloseStep`] into the world's `describe` and `run` exports. Everything that touches the
//! generated types lives here and converts to the SDK's Rust types, so plugin authors never see
//! wit-bindgen. The module is public only because [`export_step!`](crate::export_step) expands
//! in the plugin's crate and must reach it; it is not part of the SDK's API.
//!
//! The generated import calls link against the host only on `wasm32`; natively they compile
//! to stubs that are never called, because natively steps run against
//! [`crate::testing::TestLedger`].

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ids::{AccountNumber, CurrencyCode, EntityId};
use crate::journal::{ProposedEntry, ProposedLine, ProposedSettlement};
use crate::ledger::{
    AccountFilter, AccountInfo, AccountType, BalanceQuery, BalanceRow, CurrencyInfo, Dimension, DimensionInfo,
    EntityInfo, Ledger, LinePage, LineQuery, PeriodInfo, PeriodKind, PeriodStatus, PostedLine, QueryError,
};
use crate::reconcile::{Clearing, Finding, OpenItem, ReconcilingItem, Statement, StatementLine, StatementQuery};
use crate::step::{CloseStep, EntityAccess, Level, Message, StepError, StepInput, StepOutput};
use crate::wire::{WireError, format_date, format_decimal, parse_date, parse_decimal};

/// The generated bindings. `pub_export_macro` makes the generated `export!` macro usable from
/// the plugin's crate, and `default_bindings_module` points it back here.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.2",
        world: "close-step",
        pub_export_macro: true,
        default_bindings_module: "$crate::__private::bindings",
    });
}

use bindings::closebook::plugin::ledger as wit_ledger;
use bindings::closebook::plugin::log as wit_log;
use bindings::closebook::plugin::types as wit;

/// Every step is a `Guest` of the world: `describe` and `run` convert at the edge and call the
/// step. The blanket impl lets `export_step!` hand the plugin's own type to the generated
/// `export!` macro.
impl<Step: CloseStep> bindings::Guest for Step {
    fn describe() -> wit::StepInfo {
        describe::<Step>()
    }

    fn run(input: wit::StepInput) -> Result<wit::StepOutput, wit::StepError> {
        run::<Step>(input)
    }
}

/// The `describe` export: the step's info with its schema serialized to JSON text.
pub fn describe<Step: CloseStep>() -> wit::StepInfo {
    let info = Step::describe();
    wit::StepInfo {
        name: info.name,
        version: info.version,
        summary: info.summary,
        config_schema: info.config_schema.to_string(),
    }
}

/// The `run` export: converts the input, runs the step against the host ledger, converts the
/// output. Malformed input from the host and unrepresentable output both become step errors.
pub fn run<Step: CloseStep>(input: wit::StepInput) -> Result<wit::StepOutput, wit::StepError> {
    let result = step_input_from_wit(input)
        .and_then(|input| Step::run(input, &HostLedger))
        .and_then(|output| step_output_to_wit(&output));
    result.map_err(|error| wit::StepError { message: error.message })
}

/// The ledger the host provides through the `ledger` and `log` imports.
struct HostLedger;

impl Ledger for HostLedger {
    fn reconciling_items(&self, query: &StatementQuery) -> Result<Vec<OpenItem>, QueryError> {
        let query = statement_query_to_wit(query);
        let items = wit_ledger::reconciling_items(&query).map_err(query_error_from_wit)?;
        let host_error = |error: &dyn std::fmt::Display| {
            QueryError::new(format!("the host sent an invalid reconciling item: {error}"))
        };
        items
            .into_iter()
            .map(|item| {
                Ok(OpenItem {
                    id: item.id,
                    period: item.period.into(),
                    cleared: item.cleared,
                    amount: parse_decimal(&item.amount).map_err(|error| host_error(&error))?,
                    explanation: item.explanation,
                    expected_clear: parse_date(&item.expected_clear).map_err(|error| host_error(&error))?,
                    reference: item.reference,
                })
            })
            .collect()
    }

    fn statement(&self, query: &StatementQuery) -> Result<Option<Statement>, QueryError> {
        let query = statement_query_to_wit(query);
        let Some(statement) = wit_ledger::statement(&query).map_err(query_error_from_wit)? else {
            return Ok(None);
        };
        let host_error =
            |error: &dyn std::fmt::Display| QueryError::new(format!("the host sent an invalid statement: {error}"));
        let mut lines = Vec::with_capacity(statement.lines.len());
        for line in statement.lines {
            lines.push(StatementLine {
                line_no: line.line_no,
                date: parse_date(&line.date).map_err(|error| host_error(&error))?,
                amount: parse_decimal(&line.amount).map_err(|error| host_error(&error))?,
                reference: line.reference,
                description: line.description,
            });
        }
        Ok(Some(Statement {
            source: statement.source,
            opening: parse_decimal(&statement.opening).map_err(|error| host_error(&error))?,
            closing: parse_decimal(&statement.closing).map_err(|error| host_error(&error))?,
            lines,
        }))
    }

    fn entity(&self, entity: &EntityId) -> Result<EntityInfo, QueryError> {
        let info = wit_ledger::entity(entity.as_str()).map_err(query_error_from_wit)?;
        Ok(EntityInfo {
            id: info.id.into(),
            name: info.name,
            currency: info.currency.into(),
            retained_earnings_account: info.retained_earnings_account.into(),
            default_rate_type: info.default_rate_type,
            penny_rounding_account: info.penny_rounding_account.map(AccountNumber::from),
        })
    }

    fn currencies(&self) -> Vec<CurrencyInfo> {
        wit_ledger::currencies()
            .into_iter()
            .map(|currency| CurrencyInfo {
                code: currency.code.into(),
                minor_units: currency.minor_units,
            })
            .collect()
    }

    fn accounts(&self, entity: &EntityId) -> Result<Vec<AccountInfo>, QueryError> {
        let accounts = wit_ledger::accounts(entity.as_str()).map_err(query_error_from_wit)?;
        Ok(accounts.into_iter().map(account_from_wit).collect())
    }

    fn dimensions(&self) -> Vec<DimensionInfo> {
        wit_ledger::dimensions()
            .into_iter()
            .map(|dimension| DimensionInfo {
                name: dimension.name,
                values: dimension.values,
            })
            .collect()
    }

    fn periods(&self, entity: &EntityId, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, QueryError> {
        let periods = wit_ledger::periods(entity.as_str(), fiscal_year).map_err(query_error_from_wit)?;
        periods.into_iter().map(period_from_wit).collect()
    }

    fn balances(&self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, QueryError> {
        let query = wit::BalanceQuery {
            entity: query.entity.to_string(),
            accounts: account_filter_to_wit(&query.accounts),
            from_period: query.from_period.to_string(),
            to_period: query.to_period.to_string(),
            currency: query.currency.as_ref().map(CurrencyCode::to_string),
            dimension_filter: dimensions_to_wit(&query.dimension_filter),
            group_by_dimensions: query.group_by_dimensions.clone(),
        };
        let rows = wit_ledger::balances(&query).map_err(query_error_from_wit)?;
        rows.into_iter()
            .map(|row| {
                Ok(BalanceRow {
                    account: row.account.into(),
                    dimensions: dimensions_from_wit(row.dimensions),
                    currency: row.currency.into(),
                    amount: host_decimal(&row.amount)?,
                    accounting_amount: host_decimal(&row.accounting_amount)?,
                    debit: host_decimal(&row.debit)?,
                    credit: host_decimal(&row.credit)?,
                })
            })
            .collect()
    }

    fn lines(&self, query: &LineQuery) -> Result<LinePage, QueryError> {
        let query = wit::LineQuery {
            entity: query.entity.to_string(),
            account: query.account.to_string(),
            from_period: query.from_period.to_string(),
            to_period: query.to_period.to_string(),
            after: query.after.map(|after| after.get()),
            limit: query.limit,
            include_settled: query.include_settled,
        };
        let page = wit_ledger::lines(&query).map_err(query_error_from_wit)?;
        let lines = page
            .lines
            .into_iter()
            .map(|line| {
                Ok(PostedLine {
                    id: line.id.into(),
                    entry_id: line.entry_id.into(),
                    entry_key: line.entry_key,
                    date: host_date(&line.date)?,
                    period: line.period.into(),
                    account: line.account.into(),
                    dimensions: dimensions_from_wit(line.dimensions),
                    currency: line.currency.into(),
                    amount: host_decimal(&line.amount)?,
                    accounting_amount: host_decimal(&line.accounting_amount)?,
                    description: line.description,
                    settlement_id: line.settlement_id.map(Into::into),
                })
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        Ok(LinePage {
            lines,
            next: page.next.map(Into::into),
        })
    }

    fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
        rate_type: &str,
        on: NaiveDate,
    ) -> Result<Option<Decimal>, QueryError> {
        let rate =
            wit_ledger::rate(from.as_str(), to.as_str(), rate_type, &format_date(on)).map_err(query_error_from_wit)?;
        rate.as_deref().map(host_decimal).transpose()
    }

    fn log(&self, level: Level, message: &str) {
        wit_log::log(level_to_wit(level), message);
    }
}

fn query_error_from_wit(error: wit::QueryError) -> QueryError {
    QueryError::new(error.message)
}

/// A decimal the host sent; malformed text is a host bug, reported as a refused query.
fn host_decimal(text: &str) -> Result<Decimal, QueryError> {
    parse_decimal(text).map_err(|error| QueryError::new(format!("the host sent {error}")))
}

/// A date the host sent; malformed text is a host bug, reported as a refused query.
fn host_date(text: &str) -> Result<NaiveDate, QueryError> {
    parse_date(text).map_err(|error| QueryError::new(format!("the host sent {error}")))
}

fn account_type_from_wit(account_type: wit::AccountType) -> AccountType {
    match account_type {
        wit::AccountType::Asset => AccountType::Asset,
        wit::AccountType::Liability => AccountType::Liability,
        wit::AccountType::Equity => AccountType::Equity,
        wit::AccountType::Revenue => AccountType::Revenue,
        wit::AccountType::Expense => AccountType::Expense,
    }
}

fn account_type_to_wit(account_type: AccountType) -> wit::AccountType {
    match account_type {
        AccountType::Asset => wit::AccountType::Asset,
        AccountType::Liability => wit::AccountType::Liability,
        AccountType::Equity => wit::AccountType::Equity,
        AccountType::Revenue => wit::AccountType::Revenue,
        AccountType::Expense => wit::AccountType::Expense,
    }
}

fn account_from_wit(account: wit::AccountInfo) -> AccountInfo {
    AccountInfo {
        number: account.number.into(),
        name: account.name,
        account_type: account_type_from_wit(account.account_type),
        revalue: account.revalue,
        settle: account.settle,
        rate_type: account.rate_type,
        fixed_currency: account.fixed_currency.map(CurrencyCode::from),
        category: account.category,
        blocked: account.blocked,
    }
}

fn period_from_wit(period: wit::PeriodInfo) -> Result<PeriodInfo, QueryError> {
    Ok(PeriodInfo {
        name: period.name.into(),
        kind: match period.kind {
            wit::PeriodKind::Opening => PeriodKind::Opening,
            wit::PeriodKind::Operating => PeriodKind::Operating,
            wit::PeriodKind::Closing => PeriodKind::Closing,
        },
        start: host_date(&period.start)?,
        end: host_date(&period.end)?,
        fiscal_year: period.fiscal_year,
        status: match period.status {
            wit::PeriodStatus::Open => PeriodStatus::Open,
            wit::PeriodStatus::OnHold => PeriodStatus::OnHold,
            wit::PeriodStatus::PermanentlyClosed => PeriodStatus::PermanentlyClosed,
        },
    })
}

fn account_filter_to_wit(filter: &AccountFilter) -> wit::AccountFilter {
    match filter {
        AccountFilter::All => wit::AccountFilter::All,
        AccountFilter::List(accounts) => {
            wit::AccountFilter::List(accounts.iter().map(AccountNumber::to_string).collect())
        }
        AccountFilter::Range(first, last) => wit::AccountFilter::Range((first.to_string(), last.to_string())),
        AccountFilter::Types(types) => {
            wit::AccountFilter::Types(types.iter().copied().map(account_type_to_wit).collect())
        }
    }
}

fn dimensions_from_wit(dimensions: Vec<wit::Dimension>) -> Vec<Dimension> {
    dimensions
        .into_iter()
        .map(|dimension| Dimension::new(dimension.name, dimension.value))
        .collect()
}

fn dimensions_to_wit(dimensions: &[Dimension]) -> Vec<wit::Dimension> {
    dimensions
        .iter()
        .map(|dimension| wit::Dimension {
            name: dimension.name.clone(),
            value: dimension.value.clone(),
        })
        .collect()
}

fn level_to_wit(level: Level) -> wit::Level {
    match level {
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warning => wit::Level::Warning,
        Level::Error => wit::Level::Error,
    }
}

/// The step input the host sent; malformed dates or configuration are host bugs and fail the
/// run with a message naming the field.
fn step_input_from_wit(input: wit::StepInput) -> Result<StepInput, StepError> {
    let host_error = |field: &str, error: &dyn std::fmt::Display| {
        StepError::new(format!("the host sent an invalid step input: {field}: {error}"))
    };
    let period = period_from_wit(input.period).map_err(|error| host_error("period", &error))?;
    let as_of = parse_date(&input.as_of).map_err(|error| host_error("as-of", &error))?;
    let config = serde_json::from_str(&input.config).map_err(|error| host_error("config", &error))?;
    Ok(StepInput {
        entity: input.entity.into(),
        period,
        entities: input
            .entities
            .into_iter()
            .map(|access| EntityAccess {
                entity: access.entity.into(),
                post: access.post,
            })
            .collect(),
        as_of,
        config,
    })
}

fn step_output_to_wit(output: &StepOutput) -> Result<wit::StepOutput, StepError> {
    let entries = output
        .entries
        .iter()
        .map(entry_to_wit)
        .collect::<Result<Vec<_>, WireError>>()?;
    Ok(wit::StepOutput {
        entries,
        settlements: output.settlements.iter().map(settlement_to_wit).collect(),
        messages: output.messages.iter().map(message_to_wit).collect(),
        reconciling_items: output
            .reconciling_items
            .iter()
            .map(reconciling_item_to_wit)
            .collect::<Result<Vec<_>, WireError>>()?,
        cleared_items: output.cleared_items.iter().map(clearing_to_wit).collect(),
        findings: output
            .findings
            .iter()
            .map(finding_to_wit)
            .collect::<Result<Vec<_>, WireError>>()?,
    })
}

fn statement_query_to_wit(query: &StatementQuery) -> wit::StatementQuery {
    wit::StatementQuery {
        entity: query.entity.to_string(),
        account: query.account.to_string(),
        period: query.period.to_string(),
        dimensions: dimensions_to_wit(&query.dimensions),
    }
}

fn clearing_to_wit(clearing: &Clearing) -> wit::ProposedClearing {
    wit::ProposedClearing {
        entity: clearing.entity.to_string(),
        item_id: clearing.item_id,
        period: clearing.period.to_string(),
        note: clearing.note.clone(),
    }
}

fn reconciling_item_to_wit(item: &ReconcilingItem) -> Result<wit::ProposedReconcilingItem, WireError> {
    Ok(wit::ProposedReconcilingItem {
        entity: item.entity.to_string(),
        account: item.account.to_string(),
        dimensions: dimensions_to_wit(&item.dimensions),
        period: item.period.to_string(),
        amount: format_decimal(item.amount)?,
        explanation: item.explanation.clone(),
        expected_clear: format_date(item.expected_clear),
        reference: item.reference.clone(),
    })
}

fn finding_to_wit(finding: &Finding) -> Result<wit::Finding, WireError> {
    Ok(wit::Finding {
        entity: finding.entity.to_string(),
        account: finding.account.to_string(),
        dimensions: dimensions_to_wit(&finding.dimensions),
        measure: finding.measure.clone(),
        current: format_decimal(finding.current)?,
        baseline: format_decimal(finding.baseline)?,
        threshold: finding.threshold.clone(),
        explanation_required: finding.explanation_required,
        message: finding.message.clone(),
    })
}

fn entry_to_wit(entry: &ProposedEntry) -> Result<wit::ProposedEntry, WireError> {
    Ok(wit::ProposedEntry {
        entity: entry.entity.to_string(),
        period: entry.period.as_ref().map(ToString::to_string),
        date: format_date(entry.date),
        description: entry.description.clone(),
        lines: entry
            .lines
            .iter()
            .map(line_to_wit)
            .collect::<Result<Vec<_>, WireError>>()?,
        reversal_date: entry.reversal_date.map(format_date),
    })
}

fn line_to_wit(line: &ProposedLine) -> Result<wit::ProposedLine, WireError> {
    Ok(wit::ProposedLine {
        account: line.account.to_string(),
        dimensions: dimensions_to_wit(&line.dimensions),
        currency: line.currency.as_ref().map(ToString::to_string),
        amount: format_decimal(line.amount)?,
        accounting_amount: line.accounting_amount.map(format_decimal).transpose()?,
        description: line.description.clone(),
    })
}

fn settlement_to_wit(settlement: &ProposedSettlement) -> wit::ProposedSettlement {
    wit::ProposedSettlement {
        entity: settlement.entity.to_string(),
        line_ids: settlement.line_ids.iter().map(|id| id.get()).collect(),
    }
}

fn message_to_wit(message: &Message) -> wit::Message {
    wit::Message {
        level: level_to_wit(message.level),
        text: message.text.clone(),
    }
}
