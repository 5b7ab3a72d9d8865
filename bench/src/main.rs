//! `closebook-bench generate` writes the benchmark ledger; `closebook-bench run` measures it and
//! writes the results table. Build it with `--release` for honest figures.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use closebook_bench::{generate, grow_load, measure, postgres, results, serve_load, verify_load};
use std::path::PathBuf;

/// The allocator the closebook binary uses, so that the raw-SQLite ceiling measured in this
/// process and the import measured in closebook's run on the same one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmark of closebook on a generated ledger, with hledger, ledger and raw SQLite beside it.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the benchmark organization (setup.toml, rates.csv, journal.csv, journal.ledger).
    Generate {
        /// Journal entries to generate (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// The folder to write into.
        #[arg(long, default_value = "target/bench/data")]
        out: PathBuf,
        /// The journal's currencies.
        #[arg(long, value_enum, default_value_t = generate::Currencies::Mixed)]
        currencies: generate::Currencies,
    },
    /// Measure the import alone: the raw-SQLite ceiling, the minimal reference and `closebook
    /// import journals --post`, interleaved; print their medians and the ratio to the ceiling.
    Import {
        /// Journal entries to generate (about three lines each).
        #[arg(long, default_value_t = 200_000)]
        entries: u64,
        /// Rounds; the median of each figure is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The closebook binary to measure.
        #[arg(long, default_value = "target/release/closebook")]
        closebook: PathBuf,
        /// Where generated files and ledgers go (not committed).
        #[arg(long, default_value = "target/bench")]
        work: PathBuf,
        /// The journal's currencies.
        #[arg(long, value_enum, default_value_t = generate::Currencies::Mixed)]
        currencies: generate::Currencies,
    },
    /// Measure an import into the full benchmark ledger beside the same import into the
    /// organization with no entries (alternating, fresh copies): does the import slow down, or
    /// take more memory, as the ledger grows?
    ImportOnTop {
        /// Entries of the benchmark ledger imported into (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        ledger_entries: u64,
        /// Entries to import: the benchmark journal's first ones, under new keys.
        #[arg(long, default_value_t = 200_000)]
        entries: u64,
        /// Rounds; the median of each figure is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[command(flatten)]
        binaries: Binaries,
    },
    /// Generate, import, report, close and compare; print the table and write it to --results.
    Run {
        /// Journal entries to generate (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Repetitions of each closebook measurement; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Repetitions of hledger and ledger; 0 leaves them out.
        #[arg(long, default_value_t = 3)]
        peer_runs: usize,
        /// The journal's currencies.
        #[arg(long, value_enum, default_value_t = generate::Currencies::Mixed)]
        currencies: generate::Currencies,
        #[command(flatten)]
        binaries: Binaries,
        /// The Markdown results file to write (none: print only).
        #[arg(long)]
        results: Option<PathBuf>,
        /// A Markdown file of analysis (bottlenecks of missed targets) appended to the results.
        #[arg(long)]
        notes: Option<PathBuf>,
    },
    /// Load the close workspace server: clients read the board (signed in, as a browser does)
    /// idle, then read boards, task pages and reports, import and sign off while the close runs
    /// halfway through; print throughput and response-time percentiles per operation, then check
    /// that every accepted import is in the ledger once and that `closebook verify` is clean.
    Serve {
        /// The ledger served: the generated benchmark ledger, or the demo organization.
        #[arg(long, value_enum, default_value_t = serve_load::LedgerKind::Bench)]
        ledger: serve_load::LedgerKind,
        /// Journal entries of the benchmark ledger (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Clients at once, each with its own connection.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Seconds of each phase (idle, then mixed with the close).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[command(flatten)]
        binaries: Binaries,
    },
    /// Measure `closebook verify` of the benchmark ledger as an auditor runs it: the whole
    /// ledger, recording a checkpoint, then the routine check from it, with nothing new and
    /// after a month of entries imported on top; with --before, an earlier binary's whole-ledger
    /// verify alternating with this one's.
    Verify {
        /// Journal entries of the benchmark ledger (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Repetitions of each verify; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// An earlier closebook binary to measure beside this one (it also builds the ledger,
        /// so that both can open it).
        #[arg(long)]
        before: Option<PathBuf>,
        #[command(flatten)]
        binaries: Binaries,
    },
    /// Measure the ledger in SQLite and in PostgreSQL side by side, in one run on the same
    /// journal: each backend's raw ceiling (closebook's rows into its tables in one transaction:
    /// prepared INSERTs on SQLite, COPY on PostgreSQL), `closebook import journals --post`, the
    /// three reports on the imported ledger and the month-end close (on PostgreSQL also after an
    /// ANALYZE); print the table with PostgreSQL's targets (import ≥ 50 % of its ceiling, reports
    /// < 10 ms, close ≤ 2× SQLite's).
    Postgres {
        /// A PostgreSQL 15+ server whose role may CREATE DATABASE: a throwaway one
        /// (`scripts/postgres start DIR` prints its URL). The benchmark makes databases named
        /// closebook_bench_* there, replacing any, and drops them at the end.
        #[arg(long)]
        url: String,
        /// Journal entries to generate (about three lines each).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Rounds of the ceilings, imports and closes; the median of each figure is reported.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        #[command(flatten)]
        binaries: Binaries,
    },
}

/// The closebook binary, the plugins and the work folder of a run that closes (`run`, `serve`).
#[derive(clap::Args)]
struct Binaries {
    /// The closebook binary to measure.
    #[arg(long, default_value = "target/release/closebook")]
    closebook: PathBuf,
    /// The folder of the compiled plugins (scripts/build-plugins).
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    plugins: PathBuf,
    /// Where generated files, ledgers and caches go (not committed).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
}

impl Binaries {
    /// The paths, with the work folder created.
    fn prepared(self) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&self.work).with_context(|| format!("creating {}", self.work.display()))?;
        Ok(self)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    closebook_bench::progress::start("closebook-bench");
    let outcome = run(cli);
    closebook_bench::progress::finish();
    outcome
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate {
            entries,
            out,
            currencies,
        } => {
            let generated = generate::generate_with(&out, entries, currencies)?;
            println!(
                "wrote {} entries ({} lines, {} accounts) into {}",
                generated.entries,
                generated.lines,
                generated.accounts,
                out.display()
            );
        }
        Command::Import {
            entries,
            runs,
            closebook,
            work,
            currencies,
        } => {
            if runs == 0 {
                anyhow::bail!("--runs 0 measures nothing: give at least 1");
            }
            std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
            let options = measure::Options {
                entries,
                runs,
                peer_runs: 0,
                closebook: std::fs::canonicalize(&closebook).with_context(|| {
                    format!(
                        "{} does not exist: build it with cargo build --release",
                        closebook.display()
                    )
                })?,
                plugins: PathBuf::new(),
                work: std::fs::canonicalize(&work)?,
                currencies,
            };
            let data = options.data_folder();
            let generated = generate::generate_with(&data, entries, currencies)?;
            let figures = measure::measure_import(&options, &data, &generated)?;
            let rate = |duration: std::time::Duration| generated.lines as f64 / duration.as_secs_f64();
            println!(
                "{} entries, {} lines, medians of {runs} rounds",
                generated.entries, generated.lines
            );
            println!("| measure | time | lines/s | closebook / this |\n| --- | ---: | ---: | ---: |");
            for (name, duration) in [
                ("raw SQLite, closebook's tables (the ceiling)", figures.raw_insert),
                ("raw SQLite, minimal tables (reference)", figures.minimal_insert),
                ("closebook import journals --post", figures.import),
            ] {
                println!(
                    "| {name} | {:.2} s | {:.0} | {:.0} % |",
                    duration.as_secs_f64(),
                    rate(duration),
                    100.0 * rate(figures.import) / rate(duration)
                );
            }
            println!("peak memory of the import: {} MiB", figures.peak_rss_bytes >> 20);
        }
        Command::ImportOnTop {
            ledger_entries,
            entries,
            runs,
            binaries,
        } => {
            let Binaries {
                closebook,
                plugins,
                work,
            } = binaries.prepared()?;
            let options = measure::Options {
                entries: ledger_entries,
                runs,
                peer_runs: 0,
                closebook: measure::absolute(&closebook)?,
                plugins,
                work: measure::absolute(&work)?,
                currencies: generate::Currencies::Mixed,
            };
            let figures = grow_load::run(&options, entries, runs)?;
            let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
            println!("{date}, {}\n", results::machine());
            print!("{}", grow_load::table(&figures));
        }
        Command::Run {
            entries,
            runs,
            peer_runs,
            currencies,
            binaries,
            results: results_file,
            notes,
        } => {
            let Binaries {
                closebook,
                plugins,
                work,
            } = binaries.prepared()?;
            let options = measure::Options {
                entries,
                runs,
                peer_runs,
                closebook,
                plugins,
                work,
                currencies,
            };
            let figures = measure::run(&options)?;
            let notes = match &notes {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
                None => String::new(),
            };
            let currencies_argument = match currencies {
                generate::Currencies::Mixed => String::new(),
                generate::Currencies::UsdOnly => " --currencies usd-only".to_owned(),
            };
            let command = format!(
                "closebook-bench run --entries {entries} --runs {runs} --peer-runs {peer_runs}{currencies_argument}"
            );
            let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
            let table = results::render(&figures, &date, &results::machine(), &command, &notes);
            print!("{table}");
            if let Some(path) = results_file {
                std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Serve {
            ledger,
            entries,
            clients,
            seconds,
            binaries,
        } => {
            let Binaries {
                closebook,
                plugins,
                work,
            } = binaries.prepared()?;
            let options = serve_load::LoadOptions {
                ledger,
                entries,
                clients,
                phase: std::time::Duration::from_secs(seconds),
                closebook,
                plugins,
                work,
            };
            let figures = serve_load::run(&options)?;
            let ledger_argument = match ledger {
                serve_load::LedgerKind::Bench => format!("--entries {entries}"),
                serve_load::LedgerKind::Demo => "--ledger demo".to_owned(),
            };
            let command = format!("closebook-bench serve {ledger_argument} --clients {clients} --seconds {seconds}");
            let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
            print!("{}", serve_load::render(&figures, &date, &results::machine(), &command));
            if !figures.close_failures.is_empty() {
                anyhow::bail!("the close failed under load: {}", figures.close_failures.join("; "));
            }
        }
        Command::Verify {
            entries,
            runs,
            before,
            binaries,
        } => {
            let Binaries {
                closebook,
                plugins,
                work,
            } = binaries.prepared()?;
            let options = measure::Options {
                entries,
                runs,
                peer_runs: 0,
                closebook: measure::absolute(&closebook)?,
                plugins,
                work: measure::absolute(&work)?,
                currencies: generate::Currencies::Mixed,
            };
            let before = before.as_deref().map(measure::absolute).transpose()?;
            let figures = verify_load::run(&options, before.as_deref(), runs)?;
            let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
            println!("{date}, {}\n", results::machine());
            print!(
                "{}",
                verify_load::table(&figures, before.as_deref(), &options.closebook)
            );
        }
        Command::Postgres {
            url,
            entries,
            runs,
            binaries,
        } => {
            let Binaries {
                closebook,
                plugins,
                work,
            } = binaries.prepared()?;
            let options = measure::Options {
                entries,
                runs,
                peer_runs: 0,
                closebook,
                plugins,
                work,
                currencies: generate::Currencies::Mixed,
            };
            let figures = postgres::run(&options, &url)?;
            let command = format!("closebook-bench postgres --entries {entries} --runs {runs}");
            let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
            print!("{}", postgres::table(&figures, &command, &date));
        }
    }
    Ok(())
}
