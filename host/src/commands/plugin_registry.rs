//! `closebook plugin publish|add|update`: plugins through an OCI registry. The registry work and
//! the lock file are `package::registry`'s; this file edits close.toml and says what changed.

use std::path::Path;

use anyhow::Context as _;

use super::plugin_package::{package_label, signature_label};
use crate::output::print;
use crate::package::PackageCheck;
use crate::package::pin::{read_component, trust_policy_of};
use crate::package::registry::{Location, LockFile, LockedPlugin, cache_component, fetch_latest, publish as push};

pub fn publish(file: &Path, target: &str) -> anyhow::Result<()> {
    let (location, tag) = Location::parse_with_suffix(target)?;
    let label = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let wasm = read_component(&label, file)?;
    let published = push(&label, wasm, &location, &tag)?;
    print(&format!(
        "published {} as {location}:{tag}\n  manifest {}\n  component sha256:{}\n",
        file.display(),
        published.manifest_digest,
        published.component_sha256
    ))
}

fn read_document(config: &Path) -> anyhow::Result<toml_edit::DocumentMut> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    text.parse()
        .with_context(|| format!("{} is not TOML", config.display()))
}

fn signer_text(package: &PackageCheck) -> String {
    signature_label(package)
}

pub fn add(name: &str, source: &str, config: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::package::is_package_name(name),
        "`{name}` is not a plugin name: lower-case letters, digits and `-`, starting with a letter"
    );
    let (location, requirement_text) = Location::parse_with_suffix(source)?;
    let requirement = semver::VersionReq::parse(&requirement_text).map_err(|error| {
        anyhow::anyhow!("`{requirement_text}` is not a version requirement (like ^1.2 or 1.2.0): {error}")
    })?;
    let mut document = read_document(config)?;
    let policy = trust_policy_of(&document, config)?;
    let (version, pulled, package) = fetch_latest(name, &location, &requirement, &policy)?;
    cache_component(config, &pulled.component_sha256, &pulled.wasm)?;
    let mut lock = LockFile::read(config)?;
    lock.set(LockedPlugin {
        name: name.to_owned(),
        source: location.to_string(),
        requirement: requirement_text.clone(),
        version: version.to_string(),
        manifest_digest: pulled.manifest_digest.clone(),
        component_sha256: pulled.component_sha256.clone(),
        signer: signer_text(&package),
    });
    let plugins = document
        .entry("plugins")
        .or_insert(toml_edit::table())
        .as_table_like_mut()
        .with_context(|| format!("{}: [plugins] is not a table", config.display()))?;
    let mut entry = toml_edit::InlineTable::new();
    entry.insert("oci", location.to_string().into());
    entry.insert("version", requirement_text.clone().into());
    plugins.insert(name, toml_edit::Item::Value(toml_edit::Value::InlineTable(entry)));
    lock.write(config)?;
    let temporary = config.with_extension("toml.adding");
    std::fs::write(&temporary, document.to_string()).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, config).with_context(|| format!("writing {}", config.display()))?;
    print(&format!(
        "added {name}: {location}:{version} ({}; {})\n  manifest {}\n  component sha256:{}\nwrote {} and {}\n",
        package_label(&package),
        signer_text(&package),
        pulled.manifest_digest,
        pulled.component_sha256,
        config.display(),
        LockFile::path_for(config).display()
    ))
}

pub fn update(config: &Path, write: bool) -> anyhow::Result<()> {
    let document = read_document(config)?;
    let policy = trust_policy_of(&document, config)?;
    let mut lock = LockFile::read(config)?;
    let entries: Vec<(String, String, String)> = document
        .get("plugins")
        .and_then(toml_edit::Item::as_table_like)
        .map(|plugins| {
            plugins
                .iter()
                .filter_map(|(name, entry)| {
                    let entry = entry.as_table_like()?;
                    let oci = entry.get("oci")?.as_str()?.to_owned();
                    let version = entry.get("version")?.as_str()?.to_owned();
                    Some((name.to_owned(), oci, version))
                })
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        !entries.is_empty(),
        "{} declares no registry plugin (`NAME = {{ oci = \"oci://…\", version = \"^1.2\" }}`); add one with `closebook plugin add`",
        config.display()
    );
    let mut text = String::new();
    let mut changed = 0;
    for (name, oci, requirement_text) in entries {
        let location = Location::parse(&oci).with_context(|| format!("plugin {name}"))?;
        let requirement = semver::VersionReq::parse(&requirement_text)
            .map_err(|error| anyhow::anyhow!("plugin {name}: `{requirement_text}`: {error}"))?;
        let (version, pulled, package) = fetch_latest(&name, &location, &requirement, &policy)?;
        let new = LockedPlugin {
            name: name.clone(),
            source: location.to_string(),
            requirement: requirement_text.clone(),
            version: version.to_string(),
            manifest_digest: pulled.manifest_digest.clone(),
            component_sha256: pulled.component_sha256.clone(),
            signer: signer_text(&package),
        };
        match lock.get(&name) {
            Some(old) if *old == new => {
                text.push_str(&format!(
                    "{name}: {} unchanged ({})\n",
                    old.version, old.manifest_digest
                ));
                continue;
            }
            Some(old) => text.push_str(&format!(
                "{name}: {} -> {}\n  manifest {} -> {}\n  component sha256:{} -> sha256:{}\n  signer {} -> {}\n",
                old.version,
                new.version,
                old.manifest_digest,
                new.manifest_digest,
                old.component_sha256,
                new.component_sha256,
                old.signer,
                new.signer
            )),
            None => text.push_str(&format!(
                "{name}: (not locked) -> {}\n  manifest {}\n  component sha256:{}\n  signer {}\n",
                new.version, new.manifest_digest, new.component_sha256, new.signer
            )),
        }
        changed += 1;
        if write {
            cache_component(config, &new.component_sha256, &pulled.wasm)?;
            lock.set(new);
        }
    }
    if changed == 0 {
        text.push_str("close.lock is up to date\n");
    } else if write {
        lock.write(config)?;
        text.push_str(&format!("wrote {}\n", LockFile::path_for(config).display()));
    } else {
        text.push_str("nothing written: review the changes above, then run again with --yes to write close.lock\n");
    }
    print(&text)
}
