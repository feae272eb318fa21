//! What the service counts (plain atomics: the read loop and the publisher thread update them, the
//! health server reads them at scrape time) and the stable names it reports them under.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tradebridge_health::{HealthCheck, Histogram, Telemetry};

/// The channels of a stock subscription this service republishes, with Alpaca's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Bars,
    Trades,
    Quotes,
    UpdatedBars,
    DailyBars,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Bars,
        Channel::Trades,
        Channel::Quotes,
        Channel::UpdatedBars,
        Channel::DailyBars,
    ];

    /// The name in Alpaca's `subscribe` message (and on the command line).
    pub const fn alpaca_name(self) -> &'static str {
        match self {
            Channel::Bars => "bars",
            Channel::Trades => "trades",
            Channel::Quotes => "quotes",
            Channel::UpdatedBars => "updatedBars",
            Channel::DailyBars => "dailyBars",
        }
    }

    /// The `source` label of its counters in `/metrics`.
    pub const fn metric_name(self) -> &'static str {
        match self {
            Channel::Bars => "bars",
            Channel::Trades => "trades",
            Channel::Quotes => "quotes",
            Channel::UpdatedBars => "updated_bars",
            Channel::DailyBars => "daily_bars",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.alpaca_name() == text || c.metric_name() == text)
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a frame or a point was not republished. The codes are stable (metrics, logs, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Undecodable bytes: invalid or truncated msgpack, broken JSON.
    MalformedFrame,
    /// Decodable, but the frame is not an array of messages.
    NotAnArray,
    /// Over the frame size limit (1 MiB, as Alpaca's clients); the connection is dropped.
    FrameTooLarge,
    /// An element of the array is not a map.
    NotAMap,
    /// No `T`, or a `T` that is not a string.
    MissingType,
    /// A `T` Alpaca does not define.
    UnknownType,
    /// A field the message needs is absent or nil.
    MissingField,
    /// A field of another type (a string where a number belongs, ...).
    WrongType,
    /// A time that is not a Timestamp extension (msgpack) or RFC 3339 text (JSON), or out of range.
    BadTimestamp,
    /// A value the contract refuses (a price <= 0, an infinite size, an over-long exchange code).
    InvalidValue,
    /// A symbol the contract refuses.
    InvalidSymbol,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::MalformedFrame,
        Reason::NotAnArray,
        Reason::FrameTooLarge,
        Reason::NotAMap,
        Reason::MissingType,
        Reason::UnknownType,
        Reason::MissingField,
        Reason::WrongType,
        Reason::BadTimestamp,
        Reason::InvalidValue,
        Reason::InvalidSymbol,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Reason::MalformedFrame => "malformed_frame",
            Reason::NotAnArray => "not_an_array",
            Reason::FrameTooLarge => "frame_too_large",
            Reason::NotAMap => "not_a_map",
            Reason::MissingType => "missing_type",
            Reason::UnknownType => "unknown_type",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::InvalidValue => "invalid_value",
            Reason::InvalidSymbol => "invalid_symbol",
        }
    }
}

/// Why a connection to the stream ended. The codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disconnect {
    /// TCP, TLS or the WebSocket upgrade failed (or timed out).
    ConnectFailed,
    /// The first frame was not `[{"T":"success","msg":"connected"}]`, or no reply came in time.
    BadGreeting,
    /// `402 auth failed`, `401`, `404 auth timeout`.
    AuthFailed,
    /// `406 connection limit exceeded`: another client holds the account's one connection.
    ConnectionLimit,
    /// `407 slow client`.
    SlowClient,
    /// Another error reply followed by a close.
    UpstreamError,
    /// The server closed the connection.
    Closed,
    /// The connection broke (reset, cut mid-frame, end of stream without a close).
    ConnectionLost,
    /// No market data for `--data-timeout` (a mute socket).
    DataTimeout,
    /// A frame over the size limit.
    FrameTooLarge,
}

impl Disconnect {
    pub const ALL: [Disconnect; 10] = [
        Disconnect::ConnectFailed,
        Disconnect::BadGreeting,
        Disconnect::AuthFailed,
        Disconnect::ConnectionLimit,
        Disconnect::SlowClient,
        Disconnect::UpstreamError,
        Disconnect::Closed,
        Disconnect::ConnectionLost,
        Disconnect::DataTimeout,
        Disconnect::FrameTooLarge,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Disconnect::ConnectFailed => "connect_failed",
            Disconnect::BadGreeting => "bad_greeting",
            Disconnect::AuthFailed => "auth_failed",
            Disconnect::ConnectionLimit => "connection_limit",
            Disconnect::SlowClient => "slow_client",
            Disconnect::UpstreamError => "upstream_error",
            Disconnect::Closed => "closed",
            Disconnect::ConnectionLost => "connection_lost",
            Disconnect::DataTimeout => "data_timeout",
            Disconnect::FrameTooLarge => "frame_too_large",
        }
    }
}

fn index_of<T: PartialEq>(all: &[T], item: &T) -> usize {
    all.iter().position(|x| x == item).unwrap_or(0)
}

/// Every counter of the service.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: AtomicU64,
    pub points: AtomicU64,
    /// Points of a type the bus has no contract for (statuses, corrections, ...), skipped.
    pub unmapped: AtomicU64,
    /// Per [`Channel`]: points received and messages published.
    pub received: [AtomicU64; 5],
    pub published: [AtomicU64; 5],
    pub publish_errors: AtomicU64,
    /// Per [`Reason`].
    pub rejected: [AtomicU64; 11],
    /// Per [`Disconnect`].
    pub disconnects: [AtomicU64; 10],
    /// Error replies of the stream (`T: error`), whatever followed.
    pub upstream_errors: AtomicU64,
    pub connects: AtomicU64,
    pub reconnects: AtomicU64,
    pub subscribed: AtomicU64,
    pub disconnected_ms: AtomicU64,
    /// Bars of one symbol further apart across a reconnect than one bar period.
    pub bar_gaps: AtomicU64,
    /// Bar periods inside those gaps: an upper bound of the bars missed (IEX skips minutes without trades).
    pub bars_missed: AtomicU64,
    /// Bars at or before the last bar of their symbol: dropped, so the bus carries each bar once.
    pub duplicate_bars: AtomicU64,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn reject(&self, reason: Reason) {
        bump(&self.rejected[index_of(&Reason::ALL, &reason)], 1);
    }

    pub fn rejected(&self, reason: Reason) -> u64 {
        get(&self.rejected[index_of(&Reason::ALL, &reason)])
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(get).sum()
    }

    pub fn disconnected(&self, why: Disconnect) {
        bump(&self.disconnects[index_of(&Disconnect::ALL, &why)], 1);
    }

    pub fn disconnects(&self, why: Disconnect) -> u64 {
        get(&self.disconnects[index_of(&Disconnect::ALL, &why)])
    }
}

/// Where the connection stands, for `/ready` and `/health`.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Connecting, authenticating or subscribing.
    Connecting {
        attempt: u64,
    },
    /// Subscribed: data flows.
    Subscribed,
    /// Waiting before the next attempt, after `reason`.
    Waiting {
        reason: String,
        retry_in: Duration,
    },
    Stopping,
}

/// The state the stream task writes and the health task reads.
#[derive(Debug)]
pub struct Condition {
    pub phase: Phase,
    /// The last problem that does not end a connection (malformed input, an error reply) and when.
    pub last_problem: Option<(String, Instant)>,
}

/// Counters, condition and latency instruments shared by the parts of the service.
#[derive(Debug)]
pub struct Shared {
    pub stats: Stats,
    condition: Mutex<Condition>,
    /// Event time (the stream's `t`) to the moment the message was handed to ZeroMQ.
    pub upstream_latency: Histogram,
    /// Frame arrival to the moment its messages were handed to ZeroMQ.
    pub receive_latency: Histogram,
}

impl Shared {
    pub fn new(telemetry: &Telemetry) -> Arc<Shared> {
        Arc::new(Shared {
            stats: Stats::default(),
            condition: Mutex::new(Condition {
                phase: Phase::Connecting { attempt: 1 },
                last_problem: None,
            }),
            upstream_latency: telemetry.latency("upstream_to_bus"),
            receive_latency: telemetry.latency("receive_to_bus"),
        })
    }

    pub fn condition(&self) -> MutexGuard<'_, Condition> {
        // a panic elsewhere must not take the health endpoints down with it
        self.condition
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_phase(&self, phase: Phase) {
        self.condition().phase = phase;
    }

    pub fn problem(&self, text: String) {
        self.condition().last_problem = Some((text, Instant::now()));
    }

    /// Register every counter with the health check's telemetry (read at each scrape).
    pub fn track(self: &Arc<Self>, check: &HealthCheck) {
        for channel in Channel::ALL {
            let shared = Arc::clone(self);
            let i = channel.index();
            check.track(channel.metric_name(), move || {
                vec![
                    ("messages_in", get(&shared.stats.received[i])),
                    ("messages_out", get(&shared.stats.published[i])),
                ]
            });
        }
        let shared = Arc::clone(self);
        check.track("decode_errors", move || {
            Reason::ALL
                .iter()
                .map(|r| (r.code(), shared.stats.rejected(*r)))
                .collect()
        });
        let shared = Arc::clone(self);
        check.track("disconnects", move || {
            Disconnect::ALL
                .iter()
                .map(|d| (d.code(), shared.stats.disconnects(*d)))
                .collect()
        });
        let shared = Arc::clone(self);
        check.track("upstream", move || {
            let s = &shared.stats;
            vec![
                ("frames", get(&s.frames)),
                ("points", get(&s.points)),
                ("unmapped", get(&s.unmapped)),
                ("decode_errors", s.rejected_total()),
                ("errors", get(&s.upstream_errors)),
                ("connects", get(&s.connects)),
                ("reconnects", get(&s.reconnects)),
                ("subscribed", get(&s.subscribed)),
                ("disconnected_ms", get(&s.disconnected_ms)),
                ("bar_gaps", get(&s.bar_gaps)),
                ("bars_missed", get(&s.bars_missed)),
                ("duplicate_bars", get(&s.duplicate_bars)),
                ("publish_errors", get(&s.publish_errors)),
            ]
        });
    }
}
