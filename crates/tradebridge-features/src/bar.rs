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
        // One branch for the common case (batches validate every bar): `0 < low <= open, close <= high < inf`
        // bounds every price, and NaN fails every comparison. The detailed checks below only name the
        // problem.
        if Self::is_valid(open, high, low, close, volume) {
            return Ok(Self {
                open,
                high,
                low,
                close,
                volume,
            });
        }
        Self::explain(open, high, low, close, volume)
    }

    /// The rule [`Bar::new`] enforces, as one expression without branches (so that the batch can check
    /// a block of bars in vector lanes): `0 < low <= open, close <= high < inf` bounds every price, and
    /// NaN fails every comparison.
    #[inline(always)]
    // `&` throughout, not `Range::contains`'s `&&`: a branch would keep the block check out of vector
    // lanes
    #[allow(clippy::manual_range_contains)]
    pub(crate) fn is_valid(open: f64, high: f64, low: f64, close: f64, volume: f64) -> bool {
        (low > 0.0)
            & (low <= open)
            & (open <= high)
            & (low <= close)
            & (close <= high)
            & (high < f64::INFINITY)
            & (0.0 <= volume)
            & (volume < f64::INFINITY)
    }

    #[cold]
    fn explain(open: f64, high: f64, low: f64, close: f64, volume: f64) -> Result<Self, BarError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_check_accepts_exactly_what_the_detailed_checks_accept() {
        let values = [
            f64::NAN,
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            1.0,
            2.0,
            3.0,
            1e300,
            f64::INFINITY,
        ];
        let mut accepted = 0;
        for &o in &values {
            for &h in &values {
                for &l in &values {
                    for &c in &values {
                        for &v in &values {
                            let fast = Bar::new(o, h, l, c, v).is_ok();
                            assert_eq!(
                                fast,
                                Bar::explain(o, h, l, c, v).is_ok(),
                                "{o} {h} {l} {c} {v}"
                            );
                            accepted += usize::from(fast);
                        }
                    }
                }
            }
        }
        assert!(accepted > 100);
    }
}
