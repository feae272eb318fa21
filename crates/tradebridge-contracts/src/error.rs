//! The one error type of the crate, with codes shared verbatim with Python's `ContractError.code`.

use std::fmt;

/// Why a message was refused. The strings of [`ErrorCode::as_str`] are stable and identical to the
/// Python SDK's `ContractError.code`; tests and logs compare codes, never message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    InvalidUtf8,
    InvalidJson,
    TooLarge,
    TooDeep,
    WrongType,
    MissingField,
    UnknownType,
    UnsupportedVersion,
    InvalidVersion,
    OutOfRange,
    InvalidEnum,
    InvalidValue,
    BadFrame,
    UnknownTopic,
    TopicMismatch,
}

impl ErrorCode {
    /// Every code, in the order `contracts/README.md` lists them.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::InvalidUtf8,
        ErrorCode::InvalidJson,
        ErrorCode::TooLarge,
        ErrorCode::TooDeep,
        ErrorCode::WrongType,
        ErrorCode::MissingField,
        ErrorCode::UnknownType,
        ErrorCode::UnsupportedVersion,
        ErrorCode::InvalidVersion,
        ErrorCode::OutOfRange,
        ErrorCode::InvalidEnum,
        ErrorCode::InvalidValue,
        ErrorCode::BadFrame,
        ErrorCode::UnknownTopic,
        ErrorCode::TopicMismatch,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooDeep => "too_deep",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidVersion => "invalid_version",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::InvalidEnum => "invalid_enum",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownTopic => "unknown_topic",
            ErrorCode::TopicMismatch => "topic_mismatch",
        }
    }

    /// The code whose [`as_str`](Self::as_str) is `text`.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
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
