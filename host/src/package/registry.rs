//! Plugins in OCI registries (issue 21), in the CNCF Wasm artifact layout (`oci-wasm`, on
//! `oci-client`): `plugin publish` pushes a packaged component with its package metadata as
//! annotations (its signature is inside it); `plugin add` resolves the highest tag matching a
//! semver requirement, pulls it, checks it against the close's trust policy and pins its
//! digests in `close.lock`; `close run` loads only what the lock pins, from a cache keyed by the
//! component's SHA-256, and pulls by manifest digest only when the cache lacks it. Nothing
//! pulled is trusted before its digest and signature are checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{WasmClient, WasmConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{PackageCheck, TrustPolicy, check_package, describe_package};

/// The scheme of a registry location in close.toml and on the command line.
pub const OCI_SCHEME: &str = "oci://";

/// The lock file beside close.toml.
pub const LOCK_FILE_NAME: &str = "close.lock";

/// The folder beside close.toml where pulled components are cached by SHA-256.
pub const PLUGIN_CACHE_FOLDER: &str = ".closebook-plugins";

/// Tags a repository may list: a bound on what `plugin add` reads and compares.
pub const REGISTRY_TAGS_MAX: usize = 10_000;

/// A repository in a registry: `oci://HOST[:PORT]/NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub registry: String,
    pub repository: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{OCI_SCHEME}{}/{}", self.registry, self.repository)
    }
}

impl Location {
    /// Reads `oci://HOST/NAMESPACE/NAME:SUFFIX` into the location and the suffix (a tag or a
    /// version requirement).
    pub fn parse_with_suffix(text: &str) -> anyhow::Result<(Self, String)> {
        let rest = text
            .strip_prefix(OCI_SCHEME)
            .with_context(|| format!("`{text}` is not a registry location: write oci://HOST/NAMESPACE/NAME:VERSION"))?;
        let (registry, path) = rest
            .split_once('/')
            .with_context(|| format!("`{text}` names no repository: write oci://HOST/NAMESPACE/NAME:VERSION"))?;
        let (repository, suffix) = path
            .rsplit_once(':')
            .with_context(|| format!("`{text}` has no `:VERSION` after the repository"))?;
        anyhow::ensure!(
            !registry.is_empty() && !repository.is_empty() && !suffix.is_empty(),
            "`{text}`: write oci://HOST/NAMESPACE/NAME:VERSION"
        );
        Ok((
            Self {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
            },
            suffix.to_owned(),
        ))
    }

    /// Reads `oci://HOST/NAMESPACE/NAME` (no suffix).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let rest = text
            .strip_prefix(OCI_SCHEME)
            .with_context(|| format!("`{text}` is not a registry location: write oci://HOST/NAMESPACE/NAME"))?;
        let (registry, repository) = rest
            .split_once('/')
            .with_context(|| format!("`{text}` names no repository: write oci://HOST/NAMESPACE/NAME"))?;
        anyhow::ensure!(
            !registry.is_empty() && !repository.is_empty() && !repository.contains(':') && !repository.contains('@'),
            "`{text}`: write oci://HOST/NAMESPACE/NAME (the version goes in `version`)"
        );
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
        })
    }

    fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(self.registry.clone(), self.repository.clone(), tag.to_owned())
    }

    fn by_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(self.registry.clone(), self.repository.clone(), digest.to_owned())
    }

    /// A registry on this machine is spoken to over plain HTTP (a test or a local mirror);
    /// every other over HTTPS.
    fn is_loopback(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(host, _)| host);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }

    /// The credentials for this registry, where `docker login` keeps them: the `auths` of
    /// `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`), through the credential helper
    /// it names when there is one. None configured means anonymous access. They are sent only
    /// to this host, and over HTTPS unless the registry is on this machine.
    fn auth(&self) -> anyhow::Result<RegistryAuth> {
        use docker_credential::{CredentialRetrievalError, DockerCredential};
        let Some(path) = docker_config_file().filter(|path| path.exists()) else {
            return Ok(RegistryAuth::Anonymous);
        };
        let file = std::fs::File::open(&path)
            .with_context(|| format!("reading the registry credentials in {}", path.display()))?;
        match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), &self.registry) {
            Ok(DockerCredential::UsernamePassword(username, password)) => Ok(RegistryAuth::Basic(username, password)),
            Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
            Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
            Err(error) => Err(anyhow::anyhow!(
                "reading the credentials for {} in {}: {error}; fix its entry with `docker login {}`, or remove it",
                self.registry,
                path.display(),
                self.registry
            )),
        }
    }

    /// The error of a registry operation (`doing`): what to do about the registry refusing our
    /// credentials (or their absence) when it did, else `otherwise`.
    fn failure(&self, error: anyhow::Error, auth: &RegistryAuth, doing: String, otherwise: &str) -> anyhow::Error {
        let fix = if !is_unauthorized(&error) {
            otherwise.to_owned()
        } else if matches!(auth, RegistryAuth::Anonymous) {
            format!(
                "the registry {} requires credentials, and none are configured for it: sign in with `docker login {}` (closebook reads {})",
                self.registry,
                self.registry,
                docker_config_path()
            )
        } else {
            format!(
                "the registry {} refused the credentials configured for it in {}: sign in again with `docker login {}`, or ask its owner for access to {}",
                self.registry,
                docker_config_path(),
                self.registry,
                self.repository
            )
        };
        error.context(format!("{doing}: {fix}"))
    }

    fn client(&self) -> WasmClient {
        let protocol = if self.is_loopback() {
            ClientProtocol::HttpsExcept(vec![self.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        WasmClient::new(Client::new(ClientConfig {
            protocol,
            ..ClientConfig::default()
        }))
    }
}

/// The docker configuration file registry credentials are read from, as docker finds it:
/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn docker_config_file() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")))
        .map(|folder| folder.join("config.json"))
}

/// [`docker_config_file`] for a message.
fn docker_config_path() -> String {
    docker_config_file().map_or_else(
        || "$HOME/.docker/config.json".to_owned(),
        |path| path.display().to_string(),
    )
}

/// Whether a registry operation failed because the registry refused access (HTTP 401 or 403,
/// or a denied or unauthorized error code).
fn is_unauthorized(error: &anyhow::Error) -> bool {
    use oci_client::errors::{OciDistributionError, OciErrorCode};
    error
        .chain()
        .any(|cause| match cause.downcast_ref::<OciDistributionError>() {
            Some(OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_)) => {
                true
            }
            Some(OciDistributionError::ServerError { code, .. }) => matches!(code, 401 | 403),
            Some(OciDistributionError::RegistryError { envelope, .. }) => envelope
                .errors
                .iter()
                .any(|error| matches!(error.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
            _ => false,
        })
}

/// Runs one registry operation on a runtime of its own: the command line is synchronous.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the registry client")?
        .block_on(future)
}

/// What `plugin publish` pushed.
pub struct Published {
    pub manifest_digest: String,
    pub component_sha256: String,
}

/// Pushes the packaged component `wasm` to `location:tag`. The tag must be the package's
/// version, so a tag always says what is behind it.
pub fn publish(plugin: &str, wasm: Vec<u8>, location: &Location, tag: &str) -> anyhow::Result<Published> {
    let package = describe_package(plugin, &wasm)?;
    let metadata = package.metadata.as_ref().with_context(|| {
        format!(
            "{plugin} has no package metadata: run `closebook plugin package` on it (and sign it) before publishing"
        )
    })?;
    anyhow::ensure!(
        tag == metadata.version,
        "the tag {tag} is not the package's version {}: publish it as {location}:{}",
        metadata.version,
        metadata.version
    );
    if let super::SignatureStatus::Invalid { key_id, reason } = &package.signature {
        anyhow::bail!(
            "{plugin}: its signature by key {key_id} does not verify ({reason}): sign it again before publishing"
        );
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title".to_owned(), metadata.name.clone());
    annotations.insert("org.opencontainers.image.version".to_owned(), metadata.version.clone());
    annotations.insert(
        "org.opencontainers.image.description".to_owned(),
        metadata.summary.clone(),
    );
    if let Some(license) = &metadata.license {
        annotations.insert("org.opencontainers.image.licenses".to_owned(), license.clone());
    }
    if !metadata.authors.is_empty() {
        annotations.insert(
            "org.opencontainers.image.authors".to_owned(),
            metadata.authors.join(", "),
        );
    }
    if let Some(homepage) = &metadata.homepage {
        annotations.insert("org.opencontainers.image.url".to_owned(), homepage.clone());
    }
    annotations.insert(
        "dev.closebook.interface-version".to_owned(),
        metadata.interface_version.clone(),
    );
    annotations.insert(
        "dev.closebook.minimum-closebook-version".to_owned(),
        metadata.minimum_closebook_version.clone(),
    );
    if let Some(key_id) = package.signature.key_id() {
        annotations.insert("dev.closebook.signature.key-id".to_owned(), key_id);
    }
    let component_sha256 = hex::encode(Sha256::digest(&wasm));
    let author = (!metadata.authors.is_empty()).then(|| metadata.authors.join(", "));
    let (config, layer) = WasmConfig::from_raw_component(wasm, author)
        .with_context(|| format!("{plugin}: describing the component for the registry"))?;
    let reference = location.tagged(tag);
    let client = location.client();
    let auth = location.auth()?;
    block_on(async {
        client
            .push(&reference, &auth, layer, config, Some(annotations))
            .await
            .map_err(|error| {
                let doing = format!("pushing to {location}:{tag}");
                location.failure(error, &auth, doing, "is the registry running and writable?")
            })?;
        let manifest_digest = client.fetch_manifest_digest(&reference, &auth).await.map_err(|error| {
            let doing = format!("reading back the digest of {location}:{tag}");
            location.failure(error.into(), &auth, doing, "is the registry still running?")
        })?;
        Ok(Published {
            manifest_digest,
            component_sha256,
        })
    })
}

/// The highest tag of `location` that is a version matching `requirement`.
pub fn resolve(location: &Location, requirement: &semver::VersionReq) -> anyhow::Result<semver::Version> {
    let client = location.client();
    let reference = location.tagged("latest");
    let auth = location.auth()?;
    let tags = block_on(async {
        let response = client
            .list_tags(&reference, &auth, Some(REGISTRY_TAGS_MAX), None)
            .await
            .map_err(|error| {
                let doing = format!("listing the tags of {location}");
                location.failure(error.into(), &auth, doing, "is the registry reachable?")
            })?;
        Ok(response.tags)
    })?;
    let best = tags
        .iter()
        .filter_map(|tag| semver::Version::parse(tag).ok())
        .filter(|version| requirement.matches(version))
        .max();
    best.with_context(|| {
        format!(
            "no tag of {location} matches {requirement} (its tags: {}); publish a matching version or change the requirement",
            if tags.is_empty() { "none".to_owned() } else { tags.join(", ") }
        )
    })
}

/// A component pulled from a registry, with the digests it was checked against.
pub struct Pulled {
    pub wasm: Vec<u8>,
    pub manifest_digest: String,
    pub component_sha256: String,
}

/// Pulls `reference` (a tag or a digest), checking that its one layer's bytes have the digest
/// the manifest gives them.
fn pull_reference(location: &Location, reference: &Reference) -> anyhow::Result<Pulled> {
    let client = location.client();
    let auth = location.auth()?;
    let image = block_on(async {
        client.pull(reference, &auth).await.map_err(|error| {
            let doing = format!("pulling {reference} from {location}");
            location.failure(error, &auth, doing, "is the registry reachable?")
        })
    })?;
    let manifest_digest = image
        .digest
        .clone()
        .with_context(|| format!("{location}: the registry gave no manifest digest for {reference}"))?;
    let [layer] = image.layers.as_slice() else {
        anyhow::bail!(
            "{location}: {reference} has {} layers; a plugin has one",
            image.layers.len()
        );
    };
    let component_sha256 = hex::encode(Sha256::digest(&layer.data));
    let expected = image
        .manifest
        .as_ref()
        .and_then(|manifest| manifest.layers.first())
        .map(|descriptor| descriptor.digest.clone())
        .unwrap_or_default();
    anyhow::ensure!(
        expected == format!("sha256:{component_sha256}"),
        "{location}: the component pulled for {reference} has sha256:{component_sha256}, but its manifest says {expected}: the registry served something else; do not use it"
    );
    Ok(Pulled {
        wasm: layer.data.to_vec(),
        manifest_digest,
        component_sha256,
    })
}

pub fn pull_tag(location: &Location, tag: &str) -> anyhow::Result<Pulled> {
    pull_reference(location, &location.tagged(tag))
}

pub fn pull_digest(location: &Location, digest: &str) -> anyhow::Result<Pulled> {
    pull_reference(location, &location.by_digest(digest))
}

/// `close.lock`: what `close run` loads for each registry plugin of the close.toml beside it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockedPlugin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// Its name in close.toml's [plugins].
    pub name: String,
    /// `oci://HOST/NAMESPACE/NAME`.
    pub source: String,
    /// The version requirement it was resolved for.
    pub requirement: String,
    /// The version (tag) it resolved to.
    pub version: String,
    /// The manifest's digest: what is pulled when the cache lacks the component.
    pub manifest_digest: String,
    /// The SHA-256 of the component: what is loaded, whatever the registry says later.
    pub component_sha256: String,
    /// Who signed it when it was locked (for people; the signature is checked at every load).
    pub signer: String,
}

impl LockFile {
    pub fn path_for(close_file: &Path) -> PathBuf {
        close_file.with_file_name(LOCK_FILE_NAME)
    }

    /// Reads the lock beside `close_file`; an absent lock is an empty one.
    pub fn read(close_file: &Path) -> anyhow::Result<Self> {
        let path = Self::path_for(close_file);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|error| anyhow::anyhow!("{}: {}", path.display(), error.to_string().trim_end())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn write(&self, close_file: &Path) -> anyhow::Result<()> {
        let path = Self::path_for(close_file);
        let text = format!(
            "# Written by `closebook plugin add` and `closebook plugin update`: the exact component each\n# registry plugin of {} loads. Do not edit; review what `plugin update` shows instead.\n\n{}",
            close_file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            toml::to_string(self).context("writing the lock file")?
        );
        let temporary = path.with_extension("lock.writing");
        std::fs::write(&temporary, text).with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn get(&self, name: &str) -> Option<&LockedPlugin> {
        self.plugins.iter().find(|plugin| plugin.name == name)
    }

    pub fn set(&mut self, locked: LockedPlugin) {
        self.plugins.retain(|plugin| plugin.name != locked.name);
        self.plugins.push(locked);
        self.plugins.sort_by(|left, right| left.name.cmp(&right.name));
    }
}

/// The cached component of SHA-256 `sha256` for the close file `close_file`.
pub fn cache_path(close_file: &Path, sha256: &str) -> PathBuf {
    close_file
        .with_file_name(PLUGIN_CACHE_FOLDER)
        .join(format!("sha256-{sha256}.wasm"))
}

/// Writes a checked component into the cache (private to its owner).
pub fn cache_component(close_file: &Path, sha256: &str, wasm: &[u8]) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let path = cache_path(close_file, sha256);
    let folder = path.parent().expect("a cache path has a folder");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .with_context(|| format!("creating {}", folder.display()))?;
    let temporary = path.with_extension("wasm.writing");
    std::fs::write(&temporary, wasm).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Resolves, pulls and checks the newest component of `location` matching `requirement` for
/// the close plugin `name`, against `policy`.
pub fn fetch_latest(
    name: &str,
    location: &Location,
    requirement: &semver::VersionReq,
    policy: &TrustPolicy,
) -> anyhow::Result<(semver::Version, Pulled, PackageCheck)> {
    let version = resolve(location, requirement)?;
    let pulled = pull_tag(location, &version.to_string())?;
    let package = check_package(name, &pulled.wasm, policy)?;
    Ok((version, pulled, package))
}
