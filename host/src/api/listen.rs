//! The HTTP listener. Like `axum::serve`, plus what a public endpoint needs:
//! - a request's headers must arrive within the header timeout, counted from the
//!   connection's opening for its first request and from the first byte for later ones:
//!   slow-loris clients are cut off, and so are connections that never send a request;
//! - a kept-alive connection may wait idle for its next request for the idle timeout,
//!   longer than common clients keep a pooled connection, so that the client closes it
//!   first and no request races the gateway's close;
//! - at most `--max-connections` are open: a new one beyond it closes the one idle
//!   longest, or is refused with a 503 when none is idle, so that idle clients cannot
//!   take every file descriptor;
//! - on shutdown the listener stops accepting and lets requests in flight finish.

use std::collections::HashMap;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::error::{ErrorBody, ErrorCode, ErrorDetail};

/// How long a shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// How often, at most, the log says that the listener is full.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For a request's headers.
    pub header: Duration,
    /// For a kept-alive connection's wait between requests.
    pub idle: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

pub async fn serve(listener: tokio::net::TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let open = Arc::new(OpenConnections::default());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if open.make_room(limits.max_connections) {
            serve_connection(stream, &router, limits, &open);
        } else {
            open.refuse(stream, limits.max_connections);
        }
    }
    drop(listener);
    open.close_all();
    if tokio::time::timeout(DRAIN, open.closed()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN:?}; closing them");
    }
}

/// Serves one connection on a task of its own, with its own timer (see [`HeaderTimer`]) and a
/// bound on the wait for its first request.
fn serve_connection(stream: TcpStream, router: &Router, limits: Limits, open: &Arc<OpenConnections>) {
    let activity = Arc::new(Activity::default());
    let registered = open.register(activity.clone());
    // The builder holds the connection's own timer, which reads this connection's activity.
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(HeaderTimer { activity: activity.clone(), limits })
        .header_read_timeout(limits.header);
    builder.http2().timer(TokioTimer::new());
    let routes = TowerToHyperService::new(router.clone());
    let requested = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        requested.requested.store(true, Ordering::Relaxed);
        routes.call(request)
    });
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let connection = builder.serve_connection_with_upgrades(io, service).into_owned();
    tokio::spawn(async move {
        let _registered = registered;
        tokio::pin!(connection);
        // hyper's own timer starts only once the connection is known to be HTTP/1; until
        // then (and for HTTP/2) this bounds the wait for the first request.
        let first_request = async {
            tokio::time::sleep(limits.header).await;
            if activity.requested.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(first_request);
        let mut closing = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!("connection ended: {e}");
                    }
                    return;
                }
                () = &mut first_request => {
                    tracing::debug!("no request within {:?}; connection closed", limits.header);
                    return;
                }
                // To make room, or the gateway stops: a response under way is finished first.
                () = activity.close.notified(), if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    });
}

/// The connections being served, so that a full listener can close the one idle longest.
#[derive(Default)]
struct OpenConnections {
    /// By connection number. A plain mutex: held for an insert, a removal or a scan, once
    /// per connection (not per request) and never across an await.
    all: Mutex<HashMap<u64, Arc<Activity>>>,
    next: AtomicU64,
    /// Told when the last connection is gone.
    none_left: tokio::sync::Notify,
    /// When the log last said the listener was full: under a flood, one line per
    /// [`FULL_WARNING_EVERY`], not one per connection.
    warned: Mutex<Option<Instant>>,
}

/// A connection's place in [`OpenConnections`], given up when its task ends.
struct Registered {
    open: Arc<OpenConnections>,
    number: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut all = self.open.all.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        all.remove(&self.number);
        if all.is_empty() {
            self.open.none_left.notify_waiters();
        }
    }
}

impl OpenConnections {
    fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registered {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        self.all.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(number, activity);
        Registered { open: self.clone(), number }
    }

    /// Tells every connection to close once its response under way is sent.
    fn close_all(&self) {
        for activity in self.all.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values() {
            activity.ask_to_close();
        }
    }

    /// Completes when no connection is left.
    async fn closed(&self) {
        loop {
            let none_left = self.none_left.notified();
            tokio::pin!(none_left);
            // Registered before looking, so that a last close between the two is not missed.
            none_left.as_mut().enable();
            if self.all.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty() {
                return;
            }
            none_left.await;
        }
    }

    /// Whether a new connection may be served: there is room, or the connection idle
    /// longest (between requests) has been told to close to make some.
    fn make_room(&self, max: usize) -> bool {
        let all = self.all.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if all.len() < max {
            return true;
        }
        let idlest = all
            .iter()
            .filter(|(_, a)| a.idle.load(Ordering::Relaxed) && !a.closing.load(Ordering::Relaxed))
            .min_by_key(|(_, a)| a.idle_since_us.load(Ordering::Relaxed));
        match idlest {
            Some((number, activity)) => {
                tracing::debug!(connection = number, "{} connections open: closing the one idle longest", all.len());
                activity.ask_to_close();
                true
            }
            None => false,
        }
    }

    /// Every open connection has a request under way: the new one gets a 503 and is closed.
    fn refuse(&self, stream: TcpStream, max: usize) {
        let mut warned = self.warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if warned.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
            *warned = Some(Instant::now());
            tracing::warn!("{max} connections open, none idle (--max-connections): refusing new ones with 503");
        }
        // A fresh socket's send buffer takes these few hundred bytes at once; if it does not,
        // the client just sees the close.
        let _ = stream.try_write(too_many_connections());
    }
}

/// The answer to a connection refused because the listener is full, rendered once.
fn too_many_connections() -> &'static [u8] {
    static RESPONSE: OnceLock<Vec<u8>> = OnceLock::new();
    RESPONSE.get_or_init(|| {
        let body = serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::TooManyConnections.as_str(),
                message: "the gateway has as many connections open as it allows, all of them busy; try again shortly".into(),
            },
        })
        .unwrap_or_default();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// What one connection has done. Atomics because hyper's timer must be `Sync` and the
/// listener reads them; a connection is served by one task.
#[derive(Default)]
struct Activity {
    /// A response was written and no byte of another request has been read since.
    idle: AtomicBool,
    /// When the connection last became idle, in microseconds of [`listener_clock`].
    idle_since_us: AtomicU64,
    /// A request's headers have been read.
    requested: AtomicBool,
    /// The listener asked this connection to close (it is not chosen again).
    closing: AtomicBool,
    /// Asks the connection to close after the response under way, if any.
    close: tokio::sync::Notify,
}

impl Activity {
    fn ask_to_close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.close.notify_one();
    }
}

/// Microseconds since the listener's first use: orders connections by how long they have
/// been idle.
fn listener_clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The socket, telling [`Activity`] when it writes (a response) and when it reads.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.idle.store(false, Ordering::Relaxed);
        }
        polled
    }
}

impl Watched {
    fn wrote(&self, polled: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if let Poll::Ready(Ok(written)) = polled {
            // The clock is read once per response: when the connection becomes idle.
            if written > 0 && !self.activity.idle.load(Ordering::Relaxed) {
                self.activity.idle_since_us.store(listener_clock(), Ordering::Relaxed);
                self.activity.idle.store(true, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// hyper's HTTP/1 server has one timeout for both the wait for a request and the reading
/// of its headers (hyperium/hyper#1628), and uses its timer for nothing else. This timer
/// tells the two apart: while the connection is idle its sleep lasts the idle timeout,
/// and from the first byte of a request the header timeout.
#[derive(Clone)]
struct HeaderTimer {
    activity: Arc<Activity>,
    limits: Limits,
}

impl hyper::rt::Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeaderDeadline {
            activity: self.activity.clone(),
            limits: self.limits,
            waiting_since: Instant::now(),
            request_since: None,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }
}

struct HeaderDeadline {
    activity: Arc<Activity>,
    limits: Limits,
    waiting_since: Instant,
    /// When the next request was first seen to have begun.
    request_since: Option<Instant>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::rt::Sleep for HeaderDeadline {}

impl Future for HeaderDeadline {
    type Output = ();

    /// hyper polls this each time a read leaves the headers incomplete, so a request's
    /// first byte is noticed when it arrives.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = if this.activity.idle.load(Ordering::Relaxed) {
            this.request_since = None;
            this.waiting_since + this.limits.idle
        } else {
            *this.request_since.get_or_insert_with(Instant::now) + this.limits.header
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}
