//! The bench's side of the wire: its HTTP client and load generators, the receiver the
//! gateway delivers to, and the do-nothing handler that is the loopback ceiling. All of it is
//! made for throughput (no recording, no per-request locks but one short push), unlike the
//! test kit's receiver and helpers; signatures come from the kit
//! (`hookgate_tests::hmac_sha256_hex`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;

use crate::stats::Lat;

/// The load client: HTTP/1.1 keep-alive, a connection per concurrent task, no proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

// ------------------------------------------------------------------------------------------------
// Bodies
// ------------------------------------------------------------------------------------------------

pub const EVENT_NAME: &str = "bench.order_created";

/// The size of every body the bench fires.
pub const BODY_BYTES: usize = 1024;

/// An Adobe-style envelope of exactly `size` bytes (when `size` leaves room for it) whose
/// `value` carries `seq`, so that the receiver can tell which firing a delivery is, with or
/// without the `adobe-to-json` transformer.
pub fn adobe_body(seq: u64, size: usize) -> Bytes {
    let head = format!(
        r#"{{"data":{{"uid":"u-{seq:08}","event":"{EVENT_NAME}","value":{{"seq":{seq},"sku":"SKU-{seq}","qty":3,"price":19.99,"currency":"EUR","store":"de","pad":""#
    );
    let tail = r#""}}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(size);
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    Bytes::from(s)
}

/// The `seq` a body carries (`"seq":N`), found without parsing the JSON.
pub fn seq_of(body: &[u8]) -> Option<u64> {
    let key = b"\"seq\":";
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits]).ok()?.parse().ok()
}

// ------------------------------------------------------------------------------------------------
// Receiver and baseline server
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct RxShared {
    receipts: Mutex<Vec<(u64, Instant)>>,
    count: AtomicU64,
}

/// A webhook target on 127.0.0.1 in the bench process: answers 200 `{"ok":true}` and notes
/// when each `seq` arrived.
///
/// Not the test kit's `hookgate_tests::Receiver`, on purpose: that one keeps every request
/// whole (headers, body, a script to answer from) behind locks, on a runtime of one worker
/// thread, which would cap and distort the deliveries/s and latencies measured here. This
/// one notes a number and an instant per request, on the bench's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<RxShared>,
}

impl Receiver {
    pub async fn start() -> Result<Receiver> {
        let shared = Arc::new(RxShared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind the receiver")?;
        let addr = listener.local_addr()?;
        let state = shared.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let state = state.clone();
            async move {
                let now = Instant::now();
                state.count.fetch_add(1, Ordering::Relaxed);
                if let Some(seq) = seq_of(&body) {
                    state.receipts.lock().unwrap().push((seq, now));
                }
                ([("content-type", "application/json")], r#"{"ok":true}"#)
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every receipt since the last call.
    pub fn take(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.shared.receipts.lock().unwrap())
    }

    /// Receipts noted so far (since the last `take`).
    pub fn pending(&self) -> usize {
        self.shared.receipts.lock().unwrap().len()
    }
}

/// The loopback ceiling: `POST /v1/events/{id}` reads the body and answers 202 with a body
/// shaped like the gateway's, doing nothing else.
pub async fn null_server() -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind the baseline server")?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/v1/events/{id}",
        axum::routing::post(|_body: Bytes| async {
            (
                axum::http::StatusCode::ACCEPTED,
                [("content-type", "application/json")],
                r#"{"message_id":"msg_0197f0c0a0b07c1e9b2d3f4a5b6c7d8e","deliveries":1}"#,
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

// ------------------------------------------------------------------------------------------------
// Load
// ------------------------------------------------------------------------------------------------

/// Builds the request for firing number `i`.
pub type MakeRequest = Arc<dyn Fn(u64) -> reqwest::RequestBuilder + Send + Sync>;

/// What a closed-loop run measured.
#[derive(Debug, Clone, Default)]
pub struct Closed {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub secs: f64,
    pub lat: Lat,
}

impl Closed {
    pub fn per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// `concurrency` tasks, each sending its next request as soon as the last one is answered,
/// for `duration`. Only answers with status `expect` count; the rest are errors.
pub async fn closed_loop(concurrency: usize, duration: Duration, expect: u16, make: MakeRequest) -> Closed {
    closed_loop_limited(concurrency, duration, u64::MAX, expect, make).await
}

/// [`closed_loop`] that also stops after `limit` requests in all (`i` runs `0..limit`).
pub async fn closed_loop_limited(concurrency: usize, duration: Duration, limit: u64, expect: u16, make: MakeRequest) -> Closed {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let counter = counter.clone();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let (mut errors, mut first_error) = (0u64, None::<String>);
            while Instant::now() < end {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let t = Instant::now();
                let outcome = match make(i).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.bytes().await;
                        match body {
                            Ok(_) if status == expect => Ok(()),
                            Ok(b) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&b[..b.len().min(300)]))),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                        // Do not spin on a dead server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors, first_error)
        });
    }
    let mut all = Vec::new();
    let mut result = Closed::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((lat, errors, first_error)) = joined {
            all.extend(lat);
            result.errors += errors;
            if result.first_error.is_none() {
                result.first_error = first_error;
            }
        }
    }
    result.secs = start.elapsed().as_secs_f64();
    result.ok = all.len() as u64;
    result.lat = Lat::new(all);
    result
}

/// A short unmeasured run, then the measured one.
pub async fn warm_then_measure(concurrency: usize, warmup: Duration, duration: Duration, expect: u16, make: MakeRequest) -> Closed {
    let _ = closed_loop(concurrency, warmup, expect, make.clone()).await;
    closed_loop(concurrency, duration, expect, make).await
}

/// One firing of an open-loop run.
#[derive(Debug, Clone)]
pub struct Fired {
    pub seq: u64,
    pub at: Instant,
    /// Time to the HTTP answer, microseconds.
    pub ack_us: u32,
    pub ok: bool,
}

/// Fires `count` requests at `rate` per second, on schedule whatever the answers take
/// (open loop: a slow server gets a queue, not fewer requests). Firing `i` sends `make(i)`
/// and is noted as `seq_base + i` (`make` is expected to put that seq in the body).
pub async fn open_loop(rate: u32, count: u64, seq_base: u64, expect: u16, make: MakeRequest) -> (Vec<Fired>, Option<String>) {
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut fired = Vec::with_capacity(count as usize);
    let mut first_error = None;
    let mut collect = |joined: Result<(Fired, Option<String>), tokio::task::JoinError>| {
        if let Ok((f, e)) = joined {
            fired.push(f);
            if first_error.is_none() {
                first_error = e;
            }
        }
    };
    for i in 0..count {
        tokio::time::sleep_until(start + period.mul_f64(i as f64)).await;
        let seq = seq_base + i;
        let req = make(i);
        tasks.spawn(async move {
            let at = Instant::now();
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.unwrap_or_default();
                    if status == expect {
                        Ok(())
                    } else {
                        Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let ack_us = at.elapsed().as_micros().min(u32::MAX as u128) as u32;
            (Fired { seq, at, ack_us, ok: outcome.is_ok() }, outcome.err())
        });
        // Reap finished tasks as we go so the set stays small.
        while let Some(joined) = tasks.try_join_next() {
            collect(joined);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        collect(joined);
    }
    (fired, first_error)
}

/// Waits until the receiver holds at least `n` receipts or `timeout` passes.
pub async fn wait_receipts(rx: &Receiver, n: usize, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if rx.pending() >= n {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until no receipt arrived for `quiet` (the gateway's backlog is delivered), at most
/// `timeout`.
pub async fn wait_quiet(rx: &Receiver, quiet: Duration, timeout: Duration) {
    let end = Instant::now() + timeout;
    let mut last = (rx.shared.count.load(Ordering::Relaxed), Instant::now());
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = rx.shared.count.load(Ordering::Relaxed);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return;
        }
    }
}

impl Closed {
    /// Two runs as one: requests and seconds added, latencies together.
    pub fn merged(&self, other: &Closed) -> Closed {
        Closed {
            ok: self.ok + other.ok,
            errors: self.errors + other.errors,
            first_error: self.first_error.clone().or_else(|| other.first_error.clone()),
            secs: self.secs + other.secs,
            lat: self.lat.merged(&other.lat),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sized_and_carry_their_seq() {
        let b = adobe_body(42, BODY_BYTES);
        assert_eq!(b.len(), BODY_BYTES);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["data"]["value"]["seq"], 42);
        assert_eq!(seq_of(&b), Some(42));
        assert_eq!(seq_of(br#"{"a":1,"seq":7}"#), Some(7));
        assert_eq!(seq_of(b"{}"), None);
    }
}
