//! `closebook import accounts|rates|journals`.

use super::{Context, read_file};
use crate::cli::ImportCommand;
use crate::diagnostics::progress::{self, Progress};
use crate::output::print;
use anyhow::Context as _;
use closebook_ledger::ids::{ChartId, EntityId};
use closebook_ledger::import::{
    CsvJournalReader, read_accounts_csv_with_delimiter, read_json_journal, read_rates_csv_with_delimiter,
};
use closebook_ledger::ledger::ImportSummary;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub fn run(context: &Context, command: ImportCommand) -> anyhow::Result<()> {
    match command {
        ImportCommand::Accounts { file, chart, delimiter } => {
            let source = file.display().to_string();
            let accounts = read_accounts_csv_with_delimiter(open(&file)?, &source, delimiter.byte())?;
            let count = context
                .open_ledger()?
                .import_accounts(&ChartId::new(chart.clone()), &accounts, &source)?;
            print(&format!("imported {count} accounts into chart {chart} from {source}\n"))
        }
        ImportCommand::Rates { file, delimiter } => {
            let source = file.display().to_string();
            let rates = read_rates_csv_with_delimiter(open(&file)?, &source, delimiter.byte())?;
            let count = context.open_ledger()?.import_rates(&rates, &source)?;
            print(&format!("imported {count} exchange rates from {source}\n"))
        }
        ImportCommand::Journals {
            file,
            entity,
            module,
            post,
            delimiter,
            timings: _,
        } => {
            let source = file.display().to_string();
            let entity_id = EntityId::new(entity.clone());
            let is_json = file
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
            anyhow::ensure!(
                !(is_json && delimiter.delimiter.is_some()),
                "--delimiter applies to CSV files, but {source} is read as JSON; leave --delimiter out"
            );
            let mut ledger = context.open_ledger()?;
            let summary = if is_json {
                let items = read_json_journal(&read_file(&file)?, &source, module.module())?;
                // A JSON file is read whole before the import starts: its entries are the measure.
                let mut watch = ImportProgress::start(&source, items.len() as u64, post, None);
                ledger.import_journals_with_progress(&entity_id, items, post, &source, &mut |summary| {
                    watch.report(summary)
                })
            } else {
                let bytes_read = Arc::new(AtomicU64::new(0));
                let (file_bytes, reader) = open_counted(&file, Arc::clone(&bytes_read))?;
                let reader = CsvJournalReader::with_delimiter(reader, &source, module.module(), delimiter.byte())?;
                let mut watch = ImportProgress::start(&source, file_bytes, post, Some(bytes_read));
                ledger.import_journals_with_progress(&entity_id, reader, post, &source, &mut |summary| {
                    watch.report(summary)
                })
            };
            let summary = summary.with_context(|| format!("importing {source} into entity {entity}"))?;
            print(&format!("{}\n", summary_line(&source, &entity, post, &summary)))
        }
    }
}

/// What a journal import did, in one line; the command line, its remote mode and the upload
/// page all say it so.
pub(crate) fn summary_line(source: &str, entity: &str, post: bool, summary: &ImportSummary) -> String {
    let action = if post {
        format!("{} posted", summary.posted)
    } else {
        format!("{} kept as drafts", summary.drafted)
    };
    let line = format!(
        "{source}: {} entries ({} lines) read, {action}, {} already imported (unchanged); ledger sequence of {entity} is now {}",
        summary.entries_read, summary.lines_read, summary.repeated, summary.sequence
    );
    line + &awaiting_approval_note(entity, summary)
}

/// What a posting left as drafts because they need approval, as a sentence after the summary
/// (empty when nothing waits).
pub(crate) fn awaiting_approval_note(entity: &str, summary: &ImportSummary) -> String {
    let Some(keys) = summary.awaiting_approval_list() else {
        return String::new();
    };
    format!(
        "\n{} entries need approval and were kept as drafts: {keys}; submit them with `closebook journal submit --entity {entity} KEY...`, then another user with journal.approve approves them",
        summary.awaiting_approval.len()
    )
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::with_capacity(
        1 << 20,
        File::open(path).with_context(|| format!("opening {}", path.display()))?,
    ))
}

/// A file opened for a CSV import with its size in bytes: `bytes_read` counts what the reading
/// thread has taken of it, which is how far the import has got.
fn open_counted(path: &Path, bytes_read: Arc<AtomicU64>) -> anyhow::Result<(u64, BufReader<CountingReader<File>>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size_bytes = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    let counting = CountingReader {
        inner: file,
        bytes_read,
    };
    Ok((size_bytes, BufReader::with_capacity(1 << 20, counting)))
}

/// A reader that counts the bytes read through it. It sits under the 1 MiB buffer, so it counts
/// once a megabyte, not once an entry.
struct CountingReader<R> {
    inner: R,
    bytes_read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes_read.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// The progress of one journal import: how far into the file (bytes of a CSV file, entries of a
/// JSON file), entries read and posted (or kept), and the rate.
struct ImportProgress {
    progress: Progress,
    started: Instant,
    post: bool,
    /// Bytes the reading thread has taken of a CSV file; none for JSON, measured in entries.
    bytes_read: Option<Arc<AtomicU64>>,
}

impl ImportProgress {
    fn start(source: &str, total: u64, post: bool, bytes_read: Option<Arc<AtomicU64>>) -> Self {
        let progress = Progress::start(format!("import {source}"), Some(total), true);
        if let Some(bytes_read) = &bytes_read {
            progress.follow(Arc::clone(bytes_read));
        }
        Self {
            progress,
            started: Instant::now(),
            post,
            bytes_read,
        }
    }

    /// Called by the import every `IMPORT_PROGRESS_ENTRIES` entries read.
    fn report(&mut self, summary: &ImportSummary) {
        if !self.progress.is_shown() {
            return;
        }
        let done = match &self.bytes_read {
            Some(bytes_read) => bytes_read.load(Ordering::Relaxed),
            None => summary.entries_read as u64,
        };
        let written = if self.post {
            format!("{} posted", progress::count(summary.posted as u64))
        } else {
            format!("{} kept as drafts", progress::count(summary.drafted as u64))
        };
        self.progress.update(
            done,
            format!(
                "{} entries read, {written}, {} entries/s",
                progress::count(summary.entries_read as u64),
                progress::per_second(summary.entries_read as u64, self.started.elapsed())
            ),
        );
    }
}
