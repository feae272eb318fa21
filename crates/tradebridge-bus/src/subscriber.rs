//! The subscriber: decodes frames, keeps the stats, skips (and counts) what is malformed.

use std::time::{Duration, Instant};

use tradebridge_contracts::{
    decode_frame_noted, now_us, split_frame, ContractError, ErrorCode, Limits, Message, Topic,
};

use crate::envelope::Envelope;
use crate::error::BusError;
use crate::options::Options;
use crate::security::{secure, Curve, CurveGuard, CurveStats, CurveStatsHandle};
use crate::stats::SubscriberStats;
use crate::{attach, MalformedLog};

/// Receives contract messages, counting loss and skipping malformed frames.
///
/// ```no_run
/// use tradebridge_bus::Subscriber;
/// use tradebridge_contracts::{Message, Topic};
///
/// let mut subscriber = Subscriber::connect("tcp://127.0.0.1:5556", &[Topic::Signal])?;
/// while let Some((topic, message)) = subscriber.recv()? {
///     if let Message::Signal(signal) = message {
///         println!("{} {:?} {}", signal.symbol, signal.direction, signal.strength);
///     }
/// }
/// # Ok::<(), tradebridge_bus::BusError>(())
/// ```
///
/// Topics match exactly (ZeroMQ's prefix filter is only a pre-filter). A malformed frame is counted in
/// [`stats`](Self::stats) by error code, logged without flooding, and skipped; a [`strict`](Self::strict)
/// subscriber returns it as [`BusError::Contract`] instead. After a publisher restart the socket
/// reconnects by itself and the stats show what was missed. Loss is counted per `(topic, source)`, so
/// many publishers on one topic invent none (see [`SubscriberStats`]); frames above
/// `Options::max_message_bytes` are refused and counted as `too_large`.
///
/// Threads: `Send`, not `Sync`, and receiving takes `&mut self`: no other thread can close the socket
/// under a blocked `recv` (the compiler refuses it). A loop that must stop on another thread's word uses
/// [`recv_timeout`](Self::recv_timeout) and a flag, as `bus-peer` does.
pub struct Subscriber {
    socket: zmq::Socket,
    endpoint: String,
    exact_topics: Option<Vec<Topic>>,
    stats: SubscriberStats,
    limits: Limits,
    /// frames above it are refused unparsed (`too_large`); libzmq's own cap is far higher
    max_frame: usize,
    strict: bool,
    log: MalformedLog,
    frame: zmq::Message,
    /// the socket's RCVTIMEO, changed only when a call needs another
    receive_timeout_ms: i32,
    /// CURVE's hold on the ZAP handler and monitor: dropped after the socket (declared after it)
    curve: Option<CurveGuard>,
    _context: zmq::Context,
}

impl Subscriber {
    /// Connect to `endpoint` and subscribe to `topics` (all topics when empty), default options.
    pub fn connect(endpoint: &str, topics: &[Topic]) -> Result<Self, BusError> {
        Self::new(endpoint, topics, false, Options::default(), None)
    }

    /// Bind `endpoint` (for many connecting publishers) and subscribe to `topics`.
    pub fn bind(endpoint: &str, topics: &[Topic]) -> Result<Self, BusError> {
        Self::new(endpoint, topics, true, Options::default(), None)
    }

    /// Full control: bind or connect, options, a shared context.
    pub fn new(
        endpoint: &str,
        topics: &[Topic],
        bind: bool,
        options: Options,
        context: Option<&zmq::Context>,
    ) -> Result<Self, BusError> {
        Self::new_secure(endpoint, topics, bind, options, context, None)
    }

    /// [`new`](Self::new) with CURVE keys (`None`: plaintext): a binding subscriber admits only its
    /// allow-list, a connecting one talks only to the server whose key it holds (see
    /// [`crate::security`]).
    pub fn new_secure(
        endpoint: &str,
        topics: &[Topic],
        bind: bool,
        options: Options,
        context: Option<&zmq::Context>,
        curve: Option<&Curve>,
    ) -> Result<Self, BusError> {
        let context = context.cloned().unwrap_or_default();
        let socket = context.socket(zmq::SUB)?;
        options.apply(&socket, true)?;
        let curve = secure(curve, &context, &socket, bind)?;
        let mut exact: Vec<Topic> = Vec::new();
        for &topic in topics {
            if !exact.contains(&topic) {
                exact.push(topic);
            }
        }
        if exact.is_empty() {
            socket.set_subscribe(b"")?;
        }
        for topic in &exact {
            socket.set_subscribe(topic.as_str().as_bytes())?;
        }
        let endpoint = attach(&socket, endpoint, bind)?;
        Ok(Subscriber {
            socket,
            endpoint,
            exact_topics: (!exact.is_empty()).then_some(exact),
            stats: SubscriberStats::with_max_sources(options.max_sources),
            limits: Limits {
                allow_nan_tokens: options.allow_nan_tokens,
                ..Limits::DEFAULT
            },
            max_frame: usize::try_from(options.max_message_bytes).unwrap_or(usize::MAX),
            strict: false,
            log: MalformedLog::default(),
            frame: zmq::Message::new(),
            receive_timeout_ms: -1,
            curve,
            _context: context,
        })
    }

    /// What CURVE refused on this socket (zeros without CURVE).
    pub fn curve_stats(&self) -> CurveStats {
        self.curve
            .as_ref()
            .map(CurveGuard::stats)
            .unwrap_or_default()
    }

    /// The CURVE counters for another thread (a `/metrics` scrape); `None` without CURVE.
    pub fn curve_handle(&self) -> Option<CurveStatsHandle> {
        self.curve.as_ref().map(CurveGuard::handle)
    }

    /// Return malformed frames as errors instead of skipping them.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Payload size and nesting limits (the contract's defaults otherwise). These replace the
    /// `allow_nan_tokens` of the [`Options`] the subscriber was made with.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Counters: received, malformed, gaps, dropped, restarts, and the same per topic; `legacy`,
    /// `nan_tokens` and the `transit` histogram.
    pub fn stats(&self) -> &SubscriberStats {
        &self.stats
    }

    /// The next valid message, waiting as long as it takes. `Ok(None)` never happens here; the
    /// `Option` matches [`recv_timeout`](Self::recv_timeout) so loops read the same. A signal arriving
    /// while it waits is `Err(BusError::Socket(EINTR))`; loops that must notice a stop flag use
    /// [`recv_timeout`](Self::recv_timeout) instead.
    pub fn recv(&mut self) -> Result<Option<(Topic, Message)>, BusError> {
        self.set_receive_timeout(-1)?;
        loop {
            self.socket.recv(&mut self.frame, 0)?;
            if let Some(item) = self.take_frame()? {
                return Ok(Some(item));
            }
        }
    }

    /// The next valid message, or `Ok(None)` if none arrives within `timeout` (or a signal
    /// interrupts the wait). `Duration::ZERO` only takes what is already queued.
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(Topic, Message)>, BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait_ms = remaining.as_millis().min(i32::MAX as u128) as i32;
            // a blocking recv with a receive timeout rather than poll-then-recv: the poll would cost
            // a second wake-up per message
            self.set_receive_timeout(wait_ms)?;
            let flags = if wait_ms == 0 { zmq::DONTWAIT } else { 0 };
            match self.socket.recv(&mut self.frame, flags) {
                Ok(()) => {
                    if let Some(item) = self.take_frame()? {
                        return Ok(Some(item));
                    }
                }
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Ok(None),
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn set_receive_timeout(&mut self, ms: i32) -> Result<(), BusError> {
        if self.receive_timeout_ms != ms {
            self.socket.set_rcvtimeo(ms)?;
            self.receive_timeout_ms = ms;
        }
        Ok(())
    }

    fn take_frame(&mut self) -> Result<Option<(Topic, Message)>, BusError> {
        let frame = std::mem::replace(&mut self.frame, zmq::Message::new());
        let result = self.handle_frame(&frame);
        self.frame = frame;
        result
    }

    /// Decode one frame as received (exposed for benchmarks and for frames that arrive another way):
    /// `Ok(None)` when it is skipped (filtered or malformed), counted in the stats either way.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<Option<(Topic, Message)>, BusError> {
        if frame.len() > self.max_frame {
            let error = ContractError::new(
                ErrorCode::TooLarge,
                "$",
                format!(
                    "frame is {} bytes, the limit is {}",
                    frame.len(),
                    self.max_frame
                ),
            );
            return self.refuse(frame, error);
        }
        if let Some(exact) = &self.exact_topics {
            // cheap prefix test first; only a frame that fails it is split to tell filtered from bad
            let wanted = exact.iter().any(|topic| {
                let name = topic.as_str().as_bytes();
                frame.len() > name.len() && frame.starts_with(name) && frame[name.len()] == b' '
            });
            if !wanted && split_frame(frame).is_ok() {
                self.stats.filtered += 1;
                return Ok(None);
            }
        }
        match decode_frame_noted(frame, &self.limits) {
            Ok((topic, message, leniency)) => {
                self.stats.legacy += u64::from(leniency.legacy_type);
                self.stats.nan_tokens += u64::from(leniency.nan_tokens);
                if let Some(sent) = message.sent_at_us() {
                    // a v1.0 peer's message has no stamp: no transit, nothing invented
                    self.stats.transit.observe(sent, now_us());
                }
                self.stats.observe(topic, message.seq(), message.source());
                Ok(Some((topic, message)))
            }
            Err(error) => self.refuse(frame, error),
        }
    }

    fn refuse(
        &mut self,
        frame: &[u8],
        error: ContractError,
    ) -> Result<Option<(Topic, Message)>, BusError> {
        self.stats.refused(error.code.as_str());
        if self.strict {
            return Err(error.into());
        }
        self.log.report(frame, &error);
        Ok(None)
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("endpoint", &self.endpoint)
            .field("topics", &self.exact_topics)
            .field("stats", &self.stats)
            .finish()
    }
}
