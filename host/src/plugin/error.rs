//! Why a plugin could not be loaded or why its run failed. Every variant names the plugin and
//! the offending value, so the message alone tells the user what to fix.

use std::path::PathBuf;

/// A plugin that could not be loaded, or a run that ended without a step output.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("could not read plugin file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },

    #[error("plugin {plugin} is a core WebAssembly module, not a component; build it with `--target wasm32-wasip2`")]
    CoreModule { plugin: String },

    #[error("plugin {plugin} is not a WebAssembly component (it does not start with the component header)")]
    NotWebAssembly { plugin: String },

    #[error(
        "plugin {plugin} is {size_bytes} bytes; at most {limit_bytes} bytes of component are compiled (PLUGIN_COMPONENT_BYTES_MAX); build it smaller, e.g. in release mode with debug information stripped"
    )]
    ComponentTooLarge {
        plugin: String,
        size_bytes: u64,
        limit_bytes: u64,
    },

    #[error("plugin {plugin} could not be compiled: {reason}")]
    Compile { plugin: String, reason: String },

    #[error(
        "compiling plugin {plugin} needed more than {limit_mib} MiB of memory (PLUGIN_COMPILE_MEMORY_BYTES_MAX), so it was stopped ({how}); a close step needs far less: build it smaller, or split it"
    )]
    CompileMemoryExceeded {
        plugin: String,
        limit_mib: u64,
        how: String,
    },

    #[error("could not start the WebAssembly engine for plugins: {reason}")]
    Engine { reason: String },

    #[error("plugin cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },

    #[error(
        "plugin {plugin} was built for closebook:plugin@{found}, but this closebook supports {supported}; rebuild the plugin against a supported version of the closebook plugin SDK, or upgrade closebook"
    )]
    UnsupportedInterfaceVersion {
        plugin: String,
        found: String,
        supported: String,
    },

    #[error(
        "plugin {plugin} imports closebook:plugin at more than one version ({found}); rebuild it against one version of the closebook plugin SDK"
    )]
    MixedInterfaceVersions { plugin: String, found: String },

    #[error(
        "plugin {plugin} is not a close step: {reason}; a close step implements the WIT world closebook:plugin/close-step"
    )]
    NotACloseStep { plugin: String, reason: String },

    #[error(
        "plugin {plugin} imports {import}, which the close-step sandbox does not provide (no network, no HTTP, no host services beyond the ledger and the log); remove the code that uses it"
    )]
    UnsupportedImport { plugin: String, import: String },

    #[error("plugin {plugin} could not be instantiated: {reason}")]
    Instantiate { plugin: String, reason: String },

    #[error(
        "plugin {plugin} exceeded its fuel limit of {limit} units; make the step do less work or raise `fuel` in the task's limits"
    )]
    FuelExhausted { plugin: String, limit: u64 },

    #[error(
        "plugin {plugin} exceeded its memory limit of {limit} bytes (it asked for {requested} bytes); make the step hold less in memory or raise `memory_bytes` in the task's limits"
    )]
    MemoryExceeded { plugin: String, limit: u64, requested: u64 },

    #[error(
        "plugin {plugin} exceeded its wall-time limit of {limit_ms} ms; make the step do less work or raise `wall_time_ms` in the task's limits"
    )]
    WallTimeExceeded { plugin: String, limit_ms: u64 },

    #[error(
        "plugin {plugin} exceeded its output limit of {limit} bytes with an output of {size} bytes; propose fewer or smaller entries, or raise `output_bytes` in the task's limits"
    )]
    OutputTooLarge { plugin: String, limit: u64, size: u64 },

    #[error(
        "plugin {plugin} exceeded its query-row limit of {limit} rows; narrow its ledger queries or raise `query_rows` in the task's limits"
    )]
    QueryRowsExceeded { plugin: String, limit: u64 },

    #[error("plugin {plugin}: describe() returned a {field} that is refused: {reason}")]
    DescribeRefused {
        plugin: String,
        field: &'static str,
        reason: String,
    },

    #[error("plugin {plugin} proposed {place}, which is refused: {reason}; nothing was posted")]
    ProposalRefused {
        plugin: String,
        place: String,
        /// Boxed: a refusal carries its values, and every `Result` of the runtime holds this enum.
        reason: Box<closebook_ledger::journal::Refusal>,
    },

    #[error(
        "plugin {plugin} passed more than {limit} bytes to the host in one call (its copy budget: twice the output limit `output_bytes`, at least 128 MiB); propose fewer or smaller entries, log less per call, or raise `output_bytes` in the task's limits"
    )]
    CopyBudgetExceeded { plugin: String, limit: u64 },

    #[error("plugin {plugin} trapped: {reason}")]
    Trapped { plugin: String, reason: String },

    #[error("plugin {plugin} called exit({code}); a close step must return from `run` instead")]
    Exited { plugin: String, code: i32 },

    /// WASI 0.2's `exit` takes only success or failure, and a guest's C library (wasi-libc,
    /// under Rust's `std::process::exit` too) passes any code but 0 as failure, so the code the
    /// plugin gave cannot be known; calling that `exit(1)` would misreport it.
    #[error(
        "plugin {plugin} exited with a failure status (WASI 0.2 passes on only success or failure, not the exit code the plugin gave); a close step must return from `run` instead, with a step error saying what went wrong"
    )]
    ExitedWithFailure { plugin: String },

    #[error("plugin {plugin} failed: {message}")]
    StepFailed { plugin: String, message: String },

    #[error("the ledger could not answer a query of plugin {plugin}: {reason}")]
    LedgerFailed { plugin: String, reason: String },
}

impl PluginError {
    /// The limit a run reached, as the trace names it (`fuel`, `memory`, `wall_time`, `output`,
    /// `query_rows`, `compile_memory`); none for any other failure.
    pub fn limit_reached(&self) -> Option<&'static str> {
        match self {
            PluginError::FuelExhausted { .. } => Some("fuel"),
            PluginError::MemoryExceeded { .. } => Some("memory"),
            PluginError::WallTimeExceeded { .. } => Some("wall_time"),
            PluginError::OutputTooLarge { .. } | PluginError::CopyBudgetExceeded { .. } => Some("output"),
            PluginError::QueryRowsExceeded { .. } => Some("query_rows"),
            PluginError::CompileMemoryExceeded { .. } => Some("compile_memory"),
            _ => None,
        }
    }
}

/// Why the host ended a run from inside one of its imports. It travels through wasmtime as the
/// trap's error and is turned into a [`PluginError`] once the call returns.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostTrap {
    #[error("the run read more than {limit} ledger rows")]
    QueryRowsExceeded { limit: u64 },
    #[error("{reason}")]
    LedgerFailed { reason: String },
    /// A ledger query was still running, or was answered, after the run's wall-time limit.
    #[error("a ledger query outlasted the run's wall-time limit")]
    WallTimeExceeded,
    /// The guest called an import the sandbox stubs out (a socket function).
    #[error(
        "it called {function}, which the close-step sandbox does not provide (no network, no HTTP, no host services \
         beyond the ledger and the log); remove the code that uses it"
    )]
    SandboxDenied { function: String },
}
