//! `market-data`: one connection to Alpaca's market-data stream (WebSocket, msgpack), republished on the
//! tradebridge bus as `BarUpdate`/`TradeUpdate`/`QuoteUpdate`, so any number of strategies share the one
//! connection an Alpaca account is allowed.
//!
//! - [`protocol`]: the stream's frames, decoded leniently (a bad point costs only itself);
//! - [`map`]: points to contract messages, every refusal with a [`metrics::Reason`];
//! - [`stream`]: connect, authenticate, subscribe, read; reconnect with [`backoff`] and re-subscribe;
//! - [`publish`]: the bus publisher on its own thread;
//! - [`metrics`]: counters, `/health` condition, latency histograms;
//! - [`service`]: all of it behind the `market-data` binary's flags.

pub mod backoff;
pub mod credentials;
pub mod map;
pub mod metrics;
pub mod protocol;
pub mod publish;
pub mod service;
pub mod stream;
