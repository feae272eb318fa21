//! Socket options, with the same defaults and reasons as the Python SDK's `BusOptions`.

use std::num::NonZeroUsize;

/// How a publisher or subscriber socket is set up.
///
/// - `send_hwm` / `receive_hwm`: messages queued per peer before libzmq drops (PUB) or stops reading
///   (SUB); 100,000 holds a one-second burst, and a subscriber that falls further behind loses messages
///   *visibly* (its [`crate::SubscriberStats::gaps`]). `0` is unbounded.
/// - `linger_ms`: how long dropping a socket waits to flush; bounded, so a gone peer never hangs exit.
/// - `reconnect_ivl_ms` / `reconnect_ivl_max_ms`: a connecting socket retries after 100 ms, backing off
///   to 5 s, so a restarted publisher is found again quickly without a retry storm.
/// - `conflate` (subscribers only): keep only the newest message of the whole socket.
/// - `max_message_bytes`: a subscriber refuses bigger frames unparsed and counts them (`too_large` in
///   [`crate::SubscriberStats`]; `-1`: no limit).
/// - `hard_max_message_bytes`: libzmq's own `MAXMSGSIZE`, far above the limit so an oversized frame is
///   still read, refused and counted. A frame above it never reaches us and is counted nowhere: libzmq
///   takes it for a protocol error and closes the *connection* it came on, for good (a connecting
///   subscriber does not reconnect to that peer). `-1`: no cap.
/// - `max_sources` (subscribers only): `(topic, source)` streams the loss accounting follows before it
///   forgets the least recently heard (counted in `sources_evicted`).
/// - `allow_nan_tokens` (subscribers only): read the bare `NaN`/`Infinity` tokens Python's `json.dumps`
///   writes inside a signal's `features` as null, counted in `nan_tokens`. Off by default (they are not
///   JSON: refused as `invalid_json`, counted and skipped). `SignalGenerated` is always read, counted in
///   `legacy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub send_hwm: i32,
    pub receive_hwm: i32,
    pub linger_ms: i32,
    pub reconnect_ivl_ms: i32,
    pub reconnect_ivl_max_ms: i32,
    pub conflate: bool,
    pub max_message_bytes: i64,
    pub hard_max_message_bytes: i64,
    pub max_sources: NonZeroUsize,
    pub allow_nan_tokens: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_hwm: 100_000,
            receive_hwm: 100_000,
            linger_ms: 1_000,
            reconnect_ivl_ms: 100,
            reconnect_ivl_max_ms: 5_000,
            conflate: false,
            max_message_bytes: 1_048_576 + 64,
            hard_max_message_bytes: 16 * 1_048_576,
            max_sources: NonZeroUsize::new(crate::stats::DEFAULT_MAX_SOURCES).expect("non-zero"),
            allow_nan_tokens: false,
        }
    }
}

impl Options {
    pub(crate) fn apply(&self, socket: &zmq::Socket, receiving: bool) -> zmq::Result<()> {
        socket.set_linger(self.linger_ms)?;
        socket.set_sndhwm(self.send_hwm)?;
        socket.set_rcvhwm(self.receive_hwm)?;
        socket.set_reconnect_ivl(self.reconnect_ivl_ms)?;
        socket.set_reconnect_ivl_max(self.reconnect_ivl_max_ms)?;
        socket.set_maxmsgsize(self.hard_max_message_bytes)?;
        if receiving && self.conflate {
            socket.set_conflate(true)?;
        }
        Ok(())
    }
}
