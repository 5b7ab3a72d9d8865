//! `closebook plugin new`: the scaffolded project builds and passes its own test offline, builds
//! as a WebAssembly component the host can inspect, and bad names, occupied folders and a
//! wrong SDK path are refused with a message and nothing written. The Python and JavaScript
//! scaffolds (`--lang python|javascript`) build with componentize-py and componentize-js into
//! components that run in the sandbox.
//!
//! The scaffold's builds use their own target folder, `target/scaffold`, shared by every run:
//! the first run compiles the SDK's dependencies natively and for `wasm32-wasip2` (about 20 s
//! and 35 s on two cores), later runs only the new crate (a few seconds).

use closebook_tests::{Ledger, closebook_binary, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The first bytes of every WebAssembly component: the magic, then the component-model
/// version and layer (a core module would have 01 00 00 00).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn scaffold_target_dir() -> PathBuf {
    workspace_root().join("target/scaffold")
}

/// Runs cargo in the scaffolded project with the shared scaffold target folder, and panics
/// with its output unless it succeeds.
fn cargo(project: &Path, arguments: &[&str]) -> Output {
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(arguments)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        .output()
        .expect("cargo runs");
    eprintln!(
        "cargo {}: {:.1} s",
        arguments.join(" "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "cargo {} failed in {}\nstdout:\n{}\nstderr:\n{}",
        arguments.join(" "),
        project.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `closebook plugin new` with the given arguments and `CLOSEBOOK_SDK_PATH` set or not.
fn plugin_new(arguments: &[&str], sdk_path: Option<&Path>) -> (i32, String, String) {
    let mut command = Command::new(closebook_binary());
    command.args(["plugin", "new"]).args(arguments);
    match sdk_path {
        Some(path) => command.env("CLOSEBOOK_SDK_PATH", path),
        None => command.env_remove("CLOSEBOOK_SDK_PATH"),
    };
    let output = command.output().expect("closebook runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The names of the entries of a folder, sorted.
fn entries(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("the folder exists")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

// Proves a new project passes its own tests offline, builds as a component, and that the host
// reads the step's name from it.
#[test]
fn scaffold_passes_its_own_test_and_builds_a_component() {
    let ledger = Ledger::new();
    let dir = ledger.dir.path().display().to_string();
    let created = ledger.run(&["plugin", "new", "accrue-bonus", "--dir", &dir]).success();
    let project = ledger.dir.path().join("accrue-bonus");
    assert!(
        created.stdout.starts_with(&format!(
            "created plugin project accrue-bonus in {}:\n",
            project.display()
        )),
        "{}",
        created.stdout
    );
    assert!(created.stdout.contains("  cargo test\n"), "{}", created.stdout);
    assert_eq!(entries(&project), [".gitignore", "Cargo.toml", "README.md", "src"]);
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = std::fs::canonicalize(workspace_root().join("plugin-sdk")).unwrap();
    // By version, with the SDK of this checkout patched in (issue 21).
    assert!(manifest.contains("closebook-plugin-sdk = \"0.1\"\n"), "{manifest}");
    assert!(
        manifest.contains(&format!(
            "[patch.crates-io]\nclosebook-plugin-sdk = {{ path = \"{}\" }}",
            sdk.display()
        )),
        "{manifest}"
    );

    let tested = cargo(&project, &["test", "--offline"]);
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");

    // The native test never expands the component exports (they exist only on wasm32), so
    // only this build proves the scaffold is a plugin.
    cargo(
        &project,
        &["build", "--offline", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = scaffold_target_dir().join("wasm32-wasip2/release/accrue_bonus.wasm");
    let bytes = std::fs::read(&wasm).unwrap_or_else(|error| panic!("reading {}: {error}", wasm.display()));
    assert_eq!(bytes[..8], COMPONENT_HEADER, "{} is not a component", wasm.display());
    let inspected = ledger
        .run(&["plugin", "inspect", &wasm.display().to_string(), "--format", "json"])
        .success()
        .json();
    assert_eq!(inspected["name"], "accrue-bonus");
}

// Proves bad names, an occupied folder and a wrong SDK path are refused with a message that
// says why, and that nothing is written.
#[test]
fn refusals_name_the_problem_and_write_nothing() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path();
    let dir_text = dir.display().to_string();

    for (name, message) in [
        (
            "Accrue",
            "error: plugin name `Accrue` has upper-case letters: use `accrue`",
        ),
        ("2fast", "error: plugin name `2fast` must start with a letter"),
        ("my plugin", "error: plugin name `my plugin` contains ` `"),
        ("../escape", "error: plugin name `../escape` contains `.`"),
        ("fn", "error: plugin name `fn` is a Rust keyword"),
    ] {
        let (status, _, stderr) = plugin_new(&[name, "--dir", &dir_text], None);
        assert_eq!(status, 1, "{name} was accepted");
        assert!(stderr.starts_with(message), "{name}: {stderr}");
    }
    assert!(entries(dir).is_empty(), "a refused name wrote {:?}", entries(dir));

    let occupied = dir.join("accrue-bonus");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let (status, _, stderr) = plugin_new(&["accrue-bonus", "--dir", &dir_text], None);
    assert_eq!(status, 1);
    assert_eq!(
        stderr,
        format!(
            "error: folder {} already exists and is not empty: choose another name or --dir, or remove the folder\n",
            occupied.display()
        )
    );
    assert_eq!(entries(&occupied), ["notes.txt"]);
    assert_eq!(std::fs::read_to_string(occupied.join("notes.txt")).unwrap(), "mine");

    let not_the_sdk = workspace_root().join("host");
    let (status, _, stderr) = plugin_new(&["fresh", "--dir", &dir_text], Some(&not_the_sdk));
    assert_eq!(status, 1);
    assert!(
        stderr.contains("is not the manifest of closebook-plugin-sdk (from CLOSEBOOK_SDK_PATH)"),
        "{stderr}"
    );
    assert!(!dir.join("fresh").exists());
}

/// Runs a build command of a scaffolded Python or JavaScript project and panics with its
/// output unless it succeeds.
fn build(project: &Path, program: &str, arguments: &[&str]) {
    let started = Instant::now();
    let output = Command::new(program)
        .args(arguments)
        .current_dir(project)
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    eprintln!(
        "{program} {}: {:.1} s",
        arguments.join(" "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "{program} {} failed in {}\nstdout:\n{}\nstderr:\n{}",
        arguments.join(" "),
        project.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Scaffolds `name` in `language` into a demo ledger's folder, builds it with `build_project`,
/// and runs the component in the sandbox with the template's configuration: the accrual of
/// 1,500.00 on 6200 against 2100 at the end of January, reversed on February 1st.
fn scaffold_builds_and_runs(language: &str, name: &str, files: &[&str], build_project: impl Fn(&Path)) {
    let ledger = Ledger::with_demo_setup();
    let dir = ledger.dir.path().display().to_string();
    let created = ledger
        .run(&["plugin", "new", name, "--lang", language, "--dir", &dir])
        .success();
    let project = ledger.dir.path().join(name);
    assert!(
        created.stdout.contains("closebook plugin inspect"),
        "{}",
        created.stdout
    );
    assert_eq!(entries(&project), files);
    assert_eq!(
        std::fs::read_to_string(project.join("wit/closebook.wit")).unwrap(),
        std::fs::read_to_string(workspace_root().join("plugin-sdk/wit/v0.1/closebook.wit")).unwrap(),
        "the project's WIT must be the frozen interface"
    );
    build_project(&project);
    let wasm = project.join(format!("{}.wasm", name.replace('-', "_")));
    let bytes = std::fs::read(&wasm).unwrap_or_else(|error| panic!("reading {}: {error}", wasm.display()));
    assert_eq!(bytes[..8], COMPONENT_HEADER, "{} is not a component", wasm.display());
    let wasm = wasm.display().to_string();
    let inspected = ledger
        .run(&["plugin", "inspect", &wasm, "--format", "json"])
        .success()
        .json();
    assert_eq!(inspected["name"], name);
    let run = ledger
        .run(&[
            "plugin",
            "run",
            &wasm,
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--config",
            r#"{"expense_account":"6200","accrual_account":"2100","amount":"1500.00"}"#,
            "--format",
            "json",
        ])
        .success()
        .json();
    let entry = &run["output"]["Ok"]["entries"][0];
    assert_eq!(entry["date"], "2026-01-31", "{run}");
    assert_eq!(entry["reversal_date"], "2026-02-01", "{run}");
    assert_eq!(entry["lines"][0]["amount"], "1500.00", "{run}");
    assert_eq!(entry["lines"][1]["amount"], "-1500.00", "{run}");
    let refused = ledger
        .run(&[
            "plugin",
            "run",
            &wasm,
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--config",
            r#"{"expense_account":"6200","accrual_account":"2100","amount":"1500.005"}"#,
        ])
        .failure();
    assert!(
        refused.contains("amount 1500.005 has more decimals than USD allows (2): round it"),
        "{refused}"
    );
}

// Proves `--lang python` scaffolds a project whose build script (componentize-py, installed by
// scripts/build-polyglot-plugins in CI) makes a component that proposes the accrual, and refuses
// an amount with too many decimals.
#[test]
fn python_scaffold_builds_a_component_that_runs() {
    scaffold_builds_and_runs(
        "python",
        "accrue-bonus-py",
        &[".gitignore", "README.md", "app.py", "build.sh", "wit"],
        |project| build(project, "bash", &["build.sh"]),
    );
}

// Proves `--lang javascript` scaffolds a project that componentize-js builds into a component
// that proposes the accrual. The project borrows the node_modules of examples/js-allocation
// (the same pinned componentize-js, installed by scripts/build-polyglot-plugins) rather than
// downloading 400 MB again.
#[test]
fn javascript_scaffold_builds_a_component_that_runs() {
    scaffold_builds_and_runs(
        "javascript",
        "accrue-bonus-js",
        &[".gitignore", "README.md", "app.js", "package.json", "wit"],
        |project| {
            let modules = workspace_root().join("examples/js-allocation/node_modules");
            assert!(
                modules.join(".bin/componentize-js").exists(),
                "{} is missing: run `scripts/build-polyglot-plugins javascript` first (scripts/test does)",
                modules.display()
            );
            std::os::unix::fs::symlink(&modules, project.join("node_modules")).unwrap();
            build(project, "npm", &["run", "build"]);
        },
    );
}
