//! Test guest `clock`: `run` reads the wall clock and the monotonic clock, sleeps for an hour,
//! and reports what it saw, so the host can check that time is pinned and sleeping is free.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Clock;

impl Guest for Clock {
    fn describe() -> StepInfo {
        StepInfo {
            name: "clock".to_string(),
            version: "0.1.0".to_string(),
            summary: "Reads the clocks.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let started = Instant::now();
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| StepError {
                message: error.to_string(),
            })?;
        std::thread::sleep(Duration::from_secs(3600));
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| StepError {
                message: error.to_string(),
            })?;
        let texts = vec![
            format!("wall before sleep: {}", before.as_secs()),
            format!("wall after sleep: {}", after.as_secs()),
            format!("monotonic elapsed: {:?}", started.elapsed()),
        ];
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

export!(Clock);
