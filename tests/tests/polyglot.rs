//! Close steps written in Python and JavaScript (issue #9), end to end: the components built by
//! `scripts/build-polyglot-plugins` into target/polyglot/ run through the real binary against the
//! demo ledger. Proves that the Python and JavaScript allocation steps propose exactly what the
//! Rust allocation step proposes (entries, messages, step log and refusals, compared as the
//! JSON `plugin run --format json` prints), that the Python step runs inside a `close run`, and
//! that the sandbox contains a misbehaving Python step as it contains a Rust one. And that the
//! native test harnesses agree with the host: the examples' native tests expect, on a fixture,
//! exactly what the components propose through the host on the same fixture.

use std::path::{Path, PathBuf};

use std::process::Command;

use closebook_tests::{Ledger, Run, closebook_binary, plugin_wasm, workspace_root};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A component built by `scripts/build-polyglot-plugins`, by file name.
fn polyglot_wasm(name: &str) -> PathBuf {
    let release = plugin_wasm("allocation");
    let target = release.ancestors().nth(3).expect("target/wasm32-wasip2/release/x.wasm");
    let path = target.join("polyglot").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `scripts/build-polyglot-plugins` first (scripts/test does)",
        path.display()
    );
    path
}

/// Runs `closebook` like `Ledger::run_as`, but with one compile cache for every test of this
/// file: an 18 MB Python or 12 MB JavaScript component takes tens of seconds to compile, and
/// each test's ledger would otherwise compile every component again in its own cache.
fn run_cached(ledger: &Ledger, user: &str, arguments: &[&str]) -> Run {
    let cache = polyglot_wasm("python_allocation").with_file_name("compile-cache");
    let output = Command::new(closebook_binary())
        .arg("--db")
        .arg(ledger.db())
        .arg("--as")
        .arg(user)
        .args(arguments)
        .current_dir(workspace_root())
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("CLOSEBOOK_CACHE", cache)
        .output()
        .expect("closebook runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `plugin run --format json` of one component; a refusal is kept as the JSON's `output.Err`.
fn run_json(ledger: &Ledger, wasm: &Path, period: &str, config: &Value, extra: &[&str]) -> Value {
    let path = wasm.display().to_string();
    let config = config.to_string();
    let mut arguments = vec![
        "plugin",
        "run",
        path.as_str(),
        "--entity",
        "ACME-US",
        "--period",
        period,
        "--config",
        config.as_str(),
        "--format",
        "json",
    ];
    arguments.extend_from_slice(extra);
    run_cached(ledger, "alice", &arguments).success().json()
}

/// What the comparison covers: the output (every proposed entry with its lines, amounts as
/// the exact decimal strings, dimensions, dates and descriptions, the messages, or the refusal
/// text with the plugin's file name taken out) and the step log records. Fuel, time and rows
/// read differ by language and are left out.
fn proposal(run: &Value, file_name: &str) -> Value {
    let output = match &run["output"] {
        Value::Object(result) if result.contains_key("Err") => {
            let text = result["Err"].as_str().unwrap_or_default().replace(file_name, "PLUGIN");
            json!({ "Err": text })
        }
        other => other.clone(),
    };
    json!({ "output": output, "log": run["log"]["records"] })
}

const DEMO_RENT: &str = r#"{ "method": "fixed-percentage", "on_zero_source": "skip",
    "source": { "ledger": { "accounts": ["6100"], "dimensions": { "department": "300" } } },
    "destinations": [
        { "dimensions": { "department": "100" }, "percent": "50" },
        { "dimensions": { "department": "200" }, "percent": "30" },
        { "dimensions": { "department": "300" }, "percent": "20" } ],
    "offset": { "account": "6100", "dimensions": { "department": "300" } } }"#;

/// Configurations that exercise every method, both remainder placements, a foreign fixed
/// amount, the offset and its absence, year-to-date scope, a zero source and refusals.
fn configurations() -> Vec<(&'static str, &'static str, Value)> {
    let departments = |weights: Option<[&str; 3]>| {
        let mut destinations = Vec::new();
        for (index, department) in ["100", "200", "300"].into_iter().enumerate() {
            let mut destination = json!({ "account": "6900", "dimensions": { "department": department } });
            if let Some(weights) = weights {
                destination["weight"] = json!(weights[index]);
            }
            destinations.push(destination);
        }
        Value::Array(destinations)
    };
    let demo_rent: Value = serde_json::from_str(DEMO_RENT).unwrap();
    let mut stop_on_zero = demo_rent.clone();
    stop_on_zero["on_zero_source"] = json!("stop");
    let mut bad_percentages = demo_rent.clone();
    bad_percentages["destinations"][2]["percent"] = json!("25");
    let mut unknown_account = demo_rent.clone();
    unknown_account["offset"]["account"] = json!("6101");
    vec![
        ("demo rent, January", "2026-01", demo_rent.clone()),
        ("demo rent, February", "2026-02", demo_rent.clone()),
        ("demo rent, March", "2026-03", demo_rent),
        ("zero source stops", "2026-02", stop_on_zero),
        ("percentages not 100", "2026-01", bad_percentages),
        ("unknown offset account", "2026-01", unknown_account),
        (
            "equally, remainder on the last",
            "2026-01",
            json!({ "method": "equally", "source": { "fixed": { "amount": "100.00" } },
                    "destinations": departments(None), "offset": { "account": "2100" } }),
        ),
        (
            "fixed weight, remainder on the largest",
            "2026-01",
            json!({ "method": "fixed-weight", "source": { "fixed": { "amount": "100.00" } },
                    "destinations": departments(Some(["5", "1", "1"])), "offset": { "account": "2100" },
                    "remainder": "largest" }),
        ),
        (
            "fixed amount in a foreign currency",
            "2026-01",
            json!({ "method": "fixed-weight", "source": { "fixed": { "amount": "1000.00", "currency": "EUR" } },
                    "destinations": departments(Some(["1", "1", "1"])), "offset": { "account": "2100" } }),
        ),
        (
            "basis of salaries year to date, no offset",
            "2026-03",
            json!({ "method": "basis",
                    "source": { "ledger": { "account_range": { "from": "6100", "to": "6200" } } },
                    "basis": { "accounts": ["6000"], "scope": "year-to-date" },
                    "destinations": departments(None) }),
        ),
        (
            "basis of revenue (credits)",
            "2026-03",
            json!({ "method": "basis", "source": { "fixed": { "amount": "999.99" } },
                    "basis": { "accounts": ["4000"] },
                    "destinations": departments(None), "offset": { "account": "2100" } }),
        ),
    ]
}

#[test]
fn python_and_javascript_allocations_propose_exactly_what_the_rust_one_does() {
    // Proves the ports are faithful: for every configuration, the three components give the
    // same entries, messages, step log and refusal texts on the demo ledger.
    let ledger = Ledger::with_demo_journals();
    let rust = plugin_wasm("allocation");
    let python = polyglot_wasm("python_allocation");
    let javascript = polyglot_wasm("js_allocation");
    let mut entries_compared = 0;
    for (name, period, config) in configurations() {
        let expected = proposal(&run_json(&ledger, &rust, period, &config, &[]), "allocation");
        entries_compared += expected["output"]["Ok"]["entries"].as_array().map_or(0, Vec::len);
        for (language, wasm, file_name) in [
            ("python", &python, "python_allocation"),
            ("javascript", &javascript, "js_allocation"),
        ] {
            let actual = proposal(&run_json(&ledger, wasm, period, &config, &[]), file_name);
            assert_eq!(
                actual,
                expected,
                "{language} differs from rust for {name}:\n{}\n{}",
                serde_json::to_string_pretty(&actual).unwrap(),
                serde_json::to_string_pretty(&expected).unwrap()
            );
        }
    }
    // The comparison must have compared proposals, not only refusals.
    assert!(entries_compared >= 6, "only {entries_compared} entries were compared");
}

#[test]
fn every_language_describes_the_same_step_and_schema() {
    // Proves the Python and JavaScript steps carry the Rust step's name, version, summary and
    // configuration schema, so the host validates their configuration the same way. (Only the
    // step's own description: the Rust step is also packaged as a standard plugin, with
    // package metadata the examples do not have. All three build for interface 0.2.)
    let ledger = Ledger::with_demo_setup();
    let inspect = |wasm: PathBuf| {
        let mut info = run_cached(
            &ledger,
            "alice",
            &["plugin", "inspect", &wasm.display().to_string(), "--format", "json"],
        )
        .success()
        .json();
        info["sha256"] = Value::Null;
        info["package"] = Value::Null;
        let version = std::mem::take(&mut info["interface_version"]);
        (info, version)
    };
    let (rust, rust_version) = inspect(plugin_wasm("allocation"));
    assert_eq!(rust_version, "0.2.0");
    for polyglot in ["python_allocation", "js_allocation"] {
        let (info, version) = inspect(polyglot_wasm(polyglot));
        assert_eq!(info, rust, "{polyglot}");
        assert_eq!(version, "0.2.0", "{polyglot}");
    }
}

#[test]
fn python_allocation_posts_through_plugin_run_and_a_close() {
    // Proves the Python step posts with --post like a Rust one (February's rent), and runs as
    // a pinned plugin step of `close run` with the default limits: the January rent of
    // department 300 (4,500.00) ends up 2,250.00 / 1,350.00 / 900.00 on 6100 by department.
    let ledger = Ledger::with_demo_journals();
    let python = polyglot_wasm("python_allocation");
    let config: Value = serde_json::from_str(DEMO_RENT).unwrap();
    let before = ledger.entry_count("ACME-US");
    let posted = run_json(&ledger, &python, "2026-02", &config, &["--post"]);
    assert_eq!(
        posted["posted"]["entries"].as_array().map(Vec::len),
        Some(1),
        "{posted}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), before + 1);

    let hash = hex::encode(Sha256::digest(std::fs::read(&python).unwrap()));
    let close_toml = format!(
        r#"[close]
name = "python-allocation"
entities = ["ACME-US"]

[calendar]
weekend = ["sat", "sun"]

[plugins]
python-allocation = {{ path = "{}", sha256 = "{hash}" }}

[[task]]
id = "allocate-rent"
name = "Allocate administration rent to departments (50/30/20), in Python"
area = "GL"
owner = "bob"
due = 2
step = "plugin:python-allocation"
config = {}
"#,
        python.display(),
        toml_inline(&config)
    );
    let close_config = ledger.write("close.toml", &close_toml);
    run_cached(
        &ledger,
        "bob",
        &["close", "run", "--config", &close_config, "--period", "2026-01"],
    )
    .success();
    assert_eq!(ledger.entry_count("ACME-US"), before + 2);
    let balances = ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--dimensions",
            "department",
            "--format",
            "json",
        ])
        .success()
        .json();
    let rent: Vec<(String, String)> = balances["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["account"] == "6100")
        .map(|row| {
            (
                row["dimensions"].to_string(),
                row["closing"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rent.iter().map(|(_, closing)| closing.as_str()).collect::<Vec<_>>(),
        ["2250.00", "1350.00", "900.00"],
        "{rent:?}"
    );
}

/// A JSON object as a TOML inline table (strings, arrays and tables only, as configurations are).
fn toml_inline(value: &Value) -> String {
    match value {
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(key, value)| format!("{key} = {}", toml_inline(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

#[test]
fn hostile_python_steps_are_contained_like_rust_ones() {
    // Proves a Python step that reads files, reads the environment, opens a socket or loops
    // forever gets nothing and ends the way the Rust test guests do, and the ledger is
    // unchanged even with --post.
    let ledger = Ledger::with_demo_journals();
    let hostile = polyglot_wasm("python_hostile");
    let before = (
        ledger.entry_count("ACME-US"),
        ledger.trial_balance("ACME-US", "2026-03"),
    );

    let files = run_json(&ledger, &hostile, "2026-03", &json!({ "attempt": "files" }), &[]);
    let messages: Vec<&str> = files["output"]["Ok"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["text"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 5, "{messages:?}");
    for message in &messages {
        assert!(message.contains(": failed: "), "{message}");
    }
    assert!(!std::path::Path::new("/tmp/closebook-escape").exists());

    let environment = run_json(&ledger, &hostile, "2026-03", &json!({ "attempt": "environment" }), &[]);
    assert_eq!(
        environment["output"]["Ok"]["messages"],
        json!([{ "level": "Info", "text": "environment: []" }, { "level": "Info", "text": "arguments: []" }])
    );

    let path = hostile.display().to_string();
    let rust_network = plugin_wasm("guest_network").display().to_string();
    for (wasm, config, extra, expected) in [
        (
            path.as_str(),
            r#"{"attempt":"network"}"#,
            &[][..],
            "trapped: it called wasi:sockets/tcp-create-socket@",
        ),
        (
            rust_network.as_str(),
            "{}",
            &[][..],
            "trapped: it called wasi:sockets/tcp-create-socket@",
        ),
        (
            path.as_str(),
            r#"{"attempt":"loop"}"#,
            &[][..],
            "exceeded its fuel limit of 5000000000 units",
        ),
        (
            path.as_str(),
            r#"{"attempt":"loop"}"#,
            &["--fuel", "100000000000", "--wall-time-ms", "200"][..],
            "exceeded its wall-time limit of 200 ms",
        ),
    ] {
        let mut arguments = vec![
            "plugin", "run", wasm, "--entity", "ACME-US", "--period", "2026-03", "--config", config, "--post",
        ];
        arguments.extend_from_slice(extra);
        let error = run_cached(&ledger, "alice", &arguments).failure();
        assert!(error.contains(expected), "{wasm} {config}: {error}");
        assert!(
            error.contains("which the close-step sandbox does not provide") || !expected.contains("sockets"),
            "{error}"
        );
    }
    assert_eq!(
        (
            ledger.entry_count("ACME-US"),
            ledger.trial_balance("ACME-US", "2026-03")
        ),
        before,
        "a contained step wrote to the ledger"
    );
}

/// The fixture and expected proposals the allocation examples' native tests share with
/// `native_tests_expect_what_the_host_proposes`.
fn expected_proposals_path(example: &str) -> PathBuf {
    workspace_root()
        .join("examples")
        .join(example)
        .join("expected-proposals.json")
}

/// Text as a TOML basic string: JSON's quoting is valid TOML for it.
fn toml_string(value: &Value) -> String {
    let text = value.as_str().expect("a string in the fixture");
    serde_json::to_string(text).expect("a string quotes")
}

/// A ledger holding an expected-proposals.json fixture, as the native tests build it in the
/// harness: its currencies, one calendar with the fiscal year, the chart, the dimensions, the
/// entity and the rates applied as a setup file, and its entries imported and posted.
fn fixture_ledger(fixture: &Value) -> Ledger {
    let ledger = Ledger::new();
    let mut setup = String::new();
    for currency in fixture["currencies"].as_array().unwrap() {
        setup.push_str(&format!(
            "[[currency]]\ncode = {}\nminor_units = {}\n\n",
            toml_string(&currency[0]),
            currency[1]
        ));
    }
    let year = fixture["fiscal_year"].as_i64().unwrap();
    setup.push_str(&format!(
        "[[calendar]]\nid = \"calendar\"\nstart_month = 1\nfirst_year = \"FY{year}\"\nlast_year = \"FY{year}\"\n\n"
    ));
    setup.push_str("[[chart]]\nid = \"chart\"\naccounts = [\n");
    for account in fixture["accounts"].as_array().unwrap() {
        setup.push_str(&format!(
            "  {{ number = {}, name = {}, type = {}, blocked = {} }},\n",
            toml_string(&account["number"]),
            toml_string(&account["name"]),
            toml_string(&account["type"]),
            account["blocked"].as_bool().unwrap_or(false)
        ));
    }
    setup.push_str("]\n\n");
    for (name, values) in fixture["dimensions"].as_object().unwrap() {
        let values: Vec<String> = values.as_array().unwrap().iter().map(toml_string).collect();
        setup.push_str(&format!(
            "[[dimension]]\nname = {}\nvalues = [{}]\n\n",
            serde_json::to_string(name).unwrap(),
            values.join(", ")
        ));
    }
    let entity = &fixture["entity"];
    setup.push_str(&format!(
        "[[entity]]\nid = {}\nname = {}\ncurrency = {}\ncalendar = \"calendar\"\nchart = \"chart\"\n\
         retained_earnings_account = {}\ndefault_rate_type = {}\n\n",
        toml_string(&entity["id"]),
        toml_string(&entity["name"]),
        toml_string(&entity["currency"]),
        toml_string(&entity["retained_earnings_account"]),
        toml_string(&entity["default_rate_type"])
    ));
    for rate in fixture["rates"].as_array().unwrap() {
        setup.push_str(&format!(
            "[[rate]]\nfrom = {}\nto = {}\ntype = {}\ndate = {}\nrate = {}\n\n",
            toml_string(&rate["from"]),
            toml_string(&rate["to"]),
            toml_string(&rate["type"]),
            toml_string(&rate["date"]),
            toml_string(&rate["rate"])
        ));
    }
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(&setup));
    ledger.run(&["setup", "apply", &setup]).success();

    let entries = fixture["entries"].as_array().unwrap();
    let mut dimensions: Vec<&str> = entries
        .iter()
        .flat_map(|entry| entry["lines"].as_array().unwrap())
        .filter_map(|line| line["dimensions"].as_object())
        .flat_map(|dimensions| dimensions.keys().map(String::as_str))
        .collect();
    dimensions.sort_unstable();
    dimensions.dedup();
    let mut journal = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "entry".to_owned(),
        "date".to_owned(),
        "account".to_owned(),
        "amount".to_owned(),
        "currency".to_owned(),
        "accounting_amount".to_owned(),
        "description".to_owned(),
    ];
    header.extend(dimensions.iter().map(|name| format!("dim.{name}")));
    journal.write_record(&header).unwrap();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    for (index, entry) in entries.iter().enumerate() {
        for line in entry["lines"].as_array().unwrap() {
            let mut record = vec![
                format!("FIXTURE-{:03}", index + 1),
                text(&entry["date"]),
                text(&line["account"]),
                text(&line["amount"]),
                text(&line["currency"]),
                text(&line["accounting_amount"]),
                text(&entry["description"]),
            ];
            record.extend(dimensions.iter().map(|name| text(&line["dimensions"][*name])));
            journal.write_record(&record).unwrap();
        }
    }
    let journal = String::from_utf8(journal.into_inner().unwrap()).unwrap();
    let journal = ledger.write("journal.csv", &journal);
    let entity = entity["id"].as_str().unwrap();
    ledger
        .run(&[
            "import", "journals", &journal, "--entity", entity, "--module", "ledger", "--post",
        ])
        .success();
    ledger
}

/// A host run as expected-proposals.json writes it: the entries, messages and step log records,
/// or the refusal without the `plugin FILE failed: ` the host puts before it; levels by their
/// WIT names.
fn host_proposal(run: &Value, file_name: &str) -> Value {
    let lower = |level: &Value| Value::String(level.as_str().unwrap_or_default().to_lowercase());
    let log: Vec<Value> = run["log"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| json!({ "level": lower(&record["level"]), "text": record["message"] }))
        .collect();
    if let Some(refusal) = run["output"]["Err"].as_str() {
        let prefix = format!("plugin {file_name} failed: ");
        let refusal = refusal.strip_prefix(&prefix).unwrap_or(refusal);
        return json!({ "refusal": refusal, "log": log });
    }
    let output = &run["output"]["Ok"];
    let messages: Vec<Value> = output["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| json!({ "level": lower(&message["level"]), "text": message["text"] }))
        .collect();
    json!({ "entries": output["entries"], "messages": messages, "log": log })
}

#[test]
fn native_tests_expect_what_the_host_proposes() {
    // Proves the harness agrees with the host for the allocation examples: on the fixture of
    // their expected-proposals.json, built here in a real ledger, the built Python and
    // JavaScript components propose through the host exactly the entries, messages, step log
    // and refusals the file expects; and the examples' native tests, which build the same
    // fixture in the test harness, pass against the same file.
    let python_text = std::fs::read_to_string(expected_proposals_path("python-allocation")).unwrap();
    let javascript_text = std::fs::read_to_string(expected_proposals_path("js-allocation")).unwrap();
    // Both ports propose what the Rust step does (the test above), so one file serves both; it
    // is kept in each example so that each stands alone.
    assert_eq!(
        python_text, javascript_text,
        "the examples' expected-proposals.json files differ"
    );
    let expected: Value = serde_json::from_str(&python_text).unwrap();
    let entity = expected["fixture"]["entity"]["id"].as_str().unwrap();
    let ledger = fixture_ledger(&expected["fixture"]);
    let cases = expected["cases"].as_array().unwrap();
    let mut entries_compared = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        entries_compared += case["expected"]["entries"].as_array().map_or(0, Vec::len);
        for (file_name, wasm) in [
            ("python_allocation", polyglot_wasm("python_allocation")),
            ("js_allocation", polyglot_wasm("js_allocation")),
        ] {
            let config = case["config"].to_string();
            let run = run_cached(
                &ledger,
                "alice",
                &[
                    "plugin",
                    "run",
                    &wasm.display().to_string(),
                    "--entity",
                    entity,
                    "--period",
                    case["period"].as_str().unwrap(),
                    "--config",
                    &config,
                    "--format",
                    "json",
                ],
            );
            let run: Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|error| panic!("{file_name}, {name}: not JSON ({error}):\n{}", run.stderr));
            let actual = host_proposal(&run, file_name);
            assert_eq!(
                actual,
                case["expected"],
                "{file_name} through the host differs from expected-proposals.json for {name}:\n{}",
                serde_json::to_string_pretty(&actual).unwrap()
            );
        }
    }
    assert!(
        cases.len() >= 10 && entries_compared >= 6,
        "the file must compare proposals, not only refusals"
    );

    let python = Command::new("python3")
        .args(["-m", "unittest", "-v"])
        .current_dir(workspace_root().join("examples/python-allocation"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&python.stderr);
    assert!(
        python.status.success(),
        "the Python example's native tests failed:\n{report}"
    );
    assert!(
        report
            .lines()
            .any(|line| line.starts_with("test_every_case_proposes_what_the_host_does ") && line.ends_with(" ... ok")),
        "{report}"
    );
    let javascript = Command::new("node")
        .arg("--test")
        .current_dir(workspace_root().join("examples/js-allocation"))
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&javascript.stdout);
    assert!(
        javascript.status.success(),
        "the JavaScript example's native tests failed:\n{report}"
    );
    assert!(
        report.contains("\nok 1 - every case proposes what the host does\n"),
        "{report}"
    );
    assert!(report.contains("\n# fail 0\n"), "{report}");
}
