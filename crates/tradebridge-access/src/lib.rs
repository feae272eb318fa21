//! Broker access, one rule per truth for every Rust service that talks to Alpaca (the execution engine,
//! `market-data`): `url` the paper-only rule, `credentials` where keys come from, `retry` the backoff
//! schedule. The same rules exist in Python (`tradebridge.alpaca`); `conformance/vectors/broker_access`
//! proves the two equal.

pub mod credentials;
pub mod retry;
pub mod url;
