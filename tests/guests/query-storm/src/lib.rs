//! Test guest `query-storm`: `run` reads the same lines and balances over and over, forever.
//! The guest does little work per row, so without the host charging rows it would run until
//! the wall-time limit.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::ledger;
use closebook::plugin::types::{AccountFilter, BalanceQuery, LineQuery};

struct QueryStorm;

impl Guest for QueryStorm {
    fn describe() -> StepInfo {
        StepInfo {
            name: "query-storm".to_string(),
            version: "0.1.0".to_string(),
            summary: "Queries the ledger in a loop.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        let mut rows: u64 = 0;
        loop {
            let page = ledger::lines(&LineQuery {
                entity: input.entity.clone(),
                account: "1000".to_string(),
                from_period: input.period.name.clone(),
                to_period: input.period.name.clone(),
                after: None,
                limit: u32::MAX,
                include_settled: true,
            })
            .map_err(|error| StepError { message: error.message })?;
            let balances = ledger::balances(&BalanceQuery {
                entity: input.entity.clone(),
                accounts: AccountFilter::All,
                from_period: input.period.name.clone(),
                to_period: input.period.name.clone(),
                currency: None,
                dimension_filter: Vec::new(),
                group_by_dimensions: vec!["*".to_string()],
            })
            .map_err(|error| StepError { message: error.message })?;
            rows = std::hint::black_box(rows + page.lines.len() as u64 + balances.len() as u64);
        }
    }
}

export!(QueryStorm);
