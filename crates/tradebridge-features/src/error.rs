//! Errors: bad parameters, corrupt snapshots, invalid bars, mismatched batch columns.

use std::fmt;

/// A parameter out of range, or a serialized state that cannot be a valid computer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureError {
    OutOfRange {
        name: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
    FastNotBelowSlow {
        fast: usize,
        slow: usize,
    },
    CorruptState(&'static str),
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange {
                name,
                value,
                min,
                max,
            } => {
                write!(f, "{name} must be between {min} and {max}, got {value}")
            }
            Self::FastNotBelowSlow { fast, slow } => {
                write!(
                    f,
                    "fast_period ({fast}) must be smaller than slow_period ({slow})"
                )
            }
            Self::CorruptState(why) => write!(f, "corrupt feature state: {why}"),
        }
    }
}

impl std::error::Error for FeatureError {}

impl FeatureError {
    /// The parameter at fault, if one is (a corrupt state has none).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::OutOfRange { name, .. } => Some(name),
            Self::FastNotBelowSlow { .. } => Some("fast_period"),
            Self::CorruptState(_) => None,
        }
    }
}

/// Why a bar was rejected (see [`crate::Bar::new`]).
#[derive(Debug, Clone, PartialEq)]
pub enum BarError {
    NotFinite {
        field: &'static str,
        value: f64,
    },
    NotPositive {
        field: &'static str,
        value: f64,
    },
    NegativeVolume {
        value: f64,
    },
    BelowLow {
        field: &'static str,
        value: f64,
        low: f64,
    },
    AboveHigh {
        field: &'static str,
        value: f64,
        high: f64,
    },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFinite { field, value } => write!(f, "{field} must be finite, got {value}"),
            Self::NotPositive { field, value } => write!(f, "{field} must be > 0, got {value}"),
            Self::NegativeVolume { value } => write!(f, "volume must be >= 0, got {value}"),
            Self::BelowLow { field, value, low } => {
                write!(f, "{field} ({value}) must be >= low ({low})")
            }
            Self::AboveHigh { field, value, high } => {
                write!(f, "{field} ({value}) must be <= high ({high})")
            }
        }
    }
}

impl std::error::Error for BarError {}

impl BarError {
    /// The bar field at fault (`"close"`, `"volume"`).
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotFinite { field, .. }
            | Self::NotPositive { field, .. }
            | Self::BelowLow { field, .. }
            | Self::AboveHigh { field, .. } => field,
            Self::NegativeVolume { .. } => "volume",
        }
    }
}

/// Why a batch was rejected; nothing is written to the caller's state either way.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchError {
    Config(FeatureError),
    LengthMismatch {
        column: &'static str,
        len: usize,
        expected: usize,
    },
    OutputSize {
        len: usize,
        expected: usize,
    },
    InvalidBar {
        index: usize,
        error: BarError,
    },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => error.fmt(f),
            Self::LengthMismatch {
                column,
                len,
                expected,
            } => {
                write!(
                    f,
                    "column {column} has {len} values, expected {expected} (the length of open)"
                )
            }
            Self::OutputSize { len, expected } => {
                write!(f, "output buffer has {len} values, expected {expected}")
            }
            Self::InvalidBar { index, error } => write!(f, "bar {index}: {error}"),
        }
    }
}

impl std::error::Error for BatchError {}

impl BatchError {
    /// The parameter, column or bar field at fault (`"out"` for the output buffer).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Config(error) => error.field(),
            Self::LengthMismatch { column, .. } => Some(column),
            Self::OutputSize { .. } => Some("out"),
            Self::InvalidBar { error, .. } => Some(error.field()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_names_its_field() {
        let bar = BarError::NegativeVolume { value: -1.0 };
        assert_eq!(bar.field(), "volume");
        let above = BarError::AboveHigh {
            field: "close",
            value: 3.0,
            high: 2.0,
        };
        assert_eq!(
            BatchError::InvalidBar {
                index: 4,
                error: above
            }
            .field(),
            Some("close")
        );
        let slow = FeatureError::FastNotBelowSlow { fast: 5, slow: 3 };
        assert_eq!(BatchError::Config(slow).field(), Some("fast_period"));
        assert_eq!(FeatureError::CorruptState("x").field(), None);
        assert_eq!(
            BatchError::OutputSize {
                len: 1,
                expected: 12
            }
            .field(),
            Some("out")
        );
    }
}
