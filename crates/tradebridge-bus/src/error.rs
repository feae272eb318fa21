//! The bus's one error type.

use tradebridge_contracts::ContractError;

/// What the bus could not do.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Binding or connecting failed (address in use, bad endpoint); one line, naming the endpoint.
    #[error("cannot {verb} {endpoint}: {source}")]
    Attach {
        verb: &'static str,
        endpoint: String,
        source: zmq::Error,
    },
    /// A socket operation failed after set-up.
    #[error("bus socket error: {0}")]
    Socket(#[from] zmq::Error),
    /// `wait_for_subscribers` gave up.
    #[error("{seen} of {wanted} subscriber(s) on {endpoint} after {timeout_ms} ms")]
    SubscriberTimeout {
        seen: usize,
        wanted: usize,
        endpoint: String,
        timeout_ms: u64,
    },
    /// A malformed frame, returned only by a strict subscriber (others count and skip it).
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// CURVE keys or an allow-list that cannot be used (see [`crate::security`]).
    #[error(transparent)]
    Curve(#[from] crate::security::CurveError),
    /// The publisher id is not 1..64 characters.
    #[error("source must be 1..64 characters, got {0}")]
    InvalidSource(usize),
}
