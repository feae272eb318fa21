//! `execution-engine`: signals in over ZeroMQ, risk-checked orders at an Alpaca-compatible paper broker,
//! `OrderUpdate`s out. See `execution-engine --help` and the crate docs.
//!
//! Threads: the main thread runs the loop (bus, risk, the engine's state) and never waits on the broker:
//! submissions go to the pool's workers, reads (quotes, polls, the exposure) to the engine's readers;
//! a small tokio runtime serves the
//! health endpoints (and the kill-switch routes), watches the kill file, and turns SIGINT/SIGTERM (stop)
//! and SIGUSR1/SIGUSR2 (kill switch on/off) into changes of the shared [`KillSwitch`], which every order
//! submission reads right before it is sent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::sync::RwLock;
use tradebridge_engine::broker::BrokerClient;
use tradebridge_engine::config::Args;
use tradebridge_engine::control;
use tradebridge_engine::engine::{Engine, Outcome, Pool, Prepared, Timing};
use tradebridge_engine::input::Inputs;
use tradebridge_engine::journal::Journal;
use tradebridge_engine::kill::{now_us, KillSwitch, Source};
use tradebridge_engine::mapping::{intent_from_signal, SignalIds};
use tradebridge_engine::report::{export_counters, lock, refresh_health, Exported};
use tradebridge_engine::risk::RiskBook;
use tradebridge_engine::service::{Bus, BusEvent};
use tradebridge_engine::stream::{self as trade_stream, StreamEvent, TradeStreamConfig};
use tradebridge_health::{HealthCheck, HealthServer, Telemetry};

/// Not glibc's malloc: with it RSS crept up through the soak while the live heap stayed flat (what the
/// submission and reader threads freed, the HTTP client's 128 KiB connection buffers above all, stayed in
/// their arenas). mimalloc gives freed pages back. C code (libzmq) still allocates with glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often memory libzmq freed is handed back to the OS ([`release_freed_c_memory`]).
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// libzmq allocates each message with glibc's malloc on its I/O thread. Market data queued while the loop
/// was starved (a second of it is 1,000 bars; the receive high-water mark is 100,000) is freed once read,
/// but glibc keeps the freed chunks in that thread's arena, so a longer stall could raise the RSS a step
/// for good (the soak: RSS stepped up ~1.9 MB in the minute with the longest stalls, then stayed flat).
/// `malloc_trim` gives the free pages of every arena back (madvise), costing a walk of the free lists.
fn release_freed_c_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: takes no pointers; glibc trims only memory on its own free lists, under its arena locks.
    unsafe {
        libc::malloc_trim(0);
    }
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
    let stream_url = args.trade_stream(&url).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    let kill = KillSwitch::new();
    if args.kill_switch {
        kill.engage(Source::Flag);
        tracing::warn!("kill switch engaged from the start (--kill-switch)");
    }
    if args.allow_signal_price {
        tracing::warn!(
            "--allow-signal-price: a symbol without a trusted price is checked against the price the \
             SIGNAL states; whoever publishes signals chooses the notional. Offline demos only."
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    runtime.spawn(watch_signals(stop.clone(), kill.clone()));
    if let Some(path) = &args.kill_switch_file {
        // Checked once before the first signal, then watched off the main loop.
        kill.set_file(path.exists());
        runtime.spawn(watch_file(path.clone(), kill.clone()));
    }

    let health = Arc::new(RwLock::new(
        HealthCheck::healthy("execution-engine").not_ready("starting"),
    ));
    let server = if args.health_port != 0 {
        let token = std::env::var(&args.kill_switch_token_env).ok();
        let routes = control::routes(kill.clone(), token);
        let server = runtime
            .block_on(async {
                Ok::<_, tradebridge_health::HealthServerError>(
                    HealthServer::bind(
                        (args.health_host.as_str(), args.health_port),
                        health.clone(),
                    )
                    .await?
                    .with_routes(routes)
                    .spawn(),
                )
            })
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

    // Events from the trade-updates stream, read by the main loop; the client stops with `_stream`.
    let (stream_events, trade_events) = std::sync::mpsc::channel::<StreamEvent>();
    let _stream = stream_url.map(|stream_url| {
        // wss:// at Alpaca paper: rustls with the provider ureq already builds.
        let _ = rustls::crypto::ring::default_provider().install_default();
        tracing::info!(url = %stream_url, "listening to trade updates");
        trade_stream::spawn(
            runtime.handle(),
            TradeStreamConfig::new(stream_url),
            credentials.clone(),
            stream_events,
        )
    });
    let broker = BrokerClient::new(
        url.clone(),
        credentials,
        Duration::from_millis(args.broker_timeout_ms),
    )
    .with_retry_policy(args.retry_policy())
    .with_idle_connections(args.submit_workers + args.broker_readers);
    // One idempotency window for the ids in memory and the journal's entries: time and count.
    let book = RiskBook::new(limits).with_seen_window(
        Duration::from_millis(args.journal_window_ms),
        args.idempotency_max_ids,
    );
    let run_id = format!("{:x}", now_ms() % 0xff_ffff_ffff);
    let mut engine = Engine::new(book, broker, kill, args.settings(&url), run_id);
    if _stream.is_some() {
        engine.enable_stream(trade_events);
    }

    if let Some(path) = &args.journal {
        let window = Duration::from_millis(args.journal_window_ms);
        let (journal, report) = Journal::open(path, window, args.idempotency_max_ids, now_ms())
            .map_err(|e| format!("{e} ({})", e.code()))?;
        tracing::info!(path = %path.display(), entries = report.entries, unsettled = report.unsettled,
            torn_tail = report.torn_tail, expired = report.expired, "journal loaded");
        engine = engine.with_journal(journal);
    } else {
        tracing::warn!(
            "no --journal: a signal delivered again after a restart is stopped only by the \
            broker's refusal of its client order id"
        );
    }

    let result = (|| {
        // The bus first, so signals sent while the exposure loads are taken and refused (counted), not
        // left to pile up and be ordered later on stale grounds.
        let mut inputs = Inputs::open(&args, runtime.handle(), &telemetry, |k| {
            std::env::var(k).ok()
        })?;
        let bus_args = inputs.bus_args(&args);
        let mut bus = Bus::open(&bus_args).map_err(|e| e.to_string())?;
        for (name, handle) in bus.curve_handles() {
            telemetry.track(name, move || handle.stats().metrics());
        }
        tracing::info!(signals = %bus_args.signal_endpoint, orders = %args.order_endpoint, "bus connected");
        let served = serve(
            &args,
            &mut engine,
            &mut bus,
            &mut inputs,
            &health,
            &telemetry,
            &exported,
            &stop,
        );
        if args.cancel_on_exit {
            engine.cancel_all_open();
        }
        inputs.close(runtime.handle());
        bus.close();
        served.map_err(|e| format!("cannot reach the broker at {url}: {e}"))
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

/// The main loop: exposure load, signals and prices from the bus, order polling, kill-switch actions,
/// health refresh. Fails only when the first exposure load misses `--sync-deadline-ms`.
// The loop's shared pieces, each borrowed where it is made; a struct of these references would only
// rename them.
#[allow(clippy::too_many_arguments)]
fn serve(
    args: &Args,
    engine: &mut Engine,
    bus: &mut Bus,
    inputs: &mut Inputs,
    health: &Arc<RwLock<HealthCheck>>,
    telemetry: &Arc<Telemetry>,
    exported: &Exported,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut pool = Pool::start(
        args.submit_workers,
        args.submit_queue,
        engine.broker_handle(),
        engine.kill_switch().clone(),
        args.rate_gate(),
    )
    .map_err(|e| format!("cannot start the submission workers: {e}"))?;
    let to_ack = telemetry.latency("signal_to_ack");
    let to_fill = telemetry.latency("signal_to_fill");
    let bus_transit = telemetry.latency("signal_bus_transit");
    // A trade-stream frame taken off the socket -> its OrderUpdate published (the engine's own share of
    // the fill-seen latency).
    let stream_to_bus = telemetry.latency("trade_event_to_bus");
    let mut signal_ids = SignalIds::default();
    let mut last_refresh = Instant::now() - Duration::from_secs(1);
    let mut last_trim = Instant::now();
    let kill = engine.kill_switch().clone();
    let started = Instant::now();
    let mut sync = SyncSchedule::new();

    while !stop.load(Ordering::Relaxed) {
        if kill.take_actions_due() {
            if args.kill_switch_cancel_orders {
                engine.cancel_everything();
            }
            if args.kill_switch_flatten {
                engine.flatten();
            }
        }
        if kill.take_resync_due() {
            // Released: the account may have changed meanwhile (flattening, cancels, outside hands).
            engine.mark_unsynced();
            sync = SyncSchedule::new();
        }
        if !engine.is_synced()
            && !engine.sync_in_flight()
            && Instant::now() >= sync.next
            && engine.start_sync()
        {
            health.blocking_write().set_ready(
                false,
                Some("loading open orders and positions from the broker".into()),
            );
        }
        let deadline = Duration::from_millis(args.sync_deadline_ms);
        if !engine.is_synced()
            && engine.counters().exposure_syncs == 0
            && !deadline.is_zero()
            && started.elapsed() >= deadline
        {
            return Err(if sync.last_error.is_empty() {
                format!("no answer within {} ms", deadline.as_millis())
            } else {
                sync.last_error.clone()
            });
        }
        let wait = if engine.open_orders() > 0 && engine.stream_up() {
            // Fills arrive on the stream's channel, which the bus poll cannot wake on: look often.
            Duration::from_millis(1)
        } else if engine.open_orders() > 0 || !engine.is_synced() {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(50)
        };
        // Answers from the workers and readers cannot wake the bus poll: look often while some are due.
        let wait = if pool.in_flight() > 0 || engine.reads_pending() > 0 {
            wait.min(Duration::from_millis(2))
        } else {
            wait
        };
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut timings: Vec<Timing> = Vec::new();
        // JetStream's backlog waits (unacknowledged) until the exposure is loaded, then is ordered.
        for (event, ack) in inputs.poll(bus, wait, engine.is_synced()) {
            match event {
                BusEvent::Signal(signal, received) => {
                    telemetry.messages_processed().inc();
                    // The envelope's `sent_at_us` (the publisher's clock; same host: the bus hop). A
                    // v1.0 peer's signal has none: nothing is invented.
                    if let Some(sent) = signal.sent_at_us {
                        if let Some(micros) = now_us().checked_sub(sent) {
                            bus_transit.observe(Duration::from_micros(micros));
                        }
                    }
                    signal_ids.remember(signal.signal_id.as_deref());
                    let intent = intent_from_signal(&signal, args.max_order_qty);
                    // Decided here, sent by a worker: the loop goes on reading while the broker answers.
                    match engine.prepare(&intent, now_ms(), received, pool.has_room()) {
                        Prepared::Done(o) => {
                            outcomes.extend(o);
                            inputs.done(ack);
                        }
                        Prepared::Submit(job) => {
                            inputs.hold(job.client_order_id(), ack);
                            pool.submit(job)
                        }
                        // Waiting for its quote: acknowledged once decided.
                        Prepared::Held(client_order_id) => inputs.hold(&client_order_id, ack),
                    }
                }
                BusEvent::Price(symbol, price, seen) => {
                    engine.book_mut().set_price(&symbol, price, seen)
                }
                BusEvent::MalformedSignal => {
                    telemetry.malformed_messages().inc();
                    engine.on_malformed();
                }
            }
        }
        for (job, delivery) in pool.answered() {
            // Acknowledged once completed (journal settled): a crash before it means a redelivery.
            let client_order_id = job.client_order_id().to_owned();
            let (o, t) = engine.complete(job, delivery);
            inputs.answered(&client_order_id);
            outcomes.extend(o);
            timings.extend(t);
        }
        let (o, t) = engine.take_answers();
        outcomes.extend(o);
        timings.extend(t);
        if let Some(loaded) = engine.take_sync_result() {
            on_sync(loaded, engine, bus, health, exported, &mut sync);
        }
        // Signals whose quote arrived (or failed, or whose wait is over), in arrival order.
        while let Some((client_order_id, prepared)) = engine.next_resumed(now_ms(), pool.has_room())
        {
            match prepared {
                Prepared::Done(o) => {
                    outcomes.extend(o);
                    inputs.answered(&client_order_id);
                }
                Prepared::Submit(job) => pool.submit(job),
                Prepared::Held(_) => {}
            }
        }
        let (o, t, heard) = engine.drain_stream();
        outcomes.extend(o);
        timings.extend(t);
        engine.poll_orders(Instant::now());
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
            if let Some(update) = signal_ids.update_for(outcome, now_ms()) {
                if let Err(error) = bus.publish(&update) {
                    tracing::warn!(%error, "cannot publish an order update");
                }
            }
        }
        let published = now_us();
        for at in heard {
            stream_to_bus.observe(Duration::from_micros(published.saturating_sub(at)));
        }

        let now = Instant::now();
        if now.duration_since(last_refresh) >= Duration::from_millis(100) {
            last_refresh = now;
            refresh_health(engine, bus, health);
            export_counters(engine, exported);
        }
        if now.duration_since(last_trim) >= TRIM_EVERY {
            last_trim = now;
            release_freed_c_memory();
        }
    }
    // Stopping: no more signals; those waiting for a quote are refused (never journaled), sends in
    // flight get a short grace, then the journal is flushed. Reads on their way are not waited for.
    for outcome in engine.release_held() {
        if let Some(update) = signal_ids.update_for(&outcome, now_ms()) {
            let _ = bus.publish(&update);
        }
    }
    let grace = Instant::now() + Duration::from_millis(args.shutdown_grace_ms);
    for (job, delivery) in pool.drain(grace) {
        let client_order_id = job.client_order_id().to_owned();
        for outcome in engine.complete(job, delivery).0 {
            if let Some(update) = signal_ids.update_for(&outcome, now_ms()) {
                let _ = bus.publish(&update);
            }
        }
        inputs.answered(&client_order_id);
    }
    if pool.in_flight() > 0 {
        tracing::warn!(
            in_flight = pool.in_flight(),
            "exiting with sends unanswered; their journal entries are checked at the next start"
        );
    }
    engine.sync_journal();
    refresh_health(engine, bus, health);
    export_counters(engine, exported);
    Ok(())
}

/// When to try loading the exposure again, and why the last try failed.
struct SyncSchedule {
    next: Instant,
    backoff: Duration,
    last_error: String,
}

impl SyncSchedule {
    fn new() -> Self {
        SyncSchedule {
            next: Instant::now(),
            backoff: Duration::from_millis(100),
            last_error: String::new(),
        }
    }
}

/// An exposure load answered: ready on success (after the metrics show the loaded exposure), else
/// `/ready` says why and the next try is scheduled.
fn on_sync(
    loaded: Result<(usize, usize), String>,
    engine: &mut Engine,
    bus: &mut Bus,
    health: &Arc<RwLock<HealthCheck>>,
    exported: &Exported,
    sync: &mut SyncSchedule,
) {
    match loaded {
        Ok((positions, orders)) => {
            tracing::info!(broker = %engine.broker().base(), positions, open_orders = orders,
                "exposure loaded from the broker");
            *sync = SyncSchedule::new();
            // Metrics first, then ready: whoever waits for ready reads the loaded exposure.
            refresh_health(engine, bus, health);
            export_counters(engine, exported);
            health.blocking_write().set_ready(true, None);
        }
        Err(error) => {
            tracing::warn!(%error, retry_ms = sync.backoff.as_millis() as u64,
                "cannot load open orders and positions; signals are refused until it works");
            health.blocking_write().set_ready(
                false,
                Some(format!(
                    "exposure unknown: cannot load open orders and positions from the broker: {error}"
                )),
            );
            sync.last_error = error;
            sync.next = Instant::now() + sync.backoff;
            sync.backoff = (sync.backoff * 2).min(Duration::from_secs(2));
        }
    }
}

async fn watch_signals(stop: Arc<AtomicBool>, kill: KillSwitch) {
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
        let engage = tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = usr1.recv() => true,
            _ = usr2.recv() => false,
        };
        let kill = kill.clone();
        // Off the async workers: engaging waits for an order attempt in flight to be answered.
        let change = tokio::task::spawn_blocking(move || {
            if engage {
                kill.engage(Source::Signal)
            } else {
                kill.release(Source::Signal)
            }
        })
        .await;
        match change {
            Ok(c) if c.transition => tracing::warn!(
                engaged = c.engaged,
                source = "signal",
                "kill switch changed"
            ),
            Ok(c) if !engage && c.engaged => {
                tracing::warn!("SIGUSR2 ignored: the kill-switch file still exists")
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "kill switch change failed"),
        }
    }
    tracing::info!("stopping");
    stop.store(true, Ordering::Relaxed);
}

/// Engaged while the file exists: checked every 20 ms, off the main loop (which may be busy sending).
async fn watch_file(path: PathBuf, kill: KillSwitch) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut present = path.exists();
    loop {
        tick.tick().await;
        let now = path.exists();
        if now == present {
            continue;
        }
        present = now;
        let kill = kill.clone();
        if let Ok(change) = tokio::task::spawn_blocking(move || kill.set_file(now)).await {
            if change.transition {
                tracing::warn!(engaged = change.engaged, source = "file", path = %path.display(), "kill switch changed");
            }
        }
    }
}
