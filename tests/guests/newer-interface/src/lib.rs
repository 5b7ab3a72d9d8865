//! Test guest `newer-interface`: an otherwise well-behaved close step built against
//! `closebook:plugin@0.3.0` (the WIT copy in `wit/`, identical but for the version), which the
//! host does not support and must refuse before instantiating it.

wit_bindgen::generate!({ path: "wit", world: "close-step" });

use closebook::plugin::log::log;
use closebook::plugin::types::Level;

struct NewerInterface;

impl Guest for NewerInterface {
    fn describe() -> StepInfo {
        StepInfo {
            name: "newer-interface".to_string(),
            version: "0.3.0".to_string(),
            summary: "Built for a newer interface.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        log(Level::Info, "running");
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages: Vec::new(),
        })
    }
}

export!(NewerInterface);
