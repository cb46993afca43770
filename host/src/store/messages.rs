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

/// A message to store, with its body and its deliveries.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: MessageRecord,
    pub body: bytes::Bytes,
    /// Each is queued at its `next_attempt_at_ms` while pending.
    pub deliveries: Vec<DeliveryRecord>,
    /// When set and used by a message of the last 24 h, nothing is stored.
    pub idempotency_key: Option<String>,
}

/// One write of the pipeline; [`Store::apply`] applies many at once.
#[derive(Debug, Clone)]
pub enum Write {
    /// A message accepted by ingest.
    Message(NewMessage),
    /// The outcome of an attempt: the delivery replaces its claimed queue entry, and is
    /// queued again at its next attempt time while it is still pending.
    Attempt { claimed: QueueEntry, delivery: DeliveryRecord },
}

impl Store {
    /// Stores a message, its body and its deliveries, unless its idempotency key already
    /// names a message (the pipeline writes through [`super::Committer`]; this is for
    /// tools and tests). Not yet flushed: call [`Store::flush`] before acknowledging.
    pub fn insert_message(
        &self,
        message: &MessageRecord,
        body: &[u8],
        deliveries: &[DeliveryRecord],
        idempotency_key: Option<&str>,
    ) -> Result<Inserted> {
        let new = NewMessage {
            message: message.clone(),
            body: bytes::Bytes::copy_from_slice(body),
            deliveries: deliveries.to_vec(),
            idempotency_key: idempotency_key.map(str::to_string),
        };
        Ok(self.apply(&[Write::Message(new)])?.pop().flatten().unwrap_or(Inserted::New))
    }

    /// Applies `batch`; for each write, what became of a message (`None` for an attempt).
    /// Not yet flushed.
    ///
    /// Plain inserts, not a sled transaction (which costs about a third of the ingest
    /// rate): the store's writer is the only task that writes these keys, and the order of
    /// the inserts makes whatever a crash leaves of a batch harmless, because sled recovers
    /// a prefix of its log:
    /// - a message writes its queue entries first and its idempotency key last, so a
    ///   prefix is either complete but for the key (the client got no 202 and may send it
    ///   again), or has queue entries without a delivery record, which the dispatcher drops;
    /// - an attempt writes the next queue entry, then the delivery, then removes the
    ///   claimed entry, so a prefix leaves at most an extra entry whose due time is not the
    ///   delivery's next attempt, which the dispatcher drops as stale.
    pub fn apply(&self, batch: &[Write]) -> Result<Vec<Option<Inserted>>> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let (mut queued, mut removed) = (Vec::new(), Vec::new());
        let written = batch.iter().try_for_each(|write| {
            let outcome = match write {
                Write::Message(new) => Some(self.write_message(new, &mut queued)?),
                Write::Attempt { claimed, delivery } => {
                    self.write_attempt(claimed, delivery, &mut queued)?;
                    removed.push(claimed.clone());
                    None
                }
            };
            outcomes.push(outcome);
            Ok::<_, StoreError>(())
        });
        // Even after an error: what was written is in the tree, the mirror must know it.
        self.queue_index.committed(&removed, queued);
        written.map(|()| outcomes)
    }

    fn write_message(&self, new: &NewMessage, queued: &mut Vec<QueueEntry>) -> Result<Inserted> {
        let message = &new.message;
        let id = message.message_id.as_str();
        if let Some(key) = new.idempotency_key.as_deref() {
            if let Some(existing) = self.idempotency.get(key)? {
                let existing = String::from_utf8_lossy(&existing).into_owned();
                let created = message_id_time_ms(&existing).unwrap_or(0);
                if message.received_at_ms < created.saturating_add(IDEMPOTENCY_WINDOW_MS) {
                    return Ok(Inserted::Existing(existing));
                }
            }
        }
        let entries: Vec<QueueEntry> = new
            .deliveries
            .iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .map(|d| QueueEntry::of(d, &message.event_id))
            .collect();
        for entry in &entries {
            self.queue.insert(entry.key(), entry.event_id.as_bytes())?;
        }
        self.bodies.insert(id, new.body.as_ref())?;
        self.messages.insert(id, encode(message))?;
        self.by_event.insert(by_event_key(&message.event_id, id), &[])?;
        for delivery in &new.deliveries {
            self.deliveries.insert(delivery_key(id, &delivery.target).as_str(), encode(delivery))?;
        }
        if let Some(key) = new.idempotency_key.as_deref() {
            self.idempotency.insert(key, id)?;
        }
        queued.extend(entries);
        Ok(Inserted::New)
    }

    fn write_attempt(&self, claimed: &QueueEntry, delivery: &DeliveryRecord, queued: &mut Vec<QueueEntry>) -> Result<()> {
        let next = (delivery.status == DeliveryStatus::Pending).then(|| QueueEntry::of(delivery, &claimed.event_id));
        if let Some(entry) = &next {
            self.queue.insert(entry.key(), entry.event_id.as_bytes())?;
        }
        self.deliveries.insert(claimed.delivery_key.as_str(), encode(delivery))?;
        if next.as_ref() != Some(claimed) {
            self.queue.remove(claimed.key())?;
        }
        queued.extend(next);
        Ok(())
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
        let retried: Vec<DeliveryRecord> = self
            .deliveries_of(message_id)?
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Failed)
            .map(|mut d| {
                d.status = DeliveryStatus::Pending;
                d.reason = None;
                d.next_attempt_at_ms = Some(now_ms);
                d
            })
            .collect();
        let queued: Vec<QueueEntry> = retried.iter().map(|d| QueueEntry::of(d, &message.event_id)).collect();
        (&self.deliveries, &self.queue)
            .transaction(|(deliveries, queue)| {
                for (d, entry) in retried.iter().zip(&queued) {
                    deliveries.insert(entry.delivery_key.as_str(), encode(d))?;
                    queue.insert(entry.key(), entry.event_id.as_bytes())?;
                }
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.queue_index.committed(&[], queued);
        Ok(retried.len())
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
    use crate::store::Claim;

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

    fn pending(message_id: &str, next_attempt_at_ms: u64) -> DeliveryRecord {
        DeliveryRecord {
            message_id: message_id.into(),
            target: "t1".into(),
            status: DeliveryStatus::Pending,
            reason: None,
            next_attempt_at_ms: Some(next_attempt_at_ms),
            attempts: vec![],
        }
    }

    #[test]
    fn an_entry_a_crash_left_behind_is_told_apart_from_the_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let id = format!("{}0000000000000000000", message_id_floor(now_ms()));
        {
            let store = Store::open(&path, 1 << 20).unwrap();
            store.insert_message(&message(id.clone(), 100), b"{}", &[pending(&id, 100)], None).unwrap();
            // The first insert of an attempt that would retry at 500, then the crash.
            let orphan = QueueEntry::of(&pending(&id, 500), "e");
            store.queue.insert(orphan.key(), "e").unwrap();
            store.db.flush().unwrap();
        }
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(store.queue_len(), 2, "both entries are back after the restart");
        let delivery = store.delivery(&delivery_key(&id, "t1")).unwrap().unwrap();
        let lane = QueueEntry::of(&delivery, "e").lane();
        let (Claim::Taken(first), Claim::Taken(second)) = (store.claim_due(&lane, 1_000), store.claim_due(&lane, 1_000)) else {
            panic!("both entries are due at 1000");
        };
        assert!(first.is_live_for(&delivery), "the entry of the delivery's next attempt is attempted");
        assert!(!second.is_live_for(&delivery), "the crash's entry is stale and dropped");

        let mut delivered = delivery.clone();
        delivered.status = DeliveryStatus::Delivered;
        delivered.next_attempt_at_ms = None;
        store.apply(&[Write::Attempt { claimed: first, delivery: delivered.clone() }]).unwrap();
        assert!(!second.is_live_for(&delivered), "nothing is live for a settled delivery");
        store.drop_queue_entry(&second).unwrap();
        assert_eq!(store.queue_len(), 0);
        assert_eq!(store.queue.len(), 0, "the tree agrees with the index");
    }

    #[test]
    fn an_idempotency_key_answers_for_24_hours() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        let now = now_ms();
        let old_at = now - IDEMPOTENCY_WINDOW_MS - 1;
        let old = format!("{}0000000000000000000", message_id_floor(old_at));
        assert_eq!(store.insert_message(&message(old.clone(), old_at), b"", &[], Some("k")).unwrap(), Inserted::New);
        let within = format!("{}0000000000000000001", message_id_floor(old_at + 1000));
        assert_eq!(
            store.insert_message(&message(within, old_at + 1000), b"", &[], Some("k")).unwrap(),
            Inserted::Existing(old)
        );
        let fresh = format!("{}0000000000000000002", message_id_floor(now));
        assert_eq!(store.insert_message(&message(fresh.clone(), now), b"", &[], Some("k")).unwrap(), Inserted::New);
        let again = format!("{}0000000000000000003", message_id_floor(now + 1));
        assert_eq!(store.insert_message(&message(again, now + 1), b"", &[], Some("k")).unwrap(), Inserted::Existing(fresh));
    }
}
