//! Support for the end-to-end tests in `tests/tests/`: run the real `closebook` binary against
//! a real SQLite file in a temporary directory, load the demo organization, and read results
//! back as JSON.

pub mod server;
pub mod webdriver;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (the folder of the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

pub fn demo_dir() -> PathBuf {
    workspace_root().join("examples/demo")
}

/// The `closebook` binary of this build, built once per test process if needed: test binaries
/// live in `target/<profile>/deps/`, the binary one level up.
pub fn closebook_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let executable = std::env::current_exe().expect("the test executable has a path");
        let profile_dir = executable
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps");
        let binary = profile_dir.join(format!("closebook{}", std::env::consts::EXE_SUFFIX));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "closebook", "--bin", "closebook"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the closebook binary failed");
        assert!(binary.exists(), "no closebook binary at {}", binary.display());
        binary
    })
}

/// A plugin component built by `scripts/build-plugins`, by crate file name (e.g.
/// `custom_plugin`). Missing files fail the test with the command that builds them.
pub fn plugin_wasm(name: &str) -> PathBuf {
    let executable = std::env::current_exe().expect("the test executable has a path");
    let target = executable
        .ancestors()
        .nth(3)
        .expect("tests run from target/<profile>/deps");
    let path = target.join("wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `scripts/build-plugins` first (scripts/test does)",
        path.display()
    );
    path
}

/// The outcome of one command.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The outcome of a command run some other way (as another operating-system account).
    pub fn from_output(output: Output) -> Self {
        Self::from(output)
    }

    fn from(output: Output) -> Self {
        Self {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the command's output unless it succeeded.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.status, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command failed; returns its stderr.
    #[track_caller]
    pub fn failure(self) -> String {
        let shown: String = self.stdout.chars().take(4_000).collect();
        assert_ne!(
            self.status, 0,
            "command was expected to fail\nstdout (first 4,000 characters):\n{shown}"
        );
        self.stderr
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", self.stdout))
    }
}

/// The users a test setup declares when it is not the demo's: alice administers the ledger, and
/// the tests name the acting user with `--as` (the ledger trusts declared users).
pub const TEST_USERS: &str = r#"
[[user]]
id = "alice"
name = "Alice (test administrator)"

[security]
administrator = "alice"
trust_declared_users = true
"#;

/// A journal of `entries` balanced two-line entries for ACME-US in March 2026 (cash against
/// revenue of department 100), keyed `{prefix}-{index}`.
pub fn balanced_journal(prefix: &str, entries: usize) -> String {
    let mut text = String::with_capacity(entries * 80);
    text.push_str("entry,date,account,amount,dim.department\n");
    for index in 0..entries {
        let day = 1 + index % 28;
        let amount = 10 + index % 90;
        text.push_str(&format!("{prefix}-{index},2026-03-{day:02},1000,{amount}.00,\n"));
        text.push_str(&format!("{prefix}-{index},2026-03-{day:02},4000,-{amount}.00,100\n"));
    }
    text
}

/// A test's setup text with the test users appended.
pub fn with_test_users(setup: &str) -> String {
    format!("{setup}\n{TEST_USERS}")
}

/// A ledger file in its own temporary directory, driven through the CLI; or, when the suite
/// runs on PostgreSQL ([`TEST_POSTGRES_ENV`]), a database of its own there.
pub struct Ledger {
    pub dir: tempfile::TempDir,
    pub user: String,
    postgres: Option<PostgresDatabase>,
}

pub use closebook_ledger::store::TEST_POSTGRES_ENV;

/// Whether this run of the suite keeps its ledgers in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os(TEST_POSTGRES_ENV).is_some()
}

/// A database made for one test ledger, with closebook's schema, and dropped with it.
pub struct PostgresDatabase {
    /// The server's URL with the test's database.
    url: String,
    /// The URL the suite was given, through which the database is made and dropped.
    admin: String,
    name: String,
}

impl PostgresDatabase {
    /// A new, empty database (no schema) on the suite's PostgreSQL server; `None` when the
    /// suite runs on SQLite.
    pub fn empty() -> Option<Self> {
        std::env::var(TEST_POSTGRES_ENV)
            .ok()
            .map(|admin| Self::make(&admin, ""))
    }

    /// Its URL, for `--db`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new database with closebook's schema.
    fn create(admin: &str) -> Self {
        let database = Self::make(admin, "");
        closebook_ledger::store::postgres::migrate(&database.url).expect("the test database is migrated");
        database
    }

    /// A new database made as a copy of `template` (which no one may be connected to).
    fn copy_of(template: &PostgresDatabase) -> Self {
        Self::make(&template.admin, &format!(" TEMPLATE {}", template.name))
    }

    fn make(admin: &str, template: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "closebook_e2e_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let (server, _database) = admin
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("{TEST_POSTGRES_ENV} is not a URL ending in /DATABASE: {admin}"));
        let mut client = postgres::Client::connect(admin, postgres::NoTls).expect("the test PostgreSQL answers");
        client
            .batch_execute(&format!("CREATE DATABASE {name}{template}"))
            .expect("a test database is made");
        Self {
            url: format!("{server}/{name}"),
            admin: admin.to_owned(),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

impl Ledger {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            user: "alice".to_owned(),
            postgres: std::env::var(TEST_POSTGRES_ENV)
                .ok()
                .map(|admin| PostgresDatabase::create(&admin)),
        }
    }

    /// A new ledger holding what this one holds now: a copy of its file, or of its database.
    pub fn copy(&self) -> Ledger {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let postgres = self.postgres.as_ref().map(PostgresDatabase::copy_of);
        let copy = Ledger {
            dir,
            user: self.user.clone(),
            postgres,
        };
        if copy.postgres.is_none() {
            std::fs::copy(self.db(), copy.db()).expect("copying the ledger file");
        }
        copy
    }

    /// The ledger's `--db`: its file, or its PostgreSQL database's URL.
    pub fn db(&self) -> PathBuf {
        match &self.postgres {
            Some(database) => PathBuf::from(&database.url),
            None => self.dir.path().join("closebook.db"),
        }
    }

    /// Runs `closebook` with the ledger's `--db` and acting user.
    pub fn run(&self, arguments: &[&str]) -> Run {
        self.run_as(&self.user, arguments)
    }

    pub fn run_as(&self, user: &str, arguments: &[&str]) -> Run {
        self.run_with_environment(user, &[], arguments)
    }

    /// Runs `closebook` as `user` with these environment variables set (`RUST_LOG`,
    /// `CLOSEBOOK_PROGRESS_INTERVAL_MS`…). Without them a test sees the default diagnostics,
    /// whatever the shell that runs the tests has set.
    pub fn run_with_environment(&self, user: &str, environment: &[(&str, &str)], arguments: &[&str]) -> Run {
        let output = Command::new(closebook_binary())
            .arg("--db")
            .arg(self.db())
            .arg("--as")
            .arg(user)
            .args(arguments)
            .current_dir(workspace_root())
            .env_remove("CLOSEBOOK_DB")
            .env_remove("CLOSEBOOK_USER")
            .env_remove("RUST_LOG")
            .env_remove("CLOSEBOOK_PROGRESS_INTERVAL_MS")
            .env_remove("NO_COLOR")
            .envs(environment.iter().copied())
            .output()
            .expect("closebook runs");
        Run::from(output)
    }

    /// The demo close.toml, pointed at this build's plugins (pinned to their current hashes) and
    /// writing its reports into the ledger's folder; returns its path.
    pub fn pinned_demo_close(&self) -> String {
        use sha2::{Digest, Sha256};
        let release = plugin_wasm("custom_plugin").parent().unwrap().display().to_string();
        let mut text = std::fs::read_to_string(demo_dir().join("close.toml")).unwrap();
        text = text.replace("../../target/wasm32-wasip2/release", &release);
        text = text.replace(
            "../../target/demo/reports",
            &self.dir.path().join("reports").display().to_string(),
        );
        text = text.replace("../../examples/demo", &demo_dir().display().to_string());
        for (name, file) in [
            ("fx-revaluation", "fx_revaluation"),
            ("management-fee", "custom_plugin"),
            ("allocation", "allocation"),
            ("auto-settle", "auto_settle"),
        ] {
            let hash = hex::encode(Sha256::digest(std::fs::read(plugin_wasm(file)).unwrap()));
            let start = text.find(&format!("{name} = {{")).unwrap();
            let sha_start = start + text[start..].find("sha256 = \"").unwrap() + 10;
            text.replace_range(sha_start..sha_start + 64, &hash);
        }
        self.write("close.toml", &text)
    }

    /// Writes a file into the ledger's directory and returns its path as text.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("writing a test file");
        path.display().to_string()
    }

    /// Applies the demo setup and rates (no journals).
    pub fn with_demo_setup() -> Self {
        let ledger = Self::new();
        let demo = demo_dir();
        ledger
            .run(&["setup", "apply", &demo.join("setup.toml").display().to_string()])
            .success();
        ledger
            .run(&["import", "rates", &demo.join("rates.csv").display().to_string()])
            .success();
        ledger
    }

    /// The demo organization with all its journals posted.
    pub fn with_demo_journals() -> Self {
        let ledger = Self::with_demo_setup();
        for (entity, file, module) in DEMO_JOURNALS {
            let path = demo_dir().join(file).display().to_string();
            ledger
                .run(&[
                    "import", "journals", &path, "--entity", entity, "--module", module, "--post",
                ])
                .success();
        }
        ledger
    }

    pub fn trial_balance(&self, entity: &str, period: &str) -> Value {
        self.run(&[
            "report",
            "trial-balance",
            "--entity",
            entity,
            "--period",
            period,
            "--format",
            "json",
        ])
        .success()
        .json()
    }

    /// Runs `sql` (statements without results) on the ledger's database directly, as someone
    /// with `sqlite3` or `psql` would: for the tests that prove what closebook makes of it. The
    /// append-only triggers stay in place.
    pub fn execute_sql(&self, sql: &str) {
        match &self.postgres {
            Some(database) => postgres::Client::connect(&database.url, postgres::NoTls)
                .expect("the test PostgreSQL answers")
                .batch_execute(sql)
                .unwrap_or_else(|error| panic!("{sql}: {error}")),
            None => rusqlite::Connection::open(self.db())
                .expect("the ledger file opens")
                .execute_batch(sql)
                .unwrap_or_else(|error| panic!("{sql}: {error}")),
        }
    }

    /// Runs `sql` on the ledger's database directly with the append-only triggers gone
    /// (dropped on SQLite, disabled on PostgreSQL): a change made behind closebook's back, which
    /// `verify` and the close's checks must find.
    pub fn tamper(&self, sql: &str) {
        match &self.postgres {
            Some(_) => self.execute_sql(&format!(
                "DO $$ DECLARE t record; BEGIN
                     FOR t IN SELECT DISTINCT event_object_table AS name FROM information_schema.triggers
                              WHERE trigger_schema = current_schema() LOOP
                         EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', t.name);
                     END LOOP;
                 END $$; {sql}"
            )),
            None => {
                let connection = rusqlite::Connection::open(self.db()).expect("the ledger file opens");
                let triggers: Vec<String> = connection
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
                    .expect("the triggers are listed");
                for trigger in triggers {
                    connection
                        .execute_batch(&format!("DROP TRIGGER \"{trigger}\""))
                        .expect("a trigger is dropped");
                }
                connection
                    .execute_batch(sql)
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
            }
        }
    }

    /// The rows of a query on the ledger's database, each value as text (`None` for NULL;
    /// integers in decimal, as both databases print them).
    pub fn query_rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.postgres {
            Some(database) => postgres::Client::connect(&database.url, postgres::NoTls)
                .expect("the test PostgreSQL answers")
                .simple_query(sql)
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
                .into_iter()
                .filter_map(|message| match message {
                    postgres::SimpleQueryMessage::Row(row) => {
                        Some((0..row.len()).map(|index| row.get(index).map(str::to_owned)).collect())
                    }
                    _ => None,
                })
                .collect(),
            None => {
                let connection = rusqlite::Connection::open(self.db()).expect("the ledger file opens");
                let mut statement = connection.prepare(sql).unwrap_or_else(|error| panic!("{sql}: {error}"));
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|index| {
                                Ok(match row.get::<_, rusqlite::types::Value>(index)? {
                                    rusqlite::types::Value::Null => None,
                                    rusqlite::types::Value::Integer(number) => Some(number.to_string()),
                                    rusqlite::types::Value::Real(number) => Some(number.to_string()),
                                    rusqlite::types::Value::Text(text) => Some(text),
                                    rusqlite::types::Value::Blob(bytes) => Some(hex::encode(bytes)),
                                })
                            })
                            .collect()
                    })
                    .and_then(|rows| rows.collect())
                    .unwrap_or_else(|error| panic!("{sql}: {error}"))
            }
        }
    }

    /// The ledger's tables, by name.
    pub fn table_names(&self) -> Vec<String> {
        let sql = if self.postgres.is_some() {
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        };
        self.query_rows(sql)
            .into_iter()
            .map(|row| row[0].clone().expect("a table has a name"))
            .collect()
    }

    /// Every table's rows, each as text, sorted: what a "nothing was written" check compares.
    pub fn contents(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.table_names()
            .into_iter()
            .map(|table| {
                let mut rows: Vec<String> = self
                    .query_rows(&format!("SELECT * FROM \"{table}\""))
                    .into_iter()
                    .map(|row| format!("{row:?}"))
                    .collect();
                rows.sort();
                (table, rows)
            })
            .collect()
    }

    /// What the database holds, for the tests that prove nothing was written: the file's
    /// SHA-256 on SQLite (every byte), on PostgreSQL the database's schemas (a dry run's copy
    /// left behind shows) and every table's rows.
    pub fn stored(&self) -> String {
        if self.postgres.is_none() {
            use sha2::Digest;
            return hex::encode(sha2::Sha256::digest(std::fs::read(self.db()).expect("the ledger file")));
        }
        format!(
            "schemas: {:?}\n{:?}",
            self.query_rows("SELECT schema_name FROM information_schema.schemata ORDER BY schema_name"),
            self.contents()
        )
    }

    /// The first column of a query's only row, as text.
    pub fn query_text(&self, sql: &str) -> String {
        let rows = self.query_rows(sql);
        assert_eq!(rows.len(), 1, "{sql} returned {} rows", rows.len());
        rows[0][0].clone().unwrap_or_else(|| panic!("{sql} returned NULL"))
    }

    /// The first column of a query's only row, as a whole number.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let text = self.query_text(sql);
        text.parse()
            .unwrap_or_else(|_| panic!("{sql} returned {text}, not a whole number"))
    }

    /// Posted entries of an entity, counted through the store.
    pub fn entry_count(&self, entity: &str) -> i64 {
        let mut store = closebook_ledger::store::Store::open(&self.db()).expect("the ledger opens");
        store
            .read(|db| db.entry_count(Some(&entity.into())))
            .expect("entries count")
    }

    pub fn draft_count(&self, entity: &str) -> i64 {
        let mut store = closebook_ledger::store::Store::open(&self.db()).expect("the ledger opens");
        store.read(|db| db.draft_count(&entity.into())).expect("drafts count")
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

/// The demo's journal files: (entity, file, module), in import order.
pub const DEMO_JOURNALS: [(&str, &str, &str); 5] = [
    ("ACME-US", "us-opening.csv", "ledger"),
    ("ACME-US", "us-receivables.csv", "receivables"),
    ("ACME-US", "us-payables.csv", "payables"),
    ("ACME-US", "us-ledger.csv", "ledger"),
    ("ACME-DE", "de-ledger.csv", "ledger"),
];

/// Starts a command (with whatever it works on, e.g. a fresh ledger) and kills it with SIGKILL
/// after `delay_ms`, checking that it was still running when killed. A run that had already
/// finished tested no crash, so it is started again, fresh, with half the delay (down to 0 ms).
/// Returns what it worked on and the delay that killed it.
pub fn kill_while_running<T>(mut start: impl FnMut() -> (T, std::process::Child), delay_ms: u64) -> (T, u64) {
    let mut delay_ms = delay_ms;
    loop {
        let (state, mut child) = start();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().expect("the child's status can be read").is_some();
        if !finished {
            child.kill().expect("SIGKILL reaches a running child");
            let _ = child.wait();
            return (state, delay_ms);
        }
        assert!(
            delay_ms > 0,
            "the command finished before it could be killed, even at 0 ms"
        );
        delay_ms /= 2;
    }
}
