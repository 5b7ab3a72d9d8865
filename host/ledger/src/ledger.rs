//! The ledger's operations, each one transaction with its audit record: apply setup, import
//! and post journals, reverse entries, change period status and module access. The CLI and
//! the close engine call these; they hold the rules, the store holds the SQL.

use crate::access::{AccessError, AccessPolicy, Actor, Claim, Identity, IdentityMethod, Permission, PolicyCache};
use crate::calendar::{EntityPeriods, Period};
use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{ChartId, EntityId, EntryKey, PeriodName, UserId};
use crate::import::JournalItem;
use crate::journal::{
    CounterEntry, EntryRefusal, NewEntry, PostedEntry, PostingOptions, PostingRules, Provenance, Refusal,
};
use crate::period::{Module, ModuleAccess, PeriodStatus, check_status_change};
use crate::pipeline::{self, Checked, KeepDrafts, ReadItem, Stage};
use crate::rate::{ExchangeRate, RateTable};
use crate::setup::{AccountSetup, SetupFile, SetupSummary};
use crate::store::{Db, ExistingKey, Posted, PostingBatch, PostingStatements, StagedEntry, Store};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

/// How often a long import reports its progress, in entries read: a few times a second at the
/// measured 100,000–200,000 entries a second, and a call (a counter and a line of text for the
/// progress bar) every 5,000 entries costs nothing measurable.
pub const IMPORT_PROGRESS_ENTRIES: usize = 5_000;

/// Entries a posting import posts from which the database's statistics are refreshed after it
/// (`Store::refresh_statistics`; PostgreSQL only).
const STATISTICS_AFTER_POSTED: usize = 10_000;

/// The refusal of an entry whose key the entity used for different data.
fn key_conflict(key: &EntryKey, source_line: Option<u64>) -> EntryRefusal {
    EntryRefusal {
        key: key.clone(),
        source_line,
        reason: Refusal::KeyConflict { key: key.clone() },
    }
}

/// Refusals collected from one file before reading stops: enough to fix a file in one pass,
/// bounded so that a wrong file does not fill the terminal or memory.
pub const REFUSALS_COLLECTED_MAX: usize = 1_000;

pub struct Ledger {
    store: Store,
    actor: Actor,
    access: Access,
}

/// Whether the ledger's operations check the actor's permissions.
enum Access {
    /// Opened for an actor the caller already authorized (the close engine's own re-opens,
    /// tools and tests): operations do not check again.
    Unchecked,
    /// Opened for a resolved identity: every operation checks its permission first.
    Checked(Arc<AccessPolicy>),
    /// A new ledger, or one set up before permissions existed: only a setup naming an
    /// administrator may be applied; the identity is resolved against it.
    Bootstrap(Claim),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub entries_read: usize,
    pub lines_read: usize,
    /// Entries posted by this import.
    pub posted: usize,
    /// Entries kept as drafts.
    pub drafted: usize,
    /// Entries identical to ones imported before: nothing done.
    pub repeated: usize,
    /// The entity's ledger sequence after the import.
    pub sequence: i64,
    /// Drafts left unposted because they need approval (and have none yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting_approval: Vec<EntryKey>,
}

impl ImportSummary {
    /// The keys of the drafts left waiting for approval, as a list for a sentence (`None` when
    /// none waits).
    pub fn awaiting_approval_list(&self) -> Option<String> {
        (!self.awaiting_approval.is_empty()).then(|| {
            let keys: Vec<&str> = self.awaiting_approval.iter().map(EntryKey::as_str).collect();
            keys.join(", ")
        })
    }
}

/// A change of period status, for the report of a mass period close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub entity: EntityId,
    pub period: PeriodName,
    pub from: &'static str,
    pub to: &'static str,
}

/// A period of an entity with its status and module access.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    pub entity: EntityId,
    #[serde(flatten)]
    pub period: Period,
    pub status: &'static str,
    /// Modules whose access is not `all`, as `module=level`.
    pub restricted_modules: Vec<String>,
}

impl Ledger {
    /// Opens the ledger for an actor the caller has already authorized: operations do not check
    /// permissions (the close engine re-opens the ledger it checked at the start of a command;
    /// tools and tests). A user named by a plain id counts as declared, not verified.
    pub fn open(path: &Path, actor: impl Into<Actor>) -> Result<Self, LedgerError> {
        Ok(Self::from_store(Store::open(path)?, actor))
    }

    pub fn from_store(store: Store, actor: impl Into<Actor>) -> Self {
        Self {
            store,
            actor: actor.into(),
            access: Access::Unchecked,
        }
    }

    /// Opens the ledger for whoever the claim says is acting, resolved against the ledger's
    /// users: every operation then checks the actor's permission. Refused for an undeclared,
    /// blank or blocked user, or a name the operating-system account may not act as.
    pub fn open_as(path: &Path, claim: &Claim) -> Result<Self, LedgerError> {
        Self::open_for(path, &Identity::Local(claim.clone()))
    }

    /// Opens the ledger for an identity (a command-line claim, or a user the server
    /// authenticated): every operation then checks the actor's permission.
    pub fn open_for(path: &Path, identity: &Identity) -> Result<Self, LedgerError> {
        Self::from_store_for(Store::open(path)?, identity)
    }

    /// [`Ledger::open_for`] on a store already open (a server keeps a few open between
    /// requests): the access policy is read anew, so a change of grants or a blocked user
    /// counts at once.
    pub fn from_store_for(mut store: Store, identity: &Identity) -> Result<Self, LedgerError> {
        let policy = store.read(|db| db.access_policy())?;
        Self::with_policy(store, identity, Arc::new(policy))
    }

    /// [`Ledger::from_store_for`] with the access policy from `policies`, which reads one row
    /// to know that the policy it keeps is still the ledger's.
    pub fn from_store_keeping_policy(
        mut store: Store,
        identity: &Identity,
        policies: &PolicyCache,
    ) -> Result<Self, LedgerError> {
        let policy = store.read(|db| policies.policy(db))?;
        Self::with_policy(store, identity, policy)
    }

    fn with_policy(store: Store, identity: &Identity, policy: Arc<AccessPolicy>) -> Result<Self, LedgerError> {
        if policy.administrator.is_none() {
            let Identity::Local(claim) = identity else {
                return Err(AccessError::NoAdministrator.into());
            };
            let name = claim
                .requested
                .clone()
                .or_else(|| claim.os_account.clone())
                .unwrap_or_default();
            return Ok(Self {
                store,
                actor: Actor {
                    user: UserId::new(name),
                    method: IdentityMethod::Declared,
                },
                access: Access::Bootstrap(claim.clone()),
            });
        }
        let actor = policy.resolve_identity(identity)?;
        Ok(Self {
            store,
            actor,
            access: Access::Checked(policy),
        })
    }

    pub fn user(&self) -> &UserId {
        &self.actor.user
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The access policy, when the ledger checks permissions.
    pub fn policy(&self) -> Option<&AccessPolicy> {
        match &self.access {
            Access::Checked(policy) => Some(policy),
            Access::Unchecked | Access::Bootstrap(_) => None,
        }
    }

    /// The one permission check: whether the actor may do `permission` in `entity` (None: a
    /// ledger-wide operation). A refusal names who, what and the permission missing, changes
    /// nothing, and is recorded in the audit trail.
    pub fn authorize(&mut self, permission: Permission, entity: Option<&EntityId>) -> Result<(), LedgerError> {
        let refusal = match &self.access {
            Access::Unchecked => return Ok(()),
            Access::Bootstrap(_) => {
                if self.store.read(|db| db.entities())?.is_empty() {
                    AccessError::EmptyLedger
                } else {
                    AccessError::NoAdministrator
                }
            }
            Access::Checked(policy) => match policy.check(&self.actor, permission, entity) {
                Ok(()) => return Ok(()),
                Err(refusal) => refusal,
            },
        };
        tracing::info!(
            user = %self.actor.user,
            permission = permission.as_str(),
            entity = entity.map(EntityId::as_str),
            refusal = %refusal,
            "permission refused"
        );
        if let AccessError::NotPermitted { action, .. } = &refusal {
            let actor = self.actor.clone();
            let details = json!({ "permission": permission.as_str(), "action": action });
            // The refusal stands whether or not it could be recorded (a read-only file).
            let _ = self
                .store
                .write(|db| db.append_audit(&actor, "permission.refused", entity, &details));
        }
        Err(refusal.into())
    }

    /// Of these entities, those the actor may read (all of them when permissions are not
    /// checked).
    pub fn readable(&self, entities: &[EntityId]) -> Vec<EntityId> {
        match &self.access {
            Access::Checked(policy) => policy.readable(self.actor.user.as_str(), entities),
            Access::Unchecked => entities.to_vec(),
            Access::Bootstrap(_) => Vec::new(),
        }
    }

    /// Of these entities, those the actor may read; refused (naming the first) when that is
    /// none of them, so a reader of nothing learns why rather than seeing an empty answer.
    pub fn readable_or_refuse(&mut self, entities: &[EntityId]) -> Result<Vec<EntityId>, LedgerError> {
        let readable = self.readable(entities);
        if readable.is_empty()
            && let Some(first) = entities.first()
        {
            self.authorize(Permission::LedgerRead, Some(first))?;
        }
        Ok(readable)
    }

    /// A page of the audit trail, newest first, for a reader holding `audit.read` (in `entity`,
    /// or in every entity when none is named): records older than `before`, optionally of one
    /// entity, user or action.
    pub fn audit_trail(
        &mut self,
        entity: Option<&EntityId>,
        user: Option<&str>,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<crate::store::AuditRecord>, LedgerError> {
        self.authorize(Permission::AuditRead, entity)?;
        self.read(|db| db.audit_page(entity, user, action, before, limit))
    }

    /// Every entity of the ledger the actor may read.
    pub fn readable_entities(&mut self) -> Result<Vec<EntityId>, LedgerError> {
        let all: Vec<EntityId> = self.entities()?.into_iter().map(|entity| entity.id).collect();
        Ok(self.readable(&all))
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The store, to be kept open for another ledger of the same file.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// Runs a read-only query on one consistent snapshot.
    pub fn read<T>(&mut self, work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        self.store.read(work)
    }

    /// Applies a setup file. On a new ledger (or one set up before permissions existed) the
    /// file must name the administrator, and the acting user is resolved against the users it
    /// declares; afterwards it needs `setup.apply`, and `users.admin` when it changes users,
    /// groups, roles, grants or the security settings.
    pub fn apply_setup(&mut self, setup: &SetupFile, source: &str) -> Result<SetupSummary, LedgerError> {
        if let Access::Bootstrap(claim) = &self.access {
            let claim = claim.clone();
            if setup.security.is_none() {
                return Err(LedgerError::Invalid(format!(
                    "{source} is this ledger's first setup with permissions, so it must name the administrator: add [security] administrator = \"USER\" (a user it declares), and os_user = \"ACCOUNT\" to that user or trust_declared_users = true"
                )));
            }
            let (summary, actor, policy) = self.store.write(|db| {
                let summary = crate::setup::apply(db, setup)?;
                let policy = db.access_policy()?;
                let actor = policy.resolve(&claim)?;
                crate::setup::stamp_template_authors(db, setup, &actor.user)?;
                db.append_audit(
                    &actor,
                    "setup.apply",
                    None,
                    &json!({ "file": source, "summary": summary, "controls": setup.controls_for_audit() }),
                )?;
                Ok((summary, actor, policy))
            })?;
            self.actor = actor;
            self.access = Access::Checked(Arc::new(policy));
            return Ok(summary);
        }
        self.authorize(Permission::SetupApply, None)?;
        if setup.changes_access() {
            self.authorize(Permission::UsersAdmin, None)?;
        }
        let actor = self.actor.clone();
        self.store.write(|db| {
            let summary = crate::setup::apply(db, setup)?;
            crate::setup::stamp_template_authors(db, setup, &actor.user)?;
            db.append_audit(
                &actor,
                "setup.apply",
                None,
                &json!({ "file": source, "summary": summary, "controls": setup.controls_for_audit() }),
            )?;
            Ok(summary)
        })
    }

    pub fn import_accounts(
        &mut self,
        chart: &ChartId,
        accounts: &[AccountSetup],
        source: &str,
    ) -> Result<usize, LedgerError> {
        self.authorize(Permission::SetupApply, None)?;
        let actor = self.actor.clone();
        self.store.write(|db| {
            if !db.chart_exists(chart)? {
                return Err(LedgerError::Invalid(format!(
                    "chart {chart} does not exist; declare it with [[chart]] in setup"
                )));
            }
            for account in accounts {
                crate::setup::apply_account(db, chart, account)
                    .map_err(|error| LedgerError::input(source, error.to_string()))?;
            }
            db.append_audit(
                &actor,
                "import.accounts",
                None,
                &json!({ "file": source, "chart": chart, "accounts": accounts.len() }),
            )?;
            Ok(accounts.len())
        })
    }

    pub fn import_rates(&mut self, rates: &[ExchangeRate], source: &str) -> Result<usize, LedgerError> {
        self.authorize(Permission::SetupApply, None)?;
        let actor = self.actor.clone();
        self.store.write(|db| {
            for rate in rates {
                crate::setup::check_rate_currencies(db, rate)
                    .map_err(|error| LedgerError::input(source, error.to_string()))?;
                db.upsert_rate(rate)?;
            }
            db.append_audit(
                &actor,
                "import.rates",
                None,
                &json!({ "file": source, "rates": rates.len() }),
            )?;
            Ok(rates.len())
        })
    }

    /// Imports journal entries as drafts, or posts them with `post`. All or nothing: any
    /// refusal in the file and nothing from it is written. An entry identical to one imported
    /// before is a reported no-op; the same key with different data is refused.
    ///
    /// The file is read, fingerprinted, validated and hash-stamped on a second thread while
    /// this one writes (see `pipeline`), so `items` must be `Send`.
    pub fn import_journals(
        &mut self,
        entity: &EntityId,
        items: impl IntoIterator<Item = JournalItem, IntoIter: Send>,
        post: bool,
        source: &str,
    ) -> Result<ImportSummary, LedgerError> {
        self.import_journals_with_progress(entity, items, post, source, &mut |_| {})
    }

    /// `import_journals`, calling `progress` with the summary so far every
    /// `IMPORT_PROGRESS_ENTRIES` entries read (nothing is committed until the end).
    pub fn import_journals_with_progress(
        &mut self,
        entity: &EntityId,
        items: impl IntoIterator<Item = JournalItem, IntoIter: Send>,
        post: bool,
        source: &str,
        progress: &mut dyn FnMut(&ImportSummary),
    ) -> Result<ImportSummary, LedgerError> {
        let _import = tracing::info_span!("import", entity = %entity, source, post).entered();
        self.authorize(Permission::JournalImport, Some(entity))?;
        if post {
            self.authorize(Permission::JournalPost, Some(entity))?;
        }
        let user = self.actor.user.clone();
        let actor = self.actor.clone();
        self.store
            .write(|db| {
                let rules = posting_rules(db, entity, &user, PostingOptions::default())?;
                let provenance = Provenance {
                    source: format!("import:{source}"),
                    ..Provenance::default()
                };
                let mut import = JournalImport {
                    db,
                    entity,
                    user: &user,
                    source,
                    drafts_possible: true,
                    drafts_repeated: Vec::new(),
                    summary: ImportSummary::default(),
                    refusals: Vec::new(),
                    progress,
                };
                let (sequence, action) = if post && !db.approval_rules(entity)?.is_empty() {
                    // Some journals of the entity need approval: the file imports as drafts, then
                    // its drafts (new ones, and those it repeats, as a posting import posts them)
                    // post in the same transaction, except those waiting for approval.
                    let first_new_draft = db.last_draft_id()? + 1;
                    import.run(Drafts, KeepDrafts, &rules, items)?;
                    import.summary.repeated -= import.drafts_repeated.len();
                    let repeated: std::collections::HashSet<&EntryKey> = import.drafts_repeated.iter().collect();
                    let new_drafts: Vec<_> = db
                        .drafts(entity)?
                        .into_iter()
                        .filter(|draft| draft.id >= first_new_draft || repeated.contains(&draft.key))
                        .collect();
                    let posted = post_drafts_in(db, entity, &user, new_drafts, WaitingDrafts::Keep)?;
                    import.summary.posted = posted.posted;
                    import.summary.drafted = posted.drafted;
                    import.summary.awaiting_approval = posted.awaiting_approval;
                    (posted.sequence, "import.journals.post")
                } else if post {
                    let writer = Posting {
                        batch: PostingBatch::begin(db, entity, &user)?,
                        statements: PostingStatements::prepare(db)?,
                        pending: Vec::new(),
                    };
                    // A posting import writes no drafts, so when the entity has none at the start no
                    // key of the file can name one, and the per-entry draft lookup is left out; the
                    // insert itself then finds a key posted before.
                    import.drafts_possible = db.draft_count(entity)? > 0;
                    let stager = writer.batch.stager(&provenance);
                    (import.run(writer, stager, &rules, items)?, "import.journals.post")
                } else {
                    (import.run(Drafts, KeepDrafts, &rules, items)?, "import.journals.draft")
                };
                let mut summary = import.summary;
                summary.sequence = sequence;
                tracing::info!(
                    entries_read = summary.entries_read,
                    lines_read = summary.lines_read,
                    posted = summary.posted,
                    drafted = summary.drafted,
                    repeated = summary.repeated,
                    "journals imported"
                );
                db.append_audit(
                    &actor,
                    action,
                    Some(entity),
                    &json!({ "file": source, "summary": summary }),
                )?;
                Ok(summary)
            })
            .inspect(|summary| {
                if summary.posted >= STATISTICS_AFTER_POSTED
                    && let Err(error) = self.store.refresh_statistics()
                {
                    // The import is committed; only the planner's figures are stale.
                    tracing::warn!(error = %error, "the ledger's statistics could not be refreshed after the import");
                }
            })
    }

    /// Posts the entity's drafts (those named, or all). All or nothing. A draft that needs
    /// approval (`approval`) posts only once approved: named, it is refused until then; with no
    /// keys named, it is left as a draft and listed in the summary's `awaiting_approval`.
    pub fn post_drafts(&mut self, entity: &EntityId, keys: &[EntryKey]) -> Result<ImportSummary, LedgerError> {
        self.authorize(Permission::JournalPost, Some(entity))?;
        let user = self.actor.user.clone();
        let actor = self.actor.clone();
        self.store.write(|db| {
            let mut drafts = db.drafts(entity)?;
            if !keys.is_empty() {
                for key in keys {
                    if !drafts.iter().any(|draft| &draft.key == key) {
                        return Err(LedgerError::Invalid(format!(
                            "entity {entity} has no draft entry {key}"
                        )));
                    }
                }
                drafts.retain(|draft| keys.contains(&draft.key));
            }
            let waiting = if keys.is_empty() {
                WaitingDrafts::Keep
            } else {
                WaitingDrafts::Refuse
            };
            let summary = post_drafts_in(db, entity, &user, drafts, waiting)?;
            db.append_audit(&actor, "journal.post", Some(entity), &json!({ "summary": summary }))?;
            Ok(summary)
        })
    }

    /// Posts a reversing entry for a posted entry, dated `date` in an open period. The original
    /// stays as it was; the reversal carries its negated lines and points back to it.
    pub fn reverse(
        &mut self,
        entity: &EntityId,
        key: &EntryKey,
        date: NaiveDate,
        period: Option<&PeriodName>,
    ) -> Result<PostedEntry, LedgerError> {
        self.authorize(Permission::JournalReverse, Some(entity))?;
        let user = self.actor.user.clone();
        let actor = self.actor.clone();
        self.store.write(|db| {
            let posted = reverse_in(
                db,
                entity,
                key,
                date,
                period,
                &user,
                &Provenance {
                    source: "reversal".to_owned(),
                    ..Provenance::default()
                },
            )?;
            db.append_audit(
                &actor,
                "journal.reverse",
                Some(entity),
                &json!({ "entry": key, "reversal": posted.key, "date": date.to_string() }),
            )?;
            Ok(posted)
        })
    }

    /// Settles posted lines that net to zero; returns the settlement id.
    pub fn settle(&mut self, entity: &EntityId, line_ids: &[i64]) -> Result<i64, LedgerError> {
        self.authorize(Permission::Settle, Some(entity))?;
        let user = self.actor.user.clone();
        let actor = self.actor.clone();
        self.store.write(|db| {
            let settlement = crate::settlement::settle(db, entity, line_ids, &user, None)?;
            db.append_audit(
                &actor,
                "settle.mark",
                Some(entity),
                &json!({ "settlement": settlement, "lines": line_ids }),
            )?;
            Ok(settlement)
        })
    }

    /// Reverses a settlement, releasing its lines.
    pub fn unsettle(&mut self, entity: &EntityId, settlement_id: i64) -> Result<(), LedgerError> {
        self.authorize(Permission::Settle, Some(entity))?;
        let user = self.actor.user.clone();
        let actor = self.actor.clone();
        self.store.write(|db| {
            crate::settlement::unsettle(db, entity, settlement_id, &user)?;
            db.append_audit(
                &actor,
                "settle.unsettle",
                Some(entity),
                &json!({ "settlement": settlement_id }),
            )
        })
    }

    /// Sets the status of one period for several entities at once (mass period close). All or
    /// nothing: one refusal and no entity changes.
    pub fn set_period_status(
        &mut self,
        entities: &[EntityId],
        period: &PeriodName,
        status: PeriodStatus,
    ) -> Result<Vec<StatusChange>, LedgerError> {
        for entity in entities {
            self.authorize(Permission::PeriodStatus, Some(entity))?;
        }
        let actor = self.actor.clone();
        self.store.write(|db| {
            entities
                .iter()
                .map(|entity| set_status_in(db, &actor, entity, period, status))
                .collect()
        })
    }

    /// Sets who may post a module's entries in a period, for several entities at once.
    pub fn set_module_access(
        &mut self,
        entities: &[EntityId],
        period: &PeriodName,
        module: Module,
        level: &ModuleAccess,
    ) -> Result<(), LedgerError> {
        for entity in entities {
            self.authorize(Permission::PeriodAccess, Some(entity))?;
        }
        let actor = self.actor.clone();
        self.store.write(|db| {
            if let ModuleAccess::Group(group) = level
                && !db.group_exists(group)?
            {
                return Err(LedgerError::Invalid(format!(
                    "group {group} does not exist; declare it with [[group]] in setup"
                )));
            }
            for entity_id in entities {
                EntityPeriods::of_entity(db, entity_id)?.named(period)?;
                db.set_module_access(entity_id, period, module, level)?;
                db.append_audit(
                    &actor,
                    "period.access",
                    Some(entity_id),
                    &json!({ "period": period, "module": module.as_str(), "level": level.to_text() }),
                )?;
            }
            Ok(())
        })
    }

    /// Periods of an entity with status and access, optionally of one fiscal year.
    pub fn periods(&mut self, entity: &EntityId) -> Result<Vec<PeriodView>, LedgerError> {
        self.authorize(Permission::LedgerRead, Some(entity))?;
        self.store.read(|db| {
            let entity_record = db.require_entity(entity)?;
            let statuses = db.period_statuses(entity)?;
            let access = db.module_access(entity)?;
            Ok(db
                .periods(&entity_record.calendar, None)?
                .into_iter()
                .map(|period| {
                    let mut restricted_modules: Vec<String> = access
                        .iter()
                        .filter(|((name, _), level)| name == &period.name && **level != ModuleAccess::All)
                        .map(|((_, module), level)| format!("{}={}", module.as_str(), level.to_text()))
                        .collect();
                    restricted_modules.sort();
                    PeriodView {
                        entity: entity.clone(),
                        status: statuses
                            .get(&period.name)
                            .copied()
                            .unwrap_or(PeriodStatus::Open)
                            .as_str(),
                        restricted_modules,
                        period,
                    }
                })
                .collect())
        })
    }

    pub fn entities(&mut self) -> Result<Vec<Entity>, LedgerError> {
        self.store.read(|db| db.entities())
    }
}

/// What posting drafts does with one that needs approval and is not approved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitingDrafts {
    /// Refuse the whole posting, naming it (it was named to post).
    Refuse,
    /// Leave it a draft and list it in the summary.
    Keep,
}

/// Posts `drafts` of the entity, in order, in the caller's transaction: every one or none.
fn post_drafts_in(
    db: &Db<'_>,
    entity: &EntityId,
    user: &UserId,
    drafts: Vec<crate::store::Draft>,
    waiting: WaitingDrafts,
) -> Result<ImportSummary, LedgerError> {
    let rules = posting_rules(db, entity, user, PostingOptions::default())?;
    let approval_rules = db.approval_rules(entity)?;
    let mut batch = PostingBatch::begin(db, entity, user)?;
    let mut refusals = Vec::new();
    let mut not_approved = Vec::new();
    let mut summary = ImportSummary::default();
    for draft in drafts {
        let entry = crate::approval::draft_entry(&draft)?;
        summary.entries_read += 1;
        // Lines are counted as they post: a draft left waiting for approval is not posted.
        let lines = entry.lines.len();
        match rules.validate(&entry) {
            Err(entry_refusals) => refusals.extend(entry_refusals),
            Ok(valid) => {
                if let Some(reason) = crate::approval::approval_reason(&approval_rules, &valid) {
                    let latest = db.latest_approval_event(entity, &draft.key)?;
                    let state = crate::approval::ApprovalState::of(latest.as_ref(), &draft.fingerprint);
                    if !matches!(state, crate::approval::ApprovalState::Approved { .. }) {
                        match waiting {
                            WaitingDrafts::Keep => {
                                summary.drafted += 1;
                                summary.awaiting_approval.push(draft.key);
                            }
                            WaitingDrafts::Refuse => {
                                not_approved.push(format!("draft {} is {} ({reason})", draft.key, state.describe()))
                            }
                        }
                        continue;
                    }
                }
                db.delete_draft(draft.id)?;
                batch.post(
                    db,
                    valid,
                    &Provenance {
                        source: format!("import:{}", draft.source),
                        ..Provenance::default()
                    },
                )?;
                summary.posted += 1;
                summary.lines_read += lines;
            }
        }
    }
    if !refusals.is_empty() {
        return Err(LedgerError::Refused(refusals));
    }
    if !not_approved.is_empty() {
        return Err(LedgerError::Invalid(format!(
            "nothing posted: {}; a draft that needs approval posts once another user with journal.approve approved it (`closebook journal submit`, then `closebook journal approve`)",
            not_approved.join("; ")
        )));
    }
    summary.sequence = batch.sequence();
    batch.finish(db)?;
    Ok(summary)
}

/// Loads everything the posting rules need about an entity, for `user`.
pub fn posting_rules(
    db: &Db<'_>,
    entity_id: &EntityId,
    user: &UserId,
    options: PostingOptions,
) -> Result<PostingRules, LedgerError> {
    let entity = db.require_entity(entity_id)?;
    let calendar = db.calendar(&entity.calendar)?;
    Ok(PostingRules {
        calendar,
        fiscal_years: db.fiscal_years(&entity.calendar)?.into_iter().collect(),
        accounts: db
            .accounts(&entity.chart)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect(),
        dimensions: db.dimensions()?,
        currencies: db.currencies()?,
        rates: RateTable::new(db.rates(Some(&entity.currency))?),
        statuses: db.period_statuses(entity_id)?,
        access: db.module_access(entity_id)?,
        user_groups: db.groups_of(user)?,
        user: user.clone(),
        options,
        entity,
    })
}

/// One journal import on the writing thread (the one holding the transaction): the reader
/// thread (`pipeline::read_ahead`) hands it checked entries; it sorts out repeats and key
/// conflicts and hands the rest to its writer, drafts or postings.
struct JournalImport<'a, 'db> {
    db: &'a Db<'db>,
    entity: &'a EntityId,
    user: &'a UserId,
    source: &'a str,
    /// Whether a key of the file may name a draft: false for a posting import into an entity
    /// with no drafts, which then skips the per-entry draft lookup.
    drafts_possible: bool,
    /// Keys of the file that are drafts already, with the same content.
    drafts_repeated: Vec<EntryKey>,
    summary: ImportSummary,
    refusals: Vec<EntryRefusal>,
    progress: &'a mut dyn FnMut(&ImportSummary),
}

impl JournalImport<'_, '_> {
    /// Reads `items` on a second thread while this one writes; refused as a whole when any entry
    /// is. Returns the entity's ledger sequence after the writes.
    fn run<W: JournalWriter, S: Stage<Staged = W::Staged>>(
        &mut self,
        mut writer: W,
        stage: S,
        rules: &PostingRules,
        items: impl IntoIterator<Item = JournalItem, IntoIter: Send>,
    ) -> Result<i64, LedgerError> {
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel(pipeline::CHUNKS_AHEAD);
            let items = items.into_iter();
            // The reading thread's spans belong to this import.
            let import_span = tracing::Span::current();
            let reader = scope.spawn(move || pipeline::read_ahead(items, rules, stage, &sender, &import_span));
            let written = self.take_all(&mut writer, &receiver);
            // Hanging up stops the reader at its next chunk when writing stopped early.
            drop(receiver);
            reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written
        })?;
        if !self.refusals.is_empty() {
            // In the file's order: a posting import finds key conflicts a chunk at a time.
            if self.refusals.iter().all(|refusal| refusal.source_line.is_some()) {
                self.refusals.sort_by_key(|refusal| refusal.source_line);
            }
            self.refusals.truncate(REFUSALS_COLLECTED_MAX);
            tracing::info!(
                refusals = self.refusals.len(),
                first = %self.refusals[0],
                "import refused; nothing is written"
            );
            return Err(LedgerError::Refused(std::mem::take(&mut self.refusals)));
        }
        let _finish = tracing::debug_span!("import.finish").entered();
        writer.finish(self.db, self.entity)
    }

    /// Takes the reader's chunks until the file ends or enough refusals were collected.
    fn take_all<W: JournalWriter>(
        &mut self,
        writer: &mut W,
        receiver: &Receiver<Vec<ReadItem<W::Staged>>>,
    ) -> Result<(), LedgerError> {
        loop {
            // One span a chunk, not an entry: the import of a million entries is benchmarked.
            // Waiting for the reader is a phase of its own, so `--timings` shows which thread
            // holds the import up.
            let waiting = tracing::debug_span!("import.wait").entered();
            let Ok(chunk) = receiver.recv() else {
                return Ok(());
            };
            drop(waiting);
            let _write = tracing::debug_span!("import.write", entries = chunk.len()).entered();
            for item in chunk {
                if self.refusals.len() >= REFUSALS_COLLECTED_MAX {
                    return Ok(());
                }
                let entries_before = self.summary.entries_read;
                self.take(writer, item)?;
                // Reported once the entry is written, so the counts agree with each other.
                if self.summary.entries_read != entries_before
                    && self.summary.entries_read.is_multiple_of(IMPORT_PROGRESS_ENTRIES)
                {
                    writer.flush(self)?;
                    (self.progress)(&self.summary);
                }
            }
            writer.flush(self)?;
        }
    }

    /// One item of the file: refused, a repeat of an entry imported before, or written.
    fn take<W: JournalWriter>(&mut self, writer: &mut W, item: ReadItem<W::Staged>) -> Result<(), LedgerError> {
        let (entry, fingerprint, checked) = match item {
            ReadItem::Unreadable(refusal) => {
                self.refusals.push(refusal);
                return Ok(());
            }
            ReadItem::Entry {
                entry,
                fingerprint,
                checked,
            } => (entry, fingerprint, checked),
        };
        self.summary.entries_read += 1;
        self.summary.lines_read += entry.lines.len();
        let existing = if self.drafts_possible {
            self.db.existing_key(self.entity, &entry.key)?
        } else if let Checked::Valid(_) = checked {
            // A valid entry of a posting import: its insert finds a key posted before.
            None
        } else {
            self.db.existing_posted_key(self.entity, &entry.key)?
        };
        if let Some(existing) = &existing {
            if existing.fingerprint != fingerprint {
                self.refusals.push(key_conflict(&entry.key, entry.source_line()));
                return Ok(());
            }
            // An identical posted entry, or a draft re-imported without --post.
            if existing.posted_entry_id.is_some() || !W::POSTS {
                if existing.posted_entry_id.is_none() {
                    self.drafts_repeated.push(entry.key.clone());
                }
                self.summary.repeated += 1;
                return Ok(());
            }
        }
        match checked {
            Checked::Refused(entry_refusals) => self.refusals.extend(entry_refusals),
            Checked::Valid(staged) => writer.write(self, &entry, &fingerprint, existing.as_ref(), staged)?,
        }
        Ok(())
    }
}

/// Where an import writes its valid entries: [`Drafts`] or [`Posting`].
trait JournalWriter {
    /// What a valid entry carries from the reader (see `pipeline::Stage`).
    type Staged: Send;
    /// Whether the import posts: then a draft re-imported is posted, not a repeat.
    const POSTS: bool;

    /// Writes a valid entry that no entry imported before has the key of, or a draft posting
    /// now (`existing`).
    fn write(
        &mut self,
        import: &mut JournalImport<'_, '_>,
        entry: &NewEntry,
        fingerprint: &str,
        existing: Option<&ExistingKey>,
        staged: Self::Staged,
    ) -> Result<(), LedgerError>;

    /// Writes what `write` kept back; called after each chunk of the file.
    fn flush(&mut self, _import: &mut JournalImport<'_, '_>) -> Result<(), LedgerError> {
        Ok(())
    }

    /// Ends the writes of an import nothing of which was refused; returns the entity's ledger
    /// sequence after it.
    fn finish(self, db: &Db<'_>, entity: &EntityId) -> Result<i64, LedgerError>;
}

/// An import without `--post`: valid entries are kept as drafts.
struct Drafts;

impl JournalWriter for Drafts {
    type Staged = ();
    const POSTS: bool = false;

    fn write(
        &mut self,
        import: &mut JournalImport<'_, '_>,
        entry: &NewEntry,
        fingerprint: &str,
        _existing: Option<&ExistingKey>,
        _staged: (),
    ) -> Result<(), LedgerError> {
        let body = serde_json::to_string(entry).map_err(|error| LedgerError::Invalid(error.to_string()))?;
        import.db.insert_draft(
            import.entity,
            &entry.key,
            fingerprint,
            &body,
            import.source,
            import.user,
        )?;
        import.summary.drafted += 1;
        Ok(())
    }

    fn finish(self, db: &Db<'_>, entity: &EntityId) -> Result<i64, LedgerError> {
        Ok(db.ledger_head(entity)?.0)
    }
}

/// An import with `--post`: valid entries, stamped by the reader, post through one batch, a
/// chunk of the reader's at a time (on PostgreSQL, a chunk is four round trips: see
/// `PostingBatch::post_many`).
struct Posting<'db> {
    batch: PostingBatch,
    statements: PostingStatements<'db>,
    /// Entries written to the batch at the next `flush`.
    pending: Vec<PendingPost>,
}

/// An entry of the import waiting in [`Posting::pending`], with what its outcome is checked
/// against.
struct PendingPost {
    staged: StagedEntry,
    fingerprint: String,
    source_line: Option<u64>,
}

impl JournalWriter for Posting<'_> {
    type Staged = Box<StagedEntry>;
    const POSTS: bool = true;

    fn write(
        &mut self,
        import: &mut JournalImport<'_, '_>,
        entry: &NewEntry,
        fingerprint: &str,
        existing: Option<&ExistingKey>,
        staged: Box<StagedEntry>,
    ) -> Result<(), LedgerError> {
        if let Some(draft_id) = existing.and_then(|existing| existing.draft_id) {
            import.db.delete_draft(draft_id)?;
        }
        self.pending.push(PendingPost {
            staged: *staged,
            fingerprint: fingerprint.to_owned(),
            source_line: entry.source_line(),
        });
        Ok(())
    }

    fn flush(&mut self, import: &mut JournalImport<'_, '_>) -> Result<(), LedgerError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let mut checks = Vec::with_capacity(pending.len());
        let staged = pending
            .into_iter()
            .map(|post| {
                checks.push((post.staged.key().clone(), post.fingerprint, post.source_line));
                post.staged
            })
            .collect();
        let outcomes = self.batch.post_many(&mut self.statements, staged)?;
        for (outcome, (key, fingerprint, source_line)) in outcomes.into_iter().zip(checks) {
            match outcome {
                Posted::New => import.summary.posted += 1,
                // The key is posted already: a repeat, or a conflict.
                Posted::KeyPostedBefore { fingerprint: posted } if posted == fingerprint => {
                    import.summary.repeated += 1;
                }
                Posted::KeyPostedBefore { .. } => import.refusals.push(key_conflict(&key, source_line)),
            }
        }
        Ok(())
    }

    fn finish(self, db: &Db<'_>, _entity: &EntityId) -> Result<i64, LedgerError> {
        let Posting { batch, statements, .. } = self;
        // The batch writes the balances with statements of its own.
        drop(statements);
        let sequence = batch.sequence();
        batch.finish(db)?;
        Ok(sequence)
    }
}

/// Sets the status of one entity's period inside the caller's transaction, with its audit
/// record. Refused when the period does not exist, when a permanently closed period would
/// reopen, and when closing permanently would skip an earlier period that is not.
fn set_status_in(
    db: &Db<'_>,
    actor: &Actor,
    entity: &EntityId,
    period: &PeriodName,
    status: PeriodStatus,
) -> Result<StatusChange, LedgerError> {
    let periods = EntityPeriods::of_entity(db, entity)?;
    let target = periods.named(period)?;
    let statuses = db.period_statuses(entity)?;
    let status_of = |name: &PeriodName| statuses.get(name).copied().unwrap_or(PeriodStatus::Open);
    let current = status_of(period);
    check_status_change(current, status)
        .map_err(|reason| LedgerError::Invalid(format!("period {period} of entity {entity}: {reason}")))?;
    if status == PeriodStatus::PermanentlyClosed
        && let Some(earlier) = periods
            .periods
            .iter()
            .filter(|candidate| candidate.ordinal < target.ordinal)
            .find(|candidate| status_of(&candidate.name) != PeriodStatus::PermanentlyClosed)
    {
        return Err(LedgerError::Invalid(format!(
            "period {period} of entity {entity} cannot be permanently closed: earlier period {} is {}; close periods in sequence",
            earlier.name,
            status_of(&earlier.name).as_str()
        )));
    }
    db.set_period_status(entity, period, status)?;
    db.append_audit(
        actor,
        "period.set-status",
        Some(entity),
        &json!({ "period": period, "from": current.as_str(), "to": status.as_str() }),
    )?;
    Ok(StatusChange {
        entity: entity.clone(),
        period: period.clone(),
        from: current.as_str(),
        to: status.as_str(),
    })
}

/// Posts the reversal of `key` inside the caller's transaction (no audit record: the caller
/// writes the one that fits its command).
pub fn reverse_in(
    db: &Db<'_>,
    entity: &EntityId,
    key: &EntryKey,
    date: NaiveDate,
    period: Option<&PeriodName>,
    user: &UserId,
    provenance: &Provenance,
) -> Result<PostedEntry, LedgerError> {
    let original = db
        .entry_by_key(entity, key)?
        .ok_or_else(|| LedgerError::Invalid(format!("entity {entity} has no posted entry {key}")))?;
    if let Some(reversal) = db.reversal_of(original.id)? {
        return Err(LedgerError::Invalid(format!(
            "entry {key} is already reversed by entry {reversal}"
        )));
    }
    if db.settled_line_count(original.id)? > 0 {
        return Err(LedgerError::Invalid(format!(
            "entry {key} has settled lines; reverse its settlement first with `closebook settle unsettle`"
        )));
    }
    let rules = posting_rules(db, entity, user, PostingOptions::default())?;
    let refused = |reason: Refusal| {
        LedgerError::Refused(vec![EntryRefusal {
            key: key.clone(),
            source_line: None,
            reason,
        }])
    };
    let target = rules.resolve_period(date, period).map_err(refused)?;
    rules.check_can_post(&target.name, original.module).map_err(refused)?;
    let reversal_key = EntryKey::new(format!("reversal-of-{key}"));
    if db.existing_key(entity, &reversal_key)?.is_some() {
        return Err(LedgerError::Invalid(format!(
            "entry key {reversal_key} is already used in entity {entity}; the reversal of {key} needs it"
        )));
    }
    let reversal = CounterEntry {
        key: reversal_key,
        fingerprint: format!("reversal:{}", original.hash),
        date,
        period: target.name,
        fiscal_year: target.fiscal_year,
        description: format!("Reversal of {key}: {}", original.description),
        reverses_entry_id: Some(original.id),
    };
    post_counter_entry(db, entity, user, &original, reversal, provenance)
}

/// Cancels every entry a run posted that is not cancelled yet, each in the entity it was
/// posted to (see `negate_for_rerun`); returns the keys of the cancelling entries.
pub fn cancel_run(
    db: &Db<'_>,
    run_id: &str,
    user: &UserId,
    provenance: &Provenance,
) -> Result<Vec<EntryKey>, LedgerError> {
    let mut cancelled = Vec::new();
    for (entity, key) in db.entries_to_negate_for_rerun(run_id)? {
        cancelled.push(negate_for_rerun(db, &entity, &key, user, provenance)?.key);
    }
    Ok(cancelled)
}

/// Negates an entry for a rerun of the step that posted it: a `rerun-of-KEY` entry with the
/// opposite lines, on the same date and in the same period, so that every period the run
/// touched (an accrual and its automatic reversal next month) returns to where it was. The
/// period must still be open to the acting user.
pub fn negate_for_rerun(
    db: &Db<'_>,
    entity: &EntityId,
    key: &EntryKey,
    user: &UserId,
    provenance: &Provenance,
) -> Result<PostedEntry, LedgerError> {
    let original = db
        .entry_by_key(entity, key)?
        .ok_or_else(|| LedgerError::Invalid(format!("entity {entity} has no posted entry {key}")))?;
    if db.settled_line_count(original.id)? > 0 {
        return Err(LedgerError::Invalid(format!(
            "entry {key} has settled lines; reverse its settlement first with `closebook settle unsettle`"
        )));
    }
    let rules = posting_rules(db, entity, user, PostingOptions::default())?;
    rules
        .check_can_post(&original.period, original.module)
        .map_err(|reason| {
            LedgerError::Refused(vec![EntryRefusal {
                key: key.clone(),
                source_line: None,
                reason,
            }])
        })?;
    let cancellation = CounterEntry {
        key: EntryKey::new(format!("rerun-of-{key}")),
        fingerprint: format!("rerun:{}", original.hash),
        date: original.date,
        period: original.period.clone(),
        fiscal_year: original.fiscal_year.clone(),
        description: format!("Rerun: cancels {key}: {}", original.description),
        reverses_entry_id: None,
    };
    post_counter_entry(db, entity, user, &original, cancellation, provenance)
}

/// Posts `counter` with the negated lines of `original`, in a batch of its own inside the
/// caller's transaction.
fn post_counter_entry(
    db: &Db<'_>,
    entity: &EntityId,
    user: &UserId,
    original: &PostedEntry,
    counter: CounterEntry,
    provenance: &Provenance,
) -> Result<PostedEntry, LedgerError> {
    let mut batch = PostingBatch::begin(db, entity, user)?;
    let posted = batch.post(db, counter.cancelling(original.module, &original.lines), provenance)?;
    batch.finish(db)?;
    Ok(posted)
}

#[cfg(test)]
mod tests;
