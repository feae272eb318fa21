//! Health, readiness, liveness and Prometheus metrics endpoints for tradebridge services.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /health` | the `health` contract JSON; 200 when healthy or degraded, 503 when unhealthy |
//! | `GET /ready` | `{ready, component, timestamp[, reason]}`; 200 when ready, 503 otherwise |
//! | `GET /live` | 200, `"alive"` |
//! | `GET /metrics` | Prometheus text: uptime, messages processed, malformed, gaps, latency histograms, tracked stats |
//!
//! `HEAD` works on all four; unknown paths get 404, other methods 405 with `Allow: GET,HEAD`.
//! `uptime_seconds` is filled in automatically.
//!
//! Servers bind loopback ([`DEFAULT_HEALTH_HOST`]) unless given another address, and hold against slow,
//! large and numerous clients under [`HttpLimits`] (512 connections, the excess answered 503 and counted
//! in `tradebridge_http_connections_refused_total`; 5 s to send a request head; 16 KiB of head, 431;
//! a declared body above 1 KiB, 413).
//!
//! The guide's service (only the `use` line differs):
//!
//! ```no_run
//! use tradebridge_health::{HealthCheck, start_health_server};
//! use std::sync::Arc;
//! use tokio::sync::RwLock;
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     // Create health tracker
//!     let health = Arc::new(RwLock::new(HealthCheck::healthy("market-data")));
//!
//!     // Start health server on port 8080
//!     let health_clone = health.clone();
//!     tokio::spawn(async move {
//!         if let Err(e) = start_health_server(8080, health_clone).await {
//!             tracing::error!("Health server error: {}", e);
//!         }
//!     });
//!
//!     // Update health status
//!     {
//!         let mut h = health.write().await;
//!         *h = h.clone()
//!             .with_metric("websocket_connected", "true")
//!             .with_metric("messages_processed", "1234");
//!     }
//!
//!     // Main service logic...
//!     Ok(())
//! }
//! ```
//!
//! A process with `--health-port` (bind errors surface at start-up; port 0 picks a free port):
//!
//! ```no_run
//! # async fn run(port: u16) -> Result<(), tradebridge_health::HealthServerError> {
//! use std::sync::Arc;
//! use std::time::Instant;
//! use tokio::sync::RwLock;
//! use tradebridge_health::{spawn_health_server, HealthCheck};
//!
//! let health = Arc::new(RwLock::new(HealthCheck::healthy("bus-peer").not_ready("connecting")));
//! let server = spawn_health_server(port, health.clone()).await?;
//! eprintln!("health endpoints on port {}", server.port());
//!
//! // Hot-path instruments: grab them once, update with plain atomics.
//! let telemetry = health.read().await.telemetry().clone();
//! let decode_latency = telemetry.latency("decode");
//! telemetry.track("subscriber", || vec![("received", 10), ("malformed", 0), ("gaps", 0), ("dropped", 0)]);
//!
//! health.write().await.set_ready(true, None); // sockets connected
//! let started = Instant::now();
//! telemetry.messages_processed().inc();
//! decode_latency.observe(started.elapsed());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod check;
mod serve;
mod server;
mod telemetry;

pub use check::{
    rfc3339_seconds, HealthBody, HealthCheck, HealthStatus, ReadinessBody, OPERATIONAL_MESSAGE,
    SCHEMA_VERSION,
};
pub use serve::{HttpLimits, HttpStats, DEFAULT_HEALTH_HOST};
pub use server::{
    router, spawn_health_server, spawn_health_server_on, start_health_server, HealthServer,
    HealthServerError, RunningHealthServer, SharedHealth, PROMETHEUS_CONTENT_TYPE, SHUTDOWN_GRACE,
};
pub use telemetry::{Counter, Histogram, Telemetry, LATENCY_BUCKETS_SECONDS};

/// The axum version the server is built on, so a service adding routes with
/// [`HealthServer::with_routes`] builds them with the same `Router` type.
pub use axum;
