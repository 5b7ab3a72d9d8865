//! Test guest `long-name`: `describe` returns a step name of 4 MiB (issue 17, weakness 2: the
//! host copied it into every entry key). `run` proposes one small entry, which must never post.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{ProposedEntry, ProposedLine};

struct LongName;

fn line(account: &str, amount: &str) -> ProposedLine {
    ProposedLine {
        account: account.to_string(),
        dimensions: Vec::new(),
        currency: None,
        amount: amount.to_string(),
        accounting_amount: None,
        description: None,
    }
}

impl Guest for LongName {
    fn describe() -> StepInfo {
        StepInfo {
            name: "x".repeat(4 * 1024 * 1024),
            version: "0.1.0".to_string(),
            summary: "A step with a 4 MiB name.".to_string(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        Ok(StepOutput {
            entries: vec![ProposedEntry {
                entity: input.entity.clone(),
                period: None,
                date: input.as_of.clone(),
                description: "small".to_string(),
                lines: vec![line("1000", "1.00"), line("4100", "-1.00")],
                reversal_date: None,
            }],
            settlements: Vec::new(),
            messages: Vec::new(),
        })
    }
}

export!(LongName);
