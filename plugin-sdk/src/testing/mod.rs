//! A native test harness: [`TestLedger`], an in-memory ledger that implements [`Ledger`] with
//! the semantics the WIT contract documents (period ranges, account filters, dimension filters
//! and grouping, cursor paging, rate lookup), so a step's unit tests run with `cargo test` and
//! no WebAssembly. Fixtures are built with the same [`JournalBuilder`](crate::JournalBuilder)
//! a step uses to propose entries.
//!
//! Setup methods panic with a message on an inconsistent fixture (an unknown account, an
//! unbalanced entry): a broken fixture is a bug in the test, not a case to handle. Queries
//! never panic; they return [`QueryError`](crate::QueryError) as the host would.
//!
//! What the harness does not do: validate configuration against the step's JSON Schema, check
//! period status or entity access on proposals, or enforce the host's fuel and size limits.
//! Those are the host's, and `closebook plugin run` exercises them.

mod queries;

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;

use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryId, LineId, PeriodName, SettlementId};
use crate::journal::{ProposedEntry, ProposedSettlement};
use crate::ledger::{
    AccountInfo, CurrencyInfo, Dimension, DimensionInfo, EntityInfo, Ledger, PeriodInfo, PeriodKind, PeriodStatus,
    PostedLine,
};
use crate::money::round_to_minor_units;
use crate::reconcile::{OpenItem, Statement};
use crate::step::{CloseStep, EntityAccess, Message, StepError, StepInput, StepOutput};
use crate::wire::{format_decimal, parse_date, parse_decimal};

/// Decimal places kept on a rate derived as the inverse of the opposite pair's, as the host
/// keeps them (`closebook_ledger::rate::INVERSE_RATE_DECIMALS`): 1 / 1.08 is 0.925925925926.
pub const INVERSE_RATE_DECIMALS: u32 = 12;

/// The most lines one `lines` page returns, whatever the query asks. The host has a cap of its
/// own; a smaller one here makes paging bugs show up in unit tests.
pub const LINE_PAGE_SIZE_MAX: u32 = 1000;

/// Parses a decimal in the boundary grammar for a test, e.g. `decimal("1250.00")`.
///
/// # Panics
/// When the text is not a boundary decimal.
pub fn decimal(text: &str) -> Decimal {
    match parse_decimal(text) {
        Ok(value) => value,
        Err(error) => panic!("test decimal: {error}"),
    }
}

/// Parses a `YYYY-MM-DD` date for a test, e.g. `date("2026-01-31")`.
///
/// # Panics
/// When the text is not a valid date.
pub fn date(text: &str) -> NaiveDate {
    match parse_date(text) {
        Ok(value) => value,
        Err(error) => panic!("test date: {error}"),
    }
}

/// One exchange rate: 1 `from` = `rate` `to`, effective from a date.
#[derive(Clone, Debug)]
struct Rate {
    from: CurrencyCode,
    to: CurrencyCode,
    rate_type: String,
    effective: NaiveDate,
    rate: Decimal,
}

/// An entity's chart, calendar and posted lines.
/// A reconciliation: entity, account, dimension values (canonical text) and period.
type ReconciliationKey = (EntityId, AccountNumber, String, PeriodName);

#[derive(Clone, Debug)]
struct TestEntity {
    info: EntityInfo,
    accounts: BTreeMap<AccountNumber, AccountInfo>,
    /// In calendar order: opening, operating periods, closing.
    periods: Vec<PeriodInfo>,
    /// In posting (id) order.
    lines: Vec<PostedLine>,
}

/// An in-memory ledger for unit tests. Build it with the setup methods, post fixture entries,
/// then run a step with [`TestLedger::run_step`] and inspect the output and [`TestLedger::logs`].
///
/// ```
/// use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
/// use closebook_plugin_sdk::{AccountInfo, AccountType, EntityInfo, JournalBuilder};
///
/// let mut ledger = TestLedger::new();
/// ledger
///     .add_currency("USD", 2)
///     .add_entity(EntityInfo::new("ACME", "Acme Inc.", "USD", "3900", "spot"))
///     .add_account("ACME", AccountInfo::new("1100", "Bank", AccountType::Asset))
///     .add_account("ACME", AccountInfo::new("4000", "Sales", AccountType::Revenue))
///     .add_fiscal_year("ACME", 2026);
/// ledger.post(
///     JournalBuilder::new("ACME", date("2026-01-15"), "Sale")
///         .debit("1100", decimal("100.00"))
///         .credit("4000", decimal("100.00"))
///         .build()
///         .unwrap(),
/// );
/// ```
#[derive(Debug, Default)]
pub struct TestLedger {
    currencies: BTreeMap<CurrencyCode, CurrencyInfo>,
    dimensions: BTreeMap<String, DimensionInfo>,
    entities: BTreeMap<EntityId, TestEntity>,
    rates: Vec<Rate>,
    log: RefCell<Vec<Message>>,
    /// Imported bank statements by entity, account, dimension values (canonical) and period.
    statements: BTreeMap<ReconciliationKey, Statement>,
    /// Reconciling items open in a period, by the same key.
    open_items: BTreeMap<ReconciliationKey, Vec<OpenItem>>,
    entries_posted: u64,
    lines_posted: u64,
    settlements_recorded: u64,
}

impl TestLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a currency with its minor units.
    pub fn add_currency(&mut self, code: impl Into<CurrencyCode>, minor_units: u8) -> &mut Self {
        let code = code.into();
        self.currencies.insert(code.clone(), CurrencyInfo { code, minor_units });
        self
    }

    /// Registers a financial dimension and its values.
    pub fn add_dimension(
        &mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> &mut Self {
        let name = name.into();
        let values = values.into_iter().map(Into::into).collect();
        self.dimensions.insert(name.clone(), DimensionInfo { name, values });
        self
    }

    /// Registers an entity.
    ///
    /// # Panics
    /// When its accounting currency is not registered or the entity already exists.
    pub fn add_entity(&mut self, info: EntityInfo) -> &mut Self {
        assert!(
            self.currencies.contains_key(&info.currency),
            "entity {}: register currency {} before the entity",
            info.id,
            info.currency
        );
        assert!(
            !self.entities.contains_key(&info.id),
            "entity {} is registered twice",
            info.id
        );
        self.entities.insert(
            info.id.clone(),
            TestEntity {
                info,
                accounts: BTreeMap::new(),
                periods: Vec::new(),
                lines: Vec::new(),
            },
        );
        self
    }

    /// Adds an account to an entity's chart.
    ///
    /// # Panics
    /// When the entity does not exist.
    pub fn add_account(&mut self, entity: impl Into<EntityId>, account: AccountInfo) -> &mut Self {
        let entity = self.entity_mut(&entity.into());
        entity.accounts.insert(account.number.clone(), account);
        self
    }

    /// Adds a fiscal year that follows the calendar year: `FY{year}-opening` (1 January only),
    /// the twelve monthly periods `YYYY-MM`, and `FY{year}-closing` (the dates of December),
    /// all open. The same as [`TestLedger::add_fiscal_year_starting`] with start month 1.
    ///
    /// # Panics
    /// When the entity does not exist or the year is outside chrono's range.
    pub fn add_fiscal_year(&mut self, entity: impl Into<EntityId>, year: i32) -> &mut Self {
        self.add_fiscal_year_starting(entity, year, 1)
    }

    /// Adds a fiscal year the way the host's calendars shape it, for a calendar that starts in
    /// `start_month`: the year is named by the calendar year in which it ends (`FY2026` starting
    /// in July runs from 2025-07-01 to 2026-06-30); the opening period `FY2026-opening` is one
    /// day long, the first day of the year; twelve monthly operating periods `YYYY-MM` follow;
    /// the closing period `FY2026-closing` has the dates of the last one. All are open.
    ///
    /// # Panics
    /// When the entity does not exist, the start month is not 1 to 12, or the year is outside
    /// chrono's range.
    pub fn add_fiscal_year_starting(
        &mut self,
        entity: impl Into<EntityId>,
        end_year: i32,
        start_month: u32,
    ) -> &mut Self {
        assert!(
            (1..=12).contains(&start_month),
            "start month {start_month} is not a month (1 to 12)"
        );
        let fiscal_year = format!("FY{end_year}");
        let start_year = if start_month == 1 { end_year } else { end_year - 1 };
        let first_day = NaiveDate::from_ymd_opt(start_year, start_month, 1)
            .unwrap_or_else(|| panic!("fiscal year {fiscal_year} is outside the supported date range"));
        let month_start = |index: u32| {
            first_day
                .checked_add_months(Months::new(index))
                .unwrap_or_else(|| panic!("fiscal year {fiscal_year} is outside the supported date range"))
        };
        let period = |name: String, kind, start: NaiveDate, end: NaiveDate| PeriodInfo {
            name: name.into(),
            kind,
            start,
            end,
            fiscal_year: fiscal_year.clone(),
            status: PeriodStatus::Open,
        };
        let mut periods = vec![period(
            format!("{fiscal_year}-opening"),
            PeriodKind::Opening,
            first_day,
            first_day,
        )];
        for index in 0..12 {
            let start = month_start(index);
            periods.push(period(
                format!("{:04}-{:02}", start.year(), start.month()),
                PeriodKind::Operating,
                start,
                last_day_of_month(start),
            ));
        }
        let last_month = month_start(11);
        periods.push(period(
            format!("{fiscal_year}-closing"),
            PeriodKind::Closing,
            last_month,
            last_day_of_month(last_month),
        ));
        let entity = entity.into();
        for period in periods {
            self.add_period(entity.clone(), period);
        }
        self
    }

    /// Adds one period of any shape, for calendars that are not the calendar year.
    ///
    /// # Panics
    /// When the entity does not exist or already has a period of that name.
    pub fn add_period(&mut self, entity: impl Into<EntityId>, period: PeriodInfo) -> &mut Self {
        let entity = self.entity_mut(&entity.into());
        assert!(
            entity.periods.iter().all(|known| known.name != period.name),
            "period {} is added twice to entity {}",
            period.name,
            entity.info.id
        );
        entity.periods.push(period);
        entity.periods.sort_by_key(calendar_order);
        self
    }

    /// Sets a period's status.
    ///
    /// # Panics
    /// When the entity or the period does not exist.
    pub fn set_period_status(
        &mut self,
        entity: impl Into<EntityId>,
        period: impl Into<PeriodName>,
        status: PeriodStatus,
    ) -> &mut Self {
        let period = period.into();
        let entity = self.entity_mut(&entity.into());
        let id = entity.info.id.clone();
        match entity.periods.iter_mut().find(|known| known.name == period) {
            Some(known) => known.status = status,
            None => panic!("period {period} does not exist in entity {id}"),
        }
        self
    }

    /// Adds an exchange rate: 1 `from` = `rate` `to` of a rate type, effective from a date.
    pub fn add_rate(
        &mut self,
        from: impl Into<CurrencyCode>,
        to: impl Into<CurrencyCode>,
        rate_type: impl Into<String>,
        effective: NaiveDate,
        rate: Decimal,
    ) -> &mut Self {
        self.rates.push(Rate {
            from: from.into(),
            to: to.into(),
            rate_type: rate_type.into(),
            effective,
            rate,
        });
        self
    }

    /// Posts an entry as the host would after validation, and returns the ids of its lines.
    /// The period is the one the entry names, else the operating period containing its date.
    /// A line without a currency is in the accounting currency; a foreign line without an
    /// accounting amount is converted at the entity's default rate type on the entry date and
    /// rounded to the accounting currency. A line without a description takes the entry's. A
    /// reversal date posts the reversing entry too, in the operating period of that date, with
    /// every amount negated and the lines' descriptions kept. Period status is not checked, so
    /// fixtures can build history in closed periods.
    ///
    /// # Panics
    /// When the entity, the period, an account or a needed rate does not exist, when the date
    /// lies outside the period the entry names, or when the accounting-currency amounts do not
    /// sum to zero.
    pub fn post(&mut self, entry: ProposedEntry) -> Vec<LineId> {
        let mut line_ids = self.post_one(&entry, entry.date, false);
        if let Some(reversal_date) = entry.reversal_date {
            line_ids.extend(self.post_one(&entry, reversal_date, true));
        }
        line_ids
    }

    /// Posts every entry and records every settlement of a step's output, so that a test can
    /// run a later step on the result.
    ///
    /// # Panics
    /// As [`TestLedger::post`] and [`TestLedger::settle`] do.
    pub fn post_output(&mut self, output: &StepOutput) {
        for entry in &output.entries {
            self.post(entry.clone());
        }
        for settlement in &output.settlements {
            self.settle(settlement);
        }
    }

    /// Records a settlement: the lines get a new settlement id.
    ///
    /// # Panics
    /// When a line does not exist or is already settled, when the lines belong to more than
    /// one account, or when their accounting amounts do not sum to zero.
    pub fn settle(&mut self, settlement: &ProposedSettlement) -> SettlementId {
        self.settlements_recorded += 1;
        let settlement_id = SettlementId(self.settlements_recorded);
        let entity = self.entity_mut(&settlement.entity);
        let mut account: Option<AccountNumber> = None;
        let mut total = Decimal::ZERO;
        for line_id in &settlement.line_ids {
            let Some(line) = entity.lines.iter_mut().find(|line| line.id == *line_id) else {
                panic!("settlement: line {line_id} does not exist in entity {}", entity.info.id);
            };
            assert!(
                line.settlement_id.is_none(),
                "settlement: line {line_id} is already settled"
            );
            if let Some(account) = &account {
                assert_eq!(
                    account, &line.account,
                    "settlement: line {line_id} is on another account"
                );
            }
            account = Some(line.account.clone());
            total += line.accounting_amount;
            line.settlement_id = Some(settlement_id);
        }
        assert!(total.is_zero(), "settlement: the lines sum to {total}, not zero");
        settlement_id
    }

    /// A step input for `entity` and `period` with this configuration: every registered entity
    /// readable, only `entity` postable, balances as of the period end.
    ///
    /// # Panics
    /// When the entity or the period does not exist.
    pub fn step_input(
        &self,
        entity: impl Into<EntityId>,
        period: impl Into<PeriodName>,
        config: serde_json::Value,
    ) -> StepInput {
        let entity = entity.into();
        let period = period.into();
        let Some(known) = self.entities.get(&entity) else {
            panic!("entity {entity} does not exist");
        };
        let Some(period) = known.periods.iter().find(|known| known.name == period) else {
            panic!("period {period} does not exist in entity {entity}");
        };
        StepInput {
            entities: self
                .entities
                .keys()
                .map(|id| EntityAccess {
                    entity: id.clone(),
                    post: *id == entity,
                })
                .collect(),
            entity,
            as_of: period.end,
            period: period.clone(),
            config,
        }
    }

    /// Runs a step against this ledger, as the host would, and checks that every decimal in
    /// the output can cross the boundary (the wasm build would fail the run otherwise).
    pub fn run_step<Step: CloseStep>(&self, input: StepInput) -> Result<StepOutput, StepError> {
        let output = Step::run(input, self)?;
        for entry in &output.entries {
            for line in &entry.lines {
                format_decimal(line.amount)?;
                if let Some(accounting_amount) = line.accounting_amount {
                    format_decimal(accounting_amount)?;
                }
            }
        }
        for item in &output.reconciling_items {
            format_decimal(item.amount)?;
        }
        for finding in &output.findings {
            format_decimal(finding.current)?;
            format_decimal(finding.baseline)?;
        }
        Ok(output)
    }

    /// Imports a bank statement for a reconciliation of `account` of `entity` in `period`
    /// (interface 0.2's `statement` query reads it back), over the whole account.
    ///
    /// # Panics
    /// When the entity, the account or the period does not exist, or when opening plus the
    /// lines is not the closing balance (the host refuses such a statement).
    pub fn add_statement(
        &mut self,
        entity: impl Into<EntityId>,
        account: impl Into<AccountNumber>,
        period: impl Into<PeriodName>,
        statement: Statement,
    ) -> &mut Self {
        let key = self.reconciliation_key(entity.into(), account.into(), period.into());
        let total: Decimal = statement.lines.iter().map(|line| line.amount).sum();
        assert_eq!(
            statement.opening + total,
            statement.closing,
            "statement: opening {} plus the lines is not the closing balance {}",
            statement.opening,
            statement.closing
        );
        let mut statement = statement;
        // The host imports only lines of the period and returns them by line number.
        let known = self.period_of(&key.0, &key.3);
        for line in &statement.lines {
            assert!(
                known.start <= line.date && line.date <= known.end,
                "statement line {}: {} is outside period {} ({} to {})",
                line.line_no,
                line.date,
                known.name,
                known.start,
                known.end
            );
        }
        statement.lines.sort_by_key(|line| line.line_no);
        if let Some(pair) = statement
            .lines
            .windows(2)
            .find(|pair| pair[0].line_no == pair[1].line_no)
        {
            panic!("statement line number {} is given twice", pair[0].line_no);
        }
        self.statements.insert(key, statement);
        self
    }

    /// Period `period` of `entity`, which exists.
    fn period_of(&self, entity: &EntityId, period: &PeriodName) -> &PeriodInfo {
        self.entities[entity]
            .periods
            .iter()
            .find(|known| &known.name == period)
            .expect("checked by reconciliation_key")
    }

    /// Makes `item` open in `period` in the reconciliation of `account` of `entity` (interface
    /// 0.2's `reconciling_items` query returns it). Carrying an item forward is the test's to
    /// do, as the host does it: add the item to each period it is open in, from the one it
    /// opened in (`item.period`), with `cleared` set in the period it clears in and in no later
    /// one.
    ///
    /// # Panics
    /// When the entity, the account or the period does not exist; when the item opened in a
    /// period that does not exist or comes after `period`; when its id is given twice for the
    /// period; when its amount is zero or has more decimals than the entity's currency.
    pub fn add_open_item(
        &mut self,
        entity: impl Into<EntityId>,
        account: impl Into<AccountNumber>,
        period: impl Into<PeriodName>,
        item: OpenItem,
    ) -> &mut Self {
        let key = self.reconciliation_key(entity.into(), account.into(), period.into());
        let known = &self.entities[&key.0];
        let position = |name: &PeriodName| known.periods.iter().position(|period| &period.name == name);
        let Some(opened) = position(&item.period) else {
            panic!(
                "item {}: period {} does not exist in entity {}",
                item.id, item.period, key.0
            );
        };
        assert!(
            opened <= position(&key.3).expect("checked by reconciliation_key"),
            "item {} opened in {}, after {}: it is not open there",
            item.id,
            item.period,
            key.3
        );
        assert!(
            !item.amount.is_zero(),
            "item {}: an amount of 0 explains nothing",
            item.id
        );
        let minor_units = self
            .currencies
            .get(&known.info.currency)
            .map_or(u32::MAX, |currency| u32::from(currency.minor_units));
        assert!(
            item.amount.normalize().scale() <= minor_units,
            "item {}: amount {} has more decimals than {}'s {minor_units}",
            item.id,
            item.amount,
            known.info.currency
        );
        let items = self.open_items.entry(key).or_default();
        assert!(
            items.iter().all(|other| other.id != item.id),
            "item {} is given twice for the period",
            item.id
        );
        items.push(item);
        self
    }

    /// The key of the reconciliation of `account` of `entity` in `period`, over the whole account.
    ///
    /// # Panics
    /// When the entity, the account or the period does not exist.
    fn reconciliation_key(&self, entity: EntityId, account: AccountNumber, period: PeriodName) -> ReconciliationKey {
        let Some(known) = self.entities.get(&entity) else {
            panic!("entity {entity} does not exist");
        };
        assert!(
            known.accounts.contains_key(&account),
            "account {account} does not exist in entity {entity}"
        );
        assert!(
            known.periods.iter().any(|known| known.name == period),
            "period {period} does not exist in entity {entity}"
        );
        (entity, account, String::new(), period)
    }

    /// Every message the steps run so far wrote to the log, oldest first.
    pub fn logs(&self) -> Vec<Message> {
        self.log.borrow().clone()
    }

    /// Every line posted in an entity, in posting order.
    ///
    /// # Panics
    /// When the entity does not exist.
    pub fn posted_lines(&self, entity: impl Into<EntityId>) -> &[PostedLine] {
        let entity = entity.into();
        match self.entities.get(&entity) {
            Some(known) => &known.lines,
            None => panic!("entity {entity} does not exist"),
        }
    }

    fn entity_mut(&mut self, entity: &EntityId) -> &mut TestEntity {
        match self.entities.get_mut(entity) {
            Some(known) => known,
            None => panic!("entity {entity} does not exist: register it first"),
        }
    }

    /// Posts an entry, or its reversal (amounts negated) on `date`.
    fn post_one(&mut self, entry: &ProposedEntry, date: NaiveDate, reverse: bool) -> Vec<LineId> {
        let Some(entity) = self.entities.get(&entry.entity) else {
            panic!("entry {:?}: entity {} does not exist", entry.description, entry.entity);
        };
        let period = match (&entry.period, reverse) {
            (Some(name), false) => entity.periods.iter().find(|period| &period.name == name),
            _ => entity
                .periods
                .iter()
                .find(|period| period.kind == PeriodKind::Operating && period.start <= date && date <= period.end),
        };
        let Some(period) = period else {
            panic!(
                "entry {:?}: no period for {date} in entity {}",
                entry.description, entry.entity
            );
        };
        // The host refuses a date outside the period an entry names.
        assert!(
            period.start <= date && date <= period.end,
            "entry {:?}: date {date} is outside period {} ({} to {})",
            entry.description,
            period.name,
            period.start,
            period.end
        );
        let period = period.name.clone();
        let sign = if reverse { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
        let mut lines = Vec::with_capacity(entry.lines.len());
        for line in &entry.lines {
            assert!(
                entity.accounts.contains_key(&line.account),
                "entry {:?}: account {} does not exist in entity {}",
                entry.description,
                line.account,
                entry.entity
            );
            let currency = line.currency.clone().unwrap_or_else(|| entity.info.currency.clone());
            let accounting_amount = match line.accounting_amount {
                Some(amount) => amount,
                None if currency == entity.info.currency => line.amount,
                None => self.convert(&entity.info, &currency, line.amount, entry.date),
            };
            let mut dimensions: Vec<Dimension> = line.dimensions.clone();
            dimensions.sort();
            lines.push((
                line.account.clone(),
                dimensions,
                currency,
                line.amount * sign,
                accounting_amount * sign,
                line.description.clone().unwrap_or_else(|| entry.description.clone()),
            ));
        }
        let total: Decimal = lines.iter().map(|line| line.4).sum();
        assert!(
            total.is_zero(),
            "entry {:?}: accounting amounts sum to {total}, not zero",
            entry.description
        );
        self.entries_posted += 1;
        let entry_id = EntryId(self.entries_posted);
        let entry_key = format!("TEST-{:06}", entry_id.get());
        let mut line_ids = Vec::with_capacity(lines.len());
        for (account, dimensions, currency, amount, accounting_amount, line_description) in lines {
            self.lines_posted += 1;
            let id = LineId(self.lines_posted);
            line_ids.push(id);
            let posted = PostedLine {
                id,
                entry_id,
                entry_key: entry_key.clone(),
                date,
                period: period.clone(),
                account,
                dimensions,
                currency,
                amount,
                accounting_amount,
                description: line_description,
                settlement_id: None,
            };
            self.entity_mut(&entry.entity).lines.push(posted);
        }
        line_ids
    }

    /// Converts a foreign amount at the entity's default rate type, rounded to the accounting
    /// currency's minor units.
    fn convert(&self, entity: &EntityInfo, currency: &CurrencyCode, amount: Decimal, on: NaiveDate) -> Decimal {
        let rate = match self.rate(currency, &entity.currency, &entity.default_rate_type, on) {
            Ok(Some(rate)) => rate,
            _ => panic!(
                "no {} rate from {currency} to {} on {on}: add one with TestLedger::add_rate or give \
                 the line's accounting amount",
                entity.default_rate_type, entity.currency
            ),
        };
        let minor_units = self
            .currencies
            .get(&entity.currency)
            .map_or(2, |currency| currency.minor_units);
        round_to_minor_units(amount * rate, minor_units)
    }
}

/// Sort key for calendar order: by start date, and on the same start date opening before
/// operating before closing.
fn calendar_order(period: &PeriodInfo) -> (NaiveDate, u8) {
    let rank = match period.kind {
        PeriodKind::Opening => 0,
        PeriodKind::Operating => 1,
        PeriodKind::Closing => 2,
    };
    (period.start, rank)
}

/// The last day of the month that `first_day` starts.
fn last_day_of_month(first_day: NaiveDate) -> NaiveDate {
    let (year, month) = if first_day.month() == 12 {
        (first_day.year() + 1, 1)
    } else {
        (first_day.year(), first_day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|next_month| next_month.pred_opt())
        .unwrap_or(first_day)
}
