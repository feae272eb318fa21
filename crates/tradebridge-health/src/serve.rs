//! The accept loop under every health server: hyper's HTTP/1.1 connection with limits axum's `serve`
//! does not expose (header read timeout, header size, connection cap), and the counts they produce.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::server::{HealthServerError, SHUTDOWN_GRACE};

/// The address health servers bind unless told otherwise: loopback, so that a process started on a
/// shared host does not expose its state to the network by accident. Containers whose probes come from
/// outside pass `--health-host 0.0.0.0` (or their own interface).
pub const DEFAULT_HEALTH_HOST: &str = "127.0.0.1";

/// What one health server accepts before it refuses or closes.
///
/// Probes send a request line and a few short headers without a body; these bounds are generous for
/// them and small enough that a slow or hostile client cannot hold the server's memory or its
/// connection slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; the excess is answered `503` and closed, and counted in
    /// `tradebridge_http_connections_refused_total`.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, counted from the first byte it is awaited
    /// (a new connection, or an idle keep-alive one): a slowloris or an idle connection is closed then.
    pub header_read_timeout: Duration,
    /// Bytes of request line plus headers; above it the answer is `431` and the connection closes.
    pub max_header_bytes: usize,
    /// Number of header fields; above it the answer is `431`.
    pub max_headers: usize,
    /// Declared body size; above it the answer is `413`. Bodies are never read (no endpoint takes one),
    /// and a request that has one is answered at once with `Connection: close`, so a client trickling
    /// a body holds nothing beyond its own connection for the time the answer takes.
    pub max_body_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 1024,
        }
    }
}

/// Connection counts of one server, shown in its `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
}

impl HttpStats {
    /// Connections served since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused because [`HttpLimits::max_connections`] were open.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Appends the connection families to a Prometheus text page.
    pub fn render_prometheus(&self, out: &mut String) {
        // Not the accepted count: it counts the scrapes themselves, and would make two servers' pages
        // for the same state differ.
        for (name, kind, help, value) in [
            (
                "tradebridge_http_connections_refused_total",
                "counter",
                "Connections refused because the connection cap was reached.",
                self.refused(),
            ),
            (
                "tradebridge_http_connections_open",
                "gauge",
                "Connections open now.",
                self.open(),
            ),
        ] {
            let family = name.strip_suffix("_total").unwrap_or(name);
            let _ = writeln!(out, "# HELP {family} {help}");
            let _ = writeln!(out, "# TYPE {family} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// Refuses a declared body above the limit (`413`) and closes any connection that sent a body: the
/// endpoints never read one, and hyper would otherwise wait to drain it before the next request.
pub(crate) async fn body_guard(max_body_bytes: u64, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let has_body = declared.is_some_and(|n| n > 0)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if declared.is_some_and(|n| n > max_body_bytes) {
        let mut response = (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"payload_too_large"}"#,
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let mut response = next.run(request).await;
    if has_body {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The response written straight on the socket to a connection over the cap (no parsing: the point is
/// to spend nothing on it).
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 32\r\n\r\n{\"error\":\"too_many_connections\"}";

/// Serves `app` on `listener` under `limits` until `signal` completes, then gives open connections
/// [`SHUTDOWN_GRACE`] to finish.
pub(crate) async fn serve_app<F>(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stats: Arc<HttpStats>,
    signal: F,
) -> Result<(), HealthServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = app.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| body_guard(limits.max_body_bytes, request, next),
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192) + 8192);
    tokio::pin!(signal);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors or a connection reset before accept: keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            // Answer, then drain what the client sent before closing: closing a socket with unread
            // bytes sends a reset, which can destroy the answer before the client reads it. Bounded.
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    stream.write_all(REFUSED).await?;
                    stream.shutdown().await?;
                    let mut sink = [0_u8; 2048];
                    while stream.read(&mut sink).await? > 0 {}
                    Ok::<_, std::io::Error>(())
                })
                .await;
            });
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let stats = stats.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    // In-flight requests finish; an idle keep-alive or half-sent request would otherwise hold the
    // service's shutdown until its header timeout.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}
