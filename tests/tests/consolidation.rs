//! Consolidation and intercompany elimination end to end: the real `consolidation.wasm` and
//! `elimination.wasm` (built by `scripts/build-plugins consolidation elimination`) run by the
//! real binary. First on a small group whose figures are worked out by hand below — a USD
//! parent at 100 % and a EUR subsidiary at 60 %, translated at current, average (month by
//! month) and historical rates with the CTA left over — then on the demo organization through
//! `examples/demo/consolidation.toml`, where ACME-US's and ACME-DE's intercompany balances are
//! eliminated into ACME-ELIM and their differences reported.

use std::collections::BTreeMap;
use std::str::FromStr;

use closebook_tests::{Ledger, demo_dir, plugin_wasm};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SETUP: &str = r#"
[[currency]]
code = "USD"
minor_units = 2

[[currency]]
code = "EUR"
minor_units = 2

[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2026"
last_year = "FY2026"

[[chart]]
id = "MAIN"
accounts = [
  { number = "1000", name = "Cash", type = "asset" },
  { number = "2000", name = "Payables", type = "liability" },
  { number = "3000", name = "Share capital", type = "equity" },
  { number = "3800", name = "Currency translation reserve", type = "equity" },
  { number = "3900", name = "Retained earnings", type = "equity" },
  { number = "4000", name = "Sales", type = "revenue" },
  { number = "6000", name = "Expenses", type = "expense" },
  { number = "6010", name = "Staff costs", type = "expense" },
]

[[entity]]
id = "G"
name = "Group (consolidated)"
currency = "USD"
calendar = "standard"
chart = "MAIN"
retained_earnings_account = "3900"
default_rate_type = "spot"

[[entity]]
id = "P"
name = "Parent"
currency = "USD"
calendar = "standard"
chart = "MAIN"
retained_earnings_account = "3900"
default_rate_type = "spot"

[[entity]]
id = "S"
name = "Subsidiary"
currency = "EUR"
calendar = "standard"
chart = "MAIN"
retained_earnings_account = "3900"
default_rate_type = "spot"

[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2026-01-31"
rate = "1.12"

[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2026-02-28"
rate = "1.20"

[[rate]]
from = "EUR"
to = "USD"
type = "average"
date = "2026-01-01"
rate = "1.10"

[[rate]]
from = "EUR"
to = "USD"
type = "average"
date = "2026-02-01"
rate = "1.15"

[[rate]]
from = "EUR"
to = "USD"
type = "historical"
date = "2020-01-01"
rate = "1.00"
"#;

/// S in EUR: opening cash 10,000, share capital 6,000, retained earnings 4,000; January sales
/// 2,000 and staff costs 500; February sales 3,000 and staff costs 1,000 still owed.
const SUBSIDIARY: &str = "\
entry,date,period,account,amount,description
S-OB,2026-01-01,FY2026-opening,1000,10000.00,Opening balance
S-OB,2026-01-01,FY2026-opening,3000,-6000.00,Opening balance
S-OB,2026-01-01,FY2026-opening,3900,-4000.00,Opening balance
S-1,2026-01-15,,1000,1500.00,January sales less staff costs
S-1,2026-01-15,,4000,-2000.00,January sales less staff costs
S-1,2026-01-15,,6010,500.00,January sales less staff costs
S-2,2026-02-15,,1000,3000.00,February sales
S-2,2026-02-15,,4000,-3000.00,February sales
S-3,2026-02-20,,6010,1000.00,February staff costs
S-3,2026-02-20,,2000,-1000.00,February staff costs
";

/// P in USD: opening cash and share capital 20,000; January expenses 1,000.
const PARENT: &str = "\
entry,date,period,account,amount,description
P-OB,2026-01-01,FY2026-opening,1000,20000.00,Opening balance
P-OB,2026-01-01,FY2026-opening,3000,-20000.00,Opening balance
P-1,2026-01-20,,6000,1000.00,January expenses
P-1,2026-01-20,,1000,-1000.00,January expenses
";

/// P at 100 %, S at 60 % with its retained earnings as last year's consolidation translated them
/// (-4,200.00 USD); S's staff costs 6010 map to the group's 6000.
const CONFIG: &str = r#"{"members":[{"entity":"P","ownership_percent":"100"},{"entity":"S","ownership_percent":"60","opening_retained_earnings":"-4200.00"}],"cta_account":"3800","account_map":{"6010":"6000"}}"#;

fn group_ledger() -> Ledger {
    let ledger = Ledger::new();
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(SETUP));
    ledger.run(&["setup", "apply", &setup]).success();
    for (entity, name, text) in [("S", "s.csv", SUBSIDIARY), ("P", "p.csv", PARENT)] {
        let file = ledger.write(name, text);
        ledger
            .run(&["import", "journals", &file, "--entity", entity, "--post"])
            .success();
    }
    ledger
}

/// Runs the consolidation plugin for G with read access to `members`; `extra` adds `--post`.
fn consolidate(ledger: &Ledger, period: &str, members: &[&str], extra: &[&str]) -> closebook_tests::Run {
    let wasm = plugin_wasm("consolidation").display().to_string();
    let mut arguments = vec![
        "plugin", "run", &wasm, "--entity", "G", "--period", period, "--config", CONFIG,
    ];
    for member in members {
        arguments.extend(["--allow", member]);
    }
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

/// Non-zero closing balances of an entity's trial balance by account, after checking that the
/// trial balance nets to zero.
fn closing(ledger: &Ledger, entity: &str, period: &str) -> BTreeMap<String, String> {
    let trial_balance = ledger.trial_balance(entity, period);
    assert_eq!(
        trial_balance["totals"]["closing"], "0.00",
        "the trial balance of {entity} must net to zero"
    );
    rows(&trial_balance)
        .into_iter()
        .filter(|(_, row)| row["closing"] != "0.00")
        .map(|(account, row)| (account, text(&row["closing"])))
        .collect()
}

fn rows(trial_balance: &Value) -> BTreeMap<String, Value> {
    trial_balance["rows"]
        .as_array()
        .expect("trial balance rows")
        .iter()
        .map(|row| (text(&row["account"]), row.clone()))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().expect("a text value").to_owned()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(account, amount)| ((*account).to_owned(), (*amount).to_owned()))
        .collect()
}

#[test]
fn consolidates_two_currencies_at_a_sixty_percent_share_with_the_cta_worked_by_hand() {
    // Proves DOMAIN.md §8's translation on figures worked out by hand, month by month.
    let ledger = group_ledger();

    // January, S at 60 %: cash 11,500 EUR × 1.12 (current) × 0.6 = 7,728.00; share capital
    // -6,000 × 1.00 (historical) × 0.6 = -3,600.00; retained earnings -4,200.00 (prior
    // translation) × 0.6 = -2,520.00; sales -2,000 × 1.10 (January average) × 0.6 = -1,320.00;
    // staff costs 500 × 1.10 × 0.6 = 330.00 on 6000. They sum to 618.00: the CTA is -618.00.
    // P adds cash 19,000, share capital -20,000 and expenses 1,000 at 1 with no CTA.
    consolidate(&ledger, "2026-01", &["P", "S"], &["--post"]).success();
    assert_eq!(
        closing(&ledger, "G", "2026-01"),
        expected(&[
            ("1000", "26728.00"),
            ("3000", "-23600.00"),
            ("3800", "-618.00"),
            ("3900", "-2520.00"),
            ("4000", "-1320.00"),
            ("6000", "1330.00"),
        ])
    );

    // February year to date: cash 14,500 × 1.20 × 0.6 = 10,440.00; payables -1,000 × 1.20 ×
    // 0.6 = -720.00; sales -1,320.00 (January at 1.10) + -3,000 × 1.15 × 0.6 = -2,070.00
    // (February at 1.15) = -3,390.00 — not -5,000 × 1.15 × 0.6 = -3,450.00 at one rate; staff
    // costs 330.00 + 1,000 × 1.15 × 0.6 = 690.00. S's translated balances: 10,440 - 720
    // - 3,600 - 2,520 - 3,390 + 1,020 = 1,230.00, so the CTA is -1,230.00.
    consolidate(&ledger, "2026-02", &["P", "S"], &["--post"]).success();
    let february = closing(&ledger, "G", "2026-02");
    assert_eq!(
        february,
        expected(&[
            ("1000", "29440.00"),
            ("2000", "-720.00"),
            ("3000", "-23600.00"),
            ("3800", "-1230.00"),
            ("3900", "-2520.00"),
            ("4000", "-3390.00"),
            ("6000", "2020.00"),
        ])
    );
    // February's sales land in February at February's average rate.
    let turnover = rows(&ledger.trial_balance("G", "2026-02"));
    assert_eq!(turnover["4000"]["credit"], "2070.00");

    // Re-running replaces the earlier consolidation: nothing new is posted, nothing doubles.
    let entries = ledger.entry_count("G");
    let rerun = consolidate(&ledger, "2026-02", &["P", "S"], &["--post"]).success();
    assert!(rerun.stdout.contains("nothing to post"), "{}", rerun.stdout);
    assert_eq!(ledger.entry_count("G"), entries);
    assert_eq!(closing(&ledger, "G", "2026-02"), february);
}

#[test]
fn refuses_a_member_the_run_may_not_read_and_writes_nothing() {
    // Without --allow S the step is refused with the fix, and G holds no entry.
    let ledger = group_ledger();
    let error = consolidate(&ledger, "2026-02", &["P"], &["--post"]).failure();
    assert!(error.contains("the task may not read member S"), "{error}");
    assert_eq!(ledger.entry_count("G"), 0);
}

/// The demo's fee rule alone, for previews of the elimination step.
const ELIMINATE_FEES: &str = r#"{"elimination_entity":"ACME-ELIM","member_dimension":"company","partner_dimension":"partner","rules":[{"name":"intercompany fees","accounts":["4100","6900"],"difference_account":"7900"}]}"#;

/// The demo consolidation.toml pointed at this build's plugins, pinned to their current hashes.
fn pinned_consolidation(ledger: &Ledger) -> String {
    let mut text = std::fs::read_to_string(demo_dir().join("consolidation.toml")).unwrap();
    for (name, file) in [("consolidation", "consolidation"), ("elimination", "elimination")] {
        let wasm = plugin_wasm(file);
        text = text.replace(
            &format!("../../target/wasm32-wasip2/release/{file}.wasm"),
            &wasm.display().to_string(),
        );
        let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
        let start = text.find(&format!("{name} = {{")).unwrap();
        let sha_start = start + text[start..].find("sha256 = \"").unwrap() + 10;
        text.replace_range(sha_start..sha_start + 64, &hash);
    }
    ledger.write("consolidation.toml", &text)
}

/// The sum of GROUP and ELIM closing balances per account, zeros left out: the consolidated
/// figures.
fn consolidated(ledger: &Ledger) -> BTreeMap<String, Decimal> {
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for entity in ["ACME-GROUP", "ACME-ELIM"] {
        for (account, amount) in closing(ledger, entity, "2026-03") {
            *totals.entry(account).or_default() += Decimal::from_str(&amount).expect("a decimal amount");
        }
    }
    totals.retain(|_, amount| !amount.is_zero());
    totals
}

#[test]
fn demo_consolidation_eliminates_intercompany_balances_and_reports_the_differences() {
    // Proves the demo's consolidation.toml end to end: consolidate, eliminate after review,
    // check; the intercompany accounts net to zero in GROUP + ELIM, the rate differences go to
    // the difference accounts, and a rerun leaves the same consolidated balances.
    let ledger = Ledger::with_demo_journals();
    let group_setup = demo_dir().join("group-setup.toml").display().to_string();
    ledger.run(&["setup", "apply", &group_setup]).success();
    let config = pinned_consolidation(&ledger);
    let close = |user: &str, extra: &[&str]| {
        let mut arguments = vec!["close", "run", "--config", config.as_str(), "--period", "2026-03"];
        arguments.extend_from_slice(extra);
        ledger.run_as(user, &arguments).success()
    };
    let review = || {
        ledger
            .run_as(
                "alice",
                &[
                    "close",
                    "signoff",
                    "--config",
                    &config,
                    "--period",
                    "2026-03",
                    "--entity",
                    "ACME-GROUP",
                    "--task",
                    "eliminate",
                    "--review",
                ],
            )
            .success()
    };

    let first = close("bob", &[]);
    assert!(first.stdout.contains("awaiting-review"), "{}", first.stdout);
    // The reviewer sees the step's warnings with the task, in the run and on the status board.
    assert!(first.stdout.contains("2 warnings: rule "), "{}", first.stdout);
    assert!(first.stdout.contains("they differ by 125.00"), "{}", first.stdout);
    let board = ledger
        .run(&[
            "close", "status", "--config", &config, "--period", "2026-03", "--format", "json",
        ])
        .success();
    assert!(board.stdout.contains("they differ by 50.00"), "{}", board.stdout);
    assert_eq!(ledger.entry_count("ACME-ELIM"), 0, "eliminations wait for review");

    // Without posting access to ACME-ELIM the elimination is refused and writes nothing.
    let refused = ledger
        .run(&[
            "plugin",
            "run",
            &plugin_wasm("elimination").display().to_string(),
            "--entity",
            "ACME-GROUP",
            "--period",
            "2026-03",
            "--config",
            ELIMINATE_FEES,
            "--post",
        ])
        .failure();
    assert!(
        refused.contains("may not post into elimination entity ACME-ELIM"),
        "{refused}"
    );
    assert_eq!(ledger.entry_count("ACME-ELIM"), 0);
    review();
    let done = close("bob", &[]);
    assert!(done.stdout.contains("trial balance nets to zero"), "{}", done.stdout);

    // The group's balance sheet, consolidation and eliminations combined, balances in every
    // column, and the eliminated intercompany receivable is gone from it.
    let sheet = ledger
        .run(&[
            "report",
            "balance-sheet",
            "--entity",
            "ACME-GROUP",
            "--entity",
            "ACME-ELIM",
            "--period",
            "2026-03",
            "--format",
            "json",
        ])
        .success();
    let sheet: Value = serde_json::from_str(&sheet.stdout).expect("the balance sheet is JSON");
    assert_eq!(sheet["balanced"], true, "{sheet:#}");
    assert_eq!(sheet["currency"], "USD");
    assert!(
        !sheet.to_string().contains("\"1300\""),
        "the eliminated receivable 1300 still shows: {sheet:#}"
    );
    let before_elimination = ledger
        .run(&[
            "report",
            "balance-sheet",
            "--entity",
            "ACME-GROUP",
            "--period",
            "2026-03",
            "--format",
            "json",
        ])
        .success();
    assert!(
        before_elimination.stdout.contains("\"1300\""),
        "ACME-GROUP alone shows the receivable: {}",
        before_elimination.stdout
    );

    let group = closing(&ledger, "ACME-GROUP", "2026-03");
    // Share capital: ACME-US -200,000.00 + ACME-DE -50,000 EUR × 1.12 (historical).
    assert_eq!(group["3000"], "-256000.00");
    // Retained earnings: ACME-US -181,700.00 + ACME-DE's configured -102,600.00.
    assert_eq!(group["3900"], "-284300.00");
    // The intercompany receivable (5,475.00 at ACME-US) and payable (-5,000 EUR × 1.07 =
    // -5,350.00 at ACME-DE) are in the group before elimination.
    assert_eq!(group["1300"], "5475.00");
    assert_eq!(group["2400"], "-5350.00");

    let elimination = closing(&ledger, "ACME-ELIM", "2026-03");
    // The receivable and payable differ by 125.00 (to 3800); the fee, -5,475.00 income at
    // ACME-US and 5,000 EUR × 1.105 (February average) = 5,525.00 expense at ACME-DE, by 50.00.
    assert_eq!(elimination["3800"], "125.00");
    assert_eq!(elimination["7900"], "50.00");
    let totals = consolidated(&ledger);
    for account in ["1300", "2400", "4100", "6900"] {
        assert_eq!(
            totals.get(account),
            None,
            "account {account} must be eliminated to zero"
        );
    }
    assert_eq!(
        totals.values().sum::<Decimal>(),
        Decimal::ZERO,
        "the consolidated trial balance nets to zero"
    );

    // The mismatches are reported to whoever previews the elimination.
    let preview = ledger
        .run(&[
            "plugin",
            "run",
            &plugin_wasm("elimination").display().to_string(),
            "--entity",
            "ACME-GROUP",
            "--period",
            "2026-03",
            "--allow",
            "ACME-ELIM:post",
            "--config",
            ELIMINATE_FEES,
        ])
        .success();
    assert!(
        preview.stdout.contains(
            "rule \"intercompany fees\": ACME-DE holds 5525.00 but ACME-US holds -5475.00: they differ by 50.00"
        ),
        "{}",
        preview.stdout
    );

    // A rerun of the consolidation (its entries cancelled, proposed again) and of the reviewed
    // elimination leaves the same consolidated balances, not doubled ones.
    close("bob", &["--rerun", "consolidate"]);
    review();
    close("bob", &[]);
    assert_eq!(closing(&ledger, "ACME-GROUP", "2026-03"), group);
    assert_eq!(closing(&ledger, "ACME-ELIM", "2026-03"), elimination);
}

/// Status and message of each task of the demo consolidation's board, by task.
fn board(ledger: &Ledger, config: &str) -> BTreeMap<String, (String, String)> {
    let board = ledger
        .run(&[
            "close", "status", "--config", config, "--period", "2026-03", "--format", "json",
        ])
        .success()
        .json();
    board["rows"]
        .as_array()
        .expect("board rows")
        .iter()
        .map(|row| {
            (
                text(&row["task"]),
                (
                    text(&row["status"]),
                    row["message"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_late_journal_in_a_member_makes_the_group_signoff_stale_and_a_rerun_consolidates_it() {
    // Proves a sign-off in ACME-GROUP goes stale when a member the consolidation read (ACME-DE)
    // gets a late journal in the period, that the board names the member and the entry, and
    // that the next run consolidates again so the group figures include the late journal.
    let ledger = Ledger::with_demo_journals();
    let group_setup = demo_dir().join("group-setup.toml").display().to_string();
    ledger.run(&["setup", "apply", &group_setup]).success();
    let config = pinned_consolidation(&ledger);
    let close = || {
        ledger
            .run_as("bob", &["close", "run", "--config", &config, "--period", "2026-03"])
            .success()
    };
    let review = || {
        ledger
            .run_as(
                "alice",
                &[
                    "close",
                    "signoff",
                    "--config",
                    &config,
                    "--period",
                    "2026-03",
                    "--entity",
                    "ACME-GROUP",
                    "--task",
                    "eliminate",
                    "--review",
                ],
            )
            .success()
    };
    close();
    review();
    close();
    let signed = board(&ledger, &config);
    assert_eq!(signed["eliminate"].0, "done", "{signed:?}");
    assert_eq!(signed["trial-balance-check"].0, "done", "{signed:?}");
    let group_before = closing(&ledger, "ACME-GROUP", "2026-03");

    // 1,000 EUR of cash reclassified to receivables in ACME-DE on March 30.
    let late = ledger.write(
        "late-de.csv",
        "entry,date,account,amount\nDE-LATE-1,2026-03-30,1100,1000.00\nDE-LATE-1,2026-03-30,1000,-1000.00\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-DE", "--post"])
        .success();

    let stale = board(&ledger, &config);
    assert_eq!(stale["eliminate"].0, "stale", "{stale:?}");
    assert!(
        stale["eliminate"]
            .1
            .contains("stale: task consolidate it depends on is stale (ACME-DE: entries DE-LATE-1)"),
        "{stale:?}"
    );
    assert_eq!(
        stale["consolidate"].0, "stale",
        "the step that read ACME-DE runs again: {stale:?}"
    );
    assert!(
        stale["consolidate"]
            .1
            .contains("ACME-DE: entries DE-LATE-1 posted after it ran changed what it read"),
        "{stale:?}"
    );
    assert_eq!(stale["trial-balance-check"].0, "stale", "{stale:?}");

    // The next run consolidates again and proposes the elimination for a new review.
    let rerun = close();
    assert!(rerun.stdout.contains("awaiting-review"), "{}", rerun.stdout);
    review();
    close();
    let done = board(&ledger, &config);
    assert_eq!(done["eliminate"].0, "done", "{done:?}");
    assert_eq!(done["trial-balance-check"].0, "done", "{done:?}");
    // Both sides translate at the March 31 spot rate, 1.07: 1,000 EUR = 1,070.00 USD moved
    // from cash (1000) to receivables (1100) in the group.
    let group_after = closing(&ledger, "ACME-GROUP", "2026-03");
    let moved = |account: &str| {
        Decimal::from_str(&group_after[account]).unwrap() - Decimal::from_str(&group_before[account]).unwrap()
    };
    assert_eq!(moved("1100"), Decimal::from_str("1070.00").unwrap());
    assert_eq!(moved("1000"), Decimal::from_str("-1070.00").unwrap());
}

/// The demo group's ledger with the consolidation close pinned, ready to run.
fn demo_group_ledger() -> (Ledger, String) {
    let ledger = Ledger::with_demo_journals();
    let group_setup = demo_dir().join("group-setup.toml").display().to_string();
    ledger.run(&["setup", "apply", &group_setup]).success();
    let config = pinned_consolidation(&ledger);
    (ledger, config)
}

/// Alice's sign-off of the elimination's proposal in ACME-GROUP, as run (not checked).
fn review_elimination(ledger: &Ledger, config: &str) -> closebook_tests::Run {
    ledger.run_as(
        "alice",
        &[
            "close",
            "signoff",
            "--config",
            config,
            "--period",
            "2026-03",
            "--entity",
            "ACME-GROUP",
            "--task",
            "eliminate",
            "--review",
        ],
    )
}

/// 1,000 EUR of cash reclassified to receivables in ACME-DE on March 30, posted.
fn post_late_de_journal(ledger: &Ledger) {
    let late = ledger.write(
        "late-de.csv",
        "entry,date,account,amount\nDE-LATE-1,2026-03-30,1100,1000.00\nDE-LATE-1,2026-03-30,1000,-1000.00\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-DE", "--post"])
        .success();
}

#[test]
fn a_journal_posted_to_a_member_after_the_consolidation_ran_refuses_the_group_signoff() {
    // Proves a sign-off approves what the tasks computed, not the ledger at sign-off time: a
    // late ACME-DE journal posted after the consolidation read ACME-DE, before the elimination
    // is reviewed, refuses the review by entity and entry and posts nothing; the board says why;
    // the next run consolidates again and the review then passes with the journal included.
    let (ledger, config) = demo_group_ledger();
    let close = || {
        ledger
            .run_as("bob", &["close", "run", "--config", &config, "--period", "2026-03"])
            .success()
    };
    let first = close();
    assert!(first.stdout.contains("awaiting-review"), "{}", first.stdout);
    let group_before = closing(&ledger, "ACME-GROUP", "2026-03");
    post_late_de_journal(&ledger);

    let refused = review_elimination(&ledger, &config).failure();
    assert!(
        refused.contains("task eliminate of ACME-GROUP cannot be signed off"),
        "{refused}"
    );
    assert!(refused.contains("ACME-DE: entries DE-LATE-1"), "{refused}");
    assert!(refused.contains("run the close again"), "{refused}");
    assert_eq!(ledger.entry_count("ACME-ELIM"), 0, "a refused review posts nothing");
    let stale = board(&ledger, &config);
    assert_eq!(stale["eliminate"].0, "stale", "{stale:?}");
    assert!(stale["eliminate"].1.contains("ACME-DE: entries DE-LATE-1"), "{stale:?}");
    assert_eq!(
        stale["consolidate"].0, "stale",
        "the step that read ACME-DE runs again: {stale:?}"
    );
    assert!(
        stale["consolidate"]
            .1
            .contains("ACME-DE: entries DE-LATE-1 posted after it ran changed what it read"),
        "{stale:?}"
    );
    let events = ledger
        .run(&["close", "history", "--config", &config, "--format", "json"])
        .success();
    assert!(
        !events.stdout.contains("\"reviewed\""),
        "no review recorded: {}",
        events.stdout
    );

    // The next run consolidates again and proposes the elimination anew; the review passes.
    let rerun = close();
    assert!(rerun.stdout.contains("awaiting-review"), "{}", rerun.stdout);
    review_elimination(&ledger, &config).success();
    let events = ledger
        .run(&["close", "history", "--config", &config, "--format", "json"])
        .success();
    assert!(events.stdout.contains("\"reviewed\""), "{}", events.stdout);
    close();
    let done = board(&ledger, &config);
    assert_eq!(done["eliminate"].0, "done", "{done:?}");
    assert_eq!(done["trial-balance-check"].0, "done", "{done:?}");
    assert!(ledger.entry_count("ACME-ELIM") > 0);
    // Both sides translate at the March 31 spot rate, 1.07: the reviewed group figures include
    // the late journal, 1,070.00 USD moved from cash (1000) to receivables (1100).
    let group_after = closing(&ledger, "ACME-GROUP", "2026-03");
    let moved = |account: &str| {
        Decimal::from_str(&group_after[account]).unwrap() - Decimal::from_str(&group_before[account]).unwrap()
    };
    assert_eq!(moved("1100"), Decimal::from_str("1070.00").unwrap());
    assert_eq!(moved("1000"), Decimal::from_str("-1070.00").unwrap());
}

#[test]
fn a_journal_in_an_entity_the_signoff_does_not_cover_leaves_it_alone() {
    // Proves a journal posted, between the run and the review, to an entity no task of the
    // group close reads (ACME-UK) neither refuses the review nor makes it stale afterwards.
    let (ledger, config) = demo_group_ledger();
    let uk = ledger.write(
        "uk-setup.toml",
        "[[entity]]\nid = \"ACME-UK\"\nname = \"Acme Ltd\"\ncurrency = \"USD\"\ncalendar = \"standard\"\nchart = \"GROUP\"\nretained_earnings_account = \"3900\"\ndefault_rate_type = \"spot\"\n",
    );
    ledger.run(&["setup", "apply", &uk]).success();
    let close = || {
        ledger
            .run_as("bob", &["close", "run", "--config", &config, "--period", "2026-03"])
            .success()
    };
    close();
    let journal = |key: &str| {
        let file = ledger.write(
            &format!("{key}.csv"),
            &format!("entry,date,account,amount\n{key},2026-03-30,1100,250.00\n{key},2026-03-30,1000,-250.00\n"),
        );
        ledger
            .run(&["import", "journals", &file, "--entity", "ACME-UK", "--post"])
            .success();
    };
    journal("UK-1");
    let reviewed = review_elimination(&ledger, &config).success();
    assert!(
        reviewed.stdout.contains("reviewed task eliminate"),
        "{}",
        reviewed.stdout
    );
    journal("UK-2");
    close();
    let done = board(&ledger, &config);
    assert_eq!(done["consolidate"].0, "done", "{done:?}");
    assert_eq!(done["eliminate"].0, "done", "{done:?}");
    assert_eq!(done["trial-balance-check"].0, "done", "{done:?}");
}

/// The small group over two fiscal years, with a member dimension and the rates of January 2027.
fn two_year_group_ledger() -> Ledger {
    let ledger = Ledger::new();
    let setup = SETUP.replace(r#"last_year = "FY2026""#, r#"last_year = "FY2027""#)
        + r#"
[[dimension]]
name = "company"
description = "Member entity of a consolidated balance"
values = ["P", "S"]

[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2027-01-31"
rate = "1.25"

[[rate]]
from = "EUR"
to = "USD"
type = "average"
date = "2027-01-01"
rate = "1.22"
"#;
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(&setup));
    ledger.run(&["setup", "apply", &setup]).success();
    for (entity, name, text) in [("S", "s.csv", SUBSIDIARY), ("P", "p.csv", PARENT)] {
        let file = ledger.write(name, text);
        ledger
            .run(&["import", "journals", &file, "--entity", entity, "--post"])
            .success();
    }
    ledger
}

/// Runs the consolidation for G with read access to P and S and `config`; `extra` adds `--post`.
fn consolidate_with(ledger: &Ledger, period: &str, config: &str, extra: &[&str]) -> closebook_tests::Run {
    let wasm = plugin_wasm("consolidation").display().to_string();
    let mut arguments = vec![
        "plugin", "run", &wasm, "--entity", "G", "--period", period, "--config", config, "--allow", "P", "--allow", "S",
    ];
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

#[test]
fn the_second_year_takes_a_foreign_members_opening_retained_earnings_from_the_group_ledger() {
    // Proves, on figures worked out by hand, that a second-year consolidation reads S's opening
    // retained earnings from what G carries into FY2027 for company S (FY2026's translated
    // retained earnings and profit, closed by G's year-end), with no figure in the
    // configuration; and that a configured figure still overrides it.
    let ledger = two_year_group_ledger();
    let first_year = r#"{"members":[{"entity":"P","ownership_percent":"100"},{"entity":"S","ownership_percent":"60","opening_retained_earnings":"-4200.00"}],"cta_account":"3800","account_map":{"6010":"6000"},"member_dimension":"company"}"#;
    consolidate_with(&ledger, "2026-02", first_year, &["--post"]).success();
    // FY2026 as the first test works it out: S's retained earnings -2,520.00, sales -3,390.00,
    // staff costs 1,020.00, CTA -1,230.00.
    assert_eq!(
        closing(&ledger, "G", "2026-02"),
        expected(&[
            ("1000", "29440.00"),
            ("2000", "-720.00"),
            ("3000", "-23600.00"),
            ("3800", "-1230.00"),
            ("3900", "-2520.00"),
            ("4000", "-3390.00"),
            ("6000", "2020.00"),
        ])
    );
    let year_end = plugin_wasm("year_end").display().to_string();
    for entity in ["P", "S", "G"] {
        ledger
            .run(&[
                "plugin",
                "run",
                &year_end,
                "--entity",
                entity,
                "--period",
                "2026-12",
                "--config",
                "{}",
                "--year-end",
                "--post",
            ])
            .success();
    }
    // G carries S's retained earnings into FY2027: -2,520.00 - 3,390.00 + 1,020.00 = -4,890.00
    // (already at 60 %); P's are its expenses, 1,000.00.
    assert_eq!(closing(&ledger, "G", "FY2027-opening")["3900"], "-3890.00");

    // S sells 1,000 EUR for cash in January 2027.
    let january = ledger.write(
        "s-2027.csv",
        "entry,date,account,amount\nS-2027-1,2027-01-10,1000,1000.00\nS-2027-1,2027-01-10,4000,-1000.00\n",
    );
    ledger
        .run(&["import", "journals", &january, "--entity", "S", "--post"])
        .success();
    let second_year = r#"{"members":[{"entity":"P","ownership_percent":"100"},{"entity":"S","ownership_percent":"60"}],"cta_account":"3800","account_map":{"6010":"6000"},"member_dimension":"company"}"#;
    let run = consolidate_with(&ledger, "2027-01", second_year, &["--post"]).success();
    // S at 60 %: cash 15,500 EUR × 1.25 (current) × 0.6 = 11,625.00; payables -1,000 × 1.25 ×
    // 0.6 = -750.00; share capital -6,000 × 1.00 × 0.6 = -3,600.00; retained earnings as G
    // carries them, -4,890.00; sales -1,000 × 1.22 (January average) × 0.6 = -732.00. They sum
    // to 1,653.00: the CTA is -1,653.00. P adds cash 19,000.00, share capital -20,000.00 and
    // retained earnings 1,000.00.
    assert!(
        run.stdout.contains("translation difference -1653.00 to 3800"),
        "{}",
        run.stdout
    );
    assert_eq!(
        closing(&ledger, "G", "2027-01"),
        expected(&[
            ("1000", "30625.00"),
            ("2000", "-750.00"),
            ("3000", "-23600.00"),
            ("3800", "-1653.00"),
            ("3900", "-3890.00"),
            ("4000", "-732.00"),
        ])
    );

    // The configured figure overrides the group's: -8,000.00 × 0.6 = -4,800.00 instead of
    // -4,890.00, so the CTA is -1,743.00 (a preview, nothing posted).
    let overridden = second_year.replace(
        r#"{"entity":"S","ownership_percent":"60"}"#,
        r#"{"entity":"S","ownership_percent":"60","opening_retained_earnings":"-8000.00"}"#,
    );
    let preview = consolidate_with(&ledger, "2027-01", &overridden, &[]).success();
    assert!(
        preview.stdout.contains("translation difference -1743.00 to 3800"),
        "{}",
        preview.stdout
    );
}
