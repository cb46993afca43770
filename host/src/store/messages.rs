//! Messages, their deliveries, and the queue of deliveries due.

use sled::Transactional;

use super::queue::QueueEntry;
use super::{decode, encode, Result, Store, StoreError};
use crate::model::{message_id_time_ms, DeliveryRecord, DeliveryStatus, MessageRecord};

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
        let (outcomes, queued) = trees
            .transaction(|(messages, bodies, by_event, delivery_tree, queue, idempotency)| {
                let mut queued = Vec::new();
                let mut outcomes = Vec::with_capacity(batch.len());
                'writes: for write in batch {
                    let new = match write {
                        Write::Attempt { claimed, delivery } => {
                            let key = delivery_key(&delivery.message_id, &delivery.target);
                            queue.remove(claimed.key())?;
                            delivery_tree.insert(key.as_str(), encode(delivery))?;
                            if delivery.status == DeliveryStatus::Pending {
                                let due_ms = delivery.next_attempt_at_ms.unwrap_or(0);
                                let entry = QueueEntry { due_ms, delivery_key: key, event_id: claimed.event_id.clone() };
                                queue.insert(entry.key(), entry.event_id.as_bytes())?;
                                queued.push(entry);
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
                            let entry = QueueEntry { due_ms: new.due_ms, delivery_key: key, event_id: message.event_id.clone() };
                            queue.insert(entry.key(), entry.event_id.as_bytes())?;
                            queued.push(entry);
                        }
                    }
                    outcomes.push(Some(Inserted::New));
                }
                Ok((outcomes, queued))
            })
            .map_err(StoreError::from)?;
        let claimed: Vec<QueueEntry> = batch
            .iter()
            .filter_map(|write| match write {
                Write::Attempt { claimed, .. } => Some(claimed.clone()),
                Write::Message(_) => None,
            })
            .collect();
        self.queue_index.committed(&claimed, queued);
        Ok(outcomes)
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

    /// Drops a claimed queue entry whose delivery no longer needs attempts.
    pub fn drop_queue_entry(&self, claimed: &QueueEntry) -> Result<()> {
        self.queue.remove(claimed.key())?;
        self.queue_index.committed(std::slice::from_ref(claimed), Vec::new());
        Ok(())
    }

    /// Puts the failed deliveries of a message back in the queue, due now, keeping their
    /// attempt history. Returns how many were re-queued.
    pub fn requeue_failed(&self, message_id: &str, now_ms: u64) -> Result<usize> {
        let Some(message) = self.message(message_id)? else { return Ok(0) };
        let failed: Vec<DeliveryRecord> = self
            .deliveries_of(message_id)?
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Failed)
            .collect();
        let queued: Vec<QueueEntry> = failed
            .iter()
            .map(|d| QueueEntry {
                due_ms: now_ms,
                delivery_key: delivery_key(&d.message_id, &d.target),
                event_id: message.event_id.clone(),
            })
            .collect();
        (&self.deliveries, &self.queue)
            .transaction(|(deliveries, queue)| {
                for (d, entry) in failed.iter().zip(&queued) {
                    let mut d = d.clone();
                    d.status = DeliveryStatus::Pending;
                    d.reason = None;
                    d.next_attempt_at_ms = Some(now_ms);
                    deliveries.insert(entry.delivery_key.as_str(), encode(&d))?;
                    queue.insert(entry.key(), entry.event_id.as_bytes())?;
                }
                Ok(())
            })
            .map_err(StoreError::from)?;
        let retried = queued.len();
        self.queue_index.committed(&[], queued);
        Ok(retried)
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
