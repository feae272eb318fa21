//! Where a signal becomes a broker order, in three steps so the main loop never waits on the broker:
//! [`Engine::prepare`] (main loop: refusals, the journal, the risk check that reserves the exposure; a
//! signal without a trusted price is held while a reader asks the broker's quote, see `held.rs`, and
//! decided by [`Engine::next_resumed`]),
//! [`deliver`] (a worker thread: the POST with its retries, each attempt behind the kill switch's gate),
//! [`Engine::complete`] (main loop: the broker's answer folded into the book, the journal, the outcomes).
//! [`Engine::on_intent`] runs the three in a row, for callers without workers.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::held::{Held, PriceStep};
use super::{Engine, Intent, Outcome, Timing};
use crate::broker::{BrokerClient, BrokerError, BrokerOrder, OrderRequest};
use crate::journal::Journal;
use crate::kill::KillSwitch;
use crate::mapping;
use crate::risk::{Proposal, Refusal};

/// An approved order on its way to the broker. Its exposure is reserved in the book and, when the
/// signal has an id and a journal is kept, its acceptance is on disk.
#[derive(Clone, Debug)]
pub struct Submission {
    pub request: OrderRequest,
    intent: Intent,
    qty: f64,
    received: Instant,
    seq: u64,
}

impl Submission {
    pub fn client_order_id(&self) -> &str {
        &self.request.client_order_id
    }
}

/// What a worker learnt from the broker about one submission.
#[derive(Debug)]
pub struct Delivery {
    /// `Ok(None)`: the kill switch said no before any attempt reached the broker.
    sent: Result<Option<BrokerOrder>, BrokerError>,
    /// After a transient failure: the order looked up by its client order id.
    lookup: Option<Result<BrokerOrder, BrokerError>>,
    answered: Instant,
    /// Not sent: the order-rate window was full at the instant of sending.
    rate_limited: bool,
}

/// The order-rate limit where orders leave: a worker takes a place right before sending and, once
/// answered, the place moves to the answer's instant (the broker took the order in before it answered,
/// so a window of answer instants never undercounts any second the broker saw). Places of orders not
/// yet answered never expire. The risk book's own check at approval stays: this one holds when queued
/// orders go out together.
///
/// With [`RateClock::Market`] the window counts market time instead: each place is the timestamp of its
/// signal, so a replay at any speed, or a run whose pace depends on the machine, gets the same verdicts
/// for the same signals (given in the same order: one submission worker).
#[derive(Debug)]
pub struct RateGate {
    limit: usize,
    clock: RateClock,
    places: Mutex<Places>,
}

/// Which clock the order-rate window counts (`--rate-clock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RateClock {
    /// The engine's own clock: when orders were sent and answered.
    #[default]
    Wall,
    /// The signals' timestamps (the market's time in a replay or a deterministic run).
    Market,
}

/// The last place number given, and the places taken: (number, when). `When` is the answer's instant
/// (`None` while in flight) on the wall clock, the signal's timestamp in ms on the market clock.
#[derive(Debug, Default)]
struct Places {
    next: u64,
    wall: VecDeque<(u64, Option<Instant>)>,
    market: VecDeque<(u64, u64)>,
}

const WINDOW: Duration = Duration::from_secs(1);
const WINDOW_MS: u64 = 1_000;

impl RateGate {
    pub fn new(per_second: u32) -> Self {
        Self::with_clock(per_second, RateClock::Wall)
    }

    pub fn with_clock(per_second: u32, clock: RateClock) -> Self {
        RateGate {
            limit: per_second.max(1) as usize,
            clock,
            places: Mutex::new(Places::default()),
        }
    }

    /// A place for an order whose signal is timestamped `signal_ms`, or `None` when the window is full.
    fn acquire(&self, signal_ms: u64) -> Option<u64> {
        let mut guard = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        let places = &mut *guard;
        let taken = match self.clock {
            RateClock::Wall => {
                let now = Instant::now();
                places
                    .wall
                    .retain(|(_, at)| at.is_none_or(|t| now.duration_since(t) < WINDOW));
                places.wall.len()
            }
            RateClock::Market => {
                // Signals may come slightly out of time order: the window is centred on this one.
                let newest = places.market.iter().map(|(_, t)| *t).max().unwrap_or(0);
                let horizon = newest.max(signal_ms).saturating_sub(WINDOW_MS);
                places.market.retain(|(_, t)| *t > horizon);
                places
                    .market
                    .iter()
                    .filter(|(_, t)| t.abs_diff(signal_ms) < WINDOW_MS)
                    .count()
            }
        };
        if taken >= self.limit {
            return None;
        }
        places.next += 1;
        let place = places.next;
        match self.clock {
            RateClock::Wall => places.wall.push_back((place, None)),
            RateClock::Market => places.market.push_back((place, signal_ms)),
        }
        Some(place)
    }

    fn answered(&self, place: u64, at: Instant) {
        let mut guard = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = guard.wall.iter_mut().find(|(id, _)| *id == place) {
            entry.1 = Some(at);
        }
    }

    fn release(&self, place: u64) {
        let mut guard = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        guard.wall.retain(|(id, _)| *id != place);
        guard.market.retain(|(id, _)| *id != place);
    }
}

/// What [`Engine::prepare`] decided.
#[derive(Debug)]
pub enum Prepared {
    /// Refused (or nothing to do): publish these.
    Done(Vec<Outcome>),
    /// Send it ([`deliver`]), then hand the answer to [`Engine::complete`].
    Submit(Box<Submission>),
    /// Waiting for its price (a quote asked of the broker): see [`Engine::next_resumed`]. The signal's
    /// client order id, by which the caller knows it again.
    Held(String),
}

/// Send one submission (on a worker): every attempt asks the kill switch right before it leaves and
/// holds its gate until the answer is read; after a transient failure the order is looked up by its
/// client order id, since it may have landed.
pub fn deliver(
    broker: &BrokerClient,
    kill: &KillSwitch,
    gate: Option<&RateGate>,
    job: &Submission,
) -> Delivery {
    let place = match gate.map(|g| g.acquire(job.intent.timestamp_ms)) {
        Some(None) => {
            return Delivery {
                sent: Ok(None),
                lookup: None,
                answered: Instant::now(),
                rate_limited: true,
            }
        }
        Some(Some(place)) => Some(place),
        None => None,
    };
    let sent = broker.submit_while(&job.request, || kill.permit());
    if let (Some(gate), Some(place)) = (gate, place) {
        match sent {
            Ok(None) => gate.release(place),
            _ => gate.answered(place, Instant::now()),
        }
    }
    let lookup = match &sent {
        Err(error) if error.is_transient() => {
            Some(broker.get_by_client_order_id(job.client_order_id()))
        }
        _ => None,
    };
    Delivery {
        sent,
        lookup,
        answered: Instant::now(),
        rate_limited: false,
    }
}

/// Alpaca's answer to a second order with the same client order id (422, "client_order_id must be
/// unique"): this signal's order is already at the broker.
fn is_duplicate_client_order_id(error: &BrokerError) -> bool {
    matches!(error, BrokerError::Rejected { status: 422, message, .. } if message.contains("client_order_id"))
}

impl Engine {
    /// Keep accepted signals in `journal` (see [`crate::journal`]).
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Flush the journal (shutdown).
    pub fn sync_journal(&mut self) {
        if let Some(journal) = &mut self.journal {
            if let Err(error) = journal.sync() {
                tracing::error!(%error, code = error.code(), "cannot flush the journal");
            }
        }
    }

    /// Record the broker's answer about an accepted signal (start-up lookups included: see
    /// `fetch.rs`): at the broker, the signal is spent; not there, it is forgotten, so its re-delivery
    /// is ordered.
    pub(super) fn settle(&mut self, signal_id: &str, placed: bool) {
        if let Some(journal) = &mut self.journal {
            if let Err(error) = journal.settle(signal_id, placed, crate::kill::now_us() / 1_000) {
                // Not fatal: an unsettled entry is resolved by a lookup at the next start-up.
                tracing::error!(%error, code = error.code(), %signal_id, "cannot record a settled order in the journal");
            }
        }
    }

    /// The client order id for a signal (see [`mapping::client_order_id`]); without a signal id,
    /// `tb-<run>-<n>` (unique to this run: such a signal cannot be recognised when delivered again).
    fn client_order_id_for(&mut self, intent: &Intent) -> String {
        self.next_seq += 1;
        match intent.signal_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => mapping::client_order_id(id),
            None => {
                self.counters.signals_without_id += 1;
                format!("tb-{}-{}", self.run_id, self.next_seq)
            }
        }
    }

    pub(super) fn refused(
        &self,
        intent: &Intent,
        client_order_id: &str,
        seq: u64,
        reason: Refusal,
        detail: String,
    ) -> Outcome {
        Outcome::Refused {
            // A duplicate must not reuse the id of the order its first copy placed.
            client_order_id: if reason == Refusal::Duplicate {
                format!("tb-{}-{seq}", self.run_id)
            } else {
                client_order_id.to_owned()
            },
            signal_id: intent.signal_id.clone().filter(|id| !id.is_empty()),
            symbol: intent.symbol.clone(),
            side: intent.side,
            qty: intent.qty,
            reason,
            detail,
        }
    }

    /// Decide on one intent; `room`: the submission queue can take one more. An approved order has its
    /// exposure reserved and (with a journal and a signal id) its acceptance fsync'd before it is handed
    /// out for sending.
    pub fn prepare(
        &mut self,
        intent: &Intent,
        now_ms: u64,
        received: Instant,
        room: bool,
    ) -> Prepared {
        self.counters.signals_received += 1;
        let client_order_id = self.client_order_id_for(intent);
        let seq = self.next_seq;
        let held = Held {
            intent: intent.clone(),
            client_order_id,
            seq,
            received,
            deadline: Instant::now() + self.settings.price_wait,
            failure: None,
        };
        self.decide_one(held, false, now_ms, room)
    }

    /// Decide a signal held for its price, now that it can be (see [`Engine::next_resumed`]).
    pub(super) fn decide(&mut self, held: Held, now_ms: u64, room: bool) -> Prepared {
        self.decide_one(held, true, now_ms, room)
    }

    fn decide_one(&mut self, held: Held, waited: bool, now_ms: u64, room: bool) -> Prepared {
        let (intent, client_order_id, seq, received) =
            (&held.intent, &held.client_order_id, held.seq, held.received);
        let refuse = |engine: &mut Engine, reason: Refusal, detail: String, count: bool| {
            if count {
                engine.book.count(reason);
            }
            Prepared::Done(vec![engine.refused(
                intent,
                client_order_id,
                seq,
                reason,
                detail,
            )])
        };
        // Before anything else (a refused signal's id is not spent: its sender may send it again).
        if self.kill.engaged() {
            return refuse(self, Refusal::KillSwitch, String::new(), true);
        }
        if !self.synced {
            return refuse(self, Refusal::ExposureUnknown, String::new(), true);
        }
        let signal_id = intent.signal_id.as_deref().filter(|id| !id.is_empty());
        if let (Some(journal), Some(id)) = (&self.journal, signal_id) {
            // Settled: the broker holds its order. Unsettled ones are in flight (the risk book knows
            // them) or unknown after a failure (sent again under the same client order id).
            if journal.known(id, now_ms).is_some_and(|e| e.settled) {
                self.counters.duplicates_from_journal += 1;
                return refuse(self, Refusal::Duplicate, "in the journal".into(), true);
            }
        }
        if !room {
            return refuse(self, Refusal::QueueFull, String::new(), true);
        }
        match self.price_step(intent, waited.then_some(&held)) {
            PriceStep::Ready => {}
            PriceStep::Refuse(reason, detail) => return refuse(self, reason, detail, false),
            // Resumed too early (cannot happen: resumed only once decidable): back to its place.
            PriceStep::Wait if waited => {
                let id = held.client_order_id.clone();
                self.held.push_front(held);
                return Prepared::Held(id);
            }
            PriceStep::Wait => return self.hold(held),
        }
        let proposal = Proposal {
            symbol: &intent.symbol,
            side: intent.side,
            qty: intent.qty,
            timestamp_ms: intent.timestamp_ms,
            price_hint: intent.price_hint,
            signal_id,
        };
        // Reserved now: a later signal is checked against this order's exposure while it is in flight.
        let approved = match self.book.check(&proposal, now_ms, Instant::now()) {
            Ok(a) => a,
            Err(reason) => return refuse(self, reason, String::new(), false),
        };
        if let (Some(journal), Some(id)) = (&mut self.journal, signal_id) {
            if let Err(error) = journal.accept(id, client_order_id, now_ms) {
                tracing::error!(%error, code = error.code(), %client_order_id, "cannot journal an accepted signal; not sent");
                self.book
                    .not_sent(&intent.symbol, intent.side, approved.qty);
                self.book.forget_signal(id);
                return refuse(self, Refusal::JournalUnavailable, error.to_string(), true);
            }
        }
        self.in_flight += 1;
        Prepared::Submit(Box::new(Submission {
            request: OrderRequest::market(
                &intent.symbol,
                intent.side,
                approved.qty,
                client_order_id,
            ),
            intent: intent.clone(),
            qty: approved.qty,
            received,
            seq,
        }))
    }

    /// Fold the broker's answer to a submission into the book, the journal and the outcomes.
    pub fn complete(&mut self, job: Submission, delivery: Delivery) -> (Vec<Outcome>, Vec<Timing>) {
        let Submission {
            request,
            intent,
            qty,
            received,
            seq,
        } = job;
        self.in_flight = self.in_flight.saturating_sub(1);
        let client_order_id = request.client_order_id;
        let signal_id = intent.signal_id.clone().filter(|id| !id.is_empty());
        let settle = |engine: &mut Engine, placed: bool| {
            if let Some(id) = &signal_id {
                engine.settle(id, placed);
                if !placed {
                    // Not at the broker: a publisher's retry of this signal must be ordered, not refused.
                    engine.book.forget_signal(id);
                }
            }
        };
        let refused = |engine: &Engine, reason: Refusal, detail: String| {
            (
                vec![engine.refused(&intent, &client_order_id, seq, reason, detail)],
                vec![],
            )
        };
        if delivery.rate_limited {
            self.book.not_sent(&intent.symbol, intent.side, qty);
            self.book.count(Refusal::RateLimited);
            settle(self, false);
            return refused(
                self,
                Refusal::RateLimited,
                "at the instant of sending".into(),
            );
        }
        if !matches!(delivery.sent, Ok(None)) {
            self.book.order_sent(delivery.answered);
        }
        let error = match delivery.sent {
            Ok(None) => {
                self.book.not_sent(&intent.symbol, intent.side, qty);
                self.book.count(Refusal::KillSwitch);
                self.counters.orders_halted += 1;
                settle(self, false);
                tracing::warn!(%client_order_id, "order not sent: the kill switch engaged");
                return refused(self, Refusal::KillSwitch, String::new());
            }
            Ok(Some(order)) => {
                self.counters.orders_submitted += 1;
                settle(self, true);
                return self.follow(order, intent.side, received);
            }
            Err(error) => error,
        };
        self.counters.orders_submitted += 1;
        if is_duplicate_client_order_id(&error) {
            // Placed before (a restart that forgot it, or a second engine): the broker kept one order.
            self.book.on_closed(&intent.symbol, intent.side, qty);
            self.book.count(Refusal::Duplicate);
            self.counters.duplicates_from_broker += 1;
            settle(self, true);
            tracing::info!(%client_order_id, "the broker already holds this signal's order");
            return refused(self, Refusal::Duplicate, error.to_string());
        }
        if error.is_transient() {
            // No answer to trust: the order may have landed. It was asked for by its id.
            match delivery.lookup {
                Some(Ok(order)) => {
                    tracing::info!(%client_order_id, "order found at the broker after the submission failed");
                    settle(self, true);
                    return self.follow(order, intent.side, received);
                }
                Some(Err(BrokerError::Rejected { status: 404, .. })) | None => {}
                Some(Err(lookup)) => {
                    // Unknown: the reservation stays, the journal entry stays unsettled (looked up at
                    // the next start), and the exposure is loaded again before the next signal. A
                    // re-delivery is sent again under the same client order id: the broker keeps one.
                    if let Some(id) = &signal_id {
                        self.book.forget_signal(id);
                    }
                    tracing::error!(%client_order_id, %error, %lookup,
                        "order may or may not be at the broker; exposure will be reloaded");
                    self.synced = false;
                    self.broker_failed(&error);
                    self.book.count(Refusal::BrokerUnavailable);
                    return refused(self, Refusal::BrokerUnavailable, error.to_string());
                }
            }
        }
        // The broker answered that the order is not there: release its reservation.
        self.book.on_closed(&intent.symbol, intent.side, qty);
        settle(self, false);
        let reason = if error.is_transient() {
            self.broker_failed(&error);
            Refusal::BrokerUnavailable
        } else {
            Refusal::BrokerRejected
        };
        self.book.count(reason);
        tracing::warn!(%client_order_id, symbol = %intent.symbol, %error, "order not placed");
        refused(self, reason, error.to_string())
    }

    /// Decide on one intent and, if accepted, submit it on this thread. Returns what to publish and
    /// timings to record.
    pub fn on_intent(
        &mut self,
        intent: &Intent,
        now_ms: u64,
        received: Instant,
    ) -> (Vec<Outcome>, Vec<Timing>) {
        match self.prepare(intent, now_ms, received, true) {
            Prepared::Done(outcomes) => (outcomes, vec![]),
            // Decided later, by `next_resumed`, once the quote is answered.
            Prepared::Held(_) => (vec![], vec![]),
            Prepared::Submit(job) => {
                let delivery = deliver(&self.broker, &self.kill, None, &job);
                self.complete(*job, delivery)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_gate_counts_sends_in_flight_and_answered_ones_for_a_second() {
        let gate = RateGate::new(2);
        let first = gate.acquire(0).expect("room");
        let second = gate.acquire(0).expect("room");
        assert_eq!(gate.acquire(0), None, "two in flight fill a limit of 2");
        gate.release(first); // not sent (kill switch): its place is given back
        let third = gate.acquire(0).expect("room again");
        // Answered long ago: the place has left the window.
        gate.answered(second, Instant::now() - Duration::from_secs(2));
        assert!(gate.acquire(0).is_some());
        gate.answered(third, Instant::now());
        assert_eq!(gate.acquire(0), None);
    }

    #[test]
    fn on_the_market_clock_the_gate_counts_signal_timestamps_whatever_the_pace() {
        let gate = RateGate::with_clock(2, RateClock::Market);
        let t = 1_735_828_200_000;
        let first = gate.acquire(t).expect("room");
        gate.answered(first, Instant::now() + Duration::from_secs(60)); // wall time is ignored
        assert!(gate.acquire(t + 999).is_some());
        assert_eq!(
            gate.acquire(t + 999),
            None,
            "two signals within a market second"
        );
        // A minute of market time later the window is empty, however little wall time passed.
        assert!(gate.acquire(t + 60_000).is_some());
        assert!(gate.acquire(t + 60_000).is_some());
        let third = gate.acquire(t + 60_500);
        assert_eq!(third, None);
        // A place given back (not sent) frees its room.
        let gate = RateGate::with_clock(1, RateClock::Market);
        let only = gate.acquire(t).expect("room");
        gate.release(only);
        assert!(gate.acquire(t).is_some());
    }

    #[test]
    fn a_repeated_client_order_id_is_recognised() {
        let repeated = BrokerError::Rejected {
            status: 422,
            code: Some(40010001),
            message: "client_order_id must be unique".into(),
        };
        let other = BrokerError::Rejected {
            status: 422,
            code: Some(40310000),
            message: "insufficient buying power".into(),
        };
        assert!(is_duplicate_client_order_id(&repeated));
        assert!(!is_duplicate_client_order_id(&other));
    }
}
