//! Stores written by earlier versions of hookgate, upgraded in place at open, so that
//! nothing they hold is lost.
//!
//! Before messages were kept in one value (2026-11-23):
//! - `messages` held the record alone and `bodies` the body: each message becomes one
//!   value with its body and no deliveries of ingest (its deliveries all have records);
//! - `by_event` held one empty-valued key per message: each becomes a group of one id.
//!
//! Every step can run again after a crash; `bodies` is dropped last.
//!
//! Before the `failed` index: it is built from the delivery records once.

use super::messages::encode_message;
use super::{decode, Result};
use crate::model::{DeliveryRecord, DeliveryStatus, MessageRecord};

const LEGACY_BODIES: &str = "bodies";

pub(super) fn upgrade(db: &sled::Db, messages: &sled::Tree, by_event: &sled::Tree) -> Result<()> {
    if !db.tree_names().iter().any(|name| name.as_ref() == LEGACY_BODIES.as_bytes()) {
        return Ok(());
    }
    let bodies = db.open_tree(LEGACY_BODIES)?;
    for kv in messages.iter() {
        let (id, value) = kv?;
        if value.first() != Some(&b'{') {
            continue; // already one value (a JSON record starts with `{`, a header length cannot)
        }
        let record: MessageRecord = decode("message", &value)?;
        let body = bodies.get(&id)?.unwrap_or_default();
        messages.insert(&id, encode_message(&record, &[], &body))?;
    }
    for kv in by_event.iter() {
        let (key, ids) = kv?;
        if ids.is_empty() {
            let id = key.iter().position(|b| *b == 0).map_or(&key[..0], |zero| &key[zero + 1..]);
            by_event.insert(&key, id)?;
        }
    }
    db.flush()?;
    db.drop_tree(LEGACY_BODIES)?;
    db.flush()?;
    Ok(())
}

/// Fills the `failed` index from the delivery records, unless the store says it holds it.
pub(super) fn index_failed(db: &sled::Db, deliveries: &sled::Tree, failed: &sled::Tree) -> Result<()> {
    const INDEXED: &[u8] = b"hookgate:failed-indexed";
    if db.contains_key(INDEXED)? {
        return Ok(());
    }
    for value in deliveries.iter().values() {
        let delivery: DeliveryRecord = decode("delivery", &value?)?;
        if delivery.status == DeliveryStatus::Failed {
            failed.insert(delivery.message_id.as_bytes(), &[])?;
        }
    }
    db.flush()?;
    db.insert(INDEXED, &[])?;
    db.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryRecord, DeliveryStatus};
    use crate::store::sled::queue::Queued;
    use crate::store::sled::Database;
    use crate::store::{delivery_key, MessageQuery, QueueEntry};

    #[test]
    fn a_store_of_the_earlier_layouts_opens_with_nothing_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (id, pending_id) = ("msg_0190000000007000800000000000001", "msg_0190000000007000800000000000002");
        {
            // What the earlier store wrote for a failed and a pending message of `orders`.
            let db = sled::open(&path).unwrap();
            db.insert("hookgate:created", "2026-11-20T00:00:00Z").unwrap();
            let (messages, bodies) = (db.open_tree("messages").unwrap(), db.open_tree(LEGACY_BODIES).unwrap());
            let (by_event, deliveries, queue) =
                (db.open_tree("by_event").unwrap(), db.open_tree("deliveries").unwrap(), db.open_tree("queue").unwrap());
            for (message, status) in [(id, DeliveryStatus::Failed), (pending_id, DeliveryStatus::Pending)] {
                let record = serde_json::json!({
                    "message_id": message, "event_id": "orders", "received_at": "2026-11-20T00:00:00Z",
                    "received_at_ms": 1_763_596_800_000u64, "headers": [], "content_type": "application/json", "body_size": 9,
                });
                messages.insert(message, serde_json::to_vec(&record).unwrap()).unwrap();
                bodies.insert(message, &b"{\"n\": 42}"[..]).unwrap();
                by_event.insert([&b"orders\0"[..], message.as_bytes()].concat(), &[] as &[u8]).unwrap();
                let delivery = DeliveryRecord {
                    message_id: message.into(),
                    target: "t1".into(),
                    status,
                    reason: None,
                    next_attempt_at_ms: (status == DeliveryStatus::Pending).then_some(5),
                    attempts: vec![],
                    ordering_key: None,
                    holds_key: false,
                };
                deliveries.insert(delivery_key(message, "t1"), serde_json::to_vec(&delivery).unwrap()).unwrap();
                if status == DeliveryStatus::Pending {
                    let queued = Queued::stored(QueueEntry::of(&delivery, "orders"));
                    queue.insert(queued.key(), "orders").unwrap();
                }
            }
            db.flush().unwrap();
        }
        std::fs::write(path.with_extension("created"), "").unwrap();
        let store = Database::open(&path, 1 << 20).unwrap();
        let (message, body) = store.message_with_body(id).unwrap().expect("the message is still there");
        assert_eq!((message.event_id.as_str(), &body[..]), ("orders", &b"{\"n\": 42}"[..]));
        assert_eq!(store.deliveries_of(id).unwrap()[0].status, DeliveryStatus::Failed);
        let failed = store.message_ids(&MessageQuery { failed: true, ..MessageQuery::default() }, 10).unwrap();
        assert_eq!(failed, [id], "the failed index is built from the delivery records");
        let of_orders = MessageQuery { event_id: Some("orders".into()), ..MessageQuery::default() };
        let listed = store.message_ids(&of_orders, 10).unwrap();
        assert_eq!(listed, [pending_id, id]);
        assert_eq!(store.queue_len(), 1, "the pending delivery is still queued");
        assert!(!store.db.tree_names().iter().any(|name| name.as_ref() == LEGACY_BODIES.as_bytes()));
        drop(store);
        let again = Database::open(&path, 1 << 20).unwrap();
        assert_eq!(again.message(pending_id).unwrap().map(|m| m.body_size), Some(9), "opening twice changes nothing");
    }
}
