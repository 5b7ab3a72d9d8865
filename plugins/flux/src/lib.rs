//! The standard flux (variance) analysis close step (DOMAIN.md section 14, interface 0.2).
//!
//! For each account of the entity (optionally per dimension value), it compares the figure of
//! the period with a baseline, the prior period and/or the same period of the prior year:
//! - revenue and expense accounts by their **movement** in the period;
//! - asset, liability and equity accounts by their **balance** at the period's end (the
//!   fiscal year's opening period and its movements up to then, DOMAIN.md section 3).
//!
//! A variance is flagged when |change| ≥ the amount threshold and/or |change| / |baseline| ≥
//! the percentage threshold (`combine` = `and` or `or`); against a baseline of zero a share
//! means nothing, so the amount decides (with a percentage alone, any change is flagged). Per-account overrides replace
//! the thresholds they name, or leave the account out. Each flagged variance is a **finding**
//! the preparer must explain (`closebook close explain`) before the task is signed off.
//!
//! A baseline period with no entries at all (a ledger that starts in the period) is not a
//! baseline: the comparison is skipped with a warning rather than flagging every account.
//! The step only reads; it proposes no entries.

use closebook_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::wire::{DECIMAL_PATTERN, deserialize_optional_decimal};
use closebook_plugin_sdk::{
    AccountInfo, AccountNumber, BalanceQuery, CloseStep, Dimension, Finding, Ledger, Level, PeriodInfo, PeriodKind,
    StepError, StepInfo, StepInput, StepOutput,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The most per-account overrides a configuration may hold.
pub const OVERRIDES_MAX: usize = 1_000;

/// What a period's figure is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// The operating period before this one.
    PriorPeriod,
    /// The operating period at the same place in the prior fiscal year.
    PriorYear,
}

impl Baseline {
    fn describe(self) -> &'static str {
        match self {
            Baseline::PriorPeriod => "prior period",
            Baseline::PriorYear => "prior year",
        }
    }
}

/// How the amount and percentage thresholds combine when both are given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// Both must be crossed.
    #[default]
    And,
    /// Either is enough.
    Or,
}

/// The thresholds a variance is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub amount: Option<Decimal>,
    pub percent: Option<Decimal>,
    pub combine: Combine,
}

impl Thresholds {
    /// Whether a change from `baseline` to `current` crosses the thresholds. No change is
    /// never a variance.
    pub fn flags(&self, current: Decimal, baseline: Decimal) -> bool {
        let change = (current - baseline).abs();
        if change.is_zero() {
            return false;
        }
        let by_amount = self.amount.map(|amount| change >= amount);
        // Against zero a share means nothing: the amount decides when there is one (DOMAIN.md
        // section 14: "baseline 0: any change above the absolute threshold is flagged"), and
        // with a percentage alone any change is flagged.
        let by_percent = match (baseline.is_zero(), by_amount) {
            (true, Some(_)) => None,
            (true, None) => self.percent.map(|_| true),
            (false, _) => self
                .percent
                .map(|percent| change * Decimal::ONE_HUNDRED >= percent * baseline.abs()),
        };
        let tests = [by_amount, by_percent];
        let mut given = tests.iter().flatten();
        match self.combine {
            Combine::And => given.all(|passed| *passed),
            Combine::Or => given.any(|passed| *passed),
        }
    }

    /// The thresholds in words, e.g. `|change| >= 1000.00 and >= 10 %`.
    pub fn describe(&self) -> String {
        let amount = self.amount.map(|amount| format!("|change| >= {amount}"));
        let percent = self.percent.map(|percent| format!("{percent} %"));
        match (amount, percent) {
            (Some(amount), Some(percent)) => {
                let joint = match self.combine {
                    Combine::And => "and",
                    Combine::Or => "or",
                };
                format!("{amount} {joint} >= {percent}")
            }
            (Some(amount), None) => amount,
            (None, Some(percent)) => format!("|change| >= {percent} of the baseline"),
            (None, None) => "none".to_owned(),
        }
    }
}

/// Thresholds for one account, replacing those of the default they name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub account: AccountNumber,
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub amount: Option<Decimal>,
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub percent: Option<Decimal>,
    #[serde(default)]
    pub combine: Option<Combine>,
    /// Leave the account out of the analysis.
    #[serde(default)]
    pub skip: bool,
}

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The baselines compared with; the prior period when not given.
    #[serde(default = "prior_period")]
    pub compare: Vec<Baseline>,
    /// Flag when |change| is at least this amount (accounting currency).
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub amount: Option<Decimal>,
    /// Flag when |change| is at least this share of |baseline|, in %.
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub percent: Option<Decimal>,
    #[serde(default)]
    pub combine: Combine,
    /// Only these accounts; all when neither this nor `account_range` is given.
    #[serde(default)]
    pub accounts: Vec<AccountNumber>,
    /// Only the accounts from the first to the last number, inclusive, compared as text.
    #[serde(default)]
    pub account_range: Option<(AccountNumber, AccountNumber)>,
    /// Compare per value of these dimensions rather than per account.
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Whether the preparer must explain each finding before the task is signed off.
    #[serde(default = "yes")]
    pub explanation_required: bool,
}

fn prior_period() -> Vec<Baseline> {
    vec![Baseline::PriorPeriod]
}

fn yes() -> bool {
    true
}

impl Config {
    /// Checks what the schema leaves to the step.
    pub fn validate(&self) -> Result<(), StepError> {
        if self.compare.is_empty() {
            return Err(StepError::new(
                "compare is empty: give \"prior-period\", \"prior-year\" or both",
            ));
        }
        self.check_thresholds("the configuration", self.amount, self.percent)?;
        if self.amount.is_none() && self.percent.is_none() {
            return Err(StepError::new(
                "no threshold: give amount (e.g. \"1000.00\"), percent (e.g. \"10\") or both",
            ));
        }
        if !self.accounts.is_empty() && self.account_range.is_some() {
            return Err(StepError::new("give accounts or account_range, not both"));
        }
        if self.overrides.len() > OVERRIDES_MAX {
            return Err(StepError::new(format!(
                "{} overrides; the most is {OVERRIDES_MAX}",
                self.overrides.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for rule in &self.overrides {
            if !seen.insert(&rule.account) {
                return Err(StepError::new(format!(
                    "account {} has two overrides: merge them into one",
                    rule.account
                )));
            }
            self.check_thresholds(&format!("the override of {}", rule.account), rule.amount, rule.percent)?;
        }
        Ok(())
    }

    fn check_thresholds(
        &self,
        whose: &str,
        amount: Option<Decimal>,
        percent: Option<Decimal>,
    ) -> Result<(), StepError> {
        if amount.is_some_and(|amount| amount.is_sign_negative()) {
            return Err(StepError::new(format!(
                "the amount of {whose} is negative: give 0 or more"
            )));
        }
        if percent.is_some_and(|percent| percent.is_sign_negative()) {
            return Err(StepError::new(format!(
                "the percent of {whose} is negative: give 0 or more"
            )));
        }
        Ok(())
    }

    /// Whether the analysis covers `account`.
    fn covers(&self, account: &AccountNumber) -> bool {
        if self.overrides.iter().any(|rule| &rule.account == account && rule.skip) {
            return false;
        }
        match &self.account_range {
            Some((first, last)) => first.as_str() <= account.as_str() && account.as_str() <= last.as_str(),
            None => self.accounts.is_empty() || self.accounts.contains(account),
        }
    }

    /// The thresholds of `account`: its override's where it names them, the default's else.
    pub fn thresholds(&self, account: &AccountNumber) -> Thresholds {
        let default = Thresholds {
            amount: self.amount,
            percent: self.percent,
            combine: self.combine,
        };
        match self.overrides.iter().find(|rule| &rule.account == account) {
            Some(rule) => Thresholds {
                amount: rule.amount.or(default.amount),
                percent: rule.percent.or(default.percent),
                combine: rule.combine.unwrap_or(default.combine),
            },
            None => default,
        }
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    let decimal =
        |description: &str| json!({ "description": description, "type": "string", "pattern": DECIMAL_PATTERN });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flux configuration",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "compare": {
                "description": "The baselines: the prior period and/or the same period of the prior year.",
                "type": "array",
                "items": { "enum": ["prior-period", "prior-year"] },
                "uniqueItems": true,
                "default": ["prior-period"]
            },
            "amount": decimal("Flag when |change| is at least this amount, in the accounting currency."),
            "percent": decimal("Flag when |change| is at least this share of |baseline|, in %."),
            "combine": {
                "description": "With both thresholds: `and` flags when both are crossed, `or` when either is.",
                "enum": ["and", "or"],
                "default": "and"
            },
            "accounts": {
                "description": "Only these accounts (all when neither this nor account_range is given).",
                "type": "array",
                "items": { "type": "string", "minLength": 1 }
            },
            "account_range": {
                "description": "Only the accounts from the first to the last number, inclusive.",
                "type": "array",
                "prefixItems": [{ "type": "string", "minLength": 1 }, { "type": "string", "minLength": 1 }],
                "minItems": 2,
                "maxItems": 2
            },
            "dimensions": {
                "description": "Compare per value of these dimensions rather than per account.",
                "type": "array",
                "items": { "type": "string", "minLength": 1 }
            },
            "overrides": {
                "description": "Per-account thresholds, replacing those of the default they name; `skip` leaves the account out.",
                "type": "array",
                "maxItems": OVERRIDES_MAX,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["account"],
                    "properties": {
                        "account": { "type": "string", "minLength": 1 },
                        "amount": decimal("This account's amount threshold."),
                        "percent": decimal("This account's percentage threshold."),
                        "combine": { "enum": ["and", "or"] },
                        "skip": { "type": "boolean" }
                    }
                }
            },
            "explanation_required": {
                "description": "Whether the preparer must explain each finding before the task is signed off.",
                "type": "boolean",
                "default": true
            }
        }
    })
}

/// Figures by account and dimension values (canonical text).
type Figures = BTreeMap<(AccountNumber, Vec<Dimension>), Decimal>;

/// The flux analysis step.
pub struct Flux;

impl CloseStep for Flux {
    fn describe() -> StepInfo {
        StepInfo::new(
            "flux",
            env!("CARGO_PKG_VERSION"),
            "Flux analysis: flags each account's variance against the prior period or year above a threshold, for the preparer to explain.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate()?;
        if input.period.kind != PeriodKind::Operating {
            return Err(StepError::new(format!(
                "period {} is not an operating period: flux analysis compares months (operating periods)",
                input.period.name
            )));
        }
        let accounts: BTreeMap<AccountNumber, AccountInfo> = ledger
            .accounts(&input.entity)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect();
        let periods = ledger.periods(&input.entity, None)?;
        let current = figures(ledger, &input, &config, &periods, &input.period)?;
        let mut output = StepOutput::new();
        let mut compare = config.compare.clone();
        compare.sort();
        compare.dedup();
        for baseline in compare {
            let Some(base_period) = baseline_period(&periods, &input.period, baseline) else {
                output.push_message(
                    Level::Warning,
                    format!(
                        "no {} of {} in the calendar of {}: that comparison was skipped",
                        baseline.describe(),
                        input.period.name,
                        input.entity
                    ),
                );
                continue;
            };
            let base = figures(ledger, &input, &config, &periods, base_period)?;
            if !base.has_entries {
                output.push_message(
                    Level::Warning,
                    format!(
                        "{} ({}) has no entries in {}: there is nothing to compare with, so that comparison was skipped",
                        base_period.name,
                        baseline.describe(),
                        input.entity
                    ),
                );
                continue;
            }
            let mut compared = 0;
            let mut flagged = 0;
            for (basis, now, then) in [
                ("movement", &current.movements, &base.movements),
                ("balance", &current.balances, &base.balances),
            ] {
                let keys: BTreeSet<&(AccountNumber, Vec<Dimension>)> = now.keys().chain(then.keys()).collect();
                for key in keys {
                    let (account, dimensions) = key;
                    let Some(info) = accounts.get(account) else { continue };
                    // Revenue and expense by movement, the balance sheet by balance.
                    if (basis == "balance") != info.account_type.is_balance_sheet() {
                        continue;
                    }
                    let figure_now = now.get(key).copied().unwrap_or_default();
                    let figure_then = then.get(key).copied().unwrap_or_default();
                    compared += 1;
                    let thresholds = config.thresholds(account);
                    if !thresholds.flags(figure_now, figure_then) {
                        continue;
                    }
                    flagged += 1;
                    output.push_finding(Finding {
                        entity: input.entity.clone(),
                        account: account.clone(),
                        dimensions: dimensions.clone(),
                        measure: format!("{basis} vs {}", baseline.describe()),
                        current: figure_now,
                        baseline: figure_then,
                        threshold: thresholds.describe(),
                        explanation_required: config.explanation_required,
                        message: format!(
                            "{} {}: {basis} {figure_now} in {} against {figure_then} in {}: {} ({})",
                            account,
                            info.name,
                            input.period.name,
                            base_period.name,
                            signed(figure_now - figure_then),
                            share(figure_now, figure_then)
                        ),
                    });
                }
            }
            output.push_message(
                Level::Info,
                format!(
                    "compared {compared} figures of {} with {} ({}): {flagged} above the thresholds",
                    input.period.name,
                    base_period.name,
                    baseline.describe()
                ),
            );
        }
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Flux);

/// `+1500.00` or `-25.00`.
fn signed(amount: Decimal) -> String {
    if amount.is_sign_negative() {
        amount.to_string()
    } else {
        format!("+{amount}")
    }
}

/// The change as a share of the baseline, `+33.3 %`, or `new` against zero.
fn share(current: Decimal, baseline: Decimal) -> String {
    if baseline.is_zero() {
        return "new".to_owned();
    }
    let mut percent = ((current - baseline) * Decimal::ONE_HUNDRED / baseline.abs())
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    percent.rescale(1);
    format!("{} %", signed(percent))
}

/// A period's figures: movements in it and balances at its end, and whether it has entries.
struct PeriodFigures {
    movements: Figures,
    balances: Figures,
    /// Whether the entity has any entry from the start of the fiscal year to the period's
    /// end: without one, the period is no baseline.
    has_entries: bool,
}

/// The figures of `period` for the accounts the configuration covers.
fn figures(
    ledger: &dyn Ledger,
    input: &StepInput,
    config: &Config,
    periods: &[PeriodInfo],
    period: &PeriodInfo,
) -> Result<PeriodFigures, StepError> {
    let read = |from: &PeriodInfo| -> Result<(Figures, bool), StepError> {
        let mut query = BalanceQuery::new(input.entity.clone(), from.name.clone(), period.name.clone());
        for dimension in &config.dimensions {
            query = query.group_by(dimension.clone());
        }
        let rows = ledger.balances(&query)?;
        let any = rows.iter().any(|row| !row.debit.is_zero() || !row.credit.is_zero());
        let mut figures = Figures::new();
        for row in rows {
            if config.covers(&row.account) {
                *figures.entry((row.account, row.dimensions)).or_default() += row.accounting_amount;
            }
        }
        Ok((figures, any))
    };
    let (movements, moved) = read(period)?;
    // The balance sheet from the fiscal year's opening period (its first period when it has none).
    let year_start = periods
        .iter()
        .filter(|other| other.fiscal_year == period.fiscal_year)
        .min_by_key(|other| (other.start, other.kind != PeriodKind::Opening))
        .unwrap_or(period);
    let (balances, held) = read(year_start)?;
    Ok(PeriodFigures {
        movements,
        balances,
        has_entries: moved || held,
    })
}

/// The operating period a baseline compares `period` with, if the calendar has it.
fn baseline_period<'a>(periods: &'a [PeriodInfo], period: &PeriodInfo, baseline: Baseline) -> Option<&'a PeriodInfo> {
    let mut operating: Vec<&PeriodInfo> = periods
        .iter()
        .filter(|other| other.kind == PeriodKind::Operating)
        .collect();
    operating.sort_by_key(|other| other.start);
    match baseline {
        Baseline::PriorPeriod => operating.iter().rev().find(|other| other.end < period.start).copied(),
        Baseline::PriorYear => {
            let of_year = |year: &str| -> Vec<&PeriodInfo> {
                operating
                    .iter()
                    .copied()
                    .filter(|other| other.fiscal_year == year)
                    .collect()
            };
            let this_year = of_year(&period.fiscal_year);
            let position = this_year.iter().position(|other| other.name == period.name)?;
            let year_start = this_year.first()?.start;
            // The latest fiscal year that ends before this one starts.
            let prior_year = operating
                .iter()
                .rev()
                .find(|other| other.end < year_start)
                .map(|other| other.fiscal_year.clone())?;
            of_year(&prior_year).get(position).copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountType, EntityInfo, JournalBuilder, ProposedLine};

    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_entity(EntityInfo::new("US", "Acme US", "USD", "3900", "spot"))
            .add_account("US", AccountInfo::new("1000", "Cash at bank", AccountType::Asset))
            .add_account("US", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_account("US", AccountInfo::new("6100", "Rent", AccountType::Expense))
            .add_account("US", AccountInfo::new("6200", "Utilities", AccountType::Expense))
            .add_fiscal_year("US", 2025)
            .add_fiscal_year("US", 2026);
        ledger
    }

    /// Pays `amount` of expense `account` from the bank on `day`.
    fn pay(ledger: &mut TestLedger, day: &str, account: &str, amount: &str) {
        let amount = decimal(amount);
        let entry = JournalBuilder::new("US", date(day), format!("{account} {day}"))
            .line(ProposedLine::new(account, amount).dimension("department", "300"))
            .line(ProposedLine::new("1000", -amount))
            .build()
            .unwrap();
        ledger.post(entry);
    }

    fn run(ledger: &TestLedger, period: &str, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<Flux>(ledger.step_input("US", period, config))
    }

    #[test]
    fn domain_rent_example_is_flagged_with_and_and_its_figures() {
        // DOMAIN.md section 14: rent 4,500.00 in January, 6,000.00 in February: change
        // 1,500.00, 33.3 %; with 1,000.00 and 10 % (and) it is flagged.
        let mut ledger = ledger();
        pay(&mut ledger, "2026-01-28", "6100", "4500.00");
        pay(&mut ledger, "2026-02-26", "6100", "6000.00");
        pay(&mut ledger, "2026-01-20", "6200", "300.00");
        pay(&mut ledger, "2026-02-20", "6200", "320.00");
        let config = json!({ "amount": "1000.00", "percent": "10", "account_range": ["6000", "6999"] });
        let output = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(output.findings.len(), 1, "{:?}", output.findings);
        let rent = &output.findings[0];
        assert_eq!(rent.account.as_str(), "6100");
        assert_eq!(rent.measure, "movement vs prior period");
        assert_eq!((rent.current, rent.baseline), (decimal("6000.00"), decimal("4500.00")));
        assert_eq!(rent.threshold, "|change| >= 1000.00 and >= 10 %");
        assert!(rent.explanation_required);
        assert!(rent.message.contains("+1500.00 (+33.3 %)"), "{}", rent.message);
        assert!(output.entries.is_empty());
    }

    #[test]
    fn and_needs_both_thresholds_and_or_either() {
        let both = Thresholds {
            amount: Some(decimal("1000")),
            percent: Some(decimal("10")),
            combine: Combine::And,
        };
        // 1,500.00 on 100,000.00 is 1.5 %: the amount alone is crossed.
        assert!(!both.flags(decimal("101500"), decimal("100000")));
        assert!(
            Thresholds {
                combine: Combine::Or,
                ..both
            }
            .flags(decimal("101500"), decimal("100000"))
        );
        // 50.00 on 100.00 is 50 %: the share alone is crossed.
        assert!(!both.flags(decimal("150"), decimal("100")));
        assert!(both.flags(decimal("6000"), decimal("4500")));
        // Exactly at the thresholds is flagged; no change never is.
        assert!(both.flags(decimal("11000"), decimal("10000")));
        assert!(
            !Thresholds {
                amount: Some(Decimal::ZERO),
                percent: None,
                combine: Combine::And
            }
            .flags(decimal("5"), decimal("5"))
        );
    }

    #[test]
    fn against_zero_the_amount_decides() {
        let both = Thresholds {
            amount: Some(decimal("1000")),
            percent: Some(decimal("10")),
            combine: Combine::And,
        };
        assert!(both.flags(decimal("1200"), Decimal::ZERO));
        assert!(!both.flags(decimal("900"), Decimal::ZERO));
        // With `or` too: the share does not flag 0.01 against nothing.
        let either = Thresholds {
            combine: Combine::Or,
            ..both
        };
        assert!(!either.flags(decimal("0.01"), Decimal::ZERO));
        assert!(either.flags(decimal("1000"), Decimal::ZERO));
        // With a percentage alone, any change against zero is flagged.
        let share_only = Thresholds { amount: None, ..both };
        assert!(share_only.flags(decimal("0.01"), Decimal::ZERO));
        assert_eq!(share(decimal("900"), Decimal::ZERO), "new");
        assert_eq!(share(decimal("4500"), decimal("6000")), "-25.0 %");
    }

    #[test]
    fn an_override_replaces_what_it_names_and_skip_leaves_the_account_out() {
        let mut ledger = ledger();
        pay(&mut ledger, "2026-01-28", "6100", "4500.00");
        pay(&mut ledger, "2026-02-26", "6100", "6000.00");
        pay(&mut ledger, "2026-01-20", "6200", "300.00");
        pay(&mut ledger, "2026-02-20", "6200", "420.00");
        let config = json!({
            "amount": "1000.00", "percent": "10", "account_range": ["6000", "6999"],
            "overrides": [{ "account": "6100", "skip": true }, { "account": "6200", "amount": "100.00" }]
        });
        let output = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(output.findings.len(), 1);
        assert_eq!(output.findings[0].account.as_str(), "6200");
        assert_eq!(output.findings[0].threshold, "|change| >= 100.00 and >= 10 %");
    }

    #[test]
    fn the_balance_sheet_is_compared_by_balance_and_the_prior_year_by_position() {
        let mut ledger = ledger();
        pay(&mut ledger, "2025-02-10", "6100", "4000.00");
        pay(&mut ledger, "2026-01-10", "6100", "4000.00");
        pay(&mut ledger, "2026-02-10", "6100", "4000.00");
        let config = json!({ "amount": "1000.00", "compare": ["prior-year"] });
        let output = run(&ledger, "2026-02", config).unwrap();
        // Rent is 4,000.00 both Februaries; cash is -8,000.00 at the end of February 2026
        // (from the year's start) against -4,000.00 a year before.
        assert_eq!(output.findings.len(), 1, "{:?}", output.findings);
        let cash = &output.findings[0];
        assert_eq!(cash.account.as_str(), "1000");
        assert_eq!(cash.measure, "balance vs prior year");
        assert_eq!(
            (cash.current, cash.baseline),
            (decimal("-8000.00"), decimal("-4000.00"))
        );
    }

    #[test]
    fn by_dimension_each_value_is_compared_on_its_own() {
        let mut ledger = ledger();
        pay(&mut ledger, "2026-01-28", "6100", "4500.00");
        pay(&mut ledger, "2026-02-26", "6100", "6000.00");
        let config = json!({ "amount": "1000.00", "accounts": ["6100"], "dimensions": ["department"] });
        let output = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(output.findings.len(), 1);
        assert_eq!(output.findings[0].dimensions, vec![Dimension::new("department", "300")]);
    }

    #[test]
    fn a_baseline_without_entries_is_skipped_with_a_warning() {
        let mut ledger = ledger();
        pay(&mut ledger, "2026-01-28", "6100", "4500.00");
        let output = run(&ledger, "2026-01", json!({ "amount": "1000.00" })).unwrap();
        assert!(output.findings.is_empty());
        assert!(
            output.messages.iter().any(|message| message.level == Level::Warning
                && message.text.contains("2025-12 (prior period) has no entries")),
            "{:?}",
            output.messages
        );
    }

    #[test]
    fn a_configuration_without_threshold_or_with_two_overrides_is_refused() {
        let ledger = ledger();
        let error = run(&ledger, "2026-02", json!({})).unwrap_err();
        assert!(error.message.contains("no threshold"), "{}", error.message);
        let error = run(
            &ledger,
            "2026-02",
            json!({ "amount": "1", "overrides": [{ "account": "6100" }, { "account": "6100", "skip": true }] }),
        )
        .unwrap_err();
        assert!(error.message.contains("two overrides"), "{}", error.message);
        let error = run(&ledger, "FY2026-opening", json!({ "amount": "1" })).unwrap_err();
        assert!(error.message.contains("not an operating period"), "{}", error.message);
    }
}
