//! Credentials of the close workspace server, as ledger operations: each checks who may change
//! whose credential and records what it did in the audit trail. The secrets themselves (the
//! argon2id hash, the token) are made by the host; the ledger stores a hash and never a secret.
//!
//! A user may set their own password and manage their own tokens when their identity is
//! verified (their operating-system account, a password, a token); anything else, and every
//! change to another user's credentials, needs `users.admin`.

use crate::access::Permission;
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::store::ApiToken;
use serde_json::json;

impl Ledger {
    /// Whether the actor may change `user`'s credentials: their own with a verified identity,
    /// anyone's with `users.admin`. A refusal is audited.
    fn authorize_credentials_of(&mut self, user: &str) -> Result<(), LedgerError> {
        let own = self.actor().user.as_str() == user && self.actor().method.is_verified();
        if own {
            // Still a declared, active user (authorize checks the same for administrators).
            return match self.policy() {
                Some(policy) => Ok(policy.require_active(user)?),
                None => self.authorize(Permission::UsersAdmin, None),
            };
        }
        self.authorize(Permission::UsersAdmin, None)
    }

    fn require_declared(&mut self, user: &str) -> Result<(), LedgerError> {
        let users = self.read(|db| db.user_ids())?;
        if users.contains(user) {
            Ok(())
        } else {
            Err(LedgerError::Invalid(format!(
                "user {user} is not declared in this ledger's setup: declare it with [[user]] id = \"{user}\" and apply the setup first"
            )))
        }
    }

    /// Sets a user's password (its argon2id hash), and signs the user out of every session.
    pub fn set_password(&mut self, user: &str, hash: &str) -> Result<(), LedgerError> {
        self.require_declared(user)?;
        self.authorize_credentials_of(user)?;
        let actor = self.actor().clone();
        let at = crate::now_text();
        self.store().write(|db| {
            db.set_password_hash(user, hash, &at)?;
            let sessions_ended = db.delete_web_sessions_of(user)?;
            db.append_audit(
                &actor,
                "user.password.set",
                None,
                &json!({ "user": user, "sessions_ended": sessions_ended }),
            )
        })
    }

    /// Stores a new API token of `user` by its SHA-256; returns the token's record.
    pub fn create_api_token(
        &mut self,
        user: &str,
        name: &str,
        token_sha256: &str,
        expires_at: &str,
    ) -> Result<ApiToken, LedgerError> {
        self.require_declared(user)?;
        if name.trim().is_empty() {
            return Err(LedgerError::Invalid(
                "the token's name is blank: name it after what will use it, e.g. --name ci".to_owned(),
            ));
        }
        self.authorize_credentials_of(user)?;
        let actor = self.actor().clone();
        let at = crate::now_text();
        self.store().write(|db| {
            let id = db.insert_api_token(user, name, token_sha256, &at, expires_at)?;
            db.append_audit(
                &actor,
                "token.create",
                None,
                &json!({ "token": id, "user": user, "name": name, "expires_at": expires_at }),
            )?;
            db.api_token(id)?
                .ok_or_else(|| LedgerError::Invalid(format!("token {id} was not stored")))
        })
    }

    /// The API tokens the actor may see: every user's with `users.admin`, else their own.
    pub fn api_tokens(&mut self, user: Option<&str>) -> Result<Vec<ApiToken>, LedgerError> {
        match user {
            Some(user) => self.authorize_credentials_of(user)?,
            None => self.authorize(Permission::UsersAdmin, None)?,
        }
        self.read(|db| db.api_tokens(user))
    }

    /// Revokes an API token: at once, for every server on this ledger.
    pub fn revoke_api_token(&mut self, id: i64) -> Result<ApiToken, LedgerError> {
        let token = self.read(|db| db.api_token(id))?.ok_or_else(|| {
            LedgerError::Invalid(format!(
                "there is no API token {id}: `closebook token list` shows the tokens and their ids"
            ))
        })?;
        self.authorize_credentials_of(&token.user)?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let actor = self.actor().clone();
        let at = crate::now_text();
        self.store().write(|db| {
            db.revoke_api_token(id, &at)?;
            db.append_audit(
                &actor,
                "token.revoke",
                None,
                &json!({ "token": id, "user": token.user, "name": token.name }),
            )?;
            db.api_token(id)?
                .ok_or_else(|| LedgerError::Invalid(format!("token {id} disappeared")))
        })
    }
}
