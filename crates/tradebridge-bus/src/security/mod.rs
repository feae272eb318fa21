//! CURVE security for the bus: keys, the one key-loading rule, and ZAP allow-lists on binding sockets.
//!
//! The same as the Python SDK's `tradebridge.bus._security`: a [`Curve`] holds this process's keypair,
//! the server's public key (for sockets that connect) and the allow-list of client public keys (for
//! sockets that bind). A binding socket becomes a CURVE server whose ZAP handler admits only the
//! allow-list; a connecting socket a client of the server whose key it holds. With a key configured a
//! plaintext peer is refused by libzmq itself (mechanism mismatch). [`resolve`] reads the keys from
//! flags and the environment by the rule `conformance/vectors/curve/` pins for both languages.
//!
//! Refusals are counted per socket ([`CurveStats`]): `denied` (a key the allow-list does not hold: ZAP
//! answered 400) and `handshake_failed` (libzmq refused the handshake before ZAP: plaintext peers,
//! wrong server keys), read from the socket's monitor events.
//!
//! One ZAP handler serves a context (libzmq asks `inproc://zeromq.zap.01` of that context): a
//! [`ContextSecurity`] runs it, on one thread with the monitors of every socket it secured, and routes
//! each request by the socket's own ZAP domain, so sockets of one context can have different
//! allow-lists. The thread stops when the last [`CurveGuard`] (and the `ContextSecurity`) is dropped,
//! before the context can be terminated.

mod config;
mod keys;
mod zap;

pub use config::{
    resolve, Allow, Curve, CurveFlags, ENV_ALLOW, ENV_PUBLIC, ENV_SECRET, ENV_SERVER,
};
pub use keys::{generate_keypair, is_z85_key, load_certificate, public_of, CurveError};
pub use zap::{secure, ContextSecurity, CurveGuard, CurveStats, CurveStatsHandle};
