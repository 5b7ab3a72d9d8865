//! Tests of the runtime against the real test guests of `tests/guests/`, compiled for
//! `wasm32-wasip2`, reading a fake in-memory ledger.

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use wasmtime::AsContextMut;

use super::*;
use crate::plugin::limits::{LimitOverrides, PLUGIN_FUEL_MAX, PLUGIN_QUERY_ROW_FUEL};
use crate::plugin::types::{
    AccountInfo, AccountType, BalanceQuery, BalanceRow, CurrencyInfo, DimensionInfo, EntityAccess, EntityInfo,
    LinePage, LineQuery, PeriodInfo, PeriodKind, PeriodStatus, PostedLine,
};
use crate::plugin::{LedgerError, SUPPORTED_INTERFACE_VERSIONS};

fn workspace_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is inside the workspace")
        .to_path_buf()
}

/// The bytes of test guest `name`; fails (never skips) when it has not been built.
fn guest_wasm(name: &str) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_directory().join("target"));
    let file_name = format!("guest_{}.wasm", name.replace('-', "_"));
    let path = target.join("wasm32-wasip2/release").join(file_name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "test guest {name} is missing at {} ({error}); build the test guests first with \
             `scripts/build-plugins`, or `cargo build --release --target wasm32-wasip2 -p guest-{name}`",
            path.display()
        )
    })
}

/// One runtime shared by the tests, caching in the target directory so reruns do not compile.
fn shared_runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache = workspace_directory().join("target/plugin-test-cache");
        PluginRuntime::new(&cache).expect("the runtime starts")
    })
}

fn load(name: &str) -> LoadedPlugin {
    shared_runtime()
        .load(name, &guest_wasm(name))
        .unwrap_or_else(|error| panic!("guest {name} loads: {error}"))
}

fn load_error(name: &str) -> PluginError {
    match shared_runtime().load(name, &guest_wasm(name)) {
        Ok(_) => panic!("guest {name} was loaded but should have been refused"),
        Err(error) => error,
    }
}

fn pinned_clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap()
}

fn environment(seed: u8) -> SandboxEnvironment {
    SandboxEnvironment {
        clock: pinned_clock(),
        seed: [seed; 32],
    }
}

fn input() -> StepInput {
    StepInput {
        entity: "ACME-US".to_string(),
        period: PeriodInfo {
            name: "2026-01".to_string(),
            kind: PeriodKind::Operating,
            start: "2026-01-01".to_string(),
            end: "2026-01-31".to_string(),
            fiscal_year: "FY2026".to_string(),
            status: PeriodStatus::Open,
        },
        entities: vec![EntityAccess {
            entity: "ACME-US".to_string(),
            post: true,
        }],
        as_of: "2026-01-31".to_string(),
        config: r#"{"answer":42}"#.to_string(),
    }
}

/// A ledger of one entity whose queries return `rows` rows each, or fail when `broken`.
struct FakeLedger {
    rows: usize,
    broken: bool,
}

impl FakeLedger {
    fn boxed(rows: usize) -> Box<dyn LedgerReader> {
        Box::new(Self { rows, broken: false })
    }

    fn check(&self) -> Result<(), LedgerError> {
        if self.broken {
            return Err(LedgerError::Failed("the database file is locked".into()));
        }
        Ok(())
    }
}

impl LedgerReader for FakeLedger {
    fn entity(&mut self, entity: &str) -> Result<EntityInfo, LedgerError> {
        self.check()?;
        Ok(EntityInfo {
            id: entity.to_string(),
            name: "Acme Inc.".to_string(),
            currency: "USD".to_string(),
            retained_earnings_account: "3000".to_string(),
            default_rate_type: "spot".to_string(),
            penny_rounding_account: None,
        })
    }

    fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, LedgerError> {
        self.check()?;
        Ok(vec![CurrencyInfo {
            code: "USD".to_string(),
            minor_units: 2,
        }])
    }

    fn accounts(&mut self, _entity: &str) -> Result<Vec<AccountInfo>, LedgerError> {
        self.check()?;
        Ok((0..self.rows)
            .map(|index| AccountInfo {
                number: format!("{}", 1000 + index),
                name: format!("Account {index}"),
                account_type: AccountType::Asset,
                revalue: false,
                settle: false,
                rate_type: None,
                fixed_currency: None,
                category: None,
                blocked: false,
            })
            .collect())
    }

    fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, LedgerError> {
        self.check()?;
        Ok(Vec::new())
    }

    fn periods(&mut self, _: &str, _: Option<&str>) -> Result<Vec<PeriodInfo>, LedgerError> {
        self.check()?;
        Ok(vec![input().period])
    }

    fn balances(&mut self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, LedgerError> {
        self.check()?;
        Ok((0..self.rows)
            .map(|index| BalanceRow {
                account: format!("{}", 1000 + index),
                dimensions: Vec::new(),
                currency: "USD".to_string(),
                amount: "1.00".to_string(),
                accounting_amount: "1.00".to_string(),
                debit: "1.00".to_string(),
                credit: "0".to_string(),
            })
            .filter(|_| query.entity == "ACME-US")
            .collect())
    }

    fn lines(&mut self, query: &LineQuery) -> Result<LinePage, LedgerError> {
        self.check()?;
        let count = self.rows.min(query.limit as usize);
        Ok(LinePage {
            lines: (0..count as u64)
                .map(|id| PostedLine {
                    id,
                    entry_id: id,
                    entry_key: format!("E{id}"),
                    date: "2026-01-15".to_string(),
                    period: "2026-01".to_string(),
                    account: query.account.clone(),
                    dimensions: Vec::new(),
                    currency: "USD".to_string(),
                    amount: "1.00".to_string(),
                    accounting_amount: "1.00".to_string(),
                    description: String::new(),
                    settlement_id: None,
                })
                .collect(),
            next: None,
        })
    }

    fn rate(&mut self, _: &str, _: &str, _: &str, _: &str) -> Result<Option<String>, LedgerError> {
        self.check()?;
        Ok(Some("1.0850".to_string()))
    }
}

fn limits(overrides: LimitOverrides) -> Limits {
    Limits::default().with_overrides(&overrides).unwrap()
}

fn run(plugin: &LoadedPlugin, limits: &Limits) -> StepRun {
    plugin.run(&input(), FakeLedger::boxed(3), limits, &environment(1))
}

fn run_error(name: &str, limits: &Limits) -> (PluginError, StepRun) {
    let mut run = run(&load(name), limits);
    let error = match std::mem::replace(&mut run.output, Ok(empty_output())) {
        Ok(output) => panic!("guest {name} should have failed, returned {output:?}"),
        Err(error) => error,
    };
    (error, run)
}

fn empty_output() -> StepOutput {
    StepOutput::default()
}

fn message_texts(output: &StepOutput) -> Vec<&str> {
    output.messages.iter().map(|message| message.text.as_str()).collect()
}

// Proves a well-behaved step runs: it reads the ledger, logs, prints, and returns its proposal.
#[test]
fn echo_runs_and_returns_its_proposal() {
    let plugin = load("echo");
    assert_eq!(plugin.interface_version(), "0.1.0");
    assert_eq!(plugin.name(), "echo");
    let run = run(&plugin, &Limits::default());
    let output = run.output.expect("echo succeeds");
    assert_eq!(output.entries.len(), 1);
    assert_eq!(output.entries[0].lines.len(), 2);
    assert_eq!(output.entries[0].date, "2026-01-31");
    let texts = message_texts(&output);
    assert!(texts.contains(&"rate: Some(\"1.0850\")"), "{texts:?}");
    // The gate refuses an entity outside the task before the reader is asked.
    assert!(
        texts
            .iter()
            .any(|text| text.contains("entity NOT-IN-TASK is not readable by this task")),
        "{texts:?}"
    );
    assert_eq!(run.log.records.len(), 2);
    assert_eq!(run.log.records[0].message, "running for ACME-US in 2026-01");
    assert_eq!(run.log.stdout, "config: {\"answer\":42}\n");
    assert!(!run.log.truncated);
    // entity 1 + accounts 3 + balances 3 + rate 1.
    assert_eq!(run.usage.rows_read, 8);
    assert!(run.usage.fuel_consumed >= 8 * PLUGIN_QUERY_ROW_FUEL);
    assert!(run.usage.memory_peak_bytes > 0);
}

// Proves `describe` runs and returns the step's self-description.
#[test]
fn echo_describes_itself() {
    let info = load("echo").describe(&Limits::default()).expect("describe succeeds");
    assert_eq!(info.name, "echo");
    assert_eq!(info.config_schema, r#"{"type":"object"}"#);
}

// Proves a refusal the step passes on becomes a step failure naming the plugin and the reason.
#[test]
fn step_error_names_the_plugin() {
    let plugin = load("echo");
    let mut input = input();
    input.entities.clear();
    let run = plugin.run(&input, FakeLedger::boxed(3), &Limits::default(), &environment(1));
    let error = run.output.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin echo failed: entity ACME-US is not readable by this task; add it to the task's entities"
    );
}

// Proves a failing ledger ends the run with a host error the guest never sees.
#[test]
fn ledger_failure_ends_the_run() {
    let plugin = load("echo");
    let reader = Box::new(FakeLedger { rows: 3, broken: true });
    let run = plugin.run(&input(), reader, &Limits::default(), &environment(1));
    let error = run.output.unwrap_err();
    assert!(matches!(error, PluginError::LedgerFailed { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "the ledger could not answer a query of plugin echo: the database file is locked"
    );
}

// Proves an endless loop is ended by the fuel limit, named with its value.
#[test]
fn infinite_loop_exhausts_fuel() {
    let limits = limits(LimitOverrides {
        fuel: Some(20_000_000),
        ..Default::default()
    });
    let (error, run) = run_error("infinite-loop", &limits);
    assert!(
        matches!(error, PluginError::FuelExhausted { limit: 20_000_000, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("plugin infinite-loop exceeded its fuel limit of 20000000 units"),
        "{error}"
    );
    assert_eq!(run.usage.fuel_consumed, 20_000_000);
}

// Proves an endless loop with fuel to spare is ended by the wall-time limit.
#[test]
fn infinite_loop_hits_wall_time() {
    let limits = limits(LimitOverrides {
        fuel: Some(PLUGIN_FUEL_MAX),
        wall_time_ms: Some(100),
        ..Default::default()
    });
    let (error, _) = run_error("infinite-loop", &limits);
    assert!(
        matches!(error, PluginError::WallTimeExceeded { limit_ms: 100, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("plugin infinite-loop exceeded its wall-time limit of 100 ms"),
        "{error}"
    );
}

// Proves unbounded allocation is ended by the memory limit, not reported as a bare abort.
#[test]
fn memory_hog_hits_memory_limit() {
    let memory_bytes = 32 * 1024 * 1024;
    let limits = limits(LimitOverrides {
        memory_bytes: Some(memory_bytes),
        ..Default::default()
    });
    let (error, run) = run_error("memory-hog", &limits);
    match &error {
        PluginError::MemoryExceeded { limit, requested, .. } => {
            assert_eq!(*limit, memory_bytes);
            assert!(*requested > memory_bytes);
        }
        other => panic!("expected the memory limit, got: {other}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("plugin memory-hog exceeded its memory limit of 33554432 bytes"),
        "{error}"
    );
    assert!(run.usage.memory_peak_bytes <= memory_bytes);
}

// Proves unbounded recursion becomes a clear stack-overflow error.
#[test]
fn deep_recursion_is_a_stack_overflow() {
    let (error, _) = run_error("deep-recursion", &Limits::default());
    assert!(matches!(error, PluginError::Trapped { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("plugin deep-recursion trapped: stack overflow (recursion too deep)"),
        "{error}"
    );
}

// Proves a panic becomes a trap error that carries the panic message from stderr.
#[test]
fn panic_is_a_trap_with_its_message() {
    let (error, run) = run_error("panic", &Limits::default());
    assert!(matches!(error, PluginError::Trapped { .. }), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("plugin panic trapped: "), "{message}");
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("the step refuses to close 2026-01"), "{message}");
    assert!(run.log.stderr.contains("the step refuses to close 2026-01"));
}

// Proves an output above the output limit is refused with its size.
#[test]
fn huge_output_is_refused() {
    let limits = limits(LimitOverrides {
        output_bytes: Some(1024 * 1024),
        ..Default::default()
    });
    let (error, _) = run_error("huge-output", &limits);
    match &error {
        PluginError::OutputTooLarge { limit, size, .. } => {
            assert_eq!(*limit, 1024 * 1024);
            assert_eq!(*size, 8 * 1024 * 1024);
        }
        other => panic!("expected the output limit, got: {other}"),
    }
    assert!(
        error.to_string().starts_with(
            "plugin huge-output exceeded its output limit of 1048576 bytes with an output of 8388608 bytes"
        ),
        "{error}"
    );
}

// Proves a query storm is ended by the row budget.
#[test]
fn query_storm_hits_row_limit() {
    let limits = limits(LimitOverrides {
        query_rows: Some(5_000),
        fuel: Some(PLUGIN_FUEL_MAX),
        ..Default::default()
    });
    let plugin = load("query-storm");
    let run = plugin.run(&input(), FakeLedger::boxed(100), &limits, &environment(1));
    let error = run.output.unwrap_err();
    assert!(
        matches!(error, PluginError::QueryRowsExceeded { limit: 5_000, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("plugin query-storm exceeded its query-row limit of 5000 rows"),
        "{error}"
    );
    assert_eq!(run.usage.rows_read, 5_000);
}

// Proves a query storm with rows to spare still ends within its fuel budget, and that the
// fuel it consumed includes the charge for every row it read.
#[test]
fn query_storm_is_held_to_its_fuel() {
    let fuel = 10_000_000;
    let limits = limits(LimitOverrides {
        fuel: Some(fuel),
        query_rows: Some(crate::plugin::PLUGIN_QUERY_ROWS_MAX),
        ..Default::default()
    });
    let plugin = load("query-storm");
    let run = plugin.run(&input(), FakeLedger::boxed(1_000), &limits, &environment(1));
    let error = run.output.unwrap_err();
    assert!(matches!(error, PluginError::FuelExhausted { .. }), "{error}");
    assert_eq!(run.usage.fuel_consumed, fuel);
    assert!(run.usage.rows_read > 0);
    assert!(run.usage.rows_read * PLUGIN_QUERY_ROW_FUEL <= fuel, "{:?}", run.usage);
}

// Proves the call hook takes the fuel owed for rows when control returns to the guest, and ends
// the run when the debt is larger than the fuel left.
#[test]
fn row_fuel_is_taken_on_return_to_the_guest() {
    let engine = shared_runtime().engine.clone();
    let log = SharedStepLog::new(0);
    let state = RunState {
        wasi: environment(1).wasi_context(&log),
        table: ResourceTable::new(),
        ledger: LedgerGate::new(
            Box::new(NoLedger),
            Vec::new(),
            100,
            Instant::now() + Duration::from_secs(3_600),
        ),
        log,
        memory: MemoryGuard::new(0),
    };
    let mut store = Store::new(&engine, state);
    store.set_fuel(10 * PLUGIN_QUERY_ROW_FUEL).unwrap();

    store.data_mut().ledger.charge(3).unwrap();
    charge_ledger_fuel(store.as_context_mut(), CallHook::CallingHost).unwrap();
    assert_eq!(store.get_fuel().unwrap(), 10 * PLUGIN_QUERY_ROW_FUEL);
    charge_ledger_fuel(store.as_context_mut(), CallHook::ReturningFromHost).unwrap();
    assert_eq!(store.get_fuel().unwrap(), 7 * PLUGIN_QUERY_ROW_FUEL);

    store.data_mut().ledger.charge(8).unwrap();
    let error = charge_ledger_fuel(store.as_context_mut(), CallHook::ReturningFromHost).unwrap_err();
    assert!(matches!(error.downcast_ref::<Trap>(), Some(Trap::OutOfFuel)), "{error}");
    assert_eq!(store.get_fuel().unwrap(), 0);
}

// Proves the sandbox has no filesystem: every read, listing and write fails.
#[test]
fn file_read_sees_no_filesystem() {
    let run = run(&load("file-read"), &Limits::default());
    let output = run.output.expect("file-read returns its report");
    let texts = message_texts(&output);
    assert_eq!(texts.len(), 5);
    for text in texts {
        assert!(text.contains(": failed: "), "{text}");
    }
}

// Proves the sandbox has no environment variables, arguments or working directory from the host.
#[test]
fn env_read_sees_no_environment() {
    let run = run(&load("env-read"), &Limits::default());
    let output = run.output.expect("env-read returns its report");
    let texts = message_texts(&output);
    assert_eq!(texts[0], "vars: []");
    assert_eq!(texts[1], "args: []");
    assert_eq!(texts[2], "HOME: Err(NotPresent)");
    assert_eq!(texts[3], "PATH: Err(NotPresent)");
    assert!(
        !texts[4].contains(&*workspace_directory().to_string_lossy()),
        "{}",
        texts[4]
    );
}

// Proves the clocks show the pinned as-of time and a sleep of an hour returns at once with
// no time passed (if it really slept, this test would take an hour).
#[test]
fn clock_is_pinned_to_the_as_of_time() {
    let run = run(&load("clock"), &Limits::default());
    let output = run.output.expect("clock returns its report");
    let pinned = pinned_clock().timestamp();
    assert_eq!(
        message_texts(&output),
        vec![
            format!("wall before sleep: {pinned}"),
            format!("wall after sleep: {pinned}"),
            "monotonic elapsed: 0ns".to_string(),
        ]
    );
}

// Proves randomness comes only from the seed: the same seed gives byte-identical output, and
// another seed another output.
#[test]
fn random_is_deterministic_for_a_seed() {
    let plugin = load("random");
    let outputs: Vec<Vec<u8>> = [1, 1, 2]
        .iter()
        .map(|seed| {
            let run = plugin.run(&input(), FakeLedger::boxed(3), &Limits::default(), &environment(*seed));
            serde_json::to_vec(&run.output.expect("random returns its report")).unwrap()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(outputs[0], outputs[2]);
}

// Proves a plugin built for a newer interface version is refused at load, naming both versions.
#[test]
fn newer_interface_is_refused_before_instantiation() {
    let error = load_error("newer-interface");
    match &error {
        PluginError::UnsupportedInterfaceVersion { found, supported, .. } => {
            assert_eq!(found, "0.3.0");
            assert_eq!(supported, &SUPPORTED_INTERFACE_VERSIONS.join(", "));
        }
        other => panic!("expected the interface version to be refused, got: {other}"),
    }
    assert!(
        error.to_string().starts_with(
            "plugin newer-interface was built for closebook:plugin@0.3.0, but this closebook supports 0.1.0, 0.2.0"
        ),
        "{error}"
    );
}

// Proves a plugin importing sockets loads (CPython components always import them) but its
// first socket call ends the run with a trap naming the socket function; nothing is proposed.
#[test]
fn network_traps_at_the_first_socket_call() {
    let (error, _run) = run_error("network", &Limits::default());
    match &error {
        PluginError::Trapped { reason, .. } => {
            assert!(reason.starts_with("it called wasi:sockets/"), "{reason}");
            assert!(
                reason.contains("which the close-step sandbox does not provide"),
                "{reason}"
            );
        }
        other => panic!("expected the socket call to trap, got: {other}"),
    }
}

// Proves a component that does not export `run` is refused as not a close step.
#[test]
fn missing_run_is_not_a_close_step() {
    let error = load_error("missing-run");
    assert!(matches!(error, PluginError::NotACloseStep { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("plugin missing-run is not a close step: it does not export `run`"),
        "{error}"
    );
}

// Proves a core module and a file that is not WebAssembly are refused with what to do.
#[test]
fn non_components_are_refused() {
    let runtime = shared_runtime();
    let core_module = b"\0asm\x01\0\0\0";
    let error = runtime
        .load("core", core_module)
        .err()
        .expect("a core module is refused");
    assert!(matches!(error, PluginError::CoreModule { .. }), "{error}");
    assert!(error.to_string().contains("--target wasm32-wasip2"), "{error}");
    let error = runtime.load("text", b"hello").err().expect("text is refused");
    assert!(matches!(error, PluginError::NotWebAssembly { .. }), "{error}");
}

// Proves the cache: the first load compiles, later loads (in this runtime and in a new one,
// as a second process would) hit the cache; the directory is private and holds no temporary
// files.
#[test]
fn second_load_hits_the_cache() {
    use std::os::unix::fs::PermissionsExt;

    let directory = tempfile::tempdir().unwrap();
    let cache = directory.path().join("cache");
    let wasm = guest_wasm("echo");

    let runtime = PluginRuntime::new(&cache).unwrap();
    let first = runtime.load("echo", &wasm).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Compiled);
    let second = runtime.load("echo", &wasm).unwrap();
    assert_eq!(second.cache_status(), CacheStatus::Hit);
    assert_eq!(first.sha256(), second.sha256());

    let another_runtime = PluginRuntime::new(&cache).unwrap();
    let third = another_runtime.load("echo", &wasm).unwrap();
    assert_eq!(third.cache_status(), CacheStatus::Hit);
    assert!(run(&third, &Limits::default()).output.is_ok());

    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with(&hex::encode(first.sha256())), "{names:?}");
    assert!(names[0].ends_with(".cwasm"), "{names:?}");
}

// Proves a cache directory open to other users is made private before it is used.
#[test]
fn cache_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;

    let directory = tempfile::tempdir().unwrap();
    let cache = directory.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    PluginRuntime::new(&cache).unwrap();
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

// Not a test: prints how long the echo guest takes to compile, to load from the cache, and to
// instantiate and run. `cargo test -p closebook --lib echo_timings -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; run by hand"]
fn echo_timings() {
    let directory = tempfile::tempdir().unwrap();
    let cache = directory.path().join("cache");
    let wasm = guest_wasm("echo");
    let runtime = PluginRuntime::new(&cache).unwrap();

    let started = Instant::now();
    let plugin = runtime.load("echo", &wasm).unwrap();
    let compile = started.elapsed();
    assert_eq!(plugin.cache_status(), CacheStatus::Compiled);

    let fresh_runtime = PluginRuntime::new(&cache).unwrap();
    let started = Instant::now();
    let plugin = fresh_runtime.load("echo", &wasm).unwrap();
    let cached = started.elapsed();
    assert_eq!(plugin.cache_status(), CacheStatus::Hit);

    let runs = 100;
    let started = Instant::now();
    for _ in 0..runs {
        run(&plugin, &Limits::default()).output.unwrap();
    }
    let per_run = started.elapsed() / runs;
    eprintln!(
        "echo ({} bytes): cold compile {compile:?}, cached load {cached:?}, instantiate + run {per_run:?}",
        wasm.len()
    );
}

// Proves a runtime and its loaded plugins can be shared between threads.
#[test]
fn runtime_and_plugins_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PluginRuntime>();
    assert_send_sync::<LoadedPlugin>();
    assert_send_sync::<StepRun>();
}
