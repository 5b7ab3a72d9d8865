//! The standard year-end close step (DOMAIN.md §7). Run in the last operating period or the
//! closing period of a fiscal year, it reads every balance of the year — from its opening
//! period through its closing period — and proposes one opening entry in the next year's
//! opening period, dated the next year's first day:
//!
//! - balance-sheet accounts (asset, liability, equity) carry their balance per account ×
//!   dimension set × transaction currency, keeping the dimensions and the currency so that the
//!   new year can still revalue them; with `carry_unsettled_lines`, the unsettled lines of
//!   accounts flagged `settle` are carried one by one so that settlement goes on;
//! - profit and loss (revenue, expense) lands on the entity's retained-earnings account, per
//!   dimension combination (close all) or on one dimension set (close single).
//!
//! With `closing_entries`, a closing entry in the year's closing period also zeroes every
//! profit-and-loss bucket against retained earnings. Proposals are not posted when the step
//! reads the ledger, so the balances read exclude that entry: the step applies it itself. The
//! profit and loss is then already in retained earnings in the old year, so the opening entry
//! carries retained earnings at its balance *including* the closing entry and has no separate
//! retained-earnings line. Either way the new year opens with the same balances.
//!
//! The whole year's balances sum to zero, so balance sheet + profit and loss = 0 and the
//! opening entry balances; the builder asserts it before the host validates it again.

mod carry;
mod config;
mod years;

use std::collections::BTreeMap;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountInfo, AccountNumber, BalanceQuery, CloseStep, CurrencyInfo, Dimension, EntityId, EntityInfo, JournalBuilder,
    Ledger, Level, ProposedEntry, ProposedLine, StepError, StepInfo, StepInput, StepOutput,
};

use carry::{Bucket, BucketKey};
pub use config::{Config, DimensionMode, schema};
use years::Years;

/// The year-end close step.
pub struct YearEnd;

impl CloseStep for YearEnd {
    fn describe() -> StepInfo {
        StepInfo::new(
            "year-end",
            env!("CARGO_PKG_VERSION"),
            "Carries balance-sheet balances into the next year's opening period and transfers profit and loss to \
             retained earnings.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        config.validate(&ledger.dimensions())?;
        input.require_post_access()?;
        let years = Years::new(&input, ledger)?;
        let entity = ledger.entity(&input.entity)?;
        let Some(accounting_currency) = ledger.currency(&entity.currency) else {
            return Err(StepError::new(format!(
                "the ledger does not know currency {}, the accounting currency of {}",
                entity.currency, input.entity
            )));
        };
        let chart: BTreeMap<AccountNumber, AccountInfo> = ledger
            .accounts(&input.entity)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect();
        check_retained_earnings_account(&entity, &chart)?;
        refuse_existing_opening_balances(ledger, &input.entity, &years)?;

        let mut balance_sheet: Vec<Bucket> = Vec::new();
        let mut profit_and_loss: Vec<Bucket> = Vec::new();
        for bucket in carry::buckets(ledger, &input.entity, &years.first_period, &years.last_period)? {
            let Some(account) = chart.get(&bucket.account) else {
                return Err(StepError::new(format!(
                    "account {} holds a balance but is not in the chart of entity {}",
                    bucket.account, input.entity
                )));
            };
            if account.blocked {
                return Err(StepError::new(format!(
                    "account {} ({}) is blocked but holds a balance in {}: unblock it so that year-end close can \
                     carry or close it",
                    account.number, account.name, years.closed_year
                )));
            }
            if account.account_type.is_balance_sheet() {
                balance_sheet.push(bucket);
            } else {
                profit_and_loss.push(bucket);
            }
        }

        let transfer = Transfer::new(&config, &profit_and_loss)?;
        let step = Context {
            input: &input,
            ledger,
            entity: &entity,
            accounting_currency: &accounting_currency,
            chart: &chart,
            years: &years,
            config: &config,
        };
        let mut output = StepOutput::new();
        if config.closing_entries {
            if let Some(entry) = step.closing_entry(&profit_and_loss, &transfer)? {
                output.push_entry(entry);
            }
            // The closing entry moves the profit and loss into retained earnings in the old
            // year, in the transfer's dimension sets; the opening entry carries retained
            // earnings as it will stand after it.
            balance_sheet = transfer.merge_into(balance_sheet, &entity)?;
        }
        let retained_earnings_lines = if config.closing_entries {
            &[][..]
        } else {
            &transfer.lines[..]
        };
        let carried = step.opening_entry(&balance_sheet, retained_earnings_lines)?;
        if let Some(entry) = carried.entry {
            output.push_entry(entry);
        }
        for text in carried.warnings {
            ledger.warning(&text);
            output.push_message(Level::Warning, text);
        }
        for text in step.summary(&carried.counts, &transfer) {
            ledger.info(&text);
            output.push_message(Level::Info, text);
        }
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(YearEnd);

/// Refuses a retained-earnings account that the chart does not have, that is not a
/// balance-sheet account (profit and loss would land on an account the step zeroes) or that
/// is blocked.
fn check_retained_earnings_account(
    entity: &EntityInfo,
    chart: &BTreeMap<AccountNumber, AccountInfo>,
) -> Result<(), StepError> {
    let number = &entity.retained_earnings_account;
    let Some(account) = chart.get(number) else {
        return Err(StepError::new(format!(
            "retained earnings account {number} does not exist in entity {}: fix the entity's setup",
            entity.id
        )));
    };
    if !account.account_type.is_balance_sheet() {
        return Err(StepError::new(format!(
            "retained earnings account {number} of entity {} is a profit-and-loss account: name an equity account \
             in the entity's setup",
            entity.id
        )));
    }
    if account.blocked {
        return Err(StepError::new(format!(
            "retained earnings account {number} is blocked in entity {}: unblock it",
            entity.id
        )));
    }
    Ok(())
}

/// Refuses to carry balances into an opening period that already holds some: a year-end close
/// already posted there would be doubled. A rerun of the close task cancels the earlier
/// entries in their own period first, which brings the opening period back to zero.
fn refuse_existing_opening_balances(ledger: &dyn Ledger, entity: &EntityId, years: &Years) -> Result<(), StepError> {
    let opening = &years.next_opening.0;
    let query = BalanceQuery::new(entity.clone(), opening.clone(), opening.clone());
    let held = ledger
        .balances(&query)?
        .into_iter()
        .find(|row| !row.amount.is_zero() || !row.accounting_amount.is_zero());
    if let Some(row) = held {
        return Err(StepError::new(format!(
            "{opening} of entity {entity} already holds balances (account {} {} {}): year-end close of {} was \
             already posted, or opening balances were entered by hand; rerun the year-end task to replace its \
             entries, or reverse what was posted in {opening}",
            row.account, row.amount, row.currency, years.closed_year
        )));
    }
    Ok(())
}

/// The profit and loss that goes to retained earnings: per dimension set (close all) or on one
/// dimension set (close single), in accounting currency.
struct Transfer {
    mode: DimensionMode,
    /// Per dimension set, the sum of the profit-and-loss balances (debit positive): the amount
    /// retained earnings receives. Zero sums are left out.
    lines: Vec<(Vec<Dimension>, Decimal)>,
    /// The sum of every profit-and-loss balance: minus the net income.
    total: Decimal,
    /// How many profit-and-loss buckets were summed.
    buckets: usize,
}

impl Transfer {
    fn new(config: &Config, profit_and_loss: &[Bucket]) -> Result<Self, StepError> {
        let overflow = || StepError::new("the profit and loss of the year overflows when summed");
        let mut sums: BTreeMap<String, (Vec<Dimension>, Decimal)> = BTreeMap::new();
        let mut total = Decimal::ZERO;
        let single = config.single_dimension_set();
        // The key of each bucket's set is written into one buffer: a year's tens of thousands
        // of buckets fall into a few hundred sets, and only a new set allocates.
        let mut key = String::new();
        for bucket in profit_and_loss {
            total = total.checked_add(bucket.accounting_amount).ok_or_else(overflow)?;
            let dimensions = match config.dimension_mode {
                DimensionMode::CloseAll => &bucket.dimensions,
                DimensionMode::CloseSingle => &single,
            };
            key.clear();
            carry::write_canonical_dimensions(&mut key, dimensions);
            let sum = match sums.get_mut(key.as_str()) {
                Some(sum) => sum,
                None => sums
                    .entry(key.clone())
                    .or_insert_with(|| (dimensions.clone(), Decimal::ZERO)),
            };
            sum.1 = sum.1.checked_add(bucket.accounting_amount).ok_or_else(overflow)?;
        }
        Ok(Self {
            mode: config.dimension_mode,
            lines: sums.into_values().filter(|(_, amount)| !amount.is_zero()).collect(),
            total,
            buckets: profit_and_loss.len(),
        })
    }

    /// The balance-sheet buckets as they stand once the transfer has posted to retained
    /// earnings in the accounting currency, in carrying order, zero buckets left out.
    fn merge_into(&self, balance_sheet: Vec<Bucket>, entity: &EntityInfo) -> Result<Vec<Bucket>, StepError> {
        let mut merged: BTreeMap<BucketKey, Bucket> = BTreeMap::new();
        for bucket in balance_sheet {
            carry::add_to(&mut merged, bucket)?;
        }
        for (dimensions, amount) in &self.lines {
            carry::add_to(
                &mut merged,
                Bucket {
                    account: entity.retained_earnings_account.clone(),
                    dimensions: dimensions.clone(),
                    currency: entity.currency.clone(),
                    amount: *amount,
                    accounting_amount: *amount,
                },
            )?;
        }
        Ok(merged.into_values().filter(|bucket| !bucket.is_zero()).collect())
    }
}

/// What the opening entry carried, for the messages.
#[derive(Default)]
struct CarryCounts {
    buckets: usize,
    accounts: usize,
    lines_one_by_one: usize,
}

/// The opening entry (if there is anything to carry), its counts and its warnings.
struct Carried {
    entry: Option<ProposedEntry>,
    counts: CarryCounts,
    warnings: Vec<String>,
}

/// What every part of the run needs to read.
struct Context<'run> {
    input: &'run StepInput,
    ledger: &'run dyn Ledger,
    entity: &'run EntityInfo,
    accounting_currency: &'run CurrencyInfo,
    chart: &'run BTreeMap<AccountNumber, AccountInfo>,
    years: &'run Years,
    config: &'run Config,
}

impl Context<'_> {
    /// The closing entry in the closed year's closing period, dated its last day: every
    /// profit-and-loss bucket negated (in its currency and dimensions) against retained
    /// earnings per the transfer. `None` when there is no profit and loss to close.
    fn closing_entry(
        &self,
        profit_and_loss: &[Bucket],
        transfer: &Transfer,
    ) -> Result<Option<ProposedEntry>, StepError> {
        let Some((period, end)) = &self.years.closing_period else {
            return Err(StepError::new(format!(
                "fiscal year {} of entity {} has no closing period: closing_entries needs one; add it to the \
                 calendar or set closing_entries to false",
                self.years.closed_year, self.input.entity
            )));
        };
        let closed_year = &self.years.closed_year;
        let mut builder = JournalBuilder::new(
            self.input.entity.clone(),
            *end,
            format!("Year-end close {closed_year}: closing entry"),
        )
        .period(period.clone())
        .accounting_currency(self.entity.currency.clone());
        let description = format!("Closing of {closed_year} profit and loss");
        for bucket in profit_and_loss {
            let (lines, _) = carry::bucket_lines(&bucket.negated(), &self.entity.currency, &description)?;
            for line in lines {
                builder.push_line(line);
            }
        }
        for line in self.retained_earnings_lines(&transfer.lines) {
            builder.push_line(line);
        }
        if builder.lines().is_empty() {
            return Ok(None);
        }
        Ok(Some(builder.build()?))
    }

    /// Retained-earnings lines in the accounting currency receiving the profit and loss.
    fn retained_earnings_lines(&self, transfer: &[(Vec<Dimension>, Decimal)]) -> Vec<ProposedLine> {
        let description = format!("Net income {} transferred to retained earnings", self.years.closed_year);
        transfer
            .iter()
            .map(|(dimensions, amount)| {
                ProposedLine::new(self.entity.retained_earnings_account.clone(), *amount)
                    .dimensions(dimensions.iter().cloned())
                    .description(description.clone())
            })
            .collect()
    }

    /// The opening entry in the next year's opening period, dated its first day: the
    /// balance-sheet buckets (or, for settlement accounts with `carry_unsettled_lines`, their
    /// unsettled lines one by one and whatever else the bucket holds), then the
    /// retained-earnings lines.
    fn opening_entry(
        &self,
        balance_sheet: &[Bucket],
        retained_earnings: &[(Vec<Dimension>, Decimal)],
    ) -> Result<Carried, StepError> {
        let years = self.years;
        let (period, first_day) = &years.next_opening;
        let mut builder = JournalBuilder::new(
            self.input.entity.clone(),
            *first_day,
            format!(
                "Year-end close {}: opening balances {}",
                years.closed_year, years.next_year
            ),
        )
        .period(period.clone())
        .accounting_currency(self.entity.currency.clone());
        let description = format!("Balance carried from {}", years.closed_year);
        let mut counts = CarryCounts::default();
        let mut warnings = Vec::new();

        let mut per_account: BTreeMap<&AccountNumber, Vec<&Bucket>> = BTreeMap::new();
        for bucket in balance_sheet {
            per_account.entry(&bucket.account).or_default().push(bucket);
        }
        if self.config.carry_unsettled_lines {
            // A settlement account whose lines net to zero still has open items to carry.
            for account in self.chart.values() {
                if account.settle && account.account_type.is_balance_sheet() && !account.blocked {
                    per_account.entry(&account.number).or_default();
                }
            }
        }
        for (number, buckets) in per_account {
            let settle = self.chart.get(number).is_some_and(|account| account.settle);
            let lines_before = builder.lines().len();
            let mut residual: Vec<Bucket> = buckets.into_iter().cloned().collect();
            if self.config.carry_unsettled_lines && settle {
                residual = self.carry_unsettled_lines(number, residual, &mut builder, &mut counts)?;
            }
            for bucket in residual {
                let (lines, split) = carry::bucket_lines(&bucket, &self.entity.currency, &description)?;
                if split {
                    warnings.push(format!(
                        "{} holds {} {} at {} {}, which one line cannot carry: carried as the amount at 0 and the \
                         accounting amount in {}",
                        bucket.label(),
                        bucket.amount,
                        bucket.currency,
                        bucket.accounting_amount,
                        self.entity.currency,
                        self.entity.currency
                    ));
                }
                counts.buckets += 1;
                for line in lines {
                    builder.push_line(line);
                }
            }
            counts.accounts += usize::from(builder.lines().len() > lines_before);
        }
        for line in self.retained_earnings_lines(retained_earnings) {
            builder.push_line(line);
        }
        let entry = if builder.lines().is_empty() {
            None
        } else {
            Some(builder.build()?)
        };
        Ok(Carried {
            entry,
            counts,
            warnings,
        })
    }

    /// Carries the account's unsettled lines one by one and returns what its buckets hold
    /// beyond them (settled lines, which net to zero in accounting currency, and revaluation
    /// lines of amount 0, which cannot be carried on their own), non-zero buckets only.
    fn carry_unsettled_lines(
        &self,
        account: &AccountNumber,
        buckets: Vec<Bucket>,
        builder: &mut JournalBuilder,
        counts: &mut CarryCounts,
    ) -> Result<Vec<Bucket>, StepError> {
        let years = self.years;
        let lines = carry::unsettled_lines(
            self.ledger,
            &self.input.entity,
            account,
            &years.first_period,
            &years.last_period,
        )?;
        let mut residual: BTreeMap<BucketKey, Bucket> = BTreeMap::new();
        for bucket in buckets {
            carry::add_to(&mut residual, bucket)?;
        }
        let mut carried = 0usize;
        for line in &lines {
            if line.amount.is_zero() {
                continue;
            }
            builder.push_line(carry::posted_line(line, &self.entity.currency));
            let mut dimensions = line.dimensions.clone();
            dimensions.sort();
            carry::add_to(
                &mut residual,
                Bucket {
                    account: account.clone(),
                    dimensions,
                    currency: line.currency.clone(),
                    amount: -line.amount,
                    accounting_amount: -line.accounting_amount,
                },
            )?;
            carried += 1;
        }
        counts.lines_one_by_one += carried;
        self.ledger.debug(&format!(
            "account {account}: carried {carried} of {} unsettled lines one by one",
            lines.len()
        ));
        Ok(residual.into_values().filter(|bucket| !bucket.is_zero()).collect())
    }

    /// The reviewer's summary: what was carried, what went to retained earnings, net income.
    fn summary(&self, counts: &CarryCounts, transfer: &Transfer) -> Vec<String> {
        let years = self.years;
        let currency = &self.entity.currency;
        let zero = Decimal::new(0, u32::from(self.accounting_currency.minor_units));
        let mut carried = format!(
            "balance sheet: {} {} of {} {} carried into {}",
            counts.buckets,
            plural(counts.buckets, "bucket", "buckets"),
            counts.accounts,
            plural(counts.accounts, "account", "accounts"),
            years.next_opening.0
        );
        if self.config.carry_unsettled_lines {
            carried.push_str(&format!(
                ", and {} unsettled {} of settlement accounts one by one",
                counts.lines_one_by_one,
                plural(counts.lines_one_by_one, "line", "lines")
            ));
        }
        let transferred = if transfer.lines.is_empty() {
            format!(
                "profit and loss of {}: {} {} netting to zero: nothing transferred to retained earnings",
                years.closed_year,
                transfer.buckets,
                plural(transfer.buckets, "bucket", "buckets")
            )
        } else {
            let place = match &years.closing_period {
                Some((period, _)) if self.config.closing_entries => format!(
                    "by the closing entry in {period}; the opening entry carries retained earnings including it"
                ),
                _ => format!("in the opening entry in {}", years.next_opening.0),
            };
            format!(
                "profit and loss of {}: {} {} netting to {} {currency} transferred to retained earnings account {} \
                 in {} {} ({}) {place}",
                years.closed_year,
                transfer.buckets,
                plural(transfer.buckets, "bucket", "buckets"),
                zero + transfer.total,
                self.entity.retained_earnings_account,
                transfer.lines.len(),
                plural(transfer.lines.len(), "line", "lines"),
                transfer.mode.name()
            )
        };
        let net_income = if transfer.total.is_zero() {
            zero
        } else {
            zero - transfer.total
        };
        vec![
            carried,
            transferred,
            format!("net income {}: {net_income} {currency}", years.closed_year),
        ]
    }
}

fn plural<'word>(count: usize, one: &'word str, many: &'word str) -> &'word str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountFilter, AccountType, BalanceRow, LineQuery, ProposedSettlement};

    use super::*;
    use crate::carry::canonical_dimensions;

    /// ACME keeps its books in USD; retained earnings 3900. Receivables (1100) are settled,
    /// the EUR bank account (1200) is revalued. Fiscal years 2026 and, unless `next_year` is
    /// false, 2027. No postings.
    fn empty_ledger(next_year: bool) -> TestLedger {
        let mut ledger = TestLedger::new();
        let mut receivables = AccountInfo::new("1100", "Receivables", AccountType::Asset);
        receivables.settle = true;
        let mut bank = AccountInfo::new("1200", "Bank EUR", AccountType::Asset);
        bank.revalue = true;
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_dimension("department", ["100", "200"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1000", "Cash", AccountType::Asset))
            .add_account("ACME", receivables)
            .add_account("ACME", bank)
            .add_account("ACME", AccountInfo::new("2000", "Payables", AccountType::Liability))
            .add_account("ACME", AccountInfo::new("3000", "Share capital", AccountType::Equity))
            .add_account(
                "ACME",
                AccountInfo::new("3900", "Retained earnings", AccountType::Equity),
            )
            .add_account("ACME", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_account("ACME", AccountInfo::new("6000", "Salaries", AccountType::Expense))
            .add_account("ACME", AccountInfo::new("6100", "Rent", AccountType::Expense))
            .add_account(
                "ACME",
                AccountInfo::new("7200", "Unrealized loss", AccountType::Expense),
            )
            .add_fiscal_year("ACME", 2026);
        if next_year {
            ledger.add_fiscal_year("ACME", 2027);
        }
        ledger
    }

    /// FY2026: opening balances of 500 EUR at 1,000.00 USD on the bank, share capital 800.00
    /// and retained earnings 200.00; January revalues the EUR to 833.33 (a loss of 166.67);
    /// sales of 1,500.00 (department 100) and 700.00 (department 200) on account; salaries
    /// 900.00 (department 100) and rent 300.00 (no department) owed.
    /// Profit and loss: −1,500 − 700 + 900 + 300 + 166.67 = −833.33, a net income of 833.33.
    fn ledger_with_year(next_year: bool) -> TestLedger {
        let mut ledger = empty_ledger(next_year);
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-01"), "Opening balances")
                .period("FY2026-opening")
                .line(foreign("1200", "500.00", "EUR", "1000.00"))
                .credit("3000", decimal("800.00"))
                .credit("3900", decimal("200.00"))
                .build()
                .unwrap(),
        );
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-31"), "Revaluation")
                .line(foreign("1200", "0", "EUR", "-166.67"))
                .debit("7200", decimal("166.67"))
                .build()
                .unwrap(),
        );
        for (day, department, amount) in [("2026-03-10", "100", "1500.00"), ("2026-04-10", "200", "700.00")] {
            ledger.post(
                JournalBuilder::new("ACME", date(day), format!("Invoice department {department}"))
                    .line(ProposedLine::new("1100", decimal(amount)).dimension("department", department))
                    .line(ProposedLine::new("4000", -decimal(amount)).dimension("department", department))
                    .build()
                    .unwrap(),
            );
        }
        ledger.post(
            JournalBuilder::new("ACME", date("2026-05-31"), "Salaries")
                .line(ProposedLine::new("6000", decimal("900.00")).dimension("department", "100"))
                .credit("2000", decimal("900.00"))
                .build()
                .unwrap(),
        );
        ledger.post(
            JournalBuilder::new("ACME", date("2026-06-30"), "Rent")
                .debit("6100", decimal("300.00"))
                .credit("2000", decimal("300.00"))
                .build()
                .unwrap(),
        );
        ledger
    }

    fn run(ledger: &TestLedger, period: &str, config: Value) -> Result<StepOutput, StepError> {
        ledger.run_step::<YearEnd>(ledger.step_input("ACME", period, config))
    }

    fn foreign(account: &str, amount: &str, currency: &str, accounting_amount: &str) -> ProposedLine {
        ProposedLine::new(account, decimal(amount))
            .currency(currency)
            .accounting_amount(decimal(accounting_amount))
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

    /// Per account, the accounting balance over a period range, non-zero accounts only.
    fn balances(ledger: &TestLedger, from: &str, to: &str) -> Vec<(String, Decimal)> {
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        for row in ledger.balances(&BalanceQuery::new("ACME", from, to)).unwrap() {
            *totals.entry(row.account.to_string()).or_default() += row.accounting_amount;
        }
        totals.into_iter().filter(|(_, amount)| !amount.is_zero()).collect()
    }

    fn texts(output: &StepOutput) -> Vec<&str> {
        output.messages.iter().map(|message| message.text.as_str()).collect()
    }

    const BALANCE_SHEET_LINES: [&str; 6] = [
        "1100 1500.00 [department=100]",
        "1100 700.00 [department=200]",
        "1200 EUR 500.00 / 833.33",
        "2000 -1200.00",
        "3000 -800.00",
        "3900 -200.00",
    ];

    #[test]
    fn the_opening_entry_carries_the_balance_sheet_and_moves_net_income_to_retained_earnings() {
        // Balance sheet: 1,500 + 700 + 833.33 − 1,200 − 800 − 200 = 833.33; the EUR bucket
        // stays 500 EUR at its revalued 833.33 USD. Profit and loss −833.33 goes to retained
        // earnings per department (close all): none 300 + 166.67 = 466.67, department 100
        // −1,500 + 900 = −600.00, department 200 −700.00. The entry sums to zero.
        let mut ledger = ledger_with_year(true);
        let output = run(&ledger, "2026-12", json!({})).unwrap();
        assert_eq!(output.entries.len(), 1);
        let entry = &output.entries[0];
        assert_eq!(entry.date, date("2027-01-01"));
        assert_eq!(entry.period.as_ref().unwrap(), "FY2027-opening");
        assert_eq!(entry.description, "Year-end close FY2026: opening balances FY2027");
        let mut expected: Vec<&str> = BALANCE_SHEET_LINES.to_vec();
        expected.extend([
            "3900 466.67",
            "3900 -600.00 [department=100]",
            "3900 -700.00 [department=200]",
        ]);
        assert_eq!(lines(entry), expected);
        assert_eq!(entry.imbalance(Some(&"USD".into())).unwrap(), Decimal::ZERO);
        assert_eq!(
            texts(&output),
            [
                "balance sheet: 6 buckets of 5 accounts carried into FY2027-opening",
                "profit and loss of FY2026: 5 buckets netting to -833.33 USD transferred to retained earnings account \
                 3900 in 3 lines (close-all) in the opening entry in FY2027-opening",
                "net income FY2026: 833.33 USD",
            ]
        );

        // Posted, the new year opens with balance-sheet accounts only; retained earnings is
        // the old −200.00 plus −833.33 of net income.
        ledger.post_output(&output);
        assert_eq!(
            balances(&ledger, "FY2027-opening", "FY2027-opening"),
            [
                ("1100".to_owned(), decimal("2200.00")),
                ("1200".to_owned(), decimal("833.33")),
                ("2000".to_owned(), decimal("-1200.00")),
                ("3000".to_owned(), decimal("-800.00")),
                ("3900".to_owned(), decimal("-1033.33")),
            ]
        );
        let euros = ledger
            .balances(
                &BalanceQuery::new("ACME", "FY2027-opening", "FY2027-opening")
                    .accounts(AccountFilter::List(vec!["1200".into()]))
                    .currency("EUR"),
            )
            .unwrap();
        assert_eq!(
            (euros[0].amount, euros[0].accounting_amount),
            (decimal("500.00"), decimal("833.33"))
        );
    }

    #[test]
    fn close_single_sends_everything_to_one_dimension_set_or_none() {
        // The same −833.33 lands on one retained-earnings line: department 100, or no
        // dimension when single_dimensions is empty.
        let ledger = ledger_with_year(true);
        let named = run(
            &ledger,
            "2026-12",
            json!({ "dimension_mode": "close-single", "single_dimensions": { "department": "100" } }),
        )
        .unwrap();
        let mut expected: Vec<&str> = BALANCE_SHEET_LINES.to_vec();
        expected.push("3900 -833.33 [department=100]");
        assert_eq!(lines(&named.entries[0]), expected);

        let blank = run(&ledger, "2026-12", json!({ "dimension_mode": "close-single" })).unwrap();
        expected.pop();
        expected.push("3900 -833.33");
        assert_eq!(lines(&blank.entries[0]), expected);
        assert!(texts(&blank)[1].contains("in 1 line (close-single)"));
    }

    #[test]
    fn the_closing_period_may_run_it_but_no_other_period() {
        // FY2026-closing gives the same entry as 2026-12; a mid-year month and the opening
        // period are refused, naming where to run it.
        let ledger = ledger_with_year(true);
        let december = run(&ledger, "2026-12", json!({})).unwrap();
        let closing = run(&ledger, "FY2026-closing", json!({})).unwrap();
        assert_eq!(december.entries, closing.entries);
        for period in ["2026-06", "FY2026-opening"] {
            let error = run(&ledger, period, json!({})).unwrap_err();
            assert_eq!(
                error.message,
                format!(
                    "year-end close runs in the last operating period or the closing period of a fiscal year, not in \
                     {period}: run it for FY2026 in 2026-12 or FY2026-closing"
                )
            );
        }
    }

    #[test]
    fn a_missing_next_year_is_refused() {
        // Without FY2027 there is no opening period to carry into.
        let ledger = ledger_with_year(false);
        let error = run(&ledger, "2026-12", json!({})).unwrap_err();
        assert_eq!(
            error.message,
            "fiscal year FY2027 does not exist for entity ACME: year-end close of FY2026 carries balances into \
             FY2027's opening period; add FY2027 to the fiscal calendar first"
        );
    }

    #[test]
    fn a_second_run_after_posting_is_refused() {
        // The opening period already holds the first run's balances: running again would
        // double them.
        let mut ledger = ledger_with_year(true);
        let output = run(&ledger, "2026-12", json!({})).unwrap();
        ledger.post_output(&output);
        let error = run(&ledger, "2026-12", json!({})).unwrap_err();
        assert!(
            error
                .message
                .starts_with("FY2027-opening of entity ACME already holds balances (account 1100 2200.00 USD)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn unsettled_lines_of_settlement_accounts_are_carried_one_by_one() {
        // Department 100's invoice of 1,500.00 is paid and settled against the payment; a
        // second invoice of 250.00 goes to department 200. Receivables hold 700 + 250 = 950.00
        // in department 200 and 0 in department 100. One by one: the two open invoices with
        // their descriptions; the settled pair nets to zero and is not carried. The bucket
        // total is what a plain run carries.
        let mut ledger = ledger_with_year(true);
        let payment = ledger.post(
            JournalBuilder::new("ACME", date("2026-07-15"), "Payment department 100")
                .debit("1000", decimal("1500.00"))
                .line(ProposedLine::new("1100", decimal("-1500.00")).dimension("department", "100"))
                .build()
                .unwrap(),
        );
        let invoice = ledger
            .posted_lines("ACME")
            .iter()
            .find(|line| line.account == "1100" && line.amount == decimal("1500.00"))
            .unwrap()
            .id;
        ledger.settle(&ProposedSettlement {
            entity: "ACME".into(),
            line_ids: vec![invoice, payment[1]],
        });
        ledger.post(
            JournalBuilder::new("ACME", date("2026-08-10"), "Second invoice department 200")
                .line(ProposedLine::new("1100", decimal("250.00")).dimension("department", "200"))
                .line(ProposedLine::new("4000", decimal("-250.00")).dimension("department", "200"))
                .build()
                .unwrap(),
        );

        let plain = run(&ledger, "2026-12", json!({})).unwrap();
        let one_by_one = run(&ledger, "2026-12", json!({ "carry_unsettled_lines": true })).unwrap();
        let receivables = |entry: &ProposedEntry| -> Vec<ProposedLine> {
            entry
                .lines
                .iter()
                .filter(|line| line.account == "1100")
                .cloned()
                .collect()
        };
        let plain_lines = receivables(&plain.entries[0]);
        assert_eq!(
            lines(&ProposedEntry {
                lines: plain_lines.clone(),
                ..plain.entries[0].clone()
            }),
            ["1100 950.00 [department=200]"]
        );
        let carried = receivables(&one_by_one.entries[0]);
        let described: Vec<(String, &str)> = carried
            .iter()
            .map(|line| (line.amount.to_string(), line.description.as_deref().unwrap()))
            .collect();
        assert_eq!(
            described,
            [
                ("700.00".to_owned(), "Invoice department 200"),
                ("250.00".to_owned(), "Second invoice department 200"),
            ]
        );
        let total = |lines: &[ProposedLine]| lines.iter().map(|line| line.amount).sum::<Decimal>();
        assert_eq!(total(&carried), total(&plain_lines), "settled lines must net to zero");
        assert!(
            carried
                .iter()
                .all(|line| line.dimensions == [Dimension::new("department", "200")])
        );
        assert_eq!(
            texts(&one_by_one)[0],
            "balance sheet: 5 buckets of 6 accounts carried into FY2027-opening, and 2 unsettled lines of settlement \
             accounts one by one"
        );
        // Posted, the new year's receivables are the two open invoices, still unsettled.
        ledger.post_output(&one_by_one);
        let reader: &dyn Ledger = &ledger;
        let open = reader
            .all_lines(LineQuery::new("ACME", "1100", "FY2027-opening", "FY2027-opening").exclude_settled())
            .count();
        assert_eq!(open, 2);
    }

    #[test]
    fn closing_entries_zero_profit_and_loss_and_the_opening_entry_carries_retained_earnings_with_it() {
        // The closing entry, dated 2026-12-31 in FY2026-closing, negates each profit-and-loss
        // bucket against retained earnings per department. Retained earnings then stands at
        // −200.00 + 466.67 = 266.67 without department, −600.00 in 100 and −700.00 in 200,
        // and the opening entry carries exactly that, with no separate transfer line: the new
        // year opens as it does without closing entries.
        let mut ledger = ledger_with_year(true);
        let output = run(&ledger, "2026-12", json!({ "closing_entries": true })).unwrap();
        assert_eq!(output.entries.len(), 2);
        let closing = &output.entries[0];
        assert_eq!(closing.date, date("2026-12-31"));
        assert_eq!(closing.period.as_ref().unwrap(), "FY2026-closing");
        assert_eq!(
            lines(closing),
            [
                "4000 1500.00 [department=100]",
                "4000 700.00 [department=200]",
                "6000 -900.00 [department=100]",
                "6100 -300.00",
                "7200 -166.67",
                "3900 466.67",
                "3900 -600.00 [department=100]",
                "3900 -700.00 [department=200]",
            ]
        );
        let opening = &output.entries[1];
        assert_eq!(opening.period.as_ref().unwrap(), "FY2027-opening");
        assert_eq!(
            lines(opening),
            [
                "1100 1500.00 [department=100]",
                "1100 700.00 [department=200]",
                "1200 EUR 500.00 / 833.33",
                "2000 -1200.00",
                "3000 -800.00",
                "3900 266.67",
                "3900 -600.00 [department=100]",
                "3900 -700.00 [department=200]",
            ]
        );
        assert!(texts(&output)[1].ends_with(
            "by the closing entry in FY2026-closing; the opening entry carries retained earnings including it"
        ));

        let without = run(&ledger, "2026-12", json!({})).unwrap();
        ledger.post_output(&output);
        // Profit and loss is zero through the closing period; December alone still shows it.
        let profit_and_loss = |from: &str, to: &str| -> Vec<BalanceRow> {
            ledger
                .balances(
                    &BalanceQuery::new("ACME", from, to)
                        .accounts(AccountFilter::Types(vec![AccountType::Revenue, AccountType::Expense])),
                )
                .unwrap()
        };
        assert!(
            profit_and_loss("FY2026-opening", "FY2026-closing")
                .iter()
                .all(|row| row.accounting_amount.is_zero())
        );
        assert!(!profit_and_loss("FY2026-opening", "2026-12").is_empty());
        assert_eq!(
            balances(&ledger, "FY2026-opening", "FY2026-closing")
                .iter()
                .find(|(account, _)| account == "3900")
                .unwrap()
                .1,
            decimal("-1033.33")
        );
        // The same opening balances per account as a run without closing entries.
        let mut plain = empty_ledger(true);
        plain.post(without.entries[0].clone());
        assert_eq!(
            balances(&ledger, "FY2027-opening", "FY2027-opening"),
            balances(&plain, "FY2027-opening", "FY2027-opening")
        );
    }

    #[test]
    fn describes_itself_with_a_closed_schema() {
        // The schema is what `closebook plugin inspect` shows and the host validates against.
        let info = YearEnd::describe();
        assert_eq!(info.name, "year-end");
        assert_eq!(info.config_schema["additionalProperties"], false);
    }
}
