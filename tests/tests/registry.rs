//! Plugins through a real OCI registry (issue 21): Debian's `docker-registry` (distribution 2.8)
//! started by this test process on 127.0.0.1 at a free port, with its storage in a temporary
//! folder and a generated config file, and stopped at the end. Every registry scenario runs in
//! this one test, against the one registry: publish, add and a close run from close.lock; a
//! signature the close does not trust; a moved tag (the lock wins, `update` shows the change);
//! a digest the registry no longer matches; the registry down (a cached, pinned close still
//! runs; an uncached one fails with a clear error). A second registry, with htpasswd
//! authentication, proves that credentials are read where `docker login` keeps them.

use closebook_tests::{Ledger, Run, plugin_wasm};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the registry may take to answer after it starts.
const REGISTRY_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry binary of Debian's `docker-registry` package (scripts/test installs it).
const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry, stopped when dropped.
struct Registry {
    child: Child,
    address: String,
    _storage: tempfile::TempDir,
}

/// A user of the authenticating registry: `consultant`, password `s3cret-test`, as an htpasswd
/// line (bcrypt at cost 4, the lowest, so the test spends no time hashing; made with
/// Python's `crypt.crypt('s3cret-test', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`).
const HTPASSWD: &str = "consultant:$2b$04$2uXStZBHsRT4MLv7Ns2HUu5nDOg/o/f/UnKV5/fhwmPw897vSiUwW\n";

impl Registry {
    fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry that answers only users of this htpasswd file (distribution's `auth.htpasswd`).
    fn start_with(htpasswd: Option<&str>) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: `apt-get install docker-registry` (scripts/test does)"
        );
        let storage = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            storage.path().join("data").display()
        );
        if let Some(users) = htpasswd {
            let file = storage.path().join("htpasswd");
            std::fs::write(&file, users).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: closebook-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry {
            child,
            address,
            _storage: storage,
        };
        let started = Instant::now();
        loop {
            // Any answer (a 401 from an authenticating one) means it is up.
            match ureq::get(&format!("http://{}/v2/", registry.address)).call() {
                Ok(_) | Err(ureq::Error::StatusCode(_)) => break,
                Err(_) => {}
            }
            assert!(started.elapsed() < REGISTRY_START_TIMEOUT, "the registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The management-fee task of the demo, alone in a close of ACME-US.
const FEE_TASK: &str = r#"
[[task]]
id = "management-fee"
name = "Accrue the management fee"
owner = "bob"
step = "plugin:management-fee"
config = { source_accounts = ["4000"], percent = "2.5", expense_account = "6900", accrual_account = "2100", dimension = "department" }
"#;

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// The fee plugin packaged as `version` and signed with `key`, in the ledger's folder.
fn fee_release(ledger: &Ledger, version: &str, key: &str) -> PathBuf {
    let path = ledger.dir.path().join(format!("fee-{version}.wasm"));
    std::fs::copy(plugin_wasm("custom_plugin"), &path).unwrap();
    ledger
        .run(&[
            "plugin",
            "package",
            &text(&path),
            "--name",
            "management-fee",
            "--package-version",
            version,
            "--summary",
            "Accrues the management fee.",
            "--license",
            "Apache-2.0",
        ])
        .success();
    ledger.run(&["plugin", "sign", &text(&path), "--key", key]).success();
    path
}

fn keygen(ledger: &Ledger, name: &str) -> (String, String) {
    let out = ledger.dir.path().join(name);
    ledger.run(&["plugin", "keygen", "--out", &text(&out)]).success();
    let public = std::fs::read_to_string(out.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned();
    (text(&out.with_extension("key")), public)
}

fn close_run(ledger: &Ledger, config: &str) -> Run {
    ledger.run(&["close", "run", "--config", config, "--period", "2026-01"])
}

#[test]
fn plugins_publish_add_lock_update_and_run_offline_through_a_registry() {
    // Proves the registry path end to end; each scenario is named below.
    let mut registry = Registry::start();
    let ledger = Ledger::with_demo_journals();
    let (secret, public) = keygen(&ledger, "acme");
    let (stranger, _) = keygen(&ledger, "stranger");
    let repository = format!("oci://{}/acme/management-fee", registry.address);

    // Publish 1.2.0, signed; the tag must be the package's version.
    let release = fee_release(&ledger, "1.2.0", &secret);
    let refused = ledger
        .run(&["plugin", "publish", &text(&release), &format!("{repository}:1.3.0")])
        .failure();
    assert!(
        refused.contains("the tag 1.3.0 is not the package's version 1.2.0"),
        "{refused}"
    );
    let published = ledger
        .run(&["plugin", "publish", &text(&release), &format!("{repository}:1.2.0")])
        .success();
    assert!(published.stdout.contains("manifest sha256:"), "{}", published.stdout);

    // Add: the highest tag matching ^1.2, checked against [trust], locked and cached.
    let config = ledger.write(
        "close.toml",
        &format!(
            "[close]\nname = \"fee\"\nentities = [\"ACME-US\"]\n\n[trust]\nrequire_signature = true\n\n[trust.publishers.acme-consulting]\nkeys = [\"{public}\"]\n{FEE_TASK}"
        ),
    );
    let config_path = PathBuf::from(&config);
    // Before `add`, a task naming the plugin cannot load.
    assert!(
        close_run(&ledger, &config)
            .failure()
            .contains("plugin management-fee is not declared")
    );
    let added = ledger
        .run(&[
            "plugin",
            "add",
            "management-fee",
            &format!("{repository}:^1.2"),
            "--config",
            &config,
        ])
        .success();
    assert!(
        added.stdout.contains("added management-fee: ")
            && added
                .stdout
                .contains(":1.2.0 (package management-fee 1.2.0; signed by acme-consulting"),
        "{}",
        added.stdout
    );
    let lock_path = config_path.with_file_name("close.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("version = \"1.2.0\""), "{lock}");
    let close_text = std::fs::read_to_string(&config_path).unwrap();
    assert!(
        close_text.contains(&format!(
            "management-fee = {{ oci = \"{repository}\", version = \"^1.2\" }}"
        )),
        "{close_text}"
    );

    // A close run from the lock posts the fee.
    let before = ledger.entry_count("ACME-US");
    close_run(&ledger, &config).success();
    assert!(
        ledger.entry_count("ACME-US") > before,
        "the locked plugin posted nothing"
    );

    // A tag moved: 1.2.0 pushed again with other bytes (signed by a stranger). The lock wins:
    // nothing is pulled for a cached, locked component; `update` shows the change and, with
    // [trust] requiring acme's key, refuses the stranger's component.
    // (Another key signs other bytes, so the component and manifest digests differ.)
    let moved = fee_release(&ledger, "1.2.0", &stranger);
    ledger
        .run(&["plugin", "publish", &text(&moved), &format!("{repository}:1.2.0")])
        .success();
    let refused = ledger.run(&["plugin", "update", "--config", &config]).failure();
    assert!(refused.contains("which close.toml does not trust"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(&lock_path).unwrap(),
        lock,
        "a refused update changed the lock"
    );

    // A newer trusted release: `update` shows old and new version, digest and signer, and writes
    // only with --yes.
    let newer = fee_release(&ledger, "1.3.0", &secret);
    ledger
        .run(&["plugin", "publish", &text(&newer), &format!("{repository}:1.3.0")])
        .success();
    let shown = ledger.run(&["plugin", "update", "--config", &config]).success();
    assert!(
        shown.stdout.contains("management-fee: 1.2.0 -> 1.3.0"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("manifest sha256:"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("signer signed by acme-consulting"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("nothing written"), "{}", shown.stdout);
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock);
    ledger
        .run(&["plugin", "update", "--config", &config, "--yes"])
        .success();
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("version = \"1.3.0\""), "{lock}");

    // A digest mismatch: the lock pins a component sha256 the registry's manifest does not hold;
    // with the cache empty, the pull is refused.
    let tampered_lock = {
        let mut lines: Vec<String> = lock.lines().map(str::to_owned).collect();
        for line in &mut lines {
            if line.starts_with("component_sha256 = ") {
                *line = format!("component_sha256 = \"{}\"", "0".repeat(64));
            }
        }
        lines.join("\n") + "\n"
    };
    std::fs::write(&lock_path, &tampered_lock).unwrap();
    let stderr = close_run(&ledger, &config).failure();
    assert!(
        stderr.contains("the registry does not serve what was locked"),
        "{stderr}"
    );
    std::fs::write(&lock_path, &lock).unwrap();

    // The registry down: the cached, pinned close still runs (offline); with the cache
    // removed, the run fails naming the plugin and the registry.
    registry.stop();
    close_run(&ledger, &config).success();
    std::fs::remove_dir_all(config_path.with_file_name(".closebook-plugins")).unwrap();
    let stderr = close_run(&ledger, &config).failure();
    assert!(
        stderr.contains("plugin management-fee is not in the cache") && stderr.contains("could not be pulled"),
        "{stderr}"
    );
}

/// A docker configuration folder (what `docker login` writes) with `password` for the user
/// `consultant` at `registry`, or no credentials at all.
fn docker_config(ledger: &Ledger, folder: &str, registry: &str, password: Option<&str>) -> String {
    use base64::Engine as _;
    let path = ledger.dir.path().join(folder);
    std::fs::create_dir_all(&path).unwrap();
    let auths = match password {
        Some(password) => {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("consultant:{password}"));
            format!("{{\"{registry}\": {{\"auth\": \"{auth}\"}}}}")
        }
        None => "{}".to_owned(),
    };
    std::fs::write(path.join("config.json"), format!("{{\"auths\": {auths}}}")).unwrap();
    text(&path)
}

#[test]
fn a_registry_that_requires_credentials_gets_those_docker_login_stored() {
    // Proves registry credentials: with none configured for the registry, publish is refused
    // naming `docker login HOST` and where they are read; with a wrong password, refused
    // saying they were refused; with the right ones (from $DOCKER_CONFIG/config.json, as
    // `docker login` writes it) publish, add and a close run from the lock succeed.
    let registry = Registry::start_with(Some(HTPASSWD));
    let ledger = Ledger::with_demo_journals();
    let (secret, public) = keygen(&ledger, "acme");
    let repository = format!("oci://{}/acme/management-fee", registry.address);
    let release = fee_release(&ledger, "1.0.0", &secret);
    let publish = ["plugin", "publish", &text(&release), &format!("{repository}:1.0.0")];

    let none = docker_config(&ledger, "docker-none", &registry.address, None);
    let refused = ledger
        .run_with_environment("alice", &[("DOCKER_CONFIG", &none)], &publish)
        .failure();
    assert!(
        refused.contains(&format!(
            "the registry {0} requires credentials, and none are configured for it: sign in with `docker login {0}` (closebook reads {none}/config.json)",
            registry.address
        )),
        "{refused}"
    );

    let broken = ledger.dir.path().join("docker-broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("config.json"), "{ not json").unwrap();
    let refused = ledger
        .run_with_environment("alice", &[("DOCKER_CONFIG", &text(&broken))], &publish)
        .failure();
    assert!(
        refused.contains(&format!(
            "reading the credentials for {} in {}/config.json: ",
            registry.address,
            text(&broken)
        )) && refused.contains("fix its entry with `docker login"),
        "{refused}"
    );

    let wrong = docker_config(&ledger, "docker-wrong", &registry.address, Some("wrong"));
    let refused = ledger
        .run_with_environment("alice", &[("DOCKER_CONFIG", &wrong)], &publish)
        .failure();
    assert!(
        refused.contains(&format!(
            "the registry {} refused the credentials configured for it in {wrong}/config.json",
            registry.address
        )),
        "{refused}"
    );

    let right = docker_config(&ledger, "docker-right", &registry.address, Some("s3cret-test"));
    let environment = [("DOCKER_CONFIG", right.as_str())];
    ledger.run_with_environment("alice", &environment, &publish).success();
    let config = ledger.write(
        "close.toml",
        &format!("[close]\nname = \"fee\"\nentities = [\"ACME-US\"]\n\n[trust]\nrequire_signature = true\nkeys = [\"{public}\"]\n{FEE_TASK}"),
    );
    let add = [
        "plugin",
        "add",
        "management-fee",
        &format!("{repository}:^1"),
        "--config",
        &config,
    ];
    let refused = ledger
        .run_with_environment("alice", &[("DOCKER_CONFIG", &none)], &add)
        .failure();
    assert!(refused.contains("requires credentials"), "{refused}");
    let added = ledger.run_with_environment("alice", &environment, &add).success();
    assert!(added.stdout.contains("signed by trusted key"), "{}", added.stdout);
    let before = ledger.entry_count("ACME-US");
    close_run(&ledger, &config).success();
    assert!(
        ledger.entry_count("ACME-US") > before,
        "the locked plugin posted nothing"
    );
}

/// The media types of the CNCF Wasm OCI artifact layout
/// (tag-reference/wasm-oci-artifact), which `wkg` and every `oci-wasm` client read and write.
const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Pushes `bytes` as a blob of `repository` by the distribution API (a POST, then a PUT of
/// the whole blob), as any registry client does.
fn push_blob(registry: &str, repository: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let started = ureq::post(&format!("http://{registry}/v2/{repository}/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let location = started.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{registry}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{location}{separator}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .send(bytes)
        .unwrap();
    digest
}

#[test]
fn published_plugins_use_the_cncf_wasm_layout_and_one_pushed_by_another_client_can_be_added() {
    // Proves interoperability with other Wasm OCI clients (wkg, oci-wasm) at the wire: what
    // `plugin publish` pushes is read back by the plain distribution API and has the CNCF Wasm
    // artifact layout (an OCI manifest, the wasm config media type with architecture `wasm`,
    // os `wasip2` and the layer digests, one `application/wasm` layer holding the component
    // byte for byte); and a component pushed by hand in that layout, with none of closebook's
    // annotations, is resolved, pulled, locked and run by `plugin add` and `close run`.
    let registry = Registry::start();
    let ledger = Ledger::with_demo_journals();
    let (secret, public) = keygen(&ledger, "acme");
    let release = fee_release(&ledger, "2.0.0", &secret);
    let repository = "acme/management-fee";
    ledger
        .run(&[
            "plugin",
            "publish",
            &text(&release),
            &format!("oci://{}/{repository}:2.0.0", registry.address),
        ])
        .success();
    let manifest: serde_json::Value =
        ureq::get(&format!("http://{}/v2/{repository}/manifests/2.0.0", registry.address))
            .header("accept", OCI_MANIFEST_MEDIA_TYPE)
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST_MEDIA_TYPE, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE, "{manifest}");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], WASM_LAYER_MEDIA_TYPE, "{manifest}");
    let component = std::fs::read(&release).unwrap();
    assert_eq!(layers[0]["digest"], sha256_digest(&component).as_str(), "{manifest}");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "2.0.0");
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = ureq::get(&format!(
        "http://{}/v2/{repository}/blobs/{config_digest}",
        registry.address
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    assert_eq!(config["architecture"], "wasm", "{config}");
    assert_eq!(config["os"], "wasip2", "{config}");
    assert_eq!(config["layerDigests"][0], layers[0]["digest"], "{config}");

    // The reverse: the same component pushed by hand as 2.1.0, in the layout alone.
    let layer_digest = push_blob(&registry.address, repository, &component);
    let config = serde_json::json!({
        "created": "2026-12-06T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": { "exports": [], "imports": [], "target": null },
    })
    .to_string();
    let config_digest = push_blob(&registry.address, repository, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": { "mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": WASM_LAYER_MEDIA_TYPE, "digest": layer_digest, "size": component.len() }],
    })
    .to_string();
    ureq::put(&format!("http://{}/v2/{repository}/manifests/2.1.0", registry.address))
        .header("content-type", OCI_MANIFEST_MEDIA_TYPE)
        .send(manifest.as_bytes())
        .unwrap();
    let config = ledger.write(
        "close.toml",
        &format!("[close]\nname = \"fee\"\nentities = [\"ACME-US\"]\n\n[trust]\nrequire_signature = true\nkeys = [\"{public}\"]\n{FEE_TASK}"),
    );
    let added = ledger
        .run(&[
            "plugin",
            "add",
            "management-fee",
            &format!("oci://{}/{repository}:^2", registry.address),
            "--config",
            &config,
        ])
        .success();
    assert!(
        added.stdout.contains(":2.1.0 (package management-fee 2.0.0"),
        "{}",
        added.stdout
    );
    let before = ledger.entry_count("ACME-US");
    close_run(&ledger, &config).success();
    assert!(
        ledger.entry_count("ACME-US") > before,
        "the added plugin posted nothing"
    );
}
