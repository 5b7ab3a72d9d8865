//! Credentials of the close workspace server: password hashes, API tokens and web sessions.
//!
//! Nothing here holds a secret a reader of the file could use: a password is an argon2id hash
//! (computed by the host), an API token and a session id are kept as their SHA-256. Times are
//! RFC 3339 UTC text with whole seconds, which sort as they compare, so expiry is a string
//! comparison in SQL.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Row, args};
use crate::error::LedgerError;
use serde::Serialize;

/// An API token as `token list` shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub user: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ApiToken {
    /// Whether the token may be used at `now` (RFC 3339 UTC): not revoked, not expired.
    pub fn is_usable_at(&self, now: &str) -> bool {
        self.revoked_at.is_none() && now < self.expires_at.as_str()
    }
}

/// A signed-in browser session, found by the SHA-256 of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub user: String,
    pub csrf_token: String,
    pub created_at: String,
    pub last_seen_at: String,
}

const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, expires_at, last_used_at, revoked_at";

fn token_of(row: &Row<'_>) -> Result<ApiToken, LedgerError> {
    let fields = Fields::new(row, "api_tokens", &["id"]);
    Ok(ApiToken {
        id: fields.integer("id")?,
        user: fields.text("user_id")?,
        name: fields.text("name")?,
        created_at: fields.text("created_at")?,
        expires_at: fields.text("expires_at")?,
        last_used_at: fields.optional_text("last_used_at")?,
        revoked_at: fields.optional_text("revoked_at")?,
    })
}

impl Db<'_> {
    /// Sets (or replaces) a user's password hash.
    pub fn set_password_hash(&self, user: &str, hash: &str, at: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO user_passwords (user_id, hash, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
            args![user, hash, at],
        )?;
        Ok(())
    }

    /// A user's password hash, if a password was set.
    pub fn password_hash(&self, user: &str) -> Result<Option<String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT user_id, hash FROM user_passwords WHERE user_id = ?1")?;
        first(&mut statement, args![user], |row| {
            Fields::new(row, "user_passwords", &["user_id"]).text("hash")
        })
    }

    /// The users who have a password, with when it was set.
    pub fn password_users(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT user_id, set_at FROM user_passwords ORDER BY user_id")?;
        all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "user_passwords", &["user_id"]);
            Ok((fields.text("user_id")?, fields.text("set_at")?))
        })
    }

    /// Stores a new API token by its SHA-256; returns its id.
    pub fn insert_api_token(
        &self,
        user: &str,
        name: &str,
        token_sha256: &str,
        created_at: &str,
        expires_at: &str,
    ) -> Result<i64, LedgerError> {
        let inserted_id = self.connection.insert_returning_id(
            "INSERT INTO api_tokens (user_id, name, token_sha256, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![user, name, token_sha256, created_at, expires_at],
        )?;
        Ok(inserted_id)
    }

    /// API tokens, of one user or all, oldest first.
    pub fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE CAST(?1 AS TEXT) IS NULL OR user_id = ?1 ORDER BY id"
        ))?;
        all(&mut statement, args![user], token_of)
    }

    pub fn api_token(&self, id: i64) -> Result<Option<ApiToken>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"))?;
        first(&mut statement, args![id], token_of)
    }

    /// The token whose SHA-256 this is.
    pub fn api_token_by_hash(&self, token_sha256: &str) -> Result<Option<ApiToken>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = ?1"
        ))?;
        first(&mut statement, args![token_sha256], token_of)
    }

    pub fn touch_api_token(&self, id: i64, at: &str) -> Result<(), LedgerError> {
        self.connection
            .prepare("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")?
            .execute(args![id, at])?;
        Ok(())
    }

    /// Revokes a token; false when it was already revoked.
    pub fn revoke_api_token(&self, id: i64, at: &str) -> Result<bool, LedgerError> {
        let changed = self.connection.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            args![id, at],
        )?;
        Ok(changed == 1)
    }

    pub fn insert_web_session(
        &self,
        id_sha256: &str,
        user: &str,
        csrf_token: &str,
        at: &str,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO web_sessions (id_sha256, user_id, csrf_token, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            args![id_sha256, user, csrf_token, at],
        )?;
        Ok(())
    }

    pub fn web_session(&self, id_sha256: &str) -> Result<Option<WebSession>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id_sha256, user_id, csrf_token, created_at, last_seen_at FROM web_sessions WHERE id_sha256 = ?1",
        )?;
        first(&mut statement, args![id_sha256], |row| {
            let fields = Fields::new(row, "web_sessions", &["id_sha256"]);
            Ok(WebSession {
                user: fields.text("user_id")?,
                csrf_token: fields.text("csrf_token")?,
                created_at: fields.text("created_at")?,
                last_seen_at: fields.text("last_seen_at")?,
            })
        })
    }

    pub fn touch_web_session(&self, id_sha256: &str, at: &str) -> Result<(), LedgerError> {
        self.connection
            .prepare("UPDATE web_sessions SET last_seen_at = ?2 WHERE id_sha256 = ?1")?
            .execute(args![id_sha256, at])?;
        Ok(())
    }

    pub fn delete_web_session(&self, id_sha256: &str) -> Result<(), LedgerError> {
        self.connection
            .execute("DELETE FROM web_sessions WHERE id_sha256 = ?1", args![id_sha256])?;
        Ok(())
    }

    /// Signs a user out everywhere (a new password, a blocked user).
    pub fn delete_web_sessions_of(&self, user: &str) -> Result<usize, LedgerError> {
        self.connection
            .execute("DELETE FROM web_sessions WHERE user_id = ?1", args![user])
    }

    /// Removes sessions idle since before `idle_before` or started before `created_before`.
    pub fn delete_expired_web_sessions(&self, idle_before: &str, created_before: &str) -> Result<usize, LedgerError> {
        self.connection.execute(
            "DELETE FROM web_sessions WHERE last_seen_at < ?1 OR created_at < ?2",
            args![idle_before, created_before],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    fn store() -> Store {
        let mut store = Store::open_in_memory().unwrap();
        store.write(|db| db.upsert_user("alice", "Alice")).unwrap();
        store
    }

    #[test]
    fn a_token_is_found_by_its_hash_and_stops_working_when_revoked_or_expired() {
        let mut store = store();
        let id = store
            .write(|db| db.insert_api_token("alice", "ci", "ab12", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"))
            .unwrap();
        let token = store.read(|db| db.api_token_by_hash("ab12")).unwrap().unwrap();
        assert_eq!((token.id, token.user.as_str()), (id, "alice"));
        assert!(token.is_usable_at("2026-03-31T23:59:59Z"));
        assert!(!token.is_usable_at("2026-04-01T00:00:00Z"));
        assert!(
            store
                .write(|db| db.revoke_api_token(id, "2026-02-01T00:00:00Z"))
                .unwrap()
        );
        assert!(
            !store
                .write(|db| db.revoke_api_token(id, "2026-02-02T00:00:00Z"))
                .unwrap()
        );
        let token = store.read(|db| db.api_token(id)).unwrap().unwrap();
        assert!(!token.is_usable_at("2026-02-03T00:00:00Z"));
        assert_eq!(token.revoked_at.as_deref(), Some("2026-02-01T00:00:00Z"));
        assert!(store.read(|db| db.api_token_by_hash("other")).unwrap().is_none());
    }

    #[test]
    fn expired_sessions_are_removed_by_idle_or_absolute_age() {
        let mut store = store();
        store
            .write(|db| {
                db.insert_web_session("old", "alice", "c1", "2026-01-01T00:00:00Z")?;
                db.insert_web_session("idle", "alice", "c2", "2026-01-01T10:00:00Z")?;
                db.insert_web_session("live", "alice", "c3", "2026-01-01T10:00:00Z")?;
                db.touch_web_session("live", "2026-01-01T11:50:00Z")?;
                db.touch_web_session("old", "2026-01-01T11:55:00Z")
            })
            .unwrap();
        let removed = store
            .write(|db| db.delete_expired_web_sessions("2026-01-01T11:30:00Z", "2026-01-01T02:00:00Z"))
            .unwrap();
        assert_eq!(removed, 2);
        let live = store.read(|db| db.web_session("live")).unwrap().unwrap();
        assert_eq!(live.csrf_token, "c3");
        assert!(store.read(|db| db.web_session("old")).unwrap().is_none());
    }
}
