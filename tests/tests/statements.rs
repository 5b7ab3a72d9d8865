//! End-to-end tests of the financial statements (`closebook report balance-sheet` and
//! `income-statement`) on a ledger spanning two fiscal years, worked out by hand: every output
//! format, combined entities, `--output`, and the refusals, which write nothing.
//!
//! The figures: FY2025 earns 200.00 (sales 500, rent 200, salaries 100), closed to retained
//! earnings in FY2025-closing and carried into FY2026-opening. March 2026 has sales 800, other
//! income 50, rent 250 and salaries 120; January 2026 sales 150.

use closebook_tests::Ledger;
use serde_json::Value;

const SETUP: &str = r#"[[currency]]
code = "USD"
minor_units = 2
[[currency]]
code = "EUR"
minor_units = 2
[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2025"
last_year = "FY2026"
[[chart]]
id = "C"
accounts = [
  { number = "1000", name = "Cash", type = "asset", category = "Cash" },
  { number = "1100", name = "Receivables", type = "asset", category = "Receivables" },
  { number = "2000", name = "Payables", type = "liability", category = "Payables" },
  { number = "3000", name = "Share capital", type = "equity", category = "Share capital" },
  { number = "3900", name = "Retained earnings", type = "equity", category = "Retained earnings" },
  { number = "4000", name = "Sales", type = "revenue", category = "Revenue" },
  { number = "4100", name = "Other income", type = "revenue" },
  { number = "6000", name = "Salaries", type = "expense", category = "Personnel" },
  { number = "6100", name = "Rent", type = "expense", category = "Premises" },
]
[[entity]]
id = "E"
name = "Example Ltd"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
[[entity]]
id = "G"
name = "Group eliminations"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
[[entity]]
id = "D"
name = "Example GmbH"
currency = "EUR"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"

"#;

const JOURNALS: &str = "entry,date,period,account,amount
OB25,2025-01-01,FY2025-opening,1000,1000.00
OB25,2025-01-01,FY2025-opening,3000,-1000.00
S1,2025-03-15,,1100,500.00
S1,2025-03-15,,4000,-500.00
R1,2025-03-20,,6100,200.00
R1,2025-03-20,,1000,-200.00
C1,2025-06-10,,1000,300.00
C1,2025-06-10,,1100,-300.00
W1,2025-11-05,,6000,100.00
W1,2025-11-05,,2000,-100.00
CL25,2025-12-31,FY2025-closing,4000,500.00
CL25,2025-12-31,FY2025-closing,6100,-200.00
CL25,2025-12-31,FY2025-closing,6000,-100.00
CL25,2025-12-31,FY2025-closing,3900,-200.00
OB26,2026-01-01,FY2026-opening,1000,1100.00
OB26,2026-01-01,FY2026-opening,1100,200.00
OB26,2026-01-01,FY2026-opening,2000,-100.00
OB26,2026-01-01,FY2026-opening,3000,-1000.00
OB26,2026-01-01,FY2026-opening,3900,-200.00
S2,2026-01-10,,1000,150.00
S2,2026-01-10,,4000,-150.00
S3,2026-03-05,,1100,800.00
S3,2026-03-05,,4000,-800.00
O1,2026-03-06,,1000,50.00
O1,2026-03-06,,4100,-50.00
R2,2026-03-25,,6100,250.00
R2,2026-03-25,,1000,-250.00
W2,2026-03-28,,6000,120.00
W2,2026-03-28,,2000,-120.00
";

/// The two-year ledger of entity E; G (USD) and D (EUR) exist without entries.
fn two_year_ledger() -> Ledger {
    let ledger = Ledger::new();
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(SETUP));
    ledger.run(&["setup", "apply", &setup]).success();
    let journals = ledger.write("journals.csv", JOURNALS);
    ledger
        .run(&[
            "import", "journals", &journals, "--entity", "E", "--module", "ledger", "--post",
        ])
        .success();
    ledger
}

fn statement(ledger: &Ledger, report: &str, arguments: &[&str]) -> String {
    let mut all = vec!["report", report];
    all.extend_from_slice(arguments);
    ledger.run(&all).success().stdout
}

fn json(ledger: &Ledger, report: &str, entities: &[&str], period: &str) -> Value {
    let mut arguments = vec!["--period", period, "--format", "json"];
    for entity in entities {
        arguments.extend(["--entity", entity]);
    }
    serde_json::from_str(&statement(ledger, report, &arguments)).expect("the statement is JSON")
}

/// The amounts of an account's line in a JSON statement.
fn line(statement: &Value, account: &str) -> Vec<String> {
    for section in statement["sections"].as_array().expect("sections") {
        for category in section["categories"].as_array().expect("categories") {
            for line in category["lines"].as_array().expect("lines") {
                if line["account"] == account {
                    return strings(&line["amounts"]);
                }
            }
        }
    }
    panic!("no line for account {account}");
}

fn strings(amounts: &Value) -> Vec<String> {
    amounts
        .as_array()
        .expect("amounts")
        .iter()
        .map(|amount| amount.as_str().expect("amounts are decimal strings").to_owned())
        .collect()
}

#[test]
fn balance_sheet_table_compares_with_the_prior_year() {
    // Proves the terminal balance sheet: categories, subtotals, current-year earnings and the
    // prior year end and same date a year before, with the figures worked out by hand.
    let ledger = two_year_ledger();
    let table = statement(&ledger, "balance-sheet", &["--entity", "E", "--period", "2026-03"]);
    assert_eq!(
        table,
        "\
Balance sheet
Example Ltd (E)
As at 2026-03-31 (period 2026-03, FY2026), in USD

Account  Name                          2026-03-31  2025-12-31  2025-03-31
-------  ----------------------------  ----------  ----------  ----------
         ASSETS
           Cash
1000         Cash                        1,050.00    1,100.00      800.00
           Receivables
1100         Receivables                 1,000.00      200.00      500.00
         Total assets                    2,050.00    1,300.00    1,300.00

         LIABILITIES
           Payables
2000         Payables                      220.00      100.00        0.00
         Total liabilities                 220.00      100.00        0.00

         EQUITY
           Share capital
3000         Share capital               1,000.00    1,000.00    1,000.00
           Retained earnings
3900         Retained earnings             200.00        0.00        0.00
           Current-year earnings
             Net income of the year        630.00      200.00      300.00
         Total equity                    1,830.00    1,200.00    1,300.00
-------  ----------------------------  ----------  ----------  ----------
         Total liabilities and equity    2,050.00    1,300.00    1,300.00
"
    );
}

#[test]
fn income_statement_csv_has_period_year_to_date_and_prior_year() {
    // Proves the CSV export: one row per line and total, the period, prior-year period, year to
    // date and prior year to date with their changes, revenue and expenses read positive; every
    // row names the entity and currency, and the category named like its section is a
    // subtotal (issue 15).
    let ledger = two_year_ledger();
    let csv = statement(
        &ledger,
        "income-statement",
        &["--entity", "E", "--period", "2026-03", "--format", "csv"],
    );
    assert_eq!(
        csv,
        "\
entity,currency,row,section,category,account,name,period,prior_year_period,period_change,year_to_date,prior_year_to_date,year_to_date_change
E,USD,line,revenue,Revenue,4000,Sales,800.00,500.00,300.00,950.00,500.00,450.00
E,USD,category_total,revenue,Revenue,,Subtotal revenue,800.00,500.00,300.00,950.00,500.00,450.00
E,USD,line,revenue,Other revenue,4100,Other income,50.00,0.00,50.00,50.00,0.00,50.00
E,USD,category_total,revenue,Other revenue,,Total other revenue,50.00,0.00,50.00,50.00,0.00,50.00
E,USD,section_total,revenue,,,Total revenue,850.00,500.00,350.00,1000.00,500.00,500.00
E,USD,line,expenses,Personnel,6000,Salaries,120.00,0.00,120.00,120.00,0.00,120.00
E,USD,category_total,expenses,Personnel,,Total personnel,120.00,0.00,120.00,120.00,0.00,120.00
E,USD,line,expenses,Premises,6100,Rent,250.00,200.00,50.00,250.00,200.00,50.00
E,USD,category_total,expenses,Premises,,Total premises,250.00,200.00,50.00,250.00,200.00,50.00
E,USD,section_total,expenses,,,Total expenses,370.00,200.00,170.00,370.00,200.00,170.00
E,USD,total,,,,Net income,480.00,300.00,180.00,630.00,300.00,330.00
"
    );
}

#[test]
fn json_statements_balance_and_agree_with_each_other() {
    // Proves the JSON structure: column keys and periods, the balance check per column, and
    // that year-to-date net income is the balance sheet's current-year earnings.
    let ledger = two_year_ledger();
    let sheet = json(&ledger, "balance-sheet", &["E"], "2026-03");
    assert_eq!(sheet["kind"], "balance-sheet");
    assert_eq!(sheet["currency"], "USD");
    let keys: Vec<&str> = sheet["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["period_end", "prior_year_end", "prior_year_period_end"]);
    assert_eq!(
        sheet["columns"][1]["periods"].as_array().unwrap().len(),
        13,
        "the prior year end is FY2025's opening period and twelve months, without its closing period"
    );
    assert_eq!(sheet["balanced"], true);
    assert_eq!(strings(&sheet["difference"]), ["0.00", "0.00", "0.00"]);
    assert_eq!(
        strings(&sheet["sections"][0]["total"]),
        ["2050.00", "1300.00", "1300.00"]
    );
    assert_eq!(
        strings(&sheet["totals"][0]["amounts"]),
        ["2050.00", "1300.00", "1300.00"]
    );
    let equity = &sheet["sections"][2]["categories"];
    let earnings = &equity[equity.as_array().unwrap().len() - 1];
    assert_eq!(earnings["name"], "Current-year earnings");
    let income = json(&ledger, "income-statement", &["E"], "2026-03");
    assert_eq!(income["totals"][0]["key"], "net_income");
    assert_eq!(
        strings(&income["totals"][0]["amounts"]),
        ["480.00", "300.00", "180.00", "630.00", "300.00", "330.00"]
    );
    assert_eq!(
        strings(&earnings["total"])[0],
        strings(&income["totals"][0]["amounts"])[3]
    );
}

/// The body of the March 2026 income statement page, everything after the head.
const INCOME_STATEMENT_BODY: &str = r#"<body>
<header class="statement">
<div class="entity">Example Ltd (E)</div>
<h1>Income statement</h1>
<div class="subtitle">For period 2026-03 (2026-03-01 to 2026-03-31) and FY2026 to date, in USD</div>
</header>
<table>
<thead>
<tr class="groups"><th></th><th></th><th class="group" colspan="3">Period</th><th class="group group-start" colspan="3">Year to date</th></tr>
<tr><th>Account</th><th>Name</th><th class="amount">2026-03</th><th class="amount">2025-03</th><th class="amount change">Change</th><th class="amount group-start">FY2026 YTD</th><th class="amount">FY2025 YTD</th><th class="amount change">Change</th></tr>
</thead>
<tbody>
<tr class="section"><th colspan="8">Revenue</th></tr>
<tr class="category"><td class="account"></td><td colspan="7">Revenue</td></tr>
<tr class="line"><td class="account">4000</td><td class="name">Sales</td><td class="amount">800.00</td><td class="amount">500.00</td><td class="amount change">300.00</td><td class="amount group-start">950.00</td><td class="amount">500.00</td><td class="amount change">450.00</td></tr>
<tr class="category"><td class="account"></td><td colspan="7">Other revenue</td></tr>
<tr class="line"><td class="account">4100</td><td class="name">Other income</td><td class="amount">50.00</td><td class="amount">–</td><td class="amount change">50.00</td><td class="amount group-start">50.00</td><td class="amount">–</td><td class="amount change">50.00</td></tr>
<tr class="section-total"><td class="account"></td><td class="name">Total revenue</td><td class="amount">850.00</td><td class="amount">500.00</td><td class="amount change">350.00</td><td class="amount group-start">1,000.00</td><td class="amount">500.00</td><td class="amount change">500.00</td></tr>
</tbody>
<tbody>
<tr class="section"><th colspan="8">Expenses</th></tr>
<tr class="category"><td class="account"></td><td colspan="7">Personnel</td></tr>
<tr class="line"><td class="account">6000</td><td class="name">Salaries</td><td class="amount">120.00</td><td class="amount">–</td><td class="amount change">120.00</td><td class="amount group-start">120.00</td><td class="amount">–</td><td class="amount change">120.00</td></tr>
<tr class="category"><td class="account"></td><td colspan="7">Premises</td></tr>
<tr class="line"><td class="account">6100</td><td class="name">Rent</td><td class="amount">250.00</td><td class="amount">200.00</td><td class="amount change">50.00</td><td class="amount group-start">250.00</td><td class="amount">200.00</td><td class="amount change">50.00</td></tr>
<tr class="section-total"><td class="account"></td><td class="name">Total expenses</td><td class="amount">370.00</td><td class="amount">200.00</td><td class="amount change">170.00</td><td class="amount group-start">370.00</td><td class="amount">200.00</td><td class="amount change">170.00</td></tr>
</tbody>
<tbody>
<tr class="spacer"><td colspan="8"></td></tr>
<tr class="grand-total"><td class="account"></td><td class="name">Net income</td><td class="amount">480.00</td><td class="amount">300.00</td><td class="amount change">180.00</td><td class="amount group-start">630.00</td><td class="amount">300.00</td><td class="amount change">330.00</td></tr>
</tbody>
</table>
<footer class="notes">
<p>Amounts in USD. Negative amounts in parentheses; a dash is zero.</p>
<p>Revenue is shown as credits, expenses as debits; net income is revenue less expenses. Change is the current column less the prior-year column.</p>
</footer>
</body>
</html>
"#;

#[test]
fn html_page_is_self_contained_printable_and_deterministic() {
    // Proves the HTML page: one file with inline CSS for A4, no scripts or outside resources,
    // exactly the expected body, and the same bytes from stdout, --output and a second run.
    let ledger = two_year_ledger();
    let arguments = ["--entity", "E", "--period", "2026-03", "--format", "html"];
    let page = statement(&ledger, "income-statement", &arguments);
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Income statement — Example Ltd (E) — 2026-03</title>\n<style>\n  @page { size: A4 landscape;"), "{page}");
    assert!(page.ends_with("</footer>\n</body>\n</html>\n"), "{page}");
    for outside in ["<script", "<link", "src=", "url(", "@import", "http://", "https://"] {
        assert!(!page.contains(outside), "the page contains {outside}");
    }
    let body = &page[page.find("<body>").expect("the page has a body")..];
    assert_eq!(body, INCOME_STATEMENT_BODY);
    assert_eq!(statement(&ledger, "income-statement", &arguments), page);
    let file = ledger.dir.path().join("income.html");
    let file_text = file.display().to_string();
    let mut with_output = arguments.to_vec();
    with_output.extend(["--output", &file_text]);
    let confirmation = statement(&ledger, "income-statement", &with_output);
    assert_eq!(
        confirmation,
        format!("wrote the income statement of E for 2026-03 to {file_text}\n")
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), page);
    let sheet = statement(
        &ledger,
        "balance-sheet",
        &["--entity", "E", "--period", "2026-03", "--format", "html"],
    );
    assert!(sheet.contains("@page { size: A4 portrait;"), "{sheet}");
    assert!(sheet.contains("<tr class=\"line\"><td class=\"account\">1000</td><td class=\"name\">Cash</td><td class=\"amount\">1,050.00</td><td class=\"amount\">1,100.00</td><td class=\"amount\">800.00</td></tr>\n"), "{sheet}");
    assert!(
        sheet
            .contains("<p class=\"check\">Check: total assets equal total liabilities and equity in every column.</p>")
    );
}

#[test]
fn entities_sharing_a_currency_combine() {
    // Proves repeated --entity adds the entities' balances account by account (e.g. a
    // consolidation entity with its elimination entity) and names them all in the heading.
    let ledger = two_year_ledger();
    let journal = ledger.write(
        "eliminations.csv",
        "entry,date,account,amount\nX1,2026-03-10,4000,200.00\nX1,2026-03-10,1000,-200.00\n",
    );
    ledger
        .run(&[
            "import", "journals", &journal, "--entity", "G", "--module", "ledger", "--post",
        ])
        .success();
    let income = json(&ledger, "income-statement", &["E", "G"], "2026-03");
    assert_eq!(income["entities"][1]["id"], "G");
    assert_eq!(
        line(&income, "4000"),
        ["600.00", "500.00", "100.00", "750.00", "500.00", "250.00"]
    );
    let sheet = json(&ledger, "balance-sheet", &["E", "G"], "2026-03");
    assert_eq!(line(&sheet, "1000"), ["850.00", "1100.00", "800.00"]);
    assert_eq!(sheet["balanced"], true);
    let table = statement(
        &ledger,
        "balance-sheet",
        &["--entity", "E", "--entity", "G", "--period", "2026-03"],
    );
    assert!(
        table.starts_with("Balance sheet\nExample Ltd (E) + Group eliminations (G)\n"),
        "{table}"
    );
}

#[test]
fn refused_statements_write_nothing() {
    // Proves an unknown entity, mixed accounting currencies, an unknown period and a repeated
    // entity are refused with a message naming the value, no --output file and the ledger
    // file unchanged.
    let ledger = two_year_ledger();
    let before = ledger.stored();
    let output = ledger.dir.path().join("statement.html");
    let output_text = output.display().to_string();
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "balance-sheet",
            &["--entity", "NOPE", "--period", "2026-03"],
            "balance sheet of NOPE for 2026-03: entity NOPE does not exist; the ledger has: D, E, G",
        ),
        (
            "balance-sheet",
            &["--entity", "E", "--entity", "D", "--period", "2026-03"],
            "entity D keeps its books in EUR but E keeps them in USD: a combined statement needs one accounting currency",
        ),
        (
            "income-statement",
            &["--entity", "E", "--period", "2027-01"],
            "period 2027-01 does not exist in calendar standard of entity E, which has fiscal years FY2025 to FY2026",
        ),
        (
            "income-statement",
            &["--entity", "E", "--entity", "E", "--period", "2026-03"],
            "entity E is named more than once",
        ),
    ];
    for (report, arguments, message) in cases {
        let mut all = vec!["report", report, "--format", "html", "--output", &output_text];
        all.extend_from_slice(arguments);
        let stderr = ledger.run(&all).failure();
        assert!(stderr.contains(message), "{report} {arguments:?}: {stderr}");
        assert!(!output.exists(), "{report} {arguments:?} wrote {output_text}");
    }
    assert_eq!(ledger.stored(), before, "a refused statement changed the ledger file");
    assert_eq!(ledger.entry_count("E"), 12);
}

#[test]
fn after_year_end_close_the_new_year_compares_with_the_closed_year() {
    // Proves the statements read through the real year-end step: FY2027's opening balance sheet
    // shows FY2026's net income in retained earnings, the FY2026 year-end column still shows it
    // as current-year earnings, and total assets carry over unchanged.
    let ledger = Ledger::with_demo_journals();
    let before = json(&ledger, "income-statement", &["ACME-US"], "2026-12");
    let net_income = strings(&before["totals"][0]["amounts"])[3].clone();
    assert_eq!(net_income, "-18977.95", "the demo's FY2026 net income");
    let wasm = closebook_tests::plugin_wasm("year_end").display().to_string();
    ledger
        .run(&[
            "plugin",
            "run",
            &wasm,
            "--entity",
            "ACME-US",
            "--period",
            "2026-12",
            "--config",
            "{}",
            "--year-end",
            "--post",
        ])
        .success();
    let sheet = json(&ledger, "balance-sheet", &["ACME-US"], "FY2027-opening");
    let titles: Vec<&str> = sheet["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["2027-01-01", "2026-12-31", "2026-01-01"]);
    assert_eq!(sheet["balanced"], true);
    let assets = strings(&sheet["sections"][0]["total"]);
    assert_eq!(assets[0], "448652.05");
    assert_eq!(
        assets[0], assets[1],
        "the opening balance sheet carries the year end's assets"
    );
    // Retained earnings: 181,700.00 brought into FY2026, plus FY2026's net income.
    assert_eq!(line(&sheet, "3900"), ["162722.05", "181700.00", "181700.00"]);
    let equity = sheet["sections"][2]["categories"].as_array().unwrap();
    let earnings = equity.last().unwrap();
    assert_eq!(earnings["name"], "Current-year earnings");
    assert_eq!(strings(&earnings["total"]), ["0.00", "-18977.95", "0.00"]);
}

#[test]
fn a_balance_sheet_that_does_not_balance_says_so() {
    // Proves the balance check is computed, not assumed: a maintained account balance altered behind
    // the ledger's back (as `verify` would find) shows as a difference in every format.
    let ledger = two_year_ledger();
    let row = "FROM account_balances WHERE entity_id = 'E' AND period = '2026-03' AND account = '1000'";
    assert_eq!(ledger.query_i64(&format!("SELECT count(*) {row}")), 1);
    ledger.execute_sql(
        "UPDATE account_balances SET accounting_amount = '-190.00'
         WHERE entity_id = 'E' AND period = '2026-03' AND account = '1000'",
    );
    assert_eq!(
        ledger.query_text(&format!("SELECT accounting_amount {row}")),
        "-190.00",
        "the balance row updates"
    );
    let sheet = json(&ledger, "balance-sheet", &["E"], "2026-03");
    assert_eq!(sheet["balanced"], false);
    assert_eq!(strings(&sheet["difference"]), ["10.00", "0.00", "0.00"]);
    let table = statement(&ledger, "balance-sheet", &["--entity", "E", "--period", "2026-03"]);
    assert!(
        table.ends_with(
            "\nwarning: assets differ from liabilities and equity by 10.00 / 0.00 / 0.00; run `closebook verify`\n"
        ),
        "{table}"
    );
    let csv = statement(
        &ledger,
        "balance-sheet",
        &["--entity", "E", "--period", "2026-03", "--format", "csv"],
    );
    assert!(
        csv.ends_with("difference,,,,Assets minus liabilities and equity,10.00,0.00,0.00\n"),
        "{csv}"
    );
    let page = statement(
        &ledger,
        "balance-sheet",
        &["--entity", "E", "--period", "2026-03", "--format", "html"],
    );
    assert!(
        page.contains("<p class=\"check failed\">warning: assets differ from liabilities and equity by 10.00 / 0.00 / 0.00; run `closebook verify`</p>"),
        "{page}"
    );
}

#[test]
fn statement_csv_text_cells_cannot_run_as_formulas() {
    // Proves the statements' CSV neutralises text from the chart like every CSV report (OWASP
    // CSV injection, issue 15): an account named `=1+2` reads `'=1+2`; amounts stay numbers.
    let ledger = Ledger::with_demo_journals();
    let setup = std::fs::read_to_string(closebook_tests::demo_dir().join("setup.toml"))
        .unwrap()
        .replace("name = \"Cash at bank\"", "name = \"=1+2 Cash at bank\"");
    let setup = ledger.write("setup.toml", &setup);
    ledger.run(&["setup", "apply", &setup]).success();
    let csv = ledger
        .run(&[
            "report",
            "balance-sheet",
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    let cash = csv
        .lines()
        .find(|line| line.contains("Cash at bank"))
        .unwrap_or_else(|| panic!("no cash line:\n{csv}"));
    assert!(cash.contains(",'=1+2 Cash at bank,"), "{cash}");
    assert!(!cash.split(',').any(|cell| cell.starts_with('=')), "{cash}");
    assert!(
        cash.split(',')
            .next_back()
            .is_some_and(|amount| amount.parse::<f64>().is_ok()),
        "the amounts stay numbers: {cash}"
    );
}
