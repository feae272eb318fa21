//! Builtin functions of one positional argument (CPython's `METH_O`), bound to one of our objects: the
//! calling convention of `len`, for the two calls every decoded message makes (`Decoder.decode` and its
//! class's `__post_init__`).
//!
//! A `#[pymethods]` method costs about 60 ns more per call than that (measured from Python: 96 ns for
//! `MessageChecks.check` against 38 ns for `len(x)`): the fast-call argument parser, the GIL-count and
//! reference-pool bookkeeping around every entry. At two calls per message that was about a tenth of a
//! `BarUpdate` decode. The body still runs inside the boundary's rule: a panic comes back as
//! `InternalError`, never unwinding into the interpreter.

use std::ffi::CStr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::PyClass;

use crate::boundary::guard;

/// One `METH_O` entry point: a name, a docstring and the function CPython calls.
pub(crate) struct OneArg(ffi::PyMethodDef);

// SAFETY: the definition only holds pointers to static strings and a function: nothing that a thread
// could change or that belongs to one.
unsafe impl Sync for OneArg {}

impl OneArg {
    pub(crate) const fn new(
        name: &'static CStr,
        doc: &'static CStr,
        call: unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> *mut ffi::PyObject,
    ) -> Self {
        Self(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: call },
            ml_flags: ffi::METH_O,
            ml_doc: doc.as_ptr(),
        })
    }

    /// The builtin function calling this entry point with `owner` as its first argument (the function
    /// keeps `owner` alive).
    pub(crate) fn bind<'py>(
        &'static self,
        owner: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let definition = (&raw const self.0).cast_mut();
        // SAFETY: a static definition outlives every function made from it; `owner` is a live object,
        // which CPython increfs; no module is named.
        unsafe {
            Bound::from_owned_ptr_or_err(
                owner.py(),
                ffi::PyCFunction_NewEx(definition, owner.as_ptr(), std::ptr::null_mut()),
            )
        }
    }
}

/// The body of a `METH_O` entry point whose first argument is a `T` (the object `bind` was given):
/// `body(&T, argument)`, its result or exception handed to CPython.
///
/// The body runs without pyo3's per-call bookkeeping, so pyo3 does not know the thread is attached: a
/// `Py<T>` dropped in it would have its decref deferred to pyo3's pool (a mutex, and the object kept
/// alive until pyo3 is next entered) rather than done. Bodies hold `Bound`s, which decref at once
/// (`tests/bus/test_native_refcounts.py` proves the hot paths leave no reference behind).
///
/// # Safety
/// Only for functions made by [`OneArg::bind`] from an object of class `T`, called by CPython (so
/// attached to the interpreter) with borrowed references.
#[inline]
pub(crate) unsafe fn call<T, F>(
    owner: *mut ffi::PyObject,
    argument: *mut ffi::PyObject,
    body: F,
) -> *mut ffi::PyObject
where
    T: PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
    F: for<'py> FnOnce(&T, &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
{
    // SAFETY: CPython calls a builtin function with the interpreter attached.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `owner` is the object `bind` was given, a `T` (the caller's promise), and `argument` a live
    // object; both are borrowed for the call.
    let (owner, argument) = unsafe {
        (
            Bound::from_borrowed_ptr(py, owner),
            Bound::from_borrowed_ptr(py, argument),
        )
    };
    // SAFETY: see above: `owner` is a `T`.
    let owner = unsafe { owner.cast_unchecked::<T>() };
    match guard(|| body(owner.get(), &argument)) {
        Ok(result) => result.into_ptr(),
        Err(error) => {
            error.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `static $entry: OneArg` named `$name`, whose body is `|$owner: &$class, $argument| -> PyResult<Bound>`.
/// Bind it only to objects of `$class` (the body reads the first argument as one).
macro_rules! one_arg {
    ($entry:ident, $class:ty, $name:literal, $doc:literal, |$owner:ident, $argument:ident| $body:expr) => {
        static $entry: $crate::one_arg::OneArg = $crate::one_arg::OneArg::new($name, $doc, {
            unsafe extern "C" fn entry(
                owner: *mut pyo3::ffi::PyObject,
                argument: *mut pyo3::ffi::PyObject,
            ) -> *mut pyo3::ffi::PyObject {
                // SAFETY: the entry is only bound to objects of its class (the macro's contract).
                unsafe {
                    $crate::one_arg::call::<$class, _>(owner, argument, |$owner, $argument| $body)
                }
            }
            entry
        });
    };
}
pub(crate) use one_arg;
