//! The engine's core loop body, independent of sockets: an intent goes through the risk book, becomes a
//! broker order, and is followed to its final state. Every step yields [`Outcome`]s, which the binary
//! publishes as `OrderUpdate`s.

use std::time::{Duration, Instant};

use crate::broker::{BrokerClient, BrokerError, BrokerOrder, OrderRequest};
use crate::kill::KillSwitch;
use crate::risk::{Proposal, Refusal, RiskBook, Side};

mod account;

/// What a signal asks for, after the documented mapping (see [`crate::mapping`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub symbol: String,
    pub side: Side,
    pub qty: f64,
    pub timestamp_ms: u64,
    pub price_hint: Option<f64>,
    /// The signal's own id (`metadata.signal_id`), used for duplicate detection and the client order id.
    pub signal_id: Option<String>,
}

/// Something the bus should hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The signal did not become an order at the broker. `qty` is what was asked for.
    Refused {
        client_order_id: String,
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
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        ExecutionSettings {
            poll_interval: Duration::from_millis(25),
            order_timeout: Duration::from_secs(30),
            lookup_max_failures: 20,
            lookup_deadline: Duration::from_secs(30),
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
    broker: BrokerClient,
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
        Engine {
            book,
            broker,
            kill,
            synced: false,
            settings,
            open: Vec::new(),
            counters: Counters::default(),
            run_id,
            next_seq: 0,
            last_broker_error: None,
            unresolved: Vec::new(),
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

    pub fn open_orders(&self) -> usize {
        self.open.len()
    }

    pub fn kill_switch(&self) -> &KillSwitch {
        &self.kill
    }

    /// A frame on the signal topic that could not be decoded: it is a refused signal too.
    pub fn on_malformed(&mut self) {
        self.counters.signals_received += 1;
        self.book.count(Refusal::Malformed);
    }

    /// The client order id for a signal: `tb-<signal_id>` when the signal has a usable id (so a replayed
    /// signal maps to the same broker order), else `tb-<run>-<n>`. Alpaca allows at most 48 characters.
    fn client_order_id(&mut self, intent: &Intent) -> String {
        self.next_seq += 1;
        match intent.signal_id.as_deref().filter(|id| usable_id(id)) {
            Some(id) => format!("tb-{id}"),
            None => format!("tb-{}-{}", self.run_id, self.next_seq),
        }
    }

    /// Decide on one intent and, if accepted, submit it. Returns what to publish and timings to record.
    pub fn on_intent(
        &mut self,
        intent: &Intent,
        now_ms: u64,
        received: Instant,
    ) -> (Vec<Outcome>, Vec<Timing>) {
        self.counters.signals_received += 1;
        let client_order_id = self.client_order_id(intent);
        let proposal = Proposal {
            symbol: &intent.symbol,
            side: intent.side,
            qty: intent.qty,
            timestamp_ms: intent.timestamp_ms,
            price_hint: intent.price_hint,
            signal_id: intent.signal_id.as_deref(),
        };
        let run_id = self.run_id.clone();
        let seq = self.next_seq;
        let refused = |reason: Refusal, detail: String| Outcome::Refused {
            // A duplicate must not reuse the id of the order its first copy placed.
            client_order_id: if reason == Refusal::Duplicate {
                format!("tb-{run_id}-{seq}")
            } else {
                client_order_id.clone()
            },
            symbol: intent.symbol.clone(),
            side: intent.side,
            qty: intent.qty,
            reason,
            detail,
        };
        // Before anything else (a refused signal's id is not spent: its sender may send it again).
        let early = if self.kill.engaged() {
            Some(Refusal::KillSwitch)
        } else if !self.synced {
            Some(Refusal::ExposureUnknown)
        } else {
            None
        };
        if let Some(reason) = early {
            self.book.count(reason);
            return (vec![refused(reason, String::new())], vec![]);
        }
        if let Some((reason, detail)) = self.ensure_price(&intent.symbol, intent.price_hint) {
            return (vec![refused(reason, detail)], vec![]);
        }
        // Checked and reserved at the instant of sending: nothing runs between this check and the send.
        let approved = match self.book.check(&proposal, now_ms, Instant::now()) {
            Ok(a) => a,
            Err(reason) => return (vec![refused(reason, String::new())], vec![]),
        };
        let request =
            OrderRequest::market(&intent.symbol, intent.side, approved.qty, &client_order_id);
        let kill = self.kill.clone();
        let sent = self.broker.submit_while(&request, || kill.permit());
        if !matches!(sent, Ok(None)) {
            self.book.order_sent(Instant::now());
        }
        match sent {
            Ok(None) => {
                self.book
                    .not_sent(&intent.symbol, intent.side, approved.qty);
                self.book.count(Refusal::KillSwitch);
                self.counters.orders_halted += 1;
                tracing::warn!(client_order_id = %client_order_id, "order not sent: the kill switch engaged");
                (vec![refused(Refusal::KillSwitch, String::new())], vec![])
            }
            Ok(Some(order)) => {
                self.counters.orders_submitted += 1;
                self.follow(order, intent.side, received)
            }
            Err(error) => {
                self.counters.orders_submitted += 1;
                if error.is_transient() {
                    // No answer to trust: the order may have landed. Ask by its id before releasing.
                    match self.broker.get_by_client_order_id(&client_order_id) {
                        Ok(order) => {
                            tracing::info!(%client_order_id, "order found at the broker after the submission failed");
                            return self.follow(order, intent.side, received);
                        }
                        Err(BrokerError::Rejected { status: 404, .. }) => {}
                        Err(lookup) => {
                            // Unknown: the reservation stays, and the exposure is loaded from the broker
                            // again before the next signal is acted on.
                            tracing::error!(%client_order_id, %error, %lookup,
                                "order may or may not be at the broker; exposure will be reloaded");
                            self.synced = false;
                            self.broker_failed(&error);
                            self.book.count(Refusal::BrokerUnavailable);
                            return (
                                vec![refused(Refusal::BrokerUnavailable, error.to_string())],
                                vec![],
                            );
                        }
                    }
                }
                // The broker answered that the order is not there: release its reservation.
                self.book
                    .on_closed(&intent.symbol, intent.side, approved.qty);
                let reason = if error.is_transient() {
                    self.broker_failed(&error);
                    Refusal::BrokerUnavailable
                } else {
                    Refusal::BrokerRejected
                };
                self.book.count(reason);
                tracing::warn!(client_order_id = %client_order_id, symbol = %intent.symbol, %error, "order not placed");
                (vec![refused(reason, error.to_string())], vec![])
            }
        }
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
            next_poll: now + self.settings.poll_interval,
            cancel_requested: false,
            lookup_failures: 0,
            failing_since: None,
        };
        // The acknowledgement itself may already carry fills (market orders at the mock broker do).
        let fresh = std::mem::replace(&mut open.order, blank_like(&order));
        let outcomes = self.apply(&mut open, fresh, &mut timings);
        if !open.order.is_final() {
            self.open.push(open);
        }
        (outcomes, timings)
    }

    /// Poll the open orders that are due; cancel those past the timeout. Nothing is polled while the
    /// broker's rate-limit window is spent. An order whose lookups keep failing is polled less and less
    /// often and, past `lookup_max_failures` or `lookup_deadline`, given up with a `LookupFailed` outcome.
    pub fn poll_orders(&mut self, now: Instant) -> (Vec<Outcome>, Vec<Timing>) {
        let mut outcomes = Vec::new();
        let mut timings = Vec::new();
        if self.broker.held_off_until().is_some() {
            return (outcomes, timings);
        }
        let mut open = std::mem::take(&mut self.open);
        let mut given_up = Vec::new();
        for (index, order) in open.iter_mut().enumerate() {
            if now < order.next_poll {
                continue;
            }
            order.next_poll = now + self.settings.poll_interval;
            if !order.cancel_requested
                && now.duration_since(order.submitted) > self.settings.order_timeout
            {
                order.cancel_requested = true;
                if let Err(error) = self.broker.cancel(&order.order.id) {
                    tracing::warn!(order_id = %order.order.id, %error, "cancel failed");
                }
            }
            match self.broker.get(&order.order.id) {
                Ok(fresh) => {
                    order.lookup_failures = 0;
                    order.failing_since = None;
                    outcomes.extend(self.apply(order, fresh, &mut timings));
                }
                Err(error) => {
                    self.broker_failed(&error);
                    order.lookup_failures += 1;
                    let since = *order.failing_since.get_or_insert(now);
                    if order.lookup_failures >= self.settings.lookup_max_failures
                        || now.duration_since(since) >= self.settings.lookup_deadline
                    {
                        tracing::error!(order_id = %order.order.id, client_order_id = %order.order.client_order_id,
                            failures = order.lookup_failures, %error, "order status unreadable; no longer followed");
                        given_up.push(index);
                        outcomes.push(Outcome::LookupFailed {
                            order: order.order.clone(),
                            detail: format!("{} failed lookups: {error}", order.lookup_failures),
                        });
                    } else {
                        // Backoff: a broker that cannot answer is not helped by being asked more often.
                        let exponent = order.lookup_failures.min(4);
                        order.next_poll = now + self.settings.poll_interval * (1 << exponent);
                        tracing::warn!(order_id = %order.order.id, failures = order.lookup_failures, %error, "order poll failed; will retry");
                    }
                }
            }
        }
        for index in given_up.into_iter().rev() {
            let order = open.remove(index);
            self.counters.orders_lookup_failed += 1;
            self.unresolved.push(order.order.client_order_id);
            if self.unresolved.len() > UNRESOLVED_SHOWN {
                self.unresolved.remove(0);
            }
        }
        open.retain(|o| !o.order.is_final());
        self.open = open;
        (outcomes, timings)
    }

    /// Fold a fresh broker snapshot into an open order: book the new fills, report changes.
    fn apply(
        &mut self,
        open: &mut OpenOrder,
        fresh: BrokerOrder,
        timings: &mut Vec<Timing>,
    ) -> Vec<Outcome> {
        let changed = fresh.status != open.order.status || fresh.filled() != open.order.filled();
        if !changed {
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

/// Ids that fit Alpaca's client order id after the `tb-` prefix: at most 45 of `[A-Za-z0-9._-]`.
fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 45
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::usable_id;

    #[test]
    fn signal_ids_that_can_become_client_order_ids() {
        assert!(usable_id("strat-1.AAPL_42"));
        assert!(!usable_id(""));
        assert!(!usable_id("has space"));
        assert!(!usable_id(&"x".repeat(46)));
    }
}
