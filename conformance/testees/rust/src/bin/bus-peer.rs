//! `bus-peer`: a Rust peer on the tradebridge bus, for conformance tests and debugging.
//!
//! - `publish`: publish N generated messages of a type, or the frames read from stdin (one
//!   `<topic> <json>` per line, decoded and validated first), then print a JSON summary.
//! - `subscribe`: receive and count (optionally printing each message as a frame line), then print a
//!   JSON summary with the subscriber's stats.
//! - `echo`: subscribe to one endpoint and republish every valid message to another.
//! - `decode-bench`: the subscriber's decode path over pre-encoded frames, messages per second.
//!
//! Output: message lines and the final summary on stdout (the summary is the line starting with `{`),
//! diagnostics on stderr. Exits 0 after SIGINT/SIGTERM with the summary, non-zero with a one-line
//! reason when it cannot bind or connect.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use tradebridge_bus::{BusError, Options, Publisher, Subscriber};
use tradebridge_contracts::{
    decode_frame, encode_frame, BarUpdate, Direction, HealthStatus, Heartbeat, Message,
    OrderStatus, OrderType, OrderUpdate, QuoteUpdate, SchemaVersion, Side, Signal, Topic,
    TradeUpdate,
};

static STOP: AtomicBool = AtomicBool::new(false);
/// How often a waiting loop looks at the stop flag.
const SLICE: Duration = Duration::from_millis(100);

#[derive(Parser)]
#[command(name = "bus-peer", about = "A Rust peer on the tradebridge ZeroMQ bus")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish generated messages (--type, --count) or stdin frames (--stdin).
    Publish {
        #[arg(long)]
        endpoint: String,
        /// Connect instead of binding.
        #[arg(long)]
        connect: bool,
        #[arg(long = "type", value_enum, default_value = "bar")]
        kind: Kind,
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Publish the frames read from stdin instead of generated ones.
        #[arg(long)]
        stdin: bool,
        /// Wait for this many subscribers first.
        #[arg(long, default_value_t = 0)]
        wait_for_subscribers: usize,
        #[arg(long, default_value_t = 10_000)]
        wait_timeout_ms: u64,
        /// Messages per second (0: unthrottled).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Send-queue limit per subscriber (0: unbounded).
        #[arg(long)]
        send_hwm: Option<i32>,
        /// The instance id written into every message (a fixed one lets a restart be seen as one).
        #[arg(long)]
        source: Option<String>,
    },
    /// Receive and count; print each message with --print.
    Subscribe {
        #[arg(long)]
        endpoint: String,
        /// Bind instead of connecting.
        #[arg(long)]
        bind: bool,
        /// Comma-separated topics (all when empty).
        #[arg(long, default_value = "")]
        topics: String,
        /// Stop after this many messages (0: until idle or stopped).
        #[arg(long, default_value_t = 0)]
        count: u64,
        /// Stop when nothing arrived for this long (0: never).
        #[arg(long, default_value_t = 0)]
        idle_timeout_ms: u64,
        /// Print each message as a `<topic> <json>` line.
        #[arg(long)]
        print: bool,
        /// Sleep this long after each message (a deliberately slow subscriber).
        #[arg(long, default_value_t = 0)]
        delay_us: u64,
        /// Receive-queue limit (0: unbounded).
        #[arg(long)]
        receive_hwm: Option<i32>,
        /// Refuse (and count as too_large) frames above this many bytes.
        #[arg(long)]
        max_message_bytes: Option<i64>,
        /// Streams the loss accounting follows before forgetting the least recently heard.
        #[arg(long)]
        max_sources: Option<std::num::NonZeroUsize>,
        /// Read bare NaN/Infinity tokens inside a signal's features as null (counted in nan_tokens).
        #[arg(long)]
        allow_nan_tokens: bool,
    },
    /// Subscribe to --from and republish every valid message on --to.
    Echo {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        topics: String,
        #[arg(long, default_value_t = 0)]
        count: u64,
        /// Wait for this many subscribers on --to before echoing.
        #[arg(long, default_value_t = 0)]
        wait_for_subscribers: usize,
        #[arg(long, default_value_t = 10_000)]
        wait_timeout_ms: u64,
        #[arg(long, default_value_t = 0)]
        idle_timeout_ms: u64,
    },
    /// Decode pre-encoded frames through the subscriber's path; print messages per second.
    DecodeBench {
        #[arg(long = "type", value_enum, default_value = "bar")]
        kind: Kind,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Bar,
    Trade,
    Quote,
    Signal,
    Order,
    Heartbeat,
    /// Every type in turn.
    All,
}

fn main() -> ExitCode {
    install_stop_handlers();
    let result = match Cli::parse().command {
        Command::Publish {
            endpoint,
            connect,
            kind,
            count,
            stdin,
            wait_for_subscribers,
            wait_timeout_ms,
            rate,
            send_hwm,
            source,
        } => publish(PublishArgs {
            endpoint,
            connect,
            kind,
            count,
            stdin,
            wait_for_subscribers,
            wait_timeout: Duration::from_millis(wait_timeout_ms),
            rate,
            send_hwm,
            source,
        }),
        Command::Subscribe {
            endpoint,
            bind,
            topics,
            count,
            idle_timeout_ms,
            print,
            delay_us,
            receive_hwm,
            max_message_bytes,
            max_sources,
            allow_nan_tokens,
        } => subscribe(SubscribeArgs {
            endpoint,
            bind,
            topics,
            count,
            idle_timeout: idle(idle_timeout_ms),
            print,
            delay: Duration::from_micros(delay_us),
            receive_hwm,
            max_message_bytes,
            max_sources,
            allow_nan_tokens,
        }),
        Command::Echo {
            from,
            to,
            topics,
            count,
            wait_for_subscribers,
            wait_timeout_ms,
            idle_timeout_ms,
        } => echo(
            &from,
            &to,
            &topics,
            count,
            wait_for_subscribers,
            Duration::from_millis(wait_timeout_ms),
            idle(idle_timeout_ms),
        ),
        Command::DecodeBench { kind, count } => decode_bench(kind, count),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bus-peer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn idle(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_stop_handlers() {
    let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

fn parse_topics(text: &str) -> Result<Vec<Topic>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            Topic::parse(t)
                .ok_or_else(|| format!("unknown topic {t:?} (market, signal, order, system)"))
        })
        .collect()
}

fn summary_line(value: serde_json::Value) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

struct PublishArgs {
    endpoint: String,
    connect: bool,
    kind: Kind,
    count: u64,
    stdin: bool,
    wait_for_subscribers: usize,
    wait_timeout: Duration,
    rate: f64,
    send_hwm: Option<i32>,
    source: Option<String>,
}

fn publish(args: PublishArgs) -> Result<(), String> {
    let mut options = Options::default();
    if let Some(hwm) = args.send_hwm {
        options.send_hwm = hwm;
    }
    let mut publisher = Publisher::new(&args.endpoint, !args.connect, options, None, args.source)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "bus-peer: publishing on {} (source {})",
        publisher.endpoint(),
        publisher.source()
    );
    // read everything first, so a bad line fails before anything is sent
    let messages: Option<Vec<Message>> = if args.stdin {
        Some(read_frames()?)
    } else {
        None
    };
    if args.wait_for_subscribers > 0 {
        wait(&mut publisher, args.wait_for_subscribers, args.wait_timeout)?;
    }
    let started = Instant::now();
    let total = messages.as_ref().map_or(args.count, |m| m.len() as u64);
    for i in 0..total {
        if stopping() {
            break;
        }
        let generated;
        let message = match &messages {
            Some(messages) => &messages[i as usize],
            None => {
                generated = sample(args.kind, i);
                &generated
            }
        };
        publisher.publish(message).map_err(|e| e.to_string())?;
        if args.rate > 0.0 {
            let due = started + Duration::from_secs_f64((i + 1) as f64 / args.rate);
            if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(ahead);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    summary_line(json!({
        "published": publisher.published(),
        "source": publisher.source(),
        "endpoint": publisher.endpoint(),
        "elapsed_s": elapsed,
        "per_second": publisher.published() as f64 / elapsed.max(1e-9),
    }))
}

/// Wait for subscribers in slices, so SIGTERM still ends the wait promptly.
fn wait(publisher: &mut Publisher, n: usize, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if stopping() {
            return Ok(());
        }
        match publisher.wait_for_subscribers(n, SLICE, None) {
            Ok(_) => return Ok(()),
            Err(BusError::SubscriberTimeout { .. }) if Instant::now() < deadline => continue,
            Err(BusError::SubscriberTimeout { seen, .. }) => {
                return Err(format!(
                    "{seen} of {n} subscriber(s) after {} ms",
                    timeout.as_millis()
                ))
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

fn read_frames() -> Result<Vec<Message>, String> {
    let mut messages = Vec::new();
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let (_, message) =
            decode_frame(line.as_bytes()).map_err(|e| format!("stdin line {}: {e}", number + 1))?;
        messages.push(message);
    }
    Ok(messages)
}

struct SubscribeArgs {
    endpoint: String,
    bind: bool,
    topics: String,
    count: u64,
    idle_timeout: Option<Duration>,
    print: bool,
    delay: Duration,
    receive_hwm: Option<i32>,
    max_message_bytes: Option<i64>,
    max_sources: Option<std::num::NonZeroUsize>,
    allow_nan_tokens: bool,
}

fn subscribe(args: SubscribeArgs) -> Result<(), String> {
    let topics = parse_topics(&args.topics)?;
    let mut options = Options::default();
    if let Some(hwm) = args.receive_hwm {
        options.receive_hwm = hwm;
    }
    if let Some(limit) = args.max_message_bytes {
        options.max_message_bytes = limit;
    }
    if let Some(max) = args.max_sources {
        options.max_sources = max;
    }
    options.allow_nan_tokens = args.allow_nan_tokens;
    let mut subscriber = Subscriber::new(&args.endpoint, &topics, args.bind, options, None)
        .map_err(|e| e.to_string())?;
    eprintln!("bus-peer: subscribed to {}", subscriber.endpoint());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first: Option<Instant> = None;
    let mut last_message = Instant::now();
    let mut received = 0u64;
    while !stopping() && (args.count == 0 || received < args.count) {
        match subscriber.recv_timeout(SLICE).map_err(|e| e.to_string())? {
            Some((topic, message)) => {
                first.get_or_insert_with(Instant::now);
                last_message = Instant::now();
                received += 1;
                if args.print {
                    let frame = encode_frame(&message);
                    debug_assert!(frame.starts_with(topic.as_str().as_bytes()));
                    out.write_all(&frame)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(|e| e.to_string())?;
                }
                if !args.delay.is_zero() {
                    std::thread::sleep(args.delay);
                }
            }
            None => {
                if args
                    .idle_timeout
                    .is_some_and(|idle| last_message.elapsed() >= idle)
                {
                    break;
                }
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let elapsed = first.map_or(0.0, |t| last_message.duration_since(t).as_secs_f64());
    summary_line(json!({
        "stats": subscriber.stats(),
        "transit_p50_us": subscriber.stats().transit.p50_us(),
        "transit_p99_us": subscriber.stats().transit.p99_us(),
        "elapsed_s": elapsed,
        "per_second": if elapsed > 0.0 { received as f64 / elapsed } else { 0.0 },
    }))
}

fn echo(
    from: &str,
    to: &str,
    topics: &str,
    count: u64,
    wait_for_subscribers: usize,
    wait_timeout: Duration,
    idle_timeout: Option<Duration>,
) -> Result<(), String> {
    let topics = parse_topics(topics)?;
    // One context for both sockets: one libzmq I/O thread rather than two, so a message crosses one
    // thread hand-off fewer on its way through (on two cores, a wake-up fewer per round trip).
    let context = zmq::Context::new();
    let mut publisher = Publisher::new(to, true, Options::default(), Some(&context), None)
        .map_err(|e| e.to_string())?;
    if wait_for_subscribers > 0 {
        wait(&mut publisher, wait_for_subscribers, wait_timeout)?;
    }
    let mut subscriber = Subscriber::new(from, &topics, false, Options::default(), Some(&context))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "bus-peer: echoing {} -> {}",
        subscriber.endpoint(),
        publisher.endpoint()
    );
    let mut echoed = 0u64;
    let mut last_message = Instant::now();
    while !stopping() && (count == 0 || echoed < count) {
        match subscriber.recv_timeout(SLICE).map_err(|e| e.to_string())? {
            Some((_, message)) => {
                publisher.publish(&message).map_err(|e| e.to_string())?;
                echoed += 1;
                last_message = Instant::now();
            }
            None => {
                if idle_timeout.is_some_and(|idle| last_message.elapsed() >= idle) {
                    break;
                }
            }
        }
    }
    summary_line(
        json!({ "echoed": echoed, "stats": subscriber.stats(), "source": publisher.source() }),
    )
}

fn decode_bench(kind: Kind, count: u64) -> Result<(), String> {
    // frames exactly as a publisher sends them (with the envelope), decoded by a real subscriber
    let mut publisher =
        Publisher::bind("inproc://bus-peer-bench-pub").map_err(|e| e.to_string())?;
    let frames: Vec<Vec<u8>> = (0..1024)
        .map(|i| publisher.frame(&sample(kind, i)).to_vec())
        .collect();
    let mut subscriber =
        Subscriber::connect("inproc://bus-peer-bench-none", &[]).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut decoded = 0u64;
    for i in 0..count {
        if subscriber
            .handle_frame(&frames[(i % 1024) as usize])
            .map_err(|e| e.to_string())?
            .is_some()
        {
            decoded += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    summary_line(json!({
        "decoded": decoded,
        "elapsed_s": elapsed,
        "per_second": decoded as f64 / elapsed.max(1e-9),
        "stats": { "received": subscriber.stats().received, "malformed": subscriber.stats().malformed },
    }))
}

/// A valid message of `kind`, varying with `i` (prices walk, directions alternate).
fn sample(kind: Kind, i: u64) -> Message {
    let timestamp = 1_735_828_200_000 + 60_000 * i;
    let price = 100.0 + (i % 1000) as f64 * 0.01;
    let kind = match kind {
        Kind::All => [
            Kind::Bar,
            Kind::Trade,
            Kind::Quote,
            Kind::Signal,
            Kind::Order,
            Kind::Heartbeat,
        ][(i % 6) as usize],
        other => other,
    };
    let version = SchemaVersion::default();
    match kind {
        Kind::Bar | Kind::All => Message::BarUpdate(BarUpdate {
            symbol: "AAPL".into(),
            open: price,
            high: price + 0.5,
            low: price - 0.5,
            close: price + 0.25,
            volume: 1000.0 + i as f64,
            timestamp,
            vwap: None,
            trade_count: None,
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
        Kind::Trade => Message::TradeUpdate(TradeUpdate {
            symbol: "MSFT".into(),
            price,
            size: 100.0,
            timestamp,
            trade_id: Some(format!("t-{i}")),
            exchange: None,
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
        Kind::Quote => Message::QuoteUpdate(QuoteUpdate {
            symbol: "BTC/USD".into(),
            bid_price: price,
            bid_size: 1.5,
            ask_price: price + 0.01,
            ask_size: 2.0,
            timestamp,
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
        Kind::Signal => Message::Signal(Signal {
            symbol: "AAPL".into(),
            direction: if i & 1 == 0 {
                Direction::Long
            } else {
                Direction::Short
            },
            strength: 0.85,
            timestamp,
            features: Some(vec![Some(price), Some(1.0), None]),
            metadata: None,
            signal_id: None,
            price: None,
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
        Kind::Order => Message::OrderUpdate(OrderUpdate {
            order_id: format!("ord-{i}"),
            client_order_id: format!("cli-{i}"),
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty: 10.0,
            filled_qty: 10.0,
            filled_avg_price: Some(price),
            status: OrderStatus::Filled,
            timestamp,
            order_type: Some(OrderType::Market),
            limit_price: None,
            stop_price: None,
            time_in_force: None,
            reason: None,
            signal_id: None,
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
        Kind::Heartbeat => Message::Heartbeat(Heartbeat {
            component: "bus-peer".into(),
            timestamp,
            status: Some(HealthStatus::Healthy),
            schema_version: version,
            seq: None,
            source: None,
            sent_at_us: None,
        }),
    }
}
