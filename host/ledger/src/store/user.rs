//! Users and user groups: who may post where (module access by group) and who prepares and
//! reviews close tasks.

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::UserId;
use std::collections::BTreeSet;

impl Db<'_> {
    pub fn upsert_user(&self, user: &str, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO users (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            args![user, name],
        )?;
        Ok(())
    }

    pub fn upsert_group(&self, group: &str, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO user_groups (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            args![group, name],
        )?;
        Ok(())
    }

    /// Makes the user a member of exactly these groups.
    pub fn set_user_groups(&self, user: &str, groups: &[String]) -> Result<(), LedgerError> {
        self.connection
            .execute("DELETE FROM group_members WHERE user_id = ?1", args![user])?;
        for group in groups {
            self.connection.execute(
                "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2)",
                args![group, user],
            )?;
        }
        Ok(())
    }

    /// Every user declared in setup.
    pub fn user_ids(&self) -> Result<BTreeSet<String>, LedgerError> {
        let mut statement = self.connection.prepare("SELECT id FROM users ORDER BY id")?;
        let ids = all(&mut statement, args![], |row| {
            Fields::new(row, "users", &["id"]).text("id")
        })?;
        Ok(ids.into_iter().collect())
    }

    pub fn group_exists(&self, group: &str) -> Result<bool, LedgerError> {
        Ok(self
            .connection
            .first("SELECT 1 FROM user_groups WHERE id = ?1", args![group], |_| Ok(()))?
            .is_some())
    }

    pub fn groups_of(&self, user: &UserId) -> Result<Vec<String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT group_id, user_id FROM group_members WHERE user_id = ?1 ORDER BY group_id")?;
        all(&mut statement, args![user.as_str()], |row| {
            Fields::new(row, "group_members", &["group_id", "user_id"]).text("group_id")
        })
    }
}
