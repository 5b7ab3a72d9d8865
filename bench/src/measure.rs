//! One benchmark run: generates (or reuses) the ledger files, then measures, in this order, the
//! raw-SQLite ceiling, `closebook import journals --post` (wall time and peak memory of the real
//! binary as a child process), the trial balance, balance sheet and income statement (through
//! the library, on the imported ledger), the month-end close and the year-end close (the real
//! binary's `close run`, each on a fresh copy of the imported ledger), plugin load and call
//! overhead (the host's plugin runtime, in process), and the peers, hledger and ledger, on the
//! same entries as a plain-text journal. Every figure is the median of `runs` repetitions.

use crate::generate::{self, ENTITY, USER};
use anyhow::{Context as _, bail};
use closebook::plugin::{CacheStatus, Limits, PluginRuntime};
use closebook_ledger::Ledger;
use closebook_ledger::ids::{EntityId, PeriodName, UserId};
use closebook_ledger::report;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Calls of each report measured (after one unmeasured call that warms SQLite's page cache).
const REPORT_CALLS: usize = 30;
/// Calls of a loaded plugin's `describe` export measured for the warm overhead.
const PLUGIN_CALLS: usize = 200;
/// The period the month-end close and the reports run for: the last month of FY2026, so that
/// every entry of the year is in scope.
const CLOSE_PERIOD: &str = "2026-12";
/// How long one peer run may take before it is stopped and reported as not finished: the
/// benchmark must end, whatever a peer does with a large journal.
const PEER_TIME_LIMIT: Duration = Duration::from_secs(300);
/// How often a peer run is checked for having finished (the resolution of its wall time).
const PEER_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The plugin the load and call overhead is measured on.
const OVERHEAD_PLUGIN: &str = "fx_revaluation";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Journal entries to generate.
    pub entries: u64,
    /// Repetitions of each closebook measurement (the median is reported).
    pub runs: usize,
    /// Repetitions of each peer (hledger, ledger) run; 0 leaves the peers out.
    pub peer_runs: usize,
    /// The `closebook` binary to measure (a release build for honest figures).
    pub closebook: PathBuf,
    /// The folder holding the compiled plugins (`fx_revaluation.wasm`…).
    pub plugins: PathBuf,
    /// Where the generated files, ledgers and plugin cache go.
    pub work: PathBuf,
    /// The journal's currencies.
    pub currencies: generate::Currencies,
}

impl Options {
    /// The folder the generated organization and journal are written to.
    pub fn data_folder(&self) -> PathBuf {
        self.work.join(format!("data-{}", self.currencies.name(self.entries)))
    }
}

/// The outcome of one child process.
pub(crate) struct ChildRun {
    pub(crate) wall: Duration,
    pub(crate) max_rss_bytes: u64,
}

/// Every figure of a run, as medians.
#[derive(Debug, Clone)]
pub struct Figures {
    pub currencies: generate::Currencies,
    pub entries: u64,
    pub lines: u64,
    pub accounts: usize,
    pub runs: usize,
    pub peer_runs: usize,
    /// The ceiling: closebook's rows into closebook's tables, raw.
    pub raw_insert: Duration,
    /// The reference: fewer columns into bare tables.
    pub minimal_insert: Duration,
    pub import: Duration,
    pub import_peak_rss_bytes: u64,
    pub csv_parse: Duration,
    /// `closebook verify` of the whole ledger: not part of a close.
    pub verify: Duration,
    /// The close period's check that `builtin:trial-balance-check` runs inside the close.
    pub verify_period: Duration,
    pub trial_balance: Duration,
    pub balance_sheet: Duration,
    pub income_statement: Duration,
    pub balance_rows: usize,
    pub month_end_close: CloseFigures,
    pub year_end_close: CloseFigures,
    pub plugin_cold_load: Duration,
    pub plugin_warm_load: Duration,
    pub plugin_warm_call: Duration,
    pub plugin_second_load_compiled: bool,
    pub hledger: Option<Peer>,
    pub ledger: Option<Peer>,
}

/// A peer's balance report on the same entries.
#[derive(Debug, Clone)]
pub struct Peer {
    pub version: String,
    /// The median time, or why there is none (a run failed or was stopped at the time limit).
    pub balance: Result<Duration, String>,
    pub max_rss_bytes: u64,
}

/// The median of `values`; a duration of zero for none.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    match values.len() {
        0 => Duration::ZERO,
        count if count % 2 == 1 => values[count / 2],
        count => (values[count / 2 - 1] + values[count / 2]) / 2,
    }
}

/// Runs the whole benchmark. Progress goes to stderr.
pub fn run(options: &Options) -> anyhow::Result<Figures> {
    if options.runs == 0 {
        bail!("--runs 0 measures nothing: give at least 1");
    }
    // A close.toml resolves paths against its own folder: give it absolute ones.
    let options = &Options {
        closebook: absolute(&options.closebook)?,
        plugins: absolute(&options.plugins)?,
        work: absolute(&options.work)?,
        ..options.clone()
    };
    let data = options.data_folder();
    crate::phase!("generating {} entries into {}", options.entries, data.display());
    let generated = generate::generate_with(&data, options.entries, options.currencies)?;
    let journal = data.join("journal.csv");

    let import = measure_import(options, &data, &generated)?;
    let ledger_db = import.ledger_db.clone();

    crate::phase!("csv parse only ({} runs)", options.runs);
    let mut parses = Vec::new();
    for _ in 0..options.runs {
        let start = Instant::now();
        let parsed = parse_only(&journal)?;
        parses.push(start.elapsed());
        if parsed != generated.lines {
            bail!("parsing read {parsed} lines, expected {}", generated.lines);
        }
    }

    crate::phase!("ledger verify (once)");
    let verify = {
        let mut ledger = Ledger::open(&ledger_db, UserId::new(USER))?;
        let start = Instant::now();
        let report = ledger.read(|db| closebook_ledger::verify::verify_entity(db, &EntityId::new(ENTITY)))?;
        let elapsed = start.elapsed();
        if !report.findings.is_empty() {
            bail!(
                "verify found problems in the imported ledger: {:?}",
                report.findings.first()
            );
        }
        elapsed
    };
    crate::phase!("period verify of {CLOSE_PERIOD} (once)");
    let verify_period = {
        let mut ledger = Ledger::open(&ledger_db, UserId::new(USER))?;
        let start = Instant::now();
        let report = ledger.read(|db| {
            closebook_ledger::verify::verify_period(db, &EntityId::new(ENTITY), &PeriodName::new(CLOSE_PERIOD))
        })?;
        let elapsed = start.elapsed();
        if !report.findings.is_empty() {
            bail!(
                "the period verify found problems in the imported ledger: {:?}",
                report.findings.first()
            );
        }
        elapsed
    };

    crate::phase!("reports ({REPORT_CALLS} calls each)");
    let (trial_balance, balance_sheet, income_statement, balance_rows) = measure_reports(&ledger_db)?;

    let close_config = write_close_configs(options)?;
    crate::phase!(
        "month-end close ({} runs after one that fills the plugin cache)",
        options.runs
    );
    let month_end_close = measure_close(options, &ledger_db, &close_config.0, CLOSE_PERIOD)?;
    crate::phase!("year-end close ({} runs)", options.runs);
    let year_end_close = measure_close(options, &ledger_db, &close_config.1, CLOSE_PERIOD)?;

    crate::phase!("plugin overhead");
    let plugin = measure_plugin(options)?;

    let (hledger, ledger) = if options.peer_runs > 0 {
        let plain = data.join("journal.ledger");
        crate::phase!("hledger balance ({} runs)", options.peer_runs);
        let hledger = measure_peer("hledger", &["--version"], &plain, options.peer_runs)?;
        crate::phase!("ledger balance ({} runs)", options.peer_runs);
        let ledger = measure_peer("ledger", &["--version"], &plain, options.peer_runs)?;
        (hledger, ledger)
    } else {
        (None, None)
    };

    Ok(Figures {
        currencies: options.currencies,
        entries: generated.entries,
        lines: generated.lines,
        accounts: generated.accounts,
        runs: options.runs,
        peer_runs: options.peer_runs,
        raw_insert: import.raw_insert,
        minimal_insert: import.minimal_insert,
        import: import.import,
        import_peak_rss_bytes: import.peak_rss_bytes,
        csv_parse: median(parses),
        verify,
        verify_period,
        trial_balance,
        balance_sheet,
        income_statement,
        balance_rows,
        month_end_close,
        year_end_close,
        plugin_cold_load: plugin.cold_load,
        plugin_warm_load: plugin.warm_load,
        plugin_warm_call: plugin.warm_call,
        plugin_second_load_compiled: plugin.second_load_compiled,
        hledger,
        ledger,
    })
}

/// The import figures: medians of `runs` rounds, each round the ceiling, the reference and the
/// closebook import one after the other, so that a change in the machine's load touches all
/// three alike.
#[derive(Debug, Clone)]
pub struct ImportFigures {
    pub raw_insert: Duration,
    pub minimal_insert: Duration,
    pub import: Duration,
    pub peak_rss_bytes: u64,
    /// The ledger the last import wrote (set up, rates imported, journal posted).
    pub ledger_db: PathBuf,
}

/// Sets up a template ledger (setup.toml, rates), then measures the raw-SQLite ceiling, the
/// minimal reference and `closebook import journals --post` on copies of it, interleaved.
pub fn measure_import(
    options: &Options,
    data: &Path,
    generated: &generate::Generated,
) -> anyhow::Result<ImportFigures> {
    let journal = data.join("journal.csv");
    let template = setup_template(options, data)?;
    let ledger_db = options.work.join("ledger.db");
    let raw_db = options.work.join("raw.db");
    let (mut raw, mut minimal, mut imports, mut peak_rss) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for round in 1..=options.runs {
        crate::phase!("import round {round} of {}: raw sqlite ceiling", options.runs);
        let start = Instant::now();
        let inserted = crate::baseline::insert_raw(&journal, &template, &raw_db)?;
        raw.push(start.elapsed());
        if inserted != generated.lines {
            bail!("the raw insert wrote {inserted} lines, expected {}", generated.lines);
        }
        crate::phase!("import round {round} of {}: minimal tables", options.runs);
        let start = Instant::now();
        let inserted = crate::baseline::insert_minimal(&journal, &raw_db)?;
        minimal.push(start.elapsed());
        if inserted != generated.lines {
            bail!(
                "the minimal insert wrote {inserted} lines, expected {}",
                generated.lines
            );
        }
        remove_database(&raw_db)?;
        crate::phase!("import round {round} of {}: closebook import", options.runs);
        copy_database(&template, &ledger_db)?;
        let run = closebook(
            options,
            &ledger_db,
            &["import", "journals", path_text(&journal)?, "--entity", ENTITY, "--post"],
        )?;
        imports.push(run.wall);
        peak_rss = peak_rss.max(run.max_rss_bytes);
    }
    Ok(ImportFigures {
        raw_insert: median(raw),
        minimal_insert: median(minimal),
        import: median(imports),
        peak_rss_bytes: peak_rss,
        ledger_db,
    })
}

/// The benchmark organization without a journal (setup applied, rates imported), written to
/// `template.db` in the work folder and checkpointed, so that the main file alone holds it.
pub(crate) fn setup_template(options: &Options, data: &Path) -> anyhow::Result<PathBuf> {
    let template = options.work.join("template.db");
    remove_database(&template)?;
    closebook(
        options,
        &template,
        &["setup", "apply", path_text(&data.join("setup.toml"))?],
    )?;
    closebook(
        options,
        &template,
        &["import", "rates", path_text(&data.join("rates.csv"))?],
    )?;
    rusqlite::Connection::open(&template)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(template)
}

/// The first `entries` entries of the benchmark journal under new keys (`prefix` for the `E`
/// that starts each key), written to the work folder: postings spread over the year as the
/// journal's are, none of them already in the benchmark ledger.
pub(crate) fn write_renamed_journal(options: &Options, entries: u64, prefix: char) -> anyhow::Result<PathBuf> {
    let source = options.data_folder().join("journal.csv");
    let target = options.work.join(format!("{prefix}-{entries}.csv"));
    let reader = BufReader::new(File::open(&source).with_context(|| format!("opening {}", source.display()))?);
    let mut writer = std::io::BufWriter::new(File::create(&target)?);
    let mut keys = 0;
    let mut last_key = String::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if index == 0 {
            writeln!(writer, "{line}")?;
            continue;
        }
        let key = line.split(',').next().unwrap_or_default();
        if key != last_key {
            if keys == entries {
                break;
            }
            keys += 1;
            last_key = key.to_owned();
        }
        let renamed = line
            .strip_prefix('E')
            .with_context(|| format!("a journal line whose key does not start with E: {line}"))?;
        writeln!(writer, "{prefix}{renamed}")?;
    }
    writer.flush()?;
    if keys < entries {
        bail!("the benchmark journal holds {keys} entries, fewer than the {entries} asked for");
    }
    Ok(target)
}

/// The benchmark ledger: set up, rates and the journal posted, made once per size with
/// `options.closebook` and kept in the work folder (`serve-template-N.db`) for the benchmarks
/// that start from a full ledger (`serve`, `verify`); the import itself is measured by `run`.
pub(crate) fn ledger_template(options: &Options) -> anyhow::Result<(PathBuf, generate::Generated)> {
    let data = options.data_folder();
    crate::phase!("generating {} entries into {}", options.entries, data.display());
    let generated = generate::generate_with(&data, options.entries, options.currencies)?;
    let template = options.work.join(format!(
        "serve-template-{}.db",
        options.currencies.name(options.entries)
    ));
    if !template.exists() {
        crate::phase!(
            "importing {} entries (once; kept as {})",
            options.entries,
            template.display()
        );
        let building = options.work.join("serve-template.partial.db");
        remove_database(&building)?;
        let text = |path: PathBuf| path.to_str().map(str::to_owned).context("a path that is not UTF-8");
        closebook(options, &building, &["setup", "apply", &text(data.join("setup.toml"))?])?;
        closebook(options, &building, &["import", "rates", &text(data.join("rates.csv"))?])?;
        closebook(
            options,
            &building,
            &[
                "import",
                "journals",
                &text(data.join("journal.csv"))?,
                "--entity",
                ENTITY,
                "--post",
            ],
        )?;
        rusqlite::Connection::open(&building)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        std::fs::rename(&building, &template)?;
    }
    Ok((template, generated))
}

fn path_text(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("the path {} is not UTF-8: use a UTF-8 --work folder", path.display()))
}

/// Removes a SQLite file and its WAL and shared-memory files, if there.
pub(crate) fn remove_database(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

/// Copies a closed SQLite database (no open connection holds a WAL) to a fresh path.
pub(crate) fn copy_database(from: &Path, to: &Path) -> anyhow::Result<()> {
    remove_database(to)?;
    // Checkpoint first so that the main file alone holds every page.
    rusqlite::Connection::open(from)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// A path made absolute, refused when it does not exist.
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()))
}

/// Runs the closebook binary on `database` as the benchmark user, with the plugin cache in the
/// work folder. Refuses a failed run, showing its stderr.
pub(crate) fn closebook(options: &Options, database: &Path, arguments: &[&str]) -> anyhow::Result<ChildRun> {
    closebook_printing_to(options, database, arguments, Stdio::null())
}

/// [`closebook`] with its standard output sent to `stdout`.
pub(crate) fn closebook_printing_to(
    options: &Options,
    database: &Path,
    arguments: &[&str],
    stdout: Stdio,
) -> anyhow::Result<ChildRun> {
    let mut command = Command::new(&options.closebook);
    command
        .arg("--db")
        .arg(database)
        .args(["--as", USER])
        .args(arguments)
        .env("CLOSEBOOK_CACHE", options.work.join("plugin-cache"));
    let log = options.work.join("closebook.log");
    let run = run_child(&mut command, &log, stdout, None)?;
    run.with_context(|| format!("closebook {}", arguments.join(" ")))
}

/// How often a child's peak resident set is read while it runs.
const PEAK_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// The peak resident set of a running process so far: `VmHWM` in `/proc/PID/status`, the
/// high-water mark of its own address space. (`wait4`'s `ru_maxrss` is no measure of a child:
/// Linux starts it from the resident set of the parent it was forked from, so a child of a
/// benchmark process holding 500 MiB reported 500 MiB whatever it used.) None once the process
/// has exited or when the file cannot be read.
pub(crate) fn peak_resident_bytes(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Spawns `command` with stderr into `log` and waits for it with `wait4`; a second thread reads
/// the child's peak resident set every [`PEAK_POLL_INTERVAL`] meanwhile ([`peak_resident_bytes`];
/// the mark only rises, so the last reading misses at most the last interval's growth).
fn run_child(
    command: &mut Command,
    log: &Path,
    stdout: Stdio,
    time_limit: Option<Duration>,
) -> anyhow::Result<anyhow::Result<ChildRun>> {
    let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command.stdin(Stdio::null()).stdout(stdout).stderr(log_file);
    let start = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    let pid = libc::pid_t::try_from(child.id())?;
    let exited = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut peak = 0;
            while !exited.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(bytes) = peak_resident_bytes(pid) {
                    peak = peak.max(bytes);
                }
                std::thread::sleep(PEAK_POLL_INTERVAL);
            }
            peak
        });
        let waited = wait_for_child(command, pid, start, time_limit, log);
        exited.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = watcher.join().unwrap_or(0);
        waited.map(|run| {
            run.map(|wall| ChildRun {
                wall,
                max_rss_bytes: peak,
            })
        })
    })
}

/// Waits for the child `pid` (stopping it after `time_limit`); its wall time since `start`, or
/// why it failed.
fn wait_for_child(
    command: &Command,
    pid: libc::pid_t,
    start: Instant,
    time_limit: Option<Duration>,
    log: &Path,
) -> anyhow::Result<anyhow::Result<Duration>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if time_limit.is_some() { libc::WNOHANG } else { 0 };
    let waited = loop {
        // SAFETY: waits for our own child, whose `Child` handle is never waited on afterwards.
        let waited = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if waited != 0 {
            break waited;
        }
        if time_limit.is_some_and(|limit| start.elapsed() > limit) {
            // SAFETY: signals and then reaps our own child, still running (wait4 said so).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            return Ok(Err(anyhow::anyhow!(
                "did not finish within {} s; stopped",
                time_limit.map_or(0, |limit| limit.as_secs())
            )));
        }
        std::thread::sleep(PEER_POLL_INTERVAL);
    };
    let wall = start.elapsed();
    if waited != pid {
        bail!(
            "waiting for {:?}: {}",
            command.get_program(),
            std::io::Error::last_os_error()
        );
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        return Ok(Err(anyhow::anyhow!(
            "exited with status {status}: {}",
            stderr.lines().rev().take(10).collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(Ok(wall))
}

/// Reads and parses the journal into entries as the import does, without the ledger; returns
/// the lines read.
fn parse_only(journal: &Path) -> anyhow::Result<u64> {
    let file = File::open(journal).with_context(|| format!("opening {}", journal.display()))?;
    let reader = closebook_ledger::import::CsvJournalReader::new(
        std::io::BufReader::with_capacity(1 << 20, file),
        "journal.csv",
        closebook_ledger::period::Module::Ledger,
    )?;
    let mut lines = 0;
    for item in reader {
        let entry = item.map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
        lines += entry.lines.len() as u64;
        std::hint::black_box(entry.fingerprint());
    }
    Ok(lines)
}

/// The medians of the three statements.
#[derive(Debug, Clone, Copy)]
pub struct Reports {
    pub trial_balance: Duration,
    pub balance_sheet: Duration,
    pub income_statement: Duration,
    pub trial_balance_rows: usize,
}

/// Medians of the trial balance, balance sheet and income statement for `CLOSE_PERIOD` through
/// the library on `database` (a file or a PostgreSQL URL), each after one unmeasured call, as
/// `run` measures them.
pub fn report_medians(database: &Path) -> anyhow::Result<Reports> {
    let mut ledger = Ledger::open(database, UserId::new(USER))?;
    let entity = EntityId::new(ENTITY);
    let period = PeriodName::from(CLOSE_PERIOD);
    let mut time = |name: &str, call: &mut dyn FnMut(&mut Ledger) -> anyhow::Result<usize>| {
        let rows = call(&mut ledger).with_context(|| format!("the {name} of {}", database.display()))?;
        if rows == 0 {
            bail!("the {name} of {ENTITY} for {CLOSE_PERIOD} has no rows: the import posted nothing");
        }
        let mut durations = Vec::with_capacity(REPORT_CALLS);
        for _ in 0..REPORT_CALLS {
            let start = Instant::now();
            call(&mut ledger)?;
            durations.push(start.elapsed());
        }
        Ok((median(durations), rows))
    };
    let (trial_balance, trial_balance_rows) = time("trial balance", &mut |ledger| {
        let report = ledger.read(|db| report::trial_balance(db, &entity, &period, &[], false))?;
        Ok(report.rows.len())
    })?;
    let (balance_sheet, _) = time("balance sheet", &mut |ledger| {
        std::hint::black_box(ledger.read(|db| report::balance_sheet(db, &entity, &period))?);
        Ok(1)
    })?;
    let (income_statement, _) = time("income statement", &mut |ledger| {
        std::hint::black_box(ledger.read(|db| report::income_statement(db, &entity, &period))?);
        Ok(1)
    })?;
    Ok(Reports {
        trial_balance,
        balance_sheet,
        income_statement,
        trial_balance_rows,
    })
}

/// Medians of the three statements for `CLOSE_PERIOD`, and the number of balance rows.
fn measure_reports(database: &Path) -> anyhow::Result<(Duration, Duration, Duration, usize)> {
    let reports = report_medians(database)?;
    let balance_rows: i64 =
        rusqlite::Connection::open(database)?.query_row("SELECT COUNT(*) FROM balances", [], |row| row.get(0))?;
    Ok((
        reports.trial_balance,
        reports.balance_sheet,
        reports.income_statement,
        usize::try_from(balance_rows).unwrap_or(0),
    ))
}

fn plugin_file(options: &Options, name: &str) -> anyhow::Result<PathBuf> {
    let path = options.plugins.join(format!("{name}.wasm"));
    if !path.exists() {
        bail!("{} is missing: run `scripts/build-plugins` first", path.display());
    }
    Ok(path)
}

/// A plugin pin line of a close.toml: path and SHA-256.
pub(crate) fn pin(options: &Options, key: &str, name: &str) -> anyhow::Result<String> {
    let path = plugin_file(options, name)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!(
        "{key} = {{ path = \"{}\", sha256 = \"{}\" }}\n",
        path_text(&path)?,
        hex::encode(Sha256::digest(&bytes))
    ))
}

/// Writes the month-end close (every standard step, as in the demo, without the review and the
/// manual task that would wait for a person) and the year-end close; returns their paths.
pub(crate) fn write_close_configs(options: &Options) -> anyhow::Result<(PathBuf, PathBuf)> {
    let reports = options.work.join("reports");
    let month_end = format!(
        "[close]\nname = \"bench-month-end\"\nentities = \"all\"\n\n[plugins]\n{}{}{}\n\
[[task]]\nid = \"settle-open-items\"\nname = \"Settle receivables and payables\"\narea = \"AR/AP\"\nowner = \"{USER}\"\ndue = 1\n\
step = \"plugin:auto-settle\"\nconfig = {{ accounts = [\"1100\", \"2000\"] }}\n\n\
[[task]]\nid = \"fx-revaluation\"\nname = \"Foreign currency revaluation\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 1\n\
step = \"plugin:fx-revaluation\"\nrevaluation = true\nconfig = {{ gain_account = \"7100\", loss_account = \"7200\" }}\n\n\
[[task]]\nid = \"allocate-rent\"\nname = \"Allocate administration rent\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 2\n\
after = [\"fx-revaluation\"]\nstep = \"plugin:allocation\"\n\
config = {{ method = \"fixed-percentage\", on_zero_source = \"skip\", source = {{ ledger = {{ accounts = [\"6100\"], dimensions = {{ department = \"300\" }} }} }}, \
destinations = [{{ dimensions = {{ department = \"100\" }}, percent = \"50\" }}, {{ dimensions = {{ department = \"200\" }}, percent = \"30\" }}, \
{{ dimensions = {{ department = \"300\" }}, percent = \"20\" }}], offset = {{ account = \"6100\", dimensions = {{ department = \"300\" }} }} }}\n\n\
[[task]]\nid = \"trial-balance-check\"\nname = \"Trial balance nets to zero and the ledger verifies\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 3\n\
after = [\"allocate-rent\", \"settle-open-items\"]\nstep = \"builtin:trial-balance-check\"\n\n\
[[task]]\nid = \"reports\"\nname = \"Period reports\"\narea = \"Reporting\"\nowner = \"{USER}\"\ndue = 4\n\
after = [\"trial-balance-check\"]\nstep = \"builtin:reports\"\nconfig = {{ folder = \"{}\" }}\n\n\
[[task]]\nid = \"period-on-hold\"\nname = \"Put the period on hold\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 5\n\
after = [\"reports\"]\nstep = \"builtin:period-status\"\nconfig = {{ status = \"on-hold\" }}\n",
        pin(options, "fx-revaluation", "fx_revaluation")?,
        pin(options, "allocation", "allocation")?,
        pin(options, "auto-settle", "auto_settle")?,
        path_text(&reports)?,
    );
    let year_end = format!(
        "[close]\nname = \"bench-year-end\"\nentities = \"all\"\n\n[plugins]\n{}\n\
[[task]]\nid = \"trial-balance-check\"\nname = \"FY2026 trial balance nets to zero\"\narea = \"GL\"\nowner = \"{USER}\"\n\
step = \"builtin:trial-balance-check\"\n\n\
[[task]]\nid = \"year-end\"\nname = \"Carry FY2026 into FY2027\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 10\n\
after = [\"trial-balance-check\"]\nstep = \"plugin:year-end\"\nyear_end = true\nconfig = {{ dimension_mode = \"close-all\" }}\n",
        pin(options, "year-end", "year_end")?,
    );
    let month_end_path = options.work.join("close.toml");
    let year_end_path = options.work.join("year-end.toml");
    std::fs::write(&month_end_path, month_end).context("writing close.toml")?;
    std::fs::write(&year_end_path, year_end).context("writing year-end.toml")?;
    Ok((month_end_path, year_end_path))
}

/// The median wall time of `close run` on fresh copies of the imported ledger, after one
/// unmeasured run that fills the plugin cache (the cold compile is measured on its own).
fn measure_close(options: &Options, ledger_db: &Path, config: &Path, period: &str) -> anyhow::Result<CloseFigures> {
    let copy = options.work.join("close.db");
    let mut durations = Vec::new();
    let mut max_rss_bytes = 0;
    for round in 0..=options.runs {
        copy_database(ledger_db, &copy)?;
        let run = closebook(
            options,
            &copy,
            &["close", "run", "--config", path_text(config)?, "--period", period],
        )?;
        if round > 0 {
            durations.push(run.wall);
            max_rss_bytes = max_rss_bytes.max(run.max_rss_bytes);
        }
    }
    // The last run must have completed every task: a close that stopped early is no figure.
    let tasks = {
        let connection = rusqlite::Connection::open(&copy)?;
        let mut statement = connection.prepare(
            "SELECT task_id, status, duration_ms, entries_posted FROM close_tasks ORDER BY updated_at, task_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(TaskTime {
                task: row.get(0)?,
                status: row.get(1)?,
                duration_ms: row.get(2)?,
                entries_posted: row.get(3)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let complete = |status: &str| {
        status
            .parse::<closebook_ledger::close_task::TaskStatus>()
            .is_ok_and(|status| status.is_complete())
    };
    if let Some(task) = tasks.iter().find(|task| !complete(&task.status)) {
        bail!(
            "the close of {} left task {} {}: see {}",
            config.display(),
            task.task,
            task.status,
            options.work.join("closebook.log").display()
        );
    }
    if tasks.is_empty() {
        bail!("the close of {} ran no task", config.display());
    }
    remove_database(&copy)?;
    Ok(CloseFigures {
        wall: median(durations),
        max_rss_bytes,
        tasks,
    })
}

/// A close run: its median wall time and, from its last run, each task's own time.
#[derive(Debug, Clone)]
pub struct CloseFigures {
    pub wall: Duration,
    /// The largest peak resident set of the measured runs (the `closebook close run` process).
    pub max_rss_bytes: u64,
    pub tasks: Vec<TaskTime>,
}

/// One task of a close as the status board recorded it.
#[derive(Debug, Clone)]
pub struct TaskTime {
    pub task: String,
    pub status: String,
    pub duration_ms: i64,
    pub entries_posted: i64,
}

struct PluginFigures {
    cold_load: Duration,
    warm_load: Duration,
    warm_call: Duration,
    second_load_compiled: bool,
}

/// Cold: a new runtime with an empty cache loads (compiles) the plugin. Warm: a second runtime
/// on the same cache loads it again (it must come from the cache), then each call of its
/// `describe` export instantiates it in a fresh store and calls it.
fn measure_plugin(options: &Options) -> anyhow::Result<PluginFigures> {
    let wasm = plugin_file(options, OVERHEAD_PLUGIN)?;
    let cache = options.work.join("plugin-cache-overhead");
    if cache.exists() {
        std::fs::remove_dir_all(&cache).with_context(|| format!("removing {}", cache.display()))?;
    }
    let start = Instant::now();
    let cold = PluginRuntime::new(&cache)?.load_file(&wasm)?;
    let cold_load = start.elapsed();
    if cold.cache_status() != CacheStatus::Compiled {
        bail!("the first load of {OVERHEAD_PLUGIN} came from a cache that was just emptied");
    }
    let runtime = PluginRuntime::new(&cache)?;
    let start = Instant::now();
    let warm = runtime.load_file(&wasm)?;
    let warm_load = start.elapsed();
    let limits = Limits::default();
    warm.describe(&limits)?;
    let mut calls = Vec::with_capacity(PLUGIN_CALLS);
    for _ in 0..PLUGIN_CALLS {
        let start = Instant::now();
        warm.describe(&limits)?;
        calls.push(start.elapsed());
    }
    Ok(PluginFigures {
        cold_load,
        warm_load,
        warm_call: median(calls),
        second_load_compiled: warm.cache_status() == CacheStatus::Compiled,
    })
}

/// Times `TOOL -f journal balance` (output discarded); None when the tool is not installed.
fn measure_peer(tool: &str, version_arguments: &[&str], journal: &Path, runs: usize) -> anyhow::Result<Option<Peer>> {
    let Ok(output) = Command::new(tool).args(version_arguments).output() else {
        crate::phase!("{tool} is not installed: left out (apt-get install {tool})");
        return Ok(None);
    };
    let version = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let mut durations = Vec::new();
    let mut max_rss_bytes = 0;
    let log = journal.with_file_name(format!("{tool}.log"));
    for _ in 0..runs {
        let mut command = Command::new(tool);
        command.arg("-f").arg(journal).arg("balance");
        match run_child(&mut command, &log, Stdio::null(), Some(PEER_TIME_LIMIT))? {
            Ok(run) => {
                durations.push(run.wall);
                max_rss_bytes = max_rss_bytes.max(run.max_rss_bytes);
            }
            Err(error) => {
                crate::phase!("{tool} balance: {error:#}");
                return Ok(Some(Peer {
                    version,
                    balance: Err(format!("{error:#}")),
                    max_rss_bytes,
                }));
            }
        }
    }
    Ok(Some(Peer {
        version,
        balance: Ok(median(durations)),
        max_rss_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        // Proves the figures are medians, whatever the order they were measured in.
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(9), ms(1), ms(5)]), ms(5));
        assert_eq!(median(vec![ms(4), ms(2), ms(8), ms(6)]), ms(5));
        assert_eq!(median(Vec::new()), Duration::ZERO);
    }
}
