//! Flux (variance) analysis (issue 20, DOMAIN.md section 14), through the real binary with the
//! standard `flux` plugin on the demo organization.
//!
//! Worked figures (DOMAIN.md §14): rent 6100 is 4,500.00 in January and 6,000.00 in February:
//! a change of 1,500.00, 33.3 %. With thresholds 1,000.00 and 10 % (and) it is flagged; the
//! preparer explains it ("storage rent from February"), the reviewer signs the analysis off
//! with the explanation. Utilities 6200 move from 300.00 to 320.00 (20.00, 6.7 %): not
//! flagged. A late journal of 500.00 storage rent in February makes rent 6,500.00: the task is
//! stale, and its rerun reopens the finding, which needs explaining again.

use closebook_tests::{Ledger, plugin_wasm};
use serde_json::Value;
use sha2::{Digest, Sha256};

const JOURNALS: &str = "entry,date,account,amount,description,dim.department
RENT-01,2026-01-28,6100,4500.00,January rent,300
RENT-01,2026-01-28,1000,-4500.00,January rent,
UTIL-01,2026-01-29,6200,300.00,January utilities,300
UTIL-01,2026-01-29,1000,-300.00,January utilities,
RENT-02,2026-02-26,6100,6000.00,February rent,300
RENT-02,2026-02-26,1000,-6000.00,February rent,
UTIL-02,2026-02-27,6200,320.00,February utilities,300
UTIL-02,2026-02-27,1000,-320.00,February utilities,
";

const LATE: &str = "entry,date,account,amount,description,dim.department
LATE-01,2026-02-27,6100,500.00,Storage rent for February,300
LATE-01,2026-02-27,1000,-500.00,Storage rent for February,
";

/// A close for ACME-US with one flux task owned by bob and reviewed by alice; `review` as given.
fn close_toml(ledger: &Ledger, review: bool) -> String {
    close_toml_with(ledger, review, "reviewer = \"alice\"")
}

/// The close of [`close_toml`] with `reviewer` as its reviewer line (empty for none).
fn close_toml_with(ledger: &Ledger, review: bool, reviewer: &str) -> String {
    let wasm = plugin_wasm("flux");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    ledger.write(
        "flux.toml",
        &format!(
            r#"[close]
name = "flux-review"
entities = ["ACME-US"]
[plugins]
flux = {{ path = "{}", sha256 = "{hash}" }}
[[task]]
id = "flux"
name = "Explain expense variances"
owner = "bob"
{reviewer}
step = "plugin:flux"
review = {review}
config = {{ amount = "1000.00", percent = "10", combine = "and", account_range = ["6000", "6999"] }}
"#,
            wasm.display()
        ),
    )
}

fn ledger() -> Ledger {
    let ledger = Ledger::with_demo_setup();
    ledger
        .run(&[
            "import",
            "journals",
            &ledger.write("journals.csv", JOURNALS),
            "--entity",
            "ACME-US",
            "--post",
        ])
        .success();
    ledger
}

/// `closebook close <command> --config F --period 2026-02 [--entity ACME-US --task flux] <rest>`.
fn close(ledger: &Ledger, user: &str, config: &str, command: &str, rest: &[&str]) -> closebook_tests::Run {
    let mut arguments = vec!["close", command, "--config", config, "--period", "2026-02"];
    if command != "run" {
        arguments.extend(["--entity", "ACME-US", "--task", "flux"]);
    }
    arguments.extend(rest);
    ledger.run_as(user, &arguments)
}

fn show(ledger: &Ledger, config: &str) -> Value {
    close(ledger, "carol", config, "show", &["--format", "json"])
        .success()
        .json()
}

fn count(ledger: &Ledger, table: &str) -> i64 {
    ledger.query_i64(&format!("SELECT COUNT(*) FROM {table}"))
}

/// What refusals must leave alone: explanations, and the task's history.
fn written(ledger: &Ledger) -> (i64, i64) {
    (
        count(ledger, "close_finding_explanations"),
        count(ledger, "close_events"),
    )
}

#[test]
fn the_domain_rent_variance_is_explained_reviewed_and_reopened_by_a_late_journal() {
    let ledger = ledger();
    let config = close_toml(&ledger, true);
    let run = close(&ledger, "bob", &config, "run", &[]).success();
    assert!(
        run.stdout
            .contains("1 finding needs an explanation: 6100 (movement vs prior period)"),
        "{}",
        run.stdout
    );

    let view = show(&ledger, &config);
    assert_eq!(view["status"], "awaiting-review");
    let findings = view["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "6200 moved 6.7 %, below 10 %: {findings:?}");
    let rent = &findings[0];
    assert_eq!(rent["account"], "6100");
    assert_eq!(rent["measure"], "movement vs prior period");
    assert_eq!(
        (rent["current"].as_str(), rent["baseline"].as_str()),
        (Some("6000.00"), Some("4500.00"))
    );
    assert_eq!(rent["threshold"], "|change| >= 1000.00 and >= 10 %");
    assert_eq!(rent["status"], "unexplained");
    assert!(
        rent["message"].as_str().unwrap().contains("+1500.00 (+33.3 %)"),
        "{rent}"
    );
    let table = close(&ledger, "carol", &config, "show", &[]).success().stdout;
    assert!(
        table.contains("6,000.00  4,500.00  1,500.00") && table.contains("1 finding\n"),
        "{table}"
    );

    // Refusals, each naming the fix, each writing nothing.
    let before = written(&ledger);
    let refused = close(&ledger, "alice", &config, "signoff", &["--review"]).failure();
    assert!(
        refused.contains("1 finding needs an explanation from its preparer: 6100 (movement vs prior period)")
            && refused.contains("closebook close explain --task flux --entity ACME-US --account ACCOUNT"),
        "{refused}"
    );
    let refused = close(
        &ledger,
        "alice",
        &config,
        "explain",
        &["--account", "6100", "--text", "fine"],
    )
    .failure();
    assert!(refused.contains("alice reviews task flux"), "{refused}");
    let refused = close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6200", "--text", "fine"],
    )
    .failure();
    assert!(
        refused.contains(
            "found no variance on account 6200 in its last run; its findings are: 6100 (movement vs prior period)"
        ),
        "{refused}"
    );
    let refused = close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6100", "--text", "  "],
    )
    .failure();
    assert!(refused.contains("the explanation is empty"), "{refused}");
    let refused = close(
        &ledger,
        "carol",
        &config,
        "explain",
        &["--account", "6100", "--text", "fine"],
    )
    .failure();
    assert!(refused.contains("close.prepare"), "{refused}");
    assert_eq!(written(&ledger), before, "a refusal wrote something");

    close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6100", "--text", "storage rent from February"],
    )
    .success();
    let refused = close(&ledger, "bob", &config, "signoff", &["--review"]).failure();
    assert!(refused.contains("bob explained findings of task flux"), "{refused}");
    close(
        &ledger,
        "alice",
        &config,
        "signoff",
        &["--review", "--note", "agrees with the lease"],
    )
    .success();
    let view = show(&ledger, &config);
    assert_eq!(view["status"], "done");
    assert_eq!(view["reviewed_by"], "alice");
    let rent = &view["findings"][0];
    assert_eq!(rent["status"], "explained");
    assert_eq!(rent["explanation"]["text"], "storage rent from February");
    assert_eq!(rent["explanation"]["explained_by"], "bob");
    let events: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"explained"), "{events:?}");

    // A late journal changes the flagged balance: the analysis is stale, its explanation no
    // longer fits the figure, and the rerun reopens the finding.
    ledger
        .run(&[
            "import",
            "journals",
            &ledger.write("late.csv", LATE),
            "--entity",
            "ACME-US",
            "--post",
        ])
        .success();
    assert_eq!(show(&ledger, &config)["status"], "stale");
    let before = written(&ledger);
    let refused = close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6100", "--text", "more rent"],
    )
    .failure();
    assert!(
        refused.contains("is stale") && refused.contains("run the close again"),
        "{refused}"
    );
    assert_eq!(written(&ledger).0, before.0);
    close(&ledger, "bob", &config, "run", &[]).success();
    let view = show(&ledger, &config);
    let rent = &view["findings"][0];
    assert_eq!(rent["status"], "reopened");
    assert_eq!(
        (rent["current"].as_str(), rent["baseline"].as_str()),
        (Some("6500.00"), Some("4500.00"))
    );
    assert_eq!(rent["earlier"]["text"], "storage rent from February");
    assert_eq!(rent["earlier"]["current"], "6000.00");
    let refused = close(&ledger, "alice", &config, "signoff", &["--review"]).failure();
    assert!(
        refused.contains("(reopened: the figure changed since it was explained)"),
        "{refused}"
    );
    close(
        &ledger,
        "bob",
        &config,
        "explain",
        &[
            "--account",
            "6100",
            "--text",
            "storage rent from February, 500.00 more billed late",
        ],
    )
    .success();
    close(&ledger, "alice", &config, "signoff", &["--review"]).success();
    assert_eq!(show(&ledger, &config)["findings"][0]["status"], "explained");
    ledger.run(&["verify"]).success();
}

#[test]
fn a_step_without_review_waits_for_its_preparer_and_reviewer_until_its_findings_are_explained() {
    let ledger = ledger();
    let config = close_toml(&ledger, false);
    close(&ledger, "bob", &config, "run", &[]).success();
    assert_eq!(show(&ledger, &config)["status"], "awaiting-signoff");
    let before = written(&ledger);
    let refused = close(&ledger, "bob", &config, "signoff", &[]).failure();
    assert!(refused.contains("1 finding needs an explanation"), "{refused}");
    assert_eq!(written(&ledger), before);
    close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6100", "--text", "storage rent from February"],
    )
    .success();
    let refused = close(&ledger, "alice", &config, "signoff", &["--review"]).failure();
    assert!(
        refused.contains("waits for its preparer's sign-off of its findings first"),
        "{refused}"
    );
    close(&ledger, "bob", &config, "signoff", &["--note", "explained"]).success();
    assert_eq!(show(&ledger, &config)["status"], "prepared");
    // What the preparer signed off is what the reviewer reviews.
    let before = written(&ledger);
    let refused = close(
        &ledger,
        "bob",
        &config,
        "explain",
        &["--account", "6100", "--text", "other"],
    )
    .failure();
    assert!(refused.contains("task flux of ACME-US is prepared by bob"), "{refused}");
    assert_eq!(written(&ledger).0, before.0);
    let refused = close(&ledger, "bob", &config, "signoff", &["--review"]).failure();
    assert!(
        refused.contains("bob explained findings of task flux of ACME-US; someone else reviews it"),
        "{refused}"
    );
    let refused = close(&ledger, "alice", &config, "signoff", &[]).failure();
    assert!(
        refused.contains("is prepared by bob and waits for its review: add --review"),
        "{refused}"
    );
    close(&ledger, "alice", &config, "signoff", &["--review"]).success();
    let view = show(&ledger, &config);
    assert_eq!(view["status"], "signed-off");
    assert_eq!(view["prepared_by"], "bob");
    assert_eq!(view["reviewed_by"], "alice");
    let status = ledger
        .run(&[
            "close", "status", "--config", &config, "--period", "2026-02", "--format", "json",
        ])
        .success()
        .json();
    assert!(status.to_string().contains("100"), "{status}");
    // A rerun finds the same figures explained, and still waits for the sign-offs: a run
    // never signs findings off on its own.
    let rerun = close(&ledger, "bob", &config, "run", &["--rerun", "flux"]).success();
    assert!(rerun.stdout.contains("its findings are explained"), "{}", rerun.stdout);
    let view = show(&ledger, &config);
    assert_eq!(view["status"], "awaiting-signoff");
    assert_eq!(view["findings"][0]["status"], "explained");
}

#[test]
fn only_the_tasks_preparer_explains_its_findings() {
    // alice holds close.prepare, but task flux is bob's: she may not explain its findings.
    let ledger = ledger();
    let config = close_toml_with(&ledger, false, "");
    close(&ledger, "bob", &config, "run", &[]).success();
    let before = written(&ledger);
    let refused = close(
        &ledger,
        "alice",
        &config,
        "explain",
        &["--account", "6100", "--text", "fine"],
    )
    .failure();
    assert!(
        refused.contains("alice may not explain the findings of task flux of ACME-US: it is prepared by bob"),
        "{refused}"
    );
    assert_eq!(written(&ledger), before);
    // The whole-account finding, picked exactly.
    close(
        &ledger,
        "bob",
        &config,
        "explain",
        &[
            "--account",
            "6100",
            "--whole-account",
            "--text",
            "storage rent from February",
        ],
    )
    .success();
    close(&ledger, "bob", &config, "signoff", &[]).success();
    assert_eq!(show(&ledger, &config)["status"], "signed-off");
}
