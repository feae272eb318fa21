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
//!
//! Prices: the notional limit uses a *trusted* price (the market-data bus or the broker's quote, recorded
//! with [`RiskBook::set_price`]), never the signal's own `price` alone. A signal that states a
//! price further than `price_band` from the trusted one is refused (`price_band`); without a trusted price
//! the signal is refused (`no_price`) unless `allow_signal_price` says the stated price may stand in.
//!
//! The order-rate window holds the instants orders were *sent*: the engine checks it right before the
//! send and moves the entry to the instant the broker answered ([`RiskBook::order_sent`]), which is never
//! before the broker took the order in.

mod refusal;
mod seen;
#[cfg(test)]
mod tests;

pub use refusal::{Refusal, Side};
pub use seen::SeenIds;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The limits, one set for every symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskLimits {
    /// Largest absolute projected position per symbol, in shares.
    pub max_position: f64,
    /// Largest absolute projected position per symbol, in dollars at the trusted price.
    pub max_notional: f64,
    /// Orders sent in any one-second window.
    pub max_orders_per_sec: u32,
    /// Largest relative distance between a signal's stated price and the trusted price (0.05 = 5%).
    pub price_band: f64,
    /// A trusted price older than this is not used (the broker's quote is asked again).
    pub max_price_age: Duration,
    /// With no trusted price, use the signal's stated price (offline demos only).
    pub allow_signal_price: bool,
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
            price_band: 0.05,
            max_price_age: Duration::from_secs(5),
            allow_signal_price: false,
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
    /// The price the signal states (`price`): checked against the trusted price, used in its
    /// place only with `allow_signal_price`.
    pub price_hint: Option<f64>,
    /// The signal's id for duplicate detection, when it has one.
    pub signal_id: Option<&'a str>,
}

/// An accepted proposal: the size after the limits, and the price the notional check used.
/// Its size is reserved as pending exposure and its send counted in the rate window until the broker
/// answers ([`RiskBook::order_sent`], [`RiskBook::not_sent`]).
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
    positions: HashMap<String, f64>,
    pending: HashMap<String, f64>,
    /// Trusted prices and when they were seen.
    prices: HashMap<String, (f64, Instant)>,
    recent_orders: VecDeque<Instant>,
    /// Signal ids checked in this run, bounded by time and count ([`RiskBook::with_seen_window`]).
    seen_signal_ids: SeenIds,
    refusals: BTreeMap<Refusal, u64>,
}

impl RiskBook {
    pub fn new(limits: RiskLimits) -> Self {
        RiskBook {
            limits,
            positions: HashMap::new(),
            pending: HashMap::new(),
            prices: HashMap::new(),
            recent_orders: VecDeque::new(),
            seen_signal_ids: SeenIds::default(),
            refusals: Refusal::ALL.iter().map(|r| (*r, 0)).collect(),
        }
    }

    /// Remember checked signal ids for `window` and at most `max` of them (see [`SeenIds`]).
    pub fn with_seen_window(mut self, window: Duration, max: usize) -> Self {
        self.seen_signal_ids = SeenIds::new(window, max);
        self
    }

    /// Signal ids in the duplicate window now.
    pub fn seen_signal_ids(&self) -> usize {
        self.seen_signal_ids.len()
    }

    pub fn limits(&self) -> &RiskLimits {
        &self.limits
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

    /// The signed unfilled remainder of open orders, per symbol.
    pub fn pending_all(&self) -> &HashMap<String, f64> {
        &self.pending
    }

    /// Replace the exposure with the broker's: filled positions and the signed unfilled remainder of its
    /// open orders, per symbol (start-up, and after the kill switch is released).
    pub fn reset_exposure(
        &mut self,
        positions: impl IntoIterator<Item = (String, f64)>,
        pending: impl IntoIterator<Item = (String, f64)>,
    ) {
        self.positions = positions.into_iter().filter(|(_, q)| *q != 0.0).collect();
        self.pending.clear();
        for (symbol, signed) in pending {
            *self.pending.entry(symbol).or_insert(0.0) += signed;
        }
        self.pending.retain(|_, p| p.abs() >= 0.5);
    }

    /// A trusted price of a symbol (market-data bus, broker quote) seen at `at`.
    pub fn set_price(&mut self, symbol: &str, price: f64, at: Instant) {
        if price.is_finite() && price > 0.0 {
            self.prices.insert(symbol.to_owned(), (price, at));
        }
    }

    /// The trusted price of a symbol, unless older than `max_price_age` at `now`.
    pub fn trusted_price(&self, symbol: &str, now: Instant) -> Option<f64> {
        self.prices
            .get(symbol)
            .filter(|(_, at)| now.saturating_duration_since(*at) <= self.limits.max_price_age)
            .map(|(price, _)| *price)
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

    /// Decide on a proposal right before its order is sent (`now`: that instant). On success the order's
    /// size is reserved as pending exposure and its send takes a place in the rate window; on refusal
    /// the reason is counted.
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
        if let Some(id) = p.signal_id {
            if !self.seen_signal_ids.insert(id, now_ms) {
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
        let stated = p.price_hint.filter(|x| x.is_finite() && *x > 0.0);
        let price = match (self.trusted_price(p.symbol, now), stated) {
            (Some(trusted), Some(stated))
                if (stated - trusted).abs() > self.limits.price_band * trusted =>
            {
                return Err(Refusal::PriceBand)
            }
            (Some(trusted), _) => trusted,
            (None, Some(stated)) if self.limits.allow_signal_price => stated,
            (None, _) => return Err(Refusal::NoPrice),
        };

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

    /// The order approved last was sent and the broker answered at `answered`: its place in the rate
    /// window moves there. The broker took the order in at some instant before its answer, so a window
    /// of answer instants never undercounts the orders the broker saw in any second.
    pub fn order_sent(&mut self, answered: Instant) {
        if let Some(last) = self.recent_orders.back_mut() {
            *last = answered;
        }
    }

    /// The order approved last was never sent (the kill switch engaged in between): it gives back its
    /// place in the rate window and its reserved exposure.
    pub fn not_sent(&mut self, symbol: &str, side: Side, qty: f64) {
        self.recent_orders.pop_back();
        self.on_closed(symbol, side, qty);
    }

    /// The signal `id` did not reach the broker (refused by it, or not sent): it may be delivered again.
    pub fn forget_signal(&mut self, id: &str) {
        self.seen_signal_ids.remove(id);
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
