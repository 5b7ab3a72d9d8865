//! The resource limits of one plugin run: what a close step may consume before the host ends it.
//! Every limit has a default and a hard maximum; a task may raise a limit up to the maximum and
//! never beyond, so a task configuration cannot switch the sandbox off.

use serde::Deserialize;
use wasmtime::ResourceLimiter;

/// Fuel a run gets by default. Fuel is roughly one unit per WebAssembly instruction; five billion
/// is a few seconds of work, far above what a step over a year of a mid-sized ledger needs.
pub const PLUGIN_FUEL_DEFAULT: u64 = 5_000_000_000;
/// The most fuel a task may grant: a minute or so of pure computation.
pub const PLUGIN_FUEL_MAX: u64 = 100_000_000_000;

/// Linear memory a run gets by default: enough for a step holding a year of lines in memory.
pub const PLUGIN_MEMORY_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// The most linear memory a task may grant; it is allocated on the machine running the close.
pub const PLUGIN_MEMORY_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

/// Wall time a run gets by default. Fuel bounds computation; this bounds everything else (a slow
/// ledger, a host call that blocks), so it is generous.
pub const PLUGIN_WALL_TIME_MS_DEFAULT: u64 = 60_000;
/// The longest wall time a task may grant: a close that waits longer than this is stuck.
pub const PLUGIN_WALL_TIME_MS_MAX: u64 = 900_000;

/// Size of the step output a run may return by default (the strings of its proposals and
/// messages). Every proposal is validated and posted, so an output this size is already huge.
pub const PLUGIN_OUTPUT_BYTES_DEFAULT: u64 = 16 * 1024 * 1024;
/// The largest step output a task may allow; the host holds it in memory while validating it.
pub const PLUGIN_OUTPUT_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Bytes of step log (`log` calls, stdout and stderr together) kept by default; the rest is
/// dropped and the log is marked truncated. The log is stored with the run.
pub const PLUGIN_LOG_BYTES_DEFAULT: u64 = 1024 * 1024;
/// The largest step log a task may keep.
pub const PLUGIN_LOG_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Ledger rows a run may read by default, over all its queries: a year of lines of a busy entity.
pub const PLUGIN_QUERY_ROWS_DEFAULT: u64 = 1_000_000;
/// The most ledger rows a task may let a run read.
pub const PLUGIN_QUERY_ROWS_MAX: u64 = 50_000_000;

/// Fuel charged for every row a ledger query returns. Reading and copying a row costs the host
/// about as much as a thousand guest instructions, and charging it keeps a query storm inside
/// the fuel budget even though the work happens outside the guest.
pub const PLUGIN_QUERY_ROW_FUEL: u64 = 1_000;

/// Items one list in a query may hold (the accounts of a balance query, its dimension filters,
/// its group-by dimensions). Looking up each listed item is host work, and a chart has far
/// fewer accounts than this; a step that needs more queries a range or in several parts.
pub const PLUGIN_QUERY_LIST_ITEMS_MAX: usize = 10_000;

/// Fuel charged for every item a query lists: the host looks each one up whether or not it
/// matches anything. Measured on the issue's query (a million listed accounts, 12.3 s), one
/// lookup costs about 12 µs, some tens of thousands of guest instructions; at this price the
/// default fuel pays for about 500,000 listed items, a few seconds of host work.
pub const PLUGIN_QUERY_INPUT_ITEM_FUEL: u64 = 10_000;

/// The most lines one `lines` call returns, whatever `limit` the guest asks for (the WIT says
/// "the host caps it"): a page must fit comfortably in guest memory.
pub const PLUGIN_LINE_PAGE_ROWS_MAX: u32 = 10_000;

/// Elements a table may grow to. Rust guests use one small function table; a guest growing
/// tables is doing something no close step needs.
pub const PLUGIN_TABLE_ELEMENTS_MAX: usize = 100_000;

/// Period of the epoch ticker thread. The wall-time limit is enforced in ticks of this length,
/// so it is accurate to about this much; shorter ticks would cost more for no use.
pub const PLUGIN_EPOCH_TICK_MS: u64 = 10;

/// The limits one run is held to. Build it with [`Limits::default`] and
/// [`Limits::with_overrides`]; the fields are private so that no limit can exceed its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    fuel: u64,
    memory_bytes: u64,
    wall_time_ms: u64,
    output_bytes: u64,
    log_bytes: u64,
    query_rows: u64,
}

/// Limits a task raises or lowers, by the names a task configuration uses. Unset fields keep the
/// value they override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Fuel units, at most [`PLUGIN_FUEL_MAX`].
    pub fuel: Option<u64>,
    /// Bytes of linear memory, at most [`PLUGIN_MEMORY_BYTES_MAX`].
    pub memory_bytes: Option<u64>,
    /// Milliseconds of wall time, at most [`PLUGIN_WALL_TIME_MS_MAX`].
    pub wall_time_ms: Option<u64>,
    /// Bytes of step output, at most [`PLUGIN_OUTPUT_BYTES_MAX`].
    pub output_bytes: Option<u64>,
    /// Bytes of step log, at most [`PLUGIN_LOG_BYTES_MAX`].
    pub log_bytes: Option<u64>,
    /// Ledger rows, at most [`PLUGIN_QUERY_ROWS_MAX`].
    pub query_rows: Option<u64>,
}

/// A limit override that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "limit {name} = {value} {unit} is above the hard maximum of {maximum} {unit}; lower it to at most {maximum}"
    )]
    AboveMaximum {
        name: &'static str,
        value: u64,
        maximum: u64,
        unit: &'static str,
    },
    #[error("limit {name} = 0 would stop every run; remove it to use the default or give at least 1")]
    Zero { name: &'static str },
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: PLUGIN_FUEL_DEFAULT,
            memory_bytes: PLUGIN_MEMORY_BYTES_DEFAULT,
            wall_time_ms: PLUGIN_WALL_TIME_MS_DEFAULT,
            output_bytes: PLUGIN_OUTPUT_BYTES_DEFAULT,
            log_bytes: PLUGIN_LOG_BYTES_DEFAULT,
            query_rows: PLUGIN_QUERY_ROWS_DEFAULT,
        }
    }
}

impl Limits {
    /// These limits with the given overrides applied, refusing any value above its hard maximum.
    pub fn with_overrides(&self, overrides: &LimitOverrides) -> Result<Self, LimitError> {
        let choose = |name, current, value: Option<u64>, maximum, unit| match value {
            None => Ok(current),
            Some(0) => Err(LimitError::Zero { name }),
            Some(value) if value > maximum => Err(LimitError::AboveMaximum {
                name,
                value,
                maximum,
                unit,
            }),
            Some(value) => Ok(value),
        };
        Ok(Self {
            fuel: choose("fuel", self.fuel, overrides.fuel, PLUGIN_FUEL_MAX, "units")?,
            memory_bytes: choose(
                "memory_bytes",
                self.memory_bytes,
                overrides.memory_bytes,
                PLUGIN_MEMORY_BYTES_MAX,
                "bytes",
            )?,
            wall_time_ms: choose(
                "wall_time_ms",
                self.wall_time_ms,
                overrides.wall_time_ms,
                PLUGIN_WALL_TIME_MS_MAX,
                "ms",
            )?,
            output_bytes: choose(
                "output_bytes",
                self.output_bytes,
                overrides.output_bytes,
                PLUGIN_OUTPUT_BYTES_MAX,
                "bytes",
            )?,
            log_bytes: choose(
                "log_bytes",
                self.log_bytes,
                overrides.log_bytes,
                PLUGIN_LOG_BYTES_MAX,
                "bytes",
            )?,
            query_rows: choose(
                "query_rows",
                self.query_rows,
                overrides.query_rows,
                PLUGIN_QUERY_ROWS_MAX,
                "rows",
            )?,
        })
    }

    /// Fuel units the run may consume, ledger rows included.
    pub fn fuel(&self) -> u64 {
        self.fuel
    }

    /// Bytes of linear memory the run may hold.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Milliseconds of wall time the run may take.
    pub fn wall_time_ms(&self) -> u64 {
        self.wall_time_ms
    }

    /// Bytes of strings the step output may hold.
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    /// Bytes of step log kept.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// Ledger rows the run may read.
    pub fn query_rows(&self) -> u64 {
        self.query_rows
    }
}

/// Holds a run's linear memory to its limit. Growth beyond the limit is refused (the guest's
/// `memory.grow` fails, which a Rust guest turns into an abort) and remembered, so the run's
/// error names the memory limit rather than the abort it caused.
pub(crate) struct MemoryGuard {
    limit_bytes: u64,
    committed_bytes: u64,
    peak_bytes: u64,
    refused_bytes: Option<u64>,
}

impl MemoryGuard {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        Self {
            limit_bytes,
            committed_bytes: 0,
            peak_bytes: 0,
            refused_bytes: None,
        }
    }

    /// The largest total the guest asked for and was refused, if it ever was.
    pub(crate) fn refused_bytes(&self) -> Option<u64> {
        self.refused_bytes
    }

    /// The most linear memory the run held at once.
    pub(crate) fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }
}

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // A component may hold more than one memory, so the limit applies to their sum.
        let growth_bytes = desired.saturating_sub(current) as u64;
        let total_bytes = self.committed_bytes.saturating_add(growth_bytes);
        if total_bytes > self.limit_bytes {
            self.refused_bytes = Some(self.refused_bytes.unwrap_or(0).max(total_bytes));
            return Ok(false);
        }
        self.committed_bytes = total_bytes;
        self.peak_bytes = self.peak_bytes.max(total_bytes);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= PLUGIN_TABLE_ELEMENTS_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves an override within the maximum replaces the default and leaves the others alone.
    #[test]
    fn override_within_maximum_is_applied() {
        let overrides = LimitOverrides {
            fuel: Some(PLUGIN_FUEL_MAX),
            query_rows: Some(10),
            ..LimitOverrides::default()
        };
        let limits = Limits::default().with_overrides(&overrides).unwrap();
        assert_eq!(limits.fuel(), PLUGIN_FUEL_MAX);
        assert_eq!(limits.query_rows(), 10);
        assert_eq!(limits.memory_bytes(), PLUGIN_MEMORY_BYTES_DEFAULT);
    }

    // Proves every limit refuses a value above its hard maximum, naming the limit and both values.
    #[test]
    fn override_above_maximum_is_refused() {
        let cases: [(LimitOverrides, &str, u64); 6] = [
            (
                LimitOverrides {
                    fuel: Some(PLUGIN_FUEL_MAX + 1),
                    ..Default::default()
                },
                "fuel",
                PLUGIN_FUEL_MAX,
            ),
            (
                LimitOverrides {
                    memory_bytes: Some(PLUGIN_MEMORY_BYTES_MAX + 1),
                    ..Default::default()
                },
                "memory_bytes",
                PLUGIN_MEMORY_BYTES_MAX,
            ),
            (
                LimitOverrides {
                    wall_time_ms: Some(PLUGIN_WALL_TIME_MS_MAX + 1),
                    ..Default::default()
                },
                "wall_time_ms",
                PLUGIN_WALL_TIME_MS_MAX,
            ),
            (
                LimitOverrides {
                    output_bytes: Some(PLUGIN_OUTPUT_BYTES_MAX + 1),
                    ..Default::default()
                },
                "output_bytes",
                PLUGIN_OUTPUT_BYTES_MAX,
            ),
            (
                LimitOverrides {
                    log_bytes: Some(PLUGIN_LOG_BYTES_MAX + 1),
                    ..Default::default()
                },
                "log_bytes",
                PLUGIN_LOG_BYTES_MAX,
            ),
            (
                LimitOverrides {
                    query_rows: Some(PLUGIN_QUERY_ROWS_MAX + 1),
                    ..Default::default()
                },
                "query_rows",
                PLUGIN_QUERY_ROWS_MAX,
            ),
        ];
        for (overrides, name, maximum) in cases {
            let error = Limits::default().with_overrides(&overrides).unwrap_err();
            assert_eq!(
                error,
                LimitError::AboveMaximum {
                    name,
                    value: maximum + 1,
                    maximum,
                    unit: match name {
                        "fuel" => "units",
                        "wall_time_ms" => "ms",
                        "query_rows" => "rows",
                        _ => "bytes",
                    },
                }
            );
            let message = error.to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(&maximum.to_string()), "{message}");
        }
    }

    // Proves a zero limit is refused rather than producing a step that can never run.
    #[test]
    fn zero_override_is_refused() {
        let overrides = LimitOverrides {
            wall_time_ms: Some(0),
            ..LimitOverrides::default()
        };
        let error = Limits::default().with_overrides(&overrides).unwrap_err();
        assert_eq!(error, LimitError::Zero { name: "wall_time_ms" });
    }

    // Proves a task configuration cannot name a limit that does not exist.
    #[test]
    fn unknown_override_name_is_refused() {
        let error = serde_json::from_str::<LimitOverrides>(r#"{ "fuel_units": 5 }"#).unwrap_err();
        assert!(error.to_string().contains("fuel_units"), "{error}");
    }

    // Proves the memory guard refuses growth past the limit and remembers the refused size.
    #[test]
    fn memory_guard_refuses_growth_past_limit() {
        let mut guard = MemoryGuard::new(1024);
        assert!(guard.memory_growing(0, 1024, None).unwrap());
        assert!(!guard.memory_growing(1024, 2048, None).unwrap());
        assert_eq!(guard.refused_bytes(), Some(2048));
        assert_eq!(guard.peak_bytes(), 1024);
    }
}
