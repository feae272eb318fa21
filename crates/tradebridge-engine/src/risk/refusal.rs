//! The named reasons a signal is refused, and order sides.

/// Why a signal did not become an order. Each one is counted and reported (`/health` metrics
/// `refused_<reason>`, the final log line); none is silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// The kill switch is engaged (flag, file, SIGUSR1 or the HTTP route).
    KillSwitch,
    /// Open orders and positions are not loaded from the broker yet (start-up, or after a release of the
    /// kill switch): the exposure is unknown, so no limit can be checked.
    ExposureUnknown,
    /// A frame on the signal topic that is not a valid `Signal` (counted by the bus subscriber).
    Malformed,
    /// The same signal id was seen before.
    Duplicate,
    /// Older than `max_signal_age`.
    Stale,
    /// Timestamped further in the future than `max_clock_skew` (a broken clock is as bad as a stale one).
    FutureTimestamp,
    /// Strength too low to make a whole share.
    ZeroSize,
    /// No trusted price for the symbol (market-data bus, broker quote), and `--allow-signal-price` is off.
    NoPrice,
    /// The signal's stated `price` is further than `--price-band` from the trusted price.
    PriceBand,
    /// No room left under the per-symbol position limit.
    MaxPosition,
    /// No room left under the per-symbol notional limit.
    MaxNotional,
    /// An order of the opposite side is still open on the symbol.
    OppositeOrderOpen,
    /// More than `max_orders_per_sec` orders in the last second.
    RateLimited,
    /// The broker refused the order (4xx); not a risk check, but the signal's outcome all the same.
    BrokerRejected,
    /// The broker could not be reached or kept failing (5xx, 429, timeouts) after retries.
    BrokerUnavailable,
    /// The submission queue was full (`--submit-queue`): the broker is slower than the signals.
    QueueFull,
    /// The accepted signal could not be written to the journal (`--journal`), so it was not sent.
    JournalUnavailable,
}

impl Refusal {
    pub const ALL: [Refusal; 17] = [
        Refusal::KillSwitch,
        Refusal::ExposureUnknown,
        Refusal::Malformed,
        Refusal::Duplicate,
        Refusal::Stale,
        Refusal::FutureTimestamp,
        Refusal::ZeroSize,
        Refusal::NoPrice,
        Refusal::PriceBand,
        Refusal::MaxPosition,
        Refusal::MaxNotional,
        Refusal::OppositeOrderOpen,
        Refusal::RateLimited,
        Refusal::BrokerRejected,
        Refusal::BrokerUnavailable,
        Refusal::QueueFull,
        Refusal::JournalUnavailable,
    ];

    /// Stable snake_case name used in metrics, logs and `OrderUpdate.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "kill_switch",
            Refusal::ExposureUnknown => "exposure_unknown",
            Refusal::Malformed => "malformed",
            Refusal::Duplicate => "duplicate",
            Refusal::Stale => "stale",
            Refusal::FutureTimestamp => "future_timestamp",
            Refusal::ZeroSize => "zero_size",
            Refusal::NoPrice => "no_price",
            Refusal::PriceBand => "price_band",
            Refusal::MaxPosition => "max_position",
            Refusal::MaxNotional => "max_notional",
            Refusal::OppositeOrderOpen => "opposite_order_open",
            Refusal::RateLimited => "rate_limited",
            Refusal::BrokerRejected => "broker_rejected",
            Refusal::BrokerUnavailable => "broker_unavailable",
            Refusal::QueueFull => "queue_full",
            Refusal::JournalUnavailable => "journal_unavailable",
        }
    }

    /// `refused_<name>`: the counter's name in `/health` and (as `tradebridge_refused_<name>_total`)
    /// in `/metrics`. Static because the telemetry API takes `&'static str` keys.
    pub fn metric_name(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "refused_kill_switch",
            Refusal::ExposureUnknown => "refused_exposure_unknown",
            Refusal::Malformed => "refused_malformed",
            Refusal::Duplicate => "refused_duplicate",
            Refusal::Stale => "refused_stale",
            Refusal::FutureTimestamp => "refused_future_timestamp",
            Refusal::ZeroSize => "refused_zero_size",
            Refusal::NoPrice => "refused_no_price",
            Refusal::PriceBand => "refused_price_band",
            Refusal::MaxPosition => "refused_max_position",
            Refusal::MaxNotional => "refused_max_notional",
            Refusal::OppositeOrderOpen => "refused_opposite_order_open",
            Refusal::RateLimited => "refused_rate_limited",
            Refusal::BrokerRejected => "refused_broker_rejected",
            Refusal::BrokerUnavailable => "refused_broker_unavailable",
            Refusal::QueueFull => "refused_queue_full",
            Refusal::JournalUnavailable => "refused_journal_unavailable",
        }
    }
}

/// Order side, as Alpaca spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// +1 for a buy, -1 for a sell: the sign the order gives to a position.
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}
