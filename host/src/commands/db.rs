//! `closebook db migrate`: the ledger database's schema, brought up to this build's.

use super::Context;
use crate::cli::DbCommand;
use crate::output::print;
use closebook_ledger::store::{self, Store, postgres};

pub fn run(context: &Context, command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Migrate => migrate(context),
    }
}

fn migrate(context: &Context) -> anyhow::Result<()> {
    let location = context.db.display().to_string();
    if postgres::is_postgres_location(&location) {
        let (before, after) = postgres::migrate(&location)?;
        let shown = postgres::redacted(&location);
        if before == after {
            print(&format!(
                "the PostgreSQL database {shown} is at schema version {after} already; nothing to do"
            ))?;
        } else {
            print(&format!(
                "migrated the PostgreSQL database {shown} from schema version {before} to {after}"
            ))?;
        }
        return Ok(());
    }
    store::require_ledger_file(&context.db)?;
    Store::open(&context.db)?;
    print(&format!(
        "the ledger file {location} is at schema version {}",
        store::SCHEMA_VERSION
    ))?;
    Ok(())
}
