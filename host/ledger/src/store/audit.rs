//! The audit trail: who did what, when, in which entity. Append-only.

use super::Db;
use super::row::{Fields, all};
use super::sql::{Row, args};
use crate::error::LedgerError;
use crate::ids::EntityId;

/// One event of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub user: String,
    pub action: String,
    pub entity: Option<String>,
    pub details: serde_json::Value,
    /// How the user's identity was established (`os-user`, `declared`); None for records
    /// written before identities were recorded.
    pub identity: Option<String>,
}

impl Db<'_> {
    /// Appends an audit record by `actor`, with how its identity was established, chained to
    /// the record before it.
    pub fn append_audit(
        &self,
        actor: &crate::access::Actor,
        action: &str,
        entity: Option<&EntityId>,
        details: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare(
                "INSERT INTO audit_log (at, user_id, action, entity_id, details, identity, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(&super::control_log::audit_row(self, actor, action, entity, details)?.params())?;
        Ok(())
    }

    /// One page of the audit trail, newest first: records older than `before` (an id; None
    /// for the newest), optionally of one entity, user or action.
    pub fn audit_page(
        &self,
        entity: Option<&EntityId>,
        user: Option<&str>,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, user_id, action, entity_id, details, identity FROM audit_log
             WHERE (CAST(?1 AS TEXT) IS NULL OR entity_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR user_id = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR action = ?3) AND (CAST(?4 AS BIGINT) IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5",
        )?;
        all(
            &mut statement,
            args![entity.map(|entity| entity.as_str()), user, action, before, limit as i64],
            audit_record,
        )
    }

    /// The newest `limit` audit records, oldest first.
    pub fn audit(&self, entity: Option<&EntityId>, limit: usize) -> Result<Vec<AuditRecord>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, user_id, action, entity_id, details, identity FROM (
                SELECT * FROM audit_log WHERE CAST(?1 AS TEXT) IS NULL OR entity_id = ?1 ORDER BY id DESC LIMIT ?2
             ) AS recent ORDER BY id",
        )?;
        all(
            &mut statement,
            args![entity.map(|entity| entity.as_str()), limit as i64],
            audit_record,
        )
    }
}

fn audit_record(row: &Row<'_>) -> Result<AuditRecord, LedgerError> {
    let fields = Fields::new(row, "audit_log", &["id"]);
    Ok(AuditRecord {
        id: fields.integer("id")?,
        at: fields.text("at")?,
        user: fields.text("user_id")?,
        action: fields.text("action")?,
        entity: fields.optional_text("entity_id")?,
        details: fields.json("details")?,
        identity: fields.optional_text("identity")?,
    })
}
