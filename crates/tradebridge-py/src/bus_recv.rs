//! `Receiver`: a subscriber's per-frame work, a batch per call, with the loss accounting of the core crate.
//!
//! What a subscriber does beyond the `recv` + decode a user would write is route each frame to its topic's
//! validating decoder, count it per `(topic, source)` stream (gaps, restarts, new sources) and file its
//! transit in the histogram. In Python that bookkeeping cost more than the decode. Here a batch is taken
//! off the socket with the GIL released (pyzmq's own libzmq, found as `bus_io` finds it), each frame is
//! split and routed, its payload handed to the topic's decoder (the SDK's `Decoder.decode`: the
//! validation stays Python's, exactly as strict), and the decoded message's `seq`, `source` and
//! `sent_at_us` go to `tradebridge_bus::SubscriberStats` and its `TransitHistogram`, the very counters
//! the Rust subscriber keeps: one implementation for both languages (`conformance/transport/
//! loss_accounting/` pins it).
//!
//! What is not the common case is handed back to Python untouched and in order: a frame above the size
//! limit, one whose topic has no route (filtered, or not a frame at all), one its decoder refused (the
//! SDK's `_refuse` names the exact error and counts it). The frames after it stay queued here for the
//! next call, as they would have stayed on the socket.
//!
//! Locks: the counters sit behind a mutex that is never held while Python code runs (a decode may let
//! another thread in, which may read the counters), so no thread can wait on it while holding the GIL
//! that its holder needs. The socket handle is only used by the thread that holds the SDK's lock around
//! every use of the socket, and is forgotten (`detach`) before pyzmq closes the socket.

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use tradebridge_bus::SubscriberStats;
use tradebridge_contracts::{now_us, Topic};

use crate::boundary::guard;
use crate::libzmq::{Msg, Zmq, EAGAIN, EINTR, ENOTSOCK, ZMQ_DONTWAIT};
use crate::slots::Slots;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Receiver>()
}

/// One topic this subscriber decodes: its name on the wire, its `str` for Python, its decoder.
struct Route {
    name: Vec<u8>,
    topic: Topic,
    key: Py<PyString>,
    decode: Py<PyAny>,
}

#[derive(Clone, Copy)]
struct Socket {
    zmq: Zmq,
    handle: usize,
}

/// A received frame, still libzmq's message: its bytes are read where they landed (one copy fewer than
/// copying them out first, and no allocation of ours per frame), and it is closed when dropped.
struct Frame {
    msg: Msg,
    zmq: Zmq,
}

impl Frame {
    fn bytes(&mut self) -> &[u8] {
        // SAFETY: `msg` holds a received message until `drop`; libzmq's data pointer is asked for where the
        // message is now (a short message's bytes live inside `msg` itself, which may have moved).
        unsafe {
            let size = (self.zmq.msg_size)(&raw const self.msg);
            let data = (self.zmq.msg_data)(&raw mut self.msg).cast::<u8>();
            std::slice::from_raw_parts(data, size)
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: `msg` was initialised and received into, and is closed only here.
        unsafe { (self.zmq.msg_close)(&raw mut self.msg) };
    }
}

/// What `take` found for one frame.
enum Outcome {
    /// decoded and counted: `(topic, message)`
    Item(Py<PyAny>),
    /// Python's to handle (too large, no route, refused by its decoder)
    Slow,
}

/// A subscriber's routes, counters and (while attached) socket: see the module documentation.
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct Receiver {
    /// frames above it go to Python unparsed (its `too_large` refusal)
    max_frame: usize,
    /// the class of a refusal (`ContractError`): any other exception from a decoder propagates
    refusal: Py<PyAny>,
    routes: Mutex<Arc<Vec<Route>>>,
    stats: Mutex<SubscriberStats>,
    socket: Mutex<Option<Socket>>,
    /// received and not handled yet (a batch cut short by a frame for Python)
    frames: Mutex<VecDeque<Frame>>,
    /// a decoded message's `seq`, `sent_at_us` and `source`
    envelope: Slots<3>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while counting leaves counters, never a broken invariant: keep going with them
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Receiver {
    fn stats(&self) -> MutexGuard<'_, SubscriberStats> {
        lock(&self.stats)
    }

    /// Decode and count one frame, or say it is Python's. Raises what a decoder raises other than a
    /// refusal.
    fn handle_frame(
        &self,
        py: Python<'_>,
        routes: &[Route],
        frame: &[u8],
        received_us: u64,
    ) -> PyResult<Outcome> {
        if frame.len() > self.max_frame {
            return Ok(Outcome::Slow);
        }
        let Some(space) = frame.iter().position(|&b| b == b' ') else {
            return Ok(Outcome::Slow);
        };
        let name = &frame[..space];
        let Some(route) = routes.iter().find(|route| route.name == name) else {
            return Ok(Outcome::Slow);
        };
        let payload = PyBytes::new(py, &frame[space + 1..]);
        let message = match route.decode.bind(py).call1((payload,)) {
            Ok(message) => message,
            Err(error) if error.is_instance(py, self.refusal.bind(py)) => return Ok(Outcome::Slow),
            Err(error) => return Err(error),
        };
        let envelope = self.envelope.of(&message);
        let seq = uint(&envelope.get(0)?);
        let sent = uint(&envelope.get(1)?);
        let source = envelope.get(2)?;
        let source = source.cast::<PyString>().ok();
        let source = match source {
            Some(text) => Some(text.to_str()?),
            None => None,
        };
        {
            let mut stats = self.stats();
            if let Some(sent) = sent {
                // a v1.0 peer's message has no stamp: no transit, nothing invented
                stats.transit.observe(sent, received_us);
            }
            stats.observe(route.topic, seq, source);
        }
        let item = PyTuple::new(py, [route.key.bind(py).as_any(), &message])?;
        Ok(Outcome::Item(item.into_any().unbind()))
    }

    /// Receive what is queued (at most `limit` frames; the first waiting as the socket's RCVTIMEO says
    /// when `wait`) into `frames`, GIL released. Returns libzmq's errno of a failure (0: none, or
    /// nothing queued).
    fn receive(&self, py: Python<'_>, socket: Socket, limit: usize, wait: bool) -> c_int {
        let (received, error) = py.detach(move || {
            let zmq = socket.zmq;
            let mut received: Vec<Frame> = Vec::with_capacity(limit.min(64));
            let mut error = 0;
            while received.len() < limit {
                let flags = if wait && received.is_empty() {
                    0
                } else {
                    ZMQ_DONTWAIT
                };
                let mut frame = Frame {
                    msg: Msg([0; 64]),
                    zmq,
                };
                // SAFETY: `msg` is initialised before use (and closed by `Frame::drop`); `handle` is
                // open (closed only after `detach`, under the SDK's lock, which the caller holds).
                unsafe {
                    (zmq.msg_init)(&raw mut frame.msg);
                    if (zmq.msg_recv)(&raw mut frame.msg, socket.handle as *mut c_void, flags) < 0 {
                        let errno = (zmq.errno)();
                        // EINTR: a signal (Ctrl-C) for Python to see; EAGAIN: nothing (more) queued
                        if errno != EAGAIN && errno != EINTR {
                            error = errno;
                        }
                        break;
                    }
                }
                received.push(frame);
            }
            (received, error)
        });
        lock(&self.frames).extend(received);
        error
    }
}

/// An envelope field as a `u64`: `None` for msgspec's `UNSET` (or anything but an int, which the
/// contract's validation never lets through).
fn uint(value: &Bound<'_, PyAny>) -> Option<u64> {
    value
        .cast::<PyInt>()
        .ok()
        .and_then(|number| number.extract().ok())
}

#[pymethods]
impl Receiver {
    /// `max_frame`: the size above which frames are Python's (-1: none); `refusal`: the exception class
    /// of a decoder's refusal; `max_sources`: the streams the loss accounting follows.
    #[new]
    fn new(
        py: Python<'_>,
        max_frame: i64,
        refusal: &Bound<'_, PyAny>,
        max_sources: usize,
    ) -> PyResult<Self> {
        guard(|| {
            let max_sources = NonZeroUsize::new(max_sources).ok_or_else(|| {
                PyValueError::new_err(format!("max_sources must be >= 1, got {max_sources}"))
            })?;
            Ok(Self {
                max_frame: usize::try_from(max_frame).unwrap_or(usize::MAX),
                refusal: refusal.clone().unbind(),
                routes: Mutex::new(Arc::new(Vec::new())),
                stats: Mutex::new(SubscriberStats::with_max_sources(max_sources)),
                socket: Mutex::new(None),
                frames: Mutex::new(VecDeque::new()),
                envelope: Slots::new(py, ["seq", "sent_at_us", "source"]),
            })
        })
    }

    /// The topics decoded from now on: `[(name, decode), ...]` (a frame of any other topic is Python's).
    fn route(&self, routes: Vec<(Bound<'_, PyString>, Bound<'_, PyAny>)>) -> PyResult<()> {
        guard(|| {
            let mut table = Vec::with_capacity(routes.len());
            for (key, decode) in routes {
                let name = key.to_str()?;
                let topic = Topic::parse(name)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown topic {name:?}")))?;
                table.push(Route {
                    name: name.as_bytes().to_vec(),
                    topic,
                    key: key.unbind(),
                    decode: decode.unbind(),
                });
            }
            *lock(&self.routes) = Arc::new(table);
            Ok(())
        })
    }

    /// Serve the socket whose libzmq handle is `handle` (`library`: the file of the extension that
    /// links that libzmq, pyzmq's; `kind`: its type, checked through it). Frames still queued from a
    /// previous socket are dropped.
    fn attach(&self, library: &str, handle: usize, kind: c_int) -> PyResult<()> {
        guard(|| {
            let zmq = Zmq::for_socket(library, handle, kind)?;
            lock(&self.frames).clear();
            *lock(&self.socket) = Some(Socket { zmq, handle });
            Ok(())
        })
    }

    /// Forget the socket (call before closing it) and the frames received from it and not handled.
    fn detach(&self) {
        *lock(&self.socket) = None;
        lock(&self.frames).clear();
    }

    /// Whether a socket is attached.
    #[getter]
    fn attached(&self) -> bool {
        lock(&self.socket).is_some()
    }

    /// Handle up to `limit` frames: those still held from the last call, else what is queued on the
    /// socket (when `wait`, the first waits as long as the socket's RCVTIMEO). Appends each decoded
    /// `(topic, message)` to `out` in order and returns `(taken, errno, frame)`: how many frames were
    /// taken (the skipped included), libzmq's errno of a failure (0: none), and the frame Python must
    /// handle next (None: none), which counts in `taken`.
    fn take<'py>(
        &self,
        py: Python<'py>,
        out: &Bound<'py, PyList>,
        limit: usize,
        wait: bool,
    ) -> PyResult<(usize, c_int, Option<Bound<'py, PyBytes>>)> {
        guard(|| {
            let mut error = 0;
            if lock(&self.frames).is_empty() {
                let Some(socket) = *lock(&self.socket) else {
                    return Ok((0, ENOTSOCK, None));
                };
                error = self.receive(py, socket, limit, wait);
            }
            // A transit ends when its frame is taken off the socket: one clock read for the batch (the
            // frames were all queued by then; reading it per frame would add the decodes before it, and
            // a clock read costs a tenth of a message on a virtual machine).
            let received_us = now_us();
            let routes = Arc::clone(&lock(&self.routes));
            let mut batch = std::mem::take(&mut *lock(&self.frames));
            let mut taken = 0;
            let mut outcome = Ok(None);
            while taken < limit {
                let Some(mut frame) = batch.pop_front() else {
                    break;
                };
                taken += 1;
                let frame = frame.bytes();
                match self.handle_frame(py, &routes, frame, received_us) {
                    Ok(Outcome::Item(item)) => {
                        if let Err(failure) = out.append(item) {
                            outcome = Err(failure);
                            break;
                        }
                    }
                    Ok(Outcome::Slow) => {
                        outcome = Ok(Some(PyBytes::new(py, frame)));
                        break;
                    }
                    Err(failure) => {
                        outcome = Err(failure);
                        break;
                    }
                }
            }
            // what this call did not handle stays held, in order, for the next
            if !batch.is_empty() {
                let mut held = lock(&self.frames);
                batch.append(&mut held);
                *held = batch;
            }
            outcome.map(|frame| (taken, error, frame))
        })
    }

    /// One frame received another way (pyzmq): its `(topic, message)`, decoded and counted, or None
    /// when it is Python's to handle (see `take`).
    fn handle(&self, py: Python<'_>, frame: &[u8]) -> PyResult<Option<Py<PyAny>>> {
        guard(|| {
            let routes = Arc::clone(&lock(&self.routes));
            Ok(match self.handle_frame(py, &routes, frame, now_us())? {
                Outcome::Item(item) => Some(item),
                Outcome::Slow => None,
            })
        })
    }

    /// Count one delivered message (decoded by Python's general path) in the loss accounting.
    #[pyo3(signature = (topic, seq, source))]
    fn observe(
        &self,
        topic: &str,
        seq: &Bound<'_, PyAny>,
        source: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        guard(|| {
            let topic = Topic::parse(topic)
                .ok_or_else(|| PyValueError::new_err(format!("unknown topic {topic:?}")))?;
            let source = match source.cast::<PyString>() {
                Ok(text) => Some(text.to_str()?),
                Err(_) => None,
            };
            self.stats().observe(topic, uint(seq), source);
            Ok(())
        })
    }

    /// Count one transit of `micros` (negative: the sender's clock ahead of ours).
    fn observe_transit(&self, micros: i64) {
        let mut stats = self.stats();
        match u64::try_from(micros) {
            Ok(micros) => stats.transit.record(micros),
            Err(_) => stats.transit.negative += 1,
        }
    }

    /// Count one refused frame under its contract error code.
    fn refused(&self, code: &str) {
        self.stats().refused(code);
    }

    /// Count one frame of a topic not subscribed to that ZeroMQ's prefix filter let through.
    fn filtered(&self) {
        self.stats().filtered += 1;
    }

    /// The scalar counters: `(received, malformed, gaps, dropped, restarts, out_of_order, filtered,
    /// too_large, sources, sources_evicted, missed_at_join)`.
    fn counters(&self) -> [u64; 11] {
        let s = self.stats();
        [
            s.received,
            s.malformed,
            s.gaps,
            s.dropped,
            s.restarts,
            s.out_of_order,
            s.filtered,
            s.too_large,
            s.sources,
            s.sources_evicted,
            s.missed_at_join,
        ]
    }

    /// One scalar counter by name (see `counters`).
    fn counter(&self, name: &str) -> PyResult<u64> {
        let s = self.stats();
        Ok(match name {
            "received" => s.received,
            "malformed" => s.malformed,
            "gaps" => s.gaps,
            "dropped" => s.dropped,
            "restarts" => s.restarts,
            "out_of_order" => s.out_of_order,
            "filtered" => s.filtered,
            "too_large" => s.too_large,
            "sources" => s.sources,
            "sources_evicted" => s.sources_evicted,
            "missed_at_join" => s.missed_at_join,
            _ => return Err(PyValueError::new_err(format!("no counter {name:?}"))),
        })
    }

    /// `{code: count}` of the refused frames.
    fn malformed_by_code<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let codes: Vec<(String, u64)> = self
            .stats()
            .malformed_by_code
            .iter()
            .map(|(code, n)| (code.clone(), *n))
            .collect();
        let out = PyDict::new(py);
        for (code, n) in codes {
            out.set_item(code, n)?;
        }
        Ok(out)
    }

    /// `{topic: (received, gaps, dropped, restarts, out_of_order, sources, missed_at_join, last_seq,
    /// source)}`.
    fn topics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        type Row = (String, [u64; 7], Option<u64>, Option<String>);
        let rows: Vec<Row> = self
            .stats()
            .topics
            .iter()
            .map(|(name, t)| {
                let counts = [
                    t.received,
                    t.gaps,
                    t.dropped,
                    t.restarts,
                    t.out_of_order,
                    t.sources,
                    t.missed_at_join,
                ];
                (name.clone(), counts, t.last_seq, t.source.clone())
            })
            .collect();
        let out = PyDict::new(py);
        for (name, [a, b, c, d, e, f, g], last_seq, source) in rows {
            out.set_item(name, (a, b, c, d, e, f, g, last_seq, source))?;
        }
        Ok(out)
    }

    /// Every followed stream, least recently heard first: `(topic, source, received, gaps, dropped,
    /// restarts, first_seq, last_seq)` (`source` None for messages without one).
    fn streams<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        type Row = (String, Option<String>, [u64; 6]);
        let mut rows: Vec<Row> = self
            .stats()
            .streams()
            .map(|(topic, source, s)| {
                let counts = [
                    s.received,
                    s.gaps,
                    s.dropped,
                    s.restarts,
                    s.first_seq,
                    s.last_seq,
                ];
                (topic.to_owned(), source.map(str::to_owned), counts)
            })
            .collect();
        rows.reverse();
        let out = PyList::empty(py);
        for (topic, source, [a, b, c, d, e, f]) in rows {
            out.append((topic, source, a, b, c, d, e, f))?;
        }
        Ok(out)
    }

    /// The transit histogram: `(bucket counts with the overflow last, sum_us, negative)`.
    fn transit(&self) -> (Vec<u64>, u64, u64) {
        let s = self.stats();
        (
            s.transit.counts().to_vec(),
            s.transit.sum_us,
            s.transit.negative,
        )
    }
}
