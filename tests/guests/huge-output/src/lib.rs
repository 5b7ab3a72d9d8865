//! Test guest `huge-output`: `run` returns eight messages of one megabyte each.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};

struct HugeOutput;

impl Guest for HugeOutput {
    fn describe() -> StepInfo {
        StepInfo {
            name: "huge-output".to_string(),
            version: "0.1.0".to_string(),
            summary: "Returns megabytes of messages.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let messages = (0..8)
            .map(|_| Message {
                level: Level::Info,
                text: "x".repeat(1024 * 1024),
            })
            .collect();
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages,
        })
    }
}

export!(HugeOutput);
