//! The FFI boundary: no Rust panic may unwind into Python.
//!
//! PyO3 already turns a panic that escapes a `#[pymethods]` function into `PanicException`, but that
//! derives from `BaseException`, so an ordinary `except Exception` in a service loop would not catch it.
//! Every entry point runs its body through [`guard`] instead, which reports a panic as the SDK's
//! `InternalError` (a `RuntimeError`, code `internal`). (The release profile keeps `panic = "unwind"`,
//! without which neither could catch anything.)

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::{PyErr, PyResult};

use crate::errors;

#[inline]
pub(crate) fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    // AssertUnwindSafe: after a panic the caller only sees the exception; the state it touched belongs to
    // one call of one object, which the error message tells the caller not to trust.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panicked(payload)))
}

/// Like [`guard`] for code that runs detached from the interpreter: the panic comes back as a plain
/// message, to be raised (with [`panicked`]) once attached again.
#[inline]
pub(crate) fn catch<T>(body: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(body))
}

#[cold]
pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    errors::internal(format!(
        "internal error in tradebridge._native (the object's state may be inconsistent; \
         reset or recreate it): {what}"
    ))
}
