//! An example close step, the simplest useful one: reclassify the balance of one account to
//! another, e.g. clear a suspense account into the account the postings belonged on. The
//! balance is read per dimension set and transaction currency, and each bucket moves as it is
//! (same dimensions, same currency, same accounting amount), so a foreign-currency bucket can
//! still be revalued on its new account and no rounding is involved.

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{
    AccountFilter, AccountNumber, BalanceQuery, CloseStep, JournalBuilder, Ledger, Level, PeriodName, ProposedLine,
    StepError, StepInfo, StepInput, StepOutput,
};
use serde::Deserialize;

/// Which periods' balance moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The run period's movements only.
    #[default]
    Period,
    /// Everything from the fiscal year's first period (the opening period included) to the run
    /// period: the account's balance at the period end within the year.
    YearToDate,
}

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The account whose balance moves.
    pub from_account: AccountNumber,
    /// The account that receives it.
    pub to_account: AccountNumber,
    /// Which periods' balance moves.
    #[serde(default)]
    pub scope: Scope,
    /// The entry description; a default naming both accounts when absent.
    #[serde(default)]
    pub description: Option<String>,
}

/// The reclassification step.
pub struct Reclassify;

impl CloseStep for Reclassify {
    fn describe() -> StepInfo {
        StepInfo::new(
            "reclassify",
            env!("CARGO_PKG_VERSION"),
            "Moves the balance of one account to another, bucket by bucket.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        if config.from_account == config.to_account {
            return Err(StepError::new(format!(
                "from_account and to_account are both {}: name two different accounts",
                config.from_account
            )));
        }
        let from_period = match config.scope {
            Scope::Period => input.period.name.clone(),
            Scope::YearToDate => first_period_of_year(&input, ledger)?,
        };
        let query = BalanceQuery::new(input.entity.clone(), from_period, input.period.name.clone())
            .accounts(AccountFilter::List(vec![config.from_account.clone()]))
            .group_by("*");
        let description = config.description.clone().unwrap_or_else(|| {
            format!(
                "Reclassify {} to {} for {}",
                config.from_account, config.to_account, input.period.name
            )
        });

        let mut builder = JournalBuilder::new(input.entity.clone(), input.period.end, &description);
        for row in ledger.balances(&query)? {
            if row.amount.is_zero() && row.accounting_amount.is_zero() {
                continue;
            }
            ledger.info(&format!(
                "moving {} {} ({} in accounting currency) from {} to {}",
                row.amount, row.currency, row.accounting_amount, config.from_account, config.to_account
            ));
            let line = |account: &AccountNumber, sign| {
                ProposedLine::new(account.clone(), row.amount * sign)
                    .currency(row.currency.clone())
                    .accounting_amount(row.accounting_amount * sign)
                    .dimensions(row.dimensions.clone())
            };
            builder.push_line(line(&config.from_account, Decimal::NEGATIVE_ONE));
            builder.push_line(line(&config.to_account, Decimal::ONE));
        }

        let mut output = StepOutput::new();
        if builder.lines().is_empty() {
            output.push_message(
                Level::Info,
                format!("account {} has no balance to move", config.from_account),
            );
            return Ok(output);
        }
        output.push_message(
            Level::Info,
            format!("proposed {description} in {} line(s)", builder.lines().len()),
        );
        output.push_entry(builder.build()?);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Reclassify);

/// The first period (in calendar order) of the run period's fiscal year.
fn first_period_of_year(input: &StepInput, ledger: &dyn Ledger) -> Result<PeriodName, StepError> {
    let periods = ledger.periods(&input.entity, Some(&input.period.fiscal_year))?;
    match periods.into_iter().next() {
        Some(first) => Ok(first.name),
        None => Err(StepError::new(format!(
            "fiscal year {} of entity {} has no periods",
            input.period.fiscal_year, input.entity
        ))),
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "reclassify configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["from_account", "to_account"],
        "properties": {
            "from_account": { "type": "string", "minLength": 1,
                "description": "The account whose balance moves." },
            "to_account": { "type": "string", "minLength": 1,
                "description": "The account that receives it." },
            "scope": { "enum": ["period", "year-to-date"], "default": "period",
                "description": "The run period's movements, or the balance from the year's start." },
            "description": { "type": "string", "minLength": 1,
                "description": "The entry description." }
        }
    })
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, AccountType, Dimension, EntityInfo};

    use super::*;

    /// ACME (USD) with a suspense account 1999 holding, in January, 120.00 USD for department
    /// 100, -20.00 USD for department 200 and 50.00 EUR carried at 54.00 USD; in February
    /// another 30.00 USD for department 100. 1999 is cleared into 6999.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1100", "Bank", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("1999", "Suspense", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("6999", "Other expenses", AccountType::Expense))
            .add_fiscal_year("ACME", 2026);
        let post = |ledger: &mut TestLedger, day: &str, line: ProposedLine, offset: &str| {
            ledger.post(
                JournalBuilder::new("ACME", date(day), "Unidentified payment")
                    .line(line)
                    .credit("1100", decimal(offset))
                    .build()
                    .unwrap(),
            );
        };
        let suspense = |amount: &str| ProposedLine::new("1999", decimal(amount));
        post(
            &mut ledger,
            "2026-01-10",
            suspense("120.00").dimension("department", "100"),
            "120.00",
        );
        post(
            &mut ledger,
            "2026-01-11",
            suspense("-20.00").dimension("department", "200"),
            "-20.00",
        );
        post(
            &mut ledger,
            "2026-01-12",
            suspense("50.00").currency("EUR").accounting_amount(decimal("54.00")),
            "54.00",
        );
        post(
            &mut ledger,
            "2026-02-10",
            suspense("30.00").dimension("department", "100"),
            "30.00",
        );
        ledger
    }

    fn config(scope: &str) -> Value {
        json!({ "from_account": "1999", "to_account": "6999", "scope": scope })
    }

    #[test]
    fn moves_each_bucket_with_its_dimensions_and_currency() {
        // January: three buckets, each credited on 1999 and debited on 6999 as it is.
        let ledger = ledger();
        let input = ledger.step_input("ACME", "2026-01", config("period"));
        let output = ledger.run_step::<Reclassify>(input).unwrap();
        let entry = &output.entries[0];
        assert_eq!(entry.date, date("2026-01-31"));
        assert_eq!(entry.description, "Reclassify 1999 to 6999 for 2026-01");
        let lines: Vec<_> = entry
            .lines
            .iter()
            .map(|line| {
                (
                    line.account.as_str(),
                    line.currency.as_ref().map(|currency| currency.as_str()),
                    line.amount,
                    line.accounting_amount,
                    line.dimensions.clone(),
                )
            })
            .collect();
        let department = |value: &str| vec![Dimension::new("department", value)];
        assert_eq!(
            lines,
            [
                ("1999", Some("EUR"), decimal("-50.00"), Some(decimal("-54.00")), vec![]),
                ("6999", Some("EUR"), decimal("50.00"), Some(decimal("54.00")), vec![]),
                (
                    "1999",
                    Some("USD"),
                    decimal("-120.00"),
                    Some(decimal("-120.00")),
                    department("100")
                ),
                (
                    "6999",
                    Some("USD"),
                    decimal("120.00"),
                    Some(decimal("120.00")),
                    department("100")
                ),
                (
                    "1999",
                    Some("USD"),
                    decimal("20.00"),
                    Some(decimal("20.00")),
                    department("200")
                ),
                (
                    "6999",
                    Some("USD"),
                    decimal("-20.00"),
                    Some(decimal("-20.00")),
                    department("200")
                ),
            ]
        );
    }

    #[test]
    fn year_to_date_clears_the_account() {
        // January to February leaves 150.00 for department 100; after posting, 1999 is empty.
        let mut ledger = ledger();
        let input = ledger.step_input("ACME", "2026-02", config("year-to-date"));
        let output = ledger.run_step::<Reclassify>(input).unwrap();
        assert_eq!(output.entries[0].lines[2].amount, decimal("-150.00"));
        ledger.post_output(&output);
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "FY2026-opening", "2026-02")
                    .accounts(AccountFilter::List(vec!["1999".into()])),
            )
            .unwrap();
        assert!(
            rows.iter()
                .all(|row| row.amount.is_zero() && row.accounting_amount.is_zero())
        );
    }

    #[test]
    fn proposes_nothing_for_an_empty_account() {
        // March has no suspense postings.
        let ledger = ledger();
        let input = ledger.step_input("ACME", "2026-03", config("period"));
        let output = ledger.run_step::<Reclassify>(input).unwrap();
        assert!(output.entries.is_empty());
        assert_eq!(output.messages[0].text, "account 1999 has no balance to move");
    }

    #[test]
    fn refuses_moving_an_account_onto_itself() {
        // Reclassifying 1999 to 1999 would propose an entry that does nothing.
        let ledger = ledger();
        let config = json!({ "from_account": "1999", "to_account": "1999" });
        let input = ledger.step_input("ACME", "2026-01", config);
        let error = ledger.run_step::<Reclassify>(input).unwrap_err();
        assert!(error.message.starts_with("from_account and to_account are both 1999"));
    }
}
