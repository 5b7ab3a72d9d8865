//! Test guest `panic`: `run` panics with a known message.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

struct Panic;

impl Guest for Panic {
    fn describe() -> StepInfo {
        StepInfo {
            name: "panic".to_string(),
            version: "0.1.0".to_string(),
            summary: "Panics.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        panic!("the step refuses to close {}", input.period.name);
    }
}

export!(Panic);
