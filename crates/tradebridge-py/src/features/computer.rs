//! `MarketBar` and `RustFeatureComputer`: thin adapters over `tradebridge_features`.
//!
//! The per-bar path is one crossing: the bar is a frozen class (no borrow flag, no re-validation), its
//! symbol a shared Python string (no copy), and the 12 floats go straight into a new list or into the
//! caller's buffer.

use std::sync::atomic::{AtomicBool, Ordering};

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString};
use tradebridge_features::{
    compute_batch, Bar, Columns, FeatureComputer, FeatureConfig, FEATURE_NAMES, MAX_PERIOD,
    NUM_FEATURES,
};

use crate::boundary::guard;
use crate::prefault;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MarketBar>()?;
    m.add_class::<RustFeatureComputer>()?;
    m.add("FEATURE_NAMES", FEATURE_NAMES.to_vec())?;
    Ok(())
}

/// One OHLCV bar of one symbol, validated on construction and immutable afterwards.
#[pyclass(module = "tradebridge._native", frozen)]
pub struct MarketBar {
    symbol: Py<PyString>,
    bar: Bar,
    timestamp: i64,
}

#[pymethods]
impl MarketBar {
    #[new]
    #[pyo3(signature = (symbol, open, high, low, close, volume, timestamp))]
    fn new(
        symbol: Bound<'_, PyString>,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
        timestamp: i64,
    ) -> PyResult<Self> {
        guard(|| {
            if symbol.to_str()?.is_empty() {
                return Err(PyValueError::new_err("MarketBar: symbol must not be empty"));
            }
            let bar = Bar::new(open, high, low, close, volume)
                .map_err(|e| PyValueError::new_err(format!("MarketBar: {e}")))?;
            Ok(Self {
                symbol: symbol.unbind(),
                bar,
                timestamp,
            })
        })
    }

    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn open(&self) -> f64 {
        self.bar.open
    }
    #[getter]
    fn high(&self) -> f64 {
        self.bar.high
    }
    #[getter]
    fn low(&self) -> f64 {
        self.bar.low
    }
    #[getter]
    fn close(&self) -> f64 {
        self.bar.close
    }
    #[getter]
    fn volume(&self) -> f64 {
        self.bar.volume
    }
    #[getter]
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Pickle and copy rebuild the bar through the constructor (so it is validated again).
    fn __getnewargs__(&self, py: Python<'_>) -> (Py<PyString>, f64, f64, f64, f64, f64, i64) {
        let b = &self.bar;
        (
            self.symbol.clone_ref(py),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            self.timestamp,
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = other.py();
        let Ok(other) = other.cast::<MarketBar>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.bar == other.bar
            && self.timestamp == other.timestamp
            && self.symbol.bind(py).to_str()? == other.symbol.bind(py).to_str()?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.__getnewargs__(py).into_pyobject(py)?.hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let b = &self.bar;
        Ok(format!(
            "MarketBar(symbol={}, open={:?}, high={:?}, low={:?}, close={:?}, volume={:?}, timestamp={})",
            self.symbol.bind(py).repr()?,
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            self.timestamp
        ))
    }
}

/// Version of the `__getstate__` payload; `__setstate__` refuses others.
const STATE_FORMAT: u64 = 1;

/// The 12-feature computer. State is per symbol (`bar.symbol`); see `tradebridge_features` for the
/// semantics and warm-up of every feature.
#[pyclass(module = "tradebridge._native")]
pub struct RustFeatureComputer {
    inner: FeatureComputer,
}

/// A period argument: a Python int (not a bool) in `min..=MAX_PERIOD`, else `ValueError` (`TypeError` for
/// a non-int), with the same wording as the core's own range check.
fn period(name: &'static str, value: &Bound<'_, PyAny>, min: usize) -> PyResult<usize> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        let kind = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {kind}"
        )));
    }
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| (min..=MAX_PERIOD).contains(v))
        .ok_or_else(|| {
            let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
            PyValueError::new_err(format!(
                "{name} must be between {min} and {MAX_PERIOD}, got {shown}"
            ))
        })
}

/// A batch column as a contiguous 1-D float64 array: float64 arrays pass through untouched, anything
/// else (lists, int or float32 arrays, strided views) goes through `numpy.ascontiguousarray` once.
fn column<'py>(name: &str, value: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray1<'py, f64>> {
    if let Ok(array) = value.cast::<PyArray1<f64>>() {
        if array.is_c_contiguous() {
            return array
                .try_readonly()
                .map_err(|e| PyValueError::new_err(format!("{name}: {e}")));
        }
    }
    let numpy = PyModule::import(value.py(), "numpy")?;
    let converted = numpy
        .getattr("ascontiguousarray")?
        .call1((value, "float64"))?;
    let array = converted.cast::<PyArray1<f64>>().map_err(|_| {
        let ndim = converted
            .getattr("ndim")
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyValueError::new_err(format!(
            "{name} must be one-dimensional, got {ndim} dimensions"
        ))
    })?;
    array
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// A new list of floats, built directly (this is most of the per-bar cost that is not Python's own).
fn float_list<'py>(py: Python<'py>, values: &[f64; NUM_FEATURES]) -> PyResult<Bound<'py, PyList>> {
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

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

impl RustFeatureComputer {
    #[inline]
    fn update(&mut self, bar: &Bound<'_, MarketBar>) -> PyResult<[f64; NUM_FEATURES]> {
        let symbol = bar.get().symbol.bind(bar.py()).to_str()?;
        Ok(self.inner.update(symbol, &bar.get().bar))
    }
}

#[pymethods]
impl RustFeatureComputer {
    #[new]
    #[pyo3(
        signature = (*, rsi_period = None, fast_period = None, slow_period = None, signal_period = None, sma_period = None),
        text_signature = "(*, rsi_period=14, fast_period=12, slow_period=26, signal_period=9, sma_period=20)"
    )]
    fn new(
        rsi_period: Option<&Bound<'_, PyAny>>,
        fast_period: Option<&Bound<'_, PyAny>>,
        slow_period: Option<&Bound<'_, PyAny>>,
        signal_period: Option<&Bound<'_, PyAny>>,
        sma_period: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let d = FeatureConfig::default();
            let get = |name, value: Option<&Bound<'_, PyAny>>, min, default| match value {
                Some(value) => period(name, value, min),
                None => Ok(default),
            };
            let config = FeatureConfig {
                rsi_period: get("rsi_period", rsi_period, 2, d.rsi_period)?,
                fast_period: get("fast_period", fast_period, 2, d.fast_period)?,
                slow_period: get("slow_period", slow_period, 2, d.slow_period)?,
                signal_period: get("signal_period", signal_period, 1, d.signal_period)?,
                sma_period: get("sma_period", sma_period, 2, d.sma_period)?,
            };
            Ok(Self {
                inner: FeatureComputer::new(config).map_err(value_error)?,
            })
        })
    }

    /// The 12 features of `bar`, advancing `bar.symbol`'s state.
    fn compute_streaming<'py>(
        &mut self,
        py: Python<'py>,
        bar: &Bound<'py, MarketBar>,
    ) -> PyResult<Bound<'py, PyList>> {
        guard(|| float_list(py, &self.update(bar)?))
    }

    /// Like `compute_streaming`, but writes the 12 features into `out` (a writable, contiguous float64
    /// array of length 12, e.g. a row of a preallocated `(N, 12)` matrix) instead of allocating a list.
    fn compute_into(
        &mut self,
        bar: &Bound<'_, MarketBar>,
        out: &Bound<'_, PyArray1<f64>>,
    ) -> PyResult<()> {
        guard(|| {
            // Check the buffer before touching the state: a rejected call must not consume the bar.
            if out.len() != NUM_FEATURES {
                return Err(PyValueError::new_err(format!(
                    "out must hold {NUM_FEATURES} values, got {}",
                    out.len()
                )));
            }
            let mut out = out
                .try_readwrite()
                .map_err(|e| PyValueError::new_err(format!("out: {e}")))?;
            let target = out
                .as_slice_mut()
                .map_err(|_| PyValueError::new_err("out must be contiguous"))?;
            let row = self.update(bar)?;
            target.copy_from_slice(&row);
            Ok(())
        })
    }

    /// Features of one whole series (one symbol, oldest bar first) as an `(N, 12)` float64 array, computed
    /// with the GIL released. It starts from a cold state and leaves the streaming state untouched; the
    /// rows equal streaming the same bars on a fresh computer, bit for bit. With `out` (a writable
    /// C-contiguous float64 `(N, 12)` array) the rows are written there and `out` is returned, which saves
    /// the cost of fresh memory on repeated calls.
    #[pyo3(signature = (open, high, low, close, volume, *, out = None))]
    #[allow(clippy::too_many_arguments)]
    fn compute_batch<'py>(
        slf: &Bound<'py, Self>,
        open: &Bound<'py, PyAny>,
        high: &Bound<'py, PyAny>,
        low: &Bound<'py, PyAny>,
        close: &Bound<'py, PyAny>,
        volume: &Bound<'py, PyAny>,
        out: Option<Bound<'py, PyArray2<f64>>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        guard(|| {
            let py = slf.py();
            // Copy the periods out so no borrow of `self` is held while the GIL is released.
            let config = *slf.borrow().inner.config();
            let open = column("open", open)?;
            let high = column("high", high)?;
            let low = column("low", low)?;
            let close = column("close", close)?;
            let volume = column("volume", volume)?;
            let columns = Columns {
                open: open.as_slice()?,
                high: high.as_slice()?,
                low: low.as_slice()?,
                close: close.as_slice()?,
                volume: volume.as_slice()?,
            };
            let n = columns.checked_len().map_err(value_error)?;
            let fresh = out.is_none();
            let result = match out {
                Some(out) => {
                    if out.shape() != [n, NUM_FEATURES] {
                        return Err(PyValueError::new_err(format!(
                            "out must have shape ({n}, {NUM_FEATURES}), got {:?}",
                            out.shape()
                        )));
                    }
                    // A Fortran-ordered buffer is contiguous too, but rows must be adjacent in memory.
                    if !out.is_c_contiguous() {
                        return Err(PyValueError::new_err("out must be C-contiguous"));
                    }
                    out
                }
                // Zeroed through numpy (calloc: fresh pages, no extra pass) so nothing uninitialised is
                // ever exposed.
                None => PyArray2::<f64>::zeros(py, [n, NUM_FEATURES], false),
            };
            let mut writable = result
                .try_readwrite()
                .map_err(|e| PyValueError::new_err(format!("out: {e}")))?;
            let rows = writable
                .as_slice_mut()
                .map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
            let done = AtomicBool::new(false);
            py.detach(|| {
                std::thread::scope(|scope| {
                    if fresh {
                        prefault::populate_in_background(scope, rows, &done);
                    }
                    let outcome =
                        guard(|| compute_batch(&config, columns, rows).map_err(value_error));
                    done.store(true, Ordering::Relaxed);
                    outcome
                })
            })?;
            drop(writable);
            Ok(result)
        })
    }

    /// Feature names in output order.
    #[getter]
    fn feature_names(&self) -> Vec<&'static str> {
        FEATURE_NAMES.to_vec()
    }

    /// For each feature, the 0-based index of the first bar where it is not NaN.
    #[getter]
    fn lookbacks(&self) -> Vec<usize> {
        self.inner.config().lookbacks().to_vec()
    }

    /// Bars a symbol needs before no feature is NaN.
    #[getter]
    fn warmup_bars(&self) -> usize {
        self.inner.config().warmup_bars()
    }

    /// The periods this computer was built with.
    #[getter]
    fn periods(&self) -> Vec<(&'static str, usize)> {
        let c = self.inner.config();
        vec![
            ("rsi_period", c.rsi_period),
            ("fast_period", c.fast_period),
            ("slow_period", c.slow_period),
            ("signal_period", c.signal_period),
            ("sma_period", c.sma_period),
        ]
    }

    /// Symbols that have state, in first-seen order.
    #[getter]
    fn symbols(&self) -> Vec<String> {
        self.inner.symbols().map(str::to_owned).collect()
    }

    /// Bars consumed for `symbol` (0 if unknown).
    fn bars_seen(&self, symbol: &str) -> PyResult<u64> {
        guard(|| Ok(self.inner.series(symbol).map_or(0, |s| s.bars())))
    }

    /// Whether `symbol` is warm (no feature NaN any more); with no symbol, whether at least one symbol
    /// has state and all of them are warm.
    #[pyo3(signature = (symbol = None))]
    fn is_ready(&self, symbol: Option<&str>) -> PyResult<bool> {
        guard(|| Ok(self.inner.is_ready(symbol)))
    }

    /// Forgets `symbol`'s state, or every symbol's with no argument. Returns whether anything was forgotten.
    #[pyo3(signature = (symbol = None))]
    fn reset(&mut self, symbol: Option<&str>) -> PyResult<bool> {
        guard(|| Ok(self.inner.reset(symbol)))
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let state = serde_json::json!({ "format": STATE_FORMAT, "computer": &self.inner });
            let bytes = serde_json::to_vec(&state).map_err(value_error)?;
            Ok(PyBytes::new(py, &bytes))
        })
    }

    fn __setstate__(&mut self, state: &Bound<'_, PyBytes>) -> PyResult<()> {
        guard(|| {
            let invalid = |e: &dyn std::fmt::Display| {
                PyValueError::new_err(format!("invalid RustFeatureComputer state: {e}"))
            };
            let mut value: serde_json::Value =
                serde_json::from_slice(state.as_bytes()).map_err(|e| invalid(&e))?;
            let format = value.get("format").and_then(serde_json::Value::as_u64);
            if format != Some(STATE_FORMAT) {
                return Err(invalid(&format!(
                    "unsupported format {format:?}, expected {STATE_FORMAT}"
                )));
            }
            let computer = value
                .get_mut("computer")
                .map(serde_json::Value::take)
                .unwrap_or_default();
            self.inner = serde_json::from_value(computer).map_err(|e| invalid(&e))?;
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "RustFeatureComputer(rsi_period={}, fast_period={}, slow_period={}, signal_period={}, \
             sma_period={}, symbols={})",
            c.rsi_period,
            c.fast_period,
            c.slow_period,
            c.signal_period,
            c.sma_period,
            self.inner.symbols().count()
        )
    }
}
