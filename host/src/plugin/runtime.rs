//! Loading and running close steps. One [`PluginRuntime`] holds the wasmtime `Engine`, the linker
//! with every host import, the compiled-component cache and the epoch ticker thread. Loading a
//! plugin checks and pre-instantiates it once; every run gets a fresh `Store`, fresh WASI state
//! and its own limits, so nothing a run does can be seen by the next one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{CallHook, Config, Engine, EngineWeak, Store, StoreContextMut, Trap, WasmFeatures};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use super::bounds::{MESSAGE_CHARS_MAX, check_step_info, check_step_output};
use super::cache::{CacheStatus, ComponentCache};
use super::error::{HostTrap, PluginError};
use super::interface::check_component;
use super::ledger::{LedgerGate, LedgerReader, NoLedger};
use super::limits::{Limits, MemoryGuard, PLUGIN_EPOCH_TICK_MS};
use super::sandbox::{SandboxEnvironment, add_wasi_to_linker, is_stubbed_wasi_interface, stub_socket_imports};
use super::step_log::{SharedStepLog, StepLog};
use super::types::{Dimension, StepInfo, StepInput, StepOutput};
use super::wit::{self, CloseStepPre};

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// The version field of a core module; a component has another one.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Runs close steps. Create one per process and load every plugin through it.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: ComponentCache,
}

/// A plugin checked, compiled and ready to run any number of times.
pub struct LoadedPlugin {
    name: Arc<str>,
    sha256: [u8; 32],
    interface_version: String,
    cache_status: CacheStatus,
    pre: CloseStepPre,
}

/// The result of one run: the step output or why there is none, and what the run said and used.
/// The log and usage are kept for failed runs too, since that is when they are read.
#[derive(Debug)]
pub struct StepRun {
    pub output: Result<StepOutput, PluginError>,
    pub log: StepLog,
    pub usage: ResourceUsage,
}

/// What one run consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// Fuel units consumed, including the fuel charged for ledger rows.
    pub fuel_consumed: u64,
    /// Ledger rows returned to the guest.
    pub rows_read: u64,
    /// The most linear memory the guest held at once.
    pub memory_peak_bytes: u64,
    /// Wall time from instantiation to the return of the export.
    pub duration: Duration,
}

/// What one export call returned, before a step output is checked.
struct CallResult<R> {
    output: Result<R, PluginError>,
    log: StepLog,
    usage: ResourceUsage,
}

/// The data of one run's `Store`.
pub(crate) struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) ledger: LedgerGate,
    pub(super) log: SharedStepLog,
    memory: MemoryGuard,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl PluginRuntime {
    /// A runtime whose compiled components are cached in `cache_directory` (created private if
    /// missing). Starts the thread that enforces wall-time limits.
    pub fn new(cache_directory: &Path) -> Result<Self, PluginError> {
        let engine_error = |error: wasmtime::Error| PluginError::Engine {
            reason: format!("{error:#}"),
        };
        let engine = Engine::new(&engine_config()).map_err(engine_error)?;
        let linker = host_linker(&engine).map_err(engine_error)?;
        let cache = ComponentCache::open(cache_directory, &engine)?;
        start_epoch_ticker(engine.weak()).map_err(|error| PluginError::Engine {
            reason: format!("could not start the epoch thread: {error}"),
        })?;
        Ok(Self { engine, linker, cache })
    }

    /// Loads the plugin at `path`, named after the file (`fx-revaluation.wasm` is
    /// `fx-revaluation`).
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let read_error = |source| PluginError::ReadFile {
            path: path.to_path_buf(),
            source,
        };
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        // The size is checked before the file is read, so a huge file is never held in memory.
        let size_bytes = std::fs::metadata(path).map_err(read_error)?.len();
        check_component_size(&name, size_bytes)?;
        let wasm = std::fs::read(path).map_err(read_error)?;
        self.load(&name, &wasm)
    }

    /// Loads a plugin from its wasm bytes: checks it is a close-step component for a supported
    /// interface version that imports only what the sandbox provides, compiles it (or loads it
    /// from the cache) and pre-instantiates it.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<LoadedPlugin, PluginError> {
        let _load = tracing::info_span!("plugin.load", plugin = name, size_bytes = wasm.len()).entered();
        check_component_size(name, wasm.len() as u64)?;
        if wasm.get(..4) != Some(&WASM_MAGIC[..]) {
            return Err(PluginError::NotWebAssembly {
                plugin: name.to_string(),
            });
        }
        if wasm.get(4..8) == Some(&CORE_MODULE_VERSION[..]) {
            return Err(PluginError::CoreModule {
                plugin: name.to_string(),
            });
        }
        let sha256: [u8; 32] = Sha256::digest(wasm).into();
        let (component, cache_status) = self.cache.load_or_compile(&self.engine, name, wasm, &sha256)?;
        let interface_version = check_component(name, &component, &self.engine)?;
        let instantiate_error = |error: wasmtime::Error| PluginError::Instantiate {
            plugin: name.to_string(),
            reason: format!("{error:#}"),
        };
        // A plugin that imports sockets gets a linker of its own with them stubbed as traps;
        // every other plugin shares the runtime's linker.
        let imports_sockets = component
            .component_type()
            .imports(&self.engine)
            .any(|(import, _)| is_stubbed_wasi_interface(import));
        let instance_pre = if imports_sockets {
            let mut linker = self.linker.clone();
            stub_socket_imports(&mut linker, &component, &self.engine).map_err(instantiate_error)?;
            linker.instantiate_pre(&component)
        } else {
            self.linker.instantiate_pre(&component)
        }
        .map_err(instantiate_error)?;
        let pre = CloseStepPre::new(&interface_version, instance_pre).map_err(instantiate_error)?;
        Ok(LoadedPlugin {
            name: Arc::from(name),
            sha256,
            interface_version,
            cache_status,
            pre,
        })
    }
}

impl LoadedPlugin {
    /// The name the plugin's errors use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 of the wasm file: what a run records to say exactly which code ran.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The `closebook:plugin` version the plugin was built for, e.g. `0.1.0`.
    pub fn interface_version(&self) -> &str {
        &self.interface_version
    }

    /// Whether loading found the compiled component in the cache or compiled it.
    pub fn cache_status(&self) -> CacheStatus {
        self.cache_status
    }

    /// Calls the plugin's `describe` export. The ledger is not readable meanwhile; the clocks
    /// show the Unix epoch and the randomness is seeded from the plugin's hash.
    pub fn describe(&self, limits: &Limits) -> Result<StepInfo, PluginError> {
        let _describe = tracing::debug_span!("plugin.describe", plugin = %self.name).entered();
        let environment = SandboxEnvironment {
            clock: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            seed: self.sha256,
        };
        let run = self.call(Box::new(NoLedger), Vec::new(), limits, &environment, |store| {
            self.pre.describe(store)
        });
        let info = run.output?;
        check_step_info(&self.name, &info)?;
        Ok(info)
    }

    /// Runs the step over `input`, reading the ledger through `reader`, in a sandbox whose clocks
    /// and randomness come from `environment`, held to `limits`.
    pub fn run(
        &self,
        input: &StepInput,
        reader: Box<dyn LedgerReader>,
        limits: &Limits,
        environment: &SandboxEnvironment,
    ) -> StepRun {
        let readable_entities = input.entities.iter().map(|access| access.entity.clone()).collect();
        let run = self.call(reader, readable_entities, limits, environment, |store| {
            self.pre.run(store, input)
        });
        let CallResult { output, log, usage } = run;
        let output = match output {
            Ok(Ok(output)) => {
                let size = output_size_bytes(&output);
                if size > limits.output_bytes() {
                    tracing::info!(plugin = %self.name, limit = "output", size, "plugin stopped at a limit");
                    Err(PluginError::OutputTooLarge {
                        plugin: self.name.to_string(),
                        limit: limits.output_bytes(),
                        size,
                    })
                } else {
                    check_step_output(&self.name, &output).map(|()| output)
                }
            }
            Ok(Err(step_error)) => Err(PluginError::StepFailed {
                plugin: self.name.to_string(),
                message: step_error_message(&step_error),
            }),
            Err(error) => Err(error),
        };
        StepRun { output, log, usage }
    }

    /// Instantiates the plugin in a fresh store held to `limits` and calls one export.
    fn call<R>(
        &self,
        reader: Box<dyn LedgerReader>,
        readable_entities: Vec<String>,
        limits: &Limits,
        environment: &SandboxEnvironment,
        export: impl FnOnce(&mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> CallResult<R> {
        let log = SharedStepLog::new(limits.log_bytes());
        // The wall-time limit as an instant, for the ledger queries: the epoch deadline below
        // stops the guest's own code, but not a query the host is answering.
        let deadline = Instant::now() + Duration::from_millis(limits.wall_time_ms());
        let state = RunState {
            wasi: environment.wasi_context(&log),
            table: ResourceTable::new(),
            ledger: LedgerGate::new(reader, readable_entities, limits.query_rows(), deadline),
            log: log.clone(),
            memory: MemoryGuard::new(limits.memory_bytes()),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.memory);
        store.set_hostcall_fuel(copy_budget_bytes(limits));
        store.call_hook(charge_ledger_fuel);
        // The deadline is counted in ticks of the epoch thread, rounded up, plus one because
        // the current tick may be about to end.
        store.set_epoch_deadline(limits.wall_time_ms().div_ceil(PLUGIN_EPOCH_TICK_MS) + 1);
        store.epoch_deadline_trap();

        let started = Instant::now();
        let result = store.set_fuel(limits.fuel()).and_then(|()| export(&mut store));
        let duration = started.elapsed();

        let fuel_remaining = store.get_fuel().unwrap_or(0);
        let state = store.data();
        let usage = ResourceUsage {
            fuel_consumed: limits.fuel().saturating_sub(fuel_remaining),
            rows_read: state.ledger.rows_read(),
            memory_peak_bytes: state.memory.peak_bytes(),
            duration,
        };
        let output = result.map_err(|error| self.classify(error, state, limits));
        if let Err(error) = &output {
            match error.limit_reached() {
                Some(limit) => tracing::info!(plugin = %self.name, limit, error = %error, "plugin stopped at a limit"),
                None => tracing::info!(plugin = %self.name, error = %error, "plugin run failed"),
            }
        }
        CallResult {
            output,
            log: log.finish(),
            usage,
        }
    }

    /// Names the limit or fault behind a failed call.
    fn classify(&self, error: wasmtime::Error, state: &RunState, limits: &Limits) -> PluginError {
        let plugin = self.name.to_string();
        // A refused memory growth makes a Rust guest abort, which traps as `unreachable`; the
        // limit is the cause worth reporting.
        if let Some(requested) = state.memory.refused_bytes() {
            return PluginError::MemoryExceeded {
                plugin,
                limit: limits.memory_bytes(),
                requested,
            };
        }
        if let Some(host_trap) = error.downcast_ref::<HostTrap>() {
            return match host_trap {
                HostTrap::QueryRowsExceeded { limit } => PluginError::QueryRowsExceeded { plugin, limit: *limit },
                HostTrap::WallTimeExceeded => PluginError::WallTimeExceeded {
                    plugin,
                    limit_ms: limits.wall_time_ms(),
                },
                HostTrap::LedgerFailed { reason } => PluginError::LedgerFailed {
                    plugin,
                    reason: reason.clone(),
                },
                HostTrap::SandboxDenied { .. } => PluginError::Trapped {
                    plugin,
                    reason: host_trap.to_string(),
                },
            };
        }
        // wasmtime's error for a spent copy budget is a private type, so it can only be
        // recognised by its text; the test `wasmtimes_copy_budget_is_named_as_the_output_limit` (tests/tests/hostile.rs) pins the text.
        if error
            .chain()
            .any(|cause| cause.to_string().contains(WASMTIME_COPY_BUDGET_SPENT))
        {
            return PluginError::CopyBudgetExceeded {
                plugin,
                limit: copy_budget_bytes(limits) as u64,
            };
        }
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            // Status 1 is what WASI 0.2's `exit(err)` becomes, whatever code the guest gave.
            if exit.0 == 1 {
                return PluginError::ExitedWithFailure { plugin };
            }
            return PluginError::Exited { plugin, code: exit.0 };
        }
        let reason = match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                return PluginError::FuelExhausted {
                    plugin,
                    limit: limits.fuel(),
                };
            }
            Some(Trap::Interrupt) => {
                return PluginError::WallTimeExceeded {
                    plugin,
                    limit_ms: limits.wall_time_ms(),
                };
            }
            Some(Trap::StackOverflow) => "stack overflow (recursion too deep)".to_string(),
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        let reason = match state.log.stderr_summary() {
            Some(stderr) => format!("{reason}; stderr: {stderr}"),
            None => reason,
        };
        let reason = closebook_ledger::journal::escape_control_characters(&reason).into_owned();
        PluginError::Trapped { plugin, reason }
    }
}

/// Bytes a plugin component may have. Compiling costs host memory and time in proportion to the
/// code (and sometimes far more), before any other check can run; the largest components
/// closebook knows, Python steps built by componentize-py, are 12–19 MB.
pub const PLUGIN_COMPONENT_BYTES_MAX: u64 = 64 * 1024 * 1024;

fn check_component_size(plugin: &str, size_bytes: u64) -> Result<(), PluginError> {
    if size_bytes > PLUGIN_COMPONENT_BYTES_MAX {
        return Err(PluginError::ComponentTooLarge {
            plugin: plugin.to_string(),
            size_bytes,
            limit_bytes: PLUGIN_COMPONENT_BYTES_MAX,
        });
    }
    Ok(())
}

/// What wasmtime's error says when a call copied more than the store's hostcall fuel.
const WASMTIME_COPY_BUDGET_SPENT: &str = "fuel allocated for hostcalls has been exhausted";

/// Bytes the guest may pass to the host in one call at the least: wasmtime's own default
/// "hostcall fuel". An output somewhat above the output limit still arrives whole, so that it
/// is refused with its size.
const PLUGIN_COPY_BUDGET_BYTES_MIN: u64 = 128 * 1024 * 1024;

/// Bytes the guest may pass to the host in one call (wasmtime's hostcall fuel, which would
/// otherwise cap `output_bytes` at 128 MiB whatever the task allows). The output limit counts
/// only the bytes of the output's strings, while the copy also holds each record's fixed part,
/// so the budget is twice the output limit, and never below [`PLUGIN_COPY_BUDGET_BYTES_MIN`].
fn copy_budget_bytes(limits: &Limits) -> usize {
    let budget = limits
        .output_bytes()
        .saturating_mul(2)
        .max(PLUGIN_COPY_BUDGET_BYTES_MIN);
    usize::try_from(budget).unwrap_or(usize::MAX)
}

/// A step error's message as the host repeats it: escaped, and cut to `MESSAGE_CHARS_MAX`
/// characters, since it is quoted in the error a person reads.
fn step_error_message(message: &str) -> String {
    let mut shown: String = message.chars().take(MESSAGE_CHARS_MAX).collect();
    if shown.len() < message.len() {
        shown.push_str("… (cut)");
    }
    closebook_ledger::journal::escape_control_characters(&shown).into_owned()
}

/// The engine every plugin runs on. Fuel and epochs bound a run; NaN canonicalization and
/// deterministic relaxed SIMD make floating point give the same bits on every machine, so a
/// rerun proposes the same entries. Threads are refused outright (whatever wasmtime features
/// other crates enable): a step's result must not depend on scheduling.
pub(super) fn engine_config() -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .wasm_features(WasmFeatures::THREADS | WasmFeatures::SHARED_EVERYTHING_THREADS, false)
        .wasm_component_model(true);
    config
}

/// The linker every plugin is instantiated with: the sandbox's WASI interfaces and the
/// `closebook:plugin` imports.
fn host_linker(engine: &Engine) -> wasmtime::Result<Linker<RunState>> {
    let mut linker = Linker::new(engine);
    add_wasi_to_linker(&mut linker)?;
    wit::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Takes the fuel owed for ledger rows when control returns to the guest, so rows are paid for
/// from the same budget as instructions. A debt larger than the fuel left ends the run.
fn charge_ledger_fuel(mut store: StoreContextMut<'_, RunState>, hook: CallHook) -> wasmtime::Result<()> {
    if !matches!(hook, CallHook::ReturningFromHost) {
        return Ok(());
    }
    let debt = store.data_mut().ledger.take_fuel_debt();
    if debt == 0 {
        return Ok(());
    }
    let fuel = store.get_fuel()?;
    if debt > fuel {
        store.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    store.set_fuel(fuel - debt)
}

/// Starts the thread that advances the engine's epoch every tick, which is how a run's
/// wall-time deadline is noticed. It holds the engine weakly and ends when the engine is gone.
fn start_epoch_ticker(engine: EngineWeak) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("closebook-plugin-epoch".to_string())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(PLUGIN_EPOCH_TICK_MS));
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
}

/// The size of a step output as the bytes of its strings, plus eight for each line id: a
/// measure of what the host must hold and validate, cheap to compute without serializing.
fn output_size_bytes(output: &StepOutput) -> u64 {
    let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
    let dimensions = |dimensions: &[Dimension]| {
        dimensions
            .iter()
            .map(|dimension| dimension.name.len() + dimension.value.len())
            .sum::<usize>()
    };
    let entries: usize = output
        .entries
        .iter()
        .map(|entry| {
            let lines: usize = entry
                .lines
                .iter()
                .map(|line| {
                    line.account.len()
                        + dimensions(&line.dimensions)
                        + optional(&line.currency)
                        + line.amount.len()
                        + optional(&line.accounting_amount)
                        + optional(&line.description)
                })
                .sum();
            entry.entity.len()
                + optional(&entry.period)
                + entry.date.len()
                + entry.description.len()
                + optional(&entry.reversal_date)
                + lines
        })
        .sum();
    let settlements: usize = output
        .settlements
        .iter()
        .map(|settlement| settlement.entity.len() + 8 * settlement.line_ids.len())
        .sum();
    let messages: usize = output.messages.iter().map(|message| message.text.len()).sum();
    (entries + settlements + messages) as u64
}

#[cfg(test)]
mod tests;
