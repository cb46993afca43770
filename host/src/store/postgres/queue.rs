//! The delivery queue: a pending delivery's row is its queue entry (`due_ms`), and a
//! claim is a lease on that row. Claims take the head of a lane with `FOR UPDATE SKIP
//! LOCKED`, so nodes claiming at once never wait for each other nor take the same row; a
//! lease runs on the database's clock, and its holder renews it while the attempt runs
//! ([`Leases`]), so it only runs out when the holder died: then any node may claim the
//! delivery again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::task::JoinHandle;

use super::{decode, encode, messages, split_key};
use crate::model::{DeliveryRecord, DeliveryStatus};
use crate::store::{delivery_key, Claim, Claimed, Lane, QueueEntry, Result};

/// The claims this node holds, renewed every third of the lease.
pub(super) struct Leases {
    held: Arc<Mutex<HashMap<u64, (String, String)>>>,
    lease_ms: u64,
    renewer: JoinHandle<()>,
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Leases {
    pub(super) fn start(pool: Pool, lease_ms: u64) -> Leases {
        let held: Arc<Mutex<HashMap<u64, (String, String)>>> = Arc::default();
        let renewer = tokio::spawn(renew(pool, held.clone(), lease_ms));
        Leases { held, lease_ms, renewer }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (String, String)>> {
        // Only inserts and removes: a poisoned map is still a whole one.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, token: u64, message_id: &str, target: &str) {
        self.held().insert(token, (message_id.to_string(), target.to_string()));
    }

    fn let_go(&self, token: u64) {
        self.held().remove(&token);
    }
}

async fn renew(pool: Pool, held: Arc<Mutex<HashMap<u64, (String, String)>>>, lease_ms: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis((lease_ms / 3).max(10)));
    loop {
        tick.tick().await;
        let (mut messages, mut targets, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
        for (token, (message, target)) in held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            messages.push(message.clone());
            targets.push(target.clone());
            tokens.push(*token as i64);
        }
        if tokens.is_empty() {
            continue;
        }
        let renewed = async {
            let client = pool.get().await?;
            client
                .execute(
                    "UPDATE hookgate_deliveries d SET lease_until_ms = hookgate_now_ms() + $1
                     FROM unnest($2::text[], $3::text[], $4::int8[]) AS c(message_id, target, token)
                     WHERE d.message_id = c.message_id AND d.target = c.target AND d.lease_token = c.token",
                    &[&(lease_ms as i64), &messages, &targets, &tokens],
                )
                .await?;
            Ok::<_, crate::store::StoreError>(())
        };
        if let Err(e) = renewed.await {
            tracing::warn!("cannot renew the leases of {} attempts in flight: {e}", tokens.len());
        }
    }
}

/// Every lane with pending deliveries and its earliest due time. A skip scan of the
/// queue index: one index probe per lane, however many deliveries wait.
pub(super) async fn lanes(pool: &Pool) -> Result<Vec<(Lane, u64)>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH RECURSIVE lanes(event_id, target) AS (
                (SELECT event_id, target FROM hookgate_deliveries WHERE due_ms IS NOT NULL ORDER BY event_id, target LIMIT 1)
                UNION ALL
                SELECT next.event_id, next.target FROM lanes l, LATERAL (
                    SELECT event_id, target FROM hookgate_deliveries
                    WHERE due_ms IS NOT NULL AND (event_id, target) > (l.event_id, l.target)
                    ORDER BY event_id, target LIMIT 1) next
            )
            SELECT l.event_id, l.target, (
                SELECT due_ms FROM hookgate_deliveries d
                WHERE d.event_id = l.event_id AND d.target = l.target AND d.due_ms IS NOT NULL
                ORDER BY due_ms LIMIT 1)
            FROM lanes l",
        )
        .await?;
    Ok(client
        .query(&statement, &[])
        .await?
        .into_iter()
        .map(|row| (Lane { event_id: row.get(0), target_id: row.get(1) }, row.get::<_, i64>(2) as u64))
        .collect())
}

impl Leases {
    /// Leases the earliest due, unleased delivery of `lane`.
    pub(super) async fn claim_due(&self, pool: &Pool, lane: &Lane, now_ms: u64) -> Result<Claim> {
        let client = pool.get().await?;
        let token = rand::random::<u64>() >> 1; // positive as a bigint; 0 means unleased
        let claim = client
            .prepare_cached(
                "UPDATE hookgate_deliveries d SET lease_until_ms = hookgate_now_ms() + $4, lease_token = $5
                 FROM (SELECT message_id, target FROM hookgate_deliveries
                       WHERE event_id = $1 AND target = $2 AND due_ms IS NOT NULL AND due_ms <= $3
                       AND lease_until_ms <= hookgate_now_ms()
                       ORDER BY due_ms, message_id LIMIT 1 FOR UPDATE SKIP LOCKED) head
                 WHERE d.message_id = head.message_id AND d.target = head.target
                 RETURNING d.message_id, d.due_ms, d.lease_until_ms",
            )
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&lane.event_id, &lane.target_id, &(now_ms as i64), &(self.lease_ms as i64), &(token as i64)];
        if let Some(row) = client.query_opt(&claim, &params).await? {
            let message_id: String = row.get(0);
            self.hold(token, &message_id, &lane.target_id);
            let entry = QueueEntry {
                due_ms: row.get::<_, i64>(1) as u64,
                delivery_key: delivery_key(&message_id, &lane.target_id),
                event_id: lane.event_id.clone(),
            };
            return Ok(Claim::Taken(Claimed { entry, lease_until_ms: row.get::<_, i64>(2) as u64, token }));
        }
        let head = client
            .prepare_cached(
                "SELECT min(due_ms) FROM hookgate_deliveries
                 WHERE event_id = $1 AND target = $2 AND due_ms IS NOT NULL AND lease_until_ms <= hookgate_now_ms()",
            )
            .await?;
        let due: Option<i64> = client.query_one(&head, &[&lane.event_id, &lane.target_id]).await?.get(0);
        Ok(match due {
            Some(due) if due as u64 > now_ms => Claim::NotDue(due as u64),
            // Nothing unleased, or a head another node is claiming right now.
            _ => Claim::Empty,
        })
    }

    /// Writes the outcome and ends the lease, if the lease is still this claim's.
    pub(super) async fn record(&self, pool: &Pool, claim: Claimed, delivery: DeliveryRecord) -> Result<()> {
        self.let_go(claim.token);
        let (message_id, target) = split_key(&claim.entry.delivery_key);
        let client = pool.get().await?;
        let statement = client
            .prepare_cached(
                "WITH recorded AS (
                    UPDATE hookgate_deliveries SET due_ms = $3, record = $4, lease_until_ms = 0, lease_token = 0
                    WHERE message_id = $1 AND target = $2 AND lease_token = $5
                    RETURNING message_id),
                 flagged AS (
                    UPDATE hookgate_messages SET failed = true
                    WHERE $6 AND NOT failed AND id IN (SELECT message_id FROM recorded))
                 SELECT count(*) FROM recorded",
            )
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
            &message_id,
            &target,
            &messages::due(&delivery),
            &encode(&delivery),
            &(claim.token as i64),
            &messages::ever_failed(&delivery),
        ];
        let recorded = client.query_one(&statement, &params).await?.get::<_, i64>(0) > 0;
        if !recorded {
            tracing::warn!(
                delivery = %claim.entry.delivery_key,
                "the lease ran out before the attempt was recorded (this node stalled for longer than --lease-ms); \
                 another node owns the delivery now, and this attempt is not in its log"
            );
        }
        Ok(())
    }

    pub(super) async fn release(&self, pool: &Pool, claim: Claimed) -> Result<()> {
        self.end(pool, claim, "lease_until_ms = 0, lease_token = 0").await
    }

    /// Takes the delivery out of the queue: its record does not wait for this attempt.
    pub(super) async fn discard(&self, pool: &Pool, claim: Claimed) -> Result<()> {
        self.end(pool, claim, "due_ms = NULL, lease_until_ms = 0, lease_token = 0").await
    }

    async fn end(&self, pool: &Pool, claim: Claimed, set: &str) -> Result<()> {
        self.let_go(claim.token);
        let (message_id, target) = split_key(&claim.entry.delivery_key);
        let client = pool.get().await?;
        let statement = client
            .prepare_cached(&format!("UPDATE hookgate_deliveries SET {set} WHERE message_id = $1 AND target = $2 AND lease_token = $3"))
            .await?;
        client.execute(&statement, &[&message_id, &target, &(claim.token as i64)]).await?;
        Ok(())
    }
}

/// Queues a message's failed deliveries again, due at `now_ms`; the row locks make two
/// retries of one message at once requeue each delivery once.
pub(super) async fn requeue_failed(pool: &Pool, message_id: &str, now_ms: u64) -> Result<usize> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let rows = transaction
        .query("SELECT target, record FROM hookgate_deliveries WHERE message_id = $1 FOR UPDATE", &[&message_id])
        .await?;
    let mut requeued = 0;
    for row in rows {
        let mut delivery: DeliveryRecord = decode("delivery", row.get::<_, &str>(1))?;
        if delivery.status != DeliveryStatus::Failed {
            continue;
        }
        delivery.status = DeliveryStatus::Pending;
        delivery.reason = None;
        delivery.next_attempt_at_ms = Some(now_ms);
        let target: &str = row.get(0);
        transaction
            .execute(
                "UPDATE hookgate_deliveries SET due_ms = $3, record = $4, lease_until_ms = 0, lease_token = 0
                 WHERE message_id = $1 AND target = $2",
                &[&message_id, &target, &(now_ms as i64), &encode(&delivery)],
            )
            .await?;
        requeued += 1;
    }
    transaction.commit().await?;
    Ok(requeued)
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
