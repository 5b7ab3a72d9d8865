//! Command implementations: each turns parsed arguments into ledger calls and prints the
//! result. Errors get `anyhow` context naming the file, entity or period involved.

mod audit;
mod close;
mod import;
mod journal;
mod period;
mod plugin;
mod plugin_new;
mod report;
mod settle;
mod verify;
mod year_end;

use crate::cli::{Cli, Command, EntitySelection, PluginCommand, SetupCommand};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::ids::{EntityId, UserId};
use std::path::{Path, PathBuf};

/// What every command needs: where the ledger is and who is acting.
pub struct Context {
    pub db: PathBuf,
    pub user: UserId,
}

impl Context {
    pub fn open_ledger(&self) -> anyhow::Result<Ledger> {
        Ledger::open(&self.db, self.user.clone()).with_context(|| format!("opening ledger {}", self.db.display()))
    }

    /// The entities a period command applies to.
    pub fn entities(&self, ledger: &mut Ledger, selection: &EntitySelection) -> anyhow::Result<Vec<EntityId>> {
        if selection.all {
            let entities: Vec<EntityId> = ledger.entities()?.into_iter().map(|entity| entity.id).collect();
            anyhow::ensure!(
                !entities.is_empty(),
                "the ledger has no entities yet; run `closebook setup apply FILE.toml` first"
            );
            return Ok(entities);
        }
        Ok(selection
            .entities
            .iter()
            .map(|entity| EntityId::new(entity.clone()))
            .collect())
    }
}

/// The acting user: `--as`, `CLOSEBOOK_USER`, else the operating-system user.
fn acting_user(cli_user: Option<&str>) -> UserId {
    let from_os = || {
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".to_owned())
    };
    UserId::new(cli_user.map(str::to_owned).unwrap_or_else(from_os))
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context {
        db: cli.db.clone(),
        user: acting_user(cli.user.as_deref()),
    };
    if needs_existing_ledger(&cli.command) {
        closebook_ledger::store::require_ledger_file(&context.db)
            .with_context(|| format!("opening ledger {}", context.db.display()))?;
    }
    match cli.command {
        Command::Setup(SetupCommand::Apply { file }) => setup_apply(&context, &file),
        Command::Import(command) => import::run(&context, command),
        Command::Journal(command) => journal::run(&context, command),
        Command::Period(command) => period::run(&context, command),
        Command::Report(command) => report::run(&context, command),
        Command::Close(command) => close::run(&context, command),
        Command::YearEnd(command) => year_end::run(&context, command),
        Command::Settle(command) => settle::run(&context, command),
        Command::Plugin(command) => plugin::run(&context, command),
        Command::Audit(arguments) => audit::run(&context, arguments),
        Command::Verify(arguments) => verify::run(&context, arguments),
    }
}

/// Whether a command works on an existing ledger, so a missing or empty ledger file is refused
/// before it opens. `setup apply` creates the ledger (in a new or an empty file); `plugin new`
/// and `plugin inspect` do not read a ledger at all.
fn needs_existing_ledger(command: &Command) -> bool {
    !matches!(
        command,
        Command::Setup(SetupCommand::Apply { .. })
            | Command::Plugin(PluginCommand::New { .. } | PluginCommand::Inspect { .. })
    )
}

pub fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn setup_apply(context: &Context, file: &Path) -> anyhow::Result<()> {
    let text = read_file(file)?;
    let source = file.display().to_string();
    let setup = closebook_ledger::setup::SetupFile::parse(&text, &source)?;
    let mut ledger = context.open_ledger()?;
    let summary = ledger
        .apply_setup(&setup, &source)
        .with_context(|| format!("applying {source}"))?;
    crate::output::print(&format!(
        "applied {source}: {} currencies, {} calendars ({} fiscal years created), {} accounts, {} dimension values, {} groups, {} users, {} entities, {} rates\n",
        summary.currencies,
        summary.calendars,
        summary.fiscal_years_created,
        summary.accounts,
        summary.dimension_values,
        summary.groups,
        summary.users,
        summary.entities,
        summary.rates
    ))
}
