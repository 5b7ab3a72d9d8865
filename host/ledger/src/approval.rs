//! Journal approval (maker-checker): setup can require that journals of an entity, or of one of
//! its modules, optionally only above an amount, are approved by a second person before they
//! post. Such a journal imports as a draft. Its preparer submits it (`journal submit`); another
//! user with `journal.approve` approves it or rejects it with a reason; only an approved draft
//! posts (`journal post`). Every step is audited and kept in the draft's approval history, bound
//! to the draft's fingerprint, so an approval is of exactly the content approved. The approver
//! is never the preparer: neither the user who imported the draft nor the one who submitted it.

use crate::access::{IdentityMethod, Permission};
use crate::error::LedgerError;
use crate::ids::{EntityId, EntryKey, UserId};
use crate::journal::PostingOptions;
use crate::journal::{NewEntry, ValidEntry};
use crate::ledger::{Ledger, posting_rules};
use crate::recurring::RecurringTemplate;
use crate::store::{ApprovalAction, ApprovalEvent, ApprovalRule, Db, Draft};
use rust_decimal::Decimal;
use serde_json::json;

/// An entry's debits in accounting currency: the amount an approval threshold compares.
pub fn debits(entry: &ValidEntry) -> Decimal {
    entry
        .lines
        .iter()
        .map(|line| line.accounting_amount)
        .filter(|amount| amount.is_sign_positive())
        .sum()
}

/// Why `entry` needs approval under `rules`, or `None` when it does not.
pub fn approval_reason(rules: &[ApprovalRule], entry: &ValidEntry) -> Option<String> {
    let debits = debits(entry);
    rules
        .iter()
        .filter(|rule| rule.module.is_none_or(|module| module == entry.module))
        .find(|rule| rule.above.is_none_or(|above| debits > above))
        .map(|rule| {
            let scope = match rule.module {
                Some(module) => format!("{} journals", module.as_str()),
                None => "journals".to_owned(),
            };
            match rule.above {
                Some(above) => format!("{scope} above {above} need approval; its debits are {debits}"),
                None => format!("{scope} need approval"),
            }
        })
}

/// Where a draft that needs approval stands, for its current content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalState {
    /// Never submitted, or submitted with other content than it has now.
    NotSubmitted,
    Submitted {
        by: UserId,
    },
    Approved {
        by: UserId,
    },
    Rejected {
        by: UserId,
        reason: String,
    },
}

impl ApprovalState {
    /// The state the latest event gives a draft of `fingerprint`.
    pub fn of(latest: Option<&ApprovalEvent>, fingerprint: &str) -> Self {
        match latest {
            Some(event) if event.fingerprint == fingerprint => match event.action {
                ApprovalAction::Submitted => ApprovalState::Submitted { by: event.user.clone() },
                ApprovalAction::Approved => ApprovalState::Approved { by: event.user.clone() },
                ApprovalAction::Rejected => ApprovalState::Rejected {
                    by: event.user.clone(),
                    reason: event.note.clone(),
                },
                // The same content imported again after a discard starts over.
                ApprovalAction::Discarded => ApprovalState::NotSubmitted,
            },
            _ => ApprovalState::NotSubmitted,
        }
    }

    /// The state in words, for lists and refusals.
    pub fn describe(&self) -> String {
        match self {
            ApprovalState::NotSubmitted => "not submitted".to_owned(),
            ApprovalState::Submitted { by } => format!("submitted by {by}, waiting for approval"),
            ApprovalState::Approved { by } => format!("approved by {by}"),
            ApprovalState::Rejected { by, reason } => format!("rejected by {by}: {reason}"),
        }
    }
}

/// A draft with what its approval needs: why it needs one (`None`: it needs none) and where it
/// stands.
#[derive(Clone, Debug)]
pub struct DraftApproval {
    pub draft: Draft,
    pub reason: Option<String>,
    pub state: ApprovalState,
    /// Its debits in accounting currency, what an approval threshold compares (`None` when its
    /// amounts cannot be checked).
    pub debits: Option<Decimal>,
    /// For an entry a recurring journal template generated, the template and who applied it:
    /// they decided its amounts, so they may not approve it either.
    pub template_author: Option<(String, UserId)>,
    /// How the identity of the user of the latest step for this content was proven, when there
    /// is one (`declared` is unverified: `trust_declared_users`).
    pub identity: Option<String>,
}

impl DraftApproval {
    /// Its debits as text, `?` when its amounts cannot be checked.
    pub fn debits_text(&self) -> String {
        self.debits.map_or_else(|| "?".to_owned(), |debits| debits.to_string())
    }

    /// Where the draft stands, in words, saying when the user's identity was only declared.
    pub fn describe(&self) -> String {
        match (&self.reason, &self.identity) {
            (None, _) => "not needed".to_owned(),
            (Some(_), Some(identity)) if identity == IdentityMethod::Declared.as_str() => {
                format!("{} (identity declared, unverified)", self.state.describe())
            }
            (Some(_), _) => self.state.describe(),
        }
    }
}

/// The entity's drafts with their approval, in import order. Whether a draft needs approval
/// does not depend on who asks or on the period's status: its amounts are checked with the
/// entity's chart, dimensions, currencies and rates, without the period's status and module
/// access (which are checked when it posts). A draft whose amounts cannot be checked at all (a
/// rate missing, say) is treated as needing approval, naming why.
pub fn draft_approvals(db: &Db<'_>, entity: &EntityId, user: &UserId) -> Result<Vec<DraftApproval>, LedgerError> {
    approvals_of(db, entity, user, |_| true)
}

/// [`draft_approvals`] of the drafts `wanted` keeps: a step on some drafts checks only those.
fn approvals_of(
    db: &Db<'_>,
    entity: &EntityId,
    user: &UserId,
    wanted: impl Fn(&Draft) -> bool,
) -> Result<Vec<DraftApproval>, LedgerError> {
    let rules = db.approval_rules(entity)?;
    let templates = db.recurring_templates(entity)?;
    let mut posting = posting_rules(db, entity, user, PostingOptions::default())?;
    posting.statuses.clear();
    posting.access.clear();
    db.drafts(entity)?
        .into_iter()
        .filter(|draft| wanted(draft))
        .map(|draft| {
            let entry = draft_entry(&draft)?;
            let checked = posting.validate(&entry);
            let debits = checked.as_ref().ok().map(debits);
            let reason = if rules.is_empty() {
                None
            } else {
                match checked {
                    Ok(valid) => approval_reason(&rules, &valid),
                    Err(refusals) => Some(format!(
                        "its amounts cannot be checked against the approval rules ({}), so it is treated as needing approval; posting refuses it until that is fixed",
                        refusals
                            .first()
                            .map_or_else(|| "refused".to_owned(), ToString::to_string)
                    )),
                }
            };
            let latest = db.latest_approval_event(entity, &draft.key)?;
            let state = ApprovalState::of(latest.as_ref(), &draft.fingerprint);
            let identity = latest
                .filter(|event| event.fingerprint == draft.fingerprint)
                .map(|event| event.identity);
            let template_author = match RecurringTemplate::id_of_key(&draft.key) {
                Some(id) if draft.source.starts_with("recurring:") => templates
                    .iter()
                    .find(|template| template.id == id)
                    .and_then(|template| template.updated_by.clone().map(|author| (id.to_owned(), author))),
                _ => None,
            };
            Ok(DraftApproval {
                draft,
                reason,
                state,
                debits,
                template_author,
                identity,
            })
        })
        .collect()
}

/// The entry a draft holds.
pub(crate) fn draft_entry(draft: &Draft) -> Result<NewEntry, LedgerError> {
    serde_json::from_str(&draft.body)
        .map_err(|error| LedgerError::Invalid(format!("draft {} is unreadable: {error}", draft.key)))
}

fn refused(message: String) -> LedgerError {
    LedgerError::Invalid(message)
}

/// `reason` trimmed, refused when blank: `doing` names the step ("rejecting"), `hint` what the
/// reason should say.
fn required_reason<'r>(reason: &'r str, doing: &str, key: &EntryKey, hint: &str) -> Result<&'r str, LedgerError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(refused(format!(
            "{doing} draft {key} needs a reason: give --reason \"{hint}\""
        )));
    }
    Ok(reason)
}

impl Ledger {
    /// Submits the entity's drafts `keys` for approval. Each must need approval and be neither
    /// waiting nor approved. All or nothing.
    pub fn submit_drafts(&mut self, entity: &EntityId, keys: &[EntryKey]) -> Result<(), LedgerError> {
        self.authorize(Permission::JournalImport, Some(entity))?;
        self.record_approval_steps(entity, keys, ApprovalAction::Submitted, "")
    }

    /// Approves the entity's submitted drafts `keys`, with an optional note. The approver may
    /// not be a draft's preparer. All or nothing.
    pub fn approve_drafts(&mut self, entity: &EntityId, keys: &[EntryKey], note: &str) -> Result<(), LedgerError> {
        self.authorize(Permission::JournalApprove, Some(entity))?;
        self.record_approval_steps(entity, keys, ApprovalAction::Approved, note)
    }

    /// Rejects the entity's submitted draft `key`, with its reason. The preparer may submit it
    /// again.
    pub fn reject_draft(&mut self, entity: &EntityId, key: &EntryKey, reason: &str) -> Result<(), LedgerError> {
        self.authorize(Permission::JournalApprove, Some(entity))?;
        let reason = required_reason(reason, "rejecting", key, "what the preparer must fix")?;
        self.record_approval_steps(entity, std::slice::from_ref(key), ApprovalAction::Rejected, reason)
    }

    /// Discards the entity's draft `key` with the reason: deletes it, keeping its content in the
    /// audit trail (`journal.discard`) and the step in its approval history. A rejected draft
    /// can then be imported again, corrected, under the same key.
    pub fn discard_draft(&mut self, entity: &EntityId, key: &EntryKey, reason: &str) -> Result<(), LedgerError> {
        self.authorize(Permission::JournalImport, Some(entity))?;
        let reason = required_reason(reason, "discarding", key, "why it is not posted")?;
        let actor = self.actor().clone();
        self.store().write(|db| {
            db.require_entity(entity)?;
            let Some(draft) = db.drafts(entity)?.into_iter().find(|draft| &draft.key == key) else {
                return Err(refused(format!(
                    "entity {entity} has no draft entry {key}: list the drafts with `closebook journal list --entity {entity} --drafts`"
                )));
            };
            db.insert_approval_event(
                entity,
                key,
                &ApprovalEvent {
                    fingerprint: draft.fingerprint.clone(),
                    action: ApprovalAction::Discarded,
                    user: actor.user.clone(),
                    identity: actor.method.as_str().to_owned(),
                    at: crate::now_text(),
                    note: reason.to_owned(),
                },
            )?;
            db.delete_draft(draft.id)?;
            let body: serde_json::Value = serde_json::from_str(&draft.body).unwrap_or(serde_json::Value::Null);
            db.append_audit(
                &actor,
                "journal.discard",
                Some(entity),
                &json!({ "entry": key, "reason": reason, "prepared_by": draft.created_by, "source": draft.source, "body": body }),
            )
        })
    }

    fn record_approval_steps(
        &mut self,
        entity: &EntityId,
        keys: &[EntryKey],
        action: ApprovalAction,
        note: &str,
    ) -> Result<(), LedgerError> {
        if keys.is_empty() {
            return Err(refused("name at least one draft entry key".to_owned()));
        }
        // A key named twice is one step, recorded once.
        let mut unique: Vec<&EntryKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let actor = self.actor().clone();
        let user = actor.user.clone();
        self.store().write(|db| {
            db.require_entity(entity)?;
            let drafts = approvals_of(db, entity, &user, |draft| unique.contains(&&draft.key))?;
            let at = crate::now_text();
            for key in &unique {
                let Some(found) = drafts.iter().find(|found| &found.draft.key == *key) else {
                    return Err(refused(format!(
                        "entity {entity} has no draft entry {key}: list the drafts with `closebook journal list --entity {entity} --drafts`"
                    )));
                };
                check_step(entity, found, action, &user)?;
                db.insert_approval_event(
                    entity,
                    key,
                    &ApprovalEvent {
                        fingerprint: found.draft.fingerprint.clone(),
                        action,
                        user: user.clone(),
                        identity: actor.method.as_str().to_owned(),
                        at: at.clone(),
                        note: note.to_owned(),
                    },
                )?;
            }
            let audit_action = match action {
                ApprovalAction::Submitted => "journal.submit",
                ApprovalAction::Approved => "journal.approve",
                ApprovalAction::Rejected => "journal.reject",
                ApprovalAction::Discarded => "journal.discard",
            };
            db.append_audit(&actor, audit_action, Some(entity), &json!({ "entries": unique, "note": note }))
        })
    }
}

/// Refuses `action` on a draft where it stands, or by `user` when they prepared it.
fn check_step(
    entity: &EntityId,
    found: &DraftApproval,
    action: ApprovalAction,
    user: &UserId,
) -> Result<(), LedgerError> {
    let key = &found.draft.key;
    if found.reason.is_none() {
        return Err(refused(format!(
            "draft {key} of entity {entity} needs no approval: post it with `closebook journal post --entity {entity} {key}`"
        )));
    }
    let state = &found.state;
    match action {
        ApprovalAction::Submitted => match state {
            ApprovalState::NotSubmitted | ApprovalState::Rejected { .. } => Ok(()),
            ApprovalState::Submitted { .. } | ApprovalState::Approved { .. } => Err(refused(format!(
                "draft {key} of entity {entity} is {} already: nothing to submit",
                state.describe()
            ))),
        },
        ApprovalAction::Discarded => Ok(()),
        ApprovalAction::Approved | ApprovalAction::Rejected => {
            let ApprovalState::Submitted { by: submitter } = state else {
                return Err(refused(format!(
                    "draft {key} of entity {entity} is {}: only a submitted draft is approved or rejected; its preparer submits it with `closebook journal submit --entity {entity} {key}`",
                    state.describe()
                )));
            };
            let preparer = &found.draft.created_by;
            if let Some((template, author)) = &found.template_author
                && user == author
            {
                return Err(refused(format!(
                    "{user} applied recurring journal template {template}, which generated draft {key} of entity {entity}: another user with journal.approve must {} it",
                    if action == ApprovalAction::Approved {
                        "approve"
                    } else {
                        "reject"
                    }
                )));
            }
            if user == preparer || user == submitter {
                return Err(refused(format!(
                    "{user} {} draft {key} of entity {entity} (imported by {preparer}, submitted by {submitter}): another user with journal.approve must {} it",
                    if user == preparer { "imported" } else { "submitted" },
                    if action == ApprovalAction::Approved {
                        "approve"
                    } else {
                        "reject"
                    }
                )));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::SetupFile;
    use crate::test_fixtures::{import_csv, one_entity_ledger};

    fn ledger_with_rules(rules: &str) -> Ledger {
        let mut ledger = one_entity_ledger("preparer");
        ledger
            .apply_setup(&SetupFile::parse(rules, "rules.toml").unwrap(), "rules.toml")
            .unwrap();
        ledger
    }

    fn entry(key: &str, amount: &str) -> String {
        format!("entry,date,account,amount\n{key},2026-03-10,1000,{amount}\n{key},2026-03-10,4000,-{amount}\n")
    }

    #[test]
    fn the_threshold_is_strict_and_counts_debits_only() {
        // 100.00 is not above 100.00; 100.01 is. A two-line entry of 100.01 has debits 100.01,
        // not 200.02 (credits do not count).
        let mut ledger =
            ledger_with_rules("[[journal_approval]]\nentity = \"E\"\nmodule = \"ledger\"\nabove = \"100.00\"\n");
        let at_threshold = import_csv(&mut ledger, &entry("AT", "100.00")).unwrap();
        assert_eq!((at_threshold.posted, at_threshold.awaiting_approval.len()), (1, 0));
        let above = import_csv(&mut ledger, &entry("ABOVE", "100.01")).unwrap();
        assert_eq!(above.posted, 0);
        assert_eq!(above.awaiting_approval, [EntryKey::new("ABOVE")]);
        let user = UserId::new("preparer");
        let drafts = ledger
            .read(|db| draft_approvals(db, &EntityId::new("E"), &user))
            .unwrap();
        assert_eq!(
            drafts[0].reason.as_deref(),
            Some("ledger journals above 100.00 need approval; its debits are 100.01")
        );
        assert_eq!(drafts[0].state, ApprovalState::NotSubmitted);
    }

    #[test]
    fn an_approval_is_of_the_content_approved() {
        // An event recorded for another fingerprint leaves the draft not submitted.
        let event = ApprovalEvent {
            fingerprint: "old".to_owned(),
            action: ApprovalAction::Approved,
            user: UserId::new("checker"),
            identity: "os-user".to_owned(),
            at: String::new(),
            note: String::new(),
        };
        assert_eq!(ApprovalState::of(Some(&event), "new"), ApprovalState::NotSubmitted);
        assert_eq!(
            ApprovalState::of(Some(&event), "old"),
            ApprovalState::Approved {
                by: UserId::new("checker")
            }
        );
        assert_eq!(ApprovalState::of(None, "old"), ApprovalState::NotSubmitted);
    }

    #[test]
    fn a_rule_for_close_steps_is_refused_naming_what_controls_them() {
        let mut ledger = one_entity_ledger("preparer");
        let error = ledger
            .apply_setup(
                &SetupFile::parse(
                    "[[journal_approval]]\nentity = \"E\"\nmodule = \"close\"\n",
                    "rules.toml",
                )
                .unwrap(),
                "rules.toml",
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "module `close` is not a journal module: close steps' proposals are controlled by plugin.post"
            ),
            "{error}"
        );
        assert!(
            ledger
                .read(|db| db.approval_rules(&EntityId::new("E")))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn off_removes_an_entitys_rules_and_is_given_alone() {
        let mut ledger = ledger_with_rules("[[journal_approval]]\nentity = \"E\"\nabove = \"100.00\"\n");
        let rules = |ledger: &mut Ledger| ledger.read(|db| db.approval_rules(&EntityId::new("E"))).unwrap();
        assert_eq!(rules(&mut ledger).len(), 1);
        for mixed in [
            "[[journal_approval]]\nentity = \"E\"\noff = true\n\n[[journal_approval]]\nentity = \"E\"\nmodule = \"ledger\"\n",
            "[[journal_approval]]\nentity = \"E\"\nmodule = \"ledger\"\n\n[[journal_approval]]\nentity = \"E\"\noff = true\n",
            "[[journal_approval]]\nentity = \"E\"\noff = true\nabove = \"5\"\n",
        ] {
            let error = ledger
                .apply_setup(&SetupFile::parse(mixed, "mixed.toml").unwrap(), "mixed.toml")
                .unwrap_err()
                .to_string();
            assert!(error.contains("off = true"), "{error}");
            assert_eq!(rules(&mut ledger).len(), 1, "a refused file changes nothing");
        }
        ledger
            .apply_setup(
                &SetupFile::parse("[[journal_approval]]\nentity = \"E\"\noff = true\n", "off.toml").unwrap(),
                "off.toml",
            )
            .unwrap();
        assert!(rules(&mut ledger).is_empty());
        let summary = import_csv(&mut ledger, &entry("BIG", "5000.00")).unwrap();
        assert_eq!(summary.posted, 1, "no rule: it posts");
    }

    #[test]
    fn without_rules_every_journal_posts_as_before() {
        let mut ledger = one_entity_ledger("preparer");
        let summary = import_csv(&mut ledger, &entry("BIG", "1000000.00")).unwrap();
        assert_eq!((summary.posted, summary.drafted), (1, 0));
        assert!(summary.awaiting_approval.is_empty());
    }
}
