//! Live progress of a close run, as server-sent events: the run's progress lines go to a
//! broadcast channel per close and period, and every board open on that close follows them.
//! A reader who may not read every entity of the close sees only that a run finished (the lines
//! name entities and tasks).

use super::auth::Caller;
use super::{ServerError, SharedState};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use std::convert::Infallible;
use tokio::sync::broadcast;

/// Progress messages kept for a slow subscriber before it skips ahead.
pub const CHANNEL_MESSAGES: usize = 256;

#[derive(Debug, Clone)]
pub enum RunEvent {
    /// One line of the run's progress.
    Line(String),
    /// The run ended.
    Finished,
}

/// The `Write` a server-side close run reports its progress to: each line becomes an event.
pub struct ProgressWriter {
    channel: broadcast::Sender<RunEvent>,
    pending: Vec<u8>,
    finished: bool,
}

impl ProgressWriter {
    pub fn new(channel: broadcast::Sender<RunEvent>) -> Self {
        Self {
            channel,
            pending: Vec::new(),
            finished: false,
        }
    }

    /// Sends what is left and the end of the run (once; dropping the writer does it too).
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.flush_lines(true);
        // Nobody listening is not an error.
        let _ = self.channel.send(RunEvent::Finished);
    }

    fn flush_lines(&mut self, all: bool) {
        while let Some(position) = self.pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=position).collect();
            self.send(&line[..line.len() - 1]);
        }
        if all && !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.send(&line);
        }
    }

    fn send(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_start_matches('\r').trim();
        if !text.is_empty() {
            let _ = self.channel.send(RunEvent::Line(text.to_owned()));
        }
    }
}

impl Drop for ProgressWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::io::Write for ProgressWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buffer);
        self.flush_lines(false);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /closes/{close}/{period}/events`: the board's live progress.
pub async fn events(
    State(state): State<SharedState>,
    caller: Caller,
    Path((close, period)): Path<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ServerError> {
    state.close(&close)?;
    let close_name = close.clone();
    let period_name = period.clone();
    // Whether the caller may read every entity of the close, and so every progress line.
    let sees_lines = state
        .with_ledger_to_read(&caller.actor, move |ledger, state| {
            let entities = state
                .close_context(ledger.actor(), &close_name, &period_name)?
                .entities()?;
            Ok(ledger.readable_or_refuse(&entities)?.len() == entities.len())
        })
        .await?;
    let receiver = state.progress_channel(&close, &period).subscribe();
    let stream = futures_util::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(RunEvent::Line(line)) if sees_lines => Event::default().event("progress").data(line),
                Ok(RunEvent::Line(_)) => continue,
                Ok(RunEvent::Finished) => Event::default().event("finished").data("finished"),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((Ok(event), receiver));
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
