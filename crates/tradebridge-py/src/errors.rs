//! The SDK's own exceptions, raised from Rust, and the error catalogue exported to Python.
//!
//! The classes are defined once, in Python (`tradebridge.errors`), so `except FeatureError` catches the
//! same class whichever side raised it. They are imported on the first error, not at module init:
//! `tradebridge.errors` itself imports this module (for the catalogue), and the happy path never needs them.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};
use tradebridge_contracts::ErrorCode;
use tradebridge_features::{BarError, BatchError, FeatureError};

static FEATURE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FEATURE_TYPE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INTERNAL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(error_codes, m)?)
}

/// Every stable error code and its one-line description, in catalogue order (Rust `ErrorCode::ALL`).
#[pyfunction]
fn error_codes(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(
        py,
        ErrorCode::ALL
            .iter()
            .map(|code| (code.as_str(), code.description())),
    )
}

#[cold]
fn raise<A>(cell: &PyOnceLock<Py<PyType>>, name: &str, args: A) -> PyErr
where
    A: pyo3::PyErrArguments + Send + Sync + 'static,
{
    Python::attach(|py| match cell.import(py, "tradebridge.errors", name) {
        Ok(class) => PyErr::from_type(class.clone(), args),
        // Only a broken installation gets here; its ImportError says more than anything we could.
        Err(error) => error,
    })
}

/// `tradebridge.errors.FeatureError(code, message, field)`, or its `FeatureTypeError` subclass (also a
/// `TypeError`) for `wrong_type`.
#[cold]
pub(crate) fn feature_error(
    code: ErrorCode,
    message: impl Into<String>,
    field: Option<&'static str>,
) -> PyErr {
    let (cell, name) = if code == ErrorCode::WrongType {
        (&FEATURE_TYPE_ERROR, "FeatureTypeError")
    } else {
        (&FEATURE_ERROR, "FeatureError")
    };
    raise(cell, name, (code.as_str(), message.into(), field))
}

/// `FeatureTypeError` (`wrong_type`) for `field`.
#[cold]
pub(crate) fn wrong_type(field: &'static str, message: impl Into<String>) -> PyErr {
    feature_error(ErrorCode::WrongType, message, Some(field))
}

/// `FeatureError` (`invalid_value`) for `field`.
#[cold]
pub(crate) fn invalid_value(field: Option<&'static str>, message: impl Into<String>) -> PyErr {
    feature_error(ErrorCode::InvalidValue, message, field)
}

/// `tradebridge.errors.InternalError(message)`: a bug, never a verdict on the caller's input.
#[cold]
pub(crate) fn internal(message: String) -> PyErr {
    raise(&INTERNAL_ERROR, "InternalError", (message,))
}

fn bar_code(error: &BarError) -> ErrorCode {
    match error {
        BarError::NotFinite { .. }
        | BarError::NotPositive { .. }
        | BarError::NegativeVolume { .. } => ErrorCode::OutOfRange,
        BarError::BelowLow { .. } | BarError::AboveHigh { .. } => ErrorCode::InvalidValue,
    }
}

fn config_code(error: &FeatureError) -> ErrorCode {
    match error {
        FeatureError::OutOfRange { .. } => ErrorCode::OutOfRange,
        FeatureError::FastNotBelowSlow { .. } | FeatureError::CorruptState(_) => {
            ErrorCode::InvalidValue
        }
    }
}

/// A refused bar, prefixed with what was being built (`MarketBar: close must be finite, got NaN`).
#[cold]
pub(crate) fn from_bar(context: &str, error: &BarError) -> PyErr {
    feature_error(
        bar_code(error),
        format!("{context}{error}"),
        Some(error.field()),
    )
}

#[cold]
pub(crate) fn from_config(error: &FeatureError) -> PyErr {
    feature_error(config_code(error), error.to_string(), error.field())
}

#[cold]
pub(crate) fn from_batch(error: &BatchError) -> PyErr {
    let code = match error {
        BatchError::Config(error) => config_code(error),
        BatchError::InvalidBar { error, .. } => bar_code(error),
        BatchError::LengthMismatch { .. } | BatchError::OutputSize { .. } => {
            ErrorCode::InvalidValue
        }
    };
    feature_error(code, error.to_string(), error.field())
}
