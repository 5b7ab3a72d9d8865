//! The standard consolidation step (DOMAIN.md §8). Run for the consolidation entity (e.g.
//! ACME-GROUP) and a period, it reads every member entity's balances from the opening period of
//! the fiscal year through the run period, takes each member's ownership share (proportional
//! consolidation, no non-controlling interest), maps member accounts to consolidation accounts,
//! translates into the consolidation currency (see [`translation`]) and posts each member's
//! translation difference (CTA) to the configured equity account.
//!
//! Re-running replaces the earlier consolidation because the step proposes only the difference
//! between the consolidated balances and what the consolidation entity already holds over the
//! same range, in one entry in the run period. We chose this over relying on the close engine's
//! `--rerun` (which cancels a run's entries) because it holds however the step is run — a close
//! task, `closebook plugin run --post`, a second run after a late journal in a member — and a
//! second run with nothing changed proposes nothing instead of a cancel-and-repost pair. The
//! cost is that the consolidation entity must hold nothing but consolidations: anything else
//! posted there is treated as a difference and replaced. A month skipped is caught up in the
//! next month's entry, so run the step every month for each month's profit and loss to land in
//! its own period.

mod config;
pub mod translation;

use std::collections::BTreeMap;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountInfo, AccountNumber, AccountType, BalanceQuery, CloseStep, EntityId, JournalBuilder, Ledger, Level,
    PeriodInfo, ProposedLine, StepError, StepInfo, StepInput, StepOutput,
};

pub use config::{Config, MEMBERS_MAX, Member, OWNERSHIP_PERCENT_MAX, schema};
use translation::{BucketKey, Target, bucket_key, translate_member};

/// The consolidation step.
pub struct Consolidation;

impl CloseStep for Consolidation {
    fn describe() -> StepInfo {
        StepInfo::new(
            "consolidation",
            env!("CARGO_PKG_VERSION"),
            "Consolidates member entities into the consolidation entity: ownership share, account mapping, currency \
             translation and the translation difference.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate(&input.entity, &ledger.dimensions())?;
        check_access(&input, &config)?;
        let group = ledger.entity(&input.entity)?;
        let Some(currency) = ledger.currency(&group.currency) else {
            return Err(StepError::new(format!(
                "the ledger does not know currency {}, the accounting currency of {}",
                group.currency, input.entity
            )));
        };
        let chart: BTreeMap<AccountNumber, AccountInfo> = ledger
            .accounts(&input.entity)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect();
        check_cta_account(&config.cta_account, &input.entity, &chart)?;
        let periods = year_to_date(ledger, &input)?;
        let (Some(first_period), Some(last_period)) = (periods.first(), periods.last()) else {
            return Err(StepError::new(format!(
                "fiscal year {} of entity {} has no periods up to {}",
                input.period.fiscal_year, input.entity, input.period.name
            )));
        };
        let target = Target {
            group: &input.entity,
            config: &config,
            currency: &currency,
            periods: &periods,
            as_of: input.as_of,
        };

        let mut output = StepOutput::new();
        let mut consolidated: BTreeMap<BucketKey, Decimal> = BTreeMap::new();
        for member in &config.members {
            let translation = translate_member(ledger, &target, member)?;
            for (key, amount) in &translation.balances {
                *consolidated.entry(key.clone()).or_default() += *amount;
            }
            let cta_key = bucket_key(&config, &member.entity, &config.cta_account, Vec::new());
            *consolidated.entry(cta_key).or_default() += translation.translation_difference;
            let averages: Vec<String> = translation
                .average_rates
                .iter()
                .map(|(period, rate)| format!("{period} {rate}"))
                .collect();
            let text = format!(
                "member {} ({}, {} % owned): current rate {}, historical rate {}, average rates {}; translation \
                 difference {} to {}",
                member.entity,
                translation.currency,
                member.ownership_percent,
                translation.current_rate,
                translation.historical_rate,
                if averages.is_empty() {
                    "none needed".to_owned()
                } else {
                    averages.join(", ")
                },
                translation.translation_difference,
                config.cta_account
            );
            ledger.info(&text);
            output.push_message(Level::Info, text);
        }
        for (account, _) in consolidated.keys() {
            check_target_account(account, &input.entity, &chart)?;
            // Consolidated lines are in the consolidation currency: an account fixed to another
            // currency (a member's EUR bank account) needs a mapping.
            if let Some(fixed) = chart.get(account).and_then(|info| info.fixed_currency.as_ref())
                && fixed != &group.currency
            {
                return Err(StepError::new(format!(
                    "account {account} of consolidation entity {} only takes {fixed}, but consolidated balances are \
                     in {}: map it to an account in {} in account_map",
                    input.entity, group.currency, group.currency
                )));
            }
        }

        // What the consolidation entity already holds over the same range: the step posts only
        // the difference, so a rerun replaces the earlier consolidation instead of adding to it.
        let held_query = BalanceQuery::new(
            input.entity.clone(),
            first_period.name.clone(),
            last_period.name.clone(),
        )
        .group_by("*");
        let mut difference = consolidated;
        for row in ledger.balances(&held_query)? {
            *difference.entry((row.account, row.dimensions)).or_default() -= row.accounting_amount;
        }
        difference.retain(|_, amount| !amount.is_zero());
        if difference.is_empty() {
            let text = format!(
                "{} already holds the consolidation of {} to {}: nothing to post",
                input.entity, first_period.name, last_period.name
            );
            ledger.info(&text);
            output.push_message(Level::Info, text);
            return Ok(output);
        }
        let mut builder = JournalBuilder::new(
            input.entity.clone(),
            input.period.end,
            format!(
                "Consolidation of {} members, {} to {}",
                config.members.len(),
                first_period.name,
                last_period.name
            ),
        )
        .period(input.period.name.clone());
        for ((account, dimensions), amount) in difference {
            builder.push_line(ProposedLine::new(account, amount).dimensions(dimensions));
        }
        let entry = builder.build()?;
        let text = format!(
            "proposes {} lines in {} for {}: the difference between the consolidated balances and what {} already holds",
            entry.lines.len(),
            input.entity,
            input.period.name,
            input.entity
        );
        ledger.info(&text);
        output.push_message(Level::Info, text);
        output.push_entry(entry);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Consolidation);

/// Refuses a task that may not post into the consolidation entity or read a member.
fn check_access(input: &StepInput, config: &Config) -> Result<(), StepError> {
    input.require_post_access()?;
    for member in &config.members {
        if !input.entities.iter().any(|access| access.entity == member.entity) {
            return Err(StepError::new(format!(
                "the task may not read member {}: add it to the task's allow list (allow = [\"{}\"], or --allow {} \
                 with plugin run)",
                member.entity, member.entity, member.entity
            )));
        }
    }
    Ok(())
}

/// Refuses a CTA account that the consolidation chart lacks, that is not equity or is blocked.
fn check_cta_account(
    account: &AccountNumber,
    entity: &EntityId,
    chart: &BTreeMap<AccountNumber, AccountInfo>,
) -> Result<(), StepError> {
    check_target_account(account, entity, chart)?;
    if chart
        .get(account)
        .is_some_and(|info| info.account_type != AccountType::Equity)
    {
        return Err(StepError::new(format!(
            "cta_account {account} of entity {entity} is not an equity account: name the equity account that holds \
             the translation reserve"
        )));
    }
    Ok(())
}

/// Refuses a consolidation account the consolidation chart lacks or blocks.
fn check_target_account(
    account: &AccountNumber,
    entity: &EntityId,
    chart: &BTreeMap<AccountNumber, AccountInfo>,
) -> Result<(), StepError> {
    match chart.get(account) {
        None => Err(StepError::new(format!(
            "account {account} does not exist in consolidation entity {entity}: add it to its chart, or map the \
             member account to another one in account_map"
        ))),
        Some(info) if info.blocked => Err(StepError::new(format!(
            "account {account} is blocked in consolidation entity {entity}: unblock it, or map the member account \
             to another one in account_map"
        ))),
        Some(_) => Ok(()),
    }
}

/// The periods of the run's fiscal year from its first (opening) period through the run period.
fn year_to_date(ledger: &dyn Ledger, input: &StepInput) -> Result<Vec<PeriodInfo>, StepError> {
    let periods = ledger.periods(&input.entity, Some(&input.period.fiscal_year))?;
    let Some(position) = periods.iter().position(|period| period.name == input.period.name) else {
        return Err(StepError::new(format!(
            "period {} is not in fiscal year {} of entity {}",
            input.period.name, input.period.fiscal_year, input.entity
        )));
    };
    Ok(periods.into_iter().take(position + 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, EntityInfo, ProposedEntry};

    /// A USD group G, a USD parent P and a EUR subsidiary S on one chart; S's functional
    /// balances are the ones DOMAIN.md §8's rules are worked out on below.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger.add_currency("USD", 2).add_currency("EUR", 2);
        ledger.add_dimension("company", ["P", "S"]);
        for (id, currency) in [("G", "USD"), ("P", "USD"), ("S", "EUR")] {
            ledger.add_entity(EntityInfo::new(id, id, currency, "3900", "spot"));
            for (number, name, account_type) in [
                ("1000", "Cash", AccountType::Asset),
                ("2000", "Payables", AccountType::Liability),
                ("3000", "Share capital", AccountType::Equity),
                ("3800", "Translation reserve", AccountType::Equity),
                ("3900", "Retained earnings", AccountType::Equity),
                ("4000", "Sales", AccountType::Revenue),
                ("6000", "Expenses", AccountType::Expense),
                ("6010", "Staff costs", AccountType::Expense),
            ] {
                ledger.add_account(id, AccountInfo::new(number, name, account_type));
            }
            ledger.add_fiscal_year(id, 2026);
        }
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.12"))
            .add_rate("EUR", "USD", "spot", date("2026-02-28"), decimal("1.20"))
            .add_rate("EUR", "USD", "average", date("2026-01-01"), decimal("1.10"))
            .add_rate("EUR", "USD", "average", date("2026-02-01"), decimal("1.15"))
            .add_rate("EUR", "USD", "historical", date("2020-01-01"), decimal("1.00"));
        post(
            &mut ledger,
            "S",
            "FY2026-opening",
            "2026-01-01",
            &[("1000", "10000"), ("3000", "-6000"), ("3900", "-4000")],
        );
        post(
            &mut ledger,
            "S",
            "2026-01",
            "2026-01-15",
            &[("1000", "1500"), ("4000", "-2000"), ("6010", "500")],
        );
        post(
            &mut ledger,
            "S",
            "2026-02",
            "2026-02-15",
            &[("1000", "3000"), ("4000", "-3000")],
        );
        post(
            &mut ledger,
            "S",
            "2026-02",
            "2026-02-20",
            &[("6010", "1000"), ("2000", "-1000")],
        );
        post(
            &mut ledger,
            "P",
            "FY2026-opening",
            "2026-01-01",
            &[("1000", "20000"), ("3000", "-20000")],
        );
        post(
            &mut ledger,
            "P",
            "2026-01",
            "2026-01-20",
            &[("6000", "1000"), ("1000", "-1000")],
        );
        ledger
    }

    /// The same ledger, but the group's cash account takes only EUR.
    fn ledger_with_fixed_currency_bank() -> TestLedger {
        let mut ledger = ledger();
        let mut bank = AccountInfo::new("1000", "Bank EUR", AccountType::Asset);
        bank.fixed_currency = Some("EUR".into());
        ledger.add_account("G", bank);
        ledger.add_account("G", AccountInfo::new("1010", "Bank USD", AccountType::Asset));
        ledger
    }

    fn post(ledger: &mut TestLedger, entity: &str, period: &str, day: &str, lines: &[(&str, &str)]) {
        let mut builder = JournalBuilder::new(entity, date(day), "fixture").period(period);
        for (account, amount) in lines {
            builder.push_line(ProposedLine::new(*account, decimal(amount)));
        }
        ledger.post(builder.build().unwrap());
    }

    fn config() -> Value {
        json!({
            "members": [
                { "entity": "P", "ownership_percent": "100" },
                { "entity": "S", "ownership_percent": "60", "opening_retained_earnings": "-4200.00" }
            ],
            "cta_account": "3800",
            "account_map": { "6010": "6000" }
        })
    }

    fn run(ledger: &TestLedger, period: &str, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<Consolidation>(ledger.step_input("G", period, config))
    }

    /// The group's balances per account over the year to `period`, summed over dimensions.
    fn group_balances(ledger: &TestLedger, period: &str) -> Vec<(String, Decimal)> {
        let query = BalanceQuery::new("G", "FY2026-opening", period);
        let mut rows: BTreeMap<String, Decimal> = BTreeMap::new();
        for row in ledger.balances(&query).unwrap() {
            *rows.entry(row.account.to_string()).or_default() += row.accounting_amount;
        }
        rows.into_iter().filter(|(_, amount)| !amount.is_zero()).collect()
    }

    fn expected(pairs: &[(&str, &str)]) -> Vec<(String, Decimal)> {
        pairs
            .iter()
            .map(|(account, amount)| ((*account).to_owned(), decimal(amount)))
            .collect()
    }

    #[test]
    fn translates_at_current_average_and_historical_rates_with_the_ownership_share() {
        // S at 60 %: cash 14,500 EUR × 1.20 × 0.6 = 10,440; payables -1,000 × 1.20 × 0.6 = -720;
        // share capital -6,000 × 1.00 (historical) × 0.6 = -3,600; retained earnings -4,200 (prior
        // translation) × 0.6 = -2,520; sales -2,000 × 1.10 × 0.6 = -1,320 in January plus
        // -3,000 × 1.15 × 0.6 = -2,070 in February; staff costs (6010, mapped to 6000) 500 ×
        // 1.10 × 0.6 = 330 plus 1,000 × 1.15 × 0.6 = 690. They sum to 1,230, so the CTA is
        // -1,230. P (USD, 100 %) adds cash 19,000, share capital -20,000 and expenses 1,000.
        let mut ledger = ledger();
        let output = run(&ledger, "2026-02", config()).unwrap();
        assert_eq!(output.entries.len(), 1);
        let entry: &ProposedEntry = &output.entries[0];
        assert_eq!(entry.entity, "G");
        assert_eq!(entry.period.as_ref().map(|period| period.as_str()), Some("2026-02"));
        assert!(
            output
                .messages
                .iter()
                .any(|message| message.text.contains("translation difference -1230.00"))
        );
        ledger.post_output(&output);
        assert_eq!(
            group_balances(&ledger, "2026-02"),
            expected(&[
                ("1000", "29440.00"),
                ("2000", "-720.00"),
                ("3000", "-23600.00"),
                ("3800", "-1230.00"),
                ("3900", "-2520.00"),
                ("4000", "-3390.00"),
                ("6000", "2020.00"),
            ])
        );
    }

    #[test]
    fn a_rerun_posts_only_what_changed() {
        // January then February, then February again: the second February run proposes nothing;
        // a late February journal in S makes the next run propose only its translated share.
        let mut ledger = ledger();
        let january = run(&ledger, "2026-01", config()).unwrap();
        ledger.post_output(&january);
        let february = run(&ledger, "2026-02", config()).unwrap();
        ledger.post_output(&february);
        let after_february = group_balances(&ledger, "2026-02");
        let again = run(&ledger, "2026-02", config()).unwrap();
        assert!(again.entries.is_empty());
        assert!(
            again
                .messages
                .iter()
                .any(|message| message.text.contains("nothing to post"))
        );
        assert_eq!(group_balances(&ledger, "2026-02"), after_february);

        post(
            &mut ledger,
            "S",
            "2026-02",
            "2026-02-25",
            &[("6010", "100"), ("1000", "-100")],
        );
        let late = run(&ledger, "2026-02", config()).unwrap();
        // 100 EUR of costs: 100 × 1.15 × 0.6 = 69.00; cash -100 × 1.20 × 0.6 = -72.00; CTA +3.00.
        let lines: Vec<(String, Decimal)> = late.entries[0]
            .lines
            .iter()
            .map(|line| (line.account.to_string(), line.amount))
            .collect();
        assert_eq!(
            lines,
            expected(&[("1000", "-72.00"), ("3800", "3.00"), ("6000", "69.00")])
        );
    }

    #[test]
    fn each_month_lands_in_its_own_period_at_its_own_average() {
        // Run for January then February: January holds S's sales at January's average,
        // -2,000 × 1.10 × 0.6 = -1,320; February's entry adds only -3,000 × 1.15 × 0.6 = -2,070.
        // Translating the year to date at February's average would put -2,130 in February.
        let mut ledger = ledger();
        ledger.post_output(&run(&ledger, "2026-01", config()).unwrap());
        ledger.post_output(&run(&ledger, "2026-02", config()).unwrap());
        let sales = |from: &str, to: &str| -> Decimal {
            let query = BalanceQuery::new("G", from, to)
                .accounts(closebook_plugin_sdk::AccountFilter::List(vec!["4000".into()]));
            ledger
                .balances(&query)
                .unwrap()
                .iter()
                .map(|row| row.accounting_amount)
                .sum()
        };
        assert_eq!(sales("2026-01", "2026-01"), decimal("-1320.00"));
        assert_eq!(sales("2026-02", "2026-02"), decimal("-2070.00"));
    }

    #[test]
    fn tags_lines_with_the_member_dimension() {
        // With member_dimension, every consolidated line names its member, the CTA included.
        let ledger = ledger();
        let mut config = config();
        config["member_dimension"] = json!("company");
        let output = run(&ledger, "2026-02", config).unwrap();
        let lines = &output.entries[0].lines;
        assert!(
            lines
                .iter()
                .all(|line| line.dimensions.iter().any(|dimension| dimension.name == "company"))
        );
        let cta = lines.iter().find(|line| line.account == "3800").unwrap();
        assert_eq!(
            cta.dimensions,
            vec![closebook_plugin_sdk::Dimension::new("company", "S")]
        );
    }

    #[test]
    fn refuses_what_it_cannot_translate() {
        // A member the task may not read, a missing opening retained earnings for a EUR member,
        // a missing rate, an account fixed to another currency (until mapped) and a CTA account
        // that is not equity are refused with a reason.
        let ledger = ledger();
        let mut input = ledger.step_input("G", "2026-02", config());
        input.entities.retain(|access| access.entity != "S");
        let error = ledger.run_step::<Consolidation>(input).unwrap_err();
        assert!(error.message.contains("may not read member S"), "{error}");

        let mut without_opening = config();
        without_opening["members"][1]
            .as_object_mut()
            .unwrap()
            .remove("opening_retained_earnings");
        let error = run(&ledger, "2026-02", without_opening).unwrap_err();
        assert!(error.message.contains("give opening_retained_earnings"), "{error}");

        let mut other_rate = config();
        other_rate["current_rate_type"] = json!("closing");
        let error = run(&ledger, "2026-02", other_rate).unwrap_err();
        assert!(error.message.contains("no closing rate from EUR to USD"), "{error}");

        let fixed = ledger_with_fixed_currency_bank();
        let error = run(&fixed, "2026-02", config()).unwrap_err();
        assert!(
            error
                .message
                .contains("account 1000 of consolidation entity G only takes EUR"),
            "{error}"
        );
        let mut mapped = config();
        mapped["account_map"]["1000"] = json!("1010");
        assert!(run(&fixed, "2026-02", mapped).is_ok());

        let mut revenue_cta = config();
        revenue_cta["cta_account"] = json!("4000");
        let error = run(&ledger, "2026-02", revenue_cta).unwrap_err();
        assert!(error.message.contains("not an equity account"), "{error}");
    }
}
