//! Close runs started from the server: one per close and period at a time, reported live to
//! every board open on it (`events`).

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
pub fn claim(state: &SharedState, close: &str, period: &str, user: &str) -> Result<RunClaim, ServerError> {
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

/// Checks that the ledger's actor may run the close: its configuration against the ledger,
/// and `close.run` in each of its entities (or those named).
pub fn authorize(
    ledger: &mut Ledger,
    state: &AppState,
    close: &str,
    period: &str,
    entities: &[String],
) -> anyhow::Result<()> {
    let loaded = state.close(close).map_err(|error| anyhow::anyhow!(error.message))?;
    let mut context = super::pages::close_context(state, loaded, ledger.actor(), period);
    context.entity_filter = entities.iter().map(|entity| EntityId::new(entity.clone())).collect();
    context.check_config()?;
    for entity in context.entities()? {
        ledger.authorize(Permission::CloseRun, Some(&entity))?;
    }
    Ok(())
}

/// Runs every ready task of the close for the ledger's actor (checked first), reporting
/// progress to the boards. Blocking: call it on the blocking pool.
pub fn run(
    ledger: &mut Ledger,
    state: &AppState,
    close: &str,
    period: &str,
    entities: &[String],
    rerun: Option<&str>,
) -> anyhow::Result<Vec<TaskOutcome>> {
    authorize(ledger, state, close, period, entities)?;
    let loaded = state.close(close).map_err(|error| anyhow::anyhow!(error.message))?;
    let mut context = super::pages::close_context(state, loaded, ledger.actor(), period);
    context.entity_filter = entities.iter().map(|entity| EntityId::new(entity.clone())).collect();
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
}
