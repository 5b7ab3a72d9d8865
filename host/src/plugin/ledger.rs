//! The `ledger` import: what a close step may read, and the gate every read passes through.
//! The host answers queries through a [`LedgerReader`] (the store implements it over SQLite);
//! the gate in front of it refuses entities the task may not read, caps line pages, counts
//! every returned row against the run's row budget and charges it to the run's fuel, and ends
//! the run when a query outlasts the run's wall-time limit.

use super::error::HostTrap;
use super::limits::{
    PLUGIN_LINE_PAGE_ROWS_MAX, PLUGIN_QUERY_INPUT_ITEM_FUEL, PLUGIN_QUERY_LIST_ITEMS_MAX, PLUGIN_QUERY_ROW_FUEL,
};
use std::time::Instant;

use super::types::{
    AccountFilter, AccountInfo, BalanceQuery, BalanceRow, CurrencyInfo, DimensionInfo, EntityInfo, LinePage, LineQuery,
    OpenItemInfo, PeriodInfo, QueryError, StatementInfo, StatementQuery,
};

/// Why a [`LedgerReader`] did not answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The query is refused for a reason the step should handle, e.g. an unknown account or
    /// period. The guest receives it as a `query-error`; for `currencies` and `dimensions`,
    /// whose WIT signatures cannot carry a refusal, it ends the run like a failure.
    #[error("{message}")]
    Refused { message: String },
    /// The host could not answer (the database failed). The run ends with an error; the guest
    /// never sees it, because it is not the step's fault.
    #[error("{0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl LedgerError {
    /// A refusal the step sees as a `query-error` with this message.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused {
            message: message.into(),
        }
    }
}

/// Read-only access to the consistent ledger snapshot a run sees. One reader serves one run.
/// Entity access, line-page caps and row budgets are enforced in front of the reader, so an
/// implementation only has to answer queries.
pub trait LedgerReader: Send {
    /// The entity `entity` (WIT `ledger.entity`).
    fn entity(&mut self, entity: &str) -> Result<EntityInfo, LedgerError>;
    /// Every currency of the ledger (WIT `ledger.currencies`).
    fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, LedgerError>;
    /// The chart of accounts of `entity` (WIT `ledger.accounts`).
    fn accounts(&mut self, entity: &str) -> Result<Vec<AccountInfo>, LedgerError>;
    /// Every financial dimension with its values (WIT `ledger.dimensions`).
    fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, LedgerError>;
    /// Periods of a fiscal year, or of every year when `fiscal_year` is none, in calendar order
    /// (WIT `ledger.periods`).
    fn periods(&mut self, entity: &str, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, LedgerError>;
    /// Balances over a period range, deterministically ordered (WIT `ledger.balances`).
    fn balances(&mut self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, LedgerError>;
    /// One page of lines; `query.limit` is already capped at [`PLUGIN_LINE_PAGE_ROWS_MAX`], and
    /// a page longer than the limit ends the run as a host failure (WIT `ledger.lines`).
    fn lines(&mut self, query: &LineQuery) -> Result<LinePage, LedgerError>;
    /// The rate `from` → `to` of a rate type on a date, as a decimal string; none when absent
    /// (WIT `ledger.rate`).
    fn rate(&mut self, from: &str, to: &str, rate_type: &str, on: &str) -> Result<Option<String>, LedgerError>;
    /// The latest bank statement imported for a reconciliation, none when there is none
    /// (interface 0.2 `ledger.statement`). A reader without reconciliations refuses it.
    fn statement(&mut self, query: &StatementQuery) -> Result<Option<StatementInfo>, LedgerError> {
        let _ = query;
        Err(LedgerError::refused("this ledger has no reconciliation statements"))
    }
    /// The reconciling items open in the query's period (interface 0.2
    /// `ledger.reconciling-items`). A reader without reconciliations refuses it.
    fn reconciling_items(&mut self, query: &StatementQuery) -> Result<Vec<OpenItemInfo>, LedgerError> {
        let _ = query;
        Err(LedgerError::refused("this ledger has no reconciliations"))
    }
    /// Told once, before the run starts, when the run's wall-time limit ends. A reader whose
    /// queries can run long stops any query still running at `deadline` (the snapshot reader
    /// interrupts SQLite). Whatever the reader answers after the deadline, the gate ends the
    /// run with the wall-time limit; the default, for readers that answer at once, does nothing.
    fn stop_at(&mut self, deadline: Instant) {
        let _ = deadline;
    }
}

/// A reader for runs that must not read the ledger (`describe`): every query is refused.
pub(crate) struct NoLedger;

impl NoLedger {
    fn refusal() -> LedgerError {
        LedgerError::refused("the ledger cannot be read while a step describes itself")
    }
}

impl LedgerReader for NoLedger {
    fn entity(&mut self, _entity: &str) -> Result<EntityInfo, LedgerError> {
        Err(Self::refusal())
    }
    fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, LedgerError> {
        Ok(Vec::new())
    }
    fn accounts(&mut self, _entity: &str) -> Result<Vec<AccountInfo>, LedgerError> {
        Err(Self::refusal())
    }
    fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, LedgerError> {
        Ok(Vec::new())
    }
    fn periods(&mut self, _: &str, _: Option<&str>) -> Result<Vec<PeriodInfo>, LedgerError> {
        Err(Self::refusal())
    }
    fn balances(&mut self, _query: &BalanceQuery) -> Result<Vec<BalanceRow>, LedgerError> {
        Err(Self::refusal())
    }
    fn lines(&mut self, _query: &LineQuery) -> Result<LinePage, LedgerError> {
        Err(Self::refusal())
    }
    fn rate(&mut self, _: &str, _: &str, _: &str, _: &str) -> Result<Option<String>, LedgerError> {
        Err(Self::refusal())
    }
}

/// The run's side of the `ledger` import: the reader plus the rules every query obeys.
pub(crate) struct LedgerGate {
    reader: Box<dyn LedgerReader>,
    readable_entities: Vec<String>,
    rows_limit: u64,
    rows_read: u64,
    /// When the run's wall-time limit ends: a query answered later ends the run.
    deadline: Instant,
    /// Fuel owed for rows returned since the guest last ran; the store's call hook takes it
    /// from the fuel tank when control returns to the guest.
    fuel_debt: u64,
}

impl LedgerGate {
    pub(crate) fn new(
        mut reader: Box<dyn LedgerReader>,
        readable_entities: Vec<String>,
        rows_limit: u64,
        deadline: Instant,
    ) -> Self {
        reader.stop_at(deadline);
        Self {
            reader,
            readable_entities,
            rows_limit,
            rows_read: 0,
            deadline,
            fuel_debt: 0,
        }
    }

    pub(crate) fn rows_read(&self) -> u64 {
        self.rows_read
    }

    pub(crate) fn take_fuel_debt(&mut self) -> u64 {
        std::mem::take(&mut self.fuel_debt)
    }

    fn check_entity(&self, entity: &str) -> Result<(), QueryError> {
        if self.readable_entities.iter().any(|readable| readable == entity) {
            return Ok(());
        }
        tracing::debug!(entity, "query refused: the entity is not readable by this task");
        Err(QueryError {
            message: format!("entity {entity} is not readable by this task; add it to the task's entities"),
        })
    }

    /// Counts `rows` against the budget and the fuel, or ends the run when the budget is spent.
    pub(crate) fn charge(&mut self, rows: u64) -> wasmtime::Result<()> {
        let rows_read = self.rows_read.saturating_add(rows);
        if rows_read > self.rows_limit {
            return Err(wasmtime::Error::new(HostTrap::QueryRowsExceeded {
                limit: self.rows_limit,
            }));
        }
        self.rows_read = rows_read;
        self.fuel_debt = self
            .fuel_debt
            .saturating_add(rows.saturating_mul(PLUGIN_QUERY_ROW_FUEL));
        Ok(())
    }

    /// Charges the fuel owed for `items` listed in a query's input.
    fn charge_inputs(&mut self, items: u64) {
        self.fuel_debt = self
            .fuel_debt
            .saturating_add(items.saturating_mul(PLUGIN_QUERY_INPUT_ITEM_FUEL));
    }

    /// Turns a reader's answer into what the guest sees: rows are charged, refusals become
    /// `query-error`, failures end the run. An answer that comes after the run's deadline ends
    /// the run with the wall-time limit, whatever it is: the reader interrupts a query at the
    /// deadline, and the failure that makes must not read as a database fault.
    fn answer<T>(
        &mut self,
        answer: Result<T, LedgerError>,
        count_rows: impl Fn(&T) -> usize,
    ) -> wasmtime::Result<Result<T, QueryError>> {
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Error::new(HostTrap::WallTimeExceeded));
        }
        match answer {
            Ok(value) => {
                let rows = count_rows(&value) as u64;
                tracing::Span::current().record("rows", rows);
                self.charge(rows)?;
                Ok(Ok(value))
            }
            Err(LedgerError::Refused { message }) => {
                tracing::debug!(refusal = %message, "query refused");
                Ok(Err(QueryError { message }))
            }
            Err(LedgerError::Failed(error)) => Err(wasmtime::Error::new(HostTrap::LedgerFailed {
                reason: error.to_string(),
            })),
        }
    }

    /// Like [`Self::answer`] for queries whose WIT signature cannot carry a refusal.
    fn answer_infallible<T>(
        &mut self,
        query: &str,
        answer: Result<T, LedgerError>,
        count_rows: impl Fn(&T) -> usize,
    ) -> wasmtime::Result<T> {
        match self.answer(answer, count_rows)? {
            Ok(value) => Ok(value),
            Err(QueryError { message }) => Err(wasmtime::Error::new(HostTrap::LedgerFailed {
                reason: format!("`{query}` was refused, which its WIT signature does not allow: {message}"),
            })),
        }
    }
}

/// The span of one host query the plugin made: its name, its entity and (once answered) the
/// rows it returned. Debug level: a step makes tens of queries, a query storm thousands.
fn query_span(query: &'static str, entity: Option<&str>) -> tracing::span::EnteredSpan {
    tracing::debug_span!("host.query", query, entity, rows = tracing::field::Empty).entered()
}

/// The `ledger` import in the host's types; each interface version's module calls these.
impl LedgerGate {
    pub(crate) fn entity(&mut self, entity: String) -> wasmtime::Result<Result<EntityInfo, QueryError>> {
        let _query = query_span("entity", Some(&entity));
        if let Err(refusal) = self.check_entity(&entity) {
            return Ok(Err(refusal));
        }
        let answer = self.reader.entity(&entity);
        self.answer(answer, |_| 1)
    }

    pub(crate) fn currencies(&mut self) -> wasmtime::Result<Vec<CurrencyInfo>> {
        let _query = query_span("currencies", None);
        let answer = self.reader.currencies();
        self.answer_infallible("currencies", answer, Vec::len)
    }

    pub(crate) fn accounts(&mut self, entity: String) -> wasmtime::Result<Result<Vec<AccountInfo>, QueryError>> {
        let _query = query_span("accounts", Some(&entity));
        if let Err(refusal) = self.check_entity(&entity) {
            return Ok(Err(refusal));
        }
        let answer = self.reader.accounts(&entity);
        self.answer(answer, Vec::len)
    }

    pub(crate) fn dimensions(&mut self) -> wasmtime::Result<Vec<DimensionInfo>> {
        let _query = query_span("dimensions", None);
        let answer = self.reader.dimensions();
        // A dimension's values are rows too: a dimension can have thousands of them.
        self.answer_infallible("dimensions", answer, |dimensions| {
            dimensions.iter().map(|dimension| 1 + dimension.values.len()).sum()
        })
    }

    pub(crate) fn periods(
        &mut self,
        entity: String,
        fiscal_year: Option<String>,
    ) -> wasmtime::Result<Result<Vec<PeriodInfo>, QueryError>> {
        let _query = query_span("periods", Some(&entity));
        if let Err(refusal) = self.check_entity(&entity) {
            return Ok(Err(refusal));
        }
        let answer = self.reader.periods(&entity, fiscal_year.as_deref());
        self.answer(answer, Vec::len)
    }

    pub(crate) fn balances(&mut self, query: BalanceQuery) -> wasmtime::Result<Result<Vec<BalanceRow>, QueryError>> {
        let _query = query_span("balances", Some(&query.entity));
        if let Err(refusal) = self.check_entity(&query.entity) {
            return Ok(Err(refusal));
        }
        let listed = match &query.accounts {
            AccountFilter::List(accounts) => accounts.len(),
            AccountFilter::Types(types) => types.len(),
            AccountFilter::All | AccountFilter::Range(_) => 0,
        };
        for (what, count) in [
            ("accounts", listed),
            ("dimension filters", query.dimension_filter.len()),
            ("group-by dimensions", query.group_by_dimensions.len()),
        ] {
            if count > PLUGIN_QUERY_LIST_ITEMS_MAX {
                return Ok(Err(QueryError {
                    message: format!(
                        "the balance query lists {count} {what}; at most {PLUGIN_QUERY_LIST_ITEMS_MAX} are allowed; query a range or in several parts"
                    ),
                }));
            }
        }
        // The host's work grows with what the query lists, whatever it returns: a list of a
        // million accounts that do not exist returns nothing and still costs seconds.
        let items = listed + query.dimension_filter.len() + query.group_by_dimensions.len();
        self.charge_inputs(items as u64);
        let answer = self.reader.balances(&query);
        self.answer(answer, Vec::len)
    }

    pub(crate) fn lines(&mut self, mut query: LineQuery) -> wasmtime::Result<Result<LinePage, QueryError>> {
        let _query = query_span("lines", Some(&query.entity));
        if let Err(refusal) = self.check_entity(&query.entity) {
            return Ok(Err(refusal));
        }
        query.limit = query.limit.min(PLUGIN_LINE_PAGE_ROWS_MAX);
        let answer = self.reader.lines(&query);
        if let Ok(page) = &answer
            && page.lines.len() > query.limit as usize
        {
            return Err(wasmtime::Error::new(HostTrap::LedgerFailed {
                reason: format!(
                    "the ledger returned {} lines for a page of at most {}",
                    page.lines.len(),
                    query.limit
                ),
            }));
        }
        self.answer(answer, |page| page.lines.len())
    }

    pub(crate) fn rate(
        &mut self,
        from: String,
        to: String,
        rate_type: String,
        on: String,
    ) -> wasmtime::Result<Result<Option<String>, QueryError>> {
        let _query = query_span("rate", None);
        let answer = self.reader.rate(&from, &to, &rate_type, &on);
        self.answer(answer, |_| 1)
    }

    /// Refuses a reconciliation query of an entity the task may not read or listing too many
    /// dimensions; charges the dimensions it lists.
    fn check_reconciliation_query(&mut self, name: &str, query: &StatementQuery) -> Result<(), QueryError> {
        self.check_entity(&query.entity)?;
        if query.dimensions.len() > PLUGIN_QUERY_LIST_ITEMS_MAX {
            return Err(QueryError {
                message: format!(
                    "the {name} query lists {} dimensions; at most {PLUGIN_QUERY_LIST_ITEMS_MAX} are allowed",
                    query.dimensions.len()
                ),
            });
        }
        self.charge_inputs(query.dimensions.len() as u64);
        Ok(())
    }

    pub(crate) fn statement(
        &mut self,
        query: StatementQuery,
    ) -> wasmtime::Result<Result<Option<StatementInfo>, QueryError>> {
        let _query = query_span("statement", Some(&query.entity));
        if let Err(refusal) = self.check_reconciliation_query("statement", &query) {
            return Ok(Err(refusal));
        }
        let answer = self.reader.statement(&query);
        // The statement is a row, and each of its lines another; asking costs a row even when
        // there is none, as the reconciliation is read either way.
        self.answer(answer, |statement| {
            statement.as_ref().map_or(1, |statement| 1 + statement.lines.len())
        })
    }

    pub(crate) fn reconciling_items(
        &mut self,
        query: StatementQuery,
    ) -> wasmtime::Result<Result<Vec<OpenItemInfo>, QueryError>> {
        let _query = query_span("reconciling_items", Some(&query.entity));
        if let Err(refusal) = self.check_reconciliation_query("reconciling-items", &query) {
            return Ok(Err(refusal));
        }
        let answer = self.reader.reconciling_items(&query);
        // At least a row: the reconciliation is read even when it has no item.
        self.answer(answer, |items| items.len().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TenAccounts;

    impl LedgerReader for TenAccounts {
        fn entity(&mut self, _: &str) -> Result<EntityInfo, LedgerError> {
            Err(LedgerError::Failed("the database is gone".into()))
        }
        fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, LedgerError> {
            Err(LedgerError::refused("no"))
        }
        fn accounts(&mut self, _: &str) -> Result<Vec<AccountInfo>, LedgerError> {
            Ok((0..10)
                .map(|number| AccountInfo {
                    number: number.to_string(),
                    name: String::new(),
                    account_type: super::super::types::AccountType::Asset,
                    revalue: false,
                    settle: false,
                    rate_type: None,
                    fixed_currency: None,
                    category: None,
                    blocked: false,
                })
                .collect())
        }
        fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, LedgerError> {
            Ok(Vec::new())
        }
        fn periods(&mut self, _: &str, _: Option<&str>) -> Result<Vec<PeriodInfo>, LedgerError> {
            Ok(Vec::new())
        }
        fn balances(&mut self, _: &BalanceQuery) -> Result<Vec<BalanceRow>, LedgerError> {
            Ok(Vec::new())
        }
        fn lines(&mut self, _: &LineQuery) -> Result<LinePage, LedgerError> {
            Ok(LinePage {
                lines: Vec::new(),
                next: None,
            })
        }
        fn rate(&mut self, _: &str, _: &str, _: &str, _: &str) -> Result<Option<String>, LedgerError> {
            Ok(None)
        }
    }

    fn gate(rows_limit: u64) -> LedgerGate {
        LedgerGate::new(
            Box::new(TenAccounts),
            vec!["ACME-US".to_string()],
            rows_limit,
            Instant::now() + std::time::Duration::from_secs(3_600),
        )
    }

    // Proves an entity outside the task is refused as a query error before the reader is asked.
    #[test]
    fn entity_outside_task_is_refused() {
        let mut gate = gate(100);
        let refusal = gate.accounts("ACME-DE".to_string()).unwrap().unwrap_err();
        assert!(
            refusal.message.contains("entity ACME-DE is not readable"),
            "{}",
            refusal.message
        );
        assert_eq!(gate.rows_read(), 0);
    }

    // Proves returned rows are counted and charged as fuel, and the budget ends the run when spent.
    #[test]
    fn rows_are_counted_charged_and_capped() {
        let mut gate = gate(15);
        assert_eq!(gate.accounts("ACME-US".to_string()).unwrap().unwrap().len(), 10);
        assert_eq!(gate.rows_read(), 10);
        assert_eq!(gate.take_fuel_debt(), 10 * PLUGIN_QUERY_ROW_FUEL);
        assert_eq!(gate.take_fuel_debt(), 0);
        let error = gate.accounts("ACME-US".to_string()).unwrap_err();
        assert!(matches!(
            error.downcast_ref::<HostTrap>(),
            Some(HostTrap::QueryRowsExceeded { limit: 15 })
        ));
    }

    // Proves a reader failure ends the run instead of reaching the guest.
    #[test]
    fn reader_failure_traps() {
        let mut gate = gate(100);
        let error = gate.entity("ACME-US".to_string()).unwrap_err();
        assert!(matches!(
            error.downcast_ref::<HostTrap>(),
            Some(HostTrap::LedgerFailed { .. })
        ));
        let error = gate.currencies().unwrap_err();
        assert!(error.to_string().contains("`currencies` was refused"), "{error}");
    }

    // Proves issue 17, weakness 8: an answer that comes after the run's deadline (a query the
    // reader interrupted, or one that merely finished late) ends the run with the wall-time
    // limit, not as a database failure or a refusal the guest could ignore.
    #[test]
    fn answers_after_the_deadline_end_the_run_with_the_wall_time_limit() {
        let mut gate = LedgerGate::new(Box::new(TenAccounts), vec!["ACME-US".to_string()], 100, Instant::now());
        for error in [
            gate.entity("ACME-US".to_string()).unwrap_err(),
            gate.accounts("ACME-US".to_string()).unwrap_err(),
            gate.currencies().unwrap_err(),
        ] {
            assert!(
                matches!(error.downcast_ref::<HostTrap>(), Some(HostTrap::WallTimeExceeded)),
                "{error}"
            );
        }
        assert_eq!(gate.rows_read(), 0);
    }

    fn balance_query(accounts: usize) -> BalanceQuery {
        BalanceQuery {
            entity: "ACME-US".to_string(),
            accounts: AccountFilter::List((0..accounts).map(|number| format!("A{number}")).collect()),
            from_period: "2026-01".to_string(),
            to_period: "2026-03".to_string(),
            currency: None,
            dimension_filter: Vec::new(),
            group_by_dimensions: Vec::new(),
        }
    }

    // Proves a balance query is charged for the accounts it lists, though it returns nothing,
    // and that a list beyond PLUGIN_QUERY_LIST_ITEMS_MAX is refused before the reader is asked
    // (issue 17, weakness 8: a million listed accounts ran 12 s and cost no fuel).
    #[test]
    fn balance_queries_are_charged_and_bounded_by_what_they_list() {
        let mut gate = gate(100);
        assert!(gate.balances(balance_query(500)).unwrap().unwrap().is_empty());
        assert_eq!(gate.take_fuel_debt(), 500 * PLUGIN_QUERY_INPUT_ITEM_FUEL);
        let refusal = gate
            .balances(balance_query(PLUGIN_QUERY_LIST_ITEMS_MAX + 1))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refusal.message,
            "the balance query lists 10001 accounts; at most 10000 are allowed; query a range or in several parts"
        );
        assert_eq!(gate.take_fuel_debt(), 0);
    }
}
