//! The delivery queue: a pending delivery's row is its queue entry, and a claim is a lease
//! on that row. Claiming moves the row's due time to when the lease runs out and marks it
//! with the claim's token; recording the attempt (or handing the claim back) sets the due
//! time to the next attempt and clears the mark. So a delivery whose node died is due again
//! when its lease runs out, and no query has to step over leased rows. The holder renews
//! its leases every third of `--lease-ms` while it holds them ([`Leases`]).
//!
//! Claims are taken a few at a time per lane ([`CLAIM_BATCH`]) with `FOR UPDATE SKIP LOCKED`,
//! so nodes claiming at once never wait for each other nor take the same row, and a busy
//! lane costs one claiming statement per batch rather than per delivery. The rows are read
//! whole with the claim: the attempt does not read its delivery again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::task::JoinHandle;

use super::group::Group;
use super::{decode, encode, messages, split_key};
use crate::model::{now_ms, DeliveryRecord, DeliveryStatus};
use crate::store::{delivery_key, Claim, Claimed, Lane, QueueEntry, Result, HELD};

/// Deliveries claimed at once from one lane.
const CLAIM_BATCH: i64 = 16;

/// What this node holds: claims handed to the dispatcher, and claims taken but not yet
/// handed out, by lane.
#[derive(Default)]
struct Held {
    /// Every claim not yet recorded or handed back, by token: what the renewer renews.
    leased: HashSet<Leased>,
    /// Claimed, not yet handed out, in due order.
    waiting: HashMap<Lane, VecDeque<Claimed>>,
}

/// The claims this node holds, renewed every third of the lease; stopped on drop.
pub(super) struct Leases {
    held: Arc<Mutex<Held>>,
    lease_ms: u64,
    renewer: JoinHandle<()>,
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lock(held: &Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    // Every change is a single insert or remove: a poisoned lock still holds whole maps.
    held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Leases {
    pub(super) fn start(pool: Pool, lease_ms: u64) -> Leases {
        let held: Arc<Mutex<Held>> = Arc::default();
        let renewer = tokio::spawn(renew(pool, held.clone(), lease_ms));
        Leases { held, lease_ms, renewer }
    }

    /// Stops renewing a claim: its outcome is being recorded, or it is handed back.
    pub(super) fn let_go(&self, claim: &Claimed) {
        let (message_id, target) = split_key(&claim.entry.delivery_key);
        let (message_id, target) = (message_id.to_string(), target.to_string());
        lock(&self.held).leased.remove(&Leased { token: claim.token, message_id, target });
    }

    /// The earliest due, unclaimed delivery of `lane`: from the batch this node claimed
    /// before, else from a new batch.
    ///
    /// An ordered lane gives its head only, and only while no claim holds it: the head is
    /// locked (waiting for a node that claims it at the same moment) and taken if it is due,
    /// which a held head never is.
    pub(super) async fn claim_due(&self, pool: &Pool, lane: &Lane, now_ms: u64) -> Result<Claim> {
        if let Some(claimed) = lock(&self.held).waiting.get_mut(lane).and_then(VecDeque::pop_front) {
            return Ok(Claim::Taken(claimed));
        }
        let client = pool.get().await?;
        let lease_until = now_ms + self.lease_ms;
        let token = rand::random::<u64>() >> 1; // positive as a bigint; 0 means unclaimed
        let statement = match lane.ordered() {
            false => client.prepare_cached(
                "UPDATE hookgate_deliveries d SET due_ms = $5, lease_token = $6
                 FROM (SELECT message_id, target, due_ms FROM hookgate_deliveries
                       WHERE event_id = $1 AND target = $2 AND ordering_key = $3 AND due_ms IS NOT NULL AND due_ms <= $4
                       ORDER BY due_ms, message_id LIMIT $7 FOR UPDATE SKIP LOCKED) head
                 WHERE d.message_id = head.message_id AND d.target = head.target
                 RETURNING d.message_id, d.record",
            ),
            true => client.prepare_cached(
                "UPDATE hookgate_deliveries d SET due_ms = $5, lease_token = $6
                 FROM (SELECT message_id, target FROM hookgate_deliveries
                       WHERE event_id = $1 AND target = $2 AND ordering_key = $3 AND due_ms IS NOT NULL
                       ORDER BY message_id LIMIT $7 FOR UPDATE) head
                 WHERE d.message_id = head.message_id AND d.target = head.target AND d.due_ms <= $4
                 RETURNING d.message_id, d.record",
            ),
        }
        .await?;
        let batch = if lane.ordered() { 1 } else { CLAIM_BATCH };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
            [&lane.event_id, &lane.target_id, &lane.key, &(now_ms as i64), &(lease_until as i64), &(token as i64), &batch];
        let rows = client.query(&statement, &params).await?;
        if rows.is_empty() {
            return self.head(pool, lane, now_ms).await;
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let delivery: DeliveryRecord = decode("delivery", row.get::<_, &str>(1))?;
            let message_id: String = row.get(0);
            let entry = QueueEntry {
                // The schedule the claim took it from: what a handed-back claim restores.
                due_ms: delivery.next_attempt_at_ms.unwrap_or(0),
                delivery_key: delivery_key(&message_id, &lane.target_id),
                event_id: lane.event_id.clone(),
                ordering_key: lane.key.clone(),
            };
            claimed.push(Claimed { entry, lease_until_ms: lease_until, token, delivery: Some(Box::new(delivery)) });
        }
        // One token for the batch: each row is still told apart by its key.
        claimed.sort_by(|a, b| (a.entry.due_ms, &a.entry.delivery_key).cmp(&(b.entry.due_ms, &b.entry.delivery_key)));
        let mut held = lock(&self.held);
        for claim in &claimed {
            let (message_id, target) = split_key(&claim.entry.delivery_key);
            held.leased.insert(Leased { token, message_id: message_id.to_string(), target: target.to_string() });
        }
        let mut claimed = VecDeque::from(claimed);
        let first = claimed.pop_front();
        held.waiting.entry(lane.clone()).or_default().extend(claimed);
        Ok(first.map_or(Claim::Empty, Claim::Taken))
    }

    /// What the head of a lane is when nothing is due: the earliest unclaimed due time, or
    /// in an ordered lane its first delivery's (a claim's lease, while one holds it).
    async fn head(&self, pool: &Pool, lane: &Lane, now_ms: u64) -> Result<Claim> {
        let client = pool.get().await?;
        let statement = match lane.ordered() {
            false => client.prepare_cached(
                "SELECT min(due_ms) FROM hookgate_deliveries
                 WHERE event_id = $1 AND target = $2 AND ordering_key = $3 AND due_ms IS NOT NULL AND lease_token = 0",
            ),
            true => client.prepare_cached(
                "SELECT (SELECT due_ms FROM hookgate_deliveries
                         WHERE event_id = $1 AND target = $2 AND ordering_key = $3 AND due_ms IS NOT NULL
                         ORDER BY message_id LIMIT 1)",
            ),
        }
        .await?;
        let due: Option<i64> = client.query_one(&statement, &[&lane.event_id, &lane.target_id, &lane.key]).await?.get(0);
        Ok(match due {
            Some(due) if due as u64 > now_ms => Claim::NotDue(due as u64),
            // Nothing unclaimed, or a head another node is claiming right now.
            _ => Claim::Empty,
        })
    }

    /// Hands a claim back unattempted: it stays this node's, first in its lane's line, so
    /// that the lane keeps its order and the database is not written.
    pub(super) async fn release(&self, claim: Claimed) -> Result<()> {
        lock(&self.held).waiting.entry(claim.entry.lane()).or_default().push_front(claim);
        Ok(())
    }

    /// Takes the delivery out of the queue: its record does not wait for this attempt.
    pub(super) async fn discard(&self, pool: &Pool, claim: Claimed) -> Result<()> {
        self.end(pool, claim, None).await
    }

    async fn end(&self, pool: &Pool, claim: Claimed, due_ms: Option<i64>) -> Result<()> {
        self.let_go(&claim);
        let (message_id, target) = split_key(&claim.entry.delivery_key);
        let client = pool.get().await?;
        let statement = client
            .prepare_cached(
                "UPDATE hookgate_deliveries SET due_ms = $4, lease_token = 0
                 WHERE message_id = $1 AND target = $2 AND lease_token = $3",
            )
            .await?;
        client.execute(&statement, &[&message_id, &target, &(claim.token as i64), &due_ms]).await?;
        Ok(())
    }

    /// Hands back every claim not handed out yet (at shutdown), so the other nodes need not
    /// wait for their leases to run out.
    pub(super) async fn hand_back_waiting(&self, pool: &Pool) -> Result<()> {
        let waiting: Vec<Claimed> = lock(&self.held).waiting.drain().flat_map(|(_, claims)| claims).collect();
        for claim in waiting {
            let due = claim.entry.due_ms as i64;
            self.end(pool, claim, Some(due)).await?;
        }
        Ok(())
    }
}

/// Outcomes recorded in one transaction at most.
const MAX_RECORDS: usize = 256;

/// The recorders: an attempt's outcome is durable when `record` returns, and shares its
/// commit with the others of its group.
pub(super) fn recorder(pool: Pool) -> Group<(Claimed, DeliveryRecord), ()> {
    Group::start(pool, 2, MAX_RECORDS, |pool, outcomes| async move { record(&pool, outcomes).await })
}

/// Writes the outcomes whose claims still hold their rows, ending the claims, and flags the
/// messages of failed deliveries for the log's `status=failed`: one statement per outcome,
/// pipelined in one transaction, so the group shares one commit and each row is found by
/// its key.
async fn record(pool: &Pool, outcomes: Vec<(Claimed, DeliveryRecord)>) -> Result<Vec<()>> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let statement = transaction
        .prepare_cached(
            "WITH recorded AS (
                UPDATE hookgate_deliveries SET due_ms = $3, record = $4, lease_token = 0
                WHERE message_id = $1 AND target = $2 AND lease_token = $5
                RETURNING message_id),
             flagged AS (
                UPDATE hookgate_messages SET failed = true
                WHERE $6 AND NOT failed AND id IN (SELECT message_id FROM recorded))
             SELECT count(*) FROM recorded",
        )
        .await?;
    let rows: Vec<_> = outcomes
        .iter()
        .map(|(claim, delivery)| {
            let (message_id, target) = split_key(&claim.entry.delivery_key);
            (message_id, target, messages::due(delivery), encode(delivery), claim.token as i64, messages::ever_failed(delivery))
        })
        .collect();
    let updates = rows.iter().map(|(message_id, target, due, record, token, failed)| {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [message_id, target, due, record, token, failed];
        let (transaction, statement) = (&transaction, &statement);
        async move { transaction.query_one(statement, &params).await.map(|row| row.get::<_, i64>(0) > 0) }
    });
    let recorded = futures_util::future::try_join_all(updates).await?;
    transaction.commit().await?;
    for ((claim, _), recorded) in outcomes.iter().zip(recorded) {
        if !recorded {
            tracing::warn!(
                delivery = %claim.entry.delivery_key,
                "the claim ran out before the attempt was recorded (this node could not renew it for longer than \
                 --lease-ms); another node owns the delivery now, and this attempt is not in its log"
            );
        }
    }
    Ok(vec![(); outcomes.len()])
}

/// A claim this node holds: a batch shares one token, each row is told apart by its key.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Leased {
    token: u64,
    message_id: String,
    target: String,
}

async fn renew(pool: Pool, held: Arc<Mutex<Held>>, lease_ms: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis((lease_ms / 3).max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (mut messages, mut targets, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
        for leased in lock(&held).leased.iter() {
            messages.push(leased.message_id.clone());
            targets.push(leased.target.clone());
            tokens.push(leased.token as i64);
        }
        if messages.is_empty() {
            continue;
        }
        let renewed = async {
            let client = pool.get().await?;
            client
                .execute(
                    "UPDATE hookgate_deliveries d SET due_ms = $1
                     FROM unnest($2::text[], $3::text[], $4::int8[]) AS c(message_id, target, token)
                     WHERE d.message_id = c.message_id AND d.target = c.target AND d.lease_token = c.token",
                    &[&((now_ms() + lease_ms) as i64), &messages, &targets, &tokens],
                )
                .await?;
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = renewed.await {
            tracing::warn!("cannot renew the claims of {} deliveries: {e}", messages.len());
        }
    }
}

/// The lanes with pending deliveries, read at most every [`LANES_FRESH`]: the dispatcher
/// asks after every attempt, and the answer changes far less often. Lanes this node queued
/// since are added at once; another node's new lane is seen on the next read.
#[derive(Default)]
pub(super) struct LanesSeen {
    read_at: Option<std::time::Instant>,
    lanes: std::collections::BTreeMap<Lane, u64>,
}

const LANES_FRESH: Duration = Duration::from_millis(100);

impl LanesSeen {
    pub(super) async fn lanes(seen: &Mutex<LanesSeen>, pool: &Pool) -> Result<Vec<(Lane, u64)>> {
        {
            let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.read_at.is_some_and(|at| at.elapsed() < LANES_FRESH) {
                return Ok(seen.lanes.iter().map(|(lane, due)| (lane.clone(), *due)).collect());
            }
        }
        let read = lanes(pool).await?;
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.read_at = Some(std::time::Instant::now());
        seen.lanes = read.iter().cloned().collect();
        Ok(read)
    }

    pub(super) fn queued(seen: &Mutex<LanesSeen>, queued: Vec<(Lane, u64)>) {
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (lane, due) in queued {
            let head = seen.lanes.entry(lane).or_insert(due);
            *head = (*head).min(due);
        }
    }
}

/// Every lane with queued deliveries and its earliest due time. A skip scan of the queue
/// index: one index probe per lane, however many deliveries wait.
async fn lanes(pool: &Pool) -> Result<Vec<(Lane, u64)>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH RECURSIVE lanes(event_id, target, ordering_key) AS (
                (SELECT event_id, target, ordering_key FROM hookgate_deliveries WHERE due_ms IS NOT NULL
                 ORDER BY event_id, target, ordering_key LIMIT 1)
                UNION ALL
                SELECT next.event_id, next.target, next.ordering_key FROM lanes l, LATERAL (
                    SELECT event_id, target, ordering_key FROM hookgate_deliveries
                    WHERE due_ms IS NOT NULL AND (event_id, target, ordering_key) > (l.event_id, l.target, l.ordering_key)
                    ORDER BY event_id, target, ordering_key LIMIT 1) next
            )
            SELECT l.event_id, l.target, l.ordering_key, (
                SELECT due_ms FROM hookgate_deliveries d
                WHERE d.event_id = l.event_id AND d.target = l.target AND d.ordering_key = l.ordering_key
                  AND d.due_ms IS NOT NULL
                ORDER BY due_ms LIMIT 1)
            FROM lanes l",
        )
        .await?;
    Ok(client
        .query(&statement, &[])
        .await?
        .into_iter()
        .map(|row| (Lane { event_id: row.get(0), target_id: row.get(1), key: row.get(2) }, row.get::<_, i64>(3) as u64))
        .collect())
}

/// Queues a message's failed deliveries again, due at `now_ms`; the row locks make two
/// retries of one message at once requeue each delivery once (the second finds it pending).
pub(super) async fn requeue_failed(pool: &Pool, message_id: &str, target: Option<&str>, now_ms: u64) -> Result<usize> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let rows = transaction
        // Failed rows only (settled, or holding their key): locking a pending one would make
        // a claim skip it and take a later delivery of its lane first.
        .query(
            "SELECT target, record FROM hookgate_deliveries WHERE message_id = $1 AND (due_ms IS NULL OR due_ms = $2) FOR UPDATE",
            &[&message_id, &(HELD as i64)],
        )
        .await?;
    let mut requeued = 0;
    for row in rows {
        let mut delivery: DeliveryRecord = decode("delivery", row.get::<_, &str>(1))?;
        if delivery.status != DeliveryStatus::Failed || target.is_some_and(|t| t != delivery.target) {
            continue;
        }
        delivery.status = DeliveryStatus::Pending;
        delivery.reason = None;
        delivery.holds_key = false;
        delivery.next_attempt_at_ms = Some(now_ms);
        let target: &str = row.get(0);
        transaction
            .execute(
                "UPDATE hookgate_deliveries SET due_ms = $3, record = $4, lease_token = 0 WHERE message_id = $1 AND target = $2",
                &[&message_id, &target, &(now_ms as i64), &encode(&delivery)],
            )
            .await?;
        requeued += 1;
    }
    transaction.commit().await?;
    Ok(requeued)
}

/// Lets a held ordering key go on without its failed head (see `DeliveryQueue::skip_held`).
pub(super) async fn skip_held(pool: &Pool, message_id: &str, target: &str, note: &str) -> Result<bool> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            "SELECT record FROM hookgate_deliveries WHERE message_id = $1 AND target = $2 AND due_ms = $3 FOR UPDATE",
            &[&message_id, &target, &(HELD as i64)],
        )
        .await?;
    let Some(row) = row else { return Ok(false) };
    let mut delivery: DeliveryRecord = decode("delivery", row.get::<_, &str>(0))?;
    delivery.let_key_go(note);
    transaction
        .execute(
            "UPDATE hookgate_deliveries SET due_ms = NULL, record = $3 WHERE message_id = $1 AND target = $2",
            &[&message_id, &target, &encode(&delivery)],
        )
        .await?;
    transaction.commit().await?;
    Ok(true)
}

pub(super) async fn pending_count(pool: &Pool) -> Result<usize> {
    let client = pool.get().await?;
    let count: i64 = client.query_one("SELECT count(*) FROM hookgate_deliveries WHERE due_ms IS NOT NULL", &[]).await?.get(0);
    Ok(count as usize)
}

/// The oldest message among (at most) 10,000 pending deliveries.
pub(super) async fn oldest_pending_message(pool: &Pool) -> Result<Option<String>> {
    let client = pool.get().await?;
    Ok(client
        .query_one(
            "SELECT min(message_id) FROM (SELECT message_id FROM hookgate_deliveries WHERE due_ms IS NOT NULL LIMIT 10000) q",
            &[],
        )
        .await?
        .get(0))
}
