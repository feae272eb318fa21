//! Following orders from the trade-updates stream: each event is folded into the order it belongs to
//! (reported only if it moves the order forward, so the stream, the polls and the submission answers
//! never report one state twice); after each (re)connect the open orders are read once to catch up on
//! whatever happened while the stream was down.

use std::time::{Duration, Instant};

use super::fetch::{Ask, Reconciled};
use super::{Engine, OpenOrder, Outcome, Timing};
use crate::broker::BrokerOrder;
use std::sync::mpsc::Receiver;

use crate::stream::{StreamEvent, TradeUpdate};

/// How long a snapshot of an order not followed yet is kept, and how many such snapshots at most.
const EARLY_KEPT: Duration = Duration::from_secs(30);
const EARLY_MAX: usize = 1_000;

impl Engine {
    /// Follow orders from the trade stream whose events arrive on `events`; polls made while it is down
    /// count as `poll_fallback`.
    pub fn enable_stream(&mut self, events: Receiver<StreamEvent>) {
        self.stream_events = Some(events);
        self.stream_enabled = true;
    }

    /// Fold in every stream event received so far. Also returns, for each event that changed an order,
    /// when its frame was read (µs since the epoch), to time the hop to the bus.
    pub fn drain_stream(&mut self) -> (Vec<Outcome>, Vec<Timing>, Vec<u64>) {
        let mut outcomes = Vec::new();
        let mut timings = Vec::new();
        let mut heard = Vec::new();
        let Some(events) = self.stream_events.take() else {
            return (outcomes, timings, heard);
        };
        for event in events.try_iter() {
            let received = match &event {
                StreamEvent::Update(_, at) => Some(*at),
                _ => None,
            };
            let (o, t) = self.on_stream_event(event);
            if !o.is_empty() {
                heard.extend(received);
            }
            outcomes.extend(o);
            timings.extend(t);
        }
        self.stream_events = Some(events);
        (outcomes, timings, heard)
    }

    pub fn stream_up(&self) -> bool {
        self.stream_up
    }

    /// How often an open order is looked up: with the stream up, events bring the changes and the poll is
    /// only a slow safety net.
    pub(super) fn poll_interval(&self) -> Duration {
        if self.stream_up {
            self.settings.safety_poll_interval
        } else {
            self.settings.poll_interval
        }
    }

    /// The stream is listening again: stop polling at the fast rate, and reconcile every order followed
    /// with the broker's view (`GET /v2/orders?status=open`, then `GET /v2/orders/{id}` for those no
    /// longer open), since events may have been missed while it was down. The reads run on a reader;
    /// their answer comes back through [`Engine::take_answers`].
    pub fn stream_connected(&mut self) -> (Vec<Outcome>, Vec<Timing>) {
        self.stream_up = true;
        self.counters.stream_connects += 1;
        if self.open.is_empty() || self.reconciling {
            return (vec![], vec![]);
        }
        self.counters.stream_reconciles += 1;
        let followed = self.open.iter().map(|o| o.order.id.clone()).collect();
        if self.fetcher.ask(Ask::Reconcile(followed)) {
            self.reconciling = true;
        } else {
            // Nothing learnt: every order is polled at once instead (and then slowly).
            self.counters.broker_reads_deferred += 1;
            self.counters.stream_reconcile_failures += 1;
            let now = Instant::now();
            for order in &mut self.open {
                order.next_poll = now;
            }
        }
        (vec![], vec![])
    }

    /// The reconciliation's reads answered: fold each order's state in (a lookup that failed, or the
    /// listing itself, makes the order polled at once instead).
    pub(super) fn on_reconciled(
        &mut self,
        found: Reconciled,
        timings: &mut Vec<Timing>,
    ) -> Vec<Outcome> {
        self.reconciling = false;
        let now = Instant::now();
        let found = match found {
            Ok(found) => found,
            Err(error) => {
                self.counters.stream_reconcile_failures += 1;
                self.broker_failed(&error);
                tracing::warn!(%error, "cannot reconcile the orders after the trade stream connected");
                for order in &mut self.open {
                    order.next_poll = now;
                }
                return vec![];
            }
        };
        let mut outcomes = Vec::new();
        for (id, fresh) in found {
            let Some(index) = self.open.iter().position(|o| o.order.id == id) else {
                continue; // final meanwhile (stream or poll)
            };
            let fresh = match fresh {
                Ok(fresh) => fresh,
                Err(error) => {
                    self.broker_failed(&error);
                    self.open[index].next_poll = now;
                    continue;
                }
            };
            let mut order = self.open.swap_remove(index);
            let changed = self.apply(&mut order, fresh, timings);
            self.counters.updates_from_reconcile += changed.len() as u64;
            outcomes.extend(changed);
            if !order.order.is_final() {
                self.open.push(order);
            }
        }
        outcomes
    }

    /// The stream is down (or a reconnect failed): orders are polled at the normal rate until it is back,
    /// the first poll at once when it was up until now.
    pub fn stream_lost(&mut self) {
        if !self.stream_up {
            return;
        }
        self.stream_up = false;
        self.counters.stream_disconnects += 1;
        let now = Instant::now();
        for order in &mut self.open {
            order.next_poll = order.next_poll.min(now);
        }
    }

    pub fn stream_malformed(&mut self) {
        self.counters.stream_events_malformed += 1;
    }

    /// One event from the stream. An event for an order not followed (yet) is kept for a while: its
    /// submission's answer may still be on the way.
    pub fn on_trade_update(&mut self, update: TradeUpdate) -> (Vec<Outcome>, Vec<Timing>) {
        self.counters.stream_events += 1;
        let mut timings = Vec::new();
        let fresh = update.order;
        let Some(index) = self.open.iter().position(|o| o.order.id == fresh.id) else {
            self.keep_early(fresh);
            return (vec![], timings);
        };
        let mut order = self.open.swap_remove(index);
        let outcomes = self.apply(&mut order, fresh, &mut timings);
        if outcomes.is_empty() {
            self.counters.stream_events_stale += 1;
        }
        self.counters.updates_from_stream += outcomes.len() as u64;
        if !order.order.is_final() {
            self.open.push(order);
        }
        (outcomes, timings)
    }

    fn keep_early(&mut self, fresh: BrokerOrder) {
        let now = Instant::now();
        self.early
            .retain(|_, (at, _)| now.duration_since(*at) < EARLY_KEPT);
        if self.early.len() >= EARLY_MAX {
            self.counters.stream_events_stale += 1;
            return;
        }
        match self.early.get_mut(&fresh.id) {
            Some((at, known)) if super::advances(known, &fresh) => {
                *at = now;
                *known = fresh;
            }
            Some(_) => {}
            None => {
                self.early.insert(fresh.id.clone(), (now, fresh));
            }
        }
    }

    /// The snapshot the stream delivered before the order was followed, if any, folded in.
    pub(super) fn take_early(
        &mut self,
        open: &mut OpenOrder,
        timings: &mut Vec<Timing>,
    ) -> Vec<Outcome> {
        match self.early.remove(&open.order.id) {
            Some((_, fresh)) => {
                let outcomes = self.apply(open, fresh, timings);
                if outcomes.is_empty() {
                    self.counters.stream_events_stale += 1;
                }
                self.counters.updates_from_stream += outcomes.len() as u64;
                outcomes
            }
            None => vec![],
        }
    }
}

impl Engine {
    /// Fold one [`StreamEvent`](crate::stream::StreamEvent) in: what to publish and timings to record.
    pub fn on_stream_event(&mut self, event: StreamEvent) -> (Vec<Outcome>, Vec<Timing>) {
        match event {
            StreamEvent::Update(update, _) => self.on_trade_update(*update),
            StreamEvent::Up => {
                tracing::info!(
                    open_orders = self.open.len(),
                    "trade stream listening; orders reconciled, polled only every {} ms meanwhile",
                    self.settings.safety_poll_interval.as_millis()
                );
                self.stream_connected()
            }
            StreamEvent::Down { reason, retry_in } => {
                tracing::warn!(
                    retry_ms = retry_in.as_millis() as u64,
                    "trade stream down: {reason}; polling orders until it is back"
                );
                self.stream_lost();
                (vec![], vec![])
            }
            StreamEvent::Malformed(code) => {
                tracing::warn!(code, "trade stream: skipped a frame that could not be read");
                self.stream_malformed();
                (vec![], vec![])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::advances;
    use crate::broker::BrokerOrder;

    fn order(status: &str, filled: f64) -> BrokerOrder {
        BrokerOrder {
            id: "o-1".into(),
            client_order_id: "tb-s1".into(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: Some(10.0),
            filled_qty: Some(filled),
            filled_avg_price: None,
            status: status.into(),
            order_type: None,
            time_in_force: None,
            submitted_at: None,
        }
    }

    #[test]
    fn only_a_later_state_is_news() {
        // forward: more filled, a later open stage, a final state
        assert!(advances(&order("", 0.0), &order("accepted", 0.0)));
        assert!(advances(&order("accepted", 0.0), &order("new", 0.0)));
        assert!(advances(
            &order("new", 0.0),
            &order("partially_filled", 4.0)
        ));
        assert!(advances(
            &order("partially_filled", 4.0),
            &order("filled", 10.0)
        ));
        assert!(advances(&order("new", 0.0), &order("canceled", 0.0)));
        // the same state again (stream and poll both saw it), or an older one arriving late
        assert!(!advances(&order("new", 0.0), &order("new", 0.0)));
        assert!(!advances(
            &order("partially_filled", 4.0),
            &order("new", 0.0)
        ));
        assert!(!advances(
            &order("partially_filled", 4.0),
            &order("accepted", 4.0)
        ));
        assert!(!advances(&order("new", 0.0), &order("accepted", 0.0)));
        // nothing after a final state
        assert!(!advances(&order("filled", 10.0), &order("filled", 10.0)));
        assert!(!advances(
            &order("canceled", 4.0),
            &order("partially_filled", 4.0)
        ));
    }
}
