//! The JSON API (`/api/v1/…`): every report and the write commands, for the command line's
//! remote mode and for automation. Callers present an API token (`Authorization: Bearer`);
//! errors are `{"error": "...", "refusals": [...]}` with the status of the refusal. The
//! document at `/api/openapi.json` lists every route registered here (a test checks both).

use super::auth::Caller;
use super::close_pages::load_board;
use super::error::ApiError;
use super::reports::{self, Computed, ReportKind, ReportQuery};
use super::{ServerError, SharedState};
use crate::close::review::readable_task_view;
use crate::close::{ShownStatus, TaskOutcome, signoff};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::handler::Handler;
use axum::routing::{get, post};
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::{EntityId, EntryKey, PeriodName};
use closebook_ledger::import::{CsvJournalReader, read_json_journal};
use closebook_ledger::period::{Module, ModuleAccess};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest request body: a journal upload of about a million lines.
pub const UPLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Audit records one call returns at most.
const AUDIT_ROWS_MAX: usize = 1_000;

/// The API's routes, with the (method, path) of each, so the OpenAPI document can be checked
/// against what is really served.
pub struct ApiRoutes {
    pub router: Router<SharedState>,
    pub registered: Vec<(&'static str, &'static str)>,
}

impl ApiRoutes {
    fn get<H: Handler<T, SharedState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, get(handler));
        self.registered.push(("get", path));
        self
    }

    fn post<H: Handler<T, SharedState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, post(handler));
        self.registered.push(("post", path));
        self
    }
}

pub fn api_routes() -> ApiRoutes {
    ApiRoutes {
        router: Router::new(),
        registered: Vec::new(),
    }
    .get("/api/v1/me", me)
    .get("/api/v1/reports/{kind}", report)
    .get("/api/v1/periods", periods)
    .post("/api/v1/periods/status", period_status)
    .post("/api/v1/periods/access", period_access)
    .post("/api/v1/journals/import", import_journals)
    .post("/api/v1/journals/post", post_drafts)
    .post("/api/v1/journals/submit", submit_drafts)
    .post("/api/v1/journals/approve", approve_drafts)
    .post("/api/v1/journals/reject", reject_draft)
    .post("/api/v1/journals/discard", discard_draft)
    .post("/api/v1/journals/reverse", reverse)
    .post("/api/v1/settlements", settle)
    .get("/api/v1/closes", closes)
    .get("/api/v1/closes/{close}/{period}/status", close_status)
    .get("/api/v1/closes/{close}/{period}/tasks/{entity}/{task}", close_task)
    .post("/api/v1/closes/{close}/{period}/signoff", close_signoff)
    .post("/api/v1/closes/{close}/{period}/explain", close_explain)
    .post("/api/v1/closes/{close}/{period}/run", close_run)
    .get("/api/v1/audit", audit)
    .post("/api/v1/cli", cli)
}

pub fn routes() -> Router<SharedState> {
    api_routes()
        .router
        .route("/api/openapi.json", get(super::openapi::document))
}

type ApiResult = Result<Json<Value>, ApiError>;

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult {
    Ok(Json(
        serde_json::to_value(value).map_err(|error| ServerError::internal(error.to_string()))?,
    ))
}

async fn me(State(state): State<SharedState>, caller: Caller) -> ApiResult {
    let (user, method, entities) = state
        .with_ledger_to_read(&caller.actor, |ledger, _| {
            Ok((
                ledger.actor().user.to_string(),
                ledger.actor().method.as_str(),
                ledger.readable_entities()?,
            ))
        })
        .await?;
    Ok(Json(json!({ "user": user, "identity": method, "entities": entities })))
}

async fn report(
    State(state): State<SharedState>,
    caller: Caller,
    Path(kind): Path<String>,
    Query(query): Query<ReportQuery>,
) -> ApiResult {
    let kind = ReportKind::parse(&kind)?;
    let (entity, period) = query.scope()?;
    match reports::compute(&state, &caller, kind, entity, period).await? {
        Computed::TrialBalance(trial_balance) => to_json(&trial_balance),
        Computed::Statement(statement) => to_json(&statement),
    }
}

#[derive(Deserialize)]
struct EntityQuery {
    entity: String,
}

async fn periods(State(state): State<SharedState>, caller: Caller, Query(query): Query<EntityQuery>) -> ApiResult {
    let entity = EntityId::new(query.entity);
    let views = state
        .with_ledger_to_read(&caller.actor, move |ledger, _| Ok(ledger.periods(&entity)?))
        .await?;
    to_json(&views)
}

#[derive(Deserialize)]
struct PeriodStatusRequest {
    entities: Vec<String>,
    period: String,
    /// open, on-hold or permanently-closed.
    status: String,
}

fn entity_ids(names: &[String]) -> Result<Vec<EntityId>, ServerError> {
    if names.is_empty() {
        return Err(ServerError::bad_request("name at least one entity in \"entities\""));
    }
    Ok(names.iter().map(|name| EntityId::new(name.clone())).collect())
}

async fn period_status(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<PeriodStatusRequest>,
) -> ApiResult {
    let status = closebook_ledger::period::PeriodStatus::parse(&request.status).ok_or_else(|| {
        ServerError::bad_request(format!(
            "{:?} is not a period status: use open, on-hold or permanently-closed",
            request.status
        ))
    })?;
    let entities = entity_ids(&request.entities)?;
    let period = PeriodName::new(request.period);
    let changes = state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.set_period_status(&entities, &period, status)?)
        })
        .await?;
    to_json(&changes)
}

#[derive(Deserialize)]
struct PeriodAccessRequest {
    entities: Vec<String>,
    period: String,
    /// ledger, receivables, payables, inventory or close.
    module: String,
    /// all, none, or a group id.
    level: String,
}

async fn period_access(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<PeriodAccessRequest>,
) -> ApiResult {
    let module = Module::parse(&request.module).ok_or_else(|| {
        ServerError::bad_request(format!(
            "{:?} is not a module: use ledger, receivables, payables, inventory or close",
            request.module
        ))
    })?;
    let level = ModuleAccess::parse(&request.level).ok_or_else(|| {
        ServerError::bad_request(format!(
            "{:?} is not a module access level: use all, none or group:GROUP",
            request.level
        ))
    })?;
    let entities = entity_ids(&request.entities)?;
    let period = PeriodName::new(request.period);
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.set_module_access(&entities, &period, module, &level)?)
        })
        .await?;
    Ok(Json(
        json!({ "changed": request.entities, "module": request.module, "level": request.level }),
    ))
}

#[derive(Deserialize)]
pub struct ImportQuery {
    pub entity: String,
    /// csv (default) or json.
    pub format: Option<String>,
    pub module: Option<String>,
    pub post: Option<bool>,
    /// The name recorded as the entries' source (default: `upload`).
    pub source: Option<String>,
    /// A CSV file's column delimiter, one character (default `,`).
    pub delimiter: Option<String>,
}

/// The refusal of a request body over the limit, naming it.
pub fn too_large() -> ServerError {
    ServerError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than {} MiB, the server's limit for one request: split the file by period or entity",
            UPLOAD_BYTES_MAX / (1024 * 1024)
        ),
    )
}

async fn import_journals(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ImportQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let body = body.map_err(|rejection| match rejection.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ServerError::bad_request(rejection.body_text()),
    })?;
    let summary = import_body(&state, &caller, query, body).await?;
    to_json(&summary)
}

/// Imports a journal file sent as the request body; shared with the upload page.
pub async fn import_body(
    state: &SharedState,
    caller: &Caller,
    query: ImportQuery,
    body: Bytes,
) -> Result<closebook_ledger::ledger::ImportSummary, ServerError> {
    let module = match query.module.as_deref() {
        None => Module::Ledger,
        Some(text) => Module::parse(text).ok_or_else(|| {
            ServerError::bad_request(format!(
                "{text:?} is not a module: use ledger, receivables, payables, inventory or close"
            ))
        })?,
    };
    let delimiter = match query.delimiter.as_deref() {
        None | Some("") => b',',
        Some("tab") => b'\t',
        Some(text) if text.len() == 1 => text.as_bytes()[0],
        Some(text) => {
            return Err(ServerError::bad_request(format!(
                "{text:?} is not a delimiter: give one character, or tab"
            )));
        }
    };
    let json = match query.format.as_deref() {
        None | Some("csv") => false,
        Some("json") => true,
        Some(other) => {
            return Err(ServerError::bad_request(format!(
                "{other:?} is not a journal format: use csv or json"
            )));
        }
    };
    let entity = EntityId::new(query.entity.clone());
    let post = query.post.unwrap_or(false);
    let source = query.source.unwrap_or_else(|| "upload".to_owned());
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            let summary = if json {
                let text =
                    std::str::from_utf8(&body).map_err(|_| anyhow::anyhow!("{source}: the file is not UTF-8 text"))?;
                let items = read_json_journal(text, &source, module)?;
                ledger.import_journals(&entity, items, post, &source)
            } else {
                let reader = CsvJournalReader::with_delimiter(std::io::Cursor::new(body), &source, module, delimiter)?;
                ledger.import_journals(&entity, reader, post, &source)
            };
            summary
                .map_err(|error| anyhow::Error::from(error).context(format!("importing {source} into entity {entity}")))
        })
        .await
}

#[derive(Deserialize)]
struct PostRequest {
    entity: String,
    /// The draft entries' keys.
    entries: Vec<String>,
}

async fn post_drafts(State(state): State<SharedState>, caller: Caller, Json(request): Json<PostRequest>) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let keys: Vec<EntryKey> = request.entries.into_iter().map(EntryKey::new).collect();
    let summary = state
        .with_ledger(&caller.actor, move |ledger, _| Ok(ledger.post_drafts(&entity, &keys)?))
        .await?;
    to_json(&summary)
}

async fn submit_drafts(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<PostRequest>,
) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let keys: Vec<EntryKey> = request.entries.into_iter().map(EntryKey::new).collect();
    let answer = json!({ "submitted": keys });
    state
        .with_ledger(
            &caller.actor,
            move |ledger, _| Ok(ledger.submit_drafts(&entity, &keys)?),
        )
        .await?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct ApproveRequest {
    entity: String,
    /// The submitted drafts' keys.
    entries: Vec<String>,
    /// A note kept with the approval.
    #[serde(default)]
    note: String,
}

async fn approve_drafts(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<ApproveRequest>,
) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let keys: Vec<EntryKey> = request.entries.into_iter().map(EntryKey::new).collect();
    let answer = json!({ "approved": keys });
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.approve_drafts(&entity, &keys, &request.note)?)
        })
        .await?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct RejectRequest {
    entity: String,
    /// The submitted draft's key.
    entry: String,
    /// What the preparer must fix.
    reason: String,
}

async fn reject_draft(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<RejectRequest>,
) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let key = EntryKey::new(request.entry);
    let answer = json!({ "rejected": key });
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.reject_draft(&entity, &key, &request.reason)?)
        })
        .await?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct DiscardRequest {
    entity: String,
    /// The draft's key.
    entry: String,
    /// Why it is not posted.
    reason: String,
}

async fn discard_draft(
    State(state): State<SharedState>,
    caller: Caller,
    Json(request): Json<DiscardRequest>,
) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let key = EntryKey::new(request.entry);
    let answer = json!({ "discarded": key });
    state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.discard_draft(&entity, &key, &request.reason)?)
        })
        .await?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct ReverseRequest {
    entity: String,
    entry: String,
    /// The reversal's date, YYYY-MM-DD.
    date: chrono::NaiveDate,
    period: Option<String>,
}

async fn reverse(State(state): State<SharedState>, caller: Caller, Json(request): Json<ReverseRequest>) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let key = EntryKey::new(request.entry);
    let period = request.period.map(PeriodName::new);
    let posted = state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.reverse(&entity, &key, request.date, period.as_ref())?)
        })
        .await?;
    Ok(Json(json!({ "reversal": posted.key, "sequence": posted.sequence })))
}

#[derive(Deserialize)]
struct SettleRequest {
    entity: String,
    /// Posted line ids that net to zero.
    lines: Vec<i64>,
}

async fn settle(State(state): State<SharedState>, caller: Caller, Json(request): Json<SettleRequest>) -> ApiResult {
    let entity = EntityId::new(request.entity);
    let settlement = state
        .with_ledger(&caller.actor, move |ledger, _| {
            Ok(ledger.settle(&entity, &request.lines)?)
        })
        .await?;
    Ok(Json(json!({ "settlement": settlement })))
}

async fn closes(State(state): State<SharedState>, _caller: Caller) -> ApiResult {
    let closes: Vec<Value> = state
        .config
        .closes
        .iter()
        .map(|(name, close)| json!({ "name": name, "tasks": close.config.tasks.len() }))
        .collect();
    Ok(Json(json!(closes)))
}

async fn close_status(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
) -> ApiResult {
    let (board, _) = load_board(&state, &caller, &close, &period).await.map_err(ApiError)?;
    to_json(&board)
}

async fn close_task(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period, entity, task)): Path<(String, String, String, String)>,
) -> ApiResult {
    state.close(&close)?;
    let view = state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(entity);
            let context = state.task_context(ledger, &close, &period, &entity)?;
            readable_task_view(&context, ledger, &entity, &task)
        })
        .await?;
    to_json(&view)
}

#[derive(Deserialize)]
struct SignoffRequest {
    entity: String,
    task: String,
    /// Sign off as the reviewer (default: as the preparer).
    #[serde(default)]
    review: bool,
    note: Option<String>,
}

async fn close_signoff(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
    Json(request): Json<SignoffRequest>,
) -> ApiResult {
    state.close(&close)?;
    let signed = state
        .with_ledger(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(request.entity.clone());
            let context = state.task_context(ledger, &close, &period, &entity)?;
            signoff(
                &context,
                &entity,
                &request.task,
                request.review,
                request.note.as_deref(),
                None,
            )
        })
        .await?;
    Ok(Json(json!({ "summary": signed.summary, "posted": signed.posted })))
}

#[derive(Deserialize)]
struct ExplainRequest {
    entity: String,
    task: String,
    account: String,
    /// `NAME=VALUE` pairs picking the finding of exactly these dimension values (`[]`: of the
    /// whole account); absent, every finding of the account.
    dimensions: Option<Vec<String>>,
    /// The finding's measure, when the account has several.
    measure: Option<String>,
    text: String,
}

/// `POST …/explain`: the preparer's explanation of a task's findings, as `close explain`.
async fn close_explain(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
    Json(request): Json<ExplainRequest>,
) -> ApiResult {
    state.close(&close)?;
    let explained = state
        .with_ledger(&caller.actor, move |ledger, state| {
            let entity = EntityId::new(request.entity.clone());
            let context = state.task_context(ledger, &close, &period, &entity)?;
            let target = crate::close::finding::ExplainTarget {
                account: &request.account,
                dimensions: request.dimensions.as_deref(),
                measure: request.measure.as_deref(),
            };
            crate::close::finding::explain(&context, &entity, &request.task, &target, &request.text)
        })
        .await?;
    Ok(Json(json!({ "explained": explained })))
}

#[derive(Deserialize, Default)]
struct RunRequest {
    /// Only these entities (default: every entity of the close).
    #[serde(default)]
    entities: Vec<String>,
    /// Rerun this task (and what depends on it).
    rerun: Option<String>,
}

async fn close_run(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let request: RunRequest = if body.is_empty() {
        RunRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| ServerError::bad_request(format!("the request body: {error}")))?
    };
    state.close(&close)?;
    let claim = super::runs::authorize_and_claim(&state, &caller, &close, &period, &request.entities).await?;
    let outcomes: Vec<TaskOutcome> = state
        .with_ledger_unqueued(&caller.actor, move |ledger, state| {
            let _claim = claim;
            super::runs::run(
                ledger,
                state,
                &close,
                &period,
                &request.entities,
                request.rerun.as_deref(),
            )
        })
        .await?;
    let failed = outcomes
        .iter()
        .filter(|outcome| outcome.status == ShownStatus::Task(TaskStatus::Failed))
        .count();
    Ok(Json(json!({ "outcomes": outcomes, "failed": failed })))
}

/// The audit trail's filters and paging, for the API and the audit page (which keeps its own
/// page size and reads blank form fields as no filter).
#[derive(Deserialize)]
pub(super) struct AuditQuery {
    pub entity: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    /// Records older than this id (paging).
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

async fn audit(State(state): State<SharedState>, caller: Caller, Query(query): Query<AuditQuery>) -> ApiResult {
    let entity = query.entity.map(EntityId::new);
    let limit = query.limit.unwrap_or(100).min(AUDIT_ROWS_MAX);
    let records = state
        .with_ledger_to_read(&caller.actor, move |ledger, _| {
            Ok(ledger.audit_trail(
                entity.as_ref(),
                query.user.as_deref(),
                query.action.as_deref(),
                query.before,
                limit,
            )?)
        })
        .await?;
    to_json(&records)
}

#[derive(Deserialize)]
struct CliRequest {
    /// The command line after `closebook`, without --db, --as and --server; a close command's
    /// --config names a close this server shows.
    args: Vec<String>,
}

/// Whether the server runs this command for a remote command line: reports, periods and the
/// close; never one that reads or writes files on the server by a path the caller chose.
fn runs_remotely(command: &crate::cli::Command) -> bool {
    use crate::cli::{CloseCommand, Command, ReportCommand, StatementOutput};
    match command {
        Command::Report(
            ReportCommand::BalanceSheet {
                output: StatementOutput { output: Some(_), .. },
                ..
            }
            | ReportCommand::IncomeStatement {
                output: StatementOutput { output: Some(_), .. },
                ..
            },
        ) => false,
        Command::Report(_) | Command::Period(_) | Command::Journal(_) | Command::Settle(_) => true,
        Command::Reconcile(reconcile) => crate::commands::reconcile::runs_remotely(reconcile),
        Command::YearEnd(crate::cli::YearEndCommand::Reverse { .. } | crate::cli::YearEndCommand::History { .. }) => {
            true
        }
        Command::Close(
            CloseCommand::Run { .. }
            | CloseCommand::Signoff { .. }
            | CloseCommand::Explain { .. }
            | CloseCommand::Show { .. }
            | CloseCommand::Status { .. }
            | CloseCommand::History { .. },
        ) => true,
        _ => false,
    }
}

/// Whether a command of the remote command line may change the ledger, so that it waits for
/// the server's writing slot. A close run takes none (its steps take the write lock only while
/// they post); a command not named here as a read counts as a change.
fn changes_the_ledger(command: &crate::cli::Command) -> bool {
    use crate::cli::{CloseCommand, Command, JournalCommand, PeriodCommand, ReconcileCommand, YearEndCommand};
    !matches!(
        command,
        Command::Report(_)
            | Command::Period(PeriodCommand::List { .. })
            | Command::Journal(JournalCommand::List { .. })
            | Command::Reconcile(ReconcileCommand::Show { .. } | ReconcileCommand::Report { .. })
            | Command::YearEnd(YearEndCommand::History { .. })
            | Command::Close(
                CloseCommand::Run { .. }
                    | CloseCommand::Show { .. }
                    | CloseCommand::Status { .. }
                    | CloseCommand::History { .. }
            )
    )
}

/// `POST /api/v1/cli`: runs a command of the remote command line with the server's own command
/// code, as the token's user, and answers what it printed and its error, if any.
async fn cli(State(state): State<SharedState>, caller: Caller, Json(request): Json<CliRequest>) -> ApiResult {
    use clap::Parser as _;
    let mut arguments = vec!["closebook".to_owned()];
    arguments.extend(request.args);
    let parsed = crate::cli::Cli::try_parse_from(&arguments)
        .map_err(|error| ServerError::bad_request(error.render().to_string()))?;
    let mut command = parsed.command;
    if !runs_remotely(&command) {
        return Err(ServerError::bad_request(
            "the server runs report, period, journal, settle, reconcile (but import-statement, attach and evidence), year-end reverse|history and close run|signoff|explain|status|show|history for a remote command line; run other commands where the ledger is",
        )
        .into());
    }
    // A close command names its close.toml: here, a close this server was started with.
    let (mut run_claim, mut progress) = (None, None);
    if let crate::cli::Command::Close(close_command) = &mut command {
        use crate::cli::CloseCommand;
        let (config, period) = match close_command {
            CloseCommand::Run { config, period, .. }
            | CloseCommand::Signoff { config, period, .. }
            | CloseCommand::Explain { config, period, .. }
            | CloseCommand::Show { config, period, .. }
            | CloseCommand::Status { config, period, .. } => (config, Some(period.clone())),
            CloseCommand::History { config, .. } => (config, None),
        };
        let name = config.display().to_string();
        *config = state.close(&name)?.path.clone();
        if let (CloseCommand::Run { entities, dry_run, .. }, Some(period)) = (&*close_command, period) {
            run_claim = Some(super::runs::authorize_and_claim(&state, &caller, &name, &period, entities).await?);
            // The boards open on the close follow it, as a run started there (a dry run's
            // progress is its caller's alone, and the server's log has no use for it).
            let out: Box<dyn std::io::Write + Send> = if *dry_run {
                Box::new(std::io::sink())
            } else {
                Box::new(super::events::ProgressWriter::new(
                    state.progress_channel(&name, &period),
                ))
            };
            progress = Some(out);
        }
    }
    // A change waits for the writing slot like the API's own changes (a close run takes none).
    let writing_slot = if changes_the_ledger(&command) {
        Some(state.wait_for_writing_slot().await?)
    } else {
        None
    };
    let actor = caller.actor.clone();
    // The command's own error is the answer's, beside what it printed; only a stopped worker
    // is the request's.
    let (outcome, stdout) = state
        .blocking(move |state| {
            let _claim = run_claim;
            let _slot = writing_slot;
            let context = crate::commands::Context {
                db: state.config.db.clone(),
                identity: closebook_ledger::access::Identity::Authenticated(actor.clone()),
                actor,
                close_permission: None,
                close_progress: std::cell::RefCell::new(progress),
            };
            Ok(crate::output::captured(|| crate::commands::execute(context, command)))
        })
        .await?;
    Ok(Json(match outcome {
        Ok(()) => json!({ "stdout": stdout }),
        Err(error) => {
            let error = ServerError::from(error).for_client(&state.config.db);
            json!({ "stdout": stdout, "error": error.detail.unwrap_or(error.message) })
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn changes(line: &str) -> bool {
        let arguments = std::iter::once("closebook").chain(line.split_whitespace());
        changes_the_ledger(&crate::cli::Cli::try_parse_from(arguments).unwrap().command)
    }

    #[test]
    fn the_remote_command_lines_changes_wait_for_the_writing_slot_and_its_reads_and_close_runs_do_not() {
        for change in [
            "period set-status --entity ACME-US --period 2026-01 --status on-hold",
            "journal post --entity ACME-US DRAFT-1",
            "journal reverse --entity ACME-US --date 2026-02-01 E-1",
            "close signoff --config close.toml --period 2026-01 --entity ACME-US --task fee",
        ] {
            assert!(changes(change), "{change}");
        }
        for read in [
            "report trial-balance --entity ACME-US --period 2026-01",
            "period list --entity ACME-US",
            "journal list --entity ACME-US --period 2026-01",
            "close status --config close.toml --period 2026-01",
            "close run --config close.toml --period 2026-01",
        ] {
            assert!(!changes(read), "{read}");
        }
    }
}
