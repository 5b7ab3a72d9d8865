//! The plugin runtime: close steps are WebAssembly components (WIT world
//! `closebook:plugin/close-step`) that read a snapshot of the ledger and propose entries. This
//! module loads them (checking their interface version and caching their compiled code) and runs
//! each in a deterministic sandbox held to limits on fuel, memory, wall time, output, log and
//! ledger rows, turning every way a run can go wrong into a [`PluginError`] that names the plugin.

mod bindings;
mod cache;
mod error;
mod interface;
mod ledger;
mod limits;
mod runtime;
mod sandbox;
mod step_log;

pub use bindings::wit;
pub use cache::CacheStatus;
pub use error::PluginError;
pub use interface::{INTERFACE_PACKAGE, SUPPORTED_INTERFACE_VERSIONS};
pub use ledger::{LedgerError, LedgerReader};
pub use limits::{
    LimitError, LimitOverrides, Limits, PLUGIN_FUEL_DEFAULT, PLUGIN_FUEL_MAX, PLUGIN_LINE_PAGE_ROWS_MAX,
    PLUGIN_LOG_BYTES_DEFAULT, PLUGIN_LOG_BYTES_MAX, PLUGIN_MEMORY_BYTES_DEFAULT, PLUGIN_MEMORY_BYTES_MAX,
    PLUGIN_OUTPUT_BYTES_DEFAULT, PLUGIN_OUTPUT_BYTES_MAX, PLUGIN_QUERY_ROW_FUEL, PLUGIN_QUERY_ROWS_DEFAULT,
    PLUGIN_QUERY_ROWS_MAX, PLUGIN_WALL_TIME_MS_DEFAULT, PLUGIN_WALL_TIME_MS_MAX,
};
pub use runtime::{LoadedPlugin, PluginRuntime, ResourceUsage, StepRun};
pub use sandbox::{SandboxEnvironment, WASI_INTERFACES};
pub use step_log::{LogRecord, StepLog};
