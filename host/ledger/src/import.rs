//! Reading journals, accounts and rates from files. Journal CSV is streamed: lines of one entry
//! must be contiguous, and entries are handed to the posting code one at a time, so a file of a
//! million entries never sits in memory whole.
//!
//! Journal CSV columns: `entry`, `date`, `account`, `amount` (signed, debit positive) or
//! `debit` / `credit`, optional `currency`, `accounting_amount`, `description`, `period`, and
//! one `dim.<name>` column per dimension. JSON holds the same fields as an array of entries
//! (or `{"entries": [...]}`) with a `lines` array each; amounts are strings, never numbers.

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
}

impl JournalColumns {
    fn from_header(header: &csv::StringRecord, path: &str) -> Result<Self, LedgerError> {
        let find = |name: &str| header.iter().position(|column| column.trim() == name);
        let require = |name: &str| {
            find(name).ok_or_else(|| LedgerError::input(path, format!("the header has no `{name}` column")))
        };
        let known = [
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
        for column in header.iter().map(str::trim) {
            if !known.contains(&column) && !column.starts_with("dim.") {
                return Err(LedgerError::input(
                    path,
                    format!(
                        "unknown column `{column}` (expected {} or dim.<name>)",
                        known.join(", ")
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
}

impl<R: Read> CsvJournalReader<R> {
    pub fn new(reader: R, path: &str, module: Module) -> Result<Self, LedgerError> {
        let mut csv_reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::Fields)
            .from_reader(reader);
        let header = csv_reader
            .headers()
            .map_err(|error| LedgerError::input(path, format!("cannot read the header: {error}")))?
            .clone();
        let columns = JournalColumns::from_header(&header, path)?;
        Ok(Self {
            records: csv_reader.into_records(),
            columns,
            module,
            pending: None,
            finished: false,
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
            key: key.clone(),
            source_line: Some(line_number),
            reason: Refusal::Malformed { message },
        };
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
                // A broken CSV record (wrong number of fields) makes the rest unreliable.
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
                    if line_date != entry.date {
                        self.skip_rest_of(&entry.key);
                        return Some(Err(EntryRefusal {
                            key: entry.key,
                            source_line: Some(line_number),
                            reason: Refusal::MixedDates {
                                first: entry.date,
                                other: line_date,
                            },
                        }));
                    }
                    if line_period != entry.period {
                        self.skip_rest_of(&entry.key);
                        return Some(Err(EntryRefusal {
                            key: entry.key,
                            source_line: Some(line_number),
                            reason: Refusal::Malformed {
                                message: "lines of one entry name different periods".to_owned(),
                            },
                        }));
                    }
                    if entry.lines.len() >= crate::journal::ENTRY_LINES_MAX {
                        self.skip_rest_of(&entry.key);
                        return Some(Err(EntryRefusal {
                            key: entry.key,
                            source_line: Some(line_number),
                            reason: Refusal::TooManyLines {
                                count: crate::journal::ENTRY_LINES_MAX + 1,
                            },
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

impl<R: Read> CsvJournalReader<R> {
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
        return parse_amount_text(amount).map_err(|error| error.to_string());
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
    parse_amount_text(text).map(Some).map_err(|error| error.to_string())
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
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
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
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
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
}
