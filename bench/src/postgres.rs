//! `closebook-bench postgres`: the ledger in SQLite and in PostgreSQL side by side, in one run on
//! the same generated journal (`generate`, as `run` and `import` write it).
//!
//! Measured per backend, in this order, every round interleaving the backends so that a change in
//! the machine's load touches both alike:
//!
//! - **the raw ceiling**: the rows closebook stores, as [`crate::baseline::insert_raw`] builds
//!   them (all 20 entry columns with placeholder hashes, all line columns with the dimension sets
//!   resolved or inserted), written into closebook's own `entries` and `lines` tables of a copy of
//!   the set-up ledger in one transaction: on SQLite `insert_raw` itself (prepared INSERTs), on
//!   PostgreSQL [`insert_raw_postgres`] (`COPY … FROM STDIN`);
//! - **`closebook import journals --post`** of the journal (the real binary as a child process:
//!   wall time, peak memory, its CPU time) into a fresh copy of the set-up ledger, and its ratio to
//!   the backend's ceiling;
//! - **the reports** (trial balance, balance sheet, income statement) on the imported ledger,
//!   through the library in this process, warm, as `run` measures them;
//! - **the month-end close** (`run`'s close.toml and plugins) on a fresh copy of the imported
//!   ledger per run;
//! - on PostgreSQL, **the reports and the close again after a whole-database `ANALYZE`** of a
//!   copy of the imported ledger. closebook analyzes the tables a posting import of 10,000
//!   entries or more grew (`Store::refresh_statistics`); without statistics the planner scans
//!   tables whole, which changed PostgreSQL's close from 2 s to 16 s at 200,000 entries.
//!
//! A PostgreSQL ledger is made as closebook's users make one: a new database, `closebook db
//! migrate`, then the same `setup apply` and `import rates` as the SQLite template; each round's
//! copy is `CREATE DATABASE … TEMPLATE`. The databases are named `closebook_bench_*` on the server
//! of `--url` (a throwaway one: `scripts/postgres start DIR`), replaced when there and dropped at
//! the end. Where the server's processes are readable here (a server on this machine), the CPU
//! time of all of them is read around each import and close: with the closebook process's own, it
//! shows where PostgreSQL's time goes.

use crate::generate::{self, ENTITY, USER};
use crate::measure::{self, Options, TaskTime, median};
use crate::results;
use anyhow::{Context as _, bail};
use closebook_ledger::Ledger;
use closebook_ledger::ids::{PeriodName, UserId};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Import and post must reach this share of the PostgreSQL ceiling's rate on PostgreSQL.
pub const IMPORT_SHARE_OF_CEILING_TARGET: f64 = 0.5;
/// The month-end close on PostgreSQL may take at most this many times SQLite's.
pub const CLOSE_RATIO_TARGET: f64 = 2.0;
/// Calls of each report measured (after one unmeasured call that warms the caches), as `run`.
const REPORT_CALLS: usize = 30;
/// The period the reports and the month-end close run for, as `run`'s.
const CLOSE_PERIOD: &str = "2026-12";
/// The month-end close's name in the close.toml `measure::write_close_configs` writes.
const MONTH_END_CLOSE: &str = "bench-month-end";
/// What [`Server::analyzed`] says when autovacuum has analyzed every table asked about.
const EVERY_TABLE_ANALYZED: &str = "every table analyzed";
/// What every database this benchmark makes on the server is named with.
const DATABASE_PREFIX: &str = "closebook_bench_";
/// How long making or dropping a database is tried again while another session holds it.
const DATABASE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// The placeholder written where closebook writes a SHA-256 in hex, as the SQLite ceiling's.
const HASH_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The COPY data is handed to the client library in pieces of about this size (each one message).
const COPY_CHUNK_BYTES: usize = 1 << 16;
/// The entry columns the ceiling writes: the id (assigned here, so that lines can name it) and
/// the 20 closebook writes.
const ENTRY_COLUMNS: &str = "id, entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description, \
     reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash";
/// The line columns the ceiling writes (the id is the table's identity).
const LINE_COLUMNS: &str =
    "entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description";

/// The two backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// CPU time spent during one measurement: by the measured process (the closebook child, or this
/// thread for a ceiling), and by the PostgreSQL server's processes (None on SQLite, or when they
/// cannot be read from here).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub client: Duration,
    pub server: Option<Duration>,
}

/// One timed measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timed {
    pub wall: Duration,
    pub cpu: Cpu,
    /// The closebook child's peak resident set (0 for an in-process ceiling).
    pub peak_rss_bytes: u64,
}

/// The medians of several [`Timed`]s, each figure on its own; the largest peak.
fn medians(runs: &[Timed]) -> Timed {
    let servers: Vec<Duration> = runs.iter().filter_map(|run| run.cpu.server).collect();
    Timed {
        wall: median(runs.iter().map(|run| run.wall).collect()),
        cpu: Cpu {
            client: median(runs.iter().map(|run| run.cpu.client).collect()),
            server: (servers.len() == runs.len() && !runs.is_empty()).then(|| median(servers)),
        },
        peak_rss_bytes: runs.iter().map(|run| run.peak_rss_bytes).max().unwrap_or(0),
    }
}

/// One backend's figures (medians of the rounds).
#[derive(Debug, Clone)]
pub struct BackendFigures {
    pub backend: Backend,
    pub ceiling: Timed,
    pub import: Timed,
    pub trial_balance: Duration,
    pub balance_sheet: Duration,
    pub income_statement: Duration,
    pub trial_balance_rows: usize,
    pub close: Timed,
    /// Each task of the last measured close, as the status board recorded it.
    pub close_tasks: Vec<TaskTime>,
}

/// PostgreSQL's figures on a copy of the imported ledger after a whole-database `ANALYZE`, on
/// top of the one closebook's import ran: what fuller statistics would change.
#[derive(Debug, Clone)]
pub struct AnalyzedFigures {
    /// The `ANALYZE` itself (connecting included).
    pub analyze: Duration,
    pub reports: Reports,
    pub close: Timed,
    pub close_tasks: Vec<TaskTime>,
}

/// Every figure of a run.
#[derive(Debug, Clone)]
pub struct Figures {
    pub entries: u64,
    pub lines: u64,
    pub runs: usize,
    /// `SHOW server_version`.
    pub server_version: String,
    /// The server's URL without its password.
    pub server: String,
    /// `/proc/loadavg`'s three load averages when the measurements began and when they ended.
    pub load_before: String,
    pub load_after: String,
    /// Whether the imported PostgreSQL ledger's `lines` and `balances` had been analyzed (by
    /// closebook's import, or autovacuum) when its reports were measured.
    pub postgres_analyzed: String,
    /// PostgreSQL's reports and close again, on a copy of the imported ledger after `ANALYZE`.
    pub postgres_after_analyze: AnalyzedFigures,
    pub sqlite: BackendFigures,
    pub postgres: BackendFigures,
    pub elapsed: Duration,
}

/// Runs the whole comparison on the PostgreSQL server at `url`. Progress goes to stderr.
pub fn run(options: &Options, url: &str) -> anyhow::Result<Figures> {
    if options.runs == 0 {
        bail!("--runs 0 measures nothing: give at least 1");
    }
    let started = Instant::now();
    // A close.toml resolves paths against its own folder: give it absolute ones.
    let options = &Options {
        closebook: measure::absolute(&options.closebook)
            .context("the closebook binary: build it with cargo build --release")?,
        plugins: measure::absolute(&options.plugins).context("the plugins: build them with scripts/build-plugins")?,
        work: measure::absolute(&options.work)?,
        ..options.clone()
    };
    let mut server = Server::connect(url)?;
    let data = options.data_folder();
    crate::phase!("generating {} entries into {}", options.entries, data.display());
    let generated = generate::generate_with(&data, options.entries, options.currencies)?;
    let journal = data.join("journal.csv");
    let close_config = measure::write_close_configs(options)?.0;

    crate::phase!("sqlite template ledger (setup, rates)");
    let sqlite_template = measure::setup_template(options, &data)?;
    crate::phase!("postgresql template ledger (create database, db migrate, setup, rates)");
    let postgres_template = server.create("template", None)?;
    measure::closebook(options, &postgres_template, &["db", "migrate"])?;
    measure::closebook(
        options,
        &postgres_template,
        &["setup", "apply", path_text(&data.join("setup.toml"))?],
    )?;
    measure::closebook(
        options,
        &postgres_template,
        &["import", "rates", path_text(&data.join("rates.csv"))?],
    )?;

    let load_before = load_average();
    let sqlite_ledger = options.work.join("ledger.db");
    let raw_db = options.work.join("raw.db");
    let import_arguments = ["import", "journals", path_text(&journal)?, "--entity", ENTITY, "--post"];
    let mut rounds: HashMap<(Backend, &str), Vec<Timed>> = HashMap::new();
    let mut postgres_ledger = PathBuf::new();
    for round in 1..=options.runs {
        let of = options.runs;
        crate::phase!("import round {round} of {of}: raw sqlite ceiling (prepared INSERTs)");
        let cpu_before = thread_cpu();
        let start = Instant::now();
        let inserted = crate::baseline::insert_raw(&journal, &sqlite_template, &raw_db)?;
        let wall = start.elapsed();
        expect_lines("the raw SQLite insert", inserted, generated.lines)?;
        measure::remove_database(&raw_db)?;
        rounds.entry((Backend::Sqlite, "ceiling")).or_default().push(Timed {
            wall,
            cpu: Cpu {
                client: thread_cpu().saturating_sub(cpu_before),
                server: None,
            },
            peak_rss_bytes: 0,
        });

        crate::phase!("import round {round} of {of}: raw postgresql ceiling (COPY)");
        let ceiling_db = server.create("ceiling", Some("template"))?;
        let ceiling_url = path_text(&ceiling_db)?.to_owned();
        let server_before = server.cpu();
        let cpu_before = thread_cpu();
        let start = Instant::now();
        let inserted = insert_raw_postgres(&journal, &ceiling_url)?;
        let wall = start.elapsed();
        let client = thread_cpu().saturating_sub(cpu_before);
        let server_cpu = server.cpu_since(server_before);
        expect_lines("the raw PostgreSQL COPY", inserted, generated.lines)?;
        server.drop_database("ceiling")?;
        rounds.entry((Backend::Postgres, "ceiling")).or_default().push(Timed {
            wall,
            cpu: Cpu {
                client,
                server: server_cpu,
            },
            peak_rss_bytes: 0,
        });

        crate::phase!("import round {round} of {of}: closebook import into sqlite");
        measure::copy_database(&sqlite_template, &sqlite_ledger)?;
        let run = timed_closebook(options, &sqlite_ledger, &import_arguments, None)?;
        rounds.entry((Backend::Sqlite, "import")).or_default().push(run);
        expect_posted(&sqlite_ledger, &generated)?;

        crate::phase!("import round {round} of {of}: closebook import into postgresql");
        postgres_ledger = server.create("ledger", Some("template"))?;
        let run = timed_closebook(options, &postgres_ledger, &import_arguments, Some(&mut server))?;
        rounds.entry((Backend::Postgres, "import")).or_default().push(run);
        expect_posted(&postgres_ledger, &generated)?;
    }

    crate::phase!("reports on sqlite ({REPORT_CALLS} calls each)");
    let sqlite_reports = crate::measure::report_medians(&sqlite_ledger)?;
    let postgres_analyzed = server.analyzed("ledger", &["lines", "balances", "entries"])?;
    crate::phase!("reports on postgresql ({REPORT_CALLS} calls each; {postgres_analyzed})");
    let postgres_reports = crate::measure::report_medians(&postgres_ledger)?;
    crate::phase!("ANALYZE of a copy of the postgresql ledger, and its reports ({REPORT_CALLS} calls each)");
    let analyzed_ledger = server.create("analyzed", Some("ledger"))?;
    let start = Instant::now();
    postgres::Client::connect(path_text(&analyzed_ledger)?, postgres::NoTls)?.batch_execute("ANALYZE")?;
    let analyze = start.elapsed();
    let analyzed_reports = crate::measure::report_medians(&analyzed_ledger)?;

    crate::phase!("month-end close: one unmeasured run on sqlite that fills the plugin cache");
    let sqlite_close = options.work.join("close.db");
    measure::copy_database(&sqlite_ledger, &sqlite_close)?;
    close_run(options, &sqlite_close, &close_config, None)?;
    let mut close_tasks = HashMap::new();
    let mut analyzed_tasks = Vec::new();
    for round in 1..=options.runs {
        let of = options.runs;
        crate::phase!("month-end close round {round} of {of}: sqlite");
        measure::copy_database(&sqlite_ledger, &sqlite_close)?;
        let run = close_run(options, &sqlite_close, &close_config, None)?;
        rounds.entry((Backend::Sqlite, "close")).or_default().push(run);
        close_tasks.insert(Backend::Sqlite, completed_tasks(&sqlite_close, &close_config)?);

        crate::phase!("month-end close round {round} of {of}: postgresql");
        let postgres_close = server.create("close", Some("ledger"))?;
        let run = close_run(options, &postgres_close, &close_config, Some(&mut server))?;
        rounds.entry((Backend::Postgres, "close")).or_default().push(run);
        close_tasks.insert(Backend::Postgres, completed_tasks(&postgres_close, &close_config)?);

        crate::phase!("month-end close round {round} of {of}: postgresql after ANALYZE");
        let postgres_close = server.create("close", Some("analyzed"))?;
        let run = close_run(options, &postgres_close, &close_config, Some(&mut server))?;
        rounds
            .entry((Backend::Postgres, "close after analyze"))
            .or_default()
            .push(run);
        analyzed_tasks = completed_tasks(&postgres_close, &close_config)?;
    }
    let load_after = load_average();
    measure::remove_database(&sqlite_close)?;
    crate::phase!("dropping the benchmark's databases");
    server.drop_all()?;

    let mut figures = |backend: Backend, reports: Reports| BackendFigures {
        backend,
        ceiling: medians(&rounds[&(backend, "ceiling")]),
        import: medians(&rounds[&(backend, "import")]),
        trial_balance: reports.trial_balance,
        balance_sheet: reports.balance_sheet,
        income_statement: reports.income_statement,
        trial_balance_rows: reports.trial_balance_rows,
        close: medians(&rounds[&(backend, "close")]),
        close_tasks: close_tasks.remove(&backend).unwrap_or_default(),
    };
    let sqlite = figures(Backend::Sqlite, sqlite_reports);
    let postgres = figures(Backend::Postgres, postgres_reports);
    Ok(Figures {
        entries: generated.entries,
        lines: generated.lines,
        runs: options.runs,
        server_version: server.version.clone(),
        server: closebook_ledger::store::postgres::redacted(url),
        load_before,
        load_after,
        postgres_analyzed,
        postgres_after_analyze: AnalyzedFigures {
            analyze,
            reports: analyzed_reports,
            close: medians(&rounds[&(Backend::Postgres, "close after analyze")]),
            close_tasks: analyzed_tasks,
        },
        sqlite,
        postgres,
        elapsed: started.elapsed(),
    })
}

fn expect_lines(what: &str, inserted: u64, expected: u64) -> anyhow::Result<()> {
    if inserted != expected {
        bail!("{what} wrote {inserted} lines, expected {expected}");
    }
    Ok(())
}

/// Refuses a ledger that does not hold every generated entry and line once.
fn expect_posted(database: &Path, generated: &generate::Generated) -> anyhow::Result<()> {
    let (entries, lines) = match closebook_ledger::store::postgres::url_of(database) {
        Some(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls)?;
            let row = client.query_one(
                "SELECT (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM lines)",
                &[],
            )?;
            (row.get::<_, i64>(0), row.get::<_, i64>(1))
        }
        None => rusqlite::Connection::open(database)?.query_row(
            "SELECT (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM lines)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?,
    };
    if u64::try_from(entries)? != generated.entries || u64::try_from(lines)? != generated.lines {
        bail!(
            "the import into {} posted {entries} entries and {lines} lines, expected {} and {}",
            database.display(),
            generated.entries,
            generated.lines
        );
    }
    Ok(())
}

/// Runs closebook on `database` as `measure::closebook` does, with the CPU time of the child and,
/// when `server` is given, of the PostgreSQL server's processes meanwhile.
fn timed_closebook(
    options: &Options,
    database: &Path,
    arguments: &[&str],
    server: Option<&mut Server>,
) -> anyhow::Result<Timed> {
    let server_before = server.as_ref().map(|server| server.cpu());
    let children_before = children_cpu();
    let run = measure::closebook(options, database, arguments)?;
    let client = children_cpu().saturating_sub(children_before);
    let server_cpu = match (server, server_before) {
        (Some(server), Some(before)) => server.cpu_since(before),
        _ => None,
    };
    Ok(Timed {
        wall: run.wall,
        cpu: Cpu {
            client,
            server: server_cpu,
        },
        peak_rss_bytes: run.max_rss_bytes,
    })
}

fn close_run(options: &Options, database: &Path, config: &Path, server: Option<&mut Server>) -> anyhow::Result<Timed> {
    timed_closebook(
        options,
        database,
        &["close", "run", "--config", path_text(config)?, "--period", CLOSE_PERIOD],
        server,
    )
}

/// The month-end close's tasks in `database`, refused unless every one completed: a close that
/// stopped early is no figure.
fn completed_tasks(database: &Path, config: &Path) -> anyhow::Result<Vec<TaskTime>> {
    let mut ledger = Ledger::open(database, UserId::new(USER))?;
    let records = ledger.read(|db| db.close_tasks(MONTH_END_CLOSE, &PeriodName::new(CLOSE_PERIOD)))?;
    if records.is_empty() {
        bail!(
            "the close of {} ran no task on {}",
            config.display(),
            database.display()
        );
    }
    if let Some(record) = records.iter().find(|record| !record.status.is_complete()) {
        bail!(
            "the close of {} on {} left task {} {}: see {}",
            config.display(),
            database.display(),
            record.task,
            record.status,
            config.with_file_name("closebook.log").display()
        );
    }
    Ok(records
        .into_iter()
        .map(|record| TaskTime {
            task: record.task,
            status: record.status.to_string(),
            duration_ms: i64::try_from(record.duration_ms).unwrap_or(i64::MAX),
            entries_posted: record.entries_posted,
        })
        .collect())
}

pub use crate::measure::Reports;

fn journal_reader(journal: &Path) -> anyhow::Result<csv::Reader<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(journal).with_context(|| format!("opening {}", journal.display()))?;
    Ok(csv::ReaderBuilder::new()
        .trim(csv::Trim::Fields)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file)))
}

/// Appends `text` as a field of COPY's text format: backslash, tab, newline and carriage return
/// escaped.
fn push_text(buffer: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|byte| matches!(byte, b'\\' | b'\t' | b'\n' | b'\r')) {
        buffer.extend_from_slice(text.as_bytes());
        return;
    }
    for byte in text.bytes() {
        match byte {
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            other => buffer.push(other),
        }
    }
}

/// One row of COPY's text format: each field text (escaped), an integer, or NULL.
enum Field<'a> {
    Text(&'a str),
    Integer(i64),
    Null,
}

fn push_row(buffer: &mut Vec<u8>, fields: &[Field<'_>]) {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            buffer.push(b'\t');
        }
        match field {
            Field::Text(text) => push_text(buffer, text),
            Field::Integer(number) => {
                let _ = write!(buffer, "{number}");
            }
            Field::Null => buffer.extend_from_slice(b"\\N"),
        }
    }
    buffer.push(b'\n');
}

/// The PostgreSQL ceiling: the rows [`crate::baseline::insert_raw`] inserts into SQLite, written
/// with `COPY … FROM STDIN` into the set-up ledger database at `url` in one transaction; returns
/// the lines written.
///
/// The journal is read once with the same CSV reader. The entries stream into their COPY while
/// the journal is read (the server works while this process parses), with ids assigned here so
/// that lines can name them; the lines are kept as COPY text and written by a second COPY once
/// the entries are in (their foreign key needs them), after the dimension sets met for the first
/// time (ids assigned here too). The identity sequences are then moved past the ids used, as
/// they would be after INSERTs.
pub fn insert_raw_postgres(journal: &Path, url: &str) -> anyhow::Result<u64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .with_context(|| format!("connecting to {}", closebook_ledger::store::postgres::redacted(url)))?;
    let mut transaction = client.transaction()?;
    let mut dimension_sets: HashMap<String, i64> = transaction
        .query("SELECT canonical, id FROM dimension_sets", &[])?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut next_dimension_set: i64 = transaction
        .query_one("SELECT COALESCE(MAX(id), 0) + 1 FROM dimension_sets", &[])?
        .get(0);
    let mut entry_id: i64 = transaction
        .query_one("SELECT COALESCE(MAX(id), 0) FROM entries", &[])?
        .get(0);
    let mut new_dimension_sets: Vec<(i64, String)> = Vec::new();
    let mut lines = Vec::new();
    let mut line_count = 0_u64;
    let posted_at = closebook_ledger::now_text();
    let source = format!("import:{}", journal.display());
    {
        let mut writer = transaction.copy_in(&format!("COPY entries ({ENTRY_COLUMNS}) FROM STDIN"))?;
        let mut chunk = Vec::with_capacity(2 * COPY_CHUNK_BYTES);
        let mut reader = journal_reader(journal)?;
        let mut current_key = String::new();
        let (mut sequence, mut line_no) = (0_i64, 0_i64);
        for record in reader.records() {
            let record = record.context("reading the journal")?;
            let field = |index: usize| record.get(index).unwrap_or("");
            let (key, date) = (field(0), field(1));
            let period = date.get(..7).unwrap_or(date);
            if key != current_key {
                sequence += 1;
                line_no = 0;
                entry_id += 1;
                push_row(
                    &mut chunk,
                    &[
                        Field::Integer(entry_id),
                        Field::Text(ENTITY),
                        Field::Integer(sequence),
                        Field::Text(key),
                        Field::Text(HASH_PLACEHOLDER),
                        Field::Text(date),
                        Field::Text(period),
                        Field::Text(generate::FISCAL_YEAR),
                        Field::Text("ledger"),
                        Field::Text(field(6)),
                        Field::Null,
                        Field::Text(USER),
                        Field::Text(&posted_at),
                        Field::Text(&source),
                        Field::Null,
                        Field::Null,
                        Field::Null,
                        Field::Null,
                        Field::Null,
                        Field::Text(HASH_PLACEHOLDER),
                        Field::Text(HASH_PLACEHOLDER),
                    ],
                );
                if chunk.len() >= COPY_CHUNK_BYTES {
                    writer.write_all(&chunk)?;
                    chunk.clear();
                }
                key.clone_into(&mut current_key);
            }
            line_no += 1;
            let crate::baseline::JournalLine {
                dimensions,
                currency,
                accounting,
            } = crate::baseline::journal_line(&record);
            let dimension_set_id = match dimension_sets.get(&dimensions) {
                Some(id) => *id,
                None => {
                    let id = next_dimension_set;
                    next_dimension_set += 1;
                    new_dimension_sets.push((id, dimensions.clone()));
                    dimension_sets.insert(dimensions, id);
                    id
                }
            };
            push_row(
                &mut lines,
                &[
                    Field::Integer(entry_id),
                    Field::Text(ENTITY),
                    Field::Text(period),
                    Field::Integer(line_no),
                    Field::Text(field(2)),
                    Field::Integer(dimension_set_id),
                    Field::Text(currency),
                    Field::Text(field(3)),
                    Field::Text(accounting),
                    Field::Text(field(6)),
                ],
            );
            line_count += 1;
        }
        writer.write_all(&chunk)?;
        writer.finish().context("the COPY of the entries")?;
    }
    if !new_dimension_sets.is_empty() {
        let (ids, canonicals): (Vec<i64>, Vec<String>) = new_dimension_sets.into_iter().unzip();
        transaction.execute(
            "INSERT INTO dimension_sets (id, canonical) SELECT * FROM unnest($1::BIGINT[], $2::TEXT[])",
            &[&ids, &canonicals],
        )?;
    }
    {
        let mut writer = transaction.copy_in(&format!("COPY lines ({LINE_COLUMNS}) FROM STDIN"))?;
        for chunk in lines.chunks(COPY_CHUNK_BYTES) {
            writer.write_all(chunk)?;
        }
        writer.finish().context("the COPY of the lines")?;
    }
    transaction.batch_execute(
        "SELECT setval(pg_get_serial_sequence('entries', 'id'), MAX(id)) FROM entries;
         SELECT setval(pg_get_serial_sequence('dimension_sets', 'id'), MAX(id)) FROM dimension_sets;",
    )?;
    transaction.commit()?;
    Ok(line_count)
}

/// The PostgreSQL server of `--url`: a connection to the URL's own database, through which the
/// benchmark's databases are made and dropped, and the server's processes when they can be read
/// from here.
struct Server {
    url: String,
    admin: postgres::Client,
    version: String,
    /// The postmaster's process id, when it runs on this machine and /proc shows it.
    postmaster: Option<i32>,
    /// The databases made so far (without the prefix).
    made: Vec<String>,
}

impl Server {
    fn connect(url: &str) -> anyhow::Result<Self> {
        let redacted = closebook_ledger::store::postgres::redacted(url);
        if !closebook_ledger::store::postgres::is_postgres_location(url) {
            bail!("--url {redacted} is not a postgres:// or postgresql:// URL");
        }
        let mut admin = postgres::Client::connect(url, postgres::NoTls)
            .with_context(|| format!("connecting to {redacted} (scripts/postgres start DIR prints a URL)"))?;
        let row = admin.query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::INT, pg_backend_pid(), \
             (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user), current_database()",
            &[],
        )?;
        let (version, version_number, backend, may_create, database): (String, i32, i32, bool, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if version_number < 150_000 {
            bail!("{redacted} runs PostgreSQL {version}: closebook needs 15 or later");
        }
        if !may_create {
            bail!(
                "the role of {redacted} may not CREATE DATABASE: give a URL whose role may (scripts/postgres start DIR)"
            );
        }
        if database.starts_with(DATABASE_PREFIX) {
            bail!("--url names {database}, one of the databases this benchmark replaces: name another");
        }
        let postmaster = if is_local(url) { postmaster_of(backend) } else { None };
        Ok(Self {
            url: url.to_owned(),
            admin,
            version,
            postmaster,
            made: Vec::new(),
        })
    }

    /// The URL of the benchmark's database `name`, as a `--db`.
    fn database(&self, name: &str) -> PathBuf {
        PathBuf::from(with_database(&self.url, &format!("{DATABASE_PREFIX}{name}")))
    }

    /// Makes the benchmark's database `name` (replacing it), empty or a copy of the benchmark's
    /// database `template`; returns its URL.
    fn create(&mut self, name: &str, template: Option<&str>) -> anyhow::Result<PathBuf> {
        self.drop_database(name)?;
        let copy = match template {
            // FILE_COPY: copies the files, where the default writes every page to the WAL.
            Some(template) => format!(" TEMPLATE {DATABASE_PREFIX}{template} STRATEGY = FILE_COPY"),
            None => String::new(),
        };
        self.retrying(&format!("CREATE DATABASE {DATABASE_PREFIX}{name}{copy}"))?;
        if !self.made.iter().any(|made| made == name) {
            self.made.push(name.to_owned());
        }
        Ok(self.database(name))
    }

    /// Drops the benchmark's database `name` if it is there. Without FORCE first: that stops an
    /// autovacuum worker in it, which FORCE may not (the worker runs as the bootstrap superuser);
    /// then with FORCE, which ends our own connections left in it.
    fn drop_database(&mut self, name: &str) -> anyhow::Result<()> {
        let database = format!("{DATABASE_PREFIX}{name}");
        if self
            .admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
            .is_ok()
        {
            return Ok(());
        }
        self.retrying(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
    }

    /// Runs `statement` on the admin connection, again for a few seconds while it fails (another
    /// session, such as an autovacuum worker starting, may hold the database for a moment).
    fn retrying(&mut self, statement: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + DATABASE_BUSY_TIMEOUT;
        loop {
            match self.admin.batch_execute(statement) {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Err(error) => return Err(error).context(statement.to_owned()),
            }
        }
    }

    fn drop_all(&mut self) -> anyhow::Result<()> {
        for name in std::mem::take(&mut self.made) {
            self.drop_database(&name)?;
        }
        Ok(())
    }

    /// Whether autovacuum (or anyone) has analyzed `tables` of the benchmark's database `name`.
    fn analyzed(&self, name: &str, tables: &[&str]) -> anyhow::Result<String> {
        let url = self.database(name);
        let mut client = postgres::Client::connect(path_text(&url)?, postgres::NoTls)?;
        let mut analyzed = Vec::new();
        for table in tables {
            let row = client.query_opt(
                "SELECT COALESCE(last_analyze, last_autoanalyze) IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1",
                &[table],
            )?;
            if row.is_some_and(|row| row.get::<_, bool>(0)) {
                analyzed.push(*table);
            }
        }
        Ok(match analyzed.len() {
            0 => "no table analyzed yet".to_owned(),
            count if count == tables.len() => EVERY_TABLE_ANALYZED.to_owned(),
            _ => format!("analyzed: {}", analyzed.join(", ")),
        })
    }

    /// The CPU time the server's processes have used so far: the postmaster's own and that of
    /// its children, live and exited (reaped children's times add to the postmaster's).
    fn cpu(&self) -> Option<Duration> {
        server_cpu(self.postmaster?)
    }

    fn cpu_since(&self, before: Option<Duration>) -> Option<Duration> {
        Some(self.cpu()?.saturating_sub(before?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // An interrupted or failed run leaves nothing behind on the server.
        let _ = self.drop_all();
    }
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Whether the URL's server is on this machine (a Unix socket, or the loopback address), so that
/// its processes are this machine's.
fn is_local(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    host.is_empty()
        || host.starts_with('/')
        || host.to_ascii_lowercase().starts_with("%2f")
        || matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        || url.contains("host=/")
        || url.contains("host=%2F")
}

/// A process's state letter and the fields of `/proc/PID/stat` after it (field N of proc(5) at
/// index N - 4), read past the command name (which may hold spaces).
fn stat_of(pid: i32) -> Option<(char, Vec<u64>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.get(stat.rfind(')')? + 2..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.map(|text| text.parse().unwrap_or(0)).collect()))
}

/// The parent of our backend `backend`, when it is a PostgreSQL process on this machine.
fn postmaster_of(backend: i32) -> Option<i32> {
    let command = std::fs::read(format!("/proc/{backend}/cmdline")).ok()?;
    if !command.starts_with(b"postgres") {
        return None;
    }
    i32::try_from(*stat_of(backend)?.1.first()?).ok()
}

/// The clock ticks `/proc` counts CPU time in, per second.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100)
}

/// Times a consistent reading of the server's CPU is tried before giving up.
const SERVER_CPU_ATTEMPTS: usize = 2_000;

/// The CPU time of `postmaster` and its children: live ones read one by one, exited ones as its
/// `cutime` and `cstime` (a child's times move there when the postmaster reaps it). A reading
/// during which a child exited is taken again: between its exit and its reaping a child is
/// counted in neither, and one reaped during the reading may be counted in both.
fn server_cpu(postmaster: i32) -> Option<Duration> {
    // utime, stime, cutime, cstime are fields 14 to 17.
    let own_ticks = || -> Option<(u64, u64)> {
        let fields = stat_of(postmaster)?.1;
        Some((fields.get(10..12)?.iter().sum(), fields.get(12..14)?.iter().sum()))
    };
    let parent = u64::try_from(postmaster).ok()?;
    for _ in 0..SERVER_CPU_ATTEMPTS {
        let (own, reaped) = own_ticks()?;
        let mut children = 0;
        let mut exiting = false;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
                continue;
            };
            if let Some((state, fields)) = stat_of(pid)
                && fields.first() == Some(&parent)
            {
                exiting |= matches!(state, 'Z' | 'X');
                children += fields.get(10..12).map_or(0, |times| times.iter().sum::<u64>());
            }
        }
        if !exiting && own_ticks()?.1 == reaped {
            return Some(Duration::from_secs_f64(
                (own + reaped + children) as f64 / clock_ticks() as f64,
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn rusage_cpu(who: libc::c_int) -> Duration {
    // SAFETY: `rusage` is plain data that getrusage fills; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |value: libc::timeval| {
        Duration::from_secs(u64::try_from(value.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(value.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The CPU time of this thread so far (an in-process ceiling runs on it alone).
fn thread_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_THREAD)
}

/// The CPU time of this process's children that have exited and been waited for.
fn children_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_CHILDREN)
}

/// `/proc/loadavg`'s three load averages (1, 5 and 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn path_text(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("the path {} is not UTF-8: use a UTF-8 --work folder", path.display()))
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

fn mebibytes(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

fn rate(lines: u64, duration: Duration) -> String {
    if duration.is_zero() {
        return "–".to_owned();
    }
    let per_second = (lines as f64 / duration.as_secs_f64()).round() as u64;
    let digits = per_second.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped} lines/s")
}

/// The import's rate as a share of the ceiling's: the ceiling's time over the import's.
fn share_of_ceiling(figures: &BackendFigures) -> f64 {
    figures.ceiling.wall.as_secs_f64() / figures.import.wall.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn cpu_text(cpu: &Cpu) -> String {
    match cpu.server {
        Some(server) => format!("{} + server {}", seconds(cpu.client), seconds(server)),
        None => seconds(cpu.client),
    }
}

/// The Markdown table of a run, with a line on the machine and its load, and the close's tasks.
pub fn table(figures: &Figures, command: &str, date: &str) -> String {
    let (sqlite, postgres) = (&figures.sqlite, &figures.postgres);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "`{command}`: {} entries, {} lines; medians of {} round(s); {date}\n",
        figures.entries, figures.lines, figures.runs
    );
    let _ = writeln!(
        text,
        "{}; PostgreSQL {} at {}; load average (1, 5, 15 min) {} before the measurements, {} after; \
         the whole run took {:.0} s.\n",
        results::machine(),
        figures.server_version,
        figures.server,
        figures.load_before,
        figures.load_after,
        figures.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "| measure | SQLite | PostgreSQL | PG target | verdict |\n| --- | ---: | ---: | --- | --- |"
    );
    let mut row = |measure: &str, sqlite: String, postgres: String, target: &str, verdict: String| {
        let _ = writeln!(text, "| {measure} | {sqlite} | {postgres} | {target} | {verdict} |");
    };
    let lines = figures.lines;
    let with_rate = |duration: Duration| format!("{} ({})", seconds(duration), rate(lines, duration));
    row(
        "raw ceiling: closebook's rows into its tables, one transaction (SQLite: prepared INSERTs; PostgreSQL: COPY)",
        with_rate(sqlite.ceiling.wall),
        with_rate(postgres.ceiling.wall),
        "–",
        "–".to_owned(),
    );
    row(
        "CPU of the ceiling (this process + the server's)",
        cpu_text(&sqlite.ceiling.cpu),
        cpu_text(&postgres.ceiling.cpu),
        "–",
        "–".to_owned(),
    );
    let share = share_of_ceiling(postgres);
    row(
        "`closebook import journals --post`",
        with_rate(sqlite.import.wall),
        with_rate(postgres.import.wall),
        &format!(
            "≥ {:.0} % of the PostgreSQL ceiling's rate",
            100.0 * IMPORT_SHARE_OF_CEILING_TARGET
        ),
        if share >= IMPORT_SHARE_OF_CEILING_TARGET {
            format!("pass ({:.0} %)", 100.0 * share)
        } else {
            format!(
                "MISS ({:.0} %: {:.1}× too slow)",
                100.0 * share,
                IMPORT_SHARE_OF_CEILING_TARGET / share
            )
        },
    );
    row(
        "import rate / its backend's ceiling rate",
        format!("{:.0} %", 100.0 * share_of_ceiling(sqlite)),
        format!("{:.0} %", 100.0 * share),
        "–",
        "–".to_owned(),
    );
    row(
        "CPU of the import (closebook + the server's)",
        cpu_text(&sqlite.import.cpu),
        cpu_text(&postgres.import.cpu),
        "–",
        "–".to_owned(),
    );
    row(
        "peak memory of the import (the closebook process)",
        mebibytes(sqlite.import.peak_rss_bytes),
        mebibytes(postgres.import.peak_rss_bytes),
        "–",
        "–".to_owned(),
    );
    for (name, value) in [
        ("trial balance", (sqlite.trial_balance, postgres.trial_balance)),
        ("balance sheet", (sqlite.balance_sheet, postgres.balance_sheet)),
        ("income statement", (sqlite.income_statement, postgres.income_statement)),
    ] {
        row(
            &format!("{name} ({CLOSE_PERIOD}, warm, median of {REPORT_CALLS})"),
            milliseconds(value.0),
            milliseconds(value.1),
            &format!("< {}", milliseconds(results::REPORT_TARGET)),
            under(value.1, results::REPORT_TARGET),
        );
    }
    let close_limit = sqlite.close.wall.mul_f64(CLOSE_RATIO_TARGET);
    let close_target = format!("≤ {CLOSE_RATIO_TARGET:.0}× SQLite's (≤ {})", seconds(close_limit));
    let close_verdict = |close: Duration| {
        let ratio = close.as_secs_f64() / sqlite.close.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        if close <= close_limit {
            format!("pass ({ratio:.2}× SQLite's)")
        } else {
            format!("MISS ({ratio:.2}× SQLite's)")
        }
    };
    row(
        "month-end close (`close run`, fresh copy of the imported ledger)",
        seconds(sqlite.close.wall),
        seconds(postgres.close.wall),
        &close_target,
        close_verdict(postgres.close.wall),
    );
    row(
        "CPU of the month-end close (closebook + the server's)",
        cpu_text(&sqlite.close.cpu),
        cpu_text(&postgres.close.cpu),
        "–",
        "–".to_owned(),
    );
    row(
        "peak memory of the month-end close (the closebook process)",
        mebibytes(sqlite.close.peak_rss_bytes),
        mebibytes(postgres.close.peak_rss_bytes),
        "–",
        "–".to_owned(),
    );
    let analyzed = &figures.postgres_after_analyze;
    row(
        "PostgreSQL only: a whole-database `ANALYZE` of a copy of the imported ledger",
        "–".to_owned(),
        seconds(analyzed.analyze),
        "–",
        "–".to_owned(),
    );
    for (name, value) in [
        ("trial balance", (sqlite.trial_balance, analyzed.reports.trial_balance)),
        ("balance sheet", (sqlite.balance_sheet, analyzed.reports.balance_sheet)),
        (
            "income statement",
            (sqlite.income_statement, analyzed.reports.income_statement),
        ),
    ] {
        row(
            &format!("{name}, PostgreSQL after `ANALYZE`"),
            milliseconds(value.0),
            milliseconds(value.1),
            &format!("< {}", milliseconds(results::REPORT_TARGET)),
            under(value.1, results::REPORT_TARGET),
        );
    }
    row(
        "month-end close, PostgreSQL after `ANALYZE`",
        seconds(sqlite.close.wall),
        seconds(analyzed.close.wall),
        &close_target,
        close_verdict(analyzed.close.wall),
    );
    row(
        "CPU of that close (closebook + the server's)",
        cpu_text(&sqlite.close.cpu),
        cpu_text(&analyzed.close.cpu),
        "–",
        "–".to_owned(),
    );
    let _ = writeln!(
        text,
        "\nTrial balance rows: {} on SQLite, {} on PostgreSQL. PostgreSQL's statistics when its reports \
         ran: {}. The server's CPU is that of all its processes (backends, autovacuum, writers) during \
         the measurement, read from /proc; its memory is not in the peak figures.\n",
        sqlite.trial_balance_rows, postgres.trial_balance_rows, figures.postgres_analyzed
    );
    let _ = writeln!(
        text,
        "Month-end close tasks (last run; ms as the status board recorded them):\n\n\
         | task | SQLite | PostgreSQL | PostgreSQL after `ANALYZE` | entries posted (SQLite / PostgreSQL / after `ANALYZE`) |\n\
         | --- | ---: | ---: | ---: | ---: |"
    );
    let find = |tasks: &[TaskTime], name: &str| tasks.iter().find(|other| other.task == name).cloned();
    for task in &sqlite.close_tasks {
        let others = [
            find(&postgres.close_tasks, &task.task),
            find(&analyzed.close_tasks, &task.task),
        ];
        let [time, time_analyzed] = others.each_ref().map(|other| {
            other
                .as_ref()
                .map_or("–".to_owned(), |other| format!("{} ms", other.duration_ms))
        });
        let [posted, posted_analyzed] = others.each_ref().map(|other| {
            other
                .as_ref()
                .map_or("–".to_owned(), |other| other.entries_posted.to_string())
        });
        let _ = writeln!(
            text,
            "| {} | {} ms | {time} | {time_analyzed} | {} / {posted} / {posted_analyzed} |",
            task.task, task.duration_ms, task.entries_posted,
        );
    }
    text
}

/// "pass" or "MISS by …" for a measured time against a limit.
fn under(measured: Duration, limit: Duration) -> String {
    let share = measured.as_secs_f64() / limit.as_secs_f64();
    if measured < limit {
        format!("pass ({:.0} % of the limit)", 100.0 * share)
    } else {
        format!("MISS by {share:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_put_in_place_of_the_urls_own() {
        // Proves the benchmark's databases are reached on the --url's server, socket and
        // options kept.
        assert_eq!(
            with_database(
                "postgresql://closebook@%2Ftmp%2Fpg:5432/closebook",
                "closebook_bench_ledger"
            ),
            "postgresql://closebook@%2Ftmp%2Fpg:5432/closebook_bench_ledger"
        );
        assert_eq!(
            with_database("postgres://u:p@db.example/books?sslmode=disable", "x"),
            "postgres://u:p@db.example/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://localhost", "x"), "postgres://localhost/x");
    }

    #[test]
    fn only_a_socket_or_loopback_server_counts_as_local() {
        // Proves the server's CPU is read from /proc only where the server runs here.
        assert!(is_local("postgresql://closebook@%2Ftmp%2Fpg:5432/closebook"));
        assert!(is_local("postgres://u@localhost:5433/db"));
        assert!(!is_local("postgres://u:p@db.example:5432/db"));
    }

    #[test]
    fn copy_text_escapes_what_its_format_reserves() {
        // Proves a description with a tab, newline or backslash reaches PostgreSQL unchanged.
        let mut buffer = Vec::new();
        push_row(
            &mut buffer,
            &[Field::Text("a\tb\\c\nd"), Field::Integer(-7), Field::Null],
        );
        assert_eq!(buffer, b"a\\tb\\\\c\\nd\t-7\t\\N\n");
    }
}
