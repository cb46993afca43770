//! Durable state behind one interface, [`Store`]: the configuration ([`ConfigStore`]), the
//! message log ([`MessageLog`]) and the delivery queue ([`DeliveryQueue`]). The backend is
//! chosen at start from [`StoreLocation`] by [`open`]; nothing outside this module names
//! one. Today's backend is an embedded sled database (`sled/`).
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

mod sled;

#[cfg(test)]
mod contract;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the store is, chosen at start.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// An embedded sled database in this directory, which one process owns.
    Sled(PathBuf),
}

/// Opens (or creates) the store at `location`, with at most `cache_bytes` of page cache
/// where the backend keeps one. Starts the backend's own threads, if any.
pub async fn open(location: &StoreLocation, cache_bytes: u64) -> Result<Arc<dyn Store>> {
    match location {
        StoreLocation::Sled(dir) => Ok(Arc::new(self::sled::SledStore::open(dir, cache_bytes)?)),
    }
}

/// The gateway's durable state.
#[async_trait]
pub trait Store: ConfigStore + MessageLog + DeliveryQueue {
    /// Bytes the store takes on disk.
    async fn size_bytes(&self) -> Result<u64>;

    /// Makes every write so far durable (at shutdown).
    async fn close(&self) -> Result<()>;
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

/// The deliveries waiting for an attempt, by [`Lane`], each lane in due order.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// The lanes with unclaimed deliveries, each with the due time of its head.
    async fn lanes(&self) -> Result<Vec<(Lane, u64)>>;

    /// Claims the head of `lane` if it is due at `now_ms`.
    async fn claim_due(&self, lane: &Lane, now_ms: u64) -> Result<Claim>;

    /// Records the outcome of a claim's attempt, durably: `delivery` replaces the claimed
    /// entry, and is queued again at its next attempt while it is still pending.
    async fn record(&self, claim: Claimed, delivery: DeliveryRecord) -> Result<()>;

    /// Hands a claim back unchanged: its attempt was not made.
    async fn release(&self, claim: Claimed) -> Result<()>;

    /// Drops a claimed entry whose delivery no longer waits for it
    /// (see [`QueueEntry::is_live_for`]).
    async fn discard(&self, claim: Claimed) -> Result<()>;

    /// Queues the failed deliveries of a message again, due at `now_ms`, keeping their
    /// attempt history, durably. Returns how many.
    async fn requeue_failed(&self, message_id: &str, now_ms: u64) -> Result<usize>;

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

/// A pending delivery in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueEntry {
    pub due_ms: u64,
    /// `{message id}/{target id}`, the key of the delivery record.
    pub delivery_key: String,
    pub event_id: String,
}

impl QueueEntry {
    /// The entry of a pending delivery: due at its next attempt. An entry whose due time
    /// is not its delivery's next attempt is stale (see [`QueueEntry::is_live_for`]).
    pub fn of(delivery: &DeliveryRecord, event_id: &str) -> QueueEntry {
        QueueEntry {
            due_ms: delivery.next_attempt_at_ms.unwrap_or(0),
            delivery_key: delivery_key(&delivery.message_id, &delivery.target),
            event_id: event_id.to_string(),
        }
    }

    /// Whether this entry is the one that schedules `delivery` (pending, due at its next
    /// attempt) rather than one a crash left behind.
    pub fn is_live_for(&self, delivery: &DeliveryRecord) -> bool {
        delivery.status == DeliveryStatus::Pending && delivery.next_attempt_at_ms.unwrap_or(0) == self.due_ms
    }

    pub fn message_id(&self) -> &str {
        self.delivery_key.rsplit_once('/').map_or(&self.delivery_key, |(message, _)| message)
    }

    pub fn lane(&self) -> Lane {
        let target = self.delivery_key.rsplit_once('/').map_or("", |(_, target)| target);
        Lane { event_id: self.event_id.clone(), target_id: target.to_string() }
    }
}

/// The deliveries to one target of one event: the unit of admission (in-flight cap,
/// circuit breaker).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    pub event_id: String,
    pub target_id: String,
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.event_id, self.target_id)
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub entry: QueueEntry,
    /// Until when (Unix ms) no one else can claim the entry; `u64::MAX` where one process
    /// owns the queue.
    pub lease_until_ms: u64,
    /// The backend's own mark on the claim: where the sled backend keeps the entry, the
    /// lease's id in a shared database.
    pub(in crate::store) token: u64,
}
