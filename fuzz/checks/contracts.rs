//! The properties the contract fuzz targets check, shared word for word by `fuzz_targets/*.rs` (libFuzzer,
//! nightly) and `crates/tradebridge-contracts/tests/fuzz_corpus.rs` (corpus replay, stable). A violated
//! property panics, which libFuzzer records as a crash and the replay test as a failing input.

// Each fuzz target uses one of these checks; the replay test uses them all.
#![allow(dead_code)]

use std::fmt::Debug;

use serde::Serialize;
use tradebridge_contracts::{
    decode_frame_with, decode_with, decode_with_serde, encode, encode_frame, split_frame,
    BarUpdate, ContractError, Decode, ErrorCode, Health, Heartbeat, Limits, MarketMessage, Message,
    OrderUpdate, QuoteUpdate, Readiness, Signal, TradeUpdate, DEFAULT_MAX_DEPTH,
};

/// Small enough that short inputs reach the `too_large` and `too_deep` paths too.
const TIGHT: Limits = Limits {
    max_size: 96,
    max_depth: 1,
    ..Limits::DEFAULT
};

/// The lenient reading of Python's warm-up `NaN` features rewrites bytes before decoding: fuzzed too.
const NAN_TOKENS: Limits = Limits {
    allow_nan_tokens: true,
    ..Limits::DEFAULT
};

const EVERY_LIMITS: [Limits; 3] = [Limits::DEFAULT, TIGHT, NAN_TOKENS];

/// Our own encoding of a message must decode whatever its size: only the input's limits are under test.
fn roomy(json: &[u8]) -> Limits {
    Limits {
        max_size: json.len().max(Limits::DEFAULT.max_size),
        max_depth: DEFAULT_MAX_DEPTH,
        ..Limits::DEFAULT
    }
}

fn refusal_is_a_verdict(error: &ContractError, data: &[u8]) {
    assert_ne!(
        error.code,
        ErrorCode::Internal,
        "internal error on {:?}: {error}",
        String::from_utf8_lossy(data)
    );
    assert!(error.path.starts_with('$'), "path {:?}", error.path);
}

/// Decoding never panics; a refusal has a real code; an accepted message survives encode -> decode
/// unchanged, and its encoding is a fixed point (floats compared through their shortest text, so bit
/// for bit, `-0.0` included).
fn round_trip<T>(data: &[u8], limits: &Limits)
where
    T: Decode + Serialize + PartialEq + Debug,
{
    match decode_with::<T>(data, limits) {
        Ok(message) => {
            let json = encode(&message);
            let again = decode_with::<T>(&json, &roomy(&json)).unwrap_or_else(|error| {
                panic!(
                    "{} decoded from {:?} but its encoding {:?} is refused: {error}",
                    std::any::type_name::<T>(),
                    String::from_utf8_lossy(data),
                    String::from_utf8_lossy(&json)
                )
            });
            assert_eq!(again, message, "{:?}", String::from_utf8_lossy(data));
            assert_eq!(
                String::from_utf8_lossy(&encode(&again)),
                String::from_utf8_lossy(&json),
                "encoding is not a fixed point"
            );
        }
        Err(error) => refusal_is_a_verdict(&error, data),
    }
}

/// Every message kind, through the public `decode_with`, with the default and with tight limits.
pub fn contracts_decode(data: &[u8]) {
    for limits in EVERY_LIMITS {
        round_trip::<Message>(data, &limits);
        round_trip::<MarketMessage>(data, &limits);
        round_trip::<BarUpdate>(data, &limits);
        round_trip::<TradeUpdate>(data, &limits);
        round_trip::<QuoteUpdate>(data, &limits);
        round_trip::<Signal>(data, &limits);
        round_trip::<OrderUpdate>(data, &limits);
        round_trip::<Heartbeat>(data, &limits);
        round_trip::<Health>(data, &limits);
        round_trip::<Readiness>(data, &limits);
    }
}

/// Every field of a bar, floats as bits, so `0.1 + 1 ulp` never compares equal to `0.1`.
fn bits(bar: &BarUpdate) -> impl PartialEq + Debug {
    (
        bar.symbol.clone(),
        [bar.open, bar.high, bar.low, bar.close, bar.volume].map(f64::to_bits),
        bar.timestamp,
        bar.vwap.map(f64::to_bits),
        bar.trade_count,
        bar.schema_version.as_str().to_owned(),
        bar.seq,
        bar.source.clone(),
    )
}

/// `decode_with` (single-pass reader first) and `decode_with_serde` agree: the same bar bit for bit, or
/// the same error code, path and text.
fn same<T: Decode>(data: &[u8], limits: &Limits, as_bar: fn(&T) -> Option<&BarUpdate>) {
    let fast = decode_with::<T>(data, limits);
    let serde = decode_with_serde::<T>(data, limits);
    let text = String::from_utf8_lossy(data);
    match (&fast, &serde) {
        (Ok(a), Ok(b)) => assert_eq!(as_bar(a).map(bits), as_bar(b).map(bits), "{text:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{text:?}"),
        (Ok(_), Err(error)) => panic!("fast path accepts what serde refuses ({error}): {text:?}"),
        (Err(error), Ok(_)) => panic!("fast path refuses what serde accepts ({error}): {text:?}"),
    }
}

/// The differential target of the fast `BarUpdate` path, through every type that offers it.
pub fn bar_update_fast_vs_serde(data: &[u8]) {
    for limits in EVERY_LIMITS {
        same::<MarketMessage>(data, &limits, |m| match m {
            MarketMessage::BarUpdate(bar) => Some(bar),
            _ => None,
        });
        same::<Message>(data, &limits, |m| match m {
            Message::BarUpdate(bar) => Some(bar),
            _ => None,
        });
        same::<BarUpdate>(data, &limits, |bar| Some(bar));
    }
}

/// `decode_frame_with` never panics; a split error is its verdict unchanged; an accepted frame carries
/// its message's own topic, its payload alone decodes to the same message (or lacks only the tag its topic implied), and re-framing round trips.
pub fn frame_parse(data: &[u8]) {
    for limits in EVERY_LIMITS {
        let result = decode_frame_with(data, &limits);
        let frame = match split_frame(data) {
            Ok(frame) => frame,
            Err(split) => {
                assert_eq!(result.as_ref().err(), Some(&split));
                assert_eq!(split.code, ErrorCode::BadFrame);
                continue;
            }
        };
        match result {
            Ok((topic, message)) => {
                assert_eq!(topic.as_str(), frame.topic);
                assert_eq!(message.topic(), topic);
                // Alone, without a topic to imply it, only an untagged signal may be refused.
                match decode_with::<Message>(frame.payload, &limits) {
                    Ok(alone) => assert_eq!(alone, message),
                    Err(error) => assert_eq!(
                        (error.code, error.path.as_str()),
                        (ErrorCode::MissingField, "$.type")
                    ),
                }
                let again = encode_frame(&message);
                let decoded = decode_frame_with(&again, &roomy(&again)).unwrap_or_else(|error| {
                    panic!(
                        "re-framed {:?} is refused: {error}",
                        String::from_utf8_lossy(&again)
                    )
                });
                assert_eq!(decoded, (topic, message));
            }
            Err(error) => refusal_is_a_verdict(&error, data),
        }
    }
}
