//! What every backend must do, checked through the [`Store`] trait alone: each check takes
//! a fresh, empty store, and [`contract_tests!`] makes one test of each for a backend.

use super::{delivery_key, Claim, Claimed, ComponentUpload, Inserted, Lane, MessageQuery, NewMessage, Store, IDEMPOTENCY_WINDOW_MS};
use crate::model::{now_ms, DeliveryRecord, DeliveryStatus, EventConfig, MessageRecord, World};

/// One `#[tokio::test]` per check, each on a fresh store from `$open`: an async fn
/// returning the store and whatever must live as long as it (a temporary directory).
macro_rules! contract_tests {
    ($open:path) => {
        $crate::store::contract::contract_tests!(
            @each $open,
            appended_messages_read_back,
            an_idempotency_key_answers_for_24_hours,
            pages_list_newest_first_by_event_cursor_and_failure,
            pruning_takes_settled_messages_only,
            claims_are_recorded_released_or_discarded,
            failed_deliveries_are_queued_again,
            an_ordered_lane_goes_one_at_a_time_in_order_and_a_held_head_stops_it,
            configuration_is_kept
        );
    };
    (@each $open:path, $($check:ident),*) => {
        $(
            // Several threads: the blocking calls are made the way the gateway makes them.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, alive) = $open().await;
                $crate::store::contract::$check(&*store).await;
                drop(store); // before what it lives in
                drop(alive);
            }
        )*
    };
}
pub(crate) use contract_tests;

const LANE: &str = "t1";

fn message(event: &str, at_ms: u64, idempotency_key: Option<&str>) -> NewMessage {
    NewMessage {
        message: MessageRecord {
            message_id: String::new(),
            event_id: event.into(),
            received_at: String::new(),
            received_at_ms: at_ms,
            headers: vec![("content-type".into(), "application/json".into())],
            content_type: Some("application/json".into()),
            body_size: 2,
            subshop: None,
            idempotency_key: idempotency_key.map(str::to_string),
            traceparent: None,
        },
        body: "{}".into(),
        deliveries: vec![delivery(LANE, DeliveryStatus::Pending, Some(at_ms))],
        idempotency_key: idempotency_key.map(str::to_string),
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

async fn append(store: &dyn Store, message: NewMessage) -> String {
    match store.append(message).await.unwrap() {
        Inserted::New(id) => id,
        Inserted::Existing(id) => panic!("{id} was not new"),
    }
}

/// Records compared by what is stored of them.
fn json(record: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(record).unwrap()
}

fn lane(event: &str) -> Lane {
    Lane { event_id: event.into(), target_id: LANE.into(), key: String::new() }
}

async fn claim(store: &dyn Store, event: &str, now_ms: u64) -> Claimed {
    claim_of(store, &lane(event), now_ms).await
}

/// `claim`'s delivery with the outcome of an attempt.
async fn attempted(store: &dyn Store, claim: &Claimed, status: DeliveryStatus, next_attempt_at_ms: Option<u64>) -> DeliveryRecord {
    let mut delivery = store.delivery(&claim.entry.delivery_key).await.unwrap().expect("the claimed delivery");
    delivery.status = status;
    delivery.next_attempt_at_ms = next_attempt_at_ms;
    delivery
}

pub(crate) async fn appended_messages_read_back(store: &dyn Store) {
    let at = now_ms();
    let mut new = message("orders", at, None);
    new.body = "{\"n\":1}".into();
    new.deliveries.push(delivery("t0", DeliveryStatus::Skipped, None));
    let id = append(store, new).await;
    let stored = store.message(&id).await.unwrap().expect("stored");
    assert_eq!((stored.message_id.as_str(), stored.event_id.as_str(), stored.received_at_ms), (id.as_str(), "orders", at));
    let (_, body) = store.message_with_body(&id).await.unwrap().expect("stored");
    assert_eq!(&body[..], b"{\"n\":1}");
    let deliveries = store.deliveries_of(&id).await.unwrap();
    let targets: Vec<_> = deliveries.iter().map(|d| (d.target.as_str(), d.message_id.as_str(), d.status)).collect();
    assert_eq!(targets, [("t0", id.as_str(), DeliveryStatus::Skipped), ("t1", id.as_str(), DeliveryStatus::Pending)], "by target");
    assert_eq!(json(store.delivery(&delivery_key(&id, "t1")).await.unwrap()), json(Some(&deliveries[1])));
    assert!(store.message("msg_unknown").await.unwrap().is_none());
    assert!(store.delivery(&delivery_key(&id, "t9")).await.unwrap().is_none());
    let second = append(store, message("orders", at, None)).await;
    assert!(second > id, "ids grow with time");
    assert_eq!(store.message_count().await.unwrap(), 2);
}

pub(crate) async fn an_idempotency_key_answers_for_24_hours(store: &dyn Store) {
    let now = now_ms();
    let old_at = now - IDEMPOTENCY_WINDOW_MS - 1;
    let insert = |at_ms| store.append(message("e", at_ms, Some("k")));
    let Inserted::New(old) = insert(old_at).await.unwrap() else { panic!("the first use stores") };
    assert_eq!(insert(old_at + 1000).await.unwrap(), Inserted::Existing(old.clone()));
    let Inserted::New(fresh) = insert(now).await.unwrap() else { panic!("24 h later the key is free again") };
    assert_ne!(fresh, old);
    assert_eq!(insert(now + 1).await.unwrap(), Inserted::Existing(fresh.clone()));
    assert_eq!(store.message_count().await.unwrap(), 2, "a repeat stores nothing");
    assert_eq!(store.pending_count().await.unwrap(), 2, "nor queues anything");
}

pub(crate) async fn pages_list_newest_first_by_event_cursor_and_failure(store: &dyn Store) {
    let at = now_ms();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(append(store, message(if i % 2 == 0 { "a" } else { "b" }, at, None)).await);
    }
    let page = |query: MessageQuery, limit| async move { store.message_ids(&query, limit).await.unwrap() };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(page(MessageQuery::default(), 10).await, newest_first);
    assert_eq!(page(MessageQuery::default(), 2).await, newest_first[..2], "a page holds at most `limit`");
    let before = MessageQuery { before: Some(ids[3].clone()), ..MessageQuery::default() };
    assert_eq!(page(before, 10).await, newest_first[3..], "strictly older than the cursor");
    let since = MessageQuery { since: Some(ids[2].clone()), ..MessageQuery::default() };
    assert_eq!(page(since, 10).await, newest_first[..4], "not older than `since`");
    let of_a = MessageQuery { event_id: Some("a".into()), ..MessageQuery::default() };
    assert_eq!(page(of_a.clone(), 10).await, [ids[4].clone(), ids[2].clone(), ids[0].clone()]);
    let of_a_before = MessageQuery { before: Some(ids[4].clone()), ..of_a };
    assert_eq!(page(of_a_before, 1).await, [ids[2].clone()]);

    let failed = MessageQuery { failed: true, ..MessageQuery::default() };
    assert!(page(failed.clone(), 10).await.is_empty());
    let first = claim(store, "a", at).await;
    assert_eq!(first.entry.message_id(), ids[0], "a lane is due in the order messages were stored");
    let outcome = attempted(store, &first, DeliveryStatus::Failed, None).await;
    store.record(first, outcome).await.unwrap();
    assert_eq!(page(failed, 10).await, [ids[0].clone()], "messages with a failed delivery");
}

pub(crate) async fn pruning_takes_settled_messages_only(store: &dyn Store) {
    let at = now_ms();
    let settled = append(store, message("e", at, Some("key"))).await;
    let pending = append(store, message("e", at, None)).await;
    let taken = claim(store, "e", at).await;
    assert_eq!(taken.entry.message_id(), settled);
    let outcome = attempted(store, &taken, DeliveryStatus::Delivered, None).await;
    store.record(taken, outcome).await.unwrap();
    let after_both = append(store, message("e", at, None)).await;
    assert_eq!(store.prune_settled_before(&after_both, 100).await.unwrap(), 1, "the pending message stays");
    assert!(store.message(&settled).await.unwrap().is_none());
    assert!(store.deliveries_of(&settled).await.unwrap().is_empty(), "its deliveries went with it");
    assert!(store.message(&pending).await.unwrap().is_some());
    assert_eq!(store.message_ids(&MessageQuery::default(), 10).await.unwrap(), [after_both, pending]);
    assert_eq!(store.message_count().await.unwrap(), 2);
    assert!(matches!(store.append(message("e", at, Some("key"))).await.unwrap(), Inserted::New(_)), "its key is free");
}

pub(crate) async fn claims_are_recorded_released_or_discarded(store: &dyn Store) {
    let at = now_ms();
    let first = append(store, message("e", at, None)).await;
    let second = append(store, message("e", at, None)).await;
    assert_eq!(store.lanes().await.unwrap(), [(lane("e"), at)]);
    assert_eq!(store.oldest_pending_message().await.unwrap(), Some(first.clone()));
    assert!(matches!(store.claim_due(&lane("e"), at - 1).await.unwrap(), Claim::NotDue(due) if due == at));
    assert!(matches!(store.claim_due(&lane("other"), at).await.unwrap(), Claim::Empty));

    let taken = claim(store, "e", at).await;
    assert_eq!(taken.entry.message_id(), first);
    assert!(taken.lease_until_ms > at, "the claim is held for a while");
    assert_eq!(store.pending_count().await.unwrap(), 2, "a claimed delivery is still pending");
    let next = claim(store, "e", at).await;
    assert_eq!(next.entry.message_id(), second, "a claimed entry is not handed out twice");
    store.release(next).await.unwrap();
    let next = claim(store, "e", at).await;
    assert_eq!(next.entry.message_id(), second, "released, it is due again");

    // A retry: recorded and queued again later.
    let retry_at = at + 60_000;
    let mut retried = attempted(store, &taken, DeliveryStatus::Pending, Some(retry_at)).await;
    retried.reason = Some("http_status: 503".into());
    store.record(taken.clone(), retried.clone()).await.unwrap();
    assert_eq!(json(store.delivery(&taken.entry.delivery_key).await.unwrap()), json(Some(&retried)), "the outcome is kept");
    assert!(matches!(store.claim_due(&lane("e"), at).await.unwrap(), Claim::NotDue(due) if due == retry_at));
    let again = claim(store, "e", retry_at).await;
    assert!(again.entry.is_live_for(&retried));
    assert!(!taken.entry.is_live_for(&retried), "the first entry is stale once the retry is queued");
    let delivered = attempted(store, &again, DeliveryStatus::Delivered, None).await;
    store.record(again, delivered).await.unwrap();

    store.discard(next).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0, "a discarded entry is gone");
    assert!(matches!(store.claim_due(&lane("e"), at + 120_000).await.unwrap(), Claim::Empty), "nothing is left in the lane");
    assert_eq!(store.oldest_pending_message().await.unwrap(), None);
}

pub(crate) async fn failed_deliveries_are_queued_again(store: &dyn Store) {
    let at = now_ms();
    let id = append(store, message("e", at, None)).await;
    let taken = claim(store, "e", at).await;
    let mut failed = attempted(store, &taken, DeliveryStatus::Failed, None).await;
    failed.reason = Some("gave up".into());
    failed.attempts.push(crate::model::Attempt {
        at: String::new(),
        duration_ms: 1,
        status_code: Some(500),
        error: None,
        response_excerpt: None,
        request: None,
        guest_logs: vec![],
        node: Some("n1".into()),
    });
    store.record(taken, failed).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0);
    let now = at + 5;
    assert_eq!(store.requeue_failed(&id, None, now).await.unwrap(), 1);
    assert_eq!(store.requeue_failed("msg_unknown", None, now).await.unwrap(), 0);
    let requeued = store.delivery(&delivery_key(&id, LANE)).await.unwrap().expect("stored");
    assert_eq!((requeued.status, requeued.next_attempt_at_ms, requeued.attempts.len()), (DeliveryStatus::Pending, Some(now), 1));
    let again = claim(store, "e", now).await;
    assert!(again.entry.is_live_for(&requeued));
}

pub(crate) async fn configuration_is_kept(store: &dyn Store) {
    let config: EventConfig = serde_json::from_value(serde_json::json!({ "targets": [] })).unwrap();
    assert!(store.put_event("orders", &config).await.unwrap(), "new");
    assert!(!store.put_event("orders", &config).await.unwrap(), "replaced");
    assert!(store.put_event("accounts", &config).await.unwrap());
    let ids: Vec<String> = store.events().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["accounts", "orders"]);
    assert!(store.event("orders").is_some_and(|event| event.enabled));
    assert!(store.delete_event("orders").await.unwrap());
    assert!(!store.delete_event("orders").await.unwrap());
    assert!(store.event("orders").is_none());

    // The blocking calls, off the async threads as the gateway makes them.
    tokio::task::block_in_place(|| {
        let upload = |sha256, wasm, artifact_key, artifact| {
            let upload = ComponentUpload { name: "auth", sha256, world: World::Authenticator, wasm, artifact_key, artifact };
            store.add_component_version(&upload).unwrap()
        };
        let first = upload("abc", b"wasm", "abc:engine", b"code");
        let second = upload("def", b"wasm2", "def:engine", b"code2");
        assert_eq!((first.version, second.version), (1, 2));
        let entry = store.component("auth").unwrap().expect("stored");
        assert_eq!(entry.latest().map(|v| v.sha256.as_str()), Some("def"));
        assert_eq!(store.components().unwrap().len(), 1);
        assert_eq!(store.wasm("abc").unwrap().as_deref(), Some(&b"wasm"[..]));
        assert_eq!(store.artifact("def:engine").unwrap().as_deref(), Some(&b"code2"[..]));
        store.put_artifact("abc:other", b"more").unwrap();
        assert_eq!(store.artifact("abc:other").unwrap().as_deref(), Some(&b"more"[..]));
    });
    assert!(store.delete_component("auth").await.unwrap());
    assert!(store.component("auth").unwrap().is_none());
    let wasm = tokio::task::block_in_place(|| store.wasm("abc").unwrap());
    assert_eq!(wasm.as_deref(), Some(&b"wasm"[..]), "the wasm stays");
}

pub(crate) async fn an_ordered_lane_goes_one_at_a_time_in_order_and_a_held_head_stops_it(store: &dyn Store) {
    let at = now_ms();
    let keyed = |due_ms: u64, key: &str| {
        let mut new = message("o", at, None);
        new.deliveries[0].next_attempt_at_ms = Some(due_ms);
        new.deliveries[0].ordering_key = Some(key.to_string());
        new
    };
    // The first message is due last: an ordered lane still gives it first.
    let first = append(store, keyed(at + 50, "k")).await;
    let second = append(store, keyed(at, "k")).await;
    let third = append(store, keyed(at, "k")).await;
    let other = append(store, keyed(at, "j")).await;
    let k = Lane { key: "k".into(), ..lane("o") };
    let mut lanes: Vec<Lane> = store.lanes().await.unwrap().into_iter().map(|(lane, _)| lane).collect();
    lanes.sort();
    assert_eq!(lanes, [Lane { key: "j".into(), ..lane("o") }, k.clone()], "a lane per key");
    assert!(matches!(store.claim_due(&k, at + 10).await.unwrap(), Claim::NotDue(due) if due == at + 50), "its head is not due");
    let Claim::Taken(head) = store.claim_due(&k, at + 60).await.unwrap() else { panic!("the head is due") };
    assert_eq!(head.entry.message_id(), first);
    // Nothing while the head is claimed (a shared store says when the claim's lease ends).
    assert!(!matches!(store.claim_due(&k, at + 60).await.unwrap(), Claim::Taken(_)), "one claim at a time");
    let Claim::Taken(j) = store.claim_due(&Lane { key: "j".into(), ..lane("o") }, at + 60).await.unwrap() else {
        panic!("another key goes meanwhile")
    };
    assert_eq!(j.entry.message_id(), other);
    let delivered = attempted(store, &j, DeliveryStatus::Delivered, None).await;
    store.record(j, delivered).await.unwrap();
    // Handed back, the head is first again; retried later, it still holds back the rest.
    store.release(head).await.unwrap();
    let head = claim_of(store, &k, at + 60).await;
    assert_eq!(head.entry.message_id(), first);
    let retry = attempted(store, &head, DeliveryStatus::Pending, Some(at + 500)).await;
    store.record(head, retry).await.unwrap();
    assert!(matches!(store.claim_due(&k, at + 60).await.unwrap(), Claim::NotDue(due) if due == at + 500));
    // It fails for good and holds the key: nothing of the key is ever due.
    let head = claim_of(store, &k, at + 500).await;
    let mut failed = attempted(store, &head, DeliveryStatus::Failed, None).await;
    failed.holds_key = true;
    store.record(head, failed).await.unwrap();
    assert!(matches!(store.claim_due(&k, u64::MAX / 4).await.unwrap(), Claim::NotDue(_)), "the held head stops the key");
    assert_eq!(store.prune_settled_before(&crate::model::message_id_floor(at + 60_000), 100).await.unwrap(), 1, "only `j`'s");
    // A retry puts it first in the line; once it is delivered, the next ones go in order.
    assert_eq!(store.requeue_failed(&first, None, at + 600).await.unwrap(), 1);
    let head = claim_of(store, &k, at + 600).await;
    assert_eq!(head.entry.message_id(), first);
    let mut failed = attempted(store, &head, DeliveryStatus::Failed, None).await;
    failed.holds_key = true;
    store.record(head, failed).await.unwrap();
    // Skipped, it stays failed and lets the key go on.
    assert!(!store.skip_held(&second, LANE, "skipped").await.unwrap(), "only a held delivery is skipped");
    assert!(store.skip_held(&first, LANE, "skipped").await.unwrap());
    let skipped = store.delivery(&delivery_key(&first, LANE)).await.unwrap().expect("kept");
    assert_eq!((skipped.status, skipped.holds_key), (DeliveryStatus::Failed, false));
    assert!(skipped.reason.is_some_and(|r| r.ends_with("skipped")));
    let next = claim_of(store, &k, at + 600).await;
    assert_eq!(next.entry.message_id(), second);
    let delivered = attempted(store, &next, DeliveryStatus::Delivered, None).await;
    store.record(next, delivered).await.unwrap();
    assert_eq!(claim_of(store, &k, at + 600).await.entry.message_id(), third);
}

async fn claim_of(store: &dyn Store, lane: &Lane, now_ms: u64) -> Claimed {
    match store.claim_due(lane, now_ms).await.unwrap() {
        Claim::Taken(claim) => claim,
        other => panic!("nothing due at {now_ms} in {lane}: {other:?}"),
    }
}
