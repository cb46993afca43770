//! Uploaded components: their versions, wasm bytes and compiled artifacts.

use sled::Transactional;

use super::{decode, encode, Database, Result, StoreError};
use crate::model::{ComponentEntry, ComponentVersion};
use crate::store::ComponentUpload;

impl Database {
    pub(super) fn component(&self, name: &str) -> Result<Option<ComponentEntry>> {
        self.components.get(name)?.map(|v| decode("component", &v)).transpose()
    }

    pub(super) fn components(&self) -> Result<Vec<ComponentEntry>> {
        self.components.iter().values().map(|v| decode("component", &v?)).collect()
    }

    /// Adds a new version with its wasm and compiled artifact, all in one transaction, and
    /// returns the new version.
    pub(super) fn add_component_version(&self, upload: &ComponentUpload<'_>) -> Result<ComponentVersion> {
        let ComponentUpload { name, sha256, world, wasm, artifact_key, artifact } = *upload;
        let result = (&self.components, &self.wasm, &self.artifacts).transaction(
            |(components, wasm_tree, artifacts)| {
                let mut entry = match components.get(name)? {
                    Some(bytes) => decode("component", &bytes)
                        .map_err(sled::transaction::ConflictableTransactionError::Abort)?,
                    None => ComponentEntry { name: name.to_string(), versions: Vec::new() },
                };
                let version = ComponentVersion {
                    version: entry.latest().map_or(1, |v| v.version + 1),
                    sha256: sha256.to_string(),
                    world,
                    size: wasm.len(),
                    uploaded_at: crate::model::rfc3339_now(),
                };
                entry.versions.push(version.clone());
                components.insert(name, encode(&entry))?;
                wasm_tree.insert(sha256, wasm)?;
                artifacts.insert(artifact_key, artifact)?;
                Ok(version)
            },
        );
        result.map_err(StoreError::from)
    }

    pub(super) fn delete_component(&self, name: &str) -> Result<bool> {
        Ok(self.components.remove(name)?.is_some())
    }

    pub(super) fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.wasm.get(sha256)?.map(|v| v.to_vec()))
    }

    pub(super) fn artifact(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.artifacts.get(key)?.map(|v| v.to_vec()))
    }

    pub(super) fn put_artifact(&self, key: &str, artifact: &[u8]) -> Result<()> {
        self.artifacts.insert(key, artifact)?;
        Ok(())
    }
}
