//! The HTTP side: `/health`, `/ready`, `/live`, `/metrics` on axum, bound to a port the caller can learn.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{oneshot, RwLock};
use tokio::task::JoinHandle;

use crate::check::{HealthCheck, HealthStatus};
use crate::serve::{serve_app, HttpLimits, HttpStats, DEFAULT_HEALTH_HOST};

/// The state the server reads and the service writes (the guide's `Arc<RwLock<HealthCheck>>`).
pub type SharedHealth = Arc<RwLock<HealthCheck>>;

/// How long a stopping server waits for open connections before it lets go of them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Content type of `/metrics` (Prometheus text exposition format 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why a health server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HealthServerError {
    /// The address could not be bound (in use, no permission, unresolvable).
    #[error("cannot bind the health server to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Accepting or serving connections failed.
    #[error("health server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("health server task ended abnormally: {0}")]
    Task(String),
}

/// Serves the health endpoints on `127.0.0.1:port` until the process ends (the guide's entry point).
///
/// Loopback, so that nothing is exposed to the network unless asked: use [`spawn_health_server_on`] or
/// [`HealthServer::bind`] with `0.0.0.0` when an orchestrator's probes come from outside the pod.
///
/// # Errors
/// [`HealthServerError::Bind`] when the port cannot be bound, [`HealthServerError::Serve`] when serving fails.
pub async fn start_health_server(port: u16, health: SharedHealth) -> Result<(), HealthServerError> {
    HealthServer::bind((DEFAULT_HEALTH_HOST, port), health)
        .await?
        .serve()
        .await
}

/// Binds `127.0.0.1:port` and serves in a background task; see [`spawn_health_server_on`].
///
/// # Errors
/// [`HealthServerError::Bind`] when the port cannot be bound.
pub async fn spawn_health_server(
    port: u16,
    health: SharedHealth,
) -> Result<RunningHealthServer, HealthServerError> {
    spawn_health_server_on(DEFAULT_HEALTH_HOST, port, health).await
}

/// Binds `host:port` and serves in a background task; what a process's `--health-host`/`--health-port`
/// do.
///
/// Binding happens before this returns, so a port conflict is reported at start-up, not later in a
/// detached task. Must be called inside a tokio runtime.
///
/// # Errors
/// [`HealthServerError::Bind`] when the address cannot be bound.
pub async fn spawn_health_server_on(
    host: &str,
    port: u16,
    health: SharedHealth,
) -> Result<RunningHealthServer, HealthServerError> {
    Ok(HealthServer::bind((host, port), health).await?.spawn())
}

/// A bound, not yet serving, health server: learn its address (port 0 picks a free one), then serve.
///
/// ```no_run
/// # async fn demo() -> Result<(), tradebridge_health::HealthServerError> {
/// use std::sync::Arc;
/// use tokio::sync::RwLock;
/// use tradebridge_health::{HealthCheck, HealthServer};
///
/// let health = Arc::new(RwLock::new(HealthCheck::healthy("bus-peer")));
/// let server = HealthServer::bind("127.0.0.1:0", health.clone()).await?;
/// println!("health on {}", server.local_addr());
/// let running = server.spawn();
/// // ... service work ...
/// running.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: App,
    extra: Option<Router>,
    limits: HttpLimits,
    stats: Arc<HttpStats>,
}

impl HealthServer {
    /// Binds `addr` (anything tokio resolves: `"127.0.0.1:0"`, `("0.0.0.0", 8080)`, a `SocketAddr`).
    ///
    /// # Errors
    /// [`HealthServerError::Bind`] when the address cannot be bound.
    pub async fn bind<A>(addr: A, health: SharedHealth) -> Result<Self, HealthServerError>
    where
        A: ToSocketAddrs + std::fmt::Debug,
    {
        Self::bind_with(addr, App::Health(health)).await
    }

    /// Binds `addr` to serve `app` (which should answer the four health paths) under the same accept
    /// loop and limits as the health router: for a host that keeps its health state elsewhere, such as
    /// the Python binding serving snapshots its interpreter pushes.
    ///
    /// # Errors
    /// [`HealthServerError::Bind`] when the address cannot be bound.
    pub async fn bind_app<A>(addr: A, app: Router) -> Result<Self, HealthServerError>
    where
        A: ToSocketAddrs + std::fmt::Debug,
    {
        Self::bind_with(addr, App::Own(app)).await
    }

    async fn bind_with<A>(addr: A, app: App) -> Result<Self, HealthServerError>
    where
        A: ToSocketAddrs + std::fmt::Debug,
    {
        let described = format!("{addr:?}");
        let bind_error = |source| HealthServerError::Bind {
            addr: described.clone(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            local_addr,
            app,
            extra: None,
            limits: HttpLimits::default(),
            stats: Arc::new(HttpStats::default()),
        })
    }

    /// Replaces the default [`HttpLimits`].
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Counts connections into `stats` (which a host rendering its own `/metrics` already holds).
    pub fn with_stats(mut self, stats: Arc<HttpStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The connection counts this server will report (shared, live).
    pub fn stats(&self) -> Arc<HttpStats> {
        self.stats.clone()
    }

    /// Serves a service's own routes next to the health endpoints, on the same port (the execution
    /// engine's kill-switch routes). `routes` must not define a fallback nor the four health paths; they
    /// answer as their own handlers say (authentication included), unknown paths still get the 404.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = Some(match self.extra.take() {
            Some(existing) => existing.merge(routes),
            None => routes,
        });
        self
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the process ends.
    ///
    /// # Errors
    /// [`HealthServerError::Serve`] when accepting connections fails.
    pub async fn serve(self) -> Result<(), HealthServerError> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes, then gives in-flight requests [`SHUTDOWN_GRACE`] to finish and
    /// returns. The grace is bounded because an idle keep-alive or half-sent request (a slow client, a
    /// port scanner) would otherwise hold the service's shutdown until its header timeout.
    ///
    /// # Errors
    /// [`HealthServerError::Serve`] when accepting connections fails.
    pub async fn serve_with_shutdown<F>(self, signal: F) -> Result<(), HealthServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let health = match self.app {
            App::Health(health) => router_with_stats(health, self.stats.clone()),
            App::Own(app) => app,
        };
        let app = match self.extra {
            Some(extra) => health.merge(extra),
            None => health,
        };
        serve_app(self.listener, app, self.limits, self.stats, signal).await
    }

    /// Serves in a background tokio task; the handle stops it (explicitly or when dropped).
    pub fn spawn(self) -> RunningHealthServer {
        let (stop, stopped) = oneshot::channel::<()>();
        let local_addr = self.local_addr;
        let task = tokio::spawn(self.serve_with_shutdown(async move {
            // Either an explicit stop or a dropped handle ends the server.
            let _ = stopped.await;
        }));
        RunningHealthServer {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// What a server answers besides its extra routes.
#[derive(Debug)]
enum App {
    /// The health router over the shared check.
    Health(SharedHealth),
    /// A router of the caller's own (the Python binding's snapshot handlers).
    Own(Router),
}

/// A health server serving in a background task; dropping it stops the server.
#[derive(Debug)]
pub struct RunningHealthServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), HealthServerError>>>,
}

impl RunningHealthServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the task.
    ///
    /// # Errors
    /// The server's own error, or [`HealthServerError::Task`] if its task panicked.
    pub async fn shutdown(mut self) -> Result<(), HealthServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| HealthServerError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningHealthServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The axum router of the health API, for services that already run an axum server and want to
/// `.merge()` it. Unknown paths answer 404, other methods on known paths 405 with `Allow: GET,HEAD`.
pub fn router(health: SharedHealth) -> Router {
    router_with_stats(health, Arc::new(HttpStats::default()))
}

#[derive(Clone)]
struct Served {
    health: SharedHealth,
    http: Arc<HttpStats>,
}

fn router_with_stats(health: SharedHealth, http: Arc<HttpStats>) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/ready", get(ready_handler))
        .route("/live", get(live_handler))
        .route("/metrics", get(metrics_handler))
        .fallback(not_found)
        .with_state(Served { health, http })
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response(),
        // Our bodies are maps of strings; this cannot fail, but a probe must still get an answer.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn health_handler(State(served): State<Served>) -> Response {
    let body = served.health.read().await.health_body(SystemTime::now());
    let status = match body.status {
        HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_response(status, &body)
}

async fn ready_handler(State(served): State<Served>) -> Response {
    let body = served.health.read().await.readiness_body(SystemTime::now());
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &body)
}

async fn live_handler() -> Response {
    // Liveness only says the process answers: it takes no lock, so a stuck writer cannot fail it.
    json_response(StatusCode::OK, &"alive")
}

async fn metrics_handler(State(served): State<Served>) -> Response {
    let (status, ready, telemetry) = {
        let check = served.health.read().await;
        (check.status(), check.is_ready(), check.telemetry().clone())
    };
    let mut text = String::with_capacity(4096);
    telemetry.render_prometheus(&mut text);
    let _ = writeln!(
        text,
        "# HELP tradebridge_health_status Current health status (1 for the active one)."
    );
    let _ = writeln!(text, "# TYPE tradebridge_health_status gauge");
    for candidate in [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ] {
        let value = u8::from(candidate == status);
        let _ = writeln!(
            text,
            "tradebridge_health_status{{status=\"{candidate}\"}} {value}"
        );
    }
    let _ = writeln!(
        text,
        "# HELP tradebridge_ready Whether the service is ready for traffic."
    );
    let _ = writeln!(text, "# TYPE tradebridge_ready gauge");
    let _ = writeln!(text, "tradebridge_ready {}", u8::from(ready));
    served.http.render_prometheus(&mut text);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not_found"}),
    )
}
