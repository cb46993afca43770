//! [`Receiver`]: a real HTTP server (axum) standing in for a webhook target. It records every
//! request and answers from a programmable script; it can be down (port reserved, nothing
//! listening) and come back on the same port.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("received body is not JSON ({e}): {:?}", self.text()))
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    /// 200 `{"ok":true}`
    pub fn ok() -> Reply {
        Reply::json(200, json!({"ok": true}))
    }
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(v.to_string()),
            delay: None,
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(format!("status {status}")),
            delay: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = Some(d);
        self
    }
}

type Responder = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct RxShared {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Responder>>,
    default: Mutex<Reply>,
}

struct Running {
    shutdown: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A real HTTP server on `127.0.0.1` (or another local address, [`Receiver::start_on`])
/// standing in for a webhook target.
///
/// Answers, in order of precedence: the next scripted [`Reply`] ([`Receiver::push`]), the
/// responder closure ([`Receiver::respond_with`]), the default reply (200 `{"ok":true}`).
/// Runs on its own thread and tokio runtime, so it works from any test flavour. While down,
/// the port stays reserved (bound, not listening: connections are refused).
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<RxShared>,
    reserved: Option<tokio::net::TcpSocket>,
    running: Option<Running>,
}

fn bind_reserved(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let s = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    Ok(s)
}

impl Receiver {
    /// A receiver that is down: its port is reserved but nothing listens. Call [`Receiver::up`].
    pub fn down_reserved() -> Receiver {
        Receiver::reserve(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn reserve(addr: SocketAddr) -> Receiver {
        let s = bind_reserved(addr).unwrap_or_else(|e| panic!("reserve a port on {addr}: {e}"));
        Receiver {
            addr: s.local_addr().expect("local_addr"),
            shared: Arc::new(RxShared {
                requests: Mutex::new(Vec::new()),
                script: Mutex::new(VecDeque::new()),
                responder: Mutex::new(None),
                default: Mutex::new(Reply::ok()),
            }),
            reserved: Some(s),
            running: None,
        }
    }

    /// A receiver that is up, on a fresh port.
    pub fn start() -> Receiver {
        let mut r = Receiver::down_reserved();
        r.up();
        r
    }

    /// A receiver that is up on a fresh port of `ip`, a local address.
    pub fn start_on(ip: std::net::IpAddr) -> Receiver {
        let mut r = Receiver::reserve(SocketAddr::new(ip, 0));
        r.up();
        r
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}` (or the receiver's address, IPv6 in brackets).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Starts listening on the receiver's port; returns once it accepts connections.
    pub fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let socket = match self.reserved.take() {
            Some(s) => s,
            None => bind_reserved(self.addr).expect("rebind receiver port"),
        };
        let shared = self.shared.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("receiver runtime");
            rt.block_on(async move {
                let listener = match socket.listen(1024) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let app = axum::Router::new()
                    .fallback(handle)
                    .with_state(shared);
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = std::future::IntoFuture::into_future(axum::serve(listener, app)) => {}
                    _ = shutdown_rx => {}
                }
            });
            // Dropping the runtime drops the listener and every connection task.
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("receiver cannot listen on {}: {e}", self.addr),
            Err(_) => panic!("receiver did not start within 10 s"),
        }
        self.running = Some(Running {
            shutdown: shutdown_tx,
            thread,
        });
    }

    /// Stops listening and drops every open connection; the port stays reserved.
    pub fn down(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.thread.join();
        }
        if self.reserved.is_none() {
            // Keep the port ours while down (bound, not listening).
            self.reserved = bind_reserved(self.addr).ok();
        }
    }

    /// Queue a reply for the next request (FIFO).
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    /// Answer with `f` once the script is exhausted.
    pub fn respond_with(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self.shared.responder.lock().unwrap() = Some(Box::new(f));
    }

    /// The reply once the script is exhausted and no responder is set.
    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    /// Removes scripted replies and the responder; the default becomes 200 `{"ok":true}`.
    pub fn reset_script(&self) {
        self.shared.script.lock().unwrap().clear();
        *self.shared.responder.lock().unwrap() = None;
        *self.shared.default.lock().unwrap() = Reply::ok();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Requests whose path (without query) is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .collect()
    }

    /// Waits until at least `n` requests arrived; panics after `deadline`.
    pub async fn wait_requests(&self, n: usize, deadline: Duration) -> Vec<Recorded> {
        let end = Instant::now() + deadline;
        loop {
            let reqs = self.requests();
            if reqs.len() >= n {
                return reqs;
            }
            if Instant::now() >= end {
                panic!(
                    "receiver on {} got {} request(s) within {deadline:?}, expected {n}: {:#?}",
                    self.addr,
                    reqs.len(),
                    reqs
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- receiver on {} saw {} request(s) ---\n{:#?}",
                self.addr,
                self.count(),
                self.requests()
            );
        }
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.thread.join();
        }
    }
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<RxShared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        at: Instant::now(),
    };
    let reply = {
        let scripted = shared.script.lock().unwrap().pop_front();
        match scripted {
            Some(r) => r,
            None => match &*shared.responder.lock().unwrap() {
                Some(f) => f(&rec),
                None => shared.default.lock().unwrap().clone(),
            },
        }
    };
    shared.requests.lock().unwrap().push(rec);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut b = axum::http::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(axum::body::Body::from(reply.body))
        .expect("valid scripted reply")
}

#[cfg(test)]
mod unit {
    use super::*;

    #[tokio::test]
    async fn receiver_records_scripts_and_comes_back_on_the_same_port() {
        let mut rx = Receiver::down_reserved();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // Down: connection refused.
        assert!(client.get(rx.url("/x")).send().await.is_err());
        rx.up();
        rx.push(Reply::json(500, json!({"ok": false})));
        let r = client
            .post(rx.url("/hook?a=1"))
            .header("x-test", "1")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 500);
        let r = client.get(rx.url("/again")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"ok":true}"#);
        let reqs = rx.wait_requests(2, Duration::from_secs(5)).await;
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].path, "/hook?a=1");
        assert_eq!(reqs[0].header("X-Test"), Some("1"));
        assert_eq!(reqs[0].text(), "hello");
        let port = rx.port();
        rx.down();
        let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
        assert!(fresh.get(rx.url("/x")).send().await.is_err());
        rx.up();
        assert_eq!(rx.port(), port);
        let r = fresh.get(rx.url("/back")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(rx.count(), 3);
    }
}
