//! Durable state behind one interface, [`Store`]: the configuration ([`ConfigStore`]), the
//! message log ([`MessageLog`]) and the delivery queue ([`DeliveryQueue`]). The backend is
//! chosen at start from [`StoreLocation`] by [`open`]; nothing outside this module names
//! one. The backends: an embedded sled database that one gateway owns (`sled/`, the
//! default), and a PostgreSQL database that several gateways share (`postgres/`).
//!
//! What every backend promises:
//! - A write the API answers for is durable when its call returns: [`MessageLog::append`],
//!   [`DeliveryQueue::record`], [`DeliveryQueue::requeue_failed`] and the configuration
//!   writes. The other writes may be undone by a crash, harmlessly: a released or discarded
//!   claim is due again (and found stale again), a pruned message is pruned again, a
//!   compiled artifact is compiled again. [`Store::close`] makes them durable too.
//! - The store names messages, with ids that start with their time of arrival, so the log
//!   listed newest first is the log by id, and an id is a cursor.
//! - A claim ([`DeliveryQueue::claim_due`]) is the only one on its delivery until it is
//!   recorded, released or discarded, or until its lease expires. A claim whose attempt was
//!   never recorded (its holder crashed) becomes due again: at start for a store one
//!   process owns, when the lease expires for a store several gateways share. Delivery is
//!   at least once.
//! - Configuration reads are answered from memory, without waiting for the database: they
//!   happen on every ingest and attempt. A backend that several gateways share refreshes
//!   its copy within a second of a change.
//!
//! Calls marked blocking are made from the blocking pool (component uploads and compiles
//! run there); the others may be awaited anywhere.

mod postgres;
mod sled;

#[cfg(test)]
mod contract;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::secrets;
use crate::model::{ComponentEntry, ComponentVersion, DeliveryRecord, DeliveryStatus, EventConfig, MessageRecord, World};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (its own message).
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "the store at {path} was created before but holds no data now (truncated or replaced?); \
         refusing to start with an empty store. Restore it from a backup, or remove {marker} to start afresh"
    )]
    Lost { path: String, marker: String },
    #[error("cannot use {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("cannot sync the store to disk: {0}")]
    Sync(std::io::Error),
    /// The database's schema was migrated by a later hookgate than this one.
    #[error("the database's schema is version {found}, newer than this hookgate knows ({known}): run a hookgate of that version or later")]
    SchemaTooNew { found: i32, known: i32 },
    /// `store copy` and a restore only fill an empty store.
    #[error("the target store is not empty ({0}); use a new, empty one")]
    NotEmpty(String),
    /// What this backend leaves to the database's own tools.
    #[error("{0}")]
    Unsupported(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the store is, chosen at start.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// An embedded sled database in this directory, which one process owns.
    Sled(PathBuf),
    /// A PostgreSQL database (`postgres://USER:PASS@HOST:PORT/DB`) that several gateways may
    /// share; what each node keeps for itself (compiled components) goes in `local_dir`.
    Postgres { url: String, local_dir: PathBuf },
}

impl StoreLocation {
    /// `postgres://...` (or `postgresql://...`) names a PostgreSQL database; anything else
    /// is refused, so that a typo never silently starts an empty embedded store.
    pub fn parse(store: &str, local_dir: PathBuf) -> Result<StoreLocation, String> {
        postgres_url(store).map(|url| StoreLocation::Postgres { url: url.to_string(), local_dir })
    }

    /// The directory of this node's own files (the data directory).
    pub fn local_dir(&self) -> &Path {
        match self {
            StoreLocation::Sled(dir) => dir.parent().unwrap_or(dir),
            StoreLocation::Postgres { local_dir, .. } => local_dir,
        }
    }

    /// Where the store is, for the log: a database URL without its password.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sled(dir) => format!("sled in {}", dir.display()),
            StoreLocation::Postgres { url, .. } => secrets::mask_userinfo(url),
        }
    }
}

/// `store` if it is a PostgreSQL URL.
pub fn postgres_url(store: &str) -> Result<&str, String> {
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        Ok(store)
    } else {
        Err(format!("`{}` is not a store: use postgres://USER:PASS@HOST:PORT/DB", secrets::mask_userinfo(store)))
    }
}

/// How a store is opened: the parts of the settings a backend uses.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Page cache, where the backend keeps one (sled).
    pub cache_bytes: u64,
    /// How long a claim holds its delivery where several gateways share the queue; the
    /// holder renews it while the attempt runs, so it only runs out when the holder died.
    pub lease_ms: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { cache_bytes: 64 << 20, lease_ms: 30_000 }
    }
}

/// Opens (or creates) the store at `location`. Starts the backend's own threads and tasks,
/// if any; a PostgreSQL schema is migrated first.
pub async fn open(location: &StoreLocation, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    match location {
        StoreLocation::Sled(dir) => Ok(Arc::new(self::sled::SledStore::open(dir, options.cache_bytes)?)),
        StoreLocation::Postgres { url, local_dir } => {
            Ok(Arc::new(self::postgres::PgStore::open(url, local_dir, options).await?))
        }
    }
}

/// Brings a PostgreSQL database's schema up to date, and says from which version to which.
pub async fn migrate(url: &str) -> Result<(i32, i32)> {
    self::postgres::migrate_only(url).await
}

/// What [`copy`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub events: usize,
    pub components: usize,
    pub messages: usize,
    /// Deliveries still pending, which the target's gateways deliver.
    pub pending: usize,
}

/// Copies everything of the sled store in `from` (it must not be in use) into the empty
/// PostgreSQL database at `to`: events, components with their wasm, and every message with
/// its body, deliveries, attempts, schedule and idempotency key. A node that then serves
/// from `to` delivers what was pending. `local_dir` is the node's own directory.
pub async fn copy(from: &Path, to: &str, local_dir: &Path) -> Result<Copied> {
    const PAGE: usize = 500;
    let source = self::sled::SledStore::open(from, StoreOptions::default().cache_bytes)?;
    let target = self::postgres::PgStore::open(to, local_dir, &StoreOptions::default()).await?;
    if let Some(contents) = target.describe_contents().await? {
        return Err(StoreError::NotEmpty(contents));
    }
    let events = source.events();
    let mut components = Vec::new();
    for entry in source.components()? {
        let mut wasm = Vec::new();
        for version in &entry.versions {
            let bytes = source.wasm(&version.sha256)?.ok_or_else(|| StoreError::Corrupt {
                what: "component",
                reason: format!("the wasm of {}@{} is missing", entry.name, version.version),
            })?;
            wasm.push((version.sha256.clone(), bytes));
        }
        components.push((entry, wasm));
    }
    target.import_config(&events, &components).await?;
    let mut copied = Copied { events: events.len(), components: components.len(), ..Copied::default() };
    let mut query = MessageQuery::default();
    loop {
        let ids = source.message_ids(&query, PAGE).await?;
        let mut batch = Vec::with_capacity(ids.len());
        for id in &ids {
            // Read between pages, a message may be gone: it was pruned, nothing to copy.
            let Some((message, body)) = source.message_with_body(id).await? else { continue };
            let deliveries = source.deliveries_of(id).await?;
            copied.pending += deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending).count();
            batch.push((message, body, deliveries));
        }
        target.import_messages(&batch).await?;
        copied.messages += batch.len();
        match ids.last() {
            Some(last) if ids.len() == PAGE => query.before = Some(last.clone()),
            _ => break,
        }
    }
    source.close().await?;
    Ok(copied)
}

/// The gateway's durable state.
#[async_trait]
pub trait Store: ConfigStore + MessageLog + DeliveryQueue + Cluster {
    /// Bytes the store takes on disk.
    async fn size_bytes(&self) -> Result<u64>;

    /// Makes every write so far durable (at shutdown).
    async fn close(&self) -> Result<()>;

    /// Whether other gateways may share this store: they then find each other's work
    /// only by looking, so the dispatcher looks more often.
    fn shared(&self) -> bool;

    /// Writes a backup of the store as it is at one moment (its writes wait meanwhile) to
    /// `out`, for [`restore`]; returns its number of entries. Blocking.
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<u64>;
}

/// Makes a new embedded store in `sled_dir` (which must not hold one) from a backup that
/// [`Store::backup`] wrote; returns its number of entries.
pub fn restore(backup: &Path, sled_dir: &Path) -> Result<u64> {
    self::sled::restore(backup, sled_dir)
}

/// The gateways that use the store.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Says that `node` is alive (at start and then every second).
    async fn heartbeat(&self, node: &NodeInfo) -> Result<()>;

    /// Every node that ever heartbeated, with when it was last seen, by id.
    async fn nodes(&self) -> Result<Vec<NodeSeen>>;
}

/// A gateway process, as it introduces itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    pub id: String,
    /// Unix ms.
    pub started_at_ms: u64,
    pub version: String,
}

/// A node and when it last heartbeated (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    pub node: NodeInfo,
    pub last_seen_at_ms: u64,
}

/// Events and components.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// From memory.
    fn event(&self, id: &str) -> Option<Arc<EventConfig>>;

    /// All events, ordered by id, from memory.
    fn events(&self) -> Vec<(String, Arc<EventConfig>)>;

    /// Stores the config durably and tells whether the event is new.
    async fn put_event(&self, id: &str, config: &EventConfig) -> Result<bool>;

    /// Deletes the config durably and tells whether there was one.
    async fn delete_event(&self, id: &str) -> Result<bool>;

    fn component(&self, name: &str) -> Result<Option<ComponentEntry>>;

    /// All components, ordered by name.
    fn components(&self) -> Result<Vec<ComponentEntry>>;

    /// Adds a new version of a component with its wasm and its compiled artifact, all or
    /// nothing, durably, and returns the new version. Blocking.
    fn add_component_version(&self, upload: &ComponentUpload<'_>) -> Result<ComponentVersion>;

    /// Deletes a component durably (its wasm stays: other names may share it) and tells
    /// whether there was one.
    async fn delete_component(&self, name: &str) -> Result<bool>;

    /// The wasm bytes with this sha256. Blocking.
    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// A compiled artifact. Blocking.
    fn artifact(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Keeps a compiled artifact (a cache: a crash may lose it). Blocking.
    fn put_artifact(&self, key: &str, artifact: &[u8]) -> Result<()>;
}

/// A new version of component `name`, as [`ConfigStore::add_component_version`] stores it.
pub struct ComponentUpload<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
    pub world: World,
    pub wasm: &'a [u8],
    /// The key of the compiled code: the wasm's sha256 and the engine that compiled it.
    pub artifact_key: &'a str,
    pub artifact: &'a [u8],
}

/// The messages, with their bodies and deliveries.
#[async_trait]
pub trait MessageLog: Send + Sync {
    /// Stores a new message with its body and deliveries, durably, and queues its pending
    /// deliveries at their next attempt, unless its idempotency key names a message
    /// received less than [`IDEMPOTENCY_WINDOW_MS`] before it: then nothing is stored and
    /// that message is the answer. Across all gateways that share the store.
    async fn append(&self, message: NewMessage) -> Result<Inserted>;

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>>;

    /// A message with its body.
    async fn message_with_body(&self, id: &str) -> Result<Option<(MessageRecord, bytes::Bytes)>>;

    /// The deliveries of a message, ordered by target id.
    async fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>>;

    /// The delivery with this [`delivery_key`].
    async fn delivery(&self, key: &str) -> Result<Option<DeliveryRecord>>;

    /// One page of the log: up to `limit` message ids, newest first, that `query` selects.
    async fn message_ids(&self, query: &MessageQuery, limit: usize) -> Result<Vec<String>>;

    /// Deletes up to `limit` messages that arrived before `cutoff_id` and whose deliveries
    /// are all settled, with everything stored for them; pending messages are kept whatever
    /// their age. Returns how many were deleted.
    async fn prune_settled_before(&self, cutoff_id: &str, limit: usize) -> Result<usize>;

    /// Number of stored messages.
    async fn message_count(&self) -> Result<usize>;
}

/// The deliveries waiting for an attempt, by [`Lane`]: an unordered lane in due order, an
/// ordered one in order of acceptance, one claim at a time.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// The lanes with unclaimed deliveries, each with the due time of its head. A backend
    /// that several gateways share may answer from a copy up to 100 ms old: a lane that
    /// emptied meanwhile is harmless (its claim finds nothing), and lanes queued by this
    /// gateway are always in it.
    async fn lanes(&self) -> Result<Vec<(Lane, u64)>>;

    /// Claims the head of `lane` if it is due at `now_ms`; in an ordered lane, only while no
    /// other claim holds the lane's head (meanwhile the lane is [`Claim::Empty`], or not due
    /// before the claim's lease runs out).
    async fn claim_due(&self, lane: &Lane, now_ms: u64) -> Result<Claim>;

    /// Records the outcome of a claim's attempt, durably: `delivery` replaces the claimed
    /// entry, and is queued again at its next attempt while it is still pending.
    async fn record(&self, claim: Claimed, delivery: DeliveryRecord) -> Result<()>;

    /// Hands a claim back unchanged: its attempt was not made.
    async fn release(&self, claim: Claimed) -> Result<()>;

    /// Drops a claimed entry whose delivery no longer waits for it
    /// (see [`QueueEntry::is_live_for`]).
    async fn discard(&self, claim: Claimed) -> Result<()>;

    /// Queues the failed deliveries of a message again (only the one to `target` when
    /// given), due at `now_ms`, keeping their attempt history, durably; one that held its
    /// ordering key goes first in it. Returns how many;
    /// two calls at once requeue each delivery once.
    async fn requeue_failed(&self, message_id: &str, target: Option<&str>, now_ms: u64) -> Result<usize>;

    /// Lets the ordering key that a failed delivery holds go on without it (an operator's
    /// skip); `note` joins its reason. Tells whether the delivery held its key.
    async fn skip_held(&self, message_id: &str, target: &str, note: &str) -> Result<bool>;

    /// Number of pending deliveries, claimed ones included.
    async fn pending_count(&self) -> Result<usize>;

    /// The oldest message with a pending delivery (a backend may look at part of the queue
    /// only, at least 10,000 entries).
    async fn oldest_pending_message(&self) -> Result<Option<String>>;
}

/// How long an idempotency key answers with the message it created.
pub const IDEMPOTENCY_WINDOW_MS: u64 = 24 * 3_600_000;

/// A message to store, with its body and its deliveries. The `message_id` fields of the
/// record and the deliveries are overwritten: the store names the message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: MessageRecord,
    pub body: bytes::Bytes,
    /// Each is queued at its `next_attempt_at_ms` while pending.
    pub deliveries: Vec<DeliveryRecord>,
    /// When set and used by a message of the last 24 h, nothing is stored.
    pub idempotency_key: Option<String>,
}

/// What [`MessageLog::append`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored under this new message id.
    New(String),
    /// The idempotency key was used before, by this message id; nothing was written.
    Existing(String),
}

/// The key of the delivery of `message_id` to `target`.
pub fn delivery_key(message_id: &str, target: &str) -> String {
    format!("{message_id}/{target}")
}

/// Which message ids a page of the log holds. A page may also hold ids that do not match
/// where matching exactly would cost a read of each message (the sled backend's index of
/// failed deliveries spans all events): callers check the messages they read.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    /// Only messages of this event.
    pub event_id: Option<String>,
    /// Only messages with a delivery that failed at some point (a manual retry may have
    /// delivered it since).
    pub failed: bool,
    /// Only ids strictly older than this (a cursor).
    pub before: Option<String>,
    /// Only ids not older than this.
    pub since: Option<String>,
}

/// A delivery in the queue: pending, or holding its ordering key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueEntry {
    pub due_ms: u64,
    /// `{message id}/{target id}`, the key of the delivery record.
    pub delivery_key: String,
    pub event_id: String,
    /// The delivery's ordering key; empty when it has none.
    pub ordering_key: String,
}

/// The due time of a delivery that holds its ordering key: it stays at the head of its
/// key, never due, until an operator retries or skips it. The largest time a PostgreSQL
/// `bigint` holds.
pub const HELD: u64 = i64::MAX as u64;

/// Where a delivery stands in the queue: due at its next attempt while pending, [`HELD`]
/// while it holds its key, not queued otherwise.
pub fn queue_due(delivery: &DeliveryRecord) -> Option<u64> {
    match delivery.status {
        DeliveryStatus::Pending => Some(delivery.next_attempt_at_ms.unwrap_or(0)),
        DeliveryStatus::Failed if delivery.holds_key => Some(HELD),
        _ => None,
    }
}

impl QueueEntry {
    /// The entry of a queued delivery (see [`queue_due`]). An entry whose due time is not
    /// the delivery's is stale (see [`QueueEntry::is_live_for`]).
    pub fn of(delivery: &DeliveryRecord, event_id: &str) -> QueueEntry {
        QueueEntry {
            due_ms: queue_due(delivery).unwrap_or(0),
            delivery_key: delivery_key(&delivery.message_id, &delivery.target),
            event_id: event_id.to_string(),
            ordering_key: delivery.ordering_key.clone().unwrap_or_default(),
        }
    }

    /// Whether this entry is the one that schedules `delivery` (pending, due at its next
    /// attempt, or holding its key) rather than one a crash left behind.
    pub fn is_live_for(&self, delivery: &DeliveryRecord) -> bool {
        queue_due(delivery) == Some(self.due_ms)
    }

    pub fn message_id(&self) -> &str {
        self.delivery_key.rsplit_once('/').map_or(&self.delivery_key, |(message, _)| message)
    }

    pub fn lane(&self) -> Lane {
        let target = self.delivery_key.rsplit_once('/').map_or("", |(_, target)| target);
        Lane { event_id: self.event_id.clone(), target_id: target.to_string(), key: self.ordering_key.clone() }
    }
}

/// The deliveries to one target of one event with one ordering key. An unordered lane (no
/// key) goes in due order, several attempts at once; an ordered one goes in the order of
/// its message ids (of acceptance), one attempt at a time, its head holding back the rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    pub event_id: String,
    pub target_id: String,
    /// The ordering key; empty for the unordered lane.
    pub key: String,
}

impl Lane {
    pub fn ordered(&self) -> bool {
        !self.key.is_empty()
    }

    /// The lane's target, `event/target`: the unit of admission (in-flight cap, circuit
    /// breaker, rate limit), which every key of the target shares.
    pub fn target(&self) -> String {
        format!("{}/{}", self.event_id, self.target_id)
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ordered() {
            false => write!(f, "{}/{}", self.event_id, self.target_id),
            true => write!(f, "{}/{} key {:?}", self.event_id, self.target_id, self.key),
        }
    }
}

/// What [`DeliveryQueue::claim_due`] found at the head of a lane.
#[derive(Debug)]
pub enum Claim {
    Taken(Claimed),
    /// The head is due at this time (Unix ms), later than now.
    NotDue(u64),
    Empty,
}

/// A queue entry claimed for one attempt; hand it back to the store whatever happens.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub entry: QueueEntry,
    /// Until when (Unix ms) no one else can claim the entry; `u64::MAX` where one process
    /// owns the queue.
    pub lease_until_ms: u64,
    /// The backend's own mark on the claim: where the sled backend keeps the entry, the
    /// lease's id in a shared database.
    pub(in crate::store) token: u64,
    /// The claimed delivery, when the backend read it with the claim (PostgreSQL), so that
    /// the attempt need not read it again.
    pub delivery: Option<Box<DeliveryRecord>>,
}
