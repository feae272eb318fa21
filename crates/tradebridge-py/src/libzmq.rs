//! pyzmq's own libzmq, reached from Rust: the one place the extension looks up libzmq's functions and
//! checks a socket handle against them, for `SocketIO`, `PublishIO`, `Receiver` and `CaptureReceiver`.
//!
//! The functions are looked up in the library pyzmq's extension was linked against (`dlopen` of that
//! extension with `RTLD_NOLOAD`; `dlsym` searches it and its dependencies), so a handle and the functions
//! always belong to the same copy of libzmq; `for_socket` proves it by reading the socket's type
//! through them. Where any of this is unavailable (another OS, another pyzmq backend) it raises and the
//! SDK keeps using pyzmq.

use std::ffi::{c_char, c_int, c_void, CString};

use pyo3::exceptions::PyOSError;
use pyo3::PyResult;

const RTLD_LAZY: c_int = 0x0001;
const RTLD_NOLOAD: c_int = 0x0004;
pub(crate) const ZMQ_DONTWAIT: c_int = 1;
const ZMQ_TYPE: c_int = 16;
pub(crate) const EAGAIN: c_int = 11;
pub(crate) const EINTR: c_int = 4;
pub(crate) const ENOTSOCK: c_int = 88;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// libzmq's `zmq_msg_t`: 64 opaque bytes, pointer-aligned.
#[repr(C, align(8))]
pub(crate) struct Msg(pub(crate) [u8; 64]);

type MsgInitFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type MsgInitSizeFn = unsafe extern "C" fn(*mut Msg, usize) -> c_int;
type MsgRecvFn = unsafe extern "C" fn(*mut Msg, *mut c_void, c_int) -> c_int;
type MsgSendFn = unsafe extern "C" fn(*mut Msg, *mut c_void, c_int) -> c_int;
type MsgDataFn = unsafe extern "C" fn(*mut Msg) -> *mut c_void;
type MsgSizeFn = unsafe extern "C" fn(*const Msg) -> usize;
type MsgCloseFn = unsafe extern "C" fn(*mut Msg) -> c_int;
type ErrnoFn = unsafe extern "C" fn() -> c_int;
type GetSockOptFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *mut usize) -> c_int;

/// The libzmq functions the extension calls, all from one library.
#[derive(Clone, Copy)]
pub(crate) struct Zmq {
    pub(crate) msg_init: MsgInitFn,
    pub(crate) msg_init_size: MsgInitSizeFn,
    pub(crate) msg_recv: MsgRecvFn,
    pub(crate) msg_send: MsgSendFn,
    pub(crate) msg_data: MsgDataFn,
    pub(crate) msg_size: MsgSizeFn,
    pub(crate) msg_close: MsgCloseFn,
    pub(crate) errno: ErrnoFn,
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
                msg_init: std::mem::transmute::<*mut c_void, MsgInitFn>(find("zmq_msg_init")?),
                msg_init_size: std::mem::transmute::<*mut c_void, MsgInitSizeFn>(find(
                    "zmq_msg_init_size",
                )?),
                msg_recv: std::mem::transmute::<*mut c_void, MsgRecvFn>(find("zmq_msg_recv")?),
                msg_send: std::mem::transmute::<*mut c_void, MsgSendFn>(find("zmq_msg_send")?),
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

    /// The functions of the libzmq `library` links (pyzmq's `_zmq` extension file), once `handle` (a
    /// socket's `underlying`) is proved to be a socket of that libzmq of type `kind` (`zmq.TYPE`).
    pub(crate) fn for_socket(library: &str, handle: usize, kind: c_int) -> PyResult<Self> {
        if handle == 0 {
            return Err(PyOSError::new_err("a null socket handle"));
        }
        let zmq = Self::load(library).map_err(PyOSError::new_err)?;
        let mut found: c_int = -1;
        let mut size = std::mem::size_of::<c_int>();
        // SAFETY: `handle` is a live socket of this libzmq (the caller holds it open); if it were not,
        // this is the call that would say so before any send or receive.
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
        Ok(zmq)
    }
}
