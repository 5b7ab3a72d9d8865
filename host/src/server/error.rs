//! Errors as responses: the refusal's own message (it names what was wrong and how to fix it)
//! with the status that fits it, as an escaped page for the browser or JSON for the API.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use closebook_ledger::LedgerError;
use closebook_ledger::access::{AccessError, Permission};
use closebook_ledger::journal::EntryRefusal;

#[derive(Debug)]
pub struct ServerError {
    pub status: StatusCode,
    pub message: String,
    /// Per-entry refusals of an import, listed one per line on the page and in the JSON.
    pub refusals: Vec<String>,
    /// The whole message as the command line prints it, when `message` shortens it.
    pub detail: Option<String>,
}

impl ServerError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            refusals: Vec::new(),
            detail: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The refusal as a client may read it: the ledger file's path on the server is named only
    /// in the server's log, never to a browser or API client. A failure of the server itself
    /// (5xx) is logged whole first, for its administrator. (Paths the client sent, such as an
    /// import's file name, are the client's own and stay.)
    pub fn for_client(mut self, db: &std::path::Path) -> Self {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.detail.as_deref().unwrap_or(&self.message), "request failed");
        }
        let file = db.display().to_string();
        // Messages name a PostgreSQL ledger by its URL without the password.
        let shown = closebook_ledger::store::postgres::redacted(&file);
        let scrub = |text: &str| {
            text.replace(&format!("ledger {file}"), "the ledger")
                .replace(&format!("ledger {shown}"), "the ledger")
                .replace(&file, "the ledger file")
                .replace(&shown, "the ledger file")
        };
        self.message = scrub(&self.message);
        self.detail = self.detail.as_deref().map(scrub);
        self.refusals = self.refusals.iter().map(|refusal| scrub(refusal)).collect();
        self
    }
}

/// The status a refusal deserves: 403 for permissions and identities, 404 for what does not
/// exist, 409 when the ledger is busy, 422 for what the request asked that the ledger refuses,
/// 500 for the ledger file itself.
fn status_of(error: &anyhow::Error) -> StatusCode {
    for cause in error.chain() {
        if let Some(refused) = cause.downcast_ref::<super::auth::SignInRefused>() {
            return match refused {
                super::auth::SignInRefused::Wrong => StatusCode::UNAUTHORIZED,
                super::auth::SignInRefused::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
        }
        if let Some(access) = cause.downcast_ref::<AccessError>() {
            return match access {
                AccessError::NotPermitted {
                    permission: Permission::LedgerRead,
                    ..
                } => StatusCode::NOT_FOUND,
                _ => StatusCode::FORBIDDEN,
            };
        }
        if let Some(ledger) = cause.downcast_ref::<LedgerError>() {
            return match ledger {
                // An entity the user may not read is as good as absent to them: the same answer
                // whether it exists or not.
                LedgerError::Access(AccessError::NotPermitted {
                    permission: Permission::LedgerRead,
                    ..
                }) => StatusCode::NOT_FOUND,
                LedgerError::Access(_) => StatusCode::FORBIDDEN,
                LedgerError::NotFound { .. } => StatusCode::NOT_FOUND,
                LedgerError::Busy => StatusCode::CONFLICT,
                LedgerError::Open { .. }
                | LedgerError::Sqlite(_)
                | LedgerError::Damaged { .. }
                | LedgerError::Corrupt { .. }
                | LedgerError::ReadOnly
                | LedgerError::Full
                | LedgerError::NewerSchema { .. }
                | LedgerError::OlderSchemaReadOnly { .. }
                | LedgerError::MissingLedger { .. }
                | LedgerError::EmptyLedger { .. }
                | LedgerError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
        }
    }
    StatusCode::UNPROCESSABLE_ENTITY
}

fn refusals_of(error: &anyhow::Error) -> Vec<String> {
    error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<LedgerError>() {
            Some(LedgerError::Refused(refusals)) => Some(refusals.iter().map(EntryRefusal::to_string).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

impl From<anyhow::Error> for ServerError {
    fn from(error: anyhow::Error) -> Self {
        let refusals = refusals_of(&error);
        let message = if refusals.is_empty() {
            format!("{error:#}")
        } else {
            // The refusals are listed one by one; the message keeps only the context.
            let context: Vec<String> = error
                .chain()
                .take_while(|cause| cause.downcast_ref::<LedgerError>().is_none())
                .map(ToString::to_string)
                .collect();
            let count = refusals.len();
            let mut message = context.join(": ");
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&format!(
                "{count} {} refused; nothing was written",
                if count == 1 { "entry was" } else { "entries were" }
            ));
            message
        };
        let full = format!("{error:#}");
        Self {
            status: status_of(&error),
            detail: (full != message).then_some(full),
            message,
            refusals,
        }
    }
}

impl From<closebook_ledger::LedgerError> for ServerError {
    fn from(error: closebook_ledger::LedgerError) -> Self {
        Self::from(anyhow::Error::from(error))
    }
}

/// The browser's view of an error: a page saying what was refused.
/// A busy ledger (another writer holds it past the wait) is answered with when to try again.
const BUSY_RETRY_AFTER_SECONDS: &str = "2";

fn with_retry_after(status: StatusCode, mut response: Response) -> Response {
    if status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(BUSY_RETRY_AFTER_SECONDS),
        );
    }
    response
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let page = super::pages::error_page(&self);
        with_retry_after(self.status, (self.status, page).into_response())
    }
}

/// An error of the JSON API: `{"error": "...", "refusals": [...]}`.
#[derive(Debug)]
pub struct ApiError(pub ServerError);

impl<E: Into<ServerError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.0.message });
        if !self.0.refusals.is_empty() {
            body["refusals"] = serde_json::json!(self.0.refusals);
        }
        if let Some(detail) = &self.0.detail {
            body["detail"] = serde_json::json!(detail);
        }
        with_retry_after(self.0.status, (self.0.status, Json(body)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_never_told_where_the_ledger_file_is() {
        let db = std::path::Path::new("/srv/closebook/acme.db");
        let error = anyhow::anyhow!("user mallory is blocked")
            .context("opening ledger /srv/closebook/acme.db")
            .context("checking /srv/closebook/acme.db");
        let shown = ServerError::from(error).for_client(db);
        assert_eq!(
            shown.message,
            "checking the ledger file: opening the ledger: user mallory is blocked"
        );
        assert!(!format!("{shown:?}").contains("/srv"), "{shown:?}");
        // A relative path too.
        let shown = ServerError::bad_request("opening ledger acme.db: no such table")
            .for_client(std::path::Path::new("acme.db"));
        assert_eq!(shown.message, "opening the ledger: no such table");
    }
}
