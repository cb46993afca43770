//! Event configurations. They are read on every ingest and every attempt and written
//! rarely (admin API), so the store keeps all of them decoded in memory; every write goes
//! through here and updates the tree and the memory copy under one lock.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{decode, encode, Database, Result};
use crate::model::EventConfig;

/// The decoded configs, by event id.
#[derive(Default)]
pub(super) struct EventCache {
    configs: RwLock<BTreeMap<String, Arc<EventConfig>>>,
}

impl EventCache {
    pub(super) fn load(tree: &sled::Tree) -> Result<EventCache> {
        let mut configs = BTreeMap::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            configs.insert(String::from_utf8_lossy(&k).into_owned(), Arc::new(decode("event", &v)?));
        }
        Ok(EventCache { configs: RwLock::new(configs) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<EventConfig>>> {
        // Writers update the map with single inserts and removes; a poisoned lock holds a whole map.
        self.configs.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<EventConfig>>> {
        self.configs.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Database {
    pub(super) fn event(&self, id: &str) -> Option<Arc<EventConfig>> {
        self.event_cache.read().get(id).cloned()
    }

    /// All events, ordered by id.
    pub(super) fn events(&self) -> Vec<(String, Arc<EventConfig>)> {
        self.event_cache.read().iter().map(|(id, config)| (id.clone(), config.clone())).collect()
    }

    /// Stores the config and tells whether the event is new.
    pub(super) fn put_event(&self, id: &str, config: &EventConfig) -> Result<bool> {
        let mut configs = self.event_cache.write();
        self.events.insert(id, encode(config))?;
        Ok(configs.insert(id.to_string(), Arc::new(config.clone())).is_none())
    }

    pub(super) fn delete_event(&self, id: &str) -> Result<bool> {
        let mut configs = self.event_cache.write();
        self.events.remove(id)?;
        Ok(configs.remove(id).is_some())
    }
}
