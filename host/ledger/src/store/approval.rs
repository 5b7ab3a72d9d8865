//! Journal approval: the rules that say which journals of an entity need a second person's
//! approval before they post, and the append-only history of each draft's submission, approval
//! and rejection.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Row, args};
use crate::error::LedgerError;
use crate::ids::{EntityId, EntryKey, UserId};
use crate::period::Module;
use rust_decimal::Decimal;

/// Journals of an entity that need approval: those of `module` (every module when `None`),
/// whose debits in accounting currency exceed `above` (every one when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRule {
    pub module: Option<Module>,
    pub above: Option<Decimal>,
}

/// What happened to a draft in its approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalAction {
    Submitted,
    Approved,
    Rejected,
    /// The draft was discarded (deleted, its content kept in the audit trail).
    Discarded,
}

impl ApprovalAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::Submitted => "submitted",
            ApprovalAction::Approved => "approved",
            ApprovalAction::Rejected => "rejected",
            ApprovalAction::Discarded => "discarded",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            ApprovalAction::Submitted,
            ApprovalAction::Approved,
            ApprovalAction::Rejected,
            ApprovalAction::Discarded,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// One step of a draft's approval history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalEvent {
    /// The draft's fingerprint when it happened: the content submitted, approved or rejected.
    pub fingerprint: String,
    pub action: ApprovalAction,
    pub user: UserId,
    /// How the user's identity was proven (`IdentityMethod::as_str`): `declared` is unverified.
    pub identity: String,
    pub at: String,
    /// The rejection's reason, or the approver's note (may be empty).
    pub note: String,
}

/// The `module` column's value for a rule that covers every module.
const EVERY_MODULE: &str = "*";

impl Db<'_> {
    /// Replaces the entity's approval rules.
    pub fn replace_approval_rules(&self, entity: &EntityId, rules: &[ApprovalRule]) -> Result<(), LedgerError> {
        self.connection
            .prepare("DELETE FROM journal_approval_rules WHERE entity_id = ?1")?
            .execute(args![entity.as_str()])?;
        let mut insert = self
            .connection
            .prepare("INSERT INTO journal_approval_rules (entity_id, module, above) VALUES (?1, ?2, ?3)")?;
        for rule in rules {
            insert.execute(args![
                entity.as_str(),
                rule.module.map_or(EVERY_MODULE, Module::as_str),
                rule.above.map(|above| above.to_string()),
            ])?;
        }
        Ok(())
    }

    /// The entity's approval rules (none: no journal needs approval).
    pub fn approval_rules(&self, entity: &EntityId) -> Result<Vec<ApprovalRule>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT entity_id, module, above FROM journal_approval_rules WHERE entity_id = ?1 ORDER BY module",
        )?;
        all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "journal_approval_rules", &["entity_id", "module"]);
            let module = fields.parsed("module", "a module or *", |text| match text {
                EVERY_MODULE => Some(None),
                other => Module::parse(other).map(Some),
            })?;
            Ok(ApprovalRule {
                module,
                above: fields.optional_decimal("above")?,
            })
        })
    }

    /// Appends a step to a draft's approval history.
    pub fn insert_approval_event(
        &self,
        entity: &EntityId,
        key: &EntryKey,
        event: &ApprovalEvent,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare(
                "INSERT INTO draft_approvals (entity_id, entry_key, fingerprint, action, user_id, identity, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(args![
                entity.as_str(),
                key.as_str(),
                event.fingerprint,
                event.action.as_str(),
                event.user.as_str(),
                event.identity,
                event.at,
                event.note,
            ])?;
        Ok(())
    }

    /// The latest step of the approval of the entity's draft `key` (of any fingerprint).
    pub fn latest_approval_event(
        &self,
        entity: &EntityId,
        key: &EntryKey,
    ) -> Result<Option<ApprovalEvent>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, fingerprint, action, user_id, identity, at, note FROM draft_approvals
             WHERE entity_id = ?1 AND entry_key = ?2 ORDER BY id DESC LIMIT 1",
        )?;
        first(&mut statement, args![entity.as_str(), key.as_str()], read_event)
    }

    /// The approval history of the entity's draft `key`, oldest first.
    pub fn approval_history(&self, entity: &EntityId, key: &EntryKey) -> Result<Vec<ApprovalEvent>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, fingerprint, action, user_id, identity, at, note FROM draft_approvals
             WHERE entity_id = ?1 AND entry_key = ?2 ORDER BY id",
        )?;
        all(&mut statement, args![entity.as_str(), key.as_str()], read_event)
    }
}

fn read_event(row: &Row<'_>) -> Result<ApprovalEvent, LedgerError> {
    let fields = Fields::new(row, "draft_approvals", &["id"]);
    Ok(ApprovalEvent {
        fingerprint: fields.text("fingerprint")?,
        action: fields.parsed("action", "submitted, approved or rejected", ApprovalAction::parse)?,
        user: UserId(fields.text("user_id")?),
        identity: fields.text("identity")?,
        at: fields.text("at")?,
        note: fields.text("note")?,
    })
}
