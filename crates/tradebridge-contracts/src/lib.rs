//! Contract v1 of tradebridge: the messages Python and Rust services exchange, their JSON codec and the
//! `"<topic> <json>"` frame form, with the same validation and error codes as the Python SDK.
//!
//! ```
//! use tradebridge_contracts::{decode, encode, BarUpdate, MarketMessage};
//!
//! let json = br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,
//!                 "close":151.0,"volume":1000000.0,"timestamp":1234567890}"#;
//! let MarketMessage::BarUpdate(bar) = decode::<MarketMessage>(json)? else { unreachable!() };
//! assert_eq!(bar.close, 151.0);
//! assert!(encode(&bar).starts_with(br#"{"type":"BarUpdate","symbol":"AAPL""#));
//! # Ok::<(), tradebridge_contracts::ContractError>(())
//! ```

mod codec;
mod error;
mod fast;
mod frame;
mod lenient;
mod messages;
mod peek;
mod rules;
pub mod schema;
mod version;

pub use codec::{
    decode, decode_noted, decode_with, decode_with_serde, encode, encode_into, validate, Decode,
    Limits, DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE,
};
pub use error::{ContractError, ErrorCode};
pub use frame::{
    decode_frame, decode_frame_noted, decode_frame_with, encode_frame, now_us, source_suffix,
    splice_envelope, split_frame, Frame, Framed,
};
pub use lenient::{Leniency, SIGNAL_ALIAS};
pub use messages::{
    BarUpdate, BusMessage, Direction, Health, HealthStatus, Heartbeat, MarketMessage, Message,
    OrderStatus, OrderType, OrderUpdate, QuoteUpdate, Readiness, Side, Signal, TimeInForce, Topic,
    TradeUpdate,
};
pub use peek::{peek_frame, Peeked, PEEK_ABSENT_VERSION};
pub use rules::{FLOAT_MAX, MAX_FEATURES, MAX_SAFE_INTEGER, MAX_SIGNAL_ID};
pub use version::SchemaVersion;
