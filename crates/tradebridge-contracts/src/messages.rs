//! Contract v1 messages (the Rust side of `contracts/v1/*.schema.json`).
//!
//! Every field's rule is enforced while deserializing (see [`crate::rules`]), in document order, so a
//! decoded value is a valid one. Use [`crate::decode`] rather than `serde_json` directly: it also checks
//! the `type` tag, the size and depth limits, and turns failures into [`crate::ContractError`]s.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::rules::tagged_message;
use crate::rules::{
    optional, rule, Features, Metadata, Name128, Name16, Name64, NullablePrice, Price, Quantity,
    Rfc3339, SafeInteger, SignalId, Size, Strength, Symbol,
};
use crate::version::SchemaVersion;

/// Where a bus message travels: the first word of its ZeroMQ frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Market,
    Signal,
    Order,
    System,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Market, Topic::Signal, Topic::Order, Topic::System];

    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::Market => "market",
            Topic::Signal => "signal",
            Topic::Order => "order",
            Topic::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == text)
    }
}

/// A message that travels on the bus: its `type` tag and its topic.
pub trait BusMessage: Serialize {
    /// The value of the `type` field.
    const TYPE: &'static str;
    const TOPIC: Topic;
    /// Whether decoding insists on `type` (only Signal may omit it: the guide's plain Signal has none).
    const TAG_REQUIRED: bool = true;
}

/// Declares a bus message: its own fields, then the envelope (`schema_version`, `seq`, `source`,
/// `sent_at_us`) that every bus message carries, and its [`BusMessage`] tag and topic.
macro_rules! bus_message {
    (
        $(#[$doc:meta])*
        pub struct $name:ident ($topic:expr $(, tag_required = $required:expr)?) {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$doc])*
        ///
        /// Serializes with its `type` tag first; decode it with [`crate::decode`], which checks the tag.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "type")]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            /// Contract version; `1.0` when absent on the wire, `1.1` (`Default`) on a new message.
            #[serde(default = "SchemaVersion::absent")]
            pub schema_version: SchemaVersion,
            /// The publisher's per-topic sequence number (set by the bus).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, SafeInteger>")]
            #[schemars(with = "SafeInteger")]
            pub seq: Option<u64>,
            /// The publisher instance id; a new id means its `seq` restarted.
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Name64>")]
            #[schemars(with = "Name64")]
            pub source: Option<String>,
            /// v1.1: microseconds since the Unix epoch when the publisher sent it (set by the bus; a
            /// subscriber's transit time is its clock minus this).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, SafeInteger>")]
            #[schemars(with = "SafeInteger")]
            pub sent_at_us: Option<u64>,
        }

        impl BusMessage for $name {
            const TYPE: &'static str = stringify!($name);
            const TOPIC: Topic = $topic;
            $(const TAG_REQUIRED: bool = $required;)?
        }
    };
}

bus_message! {
    /// One OHLCV bar. Prices finite and > 0, volume >= 0, timestamp in epoch milliseconds.
    pub struct BarUpdate(Topic::Market) {
        #[serde(deserialize_with = "rule::<_, Symbol>")]
        #[schemars(with = "Symbol")]
        pub symbol: String,
        #[serde(deserialize_with = "rule::<_, Price>")]
        #[schemars(with = "Price")]
        pub open: f64,
        #[serde(deserialize_with = "rule::<_, Price>")]
        #[schemars(with = "Price")]
        pub high: f64,
        #[serde(deserialize_with = "rule::<_, Price>")]
        #[schemars(with = "Price")]
        pub low: f64,
        #[serde(deserialize_with = "rule::<_, Price>")]
        #[schemars(with = "Price")]
        pub close: f64,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub volume: f64,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Price>")]
        #[schemars(with = "Price")]
        pub vwap: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub trade_count: Option<u64>,
    }
}

bus_message! {
    /// One market trade print.
    pub struct TradeUpdate(Topic::Market) {
        #[serde(deserialize_with = "rule::<_, Symbol>")]
        #[schemars(with = "Symbol")]
        pub symbol: String,
        #[serde(deserialize_with = "rule::<_, Price>")]
        #[schemars(with = "Price")]
        pub price: f64,
        #[serde(deserialize_with = "rule::<_, Quantity>")]
        #[schemars(with = "Quantity")]
        pub size: f64,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Name64>")]
        #[schemars(with = "Name64")]
        pub trade_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Name16>")]
        #[schemars(with = "Name16")]
        pub exchange: Option<String>,
    }
}

bus_message! {
    /// Top of book. An empty side has price 0 and size 0, hence >= 0 rather than > 0.
    pub struct QuoteUpdate(Topic::Market) {
        #[serde(deserialize_with = "rule::<_, Symbol>")]
        #[schemars(with = "Symbol")]
        pub symbol: String,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub bid_price: f64,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub bid_size: f64,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub ask_price: f64,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub ask_size: f64,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
    }
}

/// `long` or `short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Long,
    Short,
}

bus_message! {
    /// The guide's trading signal. `type` may be absent on decode (the guide's plain peers omit it).
    pub struct Signal(Topic::Signal, tag_required = false) {
        #[serde(deserialize_with = "rule::<_, Symbol>")]
        #[schemars(with = "Symbol")]
        pub symbol: String,
        #[serde(deserialize_with = "string_enum")]
        #[schemars(with = "Direction")]
        pub direction: Direction,
        #[serde(deserialize_with = "rule::<_, Strength>")]
        #[schemars(with = "Strength")]
        pub strength: f64,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
        /// Model inputs; a NaN is written as null (and read back as `None`).
        #[serde(default, deserialize_with = "rule::<_, Features>")]
        #[schemars(with = "Features")]
        pub features: Option<Vec<Option<f64>>>,
        #[serde(default)]
        #[schemars(with = "Metadata")]
        pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
        /// v1.1: the publisher's id for this signal; an order placed for it is `tb-<signal_id>`.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, SignalId>")]
        #[schemars(with = "SignalId")]
        pub signal_id: Option<String>,
        /// v1.1: the reference price the signal was computed at.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Price>")]
        #[schemars(with = "Price")]
        pub price: Option<f64>,
    }
}

/// `buy` or `sell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// Alpaca's order statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    Accepted,
    PendingNew,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    Rejected,
    PendingCancel,
    Replaced,
    DoneForDay,
    Stopped,
    Suspended,
    Calculated,
    AcceptedForBidding,
    PendingReplace,
}

/// Alpaca's order types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
    TrailingStop,
}

/// Alpaca's time-in-force values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Day,
    Gtc,
    Opg,
    Cls,
    Ioc,
    Fok,
}

bus_message! {
    /// An execution report (Alpaca's order fields and statuses).
    pub struct OrderUpdate(Topic::Order) {
        #[serde(deserialize_with = "rule::<_, Name128>")]
        #[schemars(with = "Name128")]
        pub order_id: String,
        #[serde(deserialize_with = "rule::<_, Name128>")]
        #[schemars(with = "Name128")]
        pub client_order_id: String,
        #[serde(deserialize_with = "rule::<_, Symbol>")]
        #[schemars(with = "Symbol")]
        pub symbol: String,
        #[serde(deserialize_with = "string_enum")]
        #[schemars(with = "Side")]
        pub side: Side,
        #[serde(deserialize_with = "rule::<_, Quantity>")]
        #[schemars(with = "Quantity")]
        pub qty: f64,
        #[serde(deserialize_with = "rule::<_, Size>")]
        #[schemars(with = "Size")]
        pub filled_qty: f64,
        /// Null until something filled.
        #[serde(deserialize_with = "rule::<_, NullablePrice>")]
        #[schemars(with = "NullablePrice")]
        pub filled_avg_price: Option<f64>,
        #[serde(deserialize_with = "string_enum")]
        #[schemars(with = "OrderStatus")]
        pub status: OrderStatus,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_enum")]
        #[schemars(with = "OrderType")]
        pub order_type: Option<OrderType>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Price>")]
        #[schemars(with = "Price")]
        pub limit_price: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, Price>")]
        #[schemars(with = "Price")]
        pub stop_price: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_enum")]
        #[schemars(with = "TimeInForce")]
        pub time_in_force: Option<TimeInForce>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_text")]
        #[schemars(with = "String")]
        pub reason: Option<String>,
        /// v1.1: the signal this order was placed for (its `client_order_id` is `tb-<signal_id>`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional::<_, SignalId>")]
        #[schemars(with = "SignalId")]
        pub signal_id: Option<String>,
    }
}

/// `healthy`, `degraded` or `unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

bus_message! {
    /// Liveness beacon on the `system` topic.
    pub struct Heartbeat(Topic::System) {
        #[serde(deserialize_with = "rule::<_, Name64>")]
        #[schemars(with = "Name64")]
        pub component: String,
        #[serde(deserialize_with = "rule::<_, SafeInteger>")]
        #[schemars(with = "SafeInteger")]
        pub timestamp: u64,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_enum")]
        #[schemars(with = "HealthStatus")]
        pub status: Option<HealthStatus>,
    }
}

/// Enum fields read a string first, so that `null` or a number is `wrong_type` (serde_json's own enum
/// path calls those syntax errors) and an unknown string is `invalid_enum`.
fn string_enum<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::{value::StrDeserializer, Error as _};
    let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    T::deserialize(StrDeserializer::<serde::de::value::Error>::new(&text)).map_err(|error| {
        D::Error::custom(tagged_message(ErrorCode::InvalidEnum, &error.to_string()))
    })
}

/// Optional, never-null enum: absent, or one of the values.
fn optional_enum<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    string_enum(deserializer).map(Some)
}

/// Optional, never-null free text.
fn optional_text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    String::deserialize(deserializer).map(Some)
}

/// The `GET /health` body, field for field the guide's example (no `type`; RFC 3339 timestamp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    #[serde(deserialize_with = "string_enum")]
    #[schemars(with = "HealthStatus")]
    pub status: HealthStatus,
    #[serde(deserialize_with = "rule::<_, Name64>")]
    #[schemars(with = "Name64")]
    pub component: String,
    pub message: String,
    pub metrics: BTreeMap<String, String>,
    #[serde(deserialize_with = "rule::<_, Rfc3339>")]
    #[schemars(with = "Rfc3339")]
    pub timestamp: String,
    #[serde(default = "SchemaVersion::absent")]
    pub schema_version: SchemaVersion,
}

/// The `GET /ready` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    pub ready: bool,
    #[serde(deserialize_with = "rule::<_, Name64>")]
    #[schemars(with = "Name64")]
    pub component: String,
    #[serde(deserialize_with = "rule::<_, Rfc3339>")]
    #[schemars(with = "Rfc3339")]
    pub timestamp: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_text"
    )]
    #[schemars(with = "String")]
    pub reason: Option<String>,
    #[serde(default = "SchemaVersion::absent")]
    pub schema_version: SchemaVersion,
}

/// What travels on the `market` topic; the wire form is serde's internally tagged `{"type": "BarUpdate", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MarketMessage {
    BarUpdate(BarUpdate),
    TradeUpdate(TradeUpdate),
    QuoteUpdate(QuoteUpdate),
}

/// Any bus message (each variant writes its own `type` tag).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    BarUpdate(BarUpdate),
    TradeUpdate(TradeUpdate),
    QuoteUpdate(QuoteUpdate),
    Signal(Signal),
    OrderUpdate(OrderUpdate),
    Heartbeat(Heartbeat),
}

impl Message {
    pub fn topic(&self) -> Topic {
        match self {
            Message::BarUpdate(_) | Message::TradeUpdate(_) | Message::QuoteUpdate(_) => {
                Topic::Market
            }
            Message::Signal(_) => Topic::Signal,
            Message::OrderUpdate(_) => Topic::Order,
            Message::Heartbeat(_) => Topic::System,
        }
    }

    /// The envelope's `sent_at_us` (v1.1): when the publisher sent it, in microseconds since the epoch;
    /// a subscriber's transit time is `now_us() - sent_at_us`.
    pub fn sent_at_us(&self) -> Option<u64> {
        match self {
            Message::BarUpdate(m) => m.sent_at_us,
            Message::TradeUpdate(m) => m.sent_at_us,
            Message::QuoteUpdate(m) => m.sent_at_us,
            Message::Signal(m) => m.sent_at_us,
            Message::OrderUpdate(m) => m.sent_at_us,
            Message::Heartbeat(m) => m.sent_at_us,
        }
    }

    /// The `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::BarUpdate(_) => BarUpdate::TYPE,
            Message::TradeUpdate(_) => TradeUpdate::TYPE,
            Message::QuoteUpdate(_) => QuoteUpdate::TYPE,
            Message::Signal(_) => Signal::TYPE,
            Message::OrderUpdate(_) => OrderUpdate::TYPE,
            Message::Heartbeat(_) => Heartbeat::TYPE,
        }
    }
}

impl From<MarketMessage> for Message {
    fn from(message: MarketMessage) -> Self {
        match message {
            MarketMessage::BarUpdate(m) => Message::BarUpdate(m),
            MarketMessage::TradeUpdate(m) => Message::TradeUpdate(m),
            MarketMessage::QuoteUpdate(m) => Message::QuoteUpdate(m),
        }
    }
}

macro_rules! into_message {
    ($($name:ident),*) => {$(
        impl From<$name> for Message {
            fn from(message: $name) -> Self {
                Message::$name(message)
            }
        }
    )*};
}

into_message!(
    BarUpdate,
    TradeUpdate,
    QuoteUpdate,
    Signal,
    OrderUpdate,
    Heartbeat
);
