//! The controls' own hash chains: the audit trail and the close events (sign-offs, reviews,
//! runs) each chain every record to the one before, as entries do, and a close event carries the
//! sign-off state it left. `verify` recomputes both chains and compares each task's sign-off
//! with its last event, so an audit record, an event or a sign-off edited in the file (with
//! sqlite3, say) is reported. Records written before the chains existed carry no hash and are
//! not checked.

use super::Db;
use super::sql::{Arg, args};
use crate::access::Actor;
use crate::error::LedgerError;
use crate::ids::EntityId;
use crate::journal::GENESIS_HASH;
use crate::store::CloseTaskRecord;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The hash of a record: SHA-256 over the previous record's hash and the record's fields, each
/// followed by a unit separator so that no two different records hash alike.
pub(super) fn chain_hash(previous: &str, fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    for field in fields {
        hasher.update(b"\x1f");
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn last_hash(db: &Db<'_>, table: &str) -> Result<String, LedgerError> {
    let hash: Option<Option<String>> = db.connection.first(
        &format!("SELECT hash FROM {table} ORDER BY id DESC LIMIT 1"),
        args![],
        |row| row.get(0),
    )?;
    Ok(hash.flatten().unwrap_or_else(|| GENESIS_HASH.to_owned()))
}

/// What a close event says the task's sign-off state became.
fn signoff_state(record: &CloseTaskRecord) -> String {
    serde_json::json!({
        "status": record.status.as_str(),
        "ran_by": record.ran_by,
        "prepared_by": record.prepared_by,
        "reviewed_by": record.reviewed_by,
    })
    .to_string()
}

/// A close event as written, with its hash.
pub(super) struct CloseEventRow {
    fields: [String; 10],
    hash: String,
}

impl CloseEventRow {
    pub(super) fn params(&self) -> [&dyn Arg; 11] {
        let [at, user, close, entity, period, task, event, details, identity, record] = &self.fields;
        [
            at, user, close, entity, period, task, event, details, identity, record, &self.hash,
        ]
    }
}

pub(super) fn close_event_row(
    db: &Db<'_>,
    actor: &Actor,
    record: &CloseTaskRecord,
    event: &str,
    details: &serde_json::Value,
) -> Result<CloseEventRow, LedgerError> {
    let fields = [
        crate::now_text(),
        actor.user.to_string(),
        record.close.clone(),
        record.entity.to_string(),
        record.period.to_string(),
        record.task.clone(),
        event.to_owned(),
        details.to_string(),
        actor.method.as_str().to_owned(),
        signoff_state(record),
    ];
    let hash = chain_hash(&last_hash(db, "close_events")?, &fields.each_ref().map(String::as_str));
    Ok(CloseEventRow { fields, hash })
}

/// An audit record as written, with its hash.
pub(super) struct AuditRow {
    fields: [Option<String>; 6],
    hash: String,
}

impl AuditRow {
    pub(super) fn params(&self) -> [&dyn Arg; 7] {
        let [at, user, action, entity, details, identity] = &self.fields;
        [at, user, action, entity, details, identity, &self.hash]
    }
}

pub(super) fn audit_row(
    db: &Db<'_>,
    actor: &Actor,
    action: &str,
    entity: Option<&EntityId>,
    details: &serde_json::Value,
) -> Result<AuditRow, LedgerError> {
    let fields = [
        Some(crate::now_text()),
        Some(actor.user.to_string()),
        Some(action.to_owned()),
        entity.map(EntityId::to_string),
        Some(details.to_string()),
        Some(actor.method.as_str().to_owned()),
    ];
    let hash = chain_hash(&last_hash(db, "audit_log")?, &audit_fields(&fields));
    Ok(AuditRow { fields, hash })
}

fn audit_fields(fields: &[Option<String>; 6]) -> [&str; 6] {
    fields.each_ref().map(|field| field.as_deref().unwrap_or(""))
}

/// A task of a close: close, entity, period, task.
type TaskKey = (String, String, String, String);

/// A task's last chained event: what it was, by whom, and the sign-off state it left.
type LastEvent = (String, String, String);

/// Walks one chain in id order: a record with a stored hash must match the hash recomputed
/// from the record before it; once the chain has begun, a record without one was inserted
/// outside closebook.
struct ChainWalk {
    previous: String,
    begun: bool,
}

impl ChainWalk {
    fn new() -> Self {
        ChainWalk {
            previous: GENESIS_HASH.to_owned(),
            begun: false,
        }
    }

    /// None when the record is sound (or from before the chain), else what is wrong with it.
    fn step(&mut self, stored: Option<String>, fields: &[&str]) -> Option<&'static str> {
        let Some(stored) = stored else {
            return self
                .begun
                .then_some("has no hash, though records before it do: it was added outside closebook");
        };
        self.begun = true;
        let expected = chain_hash(&self.previous, fields);
        // The chain goes on from the stored hash, so one edited record is reported once.
        self.previous = stored.clone();
        (expected != stored)
            .then_some("does not match its hash: it was changed after it was written, or the record before it was")
    }
}

impl Db<'_> {
    /// What is wrong with the audit trail's and the close events' chains, and every task whose
    /// sign-off differs from what its last event recorded, one sentence each.
    pub fn control_log_findings(&self) -> Result<Vec<String>, LedgerError> {
        let mut findings = self.audit_chain_findings()?;
        findings.extend(self.close_event_findings()?);
        Ok(findings)
    }

    fn audit_chain_findings(&self) -> Result<Vec<String>, LedgerError> {
        let mut statement = self.connection.prepare_once(
            "SELECT id, at, user_id, action, entity_id, details, identity, hash FROM audit_log ORDER BY id",
        )?;
        let mut walk = ChainWalk::new();
        let mut findings = Vec::new();
        statement.for_each(args![], &mut |row| {
            let fields: [Option<String>; 6] = [
                row.get("at")?,
                row.get("user_id")?,
                row.get("action")?,
                row.get("entity_id")?,
                row.get("details")?,
                row.get("identity")?,
            ];
            if let Some(problem) = walk.step(row.get("hash")?, &audit_fields(&fields)) {
                let id: i64 = row.get("id")?;
                findings.push(format!(
                    "audit record {id} ({} by {}) {problem}",
                    fields[2].as_deref().unwrap_or(""),
                    fields[1].as_deref().unwrap_or("")
                ));
            }
            Ok(())
        })?;
        Ok(findings)
    }

    fn close_event_findings(&self) -> Result<Vec<String>, LedgerError> {
        let mut statement = self.connection.prepare_once(
            "SELECT id, at, user_id, close_name, entity_id, period, task_id, event, details, identity, record, hash
             FROM close_events ORDER BY id",
        )?;
        let mut walk = ChainWalk::new();
        let mut findings = Vec::new();
        // The last chained event of each task.
        let mut last: BTreeMap<TaskKey, LastEvent> = BTreeMap::new();
        statement.for_each(args![], &mut |row| {
            let mut fields: Vec<String> = Vec::with_capacity(10);
            for column in [
                "at",
                "user_id",
                "close_name",
                "entity_id",
                "period",
                "task_id",
                "event",
                "details",
                "identity",
                "record",
            ] {
                fields.push(row.get::<Option<String>>(column)?.unwrap_or_default());
            }
            let hash: Option<String> = row.get("hash")?;
            let chained = hash.is_some();
            let texts: Vec<&str> = fields.iter().map(String::as_str).collect();
            if let Some(problem) = walk.step(hash, &texts) {
                let id: i64 = row.get("id")?;
                findings.push(format!(
                    "close event {id} ({} of task {} of {} {} by {}) {problem}",
                    fields[6], fields[5], fields[3], fields[4], fields[1]
                ));
            }
            if chained {
                let key = (
                    fields[2].clone(),
                    fields[3].clone(),
                    fields[4].clone(),
                    fields[5].clone(),
                );
                last.insert(key, (fields[6].clone(), fields[1].clone(), fields[9].clone()));
            }
            Ok(())
        })?;
        for ((close, entity, period, task), (event, user, state)) in last {
            let now: Option<String> = self.connection.first(
                "SELECT status, ran_by, prepared_by, reviewed_by FROM close_tasks
                     WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4",
                args![close, entity, period, task],
                |row| {
                    Ok(serde_json::json!({
                        "status": row.get::<String>("status")?,
                        "ran_by": row.get::<Option<String>>("ran_by")?,
                        "prepared_by": row.get::<Option<String>>("prepared_by")?,
                        "reviewed_by": row.get::<Option<String>>("reviewed_by")?,
                    })
                    .to_string())
                },
            )?;
            let now = now.unwrap_or_else(|| "no row".to_owned());
            if now != state {
                findings.push(format!(
                    "task {task} of {entity} {period} (close {close}) holds {now}, but its last close event ({event} by {user}) left {state}: the sign-off was changed outside closebook"
                ));
            }
        }
        Ok(findings)
    }
}
