//! The close workspace server (`closebook serve`): the team's board, task reviews, periods,
//! reports and audit trail in the browser, and a JSON API for the command line's remote mode
//! and for automation.
//!
//! Every request is made by an authenticated user (a browser session after a password sign-in,
//! or an API token) and opens the ledger for that user with [`Ledger::open_for`], so the
//! ledger's one permission check decides what it may read or change, exactly as on the command
//! line. The ledger is synchronous (SQLite), so each request's ledger work runs on tokio's
//! blocking pool; SQLite's own locking serialises writers.
//!
//! Pages are rendered on the server with `maud`, which escapes every value it interpolates:
//! names, descriptions and messages written by users and plugins are shown as text, never as
//! markup. Responses carry a Content-Security-Policy that allows no inline script.

mod admin;
mod api;
mod auth;
mod close_pages;
mod drafts;
mod error;
mod events;
mod journals;
mod openapi;
mod pages;
mod periods;
mod reconciliations;
mod reports;
mod runs;

use crate::close::CloseContext;
use crate::close::config::CloseConfig;
use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderValue, header};
use closebook_ledger::Ledger;
use closebook_ledger::access::{Actor, Identity};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use error::ServerError;

/// What the server was started with.
pub struct ServerConfig {
    pub db: PathBuf,
    /// The closes the workspace shows, by name.
    pub closes: BTreeMap<String, LoadedClose>,
    pub session_idle: chrono::Duration,
    pub session_max: chrono::Duration,
    /// Session cookies carry `Secure` (the server is reached over HTTPS, through a proxy).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// A close configuration the workspace shows.
pub struct LoadedClose {
    pub config: CloseConfig,
    pub path: PathBuf,
}

/// Shared by every request.
pub struct AppState {
    pub config: ServerConfig,
    pub throttle: Mutex<auth::Throttle>,
    /// Password checks that may run at once (each takes 19 MiB and a core for a moment): one
    /// per core, so a flood of sign-ins cannot exhaust the server's memory.
    pub sign_in_slots: Arc<tokio::sync::Semaphore>,
    /// Read-only requests (boards, task pages, reports) whose ledger work may run at once; the
    /// rest wait, in arrival order, without a thread or a connection. Reads are CPU work: more
    /// of them than a few per core only add threads, connections and lock hand-offs, and make
    /// every read slower. Writes do not take a slot, so a read never waits behind an import
    /// waiting for the ledger's write lock.
    reading_slots: Arc<tokio::sync::Semaphore>,
    /// Changes to the ledger (imports, postings, sign-offs, period changes) run one at a time.
    /// The ledger lets one writer in at once anyway; writers queued here wait in arrival order
    /// without a thread or a connection, instead of each holding both while it polls for the
    /// write lock (SQLite's busy handler sleeping and waking), and the cores stay with the
    /// reads. A close run does not take it: its steps take the write lock only to post, and the
    /// writes queued behind it go between them. Other processes (the command line) still meet
    /// the ledger's own lock.
    writing_slot: Arc<tokio::sync::Semaphore>,
    /// How long a change waits for the writing slot before it is answered "busy".
    write_wait: std::time::Duration,
    /// The progress of close runs, per close and period.
    progress: Mutex<BTreeMap<(String, String), tokio::sync::broadcast::Sender<events::RunEvent>>>,
    /// The close runs under way, per close and period.
    running: Mutex<BTreeMap<(String, String), runs::Running>>,
    /// Connections to the ledger kept open between requests.
    stores: StorePool,
    /// Entities' periods kept between requests (see [`crate::close::PeriodsCache`]).
    periods: Arc<crate::close::PeriodsCache>,
    /// How far the boards' staleness checks found nothing late (see
    /// [`crate::close::LateEntryChecks`]).
    late_checks: Arc<crate::close::LateEntryChecks>,
    /// Trial balances' opening columns kept between requests (see
    /// [`closebook_ledger::report::OpeningCache`]).
    openings: closebook_ledger::report::OpeningCache,
    /// The access policy kept between requests (see [`closebook_ledger::access::PolicyCache`]).
    policies: closebook_ledger::access::PolicyCache,
}

/// Open connections to the ledger file, kept between requests: opening one (the file, its
/// schema, the statements each request prepares again) costs more than a board read itself.
/// A store goes back only when its work is done (its transaction committed or rolled back);
/// nothing but the connection is kept with it.
struct StorePool {
    db: PathBuf,
    idle: Mutex<Vec<closebook_ledger::store::Store>>,
}

/// Idle connections kept; more are opened under load and closed after.
const IDLE_STORES_MAX: usize = 16;

/// Read-only requests whose ledger work runs at once, per core (see `AppState::reading_slots`).
const READING_SLOTS_PER_CORE: usize = 2;

impl StorePool {
    fn take(&self) -> Result<closebook_ledger::store::Store, closebook_ledger::LedgerError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match idle {
            Some(store) => Ok(store),
            None => closebook_ledger::store::Store::open(&self.db),
        }
    }

    fn give_back(&self, store: closebook_ledger::store::Store) {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < IDLE_STORES_MAX {
            idle.push(store);
        }
    }
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(config: ServerConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            throttle: Mutex::new(auth::Throttle::default()),
            sign_in_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            reading_slots: Arc::new(tokio::sync::Semaphore::new(cores * READING_SLOTS_PER_CORE)),
            writing_slot: Arc::new(tokio::sync::Semaphore::new(1)),
            write_wait: std::time::Duration::from_millis(closebook_ledger::store::BUSY_TIMEOUT_MS),
            progress: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeMap::new()),
            stores: StorePool {
                db: config.db.clone(),
                idle: Mutex::new(Vec::new()),
            },
            periods: Arc::default(),
            late_checks: Arc::default(),
            openings: closebook_ledger::report::OpeningCache::default(),
            policies: closebook_ledger::access::PolicyCache::default(),
            config,
        }
    }

    /// Runs `work` on an open connection to the ledger (kept for the next request after).
    pub fn with_store<T>(
        &self,
        work: impl FnOnce(&mut closebook_ledger::store::Store) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut store = self.stores.take()?;
        let outcome = work(&mut store);
        self.stores.give_back(store);
        outcome
    }

    /// The channel a close run of `close` and `period` reports its progress to.
    pub fn progress_channel(&self, close: &str, period: &str) -> tokio::sync::broadcast::Sender<events::RunEvent> {
        let mut channels = self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels
            .entry((close.to_owned(), period.to_owned()))
            .or_insert_with(|| tokio::sync::broadcast::channel(events::CHANNEL_MESSAGES).0)
            .clone()
    }

    /// Runs `work`, which changes the ledger, on the ledger opened for `actor` (every operation
    /// permission-checked), on the blocking pool, once the [`Self::writing_slot`] is free (see
    /// [`Self::wait_for_writing_slot`]). The slot is held by the work itself: a request dropped
    /// while its work runs (a client gone) keeps it until the work returns.
    pub async fn with_ledger<T: Send + 'static>(
        self: &Arc<Self>,
        actor: &Actor,
        work: impl FnOnce(&mut Ledger, &AppState) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let slot = self.wait_for_writing_slot().await?;
        self.with_ledger_unqueued(actor, move |ledger, state| {
            let _slot = slot;
            work(ledger, state)
        })
        .await
    }

    /// Waits for the [`Self::writing_slot`]; hold what it returns while the change runs. A
    /// change that waits for it longer than the ledger's own wait for its write lock is
    /// answered busy (409 with Retry-After), and nothing is written.
    pub async fn wait_for_writing_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ServerError> {
        match tokio::time::timeout(self.write_wait, Arc::clone(&self.writing_slot).acquire_owned()).await {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(ServerError::internal("the server is shutting down".to_owned())),
            Err(_) => {
                tracing::warn!(
                    waited_s = self.write_wait.as_secs(),
                    "a change was refused busy: it waited too long for the writing slot"
                );
                Err(ServerError::new(
                    axum::http::StatusCode::CONFLICT,
                    format!(
                        "the ledger is busy with other changes (this one waited {} s for them); nothing was written: try again in a moment",
                        self.write_wait.as_secs()
                    ),
                ))
            }
        }
    }

    /// Runs `work` on the ledger opened for `actor` (every operation permission-checked), on the
    /// blocking pool, without waiting for a reading or writing slot. Only a close run uses it
    /// directly: its steps take the ledger's write lock only while they post, and the changes
    /// queued for the writing slot go between them.
    pub async fn with_ledger_unqueued<T: Send + 'static>(
        self: &Arc<Self>,
        actor: &Actor,
        work: impl FnOnce(&mut Ledger, &AppState) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let identity = Identity::Authenticated(actor.clone());
        self.blocking(move |state| {
            let store = state.stores.take().context("opening the ledger")?;
            let mut ledger =
                Ledger::from_store_keeping_policy(store, &identity, &state.policies).context("opening the ledger")?;
            let outcome = work(&mut ledger, state);
            state.stores.give_back(ledger.into_store());
            outcome
        })
        .await
    }

    /// Runs `work`, which only reads, on the ledger opened for `actor`, on the blocking pool, once
    /// one of the [`Self::reading_slots`] is free; the work holds the slot until it returns.
    pub async fn with_ledger_to_read<T: Send + 'static>(
        self: &Arc<Self>,
        actor: &Actor,
        work: impl FnOnce(&mut Ledger, &AppState) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let slot = Arc::clone(&self.reading_slots)
            .acquire_owned()
            .await
            .map_err(|_| ServerError::internal("the server is shutting down".to_owned()))?;
        self.with_ledger_unqueued(actor, move |ledger, state| {
            let _slot = slot;
            work(ledger, state)
        })
        .await
    }

    /// Runs `work` on the blocking pool with the state alone (sign-in, sessions).
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&AppState) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(|error| ServerError::internal(format!("a request's worker stopped: {error}")))?
            .map_err(|error| ServerError::from(error).for_client(&self.config.db))
    }

    /// The context of `close` for `period`, acting as `actor`: every operation of the close
    /// engine checks the actor's permissions (`Identity::Authenticated`). Its ledger connection
    /// comes from the pool and goes back when the context is dropped.
    pub fn close_context(&self, actor: &Actor, close: &str, period: &str) -> anyhow::Result<PooledCloseContext<'_>> {
        let loaded = self.close(close).map_err(|error| anyhow::anyhow!(error.message))?;
        let store = self.stores.take().context("opening the ledger")?;
        Ok(PooledCloseContext {
            context: CloseContext {
                config: &loaded.config,
                db: self.config.db.clone(),
                cache: crate::commands::plugin::cache_directory(&self.config.db),
                actor: actor.clone(),
                identity: Some(Identity::Authenticated(actor.clone())),
                period: closebook_ledger::ids::PeriodName::new(period),
                entity_filter: Vec::new(),
                dry_run: false,
                open_ledger: std::cell::RefCell::new(Some((
                    self.config.db.clone(),
                    Ledger::from_store(store, actor.clone()),
                ))),
                memo: crate::close::ContextMemo::sharing(Arc::clone(&self.periods), Arc::clone(&self.late_checks)),
            },
            pool: &self.stores,
        })
    }

    /// The context for a task of `entity`: the actor may read the entity, and the close's
    /// configuration is checked against the ledger.
    pub fn task_context(
        &self,
        ledger: &mut Ledger,
        close: &str,
        period: &str,
        entity: &closebook_ledger::ids::EntityId,
    ) -> anyhow::Result<PooledCloseContext<'_>> {
        ledger.authorize(closebook_ledger::access::Permission::LedgerRead, Some(entity))?;
        let context = self.close_context(ledger.actor(), close, period)?;
        context.check_config()?;
        Ok(context)
    }

    pub fn close(&self, name: &str) -> Result<&LoadedClose, ServerError> {
        self.config.closes.get(name).ok_or_else(|| {
            ServerError::not_found(format!(
                "this server shows no close named {name}: start it with --close FILE for that close"
            ))
        })
    }
}

/// A close's context on the server: its ledger connection (the close engine's own, opened
/// without the actor's checks, which the context's identity makes) returns to the pool when
/// it is dropped, unless the run moved to another file (a dry run's copy).
pub struct PooledCloseContext<'s> {
    context: CloseContext<'s>,
    pool: &'s StorePool,
}

impl<'s> std::ops::Deref for PooledCloseContext<'s> {
    type Target = CloseContext<'s>;

    fn deref(&self) -> &CloseContext<'s> {
        &self.context
    }
}

impl std::ops::DerefMut for PooledCloseContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.context
    }
}

impl Drop for PooledCloseContext<'_> {
    fn drop(&mut self) {
        if let Some((path, ledger)) = self.context.open_ledger.get_mut().take()
            && path == self.pool.db
        {
            self.pool.give_back(ledger.into_store());
        }
    }
}

/// Headers every response carries: no inline script may run, no other site may frame a page,
/// no page is cached (they show the ledger as it is now), no referrer leaks a path; and when the
/// workspace is reached over HTTPS (its own TLS, or `--secure-cookies` behind a proxy), browsers
/// are told to use HTTPS only for a year (HSTS).
async fn security_headers(
    axum::extract::State(state): axum::extract::State<SharedState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if state.config.secure_cookies {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// A span per request (method, path, then status), so a request's ledger work and refusals
/// are joined to it in the trace, and an event when it finishes with how long it took.
async fn trace_request(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "http.request",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    tracing::info!(
        parent: &span,
        status,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request finished"
    );
    response
}

/// A request whose declared length is over the limit is refused from its headers, before a byte
/// of its body is read (the body limit below still stops a body that lies about its length or
/// declares none): the client learns at once, and the server reads nothing it would discard.
async fn refuse_declared_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > api::UPLOAD_BYTES_MAX as u64) {
        let refusal = api::too_large();
        let mut response = if request.uri().path().starts_with("/api/") {
            error::ApiError(refusal).into_response()
        } else {
            refusal.into_response()
        };
        // The unread body makes the connection unusable for another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(close_pages::routes())
        .merge(periods::routes())
        .merge(drafts::routes())
        .merge(reconciliations::routes())
        .merge(admin::routes())
        .merge(api::routes())
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            security_headers,
        ))
        .layer(axum::middleware::from_fn(trace_request))
        // Journal uploads are the largest requests.
        .layer(axum::extract::DefaultBodyLimit::max(api::UPLOAD_BYTES_MAX))
        .with_state(state)
}

/// Serves (HTTPS when given a TLS configuration) until ctrl-c or SIGTERM, then gives the
/// requests in flight [`SHUTDOWN_GRACE`] to finish: open boards follow a close's progress on
/// event streams that do not end by themselves, and are closed after it.
///
/// A connection must send its first request, and every request its headers, within
/// [`HEADER_READ_TIMEOUT`]: a client that opens connections and sends nothing (or a byte a
/// minute) cannot hold the server's connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    state: SharedState,
) -> anyhow::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopping.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let mut server = axum_server::from_tcp(listener.into_std()?)?
        .handle(handle)
        .first_request_timeout(HEADER_READ_TIMEOUT);
    server
        .http_builder()
        .http1()
        .header_read_timeout(Some(HEADER_READ_TIMEOUT));
    match tls {
        Some(tls) => server
            .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(tls))
            .serve(app)
            .await
            .context("serving HTTPS"),
        None => server.serve(app).await.context("serving"),
    }
}

/// How long a client may take to send a request's headers (and a new connection its first).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long requests in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_on_a_new_ledger(folder: &tempfile::TempDir) -> AppState {
        let db = folder.path().join("ledger.db");
        let setup = "[[user]]\nid = \"alice\"\n[security]\nadministrator = \"alice\"\ntrust_declared_users = true\n";
        Ledger::from_store(
            closebook_ledger::store::Store::open(&db).unwrap(),
            closebook_ledger::ids::UserId::new("alice"),
        )
        .apply_setup(
            &closebook_ledger::setup::SetupFile::parse(setup, "setup.toml").unwrap(),
            "setup.toml",
        )
        .unwrap();
        AppState::new(ServerConfig {
            db,
            closes: BTreeMap::new(),
            session_idle: chrono::Duration::hours(1),
            session_max: chrono::Duration::hours(8),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
        })
    }

    /// Work that marks when it starts and then waits until `release` is set.
    fn work_held_until(
        started: &Arc<std::sync::atomic::AtomicBool>,
        release: &Arc<std::sync::atomic::AtomicBool>,
    ) -> impl FnOnce(&mut Ledger, &AppState) -> anyhow::Result<()> + Send + 'static {
        let (started, release) = (Arc::clone(started), Arc::clone(release));
        move |_, _| {
            set(&started);
            while !is_set(&release) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(())
        }
    }

    fn flag() -> Arc<std::sync::atomic::AtomicBool> {
        Arc::new(std::sync::atomic::AtomicBool::new(false))
    }

    /// Sets its flag when dropped: held work is released when a test fails, so the failure is
    /// reported instead of the runtime waiting for the work forever.
    struct ReleasedOnDrop(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for ReleasedOnDrop {
        fn drop(&mut self) {
            set(&self.0);
        }
    }

    fn is_set(flag: &std::sync::atomic::AtomicBool) -> bool {
        flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set(flag: &std::sync::atomic::AtomicBool) {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    async fn until(flag: &Arc<std::sync::atomic::AtomicBool>) {
        while !is_set(flag) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_waits_for_a_reading_slot_and_a_write_does_not() {
        let folder = tempfile::tempdir().unwrap();
        let state = Arc::new(state_on_a_new_ledger(&folder));
        let slots = u32::try_from(state.reading_slots.available_permits()).unwrap();
        let held = state.reading_slots.acquire_many(slots).await.unwrap();
        let actor = Actor::from("alice");
        let (read_started, release) = (flag(), flag());
        set(&release);
        let reader = tokio::spawn({
            let state = Arc::clone(&state);
            let (actor, work) = (actor.clone(), work_held_until(&read_started, &release));
            async move { state.with_ledger_to_read(&actor, work).await.is_ok() }
        });
        // With every reading slot taken, a write still runs...
        state.with_ledger(&actor, |_, _| Ok(())).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // ...and the read has not started.
        assert!(!is_set(&read_started), "a read ran without a reading slot");
        drop(held);
        assert!(reader.await.unwrap());
        assert!(is_set(&read_started));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_run_one_at_a_time_and_a_read_runs_beside_them() {
        let folder = tempfile::tempdir().unwrap();
        let state = Arc::new(state_on_a_new_ledger(&folder));
        let actor = Actor::from("alice");
        let (first_started, first_release) = (flag(), flag());
        let _release_on_failure = ReleasedOnDrop(Arc::clone(&first_release));
        let (second_started, second_release) = (flag(), flag());
        set(&second_release);
        let change = |work| {
            let (state, actor) = (Arc::clone(&state), actor.clone());
            tokio::spawn(async move { state.with_ledger(&actor, work).await })
        };
        let first = change(work_held_until(&first_started, &first_release));
        until(&first_started).await;
        let second = change(work_held_until(&second_started, &second_release));
        // A read runs while a change holds the writing slot...
        state.with_ledger_to_read(&actor, |_, _| Ok(())).await.unwrap();
        // ...and the second change waits for the first.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!is_set(&second_started), "two changes ran at once");
        set(&first_release);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert!(is_set(&second_started));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_whose_request_is_dropped_keeps_the_writing_slot_until_its_work_returns() {
        let folder = tempfile::tempdir().unwrap();
        let state = Arc::new(state_on_a_new_ledger(&folder));
        let actor = Actor::from("alice");
        let (started, release) = (flag(), flag());
        let _release_on_failure = ReleasedOnDrop(Arc::clone(&release));
        let request = tokio::spawn({
            let (state, actor, work) = (Arc::clone(&state), actor.clone(), work_held_until(&started, &release));
            async move { state.with_ledger(&actor, work).await }
        });
        until(&started).await;
        // The client goes away: the request's future is dropped, its work still runs.
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        assert_eq!(
            state.writing_slot.available_permits(),
            0,
            "the slot went with the request"
        );
        set(&release);
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while state.writing_slot.available_permits() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the slot comes back when the work returns");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_that_waits_too_long_for_the_writing_slot_is_answered_busy_and_never_runs() {
        let folder = tempfile::tempdir().unwrap();
        let mut state = state_on_a_new_ledger(&folder);
        state.write_wait = std::time::Duration::from_millis(200);
        let state = Arc::new(state);
        let held = Arc::clone(&state.writing_slot).acquire_owned().await.unwrap();
        let ran = flag();
        let refused = state
            .with_ledger(&Actor::from("alice"), {
                let ran = Arc::clone(&ran);
                move |_, _| {
                    set(&ran);
                    Ok(())
                }
            })
            .await
            .unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::CONFLICT);
        assert!(refused.message.contains("busy"), "{}", refused.message);
        assert!(refused.message.contains("nothing was written"), "{}", refused.message);
        drop(held);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!is_set(&ran), "a refused change ran");
    }
}
