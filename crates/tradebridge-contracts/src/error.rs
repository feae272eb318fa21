//! The one error catalogue of tradebridge, and the contract error that carries its codes.
//!
//! Every stable error code, Rust or Python, is declared once in the `catalogue!` invocation below: the enum, its
//! strings, its descriptions and [`ErrorCode::ALL`] are all generated from that one list, so none can drift
//! from another. Python reads the same list through `tradebridge._native.error_codes()`
//! (`tradebridge.errors.CODES`); the docs and the conformance vectors are checked against it by tests.

use std::fmt;

/// Declares the catalogue: `Variant = "snake_case_code", "one-line description";`.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $description:literal;)+) => {
        /// Why something was refused. The strings of [`ErrorCode::as_str`] are stable and identical to the
        /// Python SDK's error `code`s; tests and logs compare codes, never message texts. Codes are only
        /// ever added, never renamed or given another meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in catalogue order (the order of the table in `contracts/README.md`).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The stable snake_case string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// When the code is used, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $description,)+
                }
            }
        }
    };
}

catalogue! {
    InvalidUtf8 = "invalid_utf8", "the payload is not UTF-8 (anywhere, even in an ignored field)";
    InvalidJson = "invalid_json", "not JSON: truncated, garbage, `NaN`, `Infinity`";
    TooLarge = "too_large", "above the size limit";
    TooDeep = "too_deep", "nested deeper than 64";
    WrongType = "wrong_type", "a value of the wrong type: a string price, `null` in a required or optional field, a float timestamp, a non-object document; in the feature engine, an argument of the wrong Python type";
    MissingField = "missing_field", "a required field (or the `type` tag) is absent";
    UnknownType = "unknown_type", "the `type` tag names no message expected here";
    UnsupportedVersion = "unsupported_version", "`schema_version` has a major other than 1";
    InvalidVersion = "invalid_version", "`schema_version` is not `MAJOR.MINOR`";
    OutOfRange = "out_of_range", "a number outside its range, including `1e400`; in the feature engine also a non-finite bar value or a period out of bounds";
    InvalidEnum = "invalid_enum", "a string outside its enum";
    InvalidValue = "invalid_value", "a pattern, length or cross-field rule: symbols, names, RFC 3339 timestamps, feature count; in the feature engine `low <= open, close <= high`, buffer and column shapes, a saved state";
    BadFrame = "bad_frame", "a frame without a space, with an empty or non-ASCII topic";
    UnknownTopic = "unknown_topic", "a topic outside v1";
    TopicMismatch = "topic_mismatch", "a known message on the wrong topic (a `BarUpdate` on `signal`)";
    /// The only code that no codec reports and no vector uses.
    Internal = "internal", "never a verdict on input: a bug inside tradebridge, such as a Rust panic stopped at the Python boundary (`InternalError`)";
}

impl ErrorCode {
    /// The code whose [`as_str`](Self::as_str) is `text`.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that does not follow its contract: a stable `code`, the JSON `path` of the offending
/// value (`$` for the whole document, `$.features[3]` for one element) and a human-readable `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractError {
    pub code: ErrorCode,
    pub path: String,
    pub message: String,
}

impl ContractError {
    pub fn new(code: ErrorCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        ContractError {
            code,
            path: path.into(),
            message: message.into(),
        }
    }

    /// An error about the whole document.
    pub fn at_root(code: ErrorCode, message: impl Into<String>) -> Self {
        ContractError::new(code, "$", message)
    }
}

impl fmt::Display for ContractError {
    /// Same shape as Python's `str(ContractError)`: `code at path: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.code, self.path, self.message)
    }
}

impl std::error::Error for ContractError {}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Written as an exhaustive match so that a variant added outside the catalogue fails to compile here.
    fn position(code: ErrorCode) -> usize {
        use ErrorCode::*;
        match code {
            InvalidUtf8 => 0,
            InvalidJson => 1,
            TooLarge => 2,
            TooDeep => 3,
            WrongType => 4,
            MissingField => 5,
            UnknownType => 6,
            UnsupportedVersion => 7,
            InvalidVersion => 8,
            OutOfRange => 9,
            InvalidEnum => 10,
            InvalidValue => 11,
            BadFrame => 12,
            UnknownTopic => 13,
            TopicMismatch => 14,
            Internal => 15,
        }
    }

    #[test]
    fn every_variant_is_in_all_once() {
        let positions: Vec<usize> = ErrorCode::ALL.iter().map(|&c| position(c)).collect();
        assert_eq!(positions, (0..=15).collect::<Vec<_>>());
    }

    #[test]
    fn codes_are_unique_snake_case_and_described() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
            assert!(text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(!code.description().is_empty() && !code.description().contains('\n'));
            assert_eq!(ErrorCode::parse(text), Some(code));
            assert_eq!(code.to_string(), text);
        }
        assert_eq!(ErrorCode::parse("Out_Of_Range"), None);
    }
}
