//! `NativeHealthServer`: the Python `HealthServer`'s HTTP side, served by the `tradebridge-health` accept
//! loop on a tokio runtime this object owns, so that probes never run Python bytecode per request.
//!
//! The bodies come from a Python callable (`render(mask)`), called from one refresher thread and never
//! from a request: a request waits for the first render that *started after it arrived*, so an answer is
//! never older than its request (what a probe right after a state change must see), and every request
//! that arrives while a render runs shares the next one. A burst of 10,000 requests therefore costs the
//! interpreter a few hundred short renders instead of 10,000 parses and handler calls. `/live` never
//! touches Python at all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tradebridge_health::axum::body::Bytes;
use tradebridge_health::axum::extract::State;
use tradebridge_health::axum::http::{header, HeaderValue, StatusCode};
use tradebridge_health::axum::response::{IntoResponse, Response};
use tradebridge_health::axum::routing::get;
use tradebridge_health::axum::Router;
use tradebridge_health::{
    HealthServer, HttpLimits, HttpStats, RunningHealthServer, PROMETHEUS_CONTENT_TYPE,
};

use crate::boundary;

const HEALTH: usize = 0;
const READY: usize = 1;
const METRICS: usize = 2;

/// One rendered answer: status and body.
#[derive(Clone, Default)]
struct Page {
    generation: u64,
    status: u16,
    body: Bytes,
}

/// The latest render of each page.
#[derive(Clone, Default)]
struct Snapshot {
    pages: [Page; 3],
}

struct Shared {
    render: Py<PyAny>,
    /// Pages asked for since the last render started (bit per page).
    wanted: AtomicU8,
    /// Renders started so far; a request waits for a page whose generation is above what it read here.
    started: AtomicU64,
    pending: Mutex<bool>,
    wake: Condvar,
    stopping: AtomicBool,
    snapshot: watch::Sender<Arc<Snapshot>>,
    stats: Arc<HttpStats>,
    /// How long a request waits for a render before it is answered 503 (the interpreter is stuck).
    render_timeout: Duration,
}

impl Shared {
    fn ask(&self, page: usize) {
        self.wanted.fetch_or(1 << page, Ordering::SeqCst);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending = true;
        self.wake.notify_one();
    }

    /// The refresher: waits for asks, renders what was asked under the GIL, publishes.
    fn refresh_loop(&self) {
        loop {
            {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                while !*pending && !self.stopping.load(Ordering::SeqCst) {
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                *pending = false;
            }
            // Swap before counting: an ask that lands after the swap is served by the next render,
            // whose generation is then above what that request read.
            let mask = self.wanted.swap(0, Ordering::SeqCst);
            if mask == 0 {
                continue;
            }
            let generation = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            let rendered = Python::attach(|py| self.render_pages(py, mask));
            self.snapshot.send_modify(|current| {
                let mut next = Snapshot::clone(current);
                for (page, slot) in next.pages.iter_mut().enumerate() {
                    if mask & (1 << page) != 0 {
                        *slot = match &rendered[page] {
                            Some((status, body)) => Page {
                                generation,
                                status: *status,
                                body: body.clone(),
                            },
                            None => Page {
                                generation,
                                status: 500,
                                body: Bytes::from_static(br#"{"error":"render_failed"}"#),
                            },
                        };
                    }
                }
                *current = Arc::new(next);
            });
        }
    }

    fn render_pages(&self, py: Python<'_>, mask: u8) -> [Option<(u16, Bytes)>; 3] {
        let rendered = (|| -> PyResult<[Option<(u16, Bytes)>; 3]> {
            let pages = self.render.bind(py).call1((mask,))?;
            let mut out: [Option<(u16, Bytes)>; 3] = [None, None, None];
            for (index, slot) in out.iter_mut().enumerate() {
                let item = pages.get_item(index)?;
                if !item.is_none() {
                    let (status, body): (u16, Bound<'_, PyBytes>) = item.extract()?;
                    *slot = Some((status, Bytes::copy_from_slice(body.as_bytes())));
                }
            }
            Ok(out)
        })();
        rendered.unwrap_or_else(|err| {
            // The renderer's own failure: the probes get 500, the service sees the traceback.
            err.print(py);
            [None, None, None]
        })
    }
}

async fn answer(shared: Arc<Shared>, page: usize) -> Response {
    let mut updates = shared.snapshot.subscribe();
    let seen = shared.started.load(Ordering::SeqCst);
    shared.ask(page);
    let fresh = tokio::time::timeout(shared.render_timeout, async {
        loop {
            let snapshot = updates.borrow_and_update().clone();
            if snapshot.pages[page].generation > seen {
                return Some(snapshot);
            }
            if updates.changed().await.is_err() {
                return None;
            }
        }
    })
    .await;
    let Ok(Some(snapshot)) = fresh else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"render_timeout"}"#,
        )
            .into_response();
    };
    let rendered = &snapshot.pages[page];
    let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if page == METRICS {
        let mut text = String::new();
        shared.stats.render_prometheus(&mut text);
        let mut body = Vec::with_capacity(rendered.body.len() + text.len());
        body.extend_from_slice(&rendered.body);
        body.extend_from_slice(text.as_bytes());
        return (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
            )],
            body,
        )
            .into_response();
    }
    json(status, rendered.body.clone())
}

fn json(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|State(s): State<Arc<Shared>>| answer(s, HEALTH)),
        )
        .route(
            "/ready",
            get(|State(s): State<Arc<Shared>>| answer(s, READY)),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<Shared>>| answer(s, METRICS)),
        )
        .route(
            "/live",
            get(|| async { json(StatusCode::OK, Bytes::from_static(b"\"alive\"")) }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"not_found"}"#,
            )
        })
        .with_state(shared)
}

struct Running {
    runtime: Runtime,
    server: RunningHealthServer,
    refresher: JoinHandle<()>,
}

/// The HTTP side of `tradebridge.health.HealthServer`, on Rust threads. Private: use `HealthServer`.
#[pyclass(module = "tradebridge._native", name = "NativeHealthServer", frozen)]
pub struct NativeHealthServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

#[pymethods]
impl NativeHealthServer {
    /// Binds `host:port` and serves at once; `render(mask)` returns the three pages asked for by `mask`
    /// (bit 0 `/health`, 1 `/ready`, 2 `/metrics`) as `(status, body)` or `None`.
    #[new]
    #[pyo3(signature = (render, host, port, *, max_connections, header_timeout, max_header_bytes, max_body_bytes, render_timeout))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        render: Py<PyAny>,
        host: String,
        port: u16,
        max_connections: usize,
        header_timeout: f64,
        max_header_bytes: usize,
        max_body_bytes: u64,
        render_timeout: f64,
    ) -> PyResult<Self> {
        boundary::guard(|| {
            let seconds = |value: f64, name: &str| {
                if value.is_finite() && value > 0.0 && value <= 86_400.0 {
                    Ok(Duration::from_secs_f64(value))
                } else {
                    Err(PyValueError::new_err(format!(
                        "{name} must be a number of seconds in (0, 86400], got {value}"
                    )))
                }
            };
            if max_connections == 0 {
                return Err(PyValueError::new_err("max_connections must be >= 1"));
            }
            let limits = HttpLimits {
                max_connections,
                header_read_timeout: seconds(header_timeout, "header_timeout")?,
                max_header_bytes,
                max_body_bytes,
                ..HttpLimits::default()
            };
            let render_timeout = seconds(render_timeout, "render_timeout")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("health-http")
                .enable_all()
                .build()
                .map_err(|e| PyOSError::new_err(format!("cannot start the health runtime: {e}")))?;
            let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
            let stats = Arc::new(HttpStats::default());
            let shared = Arc::new(Shared {
                render,
                wanted: AtomicU8::new(0),
                started: AtomicU64::new(0),
                pending: Mutex::new(false),
                wake: Condvar::new(),
                stopping: AtomicBool::new(false),
                snapshot,
                stats: stats.clone(),
                render_timeout,
            });
            let app = routes(shared.clone());
            let server = py
                .detach(|| {
                    runtime.block_on(async {
                        HealthServer::bind_app((host.as_str(), port), app)
                            .await
                            .map(|bound| bound.with_limits(limits).with_stats(stats).spawn())
                    })
                })
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
            let address = server.local_addr();
            let refreshing = shared.clone();
            let refresher = std::thread::Builder::new()
                .name("health-render".into())
                .spawn(move || refreshing.refresh_loop())
                .map_err(|e| PyOSError::new_err(format!("cannot start the render thread: {e}")))?;
            Ok(Self {
                address,
                shared,
                running: Mutex::new(Some(Running {
                    runtime,
                    server,
                    refresher,
                })),
            })
        })
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.address.port()
    }

    /// `(accepted, refused, open)` connections.
    fn connection_stats(&self) -> (u64, u64, u64) {
        let stats = &self.shared.stats;
        (stats.accepted(), stats.refused(), stats.open())
    }

    /// Stops accepting, gives open connections the crate's shutdown grace, stops the render thread.
    /// Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(running) = running else {
            return Ok(());
        };
        // Detached: the render thread may be waiting for the interpreter this thread holds.
        let outcome = py.detach(|| {
            boundary::catch(|| {
                let Running {
                    runtime,
                    server,
                    refresher,
                } = running;
                let served = runtime.block_on(server.shutdown());
                {
                    let _pending = self
                        .shared
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    self.shared.stopping.store(true, Ordering::SeqCst);
                    self.shared.wake.notify_all();
                }
                let _ = refresher.join();
                runtime.shutdown_timeout(Duration::from_secs(1));
                served
            })
        });
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PyOSError::new_err(e.to_string())),
            Err(payload) => Err(boundary::panicked(payload)),
        }
    }
}

impl Drop for NativeHealthServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeHealthServer>()
}
