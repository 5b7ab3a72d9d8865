//! Rendering results for people and programs: aligned tables with thousands separators on a
//! terminal, CSV and JSON (decimal strings, never floats) for the next tool in a pipe.

use crate::cli::Format;
use rust_decimal::Decimal;
use serde::Serialize;
use std::io::Write;

/// A table of text cells; numeric columns are right-aligned.
pub struct Table {
    headers: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
    /// Rows drawn after a rule, e.g. totals.
    footer: Vec<Vec<String>>,
}

impl Table {
    /// `columns`: (header, numeric).
    pub fn new(columns: &[(&str, bool)]) -> Self {
        Self {
            headers: columns.iter().map(|(header, _)| (*header).to_owned()).collect(),
            numeric: columns.iter().map(|(_, numeric)| *numeric).collect(),
            rows: Vec::new(),
            footer: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn footer(&mut self, cells: Vec<String>) {
        self.footer.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in self.rows.iter().chain(&self.footer) {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut text = String::new();
        let line = |cells: &[String], text: &mut String| {
            let mut rendered = Vec::with_capacity(cells.len());
            for (index, cell) in cells.iter().enumerate() {
                let width = widths.get(index).copied().unwrap_or(0);
                if self.numeric.get(index).copied().unwrap_or(false) {
                    rendered.push(format!("{cell:>width$}"));
                } else {
                    rendered.push(format!("{cell:<width$}"));
                }
            }
            text.push_str(rendered.join("  ").trim_end());
            text.push('\n');
        };
        line(&self.headers, &mut text);
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        line(&rule, &mut text);
        for row in &self.rows {
            line(row, &mut text);
        }
        if !self.footer.is_empty() {
            line(&rule, &mut text);
            for row in &self.footer {
                line(row, &mut text);
            }
        }
        text
    }

    /// The rows (and footer) as CSV, headers first, in lower-case snake case.
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(
            self.headers
                .iter()
                .map(|header| header.to_lowercase().replace(' ', "_")),
        )?;
        for row in &self.rows {
            writer.write_record(row)?;
        }
        Ok(String::from_utf8(writer.into_inner()?)?)
    }
}

/// `1234567.5` -> `1,234,567.5`, keeping the sign and every decimal.
pub fn grouped(amount: Decimal) -> String {
    let text = amount.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

/// An amount for a cell: grouped in tables, plain in CSV.
pub fn cell(amount: Decimal, format: Format) -> String {
    match format {
        Format::Table => grouped(amount),
        Format::Csv | Format::Json => amount.to_string(),
    }
}

pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print(&text)
}

/// Prints a table in the chosen format; JSON callers print their own structure instead.
pub fn print_table(table: &Table, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Table => print(&table.render()),
        Format::Csv => print(&table.to_csv()?),
        Format::Json => anyhow::bail!("internal: JSON is printed from the report structure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(Decimal::from_str("1234567.50").unwrap()), "1,234,567.50");
        assert_eq!(grouped(Decimal::from_str("-1000").unwrap()), "-1,000");
        assert_eq!(grouped(Decimal::from_str("999.99").unwrap()), "999.99");
        assert_eq!(grouped(Decimal::from_str("0.00").unwrap()), "0.00");
    }

    #[test]
    fn tables_align_numbers_right() {
        let mut table = Table::new(&[("Account", false), ("Amount", true)]);
        table.row(vec!["1000".into(), "5.00".into()]);
        table.row(vec!["4000".into(), "-1,005.00".into()]);
        table.footer(vec!["Total".into(), "-1,000.00".into()]);
        assert_eq!(
            table.render(),
            "Account     Amount\n-------  ---------\n1000          5.00\n4000     -1,005.00\n-------  ---------\nTotal    -1,000.00\n"
        );
    }
}
