//! What the engine reads from and does to the broker account beyond its own orders: the exposure load
//! (start-up, after a kill-switch release), trusted prices from the broker's quotes, and the kill
//! switch's on-engage actions.

use std::time::Instant;

use super::{Engine, OpenOrder};
use crate::broker::{BrokerError, BrokerOrder};
use crate::risk::{Refusal, Side};

impl Engine {
    /// Whether open orders and positions were loaded from the broker (signals are refused until then).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Refuse signals until the next successful [`Engine::sync_exposure`] (after a kill-switch release:
    /// flattening or outside hands may have changed the account).
    pub fn mark_unsynced(&mut self) {
        self.synced = false;
    }

    /// Load the broker's open orders and positions and count both: the risk book's exposure becomes the
    /// broker's, and every open order is followed to its final state (so its fills and cancels move the
    /// book). Open orders are read before and after the positions; a fill in between would count twice
    /// or not at all, so the load is repeated until both reads agree. Returns (positions, open orders).
    pub fn sync_exposure(&mut self) -> Result<(usize, usize), BrokerError> {
        let result = self.load_exposure();
        match &result {
            Ok((_, orders)) => {
                self.synced = true;
                self.counters.exposure_syncs += 1;
                self.counters.open_orders_loaded = *orders as u64;
            }
            Err(error) => {
                self.counters.exposure_sync_failures += 1;
                self.broker_failed(error);
            }
        }
        result
    }

    fn load_exposure(&mut self) -> Result<(usize, usize), BrokerError> {
        const ATTEMPTS: usize = 5;
        let mut before = self.broker.open_orders()?;
        for _ in 0..ATTEMPTS {
            let positions = self.broker.positions()?;
            let after = self.broker.open_orders()?;
            if same_orders(&before, &after) {
                let counts = (positions.len(), after.len());
                self.adopt(
                    positions.iter().map(|p| (p.symbol.clone(), p.signed_qty())),
                    after,
                );
                return Ok(counts);
            }
            before = after;
        }
        Err(BrokerError::Protocol(format!(
            "open orders kept changing during {ATTEMPTS} loads of the exposure"
        )))
    }

    /// Make the broker's open orders and positions the book's exposure and the orders followed.
    fn adopt(&mut self, positions: impl Iterator<Item = (String, f64)>, orders: Vec<BrokerOrder>) {
        let now = Instant::now();
        let mut followed = std::mem::take(&mut self.open);
        let mut pending = Vec::new();
        for order in orders {
            let Some(side) = parse_side(&order.side) else {
                tracing::warn!(order_id = %order.id, side = %order.side, "open order of unknown side ignored");
                continue;
            };
            let unfilled = (order.qty.unwrap_or(0.0) - order.filled()).max(0.0);
            pending.push((order.symbol.clone(), side.sign() * unfilled));
            let known = followed
                .iter()
                .position(|o| o.order.id == order.id)
                .map(|i| followed.swap_remove(i));
            self.open.push(match known {
                Some(mut open) => {
                    open.order = order;
                    open
                }
                None => OpenOrder {
                    order,
                    side,
                    submitted: now,
                    next_poll: now,
                    cancel_requested: false,
                    lookup_failures: 0,
                    failing_since: None,
                },
            });
        }
        self.book.reset_exposure(positions, pending);
    }

    /// Make sure the book has a trusted price for `symbol`, asking the broker's latest quote when the
    /// market data has none fresh enough. On failure: the refusal (and its detail) for the signal, unless
    /// `allow_signal_price` lets its stated price stand in.
    pub(super) fn ensure_price(
        &mut self,
        symbol: &str,
        stated: Option<f64>,
    ) -> Option<(Refusal, String)> {
        if self.book.trusted_price(symbol, Instant::now()).is_some() {
            return None;
        }
        self.counters.quote_requests += 1;
        let failure = match self.broker.latest_quote(symbol) {
            Ok(Some(price)) => {
                self.book.set_price(symbol, price, Instant::now());
                return None;
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
        if self.book.limits().allow_signal_price && stated.is_some() {
            return None;
        }
        self.book.count(failure.0);
        Some(failure)
    }

    /// The kill switch's `--kill-switch-cancel-orders`: every open order of the account is canceled
    /// (`DELETE /v2/orders`); the orders followed see their final state at the next poll.
    pub fn cancel_everything(&mut self) {
        match self.broker.cancel_all() {
            Ok(n) => {
                self.counters.kill_switch_orders_canceled += n as u64;
                tracing::warn!(canceled = n, "kill switch: open orders canceled");
            }
            Err(error) => {
                self.broker_failed(&error);
                tracing::error!(%error, "kill switch: cannot cancel the open orders");
            }
        }
    }

    /// The kill switch's `--kill-switch-flatten`: every position is closed at the broker
    /// (`DELETE /v2/positions?cancel_orders=true`). The book learns the result at the next exposure load
    /// (the release of the switch triggers one).
    pub fn flatten(&mut self) {
        match self.broker.close_all_positions() {
            Ok(n) => {
                self.counters.kill_switch_positions_flattened += n as u64;
                tracing::warn!(closed = n, "kill switch: positions flattened");
            }
            Err(error) => {
                self.broker_failed(&error);
                tracing::error!(%error, "kill switch: cannot flatten the positions");
            }
        }
    }
}

fn parse_side(side: &str) -> Option<Side> {
    match side {
        "buy" => Some(Side::Buy),
        "sell" => Some(Side::Sell),
        _ => None,
    }
}

/// Two reads of the open orders agree: the same orders with the same fills.
fn same_orders(a: &[BrokerOrder], b: &[BrokerOrder]) -> bool {
    let key = |orders: &[BrokerOrder]| {
        let mut k: Vec<(String, u64)> = orders
            .iter()
            .map(|o| (o.id.clone(), o.filled().to_bits()))
            .collect();
        k.sort();
        k
    };
    key(a) == key(b)
}
