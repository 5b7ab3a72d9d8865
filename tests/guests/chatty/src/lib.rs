//! Test guest `chatty`: says what its configuration asks, so host tests can send any text
//! through the log, stdout, messages and step errors.
//!
//! Configuration: `{"log_calls": N, "log_text": "…", "log_repeat": N, "stdout": "…",
//! "messages": ["…"], "error": "…", "exit": N}`, each optional. `log_calls` calls `log` N times
//! with `log_text` (default `x`) repeated `log_repeat` times; `error` makes `run` fail with that
//! message; `exit` calls `std::process::exit(N)`.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::log::log;
use closebook::plugin::types::{Level, Message};
use serde_json::Value;

struct Chatty;

impl Guest for Chatty {
    fn describe() -> StepInfo {
        StepInfo {
            name: "chatty".to_string(),
            version: "0.1.0".to_string(),
            summary: "Says what its configuration asks.".to_string(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        let config: Value = serde_json::from_str(&input.config).map_err(|error| StepError {
            message: error.to_string(),
        })?;
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
        let repeat = config.get("log_repeat").and_then(Value::as_u64).unwrap_or(1);
        let log_text = text("log_text")
            .unwrap_or_else(|| "x".to_string())
            .repeat(usize::try_from(repeat).unwrap_or(1));
        for _ in 0..config.get("log_calls").and_then(Value::as_u64).unwrap_or(0) {
            log(Level::Info, &log_text);
        }
        if let Some(stdout) = text("stdout") {
            print!("{stdout}");
        }
        if let Some(code) = config.get("exit").and_then(Value::as_i64) {
            std::process::exit(i32::try_from(code).unwrap_or(1));
        }
        if let Some(message) = text("error") {
            return Err(StepError { message });
        }
        let messages = config
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|text| Message {
                level: Level::Warning,
                text: text.to_string(),
            })
            .collect();
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages,
        })
    }
}

export!(Chatty);
