//! Who is calling: a browser session (a password sign-in) for the pages, an API token for the
//! JSON API. Sessions are kept server-side in the ledger by the SHA-256 of a random id, with
//! idle and absolute expiry and a CSRF token; the cookie is `HttpOnly` and `SameSite=Strict`
//! (and `Secure` behind TLS). Failed sign-ins are throttled per user and per address.
//!
//! The API accepts only tokens and the pages only sessions: a cookie never authorises an API
//! call, so no other site can make a browser post a journal through the API.

use super::{ServerError, SharedState};
use crate::credentials;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use closebook_ledger::access::{Actor, IdentityMethod};
use closebook_ledger::ids::UserId;
use closebook_ledger::store::Store;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "closebook_session";
/// Random bytes in a session id and a CSRF token: 256 bits each.
const SESSION_ID_BYTES: usize = 32;
/// A session's last use is written at most this often, so reading pages does not write the
/// ledger file on every request.
const SESSION_TOUCH_SECONDS: i64 = 60;
/// The window failed sign-ins are counted in.
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed sign-ins of one user in the window before its sign-in is refused for a while.
pub const USER_FAILURES_MAX: usize = 5;
/// Failed sign-ins from one address in the window (several users behind one proxy share it).
pub const ADDRESS_FAILURES_MAX: usize = 20;
/// The longest user name a sign-in is checked for; longer ones are refused at once.
const USER_NAME_BYTES_MAX: usize = 256;
/// Keys the throttle remembers at most; the oldest are forgotten first.
const THROTTLE_KEYS_MAX: usize = 100_000;

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_sha256: String,
    pub csrf_token: String,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// The browser session, for pages (None for an API token).
    pub session: Option<Session>,
}

impl Caller {
    pub fn user(&self) -> &str {
        self.actor.user.as_str()
    }

    /// The session's CSRF token, for the forms of a page.
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |session| session.csrf_token.as_str())
    }

    /// Refuses a state-changing form that does not carry this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), ServerError> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        if constant_time_eq(session.csrf_token.as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(ServerError::forbidden(
                "the form's security token does not match your session (the page may be from an earlier session): reload the page and submit it again",
            ))
        }
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The value of one cookie of a request.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_in(&parts.headers, name)
}

/// The value of the cookie `name` among a request's headers.
pub fn cookie_in<'a>(headers: &'a header::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn text(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&chrono::Utc))
}

/// Why a request has no caller.
enum Missing {
    /// No credential at all.
    None,
    /// A credential that is not (or no longer) valid, with what to do.
    Invalid(String),
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let state = state.clone();
        let api = parts.uri.path().starts_with("/api/");
        let outcome = if api {
            token_caller(parts, &state).await
        } else {
            session_caller(parts, &state).await
        };
        match outcome {
            Ok(caller) => Ok(caller),
            Err(Err(error)) => Err(if api {
                super::error::ApiError(error).into_response()
            } else {
                error.into_response()
            }),
            Err(Ok(missing)) if api => {
                let message = match missing {
                    Missing::None => "this API needs a token: send `Authorization: Bearer TOKEN` (create one with `closebook token create`)".to_owned(),
                    Missing::Invalid(message) => message,
                };
                Err((StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": message }))).into_response())
            }
            Err(Ok(missing)) => {
                let next = parts.uri.path_and_query().map_or("/", |path| path.as_str()).to_owned();
                let mut location = format!("/login?next={}", percent_encode(&next));
                if let Missing::Invalid(message) = missing {
                    location.push_str(&format!("&notice={}", percent_encode(&message)));
                }
                let mut response = Redirect::to(&location).into_response();
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, clear_session_cookie());
                Err(response)
            }
        }
    }
}

type CallerOutcome = Result<Caller, Result<Missing, ServerError>>;

async fn token_caller(parts: &Parts, state: &SharedState) -> CallerOutcome {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(Ok(Missing::None));
    };
    let Some(token) = value.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")) else {
        return Err(Ok(Missing::Invalid(
            "the Authorization header must read `Bearer TOKEN`".to_owned(),
        )));
    };
    let hash = credentials::sha256_hex(token.trim());
    let found = state
        .blocking(move |state| {
            state.with_store(|store| {
                let now = text(now());
                let token = store.read(|db| db.api_token_by_hash(&hash))?;
                match token {
                    Some(token) if token.is_usable_at(&now) => {
                        // The last use is written at most once a minute, so API reads rarely write.
                        let stale = token.last_used_at.as_deref().and_then(parse_time).is_none_or(|last| {
                            parse_time(&now).is_some_and(|now| (now - last).num_seconds() >= SESSION_TOUCH_SECONDS)
                        });
                        if stale {
                            store.write(|db| db.touch_api_token(token.id, &now))?;
                        }
                        Ok(Some(token.user))
                    }
                    _ => Ok(None),
                }
            })
        })
        .await
        .map_err(Err)?;
    match found {
        Some(user) => Ok(Caller {
            actor: Actor {
                user: UserId::new(user),
                method: IdentityMethod::Token,
            },
            session: None,
        }),
        None => Err(Ok(Missing::Invalid(
            "this API token is unknown, expired or revoked: create a new one with `closebook token create`".to_owned(),
        ))),
    }
}

async fn session_caller(parts: &Parts, state: &SharedState) -> CallerOutcome {
    let Some(id) = cookie(parts, SESSION_COOKIE).map(str::to_owned) else {
        return Err(Ok(Missing::None));
    };
    let id_sha256 = credentials::sha256_hex(&id);
    let found = state
        .blocking(move |state| {
            state.with_store(|store| {
                let Some(session) = store.read(|db| db.web_session(&id_sha256))? else {
                    return Ok(Err(
                        "you were signed out (or the session ended); sign in again".to_owned()
                    ));
                };
                let now = now();
                let (Some(created), Some(seen)) = (parse_time(&session.created_at), parse_time(&session.last_seen_at))
                else {
                    return Ok(Err("the session could not be read; sign in again".to_owned()));
                };
                let expired = if now - seen > state.config.session_idle {
                    Some("your session ended after a while without activity; sign in again")
                } else if now - created > state.config.session_max {
                    Some("your session reached its longest allowed length; sign in again")
                } else {
                    None
                };
                if let Some(reason) = expired {
                    store.write(|db| db.delete_web_session(&id_sha256))?;
                    return Ok(Err(reason.to_owned()));
                }
                if (now - seen).num_seconds() >= SESSION_TOUCH_SECONDS {
                    store.write(|db| db.touch_web_session(&id_sha256, &text(now)))?;
                }
                Ok(Ok((session, id_sha256)))
            })
        })
        .await
        .map_err(Err)?;
    match found {
        Ok((session, id_sha256)) => Ok(Caller {
            actor: Actor {
                user: UserId::new(session.user),
                method: IdentityMethod::Password,
            },
            session: Some(Session {
                id_sha256,
                csrf_token: session.csrf_token,
            }),
        }),
        Err(reason) => Err(Ok(Missing::Invalid(reason))),
    }
}

/// The cookie that starts a session.
pub fn session_cookie(id: &str, max_age: chrono::Duration, secure: bool) -> header::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    header::HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.num_seconds()
    ))
    .expect("a hex session id makes a valid header")
}

/// The address a request comes from: the connection's peer, unless the peer is a trusted
/// reverse proxy; then the rightmost address of `X-Forwarded-For` that is not itself a trusted
/// proxy (each proxy appends the address it was reached from, so the entries left of the first
/// untrusted one may be forged by the client). A header that cannot be read leaves the peer.
pub fn client_address(trusted: &[IpAddr], peer: IpAddr, headers: &header::HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(value.split(',').map(str::trim));
    }
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) if trusted.contains(&address) => {}
            Ok(address) => return address,
            Err(_) => return peer,
        }
    }
    peer
}

/// The cookie of the sign-in form's token (login CSRF): only the sign-in path sees it, for an
/// hour, and a cross-site form never sends it (`SameSite=Strict`), so a sign-in forged from
/// another site (to sign the victim in as the attacker) is refused.
pub const LOGIN_COOKIE: &str = "closebook_login";
const LOGIN_TOKEN_SECONDS: i64 = 3600;

/// A fresh sign-in form token and the cookie that carries it.
pub fn login_token(secure: bool) -> anyhow::Result<(String, header::HeaderValue)> {
    let token = credentials::random_hex(SESSION_ID_BYTES)?;
    let secure = if secure { "; Secure" } else { "" };
    let cookie = header::HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={LOGIN_TOKEN_SECONDS}{secure}"
    ))?;
    Ok((token, cookie))
}

/// Whether a sign-in form's token matches the cookie the form was served with.
pub fn login_token_matches(headers: &header::HeaderMap, given: &str) -> bool {
    cookie_in(headers, LOGIN_COOKIE)
        .is_some_and(|expected| !expected.is_empty() && constant_time_eq(expected.as_bytes(), given.as_bytes()))
}

pub fn clear_session_cookie() -> header::HeaderValue {
    header::HeaderValue::from_static("closebook_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Failed sign-ins per user and per address in a sliding window.
#[derive(Default)]
pub struct Throttle {
    failures: HashMap<String, VecDeque<Instant>>,
}

impl Throttle {
    /// When `key` may try again, if it has `max` failures in the window.
    fn retry_after(&mut self, key: &str, max: usize, now: Instant) -> Option<Duration> {
        let failures = self.failures.get_mut(key)?;
        while failures
            .front()
            .is_some_and(|first| now.duration_since(*first) >= THROTTLE_WINDOW)
        {
            failures.pop_front();
        }
        if failures.len() < max {
            return None;
        }
        failures
            .front()
            .map(|first| THROTTLE_WINDOW.saturating_sub(now.duration_since(*first)))
    }

    fn record(&mut self, key: String, now: Instant) {
        if self.failures.len() >= THROTTLE_KEYS_MAX && !self.failures.contains_key(&key) {
            // Forget keys with nothing in the window, then (under a flood) everything.
            self.failures.retain(|_, failures| {
                failures
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < THROTTLE_WINDOW)
            });
            if self.failures.len() >= THROTTLE_KEYS_MAX {
                self.failures.clear();
            }
        }
        self.failures.entry(key).or_default().push_back(now);
    }

    fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    /// Takes back the failure counted last for `key` (the sign-in succeeded).
    fn forgive_last(&mut self, key: &str) {
        if let Some(failures) = self.failures.get_mut(key) {
            failures.pop_back();
        }
    }
}

/// A new session: its id (for the cookie) and what is stored.
pub struct NewSession {
    pub id: String,
}

/// Signs a user in with a password: throttled, audited, and answered with the same message
/// whether the user or the password was wrong.
pub fn sign_in(state: &super::AppState, user: &str, password: &str, address: IpAddr) -> anyhow::Result<NewSession> {
    if user.len() > USER_NAME_BYTES_MAX {
        return Err(SignInRefused::Wrong.into());
    }
    let user_key = format!("user:{user}");
    let address_key = format!("address:{address}");
    {
        // The failure is counted before the password is checked, so that sign-ins arriving
        // together cannot all pass the limit; a success takes its count back.
        let mut throttle = state.throttle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let wait = throttle
            .retry_after(&user_key, USER_FAILURES_MAX, now)
            .or_else(|| throttle.retry_after(&address_key, ADDRESS_FAILURES_MAX, now));
        if let Some(wait) = wait {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            return Err(SignInRefused::Throttled { minutes }.into());
        }
        throttle.record(user_key.clone(), now);
        throttle.record(address_key.clone(), now);
    }
    let mut store = Store::open(&state.config.db)?;
    let (policy, hash) = store.read(|db| Ok((db.access_policy()?, db.password_hash(user)?)))?;
    let active = policy.require_active(user).is_ok();
    // A user without a password is checked against a fixed hash, so the answer takes as long.
    let matches = match &hash {
        Some(hash) => credentials::verify_password(password, hash),
        None => {
            let _ = credentials::verify_password(password, dummy_hash());
            false
        }
    };
    let declared = policy.users.contains_key(user);
    if !(matches && active) {
        if declared {
            let actor = Actor::from(user);
            let reason = if !matches { "wrong password" } else { "user blocked" };
            store.write(|db| {
                db.append_audit(
                    &actor,
                    "user.sign-in.refused",
                    None,
                    &json!({ "address": address.to_string(), "reason": reason }),
                )
            })?;
        }
        return Err(SignInRefused::Wrong.into());
    }
    {
        let mut throttle = state.throttle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        throttle.clear(&user_key);
        throttle.forgive_last(&address_key);
    }
    let id = credentials::random_hex(SESSION_ID_BYTES)?;
    let csrf = credentials::random_hex(SESSION_ID_BYTES)?;
    let now = now();
    let actor = Actor {
        user: UserId::new(user.to_owned()),
        method: IdentityMethod::Password,
    };
    store.write(|db| {
        db.delete_expired_web_sessions(
            &text(now - state.config.session_idle),
            &text(now - state.config.session_max),
        )?;
        db.insert_web_session(&credentials::sha256_hex(&id), user, &csrf, &text(now))?;
        db.append_audit(&actor, "user.sign-in", None, &json!({ "address": address.to_string() }))
    })?;
    Ok(NewSession { id })
}

/// Ends a session.
pub fn sign_out(state: &super::AppState, caller: &Caller) -> anyhow::Result<()> {
    let Some(session) = &caller.session else {
        return Ok(());
    };
    let mut store = Store::open(&state.config.db)?;
    store.write(|db| {
        db.delete_web_session(&session.id_sha256)?;
        db.append_audit(&caller.actor, "user.sign-out", None, &json!({}))
    })?;
    Ok(())
}

/// An argon2id hash of a random password nobody knows, checked when the user has none.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        credentials::random_hex(32)
            .and_then(|password| credentials::hash_password(&password))
            .unwrap_or_default()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SignInRefused {
    #[error("the user name or password is wrong")]
    Wrong,
    #[error(
        "too many failed sign-ins: try again in {minutes} minute(s); an administrator who restarts the server clears the count"
    )]
    Throttled { minutes: u64 },
}

/// Percent-encodes a query value.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Where to go after signing in: only a path on this server, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        // Visible ASCII only: a browser drops tabs and newlines from a URL, so `/\t/evil` would
        // become `//evil`, another site.
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && next.bytes().all(|byte| (0x21..=0x7e).contains(&byte) && byte != b'\\') =>
        {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_is_taken_from_trusted_proxies_only() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let headers = |values: &[&str]| {
            let mut headers = header::HeaderMap::new();
            for value in values {
                headers.append("x-forwarded-for", header::HeaderValue::from_str(value).unwrap());
            }
            headers
        };
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        // Without a trusted proxy the header is anyone's to forge.
        assert_eq!(client_address(&[], proxy, &headers(&["203.0.113.7"])), proxy);
        assert_eq!(client_address(&[proxy], proxy, &headers(&["203.0.113.7"])), client);
        // The client's own forged entries are left of the one the proxy appended.
        assert_eq!(
            client_address(&[proxy], proxy, &headers(&["198.51.100.1, 203.0.113.7"])),
            client
        );
        // Two trusted proxies in a row, the header split over two lines.
        let inner: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(
            client_address(&[proxy, inner], proxy, &headers(&["203.0.113.7", "10.0.0.3"])),
            client
        );
        // Nothing usable: the peer.
        assert_eq!(client_address(&[proxy], proxy, &headers(&["not an address"])), proxy);
        assert_eq!(client_address(&[proxy], proxy, &headers(&[])), proxy);
    }

    #[test]
    fn the_throttle_refuses_after_the_limit_and_forgets_after_the_window() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..USER_FAILURES_MAX {
            assert!(throttle.retry_after("user:bob", USER_FAILURES_MAX, start).is_none());
            throttle.record("user:bob".to_owned(), start);
        }
        let wait = throttle.retry_after("user:bob", USER_FAILURES_MAX, start).unwrap();
        assert_eq!(wait, THROTTLE_WINDOW);
        assert!(throttle.retry_after("user:alice", USER_FAILURES_MAX, start).is_none());
        assert!(
            throttle
                .retry_after("user:bob", USER_FAILURES_MAX, start + THROTTLE_WINDOW)
                .is_none()
        );
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/periods?entity=A")), "/periods?entity=A");
        for outside in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "board",
            "/\t/evil.example",
            "/\n/evil.example",
            "/é",
        ] {
            assert_eq!(safe_next(Some(outside)), "/", "{outside}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
