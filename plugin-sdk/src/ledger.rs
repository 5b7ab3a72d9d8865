//! What a close step can read: the [`Ledger`] trait with the read-only queries of the WIT
//! `ledger` interface plus the step log, and the records those queries return. In a `.wasm`
//! the SDK implements [`Ledger`] over the host's imports; in native tests
//! [`crate::testing::TestLedger`] implements it in memory with the same semantics.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryId, LineId, PeriodName, SettlementId};
use crate::paging::Lines;
use crate::reconcile::{OpenItem, Statement, StatementQuery};
use crate::step::Level;

/// How many lines [`LineQuery::new`] asks for per page. The host caps every page at its own
/// limit, so this is a request, not a promise; the paging helpers follow `next` either way.
pub const LINE_PAGE_SIZE_DEFAULT: u32 = 500;

/// The read-only ledger a step runs against: a consistent snapshot taken when the step starts,
/// plus the step log. Queries return results in a deterministic order; a refused query (an
/// entity the task may not read, an unknown period) returns a [`QueryError`].
pub trait Ledger {
    /// The entity's settings: accounting currency, retained earnings account, default rate type.
    fn entity(&self, entity: &EntityId) -> Result<EntityInfo, QueryError>;

    /// Every currency the ledger knows, with its minor units.
    fn currencies(&self) -> Vec<CurrencyInfo>;

    /// The entity's chart of accounts, ordered by account number.
    fn accounts(&self, entity: &EntityId) -> Result<Vec<AccountInfo>, QueryError>;

    /// Every financial dimension and its values.
    fn dimensions(&self) -> Vec<DimensionInfo>;

    /// The periods of one fiscal year (`FY2026`), or of every year when `None`, in calendar
    /// order: opening, the operating periods, closing.
    fn periods(&self, entity: &EntityId, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, QueryError>;

    /// Balances per account × kept dimensions × transaction currency over a period range.
    fn balances(&self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, QueryError>;

    /// One page of posted lines of one account, in increasing line id order. Prefer
    /// [`all_lines`](trait.Ledger.html#method.all_lines), which follows the cursor for you.
    fn lines(&self, query: &LineQuery) -> Result<LinePage, QueryError>;

    /// The rate from one currency to another (1 `from` = rate `to`) of a rate type on a date:
    /// 1 for the same currency; else the pair's latest rate on or before the date, or `None`
    /// when its rates all start later. Only when the pair has no rate of that type at all is
    /// the opposite pair's latest rate used, as `1 / rate` rounded to 12 decimal places. There
    /// is no triangulation through a third currency.
    fn rate(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
        rate_type: &str,
        on: NaiveDate,
    ) -> Result<Option<Decimal>, QueryError>;

    /// The latest bank statement imported for a reconciliation (`closebook reconcile
    /// import-statement`), or `None` when the reconciliation has none. Interface 0.2; a ledger
    /// without reconciliations refuses it.
    fn statement(&self, query: &StatementQuery) -> Result<Option<Statement>, QueryError> {
        let _ = query;
        Err(QueryError::new("this ledger has no reconciliation statements"))
    }

    /// The reconciling items of the query's period, oldest first: open in it (carried forward
    /// from earlier periods included) or cleared in it ([`OpenItem::cleared`]). Interface 0.2; a ledger without reconciliations refuses it.
    fn reconciling_items(&self, query: &StatementQuery) -> Result<Vec<OpenItem>, QueryError> {
        let _ = query;
        Err(QueryError::new("this ledger has no reconciliations"))
    }

    /// Writes a message to the step log, which the host keeps with the run.
    fn log(&self, level: Level, message: &str);

    /// Writes a debug message to the step log.
    fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Writes an informational message to the step log.
    fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Writes a warning to the step log.
    fn warning(&self, message: &str) {
        self.log(Level::Warning, message);
    }

    /// Writes an error to the step log.
    fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// One currency's settings, `None` when the ledger does not know the code.
    fn currency(&self, code: &CurrencyCode) -> Option<CurrencyInfo> {
        self.currencies().into_iter().find(|currency| &currency.code == code)
    }
}

impl dyn Ledger + '_ {
    /// Every line a query matches, following the `next` cursor page by page from
    /// `query.after`. Stops after the first error, and refuses a cursor that does not advance
    /// or more than [`crate::paging::LINE_PAGES_MAX`] pages.
    pub fn all_lines(&self, query: LineQuery) -> Lines<'_> {
        Lines::new(self, query)
    }
}

/// A refusal of a ledger query, e.g. reading an entity the task may not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// What was refused and why.
    pub message: String,
}

impl QueryError {
    /// A refusal with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The five main account types: the first three are balance sheet, the last two profit & loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountType {
    /// What the entity owns.
    Asset,
    /// What the entity owes.
    Liability,
    /// The owners' stake, retained earnings included.
    Equity,
    /// Income; its balances are credits (negative).
    Revenue,
    /// Costs; its balances are debits (positive).
    Expense,
}

impl AccountType {
    /// Whether balances of this type carry into the next year (asset, liability, equity)
    /// rather than starting every year at zero (revenue, expense).
    pub fn is_balance_sheet(self) -> bool {
        matches!(self, Self::Asset | Self::Liability | Self::Equity)
    }
}

/// The kind of a fiscal period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    /// The period at the start of a year that holds carried-forward balances.
    Opening,
    /// A normal (usually monthly) period.
    Operating,
    /// A period with the dates of the last operating period that keeps closing entries apart.
    Closing,
}

/// Whether a period accepts postings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodStatus {
    /// Posting allowed.
    Open,
    /// No posting; can be reopened.
    OnHold,
    /// No posting, never reopened.
    PermanentlyClosed,
}

/// One financial dimension value on a line, e.g. department = 100.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dimension {
    /// The dimension's name, e.g. `department`.
    pub name: String,
    /// The value on this line, e.g. `100`.
    pub value: String,
}

impl Dimension {
    /// A dimension value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A dimension set as the ledger keys, orders and shows it: `name=value` pairs sorted by name
/// and joined with `;`, e.g. `cost-center=CC7;department=100`. Sort buckets by it to propose
/// lines in the order the host reads them back.
pub fn canonical_dimensions(dimensions: &[Dimension]) -> String {
    closebook_wire::dimension::canonical_text_of_unsorted(
        dimensions
            .iter()
            .map(|dimension| (dimension.name.as_str(), dimension.value.as_str())),
    )
}

/// A fiscal period of an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodInfo {
    /// `YYYY-MM` for operating periods, `FY2026-opening`, `FY2026-closing`.
    pub name: PeriodName,
    /// Opening, operating or closing.
    pub kind: PeriodKind,
    /// The first day of the period.
    pub start: NaiveDate,
    /// The last day of the period.
    pub end: NaiveDate,
    /// `FY2026`: named by the calendar year in which it ends.
    pub fiscal_year: String,
    /// Whether the period accepts postings.
    pub status: PeriodStatus,
}

/// A legal entity's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityInfo {
    /// The entity's id.
    pub id: EntityId,
    /// Its display name.
    pub name: String,
    /// The accounting currency.
    pub currency: CurrencyCode,
    /// Where year-end close transfers profit and loss.
    pub retained_earnings_account: AccountNumber,
    /// The rate type used to convert lines and revalue accounts that name none.
    pub default_rate_type: String,
    /// The account that absorbs rounding pennies of converted multi-currency entries.
    pub penny_rounding_account: Option<AccountNumber>,
}

impl EntityInfo {
    /// An entity without a penny-rounding account.
    pub fn new(
        id: impl Into<EntityId>,
        name: impl Into<String>,
        currency: impl Into<CurrencyCode>,
        retained_earnings_account: impl Into<AccountNumber>,
        default_rate_type: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            currency: currency.into(),
            retained_earnings_account: retained_earnings_account.into(),
            default_rate_type: default_rate_type.into(),
            penny_rounding_account: None,
        }
    }
}

/// A currency and its minor units (USD 2, JPY 0, KWD 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyInfo {
    /// The ISO 4217 code.
    pub code: CurrencyCode,
    /// Digits after the decimal point that amounts in this currency are rounded to.
    pub minor_units: u8,
}

impl CurrencyInfo {
    /// Rounds an amount to this currency's minor units, half away from zero.
    pub fn round(&self, amount: Decimal) -> Decimal {
        crate::money::round_to_minor_units(amount, self.minor_units)
    }
}

/// A main account of an entity's chart of accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account number.
    pub number: AccountNumber,
    /// Its name.
    pub name: String,
    /// Asset, liability, equity, revenue or expense.
    pub account_type: AccountType,
    /// Flagged for foreign currency revaluation.
    pub revalue: bool,
    /// Enabled for ledger settlement (open-item matching).
    pub settle: bool,
    /// The rate type revaluation uses for this account, when not the entity's default.
    pub rate_type: Option<String>,
    /// The only transaction currency the account accepts, when restricted.
    pub fixed_currency: Option<CurrencyCode>,
    /// A free grouping used by reports, e.g. `cash`.
    pub category: Option<String>,
    /// Blocked accounts accept no postings.
    pub blocked: bool,
}

impl AccountInfo {
    /// An account with no flags set: not revalued, not settled, not blocked.
    pub fn new(number: impl Into<AccountNumber>, name: impl Into<String>, account_type: AccountType) -> Self {
        Self {
            number: number.into(),
            name: name.into(),
            account_type,
            revalue: false,
            settle: false,
            rate_type: None,
            fixed_currency: None,
            category: None,
            blocked: false,
        }
    }
}

/// A financial dimension and its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionInfo {
    /// The dimension's name, e.g. `department`.
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
}

/// Which accounts a balance query covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountFilter {
    /// Every account.
    All,
    /// These accounts.
    List(Vec<AccountNumber>),
    /// An inclusive range of account numbers, compared as text.
    Range(AccountNumber, AccountNumber),
    /// Every account of these types.
    Types(Vec<AccountType>),
}

/// A balance query: accounts, a period range, and optional currency and dimension filters.
/// Build one with [`BalanceQuery::new`] and the chained setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceQuery {
    /// The entity to read.
    pub entity: EntityId,
    /// Which accounts to cover.
    pub accounts: AccountFilter,
    /// The first period of the range, inclusive.
    pub from_period: PeriodName,
    /// The last period of the range, inclusive.
    pub to_period: PeriodName,
    /// Only this transaction currency, when given.
    pub currency: Option<CurrencyCode>,
    /// Only lines carrying every one of these dimension values.
    pub dimension_filter: Vec<Dimension>,
    /// Keep these dimensions in the result rows; all others are summed over. `["*"]` keeps
    /// every dimension; empty sums over all of them.
    pub group_by_dimensions: Vec<String>,
}

impl BalanceQuery {
    /// All accounts of an entity over a period range, every currency, dimensions summed over.
    pub fn new(
        entity: impl Into<EntityId>,
        from_period: impl Into<PeriodName>,
        to_period: impl Into<PeriodName>,
    ) -> Self {
        Self {
            entity: entity.into(),
            accounts: AccountFilter::All,
            from_period: from_period.into(),
            to_period: to_period.into(),
            currency: None,
            dimension_filter: Vec::new(),
            group_by_dimensions: Vec::new(),
        }
    }

    /// Covers only these accounts.
    pub fn accounts(mut self, accounts: AccountFilter) -> Self {
        self.accounts = accounts;
        self
    }

    /// Covers only lines in this transaction currency.
    pub fn currency(mut self, currency: impl Into<CurrencyCode>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// Covers only lines carrying this dimension value (in addition to earlier filters).
    pub fn dimension_filter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimension_filter.push(Dimension::new(name, value));
        self
    }

    /// Keeps this dimension in the result rows (in addition to earlier ones); `"*"` keeps all.
    pub fn group_by(mut self, dimension: impl Into<String>) -> Self {
        self.group_by_dimensions.push(dimension.into());
        self
    }
}

/// The balance of one account × dimension set × transaction currency over a period range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRow {
    /// The account.
    pub account: AccountNumber,
    /// The kept dimensions, ordered by name.
    pub dimensions: Vec<Dimension>,
    /// The transaction currency.
    pub currency: CurrencyCode,
    /// Net amount in the transaction currency.
    pub amount: Decimal,
    /// Net amount in the entity's accounting currency.
    pub accounting_amount: Decimal,
    /// Debit turnover in accounting currency (sum of positive lines, >= 0).
    pub debit: Decimal,
    /// Credit turnover in accounting currency (sum of negative lines as a positive number).
    pub credit: Decimal,
}

/// One page request for posted lines of one account. Build one with [`LineQuery::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineQuery {
    /// The entity to read.
    pub entity: EntityId,
    /// The account whose lines to read.
    pub account: AccountNumber,
    /// The first period of the range, inclusive.
    pub from_period: PeriodName,
    /// The last period of the range, inclusive.
    pub to_period: PeriodName,
    /// Return lines with an id greater than this one (cursor paging).
    pub after: Option<LineId>,
    /// At most this many lines; the host caps it.
    pub limit: u32,
    /// Include lines that carry an active settlement.
    pub include_settled: bool,
}

impl LineQuery {
    /// Every line of an account over a period range, settled ones included, from the start,
    /// [`LINE_PAGE_SIZE_DEFAULT`] lines a page.
    pub fn new(
        entity: impl Into<EntityId>,
        account: impl Into<AccountNumber>,
        from_period: impl Into<PeriodName>,
        to_period: impl Into<PeriodName>,
    ) -> Self {
        Self {
            entity: entity.into(),
            account: account.into(),
            from_period: from_period.into(),
            to_period: to_period.into(),
            after: None,
            limit: LINE_PAGE_SIZE_DEFAULT,
            include_settled: true,
        }
    }

    /// Leaves out lines that carry an active settlement.
    pub fn exclude_settled(mut self) -> Self {
        self.include_settled = false;
        self
    }

    /// Asks for at most this many lines a page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Starts after this line id.
    pub fn after(mut self, after: LineId) -> Self {
        self.after = Some(after);
        self
    }
}

/// A posted journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedLine {
    /// The line's id; ids increase in posting order.
    pub id: LineId,
    /// The entry the line belongs to.
    pub entry_id: EntryId,
    /// The entry's key (voucher number).
    pub entry_key: String,
    /// The entry date.
    pub date: NaiveDate,
    /// The period the entry posted in.
    pub period: PeriodName,
    /// The account.
    pub account: AccountNumber,
    /// The line's dimension values, ordered by name.
    pub dimensions: Vec<Dimension>,
    /// The transaction currency.
    pub currency: CurrencyCode,
    /// The amount in the transaction currency; debit positive, credit negative.
    pub amount: Decimal,
    /// The amount in the entity's accounting currency.
    pub accounting_amount: Decimal,
    /// The line's description.
    pub description: String,
    /// The active settlement the line belongs to, if any.
    pub settlement_id: Option<SettlementId>,
}

/// One page of posted lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinePage {
    /// The lines, in increasing id order.
    pub lines: Vec<PostedLine>,
    /// Pass as `after` to read the next page; `None` when this was the last page.
    pub next: Option<LineId>,
}
