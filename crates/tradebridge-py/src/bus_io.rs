//! `SocketIO`: the bus's hot receives on a pyzmq socket, through pyzmq's own libzmq (a publisher's
//! sends are `bus_publish::PublishIO`'s).
//!
//! pyzmq's `recv` costs about 1 us of Python and Cython around a libzmq call of about 0.2 us (a Python
//! method with keyword arguments, an exception object for every empty poll). Here a receiver takes up
//! to a batch of frames per call (the GIL released meanwhile), and an empty socket is a return value,
//! not an exception.
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
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::boundary::guard;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SocketIO>()
}

const RTLD_LAZY: c_int = 0x0001;
const RTLD_NOLOAD: c_int = 0x0004;
const ZMQ_DONTWAIT: c_int = 1;
pub(crate) const ZMQ_TYPE: c_int = 16;
const EAGAIN: c_int = 11;
const EINTR: c_int = 4;
pub(crate) const ENOTSOCK: c_int = 88;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// libzmq's `zmq_msg_t`: 64 opaque bytes, pointer-aligned.
#[repr(C, align(8))]
pub(crate) struct Msg(pub(crate) [u8; 64]);

type MsgInitFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type MsgRecvFn = unsafe extern "C" fn(*mut Msg, *mut c_void, c_int) -> c_int;
type MsgDataFn = unsafe extern "C" fn(*mut Msg) -> *mut c_void;
type MsgSizeFn = unsafe extern "C" fn(*const Msg) -> usize;
type MsgCloseFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type ErrnoFn = unsafe extern "C" fn() -> c_int;
type GetSockOptFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *mut usize) -> c_int;

/// The libzmq functions this needs, all from one library.
#[derive(Clone, Copy)]
pub(crate) struct Zmq {
    pub(crate) msg_init: MsgInitFn,
    pub(crate) msg_recv: MsgRecvFn,
    pub(crate) msg_data: MsgDataFn,
    pub(crate) msg_size: MsgSizeFn,
    pub(crate) msg_close: MsgCloseFn,
    pub(crate) errno: ErrnoFn,
    pub(crate) getsockopt: GetSockOptFn,
}

impl Zmq {
    pub(crate) fn load(library: &str) -> Result<Self, String> {
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

/// Receives on one pyzmq socket through its libzmq handle (see the module documentation).
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct SocketIO {
    zmq: Zmq,
    /// `void *` of the libzmq socket; 0 once closed
    handle: AtomicUsize,
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
            })
        })
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
