//! Named, versioned components: upload, resolve `name` or `name@N`, and keep each one
//! compiled once. Compiled code is stored beside the wasm, keyed by its sha256 and the
//! engine hash, so neither a second upload of the same bytes nor a restart compiles again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::{ComponentError, Inspection, Prepared, Runtime};
use crate::model::ComponentVersion;
use crate::store::{ComponentUpload, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("component `{0}` does not exist")]
    NotFound(String),
    #[error("component `{name}` has no version {version}")]
    NoSuchVersion { name: String, version: u32 },
    #[error("`{0}` is not a component reference: use `name` or `name@version`")]
    BadReference(String),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The components known to the gateway, compiled on first use.
pub struct Registry {
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
    loaded: RwLock<HashMap<String, Prepared>>,
    /// A directory of compiled artifacts shared by several data directories (test suites,
    /// benchmarks); the store's own copy is used first.
    compile_cache: Option<PathBuf>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>, store: Arc<dyn Store>, compile_cache: Option<PathBuf>) -> Registry {
        Registry { runtime, store, loaded: RwLock::new(HashMap::new()), compile_cache }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn cached(&self, sha256: &str) -> Option<Prepared> {
        self.loaded.read().ok()?.get(sha256).cloned()
    }

    fn remember(&self, sha256: &str, prepared: &Prepared) {
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(sha256.to_string(), prepared.clone());
        }
    }

    /// Validates, compiles (unless these bytes were compiled before) and stores a new
    /// version of `name`. Blocking: compiling a large component takes seconds.
    pub fn upload(&self, name: &str, wasm: &[u8]) -> Result<(ComponentVersion, Inspection), ResolveError> {
        super::inspect::check_binary(wasm)?;
        let sha256 = sha256_hex(wasm);
        let key = self.runtime.artifact_key(&sha256);
        let (inspection, prepared, artifact) = match self.store.artifact(&key)? {
            Some(artifact) => {
                let (inspection, prepared) = self.runtime.load_artifact(&artifact)?;
                (inspection, prepared, artifact)
            }
            None => compile_cached(&self.runtime, wasm, &key, self.compile_cache.as_deref())?,
        };
        let upload =
            ComponentUpload { name, sha256: &sha256, world: inspection.world, wasm, artifact_key: &key, artifact: &artifact };
        let version = self.store.add_component_version(&upload)?;
        self.remember(&sha256, &prepared);
        Ok((version, inspection))
    }

    /// The version a reference (`name` for the latest, `name@N` pinned) points to.
    pub fn resolve(&self, reference: &str) -> Result<ComponentVersion, ResolveError> {
        let (name, pinned) = match reference.split_once('@') {
            Some((name, v)) => {
                let v = v.parse::<u32>().map_err(|_| ResolveError::BadReference(reference.to_string()))?;
                (name, Some(v))
            }
            None => (reference, None),
        };
        let entry = self.store.component(name)?.ok_or_else(|| ResolveError::NotFound(name.to_string()))?;
        let version = match pinned {
            Some(v) => entry.version(v).ok_or(ResolveError::NoSuchVersion { name: name.to_string(), version: v })?,
            None => entry.latest().ok_or_else(|| ResolveError::NotFound(name.to_string()))?,
        };
        Ok(version.clone())
    }

    /// The ready-to-run component a reference points to: from memory, else from the
    /// stored artifact, else compiled from the stored wasm (and the artifact stored).
    pub fn load(&self, reference: &str) -> Result<Prepared, ResolveError> {
        let version = self.resolve(reference)?;
        if let Some(prepared) = self.cached(&version.sha256) {
            return Ok(prepared);
        }
        let key = self.runtime.artifact_key(&version.sha256);
        let prepared = match self.store.artifact(&key)? {
            Some(artifact) => self.runtime.load_artifact(&artifact)?.1,
            None => {
                let wasm = self
                    .store
                    .wasm(&version.sha256)?
                    .ok_or_else(|| ResolveError::NotFound(format!("{reference} (wasm bytes missing)")))?;
                let (_, prepared, artifact) = compile_cached(&self.runtime, &wasm, &key, self.compile_cache.as_deref())?;
                self.store.put_artifact(&key, &artifact)?;
                prepared
            }
        };
        self.remember(&version.sha256, &prepared);
        Ok(prepared)
    }
}

/// Compiles `wasm`, or loads the code compiled earlier for `key` (from
/// [`Runtime::artifact_key`]) from `cache_dir`, where a compilation is written for the next
/// time. Shared by gateways (`--compile-cache`) and `hookgate component run`.
pub fn compile_cached(runtime: &Runtime, wasm: &[u8], key: &str, cache_dir: Option<&Path>) -> Result<(Inspection, Prepared, Vec<u8>), ComponentError> {
    let cached_file = cache_dir.map(|dir| dir.join(format!("{}.cwasm", key.replace(':', "-"))));
    if let Some(artifact) = cached_file.as_ref().and_then(|f| std::fs::read(f).ok()) {
        match runtime.load_artifact(&artifact) {
            Ok((inspection, prepared)) => return Ok((inspection, prepared, artifact)),
            Err(e) => tracing::warn!("ignoring an unusable compile cache entry: {e}"),
        }
    }
    let started = std::time::Instant::now();
    let compiled = runtime.compile(wasm)?;
    tracing::info!(key, size = wasm.len(), took_ms = started.elapsed().as_millis() as u64, "compiled a component");
    if let Some(file) = cached_file {
        // Written aside and renamed, so a concurrent reader never sees half a file.
        let partial = file.with_extension(format!("{}.partial", std::process::id()));
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&partial, &compiled.2))
            .and_then(|_| std::fs::rename(&partial, &file));
        if let Err(e) = written {
            tracing::warn!("cannot write the compile cache {}: {e}", file.display());
        }
    }
    Ok(compiled)
}
