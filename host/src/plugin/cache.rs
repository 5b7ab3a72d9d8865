//! The on-disk cache of compiled plugins. Compiling a component takes far longer than running a
//! close step, so each compiled component is kept in a private directory, named by the SHA-256 of
//! the wasm and a hash of the engine configuration, and loaded from there on every later run.
//! Files are written to a temporary name and renamed into place, so a reader (in this process or
//! another) sees either no file or a complete one, and two processes compiling the same plugin
//! at once both succeed.

use std::fs;
use std::hash::Hasher;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile::compile_to_file;
use super::error::PluginError;

/// Permissions of the cache directory: only its owner may read or write it, because whoever can
/// write a compiled component into it can run native code in the host.
const CACHE_DIRECTORY_MODE: u32 = 0o700;

/// Distinguishes temporary files of concurrent writers inside one process.
static TEMPORARY_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from the cache without compiling.
    Hit,
    /// Compiled now, and written to the cache for the next run.
    Compiled,
}

pub(crate) struct ComponentCache {
    directory: PathBuf,
    /// Hex SHA-256 of [`Engine::precompile_compatibility_hash`]: compiled code is only valid for
    /// an engine with the same configuration and wasmtime version.
    engine_hash: String,
}

impl ComponentCache {
    /// Opens (creating if needed) the cache directory, making sure only its owner can use it.
    pub(crate) fn open(directory: &Path, engine: &Engine) -> Result<Self, PluginError> {
        let cache_error = |reason: String| PluginError::Cache {
            path: directory.to_path_buf(),
            reason,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(CACHE_DIRECTORY_MODE)
            .create(directory)
            .map_err(|error| cache_error(format!("could not create the directory: {error}")))?;
        let metadata =
            fs::metadata(directory).map_err(|error| cache_error(format!("could not read the directory: {error}")))?;
        if !metadata.is_dir() {
            return Err(cache_error("it exists and is not a directory".to_string()));
        }
        // A directory that existed before may be open to others; compiled code loaded from it
        // is trusted, so it is made private or refused.
        if metadata.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(directory, fs::Permissions::from_mode(CACHE_DIRECTORY_MODE))
                .map_err(|error| {
                    cache_error(format!(
                        "it is accessible by other users (mode {:o}) and could not be made private: {error}; run `chmod 700` on it or choose another cache directory",
                        metadata.permissions().mode() & 0o777
                    ))
                })?;
        }

        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        Ok(Self {
            directory: directory.to_path_buf(),
            engine_hash: hex::encode(hasher.0.finalize()),
        })
    }

    fn entry_path(&self, wasm_sha256: &[u8; 32]) -> PathBuf {
        let engine_hash = &self.engine_hash[..16];
        self.directory
            .join(format!("{}-{engine_hash}.cwasm", hex::encode(wasm_sha256)))
    }

    /// The compiled component of `wasm`, from the cache when it is there.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        plugin: &str,
        wasm: &[u8],
        wasm_sha256: &[u8; 32],
    ) -> Result<(Component, CacheStatus), PluginError> {
        let path = self.entry_path(wasm_sha256);
        if path.is_file() {
            // SAFETY: `deserialize_file` trusts the file to be the unmodified output of
            // `Engine::precompile_component` for this engine, and to stay unchanged while it is
            // mapped. Both hold: files in this directory are only ever written by `store` below,
            // complete before they are renamed into place, and never modified afterwards (a
            // replacement is a new file renamed over the name, which leaves a mapped file
            // intact). The directory is private to its owner (checked in `open`), and the name
            // carries the engine's compatibility hash, which wasmtime checks again on load.
            let loaded = unsafe { Component::deserialize_file(engine, &path) };
            // An entry wasmtime refuses (left by another wasmtime build whose hash collided in
            // the name's prefix, say) is replaced below rather than failing the load.
            match loaded {
                Ok(component) => {
                    tracing::debug!(plugin, path = %path.display(), "compile cache hit");
                    return Ok((component, CacheStatus::Hit));
                }
                Err(error) => tracing::info!(
                    plugin,
                    path = %path.display(),
                    error = %error,
                    "compile cache entry refused; compiling again"
                ),
            }
        }

        tracing::info!(plugin, path = %path.display(), "compile cache miss; compiling the plugin");
        let compile = tracing::info_span!("plugin.compile", plugin).entered();
        self.compile_into(engine, plugin, wasm, &path)?;
        drop(compile);
        // SAFETY: as above; the file was written by `compile_into` from `precompile_component`'s
        // output (in this process or a compiling child).
        let component = unsafe { Component::deserialize_file(engine, &path) }.map_err(|error| PluginError::Cache {
            path: path.clone(),
            reason: format!("could not load the component just compiled: {error:#}"),
        })?;
        Ok((component, CacheStatus::Compiled))
    }

    /// Compiles `wasm` into `path` atomically: into a temporary file (flushed to disk, private
    /// to its owner), renamed into place.
    fn compile_into(&self, engine: &Engine, plugin: &str, wasm: &[u8], path: &Path) -> Result<(), PluginError> {
        let temporary = self.directory.join(format!(
            ".{}.{}.{}.tmp",
            path.file_name().and_then(|name| name.to_str()).unwrap_or("entry"),
            std::process::id(),
            TEMPORARY_FILE_COUNTER.fetch_add(1, Ordering::Relaxed),
        ));
        if let Err(error) = compile_to_file(engine, plugin, wasm, &temporary) {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        let install = || -> std::io::Result<()> {
            fs::rename(&temporary, path)?;
            // The rename is durable once the directory itself is flushed.
            fs::File::open(&self.directory)?.sync_all()
        };
        install().map_err(|error| {
            let _ = fs::remove_file(&temporary);
            PluginError::Cache {
                path: path.to_path_buf(),
                reason: format!("could not write the compiled component: {error}"),
            }
        })
    }
}

/// Feeds a [`std::hash::Hash`] into SHA-256, which (unlike `DefaultHasher`) gives the same digest
/// in every process and every Rust version.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}
