//! `closebook-bench serve`: the close workspace server under load. The real `closebook serve`
//! runs on the benchmark ledger (generated and imported once, then copied per run) and clients
//! on threads of this process read the close board as a signed-in user would (the HTML page,
//! with a session cookie) while others post one-entry journals through the API with a token.
//!
//! Three phases, each timed on its own:
//! 1. **idle**: every client reads the board;
//! 2. **mixed**: `writers` clients post journals, the rest read;
//! 3. **during the close**: every client reads the board while the month-end close runs through
//!    the API, from its start to its end.
//!
//! Afterwards the server is stopped, the ledger must hold exactly one new entry per write the
//! server accepted (none lost, none doubled), `closebook verify` must be clean and the close
//! must have completed every task. Any of these failing fails the benchmark: a fast server that
//! loses writes is no figure.

use crate::generate::{self, ENTITY, USER};
use crate::measure::{self, Options};
use anyhow::{Context as _, bail};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The close the board shows and the last phase runs (the month-end close of `closebook-bench
/// run`, written by [`measure::write_close_configs`]).
const CLOSE: &str = "bench-month-end";
const PERIOD: &str = "2026-12";
/// The benchmark user's password for the web sign-in (a throwaway ledger's).
const PASSWORD: &str = "load-benchmark-password";

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub entries: u64,
    /// Clients at once, each on its own thread with its own connection.
    pub clients: usize,
    /// Of those, the clients that post journals in the mixed phase.
    pub writers: usize,
    /// Length of the idle and the mixed phases.
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
    /// Requests answered with an unexpected status or not answered, and the first such answer.
    pub failures: u64,
    pub first_failure: Option<String>,
}

impl Latencies {
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
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn record(&mut self, started: Instant, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self
                .micros
                .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)),
            Err(failure) => {
                self.failures += 1;
                self.first_failure.get_or_insert(failure);
            }
        }
    }
}

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub wall: Duration,
    pub reads: Latencies,
    pub writes: Latencies,
}

impl Phase {
    pub fn reads_per_second(&self) -> f64 {
        self.reads.count() as f64 / self.wall.as_secs_f64()
    }
}

/// Every figure of a load run.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    pub entries: u64,
    pub lines: u64,
    pub clients: usize,
    pub writers: usize,
    pub board_bytes: usize,
    pub phases: Vec<Phase>,
    /// The month-end close's wall time through the API, under the readers' load.
    pub close_wall: Duration,
    pub entries_before: u64,
    pub entries_after: u64,
    pub server_peak_rss_bytes: u64,
}

/// Runs the three phases on a fresh copy of the benchmark ledger and checks the ledger after.
pub fn run(options: &LoadOptions) -> anyhow::Result<LoadFigures> {
    if options.clients == 0 || options.writers >= options.clients {
        bail!(
            "--clients {} with --writers {}: give at least one client, and fewer writers than clients",
            options.clients,
            options.writers
        );
    }
    let absolute =
        |path: &Path| std::fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()));
    let bench = Options {
        entries: options.entries,
        runs: 1,
        peer_runs: 0,
        closebook: absolute(&options.closebook)?,
        plugins: absolute(&options.plugins)?,
        work: absolute(&options.work)?,
    };
    let data = bench.work.join(format!("data-{}", options.entries));
    crate::phase!("generating {} entries into {}", options.entries, data.display());
    let generated = generate::generate(&data, options.entries)?;
    let template = imported_ledger(&bench, &data)?;
    let (close_config, _) = measure::write_close_configs(&bench)?;
    let db = bench.work.join("serve.db");
    measure::copy_database(&template, &db)?;

    crate::phase!("password and token for {USER}");
    let mut set_password = Command::new(&bench.closebook)
        .arg("--db")
        .arg(&db)
        .args(["--as", USER, "user", "set-password", USER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting closebook user set-password")?;
    writeln!(set_password.stdin.take().context("stdin is piped")?, "{PASSWORD}")?;
    let output = set_password.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "closebook user set-password: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token = {
        let output = Command::new(&bench.closebook)
            .arg("--db")
            .arg(&db)
            .args(["--as", USER, "token", "create", "--user", USER, "--name", "load"])
            .args(["--expires", "1d", "--format", "json"])
            .output()
            .context("starting closebook token create")?;
        if !output.status.success() {
            bail!("closebook token create: {}", String::from_utf8_lossy(&output.stderr));
        }
        let created: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        created["token"]
            .as_str()
            .context("token create printed no token")?
            .to_owned()
    };
    let entries_before = entry_count(&db)?.0;

    let server = ServerProcess::start(&bench, &db, &close_config)?;
    let result = load(options, &server, &token);
    let server_peak_rss_bytes = server.stop()?;
    let (phases, close_wall, board_bytes) = result?;

    crate::phase!("checking the ledger after the load");
    let (entries_after, written, distinct) = entry_count(&db)?;
    let accepted: u64 = phases.iter().map(|phase| phase.writes.count()).sum();
    if written != accepted || distinct != accepted {
        bail!(
            "the server accepted {accepted} writes of one entry each, but the ledger holds {written} of their entries ({distinct} distinct)"
        );
    }
    let verify = Command::new(&bench.closebook)
        .arg("--db")
        .arg(&db)
        .args(["--as", USER, "verify"])
        .output()
        .context("starting closebook verify")?;
    if !verify.status.success() {
        bail!(
            "closebook verify after the load: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    let statuses: Vec<String> = {
        let connection = rusqlite::Connection::open(&db)?;
        let mut statement = connection.prepare("SELECT task_id || ' ' || status FROM close_tasks")?;
        statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?
    };
    let incomplete: Vec<&String> = statuses
        .iter()
        .filter(|task| {
            !task
                .rsplit(' ')
                .next()
                .and_then(|status| status.parse::<closebook_ledger::close_task::TaskStatus>().ok())
                .is_some_and(|status| status.is_complete())
        })
        .collect();
    if statuses.is_empty() || !incomplete.is_empty() {
        bail!(
            "the close under load did not complete: {incomplete:?} (see {})",
            bench.work.join("serve.log").display()
        );
    }
    measure::remove_database(&db)?;
    Ok(LoadFigures {
        entries: generated.entries,
        lines: generated.lines,
        clients: options.clients,
        writers: options.writers,
        board_bytes,
        phases,
        close_wall,
        entries_before,
        entries_after,
        server_peak_rss_bytes,
    })
}

/// The benchmark ledger set up, with rates and the journal posted: made once per size and kept
/// in the work folder (`serve-template-N.db`), since the import is measured by `run`, not here.
fn imported_ledger(options: &Options, data: &Path) -> anyhow::Result<PathBuf> {
    let template = options.work.join(format!("serve-template-{}.db", options.entries));
    if template.exists() {
        return Ok(template);
    }
    crate::phase!(
        "importing {} entries (once; kept as {})",
        options.entries,
        template.display()
    );
    let building = options.work.join("serve-template.partial.db");
    measure::remove_database(&building)?;
    let text = |path: PathBuf| path.to_str().map(str::to_owned).context("a path that is not UTF-8");
    measure::closebook(options, &building, &["setup", "apply", &text(data.join("setup.toml"))?])?;
    measure::closebook(options, &building, &["import", "rates", &text(data.join("rates.csv"))?])?;
    measure::closebook(
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
    Ok(template)
}

/// The ledger's entries; of them, the load's writes, and their distinct descriptions (each
/// write's is numbered).
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
    fn start(options: &Options, db: &Path, close_config: &Path) -> anyhow::Result<Self> {
        crate::phase!("starting closebook serve");
        let mut child = Command::new(&options.closebook)
            .arg("--db")
            .arg(db)
            .args(["--as", USER, "serve", "--listen", "127.0.0.1:0", "--close"])
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
    /// resident memory.
    fn stop(mut self) -> anyhow::Result<u64> {
        let pid = libc::pid_t::try_from(self.child.id())?;
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
        Ok(u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024)
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

/// Signs in through the web form, as a browser does (the sign-in page first, for the form's
/// token and its cookie), and returns the session cookie (`name=value`).
fn sign_in(url: &str) -> anyhow::Result<String> {
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
            ("user", USER),
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

/// What a client thread does until it is told to stop.
#[derive(Clone, Copy)]
enum Role {
    Reader,
    Writer,
}

fn load(options: &LoadOptions, server: &ServerProcess, token: &str) -> anyhow::Result<(Vec<Phase>, Duration, usize)> {
    let cookie = sign_in(&server.url)?;
    let board = format!("{}/closes/{CLOSE}/{PERIOD}", server.url);
    // One read first: the board must show, and its size is reported.
    let mut first = agent().get(&board).header("Cookie", &cookie).call()?;
    let page = first.body_mut().read_to_string()?;
    if first.status().as_u16() != 200 || !page.contains("id=\"board\"") {
        bail!("the board answered {}: {page}", first.status());
    }
    let writes = Arc::new(AtomicU64::new(0));
    let context = Client {
        board,
        import: format!("{}/api/v1/journals/import?entity={ENTITY}&post=true", server.url),
        cookie,
        token: token.to_owned(),
        writes,
    };
    let mut phases = Vec::new();
    crate::phase!(
        "idle: {} clients read the board for {} s",
        options.clients,
        options.phase.as_secs()
    );
    phases.push(run_phase(
        &context,
        "idle",
        vec![Role::Reader; options.clients],
        |stop| {
            std::thread::sleep(options.phase);
            stop.store(true, Ordering::SeqCst);
            Ok(())
        },
    )?);
    crate::phase!(
        "mixed: {} clients read, {} post journals, for {} s",
        options.clients - options.writers,
        options.writers,
        options.phase.as_secs()
    );
    let mut roles = vec![Role::Reader; options.clients - options.writers];
    roles.extend(vec![Role::Writer; options.writers]);
    phases.push(run_phase(&context, "mixed", roles, |stop| {
        std::thread::sleep(options.phase);
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?);
    crate::phase!(
        "during the close: {} clients read the board while the close runs",
        options.clients
    );
    let close_wall = Mutex::new(Duration::ZERO);
    let run_url = format!("{}/api/v1/closes/{CLOSE}/{PERIOD}/run", server.url);
    phases.push(run_phase(
        &context,
        "during the close",
        vec![Role::Reader; options.clients],
        |stop| {
            let started = Instant::now();
            let outcome = agent()
                .post(&run_url)
                .header("Authorization", &format!("Bearer {token}"))
                .send_empty();
            *close_wall.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = started.elapsed();
            stop.store(true, Ordering::SeqCst);
            let mut response = outcome.context("running the close")?;
            let body = response.body_mut().read_to_string()?;
            if response.status().as_u16() != 200 {
                bail!("the close run answered {}: {body}", response.status());
            }
            let answer: serde_json::Value = serde_json::from_str(&body)?;
            if answer["failed"].as_u64() != Some(0) {
                bail!("the close run under load had failed tasks: {body}");
            }
            Ok(())
        },
    )?);
    let close_wall = close_wall
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((phases, close_wall, page.len()))
}

struct Client {
    board: String,
    import: String,
    cookie: String,
    token: String,
    /// Writes so far, numbering each write's entry so that none repeats another.
    writes: Arc<AtomicU64>,
}

impl Client {
    fn read_board(&self, agent: &ureq::Agent) -> Result<(), String> {
        let mut response = agent
            .get(&self.board)
            .header("Cookie", &self.cookie)
            .call()
            .map_err(|error| error.to_string())?;
        let page = response
            .body_mut()
            .read_to_string()
            .map_err(|error| error.to_string())?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(format!(
                "board: {status}: {}",
                page.chars().take(300).collect::<String>()
            )),
        }
    }

    fn write_entry(&self, agent: &ureq::Agent) -> Result<(), String> {
        let number = self.writes.fetch_add(1, Ordering::SeqCst);
        let csv = format!(
            "entry,date,account,amount,currency,accounting_amount,description,dim.department,dim.project\n\
             LOAD{number:08},2026-12-15,1000,1.00,,,load benchmark write {number},,\n\
             LOAD{number:08},2026-12-15,3000,-1.00,,,load benchmark write {number},,\n"
        );
        let mut response = agent
            .post(&self.import)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "text/csv")
            .send(csv.as_bytes())
            .map_err(|error| error.to_string())?;
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|error| error.to_string())?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(format!("import: {status}: {body}")),
        }
    }
}

/// Runs `roles.len()` client threads until `control` sets the stop flag (it runs on this
/// thread), and returns their merged figures.
fn run_phase(
    client: &Client,
    name: &'static str,
    roles: Vec<Role>,
    control: impl FnOnce(&AtomicBool) -> anyhow::Result<()>,
) -> anyhow::Result<Phase> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (control_outcome, figures) = std::thread::scope(|scope| {
        let threads: Vec<_> = roles
            .into_iter()
            .map(|role| {
                let stop = &stop;
                scope.spawn(move || {
                    let agent = agent();
                    let (mut reads, mut writes) = (Latencies::default(), Latencies::default());
                    while !stop.load(Ordering::SeqCst) {
                        let request = Instant::now();
                        match role {
                            Role::Reader => reads.record(request, client.read_board(&agent)),
                            Role::Writer => writes.record(request, client.write_entry(&agent)),
                        }
                    }
                    (reads, writes)
                })
            })
            .collect();
        let control_outcome = control(&stop);
        stop.store(true, Ordering::SeqCst);
        let figures: Vec<(Latencies, Latencies)> = threads
            .into_iter()
            .map(|thread| thread.join().unwrap_or_default())
            .collect();
        (control_outcome, figures)
    });
    let wall = started.elapsed();
    control_outcome?;
    let mut phase = Phase {
        name,
        wall,
        reads: Latencies::default(),
        writes: Latencies::default(),
    };
    for (reads, writes) in figures {
        phase.reads.merge(reads);
        phase.writes.merge(writes);
    }
    phase.reads.micros.sort_unstable();
    phase.writes.micros.sort_unstable();
    for (kind, latencies) in [("read", &phase.reads), ("write", &phase.writes)] {
        if let Some(failure) = &latencies.first_failure {
            bail!(
                "{} of the {name} phase's {kind}s failed; the first: {failure}",
                latencies.failures
            );
        }
    }
    Ok(phase)
}

/// The results as a Markdown section: the phases' table, the targets and the checks.
pub fn render(figures: &LoadFigures, date: &str, machine: &str, command: &str) -> String {
    let ms = |duration: Duration| format!("{:.1} ms", duration.as_secs_f64() * 1000.0);
    let mut text = format!(
        "## Server load: {} clients on the {}-entry ledger ({date})\n\nWritten by `{command}`.\n\nMachine: {machine}. The clients run on threads of the benchmark process, on the same cores as the server.\n\nLedger: {} entries, {} lines. The board page is {} bytes.\n\n",
        figures.clients, figures.entries, figures.entries, figures.lines, figures.board_bytes,
    );
    text.push_str("| phase | time | board reads | reads/s | read p50 | read p99 | read max | writes | write p50 | write p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for phase in &figures.phases {
        text.push_str(&format!(
            "| {} | {:.1} s | {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
            phase.name,
            phase.wall.as_secs_f64(),
            phase.reads.count(),
            phase.reads_per_second(),
            ms(phase.reads.percentile(50.0)),
            ms(phase.reads.percentile(99.0)),
            ms(phase.reads.percentile(100.0)),
            phase.writes.count(),
            if phase.writes.count() > 0 {
                ms(phase.writes.percentile(50.0))
            } else {
                String::new()
            },
            if phase.writes.count() > 0 {
                ms(phase.writes.percentile(99.0))
            } else {
                String::new()
            },
        ));
    }
    let idle = &figures.phases[0];
    let during = &figures.phases[2];
    let verdict = |pass: bool| if pass { "pass" } else { "**miss**" };
    let ratio = during.reads.percentile(99.0).as_secs_f64() / idle.reads.percentile(99.0).as_secs_f64().max(1e-9);
    text.push_str(&format!(
        "\n| target | measured | verdict |\n| --- | ---: | --- |\n\
         | board p99 < 50 ms (idle) | {} | {} |\n\
         | ≥ 1000 board reads/s (idle) | {:.0} | {} |\n\
         | board p99 during the close ≤ 2× idle | {ratio:.2}× ({} against {}) | {} |\n",
        ms(idle.reads.percentile(99.0)),
        verdict(idle.reads.percentile(99.0) < Duration::from_millis(50)),
        idle.reads_per_second(),
        verdict(idle.reads_per_second() >= 1000.0),
        ms(during.reads.percentile(99.0)),
        ms(idle.reads.percentile(99.0)),
        verdict(ratio <= 2.0),
    ));
    let accepted: u64 = figures.phases.iter().map(|phase| phase.writes.count()).sum();
    text.push_str(&format!(
        "\nChecks after the load: the server accepted {accepted} writes of one entry each and the ledger holds each of them once (none lost, none doubled; {} entries before the load, {} after it with the close's); `closebook verify` is clean; the month-end close took {:.2} s through the API under the readers' load and completed every task. The server's peak memory: {} MiB.\n",
        figures.entries_before,
        figures.entries_after,
        figures.close_wall.as_secs_f64(),
        figures.server_peak_rss_bytes >> 20,
    ));
    text
}
