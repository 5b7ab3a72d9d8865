//! `closebook plugin new NAME [--dir DIR] [--lang rust|python|javascript]`: scaffolds a
//! close-step plugin project. A Rust project builds, and passes its own test, offline; a Python
//! or JavaScript one carries the frozen WIT file and builds with componentize-py or
//! componentize-js, which its build installs from PyPI or npm, and passes its own native tests
//! with nothing installed, through the SDK's test harness for its language (one file of the
//! standard library only, `plugin-sdk/python/closebook_testing.py` or
//! `plugin-sdk/javascript/closebook-testing.mjs`, copied into the project). The templates live
//! next to the SDK (`plugin-sdk/template/LANGUAGE/`) and are embedded in the binary, so the
//! command reads no files at run time except, for Rust, the SDK's manifest, to check that the
//! path the project will depend on really holds the SDK.
//!
//! Placeholders in the template: `{{name}}` (the package name), `{{crate_name}}` (its library
//! name, as in the `.wasm` file name), `{{sdk_version}}` (the SDK version a Rust project
//! depends on, this closebook's `MAJOR.MINOR`) and `{{sdk_patch}}` (a `[patch.crates-io]`
//! table taking the SDK from a checkout's folder, or nothing).

use crate::cli::PluginLanguage;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Points new projects at another SDK folder than the one this binary was built from.
pub const SDK_PATH_VARIABLE: &str = "CLOSEBOOK_SDK_PATH";

/// The SDK of the checkout this binary was built from: when it is still there, new projects
/// take the SDK from it (a `[patch.crates-io]` of the version they depend on), so a project
/// created inside the repository builds offline against this very SDK.
const SDK_PATH_BUILT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk");

/// The SDK version new projects depend on: the SDK is released with closebook, so this
/// closebook's `MAJOR.MINOR` (a caret requirement: `0.1` accepts 0.1.x).
fn sdk_version() -> String {
    let mut parts = env!("CARGO_PKG_VERSION").split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    format!("{major}.{minor}")
}

/// The SDK's package name, checked in the manifest at the SDK path.
const SDK_PACKAGE_NAME: &str = "closebook-plugin-sdk";

/// The longest plugin name accepted, in bytes: crates.io's limit for a package name, so that
/// a plugin can be published under the name it was created with.
pub const PLUGIN_NAME_BYTES_MAX: usize = 64;

/// Rust keywords, strict and reserved, in every edition: cargo refuses them as package names
/// because the library name would be a keyword. (`Self` is refused for its upper-case letter.)
const RUST_KEYWORDS: [&str; 51] = [
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Library names of Rust's built-in crates: a package named like one would shadow it.
const BUILT_IN_CRATES: [&str; 5] = ["alloc", "core", "proc_macro", "std", "test"];

/// File names Windows reserves in every folder: a project named like one could not be checked
/// out there.
const WINDOWS_RESERVED_NAMES: [&str; 22] = [
    "aux", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "con", "lpt1", "lpt2", "lpt3",
    "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "nul", "prn",
];

/// One file of a template: where it goes in the new project, and its text with placeholders.
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

/// The Rust template. `Cargo.toml` and `.gitignore` are stored under other names so that the
/// template folder is neither a cargo package nor an ignore file of the closebook repository.
const RUST_TEMPLATE: [TemplateFile; 4] = [
    TemplateFile {
        path: "Cargo.toml",
        text: include_str!("../../../plugin-sdk/template/rust/Cargo.toml.template"),
    },
    TemplateFile {
        path: "src/lib.rs",
        text: include_str!("../../../plugin-sdk/template/rust/src/lib.rs"),
    },
    TemplateFile {
        path: "README.md",
        text: include_str!("../../../plugin-sdk/template/rust/README.md"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../plugin-sdk/template/rust/gitignore"),
    },
];

/// closebook's plugin interface, copied into Python and JavaScript projects (`wit/`): their
/// build tools generate bindings from it, and there is no SDK crate to carry it. The newest
/// released version, as the Rust SDK's.
const INTERFACE_WIT: &str = include_str!("../../../plugin-sdk/wit/v0.2/closebook.wit");

/// The Python template (componentize-py), with the SDK's native test harness. `.gitignore` is
/// stored as `gitignore`, as for Rust.
const PYTHON_TEMPLATE: [TemplateFile; 7] = [
    TemplateFile {
        path: "app.py",
        text: include_str!("../../../plugin-sdk/template/python/app.py"),
    },
    TemplateFile {
        path: "test_app.py",
        text: include_str!("../../../plugin-sdk/template/python/test_app.py"),
    },
    TemplateFile {
        path: "closebook_testing.py",
        text: include_str!("../../../plugin-sdk/python/closebook_testing.py"),
    },
    TemplateFile {
        path: "build.sh",
        text: include_str!("../../../plugin-sdk/template/python/build.sh"),
    },
    TemplateFile {
        path: "README.md",
        text: include_str!("../../../plugin-sdk/template/python/README.md"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../plugin-sdk/template/python/gitignore"),
    },
    TemplateFile {
        path: "wit/closebook.wit",
        text: INTERFACE_WIT,
    },
];

/// The JavaScript template (componentize-js), with the SDK's native test harness.
/// `package.json` is stored under another name so that the template folder is not an npm
/// package of the closebook repository.
const JAVASCRIPT_TEMPLATE: [TemplateFile; 7] = [
    TemplateFile {
        path: "app.js",
        text: include_str!("../../../plugin-sdk/template/javascript/app.js"),
    },
    TemplateFile {
        path: "app.test.js",
        text: include_str!("../../../plugin-sdk/template/javascript/app.test.js"),
    },
    TemplateFile {
        path: "closebook-testing.mjs",
        text: include_str!("../../../plugin-sdk/javascript/closebook-testing.mjs"),
    },
    TemplateFile {
        path: "package.json",
        text: include_str!("../../../plugin-sdk/template/javascript/package.json.template"),
    },
    TemplateFile {
        path: "README.md",
        text: include_str!("../../../plugin-sdk/template/javascript/README.md"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../plugin-sdk/template/javascript/gitignore"),
    },
    TemplateFile {
        path: "wit/closebook.wit",
        text: INTERFACE_WIT,
    },
];

/// What the placeholders of a template stand for.
struct Placeholders {
    name: String,
    crate_name: String,
    sdk_version: String,
    sdk_patch: String,
}

impl Placeholders {
    fn render(&self, text: &str) -> String {
        text.replace("{{name}}", &self.name)
            .replace("{{crate_name}}", &self.crate_name)
            .replace("{{sdk_version}}", &self.sdk_version)
            .replace("{{sdk_patch}}", &self.sdk_patch)
    }
}

/// Creates the project `dir/NAME` from the template for `language`, and prints what was
/// created and the commands to run next.
pub fn run_new(name: &str, dir: &Path, language: PluginLanguage) -> anyhow::Result<()> {
    validate_name(name)?;
    let project = dir.join(name);
    let crate_name = name.replace('-', "_");
    let template: &[TemplateFile] = match language {
        PluginLanguage::Rust => &RUST_TEMPLATE,
        PluginLanguage::Python => &PYTHON_TEMPLATE,
        PluginLanguage::Javascript => &JAVASCRIPT_TEMPLATE,
    };
    // Only a Rust project depends on the SDK crate; the others carry the WIT file.
    let sdk = match language {
        PluginLanguage::Rust => sdk_folder()?,
        PluginLanguage::Python | PluginLanguage::Javascript => None,
    };
    let placeholders = Placeholders {
        name: name.to_owned(),
        crate_name: crate_name.clone(),
        sdk_version: sdk_version(),
        sdk_patch: sdk.as_deref().map(sdk_patch_table).unwrap_or_default(),
    };
    create_project(&project, template, &placeholders)?;

    let mut report = format!("created plugin project {name} in {}:\n", project.display());
    for file in template {
        report.push_str(&format!("  {}\n", file.path));
    }
    if language != PluginLanguage::Rust {
        let (test, build) = match language {
            PluginLanguage::Python => ("python3 -m unittest", "bash build.sh"),
            _ => ("node --test", "npm install\n  npm run build"),
        };
        report.push_str(&format!(
            "\nnext:\n  cd {}\n  {test}\n  {build}\n  closebook plugin inspect {crate_name}.wasm\n",
            project.display()
        ));
        return crate::output::print(&report);
    };
    let source = match &sdk {
        Some(sdk) => format!("taken from {sdk} ([patch.crates-io]; set {SDK_PATH_VARIABLE} to use another)"),
        None => "from crates.io".to_owned(),
    };
    report.push_str(&format!(
        "it depends on the closebook plugin SDK {}, {source}\n\n\
         next:\n  cd {}\n  cargo test\n  cargo build --release --target wasm32-wasip2\n  \
         closebook plugin inspect target/wasm32-wasip2/release/{}.wasm\n",
        placeholders.sdk_version,
        project.display(),
        placeholders.crate_name
    ));
    crate::output::print(&report)
}

/// Refuses a name that is not a valid Rust package name, or that would make a bad plugin name:
/// ASCII letters, digits, `-` and `_` only, lower-case, starting with a letter, at most
/// [`PLUGIN_NAME_BYTES_MAX`] bytes, neither a keyword nor the name of a built-in crate.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty(),
        "the plugin name is empty: give a name such as accrue-bonus"
    );
    anyhow::ensure!(
        name.len() <= PLUGIN_NAME_BYTES_MAX,
        "plugin name `{name}` is {} bytes long; the limit is {PLUGIN_NAME_BYTES_MAX}",
        name.len()
    );
    if let Some(character) = name
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || *character == '-' || *character == '_'))
    {
        anyhow::bail!(
            "plugin name `{name}` contains `{character}`: use lower-case letters, digits, `-` and `_`, e.g. accrue-bonus"
        );
    }
    anyhow::ensure!(
        !name.chars().any(|character| character.is_ascii_uppercase()),
        "plugin name `{name}` has upper-case letters: use `{}`",
        name.to_ascii_lowercase()
    );
    anyhow::ensure!(
        name.starts_with(|character: char| character.is_ascii_alphabetic()),
        "plugin name `{name}` must start with a letter"
    );
    let crate_name = name.replace('-', "_");
    anyhow::ensure!(
        !RUST_KEYWORDS.contains(&crate_name.as_str()),
        "plugin name `{name}` is a Rust keyword: choose another name"
    );
    anyhow::ensure!(
        !BUILT_IN_CRATES.contains(&crate_name.as_str()),
        "plugin name `{name}` is the name of Rust's built-in `{crate_name}` crate: choose another name"
    );
    anyhow::ensure!(
        !WINDOWS_RESERVED_NAMES.contains(&name),
        "plugin name `{name}` is a reserved file name on Windows: choose another name"
    );
    Ok(())
}

/// The `[patch.crates-io]` table that takes the SDK from the folder `sdk`.
fn sdk_patch_table(sdk: &str) -> String {
    format!(
        "\n# The SDK of the closebook checkout this project was created from, instead of the published\n\
         # one: the project builds offline against the SDK of that closebook. Delete this table to\n\
         # build against crates.io.\n\
         [patch.crates-io]\n\
         {SDK_PACKAGE_NAME} = {{ path = {} }}\n",
        toml::Value::String(sdk.to_owned())
    )
}

/// The absolute path of the SDK folder new projects take the SDK from, as text:
/// `CLOSEBOOK_SDK_PATH` (refused when it does not hold the SDK's manifest), else the SDK this
/// binary was built from when it is still there, else none (the published SDK is used).
fn sdk_folder() -> anyhow::Result<Option<String>> {
    let (folder, origin) = match std::env::var_os(SDK_PATH_VARIABLE) {
        Some(folder) if !folder.is_empty() => (PathBuf::from(folder), format!("from {SDK_PATH_VARIABLE}")),
        _ if Path::new(SDK_PATH_BUILT).join("Cargo.toml").is_file() => (
            PathBuf::from(SDK_PATH_BUILT),
            "the checkout this closebook was built from".to_owned(),
        ),
        _ => return Ok(None),
    };
    let fix = format!("set {SDK_PATH_VARIABLE} to the plugin-sdk folder of a closebook checkout");
    let manifest_path = folder.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "the closebook plugin SDK is not at {} ({origin}): {fix}",
            folder.display()
        )
    })?;
    let package_name = toml::from_str::<toml::Table>(&manifest)
        .ok()
        .and_then(|table| table.get("package")?.get("name")?.as_str().map(str::to_owned));
    anyhow::ensure!(
        package_name.as_deref() == Some(SDK_PACKAGE_NAME),
        "{} is not the manifest of {SDK_PACKAGE_NAME} ({origin}): {fix}",
        manifest_path.display()
    );
    let absolute = std::fs::canonicalize(&folder).with_context(|| format!("resolving {}", folder.display()))?;
    let Some(text) = absolute.to_str() else {
        anyhow::bail!(
            "the SDK path {} is not valid UTF-8, which Cargo.toml cannot hold: {fix}",
            absolute.display()
        );
    };
    // `canonicalize` gives Windows verbatim paths (`\\?\C:\…`); a plain drive path is what
    // people expect to read in their Cargo.toml.
    let text = text
        .strip_prefix(r"\\?\")
        .filter(|rest| rest.as_bytes().get(1) == Some(&b':'))
        .unwrap_or(text);
    Ok(Some(text.to_owned()))
}

/// Writes every template file under `project`, which must be missing or an empty folder. When
/// writing fails, a folder this call created is removed again, so that a retry is not refused.
fn create_project(project: &Path, template: &[TemplateFile], placeholders: &Placeholders) -> anyhow::Result<()> {
    let created = match std::fs::read_dir(project) {
        Ok(mut entries) => {
            anyhow::ensure!(
                entries.next().is_none(),
                "folder {} already exists and is not empty: choose another name or --dir, or remove the folder",
                project.display()
            );
            false
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(project).with_context(|| format!("creating folder {}", project.display()))?;
            true
        }
        Err(error) if project.exists() => {
            return Err(error).with_context(|| {
                format!(
                    "{} already exists and is not a folder: choose another name or --dir",
                    project.display()
                )
            });
        }
        Err(error) => return Err(error).with_context(|| format!("reading folder {}", project.display())),
    };
    let written = write_files(project, template, placeholders);
    if written.is_err() && created {
        // Best effort: the write error is the one to report, whatever happens here.
        let _ = std::fs::remove_dir_all(project);
    }
    written
}

fn write_files(project: &Path, template: &[TemplateFile], placeholders: &Placeholders) -> anyhow::Result<()> {
    for file in template {
        let path = project.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating folder {}", parent.display()))?;
        }
        // `create_new`: never overwrite a file, even one that appeared since the check.
        let mut output = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        output
            .write_all(placeholders.render(file.text).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders() -> Placeholders {
        Placeholders {
            name: "accrue-bonus".to_owned(),
            crate_name: "accrue_bonus".to_owned(),
            sdk_version: "0.1".to_owned(),
            sdk_patch: sdk_patch_table(r#"C:\sdk "x""#),
        }
    }

    #[test]
    fn names_follow_package_rules() {
        // Valid names pass; each refusal names the problem and, when it can, the fix.
        for name in ["accrue-bonus", "fx_revalue2", "a"] {
            validate_name(name).unwrap();
        }
        let refusal = |name: &str| validate_name(name).unwrap_err().to_string();
        assert_eq!(
            refusal(""),
            "the plugin name is empty: give a name such as accrue-bonus"
        );
        assert!(refusal("accrue bonus").contains("contains ` `"));
        assert!(refusal("../escape").contains("contains `.`"));
        assert!(refusal("accrué").contains("contains `é`"));
        assert_eq!(
            refusal("AccrueBonus"),
            "plugin name `AccrueBonus` has upper-case letters: use `accruebonus`"
        );
        assert_eq!(refusal("2fast"), "plugin name `2fast` must start with a letter");
        assert_eq!(refusal("-x"), "plugin name `-x` must start with a letter");
        assert!(refusal("fn").contains("is a Rust keyword"));
        assert!(refusal("proc-macro").contains("built-in `proc_macro` crate"));
        assert!(refusal("con").contains("reserved file name on Windows"));
        assert!(refusal(&"a".repeat(PLUGIN_NAME_BYTES_MAX + 1)).contains("the limit is 64"));
        validate_name(&"a".repeat(PLUGIN_NAME_BYTES_MAX)).unwrap();
    }

    #[test]
    fn templates_render_every_placeholder() {
        // No placeholder survives rendering, and the manifest stays valid TOML whatever the
        // SDK path holds (backslashes, quotes).
        let placeholders = placeholders();
        for file in RUST_TEMPLATE.iter().chain(&PYTHON_TEMPLATE).chain(&JAVASCRIPT_TEMPLATE) {
            let text = placeholders.render(file.text);
            assert!(!text.contains("{{"), "{} keeps a placeholder", file.path);
        }
        // The test harnesses are the SDK's files, copied as they are.
        for (template, harness) in [
            (&PYTHON_TEMPLATE[..], "closebook_testing.py"),
            (&JAVASCRIPT_TEMPLATE[..], "closebook-testing.mjs"),
        ] {
            let file = template.iter().find(|file| file.path == harness).unwrap();
            assert_eq!(
                placeholders.render(file.text),
                file.text,
                "{harness} is changed by rendering"
            );
        }
        let manifest: toml::Table = toml::from_str(&placeholders.render(RUST_TEMPLATE[0].text)).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("accrue-bonus"));
        assert_eq!(manifest["dependencies"]["closebook-plugin-sdk"].as_str(), Some("0.1"));
        let sdk = &manifest["patch"]["crates-io"]["closebook-plugin-sdk"]["path"];
        assert_eq!(sdk.as_str(), Some(r#"C:\sdk "x""#));
        assert!(manifest.contains_key("workspace"));
    }

    #[test]
    fn the_built_sdk_is_found() {
        // The default SDK path is this checkout's plugin-sdk folder.
        let manifest = std::fs::read_to_string(Path::new(SDK_PATH_BUILT).join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{SDK_PACKAGE_NAME}\"")));
    }

    #[test]
    fn creates_into_an_empty_folder_and_refuses_a_non_empty_one() {
        // An empty folder is filled; a second run into the now non-empty folder is refused
        // and changes nothing; a file in the way is refused too.
        let temporary = tempfile::tempdir().unwrap();
        let project = temporary.path().join("accrue-bonus");
        std::fs::create_dir(&project).unwrap();
        create_project(&project, &RUST_TEMPLATE, &placeholders()).unwrap();
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        assert_eq!(lib, RUST_TEMPLATE[1].text);
        assert!(project.join(".gitignore").is_file());

        std::fs::write(project.join("src/lib.rs"), "changed").unwrap();
        let error = create_project(&project, &RUST_TEMPLATE, &placeholders()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "folder {} already exists and is not empty: choose another name or --dir, or remove the folder",
                project.display()
            )
        );
        assert_eq!(std::fs::read_to_string(project.join("src/lib.rs")).unwrap(), "changed");

        let file = temporary.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let error = create_project(&file, &RUST_TEMPLATE, &placeholders()).unwrap_err();
        assert!(error.to_string().contains("is not a folder"), "{error:#}");
    }
}
