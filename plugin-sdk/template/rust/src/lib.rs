//! A closebook close step: accrue a fixed amount at the end of the period. It debits an expense
//! account and credits an accrued-liabilities account with one balanced entry dated the period
//! end, reversed on the next day so that the invoice, when it arrives, is booked as usual.
//!
//! Make it your own: `describe` says what the step is and which configuration it takes (a JSON
//! Schema the host checks before every run), `run` reads the ledger and proposes entries. The
//! step never posts by itself: the host validates every proposal and posts them all or none.
//! The plugin guide in the closebook repository (`docs/plugin-guide.md`) has the whole API.

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{
    AccountNumber, CloseStep, JournalBuilder, Ledger, Level, StepError, StepInfo, StepInput,
    StepOutput,
};
use serde::Deserialize;

/// The step's configuration, e.g.
/// `{ "expense_account": "6200", "accrual_account": "2100", "amount": "1500.00" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The expense account debited.
    pub expense_account: AccountNumber,
    /// The accrued-liabilities account credited.
    pub accrual_account: AccountNumber,
    /// The amount accrued, in the entity's accounting currency. A JSON string, never a number,
    /// so that it cannot have passed through a float.
    #[serde(deserialize_with = "closebook_plugin_sdk::wire::deserialize_decimal")]
    pub amount: Decimal,
    /// Whether the host also posts the reversal on the day after the period end.
    #[serde(default = "reverse_by_default")]
    pub reverse: bool,
}

fn reverse_by_default() -> bool {
    true
}

/// The accrual step.
pub struct Accrual;

impl CloseStep for Accrual {
    fn describe() -> StepInfo {
        StepInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Accrues a fixed amount at the period end: debit an expense, credit accrued liabilities.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        if config.amount <= Decimal::ZERO {
            return Err(StepError::new(format!(
                "amount {} is not positive: accrue a positive amount",
                config.amount
            )));
        }
        let entity = ledger.entity(&input.entity)?;
        let Some(currency) = ledger.currency(&entity.currency) else {
            return Err(StepError::new(format!(
                "the ledger does not know currency {}, the accounting currency of entity {}",
                entity.currency, input.entity
            )));
        };
        if currency.round(config.amount) != config.amount {
            return Err(StepError::new(format!(
                "amount {} has more decimals than {} allows ({}): round it in the configuration",
                config.amount, currency.code, currency.minor_units
            )));
        }

        let description = format!("Accrual for {}", input.period.name);
        let mut entry = JournalBuilder::new(input.entity.clone(), input.period.end, &description)
            .debit(config.expense_account.clone(), config.amount)
            .credit(config.accrual_account.clone(), config.amount);
        if config.reverse {
            let Some(next_day) = input.period.end.succ_opt() else {
                return Err(StepError::new(
                    "the period ends on the last representable date",
                ));
            };
            entry = entry.reversal_date(next_day);
        }
        ledger.info(&format!(
            "accruing {} {} from {} to {}",
            config.amount, currency.code, config.expense_account, config.accrual_account
        ));

        let mut output = StepOutput::new();
        output.push_entry(entry.build()?);
        output.push_message(
            Level::Info,
            format!("{description}: {} {}", config.amount, currency.code),
        );
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Accrual);

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "accrual configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["expense_account", "accrual_account", "amount"],
        "properties": {
            "expense_account": { "type": "string", "minLength": 1,
                "description": "The expense account debited." },
            "accrual_account": { "type": "string", "minLength": 1,
                "description": "The accrued-liabilities account credited." },
            "amount": { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$",
                "description": "The amount accrued, in the accounting currency, e.g. \"1500.00\"." },
            "reverse": { "type": "boolean", "default": true,
                "description": "Also post the reversal on the day after the period end." }
        }
    })
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountFilter, AccountInfo, AccountType, BalanceQuery, EntityInfo};

    use super::*;

    /// ACME (USD) with utilities 6200 and accrued liabilities 2100, fiscal year 2026.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account(
                "ACME",
                AccountInfo::new("2100", "Accrued liabilities", AccountType::Liability),
            )
            .add_account(
                "ACME",
                AccountInfo::new("6200", "Utilities", AccountType::Expense),
            )
            .add_fiscal_year("ACME", 2026);
        ledger
    }

    fn config(amount: &str) -> Value {
        json!({ "expense_account": "6200", "accrual_account": "2100", "amount": amount })
    }

    #[test]
    fn accrues_at_the_period_end_and_reverses_the_next_day() {
        // January: debit 6200, credit 2100 on 31 January; once posted, the February reversal
        // nets the expense back to zero.
        let mut ledger = ledger();
        let input = ledger.step_input("ACME", "2026-01", config("1500.00"));
        let output = ledger.run_step::<Accrual>(input).unwrap();
        assert_eq!(output.entries.len(), 1);
        let entry = &output.entries[0];
        assert_eq!(entry.date, date("2026-01-31"));
        assert_eq!(entry.reversal_date, Some(date("2026-02-01")));
        let lines: Vec<_> = entry
            .lines
            .iter()
            .map(|line| (line.account.as_str(), line.amount))
            .collect();
        assert_eq!(
            lines,
            [("6200", decimal("1500.00")), ("2100", decimal("-1500.00"))]
        );

        ledger.post_output(&output);
        let utilities = |period: &str| {
            let query = BalanceQuery::new("ACME", period, period)
                .accounts(AccountFilter::List(vec!["6200".into()]));
            ledger.balances(&query).unwrap()[0].accounting_amount
        };
        assert_eq!(utilities("2026-01"), decimal("1500.00"));
        assert_eq!(utilities("2026-02"), decimal("-1500.00"));
    }

    #[test]
    fn refuses_amounts_the_currency_cannot_hold() {
        // USD has two decimals; a zero or negative accrual is a configuration mistake.
        let ledger = ledger();
        for (amount, refusal) in [
            (
                "10.001",
                "amount 10.001 has more decimals than USD allows (2)",
            ),
            ("0", "amount 0 is not positive"),
            ("-5.00", "amount -5.00 is not positive"),
        ] {
            let input = ledger.step_input("ACME", "2026-01", config(amount));
            let error = ledger.run_step::<Accrual>(input).unwrap_err();
            assert!(
                error.message.starts_with(refusal),
                "{amount}: {}",
                error.message
            );
        }
    }
}
