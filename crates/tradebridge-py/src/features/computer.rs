//! `RustFeatureComputer`: a thin adapter over `tradebridge_features::FeatureComputer`.
//!
//! The per-bar path is one crossing: the bar is a frozen class (no borrow flag, no re-validation), its
//! symbol a shared Python string (no copy), and the 12 floats go straight into a new list or into the
//! caller's buffer. Every refusal is a `tradebridge.errors.FeatureError` with a catalogue code.

use std::sync::atomic::{AtomicBool, Ordering};

use numpy::{PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tradebridge_features::{
    compute_batch, Columns, FeatureComputer, FeatureConfig, FEATURE_NAMES, NUM_FEATURES,
};

use super::args::{
    bytes, column, float_list, maybe_symbol, out_matrix, out_row, period, symbol as symbol_arg,
};
use super::bar::market_bar;
use crate::boundary::{catch, guard, panicked};
use crate::errors;
use crate::prefault;

/// Version of the `__getstate__` payload; `__setstate__` refuses others.
const STATE_FORMAT: u64 = 1;

/// The 12-feature computer. State is per symbol (`bar.symbol`); see `tradebridge_features` for the
/// semantics and warm-up of every feature.
#[pyclass(module = "tradebridge._native")]
pub struct RustFeatureComputer {
    inner: FeatureComputer,
}

impl RustFeatureComputer {
    #[inline]
    fn update(&mut self, bar: &Bound<'_, PyAny>) -> PyResult<[f64; NUM_FEATURES]> {
        let bar = market_bar(bar)?;
        let py = bar.py();
        let bar = bar.get();
        // A bar's symbol was checked to be valid UTF-8 when the bar was built.
        let symbol = bar.symbol.bind(py).to_str()?;
        Ok(self.inner.update(symbol, &bar.bar))
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
                inner: FeatureComputer::new(config).map_err(|e| errors::from_config(&e))?,
            })
        })
    }

    /// The 12 features of `bar`, advancing `bar.symbol`'s state.
    fn compute_streaming<'py>(
        &mut self,
        py: Python<'py>,
        bar: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        guard(|| float_list(py, &self.update(bar)?))
    }

    /// Like `compute_streaming`, but writes the 12 features into `out` (a writable, contiguous float64
    /// array of length 12, e.g. a row of a preallocated `(N, 12)` matrix) instead of allocating a list.
    fn compute_into(&mut self, bar: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            // Check the buffer before touching the state: a rejected call must not consume the bar.
            let out = out_row(out)?;
            if out.len() != NUM_FEATURES {
                return Err(errors::invalid_value(
                    Some("out"),
                    format!("out must hold {NUM_FEATURES} values, got {}", out.len()),
                ));
            }
            let mut out = out
                .try_readwrite()
                .map_err(|e| errors::invalid_value(Some("out"), format!("out: {e}")))?;
            let target = out
                .as_slice_mut()
                .map_err(|_| errors::invalid_value(Some("out"), "out must be contiguous"))?;
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
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        guard(|| {
            let py = slf.py();
            let out = out
                .filter(|out| !out.is_none())
                .map(out_matrix)
                .transpose()?;
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
            let n = columns.checked_len().map_err(|e| errors::from_batch(&e))?;
            let fresh = out.is_none();
            let result = match out {
                Some(out) => {
                    if out.shape() != [n, NUM_FEATURES] {
                        return Err(errors::invalid_value(
                            Some("out"),
                            format!(
                                "out must have shape ({n}, {NUM_FEATURES}), got {:?}",
                                out.shape()
                            ),
                        ));
                    }
                    // A Fortran-ordered buffer is contiguous too, but rows must be adjacent in memory.
                    if !out.is_c_contiguous() {
                        return Err(errors::invalid_value(
                            Some("out"),
                            "out must be C-contiguous",
                        ));
                    }
                    out
                }
                // Zeroed through numpy (calloc: fresh pages, no extra pass) so nothing uninitialised is
                // ever exposed.
                None => PyArray2::<f64>::zeros(py, [n, NUM_FEATURES], false),
            };
            let mut writable = result
                .try_readwrite()
                .map_err(|e| errors::invalid_value(Some("out"), format!("out: {e}")))?;
            let rows = writable
                .as_slice_mut()
                .map_err(|_| errors::invalid_value(Some("out"), "out must be C-contiguous"))?;
            let done = AtomicBool::new(false);
            py.detach(|| {
                std::thread::scope(|scope| {
                    if fresh {
                        prefault::populate_in_background(scope, rows, &done);
                    }
                    // Detached: errors and panics are turned into Python exceptions once attached again.
                    let outcome = catch(|| compute_batch(&config, columns, rows));
                    done.store(true, Ordering::Relaxed);
                    outcome
                })
            })
            .map_err(panicked)?
            .map_err(|e| errors::from_batch(&e))?;
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
    fn bars_seen(&self, symbol: &Bound<'_, PyAny>) -> PyResult<u64> {
        guard(|| {
            let symbol = symbol_arg(symbol)?;
            Ok(self.inner.series(symbol).map_or(0, |s| s.bars()))
        })
    }

    /// Whether `symbol` is warm (no feature NaN any more); with no symbol, whether at least one symbol
    /// has state and all of them are warm.
    #[pyo3(signature = (symbol = None))]
    fn is_ready(&self, symbol: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        guard(|| Ok(self.inner.is_ready(maybe_symbol(symbol)?)))
    }

    /// Forgets `symbol`'s state, or every symbol's with no argument. Returns whether anything was forgotten.
    #[pyo3(signature = (symbol = None))]
    fn reset(&mut self, symbol: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        guard(|| Ok(self.inner.reset(maybe_symbol(symbol)?)))
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let state = serde_json::json!({ "format": STATE_FORMAT, "computer": &self.inner });
            // The state is plain numbers and strings: failing to write it would be a bug, not bad input.
            let written = serde_json::to_vec(&state)
                .map_err(|e| errors::internal(format!("cannot save the state: {e}")))?;
            Ok(PyBytes::new(py, &written))
        })
    }

    fn __setstate__(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let invalid = |e: &dyn std::fmt::Display| {
                errors::invalid_value(
                    Some("state"),
                    format!("invalid RustFeatureComputer state: {e}"),
                )
            };
            let mut value: serde_json::Value =
                serde_json::from_slice(bytes("state", state)?).map_err(|e| invalid(&e))?;
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
