//! Decode and encode behaviour of the Rust codec: happy paths, error codes and paths, limits, frames.

use tradebridge_contracts::{
    decode, decode_frame, decode_with, encode, encode_frame, split_frame, validate, ContractError,
    Direction, ErrorCode, Health, Heartbeat, Limits, MarketMessage, Message, OrderUpdate,
    Readiness, SchemaVersion, Signal, Topic,
};

const GUIDE_BAR: &[u8] = br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1234567890}"#;
const GUIDE_SIGNAL: &[u8] = br#"{"symbol": "AAPL", "direction": "long", "strength": 0.85, "timestamp": 1729530000123, "features": [1.0, 2.0, 3.0], "metadata": {"strategy": "ml-predictor"}}"#;

fn error_of<T: tradebridge_contracts::Decode + std::fmt::Debug>(json: &[u8]) -> ContractError {
    decode::<T>(json).expect_err("must be refused")
}

#[test]
fn decodes_the_guides_bar_as_a_market_message() {
    let MarketMessage::BarUpdate(bar) = decode::<MarketMessage>(GUIDE_BAR).unwrap() else {
        panic!("not a bar")
    };
    assert_eq!(
        (bar.symbol.as_str(), bar.high, bar.timestamp),
        ("AAPL", 152.5, 1234567890)
    );
    assert_eq!(bar.schema_version, SchemaVersion::ABSENT);
    assert_eq!(
        (bar.vwap, bar.seq, bar.source, bar.sent_at_us),
        (None, None, None, None)
    );
}

#[test]
fn decodes_the_guides_plain_signal_without_type_or_version() {
    let signal = decode::<Signal>(GUIDE_SIGNAL).unwrap();
    assert_eq!(signal.direction, Direction::Long);
    assert_eq!(signal.features, Some(vec![Some(1.0), Some(2.0), Some(3.0)]));
    assert_eq!(signal.metadata.unwrap()["strategy"], "ml-predictor");
}

#[test]
fn encodes_type_first_and_always_writes_the_version() {
    let bar = match decode::<Message>(GUIDE_BAR).unwrap() {
        Message::BarUpdate(bar) => bar,
        other => panic!("{other:?}"),
    };
    let json = String::from_utf8(encode(&bar)).unwrap();
    assert_eq!(
        json,
        r#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1234567890,"schema_version":"1.0"}"#
    );
    assert_eq!(encode(&Message::BarUpdate(bar.clone())), json.as_bytes());
    assert_eq!(encode(&MarketMessage::BarUpdate(bar)), json.as_bytes());
}

#[test]
fn a_tag_in_another_position_is_still_read() {
    let json = br#"{"symbol":"AAPL","close":151.0,"type":"BarUpdate","open":150.0,"high":152.5,"low":149.5,"volume":1,"timestamp":1}"#;
    assert!(matches!(
        decode::<MarketMessage>(json),
        Ok(MarketMessage::BarUpdate(_))
    ));
}

#[test]
fn refusals_carry_codes_and_paths() {
    let cases: &[(&[u8], ErrorCode, &str)] = &[
        (br#"{"type":"BarUpdate","symbol":"AAPL""#, ErrorCode::InvalidJson, "$"),
        (br#"{"type":"BarUpdate","symbol":"aapl","open":1,"high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::InvalidValue, "$.symbol"),
        (br#"{"type":"BarUpdate","symbol":"A","open":0,"high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::OutOfRange, "$.open"),
        (br#"{"type":"BarUpdate","symbol":"A","open":1e400,"high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::OutOfRange, "$.open"),
        (br#"{"type":"BarUpdate","symbol":"A","open":"1","high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::WrongType, "$.open"),
        (br#"{"type":"BarUpdate","symbol":"A","high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::MissingField, "$.open"),
        (br#"{"type":"BarUpdate","symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":1,"timestamp":-1}"#, ErrorCode::OutOfRange, "$.timestamp"),
        (br#"{"type":"BarUpdate","symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":1,"timestamp":9007199254740992}"#, ErrorCode::OutOfRange, "$.timestamp"),
        (br#"{"type":"BarUpdate","symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":1,"timestamp":1,"vwap":null}"#, ErrorCode::WrongType, "$.vwap"),
        (br#"{"type":"BarUpdate","schema_version":"2.0","symbol":"A"}"#, ErrorCode::UnsupportedVersion, "$.schema_version"),
        (br#"{"type":"BarUpdate","schema_version":"one","symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":1,"timestamp":1}"#, ErrorCode::InvalidVersion, "$.schema_version"),
        (br#"{"type":"Nope","symbol":"A"}"#, ErrorCode::UnknownType, "$.type"),
        (br#"{"symbol":"A"}"#, ErrorCode::MissingField, "$.type"),
        (br#"[1,2]"#, ErrorCode::WrongType, "$"),
        (br#"["BarUpdate","AAPL",1,1,1,1,1,1]"#, ErrorCode::WrongType, "$"),
        (br#"  "#, ErrorCode::InvalidJson, "$"),
        (br#"null"#, ErrorCode::WrongType, "$"),
        (b"{\"type\":\"BarUpdate\",\"symbol\":\"A\xff\"}", ErrorCode::InvalidUtf8, "$"),
        (br#"{"type":"BarUpdate","symbol":"A","open":NaN}"#, ErrorCode::InvalidJson, "$"),
    ];
    for (json, code, path) in cases {
        let error = error_of::<MarketMessage>(json);
        assert_eq!(
            (error.code, error.path.as_str()),
            (*code, *path),
            "{}: {error}",
            String::from_utf8_lossy(json)
        );
    }
}

#[test]
fn signal_rules() {
    let base = r#"{"symbol":"AAPL","direction":"long","strength":0.5,"timestamp":1"#;
    let with = |extra: &str| format!("{base}{extra}}}").into_bytes();
    assert_eq!(
        error_of::<Signal>(&with(r#","features":[1,"x"]"#)).path,
        "$.features[1]"
    );
    assert_eq!(
        error_of::<Signal>(&with(r#","metadata":[]"#)).code,
        ErrorCode::WrongType
    );
    assert_eq!(
        error_of::<Signal>(&with(r#","metadata":{"a":[1e400]}"#)).code,
        ErrorCode::OutOfRange
    );
    assert_eq!(
        // only the exact alias is read
        error_of::<Signal>(&with(r#","type":"Signalgenerated""#)).code,
        ErrorCode::UnknownType
    );
    let too_many = format!(r#","features":[{}]"#, vec!["0"; 4097].join(","));
    assert_eq!(
        error_of::<Signal>(&with(&too_many)).code,
        ErrorCode::InvalidValue
    );
    let error =
        error_of::<Signal>(br#"{"symbol":"AAPL","direction":"up","strength":0.5,"timestamp":1}"#);
    assert_eq!(
        (error.code, error.path.as_str()),
        (ErrorCode::InvalidEnum, "$.direction")
    );
    let error =
        error_of::<Signal>(br#"{"symbol":"AAPL","direction":"long","strength":1.5,"timestamp":1}"#);
    assert_eq!(
        (error.code, error.path.as_str()),
        (ErrorCode::OutOfRange, "$.strength")
    );
    let nan = Signal {
        features: Some(vec![Some(f64::NAN), Some(1.0)]),
        ..decode::<Signal>(&with("")).unwrap()
    };
    assert!(String::from_utf8(encode(&nan))
        .unwrap()
        .contains(r#""features":[null,1.0]"#));
}

#[test]
fn limits_are_configurable_and_enforced() {
    let limits = Limits {
        max_size: 64,
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode_with::<MarketMessage>(GUIDE_BAR, &limits)
            .unwrap_err()
            .code,
        ErrorCode::TooLarge
    );
    let deep = format!(
        r#"{{"symbol":"A","direction":"long","strength":0,"timestamp":1,"metadata":{{"a":{}1{}}}}}"#,
        "[".repeat(70),
        "]".repeat(70)
    );
    assert_eq!(error_of::<Signal>(deep.as_bytes()).code, ErrorCode::TooDeep);
    let shallow_but_bracketed = format!(
        r#"{{"symbol":"A","direction":"long","strength":0,"timestamp":1,"metadata":{{"a":"{}"}}}}"#,
        "[".repeat(100)
    );
    assert!(decode::<Signal>(shallow_but_bracketed.as_bytes()).is_ok());
    let junk = "[".repeat(100_000);
    assert_eq!(error_of::<Signal>(junk.as_bytes()).code, ErrorCode::TooDeep);
}

#[test]
fn order_health_and_readiness() {
    let order = br#"{"type":"OrderUpdate","order_id":"o-1","client_order_id":"c-1","symbol":"AAPL","side":"buy","qty":10,"filled_qty":0,"filled_avg_price":null,"status":"new","timestamp":1}"#;
    let decoded = decode::<OrderUpdate>(order).unwrap();
    assert_eq!(decoded.filled_avg_price, None);
    assert!(String::from_utf8(encode(&decoded))
        .unwrap()
        .contains(r#""filled_avg_price":null"#));
    let missing = br#"{"type":"OrderUpdate","order_id":"o-1","client_order_id":"c-1","symbol":"AAPL","side":"buy","qty":10,"filled_qty":0,"status":"new","timestamp":1}"#;
    assert_eq!(error_of::<OrderUpdate>(missing).path, "$.filled_avg_price");
    let health = br#"{"status":"healthy","component":"market-data","message":"All systems operational","metrics":{"websocket_connected":"true"},"timestamp":"2025-10-21T17:00:00Z"}"#;
    assert_eq!(
        decode::<Health>(health).unwrap().metrics["websocket_connected"],
        "true"
    );
    let ready = br#"{"ready":true,"component":"market-data","timestamp":"2025-10-21T17:00:00Z"}"#;
    assert!(decode::<Readiness>(ready).unwrap().ready);
    let bad_time = br#"{"ready":true,"component":"market-data","timestamp":"yesterday"}"#;
    assert_eq!(
        error_of::<Readiness>(bad_time).code,
        ErrorCode::InvalidValue
    );
}

#[test]
fn frames() {
    let heartbeat =
        decode::<Heartbeat>(br#"{"type":"Heartbeat","component":"engine","timestamp":5}"#).unwrap();
    let frame = encode_frame(&heartbeat);
    assert!(frame.starts_with(b"system {\"type\":\"Heartbeat\""));
    assert_eq!(
        decode_frame(&frame).unwrap(),
        (Topic::System, Message::Heartbeat(heartbeat.clone()))
    );
    assert_eq!(split_frame(b"market {}").unwrap().topic, "market");
    let codes: Vec<ErrorCode> = [
        &b"market"[..],
        b" {}",
        b"quotes {}",
        b"signal {\"type\":\"Heartbeat\"}",
    ]
    .iter()
    .map(|frame| decode_frame(frame).unwrap_err().code)
    .collect();
    assert_eq!(
        codes,
        [
            ErrorCode::BadFrame,
            ErrorCode::BadFrame,
            ErrorCode::UnknownTopic,
            ErrorCode::TopicMismatch
        ]
    );
    assert_eq!(validate(&heartbeat).unwrap(), heartbeat);
    let invalid = Heartbeat {
        component: String::new(),
        ..heartbeat
    };
    assert_eq!(
        validate(&invalid).unwrap_err().code,
        ErrorCode::InvalidValue
    );
}

/// The strings themselves are the catalogue's (`ErrorCode::ALL`); Python's `tradebridge.errors.CODES` is
/// read from it and `conformance/` proves the vectors and docs use the same ones.
#[test]
fn error_codes_round_trip_through_their_strings() {
    for &code in ErrorCode::ALL {
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
    }
    assert_eq!(ErrorCode::OutOfRange.as_str(), "out_of_range");
}
