//! Arrivals: the new messages whose first attempts are not all recorded yet.
//!
//! A new message's pending deliveries are due at once, so instead of a queue key each,
//! the writer stores each batch's new messages under one key of the `arrivals` tree (a
//! sequence number) and their queue entries live in the in-memory mirror only, marked
//! with that number. The key goes once every one of those entries has had its first
//! outcome recorded (or was dropped); at start, the groups left give back the entries of
//! the deliveries that still have no record of their own.

use std::collections::HashMap;
use std::sync::Mutex;

use super::messages::split_ids;
use super::queue::Queued;
use super::{Database, Result};
use crate::model::DeliveryStatus;
use crate::store::{delivery_key, QueueEntry};

#[derive(Default)]
pub(super) struct Arrivals {
    state: Mutex<Groups>,
}

#[derive(Default)]
struct Groups {
    next: u64,
    /// Entries of each group still waiting for their first recorded outcome.
    outstanding: HashMap<u64, usize>,
}

impl Arrivals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Groups> {
        // Plain counters; a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The number of a new group.
    pub(super) fn open(&self) -> u64 {
        let mut groups = self.lock();
        groups.next += 1;
        groups.next - 1
    }

    /// `entries` of `group` are in the queue mirror.
    pub(super) fn register(&self, group: u64, entries: usize) {
        if entries > 0 {
            *self.lock().outstanding.entry(group).or_default() += entries;
        }
    }

    /// One entry of `group` is done with; true when it was the group's last (its key can go).
    pub(super) fn settle(&self, group: u64) -> bool {
        let mut groups = self.lock();
        let Some(left) = groups.outstanding.get_mut(&group) else { return true };
        *left = left.saturating_sub(1);
        let done = *left == 0;
        if done {
            groups.outstanding.remove(&group);
        }
        done
    }
}

impl Database {
    /// The queue entries of the arrivals groups (at open): one per pending delivery that
    /// has no record of its own yet. Groups with none left are removed.
    pub(super) fn load_arrivals(&self) -> Result<Vec<Queued>> {
        let mut entries = Vec::new();
        let mut next = 0;
        for kv in self.arrivals_tree.iter() {
            let (key, ids) = kv?;
            let group = u64::from_be_bytes(key.as_ref().try_into().unwrap_or_default());
            next = next.max(group + 1);
            let before = entries.len();
            for id in split_ids(&ids) {
                let Some((message, deliveries)) = self.message_as_stored(&id)? else { continue };
                for delivery in deliveries {
                    let key = delivery_key(&id, &delivery.target);
                    if delivery.status == DeliveryStatus::Pending && !self.deliveries.contains_key(&key)? {
                        entries.push(Queued { entry: QueueEntry::of(&delivery, &message.event_id), arrival: Some(group) });
                    }
                }
            }
            match entries.len() - before {
                0 => {
                    self.arrivals_tree.remove(key)?;
                }
                waiting => self.arrivals.register(group, waiting),
            }
        }
        self.arrivals.lock().next = next;
        Ok(entries)
    }
}
