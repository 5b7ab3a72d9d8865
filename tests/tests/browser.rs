//! The close workspace in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver), against `closebook serve` on 127.0.0.1. One test, one browser: bob runs the
//! January close, alice reviews the management fee (seeing its 966.00 line), the preparers and
//! reviewers sign off, the close runs again and the board reaches 100 %. Screenshots of each
//! step are saved under target/browser-screenshots/ for people to look at.

use closebook_tests::server::{ALICE_PASSWORD, BOB_PASSWORD, Server, demo_ledger};
use closebook_tests::webdriver::Browser;
use closebook_tests::workspace_root;
use std::time::Duration;

/// How long a close run may take in the debug build on a loaded machine (it compiles plugins).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

fn sign_in(browser: &Browser, server: &Server, user: &str, password: &str) {
    browser.goto(&server.url("/login"));
    browser.type_into("input[name=user]", user);
    browser.type_into("input[name=password]", password);
    browser.click("form[action='/login'] button[type=submit]");
    let text = browser.text();
    assert!(text.contains(&format!("Signed in as {user}")), "{text}");
}

fn sign_out(browser: &Browser) {
    browser.click("header form[action='/logout'] button");
    let text = browser.text();
    assert!(text.contains("You are signed out."), "{text}");
}

fn sign_off(browser: &Browser, server: &Server, entity: &str, task: &str, review: bool) -> String {
    browser.goto(&server.url(&format!("/closes/acme-month-end/2026-01/{entity}/{task}")));
    browser.click(&format!("button[name=review][value={review}]"));
    let text = browser.text();
    assert!(!text.contains("Refused") && !text.contains("Not permitted"), "{text}");
    text
}

#[test]
fn a_team_closes_january_in_the_browser() {
    let ledger = demo_ledger();
    let config = ledger.pinned_demo_close();
    let server = Server::start(&ledger, &[&config], &[]);
    let browser = Browser::start(&workspace_root().join("target/browser-screenshots"));
    let board = server.url("/closes/acme-month-end/2026-01");
    let run_ended = |text: &str| !text.contains("A run of this close is under way");

    // bob runs the close.
    browser.goto(&board);
    assert!(browser.url().contains("/login"), "the board needs a session");
    sign_in(&browser, &server, "bob", BOB_PASSWORD);
    browser.goto(&board);
    browser.screenshot("01-board-before-the-run");
    browser.click("#run-close");
    let text = browser.wait_for(&board, RUN_TIMEOUT, "the first run to end", |text| {
        run_ended(text) && text.contains("awaiting-review")
    });
    assert!(!text.contains("failed"), "{text}");
    browser.screenshot("02-board-awaiting-review");
    sign_out(&browser);

    // alice reviews the management fee: she sees every line before approving.
    sign_in(&browser, &server, "alice", ALICE_PASSWORD);
    browser.goto(&server.url("/closes/acme-month-end/2026-01/ACME-US/management-fee"));
    let task = browser.text();
    assert!(task.contains("Entries proposed"), "{task}");
    assert!(task.contains("966.00"), "2.5 % of 38,640.00 sales: {task}");
    browser.screenshot("03-review-of-the-management-fee");
    let reviewed = sign_off(&browser, &server, "ACME-US", "management-fee", true);
    assert!(reviewed.contains("Entries posted"), "{reviewed}");
    sign_off(&browser, &server, "ACME-DE", "management-fee", true);
    sign_out(&browser);

    // bob prepares the accruals review; alice reviews it.
    sign_in(&browser, &server, "bob", BOB_PASSWORD);
    for entity in ["ACME-US", "ACME-DE"] {
        sign_off(&browser, &server, entity, "review-accruals", false);
    }
    sign_out(&browser);
    sign_in(&browser, &server, "alice", ALICE_PASSWORD);
    for entity in ["ACME-US", "ACME-DE"] {
        sign_off(&browser, &server, entity, "review-accruals", true);
    }

    // alice runs the rest of the close; the board reaches 100 %.
    browser.goto(&board);
    browser.click("#run-close");
    let text = browser.wait_for(&board, RUN_TIMEOUT, "the board to reach 100 %", |text| {
        run_ended(text) && text.contains("100 % complete")
    });
    assert!(!text.contains("awaiting-review"), "{text}");
    browser.screenshot("04-board-complete");
    sign_out(&browser);
    browser.goto(&board);
    assert!(browser.url().contains("/login"), "signed out: {}", browser.url());
}
