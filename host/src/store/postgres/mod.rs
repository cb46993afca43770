//! The PostgreSQL backend: a database that several gateways share. This is the only
//! module that knows PostgreSQL.
//!
//! Tables (`migrations/`): `hookgate_events`, `hookgate_components` and `hookgate_wasm`
//! (the configuration, mirrored in each node's memory: `config.rs`); `hookgate_messages`
//! (record and body); `hookgate_deliveries` (one row per delivery, which is also its queue
//! entry and its lease: `queue.rs`); `hookgate_idempotency` (a unique key per idempotency
//! key, so repeats are caught across nodes); `hookgate_nodes` (heartbeats).
//!
//! Durability: every write the API answers for is a committed transaction (PostgreSQL's
//! `synchronous_commit` decides what committed means; leave it `on`). Appends commit in
//! groups (`messages.rs`).
//!
//! What a node keeps for itself: compiled components, in `{local dir}/compiled`, since
//! compiled code belongs to the engine that made it.

mod config;
mod group;
mod messages;
mod queue;
mod schema;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use super::{
    Claim, Claimed, Cluster, ComponentUpload, ConfigStore, DeliveryQueue, Inserted, Lane, MessageLog, MessageQuery,
    NewMessage, NodeInfo, NodeSeen, QueueEntry, Result, Store, StoreError, StoreOptions,
};
use crate::model::{ComponentEntry, ComponentVersion, DeliveryRecord, EventConfig, MessageRecord};

/// Connections per node: the appenders, the dispatcher's claims and records (up to
/// `--delivery-concurrency` at once, but each holds a connection only for a statement),
/// the admin API and the background tasks.
const POOL_SIZE: usize = 24;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own words when it sent some; "db error" says nothing.
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
            // With its causes: "error performing TLS handshake" alone does not say what failed.
            None => {
                let mut message = format!("PostgreSQL: {e}");
                let mut cause = std::error::Error::source(&e);
                while let Some(inner) = cause {
                    message.push_str(&format!(": {inner}"));
                    cause = inner.source();
                }
                StoreError::Backend(message)
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Backend(format!("PostgreSQL connection pool: {other}")),
        }
    }
}

pub struct PgStore {
    pool: Pool,
    /// For the writes a crash may undo ([`Commit::Lazy`]).
    lazy_pool: Pool,
    /// The lanes with pending deliveries as last read, and those this node queued since.
    lanes: std::sync::Mutex<queue::LanesSeen>,
    config: Arc<config::ConfigCache>,
    appender: group::Group<NewMessage, Inserted>,
    /// Attempt outcomes, committed in groups too.
    recorder: group::Group<(Claimed, DeliveryRecord), ()>,
    leases: queue::Leases,
    compiled_dir: PathBuf,
    /// Runs the blocking calls' queries (they come from the blocking pool).
    runtime: tokio::runtime::Handle,
    /// Reloads the configuration when another node changed it; stopped on drop.
    watcher: JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// How a pool's connections commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// A commit waits for the WAL flush: for every write the API answers for.
    Durable,
    /// A commit does not wait for the flush (`synchronous_commit = off`): for claims,
    /// hand-backs, renewals and heartbeats, which a database crash may undo harmlessly (an
    /// undone claim is claimable again: delivery is at least once anyway). It spares a
    /// flush per claim.
    Lazy,
}

/// Connects a pool; nothing is opened until the first use.
fn pool(url: &str, commit: Commit) -> Result<Pool> {
    let unusable = |reason: String| StoreError::Open { path: super::secrets::mask_userinfo(url), reason };
    let (mut config, tls) = tls::connection(url).map_err(unusable)?;
    if commit == Commit::Lazy {
        let options = config.get_options().map_or(String::new(), |o| format!("{o} "));
        config.options(format!("{options}-c synchronous_commit=off"));
    }
    let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| unusable(e.to_string()))
}

/// Migrates the schema of the database at `url` and does nothing else.
pub async fn migrate_only(url: &str) -> Result<(i32, i32)> {
    let pool = pool(url, Commit::Durable)?;
    let mut client = pool.get().await?;
    schema::migrate(&mut client).await
}

impl PgStore {
    /// Connects, migrates the schema, loads the configuration and starts the background
    /// tasks (appenders, lease renewal, configuration watcher).
    pub async fn open(url: &str, local_dir: &Path, options: &StoreOptions) -> Result<PgStore> {
        let (pool, lazy_pool) = (pool(url, Commit::Durable)?, pool(url, Commit::Lazy)?);
        {
            let mut client = pool.get().await?;
            let (from, to) = schema::migrate(&mut client).await?;
            if from != to {
                tracing::info!(from, to, "migrated the PostgreSQL schema");
            }
        }
        let config = Arc::new(config::ConfigCache::default());
        config.refresh(&pool).await?;
        let compiled_dir = local_dir.join("compiled");
        std::fs::create_dir_all(&compiled_dir)
            .map_err(|source| StoreError::File { path: compiled_dir.display().to_string(), source })?;
        let watcher = tokio::spawn(watch_config(pool.clone(), config.clone()));
        Ok(PgStore {
            appender: messages::appender(pool.clone()),
            recorder: queue::recorder(pool.clone()),
            leases: queue::Leases::start(lazy_pool.clone(), options.lease_ms),
            lanes: std::sync::Mutex::default(),
            lazy_pool,
            runtime: tokio::runtime::Handle::current(),
            compiled_dir,
            watcher,
            config,
            pool,
        })
    }

    /// Refreshes this node's configuration after its own write, so it reads it back at once.
    async fn written<T>(&self, result: Result<T>) -> Result<T> {
        let value = result?;
        if let Err(e) = self.config.refresh(&self.pool).await {
            tracing::warn!("cannot reload the configuration after a change: {e}");
        }
        Ok(value)
    }

    fn compiled_file(&self, key: &str) -> PathBuf {
        self.compiled_dir.join(format!("{}.cwasm", key.replace(':', "-")))
    }

    /// Whether the database holds nothing of hookgate's yet (for `store copy`).
    pub async fn describe_contents(&self) -> Result<Option<String>> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM hookgate_events), (SELECT count(*) FROM hookgate_components),
                        (SELECT count(*) FROM hookgate_messages)",
                &[],
            )
            .await?;
        let (events, components, messages): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        Ok((events + components + messages > 0)
            .then(|| format!("{events} events, {components} components, {messages} messages")))
    }

    /// Stores a configuration read from another store, in one transaction.
    pub async fn import_config(&self, events: &[(String, Arc<EventConfig>)], components: &[(ComponentEntry, Vec<(String, Vec<u8>)>)]) -> Result<()> {
        let imported = config::import(&self.pool, events, components).await;
        self.written(imported).await
    }

    /// Stores messages as another store kept them: ids, deliveries with their attempts and
    /// schedule, and idempotency keys still in their window. One transaction.
    pub async fn import_messages(&self, batch: &[(MessageRecord, bytes::Bytes, Vec<DeliveryRecord>)]) -> Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        messages::write_messages(&transaction, batch.iter().map(|(m, body, d)| (m, &body[..], &d[..]))).await?;
        let now = crate::model::now_ms();
        for (message, _, _) in batch {
            let Some(key) = &message.idempotency_key else { continue };
            if message.received_at_ms + super::IDEMPOTENCY_WINDOW_MS > now {
                transaction
                    .execute(
                        "INSERT INTO hookgate_idempotency (key, message_id, at_ms) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE SET message_id = EXCLUDED.message_id, at_ms = EXCLUDED.at_ms
                         WHERE hookgate_idempotency.at_ms < EXCLUDED.at_ms",
                        &[&key.as_bytes(), &message.message_id, &(message.received_at_ms as i64)],
                    )
                    .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

async fn watch_config(pool: Pool, config: Arc<config::ConfigCache>) {
    let mut tick = tokio::time::interval(config::CONFIG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match config.refresh(&pool).await {
            Ok(()) => failing = false,
            // Once per outage: the log should not repeat it four times a second.
            Err(e) if !failing => {
                tracing::error!("cannot read the configuration from PostgreSQL (the last one read stays in use): {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[async_trait]
impl Store for PgStore {
    async fn size_bytes(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let size: i64 = client.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0);
        Ok(size as u64)
    }

    /// Everything is committed already; claims not handed out go back to the queue.
    async fn close(&self) -> Result<()> {
        self.leases.hand_back_waiting(&self.lazy_pool).await
    }

    fn shared(&self) -> bool {
        true
    }

    fn backup(&self, _out: &mut dyn std::io::Write) -> Result<u64> {
        Err(StoreError::Unsupported(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or base backups with WAL archiving)",
        ))
    }
}

#[async_trait]
impl Cluster for PgStore {
    async fn heartbeat(&self, node: &NodeInfo) -> Result<()> {
        let client = self.lazy_pool.get().await?;
        client
            .execute(
                "INSERT INTO hookgate_nodes (id, started_at_ms, last_seen_at_ms, version) VALUES ($1, $2, hookgate_now_ms(), $3)
                 ON CONFLICT (id) DO UPDATE SET last_seen_at_ms = EXCLUDED.last_seen_at_ms,
                     started_at_ms = EXCLUDED.started_at_ms, version = EXCLUDED.version",
                &[&node.id, &(node.started_at_ms as i64), &node.version],
            )
            .await?;
        Ok(())
    }

    /// Last-seen times are on the database's clock; they are shown against this node's.
    async fn nodes(&self) -> Result<Vec<NodeSeen>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, started_at_ms, last_seen_at_ms - hookgate_now_ms(), version FROM hookgate_nodes ORDER BY id",
                &[],
            )
            .await?;
        let now = crate::model::now_ms() as i64;
        Ok(rows
            .into_iter()
            .map(|row| NodeSeen {
                node: NodeInfo { id: row.get(0), started_at_ms: row.get::<_, i64>(1) as u64, version: row.get(3) },
                last_seen_at_ms: (now + row.get::<_, i64>(2)).max(0) as u64,
            })
            .collect())
    }
}

#[async_trait]
impl ConfigStore for PgStore {
    fn event(&self, id: &str) -> Option<Arc<EventConfig>> {
        self.config.event(id)
    }

    fn events(&self) -> Vec<(String, Arc<EventConfig>)> {
        self.config.events()
    }

    async fn put_event(&self, id: &str, config: &EventConfig) -> Result<bool> {
        self.written(config::put_event(&self.pool, id, config).await).await
    }

    async fn delete_event(&self, id: &str) -> Result<bool> {
        self.written(config::delete_event(&self.pool, id).await).await
    }

    fn component(&self, name: &str) -> Result<Option<ComponentEntry>> {
        Ok(self.config.component(name))
    }

    fn components(&self) -> Result<Vec<ComponentEntry>> {
        Ok(self.config.components())
    }

    fn add_component_version(&self, upload: &ComponentUpload<'_>) -> Result<ComponentVersion> {
        self.put_artifact(upload.artifact_key, upload.artifact)?;
        self.runtime.block_on(async { self.written(config::add_component_version(&self.pool, upload).await).await })
    }

    async fn delete_component(&self, name: &str) -> Result<bool> {
        self.written(config::delete_component(&self.pool, name).await).await
    }

    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.runtime.block_on(config::wasm(&self.pool, sha256))
    }

    fn artifact(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.compiled_file(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::File { path: self.compiled_file(key).display().to_string(), source }),
        }
    }

    /// Written aside and renamed, so a reader never sees half a file.
    fn put_artifact(&self, key: &str, artifact: &[u8]) -> Result<()> {
        let file = self.compiled_file(key);
        let partial = file.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, artifact)
            .and_then(|()| std::fs::rename(&partial, &file))
            .map_err(|source| StoreError::File { path: file.display().to_string(), source })
    }
}

#[async_trait]
impl MessageLog for PgStore {
    async fn append(&self, message: NewMessage) -> Result<Inserted> {
        let lanes: Vec<(Lane, u64)> = message
            .deliveries
            .iter()
            .filter(|d| d.status == crate::model::DeliveryStatus::Pending)
            .map(|d| {
                let entry = QueueEntry::of(d, &message.message.event_id);
                (entry.lane(), entry.due_ms)
            })
            .collect();
        let inserted = self.appender.submit(message).await?;
        if matches!(inserted, Inserted::New(_)) {
            queue::LanesSeen::queued(&self.lanes, lanes);
        }
        Ok(inserted)
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        messages::message(&self.pool, id).await
    }

    async fn message_with_body(&self, id: &str) -> Result<Option<(MessageRecord, bytes::Bytes)>> {
        messages::message_with_body(&self.pool, id).await
    }

    async fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>> {
        messages::deliveries_of(&self.pool, message_id).await
    }

    async fn delivery(&self, key: &str) -> Result<Option<DeliveryRecord>> {
        messages::delivery(&self.pool, key).await
    }

    async fn message_ids(&self, query: &MessageQuery, limit: usize) -> Result<Vec<String>> {
        messages::message_ids(&self.pool, query, limit).await
    }

    async fn prune_settled_before(&self, cutoff_id: &str, limit: usize) -> Result<usize> {
        messages::prune_settled_before(&self.pool, cutoff_id, limit).await
    }

    async fn message_count(&self) -> Result<usize> {
        messages::message_count(&self.pool).await
    }
}

#[async_trait]
impl DeliveryQueue for PgStore {
    async fn lanes(&self) -> Result<Vec<(Lane, u64)>> {
        queue::LanesSeen::lanes(&self.lanes, &self.pool).await
    }

    async fn claim_due(&self, lane: &Lane, now_ms: u64) -> Result<Claim> {
        self.leases.claim_due(&self.lazy_pool, lane, now_ms).await
    }

    async fn record(&self, claim: Claimed, delivery: DeliveryRecord) -> Result<()> {
        self.leases.let_go(&claim);
        self.recorder.submit((claim, delivery)).await
    }

    async fn release(&self, claim: Claimed) -> Result<()> {
        self.leases.release(claim).await
    }

    async fn discard(&self, claim: Claimed) -> Result<()> {
        self.leases.discard(&self.lazy_pool, claim).await
    }

    async fn requeue_failed(&self, message_id: &str, target: Option<&str>, now_ms: u64) -> Result<usize> {
        queue::requeue_failed(&self.pool, message_id, target, now_ms).await
    }

    async fn skip_held(&self, message_id: &str, target: &str, note: &str) -> Result<bool> {
        queue::skip_held(&self.pool, message_id, target, note).await
    }

    async fn pending_count(&self) -> Result<usize> {
        queue::pending_count(&self.pool).await
    }

    async fn oldest_pending_message(&self) -> Result<Option<String>> {
        queue::oldest_pending_message(&self.pool).await
    }
}

/// A delivery key's message id and target.
fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or((key, ""))
}

fn encode<T: Serialize>(value: &T) -> String {
    // Serializing our own plain data types to JSON cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::PgStore;
    use crate::store::contract::contract_tests;
    use crate::store::{Store, StoreOptions};

    /// A new, empty database in the test cluster named by `HOOKGATE_TEST_POSTGRES`
    /// (`tests/run.sh` starts one), and its URL.
    pub(crate) async fn fresh_database() -> String {
        let base = std::env::var("HOOKGATE_TEST_POSTGRES").expect(
            "HOOKGATE_TEST_POSTGRES is not set: the PostgreSQL tests need a server; run them through \
             tests/run.sh, or start one with `eval $(bash tests/postgres.sh start)`",
        );
        let (client, connection) = tokio_postgres::connect(&format!("{base}/postgres"), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let name = format!("hookgate_unit_{:016x}", rand::random::<u64>());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        format!("{base}/{name}")
    }

    async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database().await;
        // The checks move time on by up to a minute; a claim holds for longer (in real time,
        // its holder would renew it).
        let options = StoreOptions { lease_ms: 3_600_000, ..StoreOptions::default() };
        let store = PgStore::open(&url, dir.path(), &options).await.unwrap();
        (Arc::new(store), dir)
    }

    contract_tests!(fresh);

    /// Whether a connection of a pool made from `url` is encrypted, or why it failed.
    async fn encrypted(url: &str) -> Result<bool, String> {
        let client = super::pool(url, super::Commit::Durable).map_err(|e| e.to_string())?.get().await.map_err(|e| format!("{e:?}"))?;
        let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.map_err(|e| e.to_string())?;
        Ok(row.get(0))
    }

    /// `sslmode` as libpq reads it; the test cluster offers TLS with a certificate for
    /// 127.0.0.1 from its own CA (`HOOKGATE_TEST_POSTGRES_CA`).
    #[tokio::test]
    async fn tls_follows_the_urls_sslmode_and_verifies_the_server_when_asked() {
        let url = fresh_database().await;
        let ca = std::env::var("HOOKGATE_TEST_POSTGRES_CA").expect("HOOKGATE_TEST_POSTGRES_CA: start the server with tests/postgres.sh");
        assert_eq!(encrypted(&url).await, Ok(true), "prefer, the default, takes the TLS offered");
        assert_eq!(encrypted(&format!("{url}?sslmode=disable")).await, Ok(false));
        assert_eq!(encrypted(&format!("{url}?sslmode=require")).await, Ok(true), "require encrypts without checking");
        let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
        assert_eq!(encrypted(&verified).await, Ok(true));
        let unknown = encrypted(&format!("{url}?sslmode=verify-ca")).await.expect_err("the system roots do not know the test CA");
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
        let other_name = verified.replace("127.0.0.1", "localhost");
        let wrong = encrypted(&other_name).await.expect_err("the certificate names 127.0.0.1 only");
        assert!(wrong.contains("NotValidForName"), "{wrong}");
        let missing = encrypted(&format!("{url}?sslmode=verify-full&sslrootcert=/nonexistent.pem")).await.expect_err("no file");
        assert!(missing.contains("cannot read sslrootcert /nonexistent.pem"), "{missing}");
    }

    /// Retention prunes once per cluster: a node finds another one pruning and leaves it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_one_node_prunes_at_a_time() {
        use crate::store::{MessageLog, NewMessage};
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database().await;
        let store = PgStore::open(&url, dir.path(), &StoreOptions::default()).await.unwrap();
        let record = crate::model::MessageRecord {
            message_id: String::new(),
            event_id: "e".into(),
            received_at: String::new(),
            received_at_ms: crate::model::now_ms(),
            headers: vec![],
            content_type: None,
            body_size: 0,
            subshop: None,
            idempotency_key: None,
            traceparent: None,
        };
        let new = NewMessage { message: record, body: bytes::Bytes::new(), deliveries: vec![], idempotency_key: None };
        store.append(new).await.unwrap();
        let cutoff = crate::model::message_id_floor(crate::model::now_ms() + 1000);

        // Another node in the middle of its prune.
        let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let pruning = other.transaction().await.unwrap();
        pruning.execute("SELECT pg_advisory_xact_lock($1)", &[&super::messages::PRUNE_LOCK]).await.unwrap();
        assert_eq!(store.prune_settled_before(&cutoff, 100).await.unwrap(), 0, "left to the node pruning");
        pruning.rollback().await.unwrap();
        assert_eq!(store.prune_settled_before(&cutoff, 100).await.unwrap(), 1, "pruned once the other is done");
    }
}
