//! The standard allocation close step (DOMAIN.md section 6): share an amount among destination
//! lines by fixed percentage, fixed weight, equally, or by a basis (each destination's balance
//! of basis accounts, e.g. salaries per department). The amount is the net balance of ledger
//! accounts selected by accounts, dimensions and periods, or a fixed amount. One balanced
//! entry is proposed at the period end: a line per destination with its share, and the offset
//! crediting the source. Shares are rounded to the currency's minor units with the SDK's
//! `split_by_weights`, the remainder on the last (or largest) destination, so the entry
//! balances to the cent. A source of zero stops the step or is skipped, as configured.
//! Proposal mode (review before posting) is the host's: the step only ever proposes.

mod config;

use std::collections::{BTreeMap, BTreeSet};

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountFilter, AccountNumber, BalanceQuery, CloseStep, CurrencyCode, CurrencyInfo, Dimension, JournalBuilder,
    Ledger, Level, PeriodKind, PeriodName, ProposedLine, Remainder, StepError, StepInfo, StepInput, StepOutput,
    split_by_weights,
};

pub use config::{
    AccountRange, BalanceSelection, Config, DESTINATIONS_MAX, Destination, DimensionValues, FixedAmount, Method,
    Offset, OnZeroSource, RemainderPlacement, Scope, Source, schema,
};

/// The allocation step.
pub struct Allocation;

impl CloseStep for Allocation {
    fn describe() -> StepInfo {
        StepInfo::new(
            "allocation",
            env!("CARGO_PKG_VERSION"),
            "Allocates a ledger balance or a fixed amount to destinations by fixed percentage, fixed weight, \
             equally or by a basis.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate()?;
        input.require_post_access()?;
        let entity = ledger.entity(&input.entity)?;
        let accounting_currency = currency_info(ledger, &entity.currency)?;
        check_accounts(&input, ledger, &config)?;

        let source = read_source(&input, ledger, &config, &accounting_currency, &entity.default_rate_type)?;
        let description = config.description.clone().unwrap_or_else(|| {
            format!(
                "Allocation of {} by {} for {}",
                source.label,
                config.method.name(),
                input.period.name
            )
        });
        let mut output = StepOutput::new();
        if source.amount.is_zero() && source.accounting_amount.is_zero() {
            let text = format!("the source ({}) is zero: nothing to allocate", source.label);
            return match config.on_zero_source {
                OnZeroSource::Stop => Err(StepError::new(format!(
                    "{text}; the step stops (set on_zero_source to \"skip\" to carry on without an entry)"
                ))),
                OnZeroSource::Skip => {
                    ledger.info(&text);
                    output.push_message(Level::Info, format!("{text}: skipped"));
                    Ok(output)
                }
            };
        }

        let weights = weights(&input, ledger, &config)?;
        let remainder = Remainder::from(config.remainder);
        let shares = split_by_weights(source.amount, &weights, source.currency.minor_units, remainder)?;
        let accounting_shares = if source.is_foreign() {
            split_by_weights(
                source.accounting_amount,
                &weights,
                accounting_currency.minor_units,
                remainder,
            )?
        } else {
            shares.clone()
        };

        let mut builder = JournalBuilder::new(input.entity.clone(), input.period.end, &description)
            .accounting_currency(entity.currency.clone());
        if input.period.kind != PeriodKind::Operating {
            builder = builder.period(input.period.name.clone());
        }
        for (index, destination) in config.destinations.iter().enumerate() {
            let (share, accounting_share) = (shares[index], accounting_shares[index]);
            let account = destination_account(&config, destination)?;
            ledger.info(&format!(
                "destination {} ({}): weight {}, share {share} {}",
                index + 1,
                label(&account, &destination.dimensions),
                weights[index],
                source.currency.code
            ));
            if share.is_zero() && accounting_share.is_zero() {
                continue;
            }
            builder.push_line(source.line(account, &destination.dimensions, share, accounting_share));
        }
        match &config.offset {
            Some(offset) => builder.push_line(source.line(
                offset.account.clone(),
                &offset.dimensions,
                -source.amount,
                -source.accounting_amount,
            )),
            // Validation refuses a fixed source without an offset, so these are ledger
            // balances in the accounting currency: credit each one back.
            None => {
                for ((account, dimensions), amount) in &source.balances {
                    if amount.is_zero() {
                        continue;
                    }
                    builder.push_line(ProposedLine::new(account.clone(), -*amount).dimensions(dimensions.clone()));
                }
            }
        }
        let entry = builder.build()?;
        let text = format!(
            "proposed {description}: {} {} to {} destination(s)",
            source.amount,
            source.currency.code,
            config.destinations.len()
        );
        ledger.info(&text);
        output.push_message(Level::Info, text);
        output.push_entry(entry);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Allocation);

/// The amount to allocate, in its currency and in the accounting currency.
struct SourceAmount {
    /// What the source is, for messages and the default description.
    label: String,
    /// The transaction currency of the allocation lines.
    currency: CurrencyInfo,
    /// Whether `currency` is the entity's accounting currency.
    accounting: bool,
    /// The amount in `currency`.
    amount: Decimal,
    /// The amount in the accounting currency.
    accounting_amount: Decimal,
    /// For a ledger source, the accounting-currency balance per account and dimension set,
    /// which an absent offset credits back one by one.
    balances: BTreeMap<(AccountNumber, Vec<Dimension>), Decimal>,
}

impl SourceAmount {
    fn is_foreign(&self) -> bool {
        !self.accounting
    }

    /// A line of the allocation entry in the source's currency.
    fn line(
        &self,
        account: AccountNumber,
        dimensions: &DimensionValues,
        amount: Decimal,
        accounting_amount: Decimal,
    ) -> ProposedLine {
        let line = ProposedLine::new(account, amount).dimensions(dimension_list(dimensions));
        if self.is_foreign() {
            line.currency(self.currency.code.clone())
                .accounting_amount(accounting_amount)
        } else {
            line
        }
    }
}

/// Reads the amount to allocate: the net accounting-currency balance of the selected ledger
/// accounts, or the fixed amount (converted at the entity's default rate type on the entry date
/// when it is in another currency).
fn read_source(
    input: &StepInput,
    ledger: &dyn Ledger,
    config: &Config,
    accounting_currency: &CurrencyInfo,
    rate_type: &str,
) -> Result<SourceAmount, StepError> {
    match &config.source {
        Source::Ledger(selection) => {
            let (from_period, to_period) = period_range(input, ledger, selection)?;
            let query = balance_query(input, selection, &selection.dimensions, &from_period, &to_period).group_by("*");
            let mut balances: BTreeMap<(AccountNumber, Vec<Dimension>), Decimal> = BTreeMap::new();
            let mut total = Decimal::ZERO;
            for row in ledger.balances(&query)? {
                *balances.entry((row.account, row.dimensions)).or_default() += row.accounting_amount;
                total += row.accounting_amount;
            }
            // The range is part of the label only when it is not the run period alone.
            let label = if from_period == input.period.name && to_period == input.period.name {
                selection_label(selection)
            } else {
                format!("{} from {from_period} to {to_period}", selection_label(selection))
            };
            ledger.info(&format!(
                "source {label}: {total} {} over {} balance(s)",
                accounting_currency.code,
                balances.len()
            ));
            Ok(SourceAmount {
                label,
                currency: accounting_currency.clone(),
                accounting: true,
                amount: total,
                accounting_amount: total,
                balances,
            })
        }
        Source::Fixed(fixed) => {
            let code = fixed
                .currency
                .clone()
                .unwrap_or_else(|| accounting_currency.code.clone());
            let currency = currency_info(ledger, &code)?;
            if currency.round(fixed.amount) != fixed.amount {
                return Err(StepError::new(format!(
                    "the fixed amount {} has more decimals than {code} allows ({}): round it",
                    fixed.amount, currency.minor_units
                )));
            }
            let accounting = code == accounting_currency.code;
            let accounting_amount = if accounting {
                fixed.amount
            } else {
                let on = input.period.end;
                let Some(rate) = ledger.rate(&code, &accounting_currency.code, rate_type, on)? else {
                    return Err(StepError::new(format!(
                        "no {rate_type} rate from {code} to {} on {on}: add one, or give the fixed amount in {}",
                        accounting_currency.code, accounting_currency.code
                    )));
                };
                accounting_currency.round(fixed.amount * rate)
            };
            Ok(SourceAmount {
                label: format!("fixed amount {} {code}", fixed.amount),
                currency,
                accounting,
                amount: fixed.amount,
                accounting_amount,
                balances: BTreeMap::new(),
            })
        }
    }
}

/// One weight per destination, in destination order.
fn weights(input: &StepInput, ledger: &dyn Ledger, config: &Config) -> Result<Vec<Decimal>, StepError> {
    let fixed = |field: fn(&Destination) -> Option<Decimal>| {
        config
            .destinations
            .iter()
            .map(|destination| field(destination).unwrap_or_default())
            .collect()
    };
    match config.method {
        Method::FixedPercentage => Ok(fixed(|destination| destination.percent)),
        Method::FixedWeight => Ok(fixed(|destination| destination.weight)),
        Method::Equally => Ok(vec![Decimal::ONE; config.destinations.len()]),
        Method::Basis => basis_weights(input, ledger, config),
    }
}

/// Each destination's weight under the basis method: the net accounting-currency balance of
/// the basis accounts over the basis periods, filtered by the basis's own dimension values and
/// the destination's (its `basis_dimensions`, else its `dimensions`; the destination's win on
/// the same dimension). A basis of credits (revenue, say) weighs by their size; a basis mixing
/// debits and credits is refused, as is a basis of zero.
fn basis_weights(input: &StepInput, ledger: &dyn Ledger, config: &Config) -> Result<Vec<Decimal>, StepError> {
    let Some(basis) = &config.basis else {
        return Err(StepError::new("method \"basis\" needs a basis"));
    };
    let (from_period, to_period) = period_range(input, ledger, basis)?;
    let mut balances = Vec::with_capacity(config.destinations.len());
    for (index, destination) in config.destinations.iter().enumerate() {
        let mut filter = basis.dimensions.clone();
        filter.extend(destination.basis_filter().clone());
        let query = balance_query(input, basis, &filter, &from_period, &to_period);
        let balance: Decimal = ledger.balances(&query)?.iter().map(|row| row.accounting_amount).sum();
        ledger.info(&format!(
            "basis of destination {}: {} with {} from {from_period} to {to_period} is {balance}",
            index + 1,
            selection_label(basis),
            dimensions_label(&filter)
        ));
        balances.push(balance);
    }
    let debits = balances
        .iter()
        .any(|balance| balance.is_sign_positive() && !balance.is_zero());
    let credits = balances
        .iter()
        .any(|balance| balance.is_sign_negative() && !balance.is_zero());
    match (debits, credits) {
        (true, true) => Err(StepError::new(format!(
            "the basis balances of the destinations mix debits and credits ({}): a basis must be all debits or all \
             credits",
            balances.iter().map(Decimal::to_string).collect::<Vec<_>>().join(", ")
        ))),
        (false, false) => Err(StepError::new(format!(
            "the basis {} from {from_period} to {to_period} is zero for every destination: nothing to weigh the \
             destinations by",
            selection_label(basis)
        ))),
        (false, true) => Ok(balances.into_iter().map(|balance| -balance).collect()),
        (true, false) => Ok(balances),
    }
}

/// The first and last period a selection covers: `to_period` or the run period, and
/// `from_period`, else the same period (scope `period`) or the first period of its fiscal year
/// (scope `year-to-date`).
fn period_range(
    input: &StepInput,
    ledger: &dyn Ledger,
    selection: &BalanceSelection,
) -> Result<(PeriodName, PeriodName), StepError> {
    let to_period = selection.to_period.clone().unwrap_or_else(|| input.period.name.clone());
    let from_period = match (&selection.from_period, selection.scope) {
        (Some(from_period), _) => from_period.clone(),
        (None, Scope::Period) => to_period.clone(),
        (None, Scope::YearToDate) => {
            let periods = ledger.periods(&input.entity, None)?;
            let Some(last) = periods.iter().find(|period| period.name == to_period) else {
                return Err(StepError::new(format!(
                    "period {to_period} does not exist in entity {}",
                    input.entity
                )));
            };
            match periods.iter().find(|period| period.fiscal_year == last.fiscal_year) {
                Some(first) => first.name.clone(),
                None => to_period.clone(),
            }
        }
    };
    Ok((from_period, to_period))
}

/// The balance query of a selection with these dimension filters over a period range.
fn balance_query(
    input: &StepInput,
    selection: &BalanceSelection,
    dimensions: &DimensionValues,
    from_period: &PeriodName,
    to_period: &PeriodName,
) -> BalanceQuery {
    let mut query = BalanceQuery::new(input.entity.clone(), from_period.clone(), to_period.clone())
        .accounts(selection.account_filter());
    for (name, value) in dimensions {
        query = query.dimension_filter(name.clone(), value.clone());
    }
    query
}

/// The account a destination posts to: its own, else the source's single account (validation
/// makes sure there is one).
fn destination_account(config: &Config, destination: &Destination) -> Result<AccountNumber, StepError> {
    if let Some(account) = &destination.account {
        return Ok(account.clone());
    }
    match &config.source {
        Source::Ledger(BalanceSelection {
            accounts: Some(accounts),
            ..
        }) if accounts.len() == 1 => Ok(accounts[0].clone()),
        _ => Err(StepError::new(
            "a destination has no account and the source is not one ledger account: name its account",
        )),
    }
}

/// Refuses configuration naming accounts the entity does not have, and lines on blocked
/// accounts, before anything is read: a typo would otherwise allocate a zero balance.
fn check_accounts(input: &StepInput, ledger: &dyn Ledger, config: &Config) -> Result<(), StepError> {
    let chart = ledger.accounts(&input.entity)?;
    let known: BTreeMap<&AccountNumber, bool> =
        chart.iter().map(|account| (&account.number, account.blocked)).collect();
    let mut read: BTreeSet<AccountNumber> = BTreeSet::new();
    for selection in [config.basis.as_ref(), source_selection(config)].into_iter().flatten() {
        read.extend(selection.accounts.iter().flatten().cloned());
    }
    for account in &read {
        if !known.contains_key(account) {
            return Err(StepError::new(format!(
                "account {account} does not exist in entity {}: fix the step configuration",
                input.entity
            )));
        }
    }
    let mut posted: Vec<AccountNumber> = Vec::new();
    for destination in &config.destinations {
        posted.push(destination_account(config, destination)?);
    }
    posted.extend(config.offset.iter().map(|offset| offset.account.clone()));
    for account in &posted {
        match known.get(account) {
            None => {
                return Err(StepError::new(format!(
                    "account {account} does not exist in entity {}: fix the step configuration",
                    input.entity
                )));
            }
            Some(true) => {
                return Err(StepError::new(format!(
                    "account {account} is blocked in entity {}: it accepts no postings",
                    input.entity
                )));
            }
            Some(false) => {}
        }
    }
    Ok(())
}

fn source_selection(config: &Config) -> Option<&BalanceSelection> {
    match &config.source {
        Source::Ledger(selection) => Some(selection),
        Source::Fixed(_) => None,
    }
}

fn currency_info(ledger: &dyn Ledger, code: &CurrencyCode) -> Result<CurrencyInfo, StepError> {
    ledger
        .currency(code)
        .ok_or_else(|| StepError::new(format!("the ledger does not know currency {code}")))
}

fn dimension_list(dimensions: &DimensionValues) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(name, value)| Dimension::new(name.clone(), value.clone()))
        .collect()
}

/// `6100 department=300`, for messages.
fn label(account: &AccountNumber, dimensions: &DimensionValues) -> String {
    if dimensions.is_empty() {
        return account.to_string();
    }
    format!("{account} {}", dimensions_label(dimensions))
}

/// `department=300;region=EU`, or `no dimension filter`.
fn dimensions_label(dimensions: &DimensionValues) -> String {
    if dimensions.is_empty() {
        return "no dimension filter".to_owned();
    }
    dimensions
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// `accounts 6100, 6200 department=300` or `accounts 6000 to 6999`, for messages.
fn selection_label(selection: &BalanceSelection) -> String {
    let accounts = match selection.account_filter() {
        AccountFilter::List(accounts) => format!(
            "accounts {}",
            accounts
                .iter()
                .map(AccountNumber::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AccountFilter::Range(from, to) => format!("accounts {from} to {to}"),
        _ => "every account".to_owned(),
    };
    if selection.dimensions.is_empty() {
        accounts
    } else {
        format!("{accounts} {}", dimensions_label(&selection.dimensions))
    }
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, AccountType, EntityInfo, ProposedEntry};

    use super::*;

    /// ACME (USD; EUR at 1.08 spot) with three departments. January: salaries on 6000 of
    /// 15,000.00 (department 100), 9,000.00 (200) and 6,000.00 (300), 30,000.00 in all; rent on
    /// 6100 of 4,500.00 for department 300; revenue on 4000 of 30,000.00 (100) and 10,000.00
    /// (200), credits. February: only 5,000.00 more revenue for department 200.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_dimension("department", ["100", "200", "300"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1000", "Bank", AccountType::Asset))
            .add_account(
                "ACME",
                AccountInfo::new("2100", "Accrued liabilities", AccountType::Liability),
            )
            .add_account("ACME", AccountInfo::new("4000", "Revenue", AccountType::Revenue))
            .add_account("ACME", AccountInfo::new("6000", "Salaries", AccountType::Expense))
            .add_account("ACME", AccountInfo::new("6100", "Rent", AccountType::Expense))
            .add_account(
                "ACME",
                AccountInfo::new("6900", "Shared services", AccountType::Expense),
            )
            .add_fiscal_year("ACME", 2026)
            .add_rate("EUR", "USD", "spot", date("2026-01-01"), decimal("1.08"));
        let mut blocked = AccountInfo::new("6990", "Old allocations", AccountType::Expense);
        blocked.blocked = true;
        ledger.add_account("ACME", blocked);
        for (day, account, department, amount) in [
            ("2026-01-25", "6000", "100", "15000.00"),
            ("2026-01-25", "6000", "200", "9000.00"),
            ("2026-01-25", "6000", "300", "6000.00"),
            ("2026-01-26", "6100", "300", "4500.00"),
            ("2026-01-05", "4000", "100", "-30000.00"),
            ("2026-01-06", "4000", "200", "-10000.00"),
            ("2026-02-06", "4000", "200", "-5000.00"),
        ] {
            ledger.post(
                JournalBuilder::new("ACME", date(day), format!("{account} {department}"))
                    .line(ProposedLine::new(account, decimal(amount)).dimension("department", department))
                    .credit("1000", decimal(amount))
                    .build()
                    .unwrap(),
            );
        }
        ledger
    }

    fn run(ledger: &TestLedger, period: &str, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<Allocation>(ledger.step_input("ACME", period, config))
    }

    /// (account, department, amount) of each line.
    fn lines(entry: &ProposedEntry) -> Vec<(String, String, String)> {
        entry
            .lines
            .iter()
            .map(|line| {
                let department = line
                    .dimensions
                    .iter()
                    .find(|dimension| dimension.name == "department")
                    .map_or_else(String::new, |dimension| dimension.value.clone());
                (line.account.to_string(), department, line.amount.to_string())
            })
            .collect()
    }

    fn expected(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        rows.iter()
            .map(|(account, department, amount)| {
                ((*account).to_owned(), (*department).to_owned(), (*amount).to_owned())
            })
            .collect()
    }

    fn departments(percent_or_weight: Option<(&str, [&str; 3])>) -> Value {
        let mut destinations = Vec::new();
        for (index, department) in ["100", "200", "300"].into_iter().enumerate() {
            let mut destination = json!({ "dimensions": { "department": department } });
            if let Some((field, values)) = percent_or_weight {
                destination[field] = json!(values[index]);
            }
            destinations.push(destination);
        }
        Value::Array(destinations)
    }

    fn rent_config(method: &str, percent_or_weight: Option<(&str, [&str; 3])>) -> Value {
        json!({
            "method": method,
            "source": { "ledger": { "accounts": ["6100"], "dimensions": { "department": "300" } } },
            "destinations": departments(percent_or_weight),
            "offset": { "account": "6100", "dimensions": { "department": "300" } }
        })
    }

    fn fixed_config(method: &str, amount: &str, destinations: Value) -> Value {
        json!({
            "method": method,
            "source": { "fixed": { "amount": amount } },
            "destinations": destinations,
            "offset": { "account": "2100" }
        })
    }

    /// Destinations on shared services 6900 for departments 100, 200 and 300, with these
    /// weights when given.
    fn shared_services(weights: Option<[&str; 3]>) -> Value {
        let mut destinations = Vec::new();
        for (index, department) in ["100", "200", "300"].into_iter().enumerate() {
            let mut destination = json!({ "account": "6900", "dimensions": { "department": department } });
            if let Some(weights) = weights {
                destination["weight"] = json!(weights[index]);
            }
            destinations.push(destination);
        }
        Value::Array(destinations)
    }

    fn department_balances(ledger: &TestLedger, account: &str, period: &str) -> Vec<(String, String)> {
        let query = BalanceQuery::new("ACME", period, period)
            .accounts(AccountFilter::List(vec![account.into()]))
            .group_by("department");
        ledger
            .balances(&query)
            .unwrap()
            .into_iter()
            .map(|row| (row.dimensions[0].value.clone(), row.accounting_amount.to_string()))
            .collect()
    }

    #[test]
    fn describes_itself_with_a_closed_schema() {
        // The schema is draft 2020-12 and refuses unknown fields at the top level.
        let info = Allocation::describe();
        assert_eq!(info.name, "allocation");
        assert_eq!(
            info.config_schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(info.config_schema["additionalProperties"], false);
    }

    #[test]
    fn fixed_percentage_splits_the_rent_and_offsets_the_source() {
        // January rent 4,500.00 at 50/30/20: 2,250.00, 1,350.00 and 900.00 on 6100 (the source's
        // account, as the destinations name none); 6100 department 300 is credited 4,500.00.
        // Posted, 6100 by department is 2,250.00 / 1,350.00 / 4,500.00 + 900.00 − 4,500.00 = 900.00.
        let mut ledger = ledger();
        let config = rent_config("fixed-percentage", Some(("percent", ["50", "30", "20"])));
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(output.entries.len(), 1);
        let entry = &output.entries[0];
        assert_eq!(entry.date, date("2026-01-31"));
        assert_eq!(
            entry.description,
            "Allocation of accounts 6100 department=300 by fixed-percentage for 2026-01"
        );
        assert_eq!(
            lines(entry),
            expected(&[
                ("6100", "100", "2250.00"),
                ("6100", "200", "1350.00"),
                ("6100", "300", "900.00"),
                ("6100", "300", "-4500.00"),
            ])
        );
        ledger.post_output(&output);
        assert_eq!(
            department_balances(&ledger, "6100", "2026-01"),
            [
                ("100".to_owned(), "2250.00".to_owned()),
                ("200".to_owned(), "1350.00".to_owned()),
                ("300".to_owned(), "900.00".to_owned()),
            ]
        );
    }

    #[test]
    fn fixed_weight_shares_in_proportion() {
        // Weights 3 : 2 : 1 of 4,500.00: 4,500 × 3/6 = 2,250.00, × 2/6 = 1,500.00, × 1/6 = 750.00.
        let ledger = ledger();
        let config = rent_config("fixed-weight", Some(("weight", ["3", "2", "1"])));
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            expected(&[
                ("6100", "100", "2250.00"),
                ("6100", "200", "1500.00"),
                ("6100", "300", "750.00"),
                ("6100", "300", "-4500.00"),
            ])
        );
    }

    #[test]
    fn equally_puts_the_rounding_remainder_on_the_last_destination() {
        // 100.00 in thirds is 33.333… each, rounded 33.33 three times = 99.99; the last takes the
        // cent: 33.33, 33.33, 33.34, and 2100 is credited the whole 100.00.
        let ledger = ledger();
        let config = fixed_config("equally", "100.00", shared_services(None));
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            expected(&[
                ("6900", "100", "33.33"),
                ("6900", "200", "33.33"),
                ("6900", "300", "33.34"),
                ("2100", "", "-100.00"),
            ])
        );
    }

    #[test]
    fn the_largest_destination_can_take_the_remainder_instead() {
        // 100.00 by 5 : 1 : 1 is 71.428…, 14.285…, 14.285…, rounded 71.43 + 14.29 + 14.29 = 100.01.
        // With the remainder on the last destination: 71.43, 14.29, 14.28; on the largest:
        // 71.42, 14.29, 14.29.
        let ledger = ledger();
        let last = run(
            &ledger,
            "2026-01",
            fixed_config("fixed-weight", "100.00", shared_services(Some(["5", "1", "1"]))),
        )
        .unwrap();
        assert_eq!(
            lines(&last.entries[0])[..3],
            expected(&[
                ("6900", "100", "71.43"),
                ("6900", "200", "14.29"),
                ("6900", "300", "14.28")
            ])
        );
        let mut config = fixed_config("fixed-weight", "100.00", shared_services(Some(["5", "1", "1"])));
        config["remainder"] = json!("largest");
        let largest = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(
            lines(&largest.entries[0])[..3],
            expected(&[
                ("6900", "100", "71.42"),
                ("6900", "200", "14.29"),
                ("6900", "300", "14.29")
            ])
        );
    }

    #[test]
    fn basis_weighs_by_the_destinations_salaries() {
        // Rent 4,500.00 by January salaries per department, 15,000 : 9,000 : 6,000 (of 30,000):
        // 4,500 × 0.5 = 2,250.00, × 0.3 = 1,350.00, × 0.2 = 900.00.
        let ledger = ledger();
        let mut config = rent_config("basis", None);
        config["basis"] = json!({ "accounts": ["6000"] });
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            expected(&[
                ("6100", "100", "2250.00"),
                ("6100", "200", "1350.00"),
                ("6100", "300", "900.00"),
                ("6100", "300", "-4500.00"),
            ])
        );
        let logs: Vec<_> = ledger.logs().into_iter().map(|message| message.text).collect();
        assert!(
            logs.contains(
                &"basis of destination 2: accounts 6000 with department=200 from 2026-01 to 2026-01 is 9000.00"
                    .to_owned()
            ),
            "{logs:?}"
        );
    }

    #[test]
    fn basis_of_credits_year_to_date_weighs_by_their_size() {
        // Revenue to the end of February: department 100 −30,000.00, department 200 −10,000.00
        // − 5,000.00 = −15,000.00; credits weigh by their size, 2 : 1. 100.00 by 2 : 1 is
        // 66.666… → 66.67 and 33.333… → 33.33, which sum to 100.00. Department 300 has no
        // revenue: weight 0, no line.
        let ledger = ledger();
        let mut config = fixed_config(
            "basis",
            "100.00",
            json!([
                { "account": "6900", "dimensions": { "department": "100" } },
                { "account": "6900", "dimensions": { "department": "200" } },
                { "account": "6900", "dimensions": { "department": "300" } }
            ]),
        );
        config["basis"] = json!({ "accounts": ["4000"], "scope": "year-to-date" });
        let output = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            expected(&[
                ("6900", "100", "66.67"),
                ("6900", "200", "33.33"),
                ("2100", "", "-100.00")
            ])
        );
    }

    #[test]
    fn a_basis_that_mixes_signs_or_is_zero_is_refused() {
        // Salaries (debits) for department 100 and revenue (credits) for 200 cannot weigh
        // together; a basis with no balance at all cannot weigh anything.
        let ledger = ledger();
        let mut config = fixed_config(
            "basis",
            "100.00",
            json!([
                { "account": "6900", "dimensions": { "department": "100" } },
                { "account": "6900", "dimensions": { "department": "200" } }
            ]),
        );
        config["basis"] = json!({ "account_range": { "from": "4000", "to": "6999" } });
        // Department 100: 15,000.00 − 30,000.00 = −15,000.00; department 200: 9,000.00 − 10,000.00
        // = −1,000.00; both credits, so this one works, 15 : 1.
        assert!(run(&ledger, "2026-01", config.clone()).is_ok());
        config["destinations"][1]["basis_dimensions"] = json!({ "department": "300" });
        // Department 300: salaries 6,000.00 + rent 4,500.00 = 10,500.00, a debit.
        let error = run(&ledger, "2026-01", config.clone()).unwrap_err();
        assert_eq!(
            error.message,
            "the basis balances of the destinations mix debits and credits (-15000.00, 10500.00): a basis must be \
             all debits or all credits"
        );
        config["basis"] = json!({ "accounts": ["6100"], "from_period": "2026-02", "to_period": "2026-03" });
        let error = run(&ledger, "2026-03", config).unwrap_err();
        assert!(
            error
                .message
                .ends_with("is zero for every destination: nothing to weigh the destinations by")
        );
    }

    #[test]
    fn a_zero_source_stops_or_is_skipped() {
        // February has no rent: by default the step fails with the reason; with "skip" it
        // proposes nothing and says why.
        let ledger = ledger();
        let config = rent_config("fixed-percentage", Some(("percent", ["50", "30", "20"])));
        let error = run(&ledger, "2026-02", config.clone()).unwrap_err();
        assert_eq!(
            error.message,
            "the source (accounts 6100 department=300) is zero: nothing to allocate; the step stops (set \
             on_zero_source to \"skip\" to carry on without an entry)"
        );
        let mut config = config;
        config["on_zero_source"] = json!("skip");
        let output = run(&ledger, "2026-02", config).unwrap();
        assert!(output.entries.is_empty());
        assert_eq!(output.messages[0].level, Level::Info);
        assert!(output.messages[0].text.ends_with("nothing to allocate: skipped"));
    }

    #[test]
    fn a_fixed_amount_in_a_foreign_currency_carries_both_amounts() {
        // 100.00 EUR at 1.08 is 108.00 USD. In thirds: EUR 33.33, 33.33, 33.34 (remainder last)
        // and USD 36.00 three times; the offset is −100.00 EUR / −108.00 USD, so the entry
        // balances in USD without any conversion by the host.
        let ledger = ledger();
        let mut config = fixed_config(
            "equally",
            "100.00",
            json!([
                { "account": "6900", "dimensions": { "department": "100" } },
                { "account": "6900", "dimensions": { "department": "200" } },
                { "account": "6900", "dimensions": { "department": "300" } }
            ]),
        );
        config["source"]["fixed"]["currency"] = json!("EUR");
        let output = run(&ledger, "2026-01", config).unwrap();
        let entry = &output.entries[0];
        let amounts: Vec<_> = entry
            .lines
            .iter()
            .map(|line| {
                (
                    line.currency.as_ref().map(ToString::to_string),
                    line.amount.to_string(),
                    line.accounting_amount.map(|amount| amount.to_string()),
                )
            })
            .collect();
        let eur =
            |amount: &str, accounting: &str| (Some("EUR".to_owned()), amount.to_owned(), Some(accounting.to_owned()));
        assert_eq!(
            amounts,
            [
                eur("33.33", "36.00"),
                eur("33.33", "36.00"),
                eur("33.34", "36.00"),
                eur("-100.00", "-108.00")
            ]
        );
    }

    #[test]
    fn a_fixed_amount_with_too_many_decimals_is_refused() {
        // 10.005 USD cannot be posted; the step says so instead of rounding silently.
        let ledger = ledger();
        let error = run(
            &ledger,
            "2026-01",
            fixed_config("fixed-weight", "10.005", shared_services(Some(["1", "1", "1"]))),
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "the fixed amount 10.005 has more decimals than USD allows (2): round it"
        );
    }

    #[test]
    fn without_an_offset_each_source_balance_is_credited_back() {
        // Salaries and rent (6000 to 6100, 34,500.00) go equally to shared services for
        // departments 100 and 200, 17,250.00 each; each source balance is credited by its own
        // amount (6000: 15,000.00, 9,000.00, 6,000.00; 6100: 4,500.00), which clears the source,
        // so a second run finds nothing and skips.
        let mut ledger = ledger();
        let config = json!({
            "method": "equally",
            "source": { "ledger": { "account_range": { "from": "6000", "to": "6100" } } },
            "destinations": [
                { "account": "6900", "dimensions": { "department": "100" } },
                { "account": "6900", "dimensions": { "department": "200" } }
            ],
            "on_zero_source": "skip"
        });
        let output = run(&ledger, "2026-01", config.clone()).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            expected(&[
                ("6900", "100", "17250.00"),
                ("6900", "200", "17250.00"),
                ("6000", "100", "-15000.00"),
                ("6000", "200", "-9000.00"),
                ("6000", "300", "-6000.00"),
                ("6100", "300", "-4500.00"),
            ])
        );
        ledger.post_output(&output);
        let second = run(&ledger, "2026-01", config).unwrap();
        assert!(second.entries.is_empty());
    }

    #[test]
    fn refuses_unknown_blocked_and_ambiguous_accounts() {
        // A typo'd basis account, a blocked destination, and a destination without an account
        // when the source spans a range are each refused before anything is proposed.
        let ledger = ledger();
        let mut config = rent_config("basis", None);
        config["basis"] = json!({ "accounts": ["6001"] });
        assert_eq!(
            run(&ledger, "2026-01", config).unwrap_err().message,
            "account 6001 does not exist in entity ACME: fix the step configuration"
        );
        let mut config = fixed_config("fixed-weight", "100.00", shared_services(Some(["1", "1", "1"])));
        config["destinations"][2]["account"] = json!("6990");
        assert_eq!(
            run(&ledger, "2026-01", config).unwrap_err().message,
            "account 6990 is blocked in entity ACME: it accepts no postings"
        );
        let mut config = rent_config("equally", None);
        config["source"]["ledger"] = json!({ "account_range": { "from": "6100", "to": "6199" } });
        assert_eq!(
            run(&ledger, "2026-01", config).unwrap_err().message,
            "destination 1 has no account and the source is not one ledger account: name its account"
        );
    }
}
