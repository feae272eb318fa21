//! Arguments of `RustFeatureComputer`'s methods, checked by hand so that every refusal is one of the SDK's
//! `FeatureError`s (PyO3's own extraction would raise bare `TypeError`s).

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString};
use tradebridge_contracts::ErrorCode;
use tradebridge_features::{MAX_PERIOD, NUM_FEATURES};

use super::bar::type_name;
use crate::errors;

/// A period argument: a Python int (not a bool) in `min..=MAX_PERIOD` (`out_of_range` otherwise,
/// `wrong_type` for a non-int), with the same wording as the core's own range check.
pub(super) fn period(name: &'static str, value: &Bound<'_, PyAny>, min: usize) -> PyResult<usize> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(errors::wrong_type(
            name,
            format!("{name} must be an int, got {}", type_name(value)),
        ));
    }
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| (min..=MAX_PERIOD).contains(v))
        .ok_or_else(|| {
            let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
            errors::feature_error(
                ErrorCode::OutOfRange,
                format!("{name} must be between {min} and {MAX_PERIOD}, got {shown}"),
                Some(name),
            )
        })
}

/// A symbol argument (`str`) or `wrong_type`.
pub(super) fn symbol<'a, 'py>(value: &'a Bound<'py, PyAny>) -> PyResult<&'a str>
where
    'py: 'a,
{
    let Ok(text) = value.cast::<PyString>() else {
        return Err(errors::wrong_type(
            "symbol",
            format!("symbol must be a str, got {}", type_name(value)),
        ));
    };
    text.to_str()
        .map_err(|_| errors::invalid_value(Some("symbol"), "symbol is not valid UTF-8"))
}

/// An optional symbol argument (`None` = every symbol).
pub(super) fn maybe_symbol<'a, 'py>(
    value: Option<&'a Bound<'py, PyAny>>,
) -> PyResult<Option<&'a str>>
where
    'py: 'a,
{
    match value {
        Some(value) if !value.is_none() => symbol(value).map(Some),
        _ => Ok(None),
    }
}

/// A `bytes` argument (a pickled state) or `wrong_type`.
pub(super) fn bytes<'a, 'py>(name: &'static str, value: &'a Bound<'py, PyAny>) -> PyResult<&'a [u8]>
where
    'py: 'a,
{
    value.cast::<PyBytes>().map(|b| b.as_bytes()).map_err(|_| {
        errors::wrong_type(
            name,
            format!("{name} must be bytes, got {}", type_name(value)),
        )
    })
}

/// A batch column as a contiguous 1-D float64 array: float64 arrays pass through untouched, anything
/// else (lists, int or float32 arrays, strided views) goes through `numpy.ascontiguousarray` once.
pub(super) fn column<'py>(
    name: &'static str,
    value: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArray1<'py, f64>> {
    if let Ok(array) = value.cast::<PyArray1<f64>>() {
        if array.is_c_contiguous() {
            return array
                .try_readonly()
                .map_err(|e| errors::invalid_value(Some(name), format!("{name}: {e}")));
        }
    }
    let numpy = PyModule::import(value.py(), "numpy")?;
    let converted = numpy
        .getattr("ascontiguousarray")?
        .call1((value, "float64"))
        .map_err(|e| {
            errors::wrong_type(
                name,
                format!("{name} must be numbers: {}", e.value(value.py())),
            )
        })?;
    let array = converted.cast::<PyArray1<f64>>().map_err(|_| {
        let ndim = converted
            .getattr("ndim")
            .map(|n| n.to_string())
            .unwrap_or_default();
        errors::invalid_value(
            Some(name),
            format!("{name} must be one-dimensional, got {ndim} dimensions"),
        )
    })?;
    array
        .try_readonly()
        .map_err(|e| errors::invalid_value(Some(name), format!("{name}: {e}")))
}

/// `out` of `compute_into`: a float64 numpy vector (length and layout are checked by the caller).
pub(super) fn out_row<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
) -> PyResult<&'a Bound<'py, PyArray1<f64>>> {
    value.cast::<PyArray1<f64>>().map_err(|_| {
        errors::wrong_type(
            "out",
            format!(
                "out must be a one-dimensional float64 numpy array of {NUM_FEATURES}, got {}",
                describe_array(value)
            ),
        )
    })
}

/// `out` of `compute_batch`: a float64 numpy matrix (shape and layout are checked by the caller).
pub(super) fn out_matrix<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    value.cast::<PyArray2<f64>>().cloned().map_err(|_| {
        errors::wrong_type(
            "out",
            format!(
                "out must be a two-dimensional float64 numpy array, got {}",
                describe_array(value)
            ),
        )
    })
}

/// `ndarray(float32, 2 dimensions)` for arrays, the type name for anything else.
fn describe_array(value: &Bound<'_, PyAny>) -> String {
    match (value.getattr("dtype"), value.getattr("ndim")) {
        (Ok(dtype), Ok(ndim)) => format!("{}({dtype}, {ndim} dimensions)", type_name(value)),
        _ => type_name(value),
    }
}

/// A new list of floats, built directly (this is most of the per-bar cost that is not Python's own).
pub(super) fn float_list<'py>(
    py: Python<'py>,
    values: &[f64; NUM_FEATURES],
) -> PyResult<Bound<'py, PyList>> {
    // SAFETY: we are attached to the interpreter; every item slot is filled before the list escapes, and
    // on failure the partly filled list is released (PyList_New's NULL slots are valid for dealloc).
    unsafe {
        let list =
            Bound::from_owned_ptr_or_err(py, ffi::PyList_New(NUM_FEATURES as ffi::Py_ssize_t))?;
        for (index, &value) in values.iter().enumerate() {
            let item = Bound::from_owned_ptr_or_err(py, ffi::PyFloat_FromDouble(value))?;
            ffi::PyList_SET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(list.cast_into_unchecked())
    }
}
