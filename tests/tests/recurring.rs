//! Recurring journals (issue 20, DOMAIN.md section 15), through the real binary on the demo
//! organization: templates in setup, posted by the close step `builtin:recurring-journals`.
//!
//! Worked figures: rent accrues 4,500.00 a month (6100 department 100 against 2100).
//! Depreciation is quarterly, 0.5 % of the closing balance of 1500 Equipment, which is the
//! opening 180,000.00 in ACME-US: 900.00 at the end of March (6300 department 300 against 1590).
//! In April rent is 4,800.00 after the template changed; depreciation is not due.

use closebook_tests::Ledger;
use serde_json::Value;

const TEMPLATES: &str = r#"
[[recurring_journal]]
id = "rent"
entity = "ACME-US"
description = "Office rent accrual"
schedule = "monthly"
lines = [
  { account = "6100", amount = "RENT", dimensions = { department = "100" } },
  { account = "2100", balance = true },
]

[[recurring_journal]]
id = "depreciation"
entity = "ACME-US"
description = "Depreciation of equipment"
schedule = "quarterly"
lines = [
  { account = "6300", percent_of = "1500", percent = "0.5", dimensions = { department = "300" } },
  { account = "1590", balance = true },
]
"#;

fn close_config(ledger: &Ledger, name: &str, config: &str) -> String {
    ledger.write(
        &format!("{name}.toml"),
        &format!(
            "[close]\nname = \"{name}\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"recurring\"\nname = \"Recurring journals\"\nowner = \"bob\"\nstep = \"builtin:recurring-journals\"\n{config}"
        ),
    )
}

/// The posted entry `key` of ACME-US in `period`, as `journal list` shows it.
fn entry(ledger: &Ledger, period: &str, key: &str) -> Option<Value> {
    let entries = ledger
        .run(&[
            "journal", "list", "--entity", "ACME-US", "--period", period, "--format", "json",
        ])
        .success()
        .json();
    entries
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["key"] == key)
        .cloned()
}

fn amounts(entry: &Value) -> Vec<(String, String)> {
    entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["account"].as_str().unwrap().to_owned(),
                line["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn recurring_journals_post_once_per_period_and_a_changed_template_applies_from_the_next() {
    let ledger = Ledger::with_demo_journals();
    let templates = ledger.write("recurring.toml", &TEMPLATES.replace("RENT", "4500.00"));
    ledger.run(&["setup", "apply", &templates]).success();

    let march = close_config(&ledger, "recurring", "");
    let run = ledger
        .run(&["close", "run", "--config", &march, "--period", "2026-03"])
        .success();
    assert!(run.stdout.contains("2 recurring journals posted"), "{}", run.stdout);
    let rent = entry(&ledger, "2026-03", "REC-rent-2026-03").expect("the rent entry posted");
    assert_eq!(rent["date"], "2026-03-31");
    assert_eq!(
        amounts(&rent),
        [("6100".into(), "4500.00".into()), ("2100".into(), "-4500.00".into())]
    );
    let depreciation = entry(&ledger, "2026-03", "REC-depreciation-2026-03").expect("the depreciation posted");
    assert_eq!(
        amounts(&depreciation),
        [("6300".into(), "900.00".into()), ("1590".into(), "-900.00".into())]
    );

    // Generating again for March (another close with the same step) posts nothing twice.
    let entries = ledger.entry_count("ACME-US");
    let again = close_config(&ledger, "recurring-again", "");
    let run = ledger
        .run(&["close", "run", "--config", &again, "--period", "2026-03"])
        .success();
    assert!(
        run.stdout
            .contains("0 recurring journals posted, 2 already there for 2026-03"),
        "{}",
        run.stdout
    );
    assert_eq!(ledger.entry_count("ACME-US"), entries);

    // The rent changes: March keeps 4,500.00, April posts 4,800.00; depreciation is not due.
    let changed = ledger.write("recurring-2.toml", &TEMPLATES.replace("RENT", "4800.00"));
    ledger.run(&["setup", "apply", &changed]).success();
    // Who changed the template, and to what, is in the audit trail.
    let details =
        ledger.query_text("SELECT details FROM audit_log WHERE action = 'setup.apply' ORDER BY id DESC LIMIT 1");
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        details["controls"]["recurring_journal"][0]["lines"][0]["amount"], "4800.00",
        "{details}"
    );
    let run = ledger
        .run(&["close", "run", "--config", &march, "--period", "2026-04"])
        .success();
    assert!(
        run.stdout.contains("1 recurring journals posted, 1 not due in 2026-04"),
        "{}",
        run.stdout
    );
    let april = entry(&ledger, "2026-04", "REC-rent-2026-04").expect("April's rent posted");
    assert_eq!(amounts(&april)[0].1, "4800.00");
    let march_rent = entry(&ledger, "2026-03", "REC-rent-2026-03").unwrap();
    assert_eq!(amounts(&march_rent)[0].1, "4500.00");
    assert!(entry(&ledger, "2026-04", "REC-depreciation-2026-04").is_none());
    let verified = ledger.run(&["verify"]).success().stdout;
    assert!(verified.contains("hash chain intact"), "{verified}");
}

#[test]
fn a_recurring_entry_that_needs_approval_is_never_approved_by_its_templates_author() {
    // ACME-US ledger journals above 1,000.00 need approval: March's rent (4,500.00) waits as a
    // draft, depreciation (900.00) posts. alice applied the templates, so she may not approve
    // the rent either; dave, a second controller, does.
    let ledger = Ledger::with_demo_journals();
    let setup = format!(
        "{}\n[[journal_approval]]\nentity = \"ACME-US\"\nmodule = \"ledger\"\nabove = \"1000.00\"\n\n[[user]]\nid = \"dave\"\n\n[[grant]]\nrole = \"controller\"\nuser = \"dave\"\n",
        TEMPLATES.replace("RENT", "4500.00")
    );
    ledger
        .run(&["setup", "apply", &ledger.write("controls.toml", &setup)])
        .success();
    let close = close_config(&ledger, "recurring", "");
    let run = ledger
        .run_as("bob", &["close", "run", "--config", &close, "--period", "2026-03"])
        .success();
    assert!(
        run.stdout.contains("1 recurring journals posted")
            && run
                .stdout
                .contains("1 need approval and wait as drafts: REC-rent-2026-03"),
        "{}",
        run.stdout
    );
    ledger
        .run_as("bob", &["journal", "submit", "--entity", "ACME-US", "REC-rent-2026-03"])
        .success();
    let message = ledger
        .run_as(
            "alice",
            &["journal", "approve", "--entity", "ACME-US", "REC-rent-2026-03"],
        )
        .failure();
    assert!(
        message.contains(
            "alice applied recurring journal template rent, which generated draft REC-rent-2026-03 of entity ACME-US: another user with journal.approve must approve it"
        ),
        "{message}"
    );
    ledger
        .run_as(
            "dave",
            &["journal", "approve", "--entity", "ACME-US", "REC-rent-2026-03"],
        )
        .success();
    let posted = ledger
        .run_as("bob", &["journal", "post", "--entity", "ACME-US", "REC-rent-2026-03"])
        .success();
    assert!(
        posted.stdout.contains("posted 1 entries (2 lines)"),
        "{}",
        posted.stdout
    );
    assert!(entry(&ledger, "2026-03", "REC-rent-2026-03").is_some());
}

#[test]
fn a_template_that_cannot_post_is_refused_by_setup_and_an_unknown_one_by_the_step() {
    let ledger = Ledger::with_demo_setup();
    let unbalanced = ledger.write(
        "unbalanced.toml",
        "[[recurring_journal]]\nid = \"rent\"\nentity = \"ACME-US\"\ndescription = \"Rent\"\nschedule = \"monthly\"\nlines = [\n  { account = \"6100\", amount = \"4500.00\" },\n  { account = \"2100\", amount = \"-4499.99\" },\n]\n",
    );
    let message = ledger.run(&["setup", "apply", &unbalanced]).failure();
    assert!(
        message.contains("recurring journal rent: its fixed amounts sum to 0.01, not zero"),
        "{message}"
    );
    let weekly = ledger.write(
        "weekly.toml",
        "[[recurring_journal]]\nid = \"rent\"\nentity = \"ACME-US\"\ndescription = \"Rent\"\nschedule = \"weekly\"\nlines = [\n  { account = \"6100\", amount = \"1.00\" },\n  { account = \"2100\", balance = true },\n]\n",
    );
    let message = ledger.run(&["setup", "apply", &weekly]).failure();
    assert!(
        message.contains("schedule `weekly` is not monthly, quarterly or yearly"),
        "{message}"
    );
    let unknown_account = ledger.write(
        "account.toml",
        "[[recurring_journal]]\nid = \"rent\"\nentity = \"ACME-US\"\ndescription = \"Rent\"\nschedule = \"monthly\"\nlines = [\n  { account = \"9999\", amount = \"1.00\" },\n  { account = \"2100\", balance = true },\n]\n",
    );
    let message = ledger.run(&["setup", "apply", &unknown_account]).failure();
    assert!(message.contains("account 9999 is not in chart GROUP"), "{message}");
    let count = |sql: &str| ledger.query_i64(sql);
    assert_eq!(
        count("SELECT count(*) FROM recurring_journals"),
        0,
        "nothing was written"
    );

    let close = close_config(&ledger, "named", "config = { templates = [\"nope\"] }\n");
    let run = ledger.run(&["close", "run", "--config", &close, "--period", "2026-01"]);
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(
        shown.contains("entity ACME-US has no recurring journal nope"),
        "{shown}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), 0);
}
