//! `closebook audit`: the newest records of the append-only audit trail.

use super::Context;
use crate::cli::{AuditArgs, Format};
use crate::output::{Table, print_json, print_table};
use closebook_ledger::ids::EntityId;

pub fn run(context: &Context, arguments: AuditArgs) -> anyhow::Result<()> {
    let entity = arguments.entity.map(EntityId::new);
    let records = context
        .open_ledger()?
        .read(|db| db.audit(entity.as_ref(), arguments.limit))?;
    let mut table = Table::new(&[
        ("When", false),
        ("User", false),
        ("Action", false),
        ("Entity", false),
        ("Details", false),
    ]);
    for record in &records {
        table.row(vec![
            record.at.clone(),
            record.user.clone(),
            record.action.clone(),
            record.entity.clone().unwrap_or_default(),
            record.details.to_string(),
        ]);
    }
    match arguments.format.format {
        Format::Json => print_json(&records),
        other => print_table(&table, other),
    }
}
