//! `closebook audit`: the newest records of the append-only audit trail. The table wraps its
//! details (JSON) to fit a terminal; CSV and JSON carry them whole.

use super::{Context, wrap_last_column};
use crate::cli::{AuditArgs, Format};
use crate::output::{Table, print_json, print_table};
use closebook_ledger::ids::EntityId;

pub fn run(context: &Context, arguments: AuditArgs) -> anyhow::Result<()> {
    let entity = arguments.entity.map(EntityId::new);
    let records = context
        .open_ledger()?
        .read(|db| db.audit(entity.as_ref(), arguments.limit))?;
    let columns = [
        ("When", false),
        ("User", false),
        ("Action", false),
        ("Entity", false),
        ("Details", false),
    ];
    let mut rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            vec![
                record.at.clone(),
                match record.identity.as_deref() {
                    Some("declared") => format!("{} (unverified)", record.user),
                    _ => record.user.clone(),
                },
                record.action.clone(),
                record.entity.clone().unwrap_or_default(),
                record.details.to_string(),
            ]
        })
        .collect();
    if arguments.format.format == Format::Table {
        let headers: Vec<&str> = columns.iter().map(|(header, _)| *header).collect();
        rows = wrap_last_column(&headers, rows);
    }
    let mut table = Table::new(&columns);
    for row in rows {
        table.row(row);
    }
    match arguments.format.format {
        Format::Json => print_json(&records),
        other => print_table(&table, other),
    }
}
