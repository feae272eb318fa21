//! `bus-proxy --frontend tcp://HOST:PORT --backend tcp://HOST:PORT [--capture EP] [--health-port P [--health-host H]]`
//!
//! Publishers connect to the frontend, subscribers to the backend; the proxy binds both (see the crate
//! docs for the picture). SIGINT/SIGTERM terminate it through the control socket; `POST /control/pause`
//! and `POST /control/resume` on the health port steer it. Prints one line when it is forwarding:
//! `bus-proxy ready frontend=<ep> backend=<ep> capture=<ep|-> health_port=<port|->`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::RwLock;
use tradebridge_busproxy::{Proxy, ProxyConfig};
use tradebridge_health::axum::{extract::State, http::StatusCode, routing::post, Router};
use tradebridge_health::{HealthCheck, HealthServer};

/// How often the `/health` gauges (subscribers, topics) are refreshed from the tap.
const REFRESH: Duration = Duration::from_millis(500);

#[derive(Debug, Parser)]
#[command(
    name = "bus-proxy",
    version,
    about = "XSUB/XPUB proxy of the tradebridge bus (libzmq's steerable proxy)"
)]
struct Args {
    /// Where publishers connect (XSUB, bound here), e.g. tcp://0.0.0.0:5555
    #[arg(long)]
    frontend: String,
    /// Where subscribers connect (XPUB, bound here), e.g. tcp://0.0.0.0:5556
    #[arg(long)]
    backend: String,
    /// Also connect the frontend to this publisher, for a service that binds (repeatable)
    #[arg(long = "frontend-connect")]
    frontend_connect: Vec<String>,
    /// Bind a PUB socket here that carries a copy of every data frame (for `tradebridge record`)
    #[arg(long)]
    capture: Option<String>,
    /// Serve /health /ready /live /metrics on HEALTH_HOST:PORT (0 picks a free port)
    #[arg(long)]
    health_port: Option<u16>,
    /// Address the health port binds: loopback unless told otherwise (0.0.0.0 for outside probes)
    #[arg(long, default_value = tradebridge_health::DEFAULT_HEALTH_HOST)]
    health_host: String,
    /// Messages queued per peer before libzmq drops (publishers' side) or stops reading
    #[arg(long, default_value_t = 100_000)]
    hwm: i32,
    /// CURVE: this proxy's secret key file (else TRADEBRIDGE_CURVE_SECRET_KEY); both sides become
    /// CURVE servers and refuse plaintext peers
    #[arg(long)]
    curve_secret_key: Option<String>,
    /// CURVE: clients admitted on both sides: a directory of *.key files, a comma list of keys, or *
    /// (else TRADEBRIDGE_CURVE_ALLOW)
    #[arg(long)]
    curve_allow: Option<String>,
    /// CURVE: the server key file of --frontend-connect peers (else TRADEBRIDGE_CURVE_SERVER_KEY)
    #[arg(long)]
    curve_server_key: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("bus-proxy: {reason}");
            ExitCode::FAILURE
        }
    }
}

async fn control(proxy: &Proxy, command: &str) -> (StatusCode, String) {
    let outcome = match command {
        "pause" => proxy.pause(),
        _ => proxy.resume(),
    };
    match outcome {
        Ok(()) => (StatusCode::OK, format!("{command}d\n")),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: {e}\n", e.code()),
        ),
    }
}

fn run(args: Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let health = Arc::new(RwLock::new(
        HealthCheck::healthy("bus-proxy").not_ready("starting"),
    ));
    let telemetry = runtime.block_on(async { health.read().await.telemetry().clone() });
    let config = ProxyConfig {
        capture: args.capture.clone(),
        frontend_connect: args.frontend_connect.clone(),
        hwm: args.hwm,
        curve: tradebridge_bus::Curve::from_env(&tradebridge_bus::CurveFlags {
            secret_key_file: args.curve_secret_key.clone(),
            server_key_file: args.curve_server_key.clone(),
            allow: args.curve_allow.clone(),
        })
        .map_err(|e| e.to_string())?,
        ..ProxyConfig::new(&args.frontend, &args.backend)
    };
    let proxy = Arc::new(
        Proxy::start(&config, Some(telemetry.clone()))
            .map_err(|e| format!("{} ({})", e, e.code()))?,
    );
    if config.curve.is_some() {
        let (front, back) = (proxy.clone(), proxy.clone());
        telemetry.track("curve_frontend", move || front.curve_stats().0.metrics());
        telemetry.track("curve_backend", move || back.curve_stats().1.metrics());
    }
    {
        let proxy = proxy.clone();
        telemetry.track("proxy", move || {
            let s = proxy.statistics().unwrap_or_default();
            let t = proxy.tap_counts();
            vec![
                ("frontend_messages_in", s.frontend_messages_in),
                ("frontend_bytes_in", s.frontend_bytes_in),
                ("backend_messages_out", s.backend_messages_out),
                ("backend_bytes_out", s.backend_bytes_out),
                ("subscription_messages_in", s.backend_messages_in),
                ("subscription_messages_out", s.frontend_messages_out),
                ("captured", t.captured),
                ("subscribes", t.subscribes),
                ("unsubscribes", t.unsubscribes),
            ]
        });
    }
    runtime.block_on(async {
        let server = match args.health_port {
            Some(port) => {
                let routes =
                    Router::new()
                        .route(
                            "/control/pause",
                            post(|State(p): State<Arc<Proxy>>| async move {
                                control(&p, "pause").await
                            }),
                        )
                        .route(
                            "/control/resume",
                            post(|State(p): State<Arc<Proxy>>| async move {
                                control(&p, "resume").await
                            }),
                        )
                        .with_state(proxy.clone());
                let bound = HealthServer::bind((args.health_host.as_str(), port), health.clone())
                    .await
                    .map_err(|e| format!("health port {port}: {e}"))?;
                Some(bound.with_routes(routes).spawn())
            }
            None => None,
        };
        health.write().await.set_ready(true, None);
        eprintln!(
            "bus-proxy ready frontend={} backend={} capture={} health_port={}",
            proxy.frontend(),
            proxy.backend(),
            proxy.capture().unwrap_or("-"),
            server
                .as_ref()
                .map_or_else(|| "-".to_owned(), |s| s.port().to_string()),
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        let mut ticker = tokio::time::interval(REFRESH);
        let stopped_by_itself = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break false,
                _ = term.recv() => break false,
                _ = ticker.tick() => {
                    if !proxy.is_running() {
                        break true;
                    }
                    let tap = proxy.tap_counts();
                    let mut h = health.write().await;
                    h.set_metric("subscribers", tap.subscribers());
                    h.set_metric("topics", tap.topics.len());
                }
            }
        };
        health
            .write()
            .await
            .set_ready(false, Some("stopping".into()));
        let outcome = proxy
            .terminate()
            .map_err(|e| format!("{} ({})", e, e.code()));
        if let Some(server) = server {
            let _ = server.shutdown().await;
        }
        match (stopped_by_itself, outcome) {
            (true, Ok(())) => Err("the proxy stopped on its own".to_owned()),
            (_, outcome) => outcome,
        }
    })
}
