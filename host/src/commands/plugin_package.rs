//! `closebook plugin package|keygen|sign|pin`: turning a built component into something a client
//! can trust. `package` embeds the package metadata, `keygen` and `sign` make and use Ed25519
//! keys, `pin` records in a close.toml the hash of each plugin it reviewed. The formats and the
//! checks are the `package` module's; this file reads arguments and files and says what it did.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::output::{print, visible};
use crate::package::pin::{pin_close_file, read_component};
use crate::package::{
    CLOSEBOOK_VERSION, PackageCheck, PackageMetadata, SecretKey, SignatureStatus, embed_metadata, interface_versions,
    sign,
};

/// Permissions of a secret key file: only its owner may read it.
const SECRET_KEY_FILE_MODE: u32 = 0o600;

/// Bytes of a README `plugin package` embeds (the package section's limit, less room for the rest).
const README_BYTES_MAX: u64 = 60 * 1024;

/// What `plugin package` was told on its command line.
pub struct PackageOptions {
    pub manifest: Option<PathBuf>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub summary: Option<String>,
    pub authors: Vec<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub minimum_closebook: Option<String>,
    pub readme: Option<PathBuf>,
}

/// The fields of a Cargo package that a plugin package takes, as `cargo metadata` gives them.
#[derive(Debug, Default, serde::Deserialize)]
struct CargoPackage {
    name: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    homepage: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    readme: Option<PathBuf>,
    manifest_path: PathBuf,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct CargoMetadata {
    packages: Vec<CargoPackage>,
}

/// Reads the package `name` (or the one whose manifest is `manifest`) with `cargo metadata`,
/// which resolves workspace inheritance (`version.workspace = true`) as cargo itself does.
fn cargo_package(manifest: &Path, name: Option<&str>) -> anyhow::Result<CargoPackage> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .with_context(|| {
            format!(
                "running `cargo metadata` for {}: is cargo installed?",
                manifest.display()
            )
        })?;
    anyhow::ensure!(
        output.status.success(),
        "`cargo metadata --manifest-path {}` failed: {}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let metadata: CargoMetadata =
        serde_json::from_slice(&output.stdout).context("reading the output of `cargo metadata`")?;
    let canonical = manifest.canonicalize().unwrap_or_else(|_| manifest.to_path_buf());
    let mut packages = metadata.packages;
    let position = match name {
        Some(name) => packages.iter().position(|package| package.name == name),
        None => packages.iter().position(|package| package.manifest_path == canonical),
    };
    let Some(position) = position else {
        let names: Vec<&str> = packages.iter().map(|package| package.name.as_str()).collect();
        anyhow::bail!(
            "{} has no package {}; its packages: {} (choose one with --name)",
            manifest.display(),
            name.unwrap_or("of its own (it is a workspace manifest)"),
            names.join(", ")
        );
    };
    Ok(packages.swap_remove(position))
}

pub fn package(file: &Path, options: PackageOptions, output: Option<&Path>) -> anyhow::Result<()> {
    let plugin = plugin_label(file);
    let wasm = read_component(&plugin, file)?;
    let cargo = match &options.manifest {
        Some(manifest) => Some(cargo_package(manifest, options.name.as_deref())?),
        None => None,
    };
    let from_cargo = |pick: fn(&CargoPackage) -> Option<String>| cargo.as_ref().and_then(pick);
    let name = options
        .name
        .clone()
        .or_else(|| from_cargo(|package| Some(package.name.clone())))
        .context("the package needs a name: give --name, or --manifest with the plugin's Cargo.toml")?;
    let version = options
        .version
        .clone()
        .or_else(|| from_cargo(|package| Some(package.version.clone())))
        .context("the package needs a version: give --package-version, or --manifest with the plugin's Cargo.toml")?;
    let summary = options
        .summary
        .clone()
        .or_else(|| from_cargo(|package| package.description.clone()))
        .context("the package needs a summary: give --summary, or set `description` in the plugin's Cargo.toml")?;
    let authors = if options.authors.is_empty() {
        cargo
            .as_ref()
            .map(|package| package.authors.clone())
            .unwrap_or_default()
    } else {
        options.authors.clone()
    };
    let license = options
        .license
        .clone()
        .or_else(|| from_cargo(|package| package.license.clone()));
    let homepage = options
        .homepage
        .clone()
        .or_else(|| from_cargo(|package| package.homepage.clone().or_else(|| package.repository.clone())));
    let minimum_closebook_version = options
        .minimum_closebook
        .clone()
        .or_else(|| {
            from_cargo(|package| {
                package
                    .metadata
                    .as_ref()?
                    .get("closebook")?
                    .get("minimum-closebook-version")?
                    .as_str()
                    .map(str::to_owned)
            })
        })
        .unwrap_or_else(|| CLOSEBOOK_VERSION.to_owned());
    let readme_path = options.readme.clone().or_else(|| {
        let package = cargo.as_ref()?;
        let readme = package.readme.as_ref()?;
        Some(package.manifest_path.parent()?.join(readme))
    });
    let readme = match readme_path {
        Some(path) => {
            let size_bytes = std::fs::metadata(&path)
                .with_context(|| format!("reading the README {}", path.display()))?
                .len();
            anyhow::ensure!(
                size_bytes <= README_BYTES_MAX,
                "the README {} is {size_bytes} bytes; a package embeds at most {README_BYTES_MAX}: shorten it, or link to it with --homepage",
                path.display()
            );
            Some(std::fs::read_to_string(&path).with_context(|| format!("reading the README {}", path.display()))?)
        }
        None => None,
    };
    let interface = interface_versions(&plugin, &wasm)?;
    let interface_version = match interface.as_slice() {
        [version] => version.clone(),
        [] => anyhow::bail!(
            "{} names no closebook:plugin interface in its imports or exports: is it a close step built with the SDK?",
            file.display()
        ),
        several => anyhow::bail!(
            "{} names several closebook:plugin interface versions ({}); a close step is built for one",
            file.display(),
            several.join(", ")
        ),
    };
    let metadata = PackageMetadata {
        name,
        version,
        interface_version,
        summary,
        authors,
        license,
        homepage,
        minimum_closebook_version,
        readme,
    };
    let packaged = embed_metadata(&plugin, &wasm, &metadata)?;
    let output = output.unwrap_or(file);
    write_replacing(output, &packaged)?;
    print(&format!(
        "packaged {} {} (interface {}, closebook {} or later) into {}: {} bytes, sha256 {}\n",
        metadata.name,
        metadata.version,
        metadata.interface_version,
        metadata.minimum_closebook_version,
        output.display(),
        packaged.len(),
        hex::encode(Sha256::digest(&packaged))
    ))
}

pub fn keygen(out: &Path) -> anyhow::Result<()> {
    let secret_path = with_suffix(out, ".key");
    let public_path = with_suffix(out, ".pub");
    for path in [&secret_path, &public_path] {
        anyhow::ensure!(
            !path.exists(),
            "{} already exists; keygen never overwrites a key: choose another --out, or remove the old key pair only if nothing signed with it is still trusted",
            path.display()
        );
    }
    let key = SecretKey::generate().map_err(|error| anyhow::anyhow!(error))?;
    let public_key = key.public_key();
    let mut secret_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SECRET_KEY_FILE_MODE)
        .open(&secret_path)
        .with_context(|| format!("creating {}", secret_path.display()))?;
    secret_file
        .write_all(key.to_file_text().as_bytes())
        .and_then(|()| secret_file.sync_all())
        .with_context(|| format!("writing {}", secret_path.display()))?;
    std::fs::write(&public_path, format!("{public_key}\n"))
        .with_context(|| format!("writing {}", public_path.display()))?;
    print(&format!(
        "secret key {} (keep it private; sign with `closebook plugin sign FILE --key {}`)\npublic key {}: key id {}\n\nclients trust it in close.toml:\n  [trust.publishers.YOUR-NAME]\n  keys = [\"{public_key}\"]\n",
        secret_path.display(),
        secret_path.display(),
        public_path.display(),
        public_key.key_id()
    ))
}

pub fn sign_file(file: &Path, key_file: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    let plugin = plugin_label(file);
    let key_text =
        std::fs::read_to_string(key_file).with_context(|| format!("reading the key {}", key_file.display()))?;
    let key = SecretKey::parse(&key_text).map_err(|error| anyhow::anyhow!("{}: {error}", key_file.display()))?;
    let wasm = read_component(&plugin, file)?;
    let package = crate::package::describe_package(&plugin, &wasm)?;
    let signed = sign(&plugin, &wasm, &key)?;
    let output = output.unwrap_or(file);
    write_replacing(output, &signed)?;
    let mut text = format!(
        "signed {} with key {} into {}: sha256 {}\n",
        file.display(),
        key.public_key().key_id(),
        output.display(),
        hex::encode(Sha256::digest(&signed))
    );
    if let Some(key_id) = package.signature.key_id() {
        text.push_str(&format!("(it replaces the signature by key {key_id})\n"));
    }
    if package.metadata.is_none() {
        text.push_str("warning: the component has no package metadata: run `closebook plugin package` on the unsigned build and sign again, so clients can see what it is\n");
    }
    print(&text)
}

pub fn pin(config: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    let changes = pin_close_file(config, output)?;
    let mut text = String::new();
    for change in &changes {
        let what = match &change.old_sha256 {
            Some(old) if *old == change.new_sha256 => "unchanged".to_owned(),
            Some(old) if old.is_empty() => "new".to_owned(),
            Some(old) => format!("was {old}"),
            None => "new".to_owned(),
        };
        text.push_str(&format!(
            "pinned {}: sha256 {} ({what}); {}; {}\n",
            change.plugin,
            change.new_sha256,
            package_label(&change.package),
            signature_label(&change.package)
        ));
    }
    text.push_str(&format!("wrote {}\n", output.unwrap_or(config).display()));
    print(&text)
}

/// `name version` of a package, or that it has none.
pub fn package_label(package: &PackageCheck) -> String {
    match &package.metadata {
        Some(metadata) => format!("package {} {}", visible(&metadata.name), visible(&metadata.version)),
        None => "no package metadata".to_owned(),
    }
}

/// Who signed it, as the trust policy sees it.
pub fn signature_label(package: &PackageCheck) -> String {
    match (&package.signature, &package.signer) {
        (_, Some(signer)) => format!("signed by {signer}"),
        (SignatureStatus::Valid { key }, None) => format!("signed by key {}, not in [trust]", key.key_id()),
        (SignatureStatus::Invalid { key_id, reason }, None) => format!("signature by key {key_id} INVALID: {reason}"),
        (SignatureStatus::Unsigned, None) => "unsigned".to_owned(),
    }
}

/// The name refusals use for a plugin file: its file name without extension.
fn plugin_label(file: &Path) -> String {
    file.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so a reader (a close
/// run, a build script) sees the old component or the new one, never half of one.
fn write_replacing(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = with_suffix(path, ".writing");
    std::fs::write(&temporary, bytes).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}
