//! The tradebridge execution engine: signals in, risk-checked orders at an Alpaca-compatible paper broker,
//! order updates out.
//!
//! The library holds the logic (risk, sizing, the broker client, order tracking) so it is unit-tested
//! without processes; the `execution-engine` binary wires it to the bus and the health server.

pub mod broker;
pub mod config;
pub mod control;
pub mod engine;
pub mod input;
pub mod journal;
pub mod kill;
pub mod mapping;
pub mod report;
pub use tradebridge_access::retry;
pub mod risk;
pub mod service;
pub mod stream;
