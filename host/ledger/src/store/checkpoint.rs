//! Verification checkpoints: what a clean `verify` established about an entity's ledger (the
//! last entry it covered, that entry's hash, a digest of the balances up to it), recorded so that
//! a routine verify checks only what was posted since. Append-only (triggers refuse UPDATE and
//! DELETE), and chained per entity: each checkpoint's hash covers its fields and the hash of the
//! entity's checkpoint before it, so an edited or removed checkpoint is reported.

use super::Db;
use super::control_log::chain_hash;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::{EntityId, UserId};
use crate::journal::GENESIS_HASH;

/// How much of the ledger the check behind a checkpoint read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointScope {
    /// Every entry from the first.
    Full,
    /// The entries after the entity's checkpoint before this one.
    SinceCheckpoint,
}

impl CheckpointScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointScope::Full => "full",
            CheckpointScope::SinceCheckpoint => "since-checkpoint",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "full" => Some(CheckpointScope::Full),
            "since-checkpoint" => Some(CheckpointScope::SinceCheckpoint),
            _ => None,
        }
    }
}

/// One recorded checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VerifyCheckpoint {
    pub id: i64,
    pub entity: EntityId,
    /// The last entry the check covered.
    pub sequence: i64,
    /// That entry's hash.
    pub entry_hash: String,
    /// The digest of the balances recomputed up to that entry (`verify::balances_digest`).
    pub balances_sha256: String,
    pub scope: CheckpointScope,
    pub entries_checked: i64,
    pub created_by: UserId,
    pub created_at: String,
    /// The hash of the entity's checkpoint before this one (the genesis hash for the first).
    pub previous_hash: String,
    pub hash: String,
}

impl VerifyCheckpoint {
    /// The hash this checkpoint's fields and link give; equal to `hash` unless it was changed.
    pub fn compute_hash(&self) -> String {
        chain_hash(
            &self.previous_hash,
            &[
                self.entity.as_str(),
                &self.sequence.to_string(),
                &self.entry_hash,
                &self.balances_sha256,
                self.scope.as_str(),
                &self.entries_checked.to_string(),
                self.created_by.as_str(),
                &self.created_at,
            ],
        )
    }
}

/// What a clean check found, to be recorded as a checkpoint.
#[derive(Clone, Debug)]
pub struct NewCheckpoint {
    pub entity: EntityId,
    pub sequence: i64,
    pub entry_hash: String,
    pub balances_sha256: String,
    pub scope: CheckpointScope,
    pub entries_checked: i64,
}

const CHECKPOINT_COLUMNS: &str = "id, entity_id, sequence, entry_hash, balances_sha256, scope, entries_checked, created_by, created_at, previous_hash, hash";

impl Db<'_> {
    /// An entity's checkpoints, oldest first.
    pub fn verify_checkpoints(&self, entity: &EntityId) -> Result<Vec<VerifyCheckpoint>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM verify_checkpoints WHERE entity_id = ?1 ORDER BY id"
        ))?;
        all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "verify_checkpoints", &["id", "entity_id"]);
            Ok(VerifyCheckpoint {
                id: fields.integer("id")?,
                entity: EntityId(fields.text("entity_id")?),
                sequence: fields.integer("sequence")?,
                entry_hash: fields.text("entry_hash")?,
                balances_sha256: fields.text("balances_sha256")?,
                scope: fields.parsed("scope", "a checkpoint scope", CheckpointScope::parse)?,
                entries_checked: fields.integer("entries_checked")?,
                created_by: UserId(fields.text("created_by")?),
                created_at: fields.text("created_at")?,
                previous_hash: fields.text("previous_hash")?,
                hash: fields.text("hash")?,
            })
        })
    }

    /// Records a checkpoint by `user`, chained to the entity's latest. None when the latest
    /// already covers this entry or a later one (two checks of the same ledger record one).
    pub fn append_verify_checkpoint(
        &self,
        checkpoint: &NewCheckpoint,
        user: &UserId,
    ) -> Result<Option<VerifyCheckpoint>, LedgerError> {
        let latest = self.verify_checkpoints(&checkpoint.entity)?.pop();
        if latest
            .as_ref()
            .is_some_and(|latest| latest.sequence >= checkpoint.sequence)
        {
            return Ok(None);
        }
        let mut recorded = VerifyCheckpoint {
            id: 0,
            entity: checkpoint.entity.clone(),
            sequence: checkpoint.sequence,
            entry_hash: checkpoint.entry_hash.clone(),
            balances_sha256: checkpoint.balances_sha256.clone(),
            scope: checkpoint.scope,
            entries_checked: checkpoint.entries_checked,
            created_by: user.clone(),
            created_at: crate::now_text(),
            previous_hash: latest.map_or_else(|| GENESIS_HASH.to_owned(), |latest| latest.hash),
            hash: String::new(),
        };
        recorded.hash = recorded.compute_hash();
        let inserted_id = self.connection.insert_returning_id(
            "INSERT INTO verify_checkpoints (entity_id, sequence, entry_hash, balances_sha256, scope, entries_checked, created_by, created_at, previous_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            args![
                recorded.entity.as_str(),
                recorded.sequence,
                recorded.entry_hash,
                recorded.balances_sha256,
                recorded.scope.as_str(),
                recorded.entries_checked,
                recorded.created_by.as_str(),
                recorded.created_at,
                recorded.previous_hash,
                recorded.hash,
            ],
        )?;
        recorded.id = inserted_id;
        Ok(Some(recorded))
    }
}
