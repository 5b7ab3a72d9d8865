//! Users, roles, grants and the security settings: what the permission check reads.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::args;
use crate::access::{AccessPolicy, Grant, Permission, Principal, UserAccess};
use crate::error::LedgerError;
use crate::ids::EntityId;
use std::collections::BTreeSet;

impl Db<'_> {
    /// Everything the permission check needs, in one read. A corrupt value (an unknown
    /// permission, a blocked flag that is not 0 or 1) is an error naming the row, never a
    /// default: a default here would grant or deny silently.
    pub fn access_policy(&self) -> Result<AccessPolicy, LedgerError> {
        let mut policy = AccessPolicy::default();
        let mut users = self
            .connection
            .prepare("SELECT id, blocked, os_user FROM users ORDER BY id")?;
        let rows = all(&mut users, args![], |row| {
            let fields = Fields::new(row, "users", &["id"]);
            Ok((
                fields.text("id")?,
                fields.flag("blocked")?,
                fields.optional_text("os_user")?,
            ))
        })?;
        for (id, blocked, os_user) in rows {
            let access = UserAccess {
                blocked,
                os_user,
                groups: BTreeSet::new(),
            };
            policy.users.insert(id, access);
        }
        let mut members = self.connection.prepare("SELECT group_id, user_id FROM group_members")?;
        let rows = all(&mut members, args![], |row| {
            let fields = Fields::new(row, "group_members", &["group_id", "user_id"]);
            Ok((fields.text("group_id")?, fields.text("user_id")?))
        })?;
        for (group, user) in rows {
            if let Some(access) = policy.users.get_mut(&user) {
                access.groups.insert(group);
            }
        }
        let mut roles = self.connection.prepare(
            "SELECT roles.id AS role_id, permission FROM roles LEFT JOIN role_permissions ON role_id = roles.id",
        )?;
        let rows = all(&mut roles, args![], |row| {
            let fields = Fields::new(row, "role_permissions", &["role_id"]);
            let permission = match fields.optional_text("permission")? {
                None => None,
                Some(_) => Some(fields.parsed("permission", "a permission", Permission::parse)?),
            };
            Ok((fields.text("role_id")?, permission))
        })?;
        for (role, permission) in rows {
            let permissions = policy.roles.entry(role).or_default();
            permissions.extend(permission);
        }
        policy.grants = self.grants()?;
        let mut security = self
            .connection
            .prepare("SELECT id, administrator, trust_declared_users FROM security WHERE id = 1")?;
        let security = first(&mut security, args![], |row| {
            let fields = Fields::new(row, "security", &["id"]);
            Ok((fields.text("administrator")?, fields.flag("trust_declared_users")?))
        })?;
        if let Some((administrator, trust)) = security {
            policy.administrator = Some(administrator);
            policy.trust_declared_users = trust;
        }
        Ok(policy)
    }

    /// The access policy's version (`access_version`), raised by the database at every change
    /// to what [`Db::access_policy`] reads; `None` when the row is missing, which no cache may
    /// trust.
    pub fn access_version(&self) -> Result<Option<i64>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, version FROM access_version WHERE id = 1")?;
        first(&mut statement, args![], |row| {
            Fields::new(row, "access_version", &["id"]).integer("version")
        })
    }

    fn grants(&self) -> Result<Vec<Grant>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT grants.id AS id, role_id, user_id, group_id, entity_id
             FROM grants LEFT JOIN grant_entities ON grant_id = grants.id ORDER BY grants.id",
        )?;
        let rows = all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "grants", &["id"]);
            let principal = match (fields.optional_text("user_id")?, fields.optional_text("group_id")?) {
                (Some(user), None) => Principal::User(user),
                (None, Some(group)) => Principal::Group(group),
                _ => {
                    let (index, _) = fields.value("user_id")?;
                    return Err(fields.corrupt(index, "names both a user and a group, or neither"));
                }
            };
            Ok((
                fields.integer("id")?,
                fields.text("role_id")?,
                principal,
                fields.optional_text("entity_id")?,
            ))
        })?;
        let mut grants: Vec<(i64, Grant)> = Vec::new();
        for (id, role, principal, entity) in rows {
            if grants.last().is_none_or(|(last, _)| *last != id) {
                grants.push((
                    id,
                    Grant {
                        role,
                        principal,
                        entities: None,
                    },
                ));
            }
            if let (Some(entity), Some((_, grant))) = (entity, grants.last_mut()) {
                grant
                    .entities
                    .get_or_insert_with(BTreeSet::new)
                    .insert(EntityId::new(entity));
            }
        }
        Ok(grants.into_iter().map(|(_, grant)| grant).collect())
    }

    /// Every group declared in setup.
    pub fn group_ids(&self) -> Result<BTreeSet<String>, LedgerError> {
        let mut statement = self.connection.prepare("SELECT id FROM user_groups ORDER BY id")?;
        Ok(all(&mut statement, args![], |row| row.get::<String>("id"))?
            .into_iter()
            .collect())
    }

    pub fn set_user_access(&self, user: &str, blocked: bool, os_user: Option<&str>) -> Result<(), LedgerError> {
        self.connection.execute(
            "UPDATE users SET blocked = ?2, os_user = ?3 WHERE id = ?1",
            args![user, blocked, os_user],
        )?;
        Ok(())
    }

    /// The user an operating-system account is mapped to, other than `except`.
    pub fn user_of_os_account(&self, account: &str, except: &str) -> Result<Option<String>, LedgerError> {
        self.connection.first(
            "SELECT id FROM users WHERE os_user = ?1 AND id <> ?2",
            args![account, except],
            |row| row.get::<String>("id"),
        )
    }

    /// Creates or replaces a role with exactly these permissions.
    pub fn upsert_role(&self, role: &str, name: &str, permissions: &BTreeSet<Permission>) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO roles (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            args![role, name],
        )?;
        self.connection
            .execute("DELETE FROM role_permissions WHERE role_id = ?1", args![role])?;
        for permission in permissions {
            self.connection.execute(
                "INSERT INTO role_permissions (role_id, permission) VALUES (?1, ?2)",
                args![role, permission.as_str()],
            )?;
        }
        Ok(())
    }

    pub fn role_exists(&self, role: &str) -> Result<bool, LedgerError> {
        Ok(self
            .connection
            .first("SELECT 1 FROM roles WHERE id = ?1", args![role], |_| Ok(()))?
            .is_some())
    }

    /// Replaces every grant held by these principals with `grants` (all of which name one of
    /// them): a setup file states a principal's grants in full.
    pub fn replace_grants(&self, principals: &BTreeSet<Principal>, grants: &[Grant]) -> Result<(), LedgerError> {
        for principal in principals {
            let (user, group) = principal_columns(principal);
            self.connection.execute(
                "DELETE FROM grant_entities WHERE grant_id IN (
                     SELECT id FROM grants WHERE user_id IS NOT DISTINCT FROM ?1 AND group_id IS NOT DISTINCT FROM ?2)",
                args![user, group],
            )?;
            self.connection.execute(
                "DELETE FROM grants WHERE user_id IS NOT DISTINCT FROM ?1 AND group_id IS NOT DISTINCT FROM ?2",
                args![user, group],
            )?;
        }
        for grant in grants {
            let (user, group) = principal_columns(&grant.principal);
            let id = self.connection.insert_returning_id(
                "INSERT INTO grants (role_id, user_id, group_id) VALUES (?1, ?2, ?3)",
                args![grant.role, user, group],
            )?;
            for entity in grant.entities.iter().flatten() {
                self.connection.execute(
                    "INSERT INTO grant_entities (grant_id, entity_id) VALUES (?1, ?2)",
                    args![id, entity.as_str()],
                )?;
            }
        }
        Ok(())
    }

    pub fn set_security(&self, administrator: &str, trust_declared_users: bool) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO security (id, administrator, trust_declared_users) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET administrator = excluded.administrator,
                 trust_declared_users = excluded.trust_declared_users",
            args![administrator, trust_declared_users],
        )?;
        Ok(())
    }
}

fn principal_columns(principal: &Principal) -> (Option<&str>, Option<&str>) {
    match principal {
        Principal::User(user) => (Some(user.as_str()), None),
        Principal::Group(group) => (None, Some(group.as_str())),
    }
}
