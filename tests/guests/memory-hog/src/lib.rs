//! Test guest `memory-hog`: `run` allocates (and touches) a megabyte at a time, forever.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

struct MemoryHog;

impl Guest for MemoryHog {
    fn describe() -> StepInfo {
        StepInfo {
            name: "memory-hog".to_string(),
            version: "0.1.0".to_string(),
            summary: "Allocates without bound.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1024 * 1024]);
            std::hint::black_box(&hoard);
        }
    }
}

export!(MemoryHog);
