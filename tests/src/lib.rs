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

/// A ledger file in its own temporary directory, driven through the CLI.
pub struct Ledger {
    pub dir: tempfile::TempDir,
    pub user: String,
}

impl Ledger {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            user: "alice".to_owned(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("closebook.db")
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

    /// Posted entries of an entity, counted straight from the SQLite file.
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
