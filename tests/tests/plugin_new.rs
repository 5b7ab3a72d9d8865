//! `closebook plugin new`: the scaffolded project builds and passes its own test offline, builds
//! as a WebAssembly component the host can inspect, and bad names, occupied folders and a
//! wrong SDK path are refused with a message and nothing written. The Python and JavaScript
//! scaffolds (`--lang python|javascript`) pass their own native tests with nothing installed
//! (and fail a broken one), and build with componentize-py and componentize-js into components
//! that run in the sandbox. Their test harnesses (plugin-sdk/python, plugin-sdk/javascript) pass
//! their own tests, answer rate questions and shape fiscal years exactly as the ledger's own
//! code does, and carry the very types componentize-py generates.
//!
//! The scaffold's builds use their own target folder, `target/scaffold`, shared by every run:
//! the first run compiles the SDK's dependencies natively and for `wasm32-wasip2` (about 20 s
//! and 35 s on two cores), later runs only the new crate (a few seconds).

use chrono::NaiveDate;
use closebook_ledger::calendar::{FiscalCalendar, PeriodKind};
use closebook_ledger::rate::{ExchangeRate, RateTable};
use closebook_tests::{Ledger, closebook_binary, workspace_root};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::time::Instant;

/// The first bytes of every WebAssembly component: the magic, then the component-model
/// version and layer (a core module would have 01 00 00 00).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn scaffold_target_dir() -> PathBuf {
    workspace_root().join("target/scaffold")
}

/// Runs cargo in the scaffolded project with the shared scaffold target folder, and panics
/// with its output unless it succeeds.
fn cargo(project: &Path, arguments: &[&str]) -> Output {
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(arguments)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        .output()
        .expect("cargo runs");
    eprintln!(
        "cargo {}: {:.1} s",
        arguments.join(" "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "cargo {} failed in {}\nstdout:\n{}\nstderr:\n{}",
        arguments.join(" "),
        project.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `closebook plugin new` with the given arguments and `CLOSEBOOK_SDK_PATH` set or not.
fn plugin_new(arguments: &[&str], sdk_path: Option<&Path>) -> (i32, String, String) {
    let mut command = Command::new(closebook_binary());
    command.args(["plugin", "new"]).args(arguments);
    match sdk_path {
        Some(path) => command.env("CLOSEBOOK_SDK_PATH", path),
        None => command.env_remove("CLOSEBOOK_SDK_PATH"),
    };
    let output = command.output().expect("closebook runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The names of the entries of a folder, sorted.
fn entries(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("the folder exists")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

// Proves a new project passes its own tests offline, builds as a component, and that the host
// reads the step's name from it.
#[test]
fn scaffold_passes_its_own_test_and_builds_a_component() {
    let ledger = Ledger::new();
    let dir = ledger.dir.path().display().to_string();
    let created = ledger.run(&["plugin", "new", "accrue-bonus", "--dir", &dir]).success();
    let project = ledger.dir.path().join("accrue-bonus");
    assert!(
        created.stdout.starts_with(&format!(
            "created plugin project accrue-bonus in {}:\n",
            project.display()
        )),
        "{}",
        created.stdout
    );
    assert!(created.stdout.contains("  cargo test\n"), "{}", created.stdout);
    assert_eq!(entries(&project), [".gitignore", "Cargo.toml", "README.md", "src"]);
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = std::fs::canonicalize(workspace_root().join("plugin-sdk")).unwrap();
    // By version, with the SDK of this checkout patched in (issue 21).
    assert!(manifest.contains("closebook-plugin-sdk = \"0.1\"\n"), "{manifest}");
    assert!(
        manifest.contains(&format!(
            "[patch.crates-io]\nclosebook-plugin-sdk = {{ path = \"{}\" }}",
            sdk.display()
        )),
        "{manifest}"
    );

    let tested = cargo(&project, &["test", "--offline"]);
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");

    // The native test never expands the component exports (they exist only on wasm32), so
    // only this build proves the scaffold is a plugin.
    cargo(
        &project,
        &["build", "--offline", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = scaffold_target_dir().join("wasm32-wasip2/release/accrue_bonus.wasm");
    let bytes = std::fs::read(&wasm).unwrap_or_else(|error| panic!("reading {}: {error}", wasm.display()));
    assert_eq!(bytes[..8], COMPONENT_HEADER, "{} is not a component", wasm.display());
    let inspected = ledger
        .run(&["plugin", "inspect", &wasm.display().to_string(), "--format", "json"])
        .success()
        .json();
    assert_eq!(inspected["name"], "accrue-bonus");
}

// Proves bad names, an occupied folder and a wrong SDK path are refused with a message that
// says why, and that nothing is written.
#[test]
fn refusals_name_the_problem_and_write_nothing() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path();
    let dir_text = dir.display().to_string();

    for (name, message) in [
        (
            "Accrue",
            "error: plugin name `Accrue` has upper-case letters: use `accrue`",
        ),
        ("2fast", "error: plugin name `2fast` must start with a letter"),
        ("my plugin", "error: plugin name `my plugin` contains ` `"),
        ("../escape", "error: plugin name `../escape` contains `.`"),
        ("fn", "error: plugin name `fn` is a Rust keyword"),
    ] {
        let (status, _, stderr) = plugin_new(&[name, "--dir", &dir_text], None);
        assert_eq!(status, 1, "{name} was accepted");
        assert!(stderr.starts_with(message), "{name}: {stderr}");
    }
    assert!(entries(dir).is_empty(), "a refused name wrote {:?}", entries(dir));

    let occupied = dir.join("accrue-bonus");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let (status, _, stderr) = plugin_new(&["accrue-bonus", "--dir", &dir_text], None);
    assert_eq!(status, 1);
    assert_eq!(
        stderr,
        format!(
            "error: folder {} already exists and is not empty: choose another name or --dir, or remove the folder\n",
            occupied.display()
        )
    );
    assert_eq!(entries(&occupied), ["notes.txt"]);
    assert_eq!(std::fs::read_to_string(occupied.join("notes.txt")).unwrap(), "mine");

    let not_the_sdk = workspace_root().join("host");
    let (status, _, stderr) = plugin_new(&["fresh", "--dir", &dir_text], Some(&not_the_sdk));
    assert_eq!(status, 1);
    assert!(
        stderr.contains("is not the manifest of closebook-plugin-sdk (from CLOSEBOOK_SDK_PATH)"),
        "{stderr}"
    );
    assert!(!dir.join("fresh").exists());
}

/// Runs a build command of a scaffolded Python or JavaScript project and panics with its
/// output unless it succeeds.
fn build(project: &Path, program: &str, arguments: &[&str]) {
    let started = Instant::now();
    let output = Command::new(program)
        .args(arguments)
        .current_dir(project)
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    eprintln!(
        "{program} {}: {:.1} s",
        arguments.join(" "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "{program} {} failed in {}\nstdout:\n{}\nstderr:\n{}",
        arguments.join(" "),
        project.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Scaffolds `name` in `language` into a demo ledger's folder, builds it with `build_project`,
/// and runs the component in the sandbox with the template's configuration: the accrual of
/// 1,500.00 on 6200 against 2100 at the end of January, reversed on February 1st.
fn scaffold_builds_and_runs(language: &str, name: &str, files: &[&str], build_project: impl Fn(&Path)) {
    let ledger = Ledger::with_demo_setup();
    let dir = ledger.dir.path().display().to_string();
    let created = ledger
        .run(&["plugin", "new", name, "--lang", language, "--dir", &dir])
        .success();
    let project = ledger.dir.path().join(name);
    assert!(
        created.stdout.contains("closebook plugin inspect"),
        "{}",
        created.stdout
    );
    assert_eq!(entries(&project), files);
    assert_eq!(
        std::fs::read_to_string(project.join("wit/closebook.wit")).unwrap(),
        std::fs::read_to_string(workspace_root().join("plugin-sdk/wit/v0.2/closebook.wit")).unwrap(),
        "the project's WIT must be the newest released interface"
    );
    build_project(&project);
    let wasm = project.join(format!("{}.wasm", name.replace('-', "_")));
    let bytes = std::fs::read(&wasm).unwrap_or_else(|error| panic!("reading {}: {error}", wasm.display()));
    assert_eq!(bytes[..8], COMPONENT_HEADER, "{} is not a component", wasm.display());
    let wasm = wasm.display().to_string();
    let inspected = ledger
        .run(&["plugin", "inspect", &wasm, "--format", "json"])
        .success()
        .json();
    assert_eq!(inspected["name"], name);
    let run = ledger
        .run(&[
            "plugin",
            "run",
            &wasm,
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--config",
            r#"{"expense_account":"6200","accrual_account":"2100","amount":"1500.00"}"#,
            "--format",
            "json",
        ])
        .success()
        .json();
    let entry = &run["output"]["Ok"]["entries"][0];
    assert_eq!(entry["date"], "2026-01-31", "{run}");
    assert_eq!(entry["reversal_date"], "2026-02-01", "{run}");
    assert_eq!(entry["lines"][0]["amount"], "1500.00", "{run}");
    assert_eq!(entry["lines"][1]["amount"], "-1500.00", "{run}");
    let refused = ledger
        .run(&[
            "plugin",
            "run",
            &wasm,
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--config",
            r#"{"expense_account":"6200","accrual_account":"2100","amount":"1500.005"}"#,
        ])
        .failure();
    assert!(
        refused.contains("amount 1500.005 has more decimals than USD allows (2): round it"),
        "{refused}"
    );
}

// Proves `--lang python` scaffolds a project whose build script (componentize-py, installed by
// scripts/build-polyglot-plugins in CI) makes a component that proposes the accrual, and refuses
// an amount with too many decimals.
#[test]
fn python_scaffold_builds_a_component_that_runs() {
    scaffold_builds_and_runs(
        "python",
        "accrue-bonus-py",
        &[
            ".gitignore",
            "README.md",
            "app.py",
            "build.sh",
            "closebook_testing.py",
            "test_app.py",
            "wit",
        ],
        |project| build(project, "bash", &["build.sh"]),
    );
}

// Proves `--lang javascript` scaffolds a project that componentize-js builds into a component
// that proposes the accrual. The project borrows the node_modules of examples/js-allocation
// (the same pinned componentize-js, installed by scripts/build-polyglot-plugins) rather than
// downloading 400 MB again.
#[test]
fn javascript_scaffold_builds_a_component_that_runs() {
    scaffold_builds_and_runs(
        "javascript",
        "accrue-bonus-js",
        &[
            ".gitignore",
            "README.md",
            "app.js",
            "app.test.js",
            "closebook-testing.mjs",
            "package.json",
            "wit",
        ],
        |project| {
            let modules = workspace_root().join("examples/js-allocation/node_modules");
            assert!(
                modules.join(".bin/componentize-js").exists(),
                "{} is missing: run `scripts/build-polyglot-plugins javascript` first (scripts/test does)",
                modules.display()
            );
            std::os::unix::fs::symlink(&modules, project.join("node_modules")).unwrap();
            build(project, "npm", &["run", "build"]);
        },
    );
}

/// Runs a native test command (python3, node) in `folder` and returns its output, whatever its
/// status. Python writes no `__pycache__` into the repository.
fn native(folder: &Path, program: &str, arguments: &[&str], stdin: Option<&str>) -> Output {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(arguments)
        .current_dir(folder)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("a piped stdin");
        pipe.write_all(text.as_bytes()).expect("writing the program's input");
    }
    let output = child.wait_with_output().expect("the program ends");
    eprintln!(
        "{program} {} in {}: {:.1} s",
        arguments.join(" "),
        folder.display(),
        started.elapsed().as_secs_f64()
    );
    output
}

/// The output of a native run, for assertion messages.
fn shown(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How many tests `python3 -m unittest` ran (`Ran 5 tests in 0.006s`); 0 when it says nothing.
fn unittest_count(output: &Output) -> usize {
    let report = String::from_utf8_lossy(&output.stderr);
    report
        .lines()
        .find_map(|line| line.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// A count of `node --test`'s summary (`# pass 5`, `# fail 0`); 0 when it says nothing.
fn node_test_count(output: &Output, what: &str) -> usize {
    let report = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("# {what} ");
    report
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str())?.parse().ok())
        .unwrap_or(0)
}

/// Scaffolds `name` in `language` into a fresh folder and returns the ledger (which owns the
/// folder) and the project's path.
fn scaffold(language: &str, name: &str) -> (Ledger, PathBuf) {
    let ledger = Ledger::new();
    let dir = ledger.dir.path().display().to_string();
    let created = ledger
        .run(&["plugin", "new", name, "--lang", language, "--dir", &dir])
        .success();
    let test_command = if language == "python" {
        "python3 -m unittest"
    } else {
        "node --test"
    };
    assert!(
        created.stdout.contains(&format!("\n  {test_command}\n")),
        "{}",
        created.stdout
    );
    let project = ledger.dir.path().join(name);
    (ledger, project)
}

/// Replaces `from` (which must occur) by `to` in a file of a project.
fn edit(project: &Path, file: &str, from: &str, to: &str) {
    let path = project.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

// Proves a new Python project passes its own native tests with `python3 -m unittest` and nothing
// installed, and that the tests can fail: a wrong expectation fails one test, and a step that
// returns a Decimal where the WIT wants a string fails at the harness's boundary check, as it
// would trap in the component.
#[test]
fn python_scaffold_passes_its_native_tests_and_fails_broken_ones() {
    let (_ledger, project) = scaffold("python", "accrue-native-py");
    let passed = native(&project, "python3", &["-m", "unittest"], None);
    let report = String::from_utf8_lossy(&passed.stderr).into_owned();
    assert!(passed.status.success(), "{}", shown(&passed));
    assert!(report.contains("Ran 5 tests"), "{report}");
    assert!(report.ends_with("\nOK\n"), "{report}");

    edit(
        &project,
        "test_app.py",
        r#"[("6200", "1500.00"), ("2100", "-1500.00")]"#,
        r#"[("6200", "1500.01"), ("2100", "-1500.00")]"#,
    );
    let failed = native(&project, "python3", &["-m", "unittest"], None);
    let report = String::from_utf8_lossy(&failed.stderr).into_owned();
    assert!(!failed.status.success(), "{}", shown(&failed));
    assert!(report.contains("FAILED (failures=1)"), "{report}");
    assert!(
        report.contains("FAIL: test_accrues_at_the_period_end_and_reverses_the_next_day"),
        "{report}"
    );

    edit(
        &project,
        "app.py",
        "[], None, str(amount), None, None)",
        "[], None, amount, None, None)",
    );
    let broken = native(&project, "python3", &["-m", "unittest"], None);
    let report = String::from_utf8_lossy(&broken.stderr).into_owned();
    assert!(!broken.status.success(), "{}", shown(&broken));
    assert!(
        report.contains(
            "BoundaryError: run's result.entries[0].lines[0].amount is a Decimal (Decimal('1500.00')), not a str"
        ),
        "{report}"
    );
}

// Proves a new JavaScript project passes its own native tests with `node --test` and nothing
// installed (no node_modules), and that the tests can fail: a wrong expectation fails one test,
// and a step that returns a Number amount fails at the harness's boundary check.
#[test]
fn javascript_scaffold_passes_its_native_tests_and_fails_broken_ones() {
    let (_ledger, project) = scaffold("javascript", "accrue-native-js");
    let passed = native(&project, "node", &["--test"], None);
    let report = String::from_utf8_lossy(&passed.stdout).into_owned();
    assert!(passed.status.success(), "{}", shown(&passed));
    assert!(report.contains("\n# pass 5\n# fail 0\n"), "{report}");

    edit(
        &project,
        "app.test.js",
        r#"["6200", "1500.00"]"#,
        r#"["6200", "1500.01"]"#,
    );
    let failed = native(&project, "node", &["--test"], None);
    let report = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert!(!failed.status.success(), "{}", shown(&failed));
    assert!(report.contains("\n# pass 4\n# fail 1\n"), "{report}");
    assert!(
        report.contains("not ok 2 - accrues at the period end and reverses the next day"),
        "{report}"
    );

    edit(
        &project,
        "app.js",
        "amount: formatDecimal(value),",
        "amount: Number(formatDecimal(value)),",
    );
    let broken = native(&project, "node", &["--test"], None);
    let report = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert!(!broken.status.success(), "{}", shown(&broken));
    assert!(
        report.contains("run's result.entries[0].lines[0].amount is a number (1500), not a decimal string"),
        "{report}"
    );
}

// Proves the Python and JavaScript harnesses pass their own tests: the Rust harness's query
// cases (plugin-sdk/src/testing/queries.rs) and the boundary checks.
#[test]
fn the_python_and_javascript_harnesses_pass_their_own_tests() {
    let python = native(
        &workspace_root().join("plugin-sdk/python"),
        "python3",
        &["-m", "unittest"],
        None,
    );
    assert!(python.status.success(), "{}", shown(&python));
    assert!(unittest_count(&python) >= 20, "{}", shown(&python));

    let javascript = native(
        &workspace_root().join("plugin-sdk/javascript"),
        "node",
        &["--test"],
        None,
    );
    assert!(javascript.status.success(), "{}", shown(&javascript));
    assert!(node_test_count(&javascript, "pass") >= 15, "{}", shown(&javascript));
    assert_eq!(node_test_count(&javascript, "fail"), 0, "{}", shown(&javascript));
}

/// (from, to, rate type, effective, rate): direct-only pairs, inverse-only pairs, a pair with
/// both directions starting on different dates, a zero rate, and several rate types, as
/// tests/tests/sdk_harness_parity.rs has them for the Rust harness.
const RATES: [(&str, &str, &str, &str, &str); 9] = [
    ("EUR", "USD", "spot", "2026-01-01", "1.08"),
    ("EUR", "USD", "spot", "2026-02-01", "1.10"),
    ("USD", "EUR", "spot", "2026-03-01", "0.9"),
    ("USD", "JPY", "spot", "2026-01-01", "150"),
    ("GBP", "USD", "spot", "2026-02-15", "1.27"),
    ("USD", "GBP", "average", "2026-01-01", "0.79"),
    ("USD", "GBP", "average", "2026-02-01", "0.7000"),
    ("CHF", "USD", "spot", "2026-01-01", "0"),
    ("EUR", "USD", "average", "2026-01-01", "3"),
];

/// Rates whose inverse the harness must write as the host does, digit for digit: quotients that
/// end early (1 / 0.8 is 1.25, but 1 / 0.5 is 2.0 in rust_decimal), late, never (rounded to 12
/// places), beyond 32 bits of mantissa, and too large for 28 places.
const INVERTED_RATES: [&str; 18] = [
    "0.5",
    "0.8",
    "1.25",
    "2.50",
    "0.10",
    "0.0001",
    "0.16",
    "0.0016",
    "0.000123",
    "3",
    "0.3",
    "7",
    "1.08",
    "0.79",
    "3.14159265358979",
    "1.0912345678",
    "12345678901234567890.5",
    "0.0000000000000000000000000003",
];

/// The program that asks the Python harness `harness_answers`'s questions.
const PYTHON_ANSWERS: &str = r#"
import json, sys
from closebook_testing import TestLedger

request = json.load(sys.stdin)
ledger = TestLedger()
for rate in request["rates"]:
    ledger.add_rate(*rate)
rates = [ledger.rate(*question) for question in request["questions"]]
ledger.add_currency("USD", 2)
calendars = []
for month in request["start_months"]:
    entity = f"E{month}"
    ledger.add_entity(entity, entity, "USD", "3900", "spot").add_fiscal_year_starting(entity, request["year"], month)
    periods = ledger.periods(entity, None)
    calendars.append([[p.name, p.kind.name.lower(), p.start, p.end, p.fiscal_year] for p in periods])
print(json.dumps({"rates": rates, "calendars": calendars}))
"#;

/// The program that asks the JavaScript harness `harness_answers`'s questions.
const JAVASCRIPT_ANSWERS: &str = r#"
import { readFileSync } from "node:fs";
import { TestLedger } from "./closebook-testing.mjs";

const request = JSON.parse(readFileSync(0, "utf8"));
const ledger = new TestLedger();
for (const rate of request.rates) ledger.addRate(...rate);
const rates = request.questions.map((question) => ledger.rate(...question) ?? null);
ledger.addCurrency("USD", 2);
const calendars = request.start_months.map((month) => {
  const entity = `E${month}`;
  ledger.addEntity(entity, entity, "USD", "3900", "spot").addFiscalYearStarting(entity, request.year, month);
  return ledger.periods(entity, undefined).map((p) => [p.name, p.kind, p.start, p.end, p.fiscalYear]);
});
console.log(JSON.stringify({ rates, calendars }));
"#;

/// Asks a harness, through a small program in its language, the rate questions of `request`
/// (its rates, then `[from, to, rate type, on]` questions) and for the periods of a fiscal year
/// for each start month, and returns its answers as JSON.
fn harness_answers(language: &str, request: &Value) -> Value {
    let request = request.to_string();
    let output = if language == "python" {
        native(
            &workspace_root().join("plugin-sdk/python"),
            "python3",
            &["-c", PYTHON_ANSWERS],
            Some(&request),
        )
    } else {
        native(
            &workspace_root().join("plugin-sdk/javascript"),
            "node",
            &["--input-type=module", "-e", JAVASCRIPT_ANSWERS],
            Some(&request),
        )
    };
    assert!(output.status.success(), "{}", shown(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {}", shown(&output)))
}

// Proves the Python and JavaScript harnesses answer every rate question exactly as the host's
// rate table does, in the same text (`0.7000` keeps its zeros; 1 / 0.5 is `2.0` and 1 / 0.8 is
// `1.25`, as rust_decimal divides; 1 / 0.79 is `1.265822784810`), and shape a fiscal year like
// the host's calendar for every start month.
#[test]
fn the_python_and_javascript_harnesses_agree_with_the_ledger_on_rates_and_calendars() {
    let date = |text: &str| NaiveDate::from_str(text).expect("a test date");
    // Each inverted rate is the only one of its own rate type, from USD to XXX, asked from XXX.
    let inverted = INVERTED_RATES.iter().enumerate().map(|(index, rate)| {
        (
            "USD".to_owned(),
            "XXX".to_owned(),
            format!("inverted-{index}"),
            "2026-01-01",
            rate.to_string(),
        )
    });
    let rates: Vec<(String, String, String, &str, String)> = RATES
        .iter()
        .map(|(from, to, rate_type, effective, rate)| {
            (
                from.to_string(),
                to.to_string(),
                rate_type.to_string(),
                *effective,
                rate.to_string(),
            )
        })
        .chain(inverted)
        .collect();
    let table = RateTable::new(rates.iter().map(|(from, to, rate_type, effective, rate)| ExchangeRate {
        from: from.as_str().into(),
        to: to.as_str().into(),
        rate_type: rate_type.as_str().into(),
        effective: date(effective),
        rate: Decimal::from_str(rate).expect("a test rate"),
    }));
    let currencies = ["USD", "EUR", "JPY", "GBP", "CHF"];
    let rate_types = ["spot", "average", "budget"];
    let dates = [
        "2025-12-31",
        "2026-01-01",
        "2026-01-31",
        "2026-02-01",
        "2026-02-20",
        "2026-03-01",
        "2026-12-31",
    ];
    let mut questions = Vec::new();
    for from in currencies {
        for to in currencies {
            for rate_type in rate_types {
                for on in dates {
                    questions.push((from.to_owned(), to.to_owned(), rate_type.to_owned(), on));
                }
            }
        }
    }
    for index in 0..INVERTED_RATES.len() {
        questions.push((
            "XXX".to_owned(),
            "USD".to_owned(),
            format!("inverted-{index}"),
            "2026-06-30",
        ));
    }
    let host_rates: Vec<Value> = questions
        .iter()
        .map(|(from, to, rate_type, on)| {
            let rate = table.rate_on(
                &from.as_str().into(),
                &to.as_str().into(),
                &rate_type.as_str().into(),
                date(on),
            );
            rate.map_or(Value::Null, |rate| Value::String(rate.to_string()))
        })
        .collect();
    let inverses = &host_rates[host_rates.len() - INVERTED_RATES.len()..];
    assert_eq!(
        inverses[0], "2.0",
        "rust_decimal's 1 / 0.5, which the harnesses must copy"
    );
    assert_eq!(inverses[1], "1.25");

    let year = 2028;
    let host_calendars: Vec<Value> = (1..=12)
        .map(|start_month| {
            let calendar = FiscalCalendar::new(start_month).expect("a month");
            let fiscal_year = calendar.fiscal_year(year).expect("a supported year");
            calendar
                .periods(&fiscal_year)
                .into_iter()
                .map(|period| {
                    let kind = match period.kind {
                        PeriodKind::Opening => "opening",
                        PeriodKind::Operating => "operating",
                        PeriodKind::Closing => "closing",
                    };
                    json!([
                        period.name.to_string(),
                        kind,
                        period.start.to_string(),
                        period.end.to_string(),
                        period.fiscal_year.to_string()
                    ])
                })
                .collect()
        })
        .collect();

    let request_rates: Vec<Value> = rates
        .iter()
        .map(|(from, to, rate_type, effective, rate)| json!([from, to, rate_type, effective, rate]))
        .collect();
    let request_questions: Vec<Value> = questions
        .iter()
        .map(|(from, to, rate_type, on)| json!([from, to, rate_type, on]))
        .collect();
    let request = json!({
        "rates": request_rates,
        "questions": request_questions,
        "start_months": (1..=12).collect::<Vec<u32>>(),
        "year": year,
    });
    for language in ["python", "javascript"] {
        let answers = harness_answers(language, &request);
        let rates = answers["rates"].as_array().expect("the rate answers");
        assert_eq!(rates.len(), host_rates.len(), "{language}");
        for ((question, harness), host) in questions.iter().zip(rates).zip(&host_rates) {
            assert_eq!(harness, host, "{language}: rate {question:?}");
        }
        let calendars = answers["calendars"].as_array().expect("the calendars");
        for (start_month, (harness, host)) in (1..=12).zip(calendars.iter().zip(&host_calendars)) {
            assert_eq!(harness, host, "{language}: FY{year} starting in month {start_month}");
        }
    }
}

// Proves the Python harness's records, enums and `Err` are the very ones componentize-py 0.25.1
// generates from the newest released WIT, 0.2 (installed by scripts/build-polyglot-plugins in CI): a step's
// `types.ProposedLine(...)` builds the same record in a test as in the component.
#[test]
fn the_python_harness_carries_the_bindings_componentize_py_generates() {
    let bindings = tempfile::tempdir().unwrap();
    let wit = workspace_root().join("plugin-sdk/wit/v0.2");
    let generated = native(
        bindings.path(),
        "componentize-py",
        &["-d", &wit.display().to_string(), "-w", "close-step", "bindings", "."],
        None,
    );
    assert!(generated.status.success(), "{}", shown(&generated));
    let program = "import json\nfrom closebook_testing import GENERATED_SOURCES\nprint(json.dumps(GENERATED_SOURCES))";
    let embedded = native(
        &workspace_root().join("plugin-sdk/python"),
        "python3",
        &["-c", program],
        None,
    );
    assert!(embedded.status.success(), "{}", shown(&embedded));
    let embedded: Value = serde_json::from_slice(&embedded.stdout).unwrap();
    let embedded = embedded.as_object().expect("a map of sources");
    assert_eq!(embedded.len(), 3);
    for (path, source) in embedded {
        let fresh = std::fs::read_to_string(bindings.path().join(path))
            .unwrap_or_else(|error| panic!("componentize-py generated no {path}: {error}"));
        assert_eq!(
            source.as_str(),
            Some(fresh.as_str()),
            "{path} differs from componentize-py's"
        );
    }
    // The modules the harness writes itself: only these two.
    for stand_in in ["wit_world/imports/ledger.py", "wit_world/imports/log.py"] {
        assert!(bindings.path().join(stand_in).is_file(), "{stand_in}");
    }
}
