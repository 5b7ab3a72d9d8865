//! Journal entries: what a user or a plugin proposes (`NewEntry`), the rules that decide whether
//! it may post (`PostingRules::validate`), and the immutable record that is written
//! (`PostedEntry`) with its canonical encoding for the hash chain.
//!
//! Every entry is checked the same way whatever its source: a CSV import, a JSON file, a
//! reversal or a plugin proposal. The rules never touch the store; they run on a
//! `PostingRules` snapshot loaded once per batch, so validating a million entries costs no
//! queries.

use crate::account::Account;
use crate::calendar::{FiscalCalendar, Period, PeriodKind, UnknownPeriod};
use crate::dimension::{self, DimensionValues};
use crate::entity::Entity;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, FiscalYearName, PeriodName, UserId};
use crate::money::{decimals_used, format_amount, round_to_minor_units};
use crate::period::{Module, ModuleAccess, PeriodStatus};
use crate::rate::RateTable;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Lines one entry may carry: a bound on work per entry and on the size of one transaction.
pub const ENTRY_LINES_MAX: usize = 10_000;

/// The largest amount (absolute, in units of its currency) one line may carry, transaction or
/// accounting. Far above any real posting, and low enough that the sum of `ENTRY_LINES_MAX`
/// lines with 8 decimals stays within the 28 digits `Decimal` holds exactly: beyond them a sum
/// would round silently and an unbalanced entry could look balanced.
pub const LINE_AMOUNT_ABS_MAX_UNITS: i64 = 1_000_000_000_000_000;

/// Characters an account number may have. Charts use a few digits; the bound keeps a proposal
/// from storing (and every report from printing) an "account" of megabytes.
pub const ACCOUNT_CHARS_MAX: usize = 64;
/// Characters an entity id may have, for the same reason.
pub const ENTITY_CHARS_MAX: usize = 64;
/// Characters an entry key may have. A plugin's keys are its run id (step name, entity, period,
/// ledger sequence and a digest, well under 200 characters) plus `/N` or `/N/reversal`.
pub const ENTRY_KEY_CHARS_MAX: usize = 256;
/// Characters a dimension name or value may have.
pub const DIMENSION_CHARS_MAX: usize = 64;
/// Characters a currency code or a named period may have (`USD`, `FY2026-opening`).
pub const CODE_CHARS_MAX: usize = 32;
/// Characters an entry or line description may have: a long sentence or two, not a document.
pub const DESCRIPTION_CHARS_MAX: usize = 1_000;
/// Characters of an offending value a message quotes before it cuts the value short.
const QUOTED_CHARS_MAX: usize = 40;

/// The hash that precedes an entity's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of a proposed entry, as read from a file or a plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NewLine {
    pub account: AccountNumber,
    pub dimensions: DimensionValues,
    /// The transaction currency; the entity's accounting currency when none.
    pub currency: Option<CurrencyCode>,
    /// Transaction-currency amount; debit positive, credit negative.
    pub amount: Decimal,
    /// The accounting-currency amount when given; converted at the default rate otherwise.
    pub accounting_amount: Option<Decimal>,
    pub description: String,
    /// The line of the source file, for messages.
    pub source_line: Option<u64>,
}

/// A proposed journal entry (voucher).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NewEntry {
    pub key: EntryKey,
    pub date: NaiveDate,
    /// Names the opening or closing period; the date's operating period when none.
    pub period: Option<PeriodName>,
    pub description: String,
    pub module: Module,
    pub lines: Vec<NewLine>,
}

impl NewEntry {
    /// The first source line of the entry, for messages about the entry as a whole.
    pub fn source_line(&self) -> Option<u64> {
        self.lines.iter().find_map(|line| line.source_line)
    }

    /// A digest of the entry as given (amounts normalised), the idempotency check: the same
    /// key with the same fingerprint is a repeat, with another fingerprint a conflict.
    pub fn fingerprint(&self) -> String {
        let mut encoder = CanonicalEncoder::default();
        encoder.field("key", self.key.as_str());
        encoder.field("date", &self.date.to_string());
        encoder.field("period", self.period.as_ref().map_or("", |period| period.as_str()));
        encoder.field("description", &self.description);
        encoder.field("module", self.module.as_str());
        for line in &self.lines {
            encoder.field("account", line.account.as_str());
            encoder.field("dimensions", &dimension::canonical(&line.dimensions));
            encoder.field(
                "currency",
                line.currency.as_ref().map_or("", |currency| currency.as_str()),
            );
            encoder.field("amount", &line.amount.normalize().to_string());
            encoder.field(
                "accounting_amount",
                &line
                    .accounting_amount
                    .map(|amount| amount.normalize().to_string())
                    .unwrap_or_default(),
            );
            encoder.field("line_description", &line.description);
        }
        encoder.finish_hex()
    }
}

/// Why an entry may not post. Each variant names the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the entry has no lines")]
    NoLines,
    #[error("{message}")]
    Malformed { message: String },
    #[error("the entry has {count} lines; at most {ENTRY_LINES_MAX} are allowed")]
    TooManyLines { count: usize },
    #[error("lines of one entry have different dates ({first} and {other}); an entry has one date")]
    MixedDates { first: NaiveDate, other: NaiveDate },
    #[error("the entry does not balance: debits {debit}, credits {credit}, difference {difference} {currency}")]
    Unbalanced {
        debit: String,
        credit: String,
        difference: String,
        currency: CurrencyCode,
    },
    #[error("account {account} does not exist in entity {entity}")]
    UnknownAccount { account: AccountNumber, entity: EntityId },
    #[error("account {account} is blocked for posting")]
    BlockedAccount { account: AccountNumber },
    #[error("account {account} only takes {required}, not {given}")]
    FixedCurrency {
        account: AccountNumber,
        required: CurrencyCode,
        given: CurrencyCode,
    },
    #[error("dimension {name} does not exist")]
    UnknownDimension { name: String },
    #[error("dimension {name} has no value {value}")]
    UnknownDimensionValue { name: String, value: String },
    #[error("dimension value {name}={value} is blocked for posting")]
    BlockedDimensionValue { name: String, value: String },
    #[error("currency {currency} does not exist")]
    UnknownCurrency { currency: CurrencyCode },
    #[error("amount {amount} has more decimals than {currency} allows ({minor_units})")]
    TooManyDecimals {
        amount: Decimal,
        currency: CurrencyCode,
        minor_units: u32,
    },
    #[error(
        "no {rate_type} rate from {from} to {to} on or before {date}; add one with `closebook import rates` or give accounting_amount"
    )]
    MissingRate {
        from: CurrencyCode,
        to: CurrencyCode,
        rate_type: String,
        date: NaiveDate,
    },
    #[error("no fiscal period of calendar {calendar} contains {date}; add the fiscal year to the calendar in setup")]
    NoPeriod { calendar: String, date: NaiveDate },
    /// The entry names a period its entity's calendar does not have (the one message of every
    /// period lookup by name).
    #[error(transparent)]
    UnknownPeriod(UnknownPeriod),
    #[error("date {date} is outside period {period} ({start} to {end})")]
    DateOutsidePeriod {
        date: NaiveDate,
        period: PeriodName,
        start: NaiveDate,
        end: NaiveDate,
    },
    #[error("period {period} of entity {entity} is {status}: posting refused; date the entry in an open period")]
    PeriodNotOpen {
        period: PeriodName,
        entity: EntityId,
        status: &'static str,
    },
    #[error("user {user} may not post {module} entries in period {period} (module access: {level})")]
    NoModuleAccess {
        user: UserId,
        module: &'static str,
        period: PeriodName,
        level: String,
    },
    #[error("the line amount is zero")]
    ZeroLine,
    #[error("amount 0 with accounting amount {accounting_amount} is only allowed for foreign currency revaluation")]
    RevaluationLineNotAllowed { accounting_amount: Decimal },
    #[error("accounting amount {accounting_amount} differs from amount {amount} in the accounting currency {currency}")]
    AccountingAmountMismatch {
        amount: Decimal,
        accounting_amount: Decimal,
        currency: CurrencyCode,
    },
    #[error("amounts overflow when summed; split the entry")]
    Overflow,
    #[error(
        "amount {amount} is beyond the largest amount a line may carry ({LINE_AMOUNT_ABS_MAX_UNITS} in absolute value); split it"
    )]
    AmountTooLarge { amount: Decimal },
    #[error("accounting amount {accounting_amount} has the opposite sign of amount {amount}")]
    AccountingAmountSign {
        amount: Decimal,
        accounting_amount: Decimal,
    },
    #[error("the penny-rounding account {account} cannot take the rounding line: {reason}")]
    PennyAccountUnusable { account: AccountNumber, reason: String },
    #[error("entry {key} was already imported with different data; use a new entry key or reverse the posted entry")]
    KeyConflict { key: EntryKey },
    #[error("the entry belongs to entity {given}, not {expected}")]
    WrongEntity { given: EntityId, expected: EntityId },
    #[error("the {field} is {length_chars} characters long; at most {maximum_chars} are allowed")]
    TextTooLong {
        field: &'static str,
        length_chars: usize,
        maximum_chars: usize,
    },
    #[error(
        "the {field} `{shown}` contains a control character (shown escaped); ids, keys and codes may not contain control characters"
    )]
    ControlCharacter { field: &'static str, shown: String },
}

/// `text` with every control character, and every bidirectional override (which can reorder
/// what a terminal shows), replaced by a visible escape such as `\u{1b}`. Used wherever a person
/// reads text that came from a file or a plugin, so that it cannot move the cursor, rewrite a
/// line, or forge one. Other characters, backslashes included, are kept.
pub fn escape_control_characters(text: &str) -> Cow<'_, str> {
    let hidden = |character: char| {
        character.is_control() || matches!(character, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(hidden) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if hidden(character) {
            escaped.push_str(&format!("\\u{{{:x}}}", u32::from(character)));
        } else {
            escaped.push(character);
        }
    }
    Cow::Owned(escaped)
}

/// An offending value as a message quotes it: escaped, and cut to its first
/// `QUOTED_CHARS_MAX` characters.
pub fn quoted_for_message(text: &str) -> String {
    let cut: String = text.chars().take(QUOTED_CHARS_MAX).collect();
    let mut shown = escape_control_characters(&cut).into_owned();
    if cut.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// Refuses an id, key or code longer than `maximum_chars` or holding a control character.
pub fn check_id_text(field: &'static str, text: &str, maximum_chars: usize) -> Result<(), Refusal> {
    check_text_length(field, text, maximum_chars)?;
    if escape_control_characters(text) != text {
        return Err(Refusal::ControlCharacter {
            field,
            shown: quoted_for_message(text),
        });
    }
    Ok(())
}

/// Refuses a text longer than `maximum_chars`. Free text (descriptions) may hold control
/// characters: it is stored exactly and escaped wherever it is shown.
pub fn check_text_length(field: &'static str, text: &str, maximum_chars: usize) -> Result<(), Refusal> {
    // Counting characters costs a pass over the text; a text of fewer bytes than the maximum
    // cannot have more characters, which is almost every text.
    if text.len() > maximum_chars {
        let length_chars = text.chars().count();
        if length_chars > maximum_chars {
            return Err(Refusal::TextTooLong {
                field,
                length_chars,
                maximum_chars,
            });
        }
    }
    Ok(())
}

/// Refuses an entry whose texts (key, description, each line's texts) are unusable or whose
/// line count is out of bounds: checked first, so that no later message quotes a value of
/// megabytes or one that holds a control character.
fn check_entry_shape(entry: &NewEntry) -> Result<(), Vec<EntryRefusal>> {
    let entry_line = entry.source_line();
    let refusal = |source_line: Option<u64>, reason: Refusal| EntryRefusal {
        key: entry.key.clone(),
        source_line,
        reason,
    };
    if let Err(reason) = check_id_text("entry key", entry.key.as_str(), ENTRY_KEY_CHARS_MAX) {
        return Err(vec![EntryRefusal {
            key: EntryKey::new(quoted_for_message(entry.key.as_str())),
            source_line: entry_line,
            reason,
        }]);
    }
    if let Err(reason) = check_entry_texts(entry) {
        return Err(vec![refusal(entry_line, reason)]);
    }
    let refusals: Vec<EntryRefusal> = entry
        .lines
        .iter()
        .filter_map(|line| {
            check_line_texts(line)
                .err()
                .map(|reason| refusal(line.source_line.or(entry_line), reason))
        })
        .collect();
    if !refusals.is_empty() {
        return Err(refusals);
    }
    if entry.lines.is_empty() {
        return Err(vec![refusal(entry_line, Refusal::NoLines)]);
    }
    if entry.lines.len() > ENTRY_LINES_MAX {
        let count = entry.lines.len();
        return Err(vec![refusal(entry_line, Refusal::TooManyLines { count })]);
    }
    Ok(())
}

/// Checks the texts of an entry as a whole against their limits.
fn check_entry_texts(entry: &NewEntry) -> Result<(), Refusal> {
    check_text_length("entry description", &entry.description, DESCRIPTION_CHARS_MAX)?;
    if let Some(period) = &entry.period {
        check_id_text("period", period.as_str(), CODE_CHARS_MAX)?;
    }
    Ok(())
}

/// Checks the texts of one line against their limits.
fn check_line_texts(line: &NewLine) -> Result<(), Refusal> {
    check_id_text("account", line.account.as_str(), ACCOUNT_CHARS_MAX)?;
    for (name, value) in &line.dimensions {
        check_id_text("dimension name", name, DIMENSION_CHARS_MAX)?;
        check_id_text("dimension value", value, DIMENSION_CHARS_MAX)?;
    }
    if let Some(currency) = &line.currency {
        check_id_text("currency", currency.as_str(), CODE_CHARS_MAX)?;
    }
    check_text_length("line description", &line.description, DESCRIPTION_CHARS_MAX)
}

/// A refusal with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRefusal {
    pub key: EntryKey,
    pub source_line: Option<u64>,
    pub reason: Refusal,
}

impl fmt::Display for EntryRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.source_line {
            write!(formatter, "line {line}: ")?;
        }
        write!(formatter, "entry {}: {}", self.key, self.reason)
    }
}

/// A line as it is written: accounting amount resolved, dimensions canonical.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PostedLine {
    pub line_no: u32,
    pub account: AccountNumber,
    /// Canonical dimension set text (see `dimension::canonical`).
    pub dimensions: String,
    pub currency: CurrencyCode,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub description: String,
}

/// Where an entry came from, kept with it and covered by its hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// `import:FILE`, `reversal`, `plugin`, `manual`…
    pub source: String,
    pub run_id: Option<String>,
    pub task: Option<String>,
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
    pub plugin_sha256: Option<String>,
}

/// An entry that passed every rule and is ready to post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidEntry {
    pub key: EntryKey,
    pub fingerprint: String,
    pub date: NaiveDate,
    pub period: PeriodName,
    pub fiscal_year: FiscalYearName,
    pub module: Module,
    pub description: String,
    pub lines: Vec<PostedLine>,
    pub reverses_entry_id: Option<i64>,
}

impl PostedLine {
    /// The line that cancels this one: the same account, dimensions, currency and description,
    /// with both amounts negated.
    pub fn negated(&self) -> PostedLine {
        PostedLine {
            amount: crate::money::negate(self.amount),
            accounting_amount: crate::money::negate(self.accounting_amount),
            ..self.clone()
        }
    }
}

/// Everything of a counter-entry but its lines, which are the negated lines of the entry it
/// cancels: a reversal (`journal reverse`, a step's automatic reversal) or the cancellation of
/// a run's entry before a rerun. One builder, so that every counter-entry negates alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterEntry {
    pub key: EntryKey,
    pub fingerprint: String,
    pub date: NaiveDate,
    pub period: PeriodName,
    pub fiscal_year: FiscalYearName,
    pub description: String,
    /// The posted entry this one reverses, when it is a reversal the ledger links back.
    pub reverses_entry_id: Option<i64>,
}

impl CounterEntry {
    /// The entry that cancels `lines`, of an entry of `module`, ready to post: the checks of
    /// the period it posts in are the caller's.
    pub fn cancelling(self, module: Module, lines: &[PostedLine]) -> ValidEntry {
        ValidEntry {
            key: self.key,
            fingerprint: self.fingerprint,
            date: self.date,
            period: self.period,
            fiscal_year: self.fiscal_year,
            module,
            description: self.description,
            lines: lines.iter().map(PostedLine::negated).collect(),
            reverses_entry_id: self.reverses_entry_id,
        }
    }
}

/// A posted entry exactly as stored; the hash chain covers all of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PostedEntry {
    pub id: i64,
    pub entity: EntityId,
    pub sequence: i64,
    pub key: EntryKey,
    pub fingerprint: String,
    pub date: NaiveDate,
    pub period: PeriodName,
    pub fiscal_year: FiscalYearName,
    pub module: Module,
    pub description: String,
    pub reverses_entry_id: Option<i64>,
    pub posted_by: UserId,
    pub posted_at: String,
    pub provenance: Provenance,
    pub lines: Vec<PostedLine>,
    pub previous_hash: String,
    pub hash: String,
}

/// The text forms of an entry's values that both its hash and its stored row use, rendered once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryTexts {
    pub date: String,
    /// Each line's amount and accounting amount.
    pub amounts: Vec<(String, String)>,
}

impl PostedEntry {
    /// The texts of this entry's date and amounts, as stored and as hashed.
    pub fn texts(&self) -> EntryTexts {
        EntryTexts {
            date: self.date.to_string(),
            amounts: self
                .lines
                .iter()
                .map(|line| (line.amount.to_string(), line.accounting_amount.to_string()))
                .collect(),
        }
    }

    /// The hash of this entry chained over the previous one: SHA-256 of the previous hash and
    /// a canonical, length-prefixed encoding of the entry, its lines and its provenance.
    pub fn compute_hash(&self) -> String {
        self.compute_hash_with(&self.texts())
    }

    /// `compute_hash` with the entry's texts already rendered (`texts` must be `self.texts()`).
    pub fn compute_hash_with(&self, texts: &EntryTexts) -> String {
        let mut encoder = CanonicalEncoder::default();
        encoder.field("previous", &self.previous_hash);
        encoder.field("entity", self.entity.as_str());
        encoder.number("sequence", self.sequence);
        encoder.field("key", self.key.as_str());
        encoder.field("fingerprint", &self.fingerprint);
        encoder.field("date", &texts.date);
        encoder.field("period", self.period.as_str());
        encoder.field("fiscal_year", self.fiscal_year.as_str());
        encoder.field("module", self.module.as_str());
        encoder.field("description", &self.description);
        match self.reverses_entry_id {
            Some(id) => encoder.number("reverses", id),
            None => encoder.field("reverses", ""),
        }
        encoder.field("posted_by", self.posted_by.as_str());
        encoder.field("posted_at", &self.posted_at);
        let provenance = &self.provenance;
        encoder.field("source", &provenance.source);
        for (name, value) in [
            ("run_id", &provenance.run_id),
            ("task", &provenance.task),
            ("plugin_name", &provenance.plugin_name),
            ("plugin_version", &provenance.plugin_version),
            ("plugin_sha256", &provenance.plugin_sha256),
        ] {
            encoder.field(name, value.as_deref().unwrap_or(""));
        }
        for (line, (amount, accounting_amount)) in self.lines.iter().zip(&texts.amounts) {
            encoder.number("line_no", i64::from(line.line_no));
            encoder.field("account", line.account.as_str());
            encoder.field("dimensions", &line.dimensions);
            encoder.field("currency", line.currency.as_str());
            encoder.field("amount", amount);
            encoder.field("accounting_amount", accounting_amount);
            encoder.field("line_description", &line.description);
        }
        encoder.finish_hex()
    }
}

/// Writes `name:length:value;` for each field so that no two different entries encode alike.
#[derive(Default)]
struct CanonicalEncoder {
    hasher: Sha256,
}

impl CanonicalEncoder {
    fn field(&mut self, name: &str, value: &str) {
        self.field_bytes(name, value.as_bytes());
    }

    fn field_bytes(&mut self, name: &str, value: &[u8]) {
        self.hasher.update(name.as_bytes());
        self.hasher.update(b":");
        self.hasher.update(decimal_digits(&mut [0; 20], value.len() as u64));
        self.hasher.update(b":");
        self.hasher.update(value);
        self.hasher.update(b";");
    }

    /// A field whose value is `number` in decimal: what `field(name, &number.to_string())`
    /// writes, without the allocation.
    fn number(&mut self, name: &str, number: i64) {
        let mut buffer = [0; 21];
        let start = buffer.len() - decimal_digits(&mut buffer[1..], number.unsigned_abs()).len();
        if number < 0 {
            buffer[start - 1] = b'-';
            self.field_bytes(name, &buffer[start - 1..]);
        } else {
            self.field_bytes(name, &buffer[start..]);
        }
    }

    fn finish_hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// `number` in decimal, written at the end of `buffer` (at least 20 bytes); returns the digits.
fn decimal_digits(buffer: &mut [u8], mut number: u64) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    &buffer[start..]
}

/// Options a trusted caller may set for a batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostingOptions {
    /// Allows lines with amount 0 and a non-zero accounting amount on accounts flagged for
    /// revaluation: only foreign currency revaluation posts those.
    pub allow_revaluation_lines: bool,
}

/// Everything the rules need about one entity, loaded once per batch.
#[derive(Clone, Debug)]
pub struct PostingRules {
    pub entity: Entity,
    pub calendar: FiscalCalendar,
    /// Fiscal years that exist in the entity's calendar.
    pub fiscal_years: BTreeSet<FiscalYearName>,
    pub accounts: HashMap<AccountNumber, Account>,
    /// Dimension name -> value -> blocked.
    pub dimensions: HashMap<String, HashMap<String, bool>>,
    /// Currency code -> minor units.
    pub currencies: HashMap<CurrencyCode, u32>,
    pub rates: RateTable,
    pub statuses: HashMap<PeriodName, PeriodStatus>,
    pub access: HashMap<(PeriodName, Module), ModuleAccess>,
    pub user: UserId,
    pub user_groups: Vec<String>,
    pub options: PostingOptions,
}

impl PostingRules {
    pub fn status_of(&self, period: &PeriodName) -> PeriodStatus {
        self.statuses.get(period).copied().unwrap_or(PeriodStatus::Open)
    }

    pub fn access_of(&self, period: &PeriodName, module: Module) -> ModuleAccess {
        self.access
            .get(&(period.clone(), module))
            .cloned()
            .unwrap_or(ModuleAccess::All)
    }

    /// The refusal of a period name the entity's calendar does not have, naming the fiscal
    /// years it has, as every period lookup by name does (`calendar::EntityPeriods`).
    fn unknown_period(&self, name: &PeriodName) -> Refusal {
        Refusal::UnknownPeriod(UnknownPeriod {
            period: name.clone(),
            entity: self.entity.id.clone(),
            calendar: self.entity.calendar.clone(),
            // Names of one form (FY and four digits) sort in calendar order.
            fiscal_years: self.fiscal_years.iter().cloned().collect(),
        })
    }

    /// Resolves the period an entry posts in and checks that the date lies in it.
    pub fn resolve_period(&self, date: NaiveDate, named: Option<&PeriodName>) -> Result<Period, Refusal> {
        let period = match named {
            Some(name) => self
                .calendar
                .period_named(name.as_str())
                .map_err(|_| self.unknown_period(name))?,
            None => self
                .calendar
                .operating_period_of(date)
                .map_err(|_| self.no_period(date))?,
        };
        if !self.fiscal_years.contains(&period.fiscal_year) {
            return Err(match named {
                Some(name) => self.unknown_period(name),
                None => self.no_period(date),
            });
        }
        if date < period.start || date > period.end {
            return Err(Refusal::DateOutsidePeriod {
                date,
                period: period.name.clone(),
                start: period.start,
                end: period.end,
            });
        }
        Ok(period)
    }

    fn no_period(&self, date: NaiveDate) -> Refusal {
        Refusal::NoPeriod {
            calendar: self.entity.calendar.to_string(),
            date,
        }
    }

    /// Checks that the acting user may post `module` entries in `period` now.
    pub fn check_can_post(&self, period: &PeriodName, module: Module) -> Result<(), Refusal> {
        let status = self.status_of(period);
        if status != PeriodStatus::Open {
            return Err(Refusal::PeriodNotOpen {
                period: period.clone(),
                entity: self.entity.id.clone(),
                status: status.as_str(),
            });
        }
        let access = self.access_of(period, module);
        if !access.allows(&self.user, &self.user_groups) {
            return Err(Refusal::NoModuleAccess {
                user: self.user.clone(),
                module: module.as_str(),
                period: period.clone(),
                level: access.to_text(),
            });
        }
        Ok(())
    }

    fn minor_units(&self, currency: &CurrencyCode) -> Result<u32, Refusal> {
        self.currencies
            .get(currency)
            .copied()
            .ok_or_else(|| Refusal::UnknownCurrency {
                currency: currency.clone(),
            })
    }

    /// Applies every posting rule to one entry. On success the entry has accounting amounts on
    /// every line and, when conversion rounding left it a few cents out within the entity's
    /// tolerance, a penny-rounding line.
    pub fn validate(&self, entry: &NewEntry) -> Result<ValidEntry, Vec<EntryRefusal>> {
        self.validate_fingerprinted(entry, entry.fingerprint())
    }

    /// `validate` for a caller that already computed the entry's fingerprint.
    pub fn validate_fingerprinted(
        &self,
        entry: &NewEntry,
        fingerprint: String,
    ) -> Result<ValidEntry, Vec<EntryRefusal>> {
        check_entry_shape(entry)?;
        let entry_line = entry.source_line();
        let refused = |reason: Refusal| {
            vec![EntryRefusal {
                key: entry.key.clone(),
                source_line: entry_line,
                reason,
            }]
        };
        let period = self
            .resolve_period(entry.date, entry.period.as_ref())
            .map_err(refused)?;
        self.check_can_post(&period.name, entry.module).map_err(refused)?;
        let accounting_minor_units = self.minor_units(&self.entity.currency).map_err(refused)?;
        let (mut lines, converted_lines) = self.validate_lines(entry, accounting_minor_units)?;
        self.balance(&mut lines, converted_lines, accounting_minor_units)
            .map_err(refused)?;
        Ok(ValidEntry {
            key: entry.key.clone(),
            fingerprint,
            date: entry.date,
            period: period.name,
            fiscal_year: period.fiscal_year,
            module: entry.module,
            description: entry.description.clone(),
            lines,
            reverses_entry_id: None,
        })
    }

    /// The entry's lines as they post, with their accounting amounts, and how many were
    /// converted at a rate; refused with every line's refusal.
    fn validate_lines(
        &self,
        entry: &NewEntry,
        accounting_minor_units: u32,
    ) -> Result<(Vec<PostedLine>, u32), Vec<EntryRefusal>> {
        let accounting_currency = &self.entity.currency;
        let mut refusals = Vec::new();
        let mut lines = Vec::with_capacity(entry.lines.len() + 1);
        let mut converted_lines: u32 = 0;
        for (index, line) in entry.lines.iter().enumerate() {
            match self.validate_line(line, entry.date, accounting_currency, accounting_minor_units) {
                Ok((accounting_amount, converted)) => {
                    converted_lines += u32::from(converted);
                    lines.push(PostedLine {
                        line_no: u32::try_from(index + 1).unwrap_or(u32::MAX),
                        account: line.account.clone(),
                        dimensions: dimension::canonical(&line.dimensions),
                        currency: line.currency.clone().unwrap_or_else(|| accounting_currency.clone()),
                        amount: line.amount,
                        accounting_amount,
                        description: line.description.clone(),
                    });
                }
                Err(reason) => refusals.push(EntryRefusal {
                    key: entry.key.clone(),
                    source_line: line.source_line.or(entry.source_line()),
                    reason,
                }),
            }
        }
        if refusals.is_empty() {
            Ok((lines, converted_lines))
        } else {
            Err(refusals)
        }
    }

    /// Checks one line and returns its accounting amount and whether it was converted.
    fn validate_line(
        &self,
        line: &NewLine,
        date: NaiveDate,
        accounting_currency: &CurrencyCode,
        accounting_minor_units: u32,
    ) -> Result<(Decimal, bool), Refusal> {
        let account = self
            .accounts
            .get(&line.account)
            .ok_or_else(|| Refusal::UnknownAccount {
                account: line.account.clone(),
                entity: self.entity.id.clone(),
            })?;
        if account.blocked {
            return Err(Refusal::BlockedAccount {
                account: line.account.clone(),
            });
        }
        let currency = line.currency.as_ref().unwrap_or(accounting_currency);
        let minor_units = self.minor_units(currency)?;
        if let Some(required) = &account.fixed_currency
            && required != currency
        {
            return Err(Refusal::FixedCurrency {
                account: line.account.clone(),
                required: required.clone(),
                given: currency.clone(),
            });
        }
        self.check_dimensions(&line.dimensions)?;
        let amount_max = Decimal::from(LINE_AMOUNT_ABS_MAX_UNITS);
        for amount in std::iter::once(line.amount).chain(line.accounting_amount) {
            if amount.abs() > amount_max {
                return Err(Refusal::AmountTooLarge { amount });
            }
        }
        if let Some(accounting_amount) = line.accounting_amount
            && !line.amount.is_zero()
            && !accounting_amount.is_zero()
            && line.amount.is_sign_negative() != accounting_amount.is_sign_negative()
        {
            return Err(Refusal::AccountingAmountSign {
                amount: line.amount,
                accounting_amount,
            });
        }
        if decimals_used(line.amount) > minor_units {
            return Err(Refusal::TooManyDecimals {
                amount: line.amount,
                currency: currency.clone(),
                minor_units,
            });
        }
        if let Some(accounting_amount) = line.accounting_amount
            && decimals_used(accounting_amount) > accounting_minor_units
        {
            return Err(Refusal::TooManyDecimals {
                amount: accounting_amount,
                currency: accounting_currency.clone(),
                minor_units: accounting_minor_units,
            });
        }
        self.accounting_amount(
            line,
            account,
            currency,
            date,
            accounting_currency,
            accounting_minor_units,
        )
    }

    /// Refused when a dimension or its value is unknown, or the value is blocked.
    fn check_dimensions(&self, dimensions: &DimensionValues) -> Result<(), Refusal> {
        for (name, value) in dimensions {
            let values = self
                .dimensions
                .get(name)
                .ok_or_else(|| Refusal::UnknownDimension { name: name.clone() })?;
            match values.get(value) {
                None => {
                    return Err(Refusal::UnknownDimensionValue {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
                Some(true) => {
                    return Err(Refusal::BlockedDimensionValue {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
                Some(false) => {}
            }
        }
        Ok(())
    }

    /// The line's amount in the accounting currency, and whether it was converted at the
    /// entity's default rate: the amount itself, the accounting amount given, or the converted
    /// amount. Refused for a zero line, a revaluation-only line where none is allowed, and a
    /// missing rate.
    fn accounting_amount(
        &self,
        line: &NewLine,
        account: &Account,
        currency: &CurrencyCode,
        date: NaiveDate,
        accounting_currency: &CurrencyCode,
        accounting_minor_units: u32,
    ) -> Result<(Decimal, bool), Refusal> {
        if currency == accounting_currency {
            if let Some(accounting_amount) = line.accounting_amount
                && accounting_amount != line.amount
            {
                return Err(Refusal::AccountingAmountMismatch {
                    amount: line.amount,
                    accounting_amount,
                    currency: currency.clone(),
                });
            }
            if line.amount.is_zero() {
                return Err(Refusal::ZeroLine);
            }
            return Ok((line.amount, false));
        }
        if let Some(accounting_amount) = line.accounting_amount {
            if line.amount.is_zero() {
                if accounting_amount.is_zero() {
                    return Err(Refusal::ZeroLine);
                }
                if !(self.options.allow_revaluation_lines && account.revalue) {
                    return Err(Refusal::RevaluationLineNotAllowed { accounting_amount });
                }
            }
            return Ok((accounting_amount, false));
        }
        if line.amount.is_zero() {
            return Err(Refusal::ZeroLine);
        }
        let rate_type = &self.entity.default_rate_type;
        let rate = self
            .rates
            .rate_on(currency, accounting_currency, rate_type, date)
            .ok_or_else(|| Refusal::MissingRate {
                from: currency.clone(),
                to: accounting_currency.clone(),
                rate_type: rate_type.to_string(),
                date,
            })?;
        let converted = round_to_minor_units(
            line.amount.checked_mul(rate).ok_or(Refusal::Overflow)?,
            accounting_minor_units,
        );
        if converted.abs() > Decimal::from(LINE_AMOUNT_ABS_MAX_UNITS) {
            return Err(Refusal::AmountTooLarge { amount: converted });
        }
        Ok((converted, true))
    }

    /// Checks debits = credits in accounting currency, absorbing conversion rounding within
    /// the entity's tolerance (per converted line) on its penny-rounding account.
    fn balance(&self, lines: &mut Vec<PostedLine>, converted_lines: u32, minor_units: u32) -> Result<(), Refusal> {
        let mut debit = Decimal::ZERO;
        let mut credit = Decimal::ZERO;
        for line in lines.iter() {
            if line.accounting_amount.is_sign_positive() {
                debit = debit.checked_add(line.accounting_amount).ok_or(Refusal::Overflow)?;
            } else {
                credit = credit.checked_sub(line.accounting_amount).ok_or(Refusal::Overflow)?;
            }
        }
        let difference = debit.checked_sub(credit).ok_or(Refusal::Overflow)?;
        if difference.is_zero() {
            return Ok(());
        }
        let tolerance = self
            .entity
            .penny_tolerance
            .checked_mul(Decimal::from(converted_lines))
            .ok_or(Refusal::Overflow)?;
        if let Some(penny_account) = &self.entity.penny_rounding_account
            && converted_lines > 0
            && difference.abs() <= tolerance
        {
            let unusable = |reason: &str| Refusal::PennyAccountUnusable {
                account: penny_account.clone(),
                reason: reason.to_owned(),
            };
            match self.accounts.get(penny_account) {
                None => return Err(unusable("it does not exist in the chart")),
                Some(account) if account.blocked => return Err(unusable("it is blocked")),
                Some(account)
                    if account
                        .fixed_currency
                        .as_ref()
                        .is_some_and(|currency| currency != &self.entity.currency) =>
                {
                    return Err(unusable("it is fixed to another currency"));
                }
                Some(_) => {}
            }
            lines.push(PostedLine {
                line_no: u32::try_from(lines.len() + 1).unwrap_or(u32::MAX),
                account: penny_account.clone(),
                dimensions: String::new(),
                currency: self.entity.currency.clone(),
                amount: -difference,
                accounting_amount: -difference,
                description: "penny rounding".to_owned(),
            });
            return Ok(());
        }
        Err(Refusal::Unbalanced {
            debit: format_amount(debit, minor_units),
            credit: format_amount(credit, minor_units),
            difference: format_amount(difference, minor_units),
            currency: self.entity.currency.clone(),
        })
    }
}

/// Asserts the invariant every write and every read-back must hold: lines sum to exactly zero
/// in accounting currency. Separate from validation so that it also guards the store layer.
pub fn assert_balanced(entity: &EntityId, key: &EntryKey, lines: &[PostedLine]) {
    let mut total = Decimal::ZERO;
    for line in lines {
        total = total
            .checked_add(line.accounting_amount)
            .expect("a validated entry cannot overflow");
    }
    assert!(total.is_zero(), "entry {key} of {entity} does not balance: {total}");
    assert!(!lines.is_empty(), "entry {key} of {entity} has no lines");
}

/// The period kinds an entry may target by name.
pub fn is_named_period_kind(kind: PeriodKind) -> bool {
    matches!(kind, PeriodKind::Opening | PeriodKind::Closing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountType;
    use crate::ids::RateType;
    use crate::rate::ExchangeRate;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::from_str(text).unwrap()
    }

    // Proves an entry naming a period the calendar does not have (not a period name, or a year
    // not set up) is refused with the one message of every period lookup by name.
    #[test]
    fn an_entry_naming_an_unknown_period_is_refused_with_the_years_set_up() {
        let rules = rules();
        for name in ["FY2031-closing", "someday"] {
            let refusal = rules
                .resolve_period(date("2026-01-05"), Some(&PeriodName::new(name)))
                .unwrap_err();
            assert_eq!(
                refusal.to_string(),
                format!(
                    "period {name} does not exist in calendar standard of entity ACME-US, which has fiscal year FY2026: \
                     name one of its periods (YYYY-MM, FY2026-opening or FY2026-closing) or add the year to the \
                     calendar in setup (last_year) and apply it again"
                )
            );
        }
    }

    // Proves a counter-entry carries the lines it cancels with both amounts negated and
    // everything else of each line unchanged, under its own key, date and period.
    #[test]
    fn a_counter_entry_negates_every_line_and_keeps_the_rest() {
        let line = |line_no, account: &str, amount: &str, accounting_amount: &str| PostedLine {
            line_no,
            account: AccountNumber::new(account),
            dimensions: "region=west".to_owned(),
            currency: CurrencyCode::new("EUR"),
            amount: d(amount),
            accounting_amount: d(accounting_amount),
            description: format!("line {line_no}"),
        };
        let lines = [
            line(1, "1000", "100.00", "108.00"),
            line(2, "4000", "-100.00", "-108.00"),
        ];
        let counter = CounterEntry {
            key: EntryKey::new("reversal-of-A"),
            fingerprint: "reversal:abc".to_owned(),
            date: date("2026-02-01"),
            period: PeriodName::new("2026-02"),
            fiscal_year: FiscalYearName::new("FY2026"),
            description: "Reversal of A".to_owned(),
            reverses_entry_id: Some(7),
        }
        .cancelling(Module::Payables, &lines);
        assert_eq!(
            counter.lines,
            [
                line(1, "1000", "-100.00", "-108.00"),
                line(2, "4000", "100.00", "108.00")
            ]
        );
        assert_eq!(counter.module, Module::Payables);
        assert_eq!(counter.key.as_str(), "reversal-of-A");
        assert_eq!(counter.period.as_str(), "2026-02");
        assert_eq!(counter.reverses_entry_id, Some(7));
        // A zero amount stays a plain zero: a negative zero would print, and hash, as -0.
        let zero = CounterEntry {
            key: EntryKey::new("Z"),
            fingerprint: String::new(),
            date: date("2026-02-01"),
            period: PeriodName::new("2026-02"),
            fiscal_year: FiscalYearName::new("FY2026"),
            description: String::new(),
            reverses_entry_id: None,
        }
        .cancelling(Module::Ledger, &[line(1, "1000", "0.00", "5.00")]);
        assert!(zero.lines[0].amount.is_zero());
        assert!(!zero.lines[0].amount.is_sign_negative());
        assert_eq!(zero.lines[0].accounting_amount, d("-5.00"));
    }

    fn account(number: &str, account_type: AccountType) -> (AccountNumber, Account) {
        (
            number.into(),
            Account {
                number: number.into(),
                name: format!("Account {number}"),
                account_type,
                revalue: number == "1200",
                settle: false,
                rate_type: None,
                fixed_currency: None,
                category: None,
                blocked: number == "1999",
            },
        )
    }

    fn rules() -> PostingRules {
        PostingRules {
            entity: Entity {
                id: "ACME-US".into(),
                name: "Acme".into(),
                currency: "USD".into(),
                calendar: "standard".into(),
                chart: "group".into(),
                retained_earnings_account: "3900".into(),
                default_rate_type: RateType::new("spot"),
                penny_rounding_account: Some("7990".into()),
                penny_tolerance: d("0.01"),
            },
            calendar: FiscalCalendar::new(1).unwrap(),
            fiscal_years: ["FY2026".into()].into(),
            accounts: [
                account("1000", AccountType::Asset),
                account("1200", AccountType::Asset),
                account("1999", AccountType::Asset),
                account("4000", AccountType::Revenue),
                account("7990", AccountType::Expense),
            ]
            .into(),
            dimensions: [(
                "department".to_owned(),
                [("100".to_owned(), false), ("900".to_owned(), true)].into(),
            )]
            .into(),
            currencies: [("USD".into(), 2), ("EUR".into(), 2), ("JPY".into(), 0)].into(),
            rates: RateTable::new([
                ExchangeRate {
                    from: "EUR".into(),
                    to: "USD".into(),
                    rate_type: "spot".into(),
                    effective: date("2026-01-01"),
                    rate: d("1.08"),
                },
                ExchangeRate {
                    from: "JPY".into(),
                    to: "USD".into(),
                    rate_type: "spot".into(),
                    effective: date("2026-01-01"),
                    rate: d("0.006667"),
                },
            ]),
            statuses: [("2026-02".into(), PeriodStatus::OnHold)].into(),
            access: [(
                ("2026-03".into(), Module::Ledger),
                ModuleAccess::Group("closers".into()),
            )]
            .into(),
            user: "alice".into(),
            user_groups: vec![],
            options: PostingOptions::default(),
        }
    }

    fn line(account: &str, amount: &str) -> NewLine {
        NewLine {
            account: account.into(),
            dimensions: DimensionValues::new(),
            currency: None,
            amount: d(amount),
            accounting_amount: None,
            description: String::new(),
            source_line: Some(2),
        }
    }

    fn entry(date_text: &str, lines: Vec<NewLine>) -> NewEntry {
        NewEntry {
            key: "E1".into(),
            date: date(date_text),
            period: None,
            description: "test".into(),
            module: Module::Ledger,
            lines,
        }
    }

    fn refusal(entry: &NewEntry) -> Refusal {
        rules().validate(entry).unwrap_err().remove(0).reason
    }

    // Proves every text of an entry is bounded, and the refusal names the field, its length and
    // the limit without quoting the text (issue 17, weakness 1).
    #[test]
    fn texts_beyond_their_limits_are_refused_by_field() {
        let mut long = entry("2026-01-15", vec![line("1000", "5.00"), line("4000", "-5.00")]);
        long.description = "d".repeat(DESCRIPTION_CHARS_MAX + 1);
        assert_eq!(
            refusal(&long).to_string(),
            "the entry description is 1001 characters long; at most 1000 are allowed"
        );
        let mut account = line("1".repeat(65_536).as_str(), "5.00");
        account.description = String::new();
        let long = entry("2026-01-15", vec![account, line("4000", "-5.00")]);
        assert_eq!(
            refusal(&long).to_string(),
            "the account is 65536 characters long; at most 64 are allowed"
        );
        let mut key = entry("2026-01-15", vec![line("1000", "5.00"), line("4000", "-5.00")]);
        key.key = EntryKey::new("k".repeat(ENTRY_KEY_CHARS_MAX + 1));
        let refused = rules().validate(&key).unwrap_err().remove(0);
        assert!(
            refused
                .to_string()
                .ends_with("the entry key is 257 characters long; at most 256 are allowed")
        );
        assert!(refused.to_string().len() < 200, "{refused}");
        // Characters, not bytes: 1,000 three-byte characters fit.
        let mut wide = entry("2026-01-15", vec![line("1000", "5.00"), line("4000", "-5.00")]);
        wide.description = "€".repeat(DESCRIPTION_CHARS_MAX);
        rules().validate(&wide).unwrap();
    }

    // Proves a control character is refused in every id, shown escaped, and allowed (kept
    // exactly) in descriptions (issue 17, weakness 6).
    #[test]
    fn control_characters_are_refused_in_ids_and_kept_in_descriptions() {
        let mut dimension = line("1000", "5.00");
        dimension.dimensions.insert("department".into(), "100\n".into());
        let cases = [
            (
                line("1000\u{1b}[2J", "5.00"),
                "the account `1000\\u{1b}[2J` contains a control character",
            ),
            (
                dimension,
                "the dimension value `100\\u{a}` contains a control character",
            ),
        ];
        for (bad, expected) in cases {
            let message = refusal(&entry("2026-01-15", vec![bad, line("4000", "-5.00")])).to_string();
            assert!(message.starts_with(expected), "{message}");
        }
        let mut key = entry("2026-01-15", vec![line("1000", "5.00"), line("4000", "-5.00")]);
        key.key = EntryKey::new("E\r1");
        assert!(
            refusal(&key)
                .to_string()
                .contains("the entry key `E\\u{d}1` contains a control character")
        );
        let mut described = entry("2026-01-15", vec![line("1000", "5.00"), line("4000", "-5.00")]);
        described.description = "two\nlines\u{1b}[0m".into();
        assert_eq!(rules().validate(&described).unwrap().description, "two\nlines\u{1b}[0m");
    }

    // Proves the escape shows every control character and bidirectional override visibly and
    // leaves other text alone.
    #[test]
    fn control_characters_are_escaped_visibly() {
        assert_eq!(escape_control_characters("plain €"), "plain €");
        assert_eq!(
            escape_control_characters("a\u{1b}[31mb\r\n\u{0}\u{7f}\u{9b}\u{202e}c"),
            "a\\u{1b}[31mb\\u{d}\\u{a}\\u{0}\\u{7f}\\u{9b}\\u{202e}c"
        );
        assert_eq!(quoted_for_message(&"x".repeat(100)), format!("{}…", "x".repeat(40)));
    }

    #[test]
    fn balanced_entry_in_accounting_currency_posts() {
        let valid = rules()
            .validate(&entry(
                "2026-01-15",
                vec![line("1000", "100.00"), line("4000", "-100.00")],
            ))
            .unwrap();
        assert_eq!(valid.period.as_str(), "2026-01");
        assert_eq!(valid.fiscal_year.as_str(), "FY2026");
        assert_eq!(valid.lines.len(), 2);
        assert_eq!(valid.lines[0].accounting_amount, d("100.00"));
    }

    #[test]
    fn unbalanced_entry_is_refused_with_the_difference() {
        let reason = refusal(&entry(
            "2026-01-15",
            vec![line("1000", "100.00"), line("4000", "-99.00")],
        ));
        assert_eq!(
            reason.to_string(),
            "the entry does not balance: debits 100.00, credits 99.00, difference 1.00 USD"
        );
    }

    #[test]
    fn foreign_lines_convert_at_the_default_rate_and_penny_rounding_absorbs_cents() {
        let mut eur = line("1200", "10.01");
        eur.currency = Some("EUR".into());
        let mut eur2 = eur.clone();
        eur2.amount = d("10.01");
        // 10.01 * 1.08 = 10.8108 -> 10.81, twice = 21.62 against a credit of 21.63: 0.01 off.
        let valid = rules()
            .validate(&entry("2026-01-15", vec![eur, eur2, line("4000", "-21.63")]))
            .unwrap();
        assert_eq!(valid.lines[0].accounting_amount, d("10.81"));
        let penny = valid.lines.last().unwrap();
        assert_eq!(penny.account.as_str(), "7990");
        assert_eq!(penny.accounting_amount, d("0.01"));
        assert_balanced(&"ACME-US".into(), &valid.key, &valid.lines);
    }

    #[test]
    fn rounding_beyond_the_tolerance_is_refused() {
        let mut eur = line("1200", "10.00");
        eur.currency = Some("EUR".into());
        let reason = refusal(&entry("2026-01-15", vec![eur, line("4000", "-10.82")]));
        assert!(matches!(reason, Refusal::Unbalanced { .. }), "{reason}");
    }

    #[test]
    fn each_posting_rule_refuses_with_its_reason() {
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![line("9999", "1"), line("4000", "-1")])),
            Refusal::UnknownAccount { .. }
        ));
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![line("1999", "1"), line("4000", "-1")])),
            Refusal::BlockedAccount { .. }
        ));
        assert!(matches!(
            refusal(&entry(
                "2026-01-15",
                vec![line("1000", "1.001"), line("4000", "-1.001")]
            )),
            Refusal::TooManyDecimals { .. }
        ));
        assert!(matches!(
            refusal(&entry("2026-02-15", vec![line("1000", "1"), line("4000", "-1")])),
            Refusal::PeriodNotOpen { .. }
        ));
        assert!(matches!(
            refusal(&entry("2026-03-15", vec![line("1000", "1"), line("4000", "-1")])),
            Refusal::NoModuleAccess { .. }
        ));
        assert!(matches!(
            refusal(&entry("2027-01-15", vec![line("1000", "1"), line("4000", "-1")])),
            Refusal::NoPeriod { .. }
        ));
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![line("1000", "0"), line("4000", "0")])),
            Refusal::ZeroLine
        ));
        assert!(matches!(refusal(&entry("2026-01-15", vec![])), Refusal::NoLines));
        let mut dimensioned = line("1000", "1");
        dimensioned.dimensions.insert("department".into(), "555".into());
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![dimensioned.clone(), line("4000", "-1")])),
            Refusal::UnknownDimensionValue { .. }
        ));
        dimensioned.dimensions.insert("department".into(), "900".into());
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![dimensioned.clone(), line("4000", "-1")])),
            Refusal::BlockedDimensionValue { .. }
        ));
        dimensioned.dimensions = [("region".to_owned(), "north".to_owned())].into();
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![dimensioned, line("4000", "-1")])),
            Refusal::UnknownDimension { .. }
        ));
        let mut gbp = line("1000", "1");
        gbp.currency = Some("GBP".into());
        assert!(matches!(
            refusal(&entry("2026-01-15", vec![gbp, line("4000", "-1")])),
            Refusal::UnknownCurrency { .. }
        ));
        let mut early = line("1200", "1");
        early.currency = Some("EUR".into());
        let mut rules_without_rates = rules();
        rules_without_rates.rates = RateTable::default();
        let reason = rules_without_rates
            .validate(&entry("2026-01-15", vec![early, line("4000", "-1.08")]))
            .unwrap_err()
            .remove(0)
            .reason;
        assert_eq!(
            reason.to_string(),
            "no spot rate from EUR to USD on or before 2026-01-15; add one with `closebook import rates` or give accounting_amount"
        );
    }

    #[test]
    fn user_in_the_group_may_post() {
        let mut rules = rules();
        rules.user_groups = vec!["closers".into()];
        assert!(
            rules
                .validate(&entry("2026-03-15", vec![line("1000", "1"), line("4000", "-1")]))
                .is_ok()
        );
    }

    #[test]
    fn revaluation_lines_need_the_option_and_a_revalued_account() {
        let mut revaluation = line("1200", "0");
        revaluation.currency = Some("EUR".into());
        revaluation.accounting_amount = Some(d("-166.67"));
        let entry = entry("2026-01-31", vec![revaluation, line("4000", "166.67")]);
        assert!(matches!(refusal(&entry), Refusal::RevaluationLineNotAllowed { .. }));
        let mut rules = rules();
        rules.options.allow_revaluation_lines = true;
        assert!(rules.validate(&entry).is_ok());
    }

    #[test]
    fn named_closing_period_takes_a_last_month_date() {
        let mut closing = entry("2026-12-31", vec![line("1000", "1"), line("4000", "-1")]);
        closing.period = Some("FY2026-closing".into());
        assert_eq!(rules().validate(&closing).unwrap().period.as_str(), "FY2026-closing");
        closing.date = date("2026-11-30");
        assert!(matches!(refusal(&closing), Refusal::DateOutsidePeriod { .. }));
        let mut opening = entry("2026-01-01", vec![line("1000", "1"), line("4000", "-1")]);
        opening.period = Some("FY2026-opening".into());
        assert_eq!(rules().validate(&opening).unwrap().period.as_str(), "FY2026-opening");
    }

    #[test]
    fn fingerprint_ignores_trailing_zeros_but_not_amounts() {
        let first = entry("2026-01-15", vec![line("1000", "100.00"), line("4000", "-100.00")]);
        let same = entry("2026-01-15", vec![line("1000", "100"), line("4000", "-100")]);
        let other = entry("2026-01-15", vec![line("1000", "101"), line("4000", "-101")]);
        assert_eq!(first.fingerprint(), same.fingerprint());
        assert_ne!(first.fingerprint(), other.fingerprint());
    }

    fn posted(previous_hash: &str) -> PostedEntry {
        let valid = rules()
            .validate(&entry(
                "2026-01-15",
                vec![line("1000", "100.00"), line("4000", "-100.00")],
            ))
            .unwrap();
        let mut posted = PostedEntry {
            id: 1,
            entity: "ACME-US".into(),
            sequence: 1,
            key: valid.key,
            fingerprint: valid.fingerprint,
            date: valid.date,
            period: valid.period,
            fiscal_year: valid.fiscal_year,
            module: valid.module,
            description: valid.description,
            reverses_entry_id: None,
            posted_by: "alice".into(),
            posted_at: "2026-01-15T10:00:00Z".into(),
            provenance: Provenance {
                source: "import:test.csv".into(),
                ..Provenance::default()
            },
            lines: valid.lines,
            previous_hash: previous_hash.to_owned(),
            hash: String::new(),
        };
        posted.hash = posted.compute_hash();
        posted
    }

    #[test]
    fn hash_chain_covers_previous_hash_lines_and_provenance() {
        let first = posted(GENESIS_HASH);
        assert_eq!(first.hash.len(), 64);
        assert_eq!(first.hash, first.compute_hash(), "the hash is deterministic");
        let second = posted(&first.hash);
        assert_ne!(second.hash, first.hash, "the previous hash is chained in");
        let mut tampered = first.clone();
        tampered.lines[0].accounting_amount = d("100.01");
        assert_ne!(tampered.compute_hash(), first.hash, "a changed amount changes the hash");
        let mut tampered = first.clone();
        tampered.provenance.plugin_sha256 = Some("ab".into());
        assert_ne!(tampered.compute_hash(), first.hash, "provenance is covered");
        let mut tampered = first.clone();
        tampered.description = "tes".into();
        tampered.key = EntryKey::new("E1t");
        assert_ne!(tampered.compute_hash(), first.hash, "fields are length-prefixed");
    }

    /// The encoding every stored hash was written with: each number and length as `to_string`.
    fn plain_text_hash(entry: &PostedEntry) -> String {
        let mut hasher = Sha256::new();
        let mut field = |name: &str, value: &str| {
            hasher.update(format!("{name}:{}:{value};", value.len()).as_bytes());
        };
        field("previous", &entry.previous_hash);
        field("entity", entry.entity.as_str());
        field("sequence", &entry.sequence.to_string());
        field("key", entry.key.as_str());
        field("fingerprint", &entry.fingerprint);
        field("date", &entry.date.to_string());
        field("period", entry.period.as_str());
        field("fiscal_year", entry.fiscal_year.as_str());
        field("module", entry.module.as_str());
        field("description", &entry.description);
        field(
            "reverses",
            &entry.reverses_entry_id.map(|id| id.to_string()).unwrap_or_default(),
        );
        field("posted_by", entry.posted_by.as_str());
        field("posted_at", &entry.posted_at);
        field("source", &entry.provenance.source);
        for (name, value) in [
            ("run_id", &entry.provenance.run_id),
            ("task", &entry.provenance.task),
            ("plugin_name", &entry.provenance.plugin_name),
            ("plugin_version", &entry.provenance.plugin_version),
            ("plugin_sha256", &entry.provenance.plugin_sha256),
        ] {
            field(name, value.as_deref().unwrap_or(""));
        }
        for line in &entry.lines {
            field("line_no", &line.line_no.to_string());
            field("account", line.account.as_str());
            field("dimensions", &line.dimensions);
            field("currency", line.currency.as_str());
            field("amount", &line.amount.to_string());
            field("accounting_amount", &line.accounting_amount.to_string());
            field("line_description", &line.description);
        }
        hex::encode(hasher.finalize())
    }

    #[test]
    fn hash_encoding_is_the_plain_text_one_for_every_number() {
        // Stored hashes must still verify: the allocation-free number and length encoding
        // writes exactly what `to_string` wrote, for zero, one digit, many digits and negatives.
        let mut entry = posted(GENESIS_HASH);
        for (sequence, reverses) in [
            (0, None),
            (1, Some(9)),
            (10, Some(10)),
            (1_000_000_007, Some(-1)),
            (-42, Some(i64::MIN)),
            (i64::MAX, Some(i64::MAX)),
        ] {
            entry.sequence = sequence;
            entry.reverses_entry_id = reverses;
            entry.description = "d".repeat(usize::try_from(sequence.unsigned_abs() % 1000).unwrap());
            assert_eq!(entry.compute_hash(), plain_text_hash(&entry), "sequence {sequence}");
        }
        entry.lines[0].line_no = 123_456;
        assert_eq!(entry.compute_hash(), plain_text_hash(&entry));
    }
}
