//! A small WebDriver client for the browser test: Debian's `chromedriver` driving headless
//! `chromium`, both started here on 127.0.0.1 and stopped when dropped. It speaks the W3C
//! WebDriver protocol (JSON over HTTP) with the same HTTP client as the server tests.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names element references with.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Times the page's text is read again when its body was replaced while being read.
const STALE_BODY_RETRIES: usize = 5;

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; screenshots go to `screenshots`.
    pub fn start(screenshots: &Path) -> Browser {
        for program in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (scripts/test does: apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = agent()
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut response| response.body_mut().read_json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready on {base}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                        format!("--user-data-dir={}", profile.path().display())
                    ]
                }
            }}
        });
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            _profile: profile,
            screenshots: screenshots.to_path_buf(),
        };
        let created = browser.command("POST", "/session", Some(capabilities));
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        std::fs::create_dir_all(screenshots).expect("the screenshot folder");
        browser
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    /// A WebDriver command; the error WebDriver answered (`{"error": …, "message": …}`) as Err.
    fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => agent().get(&url).call(),
            "DELETE" => agent().delete(&url).call(),
            _ => agent().post(&url).send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"));
        let value: Value = response.body_mut().read_json().expect("WebDriver answers JSON");
        if value["value"]["error"].is_string() {
            return Err(value["value"].clone());
        }
        Ok(value)
    }

    fn session_command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.session_command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub fn source(&self) -> String {
        self.session_command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's text as a person reads it. A page that reloads itself (the board while a run
    /// is under way) can replace its body between finding it and reading it: the body is then
    /// found again, up to [`STALE_BODY_RETRIES`] times.
    pub fn text(&self) -> String {
        for _ in 0..STALE_BODY_RETRIES {
            let body = self.find("body");
            let path = format!("/session/{}/element/{body}/text", self.session);
            match self.try_command("GET", &path, None) {
                Ok(value) => return value["value"].as_str().unwrap_or_default().to_owned(),
                Err(error) if error["error"] == "stale element reference" => continue,
                Err(error) => panic!("WebDriver GET {path}: {error}"),
            }
        }
        panic!("the page's body was replaced {STALE_BODY_RETRIES} times while its text was read")
    }

    /// An element by CSS selector; panics naming the selector and the page when there is none.
    pub fn find(&self, selector: &str) -> String {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let mut response = agent()
            .post(&url)
            .send_json(json!({ "using": "css selector", "value": selector }))
            .expect("WebDriver answers");
        let value: Value = response.body_mut().read_json().expect("WebDriver answers JSON");
        match value["value"][ELEMENT_KEY].as_str() {
            Some(element) => element.to_owned(),
            None => panic!(
                "no element {selector} on {} ({}):\n{}",
                self.url(),
                value["value"],
                self.source()
            ),
        }
    }

    /// An element by CSS selector, if the page has one now.
    fn try_find(&self, selector: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let mut response = agent()
            .post(&url)
            .send_json(json!({ "using": "css selector", "value": selector }))
            .ok()?;
        let value: Value = response.body_mut().read_json().ok()?;
        value["value"][ELEMENT_KEY].as_str().map(str::to_owned)
    }

    /// Clicks an element that loads a new page (a link, a form's button), and waits until the
    /// new page has loaded.
    pub fn click(&self, selector: &str) {
        let before = self.find("html");
        let element = self.find(selector);
        self.session_command("POST", &format!("/element/{element}/click"), Some(json!({})));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let loaded = self.try_find("html").is_some_and(|page| page != before)
                && self.session_command(
                    "POST",
                    "/execute/sync",
                    Some(json!({ "script": "return document.readyState", "args": [] })),
                ) == "complete";
            if loaded {
                return;
            }
            assert!(Instant::now() < deadline, "clicking {selector} loaded no new page");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.session_command("POST", &format!("/element/{element}/clear"), Some(json!({})));
        self.session_command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Saves a PNG of the viewport as `name`.png in the screenshot folder.
    pub fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let data = self.session_command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("a base64 screenshot"))
            .expect("the screenshot decodes");
        std::fs::write(self.screenshots.join(format!("{name}.png")), bytes).expect("writing a screenshot");
    }

    /// Reloads `url` until the page's text satisfies `done`, or panics after `timeout`.
    pub fn wait_for(&self, url: &str, timeout: Duration, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            self.goto(url);
            let text = self.text();
            if done(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the page shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = agent()
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
