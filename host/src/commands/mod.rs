//! Command implementations: each turns parsed arguments into ledger calls and prints the
//! result. Errors get `anyhow` context naming the file, entity or period involved.

mod access;
mod audit;
mod close;
mod db;
pub(crate) mod import;
mod journal;
mod period;
pub(crate) mod plugin;
mod plugin_new;
pub(crate) mod plugin_package;
mod plugin_registry;
pub mod reconcile;
mod remote;
pub(crate) mod report;
mod serve;
mod settle;
mod token;
mod user;
mod verify;
mod year_end;

use crate::cli::{Cli, Command, EntitySelection, PluginCommand, SetupCommand};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::access::{Actor, Claim, Identity, IdentityMethod, Permission};
use closebook_ledger::ids::{EntityId, UserId};
use std::path::{Path, PathBuf};

/// What every command needs: where the ledger is and who is acting.
pub struct Context {
    pub db: PathBuf,
    /// How the caller established who is acting: on the command line, the operating-system
    /// account and the name given with `--as`/`CLOSEBOOK_USER`; on the server, the user its
    /// token or session authenticated.
    pub identity: Identity,
    /// The acting user, resolved against the ledger's users (before the ledger exists, the
    /// claimed name, unverified).
    pub actor: Actor,
    /// What a close command needs in each entity of its close (checked once close.toml is read).
    pub close_permission: Option<Permission>,
    /// Where `close run` reports its progress instead of stderr: the server's remote command
    /// line sends it to the boards open on the close, as a run started there does.
    pub close_progress: std::cell::RefCell<Option<Box<dyn std::io::Write + Send>>>,
}

impl Context {
    /// Opens the ledger for the acting user: every operation checks its permission.
    pub fn open_ledger(&self) -> anyhow::Result<Ledger> {
        Ledger::open_for(&self.db, &self.identity).with_context(|| format!("opening ledger {}", shown(&self.db)))
    }

    /// Opens the ledger and checks one permission of the acting user, in an entity or (None)
    /// ledger-wide: for the operations the CLI runs outside the ledger's own methods (the
    /// close, reports, plugin runs, the audit trail).
    pub fn authorized_ledger(&self, permission: Permission, entity: Option<&EntityId>) -> anyhow::Result<Ledger> {
        let mut ledger = self.open_ledger()?;
        ledger.authorize(permission, entity)?;
        Ok(ledger)
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
        // An entity named twice is changed once: a mass change applies per entity.
        let mut entities: Vec<EntityId> = Vec::with_capacity(selection.entities.len());
        for entity in &selection.entities {
            let entity = EntityId::new(entity.clone());
            if !entities.contains(&entity) {
                entities.push(entity);
            }
        }
        Ok(entities)
    }
}

/// What this process can say about who is acting: the operating-system account of its
/// effective user id (from the password database, not `$USER`, which anyone can set), and the
/// name given with `--as`/`CLOSEBOOK_USER`. The ledger decides whether the name may be used.
fn claim(cli_user: Option<&str>) -> anyhow::Result<Claim> {
    if let Some(given) = cli_user {
        // A blank `--as "$REVIEWER"` must not quietly act as whoever runs the command.
        anyhow::ensure!(
            !given.trim().is_empty(),
            "the acting user is blank: name one with --as USER (or CLOSEBOOK_USER)"
        );
    }
    let claim = Claim {
        os_account: operating_system_account(),
        requested: cli_user.map(str::to_owned),
    };
    anyhow::ensure!(
        claim.os_account.is_some() || claim.requested.is_some(),
        "cannot tell who is acting: the operating system has no account name for this process; pass --as USER or set CLOSEBOOK_USER (on a ledger that trusts declared users)"
    );
    Ok(claim)
}

/// The largest buffer `getpwuid_r` is given for one account record: records are a few hundred
/// bytes; the buffer starts small and doubles up to this when the call says it is too small.
#[cfg(unix)]
const ACCOUNT_RECORD_BYTES_MAX: usize = 1 << 20;

/// The account name of the process's effective user id, from the password database (local
/// files, LDAP, whatever the system's name service uses).
#[cfg(unix)]
fn operating_system_account() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user_id = unsafe { libc::geteuid() };
    let mut buffer_bytes = 1024;
    while buffer_bytes <= ACCOUNT_RECORD_BYTES_MAX {
        let mut buffer: Vec<libc::c_char> = vec![0; buffer_bytes];
        // SAFETY: `passwd` is plain data (integers and pointers), for which all zeros is valid.
        let mut record: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, `buffer` is as long as the length given,
        // and the strings `record` points to live in `buffer`, read below before it is dropped.
        let status = unsafe { libc::getpwuid_r(user_id, &mut record, buffer.as_mut_ptr(), buffer.len(), &mut found) };
        if status == libc::ERANGE {
            buffer_bytes *= 2;
            continue;
        }
        if status != 0 || found.is_null() || record.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success `pw_name` points to a NUL-terminated string inside `buffer`.
        let name = unsafe { std::ffi::CStr::from_ptr(record.pw_name) };
        return name.to_str().ok().filter(|name| !name.is_empty()).map(str::to_owned);
    }
    None
}

#[cfg(not(unix))]
fn operating_system_account() -> Option<String> {
    None
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(server) = &cli.server {
        return remote::run(server, cli.command);
    }
    let claim = claim(cli.user.as_deref())?;
    let context = Context {
        db: cli.db.clone(),
        actor: Actor {
            user: UserId::new(
                claim
                    .requested
                    .clone()
                    .or_else(|| claim.os_account.clone())
                    .unwrap_or_default(),
            ),
            method: IdentityMethod::Declared,
        },
        close_permission: None,
        close_progress: std::cell::RefCell::new(None),
        identity: Identity::Local(claim),
    };
    execute(context, cli.command)
}

/// Runs one command for the identity in `context`: who is acting is resolved against the
/// ledger's users and the command's permissions are checked before anything runs. The server
/// runs its remote commands through here too, for the user its token authenticated.
pub fn execute(mut context: Context, command: Command) -> anyhow::Result<()> {
    if needs_existing_ledger(&command) {
        closebook_ledger::store::require_ledger_file(&context.db)
            .with_context(|| format!("opening ledger {}", shown(&context.db)))?;
        // Who is acting, resolved once against the ledger's users: an undeclared, blank or
        // blocked user, or a name this account may not use, is refused before anything runs.
        let mut ledger = context.open_ledger()?;
        context.actor = ledger.actor().clone();
        let needs = access::needs(&command);
        access::check(&mut ledger, &needs)?;
        context.close_permission = access::close_permission(&needs);
    }
    match command {
        Command::Setup(SetupCommand::Apply { file }) => setup_apply(&context, &file),
        Command::Import(command) => import::run(&context, command),
        Command::Journal(command) => journal::run(&context, command),
        Command::Period(command) => period::run(&context, command),
        Command::Report(command) => report::run(&context, command),
        Command::Close(command) => close::run(&context, command),
        Command::YearEnd(command) => year_end::run(&context, command),
        Command::Settle(command) => settle::run(&context, command),
        Command::Reconcile(command) => reconcile::run(&context, command),
        Command::Plugin(command) => plugin::run(&context, command),
        Command::Audit(arguments) => audit::run(&context, arguments),
        Command::Verify(arguments) => verify::run(&context, arguments),
        Command::User(command) => user::run(&context, command),
        Command::Token(command) => token::run(&context, command),
        Command::Serve(arguments) => serve::run(&context, arguments),
        Command::Db(command) => db::run(&context, command),
    }
}

/// Whether a command works on an existing ledger, so a missing or empty ledger file is refused
/// before it opens. `setup apply` creates the ledger (in a new or an empty file); `plugin new`
/// and `plugin inspect|package|keygen|sign|pin` do not read a ledger at all.
fn needs_existing_ledger(command: &Command) -> bool {
    !matches!(
        command,
        Command::Setup(SetupCommand::Apply { .. })
            | Command::Db(_)
            | Command::Plugin(
                PluginCommand::New { .. }
                    | PluginCommand::Inspect { .. }
                    | PluginCommand::Package { .. }
                    | PluginCommand::Keygen { .. }
                    | PluginCommand::Sign { .. }
                    | PluginCommand::Pin { .. }
                    | PluginCommand::Publish { .. }
                    | PluginCommand::Add { .. }
                    | PluginCommand::Update { .. }
            )
    )
}

/// The ledger's `--db` as messages show it: a file's path, or a PostgreSQL URL without its
/// password.
pub fn shown(db: &Path) -> String {
    closebook_ledger::store::postgres::redacted(&db.display().to_string())
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
    let mut controls = String::new();
    if summary.journal_approval_rules > 0 {
        controls.push_str(&format!(", {} journal approval rules", summary.journal_approval_rules));
    }
    if summary.recurring_journals > 0 {
        controls.push_str(&format!(", {} recurring journals", summary.recurring_journals));
    }
    if summary.reconciliations > 0 {
        controls.push_str(&format!(", {} reconciled accounts", summary.reconciliations));
    }
    crate::output::print(&format!(
        "applied {source}: {} currencies, {} calendars ({} fiscal years created), {} accounts, {} dimension values, {} groups, {} users, {} entities, {} rates{controls}\n",
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

/// The width, in characters, a report table for a terminal is laid out to fit: the help text's
/// width too (`max_term_width` in cli.rs), and what a terminal beside another window shows.
pub const TERMINAL_TABLE_WIDTH_CHARS_MAX: usize = 100;

/// The narrowest the wrapped last column gets, however wide the others are: narrower, a
/// description is harder to read than a table that overflows.
const WRAPPED_COLUMN_WIDTH_CHARS_MIN: usize = 24;

/// Rows for a `Table` whose last column (a description or notes) is wrapped so that every
/// rendered line fits `TERMINAL_TABLE_WIDTH_CHARS_MAX`: a cell too long for the room the other
/// columns leave continues on rows of its own, with the other cells blank. The table renders
/// its columns two spaces apart, each as wide as its widest cell or header.
pub fn wrap_last_column(headers: &[&str], rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let Some(last) = headers.len().checked_sub(1) else {
        return rows;
    };
    let mut widths: Vec<usize> = headers[..last].iter().map(|header| header.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let taken: usize = widths.iter().sum::<usize>() + 2 * last;
    let room = TERMINAL_TABLE_WIDTH_CHARS_MAX
        .saturating_sub(taken)
        .max(WRAPPED_COLUMN_WIDTH_CHARS_MIN)
        .max(headers[last].chars().count());
    let mut wrapped = Vec::with_capacity(rows.len());
    for mut row in rows {
        // Escaped before it is wrapped: a stored newline must not break the cell as if it were
        // the table's own (the table escapes every cell again, which changes nothing here).
        let text = crate::output::visible(row.get(last).map_or("", String::as_str)).into_owned();
        let mut pieces = wrap_text(&text, room).into_iter();
        if let Some(cell) = row.get_mut(last) {
            *cell = pieces.next().unwrap_or_default();
        }
        wrapped.push(row);
        for piece in pieces {
            let mut continuation = vec![String::new(); last];
            continuation.push(piece);
            wrapped.push(continuation);
        }
    }
    wrapped
}

/// Splits text into lines of at most `width` characters, breaking after a space, a comma or a
/// semicolon (so that JSON details and dimension sets wrap between fields) or a slash (paths),
/// and inside a word only when it is longer than a line.
pub fn wrap_text(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_chars = 0;
    for piece in text.split_inclusive([' ', ',', ';', '/']) {
        if line_chars > 0 && line_chars + piece.chars().count() > width {
            lines.push(line.trim_end().to_owned());
            line.clear();
            line_chars = 0;
        }
        for character in piece.chars() {
            if line_chars == width {
                lines.push(line.trim_end().to_owned());
                line.clear();
                line_chars = 0;
            }
            // A continuation line does not start with the space it was broken at.
            if line_chars == 0 && character == ' ' && !lines.is_empty() {
                continue;
            }
            line.push(character);
            line_chars += 1;
        }
    }
    lines.push(line.trim_end().to_owned());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_after_spaces_and_commas_and_inside_long_words() {
        // Proves the wrapping of a notes column: at spaces, between JSON fields, and a word
        // longer than a line cut to the width.
        assert_eq!(wrap_text("short", 10), ["short"]);
        assert_eq!(wrap_text("", 10), [""]);
        assert_eq!(wrap_text("one two three four", 9), ["one two", "three", "four"]);
        assert_eq!(
            wrap_text(r#"{"a":1,"bb":22,"ccc":333}"#, 12),
            [r#"{"a":1,"#, r#""bb":22,"#, r#""ccc":333}"#]
        );
        assert_eq!(wrap_text("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
    }

    #[test]
    fn the_last_column_takes_the_room_the_others_leave() {
        // Proves every rendered line of a wrapped table fits the terminal width.
        let long = "word ".repeat(60);
        let rows = vec![vec![
            "2026-01-05".to_owned(),
            "alice".to_owned(),
            long.trim_end().to_owned(),
        ]];
        let wrapped = wrap_last_column(&["When", "User", "Notes"], rows);
        assert!(wrapped.len() > 1);
        let mut table = crate::output::Table::new(&[("When", false), ("User", false), ("Notes", false)]);
        for row in wrapped {
            table.row(row);
        }
        for line in table.render().lines() {
            assert!(line.chars().count() <= TERMINAL_TABLE_WIDTH_CHARS_MAX, "{line}");
        }
    }
}
