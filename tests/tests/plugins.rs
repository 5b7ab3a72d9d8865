//! Close-step plugins end to end: real components built by `scripts/build-plugins`, run by the
//! real binary against the demo ledger. Proves the happy path (inspect, dry run, post with
//! provenance), that hostile plugins and bad proposals are contained with a clear error and
//! the ledger unchanged, determinism across processes, and that a stale snapshot never posts.

use closebook_tests::{Ledger, plugin_wasm};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What a contained plugin must leave untouched: trial balances and entry counts.
fn state(ledger: &Ledger) -> (Vec<Value>, i64, i64) {
    let mut trial_balances = Vec::new();
    for entity in ["ACME-US", "ACME-DE"] {
        for period in ["2026-02", "2026-03", "2026-04"] {
            trial_balances.push(ledger.trial_balance(entity, period));
        }
    }
    (
        trial_balances,
        ledger.entry_count("ACME-US"),
        ledger.entry_count("ACME-DE"),
    )
}

fn run_plugin(ledger: &Ledger, wasm: &str, config: &Value, extra: &[&str]) -> closebook_tests::Run {
    let path = plugin_wasm(wasm).display().to_string();
    let config = config.to_string();
    let mut arguments = vec![
        "plugin",
        "run",
        path.as_str(),
        "--entity",
        "ACME-US",
        "--period",
        "2026-03",
        "--config",
        config.as_str(),
    ];
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

const MANAGEMENT_FEE: &str = r#"{"source_accounts":["4000"],"percent":"2.5","expense_account":"6900","accrual_account":"2100","dimension":"department"}"#;

#[test]
fn inspect_shows_identity_interface_and_schema() {
    // Proves `plugin inspect` reports what a close.toml pins: name, version, interface, hash.
    let ledger = Ledger::with_demo_setup();
    let path = plugin_wasm("custom_plugin");
    let info = ledger
        .run(&["plugin", "inspect", &path.display().to_string(), "--format", "json"])
        .success()
        .json();
    assert_eq!(info["name"], "management-fee");
    assert_eq!(info["interface_version"], "0.2.0");
    let expected = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
    assert_eq!(info["sha256"], expected.as_str());
    assert_eq!(info["config_schema"]["required"].as_array().map(Vec::len), Some(4));
}

#[test]
fn dry_run_writes_nothing_and_post_posts_with_provenance() {
    // Proves the SDK example reads balances, pages through lines and proposes; a dry run
    // changes nothing; --post posts the accrual and its reversal, tagged with the plugin.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let config: Value = serde_json::from_str(MANAGEMENT_FEE).unwrap();
    let dry = run_plugin(&ledger, "custom_plugin", &config, &["--format", "json"])
        .success()
        .json();
    assert_eq!(dry["posted"], Value::Null);
    assert_eq!(state(&ledger), before, "a dry run wrote to the ledger");
    // March revenue of department 100 is 38,000.00 (invoice 1003); 2.5 % of it is 950.00.
    let entry = &dry["output"]["Ok"]["entries"][0];
    assert_eq!(entry["lines"][0]["amount"], "950.00");
    assert_eq!(entry["reversal_date"], "2026-04-01");
    let posted = run_plugin(&ledger, "custom_plugin", &config, &["--post"])
        .success()
        .stdout;
    assert!(
        posted.contains("posted 2 entries and 0 settlements as run management-fee-ACME-US-2026-03-s28-"),
        "{posted}"
    );
    let march = ledger.trial_balance("ACME-US", "2026-03");
    let fees = march["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["account"] == "6900")
        .unwrap();
    assert_eq!(fees["debit"], "950.00");
    let april = ledger.trial_balance("ACME-US", "2026-04");
    let fees = april["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["account"] == "6900")
        .unwrap();
    assert_eq!(
        (fees["credit"].as_str(), fees["closing"].as_str()),
        (Some("950.00"), Some("0.00")),
        "the accrual reverses on April 1"
    );
    let journal = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-03", "--format", "json",
        ])
        .success()
        .json();
    let accrual = journal["entries"].as_array().unwrap().last().unwrap().clone();
    let sha256 = hex::encode(Sha256::digest(std::fs::read(plugin_wasm("custom_plugin")).unwrap()));
    assert_eq!(accrual["module"], "close");
    assert_eq!(accrual["provenance"]["plugin_name"], "management-fee");
    assert_eq!(accrual["provenance"]["plugin_version"], "0.1.0");
    assert_eq!(accrual["provenance"]["plugin_sha256"], sha256.as_str());
    assert!(
        accrual["provenance"]["run_id"]
            .as_str()
            .unwrap()
            .starts_with("management-fee-ACME-US-2026-03")
    );
    ledger.run(&["verify"]).success();
    // Running again sees the accrual already in the ledger (it pages through account 2100).
    let again = run_plugin(&ledger, "custom_plugin", &config, &["--format", "json"])
        .success()
        .json();
    assert_eq!(
        again["output"]["Ok"]["entries"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
}

#[test]
fn second_sdk_example_reclassifies_a_balance() {
    // Proves the second SDK example: March utilities move to rent, worked out by hand:
    // 6200 has no March movement, so reclassify year to date: 1,232.96.
    let ledger = Ledger::with_demo_journals();
    let config = json!({"from_account": "6200", "to_account": "6100", "scope": "year-to-date"});
    run_plugin(&ledger, "reclassify_plugin", &config, &["--post"]).success();
    let march = ledger.trial_balance("ACME-US", "2026-03");
    let row = |account: &str| {
        march["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["account"] == account)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("6200")["closing"], "0.00");
    assert_eq!(
        row("6100")["closing"],
        "14732.96",
        "13,500.00 rent plus 1,232.96 utilities"
    );
}

#[test]
fn hostile_plugins_are_contained_with_a_clear_error() {
    // Proves each way a plugin can misbehave ends the step with a message naming the limit,
    // and that the ledger is unchanged even with --post.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let cases: [(&str, &[&str], &str); 8] = [
        ("guest_infinite_loop", &[], "exceeded its fuel limit of"),
        ("guest_memory_hog", &[], "exceeded its memory limit of"),
        ("guest_deep_recursion", &[], "trapped"),
        ("guest_panic", &[], "trapped"),
        (
            "guest_huge_output",
            &["--output-bytes", "1000000"],
            "exceeded its output limit of 1000000 bytes",
        ),
        (
            "guest_query_storm",
            &["--query-rows", "10000"],
            "exceeded its query-row limit of 10000 rows",
        ),
        (
            "guest_newer_interface",
            &[],
            "was built for closebook:plugin@0.3.0, but this closebook supports 0.1.0, 0.2.0",
        ),
        ("guest_network", &[], "which the close-step sandbox does not provide"),
    ];
    for (guest, extra, expected) in cases {
        let mut arguments = extra.to_vec();
        arguments.push("--post");
        let stderr = run_plugin(&ledger, guest, &json!({}), &arguments).failure();
        assert!(
            stderr.contains(expected),
            "{guest}: expected {expected:?} in:\n{stderr}"
        );
        assert_eq!(state(&ledger), before, "{guest} changed the ledger");
    }
    let stderr = run_plugin(&ledger, "guest_echo", &json!({}), &["--fuel", "999999999999999"]).failure();
    assert!(stderr.contains("above the hard maximum"), "{stderr}");
}

#[test]
fn sandbox_shows_no_files_environment_or_real_clock() {
    // Proves a plugin sees no files, no environment and a clock pinned to the as-of date.
    let ledger = Ledger::with_demo_journals();
    let files = run_plugin(&ledger, "guest_file_read", &json!({}), &["--format", "json"])
        .success()
        .json();
    let messages = files["output"]["Ok"]["messages"].to_string();
    assert!(!messages.contains("\"ok"), "a file operation succeeded: {messages}");
    let environment = run_plugin(&ledger, "guest_env_read", &json!({}), &["--format", "json"])
        .success()
        .json();
    let messages = environment["output"]["Ok"]["messages"].to_string();
    assert!(
        messages.contains("vars: []") && messages.contains("PATH: Err(NotPresent)"),
        "the environment leaked: {messages}"
    );
    let clock = run_plugin(&ledger, "guest_clock", &json!({}), &["--format", "json"])
        .success()
        .json();
    let messages = clock["output"]["Ok"]["messages"].to_string();
    // 2026-03-31T00:00:00Z, the as-of date of March, in seconds since the Unix epoch.
    assert!(
        messages.contains("1774915200"),
        "the clock is not pinned to the as-of date: {messages}"
    );
}

#[test]
fn nondeterministic_plugin_gives_identical_proposals_in_two_processes_on_two_copies() {
    // Proves same ledger + config = same output, though the guest iterates a HashMap and
    // hashes with a fresh RandomState (both fed by the sandbox's seeded randomness).
    let first = Ledger::with_demo_journals();
    let second = Ledger::with_demo_journals();
    let outputs: Vec<String> = [&first, &second]
        .iter()
        .map(|ledger| {
            run_plugin(ledger, "guest_random", &json!({"seed_me": 1}), &["--format", "json"])
                .success()
                .json()["output"]
                .to_string()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[0].contains("Ok"), "{}", outputs[0]);
}

/// Runs the `propose` guest with one entry, as a dry run and with --post: both are refused
/// with `expected` (issue 15: a dry run applies every posting rule too) and write nothing.
fn refused_proposal(ledger: &Ledger, entries: Value, expected: &str) {
    let before = state(ledger);
    let config = json!({ "entries": entries });
    let dry_run = run_plugin(ledger, "guest_propose", &config, &[]);
    assert_eq!(dry_run.status, 1, "the dry run is refused too: {}", dry_run.stdout);
    assert!(
        dry_run.stdout.contains("--post would refuse these proposals"),
        "{}",
        dry_run.stdout
    );
    assert!(
        dry_run.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        dry_run.stderr
    );
    let stderr = run_plugin(ledger, "guest_propose", &config, &["--post"]).failure();
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert_eq!(state(ledger), before, "a refused proposal changed the ledger");
}

fn line(account: &str, amount: &str) -> Value {
    json!({"account": account, "amount": amount})
}

#[test]
fn the_host_never_trusts_a_proposal() {
    // Proves every proposal is validated like an imported journal, and one bad proposal
    // stops them all.
    let ledger = Ledger::with_demo_journals();
    let good =
        json!({"date": "2026-03-31", "description": "good", "lines": [line("1000", "1.00"), line("4100", "-1.00")]});
    refused_proposal(
        &ledger,
        json!([good, {"date": "2026-03-31", "description": "unbalanced", "lines": [line("1000", "1.00"), line("4100", "-0.99")]}]),
        "the entry does not balance: debits 1.00, credits 0.99",
    );
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [line("9999", "1.00"), line("4100", "-1.00")]}]),
        "account 9999 does not exist in entity ACME-US",
    );
    refused_proposal(
        &ledger,
        json!([{"entity": "ACME-DE", "date": "2026-03-31", "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]),
        "the step may not post into entity ACME-DE",
    );
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [line("1000", "1e2"), line("4100", "-100")]}]),
        "`1e2` is not a decimal number",
    );
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [line("1000", "1.00"), line("4100", "-1.00 ")]}]),
        "is not a decimal number",
    );
    let big = "9999999999999999999999999999";
    let mut lines: Vec<Value> = (0..8).map(|_| line("1000", big)).collect();
    lines.extend((0..8).map(|_| line("4100", &format!("-{big}"))));
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": lines}]),
        "is beyond the largest amount a line may carry",
    );
    ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-02",
            "--status",
            "on-hold",
        ])
        .success();
    refused_proposal(
        &ledger,
        json!([{"date": "2026-02-27", "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]),
        "period 2026-02 of entity ACME-US is on-hold: posting refused",
    );
    // The same good proposal alone posts.
    run_plugin(&ledger, "guest_propose", &json!({"entries": [good]}), &["--post"]).success();
}

#[test]
fn a_snapshot_made_stale_before_commit_is_never_posted() {
    // Proves the commit checks what the step read: a journal posted between the step's run and
    // its commit, on an account and in a period the step read, makes the commit refuse, and
    // nothing is posted; a journal the step did not read (a later period) leaves its figures as
    // they were, and its output posts.
    let ledger = Ledger::with_demo_journals();
    let runtime = closebook::plugin::PluginRuntime::new(&ledger.dir.path().join("cache")).unwrap();
    let plugin = runtime.load_file(&plugin_wasm("fx_revaluation")).unwrap();
    let request = closebook::step::StepRequest {
        entity: "ACME-US".into(),
        period: "2026-03".into(),
        as_of: None,
        config: json!({"gain_account": "7100", "loss_account": "7200"}).to_string(),
        other_entities: Vec::new(),
        task: None,
        limits: closebook::plugin::Limits::default(),
        allow_revaluation_lines: true,
        allow_next_year_opening: false,
    };
    let late = |key: &str, date: &str| {
        let journal = ledger.write(
            &format!("{key}.csv"),
            &format!("entry,date,account,amount\n{key},{date},1300,5.00\n{key},{date},4100,-5.00\n"),
        );
        ledger
            .run(&["import", "journals", &journal, "--entity", "ACME-US", "--post"])
            .success();
    };
    let preview = closebook::step::run_step(&ledger.db(), &plugin, &request).unwrap();
    // The revaluation read the intercompany receivable (1300, revalued) in March.
    late("LATE-1", "2026-03-20");
    let count = ledger.entry_count("ACME-US");
    let mut store_ledger = closebook_ledger::Ledger::open(&ledger.db(), "alice").unwrap();
    let error = closebook::step::post_step(&mut store_ledger, &plugin, &preview).unwrap_err();
    assert!(
        format!("{error:#}")
            .contains("the ledger of ACME-US moved from sequence 28 to 29 while the step ran; nothing was posted"),
        "{error:#}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), count);
    // Run again on the current ledger: an April journal meanwhile is not in what it read, and
    // its output posts.
    let preview = closebook::step::run_step(&ledger.db(), &plugin, &request).unwrap();
    late("LATE-2", "2026-04-10");
    let count = ledger.entry_count("ACME-US");
    let posted = closebook::step::post_step(&mut store_ledger, &plugin, &preview).unwrap();
    assert!(!posted.entries.is_empty(), "March's revaluation posts entries");
    assert_eq!(ledger.entry_count("ACME-US"), count + posted.entries.len() as i64);
}
