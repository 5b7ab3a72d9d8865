//! Who is acting and what they may do: the one permission check every operation goes through.
//!
//! Users, groups, roles and grants are declared in setup (`[[user]]`, `[[group]]`, `[[role]]`,
//! `[[grant]]`, `[security]`). A user acts through an identity the caller established: in local
//! mode the operating-system account, mapped to a user by `os_user`; a name given with
//! `--as`/`CLOSEBOOK_USER` is accepted only when the ledger trusts declared users, and then every
//! record says the identity was declared, not verified. [`AccessPolicy::resolve`] turns what the
//! caller knows ([`Claim`]) into an [`Actor`]; [`AccessPolicy::check`] says whether that actor may
//! do one thing ([`Permission`]) in one entity, with a refusal naming who, what and which
//! permission is missing.

use crate::ids::{EntityId, UserId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// The permissions a role can hold: a fixed list, so a typo in setup is refused rather than
/// granting nothing. `docs/security.md` lists what needs each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Permission {
    LedgerRead,
    JournalImport,
    JournalPost,
    JournalReverse,
    JournalApprove,
    PeriodStatus,
    PeriodAccess,
    CloseRun,
    ClosePrepare,
    CloseReview,
    Settle,
    YearEnd,
    PluginPost,
    SetupApply,
    UsersAdmin,
    AuditRead,
}

impl Permission {
    pub const ALL: [Permission; 16] = [
        Permission::LedgerRead,
        Permission::JournalImport,
        Permission::JournalPost,
        Permission::JournalReverse,
        Permission::JournalApprove,
        Permission::PeriodStatus,
        Permission::PeriodAccess,
        Permission::CloseRun,
        Permission::ClosePrepare,
        Permission::CloseReview,
        Permission::Settle,
        Permission::YearEnd,
        Permission::PluginPost,
        Permission::SetupApply,
        Permission::UsersAdmin,
        Permission::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::LedgerRead => "ledger.read",
            Permission::JournalImport => "journal.import",
            Permission::JournalPost => "journal.post",
            Permission::JournalReverse => "journal.reverse",
            Permission::JournalApprove => "journal.approve",
            Permission::PeriodStatus => "period.status",
            Permission::PeriodAccess => "period.access",
            Permission::CloseRun => "close.run",
            Permission::ClosePrepare => "close.prepare",
            Permission::CloseReview => "close.review",
            Permission::Settle => "settle",
            Permission::YearEnd => "year-end",
            Permission::PluginPost => "plugin.post",
            Permission::SetupApply => "setup.apply",
            Permission::UsersAdmin => "users.admin",
            Permission::AuditRead => "audit.read",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == text)
    }

    /// What the permission lets a user do, as the refusal says it: "bob may not {action}".
    pub fn action(self, entity: Option<&EntityId>) -> String {
        let of = |what: &str, preposition: &str| match entity {
            Some(entity) => format!("{what} {preposition} {entity}"),
            None => format!("{what} {preposition} every entity"),
        };
        match self {
            Permission::LedgerRead => of("read the ledger", "of"),
            Permission::JournalImport => of("import journals", "into"),
            Permission::JournalPost => of("post entries", "to"),
            Permission::JournalReverse => of("reverse entries", "of"),
            Permission::JournalApprove => of("approve journals", "of"),
            Permission::PeriodStatus => of("set the period status", "of"),
            Permission::PeriodAccess => of("change the module access of periods", "of"),
            Permission::CloseRun => of("run the close", "of"),
            Permission::ClosePrepare => of("prepare close tasks", "of"),
            Permission::CloseReview => of("review close tasks", "of"),
            Permission::Settle => of("settle open items", "of"),
            Permission::YearEnd => of("run the year-end close", "of"),
            Permission::PluginPost => of("post a plugin's entries", "to"),
            Permission::SetupApply => "apply a setup file".to_owned(),
            Permission::UsersAdmin => "change users, roles or grants".to_owned(),
            Permission::AuditRead => of("read the audit trail", "of"),
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How the acting user's identity was established. Records say it, so a reader can tell a
/// sign-off by a verified user from one by a name someone typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IdentityMethod {
    /// The operating-system account running the command, mapped to the user by `os_user`.
    OsUser,
    /// A name given with `--as`/`CLOSEBOOK_USER` on a ledger that trusts declared users:
    /// unverified.
    Declared,
    /// A user signed in to the close workspace server with their password.
    Password,
    /// An API token presented to the server (the CLI's remote mode, automation).
    Token,
}

impl IdentityMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMethod::OsUser => "os-user",
            IdentityMethod::Declared => "declared",
            IdentityMethod::Password => "password",
            IdentityMethod::Token => "token",
        }
    }

    pub fn parse(text: &str) -> Option<IdentityMethod> {
        match text {
            "os-user" => Some(IdentityMethod::OsUser),
            "declared" => Some(IdentityMethod::Declared),
            "password" => Some(IdentityMethod::Password),
            "token" => Some(IdentityMethod::Token),
            _ => None,
        }
    }

    pub fn is_verified(self) -> bool {
        !matches!(self, IdentityMethod::Declared)
    }
}

/// A user acting, with how that was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub user: UserId,
    pub method: IdentityMethod,
}

impl Actor {
    /// "alice (os-user)", or "alice (declared, unverified)".
    pub fn describe(&self) -> String {
        if self.method.is_verified() {
            format!("{} ({})", self.user, self.method.as_str())
        } else {
            format!("{} (declared, unverified)", self.user)
        }
    }
}

/// A user named by id alone: nobody verified it.
impl From<UserId> for Actor {
    fn from(user: UserId) -> Self {
        Actor {
            user,
            method: IdentityMethod::Declared,
        }
    }
}

impl From<&str> for Actor {
    fn from(user: &str) -> Self {
        Actor::from(UserId::new(user.to_owned()))
    }
}

/// What the caller knows about who is acting: the operating-system account running it, and
/// the name it was asked to act as, if any.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub os_account: Option<String>,
    pub requested: Option<String>,
}

/// How the caller established who is acting.
#[derive(Debug, Clone)]
pub enum Identity {
    /// The command line: the operating-system account, and the name asked for.
    Local(Claim),
    /// The close workspace server: a user who signed in with a password or presented an API
    /// token (the actor's method says which). Still checked to be declared and not blocked.
    Authenticated(Actor),
}

/// A user as the access policy sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAccess {
    pub blocked: bool,
    pub os_user: Option<String>,
    pub groups: BTreeSet<String>,
}

/// A role granted to a user or a group, in every entity (`entities` None) or some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    pub principal: Principal,
    pub entities: Option<BTreeSet<EntityId>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    User(String),
    Group(String),
}

/// Everything the permission check needs, read from the ledger once per command.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// The user holding every permission in every entity; None on a ledger set up before
    /// permissions existed, which must name one before anything else is done.
    pub administrator: Option<String>,
    pub trust_declared_users: bool,
    pub users: BTreeMap<String, UserAccess>,
    pub roles: BTreeMap<String, BTreeSet<Permission>>,
    pub grants: Vec<Grant>,
}

/// The access policy kept between requests (a server keeps one), with the version it was read
/// at (`Db::access_version`): each use reads that one row and reads the policy again only when
/// the version changed. The database raises the version at every change to users, groups,
/// roles and grants, whoever makes it, so a blocked user or a revoked grant counts at the next
/// request, as when every request read the whole policy.
#[derive(Default)]
pub struct PolicyCache(Mutex<Option<(i64, Arc<AccessPolicy>)>>);

impl PolicyCache {
    /// The ledger's access policy as of `db`'s transaction.
    pub fn policy(&self, db: &crate::store::Db<'_>) -> Result<Arc<AccessPolicy>, crate::LedgerError> {
        let lock = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(version) = db.access_version()? else {
            return Ok(Arc::new(db.access_policy()?));
        };
        if let Some((kept_version, policy)) = lock().as_ref()
            && *kept_version == version
        {
            return Ok(Arc::clone(policy));
        }
        let policy = Arc::new(db.access_policy()?);
        *lock() = Some((version, Arc::clone(&policy)));
        Ok(policy)
    }
}

/// Why an identity or an operation was refused. Each message names who, what and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the acting user is blank: name one with --as USER (or CLOSEBOOK_USER)")]
    BlankUser,
    #[error(
        "user {user} is not declared in this ledger's setup: declare it with [[user]] id = \"{user}\" and apply the setup, or act as a declared user"
    )]
    UndeclaredUser { user: String },
    #[error(
        "user {user} is blocked: a blocked user is kept in the history but may not act; unblock it in setup (blocked = false) if that is wrong"
    )]
    BlockedUser { user: String },
    #[error(
        "the operating-system account {account} is not mapped to a closebook user: add os_user = \"{account}\" to its [[user]] in setup{hint}"
    )]
    UnmappedAccount { account: String, hint: String },
    #[error(
        "cannot tell who is acting: the operating system has no account name for this process; run it under a named account mapped with os_user in setup"
    )]
    NoAccount,
    #[error(
        "{account} is {mapped} in this ledger and may not act as {requested}: --as/CLOSEBOOK_USER may name someone else only when the ledger's setup says [security] trust_declared_users = true"
    )]
    ImpersonationRefused {
        account: String,
        mapped: String,
        requested: String,
    },
    #[error(
        "this ledger has no administrator yet (it was set up before closebook had permissions): apply a setup file with [security] administrator = \"USER\" naming a declared user"
    )]
    NoAdministrator,
    /// A database with closebook's schema and nothing in it (a PostgreSQL database after
    /// `db migrate`): the SQLite counterpart is a missing file.
    #[error("this ledger is empty: nothing has been set up in it; run `closebook setup apply SETUP.toml` first")]
    EmptyLedger,
    #[error("{user} may not {action} (needs {permission})")]
    NotPermitted {
        user: String,
        action: String,
        permission: Permission,
    },
}

impl AccessPolicy {
    /// The acting user for what the caller knows, checked to be declared and not blocked.
    pub fn resolve(&self, claim: &Claim) -> Result<Actor, AccessError> {
        if let Some(requested) = &claim.requested
            && requested.trim().is_empty()
        {
            return Err(AccessError::BlankUser);
        }
        let mapped = claim
            .os_account
            .as_deref()
            .and_then(|account| self.user_of_account(account));
        let actor = match (&claim.requested, mapped) {
            (Some(requested), Some(mapped)) if requested == mapped => Actor {
                user: UserId::new(mapped.to_owned()),
                method: IdentityMethod::OsUser,
            },
            (Some(requested), _) if self.trust_declared_users => Actor {
                user: UserId::new(requested.clone()),
                method: IdentityMethod::Declared,
            },
            (Some(requested), mapped) => {
                let account = claim.os_account.clone().unwrap_or_else(|| "this process".to_owned());
                return Err(AccessError::ImpersonationRefused {
                    mapped: match mapped {
                        Some(user) => format!("user {user}"),
                        None => "no user".to_owned(),
                    },
                    account: format!("operating-system account {account}"),
                    requested: requested.clone(),
                });
            }
            (None, Some(mapped)) => Actor {
                user: UserId::new(mapped.to_owned()),
                method: IdentityMethod::OsUser,
            },
            (None, None) => {
                let Some(account) = claim.os_account.clone() else {
                    return Err(AccessError::NoAccount);
                };
                let hint = if self.trust_declared_users {
                    ", or name the user with --as USER".to_owned()
                } else {
                    String::new()
                };
                return Err(AccessError::UnmappedAccount { account, hint });
            }
        };
        self.require_active(actor.user.as_str())?;
        Ok(actor)
    }

    /// The acting user for an identity: a claim is resolved; an authenticated user is checked
    /// to be declared and not blocked (a user blocked after signing in is refused at once).
    pub fn resolve_identity(&self, identity: &Identity) -> Result<Actor, AccessError> {
        match identity {
            Identity::Local(claim) => self.resolve(claim),
            Identity::Authenticated(actor) => {
                self.require_active(actor.user.as_str())?;
                Ok(actor.clone())
            }
        }
    }

    fn user_of_account(&self, account: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(_, user)| user.os_user.as_deref() == Some(account))
            .map(|(id, _)| id.as_str())
    }

    /// Refuses an undeclared or blocked user.
    pub fn require_active(&self, user: &str) -> Result<(), AccessError> {
        if user.trim().is_empty() {
            return Err(AccessError::BlankUser);
        }
        match self.users.get(user) {
            None => Err(AccessError::UndeclaredUser { user: user.to_owned() }),
            Some(access) if access.blocked => Err(AccessError::BlockedUser { user: user.to_owned() }),
            Some(_) => Ok(()),
        }
    }

    /// Whether the user may do `permission` in `entity` (None: a ledger-wide operation, or
    /// one in any entity).
    pub fn allows(&self, user: &str, permission: Permission, entity: Option<&EntityId>) -> bool {
        let Some(access) = self.users.get(user).filter(|access| !access.blocked) else {
            return false;
        };
        if self.administrator.as_deref() == Some(user) {
            return true;
        }
        self.grants.iter().any(|grant| {
            let holds = match &grant.principal {
                Principal::User(id) => id == user,
                Principal::Group(group) => access.groups.contains(group),
            };
            let in_scope = match (&grant.entities, entity) {
                (None, _) => true,
                (Some(entities), Some(entity)) => entities.contains(entity),
                // A ledger-wide operation needs the role in every entity.
                (Some(_), None) => false,
            };
            holds
                && in_scope
                && self
                    .roles
                    .get(&grant.role)
                    .is_some_and(|permissions| permissions.contains(&permission))
        })
    }

    /// The one permission check: Ok, or a refusal naming who, what and the permission missing.
    pub fn check(&self, actor: &Actor, permission: Permission, entity: Option<&EntityId>) -> Result<(), AccessError> {
        if self.administrator.is_none() {
            return Err(AccessError::NoAdministrator);
        }
        self.require_active(actor.user.as_str())?;
        if self.allows(actor.user.as_str(), permission, entity) {
            Ok(())
        } else {
            Err(AccessError::NotPermitted {
                user: actor.user.to_string(),
                action: permission.action(entity),
                permission,
            })
        }
    }

    /// Of these entities, those the user may read: a user sees only the entities granted.
    pub fn readable<'a>(&self, user: &str, entities: impl IntoIterator<Item = &'a EntityId>) -> Vec<EntityId> {
        entities
            .into_iter()
            .filter(|entity| self.allows(user, Permission::LedgerRead, Some(entity)))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AccessPolicy {
        let user = |os: &str, groups: &[&str], blocked: bool| UserAccess {
            blocked,
            os_user: Some(os.to_owned()),
            groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        };
        AccessPolicy {
            administrator: Some("alice".to_owned()),
            trust_declared_users: false,
            users: BTreeMap::from([
                ("alice".to_owned(), user("alice-os", &[], false)),
                ("bob".to_owned(), user("bob-os", &["closers"], false)),
                ("carol".to_owned(), user("carol-os", &[], false)),
                ("mallory".to_owned(), user("mallory-os", &["closers"], true)),
            ]),
            roles: BTreeMap::from([
                (
                    "accountant".to_owned(),
                    BTreeSet::from([Permission::LedgerRead, Permission::JournalPost]),
                ),
                ("auditor".to_owned(), BTreeSet::from([Permission::LedgerRead])),
            ]),
            grants: vec![
                Grant {
                    role: "accountant".to_owned(),
                    principal: Principal::Group("closers".to_owned()),
                    entities: Some(BTreeSet::from([EntityId::new("ACME-US")])),
                },
                Grant {
                    role: "auditor".to_owned(),
                    principal: Principal::User("carol".to_owned()),
                    entities: None,
                },
            ],
        }
    }

    fn claim(os: Option<&str>, requested: Option<&str>) -> Claim {
        Claim {
            os_account: os.map(str::to_owned),
            requested: requested.map(str::to_owned),
        }
    }

    #[test]
    fn the_operating_system_account_is_the_verified_identity() {
        // Proves local mode: the account maps to its user, verified; naming yourself is the same.
        let policy = policy();
        let actor = policy.resolve(&claim(Some("bob-os"), None)).unwrap();
        assert_eq!((actor.user.as_str(), actor.method), ("bob", IdentityMethod::OsUser));
        let actor = policy.resolve(&claim(Some("bob-os"), Some("bob"))).unwrap();
        assert_eq!(actor.method, IdentityMethod::OsUser);
    }

    #[test]
    fn naming_someone_else_is_refused_unless_the_ledger_trusts_declared_users() {
        // Proves a preparer cannot sign as the reviewer by typing a name, and that a trusting
        // ledger accepts the name but marks it unverified.
        let mut policy = policy();
        let refused = policy.resolve(&claim(Some("bob-os"), Some("alice"))).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "operating-system account bob-os is user bob in this ledger and may not act as alice: --as/CLOSEBOOK_USER may name someone else only when the ledger's setup says [security] trust_declared_users = true"
        );
        policy.trust_declared_users = true;
        let actor = policy.resolve(&claim(Some("bob-os"), Some("alice"))).unwrap();
        assert_eq!((actor.user.as_str(), actor.method), ("alice", IdentityMethod::Declared));
        assert_eq!(actor.describe(), "alice (declared, unverified)");
    }

    #[test]
    fn undeclared_blank_blocked_and_unmapped_users_are_refused_by_name() {
        // Proves every way of not being a usable user gets its own message.
        let mut policy = policy();
        policy.trust_declared_users = true;
        let message = |claim: Claim| policy.resolve(&claim).unwrap_err().to_string();
        assert_eq!(
            message(claim(Some("root"), Some("mallory"))),
            "user mallory is blocked: a blocked user is kept in the history but may not act; unblock it in setup (blocked = false) if that is wrong"
        );
        assert!(message(claim(Some("root"), Some("zed"))).starts_with("user zed is not declared"));
        assert_eq!(
            message(claim(Some("root"), Some(" "))),
            "the acting user is blank: name one with --as USER (or CLOSEBOOK_USER)"
        );
        assert_eq!(
            message(claim(Some("root"), None)),
            "the operating-system account root is not mapped to a closebook user: add os_user = \"root\" to its [[user]] in setup, or name the user with --as USER"
        );
    }

    #[test]
    fn grants_apply_to_their_entities_and_the_administrator_holds_everything() {
        // Proves entity-scoped grants through a group, ledger-wide grants, the administrator,
        // and the refusal's wording.
        let policy = policy();
        let actor = |user: &str| Actor {
            user: UserId::new(user),
            method: IdentityMethod::OsUser,
        };
        let us = EntityId::new("ACME-US");
        let de = EntityId::new("ACME-DE");
        assert!(policy.check(&actor("bob"), Permission::JournalPost, Some(&us)).is_ok());
        assert_eq!(
            policy
                .check(&actor("bob"), Permission::JournalPost, Some(&de))
                .unwrap_err()
                .to_string(),
            "bob may not post entries to ACME-DE (needs journal.post)"
        );
        assert_eq!(
            policy
                .check(&actor("carol"), Permission::PeriodStatus, Some(&us))
                .unwrap_err()
                .to_string(),
            "carol may not set the period status of ACME-US (needs period.status)"
        );
        assert!(policy.check(&actor("carol"), Permission::LedgerRead, None).is_ok());
        assert!(policy.check(&actor("bob"), Permission::LedgerRead, None).is_err());
        assert!(policy.check(&actor("alice"), Permission::UsersAdmin, None).is_ok());
        assert!(
            policy
                .check(&actor("mallory"), Permission::LedgerRead, Some(&us))
                .is_err()
        );
        assert_eq!(policy.readable("bob", [&us, &de]), vec![us.clone()]);
        let unadministered = AccessPolicy {
            administrator: None,
            ..policy.clone()
        };
        assert_eq!(
            unadministered.check(&actor("alice"), Permission::LedgerRead, None),
            Err(AccessError::NoAdministrator)
        );
    }

    #[test]
    fn every_permission_parses_from_its_name() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.as_str()), Some(permission));
        }
        assert_eq!(Permission::parse("ledger.write"), None);
    }
}
