//! The step log: what a close step says while it runs, through the `log` import and through
//! stdout and stderr. All three share one byte budget; what does not fit is dropped and the log
//! is marked truncated, because a chatty step should not fail a close, nor fill the host's memory.
//!
//! The budget counts what the log costs to keep, not what the guest sent: the log is stored as
//! JSON with the run, so each record is charged its JSON text (a control character takes six
//! bytes there) plus a fixed overhead for the record itself, and an invalid UTF-8 sequence in
//! stdout is charged as the three-byte replacement character it becomes. A million one-byte
//! `log` calls therefore cost some 65 MB, not 1 MB, and are cut at the budget like any other log.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::types::Level;

/// How much a guest may write to stdout or stderr in one call. Writes beyond the log budget are
/// accepted and dropped, so the permit never has to shrink.
const PIPE_WRITE_PERMIT_BYTES: usize = 64 * 1024;

/// What keeping one log record costs beyond the JSON text of its message: its JSON framing
/// (`{"level":"warning","message":""},` is 34 bytes) and, while the run lasts, the record in
/// memory (32 bytes), rounded up.
pub const LOG_RECORD_OVERHEAD_BYTES: u64 = 64;

/// The bytes `character` takes inside a JSON string, as `serde_json` writes it.
fn json_bytes(character: char) -> u64 {
    match character {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        character if u32::from(character) < 0x20 => 6,
        character => character.len_utf8() as u64,
    }
}

/// The bytes a run of invalid UTF-8 takes once decoded: one replacement character.
const INVALID_SEQUENCE_JSON_BYTES: u64 = 3;

/// The longest prefix of `bytes` whose stored (JSON) size fits in `available` bytes: its length
/// in bytes and its stored size.
fn stored_prefix(bytes: &[u8], available: u64) -> (usize, u64) {
    let mut length = 0usize;
    let mut cost = 0u64;
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            let next = cost + json_bytes(character);
            if next > available {
                return (length, cost);
            }
            cost = next;
            length += character.len_utf8();
        }
        if !chunk.invalid().is_empty() {
            let next = cost + INVALID_SEQUENCE_JSON_BYTES;
            if next > available {
                return (length, cost);
            }
            cost = next;
            length += chunk.invalid().len();
        }
    }
    (length, cost)
}

/// One call to the `log` import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
}

/// Everything a run said, kept with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StepLog {
    pub records: Vec<LogRecord>,
    /// What the guest wrote to stdout, decoded as UTF-8 with invalid bytes replaced.
    pub stdout: String,
    /// What the guest wrote to stderr (a Rust guest's panic message lands here).
    pub stderr: String,
    /// Some output was dropped because the log budget was spent.
    pub truncated: bool,
}

#[derive(Default)]
struct LogBuffer {
    records: Vec<LogRecord>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    capacity_bytes: u64,
    used_bytes: u64,
    truncated: bool,
}

impl LogBuffer {
    fn available(&self) -> u64 {
        self.capacity_bytes.saturating_sub(self.used_bytes)
    }

    /// The prefix of `bytes` that still fits, charged to the budget; marks the log truncated
    /// when not all of it fits. `overhead` is charged first, and nothing is kept unless it fits.
    fn reserve(&mut self, bytes: &[u8], overhead: u64) -> Option<usize> {
        let Some(available) = self.available().checked_sub(overhead) else {
            self.truncated = true;
            return None;
        };
        let (length, cost) = stored_prefix(bytes, available);
        if length < bytes.len() {
            self.truncated = true;
        }
        self.used_bytes += overhead + cost;
        Some(length)
    }
}

/// The step log of one run, shared by the `log` import and the stdout and stderr pipes.
#[derive(Clone)]
pub(crate) struct SharedStepLog(Arc<Mutex<LogBuffer>>);

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl SharedStepLog {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        Self(Arc::new(Mutex::new(LogBuffer {
            capacity_bytes,
            ..LogBuffer::default()
        })))
    }

    fn with<R>(&self, action: impl FnOnce(&mut LogBuffer) -> R) -> R {
        // A panic while holding the lock can only come from a bug in this file, and the buffer
        // is still a valid log afterwards, so a poisoned lock is used as it is.
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        action(&mut buffer)
    }

    pub(crate) fn record(&self, level: Level, mut message: String) {
        self.with(|buffer| {
            let Some(length) = buffer.reserve(message.as_bytes(), LOG_RECORD_OVERHEAD_BYTES) else {
                return;
            };
            // A valid string's stored prefix ends on a character boundary.
            message.truncate(length);
            buffer.records.push(LogRecord { level, message });
        });
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        self.with(|buffer| {
            let Some(length) = buffer.reserve(bytes, 0) else {
                return;
            };
            let target = match stream {
                Stream::Stdout => &mut buffer.stdout,
                Stream::Stderr => &mut buffer.stderr,
            };
            target.extend_from_slice(&bytes[..length]);
        });
    }

    pub(crate) fn stdout(&self) -> OutputPipe {
        OutputPipe {
            log: self.clone(),
            stream: Stream::Stdout,
        }
    }

    pub(crate) fn stderr(&self) -> OutputPipe {
        OutputPipe {
            log: self.clone(),
            stream: Stream::Stderr,
        }
    }

    /// The end of stderr on one line, to explain a trap (a Rust guest prints its panic there).
    pub(crate) fn stderr_summary(&self) -> Option<String> {
        const SUMMARY_CHARS_MAX: usize = 400;
        let stderr = self.with(|buffer| String::from_utf8_lossy(&buffer.stderr).into_owned());
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        if lines.is_empty() {
            return None;
        }
        let summary = lines.join(" ");
        let skip = summary.chars().count().saturating_sub(SUMMARY_CHARS_MAX);
        Some(summary.chars().skip(skip).collect())
    }

    pub(crate) fn finish(&self) -> StepLog {
        self.with(|buffer| StepLog {
            records: std::mem::take(&mut buffer.records),
            stdout: String::from_utf8_lossy(&buffer.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&buffer.stderr).into_owned(),
            truncated: buffer.truncated,
        })
    }
}

/// The guest's stdout or stderr: writes land in the step log.
#[derive(Clone)]
pub(crate) struct OutputPipe {
    log: SharedStepLog,
    stream: Stream,
}

impl wasmtime_wasi::cli::IsTerminal for OutputPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for OutputPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for OutputPipe {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for OutputPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.log.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(PIPE_WRITE_PERMIT_BYTES)
    }
}

// Only WASI 0.3 streams use this side; it is here so the pipe is complete if they are linked.
impl tokio::io::AsyncWrite for OutputPipe {
    fn poll_write(self: Pin<&mut Self>, _context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.log.write(self.stream, bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves log records, stdout and stderr share one budget and the overflow is dropped, marked.
    #[test]
    fn log_budget_is_shared_and_truncates() {
        let log = SharedStepLog::new(LOG_RECORD_OVERHEAD_BYTES + 6 + 3 + 1);
        log.record(Level::Info, "héllo".to_string());
        log.write(Stream::Stdout, b"abc");
        log.write(Stream::Stderr, b"defgh");
        log.record(Level::Error, "dropped".to_string());
        let finished = log.finish();
        assert_eq!(finished.records.len(), 1);
        assert_eq!(finished.records[0].message, "héllo");
        assert_eq!(finished.stdout, "abc");
        assert_eq!(finished.stderr, "d");
        assert!(finished.truncated);
    }

    // Proves a record cut by the budget is cut on a character boundary.
    #[test]
    fn truncated_record_stays_utf8() {
        let log = SharedStepLog::new(LOG_RECORD_OVERHEAD_BYTES + 2);
        log.record(Level::Info, "éé".to_string());
        let finished = log.finish();
        assert_eq!(finished.records[0].message, "é");
        assert!(finished.truncated);
    }

    // Proves the budget bounds the stored log, whatever the records (issue 17, weakness 9):
    // a million one-byte records and stdout full of control characters and invalid UTF-8 never
    // store more JSON than the budget.
    #[test]
    fn the_budget_bounds_the_stored_json() {
        let budget = 64 * 1024;
        let log = SharedStepLog::new(budget);
        for _ in 0..1_000_000 {
            log.record(Level::Debug, "x".to_string());
        }
        let finished = log.finish();
        assert!(finished.truncated);
        let stored = serde_json::to_string(&finished).unwrap().len() as u64;
        assert!(stored <= budget, "stored {stored} bytes under a budget of {budget}");
        let log = SharedStepLog::new(budget);
        let hostile: Vec<u8> = (0..1_000_000u32)
            .map(|index| [0u8, 0x1b, 0xff, b'"'][index as usize % 4])
            .collect();
        log.write(Stream::Stdout, &hostile);
        let finished = log.finish();
        assert!(finished.truncated);
        // The budget counts the streams' text; the log's own keys add a fixed few bytes.
        let stored = serde_json::to_string(&finished).unwrap().len() as u64;
        assert!(
            stored <= budget + 128,
            "stored {stored} bytes under a budget of {budget}"
        );
        assert!(stored > budget / 2, "the budget was not used: {stored} bytes");
    }
}
