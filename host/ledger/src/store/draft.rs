//! Draft entries (imported without posting) and the entry keys an entity has used, posted or
//! drafted: what makes an import idempotent.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::{EntityId, EntryKey, UserId};

/// What the store knows about an entry key already used in an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingKey {
    pub fingerprint: String,
    pub posted_entry_id: Option<i64>,
    pub draft_id: Option<i64>,
}

/// A draft entry: its key, its body as JSON, and the file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub id: i64,
    pub key: EntryKey,
    pub fingerprint: String,
    pub body: String,
    pub source: String,
    /// Who imported it: its preparer.
    pub created_by: UserId,
}

impl Db<'_> {
    pub fn existing_key(&self, entity: &EntityId, key: &EntryKey) -> Result<Option<ExistingKey>, LedgerError> {
        if let Some(posted) = self.existing_posted_key(entity, key)? {
            return Ok(Some(posted));
        }
        let mut statement = self
            .connection
            .prepare("SELECT id, fingerprint FROM drafts WHERE entity_id = ?1 AND entry_key = ?2")?;
        let draft = first(&mut statement, args![entity.as_str(), key.as_str()], |row| {
            let fields = Fields::new(row, "drafts", &["id"]);
            Ok((fields.integer("id")?, fields.text("fingerprint")?))
        })?;
        Ok(draft.map(|(id, fingerprint)| ExistingKey {
            fingerprint,
            posted_entry_id: None,
            draft_id: Some(id),
        }))
    }

    pub fn insert_draft(
        &self,
        entity: &EntityId,
        key: &EntryKey,
        fingerprint: &str,
        body: &str,
        source: &str,
        user: &UserId,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare("INSERT INTO drafts (entity_id, entry_key, fingerprint, body, source, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
            .execute(args![entity.as_str(), key.as_str(), fingerprint, body, source, user.as_str(), crate::now_text()])?;
        Ok(())
    }

    pub fn drafts(&self, entity: &EntityId) -> Result<Vec<Draft>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, entry_key, fingerprint, body, source, created_by FROM drafts WHERE entity_id = ?1 ORDER BY id",
        )?;
        all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "drafts", &["id"]);
            Ok(Draft {
                id: fields.integer("id")?,
                key: EntryKey(fields.text("entry_key")?),
                fingerprint: fields.text("fingerprint")?,
                body: fields.text("body")?,
                source: fields.text("source")?,
                created_by: UserId(fields.text("created_by")?),
            })
        })
    }

    /// Drafts dated in a period, by module: what "are the subledgers' journals posted" checks.
    pub fn draft_count(&self, entity: &EntityId) -> Result<i64, LedgerError> {
        self.connection.one(
            "SELECT COUNT(*) FROM drafts WHERE entity_id = ?1",
            args![entity.as_str()],
            |row| row.get(0),
        )
    }

    /// The largest id of the drafts there now (0 when none): a draft inserted after it, in the
    /// same transaction, gets a larger one.
    pub fn last_draft_id(&self) -> Result<i64, LedgerError> {
        self.connection
            .one("SELECT COALESCE(MAX(id), 0) FROM drafts", args![], |row| row.get(0))
    }

    pub fn delete_draft(&self, draft_id: i64) -> Result<(), LedgerError> {
        self.connection
            .prepare("DELETE FROM drafts WHERE id = ?1")?
            .execute(args![draft_id])?;
        Ok(())
    }

    /// Draft entries of an entity as (key, body JSON).
    pub fn draft_bodies(&self, entity: &EntityId) -> Result<Vec<(EntryKey, String)>, LedgerError> {
        Ok(self
            .drafts(entity)?
            .into_iter()
            .map(|draft| (draft.key, draft.body))
            .collect())
    }
}
