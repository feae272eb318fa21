//! Signals held for their price. A market order is checked against a trusted price; when the market data
//! has none fresh enough, the broker's latest quote is asked for on a reader thread and the signal waits
//! here meanwhile, so the loop goes on reading. Bounded (`--price-wait-queue`; a signal that finds it
//! full is refused `queue_full`) and timed (`--price-wait-ms`; past it the signal is refused
//! `broker_unavailable`, or priced at its stated price with `--allow-signal-price`).
//!
//! Order is kept per symbol: a signal whose symbol already has one waiting waits behind it, so the risk
//! check (which reserves the exposure, on the loop thread) sees a symbol's signals in arrival order.

use std::time::Instant;

use super::fetch::Ask;
use super::{Engine, Intent, Outcome, Prepared};
use crate::broker::BrokerError;
use crate::risk::Refusal;

/// A signal admitted (counted, its client order id given) and waiting for a price.
#[derive(Debug)]
pub(super) struct Held {
    pub intent: Intent,
    pub client_order_id: String,
    pub seq: u64,
    pub received: Instant,
    pub deadline: Instant,
    /// The quote it waited for failed: decided with this refusal (unless its stated price may stand in).
    pub failure: Option<(Refusal, String)>,
}

/// What the price step of a decision found.
pub(super) enum PriceStep {
    /// The book has a price to check against (trusted, or the signal's own where allowed).
    Ready,
    /// Refused; the reason is counted.
    Refuse(Refusal, String),
    /// A quote is on its way: hold the signal.
    Wait,
}

impl Engine {
    /// The price step of deciding `intent` (`waited`: it was held and is being decided now).
    pub(super) fn price_step(&mut self, intent: &Intent, waited: Option<&Held>) -> PriceStep {
        let symbol = intent.symbol.as_str();
        let now = Instant::now();
        let queued_behind = waited.is_none() && self.held.iter().any(|h| h.intent.symbol == symbol);
        if !queued_behind && self.book.trusted_price(symbol, now).is_some() {
            return PriceStep::Ready;
        }
        let failure = match waited {
            Some(held) if held.failure.is_some() => held.failure.clone(),
            Some(held) if now >= held.deadline => {
                self.counters.price_waits_expired += 1;
                Some((
                    Refusal::BrokerUnavailable,
                    format!(
                        "no quote from the broker within {} ms",
                        self.settings.price_wait.as_millis()
                    ),
                ))
            }
            Some(_) => None,
            None if queued_behind || self.quoting.contains(symbol) => None,
            None => {
                if self.fetcher.ask(Ask::Quote(symbol.to_owned())) {
                    self.counters.quote_requests += 1;
                    self.quoting.insert(symbol.to_owned());
                    None
                } else {
                    self.counters.broker_reads_deferred += 1;
                    Some((
                        Refusal::QueueFull,
                        "the broker read queue is full: no quote asked".to_owned(),
                    ))
                }
            }
        };
        match failure {
            None => PriceStep::Wait,
            Some(_) if self.book.limits().allow_signal_price && intent.price_hint.is_some() => {
                PriceStep::Ready
            }
            Some((reason, detail)) => {
                self.book.count(reason);
                PriceStep::Refuse(reason, detail)
            }
        }
    }

    /// Hold a signal for its price; refused `queue_full` when `--price-wait-queue` signals already wait.
    pub(super) fn hold(&mut self, held: Held) -> Prepared {
        if self.held.len() >= self.settings.price_wait_queue {
            self.book.count(Refusal::QueueFull);
            let detail = format!(
                "{} signals already wait for a quote",
                self.settings.price_wait_queue
            );
            return Prepared::Done(vec![self.refused(
                &held.intent,
                &held.client_order_id,
                held.seq,
                Refusal::QueueFull,
                detail,
            )]);
        }
        self.counters.signals_held += 1;
        let id = held.client_order_id.clone();
        self.held.push_back(held);
        Prepared::Held(id)
    }

    /// Signals waiting for a quote now.
    pub fn signals_waiting(&self) -> usize {
        self.held.len()
    }

    /// The next held signal that can be decided now (its price arrived, its quote failed, or its wait
    /// is over), decided, with its client order id; `room`: the submission queue can take one more.
    /// Call until `None`.
    pub fn next_resumed(&mut self, now_ms: u64, room: bool) -> Option<(String, Prepared)> {
        let now = Instant::now();
        // The first eligible in arrival order: within a symbol, eligibility never skips an earlier one
        // (same price, same quote, earlier deadline).
        let index = self.held.iter().position(|h| {
            h.failure.is_some()
                || now >= h.deadline
                || self.book.trusted_price(&h.intent.symbol, now).is_some()
        })?;
        let held = self.held.remove(index)?;
        let id = held.client_order_id.clone();
        Some((id, self.decide(held, now_ms, room)))
    }

    /// The broker's answer to a quote: the price for the book, or the failure for the signals held.
    pub(super) fn on_quote(&mut self, symbol: String, quote: Result<Option<f64>, BrokerError>) {
        self.quoting.remove(&symbol);
        let failure = match quote {
            Ok(Some(price)) => {
                self.book.set_price(&symbol, price, Instant::now());
                return;
            }
            Ok(None) => (Refusal::NoPrice, "the broker has no quote".to_owned()),
            Err(error) => {
                tracing::warn!(%symbol, %error, "cannot read the broker's latest quote");
                let reason = if error.is_transient() {
                    self.broker_failed(&error);
                    Refusal::BrokerUnavailable
                } else {
                    Refusal::NoPrice
                };
                (reason, format!("cannot read the latest quote: {error}"))
            }
        };
        self.counters.quote_errors += 1;
        for held in self.held.iter_mut().filter(|h| h.intent.symbol == symbol) {
            held.failure.get_or_insert_with(|| failure.clone());
        }
    }

    /// Shutdown: the signals still waiting are refused `no_price` (never journaled, never sent), so
    /// their senders hear about them.
    pub fn release_held(&mut self) -> Vec<Outcome> {
        let held = std::mem::take(&mut self.held);
        held.into_iter()
            .map(|h| {
                self.book.count(Refusal::NoPrice);
                self.refused(
                    &h.intent,
                    &h.client_order_id,
                    h.seq,
                    Refusal::NoPrice,
                    "the engine stopped before the broker's quote arrived".into(),
                )
            })
            .collect()
    }
}
