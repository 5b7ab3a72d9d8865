//! The close workspace server (`closebook serve`), driven over real HTTP on 127.0.0.1: API
//! tokens, the permission check on every call, imports that refuse per line and write
//! nothing, a close run and its sign-offs through the API, and the browser's side: sign-in,
//! session cookies, CSRF, throttling, expiry and escaping.

use closebook_tests::server::{
    ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, Server, create_token, demo_ledger, login_form,
};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// (status, body) of a response.
fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

fn get(url: &str, token: &str) -> (u16, String) {
    read(
        agent()
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

fn post_json(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let (status, text) = read(
        agent()
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[test]
fn the_api_needs_a_valid_token_and_acts_as_its_user() {
    let ledger = demo_ledger();
    let token = create_token(&ledger, "carol", "reporting");
    let server = Server::start(&ledger, &[], &[]);
    let (status, body) = read(agent().get(&server.url("/api/v1/me")).call());
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("send `Authorization: Bearer TOKEN`"), "{body}");
    let (status, body) = get(&server.url("/api/v1/me"), "cbk_0000");
    assert_eq!(status, 401);
    assert!(body.contains("unknown, expired or revoked"), "{body}");
    let (status, body) = get(&server.url("/api/v1/me"), &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body),
        json!({ "user": "carol", "identity": "token", "entities": ["ACME-DE", "ACME-US"] })
    );
    // The token list shows its last use, never the token.
    let listed = ledger.run(&["token", "list", "--format", "json"]).success().json();
    assert_eq!(listed[0]["user"], "carol");
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&token));
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    ledger.run(&["token", "revoke", &id]).success();
    let (status, _) = get(&server.url("/api/v1/me"), &token);
    assert_eq!(status, 401, "a revoked token stops working at once");
    // Only the SHA-256 is stored: the token is nowhere in the ledger file (on PostgreSQL, in no
    // row of any table).
    if closebook_tests::on_postgres() {
        let tables = ledger.query_rows(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        );
        for table in tables {
            let table = table[0].clone().expect("a table has a name");
            let rows = format!("{:?}", ledger.query_rows(&format!("SELECT * FROM \"{table}\"")));
            assert!(!rows.contains(&token), "table {table} holds the token");
        }
    } else {
        let stored = std::fs::read(ledger.db()).unwrap();
        assert!(!stored.windows(token.len()).any(|window| window == token.as_bytes()));
    }
}

#[test]
fn every_api_call_goes_through_the_permission_check() {
    let ledger = demo_ledger();
    let carol = create_token(&ledger, "carol", "auditor");
    let alice = create_token(&ledger, "alice", "controller");
    let server = Server::start(&ledger, &[], &[]);
    let (status, body) = get(
        &server.url("/api/v1/reports/trial-balance?entity=ACME-US&period=2026-01"),
        &carol,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body),
        ledger.trial_balance("ACME-US", "2026-01"),
        "the API and the CLI agree"
    );
    // February's opening column is kept between reads; an entry another process posts into
    // January is in the next read.
    let february = server.url("/api/v1/reports/trial-balance?entity=ACME-US&period=2026-02");
    let (status, before) = get(&february, &carol);
    assert_eq!(status, 200, "{before}");
    assert_eq!(json(&before), ledger.trial_balance("ACME-US", "2026-02"));
    let late = ledger.write(
        "late.csv",
        "entry,date,account,amount\nL1,2026-01-25,6100,10.00\nL1,2026-01-25,2100,-10.00\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-US", "--post"])
        .success();
    let (_, after) = get(&february, &carol);
    let after = json(&after);
    assert_ne!(after, json(&before));
    assert_eq!(after, ledger.trial_balance("ACME-US", "2026-02"));
    let change = json!({ "entities": ["ACME-US"], "period": "2026-01", "status": "on-hold" });
    let (status, body) = post_json(&server.url("/api/v1/periods/status"), &carol, &change);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"],
        "carol may not set the period status of ACME-US (needs period.status)"
    );
    let (status, body) = post_json(&server.url("/api/v1/periods/status"), &alice, &change);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["to"], "on-hold");
    let (_, periods) = get(&server.url("/api/v1/periods?entity=ACME-US"), &carol);
    let january = json(&periods)
        .as_array()
        .unwrap()
        .iter()
        .find(|view| view["name"] == "2026-01")
        .cloned()
        .unwrap();
    assert_eq!(january["status"], "on-hold");
    // The refusal and the change are in the audit trail, with how each identity was proven.
    let (status, audit) = get(&server.url("/api/v1/audit?limit=5"), &alice);
    assert_eq!(status, 200, "{audit}");
    let audit = json(&audit);
    let actions: Vec<(&str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|record| {
            (
                record["user"].as_str().unwrap(),
                record["action"].as_str().unwrap(),
                record["identity"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        actions.contains(&("carol", "permission.refused", "token")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("alice", "period.set-status", "token")),
        "{actions:?}"
    );
    let (status, body) = get(&server.url("/api/v1/audit"), &carol);
    assert_eq!(status, 200, "the auditor reads the trail: {body}");
    let (status, body) = get(
        &server.url("/api/v1/reports/cash-flow?entity=ACME-US&period=2026-01"),
        &carol,
    );
    assert_eq!(status, 404);
    assert!(
        body.contains("trial-balance, balance-sheet and income-statement"),
        "{body}"
    );
}

#[test]
fn a_journal_that_needs_approval_goes_through_the_api_with_maker_and_checker_apart() {
    // ACME-US ledger journals above 10,000.00 need approval: bob's 12,000.00 entry imports as a
    // draft, bob submits it, bob may not approve it (403, nothing written), alice approves it,
    // and then it posts.
    let ledger = demo_ledger();
    let rules = ledger.write(
        "approval.toml",
        "[[journal_approval]]\nentity = \"ACME-US\"\nmodule = \"ledger\"\nabove = \"10000.00\"\n",
    );
    ledger.run(&["setup", "apply", &rules]).success();
    let bob = create_token(&ledger, "bob", "imports");
    let alice = create_token(&ledger, "alice", "controller");
    let server = Server::start(&ledger, &[], &[]);
    let before = ledger.entry_count("ACME-US");
    let journal = "entry,date,account,amount,description\nBIG-1,2026-03-10,1500,12000.00,<img src=x onerror=alert(1)>\nBIG-1,2026-03-10,1000,-12000.00,\n";
    let (status, body) = read(
        agent()
            .post(&server.url("/api/v1/journals/import?entity=ACME-US&post=true&source=big.csv"))
            .header("Authorization", &format!("Bearer {bob}"))
            .send(journal),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["awaiting_approval"], json!(["BIG-1"]), "{body}");
    assert_eq!(ledger.entry_count("ACME-US"), before);
    let draft = json!({ "entity": "ACME-US", "entries": ["BIG-1"] });
    // The drafts page shows what is to be approved, escaped, and submits it.
    let mut bob_browser = Browser::new();
    bob_browser.sign_in(&server, "bob", BOB_PASSWORD);
    let (status, page, _) = bob_browser.get(&server.url("/drafts"));
    assert_eq!(status, 200, "{page}");
    for shown in ["BIG-1", "12000.00", "not submitted", "&lt;img src=x"] {
        assert!(page.contains(shown), "the drafts page lacks {shown}: {page}");
    }
    assert!(!page.contains("<img src=x"), "{page}");
    let token = csrf(&page);
    let form = |action| {
        [
            ("csrf", token.as_str()),
            ("entity", "ACME-US"),
            ("entry", "BIG-1"),
            ("action", action),
            ("text", ""),
        ]
    };
    let (status, body, location) = bob_browser.post(&server.url("/drafts/action"), &form("submit"));
    assert_eq!(status, 303, "{body}");
    assert!(location.unwrap().starts_with("/drafts?done=Submitted"));
    let (status, body, _) = bob_browser.post(&server.url("/drafts/action"), &form("approve"));
    assert_eq!(status, 403, "bob may not approve from the page either: {body}");
    let (status, body) = post_json(&server.url("/api/v1/journals/approve"), &bob, &draft);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"],
        "bob may not approve journals of ACME-US (needs journal.approve)"
    );
    let (status, body) = post_json(&server.url("/api/v1/journals/post"), &bob, &draft);
    assert!(status >= 400, "an unapproved draft does not post: {body}");
    assert_eq!(ledger.entry_count("ACME-US"), before);
    let mut alice_browser = Browser::new();
    alice_browser.sign_in(&server, "alice", ALICE_PASSWORD);
    let (_, page, _) = alice_browser.get(&server.url("/drafts"));
    assert!(page.contains("submitted by bob"), "{page}");
    let token = csrf(&page);
    let (status, body, location) = alice_browser.post(
        &server.url("/drafts/action"),
        &[
            ("csrf", token.as_str()),
            ("entity", "ACME-US"),
            ("entry", "BIG-1"),
            ("action", "approve"),
            ("text", "invoice seen"),
        ],
    );
    assert_eq!(status, 303, "{body}");
    assert!(location.unwrap().starts_with("/drafts?done=Approved"));
    let (status, body) = post_json(&server.url("/api/v1/journals/approve"), &alice, &draft);
    assert_eq!(status, 422, "approved already: {body}");
    let (status, body) = post_json(&server.url("/api/v1/journals/post"), &bob, &draft);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["posted"], 1);
    assert_eq!(ledger.entry_count("ACME-US"), before + 1);
}

#[test]
fn an_import_through_the_api_refuses_per_line_and_writes_nothing() {
    let ledger = demo_ledger();
    let bob = create_token(&ledger, "bob", "imports");
    let server = Server::start(&ledger, &[], &[]);
    let before = ledger.entry_count("ACME-US");
    let bad = "entry,date,account,amount,description\n\
               A1,2026-01-20,6100,100.00,balanced\n\
               A1,2026-01-20,2100,-100.00,balanced\n\
               B1,2026-01-21,6100,50.00,unbalanced\n\
               B1,2026-01-21,2100,-40.00,unbalanced\n\
               C1,2026-01-22,9999,10.00,no such account\n\
               C1,2026-01-22,2100,-10.00,no such account\n";
    let url = server.url("/api/v1/journals/import?entity=ACME-US&post=true&source=late.csv");
    let (status, body) = read(
        agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {bob}"))
            .send(bad),
    );
    assert_eq!(status, 422, "{body}");
    let body = json(&body);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .ends_with("2 entries were refused; nothing was written"),
        "{body}"
    );
    let refusals: Vec<&str> = body["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(refusals[0].contains("B1"), "{refusals:?}");
    assert!(
        refusals[1].contains("C1") && refusals[1].contains("9999"),
        "{refusals:?}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), before, "nothing was written");
    let good = "entry,date,account,amount,description\nA1,2026-01-20,6100,100.00,late accrual\nA1,2026-01-20,2100,-100.00,late accrual\n";
    let (status, body) = read(
        agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {bob}"))
            .send(good),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["posted"], 1);
    assert_eq!(ledger.entry_count("ACME-US"), before + 1);
}

#[test]
fn a_close_runs_and_is_reviewed_through_the_api_with_duties_separated() {
    let ledger = demo_ledger();
    let config = ledger.pinned_demo_close();
    let bob = create_token(&ledger, "bob", "closing");
    let alice = create_token(&ledger, "alice", "reviewing");
    let server = Server::start(&ledger, &[&config], &[]);
    let (status, closes) = get(&server.url("/api/v1/closes"), &bob);
    assert_eq!(
        (status, json(&closes)[0]["name"].clone()),
        (200, json!("acme-month-end"))
    );
    let base = server.url("/api/v1/closes/acme-month-end/2026-01");
    let (status, run) = post_json(&format!("{base}/run"), &bob, &json!({}));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["failed"], 0, "{run}");
    let (status, board) = get(&format!("{base}/status"), &alice);
    assert_eq!(status, 200, "{board}");
    let board = json(&board);
    let status_of = |board: &Value, entity: &str, task: &str| {
        board["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["entity"] == entity && row["task"] == task)
            .map(|row| row["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(status_of(&board, "ACME-US", "management-fee"), "awaiting-review");
    // The reviewer sees every proposed line before approving.
    let (status, task) = get(&format!("{base}/tasks/ACME-US/management-fee"), &alice);
    assert_eq!(status, 200, "{task}");
    let task = json(&task);
    assert_eq!(task["entries_are"], "proposed");
    assert!(!task["entries"][0]["lines"].as_array().unwrap().is_empty(), "{task}");
    // bob ran the step: he may not review it.
    let review = json!({ "entity": "ACME-US", "task": "management-fee", "review": true });
    let (status, body) = post_json(&format!("{base}/signoff"), &bob, &review);
    assert!(status == 403 || status == 422, "{status} {body}");
    assert!(body["error"].as_str().unwrap().contains("bob"), "{body}");
    let (status, body) = post_json(&format!("{base}/signoff"), &alice, &review);
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["posted"].as_array().unwrap().is_empty(),
        "the review posted the entries: {body}"
    );
    let (_, board) = get(&format!("{base}/status"), &alice);
    assert_eq!(status_of(&json(&board), "ACME-US", "management-fee"), "done");
    // The history says the review was made with a token: a verified identity.
    let (_, task) = get(&format!("{base}/tasks/ACME-US/management-fee"), &alice);
    let events = json(&task)["events"].clone();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|event| event["user"] == "alice" && event["identity"] == "token"),
        "{events}"
    );
}

/// A browser without JavaScript: a cookie jar of one session cookie.
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    fn new() -> Self {
        Self { cookie: None }
    }

    fn request(
        &mut self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> (u16, String, Option<String>) {
        let request = match &self.cookie {
            Some(cookie) => request.header("Cookie", cookie),
            None => request,
        };
        self.finish(request.call())
    }

    fn finish(
        &mut self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, String, Option<String>) {
        let mut response = response.expect("the server answers");
        // The session cookie; the sign-in form's own cookie is fetched anew for each sign-in.
        let session = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|cookie| cookie.to_str().unwrap())
            .find(|cookie| cookie.starts_with("closebook_session="));
        if let Some(cookie) = session {
            let pair = cookie.split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        let location = response
            .headers()
            .get("location")
            .map(|location| location.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
            location,
        )
    }

    fn get(&mut self, url: &str) -> (u16, String, Option<String>) {
        self.request(agent().get(url))
    }

    fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut request = agent().post(url);
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send_form(form.iter().copied());
        self.finish(response)
    }

    /// Opens the sign-in page and submits its form, as a browser does.
    fn sign_in(&mut self, server: &Server, user: &str, password: &str) -> (u16, String, Option<String>) {
        let (login_cookie, token) = login_form(&agent(), &server.url);
        let cookies = match &self.cookie {
            Some(cookie) => format!("{cookie}; {login_cookie}"),
            None => login_cookie,
        };
        let response = agent()
            .post(&server.url("/login"))
            .header("Cookie", &cookies)
            .send_form([
                ("user", user),
                ("password", password),
                ("next", "/periods"),
                ("login_token", &token),
            ]);
        self.finish(response)
    }
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    let start = page
        .find("name=\"csrf\" value=\"")
        .expect("the page has a form with a CSRF token")
        + 19;
    page[start..start + 64].to_owned()
}

#[test]
fn signing_in_starts_a_strict_session_and_signing_out_ends_it() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let mut browser = Browser::new();
    let (status, _, location) = browser.get(&server.url("/periods"));
    assert_eq!((status, location.as_deref()), (303, Some("/login?next=%2Fperiods")));
    // A sign-in form that was not served by the workspace to this browser (login CSRF: another
    // site's form has no sign-in cookie; a stale page has another token) checks nothing.
    let (login_cookie, token) = login_form(&agent(), &server.url);
    assert_eq!(login_cookie.len(), "closebook_login=".len() + 64);
    for (cookie, form_token) in [
        (None, token.as_str()),
        (Some(login_cookie.as_str()), "forged"),
        (Some(login_cookie.as_str()), ""),
    ] {
        let mut request = agent().post(&server.url("/login"));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let (status, page) =
            read(request.send_form([("user", "bob"), ("password", BOB_PASSWORD), ("login_token", form_token)]));
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("was not served by this workspace"), "{page}");
        assert!(
            page.contains("name=\"login_token\""),
            "a fresh form to sign in again: {page}"
        );
    }
    let mut response = agent()
        .post(&server.url("/login"))
        .header("Cookie", &login_cookie)
        .send_form([
            ("user", "bob"),
            ("password", BOB_PASSWORD),
            ("next", "/periods"),
            ("login_token", &token),
        ])
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP on 127.0.0.1: {cookie}");
    let _ = response.body_mut().read_to_string();
    let (status, _, location) = browser.sign_in(&server, "carol", CAROL_PASSWORD);
    assert_eq!((status, location.as_deref()), (303, Some("/periods")));
    let (status, page, _) = browser.get(&server.url("/periods"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in as <strong>carol</strong>"), "{page}");
    // A form without the session's CSRF token changes nothing.
    let (status, page, _) = browser.post(
        &server.url("/periods/status"),
        &[
            ("csrf", "forged"),
            ("entity", "ACME-US"),
            ("period", "2026-01"),
            ("status", "on-hold"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("security token does not match"), "{page}");
    let token = csrf(&browser.get(&server.url("/periods")).1);
    // carol may not change period statuses: the page names the permission.
    let (status, page, _) = browser.post(
        &server.url("/periods/status"),
        &[
            ("csrf", &token),
            ("entity", "ACME-US"),
            ("period", "2026-01"),
            ("status", "on-hold"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("carol may not set the period status of ACME-US (needs period.status)"),
        "{page}"
    );
    let (status, _, location) = browser.post(&server.url("/logout"), &[("csrf", &token)]);
    assert_eq!(status, 303);
    assert!(location.unwrap().starts_with("/login"));
    let (status, _, location) = browser.get(&server.url("/periods"));
    assert_eq!(status, 303, "signed out: {location:?}");
}

#[test]
fn a_mass_period_change_in_the_browser_names_every_change_before_it_is_made() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let mut browser = Browser::new();
    browser.sign_in(&server, "alice", ALICE_PASSWORD);
    let token = csrf(&browser.get(&server.url("/periods")).1);
    let form = [
        ("csrf", token.as_str()),
        ("entity", "ACME-US"),
        ("entity", "ACME-DE"),
        ("period", "2026-01"),
        ("status", "on-hold"),
    ];
    let (status, page, _) = browser.post(&server.url("/periods/status"), &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ACME-US: open → on-hold"), "{page}");
    assert!(page.contains("ACME-DE: open → on-hold"), "{page}");
    let listed = ledger
        .run(&["period", "list", "--entity", "ACME-US", "--format", "json"])
        .success()
        .json();
    assert!(
        listed.to_string().contains("\"status\":\"open\""),
        "nothing changed before confirming"
    );
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "yes"));
    let (status, _, location) = browser.post(&server.url("/periods/status"), &confirmed);
    assert_eq!(status, 303);
    let (_, page, _) = browser.get(&server.url(&location.unwrap()));
    assert!(
        page.contains("Changed: ACME-US 2026-01: open → on-hold; ACME-DE 2026-01: open → on-hold"),
        "{page}"
    );
}

#[test]
fn failed_sign_ins_are_refused_alike_then_throttled_and_audited() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let mut browser = Browser::new();
    let (status, page, _) = browser.sign_in(&server, "nobody", "whatever it is");
    assert_eq!(status, 401);
    assert!(page.contains("the user name or password is wrong"), "{page}");
    for _ in 0..4 {
        let (status, page, _) = browser.sign_in(&server, "bob", "not the password");
        assert_eq!(status, 401, "{page}");
        assert!(page.contains("the user name or password is wrong"), "{page}");
    }
    let (status, _, _) = browser.sign_in(&server, "bob", "still not it");
    assert_eq!(status, 401);
    // Five failures: even the right password is refused for a while, saying so.
    let (status, page, _) = browser.sign_in(&server, "bob", BOB_PASSWORD);
    assert_eq!(status, 429, "{page}");
    assert!(
        page.contains("too many failed sign-ins: try again in 15 minute(s)"),
        "{page}"
    );
    // Another user is not locked out by bob's failures.
    let (status, _, _) = browser.sign_in(&server, "carol", CAROL_PASSWORD);
    assert_eq!(status, 303);
    let audit = ledger
        .run(&["audit", "--format", "json", "--limit", "20"])
        .success()
        .json();
    let refused = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["action"] == "user.sign-in.refused" && record["user"] == "bob")
        .count();
    assert_eq!(refused, 5, "{audit}");
}

#[test]
fn behind_a_trusted_proxy_sign_ins_are_throttled_and_audited_by_the_forwarded_address() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &["--trusted-proxy", "127.0.0.1"]);
    let sign_in_from = |forwarded: &str, user: &str, password: &str| {
        let (login_cookie, token) = login_form(&agent(), &server.url);
        read(
            agent()
                .post(&server.url("/login"))
                .header("Cookie", &login_cookie)
                .header("X-Forwarded-For", forwarded)
                .send_form([("user", user), ("password", password), ("login_token", &token)]),
        )
    };
    // The client's own entry (left) is not believed; the proxy's (right) is.
    let (status, _) = sign_in_from("192.0.2.1, 203.0.113.7", "bob", "not the password");
    assert_eq!(status, 401);
    for attempt in 0..19 {
        let (status, page) = sign_in_from("203.0.113.7", &format!("nobody{attempt}"), "guess");
        assert_eq!(status, 401, "{page}");
    }
    // Twenty failures from 203.0.113.7: it is refused even with a right password...
    let (status, page) = sign_in_from("203.0.113.7", "carol", CAROL_PASSWORD);
    assert_eq!(status, 429, "{page}");
    // ...while the other people behind the same proxy still sign in.
    let (status, page) = sign_in_from("198.51.100.9", "carol", CAROL_PASSWORD);
    assert_eq!(status, 303, "{page}");
    let audit = ledger
        .run(&["audit", "--format", "json", "--limit", "5"])
        .success()
        .json();
    let addresses: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["action"].as_str().unwrap().starts_with("user.sign-in"))
        .map(|record| record["details"]["address"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(addresses, ["203.0.113.7", "198.51.100.9"], "{audit}");
}

#[test]
fn an_idle_session_ends_and_sends_the_user_back_to_sign_in() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &["--session-idle", "30m"]);
    let mut browser = Browser::new();
    browser.sign_in(&server, "carol", CAROL_PASSWORD);
    assert_eq!(browser.get(&server.url("/periods")).0, 200);
    // The session was last seen an hour ago.
    let an_hour_ago =
        (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ledger.execute_sql(&format!("UPDATE web_sessions SET last_seen_at = '{an_hour_ago}'"));
    let (status, _, location) = browser.get(&server.url("/periods"));
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.contains("session%20ended%20after%20a%20while%20without%20activity"),
        "{location}"
    );
    let remaining = ledger.query_i64("SELECT count(*) FROM web_sessions");
    assert_eq!(remaining, 0, "the expired session is deleted");
}

#[test]
fn pages_escape_what_users_and_plugins_wrote() {
    let ledger = demo_ledger();
    let bob = create_token(&ledger, "bob", "imports");
    let server = Server::start(&ledger, &[], &[]);
    let hostile = "<img src=x onerror=alert(1)>";
    let file = format!(
        "entry,date,account,amount,description\nX1,2026-01-20,6100,1.00,{hostile}\nX1,2026-01-20,2100,-1.00,\"\"\"><script>alert(2)</script>\"\n"
    );
    let url = server.url(&format!(
        "/api/v1/journals/import?entity=ACME-US&post=true&source={}",
        "%3Cscript%3Ealert(3)%3C%2Fscript%3E"
    ));
    let (status, body) = read(
        agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {bob}"))
            .send(file.as_str()),
    );
    assert_eq!(status, 200, "{body}");
    let mut browser = Browser::new();
    browser.sign_in(&server, "carol", CAROL_PASSWORD);
    let (status, page, _) = browser.get(&server.url("/audit?action=import.journals.post"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("&lt;script&gt;alert(3)&lt;/script&gt;"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    let (status, page, _) =
        browser.get(&server.url("/reports/trial-balance?entity=ACME-US&period=2026-01&format=html"));
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
}

#[test]
fn reports_download_as_csv_and_statements_render_as_the_cli_writes_them() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let mut browser = Browser::new();
    browser.sign_in(&server, "carol", CAROL_PASSWORD);
    let (status, csv, _) = browser.get(&server.url("/reports/trial-balance?entity=ACME-US&period=2026-01&format=csv"));
    assert_eq!(status, 200);
    let cli_csv = ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    assert_eq!(csv, cli_csv);
    let (status, html, _) = browser.get(&server.url("/reports/balance-sheet?entity=ACME-US&period=2026-01"));
    assert_eq!(status, 200);
    let cli_html = ledger
        .run(&[
            "report",
            "balance-sheet",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "html",
        ])
        .success()
        .stdout;
    assert_eq!(html, cli_html);
    let (status, page, _) = browser.get(&server.url("/reports/trial-balance?entity=ACME-US"));
    assert_eq!(status, 400);
    assert!(page.contains("a report needs an entity and a period"), "{page}");
}

#[test]
fn the_openapi_document_is_served_and_names_every_route() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let (status, body) = read(agent().get(&server.url("/api/openapi.json")).call());
    assert_eq!(status, 200);
    let document = json(&body);
    assert_eq!(document["openapi"], "3.1.0");
    let token = create_token(&ledger, "alice", "probe");
    // Every documented GET without path parameters answers (not 404 or 405) for a token.
    for (path, operations) in document["paths"].as_object().unwrap() {
        if operations.get("get").is_some() && !path.contains('{') {
            let (status, body) = get(&server.url(path), &token);
            assert!(status != 404 && status != 405, "{path}: {status} {body}");
        }
    }
}

/// `closebook` in remote mode: `--server` and a token, no ledger file.
fn remote(server: &Server, token: &str, arguments: &[&str]) -> closebook_tests::Run {
    let output = std::process::Command::new(closebook_tests::closebook_binary())
        .args(["--server", &server.url])
        .args(arguments)
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("CLOSEBOOK_TOKEN", token)
        .output()
        .expect("closebook runs");
    closebook_tests::Run::from_output(output)
}

#[test]
fn the_command_line_runs_against_a_server_with_the_output_and_exit_codes_of_local_mode() {
    let ledger = demo_ledger();
    let config = ledger.pinned_demo_close();
    let bob = create_token(&ledger, "bob", "remote");
    let carol = create_token(&ledger, "carol", "remote");
    let server = Server::start(&ledger, &[&config], &[]);
    for arguments in [
        &["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"][..],
        &[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "json",
        ],
        &[
            "report",
            "balance-sheet",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "html",
        ],
        &["period", "list", "--entity", "ACME-DE"],
        &["journal", "list", "--entity", "ACME-US", "--period", "2026-01"],
        &["reconcile", "report", "--entity", "ACME-US", "--period", "2026-01"],
        &[
            "close",
            "status",
            "--config",
            &config,
            "--period",
            "2026-01",
            "--today",
            "2026-02-10",
        ],
    ] {
        let local = ledger.run_as("bob", arguments).success().stdout;
        let remote = remote(&server, &bob, arguments).success().stdout;
        assert_eq!(remote, local, "{arguments:?}");
    }
    // A refusal reads the same and exits non-zero alike.
    let arguments = ["report", "trial-balance", "--entity", "ACME-US", "--period", "2031-01"];
    let local = ledger.run_as("bob", &arguments).failure();
    let remote_error = remote(&server, &bob, &arguments).failure();
    assert_eq!(remote_error, local);
    // carol may read but not run the close.
    let refused = remote(
        &server,
        &carol,
        &["close", "run", "--config", &config, "--period", "2026-01"],
    )
    .failure();
    assert!(refused.contains("carol may not run the close of"), "{refused}");
    // An import reads the file here and sends it; the summary line is local mode's.
    let file = ledger.write(
        "late.csv",
        "entry,date,account,amount,description\nL1,2026-01-25,6100,10.00,late\nL1,2026-01-25,2100,-10.00,late\n",
    );
    let imported = remote(
        &server,
        &bob,
        &["import", "journals", &file, "--entity", "ACME-US", "--post"],
    )
    .success()
    .stdout;
    assert!(
        imported.starts_with(&format!(
            "{file}: 1 entries (2 lines) read, 1 posted, 0 already imported (unchanged)"
        )),
        "{imported}"
    );
    let unbalanced = ledger.write(
        "bad.csv",
        "entry,date,account,amount\nU1,2026-01-25,6100,10.00\nU1,2026-01-25,2100,-9.00\n",
    );
    let local = ledger
        .run_as("bob", &["import", "journals", &unbalanced, "--entity", "ACME-US"])
        .failure();
    let remote_error = remote(
        &server,
        &bob,
        &["import", "journals", &unbalanced, "--entity", "ACME-US"],
    )
    .failure();
    assert_eq!(remote_error, local);
    // The close runs on the server, and a board open on it follows the run live, as one
    // started on the board; the server's own log does not get the progress lines.
    let mut browser = Browser::new();
    browser.sign_in(&server, "alice", ALICE_PASSWORD);
    let session = browser.cookie.clone().unwrap();
    let events_url = server.url("/closes/acme-month-end/2026-01/events");
    let (lines_sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        let response = agent().get(&events_url).header("Cookie", &session).call().unwrap();
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            let finished = line == "event: finished";
            if lines_sender.send(line).is_err() || finished {
                return;
            }
        }
    });
    // The stream is open before the run starts (the keep-alive comments aside, nothing comes
    // before the run).
    std::thread::sleep(std::time::Duration::from_millis(500));
    remote(
        &server,
        &bob,
        &["close", "run", "--config", &config, "--period", "2026-01"],
    )
    .success();
    let mut followed = Vec::new();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(60)) {
        let finished = line == "event: finished";
        followed.push(line);
        if finished {
            break;
        }
    }
    assert_eq!(
        followed.last().map(String::as_str),
        Some("event: finished"),
        "{followed:?}"
    );
    assert!(
        followed
            .iter()
            .any(|line| line.starts_with("data: [") && line.contains("ACME-US management-fee")),
        "{followed:?}"
    );
    assert!(
        !server.log.lock().unwrap().contains("management-fee: "),
        "{}",
        server.log.lock().unwrap()
    );
    let status = remote(
        &server,
        &bob,
        &[
            "close", "status", "--config", &config, "--period", "2026-01", "--format", "json",
        ],
    )
    .success()
    .json();
    assert!(status.to_string().contains("awaiting-review"), "{status}");
    let refused = remote(&server, &bob, &["verify"]).failure();
    assert!(refused.contains("runs only on a local ledger file"), "{refused}");
    // A reconciliation's figure is entered remotely; a statement file is read only locally.
    let target = ["--entity", "ACME-US", "--account", "1000", "--period", "2026-01"];
    let subledger = [
        &["reconcile", "subledger"][..],
        &target,
        &["--balance", "240500.00", "--source", "treasury"],
    ]
    .concat();
    remote(&server, &bob, &subledger).success();
    let show = [&["reconcile", "show"][..], &target, &["--format", "json"]].concat();
    let shown = remote(&server, &bob, &show).success().json();
    assert_eq!(shown["independent"]["source"], "treasury", "{shown}");
    assert_eq!(shown, ledger.run_as("bob", &show).success().json());
    let statement = [
        &["reconcile", "import-statement"][..],
        &target,
        &["--opening", "0", "--closing", "0", &file],
    ]
    .concat();
    let refused = remote(&server, &bob, &statement).failure();
    assert!(
        refused.contains("reads or writes a file where the command runs"),
        "{refused}"
    );
    let no_token = std::process::Command::new(closebook_tests::closebook_binary())
        .args(["--server", &server.url, "period", "list", "--entity", "ACME-US"])
        .env_remove("CLOSEBOOK_TOKEN")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("--server needs an API token in CLOSEBOOK_TOKEN"));
}

#[test]
fn with_a_certificate_the_server_speaks_https_and_its_cookies_are_secure() {
    let ledger = demo_ledger();
    let certificate = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = ledger.write("cert.pem", &certificate.cert.pem());
    let key = ledger.write("key.pem", &certificate.signing_key.serialize_pem());
    let server = Server::start(&ledger, &[], &["--tls-cert", &cert, "--tls-key", &key]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let root = ureq::tls::Certificate::from_der(certificate.cert.der()).to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![root])))
                .build(),
        )
        .build()
        .into();
    let (login_cookie, token) = login_form(&agent, &server.url);
    let response = agent
        .post(&server.url("/login"))
        .header("Cookie", &login_cookie)
        .send_form([("user", "bob"), ("password", BOB_PASSWORD), ("login_token", &token)])
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert_eq!(
        response.headers().get("strict-transport-security").unwrap(),
        "max-age=31536000",
        "browsers are told to use HTTPS only"
    );
    // A key that is not a key is refused at start, naming both files.
    let output = std::process::Command::new(closebook_tests::closebook_binary())
        .arg("--db")
        .arg(ledger.db())
        .args([
            "--as",
            "alice",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &cert,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("reading the TLS certificate {cert} and key {cert}")),
        "{stderr}"
    );
}

#[test]
fn a_sign_in_always_starts_a_new_session_id() {
    let ledger = demo_ledger();
    let server = Server::start(&ledger, &[], &[]);
    let session_of = |cookie: Option<&str>| {
        let (login_cookie, token) = login_form(&agent(), &server.url);
        let cookies = match cookie {
            Some(cookie) => format!("{cookie}; {login_cookie}"),
            None => login_cookie,
        };
        let response = agent()
            .post(&server.url("/login"))
            .header("Cookie", &cookies)
            .send_form([("user", "bob"), ("password", BOB_PASSWORD), ("login_token", &token)])
            .unwrap();
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        cookie.split(';').next().unwrap().to_owned()
    };
    let first = session_of(None);
    // A session id planted before sign-in (fixation) is never adopted.
    let planted = "closebook_session=0000000000000000000000000000000000000000000000000000000000000000";
    let second = session_of(Some(planted));
    let third = session_of(Some(&first));
    assert!(first != second && second != third && first != third);
    assert_ne!(second, planted);
    assert_eq!(second.len(), "closebook_session=".len() + 64);
}

#[test]
fn an_entity_the_user_may_not_read_is_not_found_like_one_that_does_not_exist() {
    let ledger = demo_ledger();
    // carol audits ACME-DE only.
    let setup = ledger.write(
        "carol.toml",
        "[[grant]]\nrole = \"auditor\"\nuser = \"carol\"\nentities = [\"ACME-DE\"]\n",
    );
    ledger.run(&["setup", "apply", &setup]).success();
    let carol = create_token(&ledger, "carol", "audit");
    let config = ledger.pinned_demo_close();
    let server = Server::start(&ledger, &[&config], &[]);
    let report = |entity: &str| {
        get(
            &server.url(&format!("/api/v1/reports/trial-balance?entity={entity}&period=2026-01")),
            &carol,
        )
    };
    let (status, _) = report("ACME-DE");
    assert_eq!(status, 200);
    let (hidden_status, hidden) = report("ACME-US");
    let (missing_status, missing) = report("ACME-XX");
    assert_eq!((hidden_status, missing_status), (404, 404), "{hidden} {missing}");
    assert_eq!(
        json(&hidden)["error"].as_str().unwrap().replace("ACME-US", "ENTITY"),
        json(&missing)["error"].as_str().unwrap().replace("ACME-XX", "ENTITY"),
        "the answer does not tell a hidden entity from a missing one"
    );
    let (_, me) = get(&server.url("/api/v1/me"), &carol);
    assert_eq!(json(&me)["entities"], json!(["ACME-DE"]));
    // A grant made while the server runs counts at its next request, and so does taking it
    // back: the server keeps the access policy only while the ledger's is the same.
    let both = ledger.write(
        "carol-both.toml",
        "[[grant]]\nrole = \"auditor\"\nuser = \"carol\"\nentities = [\"ACME-DE\", \"ACME-US\"]\n",
    );
    ledger.run(&["setup", "apply", &both]).success();
    assert_eq!(report("ACME-US").0, 200);
    ledger.run(&["setup", "apply", &setup]).success();
    assert_eq!(report("ACME-US").0, 404);
    // Putting the period on hold waits on every entity's trial-balance check: carol sees
    // ACME-DE's by name and status, and ACME-US's only as a count.
    let base = server.url("/api/v1/closes/acme-month-end/2026-01");
    let (status, task) = get(&format!("{base}/tasks/ACME-DE/period-on-hold"), &carol);
    assert_eq!(status, 200, "{task}");
    assert!(!task.contains("ACME-US"), "{task}");
    let after = json(&task)["after"].clone();
    assert_eq!(
        after,
        json!([
            ["ACME-DE:reports", "pending"],
            ["ACME-DE:trial-balance-check", "pending"],
            ["1 task of an entity you may not read", "pending"]
        ])
    );
    let (status, board) = get(&format!("{base}/status"), &carol);
    assert_eq!(status, 200, "{board}");
    assert!(!board.contains("ACME-US"), "{board}");
    assert!(board.contains("1 task of an entity you may not read"), "{board}");
}

#[test]
fn an_oversized_upload_is_refused_at_the_named_limit_and_hostile_names_are_escaped() {
    let ledger = demo_ledger();
    let accounts = ledger.write(
        "accounts.csv",
        "number,name,type\n6951,<script>alert('account')</script>,expense\n",
    );
    ledger
        .run(&["import", "accounts", &accounts, "--chart", "GROUP"])
        .success();
    let bob = create_token(&ledger, "bob", "imports");
    let server = Server::start(&ledger, &[], &[]);
    let journal = "entry,date,account,amount\nN1,2026-01-20,6951,5.00\nN1,2026-01-20,2100,-5.00\n";
    let (status, body) = read(
        agent()
            .post(&server.url("/api/v1/journals/import?entity=ACME-US&post=true"))
            .header("Authorization", &format!("Bearer {bob}"))
            .send(journal),
    );
    assert_eq!(status, 200, "{body}");
    let mut browser = Browser::new();
    browser.sign_in(&server, "carol", CAROL_PASSWORD);
    let (status, page, _) = browser.get(&server.url("/reports/trial-balance?entity=ACME-US&period=2026-01"));
    assert_eq!(status, 200);
    assert!(page.contains("&lt;script&gt;alert("), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    // 65 MiB announced: one more than the limit. The server answers from the headers, before
    // reading the body, and closes the connection (a client still sending would see a broken
    // pipe instead of the answer), so the request's headers are written by hand and no body.
    let before = ledger.entry_count("ACME-US");
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "POST /api/v1/journals/import?entity=ACME-US HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {bob}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        65 * 1024 * 1024
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        json(body)["error"]
            .as_str()
            .unwrap()
            .contains("larger than 64 MiB, the server's limit"),
        "{answer}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), before);
}

#[test]
fn a_flux_review_in_the_workspace_shows_findings_takes_explanations_and_escapes_them() {
    // February's utilities (6200) fell from January's 1,200.00 accrual to 32.96: flagged at
    // 1,000.00 and 10 %. bob explains it in the browser (with markup in the text, shown as
    // text), alice may not explain it, sees the explanation through the API and reviews.
    use sha2::{Digest, Sha256};
    let ledger = demo_ledger();
    let wasm = closebook_tests::plugin_wasm("flux");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    let demo = std::fs::read_to_string(closebook_tests::demo_dir().join("flux.toml")).unwrap();
    let start = demo.find("sha256 = \"").unwrap() + 10;
    let mut text = demo.replace(
        "../../target/wasm32-wasip2/release/flux.wasm",
        &wasm.display().to_string(),
    );
    let start = start + text.len() - demo.len();
    text.replace_range(start..start + 64, &hash);
    let config = ledger.write("flux.toml", &text);
    let bob = create_token(&ledger, "bob", "closing");
    let alice = create_token(&ledger, "alice", "reviewing");
    let server = Server::start(&ledger, &[&config], &[]);
    let api = server.url("/api/v1/closes/acme-flux-review/2026-02");
    let (status, run) = post_json(&format!("{api}/run"), &bob, &json!({}));
    assert_eq!(status, 200, "{run}");

    let mut browser = Browser::new();
    browser.sign_in(&server, "bob", BOB_PASSWORD);
    let task = server.url("/closes/acme-flux-review/2026-02/ACME-US/flux");
    let (status, page, _) = browser.get(&task);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Findings (1)") && page.contains("6200") && page.contains("unexplained"),
        "{page}"
    );
    assert!(
        page.contains("/closes/acme-flux-review/2026-02/ACME-US/flux/explain"),
        "{page}"
    );
    let token = csrf(&page);
    let hostile = "accrual reversed <script>alert(4)</script>";
    let (status, _, location) = browser.post(
        &format!("{task}/explain"),
        &[
            ("csrf", &token),
            ("account", "6200"),
            ("dimensions", ""),
            ("measure", "movement vs prior period"),
            ("text", hostile),
        ],
    );
    assert_eq!(status, 303, "{location:?}");
    let (_, page, _) = browser.get(&task);
    assert!(
        page.contains("accrual reversed &lt;script&gt;alert(4)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(4)"), "{page}");
    assert!(page.contains("explained"), "{page}");

    let explain = json!({ "entity": "ACME-US", "task": "flux", "account": "6200", "text": "fine" });
    let (status, body) = post_json(&format!("{api}/explain"), &alice, &explain);
    assert!(status >= 400, "{body}");
    assert!(body.to_string().contains("alice reviews task flux"), "{body}");
    let (status, view) = get(&format!("{api}/tasks/ACME-US/flux"), &alice);
    assert_eq!(status, 200, "{view}");
    let view = json(&view);
    assert_eq!(view["findings"][0]["status"], "explained");
    assert_eq!(view["findings"][0]["explanation"]["text"], hostile);

    // alice reviews from the page, which names the run it showed: a sign-off naming another
    // run (a rerun since the page was shown) is refused and signs nothing.
    let mut reviewer = Browser::new();
    reviewer.sign_in(&server, "alice", ALICE_PASSWORD);
    let (status, page, _) = reviewer.get(&task);
    assert_eq!(status, 200, "{page}");
    let run = {
        let start = page.find("name=\"run\" value=\"").expect("the page names its run") + 18;
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    };
    assert!(run.starts_with("flux-ACME-US-2026-02"), "{run}");
    let signoff = |browser: &mut Browser, run: &str| {
        let (_, page, _) = browser.get(&task);
        browser.post(
            &format!("{task}/signoff"),
            &[("csrf", &csrf(&page)), ("review", "true"), ("note", ""), ("run", run)],
        )
    };
    let (status, page, _) = signoff(&mut reviewer, "flux-ACME-US-2026-02-s1-00000000");
    assert!((400..500).contains(&status), "{status} {page}");
    assert!(page.contains("changed since the page was shown"), "{page}");
    let (_, view) = get(&format!("{api}/tasks/ACME-US/flux"), &alice);
    assert_eq!(json(&view)["status"], "awaiting-review", "{view}");
    let (status, _, location) = signoff(&mut reviewer, &run);
    assert_eq!(status, 303, "{location:?}");
    let (_, view) = get(&format!("{api}/tasks/ACME-US/flux"), &alice);
    assert_ne!(json(&view)["status"], "awaiting-review", "{view}");
    assert_eq!(json(&view)["reviewed_by"], "alice", "{view}");
}

#[test]
fn reconciliations_are_prepared_and_reviewed_from_the_workspace() {
    // January's bank reconciliation of 1000 (the demo's: GL 240,500.00, statement 245,000.00,
    // the rent cheque −4,500.00 outstanding, entered with markup in its explanation): bob
    // prepares it on the page, alice reviews it, carol only reads it.
    let ledger = demo_ledger();
    let demo = closebook_tests::demo_dir();
    ledger
        .run(&[
            "setup",
            "apply",
            &demo.join("reconciliation.toml").display().to_string(),
        ])
        .success();
    let target = ["--entity", "ACME-US", "--account", "1000", "--period", "2026-01"];
    let statement = demo.join("bank-us-2026-01.csv").display().to_string();
    let mut import = vec!["reconcile", "import-statement"];
    import.extend(target);
    import.extend(["--opening", "250000.00", "--closing", "245000.00", &statement]);
    ledger.run_as("bob", &import).success();
    let mut item = vec!["reconcile", "item", "add"];
    item.extend(target);
    item.extend([
        "--amount",
        "-4500.00",
        "--explanation",
        "cheque 1187 <script>alert(5)</script>",
        "--expected-clear",
        "2026-02-04",
    ]);
    ledger.run_as("bob", &item).success();
    let server = Server::start(&ledger, &[], &[]);
    let page_url = server.url("/reconciliations?entity=ACME-US&period=2026-01");

    let mut carol = Browser::new();
    carol.sign_in(&server, "carol", CAROL_PASSWORD);
    let (status, page, _) = carol.get(&page_url);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("cheque 1187 &lt;script&gt;alert(5)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(5)"), "{page}");
    assert!(
        page.contains("0 of 1 reviewed") && !page.contains("/reconciliations/signoff"),
        "{page}"
    );
    let token = csrf(&page);
    let fingerprint = |page: &str| {
        let marker = "name=\"fingerprint\" value=\"";
        let start = page.find(marker).expect("a sign-off form") + marker.len();
        page[start..start + 64].to_owned()
    };
    let signoff_as = |browser: &mut Browser, page: &str, token: &str, action: &str| {
        let fingerprint = page
            .find("name=\"fingerprint\" value=\"")
            .map(|_| fingerprint(page))
            .unwrap_or_default();
        browser.post(
            &server.url("/reconciliations/signoff"),
            &[
                ("csrf", token),
                ("entity", "ACME-US"),
                ("account", "1000"),
                ("dimensions", ""),
                ("period", "2026-01"),
                ("fingerprint", &fingerprint),
                ("action", action),
                ("note", "ties to the statement"),
            ],
        )
    };
    let signed = || ledger.query_i64("SELECT COUNT(*) FROM reconciliation_signoffs");
    let (status, page, _) = signoff_as(&mut carol, "", &token, "prepare");
    assert_eq!(status, 403, "{page}");

    let mut bob = Browser::new();
    bob.sign_in(&server, "bob", BOB_PASSWORD);
    let (_, prepare_page, _) = bob.get(&page_url);
    assert!(prepare_page.contains("value=\"prepare\""), "{prepare_page}");
    // Without the session's token, nothing is signed.
    let (status, _, _) = signoff_as(&mut bob, &prepare_page, "forged", "prepare");
    assert_eq!((status, signed()), (403, 0));
    let (status, _, location) = signoff_as(&mut bob, &prepare_page, &csrf(&prepare_page), "prepare");
    assert_eq!(status, 303, "{location:?}");
    let (_, page, _) = bob.get(&format!("{}{}", server.url, location.unwrap()));
    assert!(page.contains("prepared by bob"), "{page}");
    // bob prepared it (and entered its statement and item): the page offers him no review, and
    // a review he posts anyway comes back refused, with the ledger's reason, nothing signed.
    assert!(
        !page.contains("value=\"review\"")
            && page.contains("another user with close.review reviews it (you prepared it)"),
        "{page}"
    );
    let (status, _, location) = signoff_as(&mut bob, &prepare_page, &csrf(&page), "review");
    assert_eq!(status, 303);
    let (_, refused, _) = bob.get(&format!("{}{}", server.url, location.unwrap()));
    assert!(
        refused.contains("role=\"alert\"") && refused.contains("another user with close.review must review it"),
        "{refused}"
    );
    assert_eq!(signed(), 1);

    let mut alice = Browser::new();
    alice.sign_in(&server, "alice", ALICE_PASSWORD);
    let (_, page, _) = alice.get(&page_url);
    assert!(page.contains("value=\"review\""), "{page}");
    // A page shown before the figures changed signs nothing: a late entry withdraws bob's
    // preparation, and alice's review of the old page is refused with the reason.
    ledger
        .run(&[
            "import",
            "journals",
            &ledger.write(
                "late.csv",
                "entry,date,account,amount,description\nLATE-01,2026-01-30,1000,-35.00,Bank fee\nLATE-01,2026-01-30,6200,35.00,Bank fee\n",
            ),
            "--entity",
            "ACME-US",
            "--post",
        ])
        .success();
    let (status, _, location) = signoff_as(&mut alice, &page, &csrf(&page), "review");
    assert_eq!(status, 303);
    let (_, refused, _) = alice.get(&format!("{}{}", server.url, location.unwrap()));
    assert!(
        refused.contains("role=\"alert\"")
            && refused.contains("changed since the page was shown, so nothing was signed"),
        "{refused}"
    );
    assert_eq!(signed(), 1, "nothing was signed");
    let (_, page, _) = carol.get(&page_url);
    assert!(
        page.contains("0 of 1 reviewed") && page.contains("sign-off withdrawn"),
        "{page}"
    );
}
