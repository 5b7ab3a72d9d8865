//! Servers sharing one ledger, and servers that crash. Two `closebook serve` processes on one
//! ledger, with clients posting journals and signing off close tasks on both at once, lose no
//! write and make none twice; a server killed with SIGKILL in the middle of an import or of a
//! close run leaves all of it or none, and after a restart the same import or run ends the
//! ledger exactly as an uninterrupted one. On SQLite the servers share one file; with
//! CLOSEBOOK_TEST_POSTGRES set, one PostgreSQL database.

use closebook_tests::server::{Server, create_token};
use closebook_tests::{Ledger, balanced_journal};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// What a client was told in the end: the status and JSON body of the first answer that did
/// not say "busy", and how many busy answers it waited out before it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    busy: usize,
}

/// Busy answers a client waits out before the test gives up on the server.
const BUSY_ANSWERS_MAX: usize = 20;

/// Sends a request (made afresh by `send` each time) until the answer is not "busy": a 409 or
/// 503 with Retry-After, which a client honours by waiting that many seconds and trying again.
fn call(send: impl Fn(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let agent = agent();
    let mut busy = 0;
    loop {
        let mut response = send(&agent).expect("the server answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let text = response.body_mut().read_to_string().unwrap_or_default();
        match retry_after {
            Some(seconds) if matches!(status, 409 | 503) => {
                busy += 1;
                assert!(
                    busy <= BUSY_ANSWERS_MAX,
                    "still busy after {busy} answers: {status} {text}"
                );
                std::thread::sleep(Duration::from_secs(seconds));
            }
            _ => {
                let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
                return Answer { status, body, busy };
            }
        }
    }
}

fn get(url: &str, token: &str) -> Answer {
    call(|agent| {
        agent
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
    })
}

fn post_json(url: &str, token: &str, body: &Value) -> Answer {
    call(|agent| {
        agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
    })
}

/// Imports a CSV journal into ACME-US through the API, posting it.
fn import(server: &Server, token: &str, source: &str, journal: &str) -> Answer {
    let url = server.url(&format!(
        "/api/v1/journals/import?entity=ACME-US&post=true&source={source}"
    ));
    call(|agent| {
        agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .send(journal)
    })
}

/// The sum of a journal's amounts as `balanced_journal` writes them (each entry debits account
/// 1000 by 10 to 99), in cents.
fn journal_cents(entries: usize) -> i64 {
    (0..entries).map(|index| (10 + index % 90) as i64 * 100).sum()
}

/// A report's amount (`1234.50`) in cents.
fn cents(amount: &Value) -> i64 {
    let text = amount.as_str().unwrap_or_else(|| panic!("not an amount: {amount}"));
    let (units, fraction) = text.split_once('.').unwrap_or((text, "00"));
    assert_eq!(fraction.len(), 2, "{text}");
    let units: i64 = units.parse().unwrap();
    let fraction: i64 = fraction.parse().unwrap();
    if text.starts_with('-') {
        units * 100 - fraction
    } else {
        units * 100 + fraction
    }
}

/// A trial balance's row of `account`.
fn row<'a>(trial_balance: &'a Value, account: &str) -> &'a Value {
    trial_balance["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["account"] == account)
        .unwrap_or_else(|| panic!("no account {account} in {trial_balance}"))
}

/// Panics unless a trial balance's debits equal its credits and its closing balances net to 0.
#[track_caller]
fn assert_balances(trial_balance: &Value) {
    let totals = &trial_balance["totals"];
    assert_eq!(totals["debit"], totals["credit"], "{totals}");
    assert_eq!(cents(&totals["closing"]), 0, "{totals}");
}

/// Every task of a close board as (entity, task, status).
fn statuses(board: &Value) -> Vec<(String, String, String)> {
    board["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("not a board: {board}"))
        .iter()
        .map(|row| {
            let text = |field: &str| row[field].as_str().unwrap().to_owned();
            (text("entity"), text("task"), text("status"))
        })
        .collect()
}

/// Copies the files of folder `from` (the compiled-plugin cache, which holds no folders) into
/// `to`.
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
    }
}

/// An entity's trial balance with a row per account and dimension values: a posting made twice
/// (an allocation between departments) shows here even where the account's total is unchanged.
fn trial_balance_by_dimension(ledger: &Ledger, entity: &str, period: &str) -> Value {
    ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            entity,
            "--period",
            period,
            "--dimensions",
            "*",
            "--format",
            "json",
        ])
        .success()
        .json()
}

/// What January's close leaves: each entity's trial balance by dimension, and the board's
/// statuses.
#[derive(Debug, PartialEq)]
struct CloseState {
    trial_balances: Vec<(&'static str, Value)>,
    statuses: Vec<(String, String, String)>,
}

fn close_state(ledger: &Ledger, server: &Server, token: &str) -> CloseState {
    let board = get(&server.url("/api/v1/closes/acme-month-end/2026-01/status"), token);
    assert_eq!(board.status, 200, "{}", board.body);
    CloseState {
        trial_balances: ["ACME-US", "ACME-DE"]
            .into_iter()
            .map(|entity| (entity, trial_balance_by_dimension(ledger, entity, "2026-01")))
            .collect(),
        statuses: statuses(&board.body),
    }
}

/// Panics unless `found` equals `expected`, naming the rows of a trial balance that differ.
#[track_caller]
fn assert_same_close_state(found: &CloseState, expected: &CloseState, context: &str) {
    for ((entity, found), (_, expected)) in found.trial_balances.iter().zip(&expected.trial_balances) {
        let rows = |trial_balance: &Value| trial_balance["rows"].as_array().cloned().unwrap_or_default();
        let (found_rows, expected_rows) = (rows(found), rows(expected));
        let only_in = |these: &[Value], those: &[Value]| -> Vec<String> {
            these
                .iter()
                .filter(|row| !those.contains(row))
                .map(ToString::to_string)
                .collect()
        };
        assert!(
            found == expected,
            "{context}: the trial balance of {entity} by dimension is not an uninterrupted run's\nexpected rows:\n{}\nfound instead:\n{}\ntotals expected {}, found {}",
            only_in(&expected_rows, &found_rows).join("\n"),
            only_in(&found_rows, &expected_rows).join("\n"),
            expected["totals"],
            found["totals"]
        );
    }
    assert_eq!(found.statuses, expected.statuses, "{context}: the tasks' statuses");
}

const RUN: &str = "/api/v1/closes/acme-month-end/2026-01/run";

/// The demo ledger with its journals and API tokens of bob's (who may import, run the close and
/// prepare its tasks) and alice's (who reviews them), made once per test process and copied for
/// each use.
struct Demo {
    template: Ledger,
    bob: String,
    alice: String,
}

fn demo() -> &'static Demo {
    static DEMO: std::sync::OnceLock<Demo> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| {
        let template = Ledger::with_demo_journals();
        let bob = create_token(&template, "bob", "closing");
        let alice = create_token(&template, "alice", "reviewing");
        Demo { template, bob, alice }
    })
}

/// What an uninterrupted run of January's close through the server leaves in a copy of the demo
/// ledger; made once per test process. The copy's plugin cache holds the compiled plugins, for
/// the servers of `fresh` ledgers to start with, so that what a test times or interrupts is the
/// close's own work.
struct CloseReference {
    ran: Ledger,
    expected: CloseState,
}

fn close_reference() -> &'static CloseReference {
    static REFERENCE: std::sync::OnceLock<CloseReference> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let ran = demo().template.copy();
        let config = ran.pinned_demo_close();
        let server = Server::start(&ran, &[&config], &[]);
        let run = post_json(&server.url(RUN), &demo().bob, &json!({}));
        assert_eq!((run.status, &run.body["failed"]), (200, &json!(0)), "{}", run.body);
        let expected = close_state(&ran, &server, &demo().bob);
        CloseReference { ran, expected }
    })
}

impl CloseReference {
    /// A fresh copy of the demo ledger with the demo close pinned and the compiled plugins.
    fn fresh(&self) -> Ledger {
        let ledger = demo().template.copy();
        ledger.pinned_demo_close();
        copy_files(&self.ran.dir.path().join("cache"), &ledger.dir.path().join("cache"));
        ledger
    }
}

/// A server showing the demo close pinned in `ledger`'s folder.
fn start_close_server(ledger: &Ledger) -> Server {
    let config = ledger.dir.path().join("close.toml").display().to_string();
    Server::start(ledger, &[&config], &[])
}

/// Import clients, in pairs: the first of each pair talks to one server, the second to the
/// other.
const IMPORT_CLIENTS: usize = 6;
/// Journals each import client posts.
const JOURNALS_PER_CLIENT: usize = 16;
/// Every this many journals, a pair's two clients post the same journal (the same keys), each
/// to its own server.
const SHARED_EVERY: usize = 4;
/// Entries in each journal.
const ENTRIES_PER_JOURNAL: usize = 4;

/// What one import client sent and was told: (journal prefix, answer).
type Imported = Vec<(String, Answer)>;

/// The sign-offs of one entity's January close, in order: (user, task, as the reviewer, the
/// close event it records).
const SIGNOFFS: [(&str, &str, bool, &str); 3] = [
    ("alice", "management-fee", true, "reviewed"),
    ("bob", "review-accruals", false, "signed-off"),
    ("alice", "review-accruals", true, "reviewed"),
];

/// The request of a sign-off.
fn signoff_request(entity: &str, task: &str, review: bool) -> Value {
    json!({ "entity": entity, "task": task, "review": review })
}

/// Proves that two servers on one ledger serialise their writes across processes: six clients
/// (three on each server) post small journals, some of them sent by two clients at once to
/// different servers, while each entity's sign-offs go to one server and then the other, a
/// close run completes January, and a reader checks every trial balance it is shown. Every
/// journal is in the ledger exactly once and holds as many entries as the clients were told
/// were posted; a journal sent twice is posted for one client and reported as a repeat to the
/// other; every sign-off is recorded once and the management fee a review posts is in the
/// ledger once; the books balance and `verify` is clean.
#[test]
fn two_servers_on_one_ledger_with_concurrent_clients_lose_no_write_and_make_none_twice() {
    let reference = close_reference();
    let ledger = reference.fresh();
    let bob = demo().bob.as_str();
    let alice = demo().alice.as_str();
    let servers = [start_close_server(&ledger), start_close_server(&ledger)];
    let close = |server: &Server, action: &str| server.url(&format!("/api/v1/closes/acme-month-end/2026-01/{action}"));
    // January's close runs first: its management fee then waits for review in both entities.
    let run = post_json(&servers[0].url(RUN), bob, &json!({}));
    assert_eq!((run.status, &run.body["failed"]), (200, &json!(0)), "{}", run.body);
    let march_before = ledger.trial_balance("ACME-US", "2026-03");
    let imported_entries =
        || ledger.query_i64("SELECT COUNT(*) FROM entries WHERE entity_id = 'ACME-US' AND run_id IS NULL");
    let imported_before = imported_entries();
    let token_of = |user: &str| if user == "alice" { alice } else { bob };
    let imports_done = AtomicBool::new(false);
    let started = Instant::now();
    let (imported, signed, final_run, reads) = std::thread::scope(|scope| {
        let servers = &servers;
        let importers: Vec<_> = (0..IMPORT_CLIENTS)
            .map(|client| {
                let server = &servers[client % 2];
                scope.spawn(move || -> Imported {
                    (0..JOURNALS_PER_CLIENT)
                        .map(|journal| {
                            let prefix = if journal % SHARED_EVERY == 0 {
                                format!("SRV-P{}-{journal}", client / 2)
                            } else {
                                format!("SRV-C{client}-{journal}")
                            };
                            let text = balanced_journal(&prefix, ENTRIES_PER_JOURNAL);
                            let answer = import(server, bob, &format!("{prefix}.csv"), &text);
                            (prefix, answer)
                        })
                        .collect()
                })
            })
            .collect();
        // Each entity's sign-offs in order, each to the other server than the one before.
        let signers: Vec<_> = ["ACME-US", "ACME-DE"]
            .into_iter()
            .enumerate()
            .map(|(first, entity)| {
                scope.spawn(move || -> (&str, Vec<Answer>) {
                    let answers = SIGNOFFS
                        .iter()
                        .enumerate()
                        .map(|(step, (user, task, review, _))| {
                            let server = &servers[(first + step) % 2];
                            post_json(
                                &close(server, "signoff"),
                                token_of(user),
                                &signoff_request(entity, task, *review),
                            )
                        })
                        .collect();
                    (entity, answers)
                })
            })
            .collect();
        // Once every sign-off is made, the close runs on to the end of January while the
        // imports go on.
        let closer = scope.spawn(|| {
            let signed: Vec<(&str, Vec<Answer>)> = signers.into_iter().map(|signer| signer.join().unwrap()).collect();
            let run = post_json(&servers[1].url(RUN), bob, &json!({}));
            let board = get(&close(&servers[0], "status"), alice);
            (signed, run, board)
        });
        // A reader on both servers: every trial balance it is shown balances.
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !imports_done.load(Ordering::Relaxed) {
                let server = &servers[reads % 2];
                let answer = get(
                    &server.url("/api/v1/reports/trial-balance?entity=ACME-US&period=2026-03"),
                    alice,
                );
                assert_eq!(answer.status, 200, "{}", answer.body);
                assert_balances(&answer.body);
                reads += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            reads
        });
        let imported: Vec<Imported> = importers.into_iter().map(|client| client.join().unwrap()).collect();
        imports_done.store(true, Ordering::Relaxed);
        let (signed, run, board) = closer.join().unwrap();
        (imported, signed, (run, board), reader.join().unwrap())
    });
    let took = started.elapsed();

    // Imports: every answer a success; a journal sent by two clients posted for one of them and
    // reported as a repeat to the other; the ledger holds each key once, as many as were told.
    let mut told_posted = 0;
    let mut by_journal: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for (prefix, answer) in imported.iter().flatten() {
        assert_eq!(answer.status, 200, "importing {prefix}: {}", answer.body);
        let posted = answer.body["posted"].as_u64().unwrap();
        let repeated = answer.body["repeated"].as_u64().unwrap();
        told_posted += posted as i64;
        by_journal.entry(prefix).or_default().push((posted, repeated));
    }
    let entries = ENTRIES_PER_JOURNAL as u64;
    for (prefix, answers) in &by_journal {
        let mut answers = answers.clone();
        answers.sort_unstable();
        let expected = if prefix.starts_with("SRV-P") {
            vec![(0, entries), (entries, 0)]
        } else {
            vec![(entries, 0)]
        };
        assert_eq!(answers, expected, "journal {prefix}: (posted, repeated) per client");
    }
    let journals = by_journal.len() as i64;
    let keys = journals * ENTRIES_PER_JOURNAL as i64;
    assert_eq!(told_posted, keys, "the clients were told every entry was posted once");
    let stored = ledger.query_rows(
        "SELECT COUNT(*), COUNT(DISTINCT entry_key) FROM entries
         WHERE entity_id = 'ACME-US' AND entry_key LIKE 'SRV-%'",
    );
    assert_eq!(
        stored,
        vec![vec![Some(keys.to_string()), Some(keys.to_string())]],
        "(entries, distinct keys) in the ledger"
    );
    assert_eq!(
        imported_entries(),
        imported_before + keys,
        "entries imported (not posted by the close)"
    );
    // The balances the postings maintained hold every journal once.
    let march = ledger.trial_balance("ACME-US", "2026-03");
    assert_balances(&march);
    assert_eq!(
        cents(&row(&march, "1000")["debit"]) - cents(&row(&march_before, "1000")["debit"]),
        journals * journal_cents(ENTRIES_PER_JOURNAL),
        "the cash debited by the journals"
    );
    assert!(reads > 0, "the reader read no trial balance");

    // Sign-offs: each made, recorded once; the management fee its review posted is in the
    // ledger once.
    for (entity, answers) in &signed {
        for ((user, task, review, event), answer) in SIGNOFFS.iter().zip(answers) {
            assert_eq!(
                answer.status, 200,
                "{user}'s sign-off of {task} of {entity} (review: {review}): {}",
                answer.body
            );
            assert_signed_once(&ledger, entity, task, event, answer);
        }
    }

    // The close ran to the end of January on the other server, while the imports went on.
    let (run, board) = final_run;
    assert_eq!((run.status, &run.body["failed"]), (200, &json!(0)), "{}", run.body);
    assert_eq!(board.status, 200, "{}", board.body);
    for (entity, task, status) in statuses(&board.body) {
        assert!(
            status == "done" || status == "signed-off",
            "task {task} of {entity} is {status}: {}",
            board.body
        );
    }
    for entity in ["ACME-US", "ACME-DE"] {
        assert_balances(&ledger.trial_balance(entity, "2026-01"));
    }
    ledger.run(&["verify"]).success();
    let busy: usize = imported.iter().flatten().map(|(_, answer)| answer.busy).sum::<usize>()
        + signed
            .iter()
            .flat_map(|(_, answers)| answers)
            .map(|answer| answer.busy)
            .sum::<usize>();
    eprintln!(
        "{journals} journals and 6 sign-offs in {} ms; {reads} trial balances read; {busy} busy answers waited out",
        took.as_millis()
    );
    for server in &servers {
        let log = server.log.lock().unwrap();
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// Panics unless the sign-off `answer` told of is recorded once (one `event` of the task), and,
/// for the management fee's review, unless the entries it said it posted are the task's only
/// entries in the entity.
#[track_caller]
fn assert_signed_once(ledger: &Ledger, entity: &str, task: &str, event: &str, answer: &Answer) {
    let recorded = ledger.query_i64(&format!(
        "SELECT COUNT(*) FROM close_events WHERE close_name = 'acme-month-end' AND period = '2026-01'
         AND entity_id = '{entity}' AND task_id = '{task}' AND event = '{event}'"
    ));
    assert_eq!(recorded, 1, "{event} events of {task} of {entity}");
    if task == "management-fee" {
        let told = answer.body["posted"].as_array().unwrap().len() as i64;
        assert!(told > 0, "the review posted the fee: {answer:?}");
        let stored = ledger.query_i64(&format!(
            "SELECT COUNT(*) FROM entries WHERE entity_id = '{entity}' AND task = 'management-fee'"
        ));
        assert_eq!(stored, told, "management-fee entries of {entity}");
    }
}

/// Rounds of the sign-off race: each on a fresh ledger.
const RACE_ROUNDS: usize = 3;

/// Proves that a sign-off is made once however many times it is sent: each of January's
/// sign-offs (the management fee's review, which posts it, and the preparer's and the
/// reviewer's sign-off of the accruals) is sent by two clients at the same moment, one to each
/// of two servers on one ledger, for both entities at once, in three rounds. Exactly one of
/// each pair is told it signed, the other is refused naming the task; each sign-off is recorded
/// once, the fee is posted once, and `verify` is clean.
#[test]
fn a_sign_off_sent_to_two_servers_at_once_is_made_once() {
    let reference = close_reference();
    let bob = demo().bob.as_str();
    for round in 0..RACE_ROUNDS {
        let ledger = reference.fresh();
        let alice = demo().alice.as_str();
        let servers = [start_close_server(&ledger), start_close_server(&ledger)];
        let run = post_json(&servers[round % 2].url(RUN), bob, &json!({}));
        assert_eq!((run.status, &run.body["failed"]), (200, &json!(0)), "{}", run.body);
        let signoff_url = |server: &Server| server.url("/api/v1/closes/acme-month-end/2026-01/signoff");
        let token_of = |user: &str| if user == "alice" { alice } else { bob };
        // Both clients of an entity pass a barrier before each sign-off, and the next starts
        // when both have their answer.
        let raced: Vec<(&str, Vec<Answer>)> = std::thread::scope(|scope| {
            let racers: Vec<_> = ["ACME-US", "ACME-DE"]
                .into_iter()
                .flat_map(|entity| {
                    let barrier = std::sync::Arc::new(Barrier::new(2));
                    servers
                        .iter()
                        .map(move |server| (entity, server, std::sync::Arc::clone(&barrier)))
                })
                .map(|(entity, server, barrier)| {
                    scope.spawn(move || {
                        let answers = SIGNOFFS
                            .iter()
                            .map(|(user, task, review, _)| {
                                barrier.wait();
                                let request = signoff_request(entity, task, *review);
                                let answer = post_json(&signoff_url(server), token_of(user), &request);
                                barrier.wait();
                                answer
                            })
                            .collect();
                        (entity, answers)
                    })
                })
                .collect();
            racers.into_iter().map(|racer| racer.join().unwrap()).collect()
        });
        for entity in ["ACME-US", "ACME-DE"] {
            let answers: Vec<&Vec<Answer>> = raced
                .iter()
                .filter(|(raced_entity, _)| *raced_entity == entity)
                .map(|(_, answers)| answers)
                .collect();
            for (step, (user, task, review, event)) in SIGNOFFS.iter().enumerate() {
                let pair: Vec<&Answer> = answers.iter().map(|answers| &answers[step]).collect();
                let signed: Vec<&Answer> = pair.iter().copied().filter(|answer| answer.status == 200).collect();
                assert_eq!(
                    signed.len(),
                    1,
                    "round {round}: {user}'s sign-off of {task} of {entity} (review: {review}), sent twice at once, was made by exactly one: {pair:#?}"
                );
                let refused = pair.iter().find(|answer| answer.status != 200).unwrap();
                assert_eq!(refused.status, 422, "round {round}: {refused:?}");
                assert!(
                    refused.body["error"].as_str().unwrap().contains(task),
                    "round {round}: the refusal names the task: {refused:?}"
                );
                assert_signed_once(&ledger, entity, task, event, signed[0]);
            }
        }
        ledger.run(&["verify"]).success();
    }
}

/// Proves that one close run is made once even when it is asked of two servers on one ledger
/// at the same moment (each server allows one run per close and period, but only among its
/// own requests): in three rounds, the ledger verifies and ends with the trial balances by
/// dimension and the task statuses of a single uninterrupted run (no step posted twice), and
/// both clients are told the run succeeded.
#[test]
fn the_same_close_run_asked_of_two_servers_at_once_ends_as_one_run() {
    let reference = close_reference();
    for round in 0..RACE_ROUNDS {
        let ledger = reference.fresh();
        let servers = [start_close_server(&ledger), start_close_server(&ledger)];
        let barrier = Barrier::new(2);
        let answers: Vec<Answer> = std::thread::scope(|scope| {
            let runs: Vec<_> = servers
                .iter()
                .map(|server| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        post_json(&server.url(RUN), &demo().bob, &json!({}))
                    })
                })
                .collect();
            runs.into_iter().map(|run| run.join().unwrap()).collect()
        });
        ledger.run(&["verify"]).success();
        let state = close_state(&ledger, &servers[0], &demo().bob);
        assert_same_close_state(&state, &reference.expected, &format!("round {round}"));
        for answer in &answers {
            assert_eq!(
                (answer.status, &answer.body["failed"]),
                (200, &json!(0)),
                "round {round}: {}",
                answer.body
            );
        }
    }
}

/// A request sent to a server that is killed with SIGKILL before it answers.
struct Killed {
    ledger: Ledger,
    /// The delay after which the server was killed, the request still unanswered.
    after: Duration,
}

/// Starts a server on a fresh ledger (`start`), sends it `request` from another thread, and
/// kills it with SIGKILL after `delay` while the request is still unanswered. An attempt whose
/// answer came first tested no crash: it is made again, on a fresh ledger, with half the delay
/// (down to none).
fn kill_mid_request(
    mut start: impl FnMut() -> (Ledger, Server),
    request: impl Fn(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> + Sync,
    delay: Duration,
) -> Killed {
    let mut delay = delay;
    loop {
        let (ledger, mut server) = start();
        let killed = std::thread::scope(|scope| {
            let base = server.url.clone();
            let request = &request;
            let in_flight = scope.spawn(move || request(&base).map(|response| response.status().as_u16()));
            std::thread::sleep(delay);
            if in_flight.is_finished() {
                let answer = in_flight.join().unwrap();
                assert!(
                    matches!(answer, Ok(200)),
                    "the request failed before the kill: {answer:?}"
                );
                return false;
            }
            server.kill();
            // The connection is cut: the client gets no answer (or, had the server committed
            // and written the answer in the last instant, that answer).
            let _ = in_flight.join().unwrap();
            true
        });
        if killed {
            return Killed { ledger, after: delay };
        }
        assert!(
            !delay.is_zero(),
            "the request was answered before the server could be killed, even at once"
        );
        delay /= 2;
    }
}

/// Entries of the large journal: enough that its import takes a while, so that a kill lands
/// inside it.
const LARGE_ENTRIES: usize = 10_000;

/// What an import may change: each entity's entries and March trial balance.
fn import_state(ledger: &Ledger) -> Vec<(i64, Value)> {
    ["ACME-US", "ACME-DE"]
        .into_iter()
        .map(|entity| (ledger.entry_count(entity), ledger.trial_balance(entity, "2026-03")))
        .collect()
}

/// Proves crash safety of the server's import: a server killed with SIGKILL while a 10,000-entry
/// journal it was sent is being read or posted (at a quarter, half and three quarters of the
/// time an uninterrupted import takes) leaves a ledger that verifies and holds all of the
/// journal or none of it; a restarted server imports the same file again, posting what was
/// missing and reporting the rest as repeats, and the ledger ends exactly as after one
/// uninterrupted import.
#[test]
fn a_server_killed_mid_import_leaves_all_or_nothing_and_the_repeated_import_ends_as_one_uninterrupted() {
    let Demo { template, bob, .. } = demo();
    let journal = balanced_journal("BIG", LARGE_ENTRIES);
    let entries = LARGE_ENTRIES as u64;
    let before = import_state(template);
    // The uninterrupted import, timed: the kills below are planned at fractions of its time.
    let reference = template.copy();
    let server = Server::start(&reference, &[], &[]);
    let started = Instant::now();
    let answer = import(&server, bob, "big.csv", &journal);
    let uninterrupted = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["posted"], entries, "{}", answer.body);
    drop(server);
    let expected = import_state(&reference);
    let url = "/api/v1/journals/import?entity=ACME-US&post=true&source=big.csv";
    for fraction in [0.25, 0.5, 0.75] {
        let Killed { ledger, after } = kill_mid_request(
            || {
                let ledger = template.copy();
                let server = Server::start(&ledger, &[], &[]);
                (ledger, server)
            },
            |base| {
                agent()
                    .post(&format!("{base}{url}"))
                    .header("Authorization", &format!("Bearer {bob}"))
                    .send(&journal)
            },
            uninterrupted.mul_f64(fraction),
        );
        let killed = format!(
            "killed after {} ms of an import that takes {} ms",
            after.as_millis(),
            uninterrupted.as_millis()
        );
        ledger.run(&["verify"]).success();
        let posted =
            ledger.query_i64("SELECT COUNT(*) FROM entries WHERE entity_id = 'ACME-US' AND entry_key LIKE 'BIG-%'");
        eprintln!("{killed}: {posted} of {LARGE_ENTRIES} entries posted");
        assert!(
            posted == 0 || posted == LARGE_ENTRIES as i64,
            "{killed}: {posted} of {LARGE_ENTRIES} entries posted, not all or nothing"
        );
        if posted == 0 {
            assert_eq!(import_state(&ledger), before, "{killed}: nothing was posted");
        } else {
            assert_eq!(import_state(&ledger), expected, "{killed}: everything was posted");
        }
        // A restarted server takes the same file again: what was posted is a repeat.
        let server = Server::start(&ledger, &[], &[]);
        let again = import(&server, bob, "big.csv", &journal);
        assert_eq!(again.status, 200, "{killed}: {}", again.body);
        let posted = posted as u64;
        assert_eq!(
            (&again.body["posted"], &again.body["repeated"]),
            (&json!(entries - posted), &json!(posted)),
            "{killed}: {}",
            again.body
        );
        drop(server);
        ledger.run(&["verify"]).success();
        assert_eq!(import_state(&ledger), expected, "{killed}");
    }
}

/// Proves crash safety of a close run on the server: a server killed with SIGKILL while it runs
/// January's close for a client (at a tenth, two fifths and seven tenths of the time an
/// uninterrupted run takes, the plugins compiled beforehand) leaves a ledger that verifies;
/// after a restart the same run completes, the ledger verifies, and the trial balances by
/// dimension and every task's status equal those of an uninterrupted run on a copy of the same
/// ledger.
#[test]
fn a_server_killed_mid_close_run_resumes_after_a_restart_to_the_result_of_an_uninterrupted_run() {
    let reference = close_reference();
    let bob = demo().bob.as_str();
    let start = || {
        let ledger = reference.fresh();
        let server = start_close_server(&ledger);
        (ledger, server)
    };
    // The run timed: the kills are planned at fractions of it.
    let (warm, server) = start();
    let started = Instant::now();
    let run = post_json(&server.url(RUN), bob, &json!({}));
    let uninterrupted = started.elapsed();
    assert_eq!((run.status, &run.body["failed"]), (200, &json!(0)), "{}", run.body);
    assert_same_close_state(
        &close_state(&warm, &server, bob),
        &reference.expected,
        "an uninterrupted run is repeatable",
    );
    drop(server);
    for fraction in [0.1, 0.4, 0.7] {
        let Killed { ledger, after } = kill_mid_request(
            start,
            |base| {
                agent()
                    .post(&format!("{base}{RUN}"))
                    .header("Authorization", &format!("Bearer {bob}"))
                    .send_empty()
            },
            uninterrupted.mul_f64(fraction),
        );
        let killed = format!(
            "killed after {} ms of a close run that takes {} ms",
            after.as_millis(),
            uninterrupted.as_millis()
        );
        eprintln!("{killed}");
        ledger.run(&["verify"]).success();
        let server = start_close_server(&ledger);
        let run = post_json(&server.url(RUN), bob, &json!({}));
        assert_eq!(
            (run.status, &run.body["failed"]),
            (200, &json!(0)),
            "{killed}: {}",
            run.body
        );
        let state = close_state(&ledger, &server, bob);
        drop(server);
        ledger.run(&["verify"]).success();
        assert_same_close_state(&state, &reference.expected, &killed);
    }
}
