//! `SocketIO`: the bus's hot receives on a pyzmq socket, through pyzmq's own libzmq (a publisher's
//! sends are `bus_publish::PublishIO`'s).
//!
//! pyzmq's `recv` costs about 1 us of Python and Cython around a libzmq call of about 0.2 us (a Python
//! method with keyword arguments, an exception object for every empty poll). Here a receiver takes up
//! to a batch of frames per call (the GIL released meanwhile), and an empty socket is a return value,
//! not an exception.
//!
//! The socket stays pyzmq's (options, CURVE, bind/connect, close): only its handle (`Socket.underlying`)
//! comes here, with the functions of the same libzmq (`libzmq::Zmq::for_socket`).
//!
//! Lifetime: the handle is only valid while pyzmq's socket is open. The SDK calls `close()` here before
//! it closes the socket, under the same lock that guards every use; a call after that returns `ENOTSOCK`.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::boundary::guard;
use crate::libzmq::{Msg, Zmq, EAGAIN, EINTR, ENOTSOCK, ZMQ_DONTWAIT};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SocketIO>()
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
            let zmq = Zmq::for_socket(library, handle, kind)?;
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
