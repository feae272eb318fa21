//! `MarketBar`: one validated, immutable OHLCV bar, built from arguments or from a bus `BarUpdate`.

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyInt, PyString, PyType};
use pyo3::{ffi, intern};
use tradebridge_contracts::ErrorCode;
use tradebridge_features::Bar;

use crate::boundary::guard;
use crate::errors;

/// The fields of a `BarUpdate` that make a bar, in `MarketBar`'s argument order.
const FIELDS: [&str; 7] = [
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "timestamp",
];

/// `tradebridge.contracts.BarUpdate` (imported on the first `from_update`, whose caller has it loaded) and,
/// when its fields are plain object slots, their byte offsets in an instance.
struct BarUpdateClass {
    class: Py<PyType>,
    slots: Option<[ffi::Py_ssize_t; 7]>,
}

static BAR_UPDATE: PyOnceLock<BarUpdateClass> = PyOnceLock::new();

impl BarUpdateClass {
    fn get(py: Python<'_>) -> PyResult<&'static Self> {
        BAR_UPDATE.get_or_try_init(py, || {
            let class = py
                .import("tradebridge.contracts")?
                .getattr("BarUpdate")?
                .cast_into::<PyType>()?;
            let slots = slot_offsets(&class);
            Ok(Self {
                class: class.unbind(),
                slots,
            })
        })
    }
}

/// Where an instance of `class` keeps each field, read from the class's own member descriptors (the offset
/// CPython's `member_get` reads at), or `None` unless every field is an object slot. msgspec Structs keep
/// their fields in such slots; reading them directly saves a generic attribute look-up per field.
fn slot_offsets(class: &Bound<'_, PyType>) -> Option<[ffi::Py_ssize_t; 7]> {
    let mut offsets = [0; 7];
    for (offset, name) in offsets.iter_mut().zip(FIELDS) {
        let descriptor = class.getattr(name).ok()?;
        // SAFETY: reading the type pointer of a live object, and the address of a static type object.
        let is_member = unsafe {
            ffi::Py_TYPE(descriptor.as_ptr()) == std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type)
        };
        if !is_member {
            return None;
        }
        // SAFETY: a member descriptor is a PyMemberDescrObject; its d_member points into its class's member
        // table, which lives as long as the class (and `descriptor` keeps it alive while we read).
        let member = unsafe { *(*descriptor.as_ptr().cast::<ffi::PyMemberDescrObject>()).d_member };
        if member.type_code != ffi::Py_T_OBJECT_EX
            || member.flags & ffi::Py_RELATIVE_OFFSET != 0
            || member.offset <= 0
        {
            return None;
        }
        *offset = member.offset;
    }
    Some(offsets)
}

/// One field of a `BarUpdate` through `getattr`; a missing one (deleted with `del`) is `missing_field`.
#[inline]
fn field_of<'py>(
    update: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    update.getattr(name).map_err(|error| {
        if !error.is_instance_of::<PyAttributeError>(update.py()) {
            return error;
        }
        let field = FIELDS
            .into_iter()
            .find(|field| name.to_str().is_ok_and(|name| name == *field));
        errors::feature_error(
            ErrorCode::MissingField,
            format!("MarketBar.from_update: the BarUpdate has no {name}"),
            field,
        )
    })
}

/// The seven fields of `update`, an instance of exactly the class the offsets were read from, as new
/// references (the values must outlive any Python code that validation may run, such as `__float__`).
/// `None` if a slot is empty (a field deleted with `del`), which the caller reports through `getattr`.
#[inline]
fn read_slots<'py>(
    update: &Bound<'py, PyAny>,
    offsets: &[ffi::Py_ssize_t; 7],
) -> Option<[Bound<'py, PyAny>; 7]> {
    let base = update.as_ptr().cast::<u8>();
    // SAFETY: the instance's exact type is the class whose member table gave these offsets, so each is
    // inside the instance and holds a PyObject pointer or NULL (Py_T_OBJECT_EX).
    let slots =
        offsets.map(|offset| unsafe { base.offset(offset).cast::<*mut ffi::PyObject>().read() });
    if slots.iter().any(|slot| slot.is_null()) {
        return None;
    }
    // SAFETY: non-NULL object pointers held by a live instance; we are attached. Each becomes a new reference.
    Some(slots.map(|slot| unsafe { Bound::from_borrowed_ptr(update.py(), slot) }))
}

/// One OHLCV bar of one symbol, validated on construction and immutable afterwards.
#[pyclass(module = "tradebridge._native", frozen)]
pub struct MarketBar {
    pub(super) symbol: Py<PyString>,
    pub(super) bar: Bar,
    timestamp: i64,
}

/// A price or the volume: anything Python's `float()` takes without parsing text (floats, ints, numpy
/// scalars), as PyO3's own `f64` argument would.
#[inline]
fn number(field: &'static str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    value.extract::<f64>().map_err(|_| {
        if value.is_instance_of::<PyInt>() {
            errors::feature_error(
                ErrorCode::OutOfRange,
                format!("MarketBar: {field} is too large for a float"),
                Some(field),
            )
        } else {
            errors::wrong_type(
                field,
                format!(
                    "MarketBar: {field} must be a number, got {}",
                    type_name(value)
                ),
            )
        }
    })
}

pub(super) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_default()
}

impl MarketBar {
    /// The one validation both constructors share.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn build(
        symbol: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        timestamp: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let Ok(symbol) = symbol.cast::<PyString>() else {
            return Err(errors::wrong_type(
                "symbol",
                format!("MarketBar: symbol must be a str, got {}", type_name(symbol)),
            ));
        };
        // to_str also refuses lone surrogates, which the computer could not key its state by.
        let text = symbol.to_str().map_err(|_| {
            errors::invalid_value(Some("symbol"), "MarketBar: symbol is not valid UTF-8")
        })?;
        if text.is_empty() {
            return Err(errors::invalid_value(
                Some("symbol"),
                "MarketBar: symbol must not be empty",
            ));
        }
        let bar = Bar::new(
            number("open", open)?,
            number("high", high)?,
            number("low", low)?,
            number("close", close)?,
            number("volume", volume)?,
        )
        .map_err(|e| errors::from_bar("MarketBar: ", &e))?;
        let timestamp = timestamp.extract::<i64>().map_err(|_| {
            if timestamp.is_instance_of::<PyInt>() {
                let shown = timestamp.to_string();
                errors::feature_error(
                    ErrorCode::OutOfRange,
                    format!("MarketBar: timestamp must fit in 64 bits, got {shown}"),
                    Some("timestamp"),
                )
            } else {
                errors::wrong_type(
                    "timestamp",
                    format!(
                        "MarketBar: timestamp must be an int, got {}",
                        type_name(timestamp)
                    ),
                )
            }
        })?;
        Ok(Self {
            symbol: symbol.clone().unbind(),
            bar,
            timestamp,
        })
    }
}

#[pymethods]
impl MarketBar {
    #[new]
    #[pyo3(signature = (symbol, open, high, low, close, volume, timestamp))]
    fn new(
        symbol: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        timestamp: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| Self::build(symbol, open, high, low, close, volume, timestamp))
    }

    /// The bar of a bus `BarUpdate` (same fields; the timestamp stays in epoch milliseconds), validated
    /// as the constructor validates. Optional fields (`vwap`, `trade_count`) are not part of a bar.
    #[classmethod]
    fn from_update(_cls: &Bound<'_, PyType>, bar_update: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let py = bar_update.py();
            let expected = BarUpdateClass::get(py)?;
            let class = expected.class.bind(py);
            // SAFETY: reading the type pointer of a live object.
            let exact = unsafe { ffi::Py_TYPE(bar_update.as_ptr()) } == class.as_type_ptr();
            if exact {
                if let Some([symbol, open, high, low, close, volume, timestamp]) = expected
                    .slots
                    .as_ref()
                    .and_then(|offsets| read_slots(bar_update, offsets))
                {
                    return Self::build(&symbol, &open, &high, &low, &close, &volume, &timestamp);
                }
            } else if !bar_update.is_instance(class)? {
                return Err(errors::wrong_type(
                    "bar_update",
                    format!(
                        "MarketBar.from_update takes a tradebridge.contracts.BarUpdate, got {}",
                        type_name(bar_update)
                    ),
                ));
            }
            // A subclass (which may override a field with a property) or an emptied slot: plain getattr.
            let get = |name| field_of(bar_update, name);
            Self::build(
                &get(intern!(py, "symbol"))?,
                &get(intern!(py, "open"))?,
                &get(intern!(py, "high"))?,
                &get(intern!(py, "low"))?,
                &get(intern!(py, "close"))?,
                &get(intern!(py, "volume"))?,
                &get(intern!(py, "timestamp"))?,
            )
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

/// `bar` as a `MarketBar`, or `FeatureTypeError` naming what it is instead.
#[inline]
pub(super) fn market_bar<'a, 'py>(
    bar: &'a Bound<'py, PyAny>,
) -> PyResult<&'a Bound<'py, MarketBar>> {
    bar.cast::<MarketBar>().map_err(|_| {
        errors::wrong_type(
            "bar",
            format!("bar must be a MarketBar, got {}", type_name(bar)),
        )
    })
}
