//! The tradebridge ZeroMQ bus for Rust services: the same wire form, numbering and counters as the
//! Python SDK's `tradebridge.bus`, so either side can publish and either side can subscribe.
//!
//! - [`Publisher`] sends each contract message as one frame `<topic> <json>`, writing the envelope
//!   fields `seq` (per topic, from 0), `sent_at_us` (v1.1: its wall clock at framing, µs) and `source`
//!   (this instance's id), and can
//!   [`wait_for_subscribers`](Publisher::wait_for_subscribers) so the first messages are not lost.
//! - [`Subscriber`] decodes frames with `tradebridge-contracts`, matches topics exactly, and keeps
//!   [`SubscriberStats`]: gaps, dropped messages and restarts per `(topic, source)` stream (so many
//!   publishers on one topic invent no loss), refused frames by error code (`too_large` included), what
//!   it forgave (`legacy` `SignalGenerated` signals, `nan_tokens` with `Options::allow_nan_tokens`) and
//!   a [`TransitHistogram`] of `now - sent_at_us` (see [`transit`](TransitHistogram) for clock sync).
//! - Publishers bind and subscribers connect by default (the guide's roles); both can do the other.
//! - CURVE security ([`security`]): `Publisher::new_secure` / `Subscriber::new_secure` with a
//!   [`Curve`]: a binding socket admits only its allow-list (ZAP), plaintext peers are refused, and
//!   refusals are counted (`curve_stats`).
//!
//! ```no_run
//! use std::time::Duration;
//! use tradebridge_bus::{Publisher, Subscriber};
//! use tradebridge_contracts::{Message, Topic};
//!
//! // echo signals from one endpoint to another
//! let mut signals = Subscriber::connect("tcp://127.0.0.1:5556", &[Topic::Signal])?;
//! let mut out = Publisher::bind("tcp://127.0.0.1:5557")?;
//! out.wait_for_subscribers(1, Duration::from_secs(10), Some(Topic::Signal))?;
//! while let Some((_, message)) = signals.recv()? {
//!     out.publish(&message)?;
//! }
//! # Ok::<(), tradebridge_bus::BusError>(())
//! ```

mod envelope;
mod error;
mod options;
mod publisher;
pub mod security;
mod stats;
mod subscriber;
mod transit;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use envelope::Envelope;
pub use error::BusError;
pub use options::Options;
pub use publisher::Publisher;
pub use security::{
    Allow, ContextSecurity, Curve, CurveError, CurveFlags, CurveGuard, CurveStats, CurveStatsHandle,
};
pub use stats::{SourceStats, SubscriberStats, TopicStats, DEFAULT_MAX_SOURCES};
pub use subscriber::Subscriber;
use tradebridge_contracts::ContractError;
pub use transit::{TransitHistogram, TRANSIT_BUCKETS_US};

/// A publisher instance id: readable (language, pid) and new on every start.
pub fn new_source_id(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // the address of a fresh stack value adds entropy between instances created in the same instant
    let local = 0u8;
    let mixed =
        (nanos as u64) ^ ((&local as *const u8 as u64) << 7) ^ u64::from(std::process::id());
    format!(
        "{prefix}-{}-{:08x}",
        std::process::id(),
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
    )
}

/// Bind or connect, turning errors into one-line [`BusError::Attach`]; returns the resolved endpoint.
pub(crate) fn attach(socket: &zmq::Socket, endpoint: &str, bind: bool) -> Result<String, BusError> {
    let wanted = match endpoint.strip_suffix(":0") {
        Some(head) if bind && endpoint.starts_with("tcp://") => format!("{head}:*"),
        _ => endpoint.to_owned(),
    };
    let result = if bind {
        socket.bind(&wanted)
    } else {
        socket.connect(&wanted)
    };
    result.map_err(|source| BusError::Attach {
        verb: if bind { "bind" } else { "connect" },
        endpoint: endpoint.to_owned(),
        source,
    })?;
    if bind {
        if let Ok(Ok(resolved)) = socket.get_last_endpoint() {
            return Ok(resolved);
        }
    }
    Ok(wanted)
}

/// Logs the first few malformed frames, then one summary line per interval: never a flood.
#[derive(Debug)]
pub(crate) struct MalformedLog {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl Default for MalformedLog {
    fn default() -> Self {
        MalformedLog {
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }
}

impl MalformedLog {
    const BURST: u32 = 10;
    const INTERVAL: Duration = Duration::from_secs(10);

    pub(crate) fn report(&mut self, frame: &[u8], error: &ContractError) {
        if self.window_start.elapsed() >= Self::INTERVAL {
            if self.suppressed > 0 {
                eprintln!(
                    "tradebridge-bus: skipped {} more malformed frames",
                    self.suppressed
                );
            }
            *self = MalformedLog::default();
        }
        if self.logged < Self::BURST {
            self.logged += 1;
            let shown = &frame[..frame.len().min(96)];
            eprintln!(
                "tradebridge-bus: skipping malformed frame ({error}): {:?}",
                String::from_utf8_lossy(shown)
            );
        } else {
            self.suppressed += 1;
        }
    }
}
