//! Value rules of contract v1, each one type that both enforces the rule while decoding and describes it
//! as JSON Schema (through `schemars`), so the drift check compares the schema with what the code does.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserialize, Deserializer, Error as _};

use crate::error::ErrorCode;

/// Largest finite `f64`; a JSON Schema `maximum` at this bound rejects `1e400` (read as Infinity).
pub const FLOAT_MAX: f64 = f64::MAX;
/// Integers above 2^53 - 1 lose precision in any peer that reads numbers as doubles.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Most feature values one signal may carry.
pub const MAX_FEATURES: usize = 4096;

/// A refused value: its code and a short explanation.
pub(crate) type Violation = (ErrorCode, String);

/// One value rule: what it accepts (`check`) and how the schema says so (`JsonSchema`).
pub(crate) trait Rule: JsonSchema {
    type Value;
    fn check(value: &Self::Value) -> Result<(), Violation>;
}

// Codes travel through serde's string-only custom errors between two unit separators.
const MARK: char = '\u{1f}';

pub(crate) fn tagged_message(code: ErrorCode, message: &str) -> String {
    format!("{MARK}{}{MARK}{message}", code.as_str())
}

/// The code and message of an error made by [`tagged_message`], if `text` is one.
pub(crate) fn untag_message(text: &str) -> Option<(ErrorCode, &str)> {
    let rest = text.strip_prefix(MARK)?;
    let (code, message) = rest.split_once(MARK)?;
    Some((ErrorCode::parse(code)?, message))
}

/// `deserialize_with` adapter: decode the field's value, then apply rule `R`.
pub(crate) fn rule<'de, D, R>(deserializer: D) -> Result<R::Value, D::Error>
where
    D: Deserializer<'de>,
    R: Rule,
    R::Value: Deserialize<'de>,
{
    let value = R::Value::deserialize(deserializer)?;
    R::check(&value).map_err(|(code, message)| D::Error::custom(tagged_message(code, &message)))?;
    Ok(value)
}

/// `deserialize_with` adapter for optional (absent-or-valid, never null) fields.
pub(crate) fn optional<'de, D, R>(deserializer: D) -> Result<Option<R::Value>, D::Error>
where
    D: Deserializer<'de>,
    R: Rule,
    R::Value: Deserialize<'de>,
{
    rule::<D, R>(deserializer).map(Some)
}

fn out_of_range(message: impl Into<String>) -> Violation {
    (ErrorCode::OutOfRange, message.into())
}

fn invalid_value(message: impl Into<String>) -> Violation {
    (ErrorCode::InvalidValue, message.into())
}

macro_rules! number_rule {
    ($(#[$doc:meta])* $name:ident, $accepts:expr, $explain:literal, $schema:tt) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl Rule for $name {
            type Value = f64;
            fn check(value: &f64) -> Result<(), Violation> {
                let accepts: fn(f64) -> bool = $accepts;
                if accepts(*value) { Ok(()) } else { Err(out_of_range(format!(concat!($explain, ", got {}"), value))) }
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

number_rule!(
    /// Prices: finite and > 0.
    Price, |v| v > 0.0 && v <= FLOAT_MAX, "must be finite and > 0",
    {"type": "number", "exclusiveMinimum": 0, "maximum": FLOAT_MAX}
);
number_rule!(
    /// Sizes and volumes: finite and >= 0.
    Size, |v| (0.0..=FLOAT_MAX).contains(&v), "must be finite and >= 0",
    {"type": "number", "minimum": 0, "maximum": FLOAT_MAX}
);
number_rule!(
    /// Order and trade quantities: finite and > 0.
    Quantity, |v| v > 0.0 && v <= FLOAT_MAX, "must be finite and > 0",
    {"type": "number", "exclusiveMinimum": 0, "maximum": FLOAT_MAX}
);
number_rule!(
    /// Signal strength: 0..=1.
    Strength, |v| (0.0..=1.0).contains(&v), "must be within 0..=1",
    {"type": "number", "minimum": 0, "maximum": 1}
);

/// Integers 0..=2^53-1: epoch milliseconds, sequence numbers, counts.
pub(crate) struct SafeInteger;

impl Rule for SafeInteger {
    type Value = u64;
    fn check(value: &u64) -> Result<(), Violation> {
        if *value <= MAX_SAFE_INTEGER {
            Ok(())
        } else {
            Err(out_of_range(format!("must be <= 2^53 - 1, got {value}")))
        }
    }
}

impl JsonSchema for SafeInteger {
    fn schema_name() -> Cow<'static, str> {
        "SafeInteger".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER})
    }
}

fn check_length(value: &str, min: usize, max: usize) -> Result<(), Violation> {
    // JSON Schema counts code points, not bytes.
    let length = if value.is_ascii() {
        value.len()
    } else {
        value.chars().count()
    };
    if length < min || length > max {
        return Err(invalid_value(format!(
            "length must be within {min}..={max}, got {length}"
        )));
    }
    Ok(())
}

macro_rules! text_rule {
    ($(#[$doc:meta])* $name:ident, $min:literal, $max:literal) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl Rule for $name {
            type Value = String;
            fn check(value: &String) -> Result<(), Violation> {
                check_length(value, $min, $max)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "minLength": $min, "maxLength": $max})
            }
        }
    };
}

text_rule!(
    /// Component names, publisher ids, trade ids: 1..=64 characters.
    Name64, 1, 64
);
text_rule!(
    /// Exchange codes: 1..=16 characters.
    Name16, 1, 16
);
text_rule!(
    /// Order ids: 1..=128 characters.
    Name128, 1, 128
);

pub(crate) const SIGNAL_ID_PATTERN: &str = "^[A-Za-z0-9._-]+$";
/// An order for a signal is `tb-<signal_id>`, and Alpaca's `client_order_id` holds 48 characters.
pub const MAX_SIGNAL_ID: usize = 45;

/// Signal ids (v1.1): 1..=45 characters of [`SIGNAL_ID_PATTERN`].
pub(crate) struct SignalId;

impl Rule for SignalId {
    type Value = String;
    fn check(value: &String) -> Result<(), Violation> {
        check_length(value, 1, MAX_SIGNAL_ID)?;
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"._-".contains(b);
        if value.as_bytes().iter().all(allowed) {
            Ok(())
        } else {
            Err(invalid_value(format!(
                "signal_id {value:?} does not match {SIGNAL_ID_PATTERN}"
            )))
        }
    }
}

impl JsonSchema for SignalId {
    fn schema_name() -> Cow<'static, str> {
        "SignalId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "maxLength": MAX_SIGNAL_ID, "pattern": SIGNAL_ID_PATTERN})
    }
}

pub(crate) const SYMBOL_PATTERN: &str = "^[A-Z0-9][A-Z0-9./:-]*$";

/// Ticker symbols: 1..=32 characters matching [`SYMBOL_PATTERN`] (`AAPL`, `BRK.B`, `BTC/USD`).
pub(crate) struct Symbol;

pub(crate) fn is_symbol(value: &str) -> bool {
    let bytes = value.as_bytes();
    let head = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    match bytes.split_first() {
        Some((first, rest)) => head(first) && rest.iter().all(|b| head(b) || b"./:-".contains(b)),
        None => false,
    }
}

impl Rule for Symbol {
    type Value = String;
    fn check(value: &String) -> Result<(), Violation> {
        check_length(value, 1, 32)?;
        if is_symbol(value) {
            Ok(())
        } else {
            Err(invalid_value(format!(
                "symbol {value:?} does not match {SYMBOL_PATTERN}"
            )))
        }
    }
}

impl JsonSchema for Symbol {
    fn schema_name() -> Cow<'static, str> {
        "Symbol".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "maxLength": 32, "pattern": SYMBOL_PATTERN})
    }
}

pub(crate) const RFC3339_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$";

/// RFC 3339 date-times as the guide's HTTP bodies write them (`2025-10-21T17:00:00Z`).
pub(crate) struct Rfc3339;

/// Exactly [`RFC3339_PATTERN`], written out by hand: this crate has no regex engine.
pub(crate) fn is_rfc3339(value: &str) -> bool {
    fn digits(bytes: &[u8]) -> bool {
        bytes.iter().all(u8::is_ascii_digit)
    }
    let b = value.as_bytes();
    if b.len() < 20 || !value.is_ascii() {
        return false;
    }
    let date_time = digits(&b[0..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10])
        && b[10] == b'T'
        && digits(&b[11..13])
        && b[13] == b':'
        && digits(&b[14..16])
        && b[16] == b':'
        && digits(&b[17..19]);
    if !date_time {
        return false;
    }
    let mut rest = &b[19..];
    if let Some((b'.', tail)) = rest.split_first() {
        let fraction = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if fraction == 0 {
            return false;
        }
        rest = &tail[fraction..];
    }
    match rest {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] => b"+-".contains(sign) && digits(&[*h1, *h2, *m1, *m2]),
        _ => false,
    }
}

impl Rule for Rfc3339 {
    type Value = String;
    fn check(value: &String) -> Result<(), Violation> {
        if is_rfc3339(value) {
            Ok(())
        } else {
            Err(invalid_value(format!(
                "{value:?} is not an RFC 3339 date-time"
            )))
        }
    }
}

impl JsonSchema for Rfc3339 {
    fn schema_name() -> Cow<'static, str> {
        "Rfc3339".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": RFC3339_PATTERN})
    }
}

/// Signal features: null, or at most [`MAX_FEATURES`] numbers-or-null (NaN is written as null).
pub(crate) struct Features;

impl Rule for Features {
    type Value = Option<Vec<Option<f64>>>;
    fn check(value: &Self::Value) -> Result<(), Violation> {
        match value {
            Some(items) if items.len() > MAX_FEATURES => Err(invalid_value(format!(
                "at most {MAX_FEATURES} features, got {}",
                items.len()
            ))),
            _ => Ok(()),
        }
    }
}

impl JsonSchema for Features {
    fn schema_name() -> Cow<'static, str> {
        "Features".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["array", "null"],
            "maxItems": MAX_FEATURES,
            "items": {"type": ["number", "null"], "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX}
        })
    }
}

/// Signal metadata: null or an object of any JSON values (serde_json itself refuses non-finite numbers).
pub(crate) struct Metadata;

impl JsonSchema for Metadata {
    fn schema_name() -> Cow<'static, str> {
        "Metadata".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["object", "null"], "additionalProperties": {"$ref": "#/$defs/json_value"}})
    }
}

/// `filled_avg_price`: required, a price or null (nothing filled yet).
pub(crate) struct NullablePrice;

impl Rule for NullablePrice {
    type Value = Option<f64>;
    fn check(value: &Option<f64>) -> Result<(), Violation> {
        value.as_ref().map_or(Ok(()), Price::check)
    }
}

impl JsonSchema for NullablePrice {
    fn schema_name() -> Cow<'static, str> {
        "NullablePrice".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [Price::json_schema(generator), {"type": "null"}]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_follow_the_pattern() {
        for good in ["AAPL", "BRK.B", "BTC/USD", "ES:F", "0DTE", "A-B"] {
            assert!(is_symbol(good), "{good}");
        }
        for bad in ["", "aapl", ".A", "A B", "AAPL\n", "ÄPL", "A_B"] {
            assert!(!is_symbol(bad), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_follow_rfc3339() {
        for good in [
            "2025-10-21T17:00:00Z",
            "2025-10-21T17:00:00.123456Z",
            "2025-10-21T17:00:00+02:00",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "2025-10-21 17:00:00Z",
            "2025-10-21T17:00:00",
            "2025-10-21T17:00:00.Z",
            "2025-10-21T17:00:00+0200",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn tagged_messages_round_trip() {
        let text = tagged_message(ErrorCode::OutOfRange, "too big");
        assert_eq!(
            untag_message(&text),
            Some((ErrorCode::OutOfRange, "too big"))
        );
        assert_eq!(untag_message("plain"), None);
    }
}
