//! `decode` and `encode`: limits first, then the `type` tag, then one serde pass that validates every
//! field. Errors are classified (and given a JSON path, by decoding once more with path tracking) only
//! after decoding failed, so valid input pays nothing for good error reports. A `BarUpdate` in the
//! common shape is first offered to a single-pass reader (`fast`) that answers only when it is sure.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ContractError, ErrorCode};
use crate::lenient::{nan_tokens_as_null, retag_signal, Leniency};
use crate::messages::{
    BarUpdate, BusMessage, Health, Heartbeat, MarketMessage, Message, OrderUpdate, QuoteUpdate,
    Readiness, Signal, TradeUpdate,
};
use crate::rules::untag_message;
use crate::version::split_version;

pub const DEFAULT_MAX_SIZE: usize = 1024 * 1024;
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// What a peer can make us parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload in bytes (`too_large` above).
    pub max_size: usize,
    /// Deepest nesting of arrays and objects (`too_deep` above).
    pub max_depth: usize,
    /// Read the bare tokens `NaN`, `Infinity` and `-Infinity` directly inside a Signal's `features` as
    /// null (what Python's `json.dumps` writes for warm-up features). Off by default: they are not JSON,
    /// and anywhere else they stay `invalid_json`.
    pub allow_nan_tokens: bool,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_size: DEFAULT_MAX_SIZE,
        max_depth: DEFAULT_MAX_DEPTH,
        allow_nan_tokens: false,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A contract message that [`decode`] can produce.
pub trait Decode: Sized {
    /// Decode a document that already passed the limits.
    #[doc(hidden)]
    fn decode_json(json: &str) -> Result<Self, ContractError>;

    /// The message if a single-pass reader is sure `bytes` is a valid one (see `fast`); `None` means
    /// "not sure", and the full path runs.
    #[doc(hidden)]
    fn decode_fast(_bytes: &[u8]) -> Option<Self> {
        None
    }

    /// Whether a `Signal` is among what this decodes (so the `SignalGenerated` alias applies).
    #[doc(hidden)]
    const READS_SIGNAL: bool = false;
}

/// Decode and validate one message with the default [`Limits`].
pub fn decode<T: Decode>(bytes: &[u8]) -> Result<T, ContractError> {
    decode_with(bytes, &Limits::DEFAULT)
}

/// Decode and validate one message.
pub fn decode_with<T: Decode>(bytes: &[u8], limits: &Limits) -> Result<T, ContractError> {
    decode_noted(bytes, limits).map(|(message, _)| message)
}

/// [`decode_with`], also saying what it had to forgive (a subscriber counts `legacy` from it).
pub fn decode_noted<T: Decode>(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(T, Leniency), ContractError> {
    // A document the fast reader accepts is valid UTF-8, one flat object (depth 1) and a valid
    // message, so within the size limit every check below would pass and serde would agree.
    if bytes.len() <= limits.max_size && limits.max_depth >= 1 {
        if let Some(message) = T::decode_fast(bytes) {
            return Ok((message, Leniency::default()));
        }
    }
    decode_serde_noted(bytes, limits)
}

/// [`decode_with`] without the fast reader: the serde_json path it must always agree with.
#[doc(hidden)]
pub fn decode_with_serde<T: Decode>(bytes: &[u8], limits: &Limits) -> Result<T, ContractError> {
    decode_serde_noted(bytes, limits).map(|(message, _)| message)
}

fn decode_serde_noted<T: Decode>(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(T, Leniency), ContractError> {
    let json = check_limits(bytes, limits)?;
    let mut notes = Leniency::default();
    let error = match ensure_object(json).and_then(|()| T::decode_json(json)) {
        Ok(message) => return Ok((message, notes)),
        Err(error) => error,
    };
    // The limits held for the document as sent; a rewrite only swaps tokens, so they still hold.
    let rewritten = match error.code {
        ErrorCode::InvalidJson if limits.allow_nan_tokens => nan_tokens_as_null(bytes)
            .and_then(|fixed| String::from_utf8(fixed).ok())
            .inspect(|_| notes.nan_tokens = true),
        _ => None,
    };
    let (json, error) = match rewritten {
        Some(fixed) => match ensure_object(&fixed).and_then(|()| T::decode_json(&fixed)) {
            Ok(message) => return Ok((message, notes)),
            Err(error) => (Cow::Owned(fixed), error),
        },
        None => (Cow::Borrowed(json), error),
    };
    if T::READS_SIGNAL && error.code == ErrorCode::UnknownType && error.path == "$.type" {
        if let Some(retagged) = retag_signal(&json) {
            notes.legacy_type = true;
            return T::decode_json(&retagged)
                .map(|message| (message, notes))
                .map_err(|error| prefer_version_error(&retagged, error));
        }
    }
    Err(prefer_version_error(&json, error))
}

/// Compact JSON of one message (`type` first for bus messages, `schema_version` always written).
pub fn encode<T: Serialize + ?Sized>(message: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    encode_into(message, &mut out);
    out
}

/// Append the JSON of one message to `out`.
pub fn encode_into<T: Serialize + ?Sized>(message: &T, out: &mut Vec<u8>) {
    // Contract types hold only strings, numbers, booleans and string-keyed maps: serde_json cannot fail
    // on them (NaN and infinities are written as null), and writing to a Vec does no I/O.
    serde_json::to_writer(out, message).expect("contract messages always serialize");
}

/// Check a constructed message against its contract by a full encode/decode round trip.
pub fn validate<T: Serialize + Decode>(message: &T) -> Result<T, ContractError> {
    decode(&encode(message))
}

fn check_limits<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, ContractError> {
    if bytes.len() > limits.max_size {
        return Err(ContractError::at_root(
            ErrorCode::TooLarge,
            format!(
                "payload is {} bytes, the limit is {}",
                bytes.len(),
                limits.max_size
            ),
        ));
    }
    let json = std::str::from_utf8(bytes).map_err(|error| {
        ContractError::at_root(
            ErrorCode::InvalidUtf8,
            format!("byte {} is not valid UTF-8", error.valid_up_to()),
        )
    })?;
    // Counting is cheap and vectorizes; the exact, string-aware scan runs only when the count is too high.
    let openers = bytes.iter().filter(|&&b| b == b'{' || b == b'[').count();
    if openers > limits.max_depth {
        check_depth(bytes, limits.max_depth)?;
    }
    Ok(json)
}

/// Every contract message is a JSON object. serde's derived structs would also accept an array of the
/// fields in order, which the schema (and msgspec) refuse.
fn ensure_object(json: &str) -> Result<(), ContractError> {
    let start = json.trim_start_matches([' ', '\t', '\n', '\r']);
    // Like msgspec: an array is refused on sight, a scalar once it has been read (a malformed scalar is
    // invalid JSON), whatever follows it.
    let first_scalar_parses = || {
        let mut values =
            serde_json::Deserializer::from_str(start).into_iter::<serde::de::IgnoredAny>();
        matches!(values.next(), Some(Ok(_)))
    };
    match start.as_bytes().first() {
        Some(b'{') => Ok(()),
        Some(b'[') => Err(not_an_object()),
        Some(b'-' | b'0'..=b'9') if number_token_is_valid(start.as_bytes()) => Err(not_an_object()),
        Some(b'-' | b'0'..=b'9') => Err(ContractError::at_root(
            ErrorCode::InvalidJson,
            "malformed number",
        )),
        Some(_) if first_scalar_parses() => Err(not_an_object()),
        _ => Err(ContractError::at_root(
            ErrorCode::InvalidJson,
            "not a JSON document",
        )),
    }
}

/// Whether the number at the start of `bytes` is well formed, reading as far as msgspec does: digits,
/// then a fraction and an exponent once begun must be complete; whatever follows is not looked at.
fn number_token_is_valid(bytes: &[u8]) -> bool {
    let digits = |at: usize| {
        bytes[at.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(bytes.first() == Some(&b'-'));
    let integer = digits(at);
    // JSON forbids leading zeros (`01`).
    if integer == 0 || (integer > 1 && bytes[at] == b'0') {
        return false;
    }
    at += integer;
    if bytes.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        return digits(at) > 0;
    }
    true
}

fn not_an_object() -> ContractError {
    ContractError::at_root(ErrorCode::WrongType, "expected a JSON object")
}

fn check_depth(bytes: &[u8], max_depth: usize) -> Result<(), ContractError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ContractError::at_root(
                        ErrorCode::TooDeep,
                        format!("nesting deeper than {max_depth} levels"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// An unknown major version beats any other error: the rest was written for another contract.
fn prefer_version_error(json: &str, error: ContractError) -> ContractError {
    if error.code == ErrorCode::InvalidJson {
        return error;
    }
    let Ok(serde_json::Value::Object(document)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return error;
    };
    match document
        .get("schema_version")
        .and_then(|v| v.as_str())
        .and_then(split_version)
    {
        Some((major, _)) if major != crate::SchemaVersion::MAJOR => ContractError::new(
            ErrorCode::UnsupportedVersion,
            "$.schema_version",
            format!("major version {major} is not supported (this is v1)"),
        ),
        _ => error,
    }
}

/// One serde pass; on failure a second, path-tracking pass finds where it failed.
pub(crate) fn parse<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, ContractError> {
    serde_json::from_str(json).map_err(|error| explain::<T>(json, error))
}

#[cold]
fn explain<'a, T: Deserialize<'a>>(json: &'a str, error: serde_json::Error) -> ContractError {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(tracked) => classify(json_path(tracked.path()), tracked.inner()),
        Ok(_) => classify("$".to_owned(), &error),
    }
}

fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn classify(path: String, error: &serde_json::Error) -> ContractError {
    use serde_json::error::Category;
    let full = error.to_string();
    let text = match full.rfind(" at line ") {
        Some(position) if error.line() > 0 => &full[..position],
        _ => full.as_str(),
    };
    let (code, path) = match error.classify() {
        Category::Eof | Category::Io => (ErrorCode::InvalidJson, "$".to_owned()),
        Category::Syntax if text.starts_with("number out of range") => {
            (ErrorCode::OutOfRange, path)
        }
        Category::Syntax if text.starts_with("recursion limit") => {
            (ErrorCode::TooDeep, "$".to_owned())
        }
        Category::Syntax => (ErrorCode::InvalidJson, "$".to_owned()),
        Category::Data => {
            if let Some((code, message)) = untag_message(text) {
                return ContractError::new(code, path, message);
            }
            if let Some(field) = text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                (ErrorCode::MissingField, format!("{path}.{field}"))
            } else if text.starts_with("invalid type:") {
                (ErrorCode::WrongType, path)
            } else if text.starts_with("unknown variant") {
                (ErrorCode::InvalidEnum, path)
            } else if text.starts_with("invalid value: integer") {
                (ErrorCode::OutOfRange, path)
            } else {
                (ErrorCode::InvalidValue, path)
            }
        }
    };
    ContractError::new(code, path, text)
}

/// The `type` tag, if any. Our encoders write it first, so that case is read without parsing; anything
/// else (another key order, escapes, whitespace) takes one extra pass that skips every other field.
pub(crate) fn peek_tag(json: &str) -> Result<Option<Cow<'_, str>>, ContractError> {
    if let Some(rest) = json.strip_prefix("{\"type\":\"") {
        if let Some(end) = rest.find('"') {
            let tag = &rest[..end];
            if !tag.contains('\\') {
                return Ok(Some(Cow::Borrowed(tag)));
            }
        }
    }
    #[derive(Deserialize)]
    struct TagOnly<'a> {
        // `"type": null` is a wrong type, not an absent tag.
        #[serde(rename = "type", borrow, default, deserialize_with = "present")]
        kind: Option<Cow<'a, str>>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Cow<'de, str>>, D::Error> {
        Cow::<'de, str>::deserialize(deserializer).map(Some)
    }
    parse::<TagOnly<'_>>(json).map(|found| found.kind)
}

pub(crate) fn missing_tag() -> ContractError {
    ContractError::new(ErrorCode::MissingField, "$.type", "missing field `type`")
}

pub(crate) fn unknown_tag(tag: &str, expected: &str) -> ContractError {
    ContractError::new(
        ErrorCode::UnknownType,
        "$.type",
        format!("type {tag:?} is not {expected}"),
    )
}

fn decode_bus<T: BusMessage + DeserializeOwned>(json: &str) -> Result<T, ContractError> {
    match peek_tag(json)? {
        None if T::TAG_REQUIRED => return Err(missing_tag()),
        Some(tag) if tag != T::TYPE => return Err(unknown_tag(&tag, T::TYPE)),
        _ => {}
    }
    parse(json)
}

macro_rules! decode_bus_message {
    ($($name:ident),*) => {$(
        impl Decode for $name {
            fn decode_json(json: &str) -> Result<Self, ContractError> {
                decode_bus(json)
            }
        }
    )*};
}

impl Decode for BarUpdate {
    fn decode_fast(bytes: &[u8]) -> Option<Self> {
        crate::fast::bar_update(bytes)
    }

    fn decode_json(json: &str) -> Result<Self, ContractError> {
        decode_bus(json)
    }
}

decode_bus_message!(TradeUpdate, QuoteUpdate, OrderUpdate, Heartbeat);

impl Decode for Signal {
    const READS_SIGNAL: bool = true;

    fn decode_json(json: &str) -> Result<Self, ContractError> {
        decode_bus(json)
    }
}

impl Decode for MarketMessage {
    fn decode_fast(bytes: &[u8]) -> Option<Self> {
        crate::fast::bar_update(bytes).map(MarketMessage::BarUpdate)
    }

    fn decode_json(json: &str) -> Result<Self, ContractError> {
        match peek_tag(json)?.as_deref() {
            Some(BarUpdate::TYPE) => parse(json).map(MarketMessage::BarUpdate),
            Some(TradeUpdate::TYPE) => parse(json).map(MarketMessage::TradeUpdate),
            Some(QuoteUpdate::TYPE) => parse(json).map(MarketMessage::QuoteUpdate),
            Some(other) => Err(unknown_tag(
                other,
                "a market message (BarUpdate, TradeUpdate, QuoteUpdate)",
            )),
            None => Err(missing_tag()),
        }
    }
}

impl Decode for Message {
    const READS_SIGNAL: bool = true;

    fn decode_fast(bytes: &[u8]) -> Option<Self> {
        crate::fast::bar_update(bytes).map(Message::BarUpdate)
    }

    fn decode_json(json: &str) -> Result<Self, ContractError> {
        match peek_tag(json)?.as_deref() {
            Some(BarUpdate::TYPE) => parse(json).map(Message::BarUpdate),
            Some(TradeUpdate::TYPE) => parse(json).map(Message::TradeUpdate),
            Some(QuoteUpdate::TYPE) => parse(json).map(Message::QuoteUpdate),
            Some(Signal::TYPE) => parse(json).map(Message::Signal),
            Some(OrderUpdate::TYPE) => parse(json).map(Message::OrderUpdate),
            Some(Heartbeat::TYPE) => parse(json).map(Message::Heartbeat),
            Some(other) => Err(unknown_tag(other, "a contract v1 message")),
            None => Err(missing_tag()),
        }
    }
}

impl Decode for Health {
    fn decode_json(json: &str) -> Result<Self, ContractError> {
        parse(json)
    }
}

impl Decode for Readiness {
    fn decode_json(json: &str) -> Result<Self, ContractError> {
        parse(json)
    }
}
