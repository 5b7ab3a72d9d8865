//! The host's own types for what crosses the plugin boundary: a step's description, its input
//! and output, its messages, and the queries of the ledger it reads with their answers. Each
//! interface version converts its WIT records to and from these in `wit/since_v*.rs`; the rest
//! of the host only names these, so a new interface version changes nothing outside `wit/`.
//!
//! What the ledger checks and posts (proposed entries, lines, settlements, entity access) is the
//! ledger's own (`closebook_ledger::proposal`), re-exported here. Decimals and dates stay text
//! as the plugin sent them: a plugin is untrusted, and the ledger parses them strictly with a
//! refusal that names the entry and line.
//!
//! The serde form of these types is the JSON `closebook plugin run --format json` prints and the
//! one stored with a proposal awaiting review (`step::StepRecord`); it is kept field for field.

use serde::{Deserialize, Serialize};

pub use closebook_ledger::proposal::{
    Dimension, EntityAccess, ProposedClearing, ProposedEntry, ProposedLine, ProposedReconcilingItem, ProposedSettlement,
};

/// An exact decimal number as text, e.g. `-1250.00`.
pub type DecimalText = String;
/// A calendar date as text, `YYYY-MM-DD`.
pub type DateText = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountType {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodKind {
    Opening,
    Operating,
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodStatus {
    Open,
    OnHold,
    PermanentlyClosed,
}

/// A period of an entity's fiscal calendar with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// `YYYY-MM` for operating periods, `FY2026-opening`, `FY2026-closing`.
    pub name: String,
    pub kind: PeriodKind,
    pub start: DateText,
    pub end: DateText,
    /// `FY2026`: named by the calendar year in which it ends.
    pub fiscal_year: String,
    pub status: PeriodStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityInfo {
    pub id: String,
    pub name: String,
    /// The accounting currency.
    pub currency: String,
    pub retained_earnings_account: String,
    pub default_rate_type: String,
    pub penny_rounding_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    pub code: String,
    pub minor_units: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub number: String,
    pub name: String,
    pub account_type: AccountType,
    /// Flagged for foreign currency revaluation.
    pub revalue: bool,
    /// Enabled for ledger settlement (open-item matching).
    pub settle: bool,
    /// The rate type revaluation uses for this account, when not the entity's default.
    pub rate_type: Option<String>,
    pub fixed_currency: Option<String>,
    pub category: Option<String>,
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimensionInfo {
    pub name: String,
    pub values: Vec<String>,
}

/// Which accounts a balance query covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountFilter {
    All,
    List(Vec<String>),
    /// Inclusive range of account numbers, compared as text.
    Range((String, String)),
    Types(Vec<AccountType>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceQuery {
    pub entity: String,
    pub accounts: AccountFilter,
    /// First and last period of the range, inclusive, by name.
    pub from_period: String,
    pub to_period: String,
    /// Only this transaction currency, when given.
    pub currency: Option<String>,
    /// Only lines carrying every one of these dimension values.
    pub dimension_filter: Vec<Dimension>,
    /// Keep these dimensions in the result rows (`*`: every one); all others are summed over.
    pub group_by_dimensions: Vec<String>,
}

/// A balance of one account × dimension set × transaction currency over a period range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceRow {
    pub account: String,
    pub dimensions: Vec<Dimension>,
    pub currency: String,
    pub amount: DecimalText,
    pub accounting_amount: DecimalText,
    pub debit: DecimalText,
    pub credit: DecimalText,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQuery {
    pub entity: String,
    pub account: String,
    pub from_period: String,
    pub to_period: String,
    /// Lines with an id greater than this one (cursor paging).
    pub after: Option<u64>,
    /// At most this many lines; the host caps it.
    pub limit: u32,
    /// Include lines that carry an active settlement.
    pub include_settled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedLine {
    pub id: u64,
    pub entry_id: u64,
    pub entry_key: String,
    pub date: DateText,
    pub period: String,
    pub account: String,
    pub dimensions: Vec<Dimension>,
    pub currency: String,
    pub amount: DecimalText,
    pub accounting_amount: DecimalText,
    pub description: String,
    pub settlement_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePage {
    pub lines: Vec<PostedLine>,
    /// Pass as `after` to read the next page; none when this was the last page.
    pub next: Option<u64>,
}

/// A refusal of a ledger query the step sees and may handle, e.g. reading an entity the task
/// may not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryError {
    pub message: String,
}

/// How much a message or log record matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

/// Something a step tells the person running the close, returned with its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub level: Level,
    pub text: String,
}

/// What a step gets to run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    /// The entity the step runs for.
    pub entity: String,
    pub period: PeriodInfo,
    /// Every entity the task may read (the run entity included), and whether it may post there.
    pub entities: Vec<EntityAccess>,
    /// Balances are read as of this date.
    pub as_of: DateText,
    /// The step's configuration as JSON, already validated against its schema.
    pub config: String,
}

/// What a step says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    pub name: String,
    pub version: String,
    pub summary: String,
    /// A JSON Schema (draft 2020-12, no remote `$ref`) for the step's configuration.
    pub config_schema: String,
}

/// What a step proposes and says. Reconciling items and findings come from interface 0.2 on;
/// they are left out of the JSON when there are none, so a 0.1 step's output reads as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutput {
    pub entries: Vec<ProposedEntry>,
    pub settlements: Vec<ProposedSettlement>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reconciling_items: Vec<ProposedReconcilingItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleared_items: Vec<ProposedClearing>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// A reconciling item open in a reconciliation's period (interface 0.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItemInfo {
    pub id: u64,
    /// The period it was opened in.
    pub period: String,
    /// It cleared in the query's period.
    pub cleared: bool,
    pub amount: DecimalText,
    pub explanation: String,
    pub expected_clear: DateText,
    pub reference: String,
}

/// Something a person must look at before the task is signed off (interface 0.2): a variance
/// of an account's figure against a baseline that crossed a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub entity: String,
    pub account: String,
    pub dimensions: Vec<Dimension>,
    /// What was compared, e.g. `balance vs prior period`.
    pub measure: String,
    pub current: DecimalText,
    pub baseline: DecimalText,
    /// The threshold crossed, in words.
    pub threshold: String,
    pub explanation_required: bool,
    pub message: String,
}

/// Which statement a statement query reads (interface 0.2): the latest imported for the
/// account, dimension values and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementQuery {
    pub entity: String,
    pub account: String,
    pub period: String,
    pub dimensions: Vec<Dimension>,
}

/// One line of an imported bank statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLineInfo {
    pub line_no: u32,
    pub date: DateText,
    pub amount: DecimalText,
    pub reference: String,
    pub description: String,
}

/// A bank statement imported for a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementInfo {
    pub source: String,
    pub opening: DecimalText,
    pub closing: DecimalText,
    pub lines: Vec<StatementLineInfo>,
}
