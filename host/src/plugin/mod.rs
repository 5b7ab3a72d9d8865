//! The plugin runtime: close steps are WebAssembly components (WIT world
//! `closebook:plugin/close-step`) that read a snapshot of the ledger and propose entries. This
//! module loads them (checking their interface version and caching their compiled code) and runs
//! each in a deterministic sandbox held to limits on fuel, memory, wall time, output, log and
//! ledger rows, turning every way a run can go wrong into a [`PluginError`] that names the plugin.

mod bounds;
mod cache;
mod compile;
mod error;
mod interface;
mod ledger;
mod limits;
mod runtime;
mod sandbox;
mod schema;
mod step_log;
pub mod types;
mod wit;

pub use bounds::{
    CONFIG_SCHEMA_BYTES_MAX, DECIMAL_CHARS_MAX, MESSAGE_CHARS_MAX, STEP_NAME_CHARS_MAX, STEP_SUMMARY_CHARS_MAX,
    STEP_VERSION_CHARS_MAX,
};
pub use cache::CacheStatus;
pub use compile::{
    COMPILE_SUBCOMMAND, PLUGIN_COMPILE_MEMORY_BYTES_MAX, PLUGIN_COMPILE_MEMORY_BYTES_VARIABLE,
    compile_in_child_processes, run_compile_subcommand,
};
pub use error::PluginError;
pub use interface::INTERFACE_PACKAGE;
pub use ledger::{LedgerError, LedgerReader};
pub use limits::{
    LimitError, LimitOverrides, Limits, PLUGIN_FUEL_DEFAULT, PLUGIN_FUEL_MAX, PLUGIN_LINE_PAGE_ROWS_MAX,
    PLUGIN_LOG_BYTES_DEFAULT, PLUGIN_LOG_BYTES_MAX, PLUGIN_MEMORY_BYTES_DEFAULT, PLUGIN_MEMORY_BYTES_MAX,
    PLUGIN_OUTPUT_BYTES_DEFAULT, PLUGIN_OUTPUT_BYTES_MAX, PLUGIN_QUERY_INPUT_ITEM_FUEL, PLUGIN_QUERY_LIST_ITEMS_MAX,
    PLUGIN_QUERY_ROW_FUEL, PLUGIN_QUERY_ROWS_DEFAULT, PLUGIN_QUERY_ROWS_MAX, PLUGIN_WALL_TIME_MS_DEFAULT,
    PLUGIN_WALL_TIME_MS_MAX,
};
pub use runtime::{LoadedPlugin, PLUGIN_COMPONENT_BYTES_MAX, PluginRuntime, ResourceUsage, StepRun};
pub use sandbox::{SandboxEnvironment, WASI_INTERFACES};
pub use schema::{
    CONFIG_SCHEMA_DEPTH_MAX, CONFIG_SCHEMA_EVALUATIONS_MAX, CONFIG_SCHEMA_PATTERN_CHARS_MAX,
    CONFIG_SCHEMA_PATTERNS_MAX, CONFIG_SCHEMA_REGEX_BYTES_MAX, validate_config,
};
pub use step_log::{LogRecord, StepLog};
pub use wit::SUPPORTED_INTERFACE_VERSIONS;
