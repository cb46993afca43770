//! The HTTP listener. Like `axum::serve`, plus what a public endpoint needs:
//! - a request's headers must arrive within the header timeout, counted from the
//!   connection's opening for its first request and from the first byte for later ones:
//!   slow-loris clients are cut off, and so are connections that never send a request;
//! - a kept-alive connection may wait idle for its next request for the idle timeout,
//!   longer than common clients keep a pooled connection, so that the client closes it
//!   first and no request races the gateway's close;
//! - on shutdown the listener stops accepting and lets requests in flight finish.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long a shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For a request's headers.
    pub header: Duration,
    /// For a kept-alive connection's wait between requests.
    pub idle: Duration,
}

pub async fn serve(listener: tokio::net::TcpListener, router: Router, timeouts: Timeouts, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
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
        serve_connection(stream, &router, timeouts, &graceful);
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN:?}; closing them");
    }
}

/// Serves one connection on a task of its own, with its own timer (see [`HeaderTimer`]) and a
/// bound on the wait for its first request.
fn serve_connection(stream: TcpStream, router: &Router, timeouts: Timeouts, graceful: &GracefulShutdown) {
    let activity = Arc::new(Activity::default());
    // The builder holds the connection's own timer, which reads this connection's activity.
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(HeaderTimer { activity: activity.clone(), timeouts })
        .header_read_timeout(timeouts.header);
    builder.http2().timer(TokioTimer::new());
    let routes = TowerToHyperService::new(router.clone());
    let requested = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        requested.requested.store(true, Ordering::Relaxed);
        routes.call(request)
    });
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
    tokio::spawn(async move {
        // hyper's own timer starts only once the connection is known to be HTTP/1; until
        // then (and for HTTP/2) this bounds the wait for the first request.
        let first_request = async {
            tokio::time::sleep(timeouts.header).await;
            if activity.requested.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            ended = connection => if let Err(e) = ended {
                tracing::debug!("connection ended: {e}");
            },
            () = first_request => tracing::debug!("no request within {timeouts:?}; connection closed"),
        }
    });
}

/// What one connection has done. Atomics only because hyper's timer must be `Sync`; a
/// connection is served by one task.
#[derive(Default)]
struct Activity {
    /// A response was written and no byte of another request has been read since.
    idle: AtomicBool,
    /// A request's headers have been read.
    requested: AtomicBool,
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
            if written > 0 {
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
    timeouts: Timeouts,
}

impl hyper::rt::Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeaderDeadline {
            activity: self.activity.clone(),
            timeouts: self.timeouts,
            waiting_since: Instant::now(),
            request_since: None,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }
}

struct HeaderDeadline {
    activity: Arc<Activity>,
    timeouts: Timeouts,
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
            this.waiting_since + this.timeouts.idle
        } else {
            *this.request_since.get_or_insert_with(Instant::now) + this.timeouts.header
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}
