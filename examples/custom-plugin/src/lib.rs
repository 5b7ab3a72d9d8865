//! An example custom close step: accrue a management fee on the period's revenue. It reads the
//! revenue balances of the configured accounts (optionally per dimension value), pages through
//! the accrual account's lines to make sure the fee was not accrued already, and proposes one
//! balanced entry dated at the period end that debits the fee expense and credits the accrued
//! liability, reversed on the first day of the next period. It shows every part of the SDK a
//! real step uses: configuration, balances, paging, rounding, the journal builder and the log.

mod config;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountFilter, BalanceQuery, CloseStep, JournalBuilder, Ledger, Level, LineQuery, PeriodKind, ProposedLine,
    StepError, StepInfo, StepInput, StepOutput,
};

pub use config::{Config, PERCENT_MAX, schema};

/// The management fee accrual step.
pub struct ManagementFee;

impl CloseStep for ManagementFee {
    fn describe() -> StepInfo {
        StepInfo::new(
            "management-fee",
            env!("CARGO_PKG_VERSION"),
            "Accrues a management fee as a percentage of the period's revenue.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate()?;
        if input.period.kind != PeriodKind::Operating {
            return Err(StepError::new(format!(
                "period {} is not an operating period: the management fee accrues monthly, in \
                 operating periods only",
                input.period.name
            )));
        }
        input.require_post_access()?;
        check_accounts(&input, ledger, &config)?;

        let description = entry_description(&input, &config);
        let mut output = StepOutput::new();
        if already_accrued(&input, ledger, &config, &description)? {
            let text = format!(
                "{description} is already posted on account {}: nothing proposed",
                config.accrual_account
            );
            ledger.warning(&text);
            output.push_message(Level::Warning, text);
            return Ok(output);
        }

        let entity = ledger.entity(&input.entity)?;
        let Some(currency) = ledger.currency(&entity.currency) else {
            return Err(StepError::new(format!(
                "the ledger does not know currency {}, the accounting currency of {}",
                entity.currency, input.entity
            )));
        };
        let mut builder = JournalBuilder::new(input.entity.clone(), input.period.end, &description)
            .accounting_currency(entity.currency.clone());
        if config.reverse
            && let Some(first_day_after) = input.period.end.succ_opt()
        {
            builder = builder.reversal_date(first_day_after);
        }

        let mut fee_total = Decimal::ZERO;
        for (dimension, revenue) in revenue_by_group(&input, ledger, &config)? {
            let label = dimension
                .as_ref()
                .map_or_else(|| "total".to_owned(), |(name, value)| format!("{name} {value}"));
            if revenue <= Decimal::ZERO {
                let text = format!("revenue for {label} is {revenue}: no fee accrued on it");
                ledger.warning(&text);
                output.push_message(Level::Warning, text);
                continue;
            }
            let fee = currency.round(revenue * config.percent / Decimal::ONE_HUNDRED);
            ledger.info(&format!(
                "revenue for {label} is {revenue}; fee at {}% is {fee}",
                config.percent
            ));
            if fee.is_zero() {
                continue;
            }
            let mut line = ProposedLine::new(config.expense_account.clone(), fee);
            if let Some((name, value)) = dimension {
                line = line.dimension(name, value);
            }
            builder.push_line(line);
            fee_total += fee;
        }

        if fee_total.is_zero() {
            output.push_message(Level::Info, "no revenue to charge a fee on: nothing proposed");
            return Ok(output);
        }
        let entry = builder.credit(config.accrual_account.clone(), fee_total).build()?;
        let text = format!(
            "proposed {description}: {fee_total} {} to {} against {}",
            entity.currency, config.expense_account, config.accrual_account
        );
        ledger.info(&text);
        output.push_message(Level::Info, text);
        output.push_entry(entry);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(ManagementFee);

/// The description of the fee entry, which also identifies an earlier accrual of the same
/// period.
fn entry_description(input: &StepInput, config: &Config) -> String {
    format!(
        "Management fee {}% on {} revenue",
        config.percent.normalize(),
        input.period.name
    )
}

/// Refuses configuration that names accounts the entity does not have, and warns when an
/// account's type is not what the step expects.
fn check_accounts(input: &StepInput, ledger: &dyn Ledger, config: &Config) -> Result<(), StepError> {
    use closebook_plugin_sdk::AccountType;

    let accounts = ledger.accounts(&input.entity)?;
    let mut expected: Vec<(&_, AccountType)> = config
        .source_accounts
        .iter()
        .map(|account| (account, AccountType::Revenue))
        .collect();
    expected.push((&config.expense_account, AccountType::Expense));
    expected.push((&config.accrual_account, AccountType::Liability));
    for (number, account_type) in expected {
        let Some(account) = accounts.iter().find(|account| &account.number == number) else {
            return Err(StepError::new(format!(
                "account {number} does not exist in entity {}: fix the step configuration",
                input.entity
            )));
        };
        if account.account_type != account_type {
            ledger.warning(&format!(
                "account {number} is {:?}, expected {account_type:?}",
                account.account_type
            ));
        }
    }
    Ok(())
}

/// Whether this period's fee is already accrued: the lines of the fee entry on the accrual
/// account do not net to zero. (A rerun of the close cancels an accrual with opposite lines of
/// the same description, which nets it back to zero.) Pages through every line of the account
/// in the period, so the check holds however busy the account is.
fn already_accrued(
    input: &StepInput,
    ledger: &dyn Ledger,
    config: &Config,
    description: &str,
) -> Result<bool, StepError> {
    let query = LineQuery::new(
        input.entity.clone(),
        config.accrual_account.clone(),
        input.period.name.clone(),
        input.period.name.clone(),
    );
    let mut lines_read: u64 = 0;
    let mut matching: u64 = 0;
    let mut net = Decimal::ZERO;
    for line in ledger.all_lines(query) {
        let line = line?;
        lines_read += 1;
        if line.description == description {
            matching += 1;
            net = net
                .checked_add(line.accounting_amount)
                .ok_or_else(|| StepError::new("the accrual account's lines overflow when summed"))?;
        }
    }
    ledger.debug(&format!(
        "read {lines_read} lines of account {} in {}: {matching} of the fee entry, netting to {net}",
        config.accrual_account, input.period.name
    ));
    Ok(!net.is_zero())
}

/// The period's revenue (credits made positive) per value of the configured dimension, or in
/// total, in accounting currency. Lines without the dimension form a group of their own.
type DimensionValue = Option<(String, String)>;

fn revenue_by_group(
    input: &StepInput,
    ledger: &dyn Ledger,
    config: &Config,
) -> Result<Vec<(DimensionValue, Decimal)>, StepError> {
    let mut query = BalanceQuery::new(
        input.entity.clone(),
        input.period.name.clone(),
        input.period.name.clone(),
    )
    .accounts(AccountFilter::List(config.source_accounts.clone()));
    if let Some(dimension) = &config.dimension {
        query = query.group_by(dimension.clone());
    }
    let mut groups: Vec<(DimensionValue, Decimal)> = Vec::new();
    for row in ledger.balances(&query)? {
        let key = row
            .dimensions
            .first()
            .map(|dimension| (dimension.name.clone(), dimension.value.clone()));
        let revenue = -row.accounting_amount;
        match groups.iter_mut().find(|(group, _)| *group == key) {
            Some((_, total)) => *total += revenue,
            None => groups.push((key, revenue)),
        }
    }
    groups.sort();
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, AccountType, Dimension, EntityInfo, JournalBuilder, ProposedEntry};

    use super::*;

    /// ACME (USD) with January revenue of 18,000.00: department 100 earns 10,000.00 and
    /// 2,345.67 on 4000 less a 345.67 return (12,000.00); department 200 earns 5,000.00 on 4000
    /// and 1,000.00 on 4100 (6,000.00). February has a further 7,000.00 that January ignores.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_dimension("department", ["100", "200"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1200", "Receivables", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("2150", "Accrued fees", AccountType::Liability))
            .add_account("ACME", AccountInfo::new("4000", "Services", AccountType::Revenue))
            .add_account("ACME", AccountInfo::new("4100", "Licences", AccountType::Revenue))
            .add_account(
                "ACME",
                AccountInfo::new("6500", "Management fees", AccountType::Expense),
            )
            .add_fiscal_year("ACME", 2026);
        for (day, account, department, amount) in [
            ("2026-01-05", "4000", "100", "10000.00"),
            ("2026-01-12", "4000", "100", "2345.67"),
            ("2026-01-20", "4000", "100", "-345.67"),
            ("2026-01-15", "4000", "200", "5000.00"),
            ("2026-01-28", "4100", "200", "1000.00"),
            ("2026-02-03", "4000", "100", "7000.00"),
        ] {
            ledger.post(sale(day, account, department, amount));
        }
        ledger
    }

    fn sale(day: &str, account: &str, department: &str, amount: &str) -> ProposedEntry {
        JournalBuilder::new("ACME", date(day), format!("Invoice {day}"))
            .debit("1200", decimal(amount))
            .line(ProposedLine::new(account, -decimal(amount)).dimension("department", department))
            .build()
            .unwrap()
    }

    fn config() -> Value {
        json!({
            "source_accounts": ["4000", "4100"],
            "percent": "2.5",
            "expense_account": "6500",
            "accrual_account": "2150"
        })
    }

    fn run(ledger: &TestLedger, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<ManagementFee>(ledger.step_input("ACME", "2026-01", config))
    }

    #[test]
    fn accrues_the_fee_on_total_revenue() {
        // 2.5% of 18,000.00 is 450.00: one entry at 31 January, reversed on 1 February.
        let ledger = ledger();
        let output = run(&ledger, config()).unwrap();
        assert_eq!(output.entries.len(), 1);
        let entry = &output.entries[0];
        assert_eq!(entry.date, date("2026-01-31"));
        assert_eq!(entry.reversal_date, Some(date("2026-02-01")));
        assert_eq!(entry.description, "Management fee 2.5% on 2026-01 revenue");
        let lines: Vec<_> = entry
            .lines
            .iter()
            .map(|line| (line.account.as_str(), line.amount))
            .collect();
        assert_eq!(lines, [("6500", decimal("450.00")), ("2150", decimal("-450.00"))]);
        assert_eq!(
            output.messages[0].text,
            "proposed Management fee 2.5% on 2026-01 revenue: 450.00 USD to 6500 against 2150"
        );
    }

    #[test]
    fn splits_the_fee_by_dimension() {
        // Department 100: 2.5% of 12,000.00 = 300.00; department 200: 2.5% of 6,000.00 =
        // 150.00; the accrual line carries the 450.00 total without a dimension.
        let ledger = ledger();
        let mut config = config();
        config["dimension"] = json!("department");
        let output = run(&ledger, config).unwrap();
        let entry = &output.entries[0];
        assert_eq!(entry.lines.len(), 3);
        assert_eq!(entry.lines[0].amount, decimal("300.00"));
        assert_eq!(entry.lines[0].dimensions, [Dimension::new("department", "100")]);
        assert_eq!(entry.lines[1].amount, decimal("150.00"));
        assert_eq!(entry.lines[1].dimensions, [Dimension::new("department", "200")]);
        assert_eq!(entry.lines[2].amount, decimal("-450.00"));
        assert!(entry.lines[2].dimensions.is_empty());
        let logs: Vec<_> = ledger.logs().into_iter().map(|message| message.text).collect();
        assert!(logs.contains(&"revenue for department 100 is 12000.00; fee at 2.5% is 300.00".to_owned()));
    }

    #[test]
    fn rounds_the_fee_half_away_from_zero() {
        // February alone: 7,000.00 + 1,234.60 = 8,234.60; 2.5% is 205.865, which rounds up to
        // 205.87.
        let mut ledger = ledger();
        ledger.post(sale("2026-02-10", "4100", "200", "1234.60"));
        let input = ledger.step_input("ACME", "2026-02", config());
        let output = ledger.run_step::<ManagementFee>(input).unwrap();
        assert_eq!(output.entries[0].lines[0].amount, decimal("205.87"));
    }

    #[test]
    fn does_not_accrue_twice() {
        // After the January accrual is posted, a second run finds it and proposes nothing.
        let mut ledger = ledger();
        let first = run(&ledger, config()).unwrap();
        ledger.post_output(&first);
        let second = run(&ledger, config()).unwrap();
        assert!(second.entries.is_empty());
        assert_eq!(second.messages[0].level, Level::Warning);
        assert!(second.messages[0].text.contains("is already posted on account 2150"));
    }

    #[test]
    fn finds_an_earlier_accrual_beyond_the_first_pages() {
        // 1,200 other January lines on the accrual account precede the earlier fee entry, so
        // the step has to follow the cursor across three pages of 500 to find it.
        let mut ledger = ledger();
        ledger.add_account("ACME", AccountInfo::new("6600", "Other fees", AccountType::Expense));
        for number in 0..600 {
            ledger.post(
                JournalBuilder::new("ACME", date("2026-01-30"), format!("Other accrual {number}"))
                    .debit("6600", decimal("1.00"))
                    .credit("2150", decimal("1.00"))
                    .debit("6600", decimal("2.00"))
                    .credit("2150", decimal("2.00"))
                    .build()
                    .unwrap(),
            );
        }
        let first = run(&ledger, config()).unwrap();
        ledger.post_output(&first);
        let accrual_line = ledger
            .posted_lines("ACME")
            .iter()
            .filter(|line| line.account == "2150")
            .position(|line| line.description.starts_with("Management fee"))
            .unwrap();
        assert_eq!(accrual_line, 1200);
        let second = run(&ledger, config()).unwrap();
        assert!(second.entries.is_empty());
        let logs: Vec<_> = ledger.logs().into_iter().map(|message| message.text).collect();
        assert!(
            logs.iter()
                .any(|text| text.starts_with("read 1201 lines of account 2150 in 2026-01: 1 of the fee entry")),
            "{logs:?}"
        );
    }

    #[test]
    fn an_accrual_cancelled_by_a_rerun_is_proposed_again() {
        // A close rerun posts the opposite lines under the same description: the fee nets to
        // zero on the accrual account, so the step proposes it again.
        let mut ledger = ledger();
        let first = run(&ledger, config()).unwrap();
        ledger.post_output(&first);
        let entry = &first.entries[0];
        let mut cancel = JournalBuilder::new("ACME", date("2026-01-31"), entry.description.clone());
        for line in &entry.lines {
            cancel = cancel.line(ProposedLine {
                amount: -line.amount,
                ..line.clone()
            });
        }
        ledger.post(cancel.build().unwrap());
        let second = run(&ledger, config()).unwrap();
        assert_eq!(second.entries.len(), 1);
        assert_eq!(second.entries[0].lines, first.entries[0].lines);
    }

    #[test]
    fn proposes_nothing_without_revenue() {
        // March has no revenue: no entry, an informational message.
        let ledger = ledger();
        let input = ledger.step_input("ACME", "2026-03", config());
        let output = ledger.run_step::<ManagementFee>(input).unwrap();
        assert!(output.entries.is_empty());
        assert_eq!(
            output.messages[0].text,
            "no revenue to charge a fee on: nothing proposed"
        );
    }

    #[test]
    fn refuses_unknown_accounts_and_closing_periods() {
        // A typo'd account and a run in the closing period are refused with a reason.
        let ledger = ledger();
        let mut config = config();
        config["accrual_account"] = json!("2159");
        let error = run(&ledger, config).unwrap_err();
        assert_eq!(
            error.message,
            "account 2159 does not exist in entity ACME: fix the step configuration"
        );
        let input = ledger.step_input("ACME", "FY2026-closing", super::tests::config());
        let error = ledger.run_step::<ManagementFee>(input).unwrap_err();
        assert!(error.message.contains("is not an operating period"));
    }

    #[test]
    fn posts_cleanly_into_the_ledger() {
        // The proposal balances, so the harness posts it and the fee shows in the expenses.
        let mut ledger = ledger();
        let output = run(&ledger, config()).unwrap();
        ledger.post_output(&output);
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-01", "2026-01").accounts(AccountFilter::List(vec!["6500".into()])),
            )
            .unwrap();
        assert_eq!(rows[0].accounting_amount, decimal("450.00"));
        let reversed = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-02", "2026-02").accounts(AccountFilter::List(vec!["6500".into()])),
            )
            .unwrap();
        assert_eq!(reversed[0].accounting_amount, decimal("-450.00"));
    }
}
