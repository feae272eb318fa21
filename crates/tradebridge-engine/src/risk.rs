//! Risk checks: every signal either becomes an order of a checked size or is refused for one named reason.
//!
//! The book tracks, per symbol, the filled position and the unfilled remainder of open orders ("pending").
//! Limits apply to the *projected* position (filled + pending), so a burst of signals cannot overshoot a
//! limit while earlier orders are still in flight.
//!
//! Sizing rules, in the order they are applied:
//! 1. An order that reduces the projected exposure is always allowed (limits exist to bound risk, not to
//!    trap a position), but never flips it: it is clipped to close the position at most. Alpaca refuses
//!    an order that flips long <-> short in one go, so a reversal takes two signals.
//! 2. An order that increases exposure is clipped to the room left under `max_position` (shares) and
//!    `max_notional` (shares x reference price); no room at all is a refusal.
//! 3. An order on a symbol with an open order of the opposite side is refused: Alpaca would answer
//!    "potential wash trade detected".

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Why a signal did not become an order. Each one is counted and reported (`/health` metrics
/// `refused_<reason>`, the final log line); none is silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// The kill switch is engaged (flag, file or SIGUSR1).
    KillSwitch,
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
    /// No reference price for the notional check (no market data and no `price` in the metadata).
    NoPrice,
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
}

impl Refusal {
    pub const ALL: [Refusal; 13] = [
        Refusal::KillSwitch,
        Refusal::Malformed,
        Refusal::Duplicate,
        Refusal::Stale,
        Refusal::FutureTimestamp,
        Refusal::ZeroSize,
        Refusal::NoPrice,
        Refusal::MaxPosition,
        Refusal::MaxNotional,
        Refusal::OppositeOrderOpen,
        Refusal::RateLimited,
        Refusal::BrokerRejected,
        Refusal::BrokerUnavailable,
    ];

    /// Stable snake_case name used in metrics, logs and `OrderUpdate.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "kill_switch",
            Refusal::Malformed => "malformed",
            Refusal::Duplicate => "duplicate",
            Refusal::Stale => "stale",
            Refusal::FutureTimestamp => "future_timestamp",
            Refusal::ZeroSize => "zero_size",
            Refusal::NoPrice => "no_price",
            Refusal::MaxPosition => "max_position",
            Refusal::MaxNotional => "max_notional",
            Refusal::OppositeOrderOpen => "opposite_order_open",
            Refusal::RateLimited => "rate_limited",
            Refusal::BrokerRejected => "broker_rejected",
            Refusal::BrokerUnavailable => "broker_unavailable",
        }
    }

    /// `refused_<name>`: the counter's name in `/health` and (as `tradebridge_refused_<name>_total`)
    /// in `/metrics`. Static because the telemetry API takes `&'static str` keys.
    pub fn metric_name(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "refused_kill_switch",
            Refusal::Malformed => "refused_malformed",
            Refusal::Duplicate => "refused_duplicate",
            Refusal::Stale => "refused_stale",
            Refusal::FutureTimestamp => "refused_future_timestamp",
            Refusal::ZeroSize => "refused_zero_size",
            Refusal::NoPrice => "refused_no_price",
            Refusal::MaxPosition => "refused_max_position",
            Refusal::MaxNotional => "refused_max_notional",
            Refusal::OppositeOrderOpen => "refused_opposite_order_open",
            Refusal::RateLimited => "refused_rate_limited",
            Refusal::BrokerRejected => "refused_broker_rejected",
            Refusal::BrokerUnavailable => "refused_broker_unavailable",
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

/// The limits, one set for every symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskLimits {
    /// Largest absolute projected position per symbol, in shares.
    pub max_position: f64,
    /// Largest absolute projected position per symbol, in dollars at the reference price.
    pub max_notional: f64,
    /// Orders submitted in any one-second window.
    pub max_orders_per_sec: u32,
    /// A signal older than this is refused.
    pub max_signal_age: Duration,
    /// A signal timestamped further than this in the future is refused.
    pub max_clock_skew: Duration,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            max_position: 100.0,
            max_notional: 50_000.0,
            max_orders_per_sec: 20,
            max_signal_age: Duration::from_secs(5),
            max_clock_skew: Duration::from_secs(1),
        }
    }
}

/// An order the engine would like to place for a signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal<'a> {
    pub symbol: &'a str,
    pub side: Side,
    /// Whole shares wanted before the limits clip it.
    pub qty: f64,
    /// The signal's timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// A price the signal carried, used when no market data has been seen for the symbol.
    pub price_hint: Option<f64>,
    /// The signal's id for duplicate detection, when it has one.
    pub signal_id: Option<&'a str>,
}

/// An accepted proposal: the size after the limits, and the price the notional check used.
#[derive(Clone, Debug, PartialEq)]
pub struct Approved {
    pub qty: f64,
    pub reference_price: f64,
    /// True when a limit (or the no-flip rule) made the order smaller than proposed.
    pub clipped: bool,
}

/// Positions, open-order exposure, prices, recent order times and refusal counters.
#[derive(Debug)]
pub struct RiskBook {
    limits: RiskLimits,
    kill_switch: bool,
    positions: HashMap<String, f64>,
    pending: HashMap<String, f64>,
    prices: HashMap<String, f64>,
    recent_orders: VecDeque<Instant>,
    seen_signal_ids: HashSet<String>,
    refusals: BTreeMap<Refusal, u64>,
}

impl RiskBook {
    pub fn new(limits: RiskLimits) -> Self {
        RiskBook {
            limits,
            kill_switch: false,
            positions: HashMap::new(),
            pending: HashMap::new(),
            prices: HashMap::new(),
            recent_orders: VecDeque::new(),
            seen_signal_ids: HashSet::new(),
            refusals: Refusal::ALL.iter().map(|r| (*r, 0)).collect(),
        }
    }

    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    pub fn set_kill_switch(&mut self, engaged: bool) {
        self.kill_switch = engaged;
    }

    pub fn kill_switch(&self) -> bool {
        self.kill_switch
    }

    /// Start from the broker's positions (a restart must not forget what is already held).
    pub fn set_position(&mut self, symbol: &str, qty: f64) {
        self.positions.insert(symbol.to_owned(), qty);
    }

    pub fn position(&self, symbol: &str) -> f64 {
        self.positions.get(symbol).copied().unwrap_or(0.0)
    }

    pub fn pending(&self, symbol: &str) -> f64 {
        self.pending.get(symbol).copied().unwrap_or(0.0)
    }

    pub fn positions(&self) -> &HashMap<String, f64> {
        &self.positions
    }

    /// The last market price of a symbol (from the market-data feed).
    pub fn set_price(&mut self, symbol: &str, price: f64) {
        if price.is_finite() && price > 0.0 {
            self.prices.insert(symbol.to_owned(), price);
        }
    }

    /// Count a refusal decided outside the book (malformed frames, broker answers).
    pub fn count(&mut self, refusal: Refusal) {
        *self.refusals.entry(refusal).or_insert(0) += 1;
    }

    pub fn refusal_counts(&self) -> &BTreeMap<Refusal, u64> {
        &self.refusals
    }

    pub fn refused_total(&self) -> u64 {
        self.refusals.values().sum()
    }

    /// Decide on a proposal. On success the order's size is reserved as pending exposure and counted
    /// against the rate limit; on refusal the reason is counted.
    pub fn check(
        &mut self,
        p: &Proposal<'_>,
        now_ms: u64,
        now: Instant,
    ) -> Result<Approved, Refusal> {
        let verdict = self.decide(p, now_ms, now);
        match &verdict {
            Ok(approved) => {
                self.recent_orders.push_back(now);
                *self.pending.entry(p.symbol.to_owned()).or_insert(0.0) +=
                    p.side.sign() * approved.qty;
            }
            Err(refusal) => self.count(*refusal),
        }
        verdict
    }

    fn decide(&mut self, p: &Proposal<'_>, now_ms: u64, now: Instant) -> Result<Approved, Refusal> {
        if self.kill_switch {
            return Err(Refusal::KillSwitch);
        }
        if let Some(id) = p.signal_id {
            if !self.seen_signal_ids.insert(id.to_owned()) {
                return Err(Refusal::Duplicate);
            }
        }
        if now_ms.saturating_sub(p.timestamp_ms) > self.limits.max_signal_age.as_millis() as u64 {
            return Err(Refusal::Stale);
        }
        if p.timestamp_ms.saturating_sub(now_ms) > self.limits.max_clock_skew.as_millis() as u64 {
            return Err(Refusal::FutureTimestamp);
        }
        let wanted = p.qty.floor();
        if wanted.is_nan() || wanted < 1.0 {
            return Err(Refusal::ZeroSize);
        }
        let pending = self.pending(p.symbol);
        if pending != 0.0 && pending.signum() != p.side.sign() {
            return Err(Refusal::OppositeOrderOpen);
        }
        let price = self
            .prices
            .get(p.symbol)
            .copied()
            .or(p.price_hint.filter(|x| x.is_finite() && *x > 0.0))
            .ok_or(Refusal::NoPrice)?;

        let projected = self.position(p.symbol) + pending;
        let reduces = projected != 0.0 && projected.signum() != p.side.sign();
        let qty = if reduces {
            wanted.min(projected.abs())
        } else {
            let by_position = (self.limits.max_position - projected.abs()).floor();
            if by_position < 1.0 {
                return Err(Refusal::MaxPosition);
            }
            let by_notional = (self.limits.max_notional / price).floor() - projected.abs();
            if by_notional < 1.0 {
                return Err(Refusal::MaxNotional);
            }
            wanted.min(by_position).min(by_notional.floor())
        };

        let window = Duration::from_secs(1);
        while self
            .recent_orders
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.recent_orders.pop_front();
        }
        if self.recent_orders.len() >= self.limits.max_orders_per_sec as usize {
            return Err(Refusal::RateLimited);
        }
        Ok(Approved {
            qty,
            reference_price: price,
            clipped: qty < wanted,
        })
    }

    /// An order filled `delta` more shares: they move from pending to the position.
    pub fn on_fill(&mut self, symbol: &str, side: Side, delta: f64) {
        if delta <= 0.0 {
            return;
        }
        let signed = side.sign() * delta;
        *self.positions.entry(symbol.to_owned()).or_insert(0.0) += signed;
        self.release(symbol, signed);
    }

    /// An order reached a final state with `unfilled` shares never filled: release that exposure.
    pub fn on_closed(&mut self, symbol: &str, side: Side, unfilled: f64) {
        if unfilled > 0.0 {
            self.release(symbol, side.sign() * unfilled);
        }
    }

    fn release(&mut self, symbol: &str, signed: f64) {
        if let Some(p) = self.pending.get_mut(symbol) {
            *p -= signed;
            // Shares are whole; anything left below half a share is float noise.
            if p.abs() < 0.5 {
                self.pending.remove(symbol);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_metric_named_after_it() {
        for reason in Refusal::ALL {
            assert_eq!(reason.metric_name(), format!("refused_{}", reason.as_str()));
        }
    }

    const NOW_MS: u64 = 1_700_000_000_000;

    fn limits() -> RiskLimits {
        RiskLimits {
            max_position: 100.0,
            max_notional: 10_000.0,
            max_orders_per_sec: 3,
            max_signal_age: Duration::from_millis(2_000),
            max_clock_skew: Duration::from_millis(500),
        }
    }

    fn book() -> RiskBook {
        let mut b = RiskBook::new(limits());
        b.set_price("AAPL", 50.0);
        b
    }

    fn buy(qty: f64) -> Proposal<'static> {
        Proposal {
            symbol: "AAPL",
            side: Side::Buy,
            qty,
            timestamp_ms: NOW_MS,
            price_hint: None,
            signal_id: None,
        }
    }

    fn sell(qty: f64) -> Proposal<'static> {
        Proposal {
            side: Side::Sell,
            ..buy(qty)
        }
    }

    #[test]
    fn accepts_within_limits_and_reserves_pending() {
        let mut b = book();
        let ok = b.check(&buy(10.0), NOW_MS, Instant::now()).unwrap();
        assert_eq!(
            ok,
            Approved {
                qty: 10.0,
                reference_price: 50.0,
                clipped: false
            }
        );
        assert_eq!(b.pending("AAPL"), 10.0);
        b.on_fill("AAPL", Side::Buy, 4.0);
        assert_eq!((b.position("AAPL"), b.pending("AAPL")), (4.0, 6.0));
        b.on_closed("AAPL", Side::Buy, 6.0);
        assert_eq!((b.position("AAPL"), b.pending("AAPL")), (4.0, 0.0));
        assert_eq!(b.refused_total(), 0);
    }

    #[test]
    fn clips_to_position_room_then_refuses() {
        let mut b = RiskBook::new(RiskLimits {
            max_notional: 1e9,
            ..limits()
        });
        b.set_price("AAPL", 50.0);
        b.set_position("AAPL", 95.0);
        let ok = b.check(&buy(10.0), NOW_MS, Instant::now()).unwrap();
        assert_eq!((ok.qty, ok.clipped), (5.0, true));
        assert_eq!(
            b.check(&buy(1.0), NOW_MS, Instant::now()),
            Err(Refusal::MaxPosition)
        );
        assert_eq!(b.refusal_counts()[&Refusal::MaxPosition], 1);
    }

    #[test]
    fn short_side_limits_are_symmetric() {
        let mut b = RiskBook::new(RiskLimits {
            max_notional: 1e9,
            ..limits()
        });
        b.set_price("AAPL", 50.0);
        b.set_position("AAPL", -100.0);
        assert_eq!(
            b.check(&sell(1.0), NOW_MS, Instant::now()),
            Err(Refusal::MaxPosition)
        );
    }

    #[test]
    fn notional_limit_uses_reference_price() {
        let mut b = book(); // 10_000 / 50 = 200 shares, position limit 100
        b.set_price("AAPL", 400.0); // 25 shares of room
        let ok = b.check(&buy(40.0), NOW_MS, Instant::now()).unwrap();
        assert_eq!((ok.qty, ok.reference_price), (25.0, 400.0));
        assert_eq!(
            b.check(&buy(1.0), NOW_MS, Instant::now()),
            Err(Refusal::MaxNotional)
        );
    }

    #[test]
    fn reducing_orders_pass_limits_but_never_flip() {
        let mut b = book();
        b.set_position("AAPL", 100.0);
        let ok = b.check(&sell(250.0), NOW_MS, Instant::now()).unwrap();
        assert_eq!((ok.qty, ok.clipped), (100.0, true));
    }

    #[test]
    fn opposite_open_order_is_refused() {
        let mut b = book();
        b.check(&buy(5.0), NOW_MS, Instant::now()).unwrap();
        assert_eq!(
            b.check(&sell(5.0), NOW_MS, Instant::now()),
            Err(Refusal::OppositeOrderOpen)
        );
    }

    #[test]
    fn stale_and_future_signals_are_refused() {
        let mut b = book();
        let old = Proposal {
            timestamp_ms: NOW_MS - 2_001,
            ..buy(1.0)
        };
        assert_eq!(b.check(&old, NOW_MS, Instant::now()), Err(Refusal::Stale));
        let edge = Proposal {
            timestamp_ms: NOW_MS - 2_000,
            ..buy(1.0)
        };
        assert!(b.check(&edge, NOW_MS, Instant::now()).is_ok());
        let future = Proposal {
            timestamp_ms: NOW_MS + 501,
            ..buy(1.0)
        };
        assert_eq!(
            b.check(&future, NOW_MS, Instant::now()),
            Err(Refusal::FutureTimestamp)
        );
    }

    #[test]
    fn zero_size_and_missing_price() {
        let mut b = book();
        assert_eq!(
            b.check(&buy(0.4), NOW_MS, Instant::now()),
            Err(Refusal::ZeroSize)
        );
        assert_eq!(
            b.check(&buy(f64::NAN), NOW_MS, Instant::now()),
            Err(Refusal::ZeroSize)
        );
        let unknown = Proposal {
            symbol: "MSFT",
            ..buy(1.0)
        };
        assert_eq!(
            b.check(&unknown, NOW_MS, Instant::now()),
            Err(Refusal::NoPrice)
        );
        let hinted = Proposal {
            symbol: "MSFT",
            price_hint: Some(10.0),
            ..buy(1.0)
        };
        assert_eq!(
            b.check(&hinted, NOW_MS, Instant::now())
                .unwrap()
                .reference_price,
            10.0
        );
    }

    #[test]
    fn rate_limit_is_a_sliding_one_second_window() {
        let mut b = RiskBook::new(RiskLimits {
            max_position: 1e9,
            max_notional: 1e12,
            ..limits()
        });
        b.set_price("AAPL", 1.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            b.check(&buy(1.0), NOW_MS, t0).unwrap();
        }
        assert_eq!(
            b.check(&buy(1.0), NOW_MS, t0 + Duration::from_millis(999)),
            Err(Refusal::RateLimited)
        );
        assert!(b
            .check(&buy(1.0), NOW_MS, t0 + Duration::from_millis(1_000))
            .is_ok());
    }

    #[test]
    fn kill_switch_and_duplicates() {
        let mut b = book();
        let first = Proposal {
            signal_id: Some("s-1"),
            ..buy(1.0)
        };
        assert!(b.check(&first, NOW_MS, Instant::now()).is_ok());
        assert_eq!(
            b.check(&first, NOW_MS, Instant::now()),
            Err(Refusal::Duplicate)
        );
        b.set_kill_switch(true);
        assert_eq!(
            b.check(&buy(1.0), NOW_MS, Instant::now()),
            Err(Refusal::KillSwitch)
        );
        b.set_kill_switch(false);
        assert!(b.check(&buy(1.0), NOW_MS, Instant::now()).is_ok());
        assert_eq!(b.refused_total(), 2);
        assert_eq!(b.refusal_counts()[&Refusal::KillSwitch], 1);
    }

    #[test]
    fn every_refusal_has_a_distinct_name() {
        let names: HashSet<_> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Refusal::ALL.len());
    }
}
