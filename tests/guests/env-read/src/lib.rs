//! Test guest `env-read`: `run` reports its environment variables, arguments and working
//! directory as messages, so the host can check that it has none.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};

struct EnvRead;

impl Guest for EnvRead {
    fn describe() -> StepInfo {
        StepInfo {
            name: "env-read".to_string(),
            version: "0.1.0".to_string(),
            summary: "Reads its environment.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let texts = vec![
            format!("vars: {:?}", std::env::vars().collect::<Vec<_>>()),
            format!("args: {:?}", std::env::args().collect::<Vec<_>>()),
            format!("HOME: {:?}", std::env::var("HOME")),
            format!("PATH: {:?}", std::env::var("PATH")),
            format!(
                "current_dir: {:?}",
                std::env::current_dir().map_err(|error| error.kind())
            ),
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

export!(EnvRead);
