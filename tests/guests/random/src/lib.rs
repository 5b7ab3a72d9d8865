//! Test guest `random`: `run` reports the iteration order of a `HashMap` and a hash under a
//! fresh `RandomState`, both of which come from the sandbox's random sources, so the host can
//! check that the same seed gives the same output and another seed another one.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

struct Random;

impl Guest for Random {
    fn describe() -> StepInfo {
        StepInfo {
            name: "random".to_string(),
            version: "0.1.0".to_string(),
            summary: "Depends on randomness.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let map: HashMap<u32, u32> = (0..64).map(|key| (key, key * 2)).collect();
        let order: Vec<u32> = map.keys().copied().collect();
        let hash = RandomState::new().hash_one("closebook");
        let texts = vec![format!("order: {order:?}"), format!("hash: {hash}")];
        let messages = texts
            .into_iter()
            .map(|text| Message {
                level: Level::Info,
                text,
            })
            .collect();
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages,
        })
    }
}

export!(Random);
