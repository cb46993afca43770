//! Messages, their deliveries, and the queue of deliveries due.
//!
//! Storing a message costs one insert: its record, its deliveries as ingest made them and
//! its body go in one value. A batch of new messages then adds one key to the
//! `by_event` index per event and one `arrivals` key (see `arrivals.rs`), whatever its
//! size. A delivery gets its own key in `deliveries` once it changes; until then the copy in
//! the message is the delivery.

use std::collections::{BTreeMap, HashMap};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::queue::Queued;
use super::{decode, encode, Database, Result, StoreError};
use crate::model::{new_message_id, DeliveryRecord, DeliveryStatus, MessageRecord};
use crate::store::{delivery_key, queue_due, Claimed, Inserted, MessageQuery, NewMessage, QueueEntry, IDEMPOTENCY_WINDOW_MS};

/// The key of the `by_event` group of `event_id` that starts at `first_id`.
fn by_event_key(event_id: &str, first_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(event_id.len() + 1 + first_id.len());
    key.extend_from_slice(event_id.as_bytes());
    key.push(0);
    key.extend_from_slice(first_id.as_bytes());
    key
}

/// A group value: message ids, oldest first, one per line.
pub(super) fn join_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    ids.into_iter().collect::<Vec<_>>().join("\n").into_bytes()
}

pub(super) fn split_ids(value: &[u8]) -> Vec<String> {
    value.split(|b| *b == b'\n').filter(|id| !id.is_empty()).map(|id| String::from_utf8_lossy(id).into_owned()).collect()
}

/// The keys (message ids) of a tree keyed by message id, newest first, strictly older than
/// `before` when given.
fn keys_newest_first(tree: &sled::Tree, before: Option<&str>) -> impl Iterator<Item = Result<String>> {
    let keys = match before {
        Some(b) => tree.range(..b.as_bytes()),
        None => tree.iter(),
    };
    keys.keys().rev().map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
}

/// The front of a stored message; the body follows it.
#[derive(Serialize, Deserialize)]
struct Header<M, D> {
    message: M,
    /// The deliveries as ingest made them; a key in `deliveries` replaces one once it changes.
    deliveries: D,
}

/// A stored message: a 4-byte big-endian header length, the header (JSON), the body.
pub(super) fn encode_message(message: &MessageRecord, deliveries: &[DeliveryRecord], body: &[u8]) -> Vec<u8> {
    let header = encode(&Header { message, deliveries });
    let mut value = Vec::with_capacity(4 + header.len() + body.len());
    value.extend_from_slice(&(header.len() as u32).to_be_bytes());
    value.extend_from_slice(&header);
    value.extend_from_slice(body);
    value
}

/// The header and the body of a stored message.
fn split_message(value: &[u8]) -> Result<(&[u8], &[u8])> {
    let damaged = || StoreError::Corrupt { what: "message", reason: "the value is shorter than its header".into() };
    let (len, rest) = value.split_first_chunk::<4>().ok_or_else(damaged)?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(damaged());
    }
    Ok(rest.split_at(len))
}

/// One write of the pipeline; [`Database::apply`] applies many at once.
///
/// Messages are named by the writer: ids are handed out in the order messages are stored,
/// so each batch's ids come after the previous batch's and the indexes only grow at their
/// end.
#[derive(Debug, Clone)]
pub(super) enum Write {
    /// A message accepted by ingest.
    Message(NewMessage),
    /// The outcome of an attempt: the delivery replaces its claimed queue entry, and is
    /// queued again at its next attempt time while it is still pending.
    Attempt { claimed: Queued, delivery: DeliveryRecord },
}

impl Database {
    /// Applies `batch`; for each write, what became of a message (`None` for an attempt).
    /// Not yet flushed.
    ///
    /// Plain inserts, not a sled transaction (which costs about a third of the ingest
    /// rate): the store's writer is the only task that writes these keys, and the order of
    /// the inserts makes whatever a crash leaves of a batch harmless, because sled recovers
    /// a prefix of its log:
    /// - new messages write their `arrivals` group and index groups first, then the
    ///   messages, then the idempotency keys, so a prefix has group ids whose message is
    ///   missing (skipped when read), or messages without their key (the clients got no
    ///   202 and may send them again);
    /// - an attempt writes the next queue entry, then the `failed` index entry of a failed
    ///   delivery, then the delivery, then removes the claimed entry, so a prefix leaves at
    ///   most an extra entry whose due time is not the delivery's next attempt, which the
    ///   dispatcher drops as stale, or an index entry the listing filters out.
    pub(super) fn apply(&self, batch: Vec<Write>) -> Result<Vec<Option<Inserted>>> {
        let _writing = self.writing();
        let mut outcomes = Vec::with_capacity(batch.len());
        let (mut new, mut attempts) = (Vec::new(), Vec::new());
        let mut keys_in_batch = HashMap::new();
        for write in batch {
            match write {
                Write::Message(mut message) => {
                    outcomes.push(Some(match self.repeat_of(&message, &keys_in_batch)? {
                        Some(existing) => Inserted::Existing(existing),
                        None => {
                            let id = new_message_id();
                            message.message.message_id.clone_from(&id);
                            message.deliveries.iter_mut().for_each(|d| d.message_id.clone_from(&id));
                            if let Some(key) = message.idempotency_key.clone() {
                                keys_in_batch.insert(key, id.clone());
                            }
                            new.push(message);
                            Inserted::New(id)
                        }
                    }));
                }
                Write::Attempt { claimed, delivery } => {
                    outcomes.push(None);
                    attempts.push((claimed, delivery));
                }
            }
        }
        let (mut queued, mut removed) = (Vec::new(), Vec::new());
        let written = self.write_messages(&new, &mut queued).and_then(|()| {
            attempts.into_iter().try_for_each(|(claimed, delivery)| {
                self.write_attempt(&claimed, &delivery, &mut queued)?;
                removed.push(claimed);
                Ok(())
            })
        });
        // Even after an error: what was written is in the tree, the mirror must know it.
        self.queue_index.committed(&removed, queued);
        written.map(|()| outcomes)
    }

    /// The message that `new` repeats: the one its idempotency key named in this batch, or
    /// in the store less than 24 h before it arrived.
    fn repeat_of(&self, new: &NewMessage, keys_in_batch: &HashMap<String, String>) -> Result<Option<String>> {
        let Some(key) = new.idempotency_key.as_deref() else { return Ok(None) };
        if let Some(id) = keys_in_batch.get(key) {
            return Ok(Some(id.clone()));
        }
        let at_ms = new.message.received_at_ms;
        let Some(owner) = self.idempotency.get(key)? else { return Ok(None) };
        let owner = String::from_utf8_lossy(&owner).into_owned();
        let created = self.message(&owner)?.map_or(0, |m| m.received_at_ms);
        Ok((at_ms < created.saturating_add(IDEMPOTENCY_WINDOW_MS)).then_some(owner))
    }

    fn write_messages(&self, new: &[NewMessage], queued: &mut Vec<Queued>) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let waiting: Vec<&str> = new
            .iter()
            .filter(|m| m.deliveries.iter().any(|d| d.status == DeliveryStatus::Pending))
            .map(|m| m.message.message_id.as_str())
            .collect();
        let group = self.arrivals.open();
        if !waiting.is_empty() {
            self.arrivals_tree.insert(group.to_be_bytes(), join_ids(waiting))?;
        }
        let mut by_event: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in new {
            by_event.entry(&m.message.event_id).or_default().push(&m.message.message_id);
        }
        for (event, ids) in by_event {
            self.by_event.insert(by_event_key(event, ids[0]), join_ids(ids))?;
        }
        let mut arrived = 0;
        let written = new.iter().try_for_each(|m| {
            let id = m.message.message_id.as_str();
            self.messages.insert(id, encode_message(&m.message, &m.deliveries, &m.body))?;
            for d in m.deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending) {
                queued.push(Queued { entry: QueueEntry::of(d, &m.message.event_id), arrival: Some(group) });
                arrived += 1;
            }
            Ok::<_, StoreError>(())
        });
        self.arrivals.register(group, arrived);
        written?;
        for m in new {
            if let Some(key) = m.idempotency_key.as_deref() {
                self.idempotency.insert(key, m.message.message_id.as_str())?;
            }
        }
        Ok(())
    }

    fn write_attempt(&self, claimed: &Queued, delivery: &DeliveryRecord, queued: &mut Vec<Queued>) -> Result<()> {
        let next = queue_due(delivery).map(|_| Queued::stored(QueueEntry::of(delivery, &claimed.entry.event_id)));
        if let Some(next) = &next {
            self.queue.insert(next.key(), next.value())?;
        }
        if delivery.status == DeliveryStatus::Failed {
            self.failed.insert(delivery.message_id.as_bytes(), &[])?;
        }
        self.deliveries.insert(claimed.entry.delivery_key.as_str(), encode(delivery))?;
        if next.as_ref() != Some(claimed) {
            self.unqueue(claimed)?;
        }
        queued.extend(next);
        Ok(())
    }

    /// Removes a claimed entry from where it is stored: its key in `queue`, or its share of
    /// its arrivals group.
    fn unqueue(&self, claimed: &Queued) -> Result<()> {
        match claimed.arrival {
            None => {
                self.queue.remove(claimed.key())?;
            }
            Some(group) => {
                if self.arrivals.settle(group) {
                    self.arrivals_tree.remove(group.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Reads a stored message: `read` gets its header and its body.
    fn read_message<T>(&self, id: &str, read: impl FnOnce(&[u8], &[u8]) -> Result<T>) -> Result<Option<T>> {
        let Some(value) = self.messages.get(id)? else { return Ok(None) };
        let (header, body) = split_message(&value)?;
        read(header, body).map(Some)
    }

    pub(super) fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        self.read_message(id, |header, _| Ok(decode::<Header<MessageRecord, IgnoredAny>>("message", header)?.message))
    }

    /// A message with its body.
    pub(super) fn message_with_body(&self, id: &str) -> Result<Option<(MessageRecord, bytes::Bytes)>> {
        self.read_message(id, |header, body| {
            let header: Header<MessageRecord, IgnoredAny> = decode("message", header)?;
            Ok((header.message, bytes::Bytes::copy_from_slice(body)))
        })
    }

    /// A message with its deliveries as ingest made them (before any change).
    pub(super) fn message_as_stored(&self, id: &str) -> Result<Option<(MessageRecord, Vec<DeliveryRecord>)>> {
        self.read_message(id, |header, _| {
            let header: Header<MessageRecord, Vec<DeliveryRecord>> = decode("message", header)?;
            Ok((header.message, header.deliveries))
        })
    }

    fn first_deliveries(&self, message_id: &str) -> Result<Vec<DeliveryRecord>> {
        let first = self.read_message(message_id, |header, _| {
            Ok(decode::<Header<IgnoredAny, Vec<DeliveryRecord>>>("message", header)?.deliveries)
        })?;
        Ok(first.unwrap_or_default())
    }

    /// The deliveries of a message, ordered by target id.
    pub(super) fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>> {
        let mut by_target: BTreeMap<String, DeliveryRecord> =
            self.first_deliveries(message_id)?.into_iter().map(|d| (d.target.clone(), d)).collect();
        for changed in self.deliveries.scan_prefix(format!("{message_id}/")).values() {
            let changed: DeliveryRecord = decode("delivery", &changed?)?;
            by_target.insert(changed.target.clone(), changed);
        }
        Ok(by_target.into_values().collect())
    }

    pub(super) fn delivery(&self, key: &str) -> Result<Option<DeliveryRecord>> {
        if let Some(changed) = self.deliveries.get(key)? {
            return decode("delivery", &changed).map(Some);
        }
        let Some((message_id, target)) = key.rsplit_once('/') else { return Ok(None) };
        Ok(self.first_deliveries(message_id)?.into_iter().find(|d| d.target == target))
    }

    /// One page of message ids, newest first (see [`MessageQuery`]).
    pub(super) fn message_ids(&self, query: &MessageQuery, limit: usize) -> Result<Vec<String>> {
        let before = query.before.as_deref();
        let ids: Box<dyn Iterator<Item = Result<String>>> = match (&query.event_id, query.failed) {
            // Failures are rare: their index is read instead of the whole log.
            (_, true) => Box::new(keys_newest_first(&self.failed, before)),
            (Some(event), false) => self.event_ids_newest_first(event, before),
            (None, false) => Box::new(keys_newest_first(&self.messages, before)),
        };
        let since = query.since.as_deref();
        ids.take_while(|id| !matches!((id, since), (Ok(id), Some(since)) if id.as_str() < since)).take(limit).collect()
    }

    /// The ids of an event's messages, newest first, strictly older than `before` when
    /// given. Iterates lazily: the caller stops when it has enough.
    fn event_ids_newest_first<'a>(&'a self, event: &str, before: Option<&str>) -> Box<dyn Iterator<Item = Result<String>> + 'a> {
        // Groups hold consecutive ids (the writer names messages in order), so groups
        // newest first, each read backwards, give the ids newest first.
        let start = by_event_key(event, "");
        let end = match before {
            Some(b) => by_event_key(event, b),
            None => {
                let mut end = event.as_bytes().to_vec();
                end.push(1);
                end
            }
        };
        let before = before.map(str::to_string);
        let groups = self.by_event.range(start..end).values().rev();
        Box::new(groups.flat_map(move |group| {
            let ids = match group {
                Ok(group) => split_ids(&group).into_iter().rev().map(Ok).collect(),
                Err(e) => vec![Err(StoreError::from(e))],
            };
            let before = before.clone();
            ids.into_iter().filter(move |id| match (id, &before) {
                (Ok(id), Some(b)) => id < b,
                _ => true,
            })
        }))
    }

    /// Drops a claimed queue entry whose delivery no longer needs attempts.
    pub(super) fn drop_queue_entry(&self, claim: Claimed) -> Result<()> {
        let claimed = Queued::from(claim);
        self.unqueue(&claimed)?;
        self.queue_index.committed(&[claimed], Vec::new());
        Ok(())
    }

    /// Puts the failed deliveries of a message back in the queue, due now, keeping their
    /// attempt history. Returns how many were re-queued.
    pub(super) fn requeue_failed(&self, message_id: &str, target: Option<&str>, now_ms: u64) -> Result<usize> {
        let Some(message) = self.message(message_id)? else { return Ok(0) };
        let failed = self.deliveries_of(message_id)?.into_iter();
        let failed = failed.filter(|d| d.status == DeliveryStatus::Failed && target.is_none_or(|t| t == d.target));
        let changes = failed.map(|before| {
            let mut d = before.clone();
            d.status = DeliveryStatus::Pending;
            d.reason = None;
            d.holds_key = false;
            d.next_attempt_at_ms = Some(now_ms);
            (before, d)
        });
        self.requeue(&message.event_id, changes.collect())
    }

    /// Lets a failed delivery that holds its ordering key go (an operator's skip): it stays
    /// failed, with `note` in its reason, and the key's next delivery goes.
    pub(super) fn skip_held(&self, message_id: &str, target: &str, note: &str) -> Result<bool> {
        let Some(message) = self.message(message_id)? else { return Ok(false) };
        let Some(held) = self.delivery(&delivery_key(message_id, target))?.filter(|d| d.holds_key) else {
            return Ok(false);
        };
        let mut skipped = held.clone();
        skipped.let_key_go(note);
        self.requeue(&message.event_id, vec![(held, skipped)]).map(|_| true)
    }

    /// Writes changed deliveries of one message, each given as (before, after), moving their
    /// queue entries: a held one's entry goes, a pending one's comes. In one transaction, as
    /// an operator's call is answered once it is durable and the dispatcher may claim the new
    /// entries at once.
    fn requeue(&self, event_id: &str, changes: Vec<(DeliveryRecord, DeliveryRecord)>) -> Result<usize> {
        use sled::Transactional;
        let queued = |d: &DeliveryRecord| queue_due(d).is_some().then(|| Queued::stored(QueueEntry::of(d, event_id)));
        let removed: Vec<Queued> = changes.iter().filter_map(|(before, _)| queued(before)).collect();
        let added: Vec<Queued> = changes.iter().filter_map(|(_, after)| queued(after)).collect();
        (&self.deliveries, &self.queue)
            .transaction(|(deliveries, queue)| {
                for (_, d) in &changes {
                    deliveries.insert(delivery_key(&d.message_id, &d.target).as_str(), encode(d))?;
                }
                for queued in &removed {
                    queue.remove(queued.key())?;
                }
                for queued in &added {
                    queue.insert(queued.key(), queued.value())?;
                }
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.queue_index.committed(&removed, added);
        Ok(changes.len())
    }

    /// Deletes up to `limit` messages that arrived before `cutoff_id` and whose deliveries
    /// are all settled (delivered, failed or skipped), with everything stored for them.
    /// Pending messages, and those holding an ordering key, are kept whatever their age. Returns how many were deleted.
    ///
    /// The message goes last, so a crash part way leaves it to be pruned again.
    pub(super) fn prune_settled_before(&self, cutoff_id: &str, limit: usize) -> Result<usize> {
        let mut pruned = 0;
        for id in self.messages.range(..cutoff_id.as_bytes()).keys().take(limit) {
            let id = String::from_utf8_lossy(&id?).into_owned();
            let Some(message) = self.message(&id)? else { continue };
            if self.deliveries_of(&id)?.iter().any(|d| queue_due(d).is_some()) {
                continue;
            }
            if let Some(key) = &message.idempotency_key {
                // Only while the key still names this message (it moves on after 24 h).
                let _ = self.idempotency.compare_and_swap(key.as_str(), Some(id.as_bytes()), None::<&[u8]>)?;
            }
            self.remove_from_by_event(&message.event_id, &id)?;
            self.failed.remove(id.as_str())?;
            for key in self.deliveries.scan_prefix(format!("{id}/")).keys() {
                self.deliveries.remove(key?)?;
            }
            self.messages.remove(id.as_str())?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Takes `id` out of its `by_event` group: the group with the greatest first id not
    /// after it. Only the pruner changes groups the writer has written.
    fn remove_from_by_event(&self, event_id: &str, id: &str) -> Result<()> {
        let Some((key, group)) = self.by_event.range(by_event_key(event_id, "")..=by_event_key(event_id, id)).next_back().transpose()?
        else {
            return Ok(());
        };
        let mut ids = split_ids(&group);
        ids.retain(|other| other != id);
        match ids.is_empty() {
            true => self.by_event.remove(key)?,
            false => self.by_event.insert(key, join_ids(ids.iter().map(String::as_str)))?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_ms;
    use crate::store::{delivery_key, Claim, Lane};

    fn message(event: &str, at_ms: u64) -> MessageRecord {
        MessageRecord {
            message_id: String::new(),
            event_id: event.into(),
            received_at: String::new(),
            received_at_ms: at_ms,
            headers: vec![],
            content_type: None,
            body_size: 0,
            subshop: None,
            idempotency_key: Some("k".into()),
            traceparent: None,
        }
    }

    fn delivery(target: &str, status: DeliveryStatus, next_attempt_at_ms: Option<u64>) -> DeliveryRecord {
        DeliveryRecord {
            message_id: String::new(),
            target: target.into(),
            status,
            reason: None,
            next_attempt_at_ms,
            attempts: vec![],
            ordering_key: None,
            holds_key: false,
        }
    }

    fn pending(next_attempt_at_ms: u64) -> DeliveryRecord {
        delivery("t1", DeliveryStatus::Pending, Some(next_attempt_at_ms))
    }

    fn new(event: &str, deliveries: Vec<DeliveryRecord>) -> Write {
        Write::Message(NewMessage { message: message(event, now_ms()), body: "{}".into(), deliveries, idempotency_key: None })
    }

    fn new_ids(outcomes: Vec<Option<Inserted>>) -> Vec<String> {
        outcomes
            .into_iter()
            .map(|o| match o {
                Some(Inserted::New(id)) => id,
                other => panic!("not a new message: {other:?}"),
            })
            .collect()
    }

    fn open(path: &std::path::Path) -> Database {
        Database::open(path, 1 << 20).unwrap()
    }

    fn attempt(claim: Claimed, delivery: DeliveryRecord) -> Write {
        Write::Attempt { claimed: Queued::from(claim), delivery }
    }

    #[test]
    fn an_entry_a_crash_left_behind_is_told_apart_from_the_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let id = {
            let store = open(&path);
            let [id] = &new_ids(store.apply(vec![new("e", vec![pending(100)])]).unwrap())[..] else { panic!("stored") };
            // The first insert of an attempt that would retry at 500, then the crash.
            let orphan = Queued::stored(QueueEntry::of(&DeliveryRecord { message_id: id.clone(), ..pending(500) }, "e"));
            store.queue.insert(orphan.key(), "e").unwrap();
            store.db.flush().unwrap();
            id.clone()
        };
        let store = open(&path);
        assert_eq!(store.queue_len(), 2, "both entries are back after the restart");
        let delivery = store.delivery(&delivery_key(&id, "t1")).unwrap().unwrap();
        assert_eq!(delivery.message_id, id, "the store named the delivery after its message");
        let lane = QueueEntry::of(&delivery, "e").lane();
        let (Claim::Taken(first), Claim::Taken(second)) = (store.claim_due(&lane, 1_000), store.claim_due(&lane, 1_000)) else {
            panic!("both entries are due at 1000");
        };
        assert!(Queued::from(first.clone()).arrival.is_some(), "the first attempt's entry comes from the arrivals group");
        assert!(first.entry.is_live_for(&delivery), "the entry of the delivery's next attempt is attempted");
        assert!(!second.entry.is_live_for(&delivery), "the crash's entry is stale and dropped");

        let mut delivered = delivery.clone();
        delivered.status = DeliveryStatus::Delivered;
        delivered.next_attempt_at_ms = None;
        store.apply(vec![attempt(first, delivered.clone())]).unwrap();
        assert!(!second.entry.is_live_for(&delivered), "nothing is live for a settled delivery");
        store.drop_queue_entry(second).unwrap();
        assert_eq!(store.queue_len(), 0);
        assert_eq!(store.queue.len(), 0, "the tree agrees with the index");
        assert_eq!(store.arrivals_tree.len(), 0, "the arrivals group went with its last first attempt");
        assert_eq!(store.deliveries_of(&id).unwrap()[0].status, DeliveryStatus::Delivered, "the record replaces the first copy");
    }

    #[test]
    fn a_restart_queues_exactly_the_new_deliveries_not_yet_attempted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let skipped = delivery("t2", DeliveryStatus::Skipped, None);
        let ids = {
            let store = open(&path);
            let batch = (0..4).map(|_| new("e", vec![pending(10), skipped.clone()])).collect();
            let ids = new_ids(store.apply(batch).unwrap());
            assert_eq!(store.arrivals_tree.len(), 1, "one arrivals key for the whole batch");
            let lane = Lane { event_id: "e".into(), target_id: "t1".into(), key: String::new() };
            let Claim::Taken(first) = store.claim_due(&lane, 10) else { panic!("due") };
            assert_eq!(first.entry.message_id(), ids[0], "due in the order they were stored");
            let retry = DeliveryRecord { message_id: ids[0].clone(), ..pending(99) };
            store.apply(vec![attempt(first, retry)]).unwrap();
            store.db.flush().unwrap();
            ids
        };
        let store = open(&path);
        assert_eq!(store.queue_len(), 4, "the retry from the queue tree and three first attempts from the group");
        assert_eq!(store.queue.len(), 1);
        let lane = Lane { event_id: "e".into(), target_id: "t1".into(), key: String::new() };
        let mut due = Vec::new();
        while let Claim::Taken(claim) = store.claim_due(&lane, 1_000) {
            let queued = Queued::from(claim);
            due.push((queued.entry.message_id().to_string(), queued.entry.due_ms, queued.arrival.is_some()));
        }
        let expected = vec![
            (ids[1].clone(), 10, true),
            (ids[2].clone(), 10, true),
            (ids[3].clone(), 10, true),
            (ids[0].clone(), 99, false),
        ];
        assert_eq!(due, expected);
        let statuses: Vec<_> = store.deliveries_of(&ids[1]).unwrap().iter().map(|d| (d.target.clone(), d.status)).collect();
        assert_eq!(statuses, [("t1".to_string(), DeliveryStatus::Pending), ("t2".to_string(), DeliveryStatus::Skipped)]);
    }

    #[test]
    fn the_event_index_lists_newest_first_across_batches_and_loses_pruned_messages() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("db"));
        let done = || vec![delivery("t1", DeliveryStatus::Delivered, None)];
        let mut of_a = Vec::new();
        for batch in 0..3 {
            let writes = (0..3).map(|i| new(if (batch + i) % 2 == 0 { "a" } else { "b" }, done())).collect();
            let ids = new_ids(store.apply(writes).unwrap());
            of_a.extend(ids.into_iter().enumerate().filter(|(i, _)| (batch + i) % 2 == 0).map(|(_, id)| id));
        }
        let query = |event: Option<&str>, before: Option<&str>| MessageQuery {
            event_id: event.map(str::to_string),
            before: before.map(str::to_string),
            ..MessageQuery::default()
        };
        let listed = |before: Option<&str>| store.message_ids(&query(Some("a"), before), 100).unwrap();
        let newest_first: Vec<String> = of_a.iter().rev().cloned().collect();
        assert_eq!(listed(None), newest_first);
        assert_eq!(listed(Some(&of_a[3])), newest_first[2..], "a cursor inside a group");
        assert_eq!(store.message_ids(&query(Some("b"), None), 100).unwrap().len(), 9 - of_a.len());

        let cutoff = format!("{}\u{7f}", of_a[1]); // after the second message of `a`, whatever its event
        let older = store.message_ids(&query(None, Some(&cutoff)), 100).unwrap().len();
        assert_eq!(store.prune_settled_before(&cutoff, 100).unwrap(), older);
        assert_eq!(listed(None), newest_first[..of_a.len() - 2], "pruned ids are gone from the index");
        assert!(store.message(&of_a[0]).unwrap().is_none());
    }

    /// Thousands of messages in order: sled splits the leaves of its trees as they grow and
    /// merges them as pruning empties the oldest, and a 1 MiB cache pages them out and back
    /// in. After a reopen every message left reads back with its body and lists in order.
    #[test]
    fn thousands_of_messages_in_order_read_back_after_pruning_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let body = |seq: usize| bytes::Bytes::from(format!("{{\"seq\":{seq},\"pad\":\"{}\"}}", "x".repeat(300)));
        let mut fired = 0;
        let mut append = |store: &Database, batches: usize| -> Vec<(String, usize)> {
            let mut out = Vec::new();
            for _ in 0..batches {
                let seqs: Vec<usize> = (fired..fired + 10).collect();
                fired += 10;
                let writes = seqs
                    .iter()
                    .map(|&seq| {
                        let deliveries = vec![delivery("t1", DeliveryStatus::Delivered, None)];
                        Write::Message(NewMessage { message: message("e", now_ms()), body: body(seq), deliveries, idempotency_key: None })
                    })
                    .collect();
                out.extend(new_ids(store.apply(writes).unwrap()).into_iter().zip(seqs));
            }
            out
        };
        let store = open(&path);
        let mut stored = append(&store, 200);
        let cutoff = format!("{}\u{7f}", stored[999].0);
        let mut pruned = 0;
        loop {
            let n = store.prune_settled_before(&cutoff, 100).unwrap();
            if n == 0 {
                break;
            }
            pruned += n;
        }
        assert_eq!(pruned, 1000);
        let gone: Vec<(String, usize)> = stored.drain(..1000).collect();
        stored.extend(append(&store, 50));
        drop(store);

        let store = open(&path);
        for (id, _) in &gone {
            assert!(store.message(id).unwrap().is_none(), "{id} was pruned");
        }
        for (id, seq) in &stored {
            let (record, stored_body) = store.message_with_body(id).unwrap().unwrap_or_else(|| panic!("{id} is lost"));
            assert_eq!(&record.message_id, id);
            assert_eq!(stored_body, body(*seq));
        }
        let query = MessageQuery { event_id: Some("e".into()), ..MessageQuery::default() };
        let newest_first: Vec<String> = stored.iter().rev().map(|(id, _)| id.clone()).collect();
        assert_eq!(store.message_ids(&query, 5000).unwrap(), newest_first);
    }

    #[test]
    fn a_key_repeated_within_one_batch_stores_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("db"));
        let keyed = || {
            Write::Message(NewMessage {
                message: message("e", now_ms()),
                body: bytes::Bytes::new(),
                deliveries: vec![],
                idempotency_key: Some("k".into()),
            })
        };
        let outcomes = store.apply(vec![keyed(), keyed()]).unwrap();
        let Some(Inserted::New(first)) = &outcomes[0] else { panic!("stored") };
        assert_eq!(outcomes[1], Some(Inserted::Existing(first.clone())));
    }
}
