//! `SocketIO`: the bus's hot sends and receives on a pyzmq socket, through pyzmq's own libzmq.
//!
//! pyzmq's `send`/`recv` cost about 1 us of Python and Cython around a libzmq call of about 0.2 us (a
//! Python method with keyword arguments, a `Frame` check, an exception object for every empty poll).
//! A publisher also built each frame as a Python `bytes` (`%` formatting of the envelope). Here both are
//! one call: the envelope is spliced in Rust (`tradebridge_contracts::splice_envelope`, stamped with
//! `now_us`) and handed to `zmq_send`; a receiver takes up to a batch of frames per call (the GIL
//! released meanwhile), and an empty socket is a return value, not an exception.
//!
//! Publishing holds the GIL throughout and never blocks: a PUB send that cannot complete at once
//! (only with `XPUB_NODROP` at the high-water mark) is handed back, and the publisher's Python path
//! does it with pyzmq, blocking with the GIL released. Holding the GIL is also what makes the
//! publisher's lock unnecessary here: every other use of the socket happens under that lock, so if
//! the lock is free when `publish` starts, no other thread can reach the socket before `publish`
//! returns the GIL (a thread that takes the lock meanwhile waits for the GIL before its socket
//! call). A free lock costs one `locked()` call, where `acquire` and `release` cost two calls with
//! argument parsing; the send itself (about 0.2 us) costs less than releasing and retaking the GIL.
//!
//! The socket stays pyzmq's (options, CURVE, bind/connect, close): only its handle (`Socket.underlying`)
//! comes here, and the libzmq functions are looked up in the library pyzmq's extension was linked
//! against (`dlopen` of that extension with `RTLD_NOLOAD`, `dlsym` searches it and its dependencies), so
//! the handle and the functions always belong to the same copy of libzmq. The constructor checks that
//! by reading the socket's type through it. Where any of this is unavailable (another OS, another pyzmq
//! backend) the constructor raises and the SDK keeps using pyzmq.
//!
//! Lifetime: the handle is only valid while pyzmq's socket is open. The SDK calls `close()` here before
//! it closes the socket, under the same lock that guards every use; a call after that returns `ENOTSOCK`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::PyOSError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use tradebridge_contracts::{now_us, splice_envelope};

use crate::boundary::guard;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SocketIO>()
}

const RTLD_LAZY: c_int = 0x0001;
const RTLD_NOLOAD: c_int = 0x0004;
const ZMQ_DONTWAIT: c_int = 1;
const ZMQ_TYPE: c_int = 16;
const EAGAIN: c_int = 11;
const EINTR: c_int = 4;
const ENOTSOCK: c_int = 88;
/// libzmq's own errno for a terminated context (ZMQ_HAUSNUMERO + 53)
const ETERM: c_int = 156_384_765;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// libzmq's `zmq_msg_t`: 64 opaque bytes, pointer-aligned.
#[repr(C, align(8))]
struct Msg([u8; 64]);

type SendFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
type MsgInitFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type MsgRecvFn = unsafe extern "C" fn(*mut Msg, *mut c_void, c_int) -> c_int;
type MsgDataFn = unsafe extern "C" fn(*mut Msg) -> *mut c_void;
type MsgSizeFn = unsafe extern "C" fn(*const Msg) -> usize;
type MsgCloseFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type ErrnoFn = unsafe extern "C" fn() -> c_int;
type GetSockOptFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *mut usize) -> c_int;

/// The libzmq functions this needs, all from one library.
#[derive(Clone, Copy)]
struct Zmq {
    send: SendFn,
    msg_init: MsgInitFn,
    msg_recv: MsgRecvFn,
    msg_data: MsgDataFn,
    msg_size: MsgSizeFn,
    msg_close: MsgCloseFn,
    errno: ErrnoFn,
    getsockopt: GetSockOptFn,
}

impl Zmq {
    fn load(library: &str) -> Result<Self, String> {
        let path = CString::new(library).map_err(|_| "library path holds a NUL byte".to_owned())?;
        // SAFETY: RTLD_NOLOAD only returns a library that is already loaded (pyzmq's extension); it is
        // never unloaded while pyzmq is imported, and this handle is never closed.
        let lib = unsafe { dlopen(path.as_ptr(), RTLD_LAZY | RTLD_NOLOAD) };
        if lib.is_null() {
            return Err(format!("{library} is not loaded"));
        }
        let find = |name: &str| -> Result<*mut c_void, String> {
            let symbol = CString::new(name).expect("symbol names hold no NUL");
            // SAFETY: `lib` is a live handle and `symbol` a C string.
            let found = unsafe { dlsym(lib, symbol.as_ptr()) };
            if found.is_null() {
                Err(format!("{name} not found through {library}"))
            } else {
                Ok(found)
            }
        };
        // SAFETY: each symbol is libzmq's function of that name, whose C signature the type states
        // (zmq.h, stable since libzmq 3.2).
        unsafe {
            Ok(Self {
                send: std::mem::transmute::<*mut c_void, SendFn>(find("zmq_send")?),
                msg_init: std::mem::transmute::<*mut c_void, MsgInitFn>(find("zmq_msg_init")?),
                msg_recv: std::mem::transmute::<*mut c_void, MsgRecvFn>(find("zmq_msg_recv")?),
                msg_data: std::mem::transmute::<*mut c_void, MsgDataFn>(find("zmq_msg_data")?),
                msg_size: std::mem::transmute::<*mut c_void, MsgSizeFn>(find("zmq_msg_size")?),
                msg_close: std::mem::transmute::<*mut c_void, MsgCloseFn>(find("zmq_msg_close")?),
                errno: std::mem::transmute::<*mut c_void, ErrnoFn>(find("zmq_errno")?),
                getsockopt: std::mem::transmute::<*mut c_void, GetSockOptFn>(find(
                    "zmq_getsockopt",
                )?),
            })
        }
    }
}

/// What `publish` needs of the publisher it serves (`tradebridge.bus._publisher.PublisherCore`), set once.
struct Publishing {
    /// the publisher's `threading.Lock`'s `locked`: that lock guards every other use of the socket
    locked: Py<PyAny>,
    /// message class -> `(b"<topic> ", [next seq])`, the publisher's own table (it fills in misses)
    routes: Py<PyDict>,
    /// msgspec's `Encoder.encode`
    encode: Py<PyAny>,
    /// msgspec's `UNSET`: an envelope field that is not set
    unset: Py<PyAny>,
    /// `,"source":"<id>"}`
    suffix: Vec<u8>,
}

/// Sends and receives on one pyzmq socket through its libzmq handle (see the module documentation).
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct SocketIO {
    zmq: Zmq,
    /// `void *` of the libzmq socket; 0 once closed
    handle: AtomicUsize,
    publishing: OnceLock<Publishing>,
    /// `publish` sends only while this is set (the publisher clears it during its start-up hold)
    direct: AtomicBool,
    /// messages `publish` sent
    published: AtomicU64,
}

impl SocketIO {
    fn handle(&self) -> usize {
        self.handle.load(Ordering::Acquire)
    }
}

#[pymethods]
impl SocketIO {
    /// `library`: the file of the extension module that links libzmq (pyzmq's `_zmq`); `handle`: the
    /// socket's `underlying`; `kind`: its `zmq.TYPE`, checked through the library found.
    #[new]
    fn new(library: &str, handle: usize, kind: c_int) -> PyResult<Self> {
        guard(|| {
            if handle == 0 {
                return Err(PyOSError::new_err("a null socket handle"));
            }
            let zmq = Zmq::load(library).map_err(PyOSError::new_err)?;
            let mut found: c_int = -1;
            let mut size = std::mem::size_of::<c_int>();
            // SAFETY: `handle` is a live socket of this libzmq (the caller holds it open); if it were
            // not, this is the call that would say so before any send.
            let rc = unsafe {
                (zmq.getsockopt)(
                    handle as *mut c_void,
                    ZMQ_TYPE,
                    (&raw mut found).cast(),
                    &raw mut size,
                )
            };
            if rc != 0 || found != kind {
                return Err(PyOSError::new_err(
                    "the socket handle does not belong to the libzmq found",
                ));
            }
            Ok(Self {
                zmq,
                handle: AtomicUsize::new(handle),
                publishing: OnceLock::new(),
                direct: AtomicBool::new(false),
                published: AtomicU64::new(0),
            })
        })
    }

    /// Make `publish` serve a publisher: its lock, its routes table, its encoder, msgspec's `UNSET` and
    /// its `,"source":"<id>"}` suffix. Once only.
    fn serve_publisher(
        &self,
        lock: &Bound<'_, PyAny>,
        routes: &Bound<'_, PyDict>,
        encode: &Bound<'_, PyAny>,
        unset: &Bound<'_, PyAny>,
        suffix: &[u8],
    ) -> PyResult<()> {
        guard(|| {
            let publishing = Publishing {
                locked: lock.getattr(intern!(lock.py(), "locked"))?.unbind(),
                routes: routes.clone().unbind(),
                encode: encode.clone().unbind(),
                unset: unset.clone().unbind(),
                suffix: suffix.to_vec(),
            };
            self.publishing
                .set(publishing)
                .map_err(|_| PyOSError::new_err("already serving a publisher"))
        })
    }

    /// Whether `publish` sends (True) or hands every message back (False: the start-up hold).
    #[getter]
    fn get_direct(&self) -> bool {
        self.direct.load(Ordering::Acquire)
    }

    #[setter]
    fn set_direct(&self, direct: bool) {
        self.direct.store(direct, Ordering::Release);
    }

    /// Messages `publish` and `publish_locked` sent.
    #[getter]
    fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// The publisher's `publish` for the common case: the message's seq, or -1 when this is not the
    /// common case (its lock taken, held, closed, a class not routed yet, an envelope already set, a
    /// send that would block), which the publisher then handles itself. Raises what encoding raises,
    /// and pyzmq's `ZMQError`s.
    fn publish(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<i64> {
        guard(|| self.publish_inner(py, message, true))
    }

    /// `publish` for a caller that holds the publisher's lock already (its `publish_many`).
    fn publish_locked(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<i64> {
        guard(|| self.publish_inner(py, message, false))
    }

    /// Append to `frames` what is queued on the socket, at most `limit` frames, without waiting.
    /// Returns 0, or libzmq's errno of a failure other than "nothing queued" (frames already received
    /// are appended first).
    fn recv_batch(
        &self,
        py: Python<'_>,
        frames: &Bound<'_, PyList>,
        limit: usize,
    ) -> PyResult<c_int> {
        guard(|| {
            let handle = self.handle();
            if handle == 0 {
                return Ok(ENOTSOCK);
            }
            let zmq = self.zmq;
            let (messages, error) = py.detach(move || {
                let mut messages: Vec<Msg> = Vec::with_capacity(limit.min(1024));
                let mut error = 0;
                while messages.len() < limit {
                    let mut msg = Msg([0; 64]);
                    // SAFETY: `msg` is initialised before use and closed below (or here on failure);
                    // `handle` is open (module documentation: closed only under the SDK's lock).
                    unsafe {
                        (zmq.msg_init)(&raw mut msg);
                        if (zmq.msg_recv)(&raw mut msg, handle as *mut c_void, ZMQ_DONTWAIT) < 0 {
                            let errno = (zmq.errno)();
                            (zmq.msg_close)(&raw mut msg);
                            if errno == EINTR {
                                continue;
                            }
                            if errno != EAGAIN {
                                error = errno;
                            }
                            break;
                        }
                    }
                    messages.push(msg);
                }
                (messages, error)
            });
            let mut result = Ok(error);
            for mut msg in messages {
                if result.is_ok() {
                    // SAFETY: a received message: its data is `size` readable bytes until closed.
                    let data = unsafe {
                        let size = (zmq.msg_size)(&raw const msg);
                        std::slice::from_raw_parts((zmq.msg_data)(&raw mut msg).cast::<u8>(), size)
                    };
                    if let Err(failure) = frames.append(PyBytes::new(py, data)) {
                        result = Err(failure);
                    }
                }
                // SAFETY: each received message is closed exactly once.
                unsafe { (zmq.msg_close)(&raw mut msg) };
            }
            result
        })
    }

    /// Forget the handle: from now on every call returns `ENOTSOCK` (call before closing the socket).
    fn close(&self) {
        self.handle.store(0, Ordering::Release);
    }

    /// False once `close()` was called.
    #[getter]
    fn open(&self) -> bool {
        self.handle() != 0
    }
}

impl SocketIO {
    fn publish_inner(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        check_lock: bool,
    ) -> PyResult<i64> {
        let Some(publishing) = self.publishing.get() else {
            return Ok(-1);
        };
        if self.handle() == 0 || !self.direct.load(Ordering::Acquire) {
            return Ok(-1);
        }
        let Some(route) = publishing.routes.bind(py).get_item(message.get_type())? else {
            return Ok(-1);
        };
        let unset = publishing.unset.as_ptr();
        for name in [
            intern!(py, "seq"),
            intern!(py, "source"),
            intern!(py, "sent_at_us"),
        ] {
            if message.getattr(name)?.as_ptr() != unset {
                return Ok(-1); // the publisher writes its own envelope over a copy
            }
        }
        let route = route.cast::<PyTuple>()?;
        let prefix = route.get_item(0)?;
        let prefix = prefix.cast::<PyBytes>()?.as_bytes();
        let counter = route.get_item(1)?;
        let counter = counter.cast::<PyList>()?;
        let body = publishing.encode.bind(py).call1((message,))?;
        let body = body.cast::<PyBytes>()?.as_bytes();
        if body.last() != Some(&b'}') {
            return Err(PyOSError::new_err(
                "the encoder did not write a JSON object",
            ));
        }
        // Encoding may run Python code (a collection's finalizers), and so let another thread run: the
        // socket's state is looked at only from here on, where nothing gives the GIL away.
        let handle = self.handle();
        if handle == 0 || !self.direct.load(Ordering::Acquire) {
            return Ok(-1);
        }
        // Another thread inside the lock may be using the socket with the GIL released (module
        // documentation): its turn first, through the Python path. `locked()` is C, no bytecode.
        if check_lock && publishing.locked.bind(py).call0()?.is_truthy()? {
            return Ok(-1);
        }
        let seq: u64 = counter.get_item(0)?.extract()?;
        let mut frame =
            Vec::with_capacity(prefix.len() + body.len() + publishing.suffix.len() + 48);
        frame.extend_from_slice(prefix);
        frame.extend_from_slice(body);
        splice_envelope(&mut frame, seq, Some(now_us()), &publishing.suffix);
        let zmq = self.zmq;
        // SAFETY: `frame` is copied by libzmq during the call; `handle` is open (checked above, and
        // only closed by a thread holding the GIL).
        let rc = unsafe {
            (zmq.send)(
                handle as *mut c_void,
                frame.as_ptr().cast(),
                frame.len(),
                ZMQ_DONTWAIT,
            )
        };
        if rc < 0 {
            // SAFETY: libzmq's thread-local errno of the call that just failed.
            let errno = unsafe { (zmq.errno)() };
            if errno == EAGAIN || errno == EINTR {
                return Ok(-1); // it would block: the Python path waits, without the GIL
            }
            // the seq is spent, as when pyzmq's send fails on the publisher's own path
            counter.set_item(0, seq + 1)?;
            return Err(zmq_error(py, errno));
        }
        counter.set_item(0, seq + 1)?;
        self.published.fetch_add(1, Ordering::Relaxed);
        i64::try_from(seq).map_err(|_| PyOSError::new_err("seq out of range"))
    }
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
