//! Test guest `missing-run`: imports `closebook:plugin/log@0.1.0` but exports only `describe`,
//! so the host must refuse it as not a close step.

wit_bindgen::generate!({ path: "wit", world: "half-step" });

use closebook::plugin::log::{Level, log};

struct MissingRun;

impl Guest for MissingRun {
    fn describe() -> String {
        log(Level::Info, "describing");
        "half a step".to_string()
    }
}

export!(MissingRun);
