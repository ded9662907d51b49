//! The connection loop of `rectify serve`, with the bounds `axum::serve`
//! does not have: a cap on connections (more are closed as soon as they
//! are accepted, so file descriptors stay free for the ones served), a
//! deadline for a request's headers (and the TLS handshake), and keep-alive
//! connections closed once idle. Body and whole-request deadlines are in
//! the router's outer layer ([`crate::bound`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rectify_config::ApiSettings;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::{Api, ClientAddr};

/// Serves until `shutdown` resolves, then stops accepting connections and
/// gives open ones up to `api.request_timeout_seconds` to finish.
pub async fn serve(
    api: Api,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = Arc::new(api.engine.config().api.clone());
    let tls = match &settings.tls {
        Some(files) => Some(crate::tls::acceptor(files)?),
        None => None,
    };
    let app = crate::router(api.clone());
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            api.counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let conn = Conn {
            app: app.clone(),
            settings: settings.clone(),
            peer,
            stop: stop_rx.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(conn.header_timeout(), acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => conn.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => conn.run(stream).await,
            }
        });
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let grace = Duration::from_secs(settings.request_timeout_seconds);
    let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    Ok(())
}

struct Conn {
    app: Router,
    settings: Arc<ApiSettings>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
}

impl Conn {
    fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.header_read_timeout_seconds)
    }

    async fn run<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            inner: io,
            activity: activity.clone(),
        };
        let (app, peer, seen) = (self.app.clone(), self.peer, activity.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            let busy = seen.begin();
            let app = app.clone();
            async move {
                let _busy = busy;
                tower::ServiceExt::oneshot(app, request).await
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // hyper's own header deadline also runs while a keep-alive
            // connection waits for its next request, which would make the
            // idle timeout the header one; the watchdog below keeps both.
            .header_read_timeout(None)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);

        let idle = Duration::from_secs(self.settings.idle_timeout_seconds);
        let first = self.header_timeout();
        let tick = (idle.min(first) / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Once closing, a client that does not read its answer is not
        // waited for past the request deadline.
        let mut closing: Option<tokio::time::Instant> = None;
        let grace = Duration::from_secs(self.settings.request_timeout_seconds);
        loop {
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = ticks.tick(), if closing.is_none() => match activity.expired(first, idle) {
                    Expired::No => {}
                    // Mid-head, hyper would wait for the rest: just close.
                    Expired::Head => {
                        tracing::debug!(peer = %self.peer, "request headers too slow; closing");
                        return;
                    }
                    Expired::Idle => {
                        conn.as_mut().graceful_shutdown();
                        closing = Some(tokio::time::Instant::now() + grace);
                    }
                },
                _ = self.stop.changed(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + grace);
                }
                _ = sleep_until(closing), if closing.is_some() => return,
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// No head being read.
const NONE: u64 = u64::MAX;

enum Expired {
    No,
    /// A request head is taking longer than the header deadline.
    Head,
    /// No request for longer than the idle (or first-request) deadline.
    Idle,
}

/// What a connection is doing, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    /// The last byte read or written.
    last_ms: AtomicU64,
    /// The first byte of a request head not yet complete, or [`NONE`].
    head_ms: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            head_ms: AtomicU64::new(NONE),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn wrote(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_ms.store(now, Ordering::Relaxed);
        // Bytes while no request is being handled start the next head.
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self
                .head_ms
                .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Whether the connection should be closed: a head that took longer
    /// than `header`, or no request for longer than `header` (before the
    /// first) or `idle` (after one). Never while a request is handled.
    fn expired(&self, header: Duration, idle: Duration) -> Expired {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Expired::No;
        }
        let now = self.now_ms();
        let head = self.head_ms.load(Ordering::Relaxed);
        if head != NONE {
            if Duration::from_millis(now.saturating_sub(head)) >= header {
                return Expired::Head;
            }
            return Expired::No;
        }
        let quiet = Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)));
        let limit = if self.requests.load(Ordering::Relaxed) == 0 {
            header
        } else {
            idle
        };
        if quiet >= limit {
            Expired::Idle
        } else {
            Expired::No
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_ms.store(NONE, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// A request being handled; the connection is not idle meanwhile.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.head_ms.store(NONE, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's stream, noting each byte read or written.
struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
