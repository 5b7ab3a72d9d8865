//! `closebook import accounts|rates|journals`.

use super::{Context, read_file};
use crate::cli::ImportCommand;
use crate::output::print;
use anyhow::Context as _;
use closebook_ledger::ids::{ChartId, EntityId};
use closebook_ledger::import::{
    CsvJournalReader, read_accounts_csv_with_delimiter, read_json_journal, read_rates_csv_with_delimiter,
};
use closebook_ledger::ledger::ImportSummary;
use std::fs::File;
use std::io::BufReader;
use std::io::Write as _;
use std::path::Path;

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
            let mut stderr = std::io::stderr();
            let terminal = std::io::IsTerminal::is_terminal(&stderr);
            let mut shown = false;
            let mut progress = |summary: &ImportSummary| {
                if terminal {
                    // One line, rewritten in place; nothing when stderr is a file or a pipe.
                    let _ = write!(
                        stderr,
                        "\r{source}: {} entries ({} lines) read…",
                        summary.entries_read, summary.lines_read
                    );
                    shown = true;
                }
            };
            let summary = if is_json {
                let items = read_json_journal(&read_file(&file)?, &source, module.module())?;
                ledger.import_journals_with_progress(&entity_id, items, post, &source, &mut progress)
            } else {
                let reader =
                    CsvJournalReader::with_delimiter(open(&file)?, &source, module.module(), delimiter.byte())?;
                ledger.import_journals_with_progress(&entity_id, reader, post, &source, &mut progress)
            };
            if shown {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
            let summary = summary.with_context(|| format!("importing {source} into entity {entity}"))?;
            let action = if post {
                format!("{} posted", summary.posted)
            } else {
                format!("{} kept as drafts", summary.drafted)
            };
            print(&format!(
                "{source}: {} entries ({} lines) read, {action}, {} already imported (unchanged); ledger sequence of {entity} is now {}\n",
                summary.entries_read, summary.lines_read, summary.repeated, summary.sequence
            ))
        }
    }
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::with_capacity(
        1 << 20,
        File::open(path).with_context(|| format!("opening {}", path.display()))?,
    ))
}
