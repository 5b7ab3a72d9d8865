//! Test guest `file-read`: `run` tries to read, list and create files, and reports each
//! attempt's result as a message, so the host can check that every one failed.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};

struct FileRead;

fn report<T: std::fmt::Debug>(attempt: &str, result: std::io::Result<T>) -> Message {
    let text = match result {
        Ok(value) => format!("{attempt}: succeeded: {value:?}"),
        Err(error) => format!("{attempt}: failed: {error}"),
    };
    Message {
        level: Level::Info,
        text,
    }
}

impl Guest for FileRead {
    fn describe() -> StepInfo {
        StepInfo {
            name: "file-read".to_string(),
            version: "0.1.0".to_string(),
            summary: "Tries the filesystem.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let count = |entries: std::fs::ReadDir| entries.count();
        let messages = vec![
            report("read /etc/passwd", std::fs::read_to_string("/etc/passwd")),
            report("read Cargo.toml", std::fs::read_to_string("Cargo.toml")),
            report("list /", std::fs::read_dir("/").map(count)),
            report("list .", std::fs::read_dir(".").map(count)),
            report(
                "create /tmp/closebook-escape",
                std::fs::write("/tmp/closebook-escape", "x"),
            ),
        ];
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages,
        })
    }
}

export!(FileRead);
