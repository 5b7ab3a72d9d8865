//! The OpenAPI 3.1 document of the JSON API, served at `/api/openapi.json`. Each operation is
//! written here once; a test checks that the operations are exactly the routes `api` registers,
//! so the document cannot drift from what the server answers.

use axum::Json;
use serde_json::{Value, json};

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Query parameters: (name, required, description).
    pub query: &'static [(&'static str, bool, &'static str)],
    /// The JSON request body's properties: (name, type, required, description); `None` when the
    /// operation takes no JSON body.
    pub body: Option<&'static [(&'static str, &'static str, bool, &'static str)]>,
    /// The permission it needs, as the refusal names it.
    pub permission: &'static str,
}

pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/api/v1/me",
        summary: "Who the token acts as, and the entities they may read",
        query: &[],
        body: None,
        permission: "any user",
    },
    Operation {
        method: "get",
        path: "/api/v1/reports/{kind}",
        summary: "A report: kind is trial-balance, balance-sheet or income-statement",
        query: &[
            ("entity", true, "The entity"),
            ("period", true, "The period, e.g. 2026-03"),
        ],
        body: None,
        permission: "ledger.read",
    },
    Operation {
        method: "get",
        path: "/api/v1/periods",
        summary: "An entity's periods with their status and module access",
        query: &[("entity", true, "The entity")],
        body: None,
        permission: "ledger.read",
    },
    Operation {
        method: "post",
        path: "/api/v1/periods/status",
        summary: "Set the status of one period in several entities (all or nothing)",
        query: &[],
        body: Some(&[
            ("entities", "array", true, "Entity ids"),
            ("period", "string", true, "The period"),
            ("status", "string", true, "open, on-hold or permanently-closed"),
        ]),
        permission: "period.status",
    },
    Operation {
        method: "post",
        path: "/api/v1/periods/access",
        summary: "Set who may post a module's entries in a period",
        query: &[],
        body: Some(&[
            ("entities", "array", true, "Entity ids"),
            ("period", "string", true, "The period"),
            (
                "module",
                "string",
                true,
                "ledger, receivables, payables, inventory or close",
            ),
            ("level", "string", true, "all, none or group:GROUP"),
        ]),
        permission: "period.access",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/import",
        summary: "Import a journal file (the request body, CSV or JSON) as drafts or posted; any refusal and nothing is written",
        query: &[
            ("entity", true, "The entity"),
            ("format", false, "csv (default) or json"),
            ("module", false, "The source module (default ledger)"),
            ("post", false, "true to post the entries (default: drafts)"),
            (
                "source",
                false,
                "The name recorded as the entries' source (default upload)",
            ),
            (
                "delimiter",
                false,
                "A CSV file's column delimiter: one character, or tab",
            ),
        ],
        body: None,
        permission: "journal.import (and journal.post with post=true)",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/post",
        summary: "Post draft entries",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entries", "array", true, "The drafts' entry keys"),
        ]),
        permission: "journal.post",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/submit",
        summary: "Submit drafts that need approval",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entries", "array", true, "The drafts' entry keys"),
        ]),
        permission: "journal.import",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/approve",
        summary: "Approve submitted drafts prepared by someone else",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entries", "array", true, "The submitted drafts' entry keys"),
            ("note", "string", false, "A note kept with the approval"),
        ]),
        permission: "journal.approve",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/reject",
        summary: "Reject a submitted draft prepared by someone else",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entry", "string", true, "The submitted draft's entry key"),
            ("reason", "string", true, "What the preparer must fix"),
        ]),
        permission: "journal.approve",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/discard",
        summary: "Discard a draft, keeping its content in the audit trail",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entry", "string", true, "The draft's entry key"),
            ("reason", "string", true, "Why it is not posted"),
        ]),
        permission: "journal.import",
    },
    Operation {
        method: "post",
        path: "/api/v1/journals/reverse",
        summary: "Reverse a posted entry",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("entry", "string", true, "The posted entry's key"),
            (
                "date",
                "string",
                true,
                "The reversal's date, YYYY-MM-DD, in an open period",
            ),
            (
                "period",
                "string",
                false,
                "The period, when the date is in more than one",
            ),
        ]),
        permission: "journal.reverse",
    },
    Operation {
        method: "post",
        path: "/api/v1/settlements",
        summary: "Settle posted lines that net to zero",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("lines", "array", true, "Posted line ids"),
        ]),
        permission: "settle",
    },
    Operation {
        method: "get",
        path: "/api/v1/closes",
        summary: "The closes this server shows",
        query: &[],
        body: None,
        permission: "any user",
    },
    Operation {
        method: "get",
        path: "/api/v1/closes/{close}/{period}/status",
        summary: "The close's board: every task of the entities the caller may read",
        query: &[],
        body: None,
        permission: "ledger.read",
    },
    Operation {
        method: "get",
        path: "/api/v1/closes/{close}/{period}/tasks/{entity}/{task}",
        summary: "One task as its reviewer sees it: dependencies, step log, findings with their explanations, entries, history",
        query: &[],
        body: None,
        permission: "ledger.read",
    },
    Operation {
        method: "post",
        path: "/api/v1/closes/{close}/{period}/signoff",
        summary: "Sign off a task as its preparer, or review it (a review of a step's proposal posts it)",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("task", "string", true, "The task id"),
            ("review", "boolean", false, "Sign off as the reviewer (default false)"),
            ("note", "string", false, "A note kept with the sign-off"),
        ]),
        permission: "close.prepare or close.review",
    },
    Operation {
        method: "post",
        path: "/api/v1/closes/{close}/{period}/explain",
        summary: "Explain a task's finding (a flux variance) for the figures of its last run; a sign-off waits until every finding that needs one is explained",
        query: &[],
        body: Some(&[
            ("entity", "string", true, "The entity"),
            ("task", "string", true, "The task id"),
            ("account", "string", true, "The finding's account"),
            (
                "dimensions",
                "array",
                false,
                "NAME=VALUE pairs picking the finding of these dimension values",
            ),
            (
                "measure",
                "string",
                false,
                "The finding's measure, when the account has several",
            ),
            ("text", "string", true, "Why the figure moved"),
        ]),
        permission: "close.prepare",
    },
    Operation {
        method: "post",
        path: "/api/v1/closes/{close}/{period}/run",
        summary: "Run every ready task of the close; boards follow the progress live",
        query: &[],
        body: Some(&[
            (
                "entities",
                "array",
                false,
                "Only these entities (default: all of the close)",
            ),
            ("rerun", "string", false, "Rerun this task and what depends on it"),
        ]),
        permission: "close.run",
    },
    Operation {
        method: "get",
        path: "/api/v1/audit",
        summary: "The audit trail, newest first",
        query: &[
            ("entity", false, "Only records about this entity"),
            ("user", false, "Only records by this user"),
            ("action", false, "Only this action, e.g. journal.post"),
            ("before", false, "Records older than this id (paging)"),
            ("limit", false, "At most this many (default 100, at most 1000)"),
        ],
        body: None,
        permission: "audit.read",
    },
    Operation {
        method: "post",
        path: "/api/v1/cli",
        summary: "Run a command of the remote command line (closebook --server): report, period, journal, settle, year-end reverse|history, close run|signoff|explain|status|show|history; answers what it printed (stdout) and its error",
        query: &[],
        body: Some(&[(
            "args",
            "array",
            true,
            "The arguments after `closebook`, without --db, --as and --server; --config names a close this server shows",
        )]),
        permission: "what the command needs",
    },
];

/// The path parameters of a path template: `{close}` gives `close`.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .collect()
}

fn operation_object(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_parameters(operation.path)
        .into_iter()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    parameters.extend(operation.query.iter().map(|(name, required, description)| {
        json!({ "name": name, "in": "query", "required": required, "description": description, "schema": { "type": "string" } })
    }));
    let mut object = json!({
        "summary": operation.summary,
        "description": format!("Needs {}.", operation.permission),
        "parameters": parameters,
        "security": [{ "token": [] }],
        "responses": {
            "200": { "description": "Done", "content": { "application/json": { "schema": {} } } },
            "401": { "description": "No token, or an unknown, expired or revoked one", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "403": { "description": "Not permitted: the message names the permission missing", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "404": { "description": "No such close, report, entity or period", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "422": { "description": "Refused by the ledger's rules: nothing was written", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
    });
    if let Some(properties) = operation.body {
        let required: Vec<&str> = properties
            .iter()
            .filter(|(_, _, required, _)| *required)
            .map(|(name, ..)| *name)
            .collect();
        let schema_properties: serde_json::Map<String, Value> = properties
            .iter()
            .map(|(name, kind, _, description)| {
                let mut schema = json!({ "type": kind, "description": description });
                if *kind == "array" {
                    schema["items"] = json!({ "type": if *name == "lines" { "integer" } else { "string" } });
                }
                ((*name).to_owned(), schema)
            })
            .collect();
        object["requestBody"] = json!({
            "required": !required.is_empty(),
            "content": { "application/json": { "schema": { "type": "object", "properties": schema_properties, "required": required } } }
        });
    } else if operation.path == "/api/v1/journals/import" {
        object["requestBody"] = json!({
            "required": true,
            "content": {
                "text/csv": { "schema": { "type": "string" } },
                "application/json": { "schema": {} }
            }
        });
    }
    object
}

/// The whole document.
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for operation in OPERATIONS {
        let entry = paths.entry(operation.path.to_owned()).or_insert_with(|| json!({}));
        entry[operation.method] = operation_object(operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "closebook close workspace API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every call acts as the user whose API token it presents (closebook token create), through the ledger's permission check."
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": { "type": "string", "description": "What was refused and how to fix it" },
                        "refusals": { "type": "array", "items": { "type": "string" }, "description": "Per-entry refusals of an import" }
                    },
                    "required": ["error"]
                }
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_lists_exactly_the_routes_the_api_serves() {
        let served: BTreeSet<(&str, &str)> = super::super::api::api_routes().registered.into_iter().collect();
        let documented: BTreeSet<(&str, &str)> = OPERATIONS
            .iter()
            .map(|operation| (operation.method, operation.path))
            .collect();
        assert_eq!(
            served.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(&str, &str)>::new(),
            "served but not documented"
        );
        assert_eq!(
            documented.difference(&served).collect::<Vec<_>>(),
            Vec::<&(&str, &str)>::new(),
            "documented but not served"
        );
        let document = openapi();
        for operation in OPERATIONS {
            let object = &document["paths"][operation.path][operation.method];
            let parameters = object["parameters"].as_array().unwrap();
            for name in path_parameters(operation.path) {
                assert!(
                    parameters
                        .iter()
                        .any(|parameter| parameter["name"] == name && parameter["in"] == "path"),
                    "{} {} does not declare path parameter {name}",
                    operation.method,
                    operation.path
                );
            }
        }
    }
}
