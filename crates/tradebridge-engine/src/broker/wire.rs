//! Alpaca's REST bodies as the engine sends and reads them.

use serde::{Deserialize, Serialize};

use crate::risk::Side;

/// The order body Alpaca's `POST /v2/orders` takes (market orders, whole shares).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderRequest {
    pub symbol: String,
    pub qty: String,
    pub side: &'static str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    pub time_in_force: &'static str,
    pub client_order_id: String,
}

impl OrderRequest {
    pub fn market(symbol: &str, side: Side, qty: f64, client_order_id: &str) -> Self {
        OrderRequest {
            symbol: symbol.to_owned(),
            qty: format!("{qty}"),
            side: side.as_str(),
            order_type: "market",
            time_in_force: "day",
            client_order_id: client_order_id.to_owned(),
        }
    }
}

/// The fields of Alpaca's Order object the engine reads. Decimals may arrive as strings or numbers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BrokerOrder {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    #[serde(default, deserialize_with = "decimal::option")]
    pub qty: Option<f64>,
    #[serde(default, deserialize_with = "decimal::option")]
    pub filled_qty: Option<f64>,
    #[serde(default, deserialize_with = "decimal::option")]
    pub filled_avg_price: Option<f64>,
    pub status: String,
    #[serde(default, rename = "type")]
    pub order_type: Option<String>,
    #[serde(default)]
    pub time_in_force: Option<String>,
    /// RFC 3339; the cursor of the open-orders pages.
    #[serde(default)]
    pub submitted_at: Option<String>,
}

impl BrokerOrder {
    /// Alpaca's statuses after which an order never changes again.
    pub fn is_final(&self) -> bool {
        is_final_status(&self.status)
    }

    pub fn filled(&self) -> f64 {
        self.filled_qty.unwrap_or(0.0)
    }
}

pub fn is_final_status(status: &str) -> bool {
    matches!(
        status,
        "filled" | "canceled" | "expired" | "rejected" | "replaced" | "done_for_day" | "stopped"
    )
}

/// One position from `GET /v2/positions` (signed qty: negative for a short).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BrokerPosition {
    pub symbol: String,
    #[serde(deserialize_with = "decimal::required")]
    pub qty: f64,
    #[serde(default)]
    pub side: Option<String>,
}

impl BrokerPosition {
    /// Alpaca reports short positions with a negative qty; some servers send a positive qty and
    /// `side: "short"`. Both become a negative number.
    pub fn signed_qty(&self) -> f64 {
        if self.side.as_deref() == Some("short") {
            -self.qty.abs()
        } else {
            self.qty
        }
    }
}

/// The body of `GET /v2/stocks/quotes/latest?symbols=...`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct LatestQuotes {
    #[serde(default)]
    pub quotes: std::collections::HashMap<String, Quote>,
}

/// One latest quote: ask and bid prices (`ap`, `bp`; 0 when that side is empty).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Quote {
    #[serde(default)]
    pub ap: f64,
    #[serde(default)]
    pub bp: f64,
}

impl Quote {
    /// The mid when both sides are quoted, else the side that is; `None` when neither is.
    pub fn price(&self) -> Option<f64> {
        let valid = |p: f64| (p.is_finite() && p > 0.0).then_some(p);
        match (valid(self.ap), valid(self.bp)) {
            (Some(ask), Some(bid)) => Some((ask + bid) / 2.0),
            (one, other) => one.or(other),
        }
    }
}

/// Alpaca sends decimals as JSON strings ("10", "151.23"); accept numbers too.
mod decimal {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Decimal {
        Number(f64),
        Text(String),
    }

    fn to_f64<E: serde::de::Error>(d: Decimal) -> Result<f64, E> {
        match d {
            Decimal::Number(x) => Ok(x),
            Decimal::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("not a decimal: {s:?}"))),
        }
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Decimal>::deserialize(d)?.map(to_f64).transpose()
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        to_f64(Decimal::deserialize(d)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_decode_with_string_or_number_decimals() {
        let json = r#"{"id":"o1","client_order_id":"c1","symbol":"AAPL","side":"buy","qty":"10",
            "filled_qty":10,"filled_avg_price":"151.25","status":"filled","type":"market","extra":1}"#;
        let order: BrokerOrder = serde_json::from_str(json).unwrap();
        assert_eq!(
            (order.qty, order.filled(), order.filled_avg_price),
            (Some(10.0), 10.0, Some(151.25))
        );
        assert!(order.is_final());
        let quotes: LatestQuotes = serde_json::from_str(
            r#"{"quotes":{"AAPL":{"ap":100.02,"bp":99.98,"as":1},"MSFT":{"ap":0,"bp":50.0},"X":{}}}"#,
        )
        .unwrap();
        let price = |s: &str| quotes.quotes[s].price();
        assert!((price("AAPL").unwrap() - 100.0).abs() < 1e-9);
        assert_eq!((price("MSFT"), price("X")), (Some(50.0), None));
        let open: BrokerOrder = serde_json::from_str(
            r#"{"id":"o","client_order_id":"c","symbol":"A","side":"sell","qty":"1","filled_qty":"0","filled_avg_price":null,"status":"accepted"}"#,
        )
        .unwrap();
        assert!(!open.is_final() && open.filled_avg_price.is_none());
        let short: BrokerPosition =
            serde_json::from_str(r#"{"symbol":"A","qty":"5","side":"short"}"#).unwrap();
        assert_eq!(short.signed_qty(), -5.0);
    }

    #[test]
    fn order_request_is_alpacas_shape() {
        let body =
            serde_json::to_value(OrderRequest::market("AAPL", Side::Sell, 3.0, "tb-1")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"symbol":"AAPL","qty":"3","side":"sell","type":"market","time_in_force":"day","client_order_id":"tb-1"})
        );
    }
}
