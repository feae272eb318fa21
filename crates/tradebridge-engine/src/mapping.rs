//! Signal -> order mapping, and engine outcomes -> `OrderUpdate`s.
//!
//! The mapping, documented for strategy authors:
//! - `direction: long` buys, `direction: short` sells (opening or adding to a short when flat or short);
//! - size: `round(strength * max_order_qty)` whole shares (strength 0..1), before the risk limits clip it;
//! - a market order, `time_in_force: day`;
//! - `signal_id` (the v1.1 field; `[A-Za-z0-9._-]`, at most 45 characters) is the signal's id: duplicates are refused and the order's `client_order_id` is
//!   derived from it alone ([`client_order_id`]): `tb-<signal_id>`, so every update maps back, or
//!   `tb-h<sha1>` for an id that does not fit. The same signal always gets the same id, so the broker
//!   itself refuses a second order for it (Alpaca answers 422 "client_order_id must be unique");
//! - `price` (the v1.1 field; number > 0) is the price the signal states: refused
//!   (`price_band`) when further than `--price-band` from the price the engine trusts (market data, the
//!   broker's quote); never the notional's price on its own, unless `--allow-signal-price` (docs/risk.md).
//!
//! `metadata` is the strategy's own: the engine never reads it. A v1.0 peer's signal therefore has no id
//! (ordered under a per-run id, counted in `signals_without_id`) and no stated price (the trusted price
//! alone decides). Every `OrderUpdate` carries the `signal_id` of the signal it answers ([`SignalIds`]).

use std::collections::HashMap;

use tradebridge_contracts::{
    Direction, OrderStatus, OrderType, OrderUpdate, SchemaVersion, Side as WireSide, Signal,
    TimeInForce,
};

use crate::broker::{is_final_status, BrokerOrder};
use crate::engine::{Intent, Outcome};
use crate::risk::Side;

/// The client order id of the signal `signal_id`: `tb-<signal_id>` when the id fits Alpaca's 48 characters
/// (at most 45 of `[A-Za-z0-9._-]`), else `tb-h<sha1 of the id, hex>` (44 characters). Deterministic, so a
/// signal delivered again, by a retrying or restarted publisher or a replay, maps to the same broker order.
///
/// The bus `source` is not part of it: it names the publishing *instance* (a random id unless fixed), so
/// a restarted publisher re-sending a signal would otherwise get a second order. Signal ids must be
/// unique across the strategies that share an account (prefix them with the strategy's name).
pub fn client_order_id(signal_id: &str) -> String {
    if usable_id(signal_id) {
        return format!("tb-{signal_id}");
    }
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(signal_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("tb-h{hex}")
}

/// Ids that fit Alpaca's client order id after the `tb-` prefix: at most 45 of `[A-Za-z0-9._-]`.
fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 45
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// What a signal asks for.
pub fn intent_from_signal(signal: &Signal, max_order_qty: f64) -> Intent {
    let side = match signal.direction {
        Direction::Long => Side::Buy,
        Direction::Short => Side::Sell,
    };
    Intent {
        symbol: signal.symbol.clone(),
        side,
        qty: (signal.strength * max_order_qty).round(),
        timestamp_ms: signal.timestamp,
        price_hint: signal.price,
        signal_id: signal.signal_id.clone(),
    }
}

/// Which signal each client order id answers, so every `OrderUpdate` names its `signal_id`. The client
/// order id cannot be read back into the signal id (`tb-h<sha1>` for ids that do not fit), hence the map.
/// An entry goes with the order's final update, so the map holds the orders still open (and the
/// signals still being decided).
#[derive(Debug, Default)]
pub struct SignalIds {
    by_client_order_id: HashMap<String, String>,
}

impl SignalIds {
    /// Remember the id of a signal just received (its client order id is derived from it alone).
    pub fn remember(&mut self, signal_id: Option<&str>) {
        if let Some(id) = signal_id.filter(|id| !id.is_empty()) {
            self.by_client_order_id
                .insert(client_order_id(id), id.to_owned());
        }
    }

    pub fn len(&self) -> usize {
        self.by_client_order_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client_order_id.is_empty()
    }

    /// [`order_update`] with the signal's id filled in; forgets the id once the order is final.
    pub fn update_for(&mut self, outcome: &Outcome, now_ms: u64) -> Option<OrderUpdate> {
        let (coid, done) = match outcome {
            // A refusal names its signal itself; a duplicate's client order id is its own (per run), so
            // forgetting it never touches the original order's entry.
            Outcome::Refused {
                client_order_id, ..
            } => (client_order_id, true),
            Outcome::Order(order) => (&order.client_order_id, is_final_status(&order.status)),
            // The engine stops following it: no later update will need the id.
            Outcome::LookupFailed { order, .. } => (&order.client_order_id, true),
        };
        let known = if done {
            self.by_client_order_id.remove(coid)
        } else {
            self.by_client_order_id.get(coid).cloned()
        };
        order_update(outcome, now_ms).map(|update| OrderUpdate {
            signal_id: update.signal_id.or(known),
            ..update
        })
    }
}

/// The `OrderUpdate` to publish for an outcome, stamped `now_ms`. `None` when the contract cannot carry
/// it: a refusal of zero size (an `OrderUpdate` needs `qty > 0`) or a broker status outside Alpaca's list.
/// Refusals are published as `rejected` updates whose `order_id` is the client order id (no broker order
/// exists) and whose `reason` is `risk:<reason>` or `broker:<reason>: <detail>`.
pub fn order_update(outcome: &Outcome, now_ms: u64) -> Option<OrderUpdate> {
    match outcome {
        Outcome::Refused {
            client_order_id,
            signal_id,
            symbol,
            side,
            qty,
            reason,
            detail,
        } => {
            if qty.is_nan() || *qty <= 0.0 {
                return None;
            }
            let origin = if matches!(
                reason,
                crate::risk::Refusal::BrokerRejected | crate::risk::Refusal::BrokerUnavailable
            ) {
                "broker"
            } else {
                "risk"
            };
            let mut text = format!("{origin}:{}", reason.as_str());
            if !detail.is_empty() {
                text.push_str(": ");
                text.push_str(detail);
            }
            Some(OrderUpdate {
                order_id: client_order_id.clone(),
                client_order_id: client_order_id.clone(),
                symbol: symbol.clone(),
                side: wire_side(*side),
                qty: *qty,
                filled_qty: 0.0,
                filled_avg_price: None,
                status: OrderStatus::Rejected,
                timestamp: now_ms,
                order_type: Some(OrderType::Market),
                limit_price: None,
                stop_price: None,
                time_in_force: Some(TimeInForce::Day),
                reason: Some(text.chars().take(500).collect()),
                schema_version: SchemaVersion::CURRENT,
                seq: None,
                source: None,
                sent_at_us: None,
                signal_id: signal_id.clone(),
            })
        }
        Outcome::Order(order) => from_broker(order, now_ms),
        Outcome::LookupFailed { order, detail } => {
            from_broker(order, now_ms).map(|update| OrderUpdate {
                reason: Some(
                    format!("broker:lookup_failed: {detail}")
                        .chars()
                        .take(500)
                        .collect(),
                ),
                ..update
            })
        }
    }
}

fn from_broker(order: &BrokerOrder, now_ms: u64) -> Option<OrderUpdate> {
    let status: OrderStatus = parse_enum(&order.status)?;
    let side: WireSide = parse_enum(&order.side)?;
    Some(OrderUpdate {
        order_id: order.id.clone(),
        client_order_id: order.client_order_id.clone(),
        symbol: order.symbol.clone(),
        side,
        qty: order.qty.filter(|q| *q > 0.0)?,
        filled_qty: order.filled(),
        filled_avg_price: order.filled_avg_price.filter(|p| *p > 0.0),
        status,
        timestamp: now_ms,
        order_type: order.order_type.as_deref().and_then(parse_enum),
        limit_price: None,
        stop_price: None,
        time_in_force: order.time_in_force.as_deref().and_then(parse_enum),
        reason: None,
        schema_version: SchemaVersion::CURRENT,
        seq: None,
        source: None,
        sent_at_us: None,
        signal_id: None,
    })
}

fn wire_side(side: Side) -> WireSide {
    match side {
        Side::Buy => WireSide::Buy,
        Side::Sell => WireSide::Sell,
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::Refusal;

    fn signal(direction: Direction, strength: f64, metadata: serde_json::Value) -> Signal {
        Signal {
            symbol: "AAPL".into(),
            direction,
            strength,
            timestamp: 1_700_000_000_000,
            features: None,
            metadata: metadata.as_object().cloned(),
            schema_version: SchemaVersion::CURRENT,
            seq: None,
            source: None,
            sent_at_us: None,
            signal_id: None,
            price: None,
        }
    }

    #[test]
    fn client_order_ids_are_stable_and_fit_alpaca() {
        assert_eq!(client_order_id("strat-1.AAPL_42"), "tb-strat-1.AAPL_42");
        let long = "x".repeat(46);
        let odd = "has space";
        for id in [long.as_str(), odd] {
            let coid = client_order_id(id);
            assert!(coid.starts_with("tb-h") && coid.len() == 44, "{coid}");
            assert_eq!(coid, client_order_id(id));
        }
        assert_ne!(client_order_id(&long), client_order_id(odd));
        assert_eq!(
            client_order_id("has space"),
            "tb-he42b2b98cbee79b7a787bd5df7bda64a289063ed"
        );
        assert!(!usable_id(""));
        assert!(usable_id(&"x".repeat(45)));
    }

    #[test]
    fn long_buys_short_sells_size_from_strength() {
        let long = intent_from_signal(&signal(Direction::Long, 0.85, serde_json::json!({})), 10.0);
        assert_eq!((long.side, long.qty), (Side::Buy, 9.0));
        let short = intent_from_signal(
            &signal(Direction::Short, 0.5, serde_json::Value::Null),
            10.0,
        );
        assert_eq!(
            (short.side, short.qty, short.price_hint, short.signal_id),
            (Side::Sell, 5.0, None, None)
        );
    }

    #[test]
    fn the_typed_fields_give_id_and_price_and_the_metadata_is_never_read() {
        let mut s = signal(
            Direction::Long,
            1.0,
            serde_json::json!({"signal_id": "old", "price": 1.0}),
        );
        let intent = intent_from_signal(&s, 10.0);
        assert_eq!((intent.signal_id, intent.price_hint), (None, None));
        s.signal_id = Some("new".into());
        s.price = Some(99.5);
        let intent = intent_from_signal(&s, 10.0);
        assert_eq!(
            (intent.signal_id.as_deref(), intent.price_hint),
            (Some("new"), Some(99.5))
        );
    }

    #[test]
    fn updates_name_their_signal_until_the_order_is_final() {
        let mut ids = SignalIds::default();
        let long_id = "y".repeat(60); // hashed client order id: only the map knows the signal
        ids.remember(Some("s-1"));
        ids.remember(Some(&long_id));
        ids.remember(None);
        ids.remember(Some(""));
        assert_eq!(ids.len(), 2);
        let order = |coid: String, status: &str| {
            Outcome::Order(BrokerOrder {
                status: status.into(),
                ..serde_json::from_value(serde_json::json!({
                    "id": "o1", "client_order_id": coid, "symbol": "AAPL", "side": "buy",
                    "qty": "3", "status": "new"
                }))
                .unwrap()
            })
        };
        let accepted = ids.update_for(&order(client_order_id("s-1"), "accepted"), 1);
        assert_eq!(accepted.unwrap().signal_id.as_deref(), Some("s-1"));
        let filled = ids.update_for(&order(client_order_id("s-1"), "filled"), 2);
        assert_eq!(filled.unwrap().signal_id.as_deref(), Some("s-1"));
        assert_eq!(ids.len(), 1, "a final update forgets the id");
        let refused = Outcome::Refused {
            client_order_id: client_order_id(&long_id),
            signal_id: None, // as if the engine had not said: the map still knows
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty: 2.0,
            reason: Refusal::MaxPosition,
            detail: String::new(),
        };
        let update = ids.update_for(&refused, 3).unwrap();
        assert_eq!(update.signal_id.as_deref(), Some(long_id.as_str()));
        assert!(ids.is_empty());
        // An id-less signal's order (per-run client order id): no signal id to give.
        let unnamed = ids.update_for(&order("tb-run-1".into(), "new"), 4).unwrap();
        assert_eq!(unnamed.signal_id, None);
    }

    #[test]
    fn refusals_become_rejected_updates() {
        let outcome = Outcome::Refused {
            client_order_id: "tb-run-7".into(),
            signal_id: Some("s-7".into()),
            symbol: "AAPL".into(),
            side: Side::Sell,
            qty: 5.0,
            reason: Refusal::MaxPosition,
            detail: String::new(),
        };
        let update = order_update(&outcome, 42).unwrap();
        assert_eq!(update.status, OrderStatus::Rejected);
        assert_eq!(update.reason.as_deref(), Some("risk:max_position"));
        assert_eq!(update.signal_id.as_deref(), Some("s-7"));
        assert_eq!(
            (update.side, update.qty, update.filled_qty, update.timestamp),
            (WireSide::Sell, 5.0, 0.0, 42)
        );
        let zero = Outcome::Refused {
            client_order_id: "tb-run-8".into(),
            signal_id: None,
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty: 0.0,
            reason: Refusal::ZeroSize,
            detail: String::new(),
        };
        assert!(order_update(&zero, 42).is_none());
    }

    #[test]
    fn broker_orders_become_updates() {
        let order: BrokerOrder = serde_json::from_str(
            r#"{"id":"o1","client_order_id":"tb-1","symbol":"AAPL","side":"buy","qty":"3","filled_qty":"3",
                "filled_avg_price":"10.5","status":"filled","type":"market","time_in_force":"day"}"#,
        )
        .unwrap();
        let update = order_update(&Outcome::Order(order.clone()), 1).unwrap();
        assert_eq!(
            (update.status, update.filled_avg_price, update.order_type),
            (OrderStatus::Filled, Some(10.5), Some(OrderType::Market))
        );
        let odd = BrokerOrder {
            status: "held".into(),
            ..order
        };
        assert!(order_update(&Outcome::Order(odd), 1).is_none());
    }
}
