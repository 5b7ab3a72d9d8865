//! Balance queries for close steps: balances of an account selection over a period range,
//! filtered by currency and dimension values, grouped by the dimensions a step asks to keep.
//! Read from the maintained balances, ordered deterministically (account, dimensions,
//! currency) so that the same ledger always gives a step the same rows.

use crate::account::AccountType;
use crate::calendar::{EntityPeriods, Period};
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use crate::store::{AccountRows, Db};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountSelection {
    All,
    List(Vec<AccountNumber>),
    /// Inclusive range of account numbers, compared as text.
    Range(AccountNumber, AccountNumber),
    Types(Vec<AccountType>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSelection {
    pub accounts: AccountSelection,
    pub from_period: PeriodName,
    pub to_period: PeriodName,
    pub currency: Option<CurrencyCode>,
    /// Only balances carrying every one of these dimension values.
    pub dimension_filter: DimensionValues,
    /// Dimensions kept in the result (`*` for all); the others are summed over.
    pub group_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSum {
    pub account: AccountNumber,
    pub dimensions: DimensionValues,
    pub currency: CurrencyCode,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// The periods from `from` to `to` inclusive, in calendar order; refused when either does not
/// exist in the entity's calendar or the range runs backwards.
pub fn period_range(
    db: &Db<'_>,
    entity: &EntityId,
    from: &PeriodName,
    to: &PeriodName,
) -> Result<Vec<Period>, LedgerError> {
    let periods = EntityPeriods::of_entity(db, entity)?;
    let (first, last) = (periods.named(from)?.ordinal, periods.named(to)?.ordinal);
    if first > last {
        return Err(LedgerError::Invalid(format!(
            "period range {from}..{to} runs backwards"
        )));
    }
    Ok(periods
        .periods
        .into_iter()
        .filter(|period| (first..=last).contains(&period.ordinal))
        .collect())
}

/// Balances of the selection, one row per account × kept dimensions × currency.
pub fn balances(db: &Db<'_>, entity: &EntityId, selection: &BalanceSelection) -> Result<Vec<BalanceSum>, LedgerError> {
    let record = db.require_entity(entity)?;
    let periods: Vec<PeriodName> = period_range(db, entity, &selection.from_period, &selection.to_period)?
        .into_iter()
        .map(|period| period.name)
        .collect();
    let types: HashMap<AccountNumber, AccountType> = db
        .accounts(&record.chart)?
        .into_iter()
        .map(|account| (account.number, account.account_type))
        .collect();
    let selected = |account: &AccountNumber| match &selection.accounts {
        AccountSelection::All => true,
        AccountSelection::List(accounts) => accounts.contains(account),
        AccountSelection::Range(first, last) => first <= account && account <= last,
        AccountSelection::Types(kinds) => types.get(account).is_some_and(|kind| kinds.contains(kind)),
    };
    // Only the selected accounts are read when the selection names them. A query that keeps no
    // dimension and filters on none sums every dimension set away: the maintained
    // `account_balances` already hold those sums, in a row per account and currency.
    let rows = match &selection.accounts {
        AccountSelection::List(accounts) => AccountRows::List(accounts),
        AccountSelection::Range(first, last) => AccountRows::Range(first, last),
        AccountSelection::All | AccountSelection::Types(_) => AccountRows::All,
    };
    let with_dimensions = !(selection.group_by.is_empty() && selection.dimension_filter.is_empty());
    // Rows are summed under small integer keys: each account, kept dimension set and currency
    // is named once, so that a query over a year of a large ledger (hundreds of thousands of
    // rows summed into a hundred thousand) hashes three integers per row, not three strings,
    // and allocates only for what it keeps.
    let mut accounts = Names::default();
    // Per account name: whether the selection keeps it.
    let mut account_selected: Vec<bool> = Vec::new();
    let mut currencies = Names::default();
    let mut kept_sets = Names::default();
    // A dimension set's projection on `group_by` (none: filtered out), worked out once per set.
    let mut projections: FxHashMap<i64, Option<u32>> = FxHashMap::default();
    let mut grouped: FxHashMap<(u32, u32, u32), [Decimal; 4]> = FxHashMap::default();
    db.balances_of_accounts(entity, &periods, rows, with_dimensions, &mut |balance| {
        let account = accounts.id(balance.account);
        if account as usize == account_selected.len() {
            account_selected.push(selected(&AccountNumber::new(balance.account)));
        }
        if !account_selected[account as usize]
            || selection
                .currency
                .as_ref()
                .is_some_and(|currency| currency.as_str() != balance.currency)
        {
            return Ok(());
        }
        let kept = match projections.get(&balance.dimension_set) {
            Some(kept) => *kept,
            None => {
                let values = dimension::parse_canonical(balance.dimensions);
                let passes = selection
                    .dimension_filter
                    .iter()
                    .all(|(name, value)| values.get(name) == Some(value));
                let kept = passes
                    .then(|| kept_sets.id(&dimension::canonical(&dimension::project(&values, &selection.group_by))));
                projections.insert(balance.dimension_set, kept);
                kept
            }
        };
        let Some(kept) = kept else {
            return Ok(());
        };
        let sums = grouped
            .entry((account, kept, currencies.id(balance.currency)))
            .or_default();
        for (sum, amount) in
            sums.iter_mut()
                .zip([balance.amount, balance.accounting_amount, balance.debit, balance.credit])
        {
            *sum = sum.checked_add(amount).ok_or(LedgerError::Overflow)?;
        }
        Ok(())
    })?;
    // Ordered by account, dimension set and currency text, as the names' ranks order them.
    let (account_rank, set_rank, currency_rank) = (accounts.ranks(), kept_sets.ranks(), currencies.ranks());
    let mut sums: Vec<((u32, u32, u32), [Decimal; 4])> = grouped.into_iter().collect();
    sums.sort_unstable_by_key(|((account, kept, currency), _)| {
        (
            account_rank[*account as usize],
            set_rank[*kept as usize],
            currency_rank[*currency as usize],
        )
    });
    let kept_values: Vec<DimensionValues> = kept_sets
        .names
        .iter()
        .map(|text| dimension::parse_canonical(text))
        .collect();
    Ok(sums
        .into_iter()
        .map(
            |((account, kept, currency), [amount, accounting_amount, debit, credit])| BalanceSum {
                account: AccountNumber::new(accounts.names[account as usize].as_str()),
                dimensions: kept_values[kept as usize].clone(),
                currency: CurrencyCode::new(currencies.names[currency as usize].as_str()),
                amount,
                accounting_amount,
                debit,
                credit,
            },
        )
        .collect())
}

/// Texts named by small integers in the order first seen: a query's accounts, currencies or
/// dimension sets.
#[derive(Default)]
struct Names {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    /// The text's number, given on first sight.
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names in one query");
        self.ids.insert(text.to_owned(), id);
        self.names.push(text.to_owned());
        id
    }

    /// Each number's place among the texts in text order (byte by byte, as SQLite compares).
    fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_unstable_by(|left, right| self.names[*left as usize].cmp(&self.names[*right as usize]));
        let mut ranks = vec![0; self.names.len()];
        for (rank, id) in order.into_iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::import::CsvJournalReader;
    use crate::ledger::Ledger;
    use crate::period::Module;
    use crate::setup::SetupFile;
    use crate::store::Store;
    use std::collections::BTreeMap;

    const DEMO_SETUP: &str = include_str!("../../../examples/demo/setup.toml");

    /// Three months of entries over dimensions (department, partner, none) and three currencies.
    const JOURNAL: &str = "entry,date,account,amount,currency,accounting_amount,dim.department,dim.partner
A,2026-01-10,1000,100.00,USD,100.00,,
A,2026-01-10,4000,-60.00,USD,-60.00,100,
A,2026-01-10,4000,-40.00,USD,-40.00,200,ACME-DE
B,2026-01-20,1200,50.00,EUR,55.00,,
B,2026-01-20,1100,-55.00,USD,-55.00,100,
C,2026-02-05,1100,30.00,GBP,38.00,300,
C,2026-02-05,1100,12.00,USD,12.00,100,
C,2026-02-05,6100,-50.00,USD,-50.00,300,ACME-DE
D,2026-02-28,6100,20.00,USD,20.00,100,
D,2026-02-28,6100,5.00,USD,5.00,,
D,2026-02-28,1200,-20.00,EUR,-25.00,,
E,2026-03-03,1000,-7.00,USD,-7.00,,
E,2026-03-03,4000,7.00,USD,7.00,200,
";

    fn demo_ledger() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger
            .apply_setup(&SetupFile::parse(DEMO_SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        let reader = CsvJournalReader::new(JOURNAL.as_bytes(), "j.csv", Module::Ledger).unwrap();
        let summary = ledger
            .import_journals(&EntityId::new("ACME-US"), reader, true, "j.csv")
            .unwrap();
        assert_eq!(summary.posted, 5);
        ledger
    }

    /// The balance query as it was before it read only the selected accounts and before it
    /// used `account_balances`: every `balances` row of the periods, filtered and summed here.
    fn reference(db: &Db<'_>, entity: &EntityId, selection: &BalanceSelection) -> Vec<BalanceSum> {
        let record = db.require_entity(entity).unwrap();
        let periods: Vec<PeriodName> = period_range(db, entity, &selection.from_period, &selection.to_period)
            .unwrap()
            .into_iter()
            .map(|period| period.name)
            .collect();
        let types: HashMap<AccountNumber, AccountType> = db
            .accounts(&record.chart)
            .unwrap()
            .into_iter()
            .map(|account| (account.number, account.account_type))
            .collect();
        let mut grouped: BTreeMap<(AccountNumber, String, CurrencyCode), [Decimal; 4]> = BTreeMap::new();
        for balance in db.balances(entity, &periods).unwrap() {
            let selected = match &selection.accounts {
                AccountSelection::All => true,
                AccountSelection::List(accounts) => accounts.contains(&balance.account),
                AccountSelection::Range(first, last) => first <= &balance.account && &balance.account <= last,
                AccountSelection::Types(kinds) => types.get(&balance.account).is_some_and(|kind| kinds.contains(kind)),
            };
            let values = dimension::parse_canonical(&balance.dimensions);
            if !selected
                || selection
                    .currency
                    .as_ref()
                    .is_some_and(|currency| currency != &balance.currency)
                || selection
                    .dimension_filter
                    .iter()
                    .any(|(name, value)| values.get(name) != Some(value))
            {
                continue;
            }
            let kept = dimension::canonical(&dimension::project(&values, &selection.group_by));
            let sums = grouped.entry((balance.account, kept, balance.currency)).or_default();
            for (sum, amount) in
                sums.iter_mut()
                    .zip([balance.amount, balance.accounting_amount, balance.debit, balance.credit])
            {
                *sum += amount;
            }
        }
        grouped
            .into_iter()
            .map(
                |((account, dimensions, currency), [amount, accounting_amount, debit, credit])| BalanceSum {
                    account,
                    dimensions: dimension::parse_canonical(&dimensions),
                    currency,
                    amount,
                    accounting_amount,
                    debit,
                    credit,
                },
            )
            .collect()
    }

    #[test]
    fn balance_queries_read_through_the_account_key_and_account_balances_give_the_full_scan_rows() {
        // Issue #7: every account selection × grouping × filter returns exactly the rows of the
        // old full read of `balances`, whether served by key lookups or by `account_balances`.
        let mut ledger = demo_ledger();
        let entity = EntityId::new("ACME-US");
        let number = |text: &str| AccountNumber::new(text);
        let selections = [
            AccountSelection::All,
            AccountSelection::List(vec![number("1100")]),
            AccountSelection::List(vec![number("6100"), number("1100"), number("6100"), number("9999")]),
            AccountSelection::Range(number("1000"), number("1200")),
            AccountSelection::Range(number("4000"), number("7000")),
            AccountSelection::Range(number("7000"), number("1000")),
            AccountSelection::Types(vec![AccountType::Revenue, AccountType::Expense]),
        ];
        let groupings: [Vec<String>; 4] = [
            Vec::new(),
            vec!["*".to_owned()],
            vec!["department".to_owned()],
            vec!["partner".to_owned(), "unknown".to_owned()],
        ];
        let filters: [DimensionValues; 3] = [
            DimensionValues::new(),
            [("department".to_owned(), "100".to_owned())].into_iter().collect(),
            [("partner".to_owned(), "ACME-DE".to_owned())].into_iter().collect(),
        ];
        let currencies = [None, Some(CurrencyCode::new("USD")), Some(CurrencyCode::new("EUR"))];
        let ranges = [
            ("2026-01", "2026-03"),
            ("2026-02", "2026-02"),
            ("FY2026-opening", "2026-12"),
        ];
        let mut compared = 0;
        let mut nonempty = 0;
        ledger
            .read(|db| {
                for accounts in &selections {
                    for group_by in &groupings {
                        for dimension_filter in &filters {
                            for currency in &currencies {
                                for (from, to) in ranges {
                                    let selection = BalanceSelection {
                                        accounts: accounts.clone(),
                                        from_period: PeriodName::new(from),
                                        to_period: PeriodName::new(to),
                                        currency: currency.clone(),
                                        dimension_filter: dimension_filter.clone(),
                                        group_by: group_by.clone(),
                                    };
                                    let rows = balances(db, &entity, &selection)?;
                                    assert_eq!(rows, reference(db, &entity, &selection), "{selection:?}");
                                    compared += 1;
                                    nonempty += usize::from(!rows.is_empty());
                                }
                            }
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(compared, 7 * 4 * 3 * 3 * 3);
        assert!(
            nonempty > compared / 3,
            "only {nonempty} of {compared} queries returned rows"
        );
    }

    #[test]
    fn a_balance_query_without_dimensions_sums_every_dimension_set_of_an_account() {
        // The account_balances path: 4000 in January is -60 (department 100) + -40 (200, ACME-DE).
        let mut ledger = demo_ledger();
        let selection = BalanceSelection {
            accounts: AccountSelection::List(vec![AccountNumber::new("4000")]),
            from_period: PeriodName::new("2026-01"),
            to_period: PeriodName::new("2026-01"),
            currency: None,
            dimension_filter: DimensionValues::new(),
            group_by: Vec::new(),
        };
        let rows = ledger
            .read(|db| balances(db, &EntityId::new("ACME-US"), &selection))
            .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].accounting_amount.to_string(), "-100.00");
        assert_eq!(rows[0].credit.to_string(), "100.00");
        assert!(rows[0].dimensions.is_empty());
    }
}
