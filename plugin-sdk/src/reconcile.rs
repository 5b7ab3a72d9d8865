//! Account reconciliations, for steps of interface 0.2: the bank statement imported for an
//! account and period ([`Ledger::statement`](crate::Ledger::statement)), the reconciling items a
//! step proposes, and the findings it reports for a person to look at.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ids::{AccountNumber, EntityId, PeriodName};
use crate::ledger::Dimension;

/// Which statement to read: the latest imported for the account (and dimension values) and
/// period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementQuery {
    /// The entity whose account is reconciled.
    pub entity: EntityId,
    /// The account reconciled, e.g. `1000`.
    pub account: AccountNumber,
    /// The period, e.g. `2026-01`.
    pub period: PeriodName,
    /// The reconciliation's dimension values; empty for the whole account.
    pub dimensions: Vec<Dimension>,
}

impl StatementQuery {
    /// The statement of `account` of `entity` for `period`, over the whole account.
    pub fn new(entity: impl Into<EntityId>, account: impl Into<AccountNumber>, period: impl Into<PeriodName>) -> Self {
        Self {
            entity: entity.into(),
            account: account.into(),
            period: period.into(),
            dimensions: Vec::new(),
        }
    }
}

/// A bank statement imported for a reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The file's name as imported.
    pub source: String,
    /// Its opening balance.
    pub opening: Decimal,
    /// Its closing balance: opening plus the lines.
    pub closing: Decimal,
    /// Its lines, in file order.
    pub lines: Vec<StatementLine>,
}

/// One line of a bank statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The line's row in the imported file.
    pub line_no: u32,
    /// The date the bank booked it.
    pub date: NaiveDate,
    /// Its amount: positive into the account, negative out of it.
    pub amount: Decimal,
    /// The bank's reference.
    pub reference: String,
    /// The bank's description.
    pub description: String,
}

/// A reconciling item: an amount that explains part of the difference between the account's GL
/// balance and its statement, added to the statement balance. An outstanding cheque (in the
/// ledger, not yet on the statement) is negative; a deposit in transit positive. The host
/// records it, opened in `period`, until a person clears it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcilingItem {
    /// The entity (one the task may post to).
    pub entity: EntityId,
    /// The account reconciled.
    pub account: AccountNumber,
    /// The reconciliation's dimension values; empty for the whole account.
    pub dimensions: Vec<Dimension>,
    /// The period it is opened in.
    pub period: PeriodName,
    /// The amount, in the entity's currency, with at most its decimals.
    pub amount: Decimal,
    /// What it is, for the preparer and the reviewer.
    pub explanation: String,
    /// When it is expected to clear.
    pub expected_clear: NaiveDate,
    /// A reference, e.g. the cheque number or the entry key.
    pub reference: String,
}

/// A reconciling item of a reconciliation's period: opened then or earlier, and not cleared
/// before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenItem {
    /// Its id, which a [`Clearing`] names.
    pub id: u64,
    /// The period it was opened in.
    pub period: PeriodName,
    /// It cleared in the queried period (a step run again sees what its first run cleared).
    pub cleared: bool,
    /// Its amount.
    pub amount: Decimal,
    /// What it is.
    pub explanation: String,
    /// When it was expected to clear.
    pub expected_clear: NaiveDate,
    /// Its reference, e.g. the cheque number or the entry key.
    pub reference: String,
}

/// The clearing of an open reconciling item in `period`: it matched a line of that period's
/// statement, so it is open before `period` and not from it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clearing {
    /// The entity (one the task may post to).
    pub entity: EntityId,
    /// The item's id ([`OpenItem::id`]).
    pub item_id: u64,
    /// The period it cleared in.
    pub period: PeriodName,
    /// What it matched, e.g. the statement line.
    pub note: String,
}

/// Something a person must look at before the task is signed off: a figure of an account that
/// crossed a threshold against a baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The entity.
    pub entity: EntityId,
    /// The account.
    pub account: AccountNumber,
    /// The dimension values the figure is of; empty for the whole account.
    pub dimensions: Vec<Dimension>,
    /// What was compared, e.g. `balance vs prior period`.
    pub measure: String,
    /// The figure now.
    pub current: Decimal,
    /// The figure it is compared with.
    pub baseline: Decimal,
    /// The threshold crossed, in words, e.g. `|change| >= 1000.00 and >= 10 %`.
    pub threshold: String,
    /// Whether the preparer must explain it.
    pub explanation_required: bool,
    /// What the finding says.
    pub message: String,
}
