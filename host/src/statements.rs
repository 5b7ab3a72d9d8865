//! Rendering financial statements (`closebook_ledger::statement`) for people and programs: an
//! aligned text table for the terminal, CSV and JSON for the next tool, and one self-contained
//! HTML page (inline CSS, no scripts, no external resources) laid out for printing on A4.
//!
//! Every format is deterministic: the same ledger gives the same bytes, so outputs can be
//! compared and archived; the page carries no generation time for that reason.

use crate::cli::StatementFormat;
use crate::output::{Table, grouped};
use closebook_ledger::statement::{Category, Section, Statement, StatementKind};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// Renders a statement in the chosen format; every result ends with a newline.
pub fn render(statement: &Statement, format: StatementFormat) -> anyhow::Result<String> {
    Ok(match format {
        StatementFormat::Table => table(statement),
        StatementFormat::Csv => csv(statement)?,
        StatementFormat::Json => {
            let mut text = serde_json::to_string_pretty(statement)?;
            text.push('\n');
            text
        }
        StatementFormat::Html => html(statement),
    })
}

/// `Balance sheet as at 2026-03-31` or `Income statement for 2026-03`.
fn subtitle(statement: &Statement) -> String {
    match statement.kind {
        StatementKind::BalanceSheet => format!(
            "As at {} (period {}, {}), in {}",
            statement.period_end, statement.period, statement.fiscal_year, statement.currency
        ),
        StatementKind::IncomeStatement => format!(
            "For period {} ({} to {}) and {} to date, in {}",
            statement.period, statement.period_start, statement.period_end, statement.fiscal_year, statement.currency
        ),
    }
}

/// Whether a category is named like its section (category "Equity" in the equity section),
/// so that `Total equity` would name both its subtotal and the section's total.
fn named_like_section(section: &Section, category: &Category) -> bool {
    category.name.trim().eq_ignore_ascii_case(section.title)
}

/// A category's subtotal row is worth showing a person only when it adds more than one line,
/// and not when it is its section's only category named like the section: that row would
/// repeat the section total under the same name.
fn shows_subtotal(section: &Section, category: &Category) -> bool {
    category.lines.len() > 1 && !(named_like_section(section, category) && section.categories.len() == 1)
}

/// `Total premises`; `Subtotal equity` for a category named like its section, so that no two
/// rows read `Total equity`.
fn subtotal_label(section: &Section, category: &Category) -> String {
    let word = if named_like_section(section, category) {
        "Subtotal"
    } else {
        "Total"
    };
    format!("{word} {}", category.name.to_lowercase())
}

/// The entities of a statement for a CSV cell: `ACME-GROUP+ACME-ELIM`.
fn entity_ids(statement: &Statement) -> String {
    statement
        .entities
        .iter()
        .map(|entity| entity.id.to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn difference_warning(statement: &Statement) -> Option<String> {
    if statement.balanced {
        return None;
    }
    let amounts: Vec<String> = statement.difference.iter().map(|amount| grouped(*amount)).collect();
    Some(format!(
        "warning: assets differ from liabilities and equity by {}; run `closebook verify`",
        amounts.join(" / ")
    ))
}

fn table(statement: &Statement) -> String {
    let mut columns: Vec<(&str, bool)> = vec![("Account", false), ("Name", false)];
    for column in &statement.columns {
        columns.push((column.title.as_str(), true));
    }
    let mut table = Table::new(&columns);
    let blank = |count: usize| vec![String::new(); count];
    let amounts = |values: &[Decimal]| values.iter().map(|amount| grouped(*amount)).collect::<Vec<_>>();
    let row = |account: String, name: String, values: Vec<String>| {
        let mut cells = vec![account, name];
        cells.extend(values);
        cells
    };
    let width = statement.columns.len();
    for (index, section) in statement.sections.iter().enumerate() {
        if index > 0 {
            table.row(Vec::new());
        }
        table.row(row(String::new(), section.title.to_uppercase(), blank(width)));
        for category in &section.categories {
            table.row(row(String::new(), format!("  {}", category.name), blank(width)));
            for line in &category.lines {
                let account = line.account.as_ref().map(ToString::to_string).unwrap_or_default();
                table.row(row(account, format!("    {}", line.name), amounts(&line.amounts)));
            }
            if shows_subtotal(section, category) {
                table.row(row(
                    String::new(),
                    format!("  {}", subtotal_label(section, category)),
                    amounts(&category.total),
                ));
            }
        }
        table.row(row(
            String::new(),
            format!("Total {}", section.title.to_lowercase()),
            amounts(&section.total),
        ));
    }
    for total in &statement.totals {
        table.footer(row(String::new(), total.title.to_owned(), amounts(&total.amounts)));
    }
    let mut text = format!(
        "{}\n{}\n{}\n\n",
        statement.title,
        statement.entity_heading(),
        subtitle(statement)
    );
    text.push_str(&table.render());
    if let Some(warning) = difference_warning(statement) {
        text.push('\n');
        text.push_str(&warning);
        text.push('\n');
    }
    text
}

/// One row per account line, category subtotal, section total and statement total; `row`
/// says which, so that a spreadsheet can filter the account lines alone. Every row names the
/// entities (joined with `+` when combined) and the currency, so that rows of several exports
/// pasted together stay apart.
fn csv(statement: &Statement) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["entity", "currency", "row", "section", "category", "account", "name"];
    header.extend(statement.columns.iter().map(|column| column.key));
    writer.write_record(&header)?;
    let entities = entity_ids(statement);
    let record = |kind: &str, section: &str, category: &str, account: &str, name: &str, amounts: &[Decimal]| {
        // Text cells come from the chart (names, categories): neutralised against formula
        // injection like every CSV text cell; amounts stay numbers.
        let mut cells: Vec<String> = [
            entities.as_str(),
            statement.currency.as_str(),
            kind,
            section,
            category,
            account,
            name,
        ]
        .iter()
        .map(|cell| crate::output::csv_safe(cell).into_owned())
        .collect();
        cells.extend(amounts.iter().map(ToString::to_string));
        cells
    };
    for section in &statement.sections {
        for category in &section.categories {
            for line in &category.lines {
                let account = line.account.as_ref().map(ToString::to_string).unwrap_or_default();
                writer.write_record(record(
                    "line",
                    section.key,
                    &category.name,
                    &account,
                    &line.name,
                    &line.amounts,
                ))?;
            }
            writer.write_record(record(
                "category_total",
                section.key,
                &category.name,
                "",
                &subtotal_label(section, category),
                &category.total,
            ))?;
        }
        writer.write_record(record(
            "section_total",
            section.key,
            "",
            "",
            &format!("Total {}", section.title.to_lowercase()),
            &section.total,
        ))?;
    }
    for total in &statement.totals {
        writer.write_record(record("total", "", "", "", total.title, &total.amounts))?;
    }
    if !statement.balanced {
        writer.write_record(record(
            "difference",
            "",
            "",
            "",
            "Assets minus liabilities and equity",
            &statement.difference,
        ))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// Text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Text for a CSS string inside a `<style>` element: quotes and backslashes escaped, `<` as a
/// CSS escape so that no name can close the element, control characters dropped.
fn escape_css_string(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '<' => escaped.push_str("\\3c "),
            '>' => escaped.push_str("\\3e "),
            other if other.is_control() => escaped.push(' '),
            other => escaped.push(other),
        }
    }
    escaped
}

/// An amount the way printed statements show it: grouped, negatives in parentheses, zero as
/// a dash.
fn printed(amount: Decimal) -> String {
    if amount.is_zero() {
        "–".to_owned()
    } else if amount.is_sign_negative() {
        format!("({})", grouped(-amount))
    } else {
        grouped(amount)
    }
}

const PAGE_STYLE: &str = r#"
  :root { color-scheme: light; }
  body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 9pt; color: #111; margin: 0; }
  @media screen { body { max-width: 270mm; margin: 12mm auto; padding: 0 8mm; } }
  header.statement { border-bottom: 1.5pt solid #111; padding-bottom: 4pt; margin-bottom: 8pt; }
  header.statement .entity { font-size: 13pt; font-weight: bold; }
  header.statement h1 { font-size: 16pt; margin: 2pt 0; font-weight: normal; letter-spacing: 0.02em; }
  header.statement .subtitle { font-size: 9.5pt; color: #333; }
  table { width: 100%; border-collapse: collapse; }
  thead { display: table-header-group; }
  thead th { font-weight: bold; text-align: left; border-bottom: 0.75pt solid #111; padding: 3pt 4pt; vertical-align: bottom; }
  th.amount, td.amount { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; width: 22mm; }
  th.change, td.change { color: #444; }
  th.group-start, td.group-start { padding-left: 10mm; }
  tr.groups th { border-bottom: none; padding-bottom: 0; font-size: 8pt; text-transform: uppercase; letter-spacing: 0.05em; color: #444; text-align: center; }
  tr.groups th.group { border-bottom: 0.5pt solid #999; }
  td { padding: 1.6pt 4pt; vertical-align: top; }
  td.account { width: 14mm; color: #444; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  tr.section th { text-align: left; font-size: 10pt; text-transform: uppercase; letter-spacing: 0.05em; padding: 10pt 4pt 2pt; break-after: avoid; page-break-after: avoid; }
  tr.category td { font-style: italic; padding-top: 4pt; break-after: avoid; page-break-after: avoid; }
  tr.line td.name { padding-left: 12pt; }
  tr.subtotal td { font-style: italic; }
  tr.subtotal td.amount { border-top: 0.5pt solid #777; }
  tr.section-total td { font-weight: bold; border-top: 0.75pt solid #111; }
  tr.grand-total td { font-weight: bold; border-top: 0.75pt solid #111; border-bottom: 2.5pt double #111; padding-top: 4pt; }
  tr.spacer td { height: 6pt; }
  p.check { margin-top: 10pt; }
  p.check.failed { color: #a00000; font-weight: bold; }
  footer.notes { margin-top: 12pt; font-size: 8pt; color: #444; border-top: 0.5pt solid #999; padding-top: 4pt; }
  footer.notes p { margin: 2pt 0; }
"#;

fn html(statement: &Statement) -> String {
    let landscape = statement.columns.len() > 3;
    let entity = statement.entity_heading();
    let subtitle = subtitle(statement);
    let mut page = String::new();
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — {} — {}</title>\n<style>\n  @page {{ size: A4 {}; margin: 16mm 14mm 16mm 14mm;\n    @top-left {{ content: \"{}\"; font-family: sans-serif; font-size: 7.5pt; color: #555; }}\n    @top-right {{ content: \"{}\"; font-family: sans-serif; font-size: 7.5pt; color: #555; }}\n    @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages); font-family: sans-serif; font-size: 7.5pt; color: #555; }}\n  }}{}</style>\n</head>\n<body>\n",
        escape_html(statement.title),
        escape_html(&entity),
        escape_html(statement.period.as_str()),
        if landscape { "landscape" } else { "portrait" },
        escape_css_string(&format!("{} — {}", entity, statement.title)),
        escape_css_string(&subtitle),
        PAGE_STYLE,
    );
    let _ = write!(
        page,
        "<header class=\"statement\">\n<div class=\"entity\">{}</div>\n<h1>{}</h1>\n<div class=\"subtitle\">{}</div>\n</header>\n",
        escape_html(&entity),
        escape_html(statement.title),
        escape_html(&subtitle),
    );
    let column_count = statement.columns.len() + 2;
    // A column that starts a new group (the year to date after the period) gets a gap before it.
    let classes: Vec<&str> = statement
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let group_start = index > 0 && statement.columns[index - 1].group != column.group;
            match (column.change_of.is_some(), group_start) {
                (true, _) => "amount change",
                (false, true) => "amount group-start",
                (false, false) => "amount",
            }
        })
        .collect();
    page.push_str("<table>\n<thead>\n<tr class=\"groups\"><th></th><th></th>");
    let mut index = 0;
    while index < statement.columns.len() {
        let group = statement.columns[index].group;
        let span = statement.columns[index..]
            .iter()
            .take_while(|column| column.group == group)
            .count();
        let class = if index > 0 { "group group-start" } else { "group" };
        let _ = write!(
            page,
            "<th class=\"{class}\" colspan=\"{span}\">{}</th>",
            escape_html(group)
        );
        index += span;
    }
    page.push_str("</tr>\n<tr><th>Account</th><th>Name</th>");
    for (column, class) in statement.columns.iter().zip(&classes) {
        let _ = write!(page, "<th class=\"{class}\">{}</th>", escape_html(&column.title));
    }
    page.push_str("</tr>\n</thead>\n");
    let amount_cells = |page: &mut String, amounts: &[Decimal]| {
        for (class, amount) in classes.iter().zip(amounts) {
            let _ = write!(page, "<td class=\"{class}\">{}</td>", printed(*amount));
        }
    };
    for section in &statement.sections {
        page.push_str("<tbody>\n");
        let _ = writeln!(
            page,
            "<tr class=\"section\"><th colspan=\"{column_count}\">{}</th></tr>",
            escape_html(section.title)
        );
        for category in &section.categories {
            let _ = writeln!(
                page,
                "<tr class=\"category\"><td class=\"account\"></td><td colspan=\"{}\">{}</td></tr>",
                column_count - 1,
                escape_html(&category.name)
            );
            for line in &category.lines {
                let account = line.account.as_ref().map(ToString::to_string).unwrap_or_default();
                let _ = write!(
                    page,
                    "<tr class=\"line\"><td class=\"account\">{}</td><td class=\"name\">{}</td>",
                    escape_html(&account),
                    escape_html(&line.name)
                );
                amount_cells(&mut page, &line.amounts);
                page.push_str("</tr>\n");
            }
            if shows_subtotal(section, category) {
                let _ = write!(
                    page,
                    "<tr class=\"subtotal\"><td class=\"account\"></td><td class=\"name\">{}</td>",
                    escape_html(&subtotal_label(section, category))
                );
                amount_cells(&mut page, &category.total);
                page.push_str("</tr>\n");
            }
        }
        let _ = write!(
            page,
            "<tr class=\"section-total\"><td class=\"account\"></td><td class=\"name\">Total {}</td>",
            escape_html(&section.title.to_lowercase())
        );
        amount_cells(&mut page, &section.total);
        page.push_str("</tr>\n</tbody>\n");
    }
    page.push_str("<tbody>\n");
    let _ = writeln!(page, "<tr class=\"spacer\"><td colspan=\"{column_count}\"></td></tr>");
    for total in &statement.totals {
        let _ = write!(
            page,
            "<tr class=\"grand-total\"><td class=\"account\"></td><td class=\"name\">{}</td>",
            escape_html(total.title)
        );
        amount_cells(&mut page, &total.amounts);
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
    if statement.kind == StatementKind::BalanceSheet {
        match difference_warning(statement) {
            None => page.push_str(
                "<p class=\"check\">Check: total assets equal total liabilities and equity in every column.</p>\n",
            ),
            Some(warning) => {
                let _ = writeln!(page, "<p class=\"check failed\">{}</p>", escape_html(&warning));
            }
        }
    }
    let _ = write!(
        page,
        "<footer class=\"notes\">\n<p>Amounts in {}. Negative amounts in parentheses; a dash is zero.</p>\n<p>{}</p>\n</footer>\n</body>\n</html>\n",
        escape_html(statement.currency.as_str()),
        match statement.kind {
            StatementKind::BalanceSheet =>
                "Assets are shown as debits, liabilities and equity as credits. Comparative columns: the prior fiscal year end and, when it is another date, the same period end a year before. Current-year earnings is the year's net income not yet closed to retained earnings.",
            StatementKind::IncomeStatement =>
                "Revenue is shown as credits, expenses as debits; net income is revenue less expenses. Change is the current column less the prior-year column.",
        }
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_amounts_use_parentheses_and_dashes() {
        // Proves how the printed page shows negative, zero and large amounts.
        assert_eq!(printed(Decimal::new(-123456, 2)), "(1,234.56)");
        assert_eq!(printed(Decimal::new(0, 2)), "–");
        assert_eq!(printed(Decimal::new(100000000, 2)), "1,000,000.00");
    }

    #[test]
    fn names_cannot_break_out_of_the_page() {
        // Proves entity and account names are escaped in HTML text and in CSS strings.
        assert_eq!(
            escape_html("<b>A&B \"x\"</b>"),
            "&lt;b&gt;A&amp;B &quot;x&quot;&lt;/b&gt;"
        );
        assert_eq!(escape_css_string("a\"b\\c</style>"), "a\\\"b\\\\c\\3c /style\\3e ");
    }
}
