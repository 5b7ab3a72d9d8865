//! Close runs started from the server: one per close and period at a time, reported live to
//! every board open on it (`events`).

use super::auth::Caller;
use super::events::ProgressWriter;
use super::{AppState, ServerError, SharedState};
use crate::close::{Progress, TaskOutcome, run_close};
use closebook_ledger::Ledger;
use closebook_ledger::access::Permission;
use closebook_ledger::ids::EntityId;
use std::sync::Arc;

/// Who started a running close, and when (UTC, `HH:MM`).
#[derive(Debug, Clone)]
pub struct Running {
    pub user: String,
    pub started: String,
}

/// Held while a run is under way; the run is forgotten when it is dropped, however it ended.
pub struct RunClaim {
    state: SharedState,
    key: (String, String),
}

impl Drop for RunClaim {
    fn drop(&mut self) {
        self.state
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// The run of `close` for `period` under way, if any.
pub fn current(state: &AppState, close: &str, period: &str) -> Option<Running> {
    state
        .running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&(close.to_owned(), period.to_owned()))
        .cloned()
}

/// Claims the run of `close` for `period`, or refuses naming who started the one under way.
fn claim(state: &SharedState, close: &str, period: &str, user: &str) -> Result<RunClaim, ServerError> {
    let key = (close.to_owned(), period.to_owned());
    let mut running = state.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(run) = running.get(&key) {
        return Err(ServerError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "close {close} for {period} is already running (started by {} at {} UTC): wait for it to finish; the board shows its progress",
                run.user, run.started
            ),
        ));
    }
    running.insert(
        key.clone(),
        Running {
            user: user.to_owned(),
            started: chrono::Utc::now().format("%H:%M").to_string(),
        },
    );
    Ok(RunClaim {
        state: Arc::clone(state),
        key,
    })
}

/// The context of a run of the close by the ledger's actor, checked: the configuration against
/// the ledger, and `close.run` in each of its entities (or those named).
fn checked_context<'s>(
    ledger: &mut Ledger,
    state: &'s AppState,
    close: &str,
    period: &str,
    entities: &[String],
) -> anyhow::Result<super::PooledCloseContext<'s>> {
    let mut context = state.close_context(ledger.actor(), close, period)?;
    context.entity_filter = entities.iter().map(|entity| EntityId::new(entity.clone())).collect();
    context.check_config()?;
    for entity in context.entities()? {
        ledger.authorize(Permission::CloseRun, Some(&entity))?;
    }
    Ok(context)
}

/// Claims the run of `close` for `period` for the caller, once the caller's permission to run
/// it is checked: only someone who may run the close learns that a run is under way.
pub async fn authorize_and_claim(
    state: &SharedState,
    caller: &Caller,
    close: &str,
    period: &str,
    entities: &[String],
) -> Result<RunClaim, ServerError> {
    let (checked_close, checked_period, checked_entities) = (close.to_owned(), period.to_owned(), entities.to_vec());
    state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            checked_context(ledger, state, &checked_close, &checked_period, &checked_entities).map(drop)
        })
        .await?;
    claim(state, close, period, caller.user())
}

/// How much lower than the requests' a close run's scheduling priority is (a nice value).
/// A close is minutes of batch work beside people waiting for a page: on a busy server it takes
/// the cores the requests leave, so the board stays as fast as the rest of the load lets it.
const CLOSE_RUN_NICENESS: libc::c_int = 10;

/// Runs every ready task of the close for the ledger's actor (checked first), reporting
/// progress to the boards. Blocking: call it on the blocking pool.
///
/// The close runs on a thread of its own at a lower scheduling priority
/// ([`CLOSE_RUN_NICENESS`]); the threads it starts (a plugin's, the read-ahead) inherit it. A
/// thread cannot take its priority back without privileges, so the pool's thread is not the
/// one lowered.
pub fn run(
    ledger: &mut Ledger,
    state: &AppState,
    close: &str,
    period: &str,
    entities: &[String],
    rerun: Option<&str>,
) -> anyhow::Result<Vec<TaskOutcome>> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("close-run".to_owned())
            .spawn_scoped(scope, || {
                lower_this_threads_priority(CLOSE_RUN_NICENESS);
                let context = checked_context(ledger, state, close, period, entities)?;
                let mut out = ProgressWriter::new(state.progress_channel(close, period));
                let outcome = run_close(
                    &context,
                    rerun,
                    &mut Progress {
                        out: &mut out,
                        terminal: false,
                    },
                );
                out.finish();
                outcome
            })
            .map_err(|error| anyhow::anyhow!("starting the close run's thread: {error}"))?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The calling thread's id and nice value (Linux keeps the nice value per thread).
#[cfg(target_os = "linux")]
fn this_threads_niceness() -> (libc::id_t, libc::c_int) {
    // SAFETY: gettid and getpriority take and return plain integers.
    unsafe {
        let thread = libc::id_t::try_from(libc::gettid()).unwrap_or(0);
        (thread, libc::getpriority(libc::PRIO_PROCESS, thread))
    }
}

/// Raises the calling thread's nice value by `by`. Best effort: a close that cannot be lowered
/// still runs.
fn lower_this_threads_priority(by: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        let (thread, current) = this_threads_niceness();
        // SAFETY: setpriority takes plain integers and changes only this thread's priority.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, thread, current.saturating_add(by)) } != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "the close run keeps the requests' priority"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn niceness() -> libc::c_int {
        this_threads_niceness().1
    }

    #[test]
    fn a_close_runs_below_the_requests_and_its_threads_inherit_it() {
        let (before, lowered, child) = std::thread::spawn(|| {
            let before = niceness();
            lower_this_threads_priority(CLOSE_RUN_NICENESS);
            let lowered = niceness();
            // A plugin's thread and the read-ahead are started by the close's thread.
            let child = std::thread::spawn(niceness).join().unwrap();
            (before, lowered, child)
        })
        .join()
        .unwrap();
        let expected = (before + CLOSE_RUN_NICENESS).min(19);
        assert_eq!((lowered, child), (expected, expected));
        // The thread that asked is unchanged: only the close's thread was lowered.
        assert_eq!(niceness(), before);
    }
}
