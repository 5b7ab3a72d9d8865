//! Plugin packages (issue 21): what a component says it is (`metadata.rs`, a custom section),
//! who signed it (`signature.rs`, Ed25519 in a custom section), and whether a close trusts that
//! signer (`trust.rs`, `[trust]` in close.toml). [`check_package`] runs all of it on the bytes
//! of a component before it is compiled, so a refused plugin costs no compile and leaves no
//! cache entry. `pin.rs` rewrites the pins of a close.toml (`closebook plugin pin`).

mod metadata;
pub mod pin;
pub mod registry;
mod sections;
mod signature;
mod trust;

pub use metadata::{
    CLOSEBOOK_VERSION, PACKAGE_AUTHORS_MAX, PACKAGE_FIELD_CHARS_MAX, PACKAGE_NAME_CHARS_MAX, PACKAGE_SECTION,
    PACKAGE_SECTION_BYTES_MAX, PackageMetadata, embed_metadata, is_package_name,
};
pub use sections::read_sections;
pub use signature::{PUBLIC_KEY_PREFIX, PublicKey, SIGNATURE_SECTION, SecretKey, SignatureStatus, sign};
pub use trust::{PublisherSection, Signer, TrustPolicy, TrustSection};

/// Why a package was refused. Every message names the plugin and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("plugin {plugin}: the component cannot be read: {reason}")]
    Unreadable { plugin: String, reason: String },
    #[error(
        "plugin {plugin}: its package metadata is invalid: {reason}; package it again with `closebook plugin package`"
    )]
    InvalidMetadata { plugin: String, reason: String },
    #[error(
        "plugin {plugin}: package {package} needs closebook {needed} or later, and this is closebook {running}: upgrade closebook, or use an older release of the plugin"
    )]
    NeedsNewerClosebook {
        plugin: String,
        package: String,
        needed: String,
        running: String,
    },
    #[error(
        "plugin {plugin}: the component is signed, and packaging it would break the signature: package the unsigned build, then sign it"
    )]
    AlreadySigned { plugin: String },
    #[error(
        "plugin {plugin}: it is unsigned, and close.toml requires a signature ([trust] require_signature = true): get a signed build from its publisher, or sign it with `closebook plugin sign FILE --key KEY` and trust that key in [trust] keys"
    )]
    Unsigned { plugin: String },
    #[error(
        "plugin {plugin}: it is signed by key {key_id}, which close.toml does not trust: if you trust its publisher, add `{key}` to [trust] keys (or to [trust.publishers.NAME] keys, to show the publisher's name)"
    )]
    UntrustedKey {
        plugin: String,
        key_id: String,
        key: String,
    },
    #[error(
        "plugin {plugin}: its signature by key {key_id} does not verify ({reason}): the component is not what its publisher signed; do not load it, and get the file again from its publisher"
    )]
    SignatureInvalid {
        plugin: String,
        key_id: String,
        reason: String,
    },
}

/// What a component says about itself, checked.
#[derive(Debug, Clone)]
pub struct PackageCheck {
    pub metadata: Option<PackageMetadata>,
    pub signature: SignatureStatus,
    /// The trusted signer, when the policy knows the key.
    pub signer: Option<Signer>,
    /// The `closebook:plugin` versions its imports and exports name.
    pub interface_versions: Vec<String>,
}

/// Reads a component's package metadata and signature and decides against `policy` whether it
/// may load: refuses an invalid signature, an unsigned plugin or an unknown key when the policy
/// requires signatures, malformed metadata, and a plugin that needs a newer closebook. Reads
/// the bytes only; nothing is compiled.
pub fn check_package(plugin: &str, wasm: &[u8], policy: &TrustPolicy) -> Result<PackageCheck, PackageError> {
    let sections = read_sections(plugin, wasm)?;
    let signature = signature::verify(&sections, wasm);
    let signer = policy.decide(plugin, &signature)?;
    let metadata = metadata::read_metadata(plugin, &sections)?;
    if let Some(metadata) = &metadata {
        metadata.check_closebook_version(plugin)?;
    }
    Ok(PackageCheck {
        metadata,
        signature,
        signer,
        interface_versions: sections.interface_versions,
    })
}

/// Reads a component's package metadata and signature status without a policy (for
/// `plugin inspect`): a signature that does not verify is reported, not refused.
pub fn describe_package(plugin: &str, wasm: &[u8]) -> Result<PackageCheck, PackageError> {
    let sections = read_sections(plugin, wasm)?;
    let signature = signature::verify(&sections, wasm);
    let metadata = metadata::read_metadata(plugin, &sections)?;
    Ok(PackageCheck {
        metadata,
        signature,
        signer: None,
        interface_versions: sections.interface_versions,
    })
}

/// The `closebook:plugin` versions a component's imports and exports name (read, not checked:
/// loading the component checks them).
pub fn interface_versions(plugin: &str, wasm: &[u8]) -> Result<Vec<String>, PackageError> {
    Ok(read_sections(plugin, wasm)?.interface_versions)
}
