//! `closebook-bench serve`: the close workspace server under load. The real `closebook serve`
//! runs on a ledger (the generated benchmark ledger, imported once and copied per run, or the
//! demo organization's), and clients on threads of this process use it as a team would.
//!
//! Two phases, each timed on its own:
//! 1. **idle**: every client reads the close board, as a signed-in browser does (the HTML page,
//!    with a session cookie): the board's own figures;
//! 2. **mixed**: every client cycles through board reads, task pages, report reads (the API),
//!    small imports (one entry, through the API) and sign-offs, and halfway through the month-end
//!    close runs (through the API) until it ends. Board reads made while it runs are also
//!    reported on their own.
//!
//! A busy answer (`409` or `503` with `Retry-After`) is counted, not a failure; a refusal that
//! is the rule at work (a sign-off of a task already signed off) is counted too; any other
//! answer fails the benchmark. Afterwards the server is stopped, the ledger must hold exactly one
//! entry per import the server accepted (none lost, none doubled), and `closebook verify` must be
//! clean: a fast server that loses writes is no figure.

use crate::generate::{ENTITY, USER};
use crate::measure::{self, Options};
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The passwords of a throwaway ledger's users for the web sign-in.
const PASSWORD: &str = "load-benchmark-password";

/// Which ledger the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LedgerKind {
    /// The generated benchmark ledger (`--entries`), one entity, its month-end close.
    Bench,
    /// The demo organization (examples/demo): two entities, its January close with reviews.
    Demo,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub ledger: LedgerKind,
    pub entries: u64,
    /// Clients at once, each on its own thread with its own connection.
    pub clients: usize,
    /// Length of each phase.
    pub phase: Duration,
    pub closebook: PathBuf,
    pub plugins: PathBuf,
    pub work: PathBuf,
}

/// Response times of one kind of request in one phase.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    /// Every answered request's time, in microseconds, sorted.
    micros: Vec<u64>,
    /// Busy answers (409 or 503 with Retry-After), counted apart.
    pub busy: u64,
    /// Refusals that are the rules at work (a sign-off of a task already signed off, or still
    /// waiting on another), counted apart.
    pub refused: u64,
    /// Any other answer, and the first of them.
    pub failures: u64,
    pub first_failure: Option<String>,
}

/// How one request ended.
enum Answer {
    Ok,
    Busy,
    Refused,
    Failed(String),
}

impl Latencies {
    /// Requests answered as asked.
    pub fn count(&self) -> u64 {
        self.micros.len() as u64
    }

    /// The `percent` percentile (nearest rank), 0 when nothing was measured.
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.micros.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((percent / 100.0) * self.micros.len() as f64).ceil() as usize;
        Duration::from_micros(self.micros[rank.clamp(1, self.micros.len()) - 1])
    }

    fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.busy += other.busy;
        self.refused += other.refused;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn record(&mut self, started: Instant, answer: Answer) {
        match answer {
            Answer::Ok => self
                .micros
                .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)),
            Answer::Busy => self.busy += 1,
            Answer::Refused => self.refused += 1,
            Answer::Failed(failure) => {
                self.failures += 1;
                self.first_failure.get_or_insert(failure);
            }
        }
    }
}

/// The operations of the mixed phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Board,
    /// Board reads of the mixed phase made while the close runs, and those made before or
    /// after it (both also counted in `Board`).
    BoardDuringClose,
    BoardOutsideClose,
    Task,
    Report,
    Import,
    Signoff,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Board => "board page",
            Operation::BoardDuringClose => "board page while the close runs",
            Operation::BoardOutsideClose => "board page before and after the close",
            Operation::Task => "task page",
            Operation::Report => "trial balance (API)",
            Operation::Import => "import of one entry (API)",
            Operation::Signoff => "sign-off (API)",
        }
    }
}

/// What each client does, in turn, in the mixed phase: half board reads, then task pages,
/// reports, imports and a sign-off (each client starts at another place in the cycle).
const MIXED_CYCLE: [Operation; 20] = {
    use Operation::{Board, Import, Report, Signoff, Task};
    [
        Board, Task, Board, Report, Board, Import, Board, Task, Board, Report, Board, Task, Board, Import, Board,
        Report, Board, Task, Board, Signoff,
    ]
};

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub wall: Duration,
    pub operations: BTreeMap<Operation, Latencies>,
}

impl Phase {
    pub fn of(&self, operation: Operation) -> Latencies {
        self.operations.get(&operation).cloned().unwrap_or_default()
    }

    pub fn per_second(&self, operation: Operation) -> f64 {
        self.of(operation).count() as f64 / self.wall.as_secs_f64()
    }
}

/// Every figure of a load run.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    pub ledger: String,
    pub clients: usize,
    pub board_bytes: usize,
    pub idle: Phase,
    pub mixed: Phase,
    /// The month-end close's wall time through the API, under the clients' load.
    pub close_wall: Duration,
    /// The close's failed tasks (entity, task, message): none, or the run is a miss.
    pub close_failures: Vec<String>,
    pub entries_before: u64,
    pub entries_after: u64,
    pub server_peak_rss_bytes: u64,
}

/// The ledger served and who does what on it.
struct Target {
    description: String,
    /// A fresh ledger file to serve (a copy of a template).
    db: PathBuf,
    close_config: PathBuf,
    close: String,
    period: String,
    /// Signs in to read pages.
    reader: &'static str,
    /// Runs the close, imports and reads reports through the API.
    closer: &'static str,
    /// Signs off `signoff_task` (as its reviewer when `review`).
    signer: &'static str,
    signoff_task: &'static str,
    review: bool,
    entity: &'static str,
    /// The task page read.
    task: &'static str,
    /// Imports: a date outside the period closed (so the close's figures do not move under
    /// it), and the accounts debited and credited.
    import_date: &'static str,
    import_accounts: (&'static str, &'static str),
}

/// Runs both phases on a fresh copy of the ledger and checks the ledger after.
pub fn run(options: &LoadOptions) -> anyhow::Result<LoadFigures> {
    if options.clients == 0 {
        bail!("--clients 0 measures nothing: give at least 1");
    }
    let bench = Options {
        entries: options.entries,
        runs: 1,
        peer_runs: 0,
        closebook: measure::absolute(&options.closebook)?,
        plugins: measure::absolute(&options.plugins)?,
        work: measure::absolute(&options.work)?,
        currencies: crate::generate::Currencies::Mixed,
    };
    let target = match options.ledger {
        LedgerKind::Bench => bench_target(&bench)?,
        LedgerKind::Demo => demo_target(&bench)?,
    };
    let db = &target.db;
    crate::phase!("passwords and tokens");
    // The administrator sets the reader's password and makes the tokens.
    let admin = match options.ledger {
        LedgerKind::Bench => USER,
        LedgerKind::Demo => "alice",
    };
    let output = Command::new(&bench.closebook)
        .arg("--db")
        .arg(db)
        .args(["--as", admin, "user", "set-password", target.reader])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                writeln!(stdin, "{PASSWORD}")?;
            }
            child.wait_with_output()
        })
        .context("starting closebook user set-password")?;
    if !output.status.success() {
        bail!(
            "closebook user set-password: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token_of = |user: &str| -> anyhow::Result<String> {
        let output = Command::new(&bench.closebook)
            .arg("--db")
            .arg(db)
            .args(["--as", admin, "token", "create", "--user", user, "--name", "load"])
            .args(["--expires", "1d", "--format", "json"])
            .output()
            .context("starting closebook token create")?;
        if !output.status.success() {
            bail!("closebook token create: {}", String::from_utf8_lossy(&output.stderr));
        }
        let created: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        Ok(created["token"]
            .as_str()
            .context("token create printed no token")?
            .to_owned())
    };
    let closer_token = token_of(target.closer)?;
    let signer_token = token_of(target.signer)?;
    let entries_before = entry_count(db)?.0;

    let server = ServerProcess::start(&bench, db, &target.close_config, admin)?;
    let result = load(options, &target, &server, &closer_token, &signer_token);
    let server_peak_rss_bytes = server.stop()?;
    let (idle, mixed, close_wall, close_failures, board_bytes) = result?;

    crate::phase!("checking the ledger after the load");
    let (entries_after, written, distinct) = entry_count(db)?;
    let accepted = mixed.of(Operation::Import).count();
    if written != accepted || distinct != accepted {
        bail!(
            "the server accepted {accepted} imports of one entry each, but the ledger holds {written} of their entries ({distinct} distinct)"
        );
    }
    let verify = Command::new(&bench.closebook)
        .arg("--db")
        .arg(db)
        .args(["--as", admin, "verify"])
        .output()
        .context("starting closebook verify")?;
    if !verify.status.success() {
        bail!(
            "closebook verify after the load: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    measure::remove_database(db)?;
    Ok(LoadFigures {
        ledger: target.description,
        clients: options.clients,
        board_bytes,
        idle,
        mixed,
        close_wall,
        close_failures,
        entries_before,
        entries_after,
        server_peak_rss_bytes,
    })
}

/// The benchmark ledger ([`measure::ledger_template`]) with its month-end close and a manual
/// review task added for the sign-offs.
fn bench_target(options: &Options) -> anyhow::Result<Target> {
    let (template, generated) = measure::ledger_template(options)?;
    let (month_end, _) = measure::write_close_configs(options)?;
    let mut config = std::fs::read_to_string(&month_end)?;
    config.push_str(&format!(
        "\n[[task]]\nid = \"review-load\"\nname = \"Review the period's journals\"\narea = \"GL\"\nowner = \"{USER}\"\ndue = 5\nmanual = \"Read the journals posted in the period.\"\n"
    ));
    let close_config = options.work.join("serve-close.toml");
    std::fs::write(&close_config, config)?;
    let db = options.work.join("serve.db");
    measure::copy_database(&template, &db)?;
    Ok(Target {
        description: format!(
            "the benchmark ledger ({} entries, {} lines, one entity)",
            generated.entries, generated.lines
        ),
        db,
        close_config,
        close: "bench-month-end".to_owned(),
        period: "2026-12".to_owned(),
        reader: USER,
        closer: USER,
        signer: USER,
        signoff_task: "review-load",
        review: false,
        entity: ENTITY,
        task: "fx-revaluation",
        import_date: "2027-01-15",
        import_accounts: ("1000", "3000"),
    })
}

/// The demo organization (examples/demo, as `scripts/demo` sets it up) and its January close:
/// alice reads, bob runs the close and imports, alice reviews the management fee.
fn demo_target(options: &Options) -> anyhow::Result<Target> {
    let demo = std::fs::canonicalize("examples/demo")
        .context("examples/demo is not here: run closebook-bench from the repository's root")?;
    let template = options.work.join("serve-demo-template.db");
    measure::remove_database(&template)?;
    let text = |path: PathBuf| path.to_str().map(str::to_owned).context("a path that is not UTF-8");
    let as_alice = |arguments: &[&str]| -> anyhow::Result<()> {
        let output = Command::new(&options.closebook)
            .arg("--db")
            .arg(&template)
            .args(["--as", "alice"])
            .args(arguments)
            .output()
            .context("starting closebook")?;
        if !output.status.success() {
            bail!(
                "closebook {}: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    crate::phase!("setting up the demo ledger");
    as_alice(&["setup", "apply", &text(demo.join("setup.toml"))?])?;
    as_alice(&["import", "rates", &text(demo.join("rates.csv"))?])?;
    for (file, entity, module) in [
        ("us-opening.csv", "ACME-US", None),
        ("us-receivables.csv", "ACME-US", Some("receivables")),
        ("us-payables.csv", "ACME-US", Some("payables")),
        ("us-ledger.csv", "ACME-US", None),
        ("de-ledger.csv", "ACME-DE", None),
    ] {
        let path = text(demo.join(file))?;
        let mut arguments = vec!["import", "journals", path.as_str(), "--entity", entity, "--post"];
        if let Some(module) = module {
            arguments.extend(["--module", module]);
        }
        as_alice(&arguments)?;
    }
    rusqlite::Connection::open(&template)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    // The demo close.toml, with this build's plugins pinned and absolute paths.
    let mut config = std::fs::read_to_string(demo.join("close.toml"))?;
    config = config.replace("../../target/wasm32-wasip2/release", &text(options.plugins.clone())?);
    config = config.replace("../../target/demo/reports", &text(options.work.join("demo-reports"))?);
    config = config.replace("../../examples/demo", &text(demo.clone())?);
    for (name, file) in [
        ("fx-revaluation", "fx_revaluation"),
        ("management-fee", "custom_plugin"),
        ("allocation", "allocation"),
        ("auto-settle", "auto_settle"),
    ] {
        let pin = measure::pin(options, name, file)?;
        let start = config
            .find(&format!("{name} = {{"))
            .with_context(|| format!("the demo close.toml has no plugin {name}"))?;
        let end = start + config[start..].find('\n').unwrap_or(config.len() - start) + 1;
        config.replace_range(start..end, &pin);
    }
    let close_config = options.work.join("serve-demo-close.toml");
    std::fs::write(&close_config, config)?;
    let db = options.work.join("serve-demo.db");
    measure::copy_database(&template, &db)?;
    Ok(Target {
        description: "the demo organization (examples/demo: two entities, a few hundred entries)".to_owned(),
        db,
        close_config,
        close: "acme-month-end".to_owned(),
        period: "2026-01".to_owned(),
        reader: "alice",
        closer: "bob",
        signer: "alice",
        signoff_task: "management-fee",
        review: true,
        entity: "ACME-US",
        task: "management-fee",
        import_date: "2026-02-16",
        import_accounts: ("6100", "2100"),
    })
}

/// The ledger's entries; of them, the load's imports, and their distinct descriptions (each
/// import's is numbered).
fn entry_count(db: &Path) -> anyhow::Result<(u64, u64, u64)> {
    let (all, written, distinct): (i64, i64, i64) = rusqlite::Connection::open(db)?.query_row(
        "SELECT count(*), count(*) FILTER (WHERE description LIKE 'load benchmark write %'), \
         count(DISTINCT description) FILTER (WHERE description LIKE 'load benchmark write %') FROM entries",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok((u64::try_from(all)?, u64::try_from(written)?, u64::try_from(distinct)?))
}

/// The real `closebook serve`, on 127.0.0.1 at a port the system picks.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(options: &Options, db: &Path, close_config: &Path, as_user: &str) -> anyhow::Result<Self> {
        crate::phase!("starting closebook serve");
        let mut child = Command::new(&options.closebook)
            .arg("--db")
            .arg(db)
            .args(["--as", as_user, "serve", "--listen", "127.0.0.1:0", "--close"])
            .arg(close_config)
            .env("CLOSEBOOK_CACHE", options.work.join("plugin-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting closebook serve")?;
        let mut reader = BufReader::new(child.stderr.take().context("stderr is piped")?);
        let mut first = String::new();
        reader.read_line(&mut first)?;
        let Some(address) = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ' ', '\n']).next())
        else {
            let _ = child.kill();
            bail!("closebook serve printed no address: {first:?}");
        };
        let url = format!("http://{address}");
        // The rest of its log goes to a file, read if the run fails.
        let mut log = std::fs::File::create(options.work.join("serve.log"))?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut log);
        });
        Ok(Self { child, url })
    }

    /// Stops the server with SIGTERM (it finishes the requests in flight) and returns its peak
    /// resident memory, read just before ([`measure::peak_resident_bytes`]; `wait4`'s figure
    /// starts from the benchmark's own resident set at the fork).
    fn stop(mut self) -> anyhow::Result<u64> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        let peak = measure::peak_resident_bytes(pid);
        let mut status: libc::c_int = 0;
        // SAFETY: `rusage` is plain data that wait4 fills; zeroed is a valid value for it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: signals and reaps our own child, never waited on through `Child` afterwards.
        let waited = unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::wait4(pid, &mut status, 0, &mut usage)
        };
        if waited != pid {
            let _ = self.child.kill();
            bail!("waiting for closebook serve: {}", std::io::Error::last_os_error());
        }
        peak.context("the server's peak memory could not be read from /proc")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Signs `user` in through the web form, as a browser does (the sign-in page first, for the
/// form's token and its cookie), and returns the session cookie (`name=value`).
fn sign_in(url: &str, user: &str) -> anyhow::Result<String> {
    let cookie_named = |response: &ureq::http::Response<ureq::Body>, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with(&format!("{name}=")))
            .and_then(|value| value.split(';').next())
            .map(str::to_owned)
    };
    let mut form = agent()
        .get(&format!("{url}/login"))
        .call()
        .context("opening the sign-in page")?;
    let login_cookie = cookie_named(&form, "closebook_login").context("the sign-in page set no cookie")?;
    let page = form.body_mut().read_to_string()?;
    let token = page
        .split("name=\"login_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in page has no form token")?;
    let response = agent()
        .post(&format!("{url}/login"))
        .header("Cookie", &login_cookie)
        .send_form([
            ("user", user),
            ("password", PASSWORD),
            ("next", "/"),
            ("login_token", token),
        ])
        .context("signing in")?;
    if response.status().as_u16() != 303 {
        bail!("signing in answered {}", response.status());
    }
    cookie_named(&response, "closebook_session").context("signing in set no session cookie")
}

/// Both phases; the mixed one runs the close halfway through.
fn load(
    options: &LoadOptions,
    target: &Target,
    server: &ServerProcess,
    closer_token: &str,
    signer_token: &str,
) -> anyhow::Result<(Phase, Phase, Duration, Vec<String>, usize)> {
    let close_base = format!("{}/closes/{}/{}", server.url, target.close, target.period);
    let client = Client {
        board: close_base.clone(),
        task: format!("{close_base}/{}/{}", target.entity, target.task),
        report: format!(
            "{}/api/v1/reports/trial-balance?entity={}&period={}",
            server.url, target.entity, target.period
        ),
        import: format!(
            "{}/api/v1/journals/import?entity={}&post=true",
            server.url, target.entity
        ),
        signoff: format!(
            "{}/api/v1/closes/{}/{}/signoff",
            server.url, target.close, target.period
        ),
        signoff_body: serde_json::json!({
            "entity": target.entity,
            "task": target.signoff_task,
            "review": target.review,
            "note": "checked under load",
        }),
        import_date: target.import_date,
        import_accounts: target.import_accounts,
        cookie: sign_in(&server.url, target.reader)?,
        closer_token: closer_token.to_owned(),
        signer_token: signer_token.to_owned(),
        writes: AtomicU64::new(0),
        close_running: Mutex::new(None),
    };
    // One read first: the board must show, and its size is reported.
    let mut first = agent().get(&client.board).header("Cookie", &client.cookie).call()?;
    let page = first.body_mut().read_to_string()?;
    if first.status().as_u16() != 200 || !page.contains("id=\"board\"") {
        bail!("the board answered {}: {page}", first.status());
    }
    crate::phase!(
        "idle: {} clients read the board for {} s",
        options.clients,
        options.phase.as_secs()
    );
    let idle = run_phase(&client, "idle", options.clients, false, |stop| {
        std::thread::sleep(options.phase);
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?;
    crate::phase!(
        "mixed: {} clients read, import and sign off for {} s, the close runs from halfway",
        options.clients,
        options.phase.as_secs()
    );
    let close_wall = Mutex::new(Duration::ZERO);
    let close_failures = Mutex::new(Vec::new());
    let run_url = format!("{}/api/v1/closes/{}/{}/run", server.url, target.close, target.period);
    let mixed = run_phase(&client, "mixed", options.clients, true, |stop| {
        let started = Instant::now();
        std::thread::sleep(options.phase / 2);
        crate::phase!("mixed: the close runs");
        let close_started = Instant::now();
        *client
            .close_running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((close_started, None));
        let outcome = agent()
            .post(&run_url)
            .header("Authorization", &format!("Bearer {closer_token}"))
            .send_empty();
        let close_took = close_started.elapsed();
        *client
            .close_running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((close_started, Some(close_started + close_took)));
        *close_wall.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = close_took;
        let mut response = outcome.context("running the close")?;
        let body = response.body_mut().read_to_string()?;
        if response.status().as_u16() != 200 {
            bail!("the close run answered {}: {body}", response.status());
        }
        // A failed task is a finding of the benchmark, reported with the figures.
        let answer: serde_json::Value = serde_json::from_str(&body)?;
        let failures: Vec<String> = answer["outcomes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|outcome| outcome["status"] == "failed")
            .map(|outcome| {
                format!(
                    "{} {}: {}",
                    outcome["entity"].as_str().unwrap_or_default(),
                    outcome["task"].as_str().unwrap_or_default(),
                    outcome["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
        *close_failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = failures;
        std::thread::sleep(options.phase.saturating_sub(started.elapsed()));
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?;
    let close_wall = close_wall
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let close_failures = close_failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((idle, mixed, close_wall, close_failures, page.len()))
}

/// What the clients share: where to go, as whom.
struct Client {
    board: String,
    task: String,
    report: String,
    import: String,
    signoff: String,
    signoff_body: serde_json::Value,
    import_date: &'static str,
    import_accounts: (&'static str, &'static str),
    cookie: String,
    closer_token: String,
    signer_token: String,
    /// Imports so far, numbering each import's entry so that none repeats another.
    writes: AtomicU64,
    /// When the close started and (once it has) ended.
    close_running: Mutex<Option<(Instant, Option<Instant>)>>,
}

impl Client {
    fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Answer {
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return Answer::Failed(format!("{what}: {error}")),
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            200 => Answer::Ok,
            409 | 503 if retry_after => Answer::Busy,
            // A sign-off the rules refuse (nothing to sign off, or it waits on another task)
            // is the server answering right, not failing.
            422 if what == "sign-off" => Answer::Refused,
            _ => Answer::Failed(format!(
                "{what}: {status}: {}",
                body.chars().take(400).collect::<String>()
            )),
        }
    }

    fn page(&self, agent: &ureq::Agent, url: &str, what: &str) -> Answer {
        Self::answer(agent.get(url).header("Cookie", &self.cookie).call(), what)
    }

    fn report(&self, agent: &ureq::Agent) -> Answer {
        Self::answer(
            agent
                .get(&self.report)
                .header("Authorization", &format!("Bearer {}", self.closer_token))
                .call(),
            "report",
        )
    }

    fn import(&self, agent: &ureq::Agent) -> Answer {
        let number = self.writes.fetch_add(1, Ordering::SeqCst);
        let (debit, credit) = self.import_accounts;
        let date = self.import_date;
        let csv = format!(
            "entry,date,account,amount,description\n\
             LOAD{number:08},{date},{debit},1.00,load benchmark write {number}\n\
             LOAD{number:08},{date},{credit},-1.00,load benchmark write {number}\n"
        );
        Self::answer(
            agent
                .post(&self.import)
                .header("Authorization", &format!("Bearer {}", self.closer_token))
                .header("Content-Type", "text/csv")
                .send(csv.as_bytes()),
            "import",
        )
    }

    fn signoff(&self, agent: &ureq::Agent) -> Answer {
        Self::answer(
            agent
                .post(&self.signoff)
                .header("Authorization", &format!("Bearer {}", self.signer_token))
                .send_json(&self.signoff_body),
            "sign-off",
        )
    }

    /// Whether the close was running at `moment`.
    fn close_ran_at(&self, moment: Instant) -> bool {
        match *self
            .close_running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some((started, ended)) => moment >= started && ended.is_none_or(|ended| moment < ended),
            None => false,
        }
    }
}

/// Runs `clients` client threads until `control` sets the stop flag (it runs on this thread),
/// and returns their merged figures: board reads only, or the mixed cycle.
fn run_phase(
    client: &Client,
    name: &'static str,
    clients: usize,
    mixed: bool,
    control: impl FnOnce(&AtomicBool) -> anyhow::Result<()>,
) -> anyhow::Result<Phase> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (control_outcome, figures) = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|index| {
                let stop = &stop;
                scope.spawn(move || {
                    let agent = agent();
                    let mut figures: BTreeMap<Operation, Latencies> = BTreeMap::new();
                    let mut turn = index;
                    while !stop.load(Ordering::SeqCst) {
                        let operation = if mixed {
                            MIXED_CYCLE[turn % MIXED_CYCLE.len()]
                        } else {
                            Operation::Board
                        };
                        turn += 1;
                        let request = Instant::now();
                        let answer = match operation {
                            Operation::Board | Operation::BoardDuringClose | Operation::BoardOutsideClose => {
                                client.page(&agent, &client.board, "board")
                            }
                            Operation::Task => client.page(&agent, &client.task, "task page"),
                            Operation::Report => client.report(&agent),
                            Operation::Import => client.import(&agent),
                            Operation::Signoff => client.signoff(&agent),
                        };
                        if mixed && operation == Operation::Board && matches!(answer, Answer::Ok) {
                            let during = if client.close_ran_at(request) {
                                Operation::BoardDuringClose
                            } else {
                                Operation::BoardOutsideClose
                            };
                            figures.entry(during).or_default().record(request, Answer::Ok);
                        }
                        figures.entry(operation).or_default().record(request, answer);
                    }
                    figures
                })
            })
            .collect();
        let control_outcome = control(&stop);
        stop.store(true, Ordering::SeqCst);
        let figures: Vec<BTreeMap<Operation, Latencies>> = threads
            .into_iter()
            .map(|thread| thread.join().unwrap_or_default())
            .collect();
        (control_outcome, figures)
    });
    let wall = started.elapsed();
    control_outcome?;
    let mut operations: BTreeMap<Operation, Latencies> = BTreeMap::new();
    for figures in figures {
        for (operation, latencies) in figures {
            operations.entry(operation).or_default().merge(latencies);
        }
    }
    for (operation, latencies) in &mut operations {
        latencies.micros.sort_unstable();
        if let Some(failure) = &latencies.first_failure {
            bail!(
                "{} of the {name} phase's {} requests failed; the first: {failure}",
                latencies.failures,
                operation.name()
            );
        }
    }
    Ok(Phase { name, wall, operations })
}

/// The results as a Markdown section: each phase's operations, the targets and the checks.
pub fn render(figures: &LoadFigures, date: &str, machine: &str, command: &str) -> String {
    let ms = |duration: Duration| format!("{:.1} ms", duration.as_secs_f64() * 1000.0);
    let mut text = format!(
        "### {} clients on {} ({date})\n\nWritten by `{command}`. Machine: {machine}; the clients run on threads of the benchmark process, on the same cores as the server. The board page is {} bytes.\n\n",
        figures.clients, figures.ledger, figures.board_bytes,
    );
    text.push_str("| phase | operation | answered | per second | p50 | p99 | max | busy | refused by rule |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for phase in [&figures.idle, &figures.mixed] {
        for (operation, latencies) in &phase.operations {
            text.push_str(&format!(
                "| {} ({:.0} s) | {} | {} | {:.0} | {} | {} | {} | {} | {} |\n",
                phase.name,
                phase.wall.as_secs_f64(),
                operation.name(),
                latencies.count(),
                phase.per_second(*operation),
                ms(latencies.percentile(50.0)),
                ms(latencies.percentile(99.0)),
                ms(latencies.percentile(100.0)),
                latencies.busy,
                latencies.refused,
            ));
        }
    }
    let idle = figures.idle.of(Operation::Board);
    let during = figures.mixed.of(Operation::BoardDuringClose);
    let outside = figures.mixed.of(Operation::BoardOutsideClose);
    let verdict = |pass: bool| if pass { "pass" } else { "**miss**" };
    let ratio = during.percentile(99.0).as_secs_f64() / idle.percentile(99.0).as_secs_f64().max(1e-9);
    text.push_str(&format!(
        "\n| target | measured | verdict |\n| --- | ---: | --- |\n\
         | board page p99 < 50 ms (idle) | {} | {} |\n\
         | ≥ 1,000 board reads/s (idle) | {:.0} | {} |\n\
         | board p99 while the close runs ≤ 2× idle | {ratio:.2}× ({} against {}) | {} |\n\
         | for reference: against the mixed load's board reads before and after the close | {:.2}× ({} against {}) | |\n",
        ms(idle.percentile(99.0)),
        verdict(idle.percentile(99.0) < Duration::from_millis(50)),
        figures.idle.per_second(Operation::Board),
        verdict(figures.idle.per_second(Operation::Board) >= 1000.0),
        ms(during.percentile(99.0)),
        ms(idle.percentile(99.0)),
        verdict(ratio <= 2.0),
        during.percentile(99.0).as_secs_f64() / outside.percentile(99.0).as_secs_f64().max(1e-9),
        ms(during.percentile(99.0)),
        ms(outside.percentile(99.0)),
    ));
    text.push_str(&format!(
        "\nChecks after the load: the server accepted {} imports of one entry each, and the ledger holds each of them once (none lost, none doubled; {} entries before the load, {} after it with the close's own); `closebook verify` is clean. The close took {:.2} s through the API under the clients' load{}. The server's peak memory: {} MiB.\n",
        figures.mixed.of(Operation::Import).count(),
        figures.entries_before,
        figures.entries_after,
        figures.close_wall.as_secs_f64(),
        if figures.close_failures.is_empty() {
            " and failed no task".to_owned()
        } else {
            format!(" and **failed**: {}", figures.close_failures.join("; "))
        },
        figures.server_peak_rss_bytes >> 20,
    ));
    text
}
