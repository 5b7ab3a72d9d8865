//! The audit trail (filters and paging) and the administration page (users, roles, tokens).

use super::api::AuditQuery;
use super::auth::{self, Caller};
use super::pages::{layout, nonblank};
use super::{ServerError, SharedState};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use closebook_ledger::access::Permission;
use closebook_ledger::ids::EntityId;
use closebook_ledger::store::AuditRecord;
use maud::html;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/audit", get(audit_page))
        .route("/admin", get(admin_page))
}

/// Audit records on one page of the audit trail.
const AUDIT_PAGE_ROWS: usize = 100;

async fn audit_page(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Html<String>, ServerError> {
    let entity = nonblank(&query.entity).map(|entity| EntityId::new(entity.to_owned()));
    let (user, action, before) = (
        nonblank(&query.user).map(str::to_owned),
        nonblank(&query.action).map(str::to_owned),
        query.before,
    );
    let records: Vec<AuditRecord> = state
        .with_ledger_to_read(&caller.actor, move |ledger, _| {
            Ok(ledger.audit_trail(
                entity.as_ref(),
                user.as_deref(),
                action.as_deref(),
                before,
                AUDIT_PAGE_ROWS,
            )?)
        })
        .await?;
    let older = records
        .last()
        .filter(|_| records.len() == AUDIT_PAGE_ROWS)
        .map(|record| record.id);
    let keep = |name: &str, value: &Option<String>| {
        nonblank(value).map_or(String::new(), |value| {
            format!("&{name}={}", auth::percent_encode(value))
        })
    };
    let filters = format!(
        "{}{}{}",
        keep("entity", &query.entity),
        keep("user", &query.user),
        keep("action", &query.action)
    );
    let body = html! {
        form method="get" action="/audit" {
            fieldset {
                legend { "Filter" }
                label { "Entity " input name="entity" value=(query.entity.as_deref().unwrap_or("")); } " "
                label { "User " input name="user" value=(query.user.as_deref().unwrap_or("")); } " "
                label { "Action " input name="action" value=(query.action.as_deref().unwrap_or("")) placeholder="e.g. journal.post"; } " "
                button type="submit" { "Apply" }
            }
        }
        table #audit {
            thead { tr { th { "#" } th { "When" } th { "User" } th { "Identity" } th { "Action" } th { "Entity" } th { "Details" } } }
            tbody {
                @for record in &records {
                    tr {
                        td.num { (record.id) }
                        td { (record.at) }
                        td { (record.user) }
                        td { (record.identity.as_deref().unwrap_or("")) @if record.identity.as_deref() == Some("declared") { " (unverified)" } }
                        td { (record.action) }
                        td { (record.entity.as_deref().unwrap_or("")) }
                        td { code { (record.details.to_string()) } }
                    }
                }
            }
        }
        p {
            @if before.is_some() { a href=(format!("/audit?{}", filters.trim_start_matches('&'))) { "Newest" } " " }
            @if let Some(older) = older { a href=(format!("/audit?before={older}{filters}")) { "Older →" } }
        }
    };
    Ok(layout("Audit trail", Some(&caller), body))
}

async fn admin_page(State(state): State<SharedState>, caller: Caller) -> Result<Html<String>, ServerError> {
    let (policy, passwords, tokens) = state
        .with_ledger_to_read(&caller.actor, |ledger, _| {
            ledger.authorize(Permission::UsersAdmin, None)?;
            let tokens = ledger.api_tokens(None)?;
            let passwords = ledger.read(|db| db.password_users())?;
            Ok((ledger.policy().cloned().unwrap_or_default(), passwords, tokens))
        })
        .await?;
    let body = html! {
        h2 { "Users" }
        table #users {
            thead { tr { th { "User" } th { "Operating-system account" } th { "Groups" } th { "Blocked" } th { "Password set" } } }
            tbody {
                @for (user, access) in &policy.users {
                    tr {
                        td { (user) @if policy.administrator.as_deref() == Some(user.as_str()) { " (administrator)" } }
                        td { (access.os_user.as_deref().unwrap_or("")) }
                        td { (access.groups.iter().cloned().collect::<Vec<_>>().join(", ")) }
                        td { @if access.blocked { "blocked" } }
                        td { (passwords.iter().find(|(id, _)| id == user).map_or("no", |(_, at)| at.as_str())) }
                    }
                }
            }
        }
        h2 { "Roles" }
        table {
            thead { tr { th { "Role" } th { "Permissions" } } }
            tbody { @for (role, permissions) in &policy.roles {
                tr { td { (role) } td { (permissions.iter().map(|permission| permission.as_str()).collect::<Vec<_>>().join(", ")) } }
            } }
        }
        h2 { "API tokens" }
        table #tokens {
            thead { tr { th { "Id" } th { "User" } th { "Name" } th { "Created" } th { "Expires" } th { "Last used" } th { "Revoked" } } }
            tbody { @for token in &tokens {
                tr {
                    td.num { (token.id) } td { (token.user) } td { (token.name) } td { (token.created_at) } td { (token.expires_at) }
                    td { (token.last_used_at.as_deref().unwrap_or("never")) } td { (token.revoked_at.as_deref().unwrap_or("")) }
                }
            } }
        }
        p.muted { "Users, roles and grants change with " code { "closebook setup apply" } "; passwords with " code { "closebook user set-password" } "; tokens with " code { "closebook token create|revoke" } "." }
    };
    Ok(layout("Administration", Some(&caller), body))
}
