//! The standard foreign currency revaluation close step (DOMAIN.md §4). For every account
//! flagged `revalue` (or the configured accounts), it reads the balance of each dimension set ×
//! transaction currency — balance-sheet accounts from the fiscal year's opening period to the
//! run period, profit-and-loss accounts over the run period (or a configured range) — values
//! the foreign balance at the rate of the rate date, rounded to the accounting currency, and
//! proposes the difference against what the bucket is carried at, earlier revaluations
//! included. The difference posts on the revalued account *in its foreign-currency bucket*
//! (amount 0, accounting amount = the difference), so that next month starts from the
//! revalued amount, against the unrealized gain or loss account. Nothing is reversed next
//! period: the next run revalues from the carried amount.
//!
//! One entry is proposed per transaction currency, so that a reviewer reads (and could reverse)
//! each currency's revaluation on its own; each bucket gets its own pair of lines.

mod bucket;
mod config;

use std::collections::BTreeMap;

use closebook_plugin_sdk::chrono::NaiveDate;
use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountInfo, AccountNumber, AccountType, CloseStep, CurrencyCode, CurrencyInfo, EntityId, EntityInfo,
    JournalBuilder, Ledger, Level, PeriodKind, PeriodName, ProposedEntry, ProposedLine, StepError, StepInfo, StepInput,
    StepOutput, canonical_dimensions,
};

use bucket::Bucket;
pub use config::{AccountRange, Config, GainLossAccounts, schema};

/// The foreign currency revaluation step.
pub struct FxRevaluation;

impl CloseStep for FxRevaluation {
    fn describe() -> StepInfo {
        StepInfo::new(
            "fx-revaluation",
            env!("CARGO_PKG_VERSION"),
            "Revalues foreign-currency balances at the period-end rate and posts the unrealized \
             exchange gain or loss.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate()?;
        input.require_post_access()?;
        let entity = ledger.entity(&input.entity)?;
        let Some(accounting_currency) = ledger.currency(&entity.currency) else {
            return Err(StepError::new(format!(
                "the ledger does not know currency {}, the accounting currency of {}",
                entity.currency, input.entity
            )));
        };
        let chart = ledger.accounts(&input.entity)?;
        check_gain_loss_accounts(&input.entity, &chart, &config)?;
        let mut output = StepOutput::new();
        let accounts = selected_accounts(&input.entity, &chart, &config, ledger, &mut output)?;
        let ranges = PeriodRanges::new(&input, ledger, &config)?;
        let rate_date = config.parsed_rate_date()?.unwrap_or(input.as_of);
        let mut rates = Rates::new(ledger, entity.currency.clone(), rate_date);

        let mut revaluations: BTreeMap<CurrencyCode, Vec<Revaluation>> = BTreeMap::new();
        for account in accounts {
            let rate_type = account
                .rate_type
                .clone()
                .or_else(|| config.rate_type.clone())
                .unwrap_or_else(|| entity.default_rate_type.clone());
            let query = bucket::BucketQuery {
                entity: &input.entity,
                account: &account.number,
                from_period: ranges.first_period(account.account_type),
                to_period: &input.period.name,
            };
            let mut summary = AccountSummary::new(&accounting_currency);
            for bucket in bucket::buckets(ledger, &query, config.exclude_settled)? {
                if bucket.currency == entity.currency {
                    continue;
                }
                summary.foreign_buckets += 1;
                let rate = rates.get(&bucket.currency, &rate_type, &account.number)?;
                let revaluation = Revaluation::new(&account.number, bucket, rate, &accounting_currency)?;
                ledger.info(&revaluation.log_text(&rate_type, rate_date, &entity.currency));
                if revaluation.difference.is_zero() {
                    continue;
                }
                summary.add(revaluation.difference);
                revaluations
                    .entry(revaluation.bucket.currency.clone())
                    .or_default()
                    .push(revaluation);
            }
            let text = summary.message(account, &rate_type, rate_date, &entity.currency);
            ledger.info(&text);
            output.push_message(Level::Info, text);
        }

        let mut total = AccountSummary::new(&accounting_currency);
        let currencies: Vec<String> = revaluations.keys().map(ToString::to_string).collect();
        for (currency, currency_revaluations) in &revaluations {
            for revaluation in currency_revaluations {
                total.add(revaluation.difference);
            }
            output.push_entry(revaluation_entry(
                &input,
                &entity,
                &config,
                currency,
                currency_revaluations,
            )?);
        }
        let text = if output.entries.is_empty() {
            format!(
                "nothing to revalue in {} for {}: no entry proposed",
                input.entity, input.period.name
            )
        } else {
            format!(
                "proposed {} revaluation entr{} ({}) for {}: unrealized gain {} {}, unrealized loss {} {}",
                output.entries.len(),
                if output.entries.len() == 1 { "y" } else { "ies" },
                currencies.join(", "),
                input.period.name,
                total.gain,
                entity.currency,
                total.loss,
                entity.currency
            )
        };
        ledger.info(&text);
        output.push_message(Level::Info, text);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(FxRevaluation);

/// Refuses gain or loss accounts the entity does not have or that accept no postings.
fn check_gain_loss_accounts(entity: &EntityId, chart: &[AccountInfo], config: &Config) -> Result<(), StepError> {
    for number in config.all_gain_loss_accounts() {
        let Some(account) = chart.iter().find(|account| account.number == number) else {
            return Err(StepError::new(format!(
                "gain or loss account {number} does not exist in entity {entity}: fix the step configuration"
            )));
        };
        if account.blocked {
            return Err(StepError::new(format!(
                "gain or loss account {number} is blocked in entity {entity}: unblock it or configure another"
            )));
        }
    }
    Ok(())
}

/// The accounts to revalue, in account order: the configured list (each must be flagged
/// `revalue`, because the host accepts revaluation lines on flagged accounts only), else every
/// flagged account, narrowed to the configured range. A blocked account accepts no postings:
/// it is left out with a warning.
fn selected_accounts<'chart>(
    entity: &EntityId,
    chart: &'chart [AccountInfo],
    config: &Config,
    ledger: &dyn Ledger,
    output: &mut StepOutput,
) -> Result<Vec<&'chart AccountInfo>, StepError> {
    let mut selected: Vec<&AccountInfo> = match &config.accounts {
        Some(numbers) => {
            let mut selected = Vec::with_capacity(numbers.len());
            for number in numbers {
                let Some(account) = chart.iter().find(|account| &account.number == number) else {
                    return Err(StepError::new(format!(
                        "account {number} does not exist in entity {entity}: fix the step configuration"
                    )));
                };
                if !account.revalue {
                    return Err(StepError::new(format!(
                        "account {number} is not flagged revalue in entity {entity}: only flagged accounts \
                         accept revaluation lines; flag it in the chart or remove it from `accounts`"
                    )));
                }
                selected.push(account);
            }
            selected
        }
        None => chart
            .iter()
            .filter(|account| account.revalue)
            .filter(|account| {
                config
                    .range
                    .as_ref()
                    .is_none_or(|range| range.from <= account.number && account.number <= range.to)
            })
            .collect(),
    };
    selected.sort_by(|left, right| left.number.cmp(&right.number));
    selected.dedup_by(|left, right| left.number == right.number);
    let mut open = Vec::with_capacity(selected.len());
    for account in selected {
        if account.blocked {
            let text = format!("account {} ({}) is blocked: not revalued", account.number, account.name);
            ledger.warning(&text);
            output.push_message(Level::Warning, text);
        } else {
            open.push(account);
        }
    }
    if open.is_empty() {
        ledger.warning(&format!("no account of entity {entity} is selected for revaluation"));
    }
    Ok(open)
}

/// The period ranges balances are read over: balance-sheet accounts from the fiscal year's
/// opening period, profit-and-loss accounts from the configured period or the run period; both
/// to the run period.
struct PeriodRanges {
    balance_sheet_from: PeriodName,
    profit_and_loss_from: PeriodName,
}

impl PeriodRanges {
    fn new(input: &StepInput, ledger: &dyn Ledger, config: &Config) -> Result<Self, StepError> {
        let fiscal_year = &input.period.fiscal_year;
        let periods = ledger.periods(&input.entity, Some(fiscal_year))?;
        let Some(run_position) = periods.iter().position(|period| period.name == input.period.name) else {
            return Err(StepError::new(format!(
                "period {} is not listed in fiscal year {fiscal_year} of entity {}",
                input.period.name, input.entity
            )));
        };
        // The opening period comes first in calendar order; a calendar without one starts
        // with its first operating period.
        let balance_sheet_from = periods
            .iter()
            .find(|period| period.kind == PeriodKind::Opening)
            .unwrap_or(&periods[0])
            .name
            .clone();
        let profit_and_loss_from = match &config.from_period {
            None => input.period.name.clone(),
            Some(name) => {
                let Some(position) = periods.iter().position(|period| &period.name == name) else {
                    return Err(StepError::new(format!(
                        "from_period {name} is not a period of fiscal year {fiscal_year} of entity {}: profit and \
                         loss is revalued within one fiscal year",
                        input.entity
                    )));
                };
                if position > run_position {
                    return Err(StepError::new(format!(
                        "from_period {name} comes after the run period {}: give an earlier period",
                        input.period.name
                    )));
                }
                name.clone()
            }
        };
        Ok(Self {
            balance_sheet_from,
            profit_and_loss_from,
        })
    }

    fn first_period(&self, account_type: AccountType) -> &PeriodName {
        if account_type.is_balance_sheet() {
            &self.balance_sheet_from
        } else {
            &self.profit_and_loss_from
        }
    }
}

/// Rates to the accounting currency on the rate date, read once per currency and rate type.
struct Rates<'ledger> {
    ledger: &'ledger dyn Ledger,
    accounting_currency: CurrencyCode,
    rate_date: NaiveDate,
    known: BTreeMap<(CurrencyCode, String), Decimal>,
}

impl<'ledger> Rates<'ledger> {
    fn new(ledger: &'ledger dyn Ledger, accounting_currency: CurrencyCode, rate_date: NaiveDate) -> Self {
        Self {
            ledger,
            accounting_currency,
            rate_date,
            known: BTreeMap::new(),
        }
    }

    /// The rate from `currency` to the accounting currency, or an error naming the pair, the
    /// rate type, the date and the account that needs it.
    fn get(&mut self, currency: &CurrencyCode, rate_type: &str, account: &AccountNumber) -> Result<Decimal, StepError> {
        let key = (currency.clone(), rate_type.to_owned());
        if let Some(rate) = self.known.get(&key) {
            return Ok(*rate);
        }
        let rate = self
            .ledger
            .rate(currency, &self.accounting_currency, rate_type, self.rate_date)?
            .ok_or_else(|| {
                StepError::new(format!(
                    "no {rate_type} exchange rate from {currency} to {} on or before {}, needed to revalue \
                     account {account}: import the rate, or configure another rate_type or rate_date",
                    self.accounting_currency, self.rate_date
                ))
            })?;
        self.known.insert(key, rate);
        Ok(rate)
    }
}

/// One bucket's revaluation.
#[derive(Clone, Debug)]
struct Revaluation {
    account: AccountNumber,
    bucket: Bucket,
    rate: Decimal,
    /// The foreign balance at the rate, rounded to the accounting currency.
    new_value: Decimal,
    /// The new value less the accounting balance the bucket is carried at: positive is a gain.
    difference: Decimal,
}

impl Revaluation {
    fn new(
        account: &AccountNumber,
        bucket: Bucket,
        rate: Decimal,
        accounting_currency: &CurrencyInfo,
    ) -> Result<Self, StepError> {
        let overflow = || {
            StepError::new(format!(
                "revaluing {} {} on account {account} at {rate} overflows",
                bucket.amount, bucket.currency
            ))
        };
        let new_value = accounting_currency.round(bucket.amount.checked_mul(rate).ok_or_else(overflow)?);
        let difference = new_value.checked_sub(bucket.accounting_amount).ok_or_else(overflow)?;
        Ok(Self {
            account: account.clone(),
            bucket,
            rate,
            new_value,
            difference,
        })
    }

    fn dimensions_text(&self) -> String {
        if self.bucket.dimensions.is_empty() {
            "no dimensions".to_owned()
        } else {
            canonical_dimensions(&self.bucket.dimensions)
        }
    }

    fn log_text(&self, rate_type: &str, rate_date: NaiveDate, accounting_currency: &CurrencyCode) -> String {
        format!(
            "account {} ({}) {}: {} at {} ({rate_type}, {rate_date}) is {} {accounting_currency}, carried at {}: \
             difference {}",
            self.account,
            self.dimensions_text(),
            self.bucket.currency,
            self.bucket.amount,
            self.rate,
            self.new_value,
            self.bucket.accounting_amount,
            self.difference
        )
    }
}

/// Gains and losses of one account (or of the whole run), for the reviewer's messages.
struct AccountSummary {
    foreign_buckets: usize,
    revalued_buckets: usize,
    gain: Decimal,
    loss: Decimal,
}

impl AccountSummary {
    fn new(accounting_currency: &CurrencyInfo) -> Self {
        // Zero at the currency's scale, so that an empty total reads `0.00`.
        let zero = Decimal::new(0, u32::from(accounting_currency.minor_units));
        Self {
            foreign_buckets: 0,
            revalued_buckets: 0,
            gain: zero,
            loss: zero,
        }
    }

    fn add(&mut self, difference: Decimal) {
        self.revalued_buckets += 1;
        if difference.is_sign_positive() {
            self.gain += difference;
        } else {
            self.loss -= difference;
        }
    }

    fn message(
        &self,
        account: &AccountInfo,
        rate_type: &str,
        rate_date: NaiveDate,
        accounting_currency: &CurrencyCode,
    ) -> String {
        let plural = |count: usize| if count == 1 { "bucket" } else { "buckets" };
        if self.foreign_buckets == 0 {
            format!(
                "account {} ({}): no foreign-currency balance to revalue",
                account.number, account.name
            )
        } else if self.revalued_buckets == 0 {
            format!(
                "account {} ({}): {} foreign-currency {} already at the {rate_type} rates of {rate_date}: nothing \
                 to post",
                account.number,
                account.name,
                self.foreign_buckets,
                plural(self.foreign_buckets)
            )
        } else {
            format!(
                "account {} ({}): {} of {} foreign-currency {} revalued at the {rate_type} rates of {rate_date}: \
                 unrealized gain {} {accounting_currency}, unrealized loss {} {accounting_currency}",
                account.number,
                account.name,
                self.revalued_buckets,
                self.foreign_buckets,
                plural(self.foreign_buckets),
                self.gain,
                self.loss
            )
        }
    }
}

/// One currency's revaluation entry, dated at the period end: per bucket, the difference on
/// the revalued account in its foreign-currency bucket (amount 0) and the opposite on the gain
/// account (a debit to the revalued account) or the loss account (a credit), whatever the
/// account's type.
fn revaluation_entry(
    input: &StepInput,
    entity: &EntityInfo,
    config: &Config,
    currency: &CurrencyCode,
    revaluations: &[Revaluation],
) -> Result<ProposedEntry, StepError> {
    let gain_loss = config.gain_loss_accounts(currency);
    let description = format!("Foreign currency revaluation {} {currency}", input.period.name);
    let mut builder = JournalBuilder::new(input.entity.clone(), input.period.end, description)
        .accounting_currency(entity.currency.clone());
    if input.period.kind != PeriodKind::Operating {
        builder = builder.period(input.period.name.clone());
    }
    for revaluation in revaluations {
        let bucket = &revaluation.bucket;
        builder.push_line(
            ProposedLine::new(revaluation.account.clone(), Decimal::ZERO)
                .currency(currency.clone())
                .accounting_amount(revaluation.difference)
                .dimensions(bucket.dimensions.iter().cloned())
                .description(format!(
                    "Revaluation of {} {currency} at {}: {} to {} {}",
                    bucket.amount, revaluation.rate, bucket.accounting_amount, revaluation.new_value, entity.currency
                )),
        );
        let (account, kind) = if revaluation.difference.is_sign_positive() {
            (&gain_loss.gain_account, "gain")
        } else {
            (&gain_loss.loss_account, "loss")
        };
        let mut line = ProposedLine::new(account.clone(), -revaluation.difference).description(format!(
            "Unrealized exchange {kind} on account {} {currency}",
            revaluation.account
        ));
        if config.keep_dimensions {
            line = line.dimensions(bucket.dimensions.iter().cloned());
        }
        builder.push_line(line);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountFilter, BalanceQuery, JournalBuilder, ProposedSettlement};

    use super::*;

    fn revalued(number: &str, name: &str, account_type: AccountType) -> AccountInfo {
        let mut account = AccountInfo::new(number, name, account_type);
        account.revalue = true;
        account
    }

    /// ACME keeps its books in USD (default rate type spot). Revalued: 1200 bank EUR, 1300
    /// receivable (also settled), 2300 loan GBP, 4500 export sales (profit and loss). Not
    /// revalued: 1100, 3000, 4000. Gains go to 7100, losses to 7200; 7150 and 7250 are the
    /// GBP pair for the per-currency test. No postings, no rates.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        let mut receivable = revalued("1300", "Receivable EUR", AccountType::Asset);
        receivable.settle = true;
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_currency("GBP", 2)
            .add_dimension("department", ["100", "200"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1100", "Receivables USD", AccountType::Asset))
            .add_account("ACME", revalued("1200", "Bank EUR", AccountType::Asset))
            .add_account("ACME", receivable)
            .add_account("ACME", revalued("2300", "Loan GBP", AccountType::Liability))
            .add_account("ACME", AccountInfo::new("3000", "Share capital", AccountType::Equity))
            .add_account("ACME", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_account("ACME", revalued("4500", "Export sales EUR", AccountType::Revenue))
            .add_account(
                "ACME",
                AccountInfo::new("7100", "Unrealized gain", AccountType::Revenue),
            )
            .add_account(
                "ACME",
                AccountInfo::new("7150", "Unrealized gain GBP", AccountType::Revenue),
            )
            .add_account(
                "ACME",
                AccountInfo::new("7200", "Unrealized loss", AccountType::Expense),
            )
            .add_account(
                "ACME",
                AccountInfo::new("7250", "Unrealized loss GBP", AccountType::Expense),
            )
            .add_fiscal_year("ACME", 2026);
        ledger
    }

    fn config() -> Value {
        json!({ "gain_account": "7100", "loss_account": "7200" })
    }

    fn run(ledger: &TestLedger, period: &str, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<FxRevaluation>(ledger.step_input("ACME", period, config))
    }

    fn foreign(account: &str, amount: &str, currency: &str, accounting_amount: &str) -> ProposedLine {
        ProposedLine::new(account, decimal(amount))
            .currency(currency)
            .accounting_amount(decimal(accounting_amount))
    }

    /// Opening balances of FY2026: 500 EUR carried at 1,000.00 USD on the bank account and a
    /// loan of 1,000 GBP carried at 1,250.00 USD, against share capital.
    fn post_opening_balances(ledger: &mut TestLedger) {
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-01"), "Opening balances")
                .period("FY2026-opening")
                .line(foreign("1200", "500.00", "EUR", "1000.00"))
                .line(foreign("2300", "-1000.00", "GBP", "-1250.00"))
                .debit("3000", decimal("250.00"))
                .build()
                .unwrap(),
        );
    }

    /// Each line as `account currency amount / accounting amount [dimensions]`, or
    /// `account amount [dimensions]` for accounting-currency lines.
    fn lines(entry: &ProposedEntry) -> Vec<String> {
        entry
            .lines
            .iter()
            .map(|line| {
                let mut text = match (&line.currency, line.accounting_amount) {
                    (Some(currency), Some(accounting_amount)) => {
                        format!("{} {currency} {} / {accounting_amount}", line.account, line.amount)
                    }
                    _ => format!("{} {}", line.account, line.amount),
                };
                if !line.dimensions.is_empty() {
                    text.push_str(&format!(" [{}]", canonical_dimensions(&line.dimensions)));
                }
                text
            })
            .collect()
    }

    /// The account's balance in one currency from the year's opening to `period`: (amount,
    /// accounting amount).
    fn balance(ledger: &TestLedger, account: &str, currency: &str, period: &str) -> (Decimal, Decimal) {
        let query = BalanceQuery::new("ACME", "FY2026-opening", period)
            .accounts(AccountFilter::List(vec![account.into()]))
            .currency(currency);
        let rows = ledger.balances(&query).unwrap();
        (
            rows.iter().map(|row| row.amount).sum(),
            rows.iter().map(|row| row.accounting_amount).sum(),
        )
    }

    #[test]
    fn worked_example_revalues_from_the_carried_amount_month_after_month() {
        // DOMAIN.md §4: 500 EUR carried at 1,000.00 USD.
        // January: 500 × 1.666667 = 833.3335 → 833.33; 833.33 − 1,000.00 = −166.67, a credit
        // to the bank account, so an unrealized loss of 166.67.
        // February: 500 × 2.5 = 1,250.00; the bucket is now carried at 833.33, so the
        // difference is 1,250.00 − 833.33 = +416.67, a gain (not 1,250.00 − 1,000.00 = 250).
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"))
            .add_rate("EUR", "USD", "spot", date("2026-02-28"), decimal("2.5"));
        let config = json!({ "gain_account": "7100", "loss_account": "7200", "accounts": ["1200"] });

        let january = run(&ledger, "2026-01", config.clone()).unwrap();
        assert_eq!(january.entries.len(), 1);
        let entry = &january.entries[0];
        assert_eq!(entry.date, date("2026-01-31"));
        assert_eq!(entry.description, "Foreign currency revaluation 2026-01 EUR");
        assert_eq!(entry.reversal_date, None, "GL revaluation is not reversed next period");
        assert_eq!(lines(entry), ["1200 EUR 0 / -166.67", "7200 166.67"]);
        assert_eq!(
            entry.lines[0].description.as_deref(),
            Some("Revaluation of 500.00 EUR at 1.666667: 1000.00 to 833.33 USD")
        );
        assert_eq!(
            january.messages[0].text,
            "account 1200 (Bank EUR): 1 of 1 foreign-currency bucket revalued at the spot rates of 2026-01-31: \
             unrealized gain 0.00 USD, unrealized loss 166.67 USD"
        );
        ledger.post_output(&january);
        assert_eq!(
            balance(&ledger, "1200", "EUR", "2026-01"),
            (decimal("500.00"), decimal("833.33"))
        );

        let february = run(&ledger, "2026-02", config.clone()).unwrap();
        assert_eq!(lines(&february.entries[0]), ["1200 EUR 0 / 416.67", "7100 -416.67"]);
        ledger.post_output(&february);
        assert_eq!(
            balance(&ledger, "1200", "EUR", "2026-02"),
            (decimal("500.00"), decimal("1250.00"))
        );

        // A second run in February finds the bucket at its new value: nothing to post.
        let again = run(&ledger, "2026-02", config).unwrap();
        assert!(again.entries.is_empty());
        assert_eq!(
            again.messages[0].text,
            "account 1200 (Bank EUR): 1 foreign-currency bucket already at the spot rates of 2026-02-28: nothing to post"
        );
        assert_eq!(
            again.messages[1].text,
            "nothing to revalue in ACME for 2026-02: no entry proposed"
        );
    }

    #[test]
    fn a_liability_in_a_strengthening_currency_makes_a_loss_then_a_gain() {
        // A loan of 1,000 GBP carried at −1,250.00 USD.
        // January, GBP strengthens to 1.30: −1,000 × 1.30 = −1,300.00; −1,300.00 − (−1,250.00)
        // = −50.00, a credit to the loan: the entity owes more, an unrealized loss of 50.00.
        // February, GBP weakens to 1.27: −1,270.00 − (−1,300.00) = +30.00, a debit: a gain.
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("GBP", "USD", "spot", date("2026-01-31"), decimal("1.30"))
            .add_rate("GBP", "USD", "spot", date("2026-02-28"), decimal("1.27"));
        let config = json!({ "gain_account": "7100", "loss_account": "7200", "accounts": ["2300"] });

        let january = run(&ledger, "2026-01", config.clone()).unwrap();
        assert_eq!(lines(&january.entries[0]), ["2300 GBP 0 / -50.00", "7200 50.00"]);
        ledger.post_output(&january);
        let february = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(lines(&february.entries[0]), ["2300 GBP 0 / 30.00", "7100 -30.00"]);
        ledger.post_output(&february);
        assert_eq!(
            balance(&ledger, "2300", "GBP", "2026-02"),
            (decimal("-1000.00"), decimal("-1270.00"))
        );
    }

    /// Export sales: 100 EUR booked at 110.00 USD in January and 200 EUR at 224.00 USD in
    /// February; the February rate is 1.15.
    fn ledger_with_export_sales() -> TestLedger {
        let mut ledger = ledger();
        for (day, euros, dollars) in [("2026-01-15", "100.00", "110.00"), ("2026-02-10", "200.00", "224.00")] {
            ledger.post(
                JournalBuilder::new("ACME", date(day), "Export sale")
                    .debit("1100", decimal(dollars))
                    .line(foreign("4500", &format!("-{euros}"), "EUR", &format!("-{dollars}")))
                    .build()
                    .unwrap(),
            );
        }
        ledger.add_rate("EUR", "USD", "spot", date("2026-02-28"), decimal("1.15"));
        ledger
    }

    #[test]
    fn profit_and_loss_is_revalued_over_the_period_only() {
        // February's net alone: −200 EUR × 1.15 = −230.00, carried at −224.00: −6.00, a
        // credit to the revenue account, which the sign rule makes a loss of 6.00 whatever the
        // account type. January's sale is outside the period and left alone.
        let ledger = ledger_with_export_sales();
        let output = run(&ledger, "2026-02", config()).unwrap();
        assert_eq!(output.entries.len(), 1);
        assert_eq!(lines(&output.entries[0]), ["4500 EUR 0 / -6.00", "7200 6.00"]);
    }

    #[test]
    fn profit_and_loss_may_be_revalued_over_a_configured_range() {
        // From January: −300 EUR × 1.15 = −345.00, carried at −334.00: a loss of 11.00.
        let ledger = ledger_with_export_sales();
        let mut config = config();
        config["from_period"] = json!("2026-01");
        let output = run(&ledger, "2026-02", config).unwrap();
        assert_eq!(lines(&output.entries[0]), ["4500 EUR 0 / -11.00", "7200 11.00"]);
        let mut late = super::tests::config();
        late["from_period"] = json!("2026-03");
        let error = run(&ledger, "2026-02", late).unwrap_err();
        assert_eq!(
            error.message,
            "from_period 2026-03 comes after the run period 2026-02: give an earlier period"
        );
    }

    /// The receivable holds 100 EUR at 108.00 USD in department 100, 300 EUR at 324.00 USD in
    /// department 200 and 50.00 USD in department 100; the January rate is 1.10.
    fn ledger_with_receivables_by_department() -> TestLedger {
        let mut ledger = ledger();
        for (department, line) in [
            ("100", foreign("1300", "100.00", "EUR", "108.00")),
            ("200", foreign("1300", "300.00", "EUR", "324.00")),
            ("100", ProposedLine::new("1300", decimal("50.00"))),
        ] {
            let accounting_amount = line.accounting_amount.unwrap_or(line.amount);
            ledger.post(
                JournalBuilder::new("ACME", date("2026-01-10"), "Invoice")
                    .line(line.dimension("department", department))
                    .credit("4000", accounting_amount)
                    .build()
                    .unwrap(),
            );
        }
        ledger.add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.10"));
        ledger
    }

    #[test]
    fn each_dimension_set_is_revalued_and_keeps_its_dimensions() {
        // Department 100: 100 × 1.10 = 110.00 − 108.00 = +2.00; department 200: 330.00 −
        // 324.00 = +6.00; both gains. The USD bucket is in the accounting currency: skipped.
        let ledger = ledger_with_receivables_by_department();
        let output = run(&ledger, "2026-01", config()).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            [
                "1300 EUR 0 / 2.00 [department=100]",
                "7100 -2.00 [department=100]",
                "1300 EUR 0 / 6.00 [department=200]",
                "7100 -6.00 [department=200]",
            ]
        );
        let texts: Vec<&str> = output.messages.iter().map(|message| message.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "account 1200 (Bank EUR): no foreign-currency balance to revalue",
                "account 1300 (Receivable EUR): 2 of 2 foreign-currency buckets revalued at the spot rates of \
                 2026-01-31: unrealized gain 8.00 USD, unrealized loss 0.00 USD",
                "account 2300 (Loan GBP): no foreign-currency balance to revalue",
                "account 4500 (Export sales EUR): no foreign-currency balance to revalue",
                "proposed 1 revaluation entry (EUR) for 2026-01: unrealized gain 8.00 USD, unrealized loss 0.00 USD",
            ]
        );
    }

    #[test]
    fn gain_and_loss_lines_may_drop_the_dimensions() {
        // With keep_dimensions false the revalued account keeps its buckets, the gain lines do
        // not carry them.
        let ledger = ledger_with_receivables_by_department();
        let mut config = config();
        config["keep_dimensions"] = json!(false);
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(
            lines(&output.entries[0]),
            [
                "1300 EUR 0 / 2.00 [department=100]",
                "7100 -2.00",
                "1300 EUR 0 / 6.00 [department=200]",
                "7100 -6.00",
            ]
        );
    }

    #[test]
    fn gain_and_loss_accounts_may_differ_per_currency() {
        // One entry per currency. EUR: the loss of 166.67 of the worked example, to 7200.
        // GBP at 1.30: the loan's loss of 50.00 goes to the GBP loss account 7250.
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"))
            .add_rate("GBP", "USD", "spot", date("2026-01-31"), decimal("1.30"));
        let mut config = config();
        config["per_currency"] = json!({ "GBP": { "gain_account": "7150", "loss_account": "7250" } });
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(output.entries.len(), 2);
        assert_eq!(lines(&output.entries[0]), ["1200 EUR 0 / -166.67", "7200 166.67"]);
        assert_eq!(
            output.entries[1].description,
            "Foreign currency revaluation 2026-01 GBP"
        );
        assert_eq!(lines(&output.entries[1]), ["2300 GBP 0 / -50.00", "7250 50.00"]);
        assert_eq!(
            output.messages.last().unwrap().text,
            "proposed 2 revaluation entries (EUR, GBP) for 2026-01: unrealized gain 0.00 USD, unrealized loss \
             216.67 USD"
        );
        ledger.post_output(&output);
    }

    #[test]
    fn a_range_narrows_the_flagged_accounts() {
        // Accounts 1000 to 1999: the bank account is revalued, the GBP loan (2300) is not, so
        // no GBP rate is needed.
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger.add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"));
        let mut config = config();
        config["range"] = json!({ "from": "1000", "to": "1999" });
        let output = run(&ledger, "2026-01", config).unwrap();
        assert_eq!(output.entries.len(), 1);
        assert_eq!(lines(&output.entries[0]), ["1200 EUR 0 / -166.67", "7200 166.67"]);
    }

    #[test]
    fn a_missing_rate_fails_naming_the_pair_the_type_and_the_date() {
        // The only GBP rate starts after 31 January: nothing is proposed, the error says what
        // to add.
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"))
            .add_rate("GBP", "USD", "spot", date("2026-02-28"), decimal("1.27"));
        let error = run(&ledger, "2026-01", config()).unwrap_err();
        assert_eq!(
            error.message,
            "no spot exchange rate from GBP to USD on or before 2026-01-31, needed to revalue account 2300: \
             import the rate, or configure another rate_type or rate_date"
        );
    }

    #[test]
    fn the_rate_type_is_the_accounts_then_the_configured_then_the_entitys() {
        // The bank account names rate type `closing` (1.80: 500 × 1.80 = 900.00, a loss of
        // 100.00); the loan names none and the configuration says `average` (1.28: −1,280.00
        // against −1,250.00, a loss of 30.00). The spot rates are there but unused.
        let mut ledger = ledger();
        let mut bank = revalued("1200", "Bank EUR", AccountType::Asset);
        bank.rate_type = Some("closing".to_owned());
        ledger.add_account("ACME", bank);
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"))
            .add_rate("EUR", "USD", "closing", date("2026-01-31"), decimal("1.80"))
            .add_rate("GBP", "USD", "spot", date("2026-01-31"), decimal("1.30"))
            .add_rate("GBP", "USD", "average", date("2026-01-01"), decimal("1.28"));
        let mut config = config();
        config["rate_type"] = json!("average");
        let output = run(&ledger, "2026-01", config.clone()).unwrap();
        assert_eq!(lines(&output.entries[0]), ["1200 EUR 0 / -100.00", "7200 100.00"]);
        assert_eq!(lines(&output.entries[1]), ["2300 GBP 0 / -30.00", "7200 30.00"]);

        // Without a closing rate for EUR, the error names the account's rate type.
        let mut without_closing = super::tests::ledger();
        let mut bank = revalued("1200", "Bank EUR", AccountType::Asset);
        bank.rate_type = Some("closing".to_owned());
        without_closing.add_account("ACME", bank);
        post_opening_balances(&mut without_closing);
        without_closing.add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"));
        let error = run(
            &without_closing,
            "2026-01",
            json!({
                "gain_account": "7100", "loss_account": "7200", "accounts": ["1200"]
            }),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .starts_with("no closing exchange rate from EUR to USD on or before 2026-01-31")
        );
    }

    #[test]
    fn a_configured_rate_date_picks_the_rate() {
        // rate_date 2026-01-15 takes the rate effective then (1.90: 950.00, a loss of 50.00),
        // not the period end's; the entry is still dated at the period end.
        let mut ledger = ledger();
        post_opening_balances(&mut ledger);
        ledger
            .add_rate("EUR", "USD", "spot", date("2026-01-10"), decimal("1.90"))
            .add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.666667"));
        let output = run(
            &ledger,
            "2026-01",
            json!({
                "gain_account": "7100", "loss_account": "7200", "accounts": ["1200"], "rate_date": "2026-01-15"
            }),
        )
        .unwrap();
        assert_eq!(lines(&output.entries[0]), ["1200 EUR 0 / -50.00", "7200 50.00"]);
        assert_eq!(output.entries[0].date, date("2026-01-31"));
    }

    #[test]
    fn settled_lines_are_left_out_on_request() {
        // The receivable has an invoice of 100 EUR at 108.00 and a credit note of 90 EUR at
        // 108.00, settled against each other (settlement matches accounting amounts), and an
        // open invoice of 50 EUR at 54.50 in department 100. Rate 1.10.
        // Settled lines included, the bucket without dimensions holds 100 − 90 = 10 EUR at
        // 108.00 − 108.00 = 0.00: 10 × 1.10 = 11.00, a gain of 11.00, beside department 100's
        // 50 EUR × 1.10 = 55.00 − 54.50 = +0.50.
        // Settled lines left out: only department 100's +0.50.
        let mut ledger = ledger();
        let mut settled = Vec::new();
        for (day, line) in [
            ("2026-01-05", foreign("1300", "100.00", "EUR", "108.00")),
            ("2026-01-12", foreign("1300", "-90.00", "EUR", "-108.00")),
            (
                "2026-01-20",
                foreign("1300", "50.00", "EUR", "54.50").dimension("department", "100"),
            ),
        ] {
            let accounting_amount = line.accounting_amount.unwrap_or(line.amount);
            let line_ids = ledger.post(
                JournalBuilder::new("ACME", date(day), "Receivable")
                    .line(line)
                    .credit("4000", accounting_amount)
                    .build()
                    .unwrap(),
            );
            settled.push(line_ids[0]);
        }
        settled.pop();
        ledger.settle(&ProposedSettlement {
            entity: "ACME".into(),
            line_ids: settled,
        });
        ledger.add_rate("EUR", "USD", "spot", date("2026-01-31"), decimal("1.10"));

        let included = run(&ledger, "2026-01", config()).unwrap();
        assert_eq!(
            lines(&included.entries[0]),
            [
                "1300 EUR 0 / 11.00",
                "7100 -11.00",
                "1300 EUR 0 / 0.50 [department=100]",
                "7100 -0.50 [department=100]",
            ]
        );

        let mut config = config();
        config["exclude_settled"] = json!(true);
        let excluded = run(&ledger, "2026-01", config.clone()).unwrap();
        assert_eq!(
            lines(&excluded.entries[0]),
            ["1300 EUR 0 / 0.50 [department=100]", "7100 -0.50 [department=100]"]
        );
        // Once posted, the unsettled bucket is at its new value.
        ledger.post_output(&excluded);
        assert!(run(&ledger, "2026-01", config).unwrap().entries.is_empty());
    }

    #[test]
    fn refuses_configuration_the_host_would_refuse_later() {
        // An account not flagged revalue and an unknown gain account are refused up front.
        let ledger = ledger();
        let error = run(
            &ledger,
            "2026-01",
            json!({
                "gain_account": "7100", "loss_account": "7200", "accounts": ["1100"]
            }),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .starts_with("account 1100 is not flagged revalue in entity ACME")
        );
        let error = run(
            &ledger,
            "2026-01",
            json!({ "gain_account": "7101", "loss_account": "7200" }),
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "gain or loss account 7101 does not exist in entity ACME: fix the step configuration"
        );
    }

    #[test]
    fn describes_itself_with_a_closed_schema() {
        // The schema is what `closebook plugin inspect` shows and the host validates against.
        let info = FxRevaluation::describe();
        assert_eq!(info.name, "fx-revaluation");
        assert_eq!(info.config_schema["additionalProperties"], false);
        assert_eq!(info.config_schema["required"], json!(["gain_account", "loss_account"]));
    }
}
