//! Event configurations.

use super::{decode, encode, Result, Store};
use crate::model::EventConfig;

impl Store {
    pub fn event(&self, id: &str) -> Result<Option<EventConfig>> {
        self.events.get(id)?.map(|v| decode("event", &v)).transpose()
    }

    /// All events, ordered by id.
    pub fn events(&self) -> Result<Vec<(String, EventConfig)>> {
        self.events
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode("event", &v)?))
            })
            .collect()
    }

    /// Stores the config and tells whether the event is new.
    pub fn put_event(&self, id: &str, config: &EventConfig) -> Result<bool> {
        Ok(self.events.insert(id, encode(config))?.is_none())
    }

    pub fn delete_event(&self, id: &str) -> Result<bool> {
        Ok(self.events.remove(id)?.is_some())
    }
}
