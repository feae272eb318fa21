//! The publisher: numbers each message per topic, stamps its instance id, sends one frame.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tradebridge_contracts::{encode_into, now_us, source_suffix, splice_envelope, Topic};

use crate::envelope::Envelope;
use crate::error::BusError;
use crate::options::Options;
use crate::security::{secure, Curve, CurveGuard, CurveStats, CurveStatsHandle};
use crate::{attach, new_source_id};

const SUBSCRIBE: u8 = 1;
const UNSUBSCRIBE: u8 = 0;

/// Publishes contract messages as `<topic> <json>` frames, numbered per topic.
///
/// ```no_run
/// use tradebridge_bus::Publisher;
/// use tradebridge_contracts::Heartbeat;
///
/// let mut publisher = Publisher::bind("tcp://127.0.0.1:5555")?;
/// publisher.wait_for_subscribers(1, std::time::Duration::from_secs(5), None)?;
/// let beat = Heartbeat { component: "engine".into(), timestamp: 1, status: None,
///                        schema_version: Default::default(), seq: None, source: None,
///                        sent_at_us: None };
/// let seq = publisher.publish(&beat)?;
/// # Ok::<(), tradebridge_bus::BusError>(())
/// ```
///
/// The socket is an XPUB that reports every subscription, which is how
/// [`wait_for_subscribers`](Self::wait_for_subscribers) knows a subscriber's filter is in place (no
/// slow-joiner loss). Sending never blocks: at the high-water mark libzmq drops, and subscribers see
/// the gap. Dropping the publisher closes the socket, waiting at most `linger_ms` to flush.
///
/// Threads: a libzmq socket must never be used by two threads at once. `Publisher` is `Send` but not
/// `Sync` and publishes through `&mut self`, so the compiler already refuses sharing it unguarded;
/// threads that share one put it in a `Mutex` (held around `publish` only, which keeps each topic's
/// `seq` in send order), and closing is dropping it, which needs the lock too.
pub struct Publisher {
    socket: zmq::Socket,
    endpoint: String,
    source: String,
    /// `,"seq":<n>,"sent_at_us":<us>` ... then `,"source":"<id>"}` closes every body
    source_suffix: Vec<u8>,
    next_seq: [u64; 4],
    subscriptions: HashMap<Vec<u8>, usize>,
    published: u64,
    frame: Vec<u8>,
    /// CURVE's hold on the ZAP handler and monitor: dropped after the socket (declared after it)
    curve: Option<CurveGuard>,
    // last: the context must outlive the socket
    _context: zmq::Context,
}

fn topic_index(topic: Topic) -> usize {
    match topic {
        Topic::Market => 0,
        Topic::Signal => 1,
        Topic::Order => 2,
        Topic::System => 3,
    }
}

impl Publisher {
    /// Bind `endpoint` with the default options (`tcp://127.0.0.1:*` picks a free port; see
    /// [`endpoint`](Self::endpoint)).
    pub fn bind(endpoint: &str) -> Result<Self, BusError> {
        Self::new(endpoint, true, Options::default(), None, None)
    }

    /// Connect to `endpoint` (a binding subscriber or a proxy) with the default options.
    pub fn connect(endpoint: &str) -> Result<Self, BusError> {
        Self::new(endpoint, false, Options::default(), None, None)
    }

    /// Full control: bind or connect, options, a shared context, a chosen instance id (`source`,
    /// 1..64 characters; default `rs-<pid>-<random>`).
    pub fn new(
        endpoint: &str,
        bind: bool,
        options: Options,
        context: Option<&zmq::Context>,
        source: Option<String>,
    ) -> Result<Self, BusError> {
        Self::new_secure(endpoint, bind, options, context, source, None)
    }

    /// [`new`](Self::new) with CURVE keys (`None`: plaintext): a binding publisher admits only its
    /// allow-list, a connecting one talks only to the server whose key it holds (see
    /// [`crate::security`]).
    pub fn new_secure(
        endpoint: &str,
        bind: bool,
        options: Options,
        context: Option<&zmq::Context>,
        source: Option<String>,
        curve: Option<&Curve>,
    ) -> Result<Self, BusError> {
        let source = source.unwrap_or_else(|| new_source_id("rs"));
        if source.is_empty() || source.chars().count() > 64 {
            return Err(BusError::InvalidSource(source.chars().count()));
        }
        let context = context.cloned().unwrap_or_default();
        let mut socket = context.socket(zmq::XPUB)?;
        options.apply(&socket, false)?;
        set_xpub_verboser(&mut socket)?;
        let curve = secure(curve, &context, &socket, bind)?;
        let endpoint = attach(&socket, endpoint, bind)?;
        let source_suffix = source_suffix(&source);
        Ok(Publisher {
            socket,
            endpoint,
            source,
            source_suffix,
            next_seq: [0; 4],
            subscriptions: HashMap::new(),
            published: 0,
            frame: Vec::with_capacity(512),
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

    /// The endpoint as bound (the real port once `*` or `0` was asked for).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// This instance's id, written as `source` into every message.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Messages handed to ZeroMQ so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// The `seq` the next message on `topic` will carry.
    pub fn next_seq(&self, topic: Topic) -> u64 {
        self.next_seq[topic_index(topic)]
    }

    /// The frame `message` would be sent as, with the next `seq` of its topic (which it consumes).
    pub fn frame<M: Envelope>(&mut self, message: &M) -> &[u8] {
        let topic = message.topic();
        let slot = &mut self.next_seq[topic_index(topic)];
        let seq = *slot;
        *slot += 1;
        let frame = &mut self.frame;
        frame.clear();
        frame.extend_from_slice(topic.as_str().as_bytes());
        frame.push(b' ');
        if message.seq().is_some() || message.source().is_some() || message.sent_at_us().is_some() {
            // the envelope is ours to write: a republished message gets this publisher's numbering
            // and stamp
            let mut fresh = message.clone();
            fresh.clear_envelope();
            encode_into(&fresh, frame);
        } else {
            encode_into(message, frame);
        }
        // splice the envelope in before the closing brace instead of cloning the message
        splice_envelope(frame, seq, Some(now_us()), &self.source_suffix);
        frame
    }

    /// Publish one message on its topic; returns the `seq` it was given.
    pub fn publish<M: Envelope>(&mut self, message: &M) -> Result<u64, BusError> {
        let seq = self.next_seq(message.topic());
        self.frame(message);
        self.socket.send(&self.frame[..], 0)?;
        self.published += 1;
        Ok(seq)
    }

    /// Send a frame exactly as given (conformance tests use it to send garbage; not numbered).
    pub fn send_raw(&mut self, frame: &[u8]) -> Result<(), BusError> {
        self.socket.send(frame, 0)?;
        Ok(())
    }

    /// Live subscriptions seen so far; with `topic`, only those whose prefix filter matches it (so a
    /// subscriber to several topics counts once per topic it will receive).
    pub fn subscriber_count(&mut self, topic: Option<Topic>) -> Result<usize, BusError> {
        self.drain_subscriptions()?;
        Ok(self.count(topic))
    }

    fn count(&self, topic: Option<Topic>) -> usize {
        match topic {
            None => self.subscriptions.values().sum(),
            Some(topic) => self
                .subscriptions
                .iter()
                .filter(|(prefix, _)| topic.as_str().as_bytes().starts_with(prefix))
                .map(|(_, n)| n)
                .sum(),
        }
    }

    /// Wait until `n` subscriptions (of `topic`, if given) are in place, so the next messages reach
    /// them; [`BusError::SubscriberTimeout`] after `timeout`. Returns the count reached.
    pub fn wait_for_subscribers(
        &mut self,
        n: usize,
        timeout: Duration,
        topic: Option<Topic>,
    ) -> Result<usize, BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain_subscriptions()?;
            let seen = self.count(topic);
            if seen >= n {
                return Ok(seen);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(BusError::SubscriberTimeout {
                    seen,
                    wanted: n,
                    endpoint: self.endpoint.clone(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            self.socket
                .poll(zmq::POLLIN, remaining.as_millis().clamp(1, 50) as i64)?;
        }
    }

    fn drain_subscriptions(&mut self) -> Result<(), BusError> {
        loop {
            match self.socket.recv_bytes(zmq::DONTWAIT) {
                Ok(note) => match note.split_first() {
                    Some((&SUBSCRIBE, prefix)) => {
                        *self.subscriptions.entry(prefix.to_vec()).or_default() += 1
                    }
                    Some((&UNSUBSCRIBE, prefix)) => {
                        if let Some(n) = self.subscriptions.get_mut(prefix) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    _ => {}
                },
                Err(zmq::Error::EAGAIN) => return Ok(()),
                Err(error) => return Err(error.into()),
            }
        }
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("endpoint", &self.endpoint)
            .field("source", &self.source)
            .field("published", &self.published)
            .finish()
    }
}

/// Every subscribe and unsubscribe from every peer (the zmq crate has no setter for it).
fn set_xpub_verboser(socket: &mut zmq::Socket) -> Result<(), BusError> {
    let on: libc::c_int = 1;
    // SAFETY: a live socket, an option libzmq 4.3 knows, and a pointer/length to a c_int that outlives
    // the call, as zmq_setsockopt requires.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_VERBOSER as libc::c_int,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(BusError::Socket(zmq::Error::from_raw(unsafe {
            zmq_sys::zmq_errno()
        })))
    }
}
