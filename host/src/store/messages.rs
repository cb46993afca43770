//! Messages, their deliveries, and the queue of deliveries due.

use sled::Transactional;

use super::{decode, encode, Result, Store, StoreError};
use crate::model::{message_id_time_ms, DeliveryRecord, DeliveryStatus, MessageRecord};

/// A pending delivery in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueEntry {
    pub due_ms: u64,
    pub delivery_key: String,
}

impl QueueEntry {
    fn key(&self) -> Vec<u8> {
        queue_key(self.due_ms, &self.delivery_key)
    }
}

fn queue_key(due_ms: u64, delivery_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + delivery_key.len());
    key.extend_from_slice(&due_ms.to_be_bytes());
    key.extend_from_slice(delivery_key.as_bytes());
    key
}

/// The key of the delivery of `message_id` to `target`.
pub fn delivery_key(message_id: &str, target: &str) -> String {
    format!("{message_id}/{target}")
}

fn by_event_key(event_id: &str, message_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(event_id.len() + 1 + message_id.len());
    key.extend_from_slice(event_id.as_bytes());
    key.push(0);
    key.extend_from_slice(message_id.as_bytes());
    key
}

/// How long an idempotency key answers with the message it created.
pub const IDEMPOTENCY_WINDOW_MS: u64 = 24 * 3_600_000;

/// What [`Store::insert_message`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The idempotency key was used before, by this message id; nothing was written.
    Existing(String),
}

/// A message to store, with its body and its pending deliveries (due at `due_ms`).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: MessageRecord,
    pub body: bytes::Bytes,
    pub deliveries: Vec<DeliveryRecord>,
    pub due_ms: u64,
    /// When set and used by a message of the last 24 h, nothing is stored.
    pub idempotency_key: Option<String>,
}

/// One write of the pipeline; [`Store::apply`] applies many in one transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// A message accepted by ingest.
    Message(NewMessage),
    /// The outcome of an attempt: the delivery replaces its claimed queue entry, and is
    /// queued again at its next attempt time while it is still pending.
    Attempt { claimed: QueueEntry, delivery: DeliveryRecord },
}

impl Store {
    /// Stores one message; see [`Store::insert_messages`].
    pub fn insert_message(
        &self,
        message: &MessageRecord,
        body: &[u8],
        deliveries: &[DeliveryRecord],
        due_ms: u64,
        idempotency_key: Option<&str>,
    ) -> Result<Inserted> {
        let new = NewMessage {
            message: message.clone(),
            body: bytes::Bytes::copy_from_slice(body),
            deliveries: deliveries.to_vec(),
            due_ms,
            idempotency_key: idempotency_key.map(str::to_string),
        };
        Ok(self.insert_messages(std::slice::from_ref(&new))?.pop().unwrap_or(Inserted::New))
    }

    /// Stores messages, their bodies and their pending deliveries in one transaction (one
    /// entry in the log, whatever the batch size), each unless its idempotency key already
    /// names a message. Not yet flushed: call [`Store::flush`] before acknowledging.
    pub fn insert_messages(&self, batch: &[NewMessage]) -> Result<Vec<Inserted>> {
        let writes: Vec<Write> = batch.iter().cloned().map(Write::Message).collect();
        Ok(self.apply(&writes)?.into_iter().flatten().collect())
    }

    /// Applies `batch` in one transaction; for each write, what became of a message
    /// (`None` for an attempt). Not yet flushed.
    pub fn apply(&self, batch: &[Write]) -> Result<Vec<Option<Inserted>>> {
        let trees = (&self.messages, &self.bodies, &self.by_event, &self.deliveries, &self.queue, &self.idempotency);
        trees
            .transaction(|(messages, bodies, by_event, delivery_tree, queue, idempotency)| {
                let mut outcomes = Vec::with_capacity(batch.len());
                'writes: for write in batch {
                    let new = match write {
                        Write::Attempt { claimed, delivery } => {
                            let key = delivery_key(&delivery.message_id, &delivery.target);
                            queue.remove(claimed.key())?;
                            delivery_tree.insert(key.as_str(), encode(delivery))?;
                            if delivery.status == DeliveryStatus::Pending {
                                queue.insert(queue_key(delivery.next_attempt_at_ms.unwrap_or(0), &key), &[])?;
                            }
                            outcomes.push(None);
                            continue 'writes;
                        }
                        Write::Message(new) => new,
                    };
                    let message = &new.message;
                    let id = message.message_id.as_str();
                    if let Some(key) = new.idempotency_key.as_deref() {
                        if let Some(existing) = idempotency.get(key)? {
                            let existing = String::from_utf8_lossy(&existing).into_owned();
                            let created = message_id_time_ms(&existing).unwrap_or(0);
                            if message.received_at_ms < created.saturating_add(IDEMPOTENCY_WINDOW_MS) {
                                outcomes.push(Some(Inserted::Existing(existing)));
                                continue 'writes;
                            }
                        }
                        idempotency.insert(key, id)?;
                    }
                    messages.insert(id, encode(message))?;
                    bodies.insert(id, new.body.as_ref())?;
                    by_event.insert(by_event_key(&message.event_id, id), &[])?;
                    for delivery in &new.deliveries {
                        let key = delivery_key(id, &delivery.target);
                        delivery_tree.insert(key.as_str(), encode(delivery))?;
                        if delivery.status == DeliveryStatus::Pending {
                            queue.insert(queue_key(new.due_ms, &key), &[])?;
                        }
                    }
                    outcomes.push(Some(Inserted::New));
                }
                Ok(outcomes)
            })
            .map_err(StoreError::from)
    }

    pub fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        self.messages.get(id)?.map(|v| decode("message", &v)).transpose()
    }

    pub fn body(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.bodies.get(id)?.map(|v| v.to_vec()))
    }

    /// The deliveries of a message, ordered by target id.
    pub fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>> {
        self.deliveries
            .scan_prefix(format!("{message_id}/"))
            .values()
            .map(|v| decode("delivery", &v?))
            .collect()
    }

    pub fn delivery(&self, key: &str) -> Result<Option<DeliveryRecord>> {
        self.deliveries.get(key)?.map(|v| decode("delivery", &v)).transpose()
    }

    /// Message ids, newest first, strictly older than `before` when given, of one event
    /// when given. Iterates lazily: the caller stops when it has enough.
    pub fn message_ids_newest_first<'a>(
        &'a self,
        event_id: Option<&str>,
        before: Option<&str>,
    ) -> Box<dyn Iterator<Item = Result<String>> + 'a> {
        let to_id = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match event_id {
            Some(event) => {
                let start = by_event_key(event, "");
                let end = match before {
                    Some(b) => by_event_key(event, b),
                    None => {
                        let mut end = event.as_bytes().to_vec();
                        end.push(1);
                        end
                    }
                };
                let prefix_len = start.len();
                Box::new(
                    self.by_event
                        .range(start..end)
                        .keys()
                        .rev()
                        .map(move |k| Ok(to_id(&k?[prefix_len..]))),
                )
            }
            None => {
                let iter = match before {
                    Some(b) => self.messages.range(..b.as_bytes()),
                    None => self.messages.iter(),
                };
                Box::new(iter.keys().rev().map(move |k| Ok(to_id(&k?))))
            }
        }
    }

    /// Up to `limit` queue entries, earliest first.
    pub fn queue_head(&self, limit: usize) -> Result<Vec<QueueEntry>> {
        self.queue
            .iter()
            .keys()
            .take(limit)
            .map(|k| {
                let k = k?;
                let (due, key) = k.split_at(8.min(k.len()));
                let due_ms = u64::from_be_bytes(due.try_into().unwrap_or([0; 8]));
                Ok(QueueEntry { due_ms, delivery_key: String::from_utf8_lossy(key).into_owned() })
            })
            .collect()
    }

    /// The oldest message with a pending delivery (looking at most at 10,000 queue entries).
    pub fn oldest_pending_message(&self) -> Result<Option<String>> {
        let mut oldest: Option<String> = None;
        for key in self.queue.iter().keys().take(10_000) {
            let key = key?;
            let delivery = String::from_utf8_lossy(key.get(8..).unwrap_or_default()).into_owned();
            let message = delivery.split_once('/').map_or(delivery.as_str(), |(m, _)| m).to_string();
            if oldest.as_ref().is_none_or(|o| message < *o) {
                oldest = Some(message);
            }
        }
        Ok(oldest)
    }

    /// Number of pending deliveries in the queue.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Saves the outcome of an attempt: the updated delivery replaces `claimed` in the
    /// queue, re-queued at its next attempt time while it is still pending.
    pub fn save_delivery(&self, claimed: Option<&QueueEntry>, delivery: &DeliveryRecord) -> Result<()> {
        let key = delivery_key(&delivery.message_id, &delivery.target);
        (&self.deliveries, &self.queue)
            .transaction(|(deliveries, queue)| {
                if let Some(entry) = claimed {
                    queue.remove(entry.key())?;
                }
                deliveries.insert(key.as_str(), encode(delivery))?;
                if delivery.status == DeliveryStatus::Pending {
                    let due = delivery.next_attempt_at_ms.unwrap_or(0);
                    queue.insert(queue_key(due, &key), &[])?;
                }
                Ok(())
            })
            .map_err(StoreError::from)
    }

    /// Drops a queue entry whose delivery no longer needs attempts.
    pub fn drop_queue_entry(&self, entry: &QueueEntry) -> Result<()> {
        self.queue.remove(entry.key())?;
        Ok(())
    }

    /// Puts the failed deliveries of a message back in the queue, due now, keeping their
    /// attempt history. Returns how many were re-queued.
    pub fn requeue_failed(&self, message_id: &str, now_ms: u64) -> Result<usize> {
        let failed: Vec<DeliveryRecord> = self
            .deliveries_of(message_id)?
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Failed)
            .collect();
        (&self.deliveries, &self.queue)
            .transaction(|(deliveries, queue)| {
                for d in &failed {
                    let mut d = d.clone();
                    d.status = DeliveryStatus::Pending;
                    d.reason = None;
                    d.next_attempt_at_ms = Some(now_ms);
                    let key = delivery_key(&d.message_id, &d.target);
                    deliveries.insert(key.as_str(), encode(&d))?;
                    queue.insert(queue_key(now_ms, &key), &[])?;
                }
                Ok(())
            })
            .map_err(StoreError::from)?;
        Ok(failed.len())
    }

    /// Deletes up to `limit` messages that arrived before `cutoff_id` and whose deliveries
    /// are all settled (delivered, failed or skipped), with everything stored for them.
    /// Pending messages are kept whatever their age. Returns how many were deleted.
    pub fn prune_settled_before(&self, cutoff_id: &str, limit: usize) -> Result<usize> {
        let mut pruned = 0;
        for id in self.messages.range(..cutoff_id.as_bytes()).keys().take(limit) {
            let id = String::from_utf8_lossy(&id?).into_owned();
            let Some(message) = self.message(&id)? else { continue };
            let deliveries = self.deliveries_of(&id)?;
            if deliveries.iter().any(|d| d.status == DeliveryStatus::Pending) {
                continue;
            }
            let trees = (&self.messages, &self.bodies, &self.by_event, &self.deliveries, &self.idempotency);
            trees
                .transaction(|(messages, bodies, by_event, delivery_tree, idempotency)| {
                    messages.remove(id.as_str())?;
                    bodies.remove(id.as_str())?;
                    by_event.remove(by_event_key(&message.event_id, &id))?;
                    for d in &deliveries {
                        delivery_tree.remove(delivery_key(&id, &d.target).as_str())?;
                    }
                    // Only while the key still names this message (it moves on after 24 h).
                    if let Some(key) = &message.idempotency_key {
                        if idempotency.get(key.as_str())?.is_some_and(|owner| owner == id.as_bytes()) {
                            idempotency.remove(key.as_str())?;
                        }
                    }
                    Ok(())
                })
                .map_err(StoreError::from)?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Number of stored messages.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{message_id_floor, now_ms};

    fn message(id: String, at_ms: u64) -> MessageRecord {
        MessageRecord {
            message_id: id,
            event_id: "e".into(),
            received_at: String::new(),
            received_at_ms: at_ms,
            headers: vec![],
            content_type: None,
            body_size: 0,
            subshop: None,
            idempotency_key: Some("k".into()),
        }
    }

    #[test]
    fn an_idempotency_key_answers_for_24_hours() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        let now = now_ms();
        let old_at = now - IDEMPOTENCY_WINDOW_MS - 1;
        let old = format!("{}0000000000000000000", message_id_floor(old_at));
        assert_eq!(store.insert_message(&message(old.clone(), old_at), b"", &[], 0, Some("k")).unwrap(), Inserted::New);
        let within = format!("{}0000000000000000001", message_id_floor(old_at + 1000));
        assert_eq!(
            store.insert_message(&message(within, old_at + 1000), b"", &[], 0, Some("k")).unwrap(),
            Inserted::Existing(old)
        );
        let fresh = format!("{}0000000000000000002", message_id_floor(now));
        assert_eq!(store.insert_message(&message(fresh.clone(), now), b"", &[], 0, Some("k")).unwrap(), Inserted::New);
        let again = format!("{}0000000000000000003", message_id_floor(now + 1));
        assert_eq!(store.insert_message(&message(again, now + 1), b"", &[], 0, Some("k")).unwrap(), Inserted::Existing(fresh));
    }
}
