//! Plugin packages, signatures and trust (issue 21), end to end through the real binary: the
//! standard plugins carry their package metadata, `plugin keygen|sign` make a signature that
//! `plugin inspect` shows, a close with `[trust] require_signature = true` runs a plugin signed
//! by a trusted key and refuses an unsigned, untrusted or tampered one before compiling it, and
//! `plugin pin` re-pins a close.toml.

use closebook_tests::{Ledger, plugin_wasm};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The management-fee task of the demo, alone in a close of ACME-US.
const FEE_TASK: &str = r#"
[[task]]
id = "management-fee"
name = "Accrue the management fee"
owner = "bob"
step = "plugin:management-fee"
config = { source_accounts = ["4000"], percent = "2.5", expense_account = "6900", accrual_account = "2100", dimension = "department" }
"#;

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A copy of the management-fee plugin in the ledger's folder.
fn fee_plugin(ledger: &Ledger, name: &str) -> PathBuf {
    let path = ledger.dir.path().join(name);
    std::fs::copy(plugin_wasm("custom_plugin"), &path).unwrap();
    path
}

/// A key pair in the ledger's folder; returns the secret key file, the public key text and
/// the key id keygen printed.
fn keygen_with_id(ledger: &Ledger, name: &str) -> (String, String, String) {
    let out = ledger.dir.path().join(name);
    let run = ledger
        .run(&["plugin", "keygen", "--out", &out.display().to_string()])
        .success();
    let public = std::fs::read_to_string(out.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(run.stdout.contains(&public), "{}", run.stdout);
    let key_id = run
        .stdout
        .split("key id ")
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .unwrap_or_else(|| panic!("no key id in {}", run.stdout))
        .to_owned();
    (out.with_extension("key").display().to_string(), public, key_id)
}

fn keygen(ledger: &Ledger, name: &str) -> (String, String) {
    let (secret, public, _) = keygen_with_id(ledger, name);
    (secret, public)
}

/// A close of the management fee pinned to `plugin` at its current hash, with `trust` as its
/// `[trust]` section; returns its path.
fn fee_close(ledger: &Ledger, plugin: &Path, trust: &str) -> String {
    ledger.write(
        "close.toml",
        &format!(
            "[close]\nname = \"fee\"\nentities = [\"ACME-US\"]\n\n[plugins]\n# the fee step\nmanagement-fee = {{ path = \"{}\", sha256 = \"{}\" }}\n\n{trust}\n{FEE_TASK}",
            plugin.file_name().unwrap().to_str().unwrap(),
            sha256_of(plugin)
        ),
    )
}

fn trust(require_signature: bool, public_key: &str) -> String {
    format!(
        "[trust]\nrequire_signature = {require_signature}\n\n[trust.publishers.acme-consulting]\nkeys = [\"{public_key}\"]\n"
    )
}

/// The compiled components in the ledger's cache folder (none when it does not exist).
fn cached_components(ledger: &Ledger) -> usize {
    std::fs::read_dir(ledger.dir.path().join(".closebook-cache"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

fn close_run(ledger: &Ledger, config: &str) -> closebook_tests::Run {
    ledger.run(&["close", "run", "--config", config, "--period", "2026-01"])
}

#[test]
fn the_standard_plugins_carry_their_package_and_inspect_shows_it() {
    // Proves scripts/build-plugins embeds each standard plugin's package metadata from its
    // Cargo.toml, and `plugin inspect` shows it with the signature status.
    let ledger = Ledger::new();
    let path = plugin_wasm("fx_revaluation").display().to_string();
    let inspect = ledger
        .run(&["plugin", "inspect", &path, "--format", "json"])
        .success()
        .json();
    let package = &inspect["package"];
    assert_eq!(package["name"], "fx-revaluation", "{inspect}");
    assert_eq!(package["version"], "0.1.0");
    assert_eq!(package["interface_version"], "0.2.0");
    assert_eq!(package["license"], "Apache-2.0");
    assert_eq!(
        package["summary"],
        "Standard closebook close step: foreign currency revaluation of the general ledger."
    );
    assert_eq!(package["minimum_closebook_version"], "0.1.0");
    assert_eq!(inspect["signature"]["status"], "unsigned");
    let text = ledger.run(&["plugin", "inspect", &path]).success().stdout;
    assert!(text.contains("package:           fx-revaluation 0.1.0"), "{text}");
    assert!(text.contains("signature:         unsigned"), "{text}");
}

#[test]
fn a_plugin_signed_by_a_trusted_key_runs_and_inspect_names_the_key() {
    // Proves keygen (which never overwrites a key) and sign: the signed plugin verifies, inspect shows the key id, and a close
    // that requires signatures runs it and posts the fee.
    let ledger = Ledger::with_demo_journals();
    let (secret, public, printed_key_id) = keygen_with_id(&ledger, "acme");
    let again = ledger
        .run(&[
            "plugin",
            "keygen",
            "--out",
            &ledger.dir.path().join("acme").display().to_string(),
        ])
        .failure();
    assert!(
        again.contains("acme.key already exists; keygen never overwrites a key"),
        "{again}"
    );
    let plugin = fee_plugin(&ledger, "fee.wasm");
    let plugin_text = plugin.display().to_string();
    let signed = ledger
        .run(&["plugin", "sign", &plugin_text, "--key", &secret])
        .success();
    let inspect = ledger
        .run(&["plugin", "inspect", &plugin_text, "--format", "json"])
        .success()
        .json();
    assert_eq!(inspect["signature"]["status"], "valid", "{inspect}");
    let key_id = inspect["signature"]["key_id"].as_str().unwrap().to_owned();
    assert_eq!(key_id, printed_key_id);
    assert!(signed.stdout.contains(&key_id), "{}", signed.stdout);
    assert_eq!(inspect["signature"]["public_key"], public.as_str());
    assert_eq!(inspect["package"]["name"], "custom-plugin");

    // Trusted as a bare key (`[trust] keys`); the other tests name its publisher.
    let bare_trust = format!("[trust]\nrequire_signature = true\nkeys = [\"{public}\"]\n");
    let config = fee_close(&ledger, &plugin, &bare_trust);
    let before = ledger.entry_count("ACME-US");
    close_run(&ledger, &config).success();
    assert!(
        ledger.entry_count("ACME-US") > before,
        "the signed plugin posted nothing"
    );
}

#[test]
fn unsigned_untrusted_and_tampered_plugins_are_refused_before_compiling() {
    // Proves the trust policy: an unsigned plugin, one signed by a key close.toml does not list,
    // one changed after signing and one with bytes appended after its signature are refused by
    // `close run` (the tampered one by `plugin run` and `plugin inspect` too), naming the plugin,
    // the key id and the fix; nothing is compiled into the cache and nothing is posted.
    let ledger = Ledger::with_demo_journals();
    // Key ids as keygen printed them: `plugin inspect` would compile the plugin into the cache.
    let (secret, public, key_id) = keygen_with_id(&ledger, "acme");
    let (stranger_secret, _, stranger_key) = keygen_with_id(&ledger, "stranger");
    let before = ledger.entry_count("ACME-US");

    let unsigned = fee_plugin(&ledger, "unsigned.wasm");
    let stderr = close_run(&ledger, &fee_close(&ledger, &unsigned, &trust(true, &public))).failure();
    assert!(
        stderr.contains("plugin management-fee: it is unsigned, and close.toml requires a signature"),
        "{stderr}"
    );
    assert!(stderr.contains("closebook plugin sign FILE --key KEY"), "{stderr}");

    let untrusted = fee_plugin(&ledger, "untrusted.wasm");
    let untrusted_text = untrusted.display().to_string();
    ledger
        .run(&["plugin", "sign", &untrusted_text, "--key", &stranger_secret])
        .success();
    let stderr = close_run(&ledger, &fee_close(&ledger, &untrusted, &trust(true, &public))).failure();
    assert!(
        stderr.contains(&format!(
            "plugin management-fee: it is signed by key {stranger_key}, which close.toml does not trust"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("[trust.publishers.NAME] keys"), "{stderr}");

    // Signed, then one byte of its code changed (and the pin updated to the changed file, so
    // that the signature is what refuses it).
    let tampered = fee_plugin(&ledger, "tampered.wasm");
    let tampered_text = tampered.display().to_string();
    ledger
        .run(&["plugin", "sign", &tampered_text, "--key", &secret])
        .success();
    let mut bytes = std::fs::read(&tampered).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&tampered, &bytes).unwrap();
    // Refused even when the close does not require signatures: a broken signature never loads.
    let stderr = close_run(&ledger, &fee_close(&ledger, &tampered, &trust(false, &public))).failure();
    assert!(
        stderr.contains(&format!(
            "plugin management-fee: its signature by key {key_id} does not verify (the component was changed after it was signed)"
        )),
        "{stderr}"
    );

    // Outside a close too: `plugin run` and `plugin inspect` refuse it before compiling.
    for command in [
        vec!["plugin", "inspect", &tampered_text],
        vec![
            "plugin",
            "run",
            &tampered_text,
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
        ],
    ] {
        let stderr = ledger.run(&command).failure();
        assert!(
            stderr.contains(&format!(
                "plugin tampered: its signature by key {key_id} does not verify"
            )),
            "{stderr}"
        );
    }

    // Signed, then a custom section appended after the signature.
    let appended = fee_plugin(&ledger, "appended.wasm");
    let appended_text = appended.display().to_string();
    ledger
        .run(&["plugin", "sign", &appended_text, "--key", &secret])
        .success();
    let mut bytes = std::fs::read(&appended).unwrap();
    bytes.extend_from_slice(&[0x00, 0x04, 0x01, b'x', b'y', b'z']);
    std::fs::write(&appended, &bytes).unwrap();
    let stderr = close_run(&ledger, &fee_close(&ledger, &appended, &trust(true, &public))).failure();
    assert!(stderr.contains("bytes were added after the signature"), "{stderr}");

    assert_eq!(cached_components(&ledger), 0, "a refused plugin was compiled");
    assert_eq!(ledger.entry_count("ACME-US"), before, "a refused plugin posted");
}

#[test]
fn a_plugin_needing_a_newer_closebook_is_refused() {
    // Proves the minimum closebook version: a package that needs closebook 99.0.0 is refused by
    // `close run`, naming both versions and the fix; a signed component cannot be packaged again.
    let ledger = Ledger::with_demo_journals();
    let plugin = fee_plugin(&ledger, "future.wasm");
    let plugin_text = plugin.display().to_string();
    ledger
        .run(&[
            "plugin",
            "package",
            &plugin_text,
            "--name",
            "management-fee",
            "--package-version",
            "2.0.0",
            "--summary",
            "Accrues the management fee.",
            "--minimum-closebook",
            "99.0.0",
        ])
        .success();
    let stderr = close_run(&ledger, &fee_close(&ledger, &plugin, "")).failure();
    assert!(
        stderr.contains("plugin management-fee: package management-fee needs closebook 99.0.0 or later, and this is closebook 0.1.0: upgrade closebook"),
        "{stderr}"
    );
    assert_eq!(cached_components(&ledger), 0);

    let (secret, _) = keygen(&ledger, "acme");
    ledger
        .run(&["plugin", "sign", &plugin_text, "--key", &secret])
        .success();
    let stderr = ledger
        .run(&[
            "plugin",
            "package",
            &plugin_text,
            "--name",
            "x",
            "--package-version",
            "1.0.0",
            "--summary",
            "x",
        ])
        .failure();
    assert!(stderr.contains("package the unsigned build, then sign it"), "{stderr}");
}

#[test]
fn pin_rewrites_the_hashes_keeps_comments_and_refuses_an_untrusted_plugin() {
    // Proves `closebook plugin pin`: a stale sha256 is replaced by the file's (the comment and
    // the other lines kept), the output names old and new hash, package and signer; with
    // `require_signature` an unsigned plugin is refused and the file is left as it was.
    let ledger = Ledger::with_demo_journals();
    let (secret, public) = keygen(&ledger, "acme");
    let plugin = fee_plugin(&ledger, "fee.wasm");
    let plugin_text = plugin.display().to_string();
    let config = fee_close(&ledger, &plugin, &trust(true, &public));
    ledger
        .run(&["plugin", "sign", &plugin_text, "--key", &secret])
        .success();
    let stale = std::fs::read_to_string(&config).unwrap();
    let stderr = close_run(&ledger, &config).failure();
    assert!(stderr.contains("closebook plugin pin"), "{stderr}");

    let pinned = ledger.run(&["plugin", "pin", &config]).success();
    let new_hash = sha256_of(&plugin);
    assert!(
        pinned
            .stdout
            .contains(&format!("pinned management-fee: sha256 {new_hash} (was ")),
        "{}",
        pinned.stdout
    );
    assert!(
        pinned
            .stdout
            .contains("package custom-plugin 0.1.0; signed by acme-consulting (key "),
        "{}",
        pinned.stdout
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("# the fee step"), "{text}");
    assert!(text.contains(&new_hash), "{text}");
    assert_eq!(text.lines().count(), stale.lines().count(), "{text}");
    close_run(&ledger, &config).success();

    // An unsigned build in its place: pin refuses it and writes nothing.
    std::fs::copy(plugin_wasm("custom_plugin"), &plugin).unwrap();
    let stderr = ledger.run(&["plugin", "pin", &config]).failure();
    assert!(stderr.contains("plugin management-fee: it is unsigned"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        text,
        "a refused pin changed the file"
    );
}
