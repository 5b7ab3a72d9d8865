//! Reading journals, accounts and rates from files. Journal CSV is streamed: lines of one entry
//! must be contiguous, and entries are handed to the posting code one at a time, so a file of a
//! million entries never sits in memory whole.
//!
//! Journal CSV columns: `entry`, `date`, `account`, `amount` (signed, debit positive) or
//! `debit` / `credit`, optional `currency`, `accounting_amount`, `description`, `period`, and
//! one `dim.<name>` column per dimension. JSON holds the same fields as an array of entries
//! (or `{"entries": [...]}`) with a `lines` array each; amounts are strings, never numbers.
//!
//! Files made by spreadsheets in other locales are the usual bad input: `;` between columns,
//! thousands separators, decimal commas, negatives in parentheses. Each is named as such
//! ([`amount_format_problem`], [`check_header_delimiter`]) rather than as "not a decimal
//! number" or "unknown column `entry;date;account;amount`". The column delimiter is `,` unless
//! the caller names another (`--delimiter`).

use crate::dimension::DimensionValues;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntryKey, PeriodName};
use crate::journal::{EntryRefusal, NewEntry, NewLine, Refusal};
use crate::money::parse_amount_text;
use crate::period::Module;
use crate::rate::ExchangeRate;
use crate::setup::{AccountSetup, parse_rate};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::str::FromStr;

/// One item read from a journal file: an entry, or why its lines could not be read.
pub type JournalItem = Result<NewEntry, EntryRefusal>;

/// Column positions of a journal CSV header.
struct JournalColumns {
    entry: usize,
    date: usize,
    account: usize,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    currency: Option<usize>,
    accounting_amount: Option<usize>,
    description: Option<usize>,
    period: Option<usize>,
    dimensions: Vec<(String, usize)>,
    /// The number of columns of the header, which every line must have.
    count: usize,
}

/// The columns a journal CSV may have besides `dim.<name>`.
const JOURNAL_COLUMNS: [&str; 10] = [
    "entry",
    "date",
    "account",
    "amount",
    "debit",
    "credit",
    "currency",
    "accounting_amount",
    "description",
    "period",
];

/// The delimiters a header is checked for when it does not split on the one given.
const DELIMITERS_RECOGNISED: [u8; 4] = [b',', b';', b'\t', b'|'];

/// A delimiter as a person types it on the command line: `;`, or `tab` for a tab.
pub fn delimiter_text(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_owned(),
        other => char::from(other).to_string(),
    }
}

/// Refuses a header that holds known columns joined by another delimiter than the one the file
/// is read with, e.g. `entry;date;account;amount` read with `,`, naming the fix.
pub fn check_header_delimiter(
    header: &csv::StringRecord,
    delimiter: u8,
    is_known: impl Fn(&str) -> bool,
    path: &str,
) -> Result<(), LedgerError> {
    for field in header.iter() {
        for other in DELIMITERS_RECOGNISED.into_iter().filter(|other| *other != delimiter) {
            let separator = char::from(other);
            if !field.contains(separator) {
                continue;
            }
            let parts: Vec<&str> = field.split(separator).map(str::trim).collect();
            if parts.len() > 1 && parts.iter().all(|part| is_known(part)) {
                let fix = if other == b',' {
                    "leave out --delimiter (or pass --delimiter ',')".to_owned()
                } else {
                    format!("pass --delimiter '{}'", delimiter_text(other))
                };
                return Err(LedgerError::input(
                    path,
                    format!(
                        "the header `{}` separates its columns with '{}', but the file is read with '{}' between columns: {fix}",
                        field.trim(),
                        delimiter_text(other),
                        delimiter_text(delimiter)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn is_journal_column(column: &str) -> bool {
    JOURNAL_COLUMNS.contains(&column) || column.starts_with("dim.")
}

impl JournalColumns {
    fn from_header(header: &csv::StringRecord, delimiter: u8, path: &str) -> Result<Self, LedgerError> {
        let find = |name: &str| header.iter().position(|column| column.trim() == name);
        let require = |name: &str| {
            find(name).ok_or_else(|| LedgerError::input(path, format!("the header has no `{name}` column")))
        };
        check_header_delimiter(header, delimiter, is_journal_column, path)?;
        for column in header.iter().map(str::trim) {
            if !is_journal_column(column) {
                return Err(LedgerError::input(
                    path,
                    format!(
                        "unknown column `{column}` (expected {} or dim.<name>)",
                        JOURNAL_COLUMNS.join(", ")
                    ),
                ));
            }
        }
        let columns = Self {
            entry: require("entry")?,
            date: require("date")?,
            account: require("account")?,
            amount: find("amount"),
            debit: find("debit"),
            credit: find("credit"),
            currency: find("currency"),
            accounting_amount: find("accounting_amount"),
            description: find("description"),
            period: find("period"),
            dimensions: header
                .iter()
                .enumerate()
                .filter_map(|(index, column)| column.trim().strip_prefix("dim.").map(|name| (name.to_owned(), index)))
                .collect(),
            count: header.len(),
        };
        if columns.amount.is_none() && (columns.debit.is_none() || columns.credit.is_none()) {
            return Err(LedgerError::input(
                path,
                "the header needs an `amount` column or both `debit` and `credit`",
            ));
        }
        Ok(columns)
    }
}

/// Streams entries out of a journal CSV.
pub struct CsvJournalReader<R: Read> {
    records: csv::StringRecordsIntoIter<R>,
    columns: JournalColumns,
    module: Module,
    /// The first line of the next entry, read ahead while finishing the previous one.
    pending: Option<(u64, csv::StringRecord)>,
    finished: bool,
    delimiter: u8,
}

impl<R: Read> CsvJournalReader<R> {
    /// A reader of a comma-separated journal.
    pub fn new(reader: R, path: &str, module: Module) -> Result<Self, LedgerError> {
        Self::with_delimiter(reader, path, module, b',')
    }

    /// A reader of a journal whose columns are separated by `delimiter` (e.g. `;`).
    pub fn with_delimiter(reader: R, path: &str, module: Module, delimiter: u8) -> Result<Self, LedgerError> {
        // Flexible: a line with more or fewer fields than the header is refused by the reader
        // itself, which can then say which amount a thousands separator split.
        let mut csv_reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .trim(csv::Trim::Fields)
            .from_reader(reader);
        let header = csv_reader
            .headers()
            .map_err(|error| LedgerError::input(path, format!("cannot read the header: {error}")))?
            .clone();
        let columns = JournalColumns::from_header(&header, delimiter, path)?;
        Ok(Self {
            records: csv_reader.into_records(),
            columns,
            module,
            pending: None,
            finished: false,
            delimiter,
        })
    }

    fn next_record(&mut self) -> Option<Result<(u64, csv::StringRecord), EntryRefusal>> {
        if let Some(pending) = self.pending.take() {
            return Some(Ok(pending));
        }
        let record = self.records.next()?;
        Some(match record {
            Ok(record) => Ok((record.position().map_or(0, |position| position.line()), record)),
            Err(error) => {
                let line = error.position().map(|position| position.line());
                Err(EntryRefusal {
                    key: EntryKey::new("?"),
                    source_line: line,
                    reason: Refusal::Malformed {
                        message: error.to_string(),
                    },
                })
            }
        })
    }

    fn field(record: &csv::StringRecord, column: Option<usize>) -> &str {
        column.and_then(|index| record.get(index)).unwrap_or("")
    }

    /// Reads one CSV line into a journal line plus the entry-level fields it carries.
    fn parse_line(
        &self,
        line_number: u64,
        record: &csv::StringRecord,
    ) -> Result<(EntryKey, NaiveDate, Option<PeriodName>, NewLine), EntryRefusal> {
        let key = EntryKey::new(Self::field(record, Some(self.columns.entry)));
        let malformed = |message: String| EntryRefusal {
            key: if key.as_str().is_empty() {
                EntryKey::new("?")
            } else {
                key.clone()
            },
            source_line: Some(line_number),
            reason: Refusal::Malformed { message },
        };
        if record.len() != self.columns.count {
            return Err(malformed(self.field_count_problem(record)));
        }
        if key.as_str().is_empty() {
            return Err(malformed("the `entry` column is empty".to_owned()));
        }
        let date_text = Self::field(record, Some(self.columns.date));
        let date = NaiveDate::from_str(date_text)
            .map_err(|_| malformed(format!("`{date_text}` is not a date (YYYY-MM-DD)")))?;
        let account = Self::field(record, Some(self.columns.account));
        if account.is_empty() {
            return Err(malformed("the `account` column is empty".to_owned()));
        }
        let amount = parse_signed_amount(
            Self::field(record, self.columns.amount),
            Self::field(record, self.columns.debit),
            Self::field(record, self.columns.credit),
        )
        .map_err(malformed)?;
        let accounting_amount =
            optional_amount(Self::field(record, self.columns.accounting_amount)).map_err(&malformed)?;
        let currency = Some(Self::field(record, self.columns.currency))
            .filter(|text| !text.is_empty())
            .map(CurrencyCode::from);
        let period = Some(Self::field(record, self.columns.period))
            .filter(|text| !text.is_empty())
            .map(PeriodName::from);
        let mut dimensions = DimensionValues::new();
        for (name, index) in &self.columns.dimensions {
            let value = record.get(*index).unwrap_or("");
            if !value.is_empty() {
                dimensions.insert(name.clone(), value.to_owned());
            }
        }
        let line = NewLine {
            account: AccountNumber::new(account),
            dimensions,
            currency,
            amount,
            accounting_amount,
            description: Self::field(record, self.columns.description).to_owned(),
            source_line: Some(line_number),
        };
        Ok((key, date, period, line))
    }
}

impl<R: Read> Iterator for CsvJournalReader<R> {
    type Item = JournalItem;

    fn next(&mut self) -> Option<JournalItem> {
        if self.finished {
            return None;
        }
        let (line_number, record) = match self.next_record()? {
            Ok(read) => read,
            Err(refusal) => {
                // A record the CSV reader cannot read (invalid UTF-8, say) makes the rest unreliable.
                self.finished = true;
                return Some(Err(refusal));
            }
        };
        let (key, date, period, first_line) = match self.parse_line(line_number, &record) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                self.skip_rest_of(&refusal.key);
                return Some(Err(refusal));
            }
        };
        let mut entry = NewEntry {
            key,
            date,
            period,
            description: first_line.description.clone(),
            module: self.module,
            lines: vec![first_line],
        };
        loop {
            let (line_number, record) = match self.next_record() {
                None => break,
                Some(Ok(read)) => read,
                Some(Err(refusal)) => {
                    self.finished = true;
                    return Some(Err(refusal));
                }
            };
            if Self::field(&record, Some(self.columns.entry)) != entry.key.as_str() {
                self.pending = Some((line_number, record));
                break;
            }
            match self.parse_line(line_number, &record) {
                Ok((_, line_date, line_period, line)) => {
                    if let Some(reason) = further_line_refusal(&entry, line_date, line_period.as_ref()) {
                        self.skip_rest_of(&entry.key);
                        return Some(Err(EntryRefusal {
                            key: entry.key,
                            source_line: Some(line_number),
                            reason,
                        }));
                    }
                    entry.lines.push(line);
                }
                Err(refusal) => {
                    self.skip_rest_of(&entry.key);
                    return Some(Err(refusal));
                }
            }
        }
        Some(Ok(entry))
    }
}

/// Why a further line of the file cannot join `entry`: it has another date or names another
/// period, or the entry has as many lines as one may have.
fn further_line_refusal(entry: &NewEntry, date: NaiveDate, period: Option<&PeriodName>) -> Option<Refusal> {
    if date != entry.date {
        return Some(Refusal::MixedDates {
            first: entry.date,
            other: date,
        });
    }
    if period != entry.period.as_ref() {
        return Some(Refusal::Malformed {
            message: "lines of one entry name different periods".to_owned(),
        });
    }
    if entry.lines.len() >= crate::journal::ENTRY_LINES_MAX {
        return Some(Refusal::TooManyLines {
            count: crate::journal::ENTRY_LINES_MAX + 1,
        });
    }
    None
}

impl<R: Read> CsvJournalReader<R> {
    /// Why a line has another number of fields than the header: an amount split by a thousands
    /// separator or a decimal comma that is also the delimiter, or else the counts.
    fn field_count_problem(&self, record: &csv::StringRecord) -> String {
        let delimiter = delimiter_text(self.delimiter);
        if let Some(extra) = record.len().checked_sub(self.columns.count).filter(|extra| *extra > 0) {
            let amount_columns = [
                self.columns.amount,
                self.columns.debit,
                self.columns.credit,
                self.columns.accounting_amount,
            ];
            for start in amount_columns.into_iter().flatten() {
                let parts: Vec<&str> = (start..=start + extra).filter_map(|index| record.get(index)).collect();
                if parts.len() == extra + 1 && looks_like_split_amount(&parts) {
                    return format!(
                        "amounts must use '.' as decimal point and no thousands separator: '{}'",
                        parts.join(&delimiter)
                    );
                }
            }
        }
        format!(
            "the line has {} fields but the header has {}; quote a field that contains '{delimiter}'",
            record.len(),
            self.columns.count
        )
    }

    /// After a refusal, skips the remaining lines of the same entry so that each entry is
    /// reported once.
    fn skip_rest_of(&mut self, key: &EntryKey) {
        while let Some(Ok((line_number, record))) = self.next_record() {
            if Self::field(&record, Some(self.columns.entry)) != key.as_str() {
                self.pending = Some((line_number, record));
                return;
            }
        }
    }
}

/// `amount`, or `debit` minus `credit`.
fn parse_signed_amount(amount: &str, debit: &str, credit: &str) -> Result<Decimal, String> {
    if !amount.is_empty() {
        if !debit.is_empty() || !credit.is_empty() {
            return Err("give either `amount` or `debit`/`credit`, not both".to_owned());
        }
        return parse_amount(amount);
    }
    let debit = optional_amount(debit)?.unwrap_or_default();
    let credit = optional_amount(credit)?.unwrap_or_default();
    if debit.is_sign_negative() || credit.is_sign_negative() {
        return Err("debit and credit are written as positive numbers".to_owned());
    }
    debit
        .checked_sub(credit)
        .ok_or_else(|| "the amount overflows".to_owned())
}

fn optional_amount(text: &str) -> Result<Option<Decimal>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_amount(text).map(Some)
}

/// An amount of a file, refused with its likely cause when it is written the way a spreadsheet
/// in another locale writes it.
fn parse_amount(text: &str) -> Result<Decimal, String> {
    parse_amount_text(text).map_err(|error| amount_format_problem(text).unwrap_or_else(|| error.to_string()))
}

/// Characters that group thousands in some locale: comma, space, no-break spaces, apostrophes.
const THOUSANDS_SEPARATORS: [char; 6] = [',', ' ', '\u{a0}', '\u{202f}', '\'', '\u{2019}'];

/// Why `text` is not a plain decimal when it is a number in a common spreadsheet format: a
/// thousands separator or decimal comma (`1,234.56`, `1.234,56`, `1234,56`, `1 234.56`), or a
/// negative in parentheses (`(100.00)`). None for anything else.
pub fn amount_format_problem(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed.strip_prefix('(').and_then(|rest| rest.strip_suffix(')')) {
        let inner = inner.trim();
        if !inner.is_empty() && inner.chars().all(is_number_character) {
            let fix = match parse_amount_text(inner) {
                Ok(amount) => format!("; write -{amount}"),
                Err(_) => ", and use '.' as decimal point and no thousands separator".to_owned(),
            };
            return Some(format!(
                "negative amounts take a minus sign, not parentheses: '{trimmed}'{fix}"
            ));
        }
        return None;
    }
    let grouped = trimmed.contains(THOUSANDS_SEPARATORS);
    if grouped
        && trimmed.chars().any(|character| character.is_ascii_digit())
        && trimmed.chars().all(is_number_character)
    {
        return Some(format!(
            "amounts must use '.' as decimal point and no thousands separator: '{trimmed}'"
        ));
    }
    None
}

fn is_number_character(character: char) -> bool {
    character.is_ascii_digit() || matches!(character, '-' | '+' | '.') || THOUSANDS_SEPARATORS.contains(&character)
}

/// Whether fields are the pieces of one amount cut at a thousands separator or a decimal comma
/// that is also the delimiter: `1` `234.56`, `-1234` `56`, `1` `234` `567.89`.
fn looks_like_split_amount(parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let digits = |text: &str| !text.is_empty() && text.chars().all(|character| character.is_ascii_digit());
    let first = first.strip_prefix(['-', '+']).unwrap_or(first);
    if !digits(first) || rest.is_empty() {
        return false;
    }
    rest.iter().enumerate().all(|(index, part)| {
        let last = index + 1 == rest.len();
        match part.split_once('.') {
            Some((whole, fraction)) => last && digits(whole) && digits(fraction),
            None => digits(part),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    entry: String,
    date: String,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    description: Option<String>,
    lines: Vec<JsonLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    account: String,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    debit: Option<String>,
    #[serde(default)]
    credit: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    accounting_amount: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

/// Reads a JSON journal whole (JSON journals are hand-made and small; CSV is for bulk).
pub fn read_json_journal(text: &str, path: &str, module: Module) -> Result<Vec<JournalItem>, LedgerError> {
    let describe = |error: serde_json::Error| {
        let hint = if error.to_string().contains("expected a string") {
            " (amounts are strings, e.g. \"12.50\")"
        } else {
            ""
        };
        LedgerError::input(path, format!("{error}{hint}"))
    };
    let mut document: serde_json::Value = serde_json::from_str(text).map_err(describe)?;
    if let Some(entries) = document.get_mut("entries") {
        document = entries.take();
    }
    let entries: Vec<JsonEntry> = serde_json::from_value(document).map_err(describe)?;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let key = EntryKey::new(entry.entry);
            let malformed = |message: String| EntryRefusal {
                key: key.clone(),
                source_line: None,
                reason: Refusal::Malformed { message },
            };
            if key.as_str().is_empty() {
                return Err(malformed("the `entry` key is empty".to_owned()));
            }
            let date = NaiveDate::from_str(&entry.date)
                .map_err(|_| malformed(format!("`{}` is not a date (YYYY-MM-DD)", entry.date)))?;
            let mut lines = Vec::with_capacity(entry.lines.len());
            for (index, line) in entry.lines.into_iter().enumerate() {
                let at = |message: String| malformed(format!("line {}: {message}", index + 1));
                let amount = parse_signed_amount(
                    line.amount.as_deref().unwrap_or(""),
                    line.debit.as_deref().unwrap_or(""),
                    line.credit.as_deref().unwrap_or(""),
                )
                .map_err(at)?;
                lines.push(NewLine {
                    account: AccountNumber::new(line.account),
                    dimensions: line.dimensions,
                    currency: line.currency.map(CurrencyCode),
                    amount,
                    accounting_amount: optional_amount(line.accounting_amount.as_deref().unwrap_or("")).map_err(at)?,
                    description: line.description.unwrap_or_default(),
                    source_line: None,
                });
            }
            Ok(NewEntry {
                key: key.clone(),
                date,
                period: entry.period.map(PeriodName),
                description: entry
                    .description
                    .unwrap_or_else(|| lines.first().map(|line| line.description.clone()).unwrap_or_default()),
                module,
                lines,
            })
        })
        .collect())
}

/// Reads a chart of accounts CSV: `number,name,type` and optional `revalue`, `settle`,
/// `rate_type`, `fixed_currency`, `category`, `blocked` (true/false).
pub fn read_accounts_csv(reader: impl Read, path: &str) -> Result<Vec<AccountSetup>, LedgerError> {
    read_accounts_csv_with_delimiter(reader, path, b',')
}

/// The columns an accounts CSV may have.
const ACCOUNT_COLUMNS: [&str; 9] = [
    "number",
    "name",
    "type",
    "revalue",
    "settle",
    "rate_type",
    "fixed_currency",
    "category",
    "blocked",
];

/// `read_accounts_csv` for a file whose columns are separated by `delimiter`.
pub fn read_accounts_csv_with_delimiter(
    reader: impl Read,
    path: &str,
    delimiter: u8,
) -> Result<Vec<AccountSetup>, LedgerError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        number: String,
        name: String,
        #[serde(rename = "type")]
        account_type: String,
        #[serde(default)]
        revalue: Option<String>,
        #[serde(default)]
        settle: Option<String>,
        #[serde(default)]
        rate_type: Option<String>,
        #[serde(default)]
        fixed_currency: Option<String>,
        #[serde(default)]
        category: Option<String>,
        #[serde(default)]
        blocked: Option<String>,
    }
    let flag = |value: Option<String>, line: u64, column: &str| -> Result<bool, LedgerError> {
        match value.as_deref().map(str::trim).unwrap_or("") {
            "" | "false" | "no" | "0" => Ok(false),
            "true" | "yes" | "1" => Ok(true),
            other => Err(LedgerError::input(
                path,
                format!("line {line}: `{column}` is `{other}`; write true or false"),
            )),
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header = reader
        .headers()
        .map_err(|error| LedgerError::input(path, format!("cannot read the header: {error}")))?;
    check_header_delimiter(header, delimiter, |column| ACCOUNT_COLUMNS.contains(&column), path)?;
    let mut accounts = Vec::new();
    for record in reader.deserialize::<Row>() {
        let row = record.map_err(|error| LedgerError::input(path, error.to_string()))?;
        let line = accounts.len() as u64 + 2;
        let account_type = crate::account::AccountType::parse(&row.account_type).ok_or_else(|| {
            LedgerError::input(
                path,
                format!(
                    "line {line}: account type `{}` is not asset, liability, equity, revenue or expense",
                    row.account_type
                ),
            )
        })?;
        let non_empty = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
        accounts.push(AccountSetup {
            number: row.number,
            name: row.name,
            account_type,
            revalue: flag(row.revalue, line, "revalue")?,
            settle: flag(row.settle, line, "settle")?,
            rate_type: non_empty(row.rate_type),
            fixed_currency: non_empty(row.fixed_currency),
            category: non_empty(row.category),
            blocked: flag(row.blocked, line, "blocked")?,
        });
    }
    Ok(accounts)
}

/// Reads an exchange rate CSV: `from,to,type,date,rate`.
pub fn read_rates_csv(reader: impl Read, path: &str) -> Result<Vec<ExchangeRate>, LedgerError> {
    read_rates_csv_with_delimiter(reader, path, b',')
}

/// The columns of a rates CSV.
const RATE_COLUMNS: [&str; 5] = ["from", "to", "type", "date", "rate"];

/// `read_rates_csv` for a file whose columns are separated by `delimiter`.
pub fn read_rates_csv_with_delimiter(
    reader: impl Read,
    path: &str,
    delimiter: u8,
) -> Result<Vec<ExchangeRate>, LedgerError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        from: String,
        to: String,
        #[serde(rename = "type")]
        rate_type: String,
        date: String,
        rate: String,
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header = reader
        .headers()
        .map_err(|error| LedgerError::input(path, format!("cannot read the header: {error}")))?;
    check_header_delimiter(header, delimiter, |column| RATE_COLUMNS.contains(&column), path)?;
    let mut rates = Vec::new();
    for (index, record) in reader.deserialize::<Row>().enumerate() {
        let row = record.map_err(|error| LedgerError::input(path, error.to_string()))?;
        let rate = parse_rate(&row.from, &row.to, &row.rate_type, &row.date, &row.rate)
            .map_err(|error| LedgerError::input(path, format!("line {}: {error}", index + 2)))?;
        rates.push(rate);
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(csv: &str) -> Vec<JournalItem> {
        CsvJournalReader::new(csv.as_bytes(), "test.csv", Module::Ledger)
            .unwrap()
            .collect()
    }

    #[test]
    fn contiguous_lines_group_into_entries() {
        let items = read(
            "entry,date,account,amount,currency,description,dim.department\n\
             J1,2026-01-05,1000,100.00,,Sale,100\n\
             J1,2026-01-05,4000,-100.00,,Sale,\n\
             J2,2026-01-06,1200,50,EUR,Import,200\n\
             J2,2026-01-06,4000,-54.00,,Import,\n",
        );
        assert_eq!(items.len(), 2);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.key.as_str(), "J1");
        assert_eq!(first.lines.len(), 2);
        assert_eq!(
            first.lines[0].dimensions.get("department").map(String::as_str),
            Some("100")
        );
        assert!(first.lines[1].dimensions.is_empty());
        assert_eq!(first.lines[0].source_line, Some(2));
        let second = items[1].as_ref().unwrap();
        assert_eq!(second.lines[0].currency.as_ref().map(|c| c.as_str()), Some("EUR"));
        assert_eq!(second.lines[1].source_line, Some(5));
    }

    #[test]
    fn debit_and_credit_columns_make_signed_amounts() {
        let items = read("entry,date,account,debit,credit\nJ1,2026-01-05,1000,10.50,\nJ1,2026-01-05,4000,,10.50\n");
        let entry = items[0].as_ref().unwrap();
        assert_eq!(entry.lines[0].amount, Decimal::from_str("10.50").unwrap());
        assert_eq!(entry.lines[1].amount, Decimal::from_str("-10.50").unwrap());
    }

    #[test]
    fn malformed_lines_are_refused_with_their_line_number() {
        let items = read(
            "entry,date,account,amount\nJ1,2026-01-05,1000,1e3\nJ1,2026-01-05,4000,-1000\nJ2,2026-13-01,1000,1\nJ3,2026-01-05,1000,1\nJ3,2026-01-06,4000,-1\n",
        );
        assert_eq!(items.len(), 3);
        let first = items[0].as_ref().unwrap_err();
        assert_eq!(first.source_line, Some(2));
        assert!(first.to_string().contains("not a decimal"), "{first}");
        let second = items[1].as_ref().unwrap_err();
        assert_eq!(
            second.to_string(),
            "line 4: entry J2: `2026-13-01` is not a date (YYYY-MM-DD)"
        );
        let third = items[2].as_ref().unwrap_err();
        assert!(matches!(third.reason, Refusal::MixedDates { .. }));
    }

    #[test]
    fn unknown_columns_and_missing_amounts_are_refused() {
        assert!(CsvJournalReader::new("entry,date,account,amont\n".as_bytes(), "x.csv", Module::Ledger).is_err());
        assert!(CsvJournalReader::new("entry,date,account,debit\n".as_bytes(), "x.csv", Module::Ledger).is_err());
    }

    #[test]
    fn json_journals_take_string_amounts_only() {
        let items = read_json_journal(
            r#"[{"entry":"J1","date":"2026-01-05","lines":[{"account":"1000","amount":"5","dimensions":{"department":"100"}},{"account":"4000","credit":"5"}]}]"#,
            "j.json",
            Module::Ledger,
        )
        .unwrap();
        let entry = items[0].as_ref().unwrap();
        assert_eq!(entry.lines[1].amount, Decimal::from(-5));
        let error = read_json_journal(
            r#"[{"entry":"J1","date":"2026-01-05","lines":[{"account":"1000","amount":5}]}]"#,
            "j.json",
            Module::Ledger,
        );
        assert!(error.is_err());
    }

    #[test]
    fn amounts_in_other_locales_are_named_as_such() {
        // Proves the diagnosis of thousands separators, decimal commas and parentheses, and
        // that other bad amounts keep the general message.
        let separators = "amounts must use '.' as decimal point and no thousands separator";
        for text in ["1,234.56", "1.234,56", "1234,56", "1 234.56", "1'234.56", "-1,000"] {
            assert_eq!(amount_format_problem(text), Some(format!("{separators}: '{text}'")));
        }
        assert_eq!(
            amount_format_problem(" (100.00) "),
            Some("negative amounts take a minus sign, not parentheses: '(100.00)'; write -100.00".to_owned())
        );
        assert_eq!(
            amount_format_problem("(1,234.56)"),
            Some("negative amounts take a minus sign, not parentheses: '(1,234.56)', and use '.' as decimal point and no thousands separator".to_owned())
        );
        for text in ["1e3", "$100", "abc", "(x)", ","] {
            assert_eq!(amount_format_problem(text), None, "{text}");
        }
        assert!(looks_like_split_amount(&["1", "234.56"]));
        assert!(looks_like_split_amount(&["-1", "234", "567.89"]));
        assert!(!looks_like_split_amount(&["1", "Sale"]));
        assert!(!looks_like_split_amount(&["1.5", "20"]));
    }

    #[test]
    fn a_header_joined_by_another_delimiter_is_named() {
        // Proves a `;` header read with `,` (and the reverse) is refused with the option to pass.
        let error = CsvJournalReader::new("entry;date;account;amount\n".as_bytes(), "x.csv", Module::Ledger)
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "x.csv: the header `entry;date;account;amount` separates its columns with ';', but the file is read with ',' between columns: pass --delimiter ';'"
        );
        let error =
            CsvJournalReader::with_delimiter("entry,date,account,amount\n".as_bytes(), "x.csv", Module::Ledger, b';')
                .err()
                .unwrap();
        assert_eq!(
            error.to_string(),
            "x.csv: the header `entry,date,account,amount` separates its columns with ',', but the file is read with ';' between columns: leave out --delimiter (or pass --delimiter ',')"
        );
    }
}
