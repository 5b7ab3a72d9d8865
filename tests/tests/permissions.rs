//! Identity, roles and segregation of duties (issue 18): every write command refused for a user
//! lacking exactly its permission, with its message, exit code 1 and an unchanged ledger;
//! undeclared, blank and blocked users refused everywhere; the operating-system account as the
//! verified identity, tested with real accounts (`useradd`, `setpriv`).

use closebook_tests::{Ledger, closebook_binary, demo_dir, plugin_wasm};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every table of the ledger but the audit trail (a refusal is audited), as text: an unchanged
/// snapshot means nothing was written.
fn snapshot(ledger: &Ledger) -> BTreeMap<String, Vec<String>> {
    let mut contents = ledger.contents();
    contents.remove("audit_log");
    contents
}

/// The permissions of the fixed list, as setup names them.
const PERMISSIONS: [&str; 16] = [
    "ledger.read",
    "journal.import",
    "journal.post",
    "journal.reverse",
    "journal.approve",
    "period.status",
    "period.access",
    "close.run",
    "close.prepare",
    "close.review",
    "settle",
    "year-end",
    "plugin.post",
    "setup.apply",
    "users.admin",
    "audit.read",
];

/// The demo ledger plus, for each permission, a user `lacks-PERMISSION` holding every other one
/// in every entity, a blocked user, and an accountant limited to ACME-US.
fn matrix_ledger() -> Ledger {
    let ledger = Ledger::with_demo_journals();
    let mut setup = String::new();
    for permission in PERMISSIONS {
        let others: Vec<String> = PERMISSIONS
            .iter()
            .filter(|other| **other != permission)
            .map(|other| format!("\"{other}\""))
            .collect();
        setup.push_str(&format!(
            "[[role]]\nid = \"all-but-{permission}\"\npermissions = [{}]\n\n[[user]]\nid = \"lacks-{permission}\"\n\n[[grant]]\nrole = \"all-but-{permission}\"\nuser = \"lacks-{permission}\"\n\n",
            others.join(", ")
        ));
    }
    setup.push_str(
        "[[user]]\nid = \"mallory\"\nblocked = true\n\n[[grant]]\nrole = \"controller\"\nuser = \"mallory\"\n\n\
         [[user]]\nid = \"usonly\"\n\n[[grant]]\nrole = \"accountant\"\nuser = \"usonly\"\nentities = [\"ACME-US\"]\n",
    );
    let file = ledger.write("matrix.toml", &setup);
    ledger.run(&["setup", "apply", &file]).success();
    ledger
}

/// Each write command, the permission it needs, and what the refusal says it may not do.
fn write_commands(ledger: &Ledger) -> Vec<(&'static str, Vec<String>, String)> {
    let journal = ledger.write(
        "late.csv",
        "entry,date,account,amount\nLATE-1,2026-01-20,1000,5.00\nLATE-1,2026-01-20,4100,-5.00\n",
    );
    let currency = ledger.write("currency.toml", "[[currency]]\ncode = \"CHF\"\nminor_units = 2\n");
    let people = ledger.write("people.toml", "[[user]]\nid = \"dave\"\n");
    let rates = demo_dir().join("rates.csv").display().to_string();
    let close = ledger.write(
        "close.toml",
        "[close]\nname = \"matrix\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"review-accruals\"\nname = \"Review accruals\"\nowner = \"bob\"\nreviewer = \"alice\"\nmanual = \"Check.\"\n",
    );
    let year_end = plugin_wasm("year_end").display().to_string();
    let allocation = plugin_wasm("custom_plugin").display().to_string();
    let owned = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect::<Vec<_>>();
    vec![
        (
            "journal.import",
            owned(&["import", "journals", &journal, "--entity", "ACME-US"]),
            "import journals into ACME-US".to_owned(),
        ),
        (
            "journal.post",
            owned(&["import", "journals", &journal, "--entity", "ACME-US", "--post"]),
            "post entries to ACME-US".to_owned(),
        ),
        (
            "journal.post",
            owned(&["journal", "post", "--entity", "ACME-US"]),
            "post entries to ACME-US".to_owned(),
        ),
        (
            "journal.import",
            owned(&["journal", "submit", "--entity", "ACME-US", "LATE-1"]),
            "import journals into ACME-US".to_owned(),
        ),
        (
            "journal.import",
            owned(&["journal", "discard", "--entity", "ACME-US", "LATE-1", "--reason", "no"]),
            "import journals into ACME-US".to_owned(),
        ),
        (
            "journal.approve",
            owned(&["journal", "approve", "--entity", "ACME-US", "LATE-1"]),
            "approve journals of ACME-US".to_owned(),
        ),
        (
            "journal.approve",
            owned(&["journal", "reject", "--entity", "ACME-US", "LATE-1", "--reason", "no"]),
            "approve journals of ACME-US".to_owned(),
        ),
        (
            "journal.reverse",
            owned(&[
                "journal",
                "reverse",
                "--entity",
                "ACME-US",
                "--date",
                "2026-01-31",
                "US-OPEN-1",
            ]),
            "reverse entries of ACME-US".to_owned(),
        ),
        (
            "period.status",
            owned(&[
                "period",
                "set-status",
                "--entity",
                "ACME-DE",
                "--period",
                "2026-01",
                "--status",
                "on-hold",
            ]),
            "set the period status of ACME-DE".to_owned(),
        ),
        (
            "period.access",
            owned(&[
                "period", "access", "--all", "--period", "2026-01", "--module", "payables", "--level", "none",
            ]),
            "change the module access of periods of ACME-DE".to_owned(),
        ),
        (
            "close.run",
            owned(&["close", "run", "--config", &close, "--period", "2026-01"]),
            "run the close of ACME-US".to_owned(),
        ),
        (
            "close.prepare",
            owned(&[
                "close",
                "signoff",
                "--config",
                &close,
                "--period",
                "2026-01",
                "--entity",
                "ACME-US",
                "--task",
                "review-accruals",
            ]),
            "prepare close tasks of ACME-US".to_owned(),
        ),
        (
            "close.review",
            owned(&[
                "close",
                "signoff",
                "--config",
                &close,
                "--period",
                "2026-01",
                "--entity",
                "ACME-US",
                "--task",
                "review-accruals",
                "--review",
            ]),
            "review close tasks of ACME-US".to_owned(),
        ),
        (
            "settle",
            owned(&["settle", "mark", "--entity", "ACME-US", "1", "2"]),
            "settle open items of ACME-US".to_owned(),
        ),
        (
            "year-end",
            owned(&[
                "year-end", "run", "--entity", "ACME-US", "--year", "FY2025", "--plugin", &year_end,
            ]),
            "run the year-end close of ACME-US".to_owned(),
        ),
        (
            "plugin.post",
            owned(&[
                "plugin",
                "run",
                &allocation,
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                "--post",
            ]),
            "post a plugin's entries to ACME-US".to_owned(),
        ),
        (
            "setup.apply",
            owned(&["setup", "apply", &currency]),
            "apply a setup file".to_owned(),
        ),
        (
            "setup.apply",
            owned(&["import", "rates", &rates]),
            "apply a setup file".to_owned(),
        ),
        (
            "users.admin",
            owned(&["setup", "apply", &people]),
            "change users, roles or grants".to_owned(),
        ),
        (
            "ledger.read",
            owned(&["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"]),
            "read the ledger of ACME-US".to_owned(),
        ),
        (
            "audit.read",
            owned(&["audit"]),
            "read the audit trail of every entity".to_owned(),
        ),
    ]
}

#[test]
fn every_command_is_refused_for_a_user_lacking_exactly_its_permission() {
    // Proves the one permission check covers every write command (and the reads), names who,
    // what and the permission, exits 1, writes nothing but the audit record of the refusal;
    // and that the same command runs for the administrator.
    let ledger = matrix_ledger();
    let commands = write_commands(&ledger);
    for (permission, arguments, action) in &commands {
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let user = format!("lacks-{permission}");
        let before = snapshot(&ledger);
        let run = ledger.run_as(&user, &arguments);
        assert_eq!(run.status, 1, "{arguments:?} as {user}: {}", run.stderr);
        let expected = format!("{user} may not {action} (needs {permission})");
        assert!(
            run.stderr.contains(&expected),
            "{arguments:?} as {user}:\nexpected: {expected}\nstderr: {}",
            run.stderr
        );
        assert_eq!(snapshot(&ledger), before, "{arguments:?} as {user} changed the ledger");
    }
    let audit = ledger
        .run(&["audit", "--format", "json", "--limit", "1000"])
        .success()
        .json();
    let refusals = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["action"] == "permission.refused")
        .count();
    assert_eq!(refusals, commands.len(), "every refusal is audited");
    // Holding close.prepare is not enough: the task's owner (or a named preparer) prepares it.
    let close = &commands
        .iter()
        .find(|(permission, ..)| *permission == "close.prepare")
        .unwrap()
        .1;
    let arguments: Vec<&str> = close.iter().map(String::as_str).collect();
    let stderr = ledger.run_as("lacks-audit.read", &arguments).failure();
    assert!(
        stderr.contains("lacks-audit.read may not prepare task review-accruals of ACME-US: it is prepared by bob (close.toml's owner); act as one of them"),
        "{stderr}"
    );
}

#[test]
fn undeclared_blank_and_blocked_users_are_refused_for_every_command() {
    // Proves no command runs for a user the ledger does not know, an empty name or a blocked
    // user, and that nothing is written.
    let ledger = matrix_ledger();
    let commands = write_commands(&ledger);
    let before = snapshot(&ledger);
    for (_, arguments, _) in &commands {
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        for (user, expected) in [
            (
                "zed",
                "user zed is not declared in this ledger's setup: declare it with [[user]] id = \"zed\" and apply the setup, or act as a declared user",
            ),
            (
                "",
                "the acting user is blank: name one with --as USER (or CLOSEBOOK_USER)",
            ),
            (
                "mallory",
                "user mallory is blocked: a blocked user is kept in the history but may not act; unblock it in setup (blocked = false) if that is wrong",
            ),
        ] {
            let run = ledger.run_as(user, &arguments);
            assert_eq!(run.status, 1, "{arguments:?} as {user:?}");
            assert!(
                run.stderr.contains(expected),
                "{arguments:?} as {user:?}: {}",
                run.stderr
            );
        }
    }
    assert_eq!(snapshot(&ledger), before);
}

#[test]
fn a_user_granted_one_entity_sees_and_acts_only_there() {
    // Proves grants limited to entities: usonly posts and reads in ACME-US, and is refused in
    // ACME-DE for reports and for writes.
    let ledger = matrix_ledger();
    ledger
        .run_as(
            "usonly",
            &["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"],
        )
        .success();
    let stderr = ledger
        .run_as(
            "usonly",
            &["report", "trial-balance", "--entity", "ACME-DE", "--period", "2026-01"],
        )
        .failure();
    assert!(
        stderr.contains("usonly may not read the ledger of ACME-DE (needs ledger.read)"),
        "{stderr}"
    );
    let stderr = ledger.run_as("usonly", &["verify"]).failure();
    assert!(
        stderr.contains("usonly may not read the ledger of ACME-DE (needs ledger.read)"),
        "{stderr}"
    );
    let stderr = ledger
        .run_as(
            "usonly",
            &[
                "period",
                "set-status",
                "--all",
                "--period",
                "2026-01",
                "--status",
                "on-hold",
            ],
        )
        .failure();
    assert!(
        stderr.contains("usonly may not set the period status of ACME-DE (needs period.status)"),
        "{stderr}"
    );
}

#[test]
fn setup_refuses_unknown_permissions_grants_to_nobody_and_a_first_setup_without_administrator() {
    // Proves the setup file's security sections are checked, with messages that say the fix.
    let ledger = Ledger::with_demo_setup();
    let typo = ledger.write(
        "typo.toml",
        "[[role]]\nid = \"clerk\"\npermissions = [\"ledger.write\"]\n",
    );
    let stderr = ledger.run(&["setup", "apply", &typo]).failure();
    assert!(
        stderr.contains(
            "role clerk: `ledger.write` is not a permission; the permissions are ledger.read, journal.import"
        ),
        "{stderr}"
    );
    let nobody = ledger.write("nobody.toml", "[[grant]]\nrole = \"auditor\"\nuser = \"zed\"\n");
    let stderr = ledger.run(&["setup", "apply", &nobody]).failure();
    assert!(
        stderr.contains("a [[grant]] of role auditor names user zed, who is not declared; declare it with [[user]]"),
        "{stderr}"
    );
    let fresh = Ledger::new();
    let setup = std::fs::read_to_string(demo_dir().join("setup.toml")).unwrap();
    let without = setup.split("[security]").next().unwrap().to_owned();
    let file = fresh.write("setup.toml", &without);
    let stderr = fresh.run(&["setup", "apply", &file]).failure();
    assert!(
        stderr.contains("is this ledger's first setup with permissions, so it must name the administrator: add [security] administrator = \"USER\""),
        "{stderr}"
    );
}

#[test]
fn close_toml_refuses_a_preparer_who_is_nobody_and_a_reviewer_among_the_preparers() {
    let ledger = Ledger::with_demo_setup();
    for (task, expected) in [
        (
            "preparers = [\"zed\"]\nreviewer = \"alice\"",
            "task t: preparer zed is neither a user nor a group of the ledger",
        ),
        (
            "preparers = [\"alice\"]\nreviewer = \"alice\"",
            "task t: the reviewer alice is also one of its preparers",
        ),
    ] {
        let close = ledger.write(
            "close.toml",
            &format!("[close]\nname = \"c\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"t\"\nname = \"T\"\nowner = \"bob\"\n{task}\nmanual = \"Check.\"\n"),
        );
        let stderr = ledger
            .run(&["close", "status", "--config", &close, "--period", "2026-01"])
            .failure();
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn only_the_owner_or_a_named_preparer_prepares_and_a_preparer_never_reviews() {
    // Proves segregation of duties on a trusting ledger: alice (controller) cannot prepare
    // bob's task; bob prepares; bob cannot review; alice reviews; the record says unverified.
    let ledger = Ledger::with_demo_journals();
    let close = ledger.write(
        "close.toml",
        "[close]\nname = \"c\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"accruals\"\nname = \"Review accruals\"\nowner = \"bob\"\nreviewer = \"alice\"\nmanual = \"Check.\"\n",
    );
    let signoff = |user: &str, review: bool| {
        let mut arguments = vec![
            "close", "signoff", "--config", &close, "--period", "2026-01", "--entity", "ACME-US", "--task", "accruals",
        ];
        if review {
            arguments.push("--review");
        }
        ledger.run_as(user, &arguments)
    };
    let stderr = signoff("carol", false).failure();
    assert!(
        stderr.contains("carol may not prepare close tasks of ACME-US (needs close.prepare)"),
        "{stderr}"
    );
    let stderr = signoff("bob", true).failure();
    assert!(
        stderr.contains("task accruals is reviewed by alice, not bob"),
        "{stderr}"
    );
    let stdout = signoff("bob", false).success().stdout;
    assert!(stdout.contains("(by bob (declared, unverified))"), "{stdout}");
    let stdout = signoff("alice", true).success().stdout;
    assert!(
        stdout.contains("is signed-off (by alice (declared, unverified))"),
        "{stdout}"
    );
    let show = ledger
        .run(&[
            "close", "show", "--config", &close, "--period", "2026-01", "--entity", "ACME-US", "--task", "accruals",
        ])
        .success()
        .stdout;
    assert!(show.contains("bob (declared with --as, unverified)"), "{show}");
    let board = ledger
        .run(&[
            "close", "status", "--config", &close, "--period", "2026-01", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(
        board["rows"][0]["unverified"],
        serde_json::json!(["bob", "alice"]),
        "{board}"
    );
    let audit = ledger.run(&["audit", "--limit", "3"]).success().stdout;
    assert!(audit.contains("alice (unverified)"), "{audit}");
}

/// Operating-system accounts made for these tests (created once; kept, harmlessly, after).
const OS_ACCOUNTS: [&str; 3] = ["cbtest-alice", "cbtest-bob", "cbtest-carol"];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ensure_os_account(name: &str) -> (u32, u32) {
    let exists = Command::new("id").arg("-u").arg(name).output().unwrap();
    if !exists.status.success() {
        let made = Command::new("useradd")
            .args(["--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
            .output()
            .expect("useradd runs");
        assert!(
            made.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").arg(flag).arg(name).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// Runs closebook as an operating-system account (real and effective ids), with `--as` when
/// given, in the ledger's folder, which every account may write. The binary is a copy in that
/// folder: the build's own folder may not be readable by other accounts (a checkout under /root).
fn run_as_account(account: &str, db: &Path, as_user: Option<&str>, arguments: &[&str]) -> closebook_tests::Run {
    let (uid, gid) = ensure_os_account(account);
    let folder = db.parent().unwrap();
    let binary = folder.join("closebook");
    if !binary.exists() {
        std::fs::copy(closebook_binary(), &binary).unwrap();
        std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(&binary)
        .arg("--db")
        .arg(db);
    if let Some(user) = as_user {
        command.arg("--as").arg(user);
    }
    command
        .args(arguments)
        .current_dir(folder)
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .env("USER", as_user.unwrap_or("root"))
        .env("CLOSEBOOK_CACHE", db.parent().unwrap().join("cache"));
    // A process another test thread forked while this copy was being written holds the copy
    // open for writing until it runs its own program, and the copy cannot be run until then
    // (ETXTBSY): that is over in a moment, so try again.
    let mut output = command.output().expect("setpriv runs");
    for _ in 0..20 {
        if !String::from_utf8_lossy(&output.stderr).contains("Text file busy") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        output = command.output().expect("setpriv runs");
    }
    closebook_tests::Run::from_output(output)
}

/// A ledger every test account may write, set up by cbtest-alice: alice administers, bob is an
/// accountant in ACME-US only, carol an auditor; each maps to their account.
fn os_ledger(trust: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    for account in OS_ACCOUNTS {
        ensure_os_account(account);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let setup = std::fs::read_to_string(demo_dir().join("setup.toml"))
        .unwrap()
        .replace(
            "trust_declared_users = true",
            &format!("trust_declared_users = {trust}"),
        )
        .replace("id = \"alice\"\n", "id = \"alice\"\nos_user = \"cbtest-alice\"\n")
        .replace("id = \"bob\"\n", "id = \"bob\"\nos_user = \"cbtest-bob\"\n")
        .replace("id = \"carol\"\n", "id = \"carol\"\nos_user = \"cbtest-carol\"\n")
        .replace(
            "role = \"accountant\"\nuser = \"bob\"",
            "role = \"accountant\"\nuser = \"bob\"\nentities = [\"ACME-US\"]",
        );
    let setup_file = dir.path().join("setup.toml");
    std::fs::write(&setup_file, setup).unwrap();
    let close = dir.path().join("close.toml");
    std::fs::write(
        &close,
        "[close]\nname = \"c\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"accruals\"\nname = \"Review accruals\"\nowner = \"bob\"\nreviewer = \"alice\"\nmanual = \"Check.\"\n",
    )
    .unwrap();
    for file in [&setup_file, &close] {
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
    let db = dir.path().join("closebook.db");
    // The ledger's file and its WAL are shared by the accounts: a team's ledger would use a
    // group; here every account may write it.
    let umask_db = dir.path().join("closebook.db");
    run_as_account(
        "cbtest-alice",
        &umask_db,
        None,
        &["setup", "apply", setup_file.to_str().unwrap()],
    )
    .success();
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.path().join(format!("closebook.db{suffix}"));
        if path.exists() {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        }
    }
    (dir, db)
}

#[test]
fn operating_system_accounts_are_the_verified_identity() {
    // Proves, with real accounts: a preparer cannot review even naming the reviewer with --as or
    // CLOSEBOOK_USER; a trusting ledger accepts --as and marks the record unverified; a user
    // without entity access sees nothing of that entity.
    assert!(
        is_root(),
        "these tests create operating-system accounts and run closebook as them: run them as root (CI does)"
    );
    let (dir, db) = os_ledger(false);
    let close = dir.path().join("close.toml").display().to_string();
    let signoff = |review: bool| {
        let mut arguments = vec![
            "close",
            "signoff",
            "--config",
            close.as_str(),
            "--period",
            "2026-01",
            "--entity",
            "ACME-US",
            "--task",
            "accruals",
        ];
        if review {
            arguments.push("--review");
        }
        arguments
    };
    let prepared = run_as_account("cbtest-bob", &db, None, &signoff(false)).success();
    assert!(prepared.stdout.contains("(by bob (os-user))"), "{}", prepared.stdout);
    let impersonating = run_as_account("cbtest-bob", &db, Some("alice"), &signoff(true));
    assert_eq!(impersonating.status, 1);
    assert!(
        impersonating
            .stderr
            .contains("operating-system account cbtest-bob is user bob in this ledger and may not act as alice"),
        "{}",
        impersonating.stderr
    );
    let own_review = run_as_account("cbtest-bob", &db, None, &signoff(true));
    assert!(
        own_review
            .stderr
            .contains("task accruals is reviewed by alice, not bob"),
        "{}",
        own_review.stderr
    );
    let reviewed = run_as_account("cbtest-alice", &db, None, &signoff(true)).success();
    assert!(reviewed.stdout.contains("(by alice (os-user))"), "{}", reviewed.stdout);
    let report = ["report", "trial-balance", "--entity", "ACME-DE", "--period", "2026-01"];
    let hidden = run_as_account("cbtest-bob", &db, None, &report);
    assert!(
        hidden
            .stderr
            .contains("bob may not read the ledger of ACME-DE (needs ledger.read)"),
        "{}",
        hidden.stderr
    );
    assert!(hidden.stdout.is_empty(), "{}", hidden.stdout);
    let unmapped = Command::new(closebook_binary())
        .arg("--db")
        .arg(&db)
        .args(["verify"])
        .env_remove("CLOSEBOOK_USER")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&unmapped.stderr)
            .contains("the operating-system account root is not mapped to a closebook user: add os_user = \"root\""),
        "{}",
        String::from_utf8_lossy(&unmapped.stderr)
    );

    let (dir, db) = os_ledger(true);
    let close = dir.path().join("close.toml").display().to_string();
    let declared = run_as_account(
        "cbtest-carol",
        &db,
        Some("bob"),
        &[
            "close", "signoff", "--config", &close, "--period", "2026-01", "--entity", "ACME-US", "--task", "accruals",
        ],
    )
    .success();
    assert!(
        declared.stdout.contains("(by bob (declared, unverified))"),
        "{}",
        declared.stdout
    );
    let show = run_as_account(
        "cbtest-alice",
        &db,
        None,
        &[
            "close", "show", "--config", &close, "--period", "2026-01", "--entity", "ACME-US", "--task", "accruals",
        ],
    )
    .success();
    assert!(
        show.stdout.contains("bob (declared with --as, unverified)"),
        "{}",
        show.stdout
    );
    let audit = run_as_account("cbtest-alice", &db, None, &["audit", "--format", "json"]).success();
    let records = audit.json();
    let setup = records.as_array().unwrap().first().unwrap().clone();
    assert_eq!(
        (setup["user"].as_str(), setup["identity"].as_str()),
        (Some("alice"), Some("os-user")),
        "{setup}"
    );
}

#[test]
fn verify_reports_a_signoff_or_audit_record_edited_in_the_file() {
    // Proves the controls' chains: a sign-off row changed with SQL, and an audit record changed
    // with its trigger dropped, are both reported by `verify`, which exits non-zero.
    let ledger = Ledger::with_demo_journals();
    let close = ledger.write(
        "close.toml",
        "[close]\nname = \"c\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"accruals\"\nname = \"Review accruals\"\nowner = \"bob\"\nreviewer = \"alice\"\nmanual = \"Check.\"\n",
    );
    ledger
        .run_as(
            "bob",
            &[
                "close", "signoff", "--config", &close, "--period", "2026-01", "--entity", "ACME-US", "--task",
                "accruals",
            ],
        )
        .success();
    let clean = ledger.run(&["verify"]).success().stdout;
    assert!(
        clean.contains(
            "audit trail and close sign-offs: hash chains intact, every sign-off matches its last recorded event"
        ),
        "{clean}"
    );
    ledger.execute_sql("UPDATE close_tasks SET prepared_by = 'carol' WHERE task_id = 'accruals'");
    ledger.tamper("UPDATE audit_log SET user_id = 'carol' WHERE id = (SELECT max(id) FROM audit_log);");
    let run = ledger.run(&["verify"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stdout.contains("task accruals of ACME-US 2026-01 (close c) holds")
            && run.stdout.contains("\"prepared_by\":\"carol\"")
            && run.stdout.contains("the sign-off was changed outside closebook"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("by carol) does not match its hash: it was changed after it was written"),
        "{}",
        run.stdout
    );
}
