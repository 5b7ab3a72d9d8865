//! Rendering results for people and programs: aligned tables with thousands separators on a
//! terminal, CSV and JSON (decimal strings, never floats) for the next tool in a pipe.
//!
//! Text that people read may have come from a plugin or a journal file, so it is never trusted:
//! control characters are shown escaped (an escape sequence or a carriage return cannot rewrite
//! the terminal, a newline cannot forge a line), and cells are padded by hand so that no stored
//! length can make rendering fail. CSV and JSON keep every character exactly, except that a CSV
//! text cell a spreadsheet would run as a formula is prefixed with `'`.

use crate::cli::Format;
use rust_decimal::Decimal;
use serde::Serialize;
use std::borrow::Cow;
use std::io::Write;

/// `text` with every control character (and every bidirectional override, which can reorder
/// what a terminal shows) replaced by a visible escape such as `\u{1b}`, for human-readable
/// output. Everything else, including backslashes, is kept as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    closebook_ledger::journal::escape_control_characters(text)
}

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
        let escape =
            |cells: &[String]| -> Vec<String> { cells.iter().map(|cell| visible(cell).into_owned()).collect() };
        let headers = escape(&self.headers);
        let rows: Vec<Vec<String>> = self.rows.iter().map(|row| escape(row)).collect();
        let footer: Vec<Vec<String>> = self.footer.iter().map(|row| escape(row)).collect();
        let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
        for row in rows.iter().chain(&footer) {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut text = String::new();
        // Padding is written by hand: `format!("{cell:<width$}")` panics for widths of 65,536 and
        // more, and a stored description or account may be that long.
        let line = |cells: &[String], text: &mut String| {
            let start = text.len();
            for (index, cell) in cells.iter().enumerate() {
                if index > 0 {
                    text.push_str("  ");
                }
                let width = widths.get(index).copied().unwrap_or(0);
                let padding = width.saturating_sub(cell.chars().count());
                if self.numeric.get(index).copied().unwrap_or(false) {
                    text.extend(std::iter::repeat_n(' ', padding));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.extend(std::iter::repeat_n(' ', padding));
                }
            }
            let trimmed = text[start..].trim_end().len();
            text.truncate(start + trimmed);
            text.push('\n');
        };
        line(&headers, &mut text);
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        line(&rule, &mut text);
        for row in &rows {
            line(row, &mut text);
        }
        if !footer.is_empty() {
            line(&rule, &mut text);
            for row in &footer {
                line(row, &mut text);
            }
        }
        text
    }

    /// The table as an HTML table for the close workspace; every cell is escaped, numeric
    /// columns are right-aligned.
    pub fn to_html(&self) -> maud::Markup {
        let class = |index: usize| self.numeric.get(index).copied().unwrap_or(false).then_some("num");
        maud::html! {
            table {
                thead { tr { @for header in &self.headers { th { (header) } } } }
                tbody { @for row in &self.rows { tr { @for (index, cell) in row.iter().enumerate() { td class=[class(index)] { (cell) } } } } }
                @if !self.footer.is_empty() {
                    tfoot { @for row in &self.footer { tr { @for (index, cell) in row.iter().enumerate() { th class=[class(index)] { (cell) } } } } }
                }
            }
        }
    }

    /// The rows as CSV, headers first, in lower-case snake case. Cells keep their exact text,
    /// except that a cell a spreadsheet would evaluate as a formula gets a leading `'`
    /// ([`csv_safe`]); a numeric column's cells that are numbers are left alone.
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(
            self.headers
                .iter()
                .map(|header| csv_safe(&header.to_lowercase().replace(' ', "_")).into_owned()),
        )?;
        for row in &self.rows {
            let cells: Vec<Cow<'_, str>> = row
                .iter()
                .enumerate()
                .map(|(index, cell)| {
                    let numeric = self.numeric.get(index).copied().unwrap_or(false);
                    if numeric && is_number(cell) {
                        Cow::Borrowed(cell.as_str())
                    } else {
                        csv_safe(cell)
                    }
                })
                .collect();
            writer.write_record(cells.iter().map(|cell| cell.as_bytes()))?;
        }
        Ok(String::from_utf8(writer.into_inner()?)?)
    }
}

/// A CSV text cell that a spreadsheet would not run as a formula: one starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's advice on CSV injection).
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether a cell is a plain decimal number (digits with an optional sign, fraction and
/// thousands separators), which a spreadsheet reads as a number and never as a formula.
fn is_number(cell: &str) -> bool {
    let unsigned = cell.strip_prefix('-').unwrap_or(cell);
    !unsigned.is_empty()
        && unsigned.starts_with(|first: char| first.is_ascii_digit())
        && unsigned
            .chars()
            .all(|character| character.is_ascii_digit() || character == '.' || character == ',')
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

thread_local! {
    /// Where `print` writes on this thread while `captured` runs: the server runs a remote
    /// command's code as is and sends what it printed back to the command line.
    static CAPTURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` with everything it prints (on this thread) collected instead of written.
pub fn captured<T>(work: impl FnOnce() -> T) -> (T, String) {
    let outer = CAPTURE.with(|capture| capture.borrow_mut().replace(String::new()));
    let result = work();
    let text = CAPTURE.with(|capture| std::mem::replace(&mut *capture.borrow_mut(), outer));
    (result, text.unwrap_or_default())
}

pub fn print(text: &str) -> anyhow::Result<()> {
    let captured = CAPTURE.with(|capture| match capture.borrow_mut().as_mut() {
        Some(buffer) => {
            buffer.push_str(text);
            true
        }
        None => false,
    });
    if captured {
        return Ok(());
    }
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

    // Proves a cell of any length renders (issue 17, weakness 1: widths of 65,536 and more
    // panicked in `format!`), and stays aligned.
    #[test]
    fn cells_of_any_width_render() {
        let mut table = Table::new(&[("Description", false), ("Amount", true)]);
        let long = "x".repeat(70_000);
        table.row(vec![long.clone(), "5.00".into()]);
        table.row(vec!["short".into(), "-1,000.00".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], format!("{long}       5.00"));
        assert_eq!(lines[3], format!("short{}  -1,000.00", " ".repeat(70_000 - 5)));
    }

    // Proves control characters in a cell are shown escaped, so a cell cannot move the cursor
    // or forge a line (issue 17, weakness 6).
    #[test]
    fn control_characters_in_cells_are_escaped() {
        let mut table = Table::new(&[("Description", false)]);
        table.row(vec!["a\u{1b}[2J\r\nforged".into()]);
        let text = table.render();
        assert_eq!(text.lines().nth(2), Some("a\\u{1b}[2J\\u{d}\\u{a}forged"));
        assert!(!text.contains('\u{1b}'));
    }

    // Proves CSV neutralises formulas in text cells but leaves numbers and other text exact.
    #[test]
    fn csv_text_cells_cannot_be_formulas() {
        let mut table = Table::new(&[("Description", false), ("Amount", true)]);
        table.row(vec!["=1+2".into(), "-5.00".into()]);
        table.row(vec!["-2+3".into(), "=cmd".into()]);
        table.row(vec!["line\none".into(), "1,234.50".into()]);
        table.row(vec!["@SUM(A1)".into(), "".into()]);
        assert_eq!(
            table.to_csv().unwrap(),
            "description,amount\n'=1+2,-5.00\n'-2+3,'=cmd\n\"line\none\",\"1,234.50\"\n'@SUM(A1),\n"
        );
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
