//! The step log: what a close step says while it runs, through the `log` import and through
//! stdout and stderr. All three share one byte budget; what does not fit is dropped and the log
//! is marked truncated, because a chatty step should not fail a close, nor fill the host's memory.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::bindings::closebook::plugin::log;
use super::wit::Level;

/// How much a guest may write to stdout or stderr in one call. Writes beyond the log budget are
/// accepted and dropped, so the permit never has to shrink.
const PIPE_WRITE_PERMIT_BYTES: usize = 64 * 1024;

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
    /// How many of `wanted` bytes still fit; marks the log truncated when not all of them do.
    fn reserve(&mut self, wanted: usize) -> usize {
        let available = self.capacity_bytes.saturating_sub(self.used_bytes);
        let granted = (wanted as u64).min(available);
        if granted < wanted as u64 {
            self.truncated = true;
        }
        self.used_bytes += granted;
        granted as usize
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
            let granted = buffer.reserve(message.len());
            if granted == 0 {
                return;
            }
            if granted < message.len() {
                let mut end = granted;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            buffer.records.push(LogRecord { level, message });
        });
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        self.with(|buffer| {
            let granted = buffer.reserve(bytes.len());
            let target = match stream {
                Stream::Stdout => &mut buffer.stdout,
                Stream::Stderr => &mut buffer.stderr,
            };
            target.extend_from_slice(&bytes[..granted]);
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

impl log::Host for SharedStepLog {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.record(level, message);
        Ok(())
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
        let log = SharedStepLog::new(10);
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
        let log = SharedStepLog::new(2);
        log.record(Level::Info, "éé".to_string());
        let finished = log.finish();
        assert_eq!(finished.records[0].message, "é");
        assert!(finished.truncated);
    }
}
