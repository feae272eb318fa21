//! A validated OHLCV bar: the only input the feature computer accepts.

use crate::error::BarError;

/// One bar's prices and volume. Construct with [`Bar::new`], which enforces the invariants every
/// indicator relies on; the fields stay public for reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Bar {
    /// Accepts finite values with prices > 0, `low <= open <= high`, `low <= close <= high` and
    /// `volume >= 0`.
    #[inline]
    pub fn new(open: f64, high: f64, low: f64, close: f64, volume: f64) -> Result<Self, BarError> {
        for (field, value) in [
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        ] {
            if !value.is_finite() {
                return Err(BarError::NotFinite { field, value });
            }
        }
        for (field, value) in [
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
        ] {
            if value <= 0.0 {
                return Err(BarError::NotPositive { field, value });
            }
        }
        if volume < 0.0 {
            return Err(BarError::NegativeVolume { value: volume });
        }
        for (field, value) in [("open", open), ("close", close)] {
            if value < low {
                return Err(BarError::BelowLow { field, value, low });
            }
            if value > high {
                return Err(BarError::AboveHigh { field, value, high });
            }
        }
        Ok(Self {
            open,
            high,
            low,
            close,
            volume,
        })
    }
}
