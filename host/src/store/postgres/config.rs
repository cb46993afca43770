//! Events and components. They are read on every ingest and attempt, so each node keeps
//! all of them decoded in memory. Every write bumps `hookgate_config_version` in its own
//! transaction; the writing node reloads at once, and every node polls the version
//! ([`CONFIG_POLL`]) and reloads when it moved, so a change reaches the whole cluster
//! within a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use super::{decode, encode};
use crate::model::{ComponentEntry, ComponentVersion, EventConfig};
use crate::store::{ComponentUpload, Result};

/// How often a node asks whether the configuration changed.
pub(super) const CONFIG_POLL: Duration = Duration::from_millis(250);

/// The configuration as of one version.
#[derive(Default)]
struct Snapshot {
    events: BTreeMap<String, Arc<EventConfig>>,
    components: BTreeMap<String, ComponentEntry>,
}

/// This node's copy of the configuration.
#[derive(Default)]
pub(super) struct ConfigCache {
    /// Replaced whole by a reload: readers never see half of one.
    snapshot: RwLock<Arc<Snapshot>>,
    /// The version the snapshot was read at (-1 before the first load).
    version: AtomicI64,
}

impl ConfigCache {
    fn current(&self) -> Arc<Snapshot> {
        // A reload only swaps the Arc, so a poisoned lock still holds a whole snapshot.
        self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub(super) fn event(&self, id: &str) -> Option<Arc<EventConfig>> {
        self.current().events.get(id).cloned()
    }

    pub(super) fn events(&self) -> Vec<(String, Arc<EventConfig>)> {
        self.current().events.iter().map(|(id, config)| (id.clone(), config.clone())).collect()
    }

    pub(super) fn component(&self, name: &str) -> Option<ComponentEntry> {
        self.current().components.get(name).cloned()
    }

    pub(super) fn components(&self) -> Vec<ComponentEntry> {
        self.current().components.values().cloned().collect()
    }

    /// Reads the whole configuration if its version moved since the last load.
    pub(super) async fn refresh(&self, pool: &Pool) -> Result<()> {
        let mut client = pool.get().await?;
        let version: i64 = client.query_one("SELECT version FROM hookgate_config_version", &[]).await?.get(0);
        if version == self.version.load(Ordering::Acquire) {
            return Ok(());
        }
        // One snapshot of the database, so events and components match each other and the version.
        let transaction = client.build_transaction().read_only(true).isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).start().await?;
        let version: i64 = transaction.query_one("SELECT version FROM hookgate_config_version", &[]).await?.get(0);
        let mut snapshot = Snapshot::default();
        for row in transaction.query("SELECT id, config FROM hookgate_events", &[]).await? {
            snapshot.events.insert(row.get(0), Arc::new(decode("event", row.get::<_, &str>(1))?));
        }
        for row in transaction.query("SELECT name, entry FROM hookgate_components", &[]).await? {
            snapshot.components.insert(row.get(0), decode("component", row.get::<_, &str>(1))?);
        }
        transaction.commit().await?;
        let mut current = self.snapshot.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A concurrent refresh may have read a later version meanwhile.
        if version >= self.version.load(Ordering::Acquire) {
            *current = Arc::new(snapshot);
            self.version.store(version, Ordering::Release);
        }
        Ok(())
    }
}

/// Bumps the configuration version inside a write's transaction.
async fn bump(transaction: &impl GenericClient) -> Result<()> {
    transaction.execute("UPDATE hookgate_config_version SET version = version + 1", &[]).await?;
    Ok(())
}

/// Stores an event's config; tells whether it is new.
pub(super) async fn put_event(pool: &Pool, id: &str, config: &EventConfig) -> Result<bool> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_one(
            "INSERT INTO hookgate_events (id, config) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config
             RETURNING (xmax = 0)",
            &[&id, &encode(config)],
        )
        .await?;
    bump(&transaction).await?;
    transaction.commit().await?;
    Ok(row.get(0))
}

pub(super) async fn delete_event(pool: &Pool, id: &str) -> Result<bool> {
    delete(pool, "DELETE FROM hookgate_events WHERE id = $1", id).await
}

pub(super) async fn delete_component(pool: &Pool, name: &str) -> Result<bool> {
    delete(pool, "DELETE FROM hookgate_components WHERE name = $1", name).await
}

async fn delete(pool: &Pool, statement: &str, key: &str) -> Result<bool> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let deleted = transaction.execute(statement, &[&key]).await? > 0;
    bump(&transaction).await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// Adds the next version of a component with its wasm; the entry's row lock numbers
/// concurrent uploads of one name one after the other, cluster-wide.
pub(super) async fn add_component_version(pool: &Pool, upload: &ComponentUpload<'_>) -> Result<ComponentVersion> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute("INSERT INTO hookgate_components (name, entry) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[
            &upload.name,
            &encode(&ComponentEntry { name: upload.name.to_string(), versions: Vec::new() }),
        ])
        .await?;
    let row = transaction.query_one("SELECT entry FROM hookgate_components WHERE name = $1 FOR UPDATE", &[&upload.name]).await?;
    let mut entry: ComponentEntry = decode("component", row.get::<_, &str>(0))?;
    let version = ComponentVersion {
        version: entry.latest().map_or(1, |v| v.version + 1),
        sha256: upload.sha256.to_string(),
        world: upload.world,
        size: upload.wasm.len(),
        uploaded_at: crate::model::rfc3339_now(),
    };
    entry.versions.push(version.clone());
    transaction
        .execute("INSERT INTO hookgate_wasm (sha256, wasm) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&upload.sha256, &upload.wasm])
        .await?;
    transaction.execute("UPDATE hookgate_components SET entry = $2 WHERE name = $1", &[&upload.name, &encode(&entry)]).await?;
    bump(&transaction).await?;
    transaction.commit().await?;
    Ok(version)
}

pub(super) async fn wasm(pool: &Pool, sha256: &str) -> Result<Option<Vec<u8>>> {
    let client = pool.get().await?;
    Ok(client.query_opt("SELECT wasm FROM hookgate_wasm WHERE sha256 = $1", &[&sha256]).await?.map(|row| row.get(0)))
}

/// Stores a whole configuration read from another store (`store copy`), in one transaction.
pub(super) async fn import(pool: &Pool, events: &[(String, Arc<EventConfig>)], components: &[(ComponentEntry, Vec<(String, Vec<u8>)>)]) -> Result<()> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    for (id, config) in events {
        transaction.execute("INSERT INTO hookgate_events (id, config) VALUES ($1, $2)", &[id, &encode(config.as_ref())]).await?;
    }
    for (entry, wasm) in components {
        transaction.execute("INSERT INTO hookgate_components (name, entry) VALUES ($1, $2)", &[&entry.name, &encode(entry)]).await?;
        for (sha256, bytes) in wasm {
            transaction
                .execute("INSERT INTO hookgate_wasm (sha256, wasm) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[sha256, bytes])
                .await?;
        }
    }
    bump(&transaction).await?;
    transaction.commit().await?;
    Ok(())
}
