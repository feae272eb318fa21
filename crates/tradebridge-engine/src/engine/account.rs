//! What the engine reads from and does to the broker account beyond its own orders: the exposure load
//! (start-up, after a kill-switch release), trusted prices from the broker's quotes, and the kill
//! switch's on-engage actions.

use std::time::Instant;

use super::{fetch, Engine, OpenOrder};
use crate::broker::{BrokerError, BrokerOrder};
use crate::risk::Side;

impl Engine {
    /// Whether open orders and positions were loaded from the broker (signals are refused until then).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Refuse signals until the next successful [`Engine::sync_exposure`] (after a kill-switch release:
    /// flattening or outside hands may have changed the account).
    pub fn mark_unsynced(&mut self) {
        self.synced = false;
        self.load_stale = self.loading;
    }

    /// Ask a reader to load the broker's open orders and positions (after the journal's unanswered
    /// entries are looked up): see [`Engine::take_sync_result`]. Not while a load is already on its way,
    /// nor while submissions are (their orders could land after the listing and be dropped from the
    /// book); new ones wait for the load, since signals are refused until it succeeds. True if asked.
    pub fn start_sync(&mut self) -> bool {
        if self.loading || self.in_flight > 0 {
            return false;
        }
        let unsettled = self
            .journal
            .as_ref()
            .map(|j| j.unsettled())
            .unwrap_or_default();
        if !self.fetcher.ask(fetch::Ask::Load(unsettled)) {
            self.counters.broker_reads_deferred += 1;
            return false;
        }
        self.loading = true;
        true
    }

    /// An exposure load is on a reader.
    pub fn sync_in_flight(&self) -> bool {
        self.loading
    }

    /// The outcome of the last exposure load, once: (positions, open orders) or why it failed.
    pub fn take_sync_result(&mut self) -> Option<Result<(usize, usize), String>> {
        self.sync_result.take()
    }

    /// The load answered: settle the journal entries it looked up, then make the broker's open orders
    /// and positions the book's exposure, every open order followed to its final state (so its fills
    /// and cancels move the book).
    pub(super) fn on_loaded(&mut self, loaded: fetch::Loaded) {
        self.loading = false;
        for (signal_id, client_order_id, placed) in loaded.journal {
            if placed {
                self.counters.journal_found_at_broker += 1;
            } else {
                self.counters.journal_not_at_broker += 1;
            }
            tracing::info!(%signal_id, %client_order_id, placed, "journal entry reconciled with the broker");
            self.settle(&signal_id, placed);
        }
        if let Some(error) = &loaded.failure {
            self.broker_failed(error);
        }
        if std::mem::take(&mut self.load_stale) {
            // Asked before the kill switch's release: the account may have changed since; the loop
            // asks again.
            return;
        }
        self.sync_result = Some(match loaded.exposure {
            Ok((positions, orders)) => {
                let counts = (positions.len(), orders.len());
                self.adopt(
                    positions.iter().map(|p| (p.symbol.clone(), p.signed_qty())),
                    orders,
                );
                self.synced = true;
                self.counters.exposure_syncs += 1;
                self.counters.open_orders_loaded = counts.1 as u64;
                Ok(counts)
            }
            Err(error) => {
                self.counters.exposure_sync_failures += 1;
                Err(error)
            }
        });
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
                    polling: false,
                },
            });
        }
        self.book.reset_exposure(positions, pending);
    }

    /// The kill switch's `--kill-switch-cancel-orders`: every open order of the account is canceled
    /// (`DELETE /v2/orders`, on a reader); the orders followed see their final state at the next poll.
    pub fn cancel_everything(&mut self) {
        if !self.fetcher.ask(fetch::Ask::CancelAll) {
            self.counters.broker_reads_deferred += 1;
            tracing::error!(
                "kill switch: cannot ask to cancel the open orders: the reader queue is full"
            );
        }
    }

    pub(super) fn on_canceled_all(&mut self, done: Result<usize, BrokerError>) {
        match done {
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
    /// (`DELETE /v2/positions?cancel_orders=true`, on a reader). The book learns the result at the next
    /// exposure load (the release of the switch triggers one).
    pub fn flatten(&mut self) {
        if !self.fetcher.ask(fetch::Ask::Flatten) {
            self.counters.broker_reads_deferred += 1;
            tracing::error!(
                "kill switch: cannot ask to flatten the positions: the reader queue is full"
            );
        }
    }

    pub(super) fn on_flattened(&mut self, done: Result<usize, BrokerError>) {
        match done {
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
