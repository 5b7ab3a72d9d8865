//! CI's smoke run of the benchmark: the same code as `closebook-bench run`, on 2,000 entries,
//! with the debug binary and without the peers. It proves the benchmark still works end to
//! end; it asserts no times (machines are noisy), only that every step did its work.

use closebook_bench::generate::Currencies;
use closebook_bench::measure::{self, Options};
use closebook_bench::{grow_load, postgres, results, verify_load};
use closebook_tests::{closebook_binary, plugin_wasm};

/// Entries of the smoke run: enough for every kind of entry the generator makes.
const SMOKE_ENTRIES: u64 = 2_000;

#[test]
fn the_benchmark_runs_end_to_end_on_a_small_ledger() {
    // Proves generate → raw insert → import → reports → both closes → plugin overhead all run
    // on the real binary and plugins, and that the table names every target.
    let (work, options) = smoke_options("smoke");
    let figures = measure::run(&options).unwrap();
    assert_eq!(figures.entries, SMOKE_ENTRIES);
    assert!(figures.lines > 2 * SMOKE_ENTRIES, "{} lines", figures.lines);
    assert!(figures.balance_rows > 0);
    assert!(figures.import_peak_rss_bytes > 0, "the child's peak memory was read");
    assert!(figures.month_end_close.max_rss_bytes > 0 && figures.year_end_close.max_rss_bytes > 0);
    assert!(
        !figures.plugin_second_load_compiled,
        "a second load must come from the cache"
    );
    let tasks: Vec<&str> = figures
        .month_end_close
        .tasks
        .iter()
        .map(|task| task.task.as_str())
        .collect();
    for task in [
        "settle-open-items",
        "fx-revaluation",
        "allocate-rent",
        "trial-balance-check",
        "period-on-hold",
    ] {
        assert!(
            tasks.contains(&task),
            "the month-end close did not run {task}: {tasks:?}"
        );
    }
    let posted = |name: &str| {
        figures
            .month_end_close
            .tasks
            .iter()
            .find(|task| task.task == name)
            .map_or(0, |task| task.entries_posted)
    };
    assert!(posted("fx-revaluation") > 0, "fx revaluation posted nothing");
    assert!(posted("settle-open-items") + posted("allocate-rent") > 0);
    assert!(
        figures
            .year_end_close
            .tasks
            .iter()
            .any(|task| task.task == "year-end" && task.entries_posted > 0)
    );
    let ledger = rusqlite_count(&work.join("ledger.db"), "SELECT COUNT(*) FROM entries");
    assert_eq!(
        ledger,
        i64::try_from(SMOKE_ENTRIES).unwrap(),
        "every generated entry was posted"
    );
    let table = results::render(&figures, "today", &results::machine(), "smoke", "");
    for row in [
        "import + post",
        "peak memory",
        "trial balance",
        "month-end close",
        "peak memory of the month-end close",
        "peak memory of the year-end close",
        "plugin instantiate",
        "hledger balance | not run",
    ] {
        assert!(table.contains(row), "the table has no `{row}` row:\n{table}");
    }
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn the_verify_benchmark_checks_from_a_checkpoint_on_a_small_ledger() {
    // Proves `closebook-bench verify` end to end on the debug binary: each measured verify
    // printed what it was run for (the benchmark refuses a run that did not), and the routine
    // check after the month read that month's entries.
    let (work, options) = smoke_options("verify");
    let figures = verify_load::run(&options, Some(closebook_binary()), 1).unwrap();
    assert_eq!(figures.month_entries, SMOKE_ENTRIES / 12);
    assert!(figures.before_full.is_some());
    assert_eq!(
        rusqlite_count(&work.join("verify-after.db"), "SELECT COUNT(*) FROM entries"),
        i64::try_from(SMOKE_ENTRIES + SMOKE_ENTRIES / 12).unwrap()
    );
    assert_eq!(
        rusqlite_count(&work.join("verify-after.db"), "SELECT COUNT(*) FROM verify_checkpoints"),
        1
    );
    let table = verify_load::table(&figures, Some(closebook_binary()), closebook_binary());
    assert!(table.contains("after that month"), "{table}");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn the_import_on_top_benchmark_imports_into_the_full_and_the_empty_ledger() {
    // Proves `closebook-bench import-on-top` end to end on the debug binary: both imports
    // posted every new entry (the benchmark refuses a ledger without exactly the entries it
    // held plus the journal's), the last one into the full ledger, and a journal larger than
    // the benchmark's is refused.
    let (work, options) = smoke_options("grow");
    let figures = grow_load::run(&options, SMOKE_ENTRIES / 4, 1).unwrap();
    assert_eq!(figures.entries, SMOKE_ENTRIES / 4);
    assert!(figures.lines > 2 * figures.entries, "{} lines", figures.lines);
    assert!(figures.into_empty.max_rss_bytes > 0 && figures.into_full.max_rss_bytes > 0);
    assert_eq!(
        rusqlite_count(&work.join("grow.db"), "SELECT COUNT(*) FROM entries"),
        i64::try_from(SMOKE_ENTRIES + SMOKE_ENTRIES / 4).unwrap()
    );
    assert_eq!(
        rusqlite_count(
            &work.join("grow.db"),
            "SELECT COUNT(*) FROM entries WHERE entry_key LIKE 'G%'"
        ),
        i64::try_from(SMOKE_ENTRIES / 4).unwrap()
    );
    let table = grow_load::table(&figures);
    assert!(
        table.contains(&format!("the benchmark ledger of {SMOKE_ENTRIES} entries")),
        "{table}"
    );
    let refused = grow_load::run(&options, SMOKE_ENTRIES + 1, 1).unwrap_err().to_string();
    assert!(refused.contains("give 1 to 2000"), "{refused}");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn the_postgres_benchmark_measures_both_backends_on_the_same_journal() {
    // Proves `closebook-bench postgres` end to end on the debug binary, when the suite has a
    // PostgreSQL server (CLOSEBOOK_TEST_POSTGRES; otherwise there is nothing to measure against):
    // both ceilings and both imports wrote every line (the benchmark refuses one that did not),
    // both ledgers give the same trial balance, both closes completed every task and posted, and
    // no database is left on the server.
    let Ok(url) = std::env::var(closebook_tests::TEST_POSTGRES_ENV) else {
        return;
    };
    let (work, options) = smoke_options("postgres");
    let figures = postgres::run(&options, &url).unwrap();
    assert_eq!(figures.entries, SMOKE_ENTRIES);
    assert!(figures.lines > 2 * SMOKE_ENTRIES, "{} lines", figures.lines);
    assert_eq!(figures.sqlite.trial_balance_rows, figures.postgres.trial_balance_rows);
    for backend in [&figures.sqlite, &figures.postgres] {
        assert!(backend.trial_balance_rows > 0);
        assert!(backend.import.peak_rss_bytes > 0 && backend.close.peak_rss_bytes > 0);
        assert!(
            backend
                .close_tasks
                .iter()
                .any(|task| task.task == "fx-revaluation" && task.entries_posted > 0),
            "{:?}",
            backend.close_tasks
        );
    }
    let table = postgres::table(&figures, "smoke", "today");
    for row in [
        "raw ceiling",
        "`closebook import journals --post`",
        "trial balance",
        "month-end close",
        "settle-open-items",
    ] {
        assert!(table.contains(row), "the table has no `{row}` row:\n{table}");
    }
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let left: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'closebook\\_bench\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the benchmark's databases were dropped");
    std::fs::remove_dir_all(&work).unwrap();
}

/// A work folder of its own (`closebook-bench-NAME-PID` in the temporary folder) and the options
/// of a smoke run in it: the debug binary, this build's plugins, one run, no peers.
fn smoke_options(name: &str) -> (std::path::PathBuf, Options) {
    let work = std::env::temp_dir().join(format!("closebook-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let options = Options {
        entries: SMOKE_ENTRIES,
        runs: 1,
        peer_runs: 0,
        closebook: closebook_binary().to_path_buf(),
        plugins: plugin_wasm("fx_revaluation").parent().unwrap().to_path_buf(),
        work: work.clone(),
        currencies: Currencies::Mixed,
    };
    (work, options)
}

fn rusqlite_count(database: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(database)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}
