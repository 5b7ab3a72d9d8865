//! Test guest `network`: `run` opens a TCP connection. The component therefore imports WASI
//! sockets, which the sandbox does not link: it loads with every socket function stubbed, and
//! the connection attempt must end the run with a trap naming the socket function.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Level, Message};

struct Network;

impl Guest for Network {
    fn describe() -> StepInfo {
        StepInfo {
            name: "network".to_string(),
            version: "0.1.0".to_string(),
            summary: "Opens a TCP connection.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        let connected = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
        let text = format!("connected: {connected}");
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages: vec![Message {
                level: Level::Info,
                text,
            }],
        })
    }
}

export!(Network);
