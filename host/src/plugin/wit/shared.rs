//! What every version of the interface shares with 0.1: the ledger queries of 0.1 and the
//! conversions of the records 0.1 defined, which later versions keep field for field. Each
//! version's module expands these macros next to its own bindings (`wit` names that version's
//! `types` interface), so the code is written once and compiled against each version's types.

/// The glue of a version's bindings to the runtime: the data its imports reach, its linker
/// entries and its pre-instantiated step. Every version's is the same text, over its own
/// generated types.
macro_rules! close_step_glue {
    () => {
        struct LedgerData;
        impl HasData for LedgerData {
            type Data<'a> = &'a mut LedgerGate;
        }

        struct LogData;
        impl HasData for LogData {
            type Data<'a> = &'a mut SharedStepLog;
        }

        /// Adds the version's imports (`ledger`, `log`) to `linker`.
        pub(super) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
            ledger::add_to_linker::<RunState, LedgerData>(linker, |state| &mut state.ledger)?;
            log::add_to_linker::<RunState, LogData>(linker, |state| &mut state.log)?;
            Ok(())
        }

        /// A pre-instantiated close step of the version.
        pub(crate) struct Pre(CloseStepPre<RunState>);

        impl Pre {
            pub(super) fn new(instance_pre: InstancePre<RunState>) -> wasmtime::Result<Self> {
                CloseStepPre::new(instance_pre).map(Self)
            }

            pub(super) fn engine(&self) -> &Engine {
                self.0.engine()
            }

            /// Instantiates the step in `store` and calls `describe`.
            pub(super) fn describe(&self, store: &mut Store<RunState>) -> wasmtime::Result<types::StepInfo> {
                let step = self.0.instantiate(&mut *store)?;
                step.call_describe(store).map(types::StepInfo::from)
            }

            /// Instantiates the step in `store` and calls `run`; a step's own failure is its message.
            pub(super) fn run(
                &self,
                store: &mut Store<RunState>,
                input: &types::StepInput,
            ) -> wasmtime::Result<Result<types::StepOutput, String>> {
                let step = self.0.instantiate(&mut *store)?;
                let input = wit::StepInput::from(input.clone());
                let output = step.call_run(store, &input)?;
                Ok(output.map(types::StepOutput::from).map_err(|error| error.message))
            }
        }
    };
}

/// The `ledger` import functions of 0.1, as methods of `ledger::Host for LedgerGate`.
macro_rules! ledger_queries_since_v0_1 {
    () => {
        fn entity(&mut self, entity: String) -> wasmtime::Result<Result<wit::EntityInfo, wit::QueryError>> {
            Ok(LedgerGate::entity(self, entity)?
                .map(Into::into)
                .map_err(Into::into))
        }

        fn currencies(&mut self) -> wasmtime::Result<Vec<wit::CurrencyInfo>> {
            Ok(list(LedgerGate::currencies(self)?))
        }

        fn accounts(&mut self, entity: String) -> wasmtime::Result<Result<Vec<wit::AccountInfo>, wit::QueryError>> {
            Ok(LedgerGate::accounts(self, entity)?.map(list).map_err(Into::into))
        }

        fn dimensions(&mut self) -> wasmtime::Result<Vec<wit::DimensionInfo>> {
            Ok(list(LedgerGate::dimensions(self)?))
        }

        fn periods(
            &mut self,
            entity: String,
            fiscal_year: Option<String>,
        ) -> wasmtime::Result<Result<Vec<wit::PeriodInfo>, wit::QueryError>> {
            Ok(LedgerGate::periods(self, entity, fiscal_year)?
                .map(list)
                .map_err(Into::into))
        }

        fn balances(
            &mut self,
            query: wit::BalanceQuery,
        ) -> wasmtime::Result<Result<Vec<wit::BalanceRow>, wit::QueryError>> {
            Ok(LedgerGate::balances(self, query.into())?
                .map(list)
                .map_err(Into::into))
        }

        fn lines(&mut self, query: wit::LineQuery) -> wasmtime::Result<Result<wit::LinePage, wit::QueryError>> {
            Ok(LedgerGate::lines(self, query.into())?
                .map(Into::into)
                .map_err(Into::into))
        }

        fn rate(
            &mut self,
            from: String,
            to: String,
            rate_type: String,
            on: String,
        ) -> wasmtime::Result<Result<Option<String>, wit::QueryError>> {
            Ok(LedgerGate::rate(self, from, to, rate_type, on)?.map_err(Into::into))
        }
    };
}

/// The `log` import, the list conversion and the conversions of every record 0.1 defined, but
/// `step-output` (which later versions extend).
macro_rules! conversions_since_v0_1 {
    () => {
        impl log::Host for SharedStepLog {
            fn log(&mut self, level: wit::Level, message: String) -> wasmtime::Result<()> {
                self.record(level.into(), message);
                Ok(())
            }
        }

        /// Converts every element of a list.
        fn list<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
            items.into_iter().map(B::from).collect()
        }

        // What a step returns: v0.1 records to the host's types.

        impl From<wit::StepInfo> for types::StepInfo {
            fn from(info: wit::StepInfo) -> Self {
                Self {
                    name: info.name,
                    version: info.version,
                    summary: info.summary,
                    config_schema: info.config_schema,
                }
            }
        }

        impl From<wit::ProposedEntry> for types::ProposedEntry {
            fn from(entry: wit::ProposedEntry) -> Self {
                Self {
                    entity: entry.entity,
                    period: entry.period,
                    date: entry.date,
                    description: entry.description,
                    lines: list(entry.lines),
                    reversal_date: entry.reversal_date,
                }
            }
        }

        impl From<wit::ProposedLine> for types::ProposedLine {
            fn from(line: wit::ProposedLine) -> Self {
                Self {
                    account: line.account,
                    dimensions: list(line.dimensions),
                    currency: line.currency,
                    amount: line.amount,
                    accounting_amount: line.accounting_amount,
                    description: line.description,
                }
            }
        }

        impl From<wit::ProposedSettlement> for types::ProposedSettlement {
            fn from(settlement: wit::ProposedSettlement) -> Self {
                Self {
                    entity: settlement.entity,
                    line_ids: settlement.line_ids,
                }
            }
        }

        impl From<wit::Message> for types::Message {
            fn from(message: wit::Message) -> Self {
                Self {
                    level: message.level.into(),
                    text: message.text,
                }
            }
        }

        impl From<wit::Level> for types::Level {
            fn from(level: wit::Level) -> Self {
                match level {
                    wit::Level::Debug => Self::Debug,
                    wit::Level::Info => Self::Info,
                    wit::Level::Warning => Self::Warning,
                    wit::Level::Error => Self::Error,
                }
            }
        }

        impl From<wit::Dimension> for types::Dimension {
            fn from(dimension: wit::Dimension) -> Self {
                Self {
                    name: dimension.name,
                    value: dimension.value,
                }
            }
        }

        // What a step asks the ledger: v0.1 queries to the host's types.

        impl From<wit::BalanceQuery> for types::BalanceQuery {
            fn from(query: wit::BalanceQuery) -> Self {
                Self {
                    entity: query.entity,
                    accounts: query.accounts.into(),
                    from_period: query.from_period,
                    to_period: query.to_period,
                    currency: query.currency,
                    dimension_filter: list(query.dimension_filter),
                    group_by_dimensions: query.group_by_dimensions,
                }
            }
        }

        impl From<wit::AccountFilter> for types::AccountFilter {
            fn from(filter: wit::AccountFilter) -> Self {
                match filter {
                    wit::AccountFilter::All => Self::All,
                    wit::AccountFilter::List(accounts) => Self::List(accounts),
                    wit::AccountFilter::Range(range) => Self::Range(range),
                    wit::AccountFilter::Types(kinds) => Self::Types(list(kinds)),
                }
            }
        }

        impl From<wit::AccountType> for types::AccountType {
            fn from(kind: wit::AccountType) -> Self {
                match kind {
                    wit::AccountType::Asset => Self::Asset,
                    wit::AccountType::Liability => Self::Liability,
                    wit::AccountType::Equity => Self::Equity,
                    wit::AccountType::Revenue => Self::Revenue,
                    wit::AccountType::Expense => Self::Expense,
                }
            }
        }

        impl From<wit::LineQuery> for types::LineQuery {
            fn from(query: wit::LineQuery) -> Self {
                Self {
                    entity: query.entity,
                    account: query.account,
                    from_period: query.from_period,
                    to_period: query.to_period,
                    after: query.after,
                    limit: query.limit,
                    include_settled: query.include_settled,
                }
            }
        }

        // What the host gives a step: the host's types to v0.1 records.

        impl From<types::StepInput> for wit::StepInput {
            fn from(input: types::StepInput) -> Self {
                Self {
                    entity: input.entity,
                    period: input.period.into(),
                    entities: list(input.entities),
                    as_of: input.as_of,
                    config: input.config,
                }
            }
        }

        impl From<types::EntityAccess> for wit::EntityAccess {
            fn from(access: types::EntityAccess) -> Self {
                Self {
                    entity: access.entity,
                    post: access.post,
                }
            }
        }

        impl From<types::PeriodInfo> for wit::PeriodInfo {
            fn from(period: types::PeriodInfo) -> Self {
                Self {
                    name: period.name,
                    kind: match period.kind {
                        types::PeriodKind::Opening => wit::PeriodKind::Opening,
                        types::PeriodKind::Operating => wit::PeriodKind::Operating,
                        types::PeriodKind::Closing => wit::PeriodKind::Closing,
                    },
                    start: period.start,
                    end: period.end,
                    fiscal_year: period.fiscal_year,
                    status: match period.status {
                        types::PeriodStatus::Open => wit::PeriodStatus::Open,
                        types::PeriodStatus::OnHold => wit::PeriodStatus::OnHold,
                        types::PeriodStatus::PermanentlyClosed => wit::PeriodStatus::PermanentlyClosed,
                    },
                }
            }
        }

        impl From<types::EntityInfo> for wit::EntityInfo {
            fn from(entity: types::EntityInfo) -> Self {
                Self {
                    id: entity.id,
                    name: entity.name,
                    currency: entity.currency,
                    retained_earnings_account: entity.retained_earnings_account,
                    default_rate_type: entity.default_rate_type,
                    penny_rounding_account: entity.penny_rounding_account,
                }
            }
        }

        impl From<types::CurrencyInfo> for wit::CurrencyInfo {
            fn from(currency: types::CurrencyInfo) -> Self {
                Self {
                    code: currency.code,
                    minor_units: currency.minor_units,
                }
            }
        }

        impl From<types::AccountInfo> for wit::AccountInfo {
            fn from(account: types::AccountInfo) -> Self {
                Self {
                    number: account.number,
                    name: account.name,
                    account_type: match account.account_type {
                        types::AccountType::Asset => wit::AccountType::Asset,
                        types::AccountType::Liability => wit::AccountType::Liability,
                        types::AccountType::Equity => wit::AccountType::Equity,
                        types::AccountType::Revenue => wit::AccountType::Revenue,
                        types::AccountType::Expense => wit::AccountType::Expense,
                    },
                    revalue: account.revalue,
                    settle: account.settle,
                    rate_type: account.rate_type,
                    fixed_currency: account.fixed_currency,
                    category: account.category,
                    blocked: account.blocked,
                }
            }
        }

        impl From<types::DimensionInfo> for wit::DimensionInfo {
            fn from(dimension: types::DimensionInfo) -> Self {
                Self {
                    name: dimension.name,
                    values: dimension.values,
                }
            }
        }

        impl From<types::Dimension> for wit::Dimension {
            fn from(dimension: types::Dimension) -> Self {
                Self {
                    name: dimension.name,
                    value: dimension.value,
                }
            }
        }

        impl From<types::BalanceRow> for wit::BalanceRow {
            fn from(row: types::BalanceRow) -> Self {
                Self {
                    account: row.account,
                    dimensions: list(row.dimensions),
                    currency: row.currency,
                    amount: row.amount,
                    accounting_amount: row.accounting_amount,
                    debit: row.debit,
                    credit: row.credit,
                }
            }
        }

        impl From<types::LinePage> for wit::LinePage {
            fn from(page: types::LinePage) -> Self {
                Self {
                    lines: list(page.lines),
                    next: page.next,
                }
            }
        }

        impl From<types::PostedLine> for wit::PostedLine {
            fn from(line: types::PostedLine) -> Self {
                Self {
                    id: line.id,
                    entry_id: line.entry_id,
                    entry_key: line.entry_key,
                    date: line.date,
                    period: line.period,
                    account: line.account,
                    dimensions: list(line.dimensions),
                    currency: line.currency,
                    amount: line.amount,
                    accounting_amount: line.accounting_amount,
                    description: line.description,
                    settlement_id: line.settlement_id,
                }
            }
        }

        impl From<types::QueryError> for wit::QueryError {
            fn from(error: types::QueryError) -> Self {
                Self {
                    message: error.message,
                }
            }
        }
    };
}
