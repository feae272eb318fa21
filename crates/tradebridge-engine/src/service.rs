//! The engine's bus side: signals (and optionally market prices) in, `OrderUpdate`s out.

use std::time::{Duration, Instant};

use tradebridge_bus::{
    BusError, Curve, CurveFlags, CurveStatsHandle, Options, Publisher, Subscriber, TransitHistogram,
};
use tradebridge_contracts::{Message, OrderUpdate, Signal, Topic};

use crate::config::Args;

/// What one poll of the bus produced.
#[derive(Debug)]
pub enum BusEvent {
    /// A decoded signal and when it was taken off the socket.
    Signal(Box<Signal>, Instant),
    /// The last close of a symbol (from a `BarUpdate`) or the last trade price, and when it was taken.
    Price(String, f64, Instant),
    /// A frame on the signal topic that was not a valid `Signal` (counted by the subscriber).
    MalformedSignal,
}

/// The engine's sockets.
pub struct Bus {
    signals: Subscriber,
    market: Option<Subscriber>,
    orders: Publisher,
    malformed_seen: u64,
}

/// Messages taken per socket per poll, so a flood of market data never starves the signal socket.
const BATCH: usize = 256;

impl Bus {
    pub fn open(args: &Args) -> Result<Self, BusError> {
        // NaN/Infinity tokens (Python's json.dumps) in a signal's features are read as null only when
        // asked; otherwise such a signal is malformed.
        let options = Options {
            allow_nan_tokens: args.allow_nan_tokens,
            ..Options::default()
        };
        let curve = Curve::from_env(&CurveFlags {
            secret_key_file: args.curve_secret_key.clone(),
            server_key_file: args.curve_server_key.clone(),
            allow: args.curve_allow.clone(),
        })?;
        // in-process sockets need no CURVE (and the NATS-only mode's silent endpoint has no peer)
        let secured = |endpoint: &str| {
            curve
                .as_ref()
                .filter(|_| !endpoint.starts_with("inproc://"))
        };
        let signals = Subscriber::new_secure(
            &args.signal_endpoint,
            &[Topic::Signal],
            args.signal_bind,
            options,
            None,
            secured(&args.signal_endpoint),
        )?;
        let market = match &args.market_endpoint {
            Some(endpoint) => Some(Subscriber::new_secure(
                endpoint,
                &[Topic::Market],
                false,
                Options::default(),
                None,
                secured(endpoint),
            )?),
            None => None,
        };
        let orders = Publisher::new_secure(
            &args.order_endpoint,
            !args.order_connect,
            Options::default(),
            None,
            None,
            secured(&args.order_endpoint),
        )?;
        Ok(Bus {
            signals,
            market,
            orders,
            malformed_seen: 0,
        })
    }

    /// CURVE counters of the secured sockets, by `/metrics` source name (none without CURVE).
    pub fn curve_handles(&self) -> Vec<(&'static str, CurveStatsHandle)> {
        [
            ("curve_signals", self.signals.curve_handle()),
            (
                "curve_market",
                self.market.as_ref().and_then(Subscriber::curve_handle),
            ),
            ("curve_orders", self.orders.curve_handle()),
        ]
        .into_iter()
        .filter_map(|(name, handle)| handle.map(|h| (name, h)))
        .collect()
    }

    /// Take the queued prices, then wait up to `wait` for the first signal and take what is queued. Prices
    /// come first so that a signal is checked against the freshest price already received.
    pub fn poll(&mut self, wait: Duration) -> Vec<BusEvent> {
        let mut events = Vec::new();
        self.poll_market(&mut events);
        let mut timeout = wait;
        for _ in 0..BATCH {
            match self.signals.recv_timeout(timeout) {
                Ok(Some((_, Message::Signal(signal)))) => {
                    events.push(BusEvent::Signal(Box::new(signal), Instant::now()));
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "signal socket error");
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
        let malformed = self.signals.stats().malformed;
        for _ in self.malformed_seen..malformed {
            events.push(BusEvent::MalformedSignal);
        }
        self.malformed_seen = malformed;
        events
    }

    fn poll_market(&mut self, events: &mut Vec<BusEvent>) {
        if let Some(market) = &mut self.market {
            for _ in 0..BATCH {
                match market.recv_timeout(Duration::ZERO) {
                    Ok(Some((_, Message::BarUpdate(bar)))) => {
                        events.push(BusEvent::Price(bar.symbol, bar.close, Instant::now()))
                    }
                    Ok(Some((_, Message::TradeUpdate(trade)))) => {
                        events.push(BusEvent::Price(trade.symbol, trade.price, Instant::now()))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "market socket error");
                        break;
                    }
                }
            }
        }
    }

    pub fn publish(&mut self, update: &OrderUpdate) -> Result<u64, BusError> {
        self.orders.publish(update)
    }

    /// Subscriber counters for the health metrics (`signal_bus_*`, `market_bus_*`), and how many
    /// subscribers listen to the order updates (so a consumer can wait for its own subscription).
    pub fn stats(&mut self) -> Vec<(String, u64)> {
        let order_subscribers = self
            .orders
            .subscriber_count(Some(Topic::Order))
            .unwrap_or(0) as u64;
        let mut out = Vec::new();
        let mut add = |prefix: &str, s: &tradebridge_bus::SubscriberStats| {
            out.push((format!("{prefix}_received"), s.received));
            out.push((format!("{prefix}_malformed"), s.malformed));
            out.push((format!("{prefix}_gaps"), s.gaps));
            out.push((format!("{prefix}_dropped"), s.dropped));
            out.push((format!("{prefix}_nan_tokens"), s.nan_tokens));
        };
        add("signal_bus", self.signals.stats());
        if let Some(market) = &self.market {
            add("market_bus", market.stats());
        }
        out.push(("order_updates_published".into(), self.orders.published()));
        out.push(("order_subscribers".into(), order_subscribers));
        out
    }

    /// Transit of the signals received: `now - sent_at_us` of each stamped envelope.
    pub fn signal_transit(&self) -> &TransitHistogram {
        &self.signals.stats().transit
    }

    pub fn close(self) {
        drop(self);
    }
}
