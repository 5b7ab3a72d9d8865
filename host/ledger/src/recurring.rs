//! Recurring journals (DOMAIN.md section 15): the same entry every period, or every quarter or
//! year, generated from a template kept in the ledger (setup's `[[recurring_journal]]`) by the
//! close step `builtin:recurring-journals`. Each period's entry has the idempotent key
//! `REC-{template}-{period}`, so generating twice posts once. A line's amount is fixed, a
//! percentage of an account's closing balance in the period (rounded to the currency's minor
//! unit, half away from zero), or the balancing remainder. A template changed after its entry
//! for a period posted leaves that entry alone; the new amounts apply from the next period.

use crate::calendar::{Period, PeriodKind};
use crate::dimension::DimensionValues;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, EntryKey, PeriodName, UserId};
use crate::journal::{NewEntry, NewLine};
use crate::period::Module;
use crate::store::Db;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How often a template's entry is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Every operating period.
    Monthly,
    /// The third, sixth, ninth and twelfth period of the fiscal year.
    Quarterly,
    /// The twelfth period of the fiscal year.
    Yearly,
}

impl Schedule {
    /// Whether the entry is due in `period`: never in an opening or closing period, whose
    /// entries are dated in the first or last month (a monthly entry there would post that
    /// month twice).
    pub fn is_due(self, period: &Period) -> bool {
        if period.kind != PeriodKind::Operating {
            return false;
        }
        let number = period.ordinal % 100;
        match self {
            Schedule::Monthly => true,
            Schedule::Quarterly => number % 3 == 0,
            Schedule::Yearly => number == 12,
        }
    }
}

/// One line of a template: the account and dimensions, and how its amount is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateLine {
    pub account: AccountNumber,
    #[serde(default, skip_serializing_if = "DimensionValues::is_empty")]
    pub dimensions: DimensionValues,
    /// A fixed amount, debit positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    /// The account whose closing balance in the period `percent` is taken of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_of: Option<AccountNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    /// The balancing line: the other lines' sum, negated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub balance: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// How a line's amount is found, once the template is checked.
enum LineAmount<'a> {
    Fixed(Decimal),
    PercentOf {
        account: &'a AccountNumber,
        percent: Decimal,
    },
    Balance,
}

impl TemplateLine {
    fn amount_rule(&self) -> Result<LineAmount<'_>, String> {
        match (self.amount, &self.percent_of, self.percent, self.balance) {
            (Some(amount), None, None, false) => Ok(LineAmount::Fixed(amount)),
            (None, Some(account), Some(percent), false) => Ok(LineAmount::PercentOf { account, percent }),
            (None, None, None, true) => Ok(LineAmount::Balance),
            _ => Err(format!(
                "the line on account {} needs exactly one of: amount = \"…\", percent_of = \"ACCOUNT\" with percent = \"…\", or balance = true",
                self.account
            )),
        }
    }
}

/// A recurring journal template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurringTemplate {
    pub id: String,
    pub entity: EntityId,
    pub description: String,
    pub schedule: Schedule,
    /// The first period it is due in, when not from the start.
    pub from: Option<PeriodName>,
    /// The last period it is due in, when it ends.
    pub until: Option<PeriodName>,
    pub lines: Vec<TemplateLine>,
    /// Who last applied it: they decided its amounts, so they count as the preparer of its
    /// entries when those need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<UserId>,
}

impl RecurringTemplate {
    /// Refuses a template that could never make a balanced entry, naming what to fix.
    pub fn check(&self) -> Result<(), String> {
        let valid_id = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !valid_id {
            return Err(format!(
                "recurring journal `{}`: an id is 1 to 40 letters, digits, - or _ (it makes the entry keys REC-ID-PERIOD)",
                self.id
            ));
        }
        let context = |problem: String| format!("recurring journal {}: {problem}", self.id);
        if self.lines.len() < 2 {
            return Err(context("an entry needs at least two lines".to_owned()));
        }
        let mut balancing = 0;
        let mut formulas = 0;
        let mut fixed_sum = Decimal::ZERO;
        for line in &self.lines {
            match line.amount_rule().map_err(context)? {
                LineAmount::Fixed(amount) if amount.is_zero() => {
                    return Err(context(format!(
                        "the line on account {} has amount 0: leave the line out",
                        line.account
                    )));
                }
                LineAmount::Fixed(amount) => fixed_sum += amount,
                LineAmount::PercentOf { .. } => formulas += 1,
                LineAmount::Balance => balancing += 1,
            }
        }
        if balancing > 1 {
            return Err(context("only one line may balance the others".to_owned()));
        }
        if balancing == 0 && formulas > 0 {
            return Err(context(
                "a line with percent_of needs a balancing line (balance = true) to make the entry balance".to_owned(),
            ));
        }
        if balancing == 1 && formulas == 0 && fixed_sum.is_zero() {
            return Err(context(
                "its fixed amounts already sum to zero, so the balancing line would be 0: leave it out".to_owned(),
            ));
        }
        if balancing == 0 && !fixed_sum.is_zero() {
            return Err(context(format!(
                "its fixed amounts sum to {fixed_sum}, not zero: fix them or add a line with balance = true"
            )));
        }
        Ok(())
    }

    /// Whether the entry is due in `period`.
    pub fn is_due(&self, period: &Period) -> bool {
        let after_start = self
            .from
            .as_ref()
            .is_none_or(|from| period.name.as_str() >= from.as_str());
        let before_end = self
            .until
            .as_ref()
            .is_none_or(|until| period.name.as_str() <= until.as_str());
        after_start && before_end && self.schedule.is_due(period)
    }

    /// The key of its entry for `period`.
    pub fn key(&self, period: &PeriodName) -> EntryKey {
        EntryKey::new(format!("REC-{}-{period}", self.id))
    }

    /// The template id a generated entry's key names (`REC-{id}-{YYYY-MM}`), if it is one.
    pub fn id_of_key(key: &EntryKey) -> Option<&str> {
        let rest = key.as_str().strip_prefix("REC-")?;
        let (id, period) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
        let period = period.strip_prefix('-')?;
        let is_period = period.len() == 7 && period.as_bytes()[4] == b'-';
        (is_period && !id.is_empty()).then_some(id)
    }

    /// Its entry for `period`, dated the period's last day, with amounts from the period's
    /// closing balances (`closing`: an account's closing balance in accounting currency) rounded
    /// to `minor_units` places; `None` when its amounts come to zero (nothing to post).
    pub fn entry(
        &self,
        period: &Period,
        closing: impl Fn(&AccountNumber) -> Decimal,
        minor_units: u32,
    ) -> Result<Option<NewEntry>, LedgerError> {
        let round =
            |amount: Decimal| amount.round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero);
        let mut amounts = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            let rule = line.amount_rule().map_err(LedgerError::Invalid)?;
            amounts.push(match rule {
                LineAmount::Fixed(amount) => Some(amount),
                LineAmount::PercentOf { account, percent } => Some(round(
                    closing(account)
                        .checked_mul(percent)
                        .and_then(|value| value.checked_div(Decimal::ONE_HUNDRED))
                        .ok_or(LedgerError::Overflow)?,
                )),
                LineAmount::Balance => None,
            });
        }
        let others: Decimal = amounts.iter().flatten().sum();
        // A line whose amount comes to zero (a percentage of a zero balance, or a balancing
        // line with nothing to balance) is left out: posting refuses zero lines.
        let lines: Vec<NewLine> = self
            .lines
            .iter()
            .zip(amounts)
            .filter(|(_, amount)| !amount.unwrap_or(-others).is_zero())
            .map(|(line, amount)| NewLine {
                account: line.account.clone(),
                dimensions: line.dimensions.clone(),
                currency: None,
                amount: amount.unwrap_or(-others),
                accounting_amount: None,
                description: if line.description.is_empty() {
                    self.description.clone()
                } else {
                    line.description.clone()
                },
                source_line: None,
            })
            .collect();
        if lines.len() < 2 {
            return Ok(None);
        }
        Ok(Some(NewEntry {
            key: self.key(&period.name),
            date: period.end,
            period: None,
            description: self.description.clone(),
            module: Module::Ledger,
            lines,
        }))
    }
}

/// What generating one template did in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generated {
    /// Its entry, to post.
    Entry(Box<NewEntry>),
    /// Not due in the period.
    NotDue,
    /// Its entry for the period exists already (posted, or a draft waiting): left alone.
    Exists(EntryKey),
    /// Due, but its amounts come to zero: nothing to post.
    Zero,
}

/// Generates the due entries of `templates` for the entity's operating `period`, reading the
/// period's closing balances for the formulas.
pub fn generate(
    db: &Db<'_>,
    entity: &EntityId,
    period: &Period,
    templates: &[RecurringTemplate],
) -> Result<Vec<(String, Generated)>, LedgerError> {
    let trial_balance = crate::report::trial_balance(db, entity, &period.name, &[], false)?;
    let minor_units = db
        .currencies()?
        .get(&trial_balance.currency)
        .copied()
        .ok_or_else(|| LedgerError::not_found("currency", trial_balance.currency.as_str()))?;
    let closing = |account: &AccountNumber| {
        trial_balance
            .rows
            .iter()
            .filter(|row| &row.account == account)
            .map(|row| row.closing)
            .sum::<Decimal>()
    };
    templates
        .iter()
        .map(|template| {
            if !template.is_due(period) {
                return Ok((template.id.clone(), Generated::NotDue));
            }
            let key = template.key(&period.name);
            if db.existing_key(entity, &key)?.is_some() {
                return Ok((template.id.clone(), Generated::Exists(key)));
            }
            Ok((
                template.id.clone(),
                match template.entry(period, closing, minor_units)? {
                    Some(entry) => Generated::Entry(Box::new(entry)),
                    None => Generated::Zero,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::FiscalYearName;

    fn period(number: i64) -> Period {
        let start = chrono::NaiveDate::from_ymd_opt(2026, number as u32, 1).unwrap();
        Period {
            name: PeriodName::new(format!("2026-{number:02}")),
            kind: PeriodKind::Operating,
            fiscal_year: FiscalYearName::new("FY2026"),
            start,
            end: start
                .checked_add_months(chrono::Months::new(1))
                .unwrap()
                .pred_opt()
                .unwrap(),
            ordinal: 2026 * 100 + number,
        }
    }

    fn line(account: &str) -> TemplateLine {
        TemplateLine {
            account: AccountNumber::new(account),
            dimensions: DimensionValues::new(),
            amount: None,
            percent_of: None,
            percent: None,
            balance: false,
            description: String::new(),
        }
    }

    fn depreciation() -> RecurringTemplate {
        RecurringTemplate {
            id: "depreciation".to_owned(),
            entity: EntityId::new("E"),
            description: "Depreciation of equipment".to_owned(),
            schedule: Schedule::Quarterly,
            from: None,
            until: None,
            updated_by: None,
            lines: vec![
                TemplateLine {
                    percent_of: Some(AccountNumber::new("1500")),
                    percent: Some(Decimal::new(25, 1)),
                    ..line("6300")
                },
                TemplateLine {
                    balance: true,
                    ..line("1590")
                },
            ],
        }
    }

    #[test]
    fn a_percentage_of_a_balance_rounds_half_away_from_zero_and_the_balancing_line_takes_the_rest() {
        // 2.5 % of 12,345.70 is 308.6425, which rounds to 308.64; of 12,345.80, 308.645 rounds
        // away from zero to 308.65. The balancing line credits the same.
        let template = depreciation();
        for (balance, expected) in [("12345.70", "308.64"), ("12345.80", "308.65")] {
            let balance: Decimal = balance.parse().unwrap();
            let entry = template.entry(&period(3), |_| balance, 2).unwrap().unwrap();
            assert_eq!(entry.key.as_str(), "REC-depreciation-2026-03");
            assert_eq!(entry.date.to_string(), "2026-03-31");
            assert_eq!(entry.lines[0].amount.to_string(), expected);
            assert_eq!(entry.lines[1].amount, -entry.lines[0].amount);
        }
    }

    #[test]
    fn nothing_is_due_in_an_opening_or_closing_period_and_zero_amounts_post_nothing() {
        // A monthly template in FY2026-closing (dated 31 December) would post December twice.
        let monthly = RecurringTemplate {
            schedule: Schedule::Monthly,
            ..depreciation()
        };
        for (kind, number) in [(PeriodKind::Opening, 0), (PeriodKind::Closing, 13)] {
            let special = Period {
                kind,
                ordinal: 2026 * 100 + number,
                ..period(12)
            };
            assert!(!monthly.is_due(&special), "{kind:?}");
        }
        // 2.5 % of a zero balance, or of 0.19 (0.00475, which rounds to 0.00), is nothing to
        // post; of 0.20 it is 0.01.
        assert_eq!(depreciation().entry(&period(3), |_| Decimal::ZERO, 2).unwrap(), None);
        assert_eq!(
            depreciation().entry(&period(3), |_| Decimal::new(19, 2), 2).unwrap(),
            None
        );
        let cent = depreciation()
            .entry(&period(3), |_| Decimal::new(20, 2), 2)
            .unwrap()
            .unwrap();
        assert_eq!(cent.lines[0].amount.to_string(), "0.01");
    }

    #[test]
    fn setup_refuses_from_and_until_that_are_not_operating_periods_in_order() {
        let mut ledger = crate::test_fixtures::one_entity_ledger("preparer");
        let template = |bounds: &str| {
            format!(
                "[[recurring_journal]]\nid = \"r\"\nentity = \"E\"\ndescription = \"R\"\nschedule = \"monthly\"\n{bounds}\nlines = [{{ account = \"4000\", amount = \"-1.00\" }}, {{ account = \"1000\", balance = true }}]\n"
            )
        };
        for (bounds, expected) in [
            (
                "from = \"FY2026-opening\"",
                "from = \"FY2026-opening\" is not an operating period like 2026-01",
            ),
            (
                "from = \"2026-06\"\nuntil = \"2026-03\"",
                "from = \"2026-06\" is after until = \"2026-03\"",
            ),
        ] {
            let text = template(bounds);
            let error = ledger
                .apply_setup(&crate::setup::SetupFile::parse(&text, "r.toml").unwrap(), "r.toml")
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        let text = template("from = \"2026-03\"\nuntil = \"2026-06\"");
        ledger
            .apply_setup(&crate::setup::SetupFile::parse(&text, "r.toml").unwrap(), "r.toml")
            .unwrap();
    }

    #[test]
    fn a_generated_key_names_its_template() {
        let key = |text: &str| EntryKey::new(text);
        assert_eq!(RecurringTemplate::id_of_key(&key("REC-rent-2026-03")), Some("rent"));
        assert_eq!(
            RecurringTemplate::id_of_key(&key("REC-office-rent-2026-12")),
            Some("office-rent")
        );
        assert_eq!(RecurringTemplate::id_of_key(&key("REC-001")), None);
        assert_eq!(RecurringTemplate::id_of_key(&key("REC--2026-03")), None);
        assert_eq!(RecurringTemplate::id_of_key(&key("US-GL-001")), None);
    }

    #[test]
    fn a_schedule_says_in_which_periods_the_entry_is_due() {
        let quarterly = depreciation();
        let due: Vec<i64> = (1..=12).filter(|number| quarterly.is_due(&period(*number))).collect();
        assert_eq!(due, [3, 6, 9, 12]);
        let yearly = RecurringTemplate {
            schedule: Schedule::Yearly,
            ..depreciation()
        };
        assert_eq!((1..=12).filter(|number| yearly.is_due(&period(*number))).count(), 1);
        let bounded = RecurringTemplate {
            schedule: Schedule::Monthly,
            from: Some(PeriodName::new("2026-04")),
            until: Some(PeriodName::new("2026-06")),
            ..depreciation()
        };
        let due: Vec<i64> = (1..=12).filter(|number| bounded.is_due(&period(*number))).collect();
        assert_eq!(due, [4, 5, 6]);
    }

    #[test]
    fn a_template_that_cannot_balance_is_refused_naming_the_fix() {
        let mut template = depreciation();
        template.lines[1].balance = false;
        template.lines[1].amount = Some(Decimal::ONE);
        assert!(template.check().unwrap_err().contains("needs a balancing line"));
        let fixed = RecurringTemplate {
            lines: vec![
                TemplateLine {
                    amount: Some(Decimal::new(450000, 2)),
                    ..line("6100")
                },
                TemplateLine {
                    amount: Some(Decimal::new(-449999, 2)),
                    ..line("2100")
                },
            ],
            ..depreciation()
        };
        assert!(fixed.check().unwrap_err().contains("sum to 0.01, not zero"));
        let both = RecurringTemplate {
            lines: vec![
                TemplateLine {
                    amount: Some(Decimal::ONE),
                    balance: true,
                    ..line("6100")
                },
                line("2100"),
            ],
            ..depreciation()
        };
        assert!(both.check().unwrap_err().contains("needs exactly one of"));
        let bad_id = RecurringTemplate {
            id: "rent 2026".to_owned(),
            ..depreciation()
        };
        assert!(bad_id.check().unwrap_err().contains("an id is 1 to 40 letters"));
        let zero = RecurringTemplate {
            lines: vec![
                TemplateLine {
                    amount: Some(Decimal::ZERO),
                    ..line("6100")
                },
                TemplateLine {
                    balance: true,
                    ..line("2100")
                },
            ],
            ..depreciation()
        };
        assert!(zero.check().unwrap_err().contains("has amount 0: leave the line out"));
        assert_eq!(depreciation().check(), Ok(()));
    }
}
