//! A real `closebook serve` for the server tests: started on 127.0.0.1 at a port the system
//! picks, read from the line the server prints, and stopped when dropped.

use crate::{Ledger, closebook_binary, workspace_root};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    /// What the server wrote to stderr after its first line.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server on `ledger`, as `ledger.user`, showing the given closes.
    pub fn start(ledger: &Ledger, closes: &[&str], extra: &[&str]) -> Server {
        let mut command = Command::new(closebook_binary());
        command
            .arg("--db")
            .arg(ledger.db())
            .arg("--as")
            .arg(&ledger.user)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(workspace_root())
            .env_remove("CLOSEBOOK_DB")
            .env_remove("CLOSEBOOK_USER")
            .env("CLOSEBOOK_CACHE", ledger.dir.path().join("cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for close in closes {
            command.args(["--close", close]);
        }
        let mut child = command.spawn().expect("closebook serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut reader = BufReader::new(stderr);
        let mut first = String::new();
        reader.read_line(&mut first).expect("the server prints its address");
        // The line names the ledger first (a PostgreSQL ledger by its URL), then the address:
        // `… is at http://127.0.0.1:PORT/ …`.
        let url = first
            .rsplit_once(" is at ")
            .and_then(|(_, rest)| rest.split_once("://"))
            .and_then(|(scheme, rest)| Some((scheme, rest.split('/').next()?)))
            .map(|(scheme, address)| format!("{scheme}://{address}"))
            .unwrap_or_else(|| panic!("no address in the server's first line: {first:?}"));
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server { child, url, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets a user's password through the CLI (stdin), as an administrator would.
pub fn set_password(ledger: &Ledger, user: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(closebook_binary())
        .arg("--db")
        .arg(ledger.db())
        .arg("--as")
        .arg(&ledger.user)
        .args(["user", "set-password", user])
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("closebook runs");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "set-password {user}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Creates an API token for `user` and returns it.
pub fn create_token(ledger: &Ledger, user: &str, name: &str) -> String {
    let created = ledger
        .run(&["token", "create", "--user", user, "--name", name, "--format", "json"])
        .success()
        .json();
    created["token"].as_str().expect("the token is shown once").to_owned()
}

pub const ALICE_PASSWORD: &str = "alice's long passphrase";
pub const BOB_PASSWORD: &str = "bob's long passphrase";
pub const CAROL_PASSWORD: &str = "carol's long passphrase";

/// The demo ledger with its journals and the three demo users' passwords set: made once per
/// test process, and copied for each test (the file is closed between commands).
pub fn demo_ledger() -> Ledger {
    static TEMPLATE: std::sync::OnceLock<Ledger> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let ledger = Ledger::with_demo_journals();
        set_password(&ledger, "alice", ALICE_PASSWORD);
        set_password(&ledger, "bob", BOB_PASSWORD);
        set_password(&ledger, "carol", CAROL_PASSWORD);
        ledger
    });
    template.copy()
}

/// What a browser gets by opening the sign-in page at `url` (`http://127.0.0.1:PORT`): the
/// sign-in cookie (`closebook_login=…`) and the form's token that must match it.
pub fn login_form(agent: &ureq::Agent, url: &str) -> (String, String) {
    let mut response = agent
        .get(&format!("{url}/login"))
        .call()
        .expect("the sign-in page answers");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("closebook_login="))
        .expect("the sign-in page sets its cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = response.body_mut().read_to_string().unwrap();
    let marker = "name=\"login_token\" value=\"";
    let start = page.find(marker).expect("the sign-in form carries its token") + marker.len();
    let token = page[start..].split('"').next().unwrap().to_owned();
    (cookie, token)
}

impl Server {
    /// Kills the server with SIGKILL, as a crash or `kill -9` would: no request finishes, no
    /// transaction commits, nothing is cleaned up. Panics if the server had already stopped by
    /// itself (a crash the test did not cause); returns once the process is gone.
    pub fn kill(&mut self) {
        let exited = self.child.try_wait().expect("the server's status can be read");
        assert!(
            exited.is_none(),
            "the server stopped by itself ({exited:?}) before it was killed; its log:\n{}",
            self.log.lock().unwrap()
        );
        self.child.kill().expect("SIGKILL reaches the running server");
        let _ = self.child.wait();
    }
}
