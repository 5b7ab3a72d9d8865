//! `closebook db migrate`: the ledger database's schema, brought up to this build's; `closebook
//! db init`: a new PostgreSQL database's application role, schema and grants; `closebook db
//! copy`: a whole ledger into a new database, of either kind.

use super::Context;
use crate::cli::DbCommand;
use crate::diagnostics::progress::Progress;
use crate::output::print;
use anyhow::Context as _;
use closebook_ledger::store::copy::copy_ledger;
use closebook_ledger::store::{self, Store, postgres};
use std::path::Path;

pub fn run(context: &Context, command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Migrate { app_role } => migrate(context, app_role.as_deref()),
        DbCommand::Init { app_role } => init(context, &app_role),
        DbCommand::Copy { from, to } => copy(&from, &to),
    }
}

use super::shown;

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    store::require_ledger_file(from).with_context(|| format!("opening the ledger to copy, {}", shown(from)))?;
    let mut source = Store::open(from).with_context(|| format!("opening the ledger to copy, {}", shown(from)))?;
    match postgres::url_of(to) {
        Some(url) => {
            let (before, after) = postgres::migrate(url)?;
            if before != after {
                print(&format!(
                    "made closebook's schema (version {after}) in the PostgreSQL database {}\n",
                    shown(to)
                ))?;
            }
        }
        None => anyhow::ensure!(
            !to.exists() || std::fs::metadata(to).is_ok_and(|metadata| metadata.len() == 0),
            "{} exists already: a copy goes into a new file; name one that does not exist",
            to.display()
        ),
    }
    let mut destination = Store::open(to).with_context(|| format!("opening the copy, {}", shown(to)))?;
    let bar = Progress::start(format!("copy {} to {}", shown(from), shown(to)), None, false);
    let summary = copy_ledger(&mut source, &mut destination, &mut |table, rows| {
        bar.update(rows, format!("{table}: {rows} rows copied"));
    })
    .with_context(|| {
        format!(
            "copying {} to {}; nothing was written to the copy",
            shown(from),
            shown(to)
        )
    })?;
    drop(bar);
    print(&format!(
        "copied {} rows in {} tables from {} to {}; run `closebook --db {} verify` to check the copy\n",
        summary.rows(),
        summary.tables.len(),
        shown(from),
        shown(to),
        shown(to)
    ))?;
    Ok(())
}

fn init(context: &Context, app_role: &str) -> anyhow::Result<()> {
    let Some(url) = postgres::url_of(&context.db) else {
        anyhow::bail!(
            "db init sets up a PostgreSQL database (--db postgres://OWNER@HOST/DB); a SQLite ledger needs none: `closebook setup apply` creates the file"
        );
    };
    let shown = postgres::redacted(url);
    if postgres::create_role(url, app_role)? {
        print(&format!(
            "created the role {app_role} (LOGIN, no password: give it one with ALTER ROLE {app_role} PASSWORD '…', or let the server's authentication admit it)\n"
        ))?;
    } else {
        print(&format!(
            "the role {app_role} exists already; it keeps its password and attributes\n"
        ))?;
    }
    migrate(context, Some(app_role))?;
    print(&format!(
        "next, as {app_role}: closebook --db postgres://{app_role}@…/… setup apply SETUP.toml (the database: {shown})\n"
    ))?;
    Ok(())
}

fn migrate(context: &Context, app_role: Option<&str>) -> anyhow::Result<()> {
    let Some(url) = postgres::url_of(&context.db) else {
        anyhow::ensure!(
            app_role.is_none(),
            "--app-role is for a PostgreSQL database; a SQLite file has no roles (its file permissions are its access control)"
        );
        store::require_ledger_file(&context.db)?;
        Store::open(&context.db)?;
        print(&format!(
            "the ledger file {} is at schema version {}\n",
            context.db.display(),
            store::SCHEMA_VERSION
        ))?;
        return Ok(());
    };
    let (before, after) = postgres::migrate(url)?;
    let shown = postgres::redacted(url);
    if before == after {
        print(&format!(
            "the PostgreSQL database {shown} is at schema version {after} already; nothing to do\n"
        ))?;
    } else {
        print(&format!(
            "migrated the PostgreSQL database {shown} from schema version {before} to {after}\n"
        ))?;
    }
    if let Some(role) = app_role {
        let grants = postgres::grant_application_role(url, role)?;
        print(&format!(
            "granted {role} reading and adding rows everywhere, changing them in {} tables, and neither changing nor deleting them in the {} append-only tables: {}\n",
            grants.changeable.len(),
            grants.append_only.len(),
            grants.append_only.join(", ")
        ))?;
    }
    Ok(())
}
