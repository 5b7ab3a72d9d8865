//! Close steps written in Python and JavaScript (issue #9), end to end: the components built by
//! `scripts/build-polyglot-plugins` into target/polyglot/ run through the real binary against the
//! demo ledger. Proves that the Python and JavaScript allocation steps propose exactly what the
//! Rust allocation step proposes (entries, messages, step log and refusals, compared as the
//! JSON `plugin run --format json` prints), that the Python step runs inside a `close run`, and
//! that the sandbox contains a misbehaving Python step as it contains a Rust one.

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
    // configuration schema, so the host validates their configuration the same way.
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
        info
    };
    let rust = inspect(plugin_wasm("allocation"));
    assert_eq!(inspect(polyglot_wasm("python_allocation")), rust);
    assert_eq!(inspect(polyglot_wasm("js_allocation")), rust);
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
