//! Test guest `infinite-loop`: `run` never returns. Only the host's limits can end it.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

struct InfiniteLoop;

impl Guest for InfiniteLoop {
    fn describe() -> StepInfo {
        StepInfo {
            name: "infinite-loop".to_string(),
            version: "0.1.0".to_string(),
            summary: "Never returns.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let mut turns: u64 = 0;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
        }
    }
}

export!(InfiniteLoop);
