//! The close.toml fuzz target's harness: apart from `lib.rs` because it needs the `closebook`
//! host crate, whose wasmtime makes a sanitizer build slow (see fuzz/Cargo.toml).

use chrono::NaiveDate;
use closebook::close::config::CloseConfig;
use std::path::Path;

/// The period end a close's due dates are computed from.
const PERIOD_END: (i32, u32, u32) = (2026, 1, 31);

/// A close.toml, parsed and checked as `closebook close run` loads it (without the plugin
/// files, which a fuzzer cannot provide), then the engine's own walks over the task graph.
pub fn close_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = CloseConfig::parse(text, Path::new("/nonexistent/close.toml")) else {
        return;
    };
    let (year, month, day) = PERIOD_END;
    let period_end = NaiveDate::from_ymd_opt(year, month, day).expect("a valid date");
    for task in &config.tasks {
        let _due = config.due_date(period_end, task.due_working_days);
        let _downstream = config.downstream_of(&task.id);
    }
}
