//! The schema, as an ordered list of migrations applied on open. A released migration is never
//! edited: a change is a new migration appended to the list.
//!
//! Posted ledger data (entries, lines, settlements and their reversals, the audit trail) is
//! append-only: triggers refuse UPDATE and DELETE on those tables, so even a bug in this program
//! cannot rewrite history. Balances and period statuses are maintained state, derivable from the
//! ledger and the audit trail.

pub const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
    MIGRATION_9,
    MIGRATION_10,
    MIGRATION_11,
    MIGRATION_12,
    MIGRATION_13,
    MIGRATION_14,
    MIGRATION_15,
    MIGRATION_16,
];

/// Takes a SQLite ledger of this schema back to version 3, as a closebook from before migration
/// 4 (`account_balances`) left it: the tables, columns and triggers of later migrations dropped,
/// their versions forgotten. For the tests of upgrades, in this crate and of the command line:
/// a migration that adds to the schema adds its undoing here.
#[doc(hidden)]
pub const REWIND_TO_VERSION_3: &str = "
ALTER TABLE close_tasks DROP COLUMN signoff_sequences; ALTER TABLE close_tasks DROP COLUMN run_sequences;
ALTER TABLE close_tasks DROP COLUMN run_reads; ALTER TABLE close_tasks DROP COLUMN config_sha256;
DROP TABLE account_balances;
DROP TABLE security; DROP TABLE grant_entities; DROP TABLE grants; DROP TABLE role_permissions;
DROP TABLE roles; DROP INDEX users_os_user; ALTER TABLE users DROP COLUMN os_user;
ALTER TABLE users DROP COLUMN blocked; ALTER TABLE audit_log DROP COLUMN identity;
ALTER TABLE close_events DROP COLUMN identity; ALTER TABLE audit_log DROP COLUMN hash;
ALTER TABLE close_events DROP COLUMN record; ALTER TABLE close_events DROP COLUMN hash;
DROP TABLE user_passwords; DROP TABLE api_tokens; DROP TABLE web_sessions; DROP TABLE verify_checkpoints;
DROP TABLE journal_approval_rules; DROP TABLE draft_approvals; DROP TABLE recurring_journals;
DROP TABLE reconciliation_rules; DROP TABLE statement_lines; DROP TABLE reconciliation_balances;
DROP TABLE reconciling_item_clearings; DROP TABLE reconciling_items; DROP TABLE reconciliation_evidence;
DROP TABLE reconciliation_signoffs; DROP TABLE close_findings; DROP TABLE close_finding_explanations;
DROP TABLE access_version; DROP TRIGGER users_access_insert; DROP TRIGGER users_access_update;
DROP TRIGGER users_access_delete; DROP TRIGGER group_members_access_insert;
DROP TRIGGER group_members_access_update; DROP TRIGGER group_members_access_delete;
DELETE FROM schema_migrations WHERE version >= 4;
";

const MIGRATION_1: &str = r#"
CREATE TABLE currencies (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    minor_units INTEGER NOT NULL CHECK (minor_units BETWEEN 0 AND 8)
);
CREATE TABLE calendars (
    id TEXT PRIMARY KEY,
    start_month INTEGER NOT NULL CHECK (start_month BETWEEN 1 AND 12)
);
CREATE TABLE fiscal_years (
    calendar_id TEXT NOT NULL REFERENCES calendars(id),
    name TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    PRIMARY KEY (calendar_id, name)
);
CREATE TABLE periods (
    calendar_id TEXT NOT NULL REFERENCES calendars(id),
    name TEXT NOT NULL,
    fiscal_year TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('opening', 'operating', 'closing')),
    ordinal INTEGER NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    PRIMARY KEY (calendar_id, name)
);
CREATE TABLE charts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE accounts (
    chart_id TEXT NOT NULL REFERENCES charts(id),
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    account_type TEXT NOT NULL CHECK (account_type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    revalue INTEGER NOT NULL DEFAULT 0,
    settle INTEGER NOT NULL DEFAULT 0,
    rate_type TEXT,
    fixed_currency TEXT,
    category TEXT,
    blocked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chart_id, number)
);
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL REFERENCES currencies(code),
    calendar_id TEXT NOT NULL REFERENCES calendars(id),
    chart_id TEXT NOT NULL REFERENCES charts(id),
    retained_earnings_account TEXT NOT NULL,
    default_rate_type TEXT NOT NULL,
    penny_rounding_account TEXT,
    penny_tolerance TEXT NOT NULL
);
CREATE TABLE dimensions (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE dimension_values (
    dimension TEXT NOT NULL REFERENCES dimensions(name),
    value TEXT NOT NULL,
    description TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dimension, value)
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE rates (
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate_type TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    rate TEXT NOT NULL,
    PRIMARY KEY (from_currency, to_currency, rate_type, effective_date)
);
-- A missing row means Open.
CREATE TABLE period_status (
    entity_id TEXT NOT NULL REFERENCES entities(id),
    period TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'on-hold', 'permanently-closed')),
    PRIMARY KEY (entity_id, period)
);
-- A missing row means All.
CREATE TABLE module_access (
    entity_id TEXT NOT NULL REFERENCES entities(id),
    period TEXT NOT NULL,
    module TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (entity_id, period, module)
);
CREATE TABLE dimension_sets (
    id INTEGER PRIMARY KEY,
    canonical TEXT NOT NULL UNIQUE
);
INSERT INTO dimension_sets (id, canonical) VALUES (0, '');

-- Draft entries: a workspace, not the ledger. Posting moves a draft into `entries`.
CREATE TABLE drafts (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    entry_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (entity_id, entry_key)
);

CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    sequence INTEGER NOT NULL,
    entry_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    date TEXT NOT NULL,
    period TEXT NOT NULL,
    fiscal_year TEXT NOT NULL,
    module TEXT NOT NULL,
    description TEXT NOT NULL,
    reverses_entry_id INTEGER REFERENCES entries(id),
    posted_by TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT,
    task TEXT,
    plugin_name TEXT,
    plugin_version TEXT,
    plugin_sha256 TEXT,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (entity_id, sequence),
    UNIQUE (entity_id, entry_key)
);
CREATE INDEX entries_by_period ON entries (entity_id, period, id);
CREATE INDEX entries_by_reversal ON entries (reverses_entry_id) WHERE reverses_entry_id IS NOT NULL;

CREATE TABLE lines (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries(id),
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    account TEXT NOT NULL,
    dimension_set_id INTEGER NOT NULL REFERENCES dimension_sets(id),
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    accounting_amount TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE INDEX lines_by_entry ON lines (entry_id);
CREATE INDEX lines_by_account ON lines (entity_id, account, id);

-- The head of each entity's hash chain: derivable from `entries`, kept for speed.
CREATE TABLE ledger_heads (
    entity_id TEXT PRIMARY KEY REFERENCES entities(id),
    sequence INTEGER NOT NULL,
    hash TEXT NOT NULL
);

-- Maintained as entries post: one row per entity x period x account x dimension set x currency.
CREATE TABLE balances (
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    account TEXT NOT NULL,
    dimension_set_id INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    accounting_amount TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    PRIMARY KEY (entity_id, period, account, dimension_set_id, currency)
) WITHOUT ROWID;

CREATE TABLE settlements (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    fiscal_year TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    run_id TEXT
);
CREATE TABLE settlement_lines (
    settlement_id INTEGER NOT NULL REFERENCES settlements(id),
    line_id INTEGER NOT NULL REFERENCES lines(id),
    PRIMARY KEY (settlement_id, line_id)
);
CREATE INDEX settlement_lines_by_line ON settlement_lines (line_id);
CREATE TABLE settlement_reversals (
    settlement_id INTEGER PRIMARY KEY REFERENCES settlements(id),
    reversed_by TEXT NOT NULL,
    reversed_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_id TEXT,
    details TEXT NOT NULL
);

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'posted entries are immutable: post a reversing entry'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'posted entries are immutable: post a reversing entry'); END;
CREATE TRIGGER lines_no_update BEFORE UPDATE ON lines BEGIN SELECT RAISE(ABORT, 'posted lines are immutable'); END;
CREATE TRIGGER lines_no_delete BEFORE DELETE ON lines BEGIN SELECT RAISE(ABORT, 'posted lines are immutable'); END;
CREATE TRIGGER settlements_no_update BEFORE UPDATE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlement_lines_no_update BEFORE UPDATE ON settlement_lines BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlement_lines_no_delete BEFORE DELETE ON settlement_lines BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlement_reversals_no_update BEFORE UPDATE ON settlement_reversals BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlement_reversals_no_delete BEFORE DELETE ON settlement_reversals BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#;

/// Completion records of plugin step runs that posted: what ran, on which ledger state, what
/// it posted and what it cost. Written in the same transaction as the step's entries.
const MIGRATION_2: &str = r#"
CREATE TABLE step_runs (
    run_id TEXT PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    period TEXT NOT NULL,
    task TEXT,
    plugin_name TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    plugin_sha256 TEXT NOT NULL,
    config TEXT NOT NULL,
    run_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    sequence_before INTEGER NOT NULL,
    sequence_after INTEGER NOT NULL,
    entries_posted INTEGER NOT NULL,
    settlements_posted INTEGER NOT NULL,
    fuel_consumed INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    log TEXT NOT NULL
);
CREATE INDEX entries_by_run ON entries (run_id) WHERE run_id IS NOT NULL;
CREATE TRIGGER step_runs_no_update BEFORE UPDATE ON step_runs BEGIN SELECT RAISE(ABORT, 'step runs are append-only'); END;
CREATE TRIGGER step_runs_no_delete BEFORE DELETE ON step_runs BEGIN SELECT RAISE(ABORT, 'step runs are append-only'); END;
"#;

/// The close engine's state: one row per close x entity x period x task (the status board),
/// and the append-only history of what happened to each task.
const MIGRATION_3: &str = r#"
CREATE TABLE close_tasks (
    close_name TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    task_id TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    ran_by TEXT,
    prepared_by TEXT,
    reviewed_by TEXT,
    signoff_sequence INTEGER,
    entries_posted INTEGER NOT NULL DEFAULT 0,
    fuel_consumed INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    proposal TEXT,
    message TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (close_name, entity_id, period, task_id)
);
CREATE TABLE close_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    close_name TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    task_id TEXT NOT NULL,
    event TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TRIGGER close_events_no_update BEFORE UPDATE ON close_events BEGIN SELECT RAISE(ABORT, 'the close history is append-only'); END;
CREATE TRIGGER close_events_no_delete BEFORE DELETE ON close_events BEGIN SELECT RAISE(ABORT, 'the close history is append-only'); END;
"#;

/// The balances without their dimensions: one row per entity x period x account x currency,
/// maintained with `balances` as entries post. The trial balance without dimensions, the balance
/// sheet and the income statement read these few rows, so they cost the same on a ledger of any
/// size (a `balances` row exists for every dimension combination used, hundreds of thousands on a
/// large ledger). Filled from `balances` when this migration runs (`store::migrate`).
pub const MIGRATION_4_VERSION: usize = 4;
const MIGRATION_4: &str = r#"
CREATE TABLE account_balances (
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    accounting_amount TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    PRIMARY KEY (entity_id, period, account, currency)
) WITHOUT ROWID;
"#;

/// The ledger sequences of the other entities a sign-off covers, as a JSON object (entity to
/// sequence): a task whose step, or a step before it, reads other entities (a consolidation
/// reads its members) goes stale when one of them changes in the period, not only when its own
/// entity does. NULL for a sign-off that covers its own entity alone.
const MIGRATION_5: &str = r#"
ALTER TABLE close_tasks ADD COLUMN signoff_sequences TEXT;
"#;

/// The ledger sequences a task's run read, as a JSON object (entity to sequence): for a plugin
/// step, those of the snapshot it ran on (its own entity and the entities it may read); for a
/// built-in step, its own entity's when it checked it. A sign-off compares the entities it
/// covers with these, not with the ledger at sign-off time, so a journal posted after the run
/// is not approved unseen. NULL for a task that has not run since this migration.
const MIGRATION_6: &str = r#"
ALTER TABLE close_tasks ADD COLUMN run_sequences TEXT;
"#;

/// What a task's run read, as JSON (entity to sequence, accounts and periods): a posting on one
/// of those accounts in one of those periods after the run makes the task stale, so a close never
/// reaches 100 % on figures a late journal changed. And the SHA-256 of the task's configuration
/// when it ran, so a changed configuration is reported instead of silently ignored. NULL for a
/// task that has not run since this migration.
const MIGRATION_7: &str = r#"
ALTER TABLE close_tasks ADD COLUMN run_reads TEXT;
ALTER TABLE close_tasks ADD COLUMN config_sha256 TEXT;
"#;

/// Identity and permissions: users can be blocked and mapped to an operating-system account;
/// roles hold permissions from a fixed list and are granted to users or groups, in every entity
/// (no rows in `grant_entities`) or some; `security` holds the administrator and whether the
/// ledger trusts declared users. Audit records and close events say how the acting user's
/// identity was established (NULL: recorded before this migration). Both are hash-chained from
/// this migration on (`store::control_log`), and each close event carries the task's sign-off
/// state it wrote, so `verify` reports an audit record, an event or a sign-off edited in the file.
const MIGRATION_8: &str = r#"
ALTER TABLE users ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1));
ALTER TABLE users ADD COLUMN os_user TEXT;
CREATE UNIQUE INDEX users_os_user ON users (os_user) WHERE os_user IS NOT NULL;
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE role_permissions (
    role_id TEXT NOT NULL REFERENCES roles(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);
CREATE TABLE grants (
    id INTEGER PRIMARY KEY,
    role_id TEXT NOT NULL REFERENCES roles(id),
    user_id TEXT REFERENCES users(id),
    group_id TEXT REFERENCES user_groups(id),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE TABLE grant_entities (
    grant_id INTEGER NOT NULL REFERENCES grants(id),
    entity_id TEXT NOT NULL REFERENCES entities(id),
    PRIMARY KEY (grant_id, entity_id)
);
CREATE TABLE security (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    administrator TEXT NOT NULL REFERENCES users(id),
    trust_declared_users INTEGER NOT NULL CHECK (trust_declared_users IN (0, 1))
);
ALTER TABLE audit_log ADD COLUMN identity TEXT;
ALTER TABLE close_events ADD COLUMN identity TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
ALTER TABLE close_events ADD COLUMN record TEXT;
ALTER TABLE close_events ADD COLUMN hash TEXT;
"#;

/// Credentials for the close workspace server (`closebook serve`): a user's password as an
/// argon2id hash (PHC string), API tokens by the SHA-256 of the token (the token itself is shown
/// once and never stored), and web sessions by the SHA-256 of the session id, with the CSRF
/// token of the session and its idle and absolute expiry. Credentials are state, not ledger
/// history: setting a password or revoking a token is recorded in the audit trail.
const MIGRATION_9: &str = r#"
CREATE TABLE user_passwords (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    hash TEXT NOT NULL,
    set_at TEXT NOT NULL
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE TABLE web_sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
"#;

/// Verification checkpoints (`closebook verify --checkpoint`): after a clean check, the last
/// entry it covered, that entry's hash, and a SHA-256 digest of the balances recomputed up to it
/// (`verify::balances_digest`). A routine `verify` then checks only the entries posted since the
/// entity's latest checkpoint and that the stored balances, less what those entries add, still
/// have the checkpoint's digest; `verify --full` checks everything and the latest checkpoint
/// too. Checkpoints are append-only and hash-chained per entity, as entries are.
const MIGRATION_10: &str = r#"
CREATE TABLE verify_checkpoints (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    sequence INTEGER NOT NULL,
    entry_hash TEXT NOT NULL,
    balances_sha256 TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('full', 'since-checkpoint')),
    entries_checked INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX verify_checkpoints_by_entity ON verify_checkpoints (entity_id, id);
CREATE TRIGGER verify_checkpoints_no_update BEFORE UPDATE ON verify_checkpoints BEGIN SELECT RAISE(ABORT, 'verification checkpoints are append-only'); END;
CREATE TRIGGER verify_checkpoints_no_delete BEFORE DELETE ON verify_checkpoints BEGIN SELECT RAISE(ABORT, 'verification checkpoints are append-only'); END;
"#;

/// Journal approval (maker-checker, issue 20). `journal_approval_rules` says which journals of an
/// entity need a second person's approval before they post: every journal, or those of one
/// module, optionally only above an amount (the entry's debits in accounting currency). It is
/// configuration, replaced per entity by `setup apply`. `draft_approvals` is the append-only
/// history of each draft's submission, approval and rejection, bound to the draft's fingerprint
/// (an approval is of exactly the content approved), with how each user's identity was proven.
const MIGRATION_11: &str = r#"
CREATE TABLE journal_approval_rules (
    entity_id TEXT NOT NULL REFERENCES entities(id),
    module TEXT NOT NULL,
    above TEXT,
    PRIMARY KEY (entity_id, module)
);
CREATE TABLE draft_approvals (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    entry_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('submitted', 'approved', 'rejected', 'discarded')),
    user_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX draft_approvals_by_key ON draft_approvals (entity_id, entry_key, id);
CREATE TRIGGER draft_approvals_no_update BEFORE UPDATE ON draft_approvals BEGIN SELECT RAISE(ABORT, 'draft approvals are append-only'); END;
CREATE TRIGGER draft_approvals_no_delete BEFORE DELETE ON draft_approvals BEGIN SELECT RAISE(ABORT, 'draft approvals are append-only'); END;
"#;

/// Recurring journal templates (`recurring.rs`): configuration per entity and id, as JSON,
/// replaced by `setup apply`. The entries they generate are ordinary entries, keyed
/// `REC-{id}-{period}`.
const MIGRATION_12: &str = r#"
CREATE TABLE recurring_journals (
    entity_id TEXT NOT NULL REFERENCES entities(id),
    id TEXT NOT NULL,
    template TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (entity_id, id)
);
"#;

/// Account reconciliations (`reconcile/`, issue 20). A reconciliation's scope is an entity,
/// an account, optionally dimension values (canonical text, empty for none) and a period.
/// - `reconciliation_rules`: configuration from setup's `[[reconciliation]]`, replaced per
///   entity: the accounts reconciled and their materiality (absolute and/or percent).
/// - `reconciliation_balances`: the independent balances, a bank statement (with its lines in
///   `statement_lines`) or a subledger figure with its source; the latest for a scope counts.
/// - `reconciling_items`: items explaining the difference, opened in a period and open in every
///   later one until cleared (`reconciling_item_clearings`, at most one per item).
/// - `reconciliation_evidence`: files attached, stored with their SHA-256.
/// - `reconciliation_signoffs`: prepared, reviewed and withdrawn, each with the figures and the
///   fingerprint signed and the entity's ledger sequence at the time, so a later posting that
///   changes the GL balance is named when it withdraws the sign-off.
///
/// All but the rules are append-only.
const MIGRATION_13: &str = r#"
CREATE TABLE reconciliation_rules (
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    materiality TEXT,
    materiality_percent TEXT,
    PRIMARY KEY (entity_id, account)
);
CREATE TABLE reconciliation_balances (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    period TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('statement', 'subledger')),
    opening TEXT,
    closing TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT,
    created_by TEXT NOT NULL,
    identity TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reconciliation_balances_by_scope ON reconciliation_balances (entity_id, account, dimensions, period, id);
CREATE TABLE statement_lines (
    balance_id INTEGER NOT NULL REFERENCES reconciliation_balances(id),
    line_no INTEGER NOT NULL,
    date TEXT NOT NULL,
    amount TEXT NOT NULL,
    reference TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (balance_id, line_no)
);
CREATE TABLE reconciling_items (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    period TEXT NOT NULL,
    amount TEXT NOT NULL,
    explanation TEXT NOT NULL,
    expected_clear TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_by TEXT NOT NULL,
    identity TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reconciling_items_by_scope ON reconciling_items (entity_id, account, dimensions, id);
CREATE TABLE reconciling_item_clearings (
    item_id INTEGER PRIMARY KEY REFERENCES reconciling_items(id),
    period TEXT NOT NULL,
    note TEXT NOT NULL,
    cleared_by TEXT NOT NULL,
    identity TEXT NOT NULL,
    cleared_at TEXT NOT NULL
);
CREATE TABLE reconciliation_evidence (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    period TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content BLOB NOT NULL,
    added_by TEXT NOT NULL,
    identity TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX reconciliation_evidence_by_scope ON reconciliation_evidence (entity_id, account, dimensions, period, id);
CREATE TABLE reconciliation_signoffs (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    period TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('prepared', 'reviewed', 'withdrawn')),
    user_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL,
    gl_balance TEXT NOT NULL,
    independent TEXT,
    items TEXT NOT NULL,
    unexplained TEXT,
    fingerprint TEXT NOT NULL,
    sequence INTEGER NOT NULL
);
CREATE INDEX reconciliation_signoffs_by_scope ON reconciliation_signoffs (entity_id, account, dimensions, period, id);
CREATE TRIGGER reconciliation_balances_no_update BEFORE UPDATE ON reconciliation_balances BEGIN SELECT RAISE(ABORT, 'reconciliation balances are append-only'); END;
CREATE TRIGGER reconciliation_balances_no_delete BEFORE DELETE ON reconciliation_balances BEGIN SELECT RAISE(ABORT, 'reconciliation balances are append-only'); END;
CREATE TRIGGER statement_lines_no_update BEFORE UPDATE ON statement_lines BEGIN SELECT RAISE(ABORT, 'statement lines are append-only'); END;
CREATE TRIGGER statement_lines_no_delete BEFORE DELETE ON statement_lines BEGIN SELECT RAISE(ABORT, 'statement lines are append-only'); END;
CREATE TRIGGER reconciling_items_no_update BEFORE UPDATE ON reconciling_items BEGIN SELECT RAISE(ABORT, 'reconciling items are append-only'); END;
CREATE TRIGGER reconciling_items_no_delete BEFORE DELETE ON reconciling_items BEGIN SELECT RAISE(ABORT, 'reconciling items are append-only'); END;
CREATE TRIGGER reconciling_item_clearings_no_update BEFORE UPDATE ON reconciling_item_clearings BEGIN SELECT RAISE(ABORT, 'reconciling item clearings are append-only'); END;
CREATE TRIGGER reconciling_item_clearings_no_delete BEFORE DELETE ON reconciling_item_clearings BEGIN SELECT RAISE(ABORT, 'reconciling item clearings are append-only'); END;
CREATE TRIGGER reconciliation_evidence_no_update BEFORE UPDATE ON reconciliation_evidence BEGIN SELECT RAISE(ABORT, 'reconciliation evidence is append-only'); END;
CREATE TRIGGER reconciliation_evidence_no_delete BEFORE DELETE ON reconciliation_evidence BEGIN SELECT RAISE(ABORT, 'reconciliation evidence is append-only'); END;
CREATE TRIGGER reconciliation_signoffs_no_update BEFORE UPDATE ON reconciliation_signoffs BEGIN SELECT RAISE(ABORT, 'reconciliation sign-offs are append-only'); END;
CREATE TRIGGER reconciliation_signoffs_no_delete BEFORE DELETE ON reconciliation_signoffs BEGIN SELECT RAISE(ABORT, 'reconciliation sign-offs are append-only'); END;
"#;

/// Reconciling items a close step proposed (interface 0.2) record the run that proposed them.
const MIGRATION_14: &str = r#"
ALTER TABLE reconciling_items ADD COLUMN run_id TEXT;
"#;

/// Findings of close steps (interface 0.2: flux variances and the like), kept per run, and the
/// preparers' explanations of them, each bound to the figures it explains: a rerun that finds
/// the same figures finds them explained, one that finds others (a late journal) does not.
const MIGRATION_15: &str = r#"
CREATE TABLE close_findings (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    close_name TEXT NOT NULL,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    period TEXT NOT NULL,
    task_id TEXT NOT NULL,
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    measure TEXT NOT NULL,
    current TEXT NOT NULL,
    baseline TEXT NOT NULL,
    threshold TEXT NOT NULL,
    explanation_required INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE close_finding_explanations (
    id INTEGER PRIMARY KEY,
    close_name TEXT NOT NULL,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    period TEXT NOT NULL,
    task_id TEXT NOT NULL,
    account TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    measure TEXT NOT NULL,
    current TEXT NOT NULL,
    baseline TEXT NOT NULL,
    text TEXT NOT NULL,
    explained_by TEXT NOT NULL,
    identity TEXT NOT NULL,
    explained_at TEXT NOT NULL,
    run_id TEXT NOT NULL
);
CREATE INDEX close_finding_explanations_by_task ON close_finding_explanations (close_name, entity_id, period, task_id, id);
CREATE TRIGGER close_findings_no_update BEFORE UPDATE ON close_findings BEGIN SELECT RAISE(ABORT, 'close findings are append-only'); END;
CREATE TRIGGER close_findings_no_delete BEFORE DELETE ON close_findings BEGIN SELECT RAISE(ABORT, 'close findings are append-only'); END;
CREATE TRIGGER close_finding_explanations_no_update BEFORE UPDATE ON close_finding_explanations BEGIN SELECT RAISE(ABORT, 'finding explanations are append-only'); END;
CREATE TRIGGER close_finding_explanations_no_delete BEFORE DELETE ON close_finding_explanations BEGIN SELECT RAISE(ABORT, 'finding explanations are append-only'); END;
"#;

/// The access policy's version: one row, its number raised by a trigger at every change to the
/// tables the permission check reads (users, group members, roles and their permissions,
/// grants and their entities, security). A server keeps the policy between requests and reads
/// only this row to know it is still the ledger's (`access::PolicyCache`).
const MIGRATION_16: &str = r#"
CREATE TABLE access_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO access_version (id, version) VALUES (1, 0);
CREATE TRIGGER users_access_insert AFTER INSERT ON users BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER users_access_update AFTER UPDATE ON users BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER users_access_delete AFTER DELETE ON users BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER group_members_access_insert AFTER INSERT ON group_members BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER group_members_access_update AFTER UPDATE ON group_members BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER group_members_access_delete AFTER DELETE ON group_members BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER roles_access_insert AFTER INSERT ON roles BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER roles_access_update AFTER UPDATE ON roles BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER roles_access_delete AFTER DELETE ON roles BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER role_permissions_access_insert AFTER INSERT ON role_permissions BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER role_permissions_access_update AFTER UPDATE ON role_permissions BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER role_permissions_access_delete AFTER DELETE ON role_permissions BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grants_access_insert AFTER INSERT ON grants BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grants_access_update AFTER UPDATE ON grants BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grants_access_delete AFTER DELETE ON grants BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grant_entities_access_insert AFTER INSERT ON grant_entities BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grant_entities_access_update AFTER UPDATE ON grant_entities BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER grant_entities_access_delete AFTER DELETE ON grant_entities BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER security_access_insert AFTER INSERT ON security BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER security_access_update AFTER UPDATE ON security BEGIN UPDATE access_version SET version = version + 1; END;
CREATE TRIGGER security_access_delete AFTER DELETE ON security BEGIN UPDATE access_version SET version = version + 1; END;
"#;
