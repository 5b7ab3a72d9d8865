//! Snapshots (insta) of what a person reads from the CLI (issue #16): the report tables, the
//! close's status board, `plugin run`'s dry run, refusals on stderr, and the help. Each runs the
//! real binary against the demo ledger. Paths (the ledger's temporary folder, the workspace, the
//! target folder), timestamps, durations, fuel and hashes are filtered, so a snapshot changes
//! only when what a person reads changes. Review a change with `cargo insta review`, or accept
//! it with `INSTA_UPDATE=always cargo test -p closebook-tests --test cli_snapshots`.

use std::path::Path;
use std::process::Command;

use closebook_tests::{Ledger, Run, closebook_binary, plugin_wasm, workspace_root};

/// The terminal width the help is laid out for: the binary caps it at 100 columns
/// (`max_term_width`), and a narrower `COLUMNS` in the caller's environment would wrap it more.
const TERMINAL_COLUMNS: &str = "100";

/// Runs `closebook` like `Ledger::run`, with a fixed terminal width.
fn run(ledger: &Ledger, arguments: &[&str]) -> Run {
    run_on(&ledger.db(), &ledger.user, arguments)
}

/// Runs `closebook` on the ledger `db` as `user`, with a fixed terminal width.
fn run_on(db: &Path, user: &str, arguments: &[&str]) -> Run {
    let output = Command::new(closebook_binary())
        .arg("--db")
        .arg(db)
        .arg("--as")
        .arg(user)
        .args(arguments)
        .current_dir(workspace_root())
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("COLUMNS", TERMINAL_COLUMNS)
        .output()
        .expect("closebook runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `closebook` without a ledger (`--help`), with a fixed terminal width.
fn run_without_ledger(arguments: &[&str]) -> Run {
    let output = Command::new(closebook_binary())
        .args(arguments)
        .current_dir(workspace_root())
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("COLUMNS", TERMINAL_COLUMNS)
        .output()
        .expect("closebook runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Snapshot settings that take out what differs between runs and machines. Longer paths are
/// replaced first: the ledger's folder may sit inside neither of the others, but the target
/// folder usually sits inside the workspace.
fn filtered(ledger: &Ledger) -> insta::Settings {
    filtered_in(ledger.dir.path())
}

/// [`filtered`], with `folder` as the ledger's folder.
fn filtered_in(folder: &Path) -> insta::Settings {
    let target = plugin_wasm("allocation")
        .ancestors()
        .nth(3)
        .expect("target/wasm32-wasip2/release/x.wasm")
        .to_path_buf();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&folder.display().to_string()), "[ledger]");
    settings.add_filter(&regex_escape(&target.display().to_string()), "[target]");
    settings.add_filter(&regex_escape(&workspace_root().display().to_string()), "[workspace]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[sha256]");
    settings.add_filter(r"-s\d+-[0-9a-f]{8}", "-s[seq]-[seed]");
    settings
}

/// `text` as a regular expression matching itself (a path may hold `.`, `+` and the like).
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

fn pinned_close(ledger: &Ledger) -> String {
    ledger.pinned_demo_close()
}

#[test]
fn trial_balance_table() {
    // The trial balance of ACME-US for January: opening, turnovers and closing per account, the
    // total row, amounts with thousands separators.
    let ledger = Ledger::with_demo_journals();
    let table = run(
        &ledger,
        &["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"],
    )
    .success()
    .stdout;
    filtered(&ledger).bind(|| insta::assert_snapshot!("trial_balance_acme_us_2026_01", table));
}

#[test]
fn trial_balance_by_dimension_table() {
    // The same report split by department: one row per account and department value.
    let ledger = Ledger::with_demo_journals();
    let table = run(
        &ledger,
        &[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--dimensions",
            "department",
        ],
    )
    .success()
    .stdout;
    filtered(&ledger).bind(|| insta::assert_snapshot!("trial_balance_by_department", table));
}

#[test]
fn balance_sheet_and_income_statement_tables() {
    // The statements of ACME-US for January: categories, subtotals, current-year earnings in
    // equity, and the comparison columns.
    let ledger = Ledger::with_demo_journals();
    let balance_sheet = run(
        &ledger,
        &["report", "balance-sheet", "--entity", "ACME-US", "--period", "2026-01"],
    )
    .success()
    .stdout;
    let income_statement = run(
        &ledger,
        &[
            "report",
            "income-statement",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
        ],
    )
    .success()
    .stdout;
    let settings = filtered(&ledger);
    settings.bind(|| {
        insta::assert_snapshot!("balance_sheet_acme_us_2026_01", balance_sheet);
        insta::assert_snapshot!("income_statement_acme_us_2026_01", income_statement);
    });
}

#[test]
fn close_status_board() {
    // The demo's month-end close after one `close run`: statuses, owners, due dates judged on a
    // fixed day, the overdue and blocked markers, the notes, and the share complete.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    run(&ledger, &["close", "run", "--config", &config, "--period", "2026-01"]).success();
    let board = run(
        &ledger,
        &[
            "close",
            "status",
            "--config",
            &config,
            "--period",
            "2026-01",
            "--today",
            "2026-02-04",
        ],
    )
    .success()
    .stdout;
    filtered(&ledger).bind(|| insta::assert_snapshot!("close_status_board_after_first_run", board));
}

#[test]
fn plugin_run_dry_run() {
    // `plugin run` of the allocation step on January's rent: the proposed entry with its lines,
    // the messages and the run's figures (fuel and time filtered).
    let ledger = Ledger::with_demo_journals();
    let wasm = plugin_wasm("allocation").display().to_string();
    let config = r#"{"method": "fixed-percentage",
        "source": {"ledger": {"accounts": ["6100"], "dimensions": {"department": "300"}}},
        "destinations": [{"dimensions": {"department": "100"}, "percent": "50"},
                         {"dimensions": {"department": "200"}, "percent": "30"},
                         {"dimensions": {"department": "300"}, "percent": "20"}],
        "offset": {"account": "6100", "dimensions": {"department": "300"}}}"#;
    let shown = run(
        &ledger,
        &[
            "plugin", "run", &wasm, "--entity", "ACME-US", "--period", "2026-01", "--config", config,
        ],
    )
    .success()
    .stdout;
    let mut settings = filtered(&ledger);
    // Fuel changes with every rebuild of the step or the SDK, time with the machine.
    settings.add_filter(r"fuel [0-9,]+ units", "fuel [fuel] units");
    settings.add_filter(r"(?m)\b[0-9][0-9,.]* ?(ms|µs|s)$", "[duration]");
    settings.bind(|| insta::assert_snapshot!("plugin_run_allocation_dry_run", shown));
}

#[test]
fn refusals_on_stderr() {
    // Three refusals as a person reads them: an unknown entity, a malformed amount in an
    // imported journal (nothing written), and a ledger file that does not exist.
    let ledger = Ledger::with_demo_journals();
    let unknown_entity = run(
        &ledger,
        &["report", "trial-balance", "--entity", "NOPE", "--period", "2026-01"],
    )
    .failure();
    let journal = ledger.write(
        "exponent.csv",
        "entry,date,account,debit,credit,currency,description,dim.department\n\
         X-1,2026-01-15,6100,1e3,,,Rent,100\n\
         X-1,2026-01-15,1000,,1000.00,,Rent,\n",
    );
    let malformed_amount = run(
        &ledger,
        &[
            "import", "journals", &journal, "--entity", "ACME-US", "--module", "ledger", "--post",
        ],
    )
    .failure();
    // A ledger file, whichever database the other ledgers are in: the refusal is about a file.
    let missing = tempfile::tempdir().expect("a temporary directory");
    let missing_ledger = run_on(
        &missing.path().join("closebook.db"),
        &ledger.user,
        &["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"],
    )
    .failure();
    filtered(&ledger).bind(|| {
        insta::assert_snapshot!("refusal_unknown_entity", unknown_entity);
        insta::assert_snapshot!("refusal_malformed_amount", malformed_amount);
    });
    filtered_in(missing.path()).bind(|| insta::assert_snapshot!("refusal_missing_ledger", missing_ledger));
}

#[test]
fn help_texts() {
    // The top-level help (every command and the global options) and one subcommand's help.
    let top = run_without_ledger(&["--help"]).success().stdout;
    let trial_balance = run_without_ledger(&["report", "trial-balance", "--help"])
        .success()
        .stdout;
    insta::assert_snapshot!("help_closebook", top);
    insta::assert_snapshot!("help_report_trial_balance", trial_balance);
}
