//! Issue 15's config and message fixes, through the real binary: each test proves the exact
//! message a user now reads and, for a refusal, that nothing was written.

use closebook_tests::{Ledger, Run, closebook_binary, demo_dir, workspace_root};
use serde_json::Value;
use std::process::Command;

/// The audit records of an action, in the order `closebook audit --format json` lists them.
fn audit_records(ledger: &Ledger, action: &str) -> Vec<Value> {
    let records = ledger
        .run(&["audit", "--limit", "1000", "--format", "json"])
        .success()
        .json();
    records
        .as_array()
        .expect("the audit trail is a JSON array")
        .iter()
        .filter(|record| record["action"] == action)
        .cloned()
        .collect()
}

/// Imports a journal file into ACME-US with --post, plus `extra` arguments.
fn import_journal(ledger: &Ledger, name: &str, contents: &str, extra: &[&str]) -> (String, Run) {
    let file = ledger.write(name, contents);
    let mut arguments = vec!["import", "journals", &file, "--entity", "ACME-US", "--post"];
    arguments.extend_from_slice(extra);
    let run = ledger.run(&arguments);
    (file, run)
}

/// Runs a refused import and checks its exact error and that no entry, draft or audit record
/// was written.
#[track_caller]
fn refused_import(ledger: &Ledger, name: &str, contents: &str, extra: &[&str], expected: &str) {
    let entries = ledger.entry_count("ACME-US");
    let drafts = ledger.draft_count("ACME-US");
    let audit = audit_records(ledger, "import.journals.post").len();
    let (file, run) = import_journal(ledger, name, contents, extra);
    let stderr = run.failure();
    assert_eq!(stderr, expected.replace("{file}", &file));
    assert_eq!(
        ledger.entry_count("ACME-US"),
        entries,
        "a refused import posted entries"
    );
    assert_eq!(ledger.draft_count("ACME-US"), drafts, "a refused import kept drafts");
    assert_eq!(audit_records(ledger, "import.journals.post").len(), audit);
}

#[test]
fn an_entry_key_twice_in_one_file_is_refused_naming_both_lines() {
    // Issue 15: the same key twice in one file is refused as such, not counted as "already
    // imported", for identical copies (CSV) and for different entries under one key (JSON).
    let ledger = Ledger::with_demo_setup();
    let csv = "entry,date,account,amount,description
SE-400,2026-01-10,1000,100.00,Cash sale
SE-400,2026-01-10,4000,-100.00,Cash sale
SE-401,2026-01-11,1000,50.00,Cash sale
SE-401,2026-01-11,4000,-50.00,Cash sale
SE-402,2026-01-12,1000,20.00,Cash sale
SE-402,2026-01-12,4000,-20.00,Cash sale
SE-401,2026-01-11,1000,50.00,Cash sale
SE-401,2026-01-11,4000,-50.00,Cash sale
";
    refused_import(
        &ledger,
        "sales.csv",
        csv,
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  line 8: entry SE-401: entry SE-401 appears twice in this file (lines 4 and 8); give each entry its own key
",
    );
    let json = r#"[
  {"entry": "SE-401", "date": "2026-01-11", "lines": [{"account": "1000", "amount": "50.00"}, {"account": "4000", "amount": "-50.00"}]},
  {"entry": "SE-402", "date": "2026-01-12", "lines": [{"account": "1000", "amount": "20.00"}, {"account": "4000", "amount": "-20.00"}]},
  {"entry": "SE-401", "date": "2026-01-13", "lines": [{"account": "1000", "amount": "70.00"}, {"account": "4000", "amount": "-70.00"}]}
]"#;
    refused_import(
        &ledger,
        "sales.json",
        json,
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  entry SE-401: entry SE-401 appears twice in this file (entries 1 and 3); give each entry its own key
",
    );
    // Once imported, the same file again is still a reported no-op.
    let (_, run) = import_journal(
        &ledger,
        "sales.csv",
        &csv.lines().take(7).collect::<Vec<_>>().join("\n"),
        &[],
    );
    run.success();
    let (_, again) = import_journal(
        &ledger,
        "sales.csv",
        &csv.lines().take(7).collect::<Vec<_>>().join("\n"),
        &[],
    );
    assert!(
        again
            .success()
            .stdout
            .contains("0 posted, 3 already imported (unchanged)")
    );
}

#[test]
fn a_repeated_entity_changes_its_period_once_and_no_change_is_not_audited() {
    // Issue 15: `--entity` twice applies once; a period already at the status asked for is
    // reported and leaves no audit record.
    let ledger = Ledger::with_demo_setup();
    let set = |entities: &[&str]| {
        let mut arguments = vec!["period", "set-status", "--period", "2026-01", "--status", "on-hold"];
        for entity in entities {
            arguments.extend(["--entity", entity]);
        }
        ledger.run(&arguments).success().stdout
    };
    assert_eq!(set(&["ACME-US", "ACME-US"]), "ACME-US 2026-01: open -> on-hold\n");
    assert_eq!(audit_records(&ledger, "period.set-status").len(), 1);
    assert_eq!(
        set(&["ACME-US"]),
        "period 2026-01 of entity ACME-US is already on-hold; nothing changed\n"
    );
    assert_eq!(audit_records(&ledger, "period.set-status").len(), 1);
    assert_eq!(
        set(&["ACME-US", "ACME-DE"]),
        "period 2026-01 of entity ACME-US is already on-hold; nothing changed\nACME-DE 2026-01: open -> on-hold\n"
    );
    let mut entities: Vec<String> = audit_records(&ledger, "period.set-status")
        .iter()
        .map(|record| record["entity"].as_str().expect("an entity").to_owned())
        .collect();
    entities.sort();
    assert_eq!(entities, ["ACME-DE", "ACME-US"]);
    // A period that does not exist is still refused by name, not reported as unchanged.
    let error = ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2031-01",
            "--status",
            "open",
        ])
        .failure();
    assert_eq!(
        error,
        "error: setting the status of period 2031-01: period 2031-01 does not exist in calendar standard of entity ACME-US, \
         which has fiscal years FY2025 to FY2027: name one of their periods (YYYY-MM, FY2026-opening or FY2026-closing) \
         or add the year to the calendar in setup (last_year) and apply it again\n"
    );
}

#[test]
fn without_user_variables_the_acting_user_is_the_operating_system_account() {
    // Issue 15: with $USER, $USERNAME and CLOSEBOOK_USER unset and no --as, the audit trail
    // records the operating-system account (getpwuid), never "unknown".
    let ledger = Ledger::with_demo_setup();
    let account = Command::new("id").arg("-un").output().expect("id runs");
    let account = String::from_utf8(account.stdout)
        .expect("an account name")
        .trim()
        .to_owned();
    assert!(!account.is_empty());
    // Issue 18: the account acts as the user it is mapped to in setup.
    let mapping = ledger.write(
        "mapping.toml",
        &format!("[[user]]\nid = \"alice\"\ngroups = [\"closers\"]\nos_user = \"{account}\"\n"),
    );
    ledger.run(&["setup", "apply", &mapping]).success();
    let output = Command::new(closebook_binary())
        .args(["--db", &ledger.db().display().to_string()])
        .args([
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-02",
            "--status",
            "on-hold",
        ])
        .current_dir(workspace_root())
        .env_remove("USER")
        .env_remove("USERNAME")
        .env_remove("CLOSEBOOK_USER")
        .env_remove("CLOSEBOOK_DB")
        .output()
        .expect("closebook runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let records = audit_records(&ledger, "period.set-status");
    assert_eq!(records[0]["user"], "alice");
    assert_eq!(records[0]["identity"], "os-user");
    // A blank --as is refused rather than quietly replaced by the operating-system user.
    let error = ledger.run_as(" ", &["audit"]).failure();
    assert_eq!(
        error,
        "error: the acting user is blank: name one with --as USER (or CLOSEBOOK_USER)\n"
    );
}

#[test]
fn csv_files_from_other_locales_are_refused_naming_the_real_cause() {
    // Issue 15: `;` between columns, thousands separators, decimal commas and negatives in
    // parentheses are each named; --delimiter reads a `;` file.
    let ledger = Ledger::with_demo_setup();
    refused_import(
        &ledger,
        "semicolons.csv",
        "entry;date;account;amount\nX-1;2026-01-10;1000;100.00\nX-1;2026-01-10;4000;-100.00\n",
        &[],
        "error: {file}: the header `entry;date;account;amount` separates its columns with ';', but the file is read with ',' between columns: pass --delimiter ';'\n",
    );
    refused_import(
        &ledger,
        "decimal-comma.csv",
        "entry;date;account;amount\nX-1;2026-01-10;1000;100,50\nX-1;2026-01-10;4000;-100,50\n",
        &["--delimiter", ";"],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  line 2: entry X-1: amounts must use '.' as decimal point and no thousands separator: '100,50'
",
    );
    refused_import(
        &ledger,
        "thousands-quoted.csv",
        "entry,date,account,amount\nX-1,2026-01-10,1000,\"1,234.56\"\nX-1,2026-01-10,4000,-1234.56\n",
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  line 2: entry X-1: amounts must use '.' as decimal point and no thousands separator: '1,234.56'
",
    );
    refused_import(
        &ledger,
        "thousands.csv",
        "entry,date,account,amount,description\nX-1,2026-01-10,1000,1,234.56,Sale\nX-1,2026-01-10,4000,-1234.56,Sale\nX-2,2026-01-10,1000,5,Sale,extra\nX-2,2026-01-10,4000,-5,Sale\n",
        &[],
        "error: importing {file} into entity ACME-US: 2 problems refused; nothing was written:
  line 2: entry X-1: amounts must use '.' as decimal point and no thousands separator: '1,234.56'
  line 4: entry X-2: the line has 6 fields but the header has 5; quote a field that contains ','
",
    );
    refused_import(
        &ledger,
        "parentheses.csv",
        "entry,date,account,debit,credit,amount\nX-1,2026-01-10,1000,,,100.00\nX-1,2026-01-10,4000,,,(100.00)\n",
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  line 3: entry X-1: negative amounts take a minus sign, not parentheses: '(100.00)'; write -100.00
",
    );
    // The same journal with `;` and --delimiter posts.
    let (_, run) = import_journal(
        &ledger,
        "semicolons.csv",
        "entry;date;account;amount\nX-1;2026-01-10;1000;100.00\nX-1;2026-01-10;4000;-100.00\n",
        &["--delimiter", ";"],
    );
    assert!(run.success().stdout.contains("1 entries (2 lines) read, 1 posted"));
    // Rates take --delimiter too, and name a `;` header the same way.
    let rates = ledger.write("rates.csv", "from;to;type;date;rate\nEUR;USD;spot;2026-01-20;1.1\n");
    let error = ledger.run(&["import", "rates", &rates]).failure();
    assert_eq!(
        error,
        format!(
            "error: {rates}: the header `from;to;type;date;rate` separates its columns with ';', but the file is read with ',' between columns: pass --delimiter ';'\n"
        )
    );
    let comma_rate = ledger.write(
        "comma-rate.csv",
        "from;to;type;date;rate\nEUR;USD;spot;2026-01-20;1,1\n",
    );
    let error = ledger
        .run(&["import", "rates", &comma_rate, "--delimiter", ";"])
        .failure();
    assert_eq!(
        error,
        format!(
            "error: {comma_rate}: line 2: rate EUR/USD on 2026-01-20: amounts must use '.' as decimal point and no thousands separator: '1,1'\n"
        )
    );
    ledger.run(&["import", "rates", &rates, "--delimiter", ";"]).success();
    // And accounts: a `,` header read with `;` is named too.
    let accounts = ledger.write("accounts.csv", "number,name,type\n6950,Bank fees,expense\n");
    let error = ledger
        .run(&["import", "accounts", &accounts, "--chart", "GROUP", "--delimiter", ";"])
        .failure();
    assert_eq!(
        error,
        format!(
            "error: {accounts}: the header `number,name,type` separates its columns with ',', but the file is read with ';' between columns: leave out --delimiter (or pass --delimiter ',')\n"
        )
    );
    let accounts = ledger.write("accounts.csv", "number|name|type\n6950|Bank fees|expense\n");
    ledger
        .run(&["import", "accounts", &accounts, "--chart", "GROUP", "--delimiter", "|"])
        .success();
    let error = ledger
        .run(&["import", "rates", &rates, "--delimiter", "semicolon"])
        .failure();
    assert!(
        error.contains(
            "`semicolon` is not a column delimiter: give one punctuation character such as ';' or '|', or `tab`"
        ),
        "{error}"
    );
}

#[test]
fn csv_reports_carry_entity_currency_and_every_row_its_entry() {
    // Issue 15: every row of the journal CSV names its entry and date; the trial balance,
    // journal and statement CSVs name the entity and currency.
    let ledger = Ledger::with_demo_journals();
    let journal = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-01", "--format", "csv",
        ])
        .success()
        .stdout;
    let mut reader = csv::Reader::from_reader(journal.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "entity",
            "accounting_currency",
            "seq",
            "entry",
            "date",
            "period",
            "account",
            "dimensions",
            "currency",
            "amount",
            "accounting",
            "description",
            "source"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() > 10, "the demo's January has many lines");
    for row in &rows {
        assert_eq!(&row[0], "ACME-US");
        assert_eq!(&row[1], "USD");
        assert!(!row[2].is_empty() && !row[3].is_empty(), "{row:?}");
        assert!(row[4].starts_with("2026-01-"), "{row:?}");
        assert_eq!(&row[5], "2026-01");
        assert!(row[12].ends_with(" by alice"), "{row:?}");
    }
    let salaries: Vec<&csv::StringRecord> = rows.iter().filter(|row| &row[3] == "US-GL-001").collect();
    assert_eq!(salaries.len(), 4, "every line of the entry carries its key");
    assert!(salaries.iter().all(|row| &row[4] == "2026-01-25"));

    let trial_balance = ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-DE",
            "--period",
            "2026-03",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    assert!(
        trial_balance.starts_with("entity,currency,account,name,opening,debit,credit,closing\nACME-DE,EUR,"),
        "{trial_balance}"
    );
    let statement = ledger
        .run(&[
            "report",
            "income-statement",
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    assert!(
        statement.starts_with("entity,currency,row,section,category,account,name,period,"),
        "{statement}"
    );
    assert!(
        statement.lines().skip(1).all(|line| line.starts_with("ACME-US,USD,")),
        "{statement}"
    );
}

const RATE_SETUP: &str = r#"[[currency]]
code = "USD"
minor_units = 2
[[currency]]
code = "EUR"
minor_units = 2
[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = 2026-01-31
rate = "1.09"
[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2026-02-28"
rate = "1.10"
"#;

#[test]
fn setup_rates_take_toml_dates_and_errors_name_the_file_given() {
    // Issue 15: `[[rate]]` takes `date = 2026-01-31` as close.toml does; a setup error names
    // the file given; `--db` help says which command creates the file.
    let ledger = Ledger::new();
    let setup = ledger.write("group-rates.toml", &closebook_tests::with_test_users(RATE_SETUP));
    let applied = ledger.run(&["setup", "apply", &setup]).success().stdout;
    assert!(applied.ends_with(", 2 rates\n"), "{applied}");
    let wrong = ledger.write(
        "my-organisation.toml",
        &RATE_SETUP.replace("date = 2026-01-31", "date = 2026-01-31T10:00:00"),
    );
    let error = ledger.run(&["setup", "apply", &wrong]).failure();
    assert_eq!(
        error,
        format!("error: applying {wrong}: rate EUR/USD: `2026-01-31T10:00:00` is not a date (YYYY-MM-DD)\n")
    );
    let number = ledger.write(
        "numbers.toml",
        &RATE_SETUP.replace("date = 2026-01-31", "date = 20260131"),
    );
    let error = ledger.run(&["setup", "apply", &number]).failure();
    assert!(
        error.starts_with(&format!("error: {number}: TOML parse error at line 11")),
        "{error}"
    );
    assert!(
        error.contains("expected a date like 2026-01-31 (a TOML date or a string), found integer `20260131`"),
        "{error}"
    );
    let help = Command::new(closebook_binary())
        .arg("--help")
        .env_remove("CLOSEBOOK_DB")
        .output()
        .expect("closebook runs");
    let help = String::from_utf8(help.stdout).expect("help is text");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("--db <PATH> The ledger file. `setup apply` creates it when it does not exist (or is empty); every other command refuses a missing or empty file rather than start a new ledger. A relative path is taken from the current directory. A URL postgres://USER@HOST/DB keeps the ledger in that PostgreSQL database instead (`closebook db migrate` makes its tables) [env: CLOSEBOOK_DB=] [default: closebook.db]"),
        "{help}"
    );
}

const STATEMENT_SETUP: &str = r#"[[currency]]
code = "USD"
minor_units = 2
[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2026"
last_year = "FY2026"
[[chart]]
id = "C"
accounts = [
  { number = "1000", name = "Cash", type = "asset", category = "Cash" },
  { number = "3000", name = "Share capital", type = "equity", category = "Equity" },
  { number = "3100", name = "Capital reserve", type = "equity", category = "Equity" },
  { number = "3900", name = "Retained earnings", type = "equity", category = "Equity" },
  { number = "4000", name = "Sales", type = "revenue", category = "Revenue" },
  { number = "6100", name = "Rent", type = "expense", category = "Premises" },
]
[[entity]]
id = "E"
name = "Example Ltd"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
"#;

/// Capital paid in, sales of 300.00 in January and rent of 500.00 in March: a loss of 200.00
/// for the year to March, and of 500.00 in March.
const STATEMENT_JOURNALS: &str = "entry,date,period,account,amount
OB,2026-01-01,FY2026-opening,1000,1500.00
OB,2026-01-01,FY2026-opening,3000,-1000.00
OB,2026-01-01,FY2026-opening,3100,-500.00
S1,2026-01-15,,1000,300.00
S1,2026-01-15,,4000,-300.00
R1,2026-03-15,,6100,500.00
R1,2026-03-15,,1000,-500.00
";

#[test]
fn statements_name_a_loss_and_a_category_named_like_its_section_once() {
    // Issue 15: category "Equity" in section Equity gives one "Total equity" row; a loss reads
    // "Net loss" in the table, CSV and HTML, while JSON keeps the key `net_income`.
    let ledger = Ledger::new();
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(STATEMENT_SETUP));
    ledger.run(&["setup", "apply", &setup]).success();
    let journals = ledger.write("journals.csv", STATEMENT_JOURNALS);
    ledger
        .run(&["import", "journals", &journals, "--entity", "E", "--post"])
        .success();
    let report = |kind: &str, format: &str| {
        ledger
            .run(&[
                "report", kind, "--entity", "E", "--period", "2026-03", "--format", format,
            ])
            .success()
            .stdout
    };
    let sheet = report("balance-sheet", "table");
    assert_eq!(
        sheet,
        "\
Balance sheet
Example Ltd (E)
As at 2026-03-31 (period 2026-03, FY2026), in USD

Account  Name                          2026-03-31  (prior year not set up)
-------  ----------------------------  ----------  -----------------------
         ASSETS
           Cash
1000         Cash                        1,300.00                     0.00
         Total assets                    1,300.00                     0.00

         LIABILITIES
         Total liabilities                   0.00                     0.00

         EQUITY
           Equity
3000         Share capital               1,000.00                     0.00
3100         Capital reserve               500.00                     0.00
           Subtotal equity               1,500.00                     0.00
           Current-year earnings
             Net loss of the year         -200.00                     0.00
         Total equity                    1,300.00                     0.00
-------  ----------------------------  ----------  -----------------------
         Total liabilities and equity    1,300.00                     0.00
"
    );
    let income = report("income-statement", "table");
    assert!(
        income.ends_with(
            "         Net loss        -500.00                     0.00  -500.00     -200.00                     0.00  -200.00\n"
        ),
        "{income}"
    );
    let csv = report("income-statement", "csv");
    assert!(
        csv.contains("E,USD,category_total,revenue,Revenue,,Subtotal revenue,0.00,0.00,0.00,300.00,0.00,300.00\nE,USD,section_total,revenue,,,Total revenue,"),
        "{csv}"
    );
    assert!(
        csv.ends_with("E,USD,total,,,,Net loss,-500.00,0.00,-500.00,-200.00,0.00,-200.00\n"),
        "{csv}"
    );
    let page = report("income-statement", "html");
    assert!(
        page.contains("<td class=\"name\">Net loss</td><td class=\"amount\">(500.00)</td>"),
        "{page}"
    );
    let json: Value = serde_json::from_str(&report("income-statement", "json")).expect("JSON");
    assert_eq!(json["totals"][0]["key"], "net_income");
    assert_eq!(json["totals"][0]["title"], "Net loss");
    assert_eq!(json["totals"][0]["amounts"][3], "-200.00");
}

#[test]
fn audit_and_journal_tables_fit_a_terminal_of_100_columns() {
    // Issue 15: every line of the journal report and the audit trail of the demo ledger fits
    // 100 columns; long descriptions and details wrap onto lines of their own.
    let ledger = Ledger::with_demo_journals();
    let rates = demo_dir().join("rates.csv").display().to_string();
    ledger.run(&["import", "rates", &rates]).success();
    let mut reports = vec![ledger.run(&["audit"]).success().stdout];
    for period in ["FY2026-opening", "2026-01", "2026-02", "2026-03"] {
        for entity in ["ACME-US", "ACME-DE"] {
            reports.push(
                ledger
                    .run(&["report", "journal", "--entity", entity, "--period", period])
                    .success()
                    .stdout,
            );
        }
    }
    for report in &reports {
        for line in report.lines() {
            assert!(
                line.chars().count() <= 100,
                "{} characters:\n{line}",
                line.chars().count()
            );
        }
    }
    let february = &reports[5];
    let indent = " ".repeat(66);
    let expected = format!(
        "\n 23  US-GL-008  2026-02-27  1300     EUR    5,000.00    5,475.00  Management fee charged to Acme
{indent}GmbH [partner=ACME-DE]
                            4100     USD   -5,475.00   -5,475.00  Management fee charged to Acme
{indent}GmbH [department=100;
{indent}partner=ACME-DE]
{indent}(from import:"
    );
    assert!(february.contains(&expected), "{february}");
}
