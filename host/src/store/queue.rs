//! The delivery queue: durable in the `queue` tree, and mirrored in memory by lane (one
//! event's target), each lane in due order. The dispatcher works from the mirror: finding
//! what is due costs a look at each lane's head, not a read of the tree, and a lane whose
//! target is busy is passed over without touching its entries.
//!
//! The first entry of a new delivery is kept in memory only, with its message's arrivals
//! group (`arrivals.rs`) as its durable trace; later ones (retries, postponements) are
//! keys of the tree.
//!
//! The store stays the truth: the mirror is rebuilt from it at start, and an entry taken
//! by the dispatcher (claimed) stays in the tree until its attempt is recorded, so a crash
//! mid-attempt leaves it due.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::{Result, Store};
use crate::model::{DeliveryRecord, DeliveryStatus};

/// A pending delivery in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueEntry {
    pub due_ms: u64,
    /// `{message id}/{target id}`, the key of the delivery record.
    pub delivery_key: String,
    pub event_id: String,
    /// The arrivals group of a new delivery's first entry, which is kept in memory only;
    /// `None` for an entry of the `queue` tree.
    pub arrival: Option<u64>,
}

impl QueueEntry {
    /// The entry of a pending delivery: due at its next attempt. An entry whose due time
    /// is not its delivery's next attempt is stale (see [`QueueEntry::is_live_for`]).
    pub fn of(delivery: &DeliveryRecord, event_id: &str) -> QueueEntry {
        QueueEntry {
            due_ms: delivery.next_attempt_at_ms.unwrap_or(0),
            delivery_key: super::delivery_key(&delivery.message_id, &delivery.target),
            event_id: event_id.to_string(),
            arrival: None,
        }
    }

    /// Whether this entry is the one that schedules `delivery` (pending, due at its next
    /// attempt) rather than one a crash left behind.
    pub fn is_live_for(&self, delivery: &DeliveryRecord) -> bool {
        delivery.status == DeliveryStatus::Pending && delivery.next_attempt_at_ms.unwrap_or(0) == self.due_ms
    }

    pub(super) fn key(&self) -> Vec<u8> {
        queue_key(self.due_ms, &self.delivery_key)
    }

    pub fn message_id(&self) -> &str {
        self.delivery_key.rsplit_once('/').map_or(&self.delivery_key, |(message, _)| message)
    }

    pub fn lane(&self) -> Lane {
        let target = self.delivery_key.rsplit_once('/').map_or("", |(_, target)| target);
        Lane { event_id: self.event_id.clone(), target_id: target.to_string() }
    }
}

pub(super) fn queue_key(due_ms: u64, delivery_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + delivery_key.len());
    key.extend_from_slice(&due_ms.to_be_bytes());
    key.extend_from_slice(delivery_key.as_bytes());
    key
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

/// What [`Store::claim_due`] found at the head of a lane.
#[derive(Debug)]
pub enum Claim {
    Taken(QueueEntry),
    /// The head is due at this time (Unix ms), later than now.
    NotDue(u64),
    Empty,
}

/// The in-memory mirror of the queue tree.
#[derive(Default)]
pub(super) struct QueueIndex {
    state: Mutex<Lanes>,
}

#[derive(Default)]
struct Lanes {
    waiting: HashMap<Lane, BTreeSet<QueueEntry>>,
    claimed: HashSet<QueueEntry>,
}

impl QueueIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        // The lock guards plain collections; a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Mirrors writes to the tree: `removed` claimed entries were deleted, `added` entries
    /// inserted.
    pub(super) fn committed(&self, removed: &[QueueEntry], added: Vec<QueueEntry>) {
        let mut lanes = self.lock();
        for entry in removed {
            if !lanes.claimed.remove(entry) {
                if let Some(lane) = lanes.waiting.get_mut(&entry.lane()) {
                    lane.remove(entry);
                }
            }
        }
        for entry in added {
            lanes.waiting.entry(entry.lane()).or_default().insert(entry);
        }
    }

    fn len(&self) -> usize {
        let lanes = self.lock();
        lanes.claimed.len() + lanes.waiting.values().map(BTreeSet::len).sum::<usize>()
    }
}

impl Store {
    /// Loads the mirror from the `queue` tree and the arrivals groups (at open). Entries written before the queue held
    /// event ids get theirs from the message record.
    pub(super) fn load_queue_index(&self) -> Result<()> {
        let mut entries = Vec::new();
        for kv in self.queue.iter() {
            let (key, value) = kv?;
            let (due, delivery_key) = key.split_at(8.min(key.len()));
            let mut entry = QueueEntry {
                due_ms: u64::from_be_bytes(due.try_into().unwrap_or([0; 8])),
                delivery_key: String::from_utf8_lossy(delivery_key).into_owned(),
                event_id: String::from_utf8_lossy(&value).into_owned(),
                arrival: None,
            };
            if entry.event_id.is_empty() {
                entry.event_id = self.message(entry.message_id())?.map(|m| m.event_id).unwrap_or_default();
            }
            entries.push(entry);
        }
        entries.extend(self.load_arrivals()?);
        self.queue_index.committed(&[], entries);
        Ok(())
    }

    /// The lanes with waiting deliveries, each with the due time of its head.
    pub fn queue_lanes(&self) -> Vec<(Lane, u64)> {
        let lanes = self.queue_index.lock();
        lanes
            .waiting
            .iter()
            .filter_map(|(lane, entries)| Some((lane.clone(), entries.first()?.due_ms)))
            .collect()
    }

    /// Takes the head of `lane` if it is due at `now_ms`. The entry stays in the tree,
    /// claimed, until its attempt is recorded or it is handed back with [`Store::unclaim`].
    pub fn claim_due(&self, lane: &Lane, now_ms: u64) -> Claim {
        let mut lanes = self.queue_index.lock();
        let Some(entries) = lanes.waiting.get_mut(lane) else { return Claim::Empty };
        let entry = match entries.first() {
            None => return Claim::Empty,
            Some(head) if head.due_ms > now_ms => return Claim::NotDue(head.due_ms),
            Some(_) => entries.pop_first(),
        };
        if entries.is_empty() {
            lanes.waiting.remove(lane);
        }
        match entry {
            Some(entry) => {
                lanes.claimed.insert(entry.clone());
                Claim::Taken(entry)
            }
            None => Claim::Empty,
        }
    }

    /// Puts a claimed entry back, unchanged (its attempt was not recorded).
    pub fn unclaim(&self, entry: QueueEntry) {
        let mut lanes = self.queue_index.lock();
        if lanes.claimed.remove(&entry) {
            lanes.waiting.entry(entry.lane()).or_default().insert(entry);
        }
    }

    /// Number of pending deliveries, claimed ones included.
    pub fn queue_len(&self) -> usize {
        self.queue_index.len()
    }

    /// The oldest message with a pending delivery (looking at most at 10,000 entries).
    pub fn oldest_pending_message(&self) -> Option<String> {
        let lanes = self.queue_index.lock();
        let waiting = lanes.waiting.values().flatten();
        waiting.chain(lanes.claimed.iter()).take(10_000).map(QueueEntry::message_id).min().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(due_ms: u64, message: &str, event: &str) -> QueueEntry {
        QueueEntry { due_ms, delivery_key: format!("{message}/t1"), event_id: event.into(), arrival: None }
    }

    #[test]
    fn lanes_hand_out_due_heads_in_order_and_take_back_what_was_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        store.queue_index.committed(&[], vec![entry(30, "m3", "a"), entry(10, "m1", "a"), entry(20, "m2", "b")]);
        assert_eq!(store.queue_lanes().len(), 2, "one lane per event and target");
        let a = entry(10, "m1", "a").lane();
        assert_eq!(a.to_string(), "a/t1");
        assert!(matches!(store.claim_due(&a, 5), Claim::NotDue(10)));
        let Claim::Taken(first) = store.claim_due(&a, 40) else { panic!("m1 is due") };
        assert_eq!(first.delivery_key, "m1/t1");
        assert_eq!(store.queue_len(), 3, "a claimed entry is still pending");
        assert_eq!(store.oldest_pending_message().as_deref(), Some("m1"));
        store.unclaim(first);
        let Claim::Taken(again) = store.claim_due(&a, 40) else { panic!("m1 is back") };
        assert_eq!(again.delivery_key, "m1/t1");
        store.queue_index.committed(&[again], vec![entry(50, "m1", "a")]);
        let Claim::Taken(second) = store.claim_due(&a, 40) else { panic!("m3 is due") };
        assert_eq!(second.delivery_key, "m3/t1");
        assert!(matches!(store.claim_due(&a, 40), Claim::NotDue(50)), "the retry of m1 is due later");
        assert_eq!(store.queue_len(), 3);
    }
}
