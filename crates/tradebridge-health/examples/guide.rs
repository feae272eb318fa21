//! The guide's health example ("4. Health Check Endpoints"), compiled against `tradebridge-health`.
//!
//! Differences from the guide, each marked `GUIDE CHANGE` below:
//! - `use common::...` is `use tradebridge_health::...` (our crate's name);
//! - the port is the first argument (default 8080, the guide's), so tests can pick a free one;
//! - "Main service logic..." waits for Ctrl-C/SIGTERM: the guide's `main` returns at once, which ends the
//!   process (and its health server) before anyone could probe it.
//!
//! `cargo run --release -p tradebridge-health --example guide -- 8080`, then
//! `curl localhost:8080/health`. `tests/guide/test_health.py` runs it and checks the bodies.
#![allow(clippy::print_stdout)] // the guide's example prints, as the guide does
                                // GUIDE CHANGE: the crate is `tradebridge_health`, not `common`.
use std::sync::Arc;
use tokio::sync::RwLock;
use tradebridge_health::{start_health_server, HealthCheck};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // GUIDE CHANGE: the port comes from the command line (the guide hard-codes 8080).
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 8080,
    };

    // Create health tracker
    let health = Arc::new(RwLock::new(HealthCheck::healthy("market-data")));

    // Start health server on port 8080
    let health_clone = health.clone();
    tokio::spawn(async move {
        if let Err(e) = start_health_server(port, health_clone).await {
            tracing::error!("Health server error: {}", e);
            // GUIDE CHANGE: also say it where the test (and a user without a tracing subscriber) sees it.
            eprintln!("Health server error: {e}");
            std::process::exit(1);
        }
    });

    // Update health status
    {
        let mut h = health.write().await;
        *h = h
            .clone()
            .with_metric("websocket_connected", "true")
            .with_metric("messages_processed", "1234");
    }

    // Main service logic...
    // GUIDE CHANGE: run until Ctrl-C or SIGTERM instead of returning (which would stop the server at once).
    shutdown_signal().await?;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
