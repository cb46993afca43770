//! The message log: appends committed in groups, reads, the log's pages, pruning.
//!
//! A 202 waits for its message's commit, which it shares with the others of its group
//! (`group.rs`).

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Pool};

use super::group::Group;
use super::{decode, encode, split_key};
use crate::model::{new_message_id, DeliveryRecord, DeliveryStatus, MessageRecord};
use crate::store::{queue_due, Inserted, MessageQuery, NewMessage, Result, IDEMPOTENCY_WINDOW_MS};

/// Appends in one transaction at most.
const MAX_GROUP: usize = 512;
/// Transactions in flight at once.
const APPENDERS: usize = 4;

/// The appenders: each 202 waits for its group's commit.
pub(super) fn appender(pool: Pool) -> Group<NewMessage, Inserted> {
    Group::start(pool, APPENDERS, MAX_GROUP, |pool, messages| async move { insert(&pool, messages).await })
}

/// Stores a group of new messages in one transaction; what became of each.
async fn insert(pool: &Pool, mut messages: Vec<NewMessage>) -> Result<Vec<Inserted>> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // Name every message, then let the first use of each key in the group claim it.
    let mut first_use: HashMap<String, usize> = HashMap::new();
    for (i, m) in messages.iter_mut().enumerate() {
        let id = new_message_id();
        m.message.message_id.clone_from(&id);
        m.deliveries.iter_mut().for_each(|d| d.message_id.clone_from(&id));
        if let Some(key) = &m.idempotency_key {
            first_use.entry(key.clone()).or_insert(i);
        }
    }
    let owners = claim_keys(&transaction, &messages, &first_use).await?;
    let outcomes: Vec<Inserted> = messages
        .iter()
        .map(|m| match m.idempotency_key.as_ref().and_then(|key| owners.get(key)) {
            Some(owner) if *owner != m.message.message_id => Inserted::Existing(owner.clone()),
            _ => Inserted::New(m.message.message_id.clone()),
        })
        .collect();
    let new = messages.iter().zip(&outcomes).filter(|(_, o)| matches!(o, Inserted::New(_))).map(|(m, _)| m);
    write_messages(&transaction, new.map(|m| (&m.message, &m.body[..], &m.deliveries[..]))).await?;
    transaction.commit().await?;
    Ok(outcomes)
}

/// Takes each key for the message that first used it in the group, unless a message of
/// the last 24 h owns it; returns every key's owner.
async fn claim_keys(client: &impl GenericClient, messages: &[NewMessage], first_use: &HashMap<String, usize>) -> Result<HashMap<String, String>> {
    if first_use.is_empty() {
        return Ok(HashMap::new());
    }
    let (mut keys, mut ids, mut at) = (Vec::new(), Vec::new(), Vec::new());
    for (key, &i) in first_use {
        keys.push(key.as_bytes());
        ids.push(messages[i].message.message_id.as_str());
        at.push(messages[i].message.received_at_ms as i64);
    }
    // A concurrent use of a key on another node waits for that node's commit here, then
    // sees its row: one owner per key, cluster-wide.
    let statement = client
        .prepare_cached(
            "INSERT INTO hookgate_idempotency (key, message_id, at_ms)
             SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[])
             ON CONFLICT (key) DO UPDATE SET message_id = EXCLUDED.message_id, at_ms = EXCLUDED.at_ms
             WHERE hookgate_idempotency.at_ms <= EXCLUDED.at_ms - $4",
        )
        .await?;
    client.execute(&statement, &[&keys, &ids, &at, &(IDEMPOTENCY_WINDOW_MS as i64)]).await?;
    let statement = client.prepare_cached("SELECT key, message_id FROM hookgate_idempotency WHERE key = ANY($1)").await?;
    let owners = client.query(&statement, &[&keys]).await?.into_iter();
    Ok(owners.map(|row| (String::from_utf8_lossy(row.get::<_, &[u8]>(0)).into_owned(), row.get(1))).collect())
}

/// Inserts messages with their deliveries, pending ones queued at their next attempt.
pub(super) async fn write_messages<'a>(
    client: &impl GenericClient,
    messages: impl Iterator<Item = (&'a MessageRecord, &'a [u8], &'a [DeliveryRecord])>,
) -> Result<()> {
    let (mut ids, mut events, mut records, mut bodies, mut failed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut d_ids, mut d_targets, mut d_events, mut d_due, mut d_records) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut d_keys = Vec::new();
    for (message, body, deliveries) in messages {
        ids.push(message.message_id.as_str());
        events.push(message.event_id.as_str());
        records.push(encode(message));
        bodies.push(body);
        failed.push(deliveries.iter().any(ever_failed));
        for d in deliveries {
            d_ids.push(message.message_id.as_str());
            d_targets.push(d.target.as_str());
            d_events.push(message.event_id.as_str());
            d_due.push(due(d));
            d_records.push(encode(d));
            d_keys.push(d.ordering_key.as_deref().unwrap_or(""));
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let statement = client
        .prepare_cached(
            "INSERT INTO hookgate_messages (id, event_id, record, body, failed)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bool[])",
        )
        .await?;
    client.execute(&statement, &[&ids, &events, &records, &bodies, &failed]).await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO hookgate_deliveries (message_id, target, event_id, due_ms, record, ordering_key)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[])",
        )
        .await?;
    client.execute(&statement, &[&d_ids, &d_targets, &d_events, &d_due, &d_records, &d_keys]).await?;
    Ok(())
}

/// The queue column of a delivery (see [`queue_due`]).
pub(super) fn due(delivery: &DeliveryRecord) -> Option<i64> {
    queue_due(delivery).map(|due| due as i64)
}

/// Whether a delivery counts for the log's `status=failed`: it failed, or an attempt of it did.
pub(super) fn ever_failed(delivery: &DeliveryRecord) -> bool {
    delivery.status == DeliveryStatus::Failed
}

pub(super) async fn message(pool: &Pool, id: &str) -> Result<Option<MessageRecord>> {
    let client = pool.get().await?;
    let statement = client.prepare_cached("SELECT record FROM hookgate_messages WHERE id = $1").await?;
    client.query_opt(&statement, &[&id]).await?.map(|row| decode("message", row.get::<_, &str>(0))).transpose()
}

pub(super) async fn message_with_body(pool: &Pool, id: &str) -> Result<Option<(MessageRecord, bytes::Bytes)>> {
    let client = pool.get().await?;
    let statement = client.prepare_cached("SELECT record, body FROM hookgate_messages WHERE id = $1").await?;
    let Some(row) = client.query_opt(&statement, &[&id]).await? else { return Ok(None) };
    let body: Vec<u8> = row.get(1);
    Ok(Some((decode("message", row.get::<_, &str>(0))?, body.into())))
}

pub(super) async fn deliveries_of(pool: &Pool, message_id: &str) -> Result<Vec<DeliveryRecord>> {
    let client = pool.get().await?;
    let statement = client.prepare_cached("SELECT record FROM hookgate_deliveries WHERE message_id = $1 ORDER BY target").await?;
    client.query(&statement, &[&message_id]).await?.iter().map(|row| decode("delivery", row.get::<_, &str>(0))).collect()
}

pub(super) async fn delivery(pool: &Pool, key: &str) -> Result<Option<DeliveryRecord>> {
    let (message_id, target) = split_key(key);
    let client = pool.get().await?;
    let statement = client.prepare_cached("SELECT record FROM hookgate_deliveries WHERE message_id = $1 AND target = $2").await?;
    client.query_opt(&statement, &[&message_id, &target]).await?.map(|row| decode("delivery", row.get::<_, &str>(0))).transpose()
}

/// One page of the log, newest first; every filter is an index range.
pub(super) async fn message_ids(pool: &Pool, query: &MessageQuery, limit: usize) -> Result<Vec<String>> {
    let mut sql = String::from("SELECT id FROM hookgate_messages WHERE true");
    // Each filter adds its condition and its parameter in step.
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
    if let Some(event) = &query.event_id {
        params.push(event);
        sql.push_str(&format!(" AND event_id = ${}", params.len()));
    }
    if query.failed {
        sql.push_str(" AND failed");
    }
    if let Some(before) = &query.before {
        params.push(before);
        sql.push_str(&format!(" AND id < ${}", params.len()));
    }
    if let Some(since) = &query.since {
        params.push(since);
        sql.push_str(&format!(" AND id >= ${}", params.len()));
    }
    let limit = limit as i64;
    params.push(&limit);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    Ok(client.query(&statement, &params).await?.into_iter().map(|row| row.get(0)).collect())
}

/// Held by the node that prunes.
pub(super) const PRUNE_LOCK: i64 = 0x686f_6f6b_7072_756e; // "hookprun"

/// Deletes up to `limit` settled messages older than `cutoff_id`, and with them their
/// deliveries and idempotency keys. One node at a time: the others find the lock taken
/// and prune nothing, so a cluster prunes once.
pub(super) async fn prune_settled_before(pool: &Pool, cutoff_id: &str, limit: usize) -> Result<usize> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let locked: bool = transaction.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK]).await?.get(0);
    if !locked {
        return Ok(0);
    }
    let pruned = transaction
        .execute(
            "DELETE FROM hookgate_messages WHERE id IN (
                SELECT id FROM hookgate_messages m WHERE id < $1
                AND NOT EXISTS (SELECT 1 FROM hookgate_deliveries d WHERE d.message_id = m.id AND d.due_ms IS NOT NULL)
                ORDER BY id LIMIT $2)",
            &[&cutoff_id, &(limit as i64)],
        )
        .await?;
    transaction.commit().await?;
    Ok(pruned as usize)
}

pub(super) async fn message_count(pool: &Pool) -> Result<usize> {
    let client = pool.get().await?;
    let count: i64 = client.query_one("SELECT count(*) FROM hookgate_messages", &[]).await?.get(0);
    Ok(count as usize)
}
