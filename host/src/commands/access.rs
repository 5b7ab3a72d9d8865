//! What each command needs permission for: one table, checked once by `commands::run` through
//! the ledger's permission check before the command does anything. The ledger's own write
//! operations check again; `docs/security.md` lists the same table for people.

use crate::cli::{
    CloseCommand, Command, EntitySelection, ImportCommand, JournalCommand, PeriodCommand, PluginCommand,
    ReconcileCommand, ReconcileItemCommand, ReportCommand, SettleCommand, SetupCommand, YearEndCommand,
};
use closebook_ledger::Ledger;
use closebook_ledger::access::Permission;
use closebook_ledger::ids::EntityId;

/// One permission a command needs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Ledger-wide: the user must hold it in every entity (or as administrator).
    Ledger(Permission),
    /// In each of these entities.
    Entities(Permission, Vec<EntityId>),
    /// In every entity of the ledger (`--all`).
    AllEntities(Permission),
    /// In every entity of the close being run or read: checked by the close command once it
    /// has read close.toml.
    CloseEntities(Permission),
}

fn entities(names: &[String]) -> Vec<EntityId> {
    names.iter().map(|name| EntityId::new(name.clone())).collect()
}

fn one(permission: Permission, entity: &str) -> Need {
    Need::Entities(permission, vec![EntityId::new(entity.to_owned())])
}

fn selection(permission: Permission, selection: &EntitySelection) -> Need {
    if selection.all {
        Need::AllEntities(permission)
    } else {
        Need::Entities(permission, entities(&selection.entities))
    }
}

/// The permissions a command needs. `setup apply` is checked by the ledger itself (a new
/// ledger's first setup names its administrator); `plugin new` and `plugin inspect` read no
/// ledger.
pub fn needs(command: &Command) -> Vec<Need> {
    use Permission::*;
    match command {
        Command::Setup(SetupCommand::Apply { .. }) => Vec::new(),
        Command::Import(ImportCommand::Accounts { .. } | ImportCommand::Rates { .. }) => vec![Need::Ledger(SetupApply)],
        Command::Import(ImportCommand::Journals { entity, post, .. }) => {
            let mut needs = vec![one(JournalImport, entity)];
            if *post {
                needs.push(one(JournalPost, entity));
            }
            needs
        }
        Command::Journal(JournalCommand::Post { entity, .. }) => vec![one(JournalPost, entity)],
        Command::Journal(JournalCommand::Submit { entity, .. } | JournalCommand::Discard { entity, .. }) => {
            vec![one(JournalImport, entity)]
        }
        Command::Journal(JournalCommand::Approve { entity, .. } | JournalCommand::Reject { entity, .. }) => {
            vec![one(JournalApprove, entity)]
        }
        Command::Journal(JournalCommand::Reverse { entity, .. }) => vec![one(JournalReverse, entity)],
        Command::Journal(JournalCommand::List { entity, .. }) => vec![one(LedgerRead, entity)],
        Command::Period(PeriodCommand::List { entity, .. }) => vec![one(LedgerRead, entity)],
        Command::Period(PeriodCommand::SetStatus { entities, .. }) => vec![selection(PeriodStatus, entities)],
        Command::Period(PeriodCommand::Access { entities, .. }) => vec![selection(PeriodAccess, entities)],
        Command::Report(report) => vec![report_need(report)],
        Command::Close(CloseCommand::Run { dry_run: true, .. }) => vec![Need::CloseEntities(LedgerRead)],
        Command::Close(CloseCommand::Run { .. }) => vec![Need::CloseEntities(CloseRun)],
        // Which of close.prepare and close.review a sign-off needs depends on the task: the
        // close engine checks it.
        Command::Close(CloseCommand::Signoff { entity, .. }) => vec![one(LedgerRead, entity)],
        Command::Close(CloseCommand::Show { entity, .. }) => vec![one(LedgerRead, entity)],
        Command::Close(CloseCommand::Explain { entity, .. }) => vec![one(ClosePrepare, entity)],
        Command::Close(CloseCommand::Status { .. } | CloseCommand::History { .. }) => {
            vec![Need::CloseEntities(LedgerRead)]
        }
        Command::YearEnd(YearEndCommand::Run { entities, .. } | YearEndCommand::Reverse { entities, .. }) => {
            vec![selection(YearEnd, entities)]
        }
        Command::YearEnd(YearEndCommand::History {
            entity: Some(entity), ..
        }) => vec![one(LedgerRead, entity)],
        Command::YearEnd(YearEndCommand::History { entity: None, .. }) => vec![Need::Ledger(LedgerRead)],
        Command::Settle(SettleCommand::Mark { entity, .. } | SettleCommand::Unsettle { entity, .. }) => {
            vec![one(Settle, entity)]
        }
        Command::Reconcile(command) => vec![reconcile_need(command)],
        Command::Plugin(PluginCommand::Run {
            entity, post, allow, ..
        }) => {
            let mut needs = vec![one(LedgerRead, entity)];
            let readable: Vec<EntityId> = allow
                .iter()
                .map(|allowed| EntityId::new(allowed.trim_end_matches(":post").to_owned()))
                .collect();
            if !readable.is_empty() {
                needs.push(Need::Entities(LedgerRead, readable));
            }
            if *post {
                let mut posting = vec![EntityId::new(entity.clone())];
                posting.extend(
                    allow
                        .iter()
                        .filter_map(|allowed| allowed.strip_suffix(":post"))
                        .map(|entity| EntityId::new(entity.to_owned())),
                );
                needs.push(Need::Entities(PluginPost, posting));
            }
            needs
        }
        Command::Plugin(
            PluginCommand::Inspect { .. }
            | PluginCommand::New { .. }
            | PluginCommand::Package { .. }
            | PluginCommand::Keygen { .. }
            | PluginCommand::Sign { .. }
            | PluginCommand::Pin { .. }
            | PluginCommand::Publish { .. }
            | PluginCommand::Add { .. }
            | PluginCommand::Update { .. },
        ) => Vec::new(),
        Command::Audit(arguments) => match &arguments.entity {
            Some(entity) => vec![one(AuditRead, entity)],
            None => vec![Need::Ledger(AuditRead)],
        },
        // Recording a checkpoint also needs audit.read (the ledger checks it again).
        Command::Verify(arguments) => {
            let mut permissions = vec![LedgerRead];
            if arguments.checkpoint {
                permissions.push(AuditRead);
            }
            permissions
                .into_iter()
                .map(|permission| match &arguments.entity {
                    Some(entity) => one(permission, entity),
                    None => Need::AllEntities(permission),
                })
                .collect()
        }
        // A user's own credentials, or anyone's with users.admin: the ledger checks which.
        Command::User(_) | Command::Token(_) => Vec::new(),
        // Serving needs no permission of its own: every request is checked for its user.
        Command::Serve(_) => Vec::new(),
        // Whoever holds the database's credentials migrates it: the schema is not the books.
        Command::Db(_) => Vec::new(),
    }
}

fn reconcile_need(command: &ReconcileCommand) -> Need {
    use ReconcileCommand::*;
    match command {
        ImportStatement { target, .. }
        | Subledger { target, .. }
        | Item(ReconcileItemCommand::Add { target, .. })
        | Attach { target, .. }
        | Prepare { target, .. } => one(Permission::ClosePrepare, &target.entity),
        Item(ReconcileItemCommand::Clear { entity, .. }) => one(Permission::ClosePrepare, entity),
        Review { target, .. } => one(Permission::CloseReview, &target.entity),
        Show { target, .. } => one(Permission::LedgerRead, &target.entity),
        Evidence { entity, .. } | Report { entity, .. } => one(Permission::LedgerRead, entity),
    }
}

fn report_need(report: &ReportCommand) -> Need {
    match report {
        ReportCommand::TrialBalance { scope, .. } | ReportCommand::Journal { scope, .. } => {
            one(Permission::LedgerRead, &scope.entity)
        }
        ReportCommand::BalanceSheet { scope, .. } | ReportCommand::IncomeStatement { scope, .. } => {
            Need::Entities(Permission::LedgerRead, entities(&scope.entities))
        }
        ReportCommand::OpenItems { entity, .. } => one(Permission::LedgerRead, entity),
    }
}

/// Checks every need that does not wait for close.toml, through the ledger's permission check.
pub fn check(ledger: &mut Ledger, needs: &[Need]) -> anyhow::Result<()> {
    for need in needs {
        match need {
            Need::Ledger(permission) => ledger.authorize(*permission, None)?,
            Need::Entities(permission, entities) => {
                for entity in entities {
                    ledger.authorize(*permission, Some(entity))?;
                }
            }
            Need::AllEntities(permission) => {
                let all: Vec<EntityId> = ledger.entities()?.into_iter().map(|entity| entity.id).collect();
                for entity in &all {
                    ledger.authorize(*permission, Some(entity))?;
                }
            }
            Need::CloseEntities(_) => {}
        }
    }
    Ok(())
}

/// The permission a close command needs in each of the close's entities, if any.
pub fn close_permission(needs: &[Need]) -> Option<Permission> {
    needs.iter().find_map(|need| match need {
        Need::CloseEntities(permission) => Some(*permission),
        _ => None,
    })
}
