//! The read side of [`TestLedger`]: its [`Ledger`] implementation. Each query follows the
//! semantics the WIT `ledger` interface documents, which the host implements over SQLite, so a
//! step behaves the same in a unit test and in a real run.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{INVERSE_RATE_DECIMALS, LINE_PAGE_SIZE_MAX, Rate, TestEntity, TestLedger};
use crate::ids::{CurrencyCode, EntityId, PeriodName};
use crate::ledger::{
    AccountFilter, AccountInfo, BalanceQuery, BalanceRow, CurrencyInfo, Dimension, DimensionInfo, EntityInfo, Ledger,
    LinePage, LineQuery, PeriodInfo, PostedLine, QueryError, canonical_dimensions,
};
use crate::reconcile::{OpenItem, Statement, StatementQuery};
use crate::step::{Level, Message};

/// The `group-by-dimensions` entry that keeps every dimension.
const GROUP_BY_EVERY_DIMENSION: &str = "*";

impl TestLedger {
    fn known_entity(&self, entity: &EntityId) -> Result<&TestEntity, QueryError> {
        self.entities
            .get(entity)
            .ok_or_else(|| QueryError::new(format!("entity {entity} does not exist")))
    }
}

impl TestEntity {
    /// The names of the periods from `from` to `to` inclusive, in calendar order.
    fn period_range(&self, from: &PeriodName, to: &PeriodName) -> Result<Vec<&PeriodName>, QueryError> {
        let position = |name: &PeriodName| {
            self.periods
                .iter()
                .position(|period| &period.name == name)
                .ok_or_else(|| QueryError::new(format!("period {name} does not exist in entity {}", self.info.id)))
        };
        let first = position(from)?;
        let last = position(to)?;
        if first > last {
            return Err(QueryError::new(format!(
                "period range {from}..{to} runs backwards: {from} comes after {to}"
            )));
        }
        Ok(self.periods[first..=last].iter().map(|period| &period.name).collect())
    }

    fn account_matches(&self, filter: &AccountFilter, account: &AccountInfo) -> bool {
        match filter {
            AccountFilter::All => true,
            AccountFilter::List(accounts) => accounts.contains(&account.number),
            AccountFilter::Range(first, last) => {
                first.as_str() <= account.number.as_str() && account.number.as_str() <= last.as_str()
            }
            AccountFilter::Types(types) => types.contains(&account.account_type),
        }
    }
}

/// 1 / `rate` rounded to [`INVERSE_RATE_DECIMALS`] places; none for a zero rate, which has no
/// inverse (the host answers `none` too).
fn inverse_rate(rate: Decimal) -> Option<Decimal> {
    Decimal::ONE
        .checked_div(rate)
        .map(|inverse| inverse.round_dp(INVERSE_RATE_DECIMALS))
}

/// The dimensions of a line that a balance row keeps.
fn kept_dimensions(line: &PostedLine, group_by: &[String]) -> Vec<Dimension> {
    if group_by.iter().any(|name| name == GROUP_BY_EVERY_DIMENSION) {
        return line.dimensions.clone();
    }
    line.dimensions
        .iter()
        .filter(|dimension| group_by.contains(&dimension.name))
        .cloned()
        .collect()
}

impl TestLedger {
    /// The reconciliation a statement or open-items query names, refused as the host refuses an
    /// unknown entity or account.
    fn reconciliation_of(&self, query: &StatementQuery) -> Result<super::ReconciliationKey, QueryError> {
        let entity = self.known_entity(&query.entity)?;
        // The host checks the period before the account.
        if !entity.periods.iter().any(|period| period.name == query.period) {
            return Err(QueryError::new(format!(
                "period {} does not exist in entity {}",
                query.period, query.entity
            )));
        }
        if !entity.accounts.contains_key(&query.account) {
            return Err(QueryError::new(format!(
                "account {} is not in the chart of entity {}: check the number (`closebook report trial-balance` lists the accounts with balances)",
                query.account, query.entity
            )));
        }
        // Each dimension value as the host checks it (`closebook_ledger::reconcile::scope`).
        let mut given = std::collections::BTreeSet::new();
        for dimension in &query.dimensions {
            let pair = format!("{}={}", dimension.name, dimension.value);
            let (name, value) = pair.split_once('=').expect("the pair holds `=`");
            let well_formed = |text: &str| !text.is_empty() && text.trim() == text && !text.contains(['=', ';', '\n']);
            if !well_formed(name) || !well_formed(value) {
                return Err(QueryError::new(format!(
                    "dimension `{pair}` is not NAME=VALUE without spaces around them or `;` in them, like department=100"
                )));
            }
            let Some(known) = self.dimensions.get(name) else {
                let names: Vec<&str> = self.dimensions.keys().map(String::as_str).collect();
                return Err(QueryError::new(format!(
                    "dimension `{name}` does not exist (the dimensions are {})",
                    names.join(", ")
                )));
            };
            if !known.values.iter().any(|known| known == value) {
                return Err(QueryError::new(format!("dimension {name} has no value {value}")));
            }
            if !given.insert(name.to_owned()) {
                return Err(QueryError::new(format!(
                    "dimension {name} is given twice: give it once"
                )));
            }
        }
        Ok((
            query.entity.clone(),
            query.account.clone(),
            crate::canonical_dimensions(&query.dimensions),
            query.period.clone(),
        ))
    }
}

impl Ledger for TestLedger {
    fn entity(&self, entity: &EntityId) -> Result<EntityInfo, QueryError> {
        Ok(self.known_entity(entity)?.info.clone())
    }

    fn currencies(&self) -> Vec<CurrencyInfo> {
        self.currencies.values().cloned().collect()
    }

    fn accounts(&self, entity: &EntityId) -> Result<Vec<AccountInfo>, QueryError> {
        Ok(self.known_entity(entity)?.accounts.values().cloned().collect())
    }

    fn dimensions(&self) -> Vec<DimensionInfo> {
        self.dimensions.values().cloned().collect()
    }

    fn periods(&self, entity: &EntityId, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, QueryError> {
        let known = self.known_entity(entity)?;
        Ok(known
            .periods
            .iter()
            .filter(|period| fiscal_year.is_none_or(|year| period.fiscal_year == year))
            .cloned()
            .collect())
    }

    fn balances(&self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, QueryError> {
        let known = self.known_entity(&query.entity)?;
        let periods = known.period_range(&query.from_period, &query.to_period)?;
        let mut rows: BTreeMap<_, BalanceRow> = BTreeMap::new();
        for line in &known.lines {
            if !periods.contains(&&line.period) {
                continue;
            }
            let Some(account) = known.accounts.get(&line.account) else {
                continue;
            };
            if !known.account_matches(&query.accounts, account) {
                continue;
            }
            if query
                .currency
                .as_ref()
                .is_some_and(|currency| *currency != line.currency)
            {
                continue;
            }
            if !query
                .dimension_filter
                .iter()
                .all(|wanted| line.dimensions.contains(wanted))
            {
                continue;
            }
            let dimensions = kept_dimensions(line, &query.group_by_dimensions);
            // Keyed like the host's rows, so they come out in the host's order: account, the
            // dimension set's canonical text, currency.
            let key = (
                line.account.clone(),
                canonical_dimensions(&dimensions),
                line.currency.clone(),
            );
            let row = rows.entry(key).or_insert_with(|| BalanceRow {
                account: line.account.clone(),
                dimensions,
                currency: line.currency.clone(),
                amount: Decimal::ZERO,
                accounting_amount: Decimal::ZERO,
                debit: Decimal::ZERO,
                credit: Decimal::ZERO,
            });
            row.amount += line.amount;
            row.accounting_amount += line.accounting_amount;
            if line.accounting_amount.is_sign_negative() {
                row.credit -= line.accounting_amount;
            } else {
                row.debit += line.accounting_amount;
            }
        }
        Ok(rows.into_values().collect())
    }

    fn lines(&self, query: &LineQuery) -> Result<LinePage, QueryError> {
        if query.limit == 0 {
            return Err(QueryError::new("a line query's limit must be at least 1".to_owned()));
        }
        let known = self.known_entity(&query.entity)?;
        if !known.accounts.contains_key(&query.account) {
            return Err(QueryError::new(format!(
                "account {} does not exist in entity {}",
                query.account, query.entity
            )));
        }
        let periods = known.period_range(&query.from_period, &query.to_period)?;
        let page_size = query.limit.min(LINE_PAGE_SIZE_MAX) as usize;
        let mut matching = known.lines.iter().filter(|line| {
            line.account == query.account
                && periods.contains(&&line.period)
                && query.after.is_none_or(|after| line.id > after)
                && (query.include_settled || line.settlement_id.is_none())
        });
        let lines: Vec<PostedLine> = matching.by_ref().take(page_size).cloned().collect();
        let more = matching.next().is_some();
        let next = match (more, lines.last()) {
            (true, Some(last)) => Some(last.id),
            _ => None,
        };
        Ok(LinePage { lines, next })
    }

    fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
        rate_type: &str,
        on: NaiveDate,
    ) -> Result<Option<Decimal>, QueryError> {
        // The host's rule (`RateTable::rate_on`): the same currency is 1; a pair with any rate
        // of the type uses only its own series, even when none is effective yet on the date;
        // only a pair with no rate of the type at all falls back to the opposite pair's rate,
        // inverted and rounded. No triangulation through a third currency.
        if from == to {
            return Ok(Some(Decimal::ONE));
        }
        let in_series = |rate: &Rate, from: &CurrencyCode, to: &CurrencyCode| {
            &rate.from == from && &rate.to == to && rate.rate_type == rate_type
        };
        // Among rates with the same effective date the last one added wins, as in the host.
        let latest = |from: &CurrencyCode, to: &CurrencyCode| {
            self.rates
                .iter()
                .filter(|rate| in_series(rate, from, to) && rate.effective <= on)
                .max_by_key(|rate| rate.effective)
                .map(|rate| rate.rate)
        };
        if self.rates.iter().any(|rate| in_series(rate, from, to)) {
            return Ok(latest(from, to));
        }
        Ok(latest(to, from).and_then(inverse_rate))
    }

    fn statement(&self, query: &StatementQuery) -> Result<Option<Statement>, QueryError> {
        Ok(self.statements.get(&self.reconciliation_of(query)?).cloned())
    }

    fn reconciling_items(&self, query: &StatementQuery) -> Result<Vec<OpenItem>, QueryError> {
        let mut items = self
            .open_items
            .get(&self.reconciliation_of(query)?)
            .cloned()
            .unwrap_or_default();
        // Oldest first, as the host returns them.
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    fn log(&self, level: Level, message: &str) {
        self.log.borrow_mut().push(Message {
            level,
            text: message.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::{date, decimal};
    use super::*;
    use crate::journal::{JournalBuilder, ProposedLine, ProposedSettlement};
    use crate::ledger::{AccountType, PeriodKind};

    /// ACME (USD) with a bank, a EUR bank, receivables, sales split by department, and rent.
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_currency("EUR", 2)
            .add_currency("JPY", 0)
            .add_dimension("department", ["100", "200"])
            .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
            .add_account("ACME", AccountInfo::new("1100", "Bank", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("1150", "Bank EUR", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("1200", "Receivables", AccountType::Asset))
            .add_account("ACME", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_account("ACME", AccountInfo::new("6100", "Rent", AccountType::Expense))
            .add_fiscal_year("ACME", 2026)
            .add_rate("EUR", "USD", "spot", date("2026-01-01"), decimal("1.08"))
            .add_rate("EUR", "USD", "spot", date("2026-02-01"), decimal("1.10"))
            .add_rate("USD", "JPY", "spot", date("2026-01-01"), decimal("150"));
        // January: two sales (department 100 and 200), rent, one EUR receipt.
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-10"), "Sale 1")
                .debit("1200", decimal("1000.00"))
                .line(ProposedLine::new("4000", decimal("-1000.00")).dimension("department", "100"))
                .build()
                .unwrap(),
        );
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-20"), "Sale 2")
                .debit("1200", decimal("500.00"))
                .line(ProposedLine::new("4000", decimal("-500.00")).dimension("department", "200"))
                .build()
                .unwrap(),
        );
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-31"), "Rent")
                .debit("6100", decimal("300.00"))
                .credit("1100", decimal("300.00"))
                .build()
                .unwrap(),
        );
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-25"), "EUR receipt")
                .line(ProposedLine::new("1150", decimal("100.00")).currency("EUR"))
                .credit("1200", decimal("108.00"))
                .build_unchecked(),
        );
        // February: another department 100 sale.
        ledger.post(
            JournalBuilder::new("ACME", date("2026-02-05"), "Sale 3")
                .debit("1200", decimal("200.00"))
                .line(ProposedLine::new("4000", decimal("-200.00")).dimension("department", "100"))
                .build()
                .unwrap(),
        );
        ledger
    }

    #[test]
    fn fiscal_year_is_in_calendar_order() {
        // Opening, twelve months, closing; the closing period has December's dates.
        let ledger = ledger();
        let periods = ledger.periods(&"ACME".into(), Some("FY2026")).unwrap();
        assert_eq!(periods.len(), 14);
        assert_eq!(periods[0].name, "FY2026-opening");
        assert_eq!(periods[0].kind, PeriodKind::Opening);
        assert_eq!(periods[2].name, "2026-02");
        assert_eq!(periods[2].end, date("2026-02-28"));
        assert_eq!(periods[13].name, "FY2026-closing");
        assert_eq!(periods[13].start, date("2026-12-01"));
        assert_eq!(periods[13].end, date("2026-12-31"));
        assert!(ledger.periods(&"ACME".into(), Some("FY2027")).unwrap().is_empty());
    }

    #[test]
    fn balances_sum_per_account_and_currency() {
        // January without dimensions: receivables 1000 + 500 - 108 = 1392 USD, sales -1500,
        // the EUR bank 100 EUR carried at 108.00 USD (converted at the 1.08 spot rate).
        let ledger = ledger();
        let rows = ledger
            .balances(&BalanceQuery::new("ACME", "2026-01", "2026-01"))
            .unwrap();
        let summary: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    row.account.as_str(),
                    row.currency.as_str(),
                    row.amount,
                    row.accounting_amount,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("1100", "USD", decimal("-300.00"), decimal("-300.00")),
                ("1150", "EUR", decimal("100.00"), decimal("108.00")),
                ("1200", "USD", decimal("1392.00"), decimal("1392.00")),
                ("4000", "USD", decimal("-1500.00"), decimal("-1500.00")),
                ("6100", "USD", decimal("300.00"), decimal("300.00")),
            ]
        );
        let receivables = &rows[2];
        assert_eq!(receivables.debit, decimal("1500.00"));
        assert_eq!(receivables.credit, decimal("108.00"));
        let net: Decimal = rows.iter().map(|row| row.accounting_amount).sum();
        assert!(net.is_zero());
    }

    #[test]
    fn balances_filter_and_group_by_dimension() {
        // Sales for January to February by department: 100 → -1200, 200 → -500; filtered to
        // department 100 and summed over dimensions: -1200.
        let ledger = ledger();
        let sales = AccountFilter::Types(vec![AccountType::Revenue]);
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-01", "2026-02")
                    .accounts(sales.clone())
                    .group_by("department"),
            )
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].dimensions, vec![Dimension::new("department", "100")]);
        assert_eq!(rows[0].accounting_amount, decimal("-1200.00"));
        assert_eq!(rows[0].credit, decimal("1200.00"));
        assert_eq!(rows[1].accounting_amount, decimal("-500.00"));
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-01", "2026-02")
                    .accounts(sales)
                    .dimension_filter("department", "100"),
            )
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].dimensions.is_empty());
        assert_eq!(rows[0].accounting_amount, decimal("-1200.00"));
    }

    #[test]
    fn balances_filter_by_range_list_and_currency() {
        // A text range 1100..1199 covers both banks; the currency filter keeps the EUR one.
        let ledger = ledger();
        let range = AccountFilter::Range("1100".into(), "1199".into());
        let rows = ledger
            .balances(&BalanceQuery::new("ACME", "2026-01", "2026-12").accounts(range.clone()))
            .unwrap();
        assert_eq!(rows.len(), 2);
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-01", "2026-12")
                    .accounts(range)
                    .currency("EUR"),
            )
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].account, "1150");
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "FY2026-opening", "FY2026-closing")
                    .accounts(AccountFilter::List(vec!["6100".into()])),
            )
            .unwrap();
        assert_eq!(rows[0].accounting_amount, decimal("300.00"));
    }

    #[test]
    fn balances_refuse_unknown_and_reversed_ranges() {
        // Unknown entities and periods, and ranges that run backwards, are query errors.
        let ledger = ledger();
        let unknown_period = ledger
            .balances(&BalanceQuery::new("ACME", "2025-12", "2026-01"))
            .unwrap_err();
        assert_eq!(unknown_period.message, "period 2025-12 does not exist in entity ACME");
        let reversed = ledger
            .balances(&BalanceQuery::new("ACME", "2026-02", "2026-01"))
            .unwrap_err();
        assert!(reversed.message.contains("runs backwards"));
        let unknown_entity = ledger
            .balances(&BalanceQuery::new("NOPE", "2026-01", "2026-01"))
            .unwrap_err();
        assert_eq!(unknown_entity.message, "entity NOPE does not exist");
    }

    #[test]
    fn lines_page_with_a_cursor() {
        // Receivables has four lines in January-February; pages of two return 2 + 2 with a
        // cursor after the first page and none after the last.
        let ledger = ledger();
        let query = LineQuery::new("ACME", "1200", "2026-01", "2026-02").limit(2);
        let first = ledger.lines(&query).unwrap();
        assert_eq!(first.lines.len(), 2);
        let cursor = first.next.expect("a second page");
        assert_eq!(cursor, first.lines[1].id);
        let second = ledger.lines(&query.clone().after(cursor)).unwrap();
        assert_eq!(second.lines.len(), 2);
        assert_eq!(second.next, None);
        assert!(second.lines[0].id > cursor);
        let descriptions: Vec<_> = first
            .lines
            .iter()
            .chain(&second.lines)
            .map(|line| line.description.as_str())
            .collect();
        assert_eq!(descriptions, ["Sale 1", "Sale 2", "EUR receipt", "Sale 3"]);
    }

    #[test]
    fn all_lines_follows_every_page() {
        // The paging iterator with pages of one reads all four lines, in id order.
        let ledger = ledger();
        let ledger: &dyn Ledger = &ledger;
        let lines: Vec<_> = ledger
            .all_lines(LineQuery::new("ACME", "1200", "2026-01", "2026-02").limit(1))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(lines.len(), 4);
        assert!(lines.windows(2).all(|pair| pair[0].id < pair[1].id));
        let amounts: Decimal = lines.iter().map(|line| line.accounting_amount).sum();
        assert_eq!(amounts, decimal("1592.00"));
    }

    #[test]
    fn lines_leave_out_settled_lines_on_request() {
        // A 108.00 refund settles against the EUR receipt's 108.00 credit on receivables;
        // excluding settled lines leaves January's two sales.
        let mut ledger = ledger();
        let ids = ledger.post(
            JournalBuilder::new("ACME", date("2026-01-26"), "Refund")
                .debit("1200", decimal("108.00"))
                .credit("1100", decimal("108.00"))
                .build()
                .unwrap(),
        );
        let receipt = ledger
            .posted_lines("ACME")
            .iter()
            .find(|line| line.account == "1200" && line.description == "EUR receipt")
            .map(|line| line.id)
            .unwrap();
        let settlement = ledger.settle(&ProposedSettlement {
            entity: "ACME".into(),
            line_ids: vec![receipt, ids[0]],
        });
        let query = LineQuery::new("ACME", "1200", "2026-01", "2026-01");
        let all = ledger.lines(&query).unwrap();
        assert_eq!(all.lines.len(), 4);
        assert_eq!(all.lines[2].settlement_id, Some(settlement));
        let open = ledger.lines(&query.exclude_settled()).unwrap();
        assert_eq!(open.lines.len(), 2);
    }

    #[test]
    fn lines_refuse_a_zero_limit_and_unknown_accounts() {
        // A zero limit could never make progress, and an unknown account is a mistake.
        let ledger = ledger();
        let query = LineQuery::new("ACME", "1200", "2026-01", "2026-01");
        assert!(ledger.lines(&query.clone().limit(0)).is_err());
        let unknown = LineQuery::new("ACME", "9999", "2026-01", "2026-01");
        assert_eq!(
            ledger.lines(&unknown).unwrap_err().message,
            "account 9999 does not exist in entity ACME"
        );
    }

    #[test]
    fn rates_take_the_latest_on_or_before_the_date() {
        // 1.08 from 1 January, 1.10 from 1 February; nothing before 1 January.
        let ledger = ledger();
        let rate = |on: &str| ledger.rate(&"EUR".into(), &"USD".into(), "spot", date(on)).unwrap();
        assert_eq!(rate("2025-12-31"), None);
        assert_eq!(rate("2026-01-31"), Some(decimal("1.08")));
        assert_eq!(rate("2026-02-01"), Some(decimal("1.10")));
        assert_eq!(rate("2026-12-31"), Some(decimal("1.10")));
    }

    #[test]
    fn rates_derive_the_inverse_but_never_triangulate() {
        // USD→EUR is 1 / 1.08 kept to 12 places, as the host keeps it; JPY→USD is 1 / 150;
        // the rate type must match; EUR→JPY would need USD in between.
        let ledger = ledger();
        let usd_eur = ledger
            .rate(&"USD".into(), &"EUR".into(), "spot", date("2026-01-15"))
            .unwrap();
        assert_eq!(usd_eur, Some(decimal("0.925925925926")));
        let jpy_usd = ledger
            .rate(&"JPY".into(), &"USD".into(), "spot", date("2026-01-15"))
            .unwrap();
        assert_eq!(jpy_usd, Some(decimal("0.006666666667")));
        let average = ledger
            .rate(&"EUR".into(), &"USD".into(), "average", date("2026-01-15"))
            .unwrap();
        assert_eq!(average, None);
        let triangulated = ledger
            .rate(&"EUR".into(), &"JPY".into(), "spot", date("2026-01-15"))
            .unwrap();
        assert_eq!(triangulated, None);
        let same = ledger
            .rate(&"USD".into(), &"USD".into(), "spot", date("2026-01-15"))
            .unwrap();
        assert_eq!(same, Some(Decimal::ONE));
    }

    #[test]
    fn rates_use_only_the_direct_series_when_it_has_any_rate() {
        // GBP→USD spot starts on 1 March and USD→GBP spot on 1 January: before March, GBP→USD
        // has no rate yet, and the host does not fall back to 1 / USD→GBP because the direct
        // pair has a series of its own. The budget type has only USD→GBP, so GBP→USD budget is
        // its inverse. A zero rate has no inverse: none, as from the host.
        let mut ledger = ledger();
        ledger
            .add_currency("GBP", 2)
            .add_rate("GBP", "USD", "spot", date("2026-03-01"), decimal("1.25"))
            .add_rate("USD", "GBP", "spot", date("2026-01-01"), decimal("0.8"))
            .add_rate("USD", "GBP", "budget", date("2026-01-01"), decimal("0.75"))
            .add_rate("USD", "GBP", "zero", date("2026-01-01"), decimal("0"));
        let rate = |from: &str, to: &str, rate_type: &str, on: &str| {
            ledger.rate(&from.into(), &to.into(), rate_type, date(on)).unwrap()
        };
        assert_eq!(rate("GBP", "USD", "spot", "2026-02-28"), None);
        assert_eq!(rate("GBP", "USD", "spot", "2026-03-01"), Some(decimal("1.25")));
        assert_eq!(rate("USD", "GBP", "spot", "2026-02-28"), Some(decimal("0.8")));
        assert_eq!(
            rate("GBP", "USD", "budget", "2026-02-28"),
            Some(decimal("1.333333333333"))
        );
        assert_eq!(rate("GBP", "USD", "budget", "2025-12-31"), None);
        assert_eq!(rate("GBP", "USD", "zero", "2026-02-28"), None);
        assert_eq!(rate("USD", "GBP", "zero", "2026-02-28"), Some(decimal("0")));
    }

    #[test]
    fn balance_rows_follow_the_hosts_order_of_dimension_sets() {
        // The host orders rows by the canonical text of their dimension sets, where
        // `cost-center=CC7` sorts before `cost=A` ('-' comes before '='): the same here.
        let mut ledger = ledger();
        ledger
            .add_dimension("cost", ["A"])
            .add_dimension("cost-center", ["CC7"]);
        for (name, value) in [("cost", "A"), ("cost-center", "CC7")] {
            ledger.post(
                JournalBuilder::new("ACME", date("2026-03-10"), "Rent")
                    .line(ProposedLine::new("6100", decimal("10.00")).dimension(name, value))
                    .credit("1100", decimal("10.00"))
                    .build()
                    .unwrap(),
            );
        }
        let rows = ledger
            .balances(
                &BalanceQuery::new("ACME", "2026-03", "2026-03")
                    .accounts(AccountFilter::List(vec!["6100".into()]))
                    .group_by("*"),
            )
            .unwrap();
        let names: Vec<&str> = rows.iter().map(|row| row.dimensions[0].name.as_str()).collect();
        assert_eq!(names, ["cost-center", "cost"]);
    }

    #[test]
    fn fiscal_years_may_start_in_any_month() {
        // FY2026 starting in July runs from 2025-07-01 to 2026-06-30: a one-day opening period,
        // 2025-07 to 2026-06, and a closing period with June's dates.
        let mut ledger = ledger();
        ledger
            .add_entity(EntityInfo::new("ACME-AU", "Acme Pty", "USD", "3900", "spot"))
            .add_fiscal_year_starting("ACME-AU", 2026, 7);
        let periods = ledger.periods(&"ACME-AU".into(), Some("FY2026")).unwrap();
        assert_eq!(periods.len(), 14);
        assert_eq!(periods[0].name, "FY2026-opening");
        assert_eq!(
            (periods[0].start, periods[0].end),
            (date("2025-07-01"), date("2025-07-01"))
        );
        assert_eq!(periods[1].name, "2025-07");
        assert_eq!(periods[8].name, "2026-02");
        assert_eq!(periods[8].end, date("2026-02-28"));
        assert_eq!(periods[12].name, "2026-06");
        assert_eq!(periods[13].name, "FY2026-closing");
        assert_eq!(
            (periods[13].start, periods[13].end),
            (date("2026-06-01"), date("2026-06-30"))
        );
        assert!(periods.iter().all(|period| period.fiscal_year == "FY2026"));
    }

    #[test]
    #[should_panic(expected = "date 2026-01-31 is outside period FY2026-closing (2026-12-01 to 2026-12-31)")]
    fn posting_outside_the_named_period_panics() {
        // The host refuses a date outside the period an entry names; so does a fixture.
        let mut ledger = ledger();
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-31"), "Misdated")
                .period("FY2026-closing")
                .debit("6100", decimal("1.00"))
                .credit("1100", decimal("1.00"))
                .build()
                .unwrap(),
        );
    }

    #[test]
    fn reversal_dates_post_the_reversing_entry() {
        // An accrual with a reversal date posts twice; the February reversal nets it out, and
        // its lines keep their descriptions, as the host's do.
        let mut ledger = ledger();
        let ids = ledger.post(
            JournalBuilder::new("ACME", date("2026-01-31"), "Accrue rent")
                .debit("6100", decimal("50.00"))
                .credit("1100", decimal("50.00"))
                .reversal_date(date("2026-02-01"))
                .build()
                .unwrap(),
        );
        assert_eq!(ids.len(), 4);
        let reversing = &ledger.posted_lines("ACME")[ledger.posted_lines("ACME").len() - 2];
        assert_eq!(reversing.id, ids[2]);
        assert_eq!(reversing.period, "2026-02");
        assert_eq!(reversing.amount, decimal("-50.00"));
        assert_eq!(reversing.description, "Accrue rent");
        let rent = |from: &str, to: &str| {
            ledger
                .balances(&BalanceQuery::new("ACME", from, to).accounts(AccountFilter::List(vec!["6100".into()])))
                .unwrap()[0]
                .accounting_amount
        };
        assert_eq!(rent("2026-01", "2026-01"), decimal("350.00"));
        assert_eq!(rent("2026-02", "2026-02"), decimal("-50.00"));
    }

    #[test]
    fn the_log_keeps_messages_in_order() {
        // What a step logs is kept for the test to inspect.
        let ledger = ledger();
        let as_ledger: &dyn Ledger = &ledger;
        as_ledger.info("first");
        as_ledger.warning("second");
        let logs = ledger.logs();
        assert_eq!(logs[0].level, Level::Info);
        assert_eq!(logs[1].text, "second");
    }

    #[test]
    #[should_panic(expected = "accounting amounts sum to 0.01, not zero")]
    fn posting_an_unbalanced_fixture_panics() {
        // A fixture that does not balance is a test bug and stops the test.
        let mut ledger = ledger();
        ledger.post(
            JournalBuilder::new("ACME", date("2026-01-31"), "Broken")
                .debit("6100", decimal("50.01"))
                .credit("1100", decimal("50.00"))
                .build_unchecked(),
        );
    }

    #[test]
    fn reconciliation_queries_refuse_an_unknown_period_and_list_items_oldest_first() {
        use crate::reconcile::{OpenItem, StatementQuery};
        let mut ledger = ledger();
        for id in [7, 3] {
            ledger.add_open_item(
                "ACME",
                "1100",
                "2026-02",
                OpenItem {
                    id,
                    period: PeriodName::new("2026-01"),
                    cleared: false,
                    amount: decimal("-10.00"),
                    explanation: format!("item {id}"),
                    expected_clear: date("2026-02-10"),
                    reference: String::new(),
                },
            );
        }
        let items = ledger
            .reconciling_items(&StatementQuery::new("ACME", "1100", "2026-02"))
            .unwrap();
        assert_eq!(items.iter().map(|item| item.id).collect::<Vec<_>>(), vec![3, 7]);
        let refused = ledger
            .statement(&StatementQuery::new("ACME", "9999", "2025-12"))
            .unwrap_err();
        assert_eq!(refused.message, "period 2025-12 does not exist in entity ACME");
        assert_eq!(
            ledger
                .statement(&StatementQuery::new("ACME", "1100", "2026-02"))
                .unwrap(),
            None
        );
        // Dimension values are checked as the host checks them, in its order and words.
        let refused = |dimensions: &[(&str, &str)]| {
            let mut query = StatementQuery::new("ACME", "1100", "2026-02");
            query.dimensions = dimensions
                .iter()
                .map(|(name, value)| crate::Dimension::new(*name, *value))
                .collect();
            ledger.reconciling_items(&query).unwrap_err().message
        };
        assert_eq!(
            refused(&[("region", "EU")]),
            "dimension `region` does not exist (the dimensions are department)"
        );
        assert_eq!(
            refused(&[("department", "999")]),
            "dimension department has no value 999"
        );
        assert_eq!(
            refused(&[("department", "100"), ("department", "200")]),
            "dimension department is given twice: give it once"
        );
        assert!(refused(&[(" department", "100")]).starts_with("dimension ` department=100` is not NAME=VALUE"));
        assert!(
            ledger
                .statement(&StatementQuery::new("ACME", "9999", "2026-02"))
                .unwrap_err()
                .message
                .ends_with(": check the number (`closebook report trial-balance` lists the accounts with balances)")
        );
    }

    fn item(id: u64, opened: &str, amount: &str) -> crate::reconcile::OpenItem {
        crate::reconcile::OpenItem {
            id,
            period: PeriodName::new(opened),
            cleared: false,
            amount: decimal(amount),
            explanation: format!("item {id}"),
            expected_clear: date("2026-02-10"),
            reference: String::new(),
        }
    }

    #[test]
    #[should_panic(expected = "item 1 opened in 2026-03, after 2026-02: it is not open there")]
    fn an_item_is_not_open_before_it_opened() {
        ledger().add_open_item("ACME", "1100", "2026-02", item(1, "2026-03", "-10.00"));
    }

    #[test]
    #[should_panic(expected = "item 1: amount -10.001 has more decimals than USD's 2")]
    fn an_item_has_the_currency_s_decimals() {
        ledger().add_open_item("ACME", "1100", "2026-02", item(1, "2026-01", "-10.001"));
    }

    #[test]
    #[should_panic(expected = "item 1 is given twice for the period")]
    fn an_item_is_open_once_in_a_period() {
        let mut ledger = ledger();
        ledger.add_open_item("ACME", "1100", "2026-02", item(1, "2026-01", "-10.00"));
        ledger.add_open_item("ACME", "1100", "2026-02", item(1, "2026-01", "-10.00"));
    }

    #[test]
    #[should_panic(expected = "statement line 2: 2026-03-01 is outside period 2026-02 (2026-02-01 to 2026-02-28)")]
    fn a_statement_holds_only_lines_of_its_period() {
        use crate::reconcile::{Statement, StatementLine};
        ledger().add_statement(
            "ACME",
            "1100",
            "2026-02",
            Statement {
                source: "feb.csv".to_owned(),
                opening: decimal("0"),
                closing: decimal("5.00"),
                lines: vec![StatementLine {
                    line_no: 2,
                    date: date("2026-03-01"),
                    amount: decimal("5.00"),
                    reference: String::new(),
                    description: String::new(),
                }],
            },
        );
    }
}
