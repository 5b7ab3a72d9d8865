//! Test guest `deep-recursion`: `run` recurses until the stack runs out.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

struct DeepRecursion;

/// Not a tail call: the addition after the call keeps every frame alive, and `black_box` keeps
/// the compiler from turning the recursion into a loop.
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    std::hint::black_box(descend(std::hint::black_box(depth - 1))) + 1
}

impl Guest for DeepRecursion {
    fn describe() -> StepInfo {
        StepInfo {
            name: "deep-recursion".to_string(),
            version: "0.1.0".to_string(),
            summary: "Recurses without bound.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let depth = descend(u64::MAX);
        Err(StepError {
            message: format!("returned from depth {depth}"),
        })
    }
}

export!(DeepRecursion);
