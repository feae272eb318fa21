//! `PublishIO`: a publisher's common-case `publish` in one call, on its pyzmq socket's libzmq handle.
//!
//! What a publish must do beyond the send a user would write is route the message to its topic, refuse
//! to reuse a caller's envelope, encode, number and stamp it. Here that is one call: the publisher's
//! class table, msgspec's `encode_into` into a buffer kept from one call to the next (no `bytes` object,
//! no growth of a fresh buffer), and the frame written once, straight into the `zmq_msg_t` that libzmq
//! sends (`<topic> ` + the body without its closing brace + `,"seq":N,"sent_at_us":T` + the publisher's
//! `,"source":"<id>"}`): one allocation and one copy of the body, where `bytes` + splice + `zmq_send`
//! made three of each. Everything unusual (the start-up hold, a closed socket, a class not routed yet,
//! a message that already carries an envelope, a send that would block, another thread inside the
//! publisher's lock) goes to the publisher's own Python path, the `fallback` given at construction,
//! whose result `publish` returns: callers see one behaviour.
//!
//! The GIL is held throughout and the send never blocks. Holding the GIL is what makes the publisher's
//! lock unnecessary here: every other use of the socket happens under that lock, so if the lock is free
//! once nothing more can run Python code, no other thread reaches the socket before `publish` returns
//! (a thread that takes the lock meanwhile waits for the GIL before its socket call). A free lock costs
//! one `locked()` call; taking and releasing it cost two calls, and the send itself (about 0.2 us) costs
//! less than releasing and retaking the GIL.
//!
//! The socket stays pyzmq's (options, CURVE, bind/connect, close): only its handle (`Socket.underlying`)
//! comes here, with the functions of the same libzmq (`libzmq::Zmq::for_socket`). The SDK calls `close()` before closing the socket, under the publisher's lock; after that every
//! `publish` goes to the fallback (which raises `BusClosedError`).

use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::PyOSError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

use crate::boundary::guard;
use crate::libzmq::{Msg, Zmq, EAGAIN, EINTR, ZMQ_DONTWAIT};
use crate::one_arg::one_arg;
use crate::slots::{object_slot, slot_pointer};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PublishIO>()
}

/// libzmq's own errno for a terminated context (ZMQ_HAUSNUMERO + 53)
const ETERM: c_int = 156_384_765;
/// A body longer than this does not keep its buffer: one large message must not pin its size for good.
const KEEP_BUFFER_UP_TO: usize = 64 * 1024;
/// `,"seq":` + 20 digits + `,"sent_at_us":` + 20 digits
const HEAD_MAX: usize = 7 + 20 + 14 + 20;
/// message classes whose routes are kept here (the contracts have six)
const ROUTES_KEPT: usize = 8;
const CLOCK_REALTIME: c_int = 0;

#[repr(C)]
struct Timespec {
    tv_sec: c_long,
    tv_nsec: c_long,
}

extern "C" {
    fn clock_gettime(clock: c_int, now: *mut Timespec) -> c_int;
}

/// The wall clock in microseconds (`tradebridge_contracts::now_us`, without `SystemTime`'s checked
/// arithmetic around the same vDSO call: a few percent of a publish).
fn now_us() -> u64 {
    let mut now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid `struct timespec` to write into; CLOCK_REALTIME always exists.
    unsafe { clock_gettime(CLOCK_REALTIME, &raw mut now) };
    u64::try_from(now.tv_sec).map_or(0, |secs| {
        secs * 1_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000
    })
}

/// One publisher's sends on its socket's libzmq handle (see the module documentation).
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct PublishIO {
    zmq: Zmq,
    /// `void *` of the libzmq socket; 0 once closed
    handle: AtomicUsize,
    /// `publish` sends only while this is set (the publisher clears it during its start-up hold)
    direct: AtomicBool,
    /// messages this sent (the fallback counts its own)
    published: AtomicU64,
    /// the publisher's `threading.Lock`'s `locked`: that lock guards every other use of the socket
    locked: Py<PyAny>,
    /// message class -> `(b"<topic> ", [next seq])`, the publisher's own table (it fills in misses)
    routes: Py<PyDict>,
    /// the routes of that table seen so far, found by the class's address (no dict lookup)
    routes_kept: [OnceLock<Route>; ROUTES_KEPT],
    /// msgspec's `Encoder.encode_into`
    encode_into: Py<PyAny>,
    /// msgspec's `UNSET`: an envelope field that is not set
    unset: Py<PyAny>,
    /// where `seq`, `source` and `sent_at_us` live in a message of `envelope_owner` or a subclass
    envelope: EnvelopeSlots,
    /// `,"source":"<id>"}`
    suffix: Box<[u8]>,
    /// the publisher's Python `publish`, for everything but the common case
    fallback: Py<PyAny>,
    /// the encode buffer (a `bytearray`, owned), reused; taken out while in use (a publish on another
    /// thread while encoding runs Python code finds it gone and encodes into a fresh one); null: none
    buffer: AtomicPtr<ffi::PyObject>,
}

impl Drop for PublishIO {
    fn drop(&mut self) {
        let kept = self.buffer.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !kept.is_null() {
            // SAFETY: `buffer` owns one reference to the object it points to.
            Python::attach(|py| drop(unsafe { Bound::from_owned_ptr(py, kept) }));
        }
    }
}

/// One entry of the publisher's routes table, kept. Entries are written once per class and their
/// counters shared (the publisher's Python path numbers through the same list), so a kept route never
/// goes stale.
struct Route {
    class: Py<PyType>,
    prefix: Py<PyBytes>,
    counter: Py<PyList>,
}

impl Route {
    /// Give its references back now (as `Bound`s do), not through pyo3's pool (see `route`).
    fn release(self, py: Python<'_>) {
        drop((
            self.class.into_bound(py),
            self.prefix.into_bound(py),
            self.counter.into_bound(py),
        ));
    }
}

/// The slots of the envelope fields, read directly: three `getattr`s cost about a tenth of a publish.
/// Built from the fields' member descriptors (`BusMessage.seq`, ...), which say where the field lives in
/// an instance of the class that declares them (`owner`) and, the layout being inherited, of any
/// subclass.
struct EnvelopeSlots {
    owner: Py<PyType>,
    offsets: [ffi::Py_ssize_t; 3],
}

impl EnvelopeSlots {
    fn new(descriptors: &Bound<'_, PyTuple>) -> PyResult<Self> {
        let refuse =
            || PyOSError::new_err("the envelope must be three member descriptors of one class");
        if descriptors.len() != 3 {
            return Err(refuse());
        }
        let mut owner: *mut ffi::PyTypeObject = std::ptr::null_mut();
        let mut offsets = [0; 3];
        for (offset, descriptor) in offsets.iter_mut().zip(descriptors.iter()) {
            let (declared_by, slot) = object_slot(&descriptor).ok_or_else(refuse)?;
            if !owner.is_null() && owner != declared_by {
                return Err(refuse());
            }
            owner = declared_by;
            *offset = slot;
        }
        // SAFETY: `owner` is the class of live descriptors, so a live type object.
        let owner = unsafe { Bound::from_borrowed_ptr(descriptors.py(), owner.cast()) };
        Ok(Self {
            owner: owner.cast_into::<PyType>()?.unbind(),
            offsets,
        })
    }

    /// Whether instances of `class` have these slots.
    fn fit(&self, class: &Bound<'_, PyType>) -> bool {
        // SAFETY: both are live type objects.
        unsafe { ffi::PyType_IsSubtype(class.as_type_ptr(), self.owner.as_ptr().cast()) != 0 }
    }

    /// Whether every envelope field of `message` is `unset`.
    ///
    /// # Safety
    /// `message`'s class must [`fit`](Self::fit).
    unsafe fn all_unset(&self, message: &Bound<'_, PyAny>, unset: *mut ffi::PyObject) -> bool {
        // SAFETY: in an instance of `owner` or a subclass (the caller's promise) each offset is an
        // object slot (NULL when the field was deleted, which is not `unset`).
        self.offsets
            .iter()
            .all(|&offset| unsafe { slot_pointer(message, offset) } == unset)
    }
}

/// A publish the common case cannot do: the publisher's Python path does it instead.
struct NotHere;

#[pymethods]
impl PublishIO {
    /// `library`: the file of the extension module that links libzmq (pyzmq's `_zmq`); `handle`: the
    /// socket's `underlying`; `kind`: its `zmq.TYPE`, checked through the library found. The rest is the
    /// publisher's: its lock, its routes table, its encoder's `encode_into`, msgspec's `UNSET`, its
    /// source suffix and its Python `publish`; `envelope`: the member descriptors of `seq`, `source`
    /// and `sent_at_us` (`BusMessage.seq`, ...).
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        library: &str,
        handle: usize,
        kind: c_int,
        lock: &Bound<'_, PyAny>,
        routes: &Bound<'_, PyDict>,
        encode_into: &Bound<'_, PyAny>,
        unset: &Bound<'_, PyAny>,
        suffix: &[u8],
        fallback: &Bound<'_, PyAny>,
        envelope: &Bound<'_, PyTuple>,
    ) -> PyResult<Self> {
        guard(|| {
            if suffix.last() != Some(&b'}') {
                return Err(PyOSError::new_err(
                    "the source suffix must close the object",
                ));
            }
            let zmq = Zmq::for_socket(library, handle, kind)?;
            let py = lock.py();
            Ok(Self {
                zmq,
                handle: AtomicUsize::new(handle),
                direct: AtomicBool::new(false),
                published: AtomicU64::new(0),
                locked: lock.getattr(intern!(py, "locked"))?.unbind(),
                routes: routes.clone().unbind(),
                routes_kept: Default::default(),
                encode_into: encode_into.clone().unbind(),
                unset: unset.clone().unbind(),
                envelope: EnvelopeSlots::new(envelope)?,
                suffix: suffix.into(),
                fallback: fallback.clone().unbind(),
                buffer: AtomicPtr::new(std::ptr::null_mut()),
            })
        })
    }

    /// Whether `publish` sends (True) or hands every message to the fallback (False: the start-up hold).
    #[getter]
    fn get_direct(&self) -> bool {
        self.direct.load(Ordering::Acquire)
    }

    #[setter]
    fn set_direct(&self, direct: bool) {
        self.direct.store(direct, Ordering::Release);
    }

    /// Messages this sent (not those the fallback did).
    #[getter]
    fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// `publish(message)`, a builtin function of one argument bound to this object (see `one_arg`):
    /// publish one message; its seq. The common case is done here, the rest by the fallback, whose
    /// result (or exception) this returns. Raises what encoding raises, and pyzmq's `ZMQError`s.
    #[getter]
    fn publish<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        PUBLISH.bind(slf.as_any())
    }

    /// For a caller that holds the publisher's lock (its `publish_many`): send `messages[start:]` in
    /// order until one needs the Python path; the index of that one (`len(messages)`: all sent).
    fn publish_batch(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyList>,
        start: usize,
    ) -> PyResult<usize> {
        guard(|| {
            let mut index = start;
            while index < messages.len() {
                let message = messages.get_item(index)?;
                if self.send_one(py, &message, false)?.is_err() {
                    break;
                }
                index += 1;
            }
            Ok(index)
        })
    }

    /// Forget the handle: from now on every `publish` goes to the fallback (call before closing the
    /// socket).
    fn close(&self) {
        self.handle.store(0, Ordering::Release);
    }

    /// False once `close()` was called.
    #[getter]
    fn open(&self) -> bool {
        self.handle.load(Ordering::Acquire) != 0
    }

    /// The fallback is the publisher's bound method, and the publisher holds this object: a cycle the
    /// garbage collector must see to collect a publisher dropped unclosed (the publisher's slots are
    /// what it clears).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.locked)?;
        visit.call(&self.routes)?;
        visit.call(&self.encode_into)?;
        visit.call(&self.unset)?;
        visit.call(&self.fallback)?;
        visit.call(&self.envelope.owner)?;
        for route in self.routes_kept.iter().filter_map(OnceLock::get) {
            visit.call(&route.class)?;
            visit.call(&route.prefix)?;
            visit.call(&route.counter)?;
        }
        Ok(())
    }
}

one_arg!(
    PUBLISH,
    PublishIO,
    c"publish",
    c"Publish one message; its seq (from the fallback when this cannot do it).",
    |io, message| {
        let py = message.py();
        match io.send_one(py, message, true)? {
            Ok(seq) => Ok(seq.into_pyobject(py)?.into_any()),
            Err(NotHere) => io.fallback.bind(py).call1((message,)),
        }
    }
);

impl PublishIO {
    /// The socket, if `publish` may send on it now (open, past the start-up hold).
    fn usable(&self) -> Option<usize> {
        let handle = self.handle.load(Ordering::Acquire);
        (handle != 0 && self.direct.load(Ordering::Acquire)).then_some(handle)
    }

    /// Route, check, encode, number, stamp and send `message`: its seq, or `NotHere`.
    fn send_one(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        check_lock: bool,
    ) -> PyResult<Result<u64, NotHere>> {
        if self.usable().is_none() {
            return Ok(Err(NotHere));
        }
        let Some((prefix, counter)) = self.route(message)? else {
            return Ok(Err(NotHere)); // a class not seen yet: the publisher routes (or refuses) it
        };
        // SAFETY: `route` only finds classes that fit the envelope slots.
        if !unsafe { self.envelope.all_unset(message, self.unset.as_ptr()) } {
            return Ok(Err(NotHere)); // the publisher writes its own envelope over a copy
        }
        let buffer = self.take_buffer(py);
        let sent = self.encode_and_send(py, message, &buffer, &prefix, &counter, check_lock);
        self.keep_buffer(buffer);
        sent
    }

    /// The route of `message`'s class, `(prefix, counter)`: kept here, or read from the publisher's
    /// table (None: not routed yet, or not a class with the envelope slots). Handed out as `Bound`s, not
    /// `Py`s: `publish` is entered without pyo3's bookkeeping (`one_arg`), where dropping a `Py` would
    /// defer its decref to pyo3's pool instead of doing it.
    #[allow(clippy::type_complexity)]
    fn route<'py>(
        &self,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyList>)>> {
        let py = message.py();
        let class = message.get_type();
        for kept in &self.routes_kept {
            match kept.get() {
                Some(route) if route.class.is(&class) => {
                    return Ok(Some((
                        route.prefix.bind(py).clone(),
                        route.counter.bind(py).clone(),
                    )))
                }
                Some(_) => {}
                None => break,
            }
        }
        let Some(entry) = self.routes.bind(py).get_item(&class)? else {
            return Ok(None);
        };
        if !self.envelope.fit(&class) {
            return Ok(None);
        }
        let entry = entry.cast::<PyTuple>()?;
        let prefix = entry.get_item(0)?.cast_into::<PyBytes>()?;
        let counter = entry.get_item(1)?.cast_into::<PyList>()?;
        let mut offered = Route {
            class: class.unbind(),
            prefix: prefix.clone().unbind(),
            counter: counter.clone().unbind(),
        };
        for kept in &self.routes_kept {
            match kept.set(offered) {
                Ok(()) => return Ok(Some((prefix, counter))),
                Err(refused) => offered = refused,
            }
        }
        offered.release(py); // every slot taken: this class is looked up in the table each time
        Ok(Some((prefix, counter)))
    }

    fn encode_and_send(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        buffer: &Bound<'_, PyByteArray>,
        prefix: &Bound<'_, PyBytes>,
        counter: &Bound<'_, PyList>,
        check_lock: bool,
    ) -> PyResult<Result<u64, NotHere>> {
        self.encode_into.bind(py).call1((message, buffer))?;
        // Encoding may run Python code (a collection's finalizers), and so let another thread run: the
        // socket's state is looked at only from here on, where nothing gives the GIL away.
        let Some(handle) = self.usable() else {
            return Ok(Err(NotHere));
        };
        // Another thread inside the lock may be using the socket with the GIL released (module
        // documentation): its turn first, through the Python path. `locked()` is C, no bytecode.
        if check_lock && self.locked.bind(py).call0()?.is_truthy()? {
            return Ok(Err(NotHere));
        }
        let seq: u64 = counter.get_item(0)?.extract()?;
        let mut head = [0u8; HEAD_MAX];
        let head = envelope_head(&mut head, seq, now_us());
        let prefix = prefix.as_bytes();
        // SAFETY: no Python code runs from here to the end of the copy, so nothing resizes the buffer.
        let body = unsafe { buffer.as_bytes() };
        let Some((b'}', body)) = body.split_last() else {
            return Err(PyOSError::new_err(
                "the encoder did not write a JSON object",
            ));
        };
        let parts = [prefix, body, head, &self.suffix];
        let size = parts.iter().map(|part| part.len()).sum();
        let zmq = self.zmq;
        let mut msg = Msg([0; 64]);
        // SAFETY: `msg` is initialised with `size` writable bytes, filled with exactly `size` bytes, and
        // either handed to libzmq (a successful send takes it) or closed. `handle` is open: checked
        // above, and only closed by a thread holding the GIL.
        let rc = unsafe {
            if (zmq.msg_init_size)(&raw mut msg, size) != 0 {
                return Err(zmq_error(py, (zmq.errno)()));
            }
            let mut at = (zmq.msg_data)(&raw mut msg).cast::<u8>();
            for part in parts {
                std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
            let rc = (zmq.msg_send)(&raw mut msg, handle as *mut c_void, ZMQ_DONTWAIT);
            if rc < 0 {
                let errno = (zmq.errno)();
                (zmq.msg_close)(&raw mut msg);
                errno
            } else {
                0
            }
        };
        if rc == EAGAIN || rc == EINTR {
            return Ok(Err(NotHere)); // it would block: the Python path waits, without the GIL
        }
        // a failed send spends its seq, as pyzmq's send failing on the publisher's own path does
        counter.set_item(0, seq + 1)?;
        if rc != 0 {
            return Err(zmq_error(py, rc));
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(Ok(seq))
    }

    fn take_buffer<'py>(&self, py: Python<'py>) -> Bound<'py, PyByteArray> {
        let kept = self.buffer.swap(std::ptr::null_mut(), Ordering::Acquire);
        if kept.is_null() {
            return PyByteArray::new(py, b"");
        }
        // SAFETY: `buffer` owned this reference to a bytearray (only `keep_buffer` stores one).
        unsafe { Bound::from_owned_ptr(py, kept).cast_into_unchecked() }
    }

    fn keep_buffer(&self, buffer: Bound<'_, PyByteArray>) {
        if buffer.len() > KEEP_BUFFER_UP_TO {
            return;
        }
        let py = buffer.py();
        let owned = buffer.into_ptr();
        let stored = self.buffer.compare_exchange(
            std::ptr::null_mut(),
            owned,
            Ordering::Release,
            Ordering::Relaxed,
        );
        if stored.is_err() {
            // SAFETY: `into_ptr` gave us this reference; another buffer was kept meanwhile.
            drop(unsafe { Bound::from_owned_ptr(py, owned) });
        }
    }
}

/// `,"seq":<seq>,"sent_at_us":<us>` written into `out`: the envelope fields before the source suffix
/// (the layout of `tradebridge_contracts::splice_envelope`).
fn envelope_head(out: &mut [u8; HEAD_MAX], seq: u64, sent_at_us: u64) -> &[u8] {
    let mut at = 0;
    for (label, value) in [
        (&b",\"seq\":"[..], seq),
        (&b",\"sent_at_us\":"[..], sent_at_us),
    ] {
        out[at..at + label.len()].copy_from_slice(label);
        at += label.len();
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        out[at..at + digits.len()].copy_from_slice(digits);
        at += digits.len();
    }
    &out[..at]
}

/// pyzmq's exception for `errno`, as pyzmq itself raises it (`Again`, `ContextTerminated`, `ZMQError`).
#[cold]
fn zmq_error(py: Python<'_>, errno: c_int) -> PyErr {
    let class = match errno {
        EAGAIN => "Again",
        ETERM => "ContextTerminated",
        _ => "ZMQError",
    };
    match py
        .import("zmq")
        .and_then(|zmq| zmq.getattr(class))
        .and_then(|class| class.call1((errno,)))
    {
        Ok(error) => PyErr::from_value(error),
        Err(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_head_is_what_splice_envelope_writes() {
        let suffix = tradebridge_contracts::source_suffix("py-1");
        for (seq, us) in [(0, 0), (7, 1_729_530_000_123_456), (u64::MAX, u64::MAX)] {
            let mut spliced = b"{\"a\":1}".to_vec();
            tradebridge_contracts::splice_envelope(&mut spliced, seq, Some(us), &suffix);
            let mut head = [0u8; HEAD_MAX];
            let ours = [&b"{\"a\":1"[..], envelope_head(&mut head, seq, us), &suffix].concat();
            assert_eq!(ours, spliced);
        }
    }
}
