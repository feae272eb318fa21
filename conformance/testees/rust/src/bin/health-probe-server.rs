//! A health server whose state is driven over stdin, for conformance tests and load benchmarks.
//!
//! Prints `listening <addr>` on stdout once bound, then answers each stdin command with one line
//! (`ok`, a JSON object for `lag`, or `error <reason>`):
//!
//! ```text
//! status healthy|degraded|unhealthy [message...]
//! metric <name> <value>
//! ready true|false [reason...]
//! count processed|malformed|gaps <n>
//! latency <stage> <seconds>
//! track <source> <key>=<n>[,<key>=<n>...]
//! lag              tick-lag statistics of the simulated main loop (needs --tick-ms)
//! lag reset
//! quit
//! ```
//! Exits 0 on `quit`, end of stdin, SIGINT or SIGTERM.
#![allow(clippy::print_stdout)] // its stdout is the protocol the tests read

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::RwLock;
use tradebridge_health::{HealthCheck, HealthServer, HealthStatus, HttpLimits, SharedHealth};

#[derive(Parser, Debug)]
#[command(about = "Serve a stdin-controlled HealthCheck (tests and benchmarks)")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Component name in the bodies.
    #[arg(long, default_value = "health-probe")]
    component: String,
    /// Run a simulated main loop ticking every N ms and record how late each tick is.
    #[arg(long)]
    tick_ms: Option<u64>,
    /// Connections served at once (the excess gets 503); default: the crate's.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Milliseconds a client has to send a request head; default: the crate's.
    #[arg(long)]
    header_timeout_ms: Option<u64>,
}

/// Lateness of each tick of the simulated main loop, in microseconds.
#[derive(Default)]
struct TickLag {
    lags_us: Vec<u64>,
}

impl TickLag {
    fn summary(&self) -> serde_json::Value {
        let mut sorted = self.lags_us.clone();
        sorted.sort_unstable();
        let pick = |q: f64| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            let index = ((sorted.len() - 1) as f64 * q).round() as usize;
            sorted[index]
        };
        let mean = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().sum::<u64>() as f64 / sorted.len() as f64
        };
        serde_json::json!({
            "ticks": sorted.len(),
            "mean_us": mean,
            "p50_us": pick(0.5),
            "p99_us": pick(0.99),
            "max_us": sorted.last().copied().unwrap_or(0),
        })
    }
}

async fn tick_loop(period: Duration, lag: Arc<Mutex<TickLag>>) {
    let mut next = Instant::now() + period;
    loop {
        tokio::time::sleep_until(next.into()).await;
        let late = Instant::now().saturating_duration_since(next);
        let mut lag = lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lag.lags_us.len() < 10_000_000 {
            lag.lags_us
                .push(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
        }
        drop(lag);
        // Schedule from the ideal time so that lateness is not forgiven by drifting the schedule.
        next += period;
        let now = Instant::now();
        if next < now {
            next = now + period;
        }
    }
}

async fn apply(
    command: &str,
    health: &SharedHealth,
    lag: &Arc<Mutex<TickLag>>,
) -> Result<String, String> {
    let mut words = command.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let tail = |from: usize| rest.get(from..).map(|w| w.join(" ")).unwrap_or_default();
    match (verb, rest.as_slice()) {
        ("status", [status, ..]) => {
            let status = match *status {
                "healthy" => HealthStatus::Healthy,
                "degraded" => HealthStatus::Degraded,
                "unhealthy" => HealthStatus::Unhealthy,
                other => return Err(format!("unknown status {other:?}")),
            };
            let message = match (status, tail(1)) {
                (HealthStatus::Healthy, m) if m.is_empty() => {
                    tradebridge_health::OPERATIONAL_MESSAGE.to_owned()
                }
                (_, m) => m,
            };
            health.write().await.set_status(status, message);
        }
        ("metric", [name, value]) => health.write().await.set_metric(*name, value),
        ("ready", ["true"]) => health.write().await.set_ready(true, None),
        ("ready", ["false", ..]) => health
            .write()
            .await
            .set_ready(false, Some(tail(1)).filter(|r| !r.is_empty())),
        ("count", [which, n]) => {
            let n: u64 = n.parse().map_err(|e| format!("bad count {n:?}: {e}"))?;
            let telemetry = health.read().await.telemetry().clone();
            match *which {
                "processed" => telemetry.messages_processed().add(n),
                "malformed" => telemetry.malformed_messages().add(n),
                "gaps" => telemetry.sequence_gaps().add(n),
                other => return Err(format!("unknown counter {other:?}")),
            }
        }
        ("latency", [stage, seconds]) => {
            let seconds: f64 = seconds
                .parse()
                .map_err(|e| format!("bad seconds {seconds:?}: {e}"))?;
            health
                .read()
                .await
                .telemetry()
                .latency(stage)
                .observe_seconds(seconds);
        }
        ("track", [source, pairs]) => {
            let mut stats = Vec::new();
            for pair in pairs.split(',') {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("bad pair {pair:?}"))?;
                let value: u64 = value
                    .parse()
                    .map_err(|e| format!("bad value {value:?}: {e}"))?;
                // Keys live for the process: leaking a few test strings keeps the source `'static`.
                stats.push((&*Box::leak(key.to_owned().into_boxed_str()), value));
            }
            health
                .read()
                .await
                .telemetry()
                .track(*source, move || stats.clone());
        }
        ("lag", []) => {
            let lag = lag
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            return Ok(lag.summary().to_string());
        }
        ("lag", ["reset"]) => lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .lags_us
            .clear(),
        _ => return Err(format!("unknown command {command:?}")),
    }
    Ok("ok".to_owned())
}

async fn control(health: SharedHealth, lag: Arc<Mutex<TickLag>>) -> std::io::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line == "quit" {
            break;
        }
        if line.is_empty() {
            continue;
        }
        let reply = apply(line, &health, &lag)
            .await
            .unwrap_or_else(|e| format!("error {e}"));
        stdout.write_all(format!("{reply}\n").as_bytes()).await?;
        stdout.flush().await?;
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. Built (and the handlers installed) before the probe says it is
/// listening, so a signal sent right after that line is never the default, fatal one.
#[cfg(unix)]
fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[tokio::main]
async fn main() {
    let code = run(Args::parse()).await;
    // Exit here rather than by returning: tokio's stdin reader sits in a blocking thread the runtime
    // would wait for on shutdown, so a SIGTERM while stdin is open would otherwise never finish.
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let terminated = match terminated() {
        Ok(terminated) => terminated,
        Err(e) => {
            eprintln!("health-probe-server: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let health: SharedHealth = Arc::new(RwLock::new(HealthCheck::healthy(args.component.clone())));
    let mut limits = HttpLimits::default();
    if let Some(n) = args.max_connections {
        limits.max_connections = n;
    }
    if let Some(ms) = args.header_timeout_ms {
        limits.header_read_timeout = Duration::from_millis(ms);
    }
    let server = match HealthServer::bind((args.host.as_str(), args.port), health.clone()).await {
        Ok(server) => server.with_limits(limits),
        Err(e) => {
            eprintln!("health-probe-server: {e}");
            return 1;
        }
    };
    println!("listening {}", server.local_addr());
    let running = server.spawn();

    let lag = Arc::new(Mutex::new(TickLag::default()));
    if let Some(ms) = args.tick_ms {
        tokio::spawn(tick_loop(Duration::from_millis(ms.max(1)), lag.clone()));
    }

    let result = tokio::select! {
        r = control(health, lag) => r,
        () = terminated => Ok(()),
    };
    if let Err(e) = running.shutdown().await {
        eprintln!("health-probe-server: {e}");
        return 1;
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("health-probe-server: stdin: {e}");
            1
        }
    }
}
