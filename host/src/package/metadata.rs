//! A plugin's package metadata: who it is (name, version, summary, authors, license, homepage),
//! which interface it was built for, the oldest closebook that runs it, and its README. It
//! travels inside the component as the custom section [`PACKAGE_SECTION`] (JSON), so a copied,
//! downloaded or pulled `.wasm` still says what it is. It is written by `closebook plugin
//! package` and read, bounded and checked, before anything else of the component is trusted.

use serde::{Deserialize, Serialize};

use super::PackageError;
use super::sections::{ComponentSections, append_custom_section, read_sections, without_sections};

/// The custom section that holds a component's package metadata.
pub const PACKAGE_SECTION: &str = "closebook:package";

/// Bytes the package section may hold: the README dominates; 64 KiB is a long README and keeps
/// a hostile section from costing memory when every close loads its plugins.
pub const PACKAGE_SECTION_BYTES_MAX: usize = 64 * 1024;

/// Characters of a package name: as long as a crates.io name.
pub const PACKAGE_NAME_CHARS_MAX: usize = 64;

/// Characters of each short field (summary, an author, license, homepage, a version).
pub const PACKAGE_FIELD_CHARS_MAX: usize = 512;

/// Authors a package may list.
pub const PACKAGE_AUTHORS_MAX: usize = 32;

/// The custom sections `wasm-tools metadata` and `wasm-metadata` read (`wasm-tools metadata
/// show`, and the OCI annotations `wkg` derives from them), each a UTF-8 string. `plugin
/// package` writes them beside [`PACKAGE_SECTION`], from the same fields; closebook itself
/// reads only its own section.
pub const STANDARD_SECTIONS: [&str; 5] = ["version", "description", "authors", "licenses", "homepage"];

/// The version of closebook that reads and writes packages.
pub const CLOSEBOOK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The identity of a plugin package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMetadata {
    /// Lower-case letters, digits and `-`, starting with a letter (`fx-revaluation`).
    pub name: String,
    /// A semantic version (`1.2.0`).
    pub version: String,
    /// The `closebook:plugin` interface version the component was built for (`0.1.0`).
    pub interface_version: String,
    pub summary: String,
    #[serde(default)]
    pub authors: Vec<String>,
    /// An SPDX license expression, as written in Cargo.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// The oldest closebook that may load the plugin (a semantic version).
    pub minimum_closebook_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
}

impl PackageMetadata {
    /// Checks every field, so what a component claims is shown and compared only once it is
    /// well-formed.
    pub fn check(&self, plugin: &str) -> Result<(), PackageError> {
        let invalid = |reason: String| PackageError::InvalidMetadata {
            plugin: plugin.to_owned(),
            reason,
        };
        if !is_package_name(&self.name) {
            return Err(invalid(format!(
                "the name `{}` is not lower-case letters, digits and `-` starting with a letter, at most {PACKAGE_NAME_CHARS_MAX} characters",
                visible(&self.name)
            )));
        }
        for (field, value) in [
            ("version", &self.version),
            ("interface_version", &self.interface_version),
            ("minimum_closebook_version", &self.minimum_closebook_version),
        ] {
            semver::Version::parse(value).map_err(|error| {
                invalid(format!(
                    "{field} `{}` is not a semantic version (like 1.2.0): {error}",
                    visible(value)
                ))
            })?;
        }
        let mut short = vec![("summary", &self.summary)];
        short.extend(self.authors.iter().map(|author| ("authors", author)));
        short.extend(self.license.iter().map(|license| ("license", license)));
        short.extend(self.homepage.iter().map(|homepage| ("homepage", homepage)));
        for (field, value) in short {
            if value.chars().count() > PACKAGE_FIELD_CHARS_MAX {
                return Err(invalid(format!(
                    "{field} is longer than {PACKAGE_FIELD_CHARS_MAX} characters"
                )));
            }
        }
        if self.authors.len() > PACKAGE_AUTHORS_MAX {
            return Err(invalid(format!(
                "it lists {} authors; at most {PACKAGE_AUTHORS_MAX} are allowed",
                self.authors.len()
            )));
        }
        Ok(())
    }

    /// Refuses the plugin when it needs a newer closebook than this one.
    pub fn check_closebook_version(&self, plugin: &str) -> Result<(), PackageError> {
        let needed =
            semver::Version::parse(&self.minimum_closebook_version).map_err(|error| PackageError::InvalidMetadata {
                plugin: plugin.to_owned(),
                reason: format!("minimum_closebook_version: {error}"),
            })?;
        let running = semver::Version::parse(CLOSEBOOK_VERSION).expect("the crate version is a semantic version");
        if running < needed {
            return Err(PackageError::NeedsNewerClosebook {
                plugin: plugin.to_owned(),
                package: self.name.clone(),
                needed: needed.to_string(),
                running: running.to_string(),
            });
        }
        Ok(())
    }
}

/// Whether `name` is a package name: lower-case ASCII letters, digits and `-` (or `_`, as Rust
/// crate names allow), starting with a letter, at most [`PACKAGE_NAME_CHARS_MAX`] characters.
pub fn is_package_name(name: &str) -> bool {
    name.len() <= PACKAGE_NAME_CHARS_MAX
        && name.starts_with(|first: char| first.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads the package section of an already walked component: `None` when it has none.
pub fn read_metadata(plugin: &str, sections: &ComponentSections<'_>) -> Result<Option<PackageMetadata>, PackageError> {
    let mut found = sections.custom.iter().filter(|section| section.name == PACKAGE_SECTION);
    let Some(section) = found.next() else {
        return Ok(None);
    };
    let invalid = |reason: String| PackageError::InvalidMetadata {
        plugin: plugin.to_owned(),
        reason,
    };
    if found.next().is_some() {
        return Err(invalid(format!("it has more than one {PACKAGE_SECTION} section")));
    }
    if section.data.len() > PACKAGE_SECTION_BYTES_MAX {
        return Err(invalid(format!(
            "its {PACKAGE_SECTION} section is {} bytes; at most {PACKAGE_SECTION_BYTES_MAX} are allowed",
            section.data.len()
        )));
    }
    let metadata: PackageMetadata = serde_json::from_slice(section.data)
        .map_err(|error| invalid(format!("its {PACKAGE_SECTION} section is not package JSON: {error}")))?;
    metadata.check(plugin)?;
    Ok(Some(metadata))
}

/// `wasm` with `metadata` as its package section, replacing any it had. A signed component is
/// refused: changing it would break the signature, so package first, then sign.
pub fn embed_metadata(plugin: &str, wasm: &[u8], metadata: &PackageMetadata) -> Result<Vec<u8>, PackageError> {
    metadata.check(plugin)?;
    let sections = read_sections(plugin, wasm)?;
    if sections
        .custom
        .iter()
        .any(|section| section.name == super::signature::SIGNATURE_SECTION)
    {
        return Err(PackageError::AlreadySigned {
            plugin: plugin.to_owned(),
        });
    }
    let data = serde_json::to_vec(metadata).expect("package metadata serializes");
    if data.len() > PACKAGE_SECTION_BYTES_MAX {
        return Err(PackageError::InvalidMetadata {
            plugin: plugin.to_owned(),
            reason: format!(
                "the package metadata is {} bytes; at most {PACKAGE_SECTION_BYTES_MAX} are allowed (shorten the README)",
                data.len()
            ),
        });
    }
    let unpackaged = without_sections(wasm, &sections, |name| {
        name == PACKAGE_SECTION || STANDARD_SECTIONS.contains(&name)
    });
    let standard = [
        Some(metadata.version.clone()),
        Some(metadata.summary.clone()),
        (!metadata.authors.is_empty()).then(|| metadata.authors.join(", ")),
        metadata.license.clone(),
        metadata.homepage.clone(),
    ];
    let mut packaged = unpackaged;
    for (name, value) in STANDARD_SECTIONS.iter().zip(standard) {
        if let Some(value) = value {
            packaged = append_custom_section(&packaged, name, value.as_bytes());
        }
    }
    Ok(append_custom_section(&packaged, PACKAGE_SECTION, &data))
}

/// A value read from a component, with control characters escaped so that it cannot rewrite
/// the terminal in an error message.
pub(crate) fn visible(text: &str) -> String {
    closebook_ledger::journal::escape_control_characters(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the magic, the component version and layer.
    const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn metadata() -> PackageMetadata {
        PackageMetadata {
            name: "accrue-bonus".to_owned(),
            version: "1.2.0".to_owned(),
            interface_version: "0.1.0".to_owned(),
            summary: "Accrues the bonus.".to_owned(),
            authors: vec!["Acme Consulting".to_owned()],
            license: Some("Apache-2.0".to_owned()),
            homepage: None,
            minimum_closebook_version: "0.1.0".to_owned(),
            readme: Some("# Accrue bonus\n".to_owned()),
        }
    }

    #[test]
    fn metadata_round_trips_and_replaces_the_old_section() {
        let packaged = embed_metadata("bonus", &EMPTY_COMPONENT, &metadata()).unwrap();
        let sections = read_sections("bonus", &packaged).unwrap();
        assert_eq!(read_metadata("bonus", &sections).unwrap(), Some(metadata()));
        let mut newer = metadata();
        newer.version = "1.3.0".to_owned();
        let repackaged = embed_metadata("bonus", &packaged, &newer).unwrap();
        let sections = read_sections("bonus", &repackaged).unwrap();
        // version, description, authors, licenses (no homepage) and the package section.
        assert_eq!(sections.custom.len(), 5, "an old section was kept");
        assert_eq!(read_metadata("bonus", &sections).unwrap(), Some(newer));
    }

    #[test]
    fn the_standard_sections_read_back_with_wasm_metadata() {
        let mut with_homepage = metadata();
        with_homepage.homepage = Some("https://acme.example/bonus".to_owned());
        let packaged = embed_metadata("bonus", &EMPTY_COMPONENT, &with_homepage).unwrap();
        let payload = wasm_metadata::Payload::from_binary(&packaged).unwrap();
        let read = payload.metadata();
        let text = |value: Option<String>| value.unwrap_or_default();
        assert_eq!(text(read.version.as_ref().map(ToString::to_string)), "1.2.0");
        assert_eq!(
            text(read.description.as_ref().map(ToString::to_string)),
            "Accrues the bonus."
        );
        assert_eq!(text(read.authors.as_ref().map(ToString::to_string)), "Acme Consulting");
        assert_eq!(text(read.licenses.as_ref().map(ToString::to_string)), "Apache-2.0");
        assert_eq!(
            text(read.homepage.as_ref().map(ToString::to_string)),
            "https://acme.example/bonus"
        );
    }

    #[test]
    fn malformed_metadata_is_refused_naming_the_field() {
        let mut bad = metadata();
        bad.version = "one".to_owned();
        let refused = bad.check("bonus").unwrap_err().to_string();
        assert!(refused.contains("version `one` is not a semantic version"), "{refused}");
        let mut bad = metadata();
        bad.name = "Bonus!".to_owned();
        assert!(
            bad.check("bonus")
                .unwrap_err()
                .to_string()
                .contains("the name `Bonus!`")
        );
        let not_json = append_custom_section(&EMPTY_COMPONENT, PACKAGE_SECTION, b"{");
        let sections = read_sections("bonus", &not_json).unwrap();
        let refused = read_metadata("bonus", &sections).unwrap_err().to_string();
        assert!(refused.contains("is not package JSON"), "{refused}");
        let mut future = metadata();
        future.minimum_closebook_version = "99.0.0".to_owned();
        let refused = future.check_closebook_version("bonus").unwrap_err().to_string();
        assert!(refused.contains("needs closebook 99.0.0 or later"), "{refused}");
    }
}
