//! Diagnostics end to end (issue 24): the JSON trace of a close run carries the fields that join
//! it to the step log and the audit trail, no trace ever reaches stdout, progress without a
//! terminal is periodic plain lines (nothing with `--quiet`), and `--timings` prints the phases.

use clap::CommandFactory as _;
use closebook_tests::{Ledger, Run, plugin_wasm};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every line of stderr as a JSON record; panics on a line that is not one.
fn json_records(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not a JSON record ({error}): {line}\n{stderr}"))
        })
        .collect()
}

/// The spans a JSON record was written in, innermost last.
fn spans(record: &Value) -> Vec<&Value> {
    record["spans"]
        .as_array()
        .map(|spans| spans.iter().collect())
        .unwrap_or_default()
}

fn span_named<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    spans(record).into_iter().find(|span| span["name"] == name)
}

fn close_run(ledger: &Ledger, config: &str, environment: &[(&str, &str)], extra: &[&str]) -> Run {
    let mut arguments = vec!["close", "run", "--config", config, "--period", "2026-01"];
    arguments.extend_from_slice(extra);
    ledger.run_with_environment("alice", environment, &arguments)
}

#[test]
fn a_json_trace_of_a_close_run_carries_the_run_task_plugin_entity_and_period() {
    // Proves `--log-format json` writes one JSON object a line with the spans' fields: the close
    // run's id, each task, and each plugin run's name, version, sha256, entity, period and the
    // run id that the step log and the audit trail carry.
    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    let run = close_run(&ledger, &config, &[], &["--log-format", "json", "--log-level", "info"]).success();
    let records = json_records(&run.stderr);
    assert!(!records.is_empty(), "no trace at info level");
    for record in &records {
        assert!(record["timestamp"].is_string(), "{record}");
        assert!(record["level"].is_string(), "{record}");
        assert!(
            record["target"]
                .as_str()
                .is_some_and(|target| target.starts_with("closebook")),
            "{record}"
        );
    }

    // Every record inside the run names the same run.
    let close_runs: BTreeSet<&str> = records
        .iter()
        .filter_map(|record| span_named(record, "close.run"))
        .map(|span| span["close_run"].as_str().expect("close.run has its close_run id"))
        .collect();
    assert_eq!(close_runs.len(), 1, "{close_runs:?}");
    let close_span = records
        .iter()
        .find_map(|record| span_named(record, "close.run"))
        .unwrap();
    assert_eq!(close_span["period"], "2026-01");
    assert_eq!(close_span["close"], "acme-month-end");

    // Each task's record of how it finished, under its task span.
    let finished: Vec<&Value> = records
        .iter()
        .filter(|record| record["fields"]["message"] == "task finished")
        .collect();
    // The tasks that can run before a review or sign-off stops their chain.
    assert!(finished.len() >= 5, "{} tasks finished", finished.len());
    for record in &finished {
        let task = span_named(record, "close.task").expect("a finished task is inside its span");
        assert!(task["task"].is_string() && task["entity"].is_string(), "{record}");
        assert!(record["fields"]["duration_ms"].is_u64(), "{record}");
    }

    // The plugin runs: the management fee of ACME-US, with what joins it to the step log.
    let plugin_runs: Vec<&Value> = records
        .iter()
        .filter(|record| record["fields"]["message"] == "plugin ran")
        .filter_map(|record| span_named(record, "plugin.run"))
        .collect();
    let fee = plugin_runs
        .iter()
        .find(|span| span["task"] == "management-fee" && span["entity"] == "ACME-US")
        .unwrap_or_else(|| panic!("no plugin run of management-fee in {plugin_runs:?}"));
    let wasm = std::fs::read(plugin_wasm("custom_plugin")).unwrap();
    let sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&wasm))
    };
    assert_eq!(fee["sha256"], sha256.as_str());
    assert_eq!(fee["period"], "2026-01");
    assert!(fee["plugin"].is_string() && fee["version"].is_string(), "{fee}");
    let run_id = fee["run_id"].as_str().expect("the plugin run has its run id");

    // The same run id is the one the close recorded for the task (and the step log keeps).
    let shown = ledger
        .run(&[
            "close",
            "show",
            "--config",
            &config,
            "--period",
            "2026-01",
            "--entity",
            "ACME-US",
            "--task",
            "management-fee",
            "--format",
            "json",
        ])
        .success()
        .json();
    assert!(
        shown.to_string().contains(run_id),
        "the task's record does not carry run id {run_id}:\n{shown:#}"
    );

    // The ledger's host queries the step made are inside its run.
    assert!(
        !records.iter().any(|record| span_named(record, "host.query").is_some()),
        "host queries are debug spans and were shown at info"
    );
}

#[test]
fn at_debug_the_trace_shows_host_queries_inside_their_plugin_run() {
    // Proves the host query spans: each names its query and rows, inside the plugin run.
    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    let run = close_run(
        &ledger,
        &config,
        &[("RUST_LOG", "closebook=debug,closebook_ledger=info")],
        &["--log-format", "json"],
    )
    .success();
    let records = json_records(&run.stderr);
    let query = records
        .iter()
        .find(|record| record["span"]["name"] == "host.query" && record["fields"]["message"] == "close")
        .unwrap_or_else(|| panic!("no closed host.query span in:\n{}", run.stderr));
    assert!(query["span"]["query"].is_string(), "{query}");
    assert!(query["span"]["rows"].is_u64(), "{query}");
    assert!(span_named(query, "plugin.run").is_some(), "{query}");
}

/// Every command that takes `--format json`, as the command line defines them: `close run`,
/// `report trial-balance`…
fn commands_with_json_format() -> BTreeSet<String> {
    fn walk(command: &clap::Command, path: Vec<String>, found: &mut BTreeSet<String>) {
        let takes_json = command.get_arguments().any(|argument| {
            argument.get_id() == "format"
                && argument
                    .get_possible_values()
                    .iter()
                    .any(|value| value.get_name() == "json")
        });
        if takes_json {
            found.insert(path.join(" "));
        }
        for subcommand in command.get_subcommands() {
            let mut deeper = path.clone();
            deeper.push(subcommand.get_name().to_owned());
            walk(subcommand, deeper, found);
        }
    }
    let mut found = BTreeSet::new();
    walk(&closebook::cli::Cli::command(), Vec::new(), &mut found);
    found
}

#[test]
fn stdout_of_every_json_command_stays_json_with_the_whole_trace_on() {
    // Proves no trace record, progress line or bar reaches stdout: with RUST_LOG=trace, every
    // command that takes `--format json` prints a document that parses, and the trace went to
    // stderr. The list is checked against the command line, so a new JSON command needs a case.
    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    let plugin = plugin_wasm("custom_plugin").display().to_string();
    let fee_config =
        r#"{"source_accounts":["4000"],"percent":"2.5","expense_account":"6900","accrual_account":"2100"}"#;
    let close = |subcommand: &str, extra: &[&str]| -> Vec<String> {
        let mut arguments = vec!["close", subcommand, "--config", &config];
        if subcommand != "history" {
            arguments.extend(["--period", "2026-01"]);
        }
        arguments.extend_from_slice(extra);
        arguments.into_iter().map(str::to_owned).collect()
    };
    let words = |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("close run", close("run", &[])),
        ("close status", close("status", &[])),
        (
            "close show",
            close("show", &["--entity", "ACME-US", "--task", "management-fee"]),
        ),
        ("close history", close("history", &[])),
        (
            "report trial-balance",
            words("report trial-balance --entity ACME-US --period 2026-01"),
        ),
        (
            "report journal",
            words("report journal --entity ACME-US --period 2026-01"),
        ),
        (
            "report balance-sheet",
            words("report balance-sheet --entity ACME-US --period 2026-01"),
        ),
        (
            "report income-statement",
            words("report income-statement --entity ACME-US --period 2026-01"),
        ),
        (
            "report open-items",
            words("report open-items --entity ACME-US --account 1100"),
        ),
        ("journal list", words("journal list --entity ACME-US --period 2026-01")),
        (
            "reconcile show",
            words("reconcile show --entity ACME-US --account 1000 --period 2026-01"),
        ),
        (
            "reconcile report",
            words("reconcile report --entity ACME-US --period 2026-01"),
        ),
        ("period list", words("period list --entity ACME-US --year FY2026")),
        ("year-end history", words("year-end history")),
        ("audit", words("audit --limit 5")),
        ("token create", words("token create --user alice --name probe")),
        ("token list", words("token list")),
        (
            "plugin inspect",
            vec!["plugin".into(), "inspect".into(), plugin.clone()],
        ),
        (
            "plugin run",
            vec![
                "plugin".into(),
                "run".into(),
                plugin.clone(),
                "--entity".into(),
                "ACME-US".into(),
                "--period".into(),
                "2026-01".into(),
                "--config".into(),
                fee_config.into(),
            ],
        ),
    ];
    let covered: BTreeSet<String> = cases.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(
        covered,
        commands_with_json_format(),
        "every command with --format json needs a case here"
    );
    for (name, mut arguments) in cases {
        arguments.extend(["--format".to_owned(), "json".to_owned()]);
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let run = ledger
            .run_with_environment("alice", &[("RUST_LOG", "trace")], &arguments)
            .success();
        let parsed: Result<Value, _> = serde_json::from_str(&run.stdout);
        assert!(parsed.is_ok(), "{name}: stdout is not JSON:\n{}", run.stdout);
        assert!(
            run.stderr.contains("TRACE") || run.stderr.contains("DEBUG") || run.stderr.contains("INFO"),
            "{name}: the trace did not reach stderr:\n{}",
            run.stderr
        );
    }
}

#[test]
fn the_default_trace_adds_nothing_to_what_a_command_said_before() {
    // Proves the default level (warnings) keeps stderr as it was: a report writes nothing there,
    // and a close run only its line per task.
    let ledger = Ledger::with_demo_journals();
    let report = ledger
        .run(&["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"])
        .success();
    assert_eq!(report.stderr, "");
    let config = ledger.pinned_demo_close();
    let run = close_run(&ledger, &config, &[], &[]).success();
    for line in run.stderr.lines() {
        // A task's line, or the periodic progress line (while the plugins compile).
        assert!(
            line.starts_with('[') || line.starts_with("close acme-month-end 2026-01: "),
            "not a task or progress line: {line}\n{}",
            run.stderr
        );
    }
}

/// A file of `entries` balanced entries for ACME-US in March, in the ledger's folder.
fn big_journal(ledger: &Ledger, entries: usize) -> String {
    ledger.write("big.csv", &closebook_tests::balanced_journal("D", entries))
}

#[test]
fn without_a_terminal_progress_is_periodic_plain_lines_and_quiet_stops_it() {
    // Proves the progress of an import, a verify and a close when stderr is a pipe: plain lines
    // (no carriage return, no escape sequence) every interval saying how far the work is, and
    // nothing at all with `--quiet`.
    let ledger = Ledger::with_demo_setup();
    // Enough entries that the import reports its progress (every 5,000 entries read) a few times.
    let file = big_journal(&ledger, 25_000);
    let every_20_ms = [("CLOSEBOOK_PROGRESS_INTERVAL_MS", "20")];
    let import = ledger
        .run_with_environment(
            "alice",
            &every_20_ms,
            &["import", "journals", &file, "--entity", "ACME-US", "--post"],
        )
        .success();
    assert!(
        import.stdout.contains("25000 entries (50000 lines) read, 25000 posted"),
        "{}",
        import.stdout
    );
    let prefix = format!("import {file}: ");
    assert!(!import.stderr.is_empty(), "no progress line");
    for line in import.stderr.lines() {
        assert!(line.starts_with(&prefix), "not a progress line: {line:?}");
        assert!(line.contains(" elapsed"), "{line}");
    }
    assert!(
        !import.stderr.contains('\r') && !import.stderr.contains('\u{1b}'),
        "{:?}",
        import.stderr
    );
    assert!(
        import
            .stderr
            .lines()
            .any(|line| line.contains(",000 entries read, ") && line.contains(",000 posted, ")),
        "the import's count never showed:\n{}",
        import.stderr
    );

    let verify = ledger
        .run_with_environment("alice", &every_20_ms, &["verify", "--entity", "ACME-US"])
        .success();
    for line in verify.stderr.lines() {
        assert!(line.starts_with("verify: "), "not a progress line: {line:?}");
    }

    // Quiet: the same work says nothing on stderr, and the same on stdout.
    let quiet_file = ledger.write(
        "quiet.csv",
        "entry,date,account,amount\nQ-1,2026-01-15,1000,1.00\nQ-1,2026-01-15,4000,-1.00\n",
    );
    let quiet = ledger
        .run_with_environment(
            "alice",
            &every_20_ms,
            &[
                "--quiet",
                "import",
                "journals",
                &quiet_file,
                "--entity",
                "ACME-US",
                "--post",
            ],
        )
        .success();
    assert_eq!(quiet.stderr, "");
    assert!(quiet.stdout.contains("1 posted"), "{}", quiet.stdout);
    let quiet_verify = ledger
        .run_with_environment("alice", &every_20_ms, &["verify", "--quiet"])
        .success();
    assert_eq!(quiet_verify.stderr, "");
}

#[test]
fn a_close_run_says_each_task_unless_quiet() {
    // Proves the close's plain progress: a line per task as it finishes, and with `--quiet`
    // nothing on stderr while stdout still has the report.
    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    let quiet = close_run(&ledger, &config, &[], &["--quiet", "--dry-run"]).success();
    assert_eq!(quiet.stderr, "");
    assert!(quiet.stdout.contains("management-fee"), "{}", quiet.stdout);
    let run = close_run(&ledger, &config, &[("CLOSEBOOK_PROGRESS_INTERVAL_MS", "10")], &[]).success();
    let task_lines: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with('[')).collect();
    assert!(
        task_lines
            .iter()
            .any(|line| line.contains("ACME-US management-fee: awaiting-review")),
        "{}",
        run.stderr
    );
    for line in run.stderr.lines().filter(|line| !line.starts_with('[')) {
        assert!(
            line.starts_with("close acme-month-end 2026-01: "),
            "not a progress line: {line:?}"
        );
    }
}

#[test]
fn timings_print_the_phases_of_an_import_and_a_close() {
    // Proves `--timings`: after the command, a table of phases from the spans, the import's
    // reading and writing batches and its commit, the close's tasks, plugin runs and host
    // queries, on stderr, with stdout as it is without the flag.
    let ledger = Ledger::with_demo_setup();
    let file = big_journal(&ledger, 600);
    let import = ledger
        .run(&[
            "--quiet",
            "import",
            "journals",
            &file,
            "--entity",
            "ACME-US",
            "--post",
            "--timings",
        ])
        .success();
    assert!(import.stdout.contains("600 posted"), "{}", import.stdout);
    let phases = |stderr: &str| -> BTreeSet<String> {
        stderr
            .lines()
            .skip_while(|line| !line.starts_with("Phase"))
            .skip(2)
            .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    assert!(import.stderr.contains("timings: "), "{}", import.stderr);
    let import_phases = phases(&import.stderr);
    for phase in [
        "command",
        "import",
        "import.read",
        "import.write",
        "import.finish",
        "ledger.commit",
    ] {
        assert!(import_phases.contains(phase), "no phase {phase} in:\n{}", import.stderr);
    }

    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    let run = close_run(&ledger, &config, &[], &["--quiet", "--timings"]).success();
    let close_phases = phases(&run.stderr);
    for phase in [
        "close.run",
        "close.task",
        "plugin.run",
        "host.query",
        "step.post",
        "close.stale_check",
    ] {
        assert!(close_phases.contains(phase), "no phase {phase} in:\n{}", run.stderr);
    }
    // Nothing but the table: no trace records at the default level.
    assert!(!run.stderr.contains("INFO"), "{}", run.stderr);
}
