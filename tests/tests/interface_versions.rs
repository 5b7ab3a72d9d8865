//! Released plugin interface versions keep loading and keep meaning what they meant: a
//! component built for `closebook:plugin@0.1.0` and frozen (`tests/fixtures/wit-v0.1/`) runs
//! unchanged, and proposes byte for byte what it proposed when it was frozen.

use closebook_tests::{Ledger, workspace_root};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CONFIG: &str = r#"{"source_accounts": ["4000"], "percent": "2.5", "expense_account": "6900", "accrual_account": "2100", "dimension": "department"}"#;

fn fixture(name: &str) -> std::path::PathBuf {
    workspace_root().join("tests/fixtures/wit-v0.1").join(name)
}

#[test]
fn a_frozen_v0_1_component_proposes_byte_for_byte_what_it_did_when_frozen() {
    let component = fixture("management-fee.wasm");
    let bytes = std::fs::read(&component).unwrap();
    let sums = std::fs::read_to_string(fixture("SHA256SUMS")).unwrap();
    assert_eq!(
        sums.split_whitespace().next().unwrap(),
        hex::encode(Sha256::digest(&bytes)),
        "the frozen component changed: it is never rebuilt"
    );
    let ledger = Ledger::with_demo_journals();
    let inspected = ledger
        .run(&["plugin", "inspect", &component.display().to_string()])
        .success()
        .stdout;
    assert!(inspected.contains("interface version: 0.1.0"), "{inspected}");
    // The configuration schema reads as indented JSON, not one line of escapes.
    assert!(
        inspected.contains("config schema:\n{\n  \"$schema\"") && !inspected.contains("\\u{a}"),
        "{inspected}"
    );

    let run = ledger
        .run(&[
            "plugin",
            "run",
            &component.display().to_string(),
            "--entity",
            "ACME-US",
            "--period",
            "2026-02",
            "--config",
            CONFIG,
            "--format",
            "json",
        ])
        .success()
        .json();
    // What the step proposed and said: its output and its log, not the run's fuel or time.
    let proposals = &run["output"]["Ok"];
    let seen = serde_json::to_string_pretty(&serde_json::json!({
        "entries": proposals["entries"],
        "settlements": proposals["settlements"],
        "messages": proposals["messages"],
        "log": run["log"]["records"],
    }))
    .unwrap()
        + "\n";
    let expected_path = fixture("management-fee-2026-02.json");
    if std::env::var_os("CLOSEBOOK_BLESS").is_some() {
        std::fs::write(&expected_path, &seen).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(seen, expected);
    let entries: &Value = &proposals["entries"];
    assert_eq!(entries[0]["lines"][0]["amount"], "1378.50", "{entries}");
}

#[test]
fn released_interface_files_are_never_edited() {
    // A released WIT version is frozen: components built for it must keep meaning what they
    // meant. A change to the interface is a new version in a folder of its own.
    for (version, sha256) in [
        (
            "v0.1",
            "601581e718a3f2d02f6e422e0f17f4b32d3f8fde199f9ef2ea00068ef7a8a6d0",
        ),
        (
            "v0.2",
            "26ec199a62e6702e7364b9c8df2d6ce65cd12ff06c85bc20f0c8cc09b6adb407",
        ),
    ] {
        let path = workspace_root()
            .join("plugin-sdk/wit")
            .join(version)
            .join("closebook.wit");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            sha256,
            "{} changed: released interface versions are frozen; add a new version instead",
            path.display()
        );
    }
}
