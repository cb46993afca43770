//! Filling a data directory with many stored messages before the gateway starts on it
//! (section 5). Written with the gateway's own store (`hookgate::store::MessageLog::append`,
//! the ingest path's group-commit writer), as messages that were delivered: a 1 KiB body,
//! the message record, one delivered delivery with one attempt, no queue entry. Hundreds
//! of appends in flight share each disk sync, so a million take minutes less than the
//! gateway's ingest rate would: no HTTP, no authentication.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hookgate::model::{new_message_id, now_ms, rfc3339_now, DeliveryRecord, MessageRecord};
use hookgate::store::{NewMessage, StoreLocation, StoreOptions};
use serde_json::json;

use crate::net::{adobe_body, BODY_BYTES};

/// The page cache the gateway uses by default.
const CACHE_BYTES: u64 = hookgate::settings::DEFAULT_CACHE_MB << 20;

/// Appends in flight at once: enough to keep the store's writer applying full batches
/// while the previous ones sync.
const IN_FLIGHT: usize = 2048;

pub struct Filled {
    pub messages: u64,
    pub took: Duration,
}

pub async fn fill(data_dir: &Path, event_id: &str, target_url: &str, count: u64) -> Result<Filled> {
    let started = Instant::now();
    let store = hookgate::store::open(&StoreLocation::Sled(data_dir.join("db")), &StoreOptions { cache_bytes: CACHE_BYTES, ..StoreOptions::default() }).await.map_err(|e| anyhow!("{e}"))?;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (store, next) = (store.clone(), next.clone());
        let (event_id, target_url) = (event_id.to_string(), target_url.to_string());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let body = adobe_body(1_000_000_000 + i, BODY_BYTES);
                let message_id = new_message_id();
                let at_ms = now_ms();
                let received_at = rfc3339_now();
                // Built from JSON so that fields the gateway adds later with a default do
                // not break the bench.
                let message: MessageRecord = serde_json::from_value(json!({
                    "message_id": message_id,
                    "event_id": event_id,
                    "received_at": received_at,
                    "received_at_ms": at_ms,
                    "headers": [
                        ["content-type", "application/json"],
                        ["content-length", body.len().to_string()],
                        ["user-agent", "hookgate-bench"],
                    ],
                    "content_type": "application/json",
                    "body_size": body.len(),
                }))?;
                let delivery: DeliveryRecord = serde_json::from_value(json!({
                    "message_id": message_id,
                    "target": "t1",
                    "status": "delivered",
                    "attempts": [{
                        "at": received_at,
                        "duration_ms": 1,
                        "status_code": 200,
                        "error": null,
                        "response_excerpt": "{\"ok\":true}",
                        "request": {
                            "method": "POST",
                            "url": target_url,
                            "headers": [
                                ["content-type", "application/json"],
                                ["webhook-id", message_id],
                                ["webhook-timestamp", (at_ms / 1000).to_string()],
                                ["webhook-signature", "***"],
                            ],
                            "body_excerpt": String::from_utf8_lossy(&body),
                        },
                        "guest_logs": [],
                    }],
                }))?;
                let new = NewMessage { message, body, deliveries: vec![delivery], idempotency_key: None };
                store.append(new).await.map_err(|e| anyhow!("{e}"))?;
                if i > 0 && i % 100_000 == 0 {
                    eprintln!("[bench]   {i} messages stored ({:.0}/s)", i as f64 / started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    drop(store);
    // sled closes in the background when the last handle goes; give it a moment to release
    // the directory lock before the gateway opens it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(Filled { messages: count, took: started.elapsed() })
}
