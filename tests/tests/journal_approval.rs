//! Journal approval, maker-checker (issue 20), through the real binary on the demo
//! organization. Its setup gains one rule: ACME-US ledger journals above 10,000.00 need a second
//! person's approval. bob (accountant) prepares; alice (controller, journal.approve) approves.
//!
//! Worked figures: BIG debits 1000 Cash 12,000.00 against 4000 Revenue, 12,000.00 > 10,000.00, so
//! it needs approval; SMALL debits 500.00 and posts at once; EXACT debits exactly 10,000.00, not
//! above the threshold, and posts at once; RECV debits 20,000.00 but is a receivables journal,
//! which the rule does not cover.

use closebook_tests::Ledger;

const APPROVAL_SETUP: &str = r#"
[[journal_approval]]
entity = "ACME-US"
module = "ledger"
above = "10000.00"
"#;

/// A two-line ACME-US journal entry in March 2026: cash against revenue of department 100.
fn entry(key: &str, amount: &str) -> String {
    format!("{key},2026-03-10,1000,{amount},\n{key},2026-03-10,4000,-{amount},100\n")
}

fn journal(entries: &[(&str, &str)]) -> String {
    let mut text = "entry,date,account,amount,dim.department\n".to_owned();
    for (key, amount) in entries {
        text.push_str(&entry(key, amount));
    }
    text
}

/// Every table but the audit trail, as text: unchanged means nothing was written.
fn snapshot(ledger: &Ledger) -> Vec<String> {
    let tables = if closebook_tests::on_postgres() {
        "SELECT table_name FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'audit_log'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'audit_log'"
    };
    let mut tables: Vec<String> = ledger
        .query_rows(tables)
        .into_iter()
        .map(|row| row[0].clone().expect("a table has a name"))
        .collect();
    tables.sort();
    tables
        .into_iter()
        .map(|table| {
            let count = ledger.query_i64(&format!("SELECT count(*) FROM \"{table}\""));
            format!("{table}: {count}")
        })
        .collect()
}

fn approval_history(ledger: &Ledger, key: &str) -> Vec<String> {
    ledger
        .query_rows(&format!(
            "SELECT action, user_id, note FROM draft_approvals WHERE entry_key = '{key}' ORDER BY id"
        ))
        .into_iter()
        .map(|row| {
            let [action, user, note] = [0, 1, 2].map(|column| row[column].clone().expect("not NULL"));
            let note = if note.is_empty() { note } else { format!(": {note}") };
            format!("{action} by {user}{note}")
        })
        .collect()
}

fn audit_actions(ledger: &Ledger) -> Vec<String> {
    ledger
        .query_rows("SELECT action FROM audit_log WHERE action LIKE 'journal.%' ORDER BY id")
        .into_iter()
        .map(|row| row[0].clone().expect("an action"))
        .collect()
}

/// Runs a command that must fail, checks that it wrote nothing, and returns its stderr.
fn refused(ledger: &Ledger, user: &str, arguments: &[&str]) -> String {
    let before = snapshot(ledger);
    let message = ledger.run_as(user, arguments).failure();
    assert_eq!(snapshot(ledger), before, "a refusal wrote something: {message}");
    message
}

#[test]
fn a_journal_above_the_threshold_posts_only_once_another_user_approved_it() {
    let ledger = Ledger::with_demo_setup();
    let rules = ledger.write("approval.toml", APPROVAL_SETUP);
    // bob may not set the rule (it needs setup.apply and users.admin).
    let message = refused(&ledger, "bob", &["setup", "apply", &rules]);
    assert!(message.contains("bob may not apply a setup file"), "{message}");
    ledger.run(&["setup", "apply", &rules]).success();

    // bob imports and posts: what needs no approval posts, BIG waits as a draft.
    let file = ledger.write(
        "march.csv",
        &journal(&[("BIG", "12000.00"), ("SMALL", "500.00"), ("EXACT", "10000.00")]),
    );
    let imported = ledger
        .run_as("bob", &["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
    assert!(imported.stdout.contains("2 posted"), "{}", imported.stdout);
    assert!(
        imported
            .stdout
            .contains("1 entries need approval and were kept as drafts: BIG"),
        "{}",
        imported.stdout
    );
    assert_eq!(ledger.entry_count("ACME-US"), 2);
    assert_eq!(ledger.draft_count("ACME-US"), 1);

    // A receivables journal is not covered by the ledger rule.
    let receivables = ledger.write("receivables.csv", &journal(&[("RECV", "20000.00")]));
    ledger
        .run_as(
            "bob",
            &[
                "import",
                "journals",
                &receivables,
                "--entity",
                "ACME-US",
                "--module",
                "receivables",
                "--post",
            ],
        )
        .success();
    assert_eq!(ledger.entry_count("ACME-US"), 3);

    // Named to post before approval: refused, naming why it needs one.
    let message = refused(&ledger, "bob", &["journal", "post", "--entity", "ACME-US", "BIG"]);
    assert!(
        message.contains(
            "draft BIG is not submitted (ledger journals above 10000.00 need approval; its debits are 12000.00)"
        ),
        "{message}"
    );
    // Only a submitted draft is approved; bob may not approve at all.
    let message = refused(&ledger, "alice", &["journal", "approve", "--entity", "ACME-US", "BIG"]);
    assert!(
        message.contains("only a submitted draft is approved or rejected"),
        "{message}"
    );
    let message = refused(&ledger, "bob", &["journal", "approve", "--entity", "ACME-US", "BIG"]);
    assert!(message.contains("needs journal.approve"), "{message}");
    // A draft that needs no approval is not submitted.
    let small = ledger.write("small.csv", &journal(&[("SMALL-2", "10.00")]));
    ledger
        .run_as("bob", &["import", "journals", &small, "--entity", "ACME-US"])
        .success();
    let message = refused(&ledger, "bob", &["journal", "submit", "--entity", "ACME-US", "SMALL-2"]);
    assert!(message.contains("needs no approval: post it with"), "{message}");

    ledger
        .run_as("bob", &["journal", "submit", "--entity", "ACME-US", "BIG"])
        .success();
    let message = refused(&ledger, "bob", &["journal", "submit", "--entity", "ACME-US", "BIG"]);
    assert!(
        message.contains("submitted by bob, waiting for approval already"),
        "{message}"
    );

    // alice rejects with a reason (none given: refused); the draft stays, and does not post.
    let message = refused(
        &ledger,
        "alice",
        &["journal", "reject", "--entity", "ACME-US", "BIG", "--reason", " "],
    );
    assert!(message.contains("needs a reason"), "{message}");
    ledger
        .run_as(
            "alice",
            &[
                "journal",
                "reject",
                "--entity",
                "ACME-US",
                "BIG",
                "--reason",
                "attach the invoice",
            ],
        )
        .success();
    let drafts = ledger
        .run(&["journal", "list", "--entity", "ACME-US", "--drafts", "--format", "json"])
        .success()
        .json();
    let big = drafts
        .as_array()
        .unwrap()
        .iter()
        .find(|draft| draft["entry"] == "BIG")
        .unwrap()
        .clone();
    // The demo's users are declared (`trust_declared_users`), and the state says so.
    assert_eq!(
        big["approval"],
        "rejected by alice: attach the invoice (identity declared, unverified)"
    );
    assert_eq!(big["prepared_by"], "bob");
    // What the approver approves: the debits the threshold compares, and every line.
    assert_eq!(big["debits"], "12000.00");
    assert_eq!(big["lines"].as_array().map(Vec::len), Some(2), "{big}");
    assert_eq!(big["lines"][0]["account"], "1000");
    let message = refused(&ledger, "bob", &["journal", "post", "--entity", "ACME-US", "BIG"]);
    assert!(
        message.contains("draft BIG is rejected by alice: attach the invoice"),
        "{message}"
    );

    // Submitted again and approved, it posts; posting every draft posts SMALL-2 with it.
    ledger
        .run_as("bob", &["journal", "submit", "--entity", "ACME-US", "BIG"])
        .success();
    ledger
        .run_as(
            "alice",
            &[
                "journal",
                "approve",
                "--entity",
                "ACME-US",
                "BIG",
                "--note",
                "invoice seen",
            ],
        )
        .success();
    let posted = ledger
        .run_as("bob", &["journal", "post", "--entity", "ACME-US"])
        .success();
    assert!(posted.stdout.contains("posted 2 entries"), "{}", posted.stdout);
    assert_eq!(ledger.entry_count("ACME-US"), 5);
    assert_eq!(ledger.draft_count("ACME-US"), 0);
    assert_eq!(
        approval_history(&ledger, "BIG"),
        [
            "submitted by bob",
            "rejected by alice: attach the invoice",
            "submitted by bob",
            "approved by alice: invoice seen"
        ]
    );
    let actions = audit_actions(&ledger);
    for action in ["journal.submit", "journal.reject", "journal.approve", "journal.post"] {
        assert!(
            actions.iter().any(|found| found == action),
            "no {action} in {actions:?}"
        );
    }
    // A draft can be discarded with a reason (none: refused); its content stays in the audit
    // trail, and the key may be imported again, corrected.
    let oops = ledger.write("oops.csv", &journal(&[("OOPS", "70000.00")]));
    ledger
        .run_as("bob", &["import", "journals", &oops, "--entity", "ACME-US"])
        .success();
    let message = refused(
        &ledger,
        "bob",
        &["journal", "discard", "--entity", "ACME-US", "OOPS", "--reason", ""],
    );
    assert!(message.contains("discarding draft OOPS needs a reason"), "{message}");
    ledger
        .run_as(
            "bob",
            &[
                "journal",
                "discard",
                "--entity",
                "ACME-US",
                "OOPS",
                "--reason",
                "wrong entity",
            ],
        )
        .success();
    assert_eq!(ledger.draft_count("ACME-US"), 0);
    assert_eq!(approval_history(&ledger, "OOPS"), ["discarded by bob: wrong entity"]);
    assert!(audit_actions(&ledger).iter().any(|action| action == "journal.discard"));
    let corrected = ledger.write("oops-2.csv", &journal(&[("OOPS", "7000.00")]));
    ledger
        .run_as(
            "bob",
            &["import", "journals", &corrected, "--entity", "ACME-US", "--post"],
        )
        .success();
    assert_eq!(ledger.entry_count("ACME-US"), 6);
    let verified = ledger.run(&["verify"]).success().stdout;
    assert!(verified.contains("hash chain intact"), "{verified}");
}

#[test]
fn the_approver_is_never_the_preparer_and_a_waiting_draft_does_not_block_the_others() {
    let ledger = Ledger::with_demo_setup();
    ledger
        .run(&["setup", "apply", &ledger.write("approval.toml", APPROVAL_SETUP)])
        .success();
    // alice prepares a large journal herself (she also holds journal.approve).
    let file = ledger.write("alice.csv", &journal(&[("ALICE-BIG", "15000.00")]));
    ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US"])
        .success();
    ledger
        .run(&["journal", "submit", "--entity", "ACME-US", "ALICE-BIG"])
        .success();
    let message = refused(
        &ledger,
        "alice",
        &["journal", "approve", "--entity", "ACME-US", "ALICE-BIG"],
    );
    assert!(
        message.contains(
            "alice imported draft ALICE-BIG of entity ACME-US (imported by alice, submitted by alice): another user with journal.approve must approve it"
        ),
        "{message}"
    );
    let message = refused(
        &ledger,
        "alice",
        &[
            "journal",
            "reject",
            "--entity",
            "ACME-US",
            "ALICE-BIG",
            "--reason",
            "mine",
        ],
    );
    assert!(message.contains("must reject it"), "{message}");
    // Posting every draft leaves the waiting one and says so; an unknown key is refused.
    let other = ledger.write("other.csv", &journal(&[("OTHER", "100.00")]));
    ledger
        .run_as("bob", &["import", "journals", &other, "--entity", "ACME-US"])
        .success();
    let posted = ledger
        .run_as("bob", &["journal", "post", "--entity", "ACME-US"])
        .success();
    assert!(
        posted.stdout.contains("posted 1 entries")
            && posted
                .stdout
                .contains("1 entries need approval and were kept as drafts: ALICE-BIG"),
        "{}",
        posted.stdout
    );
    let message = refused(&ledger, "alice", &["journal", "submit", "--entity", "ACME-US", "NOPE"]);
    assert!(message.contains("entity ACME-US has no draft entry NOPE"), "{message}");
    // Neither the importer nor the submitter approves, each on their own: dave (a second
    // controller) submits bob's SPLIT-1 and imports SPLIT-2, which bob submits.
    ledger
        .run(&[
            "setup",
            "apply",
            &ledger.write(
                "dave.toml",
                "[[user]]\nid = \"dave\"\n\n[[grant]]\nrole = \"controller\"\nuser = \"dave\"\n",
            ),
        ])
        .success();
    let split = ledger.write(
        "split.csv",
        &journal(&[("SPLIT-1", "20000.00"), ("SPLIT-2", "30000.00")]),
    );
    let first = ledger.write("split-1.csv", &journal(&[("SPLIT-1", "20000.00")]));
    let second = ledger.write("split-2.csv", &journal(&[("SPLIT-2", "30000.00")]));
    ledger
        .run_as("bob", &["import", "journals", &first, "--entity", "ACME-US"])
        .success();
    ledger
        .run_as("dave", &["import", "journals", &second, "--entity", "ACME-US"])
        .success();
    ledger
        .run_as("dave", &["journal", "submit", "--entity", "ACME-US", "SPLIT-1"])
        .success();
    ledger
        .run_as("bob", &["journal", "submit", "--entity", "ACME-US", "SPLIT-2"])
        .success();
    let message = refused(
        &ledger,
        "dave",
        &["journal", "approve", "--entity", "ACME-US", "SPLIT-1"],
    );
    assert!(
        message.contains("dave submitted draft SPLIT-1 of entity ACME-US (imported by bob, submitted by dave)"),
        "{message}"
    );
    let message = refused(
        &ledger,
        "dave",
        &["journal", "approve", "--entity", "ACME-US", "SPLIT-2"],
    );
    assert!(
        message.contains("dave imported draft SPLIT-2 of entity ACME-US (imported by dave, submitted by bob)"),
        "{message}"
    );
    // A key named twice is one approval.
    ledger
        .run(&[
            "journal", "approve", "--entity", "ACME-US", "SPLIT-1", "SPLIT-2", "SPLIT-1",
        ])
        .success();
    assert_eq!(
        approval_history(&ledger, "SPLIT-1"),
        ["submitted by dave", "approved by alice"]
    );
    // Importing the same file again with --post posts the approved drafts, as a posting import
    // posts the drafts it repeats.
    let entries = ledger.entry_count("ACME-US");
    let posted = ledger
        .run_as("bob", &["import", "journals", &split, "--entity", "ACME-US", "--post"])
        .success();
    assert!(posted.stdout.contains("2 posted"), "{}", posted.stdout);
    assert_eq!(ledger.entry_count("ACME-US"), entries + 2);
    let identity =
        ledger.query_text("SELECT identity FROM draft_approvals WHERE entry_key = 'SPLIT-1' AND action = 'approved'");
    assert_eq!(identity, "declared", "how alice's identity was proven is kept");

    // A rule naming an unknown module or a negative amount is refused by setup.
    let bad = ledger.write(
        "bad.toml",
        "[[journal_approval]]\nentity = \"ACME-US\"\nmodule = \"treasury\"\n",
    );
    let message = refused(&ledger, "alice", &["setup", "apply", &bad]);
    assert!(
        message.contains("module `treasury` is not one of ledger, receivables"),
        "{message}"
    );
    let bad = ledger.write(
        "bad2.toml",
        "[[journal_approval]]\nentity = \"ACME-US\"\nabove = \"-5\"\n",
    );
    let message = refused(&ledger, "alice", &["setup", "apply", &bad]);
    assert!(message.contains("is not an amount of zero or more"), "{message}");
}
