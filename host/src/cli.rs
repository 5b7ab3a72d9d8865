//! The command line, as clap derive definitions. Doc comments here are the help text a user
//! reads, so they say what a command does, what it refuses and how to fix it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// closebook: period-end close for the general ledger.
///
/// Keeps the ledger in one SQLite file, posts journals with every accounting rule checked,
/// controls period status and module access, and reports trial balances and statements.
#[derive(Debug, Parser)]
#[command(name = "closebook", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The ledger file. `setup apply` creates it when it does not exist (or is empty); every
    /// other command refuses a missing or empty file rather than start a new ledger. A
    /// relative path is taken from the current directory. A URL postgres://USER@HOST/DB keeps
    /// the ledger in that PostgreSQL database instead (`closebook db migrate` makes its tables)
    #[arg(
        long,
        global = true,
        env = "CLOSEBOOK_DB",
        default_value = "closebook.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,

    /// The user acting, recorded in the audit trail (default: the operating-system user).
    #[arg(long = "as", global = true, env = "CLOSEBOOK_USER", value_name = "USER")]
    pub user: Option<String>,

    /// Run the command on a close workspace server (`closebook serve`) instead of a local
    /// ledger file: import journals, report, period, journal, settle, year-end reverse|history
    /// and close run|signoff|explain|status|show|history.
    /// The server acts as the user of the API token in CLOSEBOOK_TOKEN (`closebook token
    /// create`); --db and --as do not apply. Output and exit codes are those of local mode.
    #[arg(long, global = true, env = "CLOSEBOOK_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// How much the diagnostic trace says on stderr: error, warn, info, debug or trace, for
    /// closebook's own spans and events (other crates stay at warn). Overrides RUST_LOG, which
    /// takes full filter directives (`RUST_LOG=closebook=debug,closebook_ledger=trace`).
    /// [default: warn]
    #[arg(long, global = true, value_enum, value_name = "LEVEL", help_heading = "Diagnostics")]
    pub log_level: Option<LogLevel>,

    /// The form of the diagnostic trace on stderr: text for a person, json (one object a line)
    /// for a log collector. Reports and `--format json` output on stdout are never mixed with it.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT",
        help_heading = "Diagnostics"
    )]
    pub log_format: LogFormat,

    /// Show no progress (bars on a terminal, periodic lines otherwise). Errors, warnings and
    /// the trace asked for with --log-level are still written.
    #[arg(long, short = 'q', global = true, help_heading = "Diagnostics")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update entities, calendars, accounts, dimensions, users and rates from a file.
    #[command(subcommand)]
    Setup(SetupCommand),
    /// Import accounts, exchange rates or journals from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Post draft journals, reverse posted entries, list entries.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// List periods; change their status or module access (mass period close).
    #[command(subcommand)]
    Period(PeriodCommand),
    /// Trial balance, ledger journal, balance sheet and income statement.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Run a configured period-end close (close.toml): tasks, sign-offs, status board, history.
    #[command(subcommand)]
    Close(CloseCommand),
    /// Year-end close: carry balances into the next year and close profit and loss to retained
    /// earnings, with the year-end plugin; rerun replaces, reverse removes.
    #[command(subcommand)]
    YearEnd(YearEndCommand),
    /// Settle posted lines that net to zero (open-item matching), or release a settlement.
    #[command(subcommand)]
    Settle(SettleCommand),
    /// Account reconciliations: the GL balance beside a bank statement or subledger figure,
    /// reconciling items that explain the difference, evidence, preparation and review.
    ///
    /// Unexplained = GL balance − (independent balance + open reconciling items). A preparer
    /// signs off when it is within the account's materiality (setup's [[reconciliation]]);
    /// another user reviews. A later entry posted to the account, or a changed statement or
    /// item, withdraws the sign-off, naming what changed.
    #[command(subcommand)]
    Reconcile(ReconcileCommand),
    /// Inspect, run and scaffold close-step plugins (WebAssembly components).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Show the audit trail: who changed what, when.
    Audit(AuditArgs),
    /// Check the ledger: the hash chain, that every entry balances, and that maintained
    /// balances equal a recomputation from the posted lines. Exits non-zero on any finding.
    ///
    /// An entity with a verification checkpoint (`--checkpoint`) is checked from it on: the
    /// entries posted since, and that the stored balances less what they add are the ones the
    /// checkpoint recorded. `--full` reads every entry again.
    Verify(VerifyArgs),
    /// Users' passwords for signing in to the close workspace server.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for the command line's remote mode and for automation.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Serve the close workspace: the team's board, reviews, periods, reports and audit trail in
    /// the browser, and a JSON API (documented at /api/openapi.json).
    ///
    /// Users sign in with the password set by `closebook user set-password`; programs present
    /// an API token (`closebook token create`) as `Authorization: Bearer TOKEN`. Every page and
    /// call goes through the ledger's permission check. With --tls-cert and --tls-key it speaks
    /// HTTPS; without, plain HTTP: keep it on 127.0.0.1, or behind a reverse proxy that
    /// terminates TLS (and pass --secure-cookies).
    Serve(ServeArgs),
    /// The ledger's database itself: bring its schema up to this build's.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Bring the database's schema up to this build's version, in one transaction.
    ///
    /// A PostgreSQL database (`--db postgres://USER@HOST/DB`) is migrated only by this
    /// command: run it once on a new, empty database to create closebook's tables, and again
    /// after upgrading closebook; every other command refuses a database whose schema is older.
    /// A SQLite file is migrated whenever a writable command opens it; here it is only opened.
    Migrate {
        /// PostgreSQL: grant this existing role what closebook needs and no more: SELECT and
        /// INSERT everywhere, UPDATE and DELETE only where closebook changes rows, none of them
        /// on the append-only tables (posted entries and lines, settlements, the audit trail,
        /// the close's history). Servers then connect as that role, not as the tables' owner,
        /// so that not even a changed closebook can edit posted data. Run it again after every
        /// migration.
        #[arg(long, value_name = "ROLE")]
        app_role: Option<String>,
    },
    /// Set up a new PostgreSQL ledger database as its owner: create the application role the
    /// servers will connect as (when it does not exist), create closebook's schema, and grant
    /// the role what closebook needs and no more (as `db migrate --app-role`).
    ///
    /// Run it as the database's owner, with a role that may create roles (CREATEROLE), on a new
    /// database (`createdb books`). The role is created with LOGIN and no password: give it one
    /// (`ALTER ROLE … PASSWORD '…'`) or let your server's authentication (peer, certificates)
    /// admit it. Then run `closebook setup apply` and everything else as that role.
    Init {
        /// The role servers and people connect as; created when missing.
        #[arg(long, value_name = "ROLE", default_value = "closebook_app")]
        app_role: String,
    },
    /// Copy a whole ledger into a new database: SQLite to PostgreSQL, PostgreSQL to SQLite, or
    /// either to its own kind. --db does not apply.
    ///
    /// Every row goes across as it is stored, so the hash chains hold in the copy, `closebook
    /// verify` passes on it and its reports are the source's. The source is read in one
    /// snapshot (others may go on using it); the copy is written in one transaction, whole or
    /// not at all. The destination must hold no ledger: a new file, or a new PostgreSQL
    /// database (its schema is made here when it has none).
    Copy {
        /// The ledger to copy: a SQLite file or a postgres:// URL.
        #[arg(long, value_name = "PATH|URL")]
        from: PathBuf,
        /// The new ledger: a SQLite file that does not exist yet, or a postgres:// URL of an
        /// empty database.
        #[arg(long, value_name = "PATH|URL")]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a user's password, read from a prompt (not echoed) or, when stdin is not a terminal,
    /// from its first line; never from the command line, where other users could read it.
    ///
    /// A user may set their own password when their identity is verified (their
    /// operating-system account); setting another user's needs users.admin. Signs the user out
    /// of every session.
    SetPassword {
        /// The user, as declared in setup.
        // Not the id `user`: that is the global `--as`, which clap would overwrite with it.
        #[arg(id = "password_user", value_name = "USER")]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token. It is shown once; the ledger keeps only its SHA-256.
    Create {
        /// Whose token it is: it acts with this user's permissions.
        #[arg(long = "user", id = "token_user", value_name = "USER")]
        user: String,
        /// What it is for, e.g. ci or month-end-script.
        #[arg(long)]
        name: String,
        /// How long it works: a number and d, h or m.
        #[arg(long, default_value = "90d", value_name = "LIFETIME")]
        expires: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// List API tokens with their last use (never the tokens themselves).
    List {
        /// Only this user's tokens (default: every user's, which needs users.admin).
        #[arg(long = "user", id = "token_user", value_name = "USER")]
        user: Option<String>,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Revoke an API token at once.
    Revoke {
        /// The token's id, from `token list`.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDRESS:PORT")]
    pub listen: String,
    /// A close configuration the workspace shows (repeat for several closes).
    #[arg(long = "close", value_name = "CLOSE.TOML")]
    pub closes: Vec<PathBuf>,
    /// A session ends after this long without a request.
    #[arg(long, default_value = "30m", value_name = "LIFETIME")]
    pub session_idle: String,
    /// A session ends this long after sign-in, however active.
    #[arg(long, default_value = "12h", value_name = "LIFETIME")]
    pub session_max: String,
    /// Mark session cookies Secure, for a server behind a reverse proxy that terminates TLS
    /// (with --tls-cert they always are).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The address of a reverse proxy in front of the server (repeat for several): requests
    /// from it are taken to come from the address it names in X-Forwarded-For, for sign-in
    /// throttling and the audit trail. Without it the header is ignored, since anyone can send
    /// it.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Apply a setup file (TOML). Creates what is missing, updates what changed; applying the
    /// same file twice changes nothing. See examples/demo/setup.toml for every section.
    Apply {
        /// The setup file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import accounts into a chart from CSV: number,name,type[,revalue,settle,rate_type,
    /// fixed_currency,category,blocked].
    Accounts {
        /// The file to read.
        file: PathBuf,
        /// The chart of accounts to import into (declared in setup).
        #[arg(long)]
        chart: String,
        #[command(flatten)]
        delimiter: DelimiterArg,
    },
    /// Import exchange rates from CSV: from,to,type,date,rate (1 FROM = rate TO).
    Rates {
        /// The file to read.
        file: PathBuf,
        #[command(flatten)]
        delimiter: DelimiterArg,
    },
    /// Import journal entries from CSV or JSON, as drafts or posted with --post.
    ///
    /// CSV columns: entry, date, account, amount (debit positive) or debit/credit, and
    /// optionally currency, accounting_amount, description, period, dim.<name>. Lines of one
    /// entry are contiguous; `entry` is the idempotency key within the entity, and appears once
    /// in a file. Amounts are written like -1234.56: '.' as decimal point, no thousands
    /// separator, a minus sign for negatives. Any refusal and nothing from the file is written.
    /// Re-importing an identical entry does nothing.
    Journals {
        /// The file to read.
        file: PathBuf,
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The source module of the lines (module access is checked per module).
        #[arg(long, value_enum, default_value_t = ModuleArg::Ledger)]
        module: ModuleArg,
        /// Post the entries now instead of keeping them as drafts. Entries that need approval
        /// (setup's [[journal_approval]]) stay drafts until another user approves them.
        #[arg(long)]
        post: bool,
        /// After the command, print on stderr where its time went: each phase (span) with its
        /// calls, total and own time.
        #[arg(long)]
        timings: bool,
        #[command(flatten)]
        delimiter: DelimiterArg,
    },
}

/// The column delimiter of a CSV file.
#[derive(Debug, Clone, Copy, Args)]
pub struct DelimiterArg {
    /// The character between the columns of a CSV file, e.g. ';' for files from spreadsheets
    /// that use a decimal comma, or `tab` [default: ,]
    #[arg(long = "delimiter", value_name = "CHARACTER", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
}

impl DelimiterArg {
    /// The delimiter given, or `,`.
    pub fn byte(self) -> u8 {
        self.delimiter.unwrap_or(b',')
    }
}

/// One ASCII character that can separate CSV columns, or `tab`.
fn parse_delimiter(text: &str) -> Result<u8, String> {
    if text == "tab" || text == "\\t" {
        return Ok(b'\t');
    }
    let mut characters = text.chars();
    match (characters.next(), characters.next()) {
        (Some(character), None)
            if character.is_ascii()
                && !matches!(character, '"' | '\n' | '\r')
                && !character.is_ascii_alphanumeric() =>
        {
            Ok(character as u8)
        }
        _ => Err(format!(
            "`{text}` is not a column delimiter: give one punctuation character such as ';' or '|', or `tab`"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Post draft entries: the ones named, or every draft of the entity. A draft that needs
    /// approval posts once approved; named before that it is refused, otherwise it waits.
    Post {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Entry keys to post (default: all drafts).
        keys: Vec<String>,
    },
    /// Submit drafts that need approval (setup's [[journal_approval]]) to a second person.
    Submit {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Entry keys of the drafts to submit.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Approve submitted drafts (needs journal.approve; never your own): they post with
    /// `journal post`.
    Approve {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Entry keys of the drafts to approve.
        #[arg(required = true)]
        keys: Vec<String>,
        /// A note kept with the approval.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a submitted draft with the reason (needs journal.approve; never your own); its
    /// preparer may submit it again.
    Reject {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Entry key of the draft to reject.
        key: String,
        /// What the preparer must fix.
        #[arg(long)]
        reason: String,
    },
    /// Discard a draft with the reason (needs journal.import): it is deleted, its content kept
    /// in the audit trail, and the same key can be imported again.
    Discard {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Entry key of the draft to discard.
        key: String,
        /// Why it is not posted.
        #[arg(long)]
        reason: String,
    },
    /// Reverse a posted entry with a new entry dated in an open period.
    Reverse {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The key of the posted entry.
        key: String,
        /// The date of the reversing entry (YYYY-MM-DD).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Post the reversal in this period (to name an opening or closing period).
        #[arg(long)]
        period: Option<String>,
    },
    /// List posted entries of a period, or the drafts waiting to be posted.
    List {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        #[arg(long, required_unless_present = "drafts")]
        period: Option<String>,
        /// List drafts instead of posted entries.
        #[arg(long)]
        drafts: bool,
        #[command(flatten)]
        format: FormatArg,
    },
}

/// The reconciliation a command works on.
#[derive(Debug, Args)]
pub struct ReconcileTarget {
    /// The legal entity, e.g. ACME-US.
    #[arg(long)]
    pub entity: String,
    /// The account reconciled, e.g. 1000.
    #[arg(long)]
    pub account: String,
    /// The period, YYYY-MM: the GL balance is the account's closing balance in it.
    #[arg(long)]
    pub period: String,
    /// Reconcile only the account's lines carrying this dimension value (repeat for several).
    #[arg(long = "dimension", value_name = "NAME=VALUE")]
    pub dimensions: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Import a bank statement (CSV with a header row: date, amount, reference, description)
    /// as the independent balance. Opening balance plus the lines must equal the closing
    /// balance, every line must be dated in the period, and the opening balance must be the
    /// closing balance of the account's statement of the period before. The same file again
    /// changes nothing; another file replaces it.
    ImportStatement {
        #[command(flatten)]
        target: ReconcileTarget,
        /// The statement's opening balance, e.g. 48000.00.
        #[arg(long, allow_hyphen_values = true)]
        opening: String,
        /// The statement's closing balance, e.g. 51090.00.
        #[arg(long, allow_hyphen_values = true)]
        closing: String,
        /// The statement CSV.
        file: PathBuf,
    },
    /// Enter a subledger figure (receivables aging, fixed-asset register…) as the independent
    /// balance, with the report it comes from.
    Subledger {
        #[command(flatten)]
        target: ReconcileTarget,
        /// The subledger's balance at the period's end.
        #[arg(long, allow_hyphen_values = true)]
        balance: String,
        /// Where the figure comes from, e.g. "AR aging report of 31 Jan".
        #[arg(long)]
        source: String,
    },
    /// Reconciling items: add one that explains part of the difference, or clear one.
    #[command(subcommand)]
    Item(ReconcileItemCommand),
    /// Attach an evidence file to the reconciliation (kept in the ledger with its SHA-256; at
    /// most 10 MiB).
    Attach {
        #[command(flatten)]
        target: ReconcileTarget,
        /// The file.
        file: PathBuf,
    },
    /// Save an evidence file to a new file, checked against the SHA-256 it was stored with.
    Evidence {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The evidence file's id (`reconcile show` lists them).
        id: i64,
        /// Where to write it; an existing file is not overwritten.
        #[arg(long)]
        output: PathBuf,
    },
    /// Sign the reconciliation off as its preparer (needs close.prepare). Refused without an
    /// independent balance or with an unexplained difference above the materiality.
    Prepare {
        #[command(flatten)]
        target: ReconcileTarget,
        /// A note kept with the sign-off.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Review a prepared reconciliation (needs close.review). The reviewer is never its
    /// preparer, nor who entered its statement, figure or items.
    Review {
        #[command(flatten)]
        target: ReconcileTarget,
        /// A note kept with the review.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// One reconciliation: its figures, items, evidence, status and history.
    Show {
        #[command(flatten)]
        target: ReconcileTarget,
        #[command(flatten)]
        format: FormatArg,
    },
    /// The entity's reconciliations for a period: every account setup lists and every one
    /// worked on, with figures and status.
    Report {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The period, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReconcileReportFormat::Table)]
        format: ReconcileReportFormat,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReconcileItemCommand {
    /// Add a reconciling item, open from the period on until cleared: negative for what
    /// reduces the independent balance (an outstanding cheque), positive for what adds to it
    /// (a deposit in transit).
    Add {
        #[command(flatten)]
        target: ReconcileTarget,
        /// The amount, e.g. -1500.00.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// What it is.
        #[arg(long)]
        explanation: String,
        /// When it is expected to clear (YYYY-MM-DD).
        #[arg(long)]
        expected_clear: chrono::NaiveDate,
        /// A reference, e.g. the cheque number.
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Clear a reconciling item in the period it cleared in (it matched the statement then).
    Clear {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The period it cleared in, YYYY-MM.
        #[arg(long)]
        period: String,
        /// The item's id (`reconcile show` lists them).
        id: i64,
        /// A note, e.g. the statement line it matched.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReconcileReportFormat {
    Table,
    Csv,
    Html,
    Json,
}

/// Which entities a period command changes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct EntitySelection {
    /// An entity to change (repeat for several).
    #[arg(long = "entity", value_name = "ENTITY")]
    pub entities: Vec<String>,
    /// Every entity in the ledger.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum PeriodCommand {
    /// List an entity's periods with status and module access.
    List {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// Only this fiscal year (e.g. FY2026).
        #[arg(long)]
        year: Option<String>,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Set a period's status. On hold stops posting and can be reopened; permanently closed is
    /// final and needs every earlier period permanently closed.
    SetStatus {
        #[command(flatten)]
        entities: EntitySelection,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        #[arg(long, value_enum)]
        status: StatusArg,
    },
    /// Set who may post a module's entries in a period: all, none, or group:NAME.
    Access {
        #[command(flatten)]
        entities: EntitySelection,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        #[arg(long, value_enum)]
        module: ModuleArg,
        /// all | none | group:NAME
        #[arg(long)]
        level: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CloseCommand {
    /// Run the close for a period: every task whose dependencies are complete, in order, each
    /// step in its own transaction. Running it again resumes; a step never posts twice. Stops a
    /// chain at a failure, a manual task or a proposal awaiting review, and says who waits on whom.
    Run {
        /// The close configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        /// Only these entities of the close (repeat for several).
        #[arg(long = "entity", value_name = "ENTITY")]
        entities: Vec<String>,
        /// Run the whole chain on a copy of the ledger and show what it would post; the ledger
        /// is left unchanged.
        #[arg(long)]
        dry_run: bool,
        /// Run a completed task again: its entries are reversed and new ones posted.
        #[arg(long, value_name = "TASK")]
        rerun: Option<String>,
        /// After the command, print on stderr where its time went: each phase (span) with its
        /// calls, total and own time.
        #[arg(long)]
        timings: bool,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Sign off a task as the acting user: a manual task's preparer (then, with --review, its
    /// reviewer, who must be someone else), or the review of a step's proposal, which posts it.
    Signoff {
        /// The close configuration (close.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        /// The entity whose task is signed off.
        #[arg(long)]
        entity: String,
        /// The task id in close.toml.
        #[arg(long)]
        task: String,
        /// Sign off as the reviewer.
        #[arg(long)]
        review: bool,
        /// A note kept with the sign-off.
        #[arg(long)]
        note: Option<String>,
    },
    /// Explain a finding of a task's step (a flux variance): why the figure moved. The task
    /// cannot be signed off until every finding that needs one is explained; the explanation
    /// holds for the figures explained, so a late journal that changes them reopens it.
    Explain {
        /// The close configuration (close.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        /// The entity whose task found the variance.
        #[arg(long)]
        entity: String,
        /// The task id in close.toml.
        #[arg(long)]
        task: String,
        /// The account of the finding.
        #[arg(long)]
        account: String,
        /// Only the finding of these dimension values (repeat for several), when the task
        /// compares by dimension. Without it, every finding of the account.
        #[arg(long = "dimension", value_name = "NAME=VALUE", conflicts_with = "whole_account")]
        dimensions: Vec<String>,
        /// Only the finding of the whole account, not those of its dimension values.
        #[arg(long)]
        whole_account: bool,
        /// Only the finding of this measure (e.g. `movement vs prior year`), when the account
        /// has several.
        #[arg(long)]
        measure: Option<String>,
        /// The explanation, e.g. "storage rent from February".
        #[arg(long)]
        text: String,
    },
    /// One task as its reviewer sees it: status, who prepared, ran and reviewed it and when,
    /// its dependencies, messages and step log, and every entry it proposes (or posted) with its
    /// lines, debit and credit columns and totals.
    Show {
        /// The close configuration (close.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        /// The entity whose task is shown.
        #[arg(long)]
        entity: String,
        /// The task id in close.toml.
        #[arg(long)]
        task: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// The status board: each task's status, owner, due date, overdue and blocked markers, and
    /// the share complete by entity, area and owner.
    Status {
        /// The close configuration (close.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
        #[arg(long)]
        period: String,
        /// Judge due dates against this day (default: today).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Past runs of the close's steps: who, when, what was posted, plugin versions and hashes.
    History {
        /// The close configuration (close.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The newest N events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        format: FormatArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum YearEndCommand {
    /// Run the year-end close of a fiscal year for entities: earlier year-end entries of that
    /// year are cancelled first, so running again replaces them. Needs the next year to exist.
    Run {
        #[command(flatten)]
        entities: EntitySelection,
        /// The fiscal year to close, e.g. FY2026.
        #[arg(long)]
        year: String,
        /// The year-end plugin (built by scripts/build-plugins as year_end.wasm).
        #[arg(long, value_name = "FILE.wasm")]
        plugin: PathBuf,
        /// The step's configuration as JSON (dimension mode, closing entries…).
        #[arg(long, default_value = "{}")]
        config: String,
    },
    /// Remove the year-end close of a fiscal year: cancels every entry its runs posted.
    Reverse {
        #[command(flatten)]
        entities: EntitySelection,
        /// The fiscal year, e.g. FY2026.
        #[arg(long)]
        year: String,
    },
    /// Year-end runs per entity and year: who, when, what was posted.
    History {
        /// Only this legal entity.
        #[arg(long)]
        entity: Option<String>,
        #[command(flatten)]
        format: FormatArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum SettleCommand {
    /// Settle posted lines of one settlement-enabled account and fiscal year whose accounting
    /// amounts sum to exactly zero. Line ids are shown by `report open-items`.
    Mark {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The ids of the lines to settle together.
        #[arg(required = true, num_args = 2..)]
        lines: Vec<i64>,
    },
    /// Reverse a settlement: its lines are open again (and their entries reversible).
    Unsettle {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The settlement id.
        settlement: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's package (name, version, interface version, summary, authors, license,
    /// homepage, minimum closebook version, README), its signature, SHA-256 and config schema.
    Inspect {
        /// The plugin component (.wasm).
        file: PathBuf,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Run a plugin for one entity and period: a dry run that prints the proposed entries,
    /// messages, fuel and time, unless --post. Posting validates every proposal like an
    /// imported journal and posts them all or none.
    Run {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The period the step runs for (YYYY-MM, FY2026-opening, FY2026-closing).
        #[arg(long)]
        period: String,
        /// The step's configuration as JSON.
        #[arg(long, conflicts_with = "config_file")]
        config: Option<String>,
        /// A file holding the step's configuration as JSON.
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// Read balances as of this date (default: the period end).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        /// Other entities the step may read (repeat); add `:post` to let it post there too,
        /// e.g. `--allow ACME-DE:post`.
        #[arg(long = "allow", value_name = "ENTITY[:post]")]
        allow: Vec<String>,
        /// Post the proposals instead of only showing them.
        #[arg(long)]
        post: bool,
        /// The step is a foreign currency revaluation: it may post lines with amount 0 and an
        /// accounting amount on accounts flagged `revalue`. Refused for any other step.
        #[arg(long)]
        revaluation: bool,
        /// The step is a year-end close: it may post into the next fiscal year's opening
        /// period, where year-end close carries balances (`year_end = true` in close.toml).
        #[arg(long)]
        year_end: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Embed package metadata in a built component (before signing it): name, version,
    /// summary, authors, license, homepage, README and the oldest closebook it needs, read from
    /// a Cargo.toml (through `cargo metadata`) or given by the options, which win. The
    /// interface version is read from the component itself.
    Package {
        /// The plugin component (.wasm); rewritten in place unless --output is given.
        file: PathBuf,
        /// A Cargo.toml to read the package from: the plugin crate's, or the workspace's with
        /// --name choosing the member. The minimum closebook version comes from its
        /// `[package.metadata.closebook] minimum-closebook-version`.
        #[arg(long, value_name = "CARGO_TOML")]
        manifest: Option<PathBuf>,
        /// The package name (lower-case letters, digits and `-`).
        #[arg(long)]
        name: Option<String>,
        /// The package version (semver, e.g. 1.2.0).
        #[arg(long = "package-version", value_name = "VERSION")]
        package_version: Option<String>,
        /// One line saying what the step does.
        #[arg(long)]
        summary: Option<String>,
        /// An author (repeat for more).
        #[arg(long = "author", value_name = "AUTHOR")]
        authors: Vec<String>,
        /// An SPDX license expression, e.g. Apache-2.0.
        #[arg(long)]
        license: Option<String>,
        /// Where to read more about the plugin.
        #[arg(long)]
        homepage: Option<String>,
        /// The oldest closebook that may load the plugin (default: this closebook's version).
        #[arg(long = "minimum-closebook", value_name = "VERSION")]
        minimum_closebook: Option<String>,
        /// A README to embed (default: the crate's `readme`, when --manifest names one).
        #[arg(long, value_name = "FILE")]
        readme: Option<PathBuf>,
        /// Write the packaged component here instead of rewriting FILE.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Create an Ed25519 key pair for signing plugins: OUT.key (secret, readable only by you;
    /// never share or commit it) and OUT.pub (the public key clients put in their [trust]).
    Keygen {
        /// The path of the key files without extension.
        #[arg(long, value_name = "PATH", default_value = "closebook-plugin")]
        out: PathBuf,
    },
    /// Sign a component with a secret key from `plugin keygen`: the signature is embedded as
    /// its last custom section (a new signature replaces an old one). Package it first.
    Sign {
        /// The plugin component (.wasm); rewritten in place unless --output is given.
        file: PathBuf,
        /// The secret key file (OUT.key from `plugin keygen`).
        #[arg(long, value_name = "KEY_FILE")]
        key: PathBuf,
        /// Write the signed component here instead of rewriting FILE.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Pin the plugins of a close.toml to the files they point at: rewrites each `sha256` in
    /// [plugins] (comments kept) after checking each file against the close's [trust] policy.
    /// Pin only what you reviewed: the pin is what says so.
    Pin {
        /// The close.toml.
        config: PathBuf,
        /// Write the pinned close file here (in the same folder) instead of rewriting it.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Push a packaged (and signed) component to an OCI registry with the Wasm media types and
    /// its package metadata as annotations; its signature is inside it. The tag must be the
    /// package's version. A registry on 127.0.0.1 or localhost is spoken to over plain HTTP.
    Publish {
        /// The plugin component (.wasm), packaged with `plugin package`.
        file: PathBuf,
        /// Where to: oci://HOST[:PORT]/NAMESPACE/NAME:VERSION.
        target: String,
    },
    /// Add a registry plugin to a close: resolve the highest tag matching the requirement,
    /// pull it, check it against the close's [trust], cache it by SHA-256, declare it in
    /// close.toml's [plugins] and pin its digests in close.lock beside it.
    Add {
        /// Its name in close.toml (what tasks name as `plugin:NAME`).
        name: String,
        /// oci://HOST[:PORT]/NAMESPACE/NAME:REQUIREMENT, e.g. …/accrue-bonus:^1.2.
        source: String,
        /// The close.toml.
        #[arg(long, value_name = "CLOSE_TOML")]
        config: PathBuf,
    },
    /// Show what newer components the registry holds for the close's registry plugins (old and
    /// new version, digest and signer), within close.toml's requirements; with --yes, pull and
    /// check them and write close.lock.
    Update {
        /// The close.toml.
        #[arg(long, value_name = "CLOSE_TOML")]
        config: PathBuf,
        /// Write close.lock (after showing the changes).
        #[arg(long)]
        yes: bool,
    },
    /// Scaffold a new close-step plugin project that builds and passes its own test.
    New {
        /// The plugin's name (a Rust package name, e.g. `accrue-bonus`).
        name: String,
        /// Where to create the project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The language of the project.
        #[arg(long, value_enum, default_value_t = PluginLanguage::Rust)]
        lang: PluginLanguage,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PluginLanguage {
    /// A Rust crate on the closebook plugin SDK (cargo, wasm32-wasip2).
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript module built with componentize-js.
    Javascript,
}

/// Per-run limit overrides; each is refused above its hard maximum.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Fuel (instructions, roughly) the step may burn.
    #[arg(long, value_name = "UNITS")]
    pub fuel: Option<u64>,
    /// Linear memory the step may grow to.
    #[arg(long, value_name = "BYTES")]
    pub memory_bytes: Option<u64>,
    /// Wall-clock backstop.
    #[arg(long, value_name = "MS")]
    pub wall_time_ms: Option<u64>,
    /// Size of the step's output (proposals and messages).
    #[arg(long, value_name = "BYTES")]
    pub output_bytes: Option<u64>,
    /// Size of the step's log.
    #[arg(long, value_name = "BYTES")]
    pub log_bytes: Option<u64>,
    /// Ledger rows the step's queries may return in all.
    #[arg(long, value_name = "ROWS")]
    pub query_rows: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Trial balance: opening, debit and credit turnovers, closing, per account.
    TrialBalance {
        #[command(flatten)]
        scope: ReportScope,
        /// Break rows down by these dimensions (comma-separated, `*` for all).
        #[arg(long, value_delimiter = ',')]
        dimensions: Vec<String>,
        /// For the last month of a year, include the closing period's entries.
        #[arg(long)]
        include_closing: bool,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Ledger journal report: the period's posted entries with lines and provenance.
    Journal {
        #[command(flatten)]
        scope: ReportScope,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Balance sheet at the period end beside the prior fiscal year end (and the same period end
    /// a year before), grouped by account category, with current-year earnings before year-end
    /// close and the check that assets equal liabilities and equity.
    BalanceSheet {
        #[command(flatten)]
        scope: StatementScope,
        #[command(flatten)]
        output: StatementOutput,
    },
    /// Unsettled (open) posted lines of a settlement-enabled account.
    OpenItems {
        /// The legal entity, e.g. ACME-US.
        #[arg(long)]
        entity: String,
        /// The account number.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Income statement for the period and the year to date, each beside the same range of the
    /// prior year and the change, grouped by account category, with net income.
    IncomeStatement {
        #[command(flatten)]
        scope: StatementScope,
        #[command(flatten)]
        output: StatementOutput,
    },
}

#[derive(Debug, Args)]
pub struct ReportScope {
    #[arg(long)]
    pub entity: String,
    /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
    #[arg(long)]
    pub period: String,
}

/// The entities and period of a financial statement.
#[derive(Debug, Args)]
pub struct StatementScope {
    /// The legal entity, e.g. ACME-US. Repeat to combine entities that share an accounting
    /// currency and chart, e.g. --entity ACME-GROUP --entity ACME-ELIM.
    #[arg(long = "entity", required = true)]
    pub entities: Vec<String>,
    /// The period: YYYY-MM, FY2026-opening or FY2026-closing.
    #[arg(long)]
    pub period: String,
}

#[derive(Debug, Args)]
pub struct StatementOutput {
    /// Output format; html is one self-contained page laid out for printing on A4.
    #[arg(long, value_enum, default_value_t = StatementFormat::Table)]
    pub format: StatementFormat,
    /// Write the statement to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatementFormat {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct FormatArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records about this entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Show the newest N records.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this entity (default: all).
    #[arg(long)]
    pub entity: Option<String>,
    /// Read every entry again, and check the latest checkpoint against what they add up to.
    /// Without it, an entity with a checkpoint is checked from that checkpoint on.
    #[arg(long)]
    pub full: bool,
    /// After a clean check, record a checkpoint at the last entry checked (needs audit.read),
    /// so that later checks start from it.
    #[arg(long)]
    pub checkpoint: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// The most detailed diagnostic records shown (`--log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The form of the diagnostic trace (`--log-format`). (Plain comments on the values: a doc
/// comment would make clap list them one a line in every command's help.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    // One line a record, for a person.
    Text,
    // One JSON object a line, with the fields of every enclosing span, for a log collector.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Open,
    OnHold,
    PermanentlyClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModuleArg {
    Ledger,
    Receivables,
    Payables,
    Inventory,
    Close,
}

impl ModuleArg {
    pub fn module(self) -> closebook_ledger::period::Module {
        use closebook_ledger::period::Module;
        match self {
            ModuleArg::Ledger => Module::Ledger,
            ModuleArg::Receivables => Module::Receivables,
            ModuleArg::Payables => Module::Payables,
            ModuleArg::Inventory => Module::Inventory,
            ModuleArg::Close => Module::Close,
        }
    }
}

impl StatusArg {
    pub fn status(self) -> closebook_ledger::period::PeriodStatus {
        use closebook_ledger::period::PeriodStatus;
        match self {
            StatusArg::Open => PeriodStatus::Open,
            StatusArg::OnHold => PeriodStatus::OnHold,
            StatusArg::PermanentlyClosed => PeriodStatus::PermanentlyClosed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_subcommand_naming_a_user_does_not_change_who_acts() {
        for arguments in [
            &["closebook", "--as", "alice", "user", "set-password", "bob"][..],
            &[
                "closebook",
                "--as",
                "alice",
                "token",
                "create",
                "--user",
                "bob",
                "--name",
                "ci",
            ],
            &["closebook", "--as", "alice", "token", "list", "--user", "bob"],
        ] {
            let cli = Cli::parse_from(arguments);
            assert_eq!(cli.user.as_deref(), Some("alice"), "{arguments:?}");
        }
        let cli = Cli::parse_from(["closebook", "user", "set-password", "bob"]);
        assert_eq!(cli.user, None);
    }
}
