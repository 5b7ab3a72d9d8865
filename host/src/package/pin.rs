//! `closebook plugin pin CLOSE.toml`: pins every plugin of a close to the file it points at, by
//! rewriting the `sha256` of each entry in `[plugins]` (comments and layout kept). Pinning says
//! "this is what we reviewed", so each plugin is checked against the close's trust policy first
//! and nothing is written when one is refused.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::{PackageCheck, TrustPolicy, TrustSection, check_package};
use crate::plugin::{PLUGIN_COMPONENT_BYTES_MAX, PluginError};

/// What pinning changed, or kept, for one plugin.
#[derive(Debug)]
pub struct PinChange {
    pub plugin: String,
    pub path: PathBuf,
    pub old_sha256: Option<String>,
    pub new_sha256: String,
    pub package: PackageCheck,
}

/// Reads a plugin file for pinning or loading, refusing a file larger than a component may be
/// before it is read into memory.
pub fn read_component(plugin: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let size_bytes = std::fs::metadata(path)
        .with_context(|| format!("plugin {plugin}: reading {}", path.display()))?
        .len();
    if size_bytes > PLUGIN_COMPONENT_BYTES_MAX {
        return Err(PluginError::ComponentTooLarge {
            plugin: plugin.to_owned(),
            size_bytes,
            limit_bytes: PLUGIN_COMPONENT_BYTES_MAX,
        }
        .into());
    }
    std::fs::read(path).with_context(|| format!("plugin {plugin}: reading {}", path.display()))
}

/// Pins the plugins of the close file `close_file`, writing the result to `output` (the same
/// file when `None`; another file must be in the same folder, since paths are relative to it).
pub fn pin_close_file(close_file: &Path, output: Option<&Path>) -> anyhow::Result<Vec<PinChange>> {
    let text = std::fs::read_to_string(close_file).with_context(|| format!("reading {}", close_file.display()))?;
    let directory = close_file.parent().map(Path::to_path_buf).unwrap_or_default();
    if let Some(output) = output {
        let output_directory = output.parent().map(Path::to_path_buf).unwrap_or_default();
        let same = match (directory.canonicalize(), output_directory.canonicalize()) {
            (Ok(left), Ok(right)) => left == right,
            _ => directory == output_directory,
        };
        anyhow::ensure!(
            same,
            "--output {} is not in the folder of {}: plugin paths are relative to the close file's folder, so write the output beside it",
            output.display(),
            close_file.display()
        );
    }
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not TOML", close_file.display()))?;
    let policy = match document.get("trust") {
        Some(item) => {
            let section: TrustSection = toml::from_str(&item_as_toml("trust", item)).map_err(|error| {
                anyhow::anyhow!("{}: [trust]: {}", close_file.display(), error.to_string().trim_end())
            })?;
            TrustPolicy::from_section(&section).map_err(|error| anyhow::anyhow!("{}: {error}", close_file.display()))?
        }
        None => TrustPolicy::default(),
    };
    let Some(plugins) = document.get_mut("plugins").and_then(toml_edit::Item::as_table_like_mut) else {
        anyhow::bail!(
            "{} has no [plugins] table: there is nothing to pin",
            close_file.display()
        );
    };
    let mut changes = Vec::new();
    for (name, entry) in plugins.iter_mut() {
        let name = name.get().to_owned();
        let entry = entry
            .as_table_like_mut()
            .with_context(|| format!("plugin {name}: write it as {name} = {{ path = \"…\", sha256 = \"…\" }}"))?;
        // A registry plugin is pinned in close.lock by `plugin add` and `plugin update`.
        if entry.contains_key("oci") {
            continue;
        }
        let relative = entry
            .get("path")
            .and_then(toml_edit::Item::as_str)
            .with_context(|| format!("plugin {name} has no `path`; pin a plugin file by its path"))?
            .to_owned();
        let path = if Path::new(&relative).is_absolute() {
            PathBuf::from(&relative)
        } else {
            directory.join(&relative)
        };
        if !path.exists() {
            anyhow::bail!(
                "plugin {name}: {} does not exist; build it first (scripts/build-plugins for the standard plugins) or correct its `path`",
                path.display()
            );
        }
        let wasm = read_component(&name, &path)?;
        let package = check_package(&name, &wasm, &policy)?;
        let new_sha256 = hex::encode(Sha256::digest(&wasm));
        let old_sha256 = entry.get("sha256").and_then(toml_edit::Item::as_str).map(str::to_owned);
        entry.insert("sha256", toml_edit::value(new_sha256.clone()));
        changes.push(PinChange {
            plugin: name,
            path,
            old_sha256,
            new_sha256,
            package,
        });
    }
    let output = output.unwrap_or(close_file);
    // Written to a temporary file and renamed, so an interrupted pin never leaves half a file.
    let temporary = output.with_extension("toml.pinning");
    std::fs::write(&temporary, document.to_string()).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, output).with_context(|| format!("writing {}", output.display()))?;
    Ok(changes)
}

/// The `[trust]` policy of a close file being edited.
pub fn trust_policy_of(document: &toml_edit::DocumentMut, close_file: &Path) -> anyhow::Result<TrustPolicy> {
    Ok(match document.get("trust") {
        Some(item) => {
            let section: TrustSection = toml::from_str(&item_as_toml("trust", item)).map_err(|error| {
                anyhow::anyhow!("{}: [trust]: {}", close_file.display(), error.to_string().trim_end())
            })?;
            TrustPolicy::from_section(&section).map_err(|error| anyhow::anyhow!("{}: {error}", close_file.display()))?
        }
        None => TrustPolicy::default(),
    })
}

/// A table of the document as TOML text under its own name, for serde to read.
fn item_as_toml(name: &str, item: &toml_edit::Item) -> String {
    let mut document = toml_edit::DocumentMut::new();
    document.insert(name, item.clone());
    let text = document.to_string();
    // The section is read as the content of `name`.
    match toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|mut table| table.remove(name))
    {
        Some(value) => toml::to_string(&value).unwrap_or_default(),
        None => String::new(),
    }
}
