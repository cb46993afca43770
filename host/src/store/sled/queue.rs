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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use super::{Database, Result};
use crate::store::{Claim, Claimed, Lane, QueueEntry};

/// A queue entry as this backend keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Queued {
    pub entry: QueueEntry,
    /// The arrivals group of a new delivery's first entry, which is kept in memory only;
    /// `None` for an entry of the `queue` tree.
    pub arrival: Option<u64>,
}

impl Queued {
    /// An entry of the `queue` tree.
    pub(super) fn stored(entry: QueueEntry) -> Queued {
        Queued { entry, arrival: None }
    }

    /// Its key in the `queue` tree: the due time (u64 big-endian ms), then the delivery key.
    pub(super) fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(8 + self.entry.delivery_key.len());
        key.extend_from_slice(&self.entry.due_ms.to_be_bytes());
        key.extend_from_slice(self.entry.delivery_key.as_bytes());
        key
    }

    /// Its value in the `queue` tree: the event id, then NUL and the ordering key if it has
    /// one (an event id holds no NUL).
    pub(super) fn value(&self) -> Vec<u8> {
        let entry = &self.entry;
        let mut value = entry.event_id.as_bytes().to_vec();
        if !entry.ordering_key.is_empty() {
            value.push(0);
            value.extend_from_slice(entry.ordering_key.as_bytes());
        }
        value
    }

    /// The claim handed out for this entry: its token is the arrivals group plus one, 0 for
    /// an entry of the tree. The process owns its claims until it records or releases them.
    fn claim(self) -> Claimed {
        Claimed { entry: self.entry, lease_until_ms: u64::MAX, token: self.arrival.map_or(0, |group| group + 1), delivery: None }
    }
}

/// A `queue` tree value's event id and ordering key (see [`Queued::value`]).
fn split_value(value: &[u8]) -> (String, String) {
    let (event, key) = match value.iter().position(|&b| b == 0) {
        Some(nul) => (&value[..nul], &value[nul + 1..]),
        None => (value, &[][..]),
    };
    (String::from_utf8_lossy(event).into_owned(), String::from_utf8_lossy(key).into_owned())
}

impl From<Claimed> for Queued {
    fn from(claim: Claimed) -> Queued {
        Queued { entry: claim.entry, arrival: claim.token.checked_sub(1) }
    }
}

/// The in-memory mirror of the queue tree.
#[derive(Default)]
pub(super) struct QueueIndex {
    state: Mutex<Lanes>,
}

#[derive(Default)]
struct Lanes {
    waiting: HashMap<Lane, BTreeMap<Place, Queued>>,
    claimed: HashSet<Queued>,
    /// The ordered lanes whose head is claimed: nothing else of theirs may go meanwhile.
    busy: HashSet<Lane>,
}

/// Where an entry stands in its lane: by due time in an unordered lane, by message id (the
/// order of acceptance) in an ordered one. The due time last tells a live entry from one a
/// crash left behind for the same delivery.
type Place = (u64, String, u64);

fn place(queued: &Queued) -> Place {
    let entry = &queued.entry;
    let rank = if entry.ordering_key.is_empty() { entry.due_ms } else { 0 };
    (rank, entry.delivery_key.clone(), entry.due_ms)
}

impl Lanes {
    fn wait(&mut self, queued: Queued) {
        self.waiting.entry(queued.entry.lane()).or_default().insert(place(&queued), queued);
    }

    /// Forgets a claimed entry, or else a waiting one.
    fn remove(&mut self, queued: &Queued) {
        let lane = queued.entry.lane();
        if self.claimed.remove(queued) {
            self.busy.remove(&lane);
        } else if let Some(entries) = self.waiting.get_mut(&lane) {
            entries.remove(&place(queued));
            if entries.is_empty() {
                self.waiting.remove(&lane);
            }
        }
    }
}

impl QueueIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        // The lock guards plain collections; a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Mirrors writes to the tree: `removed` entries were deleted (claimed ones, or held
    /// ones an operator let go), `added` entries inserted.
    pub(super) fn committed(&self, removed: &[Queued], added: Vec<Queued>) {
        let mut lanes = self.lock();
        for queued in removed {
            lanes.remove(queued);
        }
        for queued in added {
            lanes.wait(queued);
        }
    }

    fn len(&self) -> usize {
        let lanes = self.lock();
        lanes.claimed.len() + lanes.waiting.values().map(BTreeMap::len).sum::<usize>()
    }
}

impl Database {
    /// Loads the mirror from the `queue` tree and the arrivals groups (at open). Entries written before the queue held
    /// event ids get theirs from the message record.
    pub(super) fn load_queue_index(&self) -> Result<()> {
        let mut entries = Vec::new();
        for kv in self.queue.iter() {
            let (key, value) = kv?;
            let (due, delivery_key) = key.split_at(8.min(key.len()));
            let (event_id, ordering_key) = split_value(&value);
            let mut entry = QueueEntry {
                due_ms: u64::from_be_bytes(due.try_into().unwrap_or([0; 8])),
                delivery_key: String::from_utf8_lossy(delivery_key).into_owned(),
                event_id,
                ordering_key,
            };
            if entry.event_id.is_empty() {
                entry.event_id = self.message(entry.message_id())?.map(|m| m.event_id).unwrap_or_default();
            }
            entries.push(Queued::stored(entry));
        }
        entries.extend(self.load_arrivals()?);
        self.queue_index.committed(&[], entries);
        Ok(())
    }

    /// The lanes with waiting deliveries, each with the due time of its head.
    pub(super) fn queue_lanes(&self) -> Vec<(Lane, u64)> {
        let lanes = self.queue_index.lock();
        lanes
            .waiting
            .iter()
            .filter(|(lane, _)| !lanes.busy.contains(*lane))
            .filter_map(|(lane, entries)| Some((lane.clone(), entries.first_key_value()?.1.entry.due_ms)))
            .collect()
    }

    /// Takes the head of `lane` if it is due at `now_ms` (and, in an ordered lane, if no
    /// claim holds the lane). The entry stays in the tree, claimed, until its attempt is
    /// recorded or it is handed back with [`Database::unclaim`].
    pub(super) fn claim_due(&self, lane: &Lane, now_ms: u64) -> Claim {
        let mut lanes = self.queue_index.lock();
        if lanes.busy.contains(lane) {
            return Claim::Empty;
        }
        let Some(entries) = lanes.waiting.get_mut(lane) else { return Claim::Empty };
        let entry = match entries.first_key_value() {
            None => return Claim::Empty,
            Some((_, head)) if head.entry.due_ms > now_ms => return Claim::NotDue(head.entry.due_ms),
            Some(_) => entries.pop_first().map(|(_, queued)| queued),
        };
        if entries.is_empty() {
            lanes.waiting.remove(lane);
        }
        match entry {
            Some(entry) => {
                if lane.ordered() {
                    lanes.busy.insert(lane.clone());
                }
                lanes.claimed.insert(entry.clone());
                Claim::Taken(entry.claim())
            }
            None => Claim::Empty,
        }
    }

    /// Puts a claimed entry back, unchanged (its attempt was not recorded).
    pub(super) fn unclaim(&self, claim: Claimed) {
        let queued = Queued::from(claim);
        let mut lanes = self.queue_index.lock();
        if lanes.claimed.remove(&queued) {
            lanes.busy.remove(&queued.entry.lane());
            lanes.wait(queued);
        }
    }

    /// Number of pending deliveries, claimed ones included.
    pub(super) fn queue_len(&self) -> usize {
        self.queue_index.len()
    }

    /// The oldest message with a pending delivery (looking at most at 10,000 entries).
    pub(super) fn oldest_pending_message(&self) -> Option<String> {
        let lanes = self.queue_index.lock();
        let waiting = lanes.waiting.values().flat_map(BTreeMap::values);
        waiting.chain(lanes.claimed.iter()).take(10_000).map(|queued| queued.entry.message_id()).min().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(due_ms: u64, message: &str, event: &str) -> Queued {
        Queued::stored(QueueEntry { due_ms, delivery_key: format!("{message}/t1"), event_id: event.into(), ordering_key: String::new() })
    }

    #[test]
    fn lanes_hand_out_due_heads_in_order_and_take_back_what_was_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Database::open(&dir.path().join("db"), 1 << 20).unwrap();
        store.queue_index.committed(&[], vec![entry(30, "m3", "a"), entry(10, "m1", "a"), entry(20, "m2", "b")]);
        assert_eq!(store.queue_lanes().len(), 2, "one lane per event and target");
        let a = entry(10, "m1", "a").entry.lane();
        assert_eq!(a.to_string(), "a/t1");
        assert!(matches!(store.claim_due(&a, 5), Claim::NotDue(10)));
        let Claim::Taken(first) = store.claim_due(&a, 40) else { panic!("m1 is due") };
        assert_eq!(first.entry.delivery_key, "m1/t1");
        assert_eq!(store.queue_len(), 3, "a claimed entry is still pending");
        assert_eq!(store.oldest_pending_message().as_deref(), Some("m1"));
        store.unclaim(first);
        let Claim::Taken(again) = store.claim_due(&a, 40) else { panic!("m1 is back") };
        assert_eq!(again.entry.delivery_key, "m1/t1");
        store.queue_index.committed(&[Queued::from(again)], vec![entry(50, "m1", "a")]);
        let Claim::Taken(second) = store.claim_due(&a, 40) else { panic!("m3 is due") };
        assert_eq!(second.entry.delivery_key, "m3/t1");
        assert!(matches!(store.claim_due(&a, 40), Claim::NotDue(50)), "the retry of m1 is due later");
        assert_eq!(store.queue_len(), 3);
    }
}
