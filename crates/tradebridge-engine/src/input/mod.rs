//! Where signals come from: the bus (the ZeroMQ SUB socket of [`crate::service::Bus`]) and, optionally,
//! NATS JetStream ([`nats`]), the durable log `tradebridge bridge nats in` writes.
//!
//! Either way a signal is decoded by the same rules: a JetStream message is the bus frame's envelope byte
//! for byte, fed to a [`Subscriber`] of its own through [`Subscriber::handle_frame`], so malformed frames,
//! NaN tokens, and per-`(topic, source)` seq gaps are counted exactly as on the bus (as `signal_nats_*`).
//! A JetStream delivery is acknowledged once handled: at once when the engine decided without the broker
//! (refused, duplicate, malformed), after the broker answered when it became an order. One never
//! acknowledged (the engine stopped first) is delivered again and met by the engine's idempotency.

pub mod nats;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::Message as JsMessage;
use tradebridge_bus::{Options, Subscriber};
use tradebridge_contracts::{Message, Topic};
use tradebridge_health::Telemetry;

use crate::config::Args;
use crate::service::{Bus, BusEvent};
pub use nats::{Deliver, NatsConfig, NatsConfigError, NatsInput};

/// The `execution-engine` flags of the JetStream input (flattened into [`Args`]).
#[derive(Clone, Default, clap::Args)]
pub struct NatsArgs {
    /// Read signals from NATS JetStream at these servers (nats://HOST:PORT or tls://HOST:PORT; repeat the
    /// flag or separate with commas for a cluster). Instead of the bus signal endpoint, unless
    /// --signals-also-bus. Credentials: in the URL (nats://USER:PASSWORD@HOST:PORT, nats://TOKEN@HOST:PORT)
    /// or $TRADEBRIDGE_NATS_TOKEN, or $TRADEBRIDGE_NATS_USER and $TRADEBRIDGE_NATS_PASSWORD; never logged.
    #[arg(long = "signals-nats", value_delimiter = ',', value_name = "URL")]
    pub servers: Vec<String>,
    /// The JetStream stream holding the signals (`tradebridge bridge nats in` names it
    /// <stream-prefix>_SIGNAL).
    #[arg(long = "signals-stream", default_value = "TRADEBRIDGE_SIGNAL")]
    pub stream: String,
    /// Subjects of the stream to consume (repeatable; the bridge writes tradebridge.signal.<symbol>).
    #[arg(long = "signals-subject", default_value = "tradebridge.signal.>")]
    pub subjects: Vec<String>,
    /// The durable consumer's name: a restarted engine resumes after what it acknowledged.
    #[arg(long = "signals-durable", default_value = "execution-engine")]
    pub durable: String,
    /// Where a new durable consumer starts: `new` (signals stored from now on), `all`, or a stream
    /// sequence. An existing durable resumes where it was.
    #[arg(long = "signals-deliver", default_value = "new")]
    pub deliver: String,
    /// A delivery not acknowledged within this long is delivered again (an order still at the broker
    /// holds its acknowledgement until the broker answers).
    #[arg(long = "signals-ack-wait-ms", default_value_t = 30_000)]
    pub ack_wait_ms: u64,
    /// Deliveries JetStream hands out unacknowledged, at most (the input's memory bound).
    #[arg(long = "signals-max-pending", default_value_t = 1024)]
    pub max_pending: u32,
    /// A PEM root certificate for tls:// servers signed by a private CA.
    #[arg(long = "signals-nats-ca")]
    pub ca_file: Option<PathBuf>,
    /// With --signals-nats, keep reading the bus --signal-endpoint as well (each signal_id is still
    /// ordered once; a signal arriving on both is refused the second time as a duplicate).
    #[arg(long = "signals-also-bus")]
    pub also_bus: bool,
}

impl fmt::Debug for NatsArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<String> = self.servers.iter().map(|s| nats::redact(s)).collect();
        f.debug_struct("NatsArgs")
            .field("servers", &servers)
            .field("stream", &self.stream)
            .field("subjects", &self.subjects)
            .field("durable", &self.durable)
            .field("deliver", &self.deliver)
            .field("also_bus", &self.also_bus)
            .finish_non_exhaustive()
    }
}

impl NatsArgs {
    /// The checked configuration, `None` without --signals-nats. `lookup` reads the environment.
    pub fn config(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<NatsConfig>, NatsConfigError> {
        if self.servers.is_empty() {
            return Ok(None);
        }
        let (servers, auth) = nats::resolve_auth(&self.servers, lookup)?;
        let deliver: Deliver = self.deliver.parse().map_err(NatsConfigError::Invalid)?;
        let token = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '.');
        if !token(&self.stream) || !token(&self.durable) {
            return Err(NatsConfigError::Invalid(
                "--signals-stream and --signals-durable are names (no dots or spaces)".into(),
            ));
        }
        if self.subjects.is_empty() || self.subjects.iter().any(|s| s.trim().is_empty()) {
            return Err(NatsConfigError::Invalid(
                "--signals-subject is empty".into(),
            ));
        }
        if self.ack_wait_ms < 1_000 || self.max_pending == 0 {
            return Err(NatsConfigError::Invalid(
                "--signals-ack-wait-ms must be >= 1000 and --signals-max-pending >= 1".into(),
            ));
        }
        Ok(Some(NatsConfig {
            servers,
            auth,
            ca_file: self.ca_file.clone(),
            stream: self.stream.clone(),
            subjects: self.subjects.clone(),
            durable: self.durable.clone(),
            deliver,
            ack_wait: Duration::from_millis(self.ack_wait_ms),
            max_ack_pending: i64::from(self.max_pending),
        }))
    }
}

/// Deliveries decoded per poll, at most: the loop goes on to answers and fills between batches.
const BATCH: usize = 256;

/// While the bus is read too, how long one bus wait may keep a JetStream delivery waiting.
const SHARED_WAIT: Duration = Duration::from_millis(2);

/// A signal's acknowledgement: a JetStream delivery and the signal's id, or nothing (the bus has none).
#[derive(Default)]
pub struct Ack {
    message: Option<JsMessage>,
    signal_id: Option<String>,
}

impl Ack {
    fn none() -> Self {
        Ack::default()
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.message.is_some() {
            "Ack(jetstream)"
        } else {
            "Ack(none)"
        })
    }
}

struct NatsSide {
    input: NatsInput,
    /// decodes deliveries by the bus's rules and keeps their counters; its socket (bound to a private
    /// inproc endpoint) never receives anything
    decoder: Subscriber,
    malformed_seen: u64,
    /// acknowledgements waiting for the broker's answer, by client order id
    held: HashMap<String, Vec<JsMessage>>,
    /// the client order id in flight of each held signal id: a redelivery of one of them (its ack wait
    /// ran out while the broker was slow) is refused `duplicate`, and acknowledging it would acknowledge
    /// the signal before its order is known; it waits with the first delivery instead
    in_flight: HashMap<String, String>,
    shared: Arc<Mutex<Vec<(&'static str, u64)>>>,
}

/// The engine's signal inputs: the bus, JetStream, or both.
pub struct Inputs {
    nats: Option<NatsSide>,
    bus_signals: bool,
}

/// Endpoint given to the bus's signal socket when JetStream replaces it: nothing is ever bound there.
const SILENT_ENDPOINT: &str = "inproc://tradebridge-engine-no-bus-signals";

impl Inputs {
    /// The bus alone, or JetStream as well/instead (per `args.nats`), its counters tracked as
    /// `signal_nats_*` in `telemetry`. The JetStream client runs on `runtime`.
    pub fn open(
        args: &Args,
        runtime: &tokio::runtime::Handle,
        telemetry: &Telemetry,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let config = args
            .nats
            .config(lookup)
            .map_err(|e| format!("{e} ({})", e.code()))?;
        let Some(config) = config else {
            return Ok(Inputs {
                nats: None,
                bus_signals: true,
            });
        };
        let options = Options {
            allow_nan_tokens: args.allow_nan_tokens,
            ..Options::default()
        };
        static DECODERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let endpoint = format!(
            "inproc://tradebridge-engine-nats-decoder-{}",
            DECODERS.fetch_add(1, Ordering::Relaxed)
        );
        let decoder = Subscriber::new(&endpoint, &[Topic::Signal], true, options, None)
            .map_err(|e| format!("cannot set up the JetStream signal decoder: {e}"))?;
        let servers: Vec<String> = config.servers.clone();
        tracing::info!(servers = %servers.join(","), stream = %config.stream, durable = %config.durable,
            deliver = ?config.deliver, auth = ?config.auth, also_bus = args.nats.also_bus,
            "reading signals from JetStream");
        let input = NatsInput::spawn(runtime, config);
        let shared: Arc<Mutex<Vec<(&'static str, u64)>>> = Arc::default();
        telemetry.track("signal_nats", {
            let shared = shared.clone();
            move || shared.lock().map(|v| v.clone()).unwrap_or_default()
        });
        let side = NatsSide {
            input,
            decoder,
            malformed_seen: 0,
            held: HashMap::new(),
            in_flight: HashMap::new(),
            shared,
        };
        side.publish_counters();
        Ok(Inputs {
            nats: Some(side),
            bus_signals: args.nats.also_bus,
        })
    }

    /// The arguments to open the [`Bus`] with: its signal socket is silenced when JetStream replaces it.
    pub fn bus_args(&self, args: &Args) -> Args {
        let mut args = args.clone();
        if !self.bus_signals {
            args.signal_endpoint = SILENT_ENDPOINT.to_owned();
        }
        args
    }

    /// Prices and bus signals, then JetStream signals, waiting up to `wait` for the first. JetStream
    /// deliveries are left waiting (unacknowledged) while `take_nats` is false, e.g. until the exposure is
    /// loaded: a backlog delivered at start-up is then ordered, not refused as `exposure_unknown`.
    pub fn poll(&mut self, bus: &mut Bus, wait: Duration, take_nats: bool) -> Vec<(BusEvent, Ack)> {
        let Some(side) = &mut self.nats else {
            return bus
                .poll(wait)
                .into_iter()
                .map(|e| (e, Ack::none()))
                .collect();
        };
        let mut first = None;
        let bus_wait = if !take_nats {
            wait
        } else if self.bus_signals {
            wait.min(SHARED_WAIT)
        } else {
            match side.input.deliveries.recv_timeout(wait) {
                Ok(message) => first = Some(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
            Duration::ZERO
        };
        let mut events: Vec<(BusEvent, Ack)> = bus
            .poll(bus_wait)
            .into_iter()
            .map(|e| (e, Ack::none()))
            .collect();
        if take_nats {
            let taken: Vec<JsMessage> = first
                .into_iter()
                .chain(side.input.deliveries.try_iter().take(BATCH))
                .collect();
            for message in taken {
                side.take(message, &mut events);
            }
            side.publish_counters();
        }
        events
    }

    /// The signal was handled without the broker (refused, duplicate): acknowledge it now, unless the
    /// same signal is in flight (then with it).
    pub fn done(&mut self, ack: Ack) {
        let (Some(side), Some(message)) = (&mut self.nats, ack.message) else {
            return;
        };
        let in_flight = ack
            .signal_id
            .and_then(|id| side.in_flight.get(&id).cloned());
        match in_flight.and_then(|coid| side.held.get_mut(&coid)) {
            Some(waiting) => waiting.push(message),
            None => side.input.ack(message),
        }
    }

    /// The signal became a submission: acknowledge it once the broker answered ([`Inputs::answered`]).
    pub fn hold(&mut self, client_order_id: &str, ack: Ack) {
        if let (Some(side), Some(message)) = (&mut self.nats, ack.message) {
            side.held
                .entry(client_order_id.to_owned())
                .or_default()
                .push(message);
            if let Some(id) = ack.signal_id {
                side.in_flight.insert(id, client_order_id.to_owned());
            }
        }
    }

    /// The broker answered the submission of `client_order_id`: its deliveries are acknowledged.
    pub fn answered(&mut self, client_order_id: &str) {
        if let Some(side) = &mut self.nats {
            if let Some(messages) = side.held.remove(client_order_id) {
                side.in_flight.retain(|_, coid| coid != client_order_id);
                for message in messages {
                    side.input.ack(message);
                }
            }
        }
    }

    /// Stops the JetStream input; the acknowledgements due are sent first. Held ones (orders the broker
    /// has not answered) are not: JetStream delivers them again and the journal or the broker's client
    /// order id decides.
    pub fn close(self, runtime: &tokio::runtime::Handle) {
        if let Some(side) = self.nats {
            side.publish_counters();
            if !side.held.is_empty() {
                tracing::warn!(
                    unacknowledged = side.held.values().map(Vec::len).sum::<usize>(),
                    "JetStream deliveries left unacknowledged (orders unanswered): delivered again at the next start"
                );
            }
            side.input.close(runtime, Duration::from_secs(1));
        }
    }
}

impl NatsSide {
    fn take(&mut self, message: JsMessage, events: &mut Vec<(BusEvent, Ack)>) {
        // The bridge stores the envelope without the bus frame's topic; the stream holds one topic.
        let mut frame = Vec::with_capacity(7 + message.payload.len());
        frame.extend_from_slice(b"signal ");
        frame.extend_from_slice(&message.payload);
        let decoded = self.decoder.handle_frame(&frame);
        let malformed = self.decoder.stats().malformed;
        match decoded {
            Ok(Some((_, Message::Signal(signal)))) => {
                let ack = Ack {
                    message: Some(message),
                    signal_id: signal.signal_id.clone().filter(|id| !id.is_empty()),
                };
                events.push((BusEvent::Signal(Box::new(signal), Instant::now()), ack));
            }
            _ => {
                // counted by the decoder (malformed, too large): acknowledged, or it would come back forever
                self.input.ack(message);
            }
        }
        for _ in self.malformed_seen..malformed {
            events.push((BusEvent::MalformedSignal, Ack::none()));
        }
        self.malformed_seen = malformed;
    }

    fn publish_counters(&self) {
        let stats = self.decoder.stats();
        let c = &self.input.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let values = vec![
            ("received", stats.received),
            ("malformed", stats.malformed),
            ("gaps", stats.gaps),
            ("dropped", stats.dropped),
            ("nan_tokens", stats.nan_tokens),
            ("delivered", get(&c.delivered)),
            ("redelivered", get(&c.redelivered)),
            ("acked", get(&c.acked)),
            ("ack_failed", get(&c.ack_failed)),
            (
                "awaiting_broker",
                self.held.values().map(|v| v.len() as u64).sum(),
            ),
            ("attached", get(&c.attached)),
            ("connects", get(&c.connects)),
        ];
        if let Ok(mut shared) = self.shared.lock() {
            *shared = values;
        }
    }
}
