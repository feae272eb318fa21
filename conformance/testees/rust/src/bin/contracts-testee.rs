//! Conformance testee: the Rust codec behind the testee protocol of `conformance/PROTOCOL.md` (version
//! 1: one JSON request per line on stdin, one JSON response per line on stdout, in order), driven by
//! `tradebridge conformance codec`.
//!
//! Handshake: `{"id": 1, "op": "hello", "protocol": "1"}` ->
//!            `{"id": 1, "ok": true, "protocol": "1", "implementation": "...", "options": [...]}`.
//! Request:  `{"id": 7, "op": "decode", "message": "bar_update", "payload_hex": "7b..."}`
//! ops:      `decode` (payload -> canonical value), `encode` (value -> payload), `roundtrip` (payload ->
//!           decode -> encode -> payload), `decode_frame` (frame -> topic and value), `schemas` (the
//!           schemas derived from the Rust types), `codes` (every error code).
//! Optional: `"max_size": <bytes>` and `"allow_nan_tokens": true` for the decoding ops.
//! Response: `{"id": 7, "ok": true, "value": ..., "payload_hex": "...", "legacy": false}` or
//!           `{"id": 7, "ok": false, "code": "out_of_range", "path": "$.open", "message": "..."}`.
//! A panic is reported as `"code": "panic"` (and the harness fails on it); the process keeps serving.

use serde_json::{json, Map, Value};
use tradebridge_contracts::{
    decode_frame_noted, decode_noted, encode, encode_frame, schema, BarUpdate, ContractError,
    Decode, ErrorCode, Health, Heartbeat, Limits, MarketMessage, Message, OrderUpdate, QuoteUpdate,
    Readiness, Signal, TradeUpdate,
};

fn main() {
    tradebridge_testees::serve_lines(serve, |code, message| failure(code, "$", message));
}

fn failure(code: &str, path: &str, message: &str) -> Map<String, Value> {
    let value = json!({"ok": false, "code": code, "path": path, "message": message});
    value.as_object().cloned().unwrap_or_default()
}

fn refused(error: &ContractError) -> Map<String, Value> {
    failure(error.code.as_str(), &error.path, &error.message)
}

fn success(value: Value, payload: &[u8]) -> Map<String, Value> {
    let value = json!({"ok": true, "value": value, "payload_hex": to_hex(payload)});
    value.as_object().cloned().unwrap_or_default()
}

fn serve(request: &Value) -> Map<String, Value> {
    let field = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let limits = Limits {
        max_size: request
            .get("max_size")
            .and_then(Value::as_u64)
            .map_or(Limits::DEFAULT.max_size, |n| n as usize),
        allow_nan_tokens: request
            .get("allow_nan_tokens")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Limits::DEFAULT
    };
    let payload = match from_hex(field("payload_hex")) {
        Some(bytes) => bytes,
        None => return failure("bad_request", "$", "payload_hex is not hex"),
    };
    match field("op") {
        "hello" => {
            if field("protocol") != "1" {
                return failure(
                    "unsupported_protocol",
                    "$.protocol",
                    "this testee speaks protocol 1",
                );
            }
            let value = json!({
                "ok": true,
                "protocol": "1",
                "implementation": concat!("tradebridge-contracts (Rust) ", env!("CARGO_PKG_VERSION")),
                "options": ["max_size", "allow_nan_tokens"],
            });
            value.as_object().cloned().unwrap_or_default()
        }
        "decode" => match decode_named(field("message"), &payload, &limits) {
            Ok(Some((encoded, legacy))) => {
                let mut body = success(canonical(&encoded), &encoded);
                body.insert("legacy".into(), Value::from(legacy));
                body
            }
            Ok(None) => failure("bad_request", "$", "unknown message name"),
            Err(error) => refused(&error),
        },
        "encode" => {
            // Rust builds a typed message from the value (by decoding its JSON), then encodes it.
            let value = request.get("value").cloned().unwrap_or(Value::Null);
            let text = serde_json::to_vec(&value).unwrap_or_default();
            match decode_named(field("message"), &text, &limits) {
                Ok(Some((encoded, _))) => success(canonical(&encoded), &encoded),
                Ok(None) => failure("bad_request", "$", "unknown message name"),
                Err(error) => refused(&error),
            }
        }
        "roundtrip" => match decode_named(field("message"), &payload, &limits) {
            Ok(Some((encoded, _))) => match decode_named(field("message"), &encoded, &limits) {
                Ok(Some((again, _))) => success(canonical(&again), &again),
                Ok(None) => failure("bad_request", "$", "unknown message name"),
                Err(error) => refused(&error),
            },
            Ok(None) => failure("bad_request", "$", "unknown message name"),
            Err(error) => refused(&error),
        },
        "decode_frame" => match decode_frame_noted(&payload, &limits) {
            Ok((topic, message, notes)) => {
                let frame = encode_frame(&message);
                let mut body = success(canonical(&encode(&message)), &frame);
                body.insert("topic".into(), Value::from(topic.as_str()));
                body.insert("legacy".into(), Value::from(notes.legacy_type));
                body
            }
            Err(error) => refused(&error),
        },
        "schemas" => {
            let schemas: Map<String, Value> = schema::derived_schemas()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            success(Value::Object(schemas), b"")
        }
        "codes" => success(
            ErrorCode::ALL.iter().map(|code| code.as_str()).collect(),
            b"",
        ),
        other => failure("bad_request", "$", &format!("unknown op {other:?}")),
    }
}

/// Decode `payload` as the named message and return its encoding and whether the `SignalGenerated`
/// alias was read (`None` for an unknown name).
fn decode_named(
    name: &str,
    payload: &[u8],
    limits: &Limits,
) -> Result<Option<(Vec<u8>, bool)>, ContractError> {
    fn with<T: Decode + serde::Serialize>(
        payload: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Vec<u8>, bool)>, ContractError> {
        decode_noted::<T>(payload, limits)
            .map(|(message, notes)| Some((encode(&message), notes.legacy_type)))
    }
    match name {
        "bar_update" => with::<BarUpdate>(payload, limits),
        "trade_update" => with::<TradeUpdate>(payload, limits),
        "quote_update" => with::<QuoteUpdate>(payload, limits),
        "signal" => with::<Signal>(payload, limits),
        "order_update" => with::<OrderUpdate>(payload, limits),
        "heartbeat" => with::<Heartbeat>(payload, limits),
        "health" => with::<Health>(payload, limits),
        "readiness" => with::<Readiness>(payload, limits),
        "market_message" => with::<MarketMessage>(payload, limits),
        "message" => with::<Message>(payload, limits),
        _ => Ok(None),
    }
}

fn canonical(encoded: &[u8]) -> Value {
    serde_json::from_slice(encoded).unwrap_or(Value::Null)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
