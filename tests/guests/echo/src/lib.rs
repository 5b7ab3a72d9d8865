//! Test guest `echo`: a well-behaved close step. It reads the ledger through a few queries,
//! writes to the step log and stdout, and returns a fixed proposal, so host tests can check the
//! happy path end to end.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::ledger;
use closebook::plugin::log::log;
use closebook::plugin::types::{AccountFilter, BalanceQuery, Level, Message, ProposedEntry, ProposedLine};

struct Echo;

fn refused(error: closebook::plugin::types::QueryError) -> StepError {
    StepError { message: error.message }
}

impl Guest for Echo {
    fn describe() -> StepInfo {
        StepInfo {
            name: "echo".to_string(),
            version: "0.1.0".to_string(),
            summary: "Returns a fixed proposal.".to_string(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        log(
            Level::Info,
            &format!("running for {} in {}", input.entity, input.period.name),
        );
        println!("config: {}", input.config);
        let entity = ledger::entity(&input.entity).map_err(refused)?;
        let accounts = ledger::accounts(&input.entity).map_err(refused)?;
        let balances = ledger::balances(&BalanceQuery {
            entity: input.entity.clone(),
            accounts: AccountFilter::All,
            from_period: input.period.name.clone(),
            to_period: input.period.name.clone(),
            currency: None,
            dimension_filter: Vec::new(),
            group_by_dimensions: Vec::new(),
        })
        .map_err(refused)?;
        let rate = ledger::rate("EUR", &entity.currency, &entity.default_rate_type, &input.as_of).map_err(refused)?;
        let outside = ledger::accounts("NOT-IN-TASK").err().map(|error| error.message);
        log(
            Level::Debug,
            &format!(
                "{} accounts, {} balances in {}",
                accounts.len(),
                balances.len(),
                entity.currency
            ),
        );
        Ok(StepOutput {
            entries: vec![ProposedEntry {
                entity: input.entity.clone(),
                period: None,
                date: input.as_of.clone(),
                description: "echo".to_string(),
                lines: vec![
                    ProposedLine {
                        account: "1000".to_string(),
                        dimensions: Vec::new(),
                        currency: None,
                        amount: "10.00".to_string(),
                        accounting_amount: None,
                        description: None,
                    },
                    ProposedLine {
                        account: "2000".to_string(),
                        dimensions: Vec::new(),
                        currency: None,
                        amount: "-10.00".to_string(),
                        accounting_amount: None,
                        description: None,
                    },
                ],
                reversal_date: None,
            }],
            settlements: Vec::new(),
            messages: vec![
                Message {
                    level: Level::Info,
                    text: format!("rate: {rate:?}"),
                },
                Message {
                    level: Level::Info,
                    text: format!("outside: {outside:?}"),
                },
            ],
        })
    }
}

export!(Echo);
