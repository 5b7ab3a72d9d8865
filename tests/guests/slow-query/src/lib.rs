//! Test guest `slow-query`: `run` makes one balance query that lists the most accounts a query
//! may list (10,000, none of which exist) over every period of the entity's calendar. On a
//! calendar of 200 fiscal years that is 28 million lookups, minutes of host work inside one
//! call, while the guest itself does nothing.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::ledger;
use closebook::plugin::types::{AccountFilter, BalanceQuery, Level, Message, QueryError};

/// The most items a list in a balance query may hold (the host's PLUGIN_QUERY_LIST_ITEMS_MAX).
const LISTED_ACCOUNTS: usize = 10_000;

struct SlowQuery;

impl Guest for SlowQuery {
    fn describe() -> StepInfo {
        StepInfo {
            name: "slow-query".to_string(),
            version: "0.1.0".to_string(),
            summary: "Makes one very long balance query.".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        let refused = |error: QueryError| StepError { message: error.message };
        let periods = ledger::periods(&input.entity, None).map_err(refused)?;
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            return Err(StepError {
                message: "the entity has no periods".to_string(),
            });
        };
        let rows = ledger::balances(&BalanceQuery {
            entity: input.entity.clone(),
            accounts: AccountFilter::List((0..LISTED_ACCOUNTS).map(|number| format!("X{number}")).collect()),
            from_period: first.name.clone(),
            to_period: last.name.clone(),
            currency: None,
            dimension_filter: Vec::new(),
            group_by_dimensions: Vec::new(),
        })
        .map_err(refused)?;
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages: vec![Message {
                level: Level::Info,
                text: format!("{} balance rows", rows.len()),
            }],
        })
    }
}

export!(SlowQuery);
