//! The connection layer under the router: the accept loop, per-connection timeouts, the cap on
//! open connections, and JSON bodies for the few errors the HTTP parser answers by itself.
//!
//! Every connection runs beside a watchdog that closes it when its current phase outlives its
//! deadline (the Go `net/http` model):
//! - first request: the whole head (request line + headers) within `header_timeout` of the
//!   accept — a socket that sends nothing or trickles a partial head is closed;
//! - between requests (keep-alive): the next request's first byte within `idle_timeout` of
//!   the previous answer, then its head within `header_timeout` of that first byte;
//! - while a request is served: some byte read or written at least every `idle_timeout` (a
//!   client that stops reading a response or sending a body does not hold the socket); the
//!   handler itself is bounded by the request timeout above this layer.
//!
//! At most `max_connections` connections are open. When a new one would exceed the cap, the
//! connection that has been idle (between requests or still waiting for its head) the longest
//! is closed to make room, so idle or half-open sockets cannot lock real clients out (as
//! nginx reuses idle keep-alive connections). When every open connection is busy serving a
//! request, the loop stops accepting: new connections wait in the kernel's listen backlog,
//! costing no file descriptor, and are accepted as soon as a connection closes or goes idle.
//!
//! Accept errors never stop the loop: per-connection errors (reset, aborted) are skipped;
//! resource errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) close the longest-idle connection to free
//! a descriptor and retry at once (or after [`ACCEPT_BACKOFF`] when every connection is busy),
//! and are logged once per burst.
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

use super::errors::error_body;

/// Pause after an accept error caused by exhausted resources (EMFILE & co.) when no idle
/// connection could be closed to free a descriptor.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// File descriptors kept free for everything but connections (model files, the web folder,
/// logs) when `max_connections` is clamped to the process's open-file limit.
pub const RESERVED_FDS: u64 = 64;
/// Most headers in a request head (more: 431).
pub const MAX_HEADERS: usize = 100;
/// Longest request target the parser accepts (longer: 414); fixed by hyper.
pub const MAX_URL_BYTES: usize = 65_534;
/// Largest request head, request line and headers together (larger: 431).
pub const MAX_HEAD_BYTES: usize = 96 * 1024;

/// The connection limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time allowed for a request head (from the accept, or from its first byte on a reused
    /// connection).
    pub header_timeout: Duration,
    /// Longest wait for the next request on a keep-alive connection, and longest stall of a
    /// request in progress.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// `requested`, lowered so that connections plus [`RESERVED_FDS`] fit under the soft limit of
/// open files (`ulimit -n`); also returns that limit when it forced the clamp.
pub fn clamp_to_fd_limit(requested: usize) -> (usize, Option<u64>) {
    match open_file_limit() {
        Some(limit) if (requested as u64).saturating_add(RESERVED_FDS) > limit => {
            let max = limit.saturating_sub(RESERVED_FDS).max(1) as usize;
            (max.min(requested), Some(limit))
        }
        _ => (requested, None),
    }
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
fn open_file_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    (rc == 0 && rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur as u64)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Milliseconds since the server started (the watchdogs' clock).
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    fn at(self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0 + Duration::from_millis(ms))
    }
}

const NONE: u64 = u64::MAX;

/// What the watchdog of one connection reads; written by the IO wrapper (bytes moved) and the
/// service wrapper (requests started and answered).
struct ConnState {
    clock: Clock,
    /// Requests handed to the router whose answer is not fully sent yet.
    busy: AtomicUsize,
    /// Requests answered on this connection.
    served: AtomicU64,
    accepted_ms: u64,
    /// When the previous answer finished.
    idle_since_ms: AtomicU64,
    /// When the first byte of the next head arrived (`NONE`: not yet).
    head_started_ms: AtomicU64,
    /// Last time a byte was read or written.
    last_io_ms: AtomicU64,
    /// Set to close the connection now (to make room under the cap, or to free descriptors).
    evict: AtomicBool,
    wake: Notify,
}

/// Why a watchdog closed its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    HeaderTimeout,
    IdleTimeout,
    Stalled,
    Evicted,
}

impl ConnState {
    fn new(clock: Clock) -> Self {
        let now = clock.now();
        ConnState {
            clock,
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            accepted_ms: now,
            idle_since_ms: AtomicU64::new(now),
            head_started_ms: AtomicU64::new(NONE),
            last_io_ms: AtomicU64::new(now),
            evict: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn is_idle(&self) -> bool {
        self.busy.load(SeqCst) == 0
    }

    fn on_bytes_read(&self) {
        let now = self.clock.now();
        self.last_io_ms.store(now, SeqCst);
        if self.is_idle()
            && self
                .head_started_ms
                .compare_exchange(NONE, now, SeqCst, SeqCst)
                .is_ok()
        {
            // The deadline may move closer (idle timeout → header timeout).
            self.wake.notify_one();
        }
    }

    fn on_bytes_written(&self) {
        self.last_io_ms.store(self.clock.now(), SeqCst);
    }

    fn request_started(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, SeqCst);
        BusyGuard(self.clone())
    }

    fn evict(&self) {
        self.evict.store(true, SeqCst);
        self.wake.notify_one();
    }

    /// The current deadline and what closes the connection when it passes.
    fn deadline(&self, limits: &ConnLimits) -> (u64, Closed) {
        let ms = |d: Duration| d.as_millis() as u64;
        if !self.is_idle() {
            let last = self.last_io_ms.load(SeqCst);
            return (last.saturating_add(ms(limits.idle_timeout)), Closed::Stalled);
        }
        let header = ms(limits.header_timeout);
        if self.served.load(SeqCst) == 0 {
            return (self.accepted_ms.saturating_add(header), Closed::HeaderTimeout);
        }
        match self.head_started_ms.load(SeqCst) {
            NONE => (
                self.idle_since_ms
                    .load(SeqCst)
                    .saturating_add(ms(limits.idle_timeout)),
                Closed::IdleTimeout,
            ),
            started => (started.saturating_add(header), Closed::HeaderTimeout),
        }
    }

    /// Resolves when the connection must close.
    async fn watchdog(&self, limits: ConnLimits) -> Closed {
        loop {
            if self.evict.load(SeqCst) {
                return Closed::Evicted;
            }
            let (deadline, why) = self.deadline(&limits);
            if self.clock.now() >= deadline {
                return why;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(self.clock.at(deadline)) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Marks a request in progress until its answer is fully sent (or dropped).
struct BusyGuard(Arc<ConnState>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let c = &self.0;
        if c.busy.fetch_sub(1, SeqCst) == 1 {
            c.head_started_ms.store(NONE, SeqCst);
            c.idle_since_ms.store(c.clock.now(), SeqCst);
        }
        c.served.fetch_add(1, SeqCst);
    }
}

/// A response body that keeps its request counted as busy until it is sent.
struct GuardedBody {
    inner: axum::body::Body,
    _guard: BusyGuard,
}

impl HttpBody for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, reporting bytes moved to the watchdog and replacing the parser's bare error
/// answers by JSON ones.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    /// A replacement answer still being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl Watched {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, pos)) = self.pending.as_mut() {
            if *pos >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *pos += n;
            self.state.on_bytes_written();
        }
        Poll::Ready(Ok(()))
    }

    /// When `first` is the start of an answer hyper wrote on its own (no request reached the
    /// router), queues the JSON replacement and returns true.
    fn replace_parser_error(&mut self, first: &[u8]) -> bool {
        if !self.state.is_idle() {
            return false;
        }
        match parser_error_as_json(first) {
            Some(json) => {
                self.pending = Some((json, 0));
                true
            }
            None => false,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = ready!(Pin::new(&mut self.inner).poll_read(cx, buf));
        if r.is_ok() && buf.filled().len() > before {
            self.state.on_bytes_read();
        }
        Poll::Ready(r)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if self.replace_parser_error(buf) {
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if n > 0 {
            self.state.on_bytes_written();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty());
        if first.is_some_and(|f| self.replace_parser_error(f)) {
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        if n > 0 {
            self.state.on_bytes_written();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The JSON answer replacing hyper's own answer to a request it could not parse (400, 414,
/// 431 with an empty body; the router never answers an error without a JSON body).
pub fn parser_error_as_json(written: &[u8]) -> Option<Vec<u8>> {
    let rest = written.strip_prefix(b"HTTP/1.1 ")?;
    let code: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    let message = match code {
        400 => "malformed HTTP request: the request line or a header cannot be parsed".to_string(),
        414 => format!("URL too long: at most {MAX_URL_BYTES} bytes"),
        431 => format!(
            "request headers too large: at most {MAX_HEADERS} headers and {} KiB for the request line and headers together",
            MAX_HEAD_BYTES / 1024
        ),
        _ => return None,
    };
    let head = &written[..find(written, b"\r\n\r\n")?];
    if find(head, b"\r\ncontent-length: 0").is_none() || find(head, b"\r\ncontent-type:").is_some() {
        return None;
    }
    let status = StatusCode::from_u16(code).ok()?;
    let body = error_body(status, &message, None);
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<ConnState>>>,
}

impl Registry {
    fn add(self: &Arc<Self>, state: Arc<ConnState>) -> Registered {
        let id = self.next_id.fetch_add(1, SeqCst);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, state);
        Registered(self.clone(), id)
    }

    /// Closes the connection idle the longest; false when every connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = open
            .values()
            .filter(|c| c.is_idle() && !c.evict.load(SeqCst))
            .min_by_key(|c| c.idle_since_ms.load(SeqCst));
        match oldest {
            Some(c) => {
                c.evict();
                true
            }
            None => false,
        }
    }
}

/// Removes a connection from the registry when its task ends.
struct Registered(Arc<Registry>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// Counters of the connection layer (for logs and tests).
#[derive(Default, Debug)]
pub struct ConnStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed by the header timeout.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed by the idle timeout.
    pub idle_timeouts: AtomicU64,
    /// Connections closed because a request stalled (no byte moved for the idle timeout).
    pub stalled: AtomicU64,
    /// Idle connections closed to make room under the cap.
    pub evicted: AtomicU64,
    /// Accept errors (EMFILE & co.).
    pub accept_errors: AtomicU64,
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then stops accepting,
/// lets requests in flight finish (at most `grace`) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let clock = Clock(Instant::now());
    let registry = Arc::new(Registry::default());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // The watchdog enforces the head deadlines (hyper's timer cannot tell a keep-alive
        // wait from a slow head).
        .header_read_timeout(None)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES);
    let mut burst: Option<AcceptBurst> = None;
    tokio::pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // At the cap: make room by closing the longest-idle connection, else wait
                // (new connections queue in the listen backlog) and look again shortly.
                registry.evict_oldest_idle();
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
                    _ = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            r = listener.accept() => r,
            _ = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => {
                if let Some(burst) = burst.take_if(|b| b.last.elapsed() >= BURST_GAP) {
                    tracing::info!(
                        errors = burst.errors,
                        ms = burst.since.elapsed().as_millis() as u64,
                        "accepting connections again"
                    );
                }
                stream
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                stats.accept_errors.fetch_add(1, SeqCst);
                let now = Instant::now();
                match burst.as_mut() {
                    Some(b) if b.last.elapsed() < BURST_GAP => {
                        b.errors += 1;
                        b.last = now;
                    }
                    _ => {
                        tracing::warn!(error = %e, open = limits.max_connections - slots.available_permits(),
                            "cannot accept connections (logged once per burst); closing the longest-idle connection and retrying");
                        burst = Some(AcceptBurst {
                            since: now,
                            last: now,
                            errors: 1,
                        });
                    }
                }
                drop(permit);
                // A closed idle connection frees a descriptor within a moment; else wait longer.
                let freed = registry.evict_oldest_idle();
                tokio::time::sleep(if freed {
                    Duration::from_millis(1)
                } else {
                    ACCEPT_BACKOFF
                })
                .await;
                continue;
            }
        };
        stats.accepted.fetch_add(1, SeqCst);
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::new(clock));
        let registered = registry.add(state.clone());
        let io = TokioIo::new(Watched {
            inner: stream,
            state: state.clone(),
            pending: None,
        });
        let app = app.clone();
        let svc_state = state.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let guard = svc_state.request_started();
            let call = app.clone().oneshot(req);
            async move {
                let resp = call.await?;
                Ok::<_, Infallible>(resp.map(|inner| GuardedBody { inner, _guard: guard }))
            }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let stats = stats.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _registered = registered;
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection error");
                    }
                }
                why = state.watchdog(limits) => {
                    let counter = match why {
                        Closed::HeaderTimeout => &stats.header_timeouts,
                        Closed::IdleTimeout => &stats.idle_timeouts,
                        Closed::Stalled => &stats.stalled,
                        Closed::Evicted => &stats.evicted,
                    };
                    counter.fetch_add(1, SeqCst);
                    tracing::debug!(reason = ?why, "connection closed");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: some connections were still open after {grace:?}; closing them");
    }
}

/// Accept errors closer together than this belong to one burst (one log line).
const BURST_GAP: Duration = Duration::from_secs(1);

/// A run of accept errors.
struct AcceptBurst {
    since: Instant,
    last: Instant,
    errors: u64,
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_answers_become_json_and_app_answers_are_left_alone() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let json = String::from_utf8(parser_error_as_json(bare).unwrap()).unwrap();
        assert!(
            json.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{json}"
        );
        assert!(json.contains("content-type: application/json\r\n"));
        let body = json.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 431);
        assert!(v["error"].as_str().unwrap().contains("100 headers"));
        let app = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(parser_error_as_json(app).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(parser_error_as_json(ok).is_none());
        assert!(parser_error_as_json(b"HTTP/1.1 4").is_none());
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let limits = ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10,
        };
        let c = Arc::new(ConnState::new(Clock(Instant::now())));
        let (d, why) = c.deadline(&limits);
        assert_eq!(why, Closed::HeaderTimeout);
        assert!((10_000..10_100).contains(&d), "{d}");
        let guard = c.request_started();
        assert_eq!(c.deadline(&limits).1, Closed::Stalled);
        drop(guard);
        let (d, why) = c.deadline(&limits);
        assert_eq!(why, Closed::IdleTimeout);
        assert!((75_000..75_100).contains(&d), "{d}");
        c.on_bytes_read();
        assert_eq!(c.deadline(&limits).1, Closed::HeaderTimeout);
    }
}
