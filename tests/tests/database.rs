//! The ledger's database itself (issue 22): `closebook db copy` between SQLite and PostgreSQL with
//! the hash chains intact, `closebook db migrate`, and what PostgreSQL refuses. On the suite's
//! SQLite run these copy file to file; on its PostgreSQL run (`CLOSEBOOK_TEST_POSTGRES`) from
//! the database to a SQLite file and back into a new database.

use closebook_ledger::store::POSTGRES_SCHEMA_VERSION;
use closebook_tests::{Ledger, PostgresDatabase, Run, closebook_binary, workspace_root};
use std::path::Path;
use std::process::Command;

/// Runs `closebook` as alice with these arguments (the ones naming the databases themselves).
fn closebook(arguments: &[&str]) -> Run {
    Run::from_output(
        Command::new(closebook_binary())
            .args(["--as", "alice"])
            .args(arguments)
            .current_dir(workspace_root())
            .env_remove("CLOSEBOOK_DB")
            .env_remove("CLOSEBOOK_USER")
            .output()
            .expect("closebook runs"),
    )
}

/// What the books say at `db`, as a person or an auditor reads them: every trial balance, both
/// statements, the journal and the audit trail, as JSON.
fn books(db: &str) -> Vec<String> {
    let mut shown = Vec::new();
    for entity in ["ACME-US", "ACME-DE"] {
        for period in ["2026-01", "2026-02", "2026-03"] {
            for report in ["trial-balance", "balance-sheet", "income-statement", "journal"] {
                shown.push(
                    closebook(&[
                        "--db", db, "report", report, "--entity", entity, "--period", period, "--format", "json",
                    ])
                    .success()
                    .stdout,
                );
            }
        }
    }
    shown.push(closebook(&["--db", db, "audit", "--format", "json"]).success().stdout);
    shown
}

fn verified(db: &str) -> String {
    closebook(&["--db", db, "verify"]).success().stdout
}

#[test]
fn a_ledger_copied_to_the_other_database_and_back_verifies_and_reads_the_same() {
    let ledger = Ledger::with_demo_journals();
    let config = ledger.pinned_demo_close();
    ledger
        .run_as("bob", &["close", "run", "--config", &config, "--period", "2026-01"])
        .success();
    let source = ledger.db().display().to_string();
    let expected = books(&source);
    let verification = verified(&source);
    assert!(verification.contains("hash chain intact"), "{verification}");

    let file = ledger.dir.path().join("copy.db").display().to_string();
    let copied = closebook(&["db", "copy", "--from", &source, "--to", &file])
        .success()
        .stdout;
    assert!(copied.contains(" tables from "), "{copied}");
    assert!(
        copied.contains(&format!("run `closebook --db {file} verify` to check the copy")),
        "{copied}"
    );
    assert_eq!(verified(&file), verification);
    assert_eq!(books(&file), expected);
    // A second copy into the same file is refused, and the file is left as it was.
    let refused = closebook(&["db", "copy", "--from", &source, "--to", &file]).failure();
    assert!(
        refused.contains("exists already: a copy goes into a new file"),
        "{refused}"
    );
    assert_eq!(books(&file), expected);

    // On PostgreSQL, the file goes back into a new database: both ways across, the same books.
    let Some(database) = PostgresDatabase::empty() else {
        return;
    };
    let back = closebook(&["db", "copy", "--from", &file, "--to", database.url()])
        .success()
        .stdout;
    assert!(
        back.contains(&format!(
            "made closebook's schema (version {POSTGRES_SCHEMA_VERSION}) in the PostgreSQL database"
        )),
        "{back}"
    );
    assert_eq!(verified(database.url()), verification);
    assert_eq!(books(database.url()), expected);
    // A database that holds a ledger is not copied into: nothing is merged, nothing written.
    let refused = closebook(&["db", "copy", "--from", &file, "--to", database.url()]).failure();
    assert!(
        refused.contains(
            "the destination holds a ledger already (entity ACME-DE), and a copy never merges into another ledger"
        ),
        "{refused}"
    );
    assert!(refused.contains("nothing was written to the copy"), "{refused}");
    assert_eq!(books(database.url()), expected);
}

#[test]
fn a_postgresql_ledger_is_migrated_only_when_asked_and_refuses_what_sqlite_refuses() {
    let Some(database) = PostgresDatabase::empty() else {
        // The SQLite file is migrated when it is opened; `db migrate` only reports its version.
        let ledger = Ledger::with_demo_setup();
        let db = ledger.db().display().to_string();
        let shown = closebook(&["--db", &db, "db", "migrate"]).success().stdout;
        assert!(
            shown.starts_with(&format!("the ledger file {db} is at schema version ")),
            "{shown}"
        );
        return;
    };
    let url = database.url();
    let report = || {
        closebook(&[
            "--db",
            url,
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
        ])
        .failure()
    };
    // A database without closebook's schema is refused by every command, naming the fix.
    let refused = report();
    assert!(
        refused.contains(&format!(
            "has closebook schema version 0, but this closebook needs version {POSTGRES_SCHEMA_VERSION}: run `closebook db migrate --db {url}` first"
        )),
        "{refused}"
    );
    let migrated = closebook(&["--db", url, "db", "migrate"]).success().stdout;
    assert_eq!(
        migrated,
        format!("migrated the PostgreSQL database {url} from schema version 0 to {POSTGRES_SCHEMA_VERSION}\n")
    );
    let again = closebook(&["--db", url, "db", "migrate"]).success().stdout;
    assert_eq!(
        again,
        format!(
            "the PostgreSQL database {url} is at schema version {POSTGRES_SCHEMA_VERSION} already; nothing to do\n"
        )
    );
    // Migrated but not set up: the SQLite counterpart is a missing file, and the fix is the same.
    let empty = report();
    assert!(
        empty.contains(
            "this ledger is empty: nothing has been set up in it; run `closebook setup apply SETUP.toml` first"
        ),
        "{empty}"
    );
    let setup = closebook_tests::demo_dir().join("setup.toml").display().to_string();
    closebook(&["--db", url, "setup", "apply", &setup]).success();

    // The append-only tables refuse a change made behind closebook's back, as SQLite's do.
    let folder = tempfile::tempdir().unwrap();
    let journal = folder.path().join("j.csv");
    std::fs::write(&journal, closebook_tests::balanced_journal("PG", 1)).unwrap();
    let journal = journal.display().to_string();
    closebook(&[
        "--db", url, "import", "journals", &journal, "--entity", "ACME-US", "--post",
    ])
    .success();
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    for change in [
        "UPDATE entries SET description = 'changed'",
        "DELETE FROM lines",
        "TRUNCATE audit_log",
    ] {
        let error = client.batch_execute(change).expect_err(change);
        let message = error
            .as_db_error()
            .map(|db| db.message().to_owned())
            .unwrap_or_default();
        assert!(
            [
                "posted entries are immutable",
                "posted lines are immutable",
                "the audit trail is append-only"
            ]
            .iter()
            .any(|expected| message.starts_with(expected)),
            "{change}: {message}"
        );
    }
    // A settlement may mark only a line and a settlement that exist: checked once per statement
    // on PostgreSQL (migration 2), where SQLite has foreign keys.
    let line: i64 = client.query_one("SELECT MIN(id) FROM lines", &[]).unwrap().get(0);
    for (settlement, line) in [(999_999_i64, line), (999_999, 999_999)] {
        let error = client
            .execute(
                "INSERT INTO settlement_lines (settlement_id, line_id) VALUES ($1, $2)",
                &[&settlement, &line],
            )
            .expect_err("a dangling settlement line");
        let message = error
            .as_db_error()
            .map(|db| db.message().to_owned())
            .unwrap_or_default();
        assert_eq!(
            message,
            format!("settlement {settlement} cannot mark line {line}: the line or the settlement does not exist")
        );
    }
    assert!(verified(url).contains("hash chain intact"));

    // A server that cannot be reached is named, with where to look.
    // Its password is never shown.
    let unreachable = "postgresql://closebook:s3cret@%2Fnonexistent%2Fsocket:5432/closebook";
    let refused = closebook(&["--db", unreachable, "verify"]).failure();
    assert!(
        refused.contains("cannot connect to the PostgreSQL database postgresql://closebook:***@%2Fnonexistent%2Fsocket:5432/closebook"),
        "{refused}"
    );
    assert!(!refused.contains("s3cret"), "{refused}");
    assert!(
        refused.contains(
            "check the URL given with --db (or CLOSEBOOK_DB), and that the server runs and lets this user in"
        ),
        "{refused}"
    );
    assert!(!Path::new("postgresql:").exists(), "a URL was taken for a file path");
}

#[test]
fn an_application_role_posts_and_reads_but_cannot_change_or_remove_posted_data() {
    let Some(database) = PostgresDatabase::empty() else {
        // A SQLite file has no roles: the option is refused, naming why.
        let ledger = Ledger::with_demo_setup();
        let db = ledger.db().display().to_string();
        let refused = closebook(&["--db", &db, "db", "migrate", "--app-role", "clerk"]).failure();
        assert!(refused.contains("--app-role is for a PostgreSQL database"), "{refused}");
        let refused = closebook(&["--db", &db, "db", "init"]).failure();
        assert!(refused.contains("db init sets up a PostgreSQL database"), "{refused}");
        return;
    };
    let owner = database.url();
    let role = format!("closebook_app_{}", std::process::id());
    let refused = closebook(&["--db", owner, "db", "migrate", "--app-role", "nobody_at_all"]).failure();
    assert!(
        refused.contains("there is no PostgreSQL role nobody_at_all: create it first"),
        "{refused}"
    );
    // `db init` creates the role, the schema and the grants; again, it keeps the role as it is
    // and grants again (as after a migration).
    let granted = closebook(&["--db", owner, "db", "init", "--app-role", &role])
        .success()
        .stdout;
    assert!(
        granted.starts_with(&format!("created the role {role} (LOGIN, no password")),
        "{granted}"
    );
    let again = closebook(&["--db", owner, "db", "init", "--app-role", &role])
        .success()
        .stdout;
    assert!(
        again.starts_with(&format!(
            "the role {role} exists already; it keeps its password and attributes\nthe PostgreSQL database"
        )),
        "{again}"
    );

    assert!(
        granted.contains(&format!("granted {role} reading and adding rows everywhere")),
        "{granted}"
    );
    for table in ["entries", "lines", "audit_log", "close_events", "settlement_lines"] {
        assert!(
            granted.contains(table),
            "{table} is not append-only for the role: {granted}"
        );
    }
    // The role runs closebook: setup, a posted import, a report, verify.
    let (server, name) = owner.rsplit_once('/').unwrap();
    let (_, host) = server.split_once('@').unwrap();
    let app = format!("postgresql://{role}@{host}/{name}");
    let setup = closebook_tests::demo_dir().join("setup.toml").display().to_string();
    closebook(&["--db", &app, "setup", "apply", &setup]).success();
    let folder = tempfile::tempdir().unwrap();
    let journal = folder.path().join("j.csv");
    std::fs::write(&journal, closebook_tests::balanced_journal("APP", 3)).unwrap();
    let journal = journal.display().to_string();
    closebook(&[
        "--db", &app, "import", "journals", &journal, "--entity", "ACME-US", "--post",
    ])
    .success();
    assert!(verified(&app).contains("hash chain intact"));
    // What the role may not do, even by hand, whatever the triggers: change, delete or empty
    // posted data, or switch the triggers off.
    let mut client = postgres::Client::connect(&app, postgres::NoTls).unwrap();
    for change in [
        "UPDATE entries SET description = 'changed'",
        "DELETE FROM lines",
        "TRUNCATE audit_log",
        "ALTER TABLE entries DISABLE TRIGGER USER",
        "DROP TABLE close_events",
        "UPDATE schema_migrations SET version = 0",
    ] {
        let error = client.batch_execute(change).expect_err(change);
        let message = error
            .as_db_error()
            .map(|db| db.message().to_owned())
            .unwrap_or_default();
        assert!(
            message.starts_with("permission denied") || message.starts_with("must be owner"),
            "{change}: {message}"
        );
    }
    // The role stays in the throwaway server (roles are the server's, not the database's).
}
