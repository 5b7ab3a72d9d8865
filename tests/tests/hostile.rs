//! Hostile plugins and hostile text, through the real binary (issue 17): long strings, control
//! characters, unbounded `describe()` fields, a chatty log and an exponential config schema are
//! each refused (or escaped) with a clear message, exit code 1 where refused, nothing written,
//! and the host's peak memory below the bound the README states.

use closebook_tests::{Ledger, Run, closebook_binary, plugin_wasm, workspace_root};
use serde_json::{Value, json};

/// The resident memory no plugin, schema or string may drive `closebook` above with the
/// default limits (README, "Close steps as plugins").
const HOST_RESIDENT_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// What a refusal must leave untouched: trial balances and entry counts.
fn state(ledger: &Ledger) -> (Vec<Value>, i64, i64) {
    let mut trial_balances = Vec::new();
    for entity in ["ACME-US", "ACME-DE"] {
        for period in ["2026-01", "2026-02", "2026-03"] {
            trial_balances.push(ledger.trial_balance(entity, period));
        }
    }
    (
        trial_balances,
        ledger.entry_count("ACME-US"),
        ledger.entry_count("ACME-DE"),
    )
}

fn run_plugin(ledger: &Ledger, wasm: &str, config: &Value, extra: &[&str]) -> Run {
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

/// The ledger's own plugin cache: `.closebook-cache` beside its file, where closebook keeps it
/// for a ledger file. Given as `CLOSEBOOK_CACHE`, so that a ledger in PostgreSQL, whose default
/// cache is the user's (shared by every test), has a cache of its own as well.
fn plugin_cache(ledger: &Ledger) -> std::path::PathBuf {
    ledger.dir.path().join(".closebook-cache")
}

/// Runs `closebook` on `ledger` with `arguments` (and its own plugin cache, [`plugin_cache`])
/// and returns its outcome and its peak resident
/// memory in bytes, read with `wait4` for that one child (the children of other tests, and the
/// `cargo build` of the binary, are not counted).
// The child is waited for with `wait4`, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(ledger: &Ledger, arguments: &[&str]) -> (Run, u64) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(closebook_binary())
        .arg("--db")
        .arg(ledger.db())
        .arg("--as")
        .arg(&ledger.user)
        .args(arguments)
        .current_dir(workspace_root())
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("CLOSEBOOK_CACHE", plugin_cache(ledger))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("closebook runs");
    let mut stdout_pipe = child.stdout.take().expect("piped stdout");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let stdout_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout_pipe.read_to_end(&mut bytes).map(|_| bytes)
    });
    let mut stderr_bytes = Vec::new();
    stderr_pipe.read_to_end(&mut stderr_bytes).expect("stderr reads");
    let stdout_bytes = stdout_reader
        .join()
        .expect("the reader thread ends")
        .expect("stdout reads");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let mut status: libc::c_int = 0;
    // SAFETY: `wait4` writes only the status and the struct it is given; the child is ours and
    // has not been waited for (`Child` is dropped without waiting).
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let run = Run {
        status: code,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
    };
    // Linux reports `ru_maxrss` in kilobytes.
    (run, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024)
}

/// Like [`run_plugin`], and checks the command stayed below `HOST_RESIDENT_BYTES_MAX`.
#[track_caller]
fn run_plugin_bounded(ledger: &Ledger, wasm: &str, config: &Value, extra: &[&str]) -> Run {
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
    run_bounded(ledger, &arguments)
}

/// Runs `closebook` with `arguments` and checks it stayed below `HOST_RESIDENT_BYTES_MAX`.
#[track_caller]
fn run_bounded(ledger: &Ledger, arguments: &[&str]) -> Run {
    let (run, peak_bytes) = run_measured(ledger, arguments);
    let shown: Vec<String> = arguments
        .iter()
        .map(|argument| argument.chars().take(60).collect())
        .collect();
    assert!(
        peak_bytes < HOST_RESIDENT_BYTES_MAX,
        "closebook {shown:?} reached {peak_bytes} bytes resident; the bound is {HOST_RESIDENT_BYTES_MAX}"
    );
    eprintln!("closebook {shown:?}: peak resident {peak_bytes} bytes");
    run
}

/// Checks a command was refused with exit code 1, and returns its stderr.
#[track_caller]
fn refused(run: Run) -> String {
    assert_eq!(
        run.status, 1,
        "expected exit code 1\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stderr
}

/// Proposes `entries` through the `propose` guest with --post, expects the refusal `expected`
/// (and exit code 1), and checks nothing was written.
#[track_caller]
fn refused_proposal(ledger: &Ledger, entries: Value, expected: &str) -> String {
    let before = state(ledger);
    let stderr = refused(run_plugin_bounded(
        ledger,
        "guest_propose",
        &json!({"entries": entries}),
        &["--post"],
    ));
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert_eq!(state(ledger), before, "a refused proposal changed the ledger");
    stderr
}

fn line(account: &str, amount: &str) -> Value {
    json!({"account": account, "amount": amount})
}

#[test]
fn long_texts_are_refused_at_the_posting_boundary_with_the_field_and_the_limit() {
    // Proves issue 17, weakness 1: a proposal or import carrying a 65,536-character text is
    // refused naming the field, its length and the limit, and nothing is written.
    let ledger = Ledger::with_demo_journals();
    let long = "d".repeat(70_000);
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "description": long, "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]),
        "plugin guest_propose proposed entry 1, which is refused: the entry description is 70000 characters long; at most 1000 are allowed; nothing was posted",
    );
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [line(&"1".repeat(65_536), "1.00"), line("4100", "-1.00")]}]),
        "plugin guest_propose proposed entry 1, line 1, which is refused: the account is 65536 characters long; at most 64 are allowed",
    );
    refused_proposal(
        &ledger,
        json!([{"entity": "E".repeat(100_000), "date": "2026-03-31", "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]),
        "plugin guest_propose proposed entry 1, which is refused: the entity is 100000 characters long; at most 64 are allowed",
    );
    // Imports meet the same limits, in the ledger's own validation.
    let before = state(&ledger);
    let journal = ledger.write(
        "long.csv",
        &format!(
            "entry,date,account,amount,description\nL-1,2026-03-10,1000,1.00,{long}\nL-1,2026-03-10,4100,-1.00,{long}\n"
        ),
    );
    let stderr = refused(run_bounded(
        &ledger,
        &["import", "journals", &journal, "--entity", "ACME-US", "--post"],
    ));
    assert!(
        stderr.contains("line 2: entry L-1: the entry description is 70000 characters long; at most 1000 are allowed"),
        "{stderr}"
    );
    let key = "K".repeat(300);
    let journal = ledger.write(
        "key.csv",
        &format!("entry,date,account,amount\n{key},2026-03-10,1000,1.00\n{key},2026-03-10,4100,-1.00\n"),
    );
    let stderr = refused(run_bounded(
        &ledger,
        &["import", "journals", &journal, "--entity", "ACME-US", "--post"],
    ));
    assert!(
        stderr.contains("the entry key is 300 characters long; at most 256 are allowed"),
        "{stderr}"
    );
    assert!(!stderr.contains(&key), "the message quotes the whole key:\n{stderr}");
    assert_eq!(state(&ledger), before, "a refused import changed the ledger");
}

#[test]
fn output_never_panics_whatever_is_stored() {
    // Proves issue 17, weakness 1: a description of 70,000 characters with control characters,
    // stored before the limits existed (written here behind closebook's back), is printed by
    // `report journal` and `audit`, escaped, without a panic.
    let ledger = Ledger::with_demo_journals();
    let stored = format!("{}\u{1b}[2J\r\nforged line", "x".repeat(70_000));
    // The text has no quote to escape: it goes into the SQL as a literal, control characters and all.
    assert!(!stored.contains('\''));
    ledger.tamper(&format!(
        "UPDATE entries SET description = '{stored}' WHERE entry_key = 'US-GL-002';
         UPDATE lines SET description = '{stored}' WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'US-GL-002');"
    ));
    let journal = ledger
        .run(&["report", "journal", "--entity", "ACME-US", "--period", "2026-01"])
        .success()
        .stdout;
    // The table wraps its last column to fit the terminal: read the text back unwrapped.
    let unwrapped: String = journal.lines().map(str::trim).collect();
    assert!(
        unwrapped.contains("x\\u{1b}[2J\\u{d}\\u{a}forged"),
        "the description is not escaped"
    );
    for raw in ['\u{1b}', '\r'] {
        assert!(!journal.contains(raw), "a raw {raw:?} reached the terminal");
    }
    assert!(
        !journal.lines().any(|line| line.starts_with("forged line")),
        "a stored newline forged a line"
    );
    ledger.run(&["audit", "--limit", "5"]).success();
    // CSV and JSON keep the stored text exactly.
    let csv = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-01", "--format", "csv",
        ])
        .success()
        .stdout;
    assert!(csv.contains(&stored), "CSV changed the stored text");
    let json = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-01", "--format", "json",
        ])
        .success()
        .stdout;
    assert!(json.contains("[2J\\r\\nforged line"), "JSON changed the stored text");
}

#[test]
fn control_characters_are_refused_in_ids_and_escaped_in_every_text_output() {
    // Proves issue 17, weakness 6: an id with a control character is refused, the message shows
    // it escaped; a description, message, log line, stdout and step error keep their control
    // characters in JSON but print escaped in text.
    let ledger = Ledger::with_demo_journals();
    let stderr = refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [line("1000\u{1b}[2J", "1.00"), line("4100", "-1.00")]}]),
        "plugin guest_propose proposed entry 1, line 1, which is refused: the account `1000\\u{1b}[2J` contains a control character (shown escaped); ids, keys and codes may not contain control characters",
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    refused_proposal(
        &ledger,
        json!([{"entity": "ACME-US\r\nforged", "date": "2026-03-31", "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]),
        "the entity `ACME-US\\u{d}\\u{a}forged` contains a control character",
    );
    refused_proposal(
        &ledger,
        json!([{"date": "2026-03-31", "lines": [{"account": "1000", "amount": "1.00", "dimensions": {"department": "100\u{0}"}}, line("4100", "-1.00")]}]),
        "plugin guest_propose proposed entry 1, line 1, which is refused: the dimension value `100\\u{0}` contains a control character",
    );
    // A description may hold control characters: stored exactly, printed escaped.
    let description = "ok\u{1b}]0;owned\u{7}\u{8}\nforged line";
    let entries = json!([{"date": "2026-03-31", "description": description, "lines": [line("1000", "1.00"), line("4100", "-1.00")]}]);
    let text = run_plugin(&ledger, "guest_propose", &json!({"entries": entries}), &[])
        .success()
        .stdout;
    assert!(
        text.contains("ok\\u{1b}]0;owned\\u{7}\\u{8}\\u{a}forged line"),
        "{text}"
    );
    let json = run_plugin(
        &ledger,
        "guest_propose",
        &json!({"entries": entries}),
        &["--format", "json"],
    )
    .success()
    .json();
    assert_eq!(json["output"]["Ok"]["entries"][0]["description"], description);
    // Messages, log lines and stdout of `plugin run`.
    let hostile = "\u{1b}[2J\u{1b}[31mred\r\u{8}\u{0}";
    let config =
        json!({"log_calls": 1, "log_text": hostile, "stdout": format!("{hostile}\nsecond"), "messages": [hostile]});
    let text = run_plugin(&ledger, "guest_chatty", &config, &[]).success().stdout;
    for raw in ['\u{1b}', '\r', '\u{8}', '\u{0}'] {
        assert!(!text.contains(raw), "a raw {raw:?} reached the terminal:\n{text}");
    }
    assert!(
        text.contains("  log info: \\u{1b}[2J\\u{1b}[31mred\\u{d}\\u{8}\\u{0}"),
        "{text}"
    );
    assert!(text.contains("  stdout: \\u{1b}[2J"), "{text}");
    assert!(text.contains("warning: \\u{1b}[2J"), "{text}");
    // A step error quoting plugin text.
    let before = state(&ledger);
    let stderr = refused(run_plugin(
        &ledger,
        "guest_chatty",
        &json!({"error": hostile}),
        &["--post"],
    ));
    assert!(
        stderr.contains("plugin guest_chatty failed: \\u{1b}[2J\\u{1b}[31mred"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert_eq!(state(&ledger), before);
}

#[test]
fn csv_text_cells_cannot_run_as_formulas_and_amounts_stay_numbers() {
    // Proves OWASP's CSV-injection advice: a description starting with `=`, `+`, `-` or `@`
    // gets a leading `'` in CSV, while negative amounts stay numbers.
    let ledger = Ledger::with_demo_journals();
    let journal = ledger.write(
        "formulas.csv",
        "entry,date,account,amount,description\nF-1,2026-03-10,1000,5.00,\"=HYPERLINK(\"\"http://evil\"\")\"\nF-1,2026-03-10,4100,-5.00,@SUM(A1)\n",
    );
    ledger
        .run(&["import", "journals", &journal, "--entity", "ACME-US", "--post"])
        .success();
    let csv = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-03", "--format", "csv",
        ])
        .success()
        .stdout;
    let row = |text: &str| {
        csv.lines()
            .find(|row| row.contains(text))
            .unwrap_or_else(|| panic!("no {text} in:\n{csv}"))
    };
    let formula = row("HYPERLINK");
    assert!(formula.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""), "{formula}");
    let sum = row("SUM(A1)");
    assert!(sum.contains(",'@SUM(A1)"), "{sum}");
    assert!(sum.contains(",-5.00,"), "a negative amount lost its number form: {sum}");
}

#[test]
fn describe_fields_are_bounded_before_any_id_is_built_from_them() {
    // Proves issue 17, weakness 2: a 4 MiB step name is refused by `plugin run --post` and
    // `plugin inspect`, naming the field and the limit; nothing is written, and the host stays
    // below its memory bound.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let expected = "plugin guest_long_name: describe() returned a name that is refused: the name is 4194304 characters long; at most 64 are allowed";
    let stderr = refused(run_plugin_bounded(&ledger, "guest_long_name", &json!({}), &["--post"]));
    assert!(stderr.contains(expected), "{stderr}");
    assert!(stderr.len() < 2_000, "the message quotes the name");
    let path = plugin_wasm("guest_long_name").display().to_string();
    let stderr = refused(run_bounded(&ledger, &["plugin", "inspect", &path]));
    assert!(stderr.contains(expected), "{stderr}");
    assert_eq!(state(&ledger), before, "the long-named step changed the ledger");
}

#[test]
fn the_log_budget_counts_the_stored_log_and_the_text_says_it_was_cut() {
    // Proves issue 17, weakness 9: 100,000 one-byte log calls under a 64 KiB budget keep at
    // most 64 KiB of stored log (each record costs its JSON and 64 bytes), and `plugin run`
    // says the log was truncated.
    let ledger = Ledger::with_demo_journals();
    let config = json!({"log_calls": 100_000});
    let json = run_plugin_bounded(
        &ledger,
        "guest_chatty",
        &config,
        &["--log-bytes", "65536", "--format", "json"],
    )
    .success()
    .json();
    let log = &json["log"];
    assert_eq!(log["truncated"], true);
    let records = log["records"].as_array().unwrap().len();
    assert!(records > 0 && records <= 65_536 / 64, "{records} records kept");
    let stored = serde_json::to_string(log).unwrap().len();
    assert!(stored <= 65_536 + 128, "the stored log is {stored} bytes");
    let text = run_plugin(&ledger, "guest_chatty", &config, &["--log-bytes", "65536"])
        .success()
        .stdout;
    assert!(
        text.contains(
            "  log truncated: the step said more than its log limit of 65536 bytes; the rest was dropped (raise `log_bytes` to keep more)"
        ),
        "{text}"
    );
}

#[test]
fn an_exponential_config_schema_is_refused_before_it_is_evaluated() {
    // Proves issue 17, weakness 4: a 2 KB schema of `allOf`s nested 30 deep through `$ref`s
    // (2^30 evaluations) is refused at once, naming the plugin and the limit.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let started = std::time::Instant::now();
    let stderr = refused(run_plugin_bounded(
        &ledger,
        "guest_schema_bomb",
        &json!({}),
        &["--post"],
    ));
    assert!(
        stderr.contains(
            "plugin schema-bomb declares a config schema that is refused: one value may be evaluated against more than 10000 subschemas (following `$ref`s); at most 10000 are allowed"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state(&ledger), before);
}

#[test]
fn a_plugin_exit_is_reported_without_inventing_its_code() {
    // Proves issue 17's smaller finding: `std::process::exit(3)` in a guest reaches the host as
    // WASI's bare failure status, so the host no longer calls it `exit(1)`.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let stderr = refused(run_plugin(&ledger, "guest_chatty", &json!({"exit": 3}), &["--post"]));
    assert!(
        stderr.contains(
            "plugin guest_chatty exited with a failure status (WASI 0.2 passes on only success or failure, not the exit code the plugin gave)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("exit(1)"), "{stderr}");
    assert_eq!(state(&ledger), before);
}

#[test]
fn wasmtimes_copy_budget_is_named_as_the_output_limit() {
    // Proves issue 17's smaller finding: a single call passing more than the copy budget (here
    // a 140 MiB log message) ends the run with an error naming `output_bytes`, not wasmtime's
    // bare "hostcall fuel" message.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let config = json!({"log_calls": 1, "log_repeat": 140 * 1024 * 1024});
    let stderr = refused(run_plugin_bounded(&ledger, "guest_chatty", &config, &["--post"]));
    assert!(
        stderr.contains(
            "plugin guest_chatty passed more than 134217728 bytes to the host in one call (its copy budget: twice the output limit `output_bytes`, at least 128 MiB)"
        ),
        "{stderr}"
    );
    assert_eq!(state(&ledger), before);
}

#[test]
fn a_component_above_the_size_limit_is_refused_before_it_is_read() {
    // Proves issue 17, weakness 3 (in part): a component larger than PLUGIN_COMPONENT_BYTES_MAX
    // is refused by `plugin inspect` and `plugin run` before it is read or compiled.
    let ledger = Ledger::with_demo_setup();
    let path = ledger.dir.path().join("huge.wasm");
    let file = std::fs::File::create(&path).unwrap();
    // A sparse file: its size is what counts, and it takes no disk space.
    file.set_len(64 * 1024 * 1024 + 1).unwrap();
    let path = path.display().to_string();
    let expected =
        "plugin huge is 67108865 bytes; at most 67108864 bytes of component are compiled (PLUGIN_COMPONENT_BYTES_MAX)";
    let stderr = refused(run_bounded(&ledger, &["plugin", "inspect", &path]));
    assert!(stderr.contains(expected), "{stderr}");
    let stderr = refused(run_bounded(
        &ledger,
        &[
            "plugin", "run", &path, "--entity", "ACME-US", "--period", "2026-03", "--post",
        ],
    ));
    assert!(stderr.contains(expected), "{stderr}");
    assert_eq!(ledger.entry_count("ACME-US"), 0);
}

#[test]
fn the_wall_time_limit_stops_a_long_ledger_query() {
    // Proves issue 17, weakness 8: a single balance query that costs the host minutes of SQLite
    // work (10,000 listed accounts over the 2,800 periods of a 200-year calendar) ends at the
    // run's wall-time limit with the wall-time error, not minutes later; nothing is written.
    let ledger = Ledger::new();
    let setup = std::fs::read_to_string(closebook_tests::demo_dir().join("setup.toml"))
        .unwrap()
        .replace(r#"first_year = "FY2025""#, r#"first_year = "FY1900""#)
        .replace(r#"last_year = "FY2027""#, r#"last_year = "FY2099""#);
    let setup = ledger.write("setup.toml", &setup);
    ledger.run(&["setup", "apply", &setup]).success();
    let path = plugin_wasm("guest_slow_query").display().to_string();
    // Compiled into the cache first, so that the timed run below is the run alone.
    let cache = plugin_cache(&ledger).display().to_string();
    ledger
        .run_with_environment(
            &ledger.user,
            &[("CLOSEBOOK_CACHE", &cache)],
            &["plugin", "inspect", &path],
        )
        .success();
    let before = state(&ledger);
    let limit_ms: u64 = 1_000;
    let started = std::time::Instant::now();
    let stderr = refused(run_bounded(
        &ledger,
        &[
            "plugin",
            "run",
            &path,
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--wall-time-ms",
            &limit_ms.to_string(),
            "--post",
        ],
    ));
    let elapsed = started.elapsed();
    eprintln!("the command ended after {elapsed:?}");
    assert!(
        stderr.contains(
            "plugin guest_slow_query exceeded its wall-time limit of 1000 ms; make the step do less work or raise `wall_time_ms` in the task's limits"
        ),
        "{stderr}"
    );
    // Ten times the limit for the whole command: the machine is shared. The query alone runs
    // for minutes in a debug build.
    assert!(
        elapsed < std::time::Duration::from_millis(10 * limit_ms),
        "the command ended after {elapsed:?}"
    );
    assert_eq!(state(&ledger), before);
}

/// A component of 8 KB whose one function passes 1,000 values through 1,000 nested blocks: a
/// million block parameters, which took 2.2 GB resident and 3.7 s to compile before the compile
/// memory limit (debug build).
fn compile_bomb() -> Vec<u8> {
    /// `value` in unsigned LEB128, as WebAssembly writes sizes and counts.
    fn leb128(mut value: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                bytes.push(byte);
                return bytes;
            }
            bytes.push(byte | 0x80);
        }
    }
    fn section(id: u8, payload: &[u8]) -> Vec<u8> {
        [&[id][..], &leb128(payload.len()), payload].concat()
    }
    const VALUES: usize = 1_000;
    const BLOCKS: usize = 1_000;
    const I32: u8 = 0x7f;
    let results = [leb128(VALUES), vec![I32; VALUES]].concat();
    // Type 0, of every block: 1,000 i32 in, 1,000 out. Type 1, of the function: none in.
    let types = [&[2, 0x60][..], &results, &results, &[0x60, 0], &results].concat();
    let mut body = vec![0]; // no locals
    for _ in 0..VALUES {
        body.extend_from_slice(&[0x41, 0]); // i32.const 0
    }
    for _ in 0..BLOCKS {
        body.extend_from_slice(&[0x02, 0]); // block (type 0)
    }
    body.extend(std::iter::repeat_n(0x0b, BLOCKS + 1)); // the blocks' ends, the function's
    let code = [&[1][..], &leb128(body.len()), &body].concat();
    let module = [
        &b"\0asm\x01\0\0\0"[..],
        &section(1, &types),
        &section(3, &[1, 1]),
        &section(10, &code),
    ]
    .concat();
    // A component that holds the module (a core-module section); nothing instantiates it, and
    // wasmtime compiles it all the same.
    [&b"\0asm\x0d\0\x01\0"[..], &section(1, &module)].concat()
}

#[test]
fn a_compile_bomb_is_stopped_at_the_compile_memory_limit() {
    // Proves issue 17, weakness 3: an 8 KB component that needs 2.2 GB to compile is stopped
    // at PLUGIN_COMPILE_MEMORY_BYTES_MAX (768 MiB) by `plugin inspect` and `plugin run` alike,
    // with an error naming the limit and exit code 1; the command, its compiling child
    // included, stays below the host's bound, and nothing is cached or written.
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let bomb = compile_bomb();
    assert!(bomb.len() < 10_000, "{} bytes", bomb.len());
    let path = ledger.dir.path().join("compile-bomb.wasm");
    std::fs::write(&path, &bomb).unwrap();
    let path = path.display().to_string();
    let expected = "compiling plugin compile-bomb needed more than 768 MiB of memory (PLUGIN_COMPILE_MEMORY_BYTES_MAX), so it was stopped (it was ended by signal";
    let stderr = refused(run_bounded(&ledger, &["plugin", "inspect", &path]));
    assert!(stderr.contains(expected), "{stderr}");
    let stderr = refused(run_bounded(
        &ledger,
        &[
            "plugin", "run", &path, "--entity", "ACME-US", "--period", "2026-03", "--post",
        ],
    ));
    assert!(stderr.contains(expected), "{stderr}");
    let cache = plugin_cache(&ledger);
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(cached.is_empty(), "a refused compile left {cached:?}");
    assert_eq!(state(&ledger), before);
}

#[test]
fn close_run_stops_a_compile_bomb_at_the_same_limit() {
    // Proves issue 17, weakness 3, for `close run`: a close.toml that pins the compile bomb
    // as one of its plugins is stopped when it loads the plugins, with the same error, below
    // the host's bound, and nothing is written.
    use sha2::{Digest, Sha256};
    let ledger = Ledger::with_demo_journals();
    let before = state(&ledger);
    let bomb = ledger.dir.path().join("compile-bomb.wasm");
    std::fs::write(&bomb, compile_bomb()).unwrap();
    let release = plugin_wasm("custom_plugin").parent().unwrap().display().to_string();
    let demo = closebook_tests::demo_dir();
    let mut text = std::fs::read_to_string(demo.join("close.toml"))
        .unwrap()
        .replace("../../target/wasm32-wasip2/release", &release)
        .replace(
            "../../target/demo/reports",
            &ledger.dir.path().join("reports").display().to_string(),
        )
        .replace("../../examples/demo", &demo.display().to_string());
    let pinned = |path: &std::path::Path| hex::encode(Sha256::digest(std::fs::read(path).unwrap()));
    for (name, file) in [
        ("allocation", "allocation"),
        ("auto-settle", "auto_settle"),
        ("management-fee", "custom_plugin"),
    ] {
        let start = text.find(&format!("{name} = {{")).unwrap();
        let sha_start = start + text[start..].find("sha256 = \"").unwrap() + 10;
        text.replace_range(sha_start..sha_start + 64, &pinned(&plugin_wasm(file)));
    }
    // The revaluation step's file is the bomb.
    let start = text.find("fx-revaluation = {").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    text.replace_range(
        start..end,
        &format!(
            "fx-revaluation = {{ path = \"{}\", sha256 = \"{}\" }}",
            bomb.display(),
            pinned(&bomb)
        ),
    );
    let config = ledger.write("close.toml", &text);
    let stderr = refused(run_bounded(
        &ledger,
        &["close", "run", "--config", &config, "--period", "2026-01"],
    ));
    assert!(
        stderr.contains(
            "compiling plugin compile-bomb needed more than 768 MiB of memory (PLUGIN_COMPILE_MEMORY_BYTES_MAX)"
        ),
        "{stderr}"
    );
    assert_eq!(state(&ledger), before);
}

#[test]
fn the_compile_memory_limit_can_be_lowered_and_never_recompiles_a_cached_component() {
    // Proves CLOSEBOOK_PLUGIN_COMPILE_MEMORY_BYTES lowers the compile memory limit (and a value
    // above PLUGIN_COMPILE_MEMORY_BYTES_MAX is refused), and that a component in the cache is
    // loaded without compiling, so no limit applies to it.
    let ledger = Ledger::with_demo_setup();
    let bomb = ledger.dir.path().join("compile-bomb.wasm");
    std::fs::write(&bomb, compile_bomb()).unwrap();
    let bomb = bomb.display().to_string();
    let echo = plugin_wasm("guest_echo").display().to_string();
    let cache = ledger.dir.path().join("compile-cache");
    let inspect = |limit: Option<&str>, path: &str| {
        let mut command = std::process::Command::new(closebook_binary());
        command
            .arg("--db")
            .arg(ledger.db())
            .args(["plugin", "inspect", path])
            .env("CLOSEBOOK_CACHE", &cache)
            .env_remove("CLOSEBOOK_PLUGIN_COMPILE_MEMORY_BYTES");
        if let Some(limit) = limit {
            command.env("CLOSEBOOK_PLUGIN_COMPILE_MEMORY_BYTES", limit);
        }
        let output = command.output().expect("closebook runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    };
    let (code, stderr) = inspect(Some("314572800"), &bomb);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("compiling plugin compile-bomb needed more than 300 MiB of memory"),
        "{stderr}"
    );
    let (code, stderr) = inspect(Some("2147483648"), &bomb);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .contains("CLOSEBOOK_PLUGIN_COMPILE_MEMORY_BYTES=2147483648 is not a number of bytes from 1 to 805306368"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);

    // Compiled once with the default limit; loaded from the cache under a limit of 8 MiB, in
    // which no compile can even start its threads, and the cache entry is not rewritten.
    let (code, stderr) = inspect(None, &echo);
    assert_eq!(code, Some(0), "{stderr}");
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let written = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();
    let (code, stderr) = inspect(Some("8388608"), &echo);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::metadata(&entries[0]).unwrap().modified().unwrap(), written);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn the_largest_real_components_compile_under_the_default_limits() {
    // Proves the compile memory limit (issue 17, weakness 3) leaves room for the largest real
    // close steps, the 19 MB Python and 12 MB JavaScript allocation steps built by
    // `scripts/build-polyglot-plugins`: each compiles in a fresh cache, and the command, its
    // compiling child included (`wait4` counts the children it waited for), stays below the
    // host's bound.
    let release = plugin_wasm("allocation");
    let polyglot = release
        .ancestors()
        .nth(3)
        .expect("target/wasm32-wasip2/release/x.wasm")
        .join("polyglot");
    for name in ["python_allocation", "js_allocation"] {
        let path = polyglot.join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing: run `scripts/build-polyglot-plugins` first (scripts/test does)",
            path.display()
        );
        let ledger = Ledger::new();
        let run = run_bounded(&ledger, &["plugin", "inspect", &path.display().to_string()]).success();
        assert!(run.stdout.contains("name:              allocation"), "{}", run.stdout);
    }
}
