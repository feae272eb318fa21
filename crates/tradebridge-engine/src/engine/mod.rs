//! The engine's core loop body, independent of sockets: an intent goes through the risk book, becomes a
//! broker order, and is followed to its final state. Every step yields [`Outcome`]s, which the binary
//! publishes as `OrderUpdate`s.
//!
//! The loop thread never waits on the broker: submissions go to the pool's workers (`pool.rs`), reads
//! (quotes, polls, the exposure load, reconciliations) and the kill switch's account actions to the
//! readers (`fetch.rs`); their answers are folded in by [`Engine::take_answers`] on the loop thread, the
//! only one that changes the engine's state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::{BrokerClient, BrokerError, BrokerOrder};
use crate::journal::Journal;
use crate::kill::KillSwitch;
use crate::risk::{Refusal, RiskBook, Side};

mod account;
mod fetch;
mod held;
mod pool;
mod streamed;
mod submit;

pub use pool::Pool;
pub use submit::{deliver, Delivery, Prepared, RateClock, RateGate, Submission};

/// What a signal asks for, after the documented mapping (see [`crate::mapping`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub symbol: String,
    pub side: Side,
    pub qty: f64,
    pub timestamp_ms: u64,
    pub price_hint: Option<f64>,
    /// The signal's own id (its `signal_id` field), used for duplicate detection and the client order id.
    pub signal_id: Option<String>,
}

/// Something the bus should hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The signal did not become an order at the broker. `qty` is what was asked for.
    Refused {
        client_order_id: String,
        /// The signal's id, for the `OrderUpdate` (a duplicate's client order id is not derived from it).
        signal_id: Option<String>,
        symbol: String,
        side: Side,
        qty: f64,
        reason: Refusal,
        detail: String,
    },
    /// The broker's view of an order changed (acknowledged, partly filled, final).
    Order(BrokerOrder),
    /// The order's status could not be read for too long: the engine stops following it. `order` is the
    /// last state seen; its exposure stays reserved in the risk book (it may still fill at the broker).
    LookupFailed { order: BrokerOrder, detail: String },
}

/// Counters the health endpoint and the final log line report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub signals_received: u64,
    pub orders_submitted: u64,
    pub orders_acknowledged: u64,
    pub orders_filled: u64,
    pub orders_final_unfilled: u64,
    pub fills: u64,
    pub filled_shares: f64,
    pub order_updates: u64,
    /// Broker requests that failed (after retries for submissions).
    pub broker_errors: u64,
    /// Orders given up on because their status lookup kept failing (reason `broker:lookup_failed`).
    pub orders_lookup_failed: u64,
    /// Orders approved but not sent because the kill switch engaged between the check and the send (or
    /// between two attempts): refused `kill_switch`.
    pub orders_halted: u64,
    /// Orders canceled by the kill switch's `--kill-switch-cancel-orders`.
    pub kill_switch_orders_canceled: u64,
    /// Positions closed by the kill switch's `--kill-switch-flatten`.
    pub kill_switch_positions_flattened: u64,
    /// Latest-quote requests to the broker's data API, and those that failed.
    pub quote_requests: u64,
    pub quote_errors: u64,
    /// Successful loads of open orders and positions from the broker, and failed attempts.
    pub exposure_syncs: u64,
    pub exposure_sync_failures: u64,
    /// Open orders found at the broker by the last load (and followed since).
    pub open_orders_loaded: u64,
    /// Signals without a `signal_id`: ordered under a per-run client order id, so a re-delivery of one
    /// cannot be recognised (idempotency needs the id).
    pub signals_without_id: u64,
    /// Duplicates recognised by the journal (delivered again after a restart), and by the broker's 422
    /// on a client order id it already holds.
    pub duplicates_from_journal: u64,
    pub duplicates_from_broker: u64,
    /// Start-up: unsettled journal entries found at the broker, and not found there (forgotten).
    pub journal_found_at_broker: u64,
    pub journal_not_at_broker: u64,
    /// Order status lookups (`GET /v2/orders/{id}`) by the poll; of them, those made while the trade
    /// stream was down (`poll_fallback`) and the slow safety polls made while it was up.
    pub order_polls: u64,
    pub poll_fallback: u64,
    pub safety_polls: u64,
    /// Order updates learnt from the trade stream, from polls, and from reconciliations after a connect.
    pub updates_from_stream: u64,
    pub updates_from_poll: u64,
    pub updates_from_reconcile: u64,
    /// Trade-stream events read; those that changed nothing (already known, or of orders not followed).
    pub stream_events: u64,
    pub stream_events_stale: u64,
    pub stream_events_malformed: u64,
    pub stream_connects: u64,
    pub stream_disconnects: u64,
    /// Reconciliations after a (re)connect, and those whose open-orders read failed.
    pub stream_reconciles: u64,
    pub stream_reconcile_failures: u64,
    /// Signals that waited for a broker quote (held, the loop reading on), and those whose wait ran
    /// past `--price-wait-ms` (refused `broker_unavailable` unless their stated price may stand in).
    pub signals_held: u64,
    pub price_waits_expired: u64,
    /// Broker reads not asked because the readers' queue was full (a poll is tried again later; a
    /// quote's signal is refused `queue_full`).
    pub broker_reads_deferred: u64,
}

#[derive(Debug)]
struct OpenOrder {
    order: BrokerOrder,
    side: Side,
    submitted: Instant,
    next_poll: Instant,
    cancel_requested: bool,
    /// Consecutive failed status lookups, and when the first of them happened.
    lookup_failures: u32,
    failing_since: Option<Instant>,
    /// A status lookup is on a reader now (not asked again until answered).
    polling: bool,
}

/// Tuning that is not a risk limit.
#[derive(Clone, Debug)]
pub struct ExecutionSettings {
    /// How often each open order is polled (`GET /v2/orders/{id}`).
    pub poll_interval: Duration,
    /// An order still open after this long is canceled (and still followed to its final state).
    pub order_timeout: Duration,
    /// Consecutive failed status lookups after which an order is given up (`broker:lookup_failed`).
    pub lookup_max_failures: u32,
    /// How long status lookups may keep failing before the order is given up, whatever their number.
    pub lookup_deadline: Duration,
    /// While the trade stream is up, each open order is still looked up this often (in case an event was
    /// lost without the connection dropping, as a muted socket does).
    pub safety_poll_interval: Duration,
    /// Threads reading from the broker (quotes, polls, the exposure), and how many reads may be pending.
    pub broker_readers: usize,
    pub broker_read_queue: usize,
    /// How long a signal may wait for the broker's quote, and how many may wait at once.
    pub price_wait: Duration,
    pub price_wait_queue: usize,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        ExecutionSettings {
            poll_interval: Duration::from_millis(25),
            order_timeout: Duration::from_secs(30),
            lookup_max_failures: 20,
            lookup_deadline: Duration::from_secs(30),
            safety_poll_interval: Duration::from_secs(5),
            broker_readers: 2,
            broker_read_queue: 1024,
            price_wait: Duration::from_secs(2),
            price_wait_queue: 1024,
        }
    }
}

/// Latencies measured inside the engine, handed to the caller to record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// Signal received -> broker acknowledged the order (the POST round trip, retries included).
    SubmitToAck(Duration),
    /// Signal received -> the order was seen filled.
    SubmitToFill(Duration),
}

pub struct Engine {
    book: RiskBook,
    /// Shared with the submission workers.
    broker: Arc<BrokerClient>,
    /// Accepted signals kept across restarts (`--journal`); `None`: in memory only.
    journal: Option<Journal>,
    kill: KillSwitch,
    /// Open orders and positions were loaded from the broker: until then every signal is refused.
    synced: bool,
    settings: ExecutionSettings,
    open: Vec<OpenOrder>,
    counters: Counters,
    run_id: String,
    next_seq: u64,
    last_broker_error: Option<(Instant, String)>,
    /// Client order ids of the orders given up on, newest last (a bounded list, for `/health`).
    unresolved: Vec<String>,
    /// Submissions prepared and not yet completed (with the broker, or queued for a worker).
    in_flight: usize,
    /// The trade stream: its events (when configured), and whether it is connected (listening) now.
    stream_events: Option<std::sync::mpsc::Receiver<crate::stream::StreamEvent>>,
    stream_enabled: bool,
    stream_up: bool,
    /// Stream snapshots of orders not (yet) followed, by order id: an event can overtake the answer to
    /// the order's own submission. Taken when the order is followed; forgotten after a while.
    early: std::collections::HashMap<String, (Instant, BrokerOrder)>,
    /// Broker reads on their way, and what the loop waits on from them.
    fetcher: fetch::Fetcher,
    /// Symbols whose latest quote is being read.
    quoting: std::collections::HashSet<String>,
    /// Signals waiting for their price, oldest first.
    held: std::collections::VecDeque<held::Held>,
    /// An exposure load or a stream reconciliation is on a reader.
    loading: bool,
    reconciling: bool,
    /// The load on its way was asked before [`Engine::mark_unsynced`]: its answer is not trusted.
    load_stale: bool,
    /// The result of the last exposure load since [`Engine::take_sync_result`] (for the caller's log and
    /// readiness).
    sync_result: Option<Result<(usize, usize), String>>,
}

/// How many given-up client order ids `/health` lists.
const UNRESOLVED_SHOWN: usize = 20;

impl Engine {
    pub fn new(
        book: RiskBook,
        broker: BrokerClient,
        kill: KillSwitch,
        settings: ExecutionSettings,
        run_id: String,
    ) -> Self {
        let broker = Arc::new(broker);
        let fetcher = fetch::Fetcher::start(
            broker.clone(),
            settings.broker_readers,
            settings.broker_read_queue,
        );
        Engine {
            book,
            broker,
            journal: None,
            kill,
            synced: false,
            settings,
            open: Vec::new(),
            counters: Counters::default(),
            run_id,
            next_seq: 0,
            last_broker_error: None,
            unresolved: Vec::new(),
            in_flight: 0,
            stream_events: None,
            stream_enabled: false,
            stream_up: false,
            early: std::collections::HashMap::new(),
            fetcher,
            quoting: std::collections::HashSet::new(),
            held: std::collections::VecDeque::new(),
            loading: false,
            reconciling: false,
            load_stale: false,
            sync_result: None,
        }
    }

    pub fn book(&self) -> &RiskBook {
        &self.book
    }

    pub fn book_mut(&mut self) -> &mut RiskBook {
        &mut self.book
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn broker(&self) -> &BrokerClient {
        &self.broker
    }

    /// The broker client, for submission workers.
    pub fn broker_handle(&self) -> Arc<BrokerClient> {
        self.broker.clone()
    }

    /// Client order ids of the latest orders given up on because their status could not be read.
    pub fn unresolved_orders(&self) -> &[String] {
        &self.unresolved
    }

    /// The last broker failure, if it happened within `window`: the service is degraded meanwhile.
    pub fn recent_broker_error(&self, window: Duration) -> Option<&str> {
        self.last_broker_error
            .as_ref()
            .filter(|(at, _)| at.elapsed() < window)
            .map(|(_, text)| text.as_str())
    }

    fn broker_failed(&mut self, error: &BrokerError) {
        self.counters.broker_errors += 1;
        self.last_broker_error = Some((Instant::now(), error.to_string()));
    }

    /// Orders followed, approved ones still on their way to the broker (handed to a worker), and signals
    /// waiting for their price: zero means every signal received so far has its outcome.
    pub fn open_orders(&self) -> usize {
        self.open.len() + self.in_flight + self.held.len()
    }

    /// Broker reads asked and not answered yet (the loop looks for their answers often meanwhile).
    pub fn reads_pending(&self) -> usize {
        self.fetcher.pending()
    }

    /// Fold in every broker read answered so far: what to publish and timings to record.
    pub fn take_answers(&mut self) -> (Vec<Outcome>, Vec<Timing>) {
        let mut outcomes = Vec::new();
        let mut timings = Vec::new();
        for answer in self.fetcher.answers() {
            match answer {
                fetch::Answer::Quote(symbol, quote) => self.on_quote(symbol, quote),
                fetch::Answer::Order(id, order) => {
                    outcomes.extend(self.on_polled(&id, order, &mut timings))
                }
                fetch::Answer::Cancel(id, Err(error)) => {
                    tracing::warn!(order_id = %id, %error, "cancel failed");
                }
                fetch::Answer::Cancel(_, Ok(())) => {}
                fetch::Answer::Load(loaded) => self.on_loaded(loaded),
                fetch::Answer::Reconcile(found) => {
                    outcomes.extend(self.on_reconciled(found, &mut timings))
                }
                fetch::Answer::CancelAll(done) => self.on_canceled_all(done),
                fetch::Answer::Flatten(done) => self.on_flattened(done),
            }
        }
        (outcomes, timings)
    }

    pub fn kill_switch(&self) -> &KillSwitch {
        &self.kill
    }

    /// A frame on the signal topic that could not be decoded: it is a refused signal too.
    pub fn on_malformed(&mut self) {
        self.counters.signals_received += 1;
        self.book.count(Refusal::Malformed);
    }

    /// Follow an order the broker acknowledged; its reservation stays until it is final.
    fn follow(
        &mut self,
        order: BrokerOrder,
        side: Side,
        received: Instant,
    ) -> (Vec<Outcome>, Vec<Timing>) {
        self.counters.orders_acknowledged += 1;
        let mut timings = vec![Timing::SubmitToAck(received.elapsed())];
        let now = Instant::now();
        let mut open = OpenOrder {
            order: order.clone(),
            side,
            submitted: received,
            next_poll: now + self.poll_interval(),
            cancel_requested: false,
            lookup_failures: 0,
            failing_since: None,
            polling: false,
        };
        // The acknowledgement itself may already carry fills (market orders at the mock broker do).
        let fresh = std::mem::replace(&mut open.order, blank_like(&order));
        let mut outcomes = self.apply(&mut open, fresh, &mut timings);
        outcomes.extend(self.take_early(&mut open, &mut timings));
        if !open.order.is_final() {
            self.open.push(open);
        }
        (outcomes, timings)
    }

    /// Ask a reader for the status of each open order that is due (one lookup per order at a time);
    /// ask the cancel of those past the timeout. Nothing is polled while the broker's rate-limit window is
    /// spent. The answers come back through [`Engine::take_answers`].
    pub fn poll_orders(&mut self, now: Instant) {
        if self.broker.held_off_until().is_some() {
            return;
        }
        let interval = self.poll_interval();
        let mut open = std::mem::take(&mut self.open);
        for order in open.iter_mut() {
            // Checked at every pass, not at the (possibly slow) poll: a timeout is a timeout.
            if !order.cancel_requested
                && now.duration_since(order.submitted) > self.settings.order_timeout
            {
                if self.fetcher.ask(fetch::Ask::Cancel(order.order.id.clone())) {
                    order.cancel_requested = true;
                } else {
                    self.counters.broker_reads_deferred += 1;
                }
            }
            if order.polling || now < order.next_poll {
                continue;
            }
            order.next_poll = now + interval;
            if !self.fetcher.ask(fetch::Ask::Order(order.order.id.clone())) {
                self.counters.broker_reads_deferred += 1;
                continue;
            }
            order.polling = true;
            self.counters.order_polls += 1;
            if self.stream_up {
                self.counters.safety_polls += 1;
            } else if self.stream_enabled {
                self.counters.poll_fallback += 1;
            }
        }
        self.open = open;
    }

    /// A status lookup answered. An order whose lookups keep failing is polled less and less often and,
    /// past `lookup_max_failures` or `lookup_deadline`, given up with a `LookupFailed` outcome. An order
    /// no longer followed (final meanwhile) is ignored.
    fn on_polled(
        &mut self,
        id: &str,
        answer: Result<BrokerOrder, BrokerError>,
        timings: &mut Vec<Timing>,
    ) -> Vec<Outcome> {
        let now = Instant::now();
        if let Err(error) = &answer {
            self.broker_failed(error);
        }
        let Some(index) = self.open.iter().position(|o| o.order.id == id) else {
            return vec![];
        };
        let mut order = self.open.swap_remove(index);
        order.polling = false;
        let mut outcomes = Vec::new();
        match answer {
            Ok(fresh) => {
                order.lookup_failures = 0;
                order.failing_since = None;
                // From the answer, not the ask: a slow broker is asked no more often than a fast one.
                order.next_poll = now + self.poll_interval();
                let changed = self.apply(&mut order, fresh, timings);
                self.counters.updates_from_poll += changed.len() as u64;
                outcomes.extend(changed);
            }
            Err(error) => {
                order.lookup_failures += 1;
                let since = *order.failing_since.get_or_insert(now);
                if order.lookup_failures >= self.settings.lookup_max_failures
                    || now.duration_since(since) >= self.settings.lookup_deadline
                {
                    tracing::error!(order_id = %order.order.id, client_order_id = %order.order.client_order_id,
                        failures = order.lookup_failures, %error, "order status unreadable; no longer followed");
                    outcomes.push(Outcome::LookupFailed {
                        order: order.order.clone(),
                        detail: format!("{} failed lookups: {error}", order.lookup_failures),
                    });
                    self.counters.orders_lookup_failed += 1;
                    self.unresolved.push(order.order.client_order_id);
                    if self.unresolved.len() > UNRESOLVED_SHOWN {
                        self.unresolved.remove(0);
                    }
                    return outcomes;
                }
                // Backoff: a broker that cannot answer is not helped by being asked more often.
                let exponent = order.lookup_failures.min(4);
                order.next_poll = now + self.settings.poll_interval * (1 << exponent);
                tracing::warn!(order_id = %order.order.id, failures = order.lookup_failures, %error, "order poll failed; will retry");
            }
        }
        if !order.order.is_final() {
            self.open.push(order);
        }
        outcomes
    }

    /// Fold a fresh broker snapshot into an open order: book the new fills, report changes.
    fn apply(
        &mut self,
        open: &mut OpenOrder,
        fresh: BrokerOrder,
        timings: &mut Vec<Timing>,
    ) -> Vec<Outcome> {
        // Snapshots arrive from three sources (submission answer, stream, poll) in no guaranteed order:
        // only one that moves the order forward is news, so each state is reported exactly once.
        if !advances(&open.order, &fresh) {
            return vec![];
        }
        let delta = fresh.filled() - open.order.filled();
        if delta > 0.0 {
            self.counters.fills += 1;
            self.counters.filled_shares += delta;
            self.book.on_fill(&fresh.symbol, open.side, delta);
        }
        if fresh.is_final() {
            let asked = fresh.qty.unwrap_or(0.0);
            self.book
                .on_closed(&fresh.symbol, open.side, (asked - fresh.filled()).max(0.0));
            if fresh.status == "filled" {
                self.counters.orders_filled += 1;
                timings.push(Timing::SubmitToFill(open.submitted.elapsed()));
            } else {
                self.counters.orders_final_unfilled += 1;
            }
        }
        open.order = fresh.clone();
        self.counters.order_updates += 1;
        vec![Outcome::Order(fresh)]
    }

    /// Cancel what is still open (shutdown with `--cancel-on-exit`).
    pub fn cancel_all_open(&mut self) {
        for order in &self.open {
            if let Err(error) = self.broker.cancel(&order.order.id) {
                tracing::warn!(order_id = %order.order.id, %error, "cancel on exit failed");
            }
        }
    }
}

/// A snapshot with nothing filled and no status, so the first real snapshot always reads as a change.
fn blank_like(order: &BrokerOrder) -> BrokerOrder {
    BrokerOrder {
        status: String::new(),
        filled_qty: Some(0.0),
        filled_avg_price: None,
        ..order.clone()
    }
}

/// Whether `fresh` is a later state of the order than `known`: more filled, or as filled and further
/// along (open -> final). A final state never changes; an open status may change sideways
/// (`new` -> `accepted`) at the same fill.
fn advances(known: &BrokerOrder, fresh: &BrokerOrder) -> bool {
    if known.is_final() {
        return false;
    }
    let (was, now) = (known.filled(), fresh.filled());
    if now != was {
        return now > was;
    }
    fresh.status != known.status && (fresh.is_final() || !stage_behind(fresh, known))
}

/// `fresh` is an earlier open stage than `known` (`new` after `partially_filled` or `accepted`).
fn stage_behind(fresh: &BrokerOrder, known: &BrokerOrder) -> bool {
    let stage = |status: &str| match status {
        "" => 0,
        "accepted" => 1,
        "pending_new" => 2,
        "partially_filled" => 4,
        _ => 3,
    };
    stage(&fresh.status) < stage(&known.status)
}
