//! `closebook settle mark|unsettle`: manual ledger settlement.

use super::Context;
use crate::cli::SettleCommand;
use crate::output::print;
use anyhow::Context as _;
use closebook_ledger::ids::EntityId;

pub fn run(context: &Context, command: SettleCommand) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    match command {
        SettleCommand::Mark { entity, lines } => {
            let settlement = ledger
                .settle(&EntityId::new(entity.clone()), &lines)
                .with_context(|| format!("settling lines {lines:?} of entity {entity}"))?;
            print(&format!(
                "settled lines {lines:?} of {entity} as settlement {settlement}\n"
            ))
        }
        SettleCommand::Unsettle { entity, settlement } => {
            ledger
                .unsettle(&EntityId::new(entity.clone()), settlement)
                .with_context(|| format!("reversing settlement {settlement} of entity {entity}"))?;
            print(&format!(
                "settlement {settlement} of {entity} is reversed; its lines are open again\n"
            ))
        }
    }
}
