//! `execution-engine`: signals in over ZeroMQ, risk-checked orders at an Alpaca-compatible paper broker,
//! `OrderUpdate`s out. See `execution-engine --help` and the crate docs.
//!
//! Threads: the main thread runs the blocking loop (bus, risk, broker); a small tokio runtime serves the
//! health endpoints and turns SIGINT/SIGTERM (stop) and SIGUSR1/SIGUSR2 (kill switch on/off) into flags.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::sync::RwLock;
use tradebridge_engine::broker::BrokerClient;
use tradebridge_engine::config::Args;
use tradebridge_engine::engine::{Engine, Outcome, Timing};
use tradebridge_engine::mapping::{intent_from_signal, order_update};
use tradebridge_engine::risk::RiskBook;
use tradebridge_engine::service::{Bus, BusEvent};
use tradebridge_engine::transit::TransitSamples;
use tradebridge_health::{
    spawn_health_server, HealthCheck, HealthStatus, Telemetry, OPERATIONAL_MESSAGE,
};

/// Kill switch requests from signals: 0 = none, 1 = engage, 2 = release.
static KILL_REQUEST: AtomicU8 = AtomicU8::new(0);

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("execution-engine: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let limits = args.limits().map_err(|e| e.to_string())?;
    let (url, credentials) = args
        .broker(|k| std::env::var(k).ok())
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    runtime.spawn(watch_signals(stop.clone()));

    let health = Arc::new(RwLock::new(
        HealthCheck::healthy("execution-engine").not_ready("starting"),
    ));
    let server = if args.health_port != 0 {
        let server = runtime
            .block_on(spawn_health_server(args.health_port, health.clone()))
            .map_err(|e| format!("cannot serve health on port {}: {e}", args.health_port))?;
        tracing::info!(port = server.port(), "health endpoints up");
        Some(server)
    } else {
        None
    };
    let telemetry = health.blocking_read().telemetry().clone();
    // The engine's counters, refusal reasons included, as `/metrics` counters too (read at each scrape).
    let exported: Exported = Arc::default();
    telemetry.track("engine", {
        let exported = exported.clone();
        move || lock(&exported).clone()
    });

    let broker = BrokerClient::new(
        url.clone(),
        credentials,
        Duration::from_millis(args.broker_timeout_ms),
    )
    .with_retry_policy(args.retry_policy());
    let mut book = RiskBook::new(limits);
    book.set_kill_switch(args.kill_switch);
    let run_id = format!("{:x}", now_ms() % 0xff_ffff_ffff);
    let mut engine = Engine::new(book, broker, args.settings(&url), run_id);

    let result = (|| {
        let held = engine
            .sync_positions()
            .map_err(|e| format!("cannot reach the broker at {url}: {e}"))?;
        tracing::info!(broker = %url, positions = held, "broker reachable");
        let mut bus = Bus::open(&args).map_err(|e| e.to_string())?;
        tracing::info!(signals = %args.signal_endpoint, orders = %args.order_endpoint, "bus connected");
        health.blocking_write().set_ready(true, None);
        serve(
            &args,
            &mut engine,
            &mut bus,
            &health,
            &telemetry,
            &exported,
            &stop,
        );
        if args.cancel_on_exit {
            engine.cancel_all_open();
        }
        bus.close();
        Ok(())
    })();

    if result.is_ok() {
        let c = engine.counters();
        let refused: Vec<String> = engine
            .book()
            .refusal_counts()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{}={n}", r.as_str()))
            .collect();
        tracing::info!(
            signals = c.signals_received,
            orders = c.orders_submitted,
            filled = c.orders_filled,
            open = engine.open_orders(),
            refused = %refused.join(","),
            "execution-engine stopped"
        );
    }
    if let Some(server) = server {
        let _ = runtime.block_on(server.shutdown());
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The main loop: signals and prices from the bus, order polling, health refresh, kill switch.
fn serve(
    args: &Args,
    engine: &mut Engine,
    bus: &mut Bus,
    health: &Arc<RwLock<HealthCheck>>,
    telemetry: &Arc<Telemetry>,
    exported: &Exported,
    stop: &AtomicBool,
) {
    let to_ack = telemetry.latency("signal_to_ack");
    let to_fill = telemetry.latency("signal_to_fill");
    let bus_transit = telemetry.latency("signal_bus_transit");
    let mut transit = TransitSamples::new(10_000);
    let mut last_refresh = Instant::now() - Duration::from_secs(1);
    let mut last_file_check = last_refresh;
    let mut file_engaged = false;
    let base_kill = args.kill_switch;
    let mut manual: Option<bool> = None;

    while !stop.load(Ordering::Relaxed) {
        let wait = if engine.open_orders() > 0 {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(50)
        };
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut timings: Vec<Timing> = Vec::new();
        for event in bus.poll(wait) {
            match event {
                BusEvent::Signal(signal, received) => {
                    telemetry.messages_processed().inc();
                    if let Some(ms) = transit.observe(&signal, now_us()) {
                        bus_transit.observe_seconds(ms / 1_000.0);
                    }
                    let intent = intent_from_signal(&signal, args.max_order_qty);
                    let (o, t) = engine.on_intent(&intent, now_ms(), received);
                    outcomes.extend(o);
                    timings.extend(t);
                }
                BusEvent::Price(symbol, price) => engine.book_mut().set_price(&symbol, price),
                BusEvent::MalformedSignal => {
                    telemetry.malformed_messages().inc();
                    engine.on_malformed();
                }
            }
        }
        let (o, t) = engine.poll_orders(Instant::now());
        outcomes.extend(o);
        timings.extend(t);
        for timing in timings {
            match timing {
                Timing::SubmitToAck(d) => to_ack.observe(d),
                Timing::SubmitToFill(d) => to_fill.observe(d),
            }
        }
        for outcome in &outcomes {
            if let Outcome::Refused {
                reason,
                client_order_id,
                symbol,
                ..
            } = outcome
            {
                tracing::debug!(%client_order_id, %symbol, reason = reason.as_str(), "signal refused");
            }
            if let Some(update) = order_update(outcome, now_ms()) {
                if let Err(error) = bus.publish(&update) {
                    tracing::warn!(%error, "cannot publish an order update");
                }
            }
        }

        let now = Instant::now();
        match KILL_REQUEST.swap(0, Ordering::Relaxed) {
            1 => manual = Some(true),
            2 => manual = Some(false),
            _ => {}
        }
        if let Some(path) = &args.kill_switch_file {
            if now.duration_since(last_file_check) >= Duration::from_millis(100) {
                last_file_check = now;
                file_engaged = path.exists();
            }
        }
        let engaged = file_engaged || manual.unwrap_or(base_kill);
        if engaged != engine.book().kill_switch() {
            tracing::warn!(engaged, "kill switch changed");
            engine.book_mut().set_kill_switch(engaged);
        }
        if now.duration_since(last_refresh) >= Duration::from_millis(100) {
            last_refresh = now;
            refresh_health(engine, bus, health, &transit);
            export_counters(engine, exported);
        }
    }
    refresh_health(engine, bus, health, &transit);
    export_counters(engine, exported);
}

/// Counter snapshot shared with the `/metrics` renderer.
type Exported = Arc<std::sync::Mutex<Vec<(&'static str, u64)>>>;

fn lock(exported: &Exported) -> std::sync::MutexGuard<'_, Vec<(&'static str, u64)>> {
    exported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every counter of the engine and of its broker client, each refusal reason by name (zeros included):
/// `tradebridge_<name>_total{source="engine"}` in `/metrics`, `engine_<name>` in `/health`.
fn export_counters(engine: &Engine, exported: &Exported) {
    let c = engine.counters();
    let book = engine.book();
    let mut out = vec![
        ("signals_received", c.signals_received),
        ("orders_submitted", c.orders_submitted),
        ("orders_acknowledged", c.orders_acknowledged),
        ("orders_filled", c.orders_filled),
        ("orders_final_unfilled", c.orders_final_unfilled),
        ("orders_lookup_failed", c.orders_lookup_failed),
        ("fills", c.fills),
        ("order_updates", c.order_updates),
        ("broker_errors", c.broker_errors),
        ("refused_total", book.refused_total()),
    ];
    out.extend(
        book.refusal_counts()
            .iter()
            .map(|(reason, n)| (reason.metric_name(), *n)),
    );
    out.extend(engine.broker().stats().snapshot());
    *lock(exported) = out;
}

fn refresh_health(
    engine: &Engine,
    bus: &mut Bus,
    health: &Arc<RwLock<HealthCheck>>,
    transit: &TransitSamples,
) {
    let c = engine.counters();
    let book = engine.book();
    let mut h = health.blocking_write();
    h.set_metric("signals_received", c.signals_received);
    h.set_metric("orders_submitted", c.orders_submitted);
    h.set_metric("orders_acknowledged", c.orders_acknowledged);
    h.set_metric("orders_filled", c.orders_filled);
    h.set_metric("orders_final_unfilled", c.orders_final_unfilled);
    h.set_metric("orders_open", engine.open_orders());
    h.set_metric("fills", c.fills);
    h.set_metric("filled_shares", c.filled_shares);
    h.set_metric("order_updates", c.order_updates);
    h.set_metric("refused_total", book.refused_total());
    // Every reason is listed, zeros included, so dashboards see them all from the start.
    for (reason, n) in book.refusal_counts() {
        h.set_metric(format!("refused_{}", reason.as_str()), n);
    }
    h.set_metric("kill_switch", book.kill_switch());
    for (name, value) in bus.stats() {
        h.set_metric(name, value);
    }
    let mut positions: Vec<_> = book
        .positions()
        .iter()
        .filter(|(_, q)| **q != 0.0)
        .collect();
    positions.sort_by(|a, b| a.0.cmp(b.0));
    let text: Vec<String> = positions.iter().map(|(s, q)| format!("{s}:{q}")).collect();
    h.set_metric("positions", text.join(","));
    h.set_metric("broker_errors", c.broker_errors);
    h.set_metric("orders_lookup_failed", c.orders_lookup_failed);
    h.set_metric(
        "orders_lookup_failed_ids",
        engine.unresolved_orders().join(","),
    );
    for (name, value) in engine.broker().stats().snapshot() {
        h.set_metric(name, value);
    }
    if let Some(remaining) = engine.broker().stats().rate_limit_remaining() {
        h.set_metric("broker_rate_limit_remaining", remaining);
    }
    // Signal published -> received here, from the publisher's `metadata.published_us` (same host clock).
    h.set_metric("signal_transit_samples", transit.len());
    for (name, q) in [
        ("signal_transit_p50_ms", 50.0),
        ("signal_transit_p99_ms", 99.0),
    ] {
        if let Some(ms) = transit.percentile(q) {
            h.set_metric(name, format!("{ms:.3}"));
        }
    }
    if book.kill_switch() {
        h.set_status(
            HealthStatus::Degraded,
            "kill switch engaged: every signal is refused",
        );
    } else if let Some(until) = engine.broker().held_off_until() {
        let wait = until.saturating_duration_since(Instant::now()).as_millis();
        h.set_status(
            HealthStatus::Degraded,
            format!("broker rate limit reached: requests held off for {wait} ms"),
        );
    } else if let Some(error) = engine.recent_broker_error(Duration::from_secs(5)) {
        h.set_status(HealthStatus::Degraded, format!("broker errors: {error}"));
    } else if h.status() == HealthStatus::Degraded {
        h.set_status(HealthStatus::Healthy, OPERATIONAL_MESSAGE);
    }
}

async fn watch_signals(stop: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = usr1.recv() => KILL_REQUEST.store(1, Ordering::Relaxed),
            _ = usr2.recv() => KILL_REQUEST.store(2, Ordering::Relaxed),
        }
    }
    tracing::info!("stopping");
    stop.store(true, Ordering::Relaxed);
}
