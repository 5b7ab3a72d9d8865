//! The standard automatic ledger settlement close step (DOMAIN.md section 5): for each account
//! enabled for settlement, read the unsettled posted lines of the run's fiscal year (opening
//! period to run period) page by page, and propose a settlement for every pair of lines with
//! exactly opposite accounting-currency amounts (optionally also the same dimensions), oldest
//! first, each line used once. There is no partial and no many-to-one matching: that is for a
//! person. The host validates every settlement again (one account, one fiscal year, sum zero,
//! not already settled, account enabled) and records them all or none.
//!
//! Oldest first means by entry date, then line id: within each amount, the k-th oldest debit
//! settles with the k-th oldest credit, which is what matching each line against the oldest
//! open opposite line, in date order, gives.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use closebook_plugin_sdk::chrono::NaiveDate;
use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{
    AccountNumber, CloseStep, Dimension, LINE_PAGE_SIZE_DEFAULT, Ledger, Level, LineId, LineQuery, PeriodInfo,
    PeriodKind, PeriodStatus, ProposedSettlement, StepError, StepInfo, StepInput, StepOutput,
};
use serde::Deserialize;

/// The largest page of lines the step asks for; the host caps pages at 10,000 lines too.
pub const PAGE_SIZE_MAX: u32 = 10_000;

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The accounts to settle; every account enabled for settlement when absent.
    #[serde(default)]
    pub accounts: Option<Vec<AccountNumber>>,
    /// Settle only lines that also carry the same dimension values.
    #[serde(default)]
    pub same_dimensions: bool,
    /// Lines asked for per page.
    #[serde(default = "page_size_default")]
    pub page_size: u32,
}

fn page_size_default() -> u32 {
    LINE_PAGE_SIZE_DEFAULT
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "auto-settle configuration",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "accounts": {
                "description": "The accounts to settle, each enabled for settlement; every such account when absent.",
                "type": "array",
                "items": { "type": "string", "minLength": 1 },
                "minItems": 1
            },
            "same_dimensions": {
                "description": "Settle only lines that also carry the same dimension values.",
                "type": "boolean",
                "default": false
            },
            "page_size": {
                "description": "Lines read per page.",
                "type": "integer",
                "minimum": 1,
                "maximum": PAGE_SIZE_MAX,
                "default": LINE_PAGE_SIZE_DEFAULT
            }
        }
    })
}

/// The automatic settlement step.
pub struct AutoSettle;

impl CloseStep for AutoSettle {
    fn describe() -> StepInfo {
        StepInfo::new(
            "auto-settle",
            env!("CARGO_PKG_VERSION"),
            "Settles exact one-to-one opposite amounts on settlement-enabled accounts, oldest first.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        if !(1..=PAGE_SIZE_MAX).contains(&config.page_size) {
            return Err(StepError::new(format!(
                "page_size {} is out of range: give 1 to {PAGE_SIZE_MAX}",
                config.page_size
            )));
        }
        if !input.may_post(&input.entity) {
            return Err(StepError::new(format!(
                "the task may not settle in entity {}: grant it posting access",
                input.entity
            )));
        }
        let first_period = first_period_of_open_year(&input, ledger)?;
        let accounts = accounts_to_settle(&input, ledger, &config)?;
        let mut output = StepOutput::new();
        if accounts.is_empty() {
            output.push_message(
                Level::Info,
                format!(
                    "no account of entity {} is enabled for settlement: nothing to do",
                    input.entity
                ),
            );
            return Ok(output);
        }
        for account in accounts {
            let query = LineQuery::new(
                input.entity.clone(),
                account.clone(),
                first_period.clone(),
                input.period.name.clone(),
            )
            .exclude_settled()
            .limit(config.page_size);
            let mut open_items = OpenItems::default();
            for line in ledger.all_lines(query) {
                let line = line?;
                // A line of zero settles nothing, and a revaluation adjustment (transaction
                // amount 0) is not an open item of its own.
                if line.accounting_amount.is_zero() || line.amount.is_zero() {
                    continue;
                }
                let dimensions = if config.same_dimensions {
                    line.dimensions
                } else {
                    Vec::new()
                };
                open_items.add(line.accounting_amount, dimensions, line.date, line.id);
            }
            let lines_read = open_items.lines;
            let pairs = open_items.pairs();
            let text = format!(
                "account {account}: {} settlement(s) of two lines each, {} of {lines_read} unsettled line(s) left \
                 unmatched",
                pairs.len(),
                lines_read - 2 * pairs.len()
            );
            ledger.info(&text);
            output.push_message(Level::Info, text);
            for (older, newer) in pairs {
                output.push_settlement(ProposedSettlement {
                    entity: input.entity.clone(),
                    line_ids: vec![older, newer],
                });
            }
        }
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(AutoSettle);

/// A line's place in "oldest first": its entry date, then its id.
type Age = (NaiveDate, LineId);

/// What two lines must share to settle together: the size of their accounting amount and, with
/// `same_dimensions`, their dimension values.
type MatchKey = (Decimal, Vec<Dimension>);

/// The unsettled lines of one account, grouped by what must match: the size of the accounting
/// amount and, with `same_dimensions`, the dimension values. Each group keeps its debits and
/// its credits apart.
#[derive(Default)]
struct OpenItems {
    /// Per key, the debits and the credits. Hashed, not ordered: a close reads hundreds of
    /// thousands of lines, and ordered keys cost a decimal comparison at every level of the
    /// tree (bench/results.md has the step's fuel before and after). The groups' order never
    /// shows: [`OpenItems::pairs`] sorts what it returns. The hasher's keys are fixed, so a
    /// rerun consumes the same fuel too.
    groups: HashMap<MatchKey, (Vec<Age>, Vec<Age>), BuildHasherDefault<DefaultHasher>>,
    lines: usize,
}

impl OpenItems {
    fn add(&mut self, accounting_amount: Decimal, dimensions: Vec<Dimension>, date: NaiveDate, id: LineId) {
        // normalize() so that 12000.00 and 12000.0 fall in the same group.
        let (debits, credits) = self
            .groups
            .entry((accounting_amount.abs().normalize(), dimensions))
            .or_default();
        if accounting_amount.is_sign_positive() {
            debits.push((date, id));
        } else {
            credits.push((date, id));
        }
        self.lines += 1;
    }

    /// The settlements, oldest first: in each group the k-th oldest debit with the k-th oldest
    /// credit; every pair as (older line, newer line), pairs ordered by their older line.
    fn pairs(self) -> Vec<(LineId, LineId)> {
        let mut pairs: Vec<(Age, Age)> = Vec::new();
        for (_, (mut debits, mut credits)) in self.groups {
            debits.sort_unstable();
            credits.sort_unstable();
            for (debit, credit) in debits.into_iter().zip(credits) {
                pairs.push((debit.min(credit), debit.max(credit)));
            }
        }
        pairs.sort_unstable();
        pairs.into_iter().map(|(older, newer)| (older.1, newer.1)).collect()
    }
}

/// The first period of the run period's fiscal year, refusing a year that is closed (its
/// closing period permanently closed): the host would refuse every settlement in it.
fn first_period_of_open_year(
    input: &StepInput,
    ledger: &dyn Ledger,
) -> Result<closebook_plugin_sdk::PeriodName, StepError> {
    let fiscal_year = &input.period.fiscal_year;
    let periods: Vec<PeriodInfo> = ledger.periods(&input.entity, Some(fiscal_year))?;
    let closed = periods
        .iter()
        .any(|period| period.kind == PeriodKind::Closing && period.status == PeriodStatus::PermanentlyClosed);
    if closed {
        return Err(StepError::new(format!(
            "fiscal year {fiscal_year} of entity {} is closed: no settling in a closed year",
            input.entity
        )));
    }
    match periods.into_iter().next() {
        Some(first) => Ok(first.name),
        None => Err(StepError::new(format!(
            "fiscal year {fiscal_year} of entity {} has no periods",
            input.entity
        ))),
    }
}

/// The configured accounts, each checked to exist and be enabled for settlement, or every
/// enabled account of the chart.
fn accounts_to_settle(
    input: &StepInput,
    ledger: &dyn Ledger,
    config: &Config,
) -> Result<Vec<AccountNumber>, StepError> {
    let chart = ledger.accounts(&input.entity)?;
    let Some(configured) = &config.accounts else {
        return Ok(chart
            .into_iter()
            .filter(|account| account.settle)
            .map(|account| account.number)
            .collect());
    };
    let mut accounts = Vec::with_capacity(configured.len());
    for number in configured {
        let Some(account) = chart.iter().find(|account| &account.number == number) else {
            return Err(StepError::new(format!(
                "account {number} does not exist in entity {}: fix the step configuration",
                input.entity
            )));
        };
        if !account.settle {
            return Err(StepError::new(format!(
                "account {number} is not enabled for settlement: set `settle = true` on it in setup, or remove it \
                 from accounts"
            )));
        }
        if !accounts.contains(number) {
            accounts.push(number.clone());
        }
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use closebook_plugin_sdk::serde_json::json;
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{
        AccountInfo, AccountType, BalanceQuery, BalanceRow, CurrencyCode, CurrencyInfo, DimensionInfo, EntityId,
        EntityInfo, JournalBuilder, LinePage, ProposedLine, QueryError,
    };

    use super::*;

    /// ACME (USD) with fiscal years 2025 and 2026; receivables 1100 and payables 2000 are
    /// enabled for settlement, sales 4000 is not.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        let settled = |number: &str, name: &str, account_type| {
            let mut account = AccountInfo::new(number, name, account_type);
            account.settle = true;
            account
        };
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_dimension("department", ["100", "200"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1000", "Bank", AccountType::Asset))
            .add_account("ACME", settled("1100", "Receivables", AccountType::Asset))
            .add_account("ACME", settled("2000", "Payables", AccountType::Liability))
            .add_account("ACME", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_fiscal_year("ACME", 2025)
            .add_fiscal_year("ACME", 2026);
        ledger
    }

    /// Posts `amount` on `account` (against the bank) and returns the id of the account's line.
    fn post(ledger: &mut TestLedger, day: &str, account: &str, amount: &str) -> LineId {
        post_line(ledger, day, ProposedLine::new(account, decimal(amount)))
    }

    fn post_line(ledger: &mut TestLedger, day: &str, line: ProposedLine) -> LineId {
        let amount = line.accounting_amount.unwrap_or(line.amount);
        let ids = ledger.post(
            JournalBuilder::new("ACME", date(day), format!("{} on {day}", line.account))
                .line(line)
                .credit("1000", amount)
                .build_unchecked(),
        );
        ids[0]
    }

    fn run(ledger: &TestLedger, config: Value) -> StepOutput {
        ledger
            .run_step::<AutoSettle>(ledger.step_input("ACME", "2026-03", config))
            .unwrap()
    }

    fn settled_pairs(output: &StepOutput) -> Vec<Vec<LineId>> {
        output
            .settlements
            .iter()
            .map(|settlement| settlement.line_ids.clone())
            .collect()
    }

    #[test]
    fn matches_exact_opposites_oldest_first_and_leaves_the_rest() {
        // Two invoices of 100.00 and one payment of 100.00: the payment settles the older
        // invoice. The 250.00 invoice and the 40.00 part-payment have no exact opposite and are
        // left alone (no partial matching).
        let mut ledger = ledger();
        let older = post(&mut ledger, "2026-01-05", "1100", "100.00");
        let newer = post(&mut ledger, "2026-01-10", "1100", "100.00");
        post(&mut ledger, "2026-01-12", "1100", "250.00");
        let payment = post(&mut ledger, "2026-02-20", "1100", "-100.00");
        post(&mut ledger, "2026-03-01", "1100", "-40.00");
        let output = run(&ledger, json!({}));
        assert_eq!(settled_pairs(&output), [vec![older, payment]]);
        assert!(!settled_pairs(&output).concat().contains(&newer));
        assert_eq!(
            output.messages[0].text,
            "account 1100: 1 settlement(s) of two lines each, 3 of 5 unsettled line(s) left unmatched"
        );
        assert_eq!(
            output.messages[1].text,
            "account 2000: 0 settlement(s) of two lines each, 0 of 0 unsettled line(s) left unmatched"
        );
    }

    #[test]
    fn oldest_means_by_date_before_posting_order() {
        // An invoice dated 2 January but posted after one dated 15 January is the older one.
        // Pairs list the older line first, and pairs come in order of their older line.
        let mut ledger = ledger();
        let january_15 = post(&mut ledger, "2026-01-15", "2000", "-300.00");
        let january_2 = post(&mut ledger, "2026-01-02", "2000", "-300.00");
        let payment = post(&mut ledger, "2026-01-20", "2000", "300.00");
        let refund = post(&mut ledger, "2026-01-01", "2000", "75.50");
        let refund_reversal = post(&mut ledger, "2026-01-31", "2000", "-75.50");
        let output = run(&ledger, json!({ "accounts": ["2000"] }));
        assert_eq!(
            settled_pairs(&output),
            [vec![refund, refund_reversal], vec![january_2, payment]]
        );
        assert!(!settled_pairs(&output).concat().contains(&january_15));
    }

    #[test]
    fn same_dimensions_requires_the_same_dimension_values() {
        // A bill for department 100 and a payment tagged department 200 match on amount alone,
        // but not with same_dimensions; a payment tagged 100 does.
        let mut ledger = ledger();
        let tagged = |amount: &str, department: &str| {
            ProposedLine::new("2000", decimal(amount)).dimension("department", department)
        };
        let bill = post_line(&mut ledger, "2026-01-10", tagged("-500.00", "100"));
        let other_payment = post_line(&mut ledger, "2026-01-20", tagged("500.00", "200"));
        let output = run(&ledger, json!({ "accounts": ["2000"] }));
        assert_eq!(settled_pairs(&output), [vec![bill, other_payment]]);
        let output = run(&ledger, json!({ "accounts": ["2000"], "same_dimensions": true }));
        assert!(output.settlements.is_empty());
        let payment = post_line(&mut ledger, "2026-01-25", tagged("500.00", "100"));
        let output = run(&ledger, json!({ "accounts": ["2000"], "same_dimensions": true }));
        assert_eq!(settled_pairs(&output), [vec![bill, payment]]);
    }

    /// A ledger that counts the `lines` pages it serves.
    struct CountingLedger<'ledger> {
        inner: &'ledger TestLedger,
        pages: Cell<u32>,
    }

    impl Ledger for CountingLedger<'_> {
        fn entity(&self, entity: &EntityId) -> Result<EntityInfo, QueryError> {
            self.inner.entity(entity)
        }
        fn currencies(&self) -> Vec<CurrencyInfo> {
            self.inner.currencies()
        }
        fn accounts(&self, entity: &EntityId) -> Result<Vec<AccountInfo>, QueryError> {
            self.inner.accounts(entity)
        }
        fn dimensions(&self) -> Vec<DimensionInfo> {
            self.inner.dimensions()
        }
        fn periods(&self, entity: &EntityId, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, QueryError> {
            self.inner.periods(entity, fiscal_year)
        }
        fn balances(&self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, QueryError> {
            self.inner.balances(query)
        }
        fn lines(&self, query: &LineQuery) -> Result<LinePage, QueryError> {
            self.pages.set(self.pages.get() + 1);
            self.inner.lines(query)
        }
        fn rate(
            &self,
            from: &CurrencyCode,
            to: &CurrencyCode,
            rate_type: &str,
            on: NaiveDate,
        ) -> Result<Option<Decimal>, QueryError> {
            self.inner.rate(from, to, rate_type, on)
        }
        fn log(&self, level: Level, message: &str) {
            self.inner.log(level, message);
        }
    }

    #[test]
    fn pages_through_large_accounts() {
        // 30 invoices of 1.00 to 30.00 in January, then their 30 payments in reverse order in
        // February: each payment's invoice is pages away. With 7 lines a page, 60 lines take 9
        // pages of 1100 (the ninth holds 4 lines) and one empty page of 2000, and every invoice
        // settles with its own payment.
        let mut ledger = ledger();
        let mut invoices = Vec::new();
        for number in 1..=30 {
            invoices.push(post(&mut ledger, "2026-01-10", "1100", &format!("{number}.00")));
        }
        let mut payments = Vec::new();
        for number in (1..=30).rev() {
            payments.push(post(&mut ledger, "2026-02-10", "1100", &format!("-{number}.00")));
        }
        payments.reverse();
        let counting = CountingLedger {
            inner: &ledger,
            pages: Cell::new(0),
        };
        let input = ledger.step_input("ACME", "2026-03", json!({ "page_size": 7 }));
        let output = AutoSettle::run(input, &counting).unwrap();
        assert_eq!(counting.pages.get(), 9 + 1);
        let expected: Vec<Vec<LineId>> = invoices
            .iter()
            .zip(&payments)
            .map(|(invoice, payment)| vec![*invoice, *payment])
            .collect();
        assert_eq!(settled_pairs(&output), expected);
    }

    #[test]
    fn settled_lines_and_other_years_are_left_out() {
        // Lines already settled are not offered again, so after posting a run's settlements a
        // second run proposes nothing. A 2025 invoice never settles with a 2026 payment.
        let mut ledger = ledger();
        let first = post(&mut ledger, "2026-01-05", "1100", "100.00");
        let second = post(&mut ledger, "2026-01-06", "1100", "-100.00");
        ledger.settle(&ProposedSettlement {
            entity: "ACME".into(),
            line_ids: vec![first, second],
        });
        post(&mut ledger, "2025-12-15", "1100", "80.00");
        post(&mut ledger, "2026-01-15", "1100", "-80.00");
        let invoice = post(&mut ledger, "2026-02-01", "1100", "100.00");
        let payment = post(&mut ledger, "2026-02-11", "1100", "-100.00");
        let output = run(&ledger, json!({ "accounts": ["1100"] }));
        assert_eq!(settled_pairs(&output), [vec![invoice, payment]]);
        ledger.post_output(&output);
        let again = run(&ledger, json!({ "accounts": ["1100"] }));
        assert!(again.settlements.is_empty());
    }

    #[test]
    fn revaluation_adjustments_are_not_open_items() {
        // A revaluation line (0.00 EUR, 20.00 USD) exactly opposes a -20.00 bank charge but is
        // not an item to settle; lines dated in April, after the run period, are not read.
        let mut ledger = ledger();
        post_line(
            &mut ledger,
            "2026-01-31",
            ProposedLine::new("1100", decimal("0.00"))
                .currency("EUR")
                .accounting_amount(decimal("20.00")),
        );
        post(&mut ledger, "2026-02-01", "1100", "-20.00");
        post(&mut ledger, "2026-04-01", "1100", "20.00");
        let output = run(&ledger, json!({ "accounts": ["1100"] }));
        assert!(output.settlements.is_empty());
    }

    #[test]
    fn refuses_accounts_not_enabled_and_closed_years() {
        // Sales is not a settlement account; a permanently closed year cannot be settled in.
        let mut ledger = ledger();
        let input = ledger.step_input("ACME", "2026-03", json!({ "accounts": ["4000"] }));
        assert_eq!(
            ledger.run_step::<AutoSettle>(input).unwrap_err().message,
            "account 4000 is not enabled for settlement: set `settle = true` on it in setup, or remove it from \
             accounts"
        );
        ledger.set_period_status("ACME", "FY2025-closing", PeriodStatus::PermanentlyClosed);
        let input = ledger.step_input("ACME", "2025-12", json!({}));
        assert_eq!(
            ledger.run_step::<AutoSettle>(input).unwrap_err().message,
            "fiscal year FY2025 of entity ACME is closed: no settling in a closed year"
        );
    }

    #[test]
    fn without_settlement_accounts_there_is_nothing_to_do() {
        // A chart with no settle flag gives an informational message and no proposals.
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1000", "Bank", AccountType::Asset))
            .add_fiscal_year("ACME", 2026);
        let output = ledger
            .run_step::<AutoSettle>(ledger.step_input("ACME", "2026-01", json!({})))
            .unwrap();
        assert!(output.settlements.is_empty());
        assert_eq!(
            output.messages[0].text,
            "no account of entity ACME is enabled for settlement: nothing to do"
        );
    }
}
