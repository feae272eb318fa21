//! Contract v1.1 in the Rust codec: the new optional fields, the version written and read, the
//! `SignalGenerated` alias, opt-in NaN tokens, and the envelope a publisher splices in.

use tradebridge_contracts::{
    decode, decode_frame, decode_frame_noted, decode_noted, encode, encode_frame, now_us,
    source_suffix, splice_envelope, BarUpdate, ErrorCode, Heartbeat, Leniency, Limits, Message,
    OrderUpdate, SchemaVersion, Signal, Topic,
};

const ORIGINAL: &[u8] = br#"{"type": "SignalGenerated", "symbol": "AAPL", "direction": "long", "strength": 0.85, "timestamp": 1729530000123, "features": [151.0, NaN, Infinity, -Infinity], "metadata": {"strategy": "ml-predictor"}}"#;

fn signal() -> Signal {
    Signal {
        symbol: "AAPL".into(),
        direction: tradebridge_contracts::Direction::Long,
        strength: 0.85,
        timestamp: 1_729_530_000_123,
        features: None,
        metadata: None,
        signal_id: Some("run-7-1".into()),
        price: Some(151.5),
        schema_version: SchemaVersion::default(),
        seq: None,
        source: None,
        sent_at_us: None,
    }
}

#[test]
fn new_messages_say_1_1_and_absent_reads_as_1_0() {
    let wire = String::from_utf8(encode(&signal())).unwrap();
    assert!(
        wire.ends_with(r#""signal_id":"run-7-1","price":151.5,"schema_version":"1.1"}"#),
        "{wire}"
    );
    let back = decode::<Signal>(wire.as_bytes()).unwrap();
    assert_eq!(back, signal());
    let plain =
        decode::<Signal>(br#"{"symbol":"AAPL","direction":"long","strength":0.5,"timestamp":1}"#)
            .unwrap();
    assert_eq!(plain.schema_version, SchemaVersion::ABSENT);
    assert_eq!(
        (plain.signal_id, plain.price, plain.sent_at_us),
        (None, None, None)
    );
}

#[test]
fn order_updates_carry_the_signal_id() {
    let json = br#"{"type":"OrderUpdate","order_id":"o-1","client_order_id":"tb-run-7-1","symbol":"AAPL","side":"buy","qty":1,"filled_qty":0,"filled_avg_price":null,"status":"new","timestamp":1,"signal_id":"run-7-1"}"#;
    let order = decode::<OrderUpdate>(json).unwrap();
    assert_eq!(order.signal_id.as_deref(), Some("run-7-1"));
    let too_long =
        String::from_utf8_lossy(json).replace("run-7-1\"}", &format!("{}\"}}", "x".repeat(46)));
    let error = decode::<OrderUpdate>(too_long.as_bytes()).unwrap_err();
    assert_eq!(
        (error.code, error.path.as_str()),
        (ErrorCode::InvalidValue, "$.signal_id")
    );
}

#[test]
fn the_alias_is_read_as_a_signal_and_noted() {
    let plain = String::from_utf8_lossy(ORIGINAL).replace("NaN, Infinity, -Infinity", "1.0");
    let (read, notes) = decode_noted::<Signal>(plain.as_bytes(), &Limits::DEFAULT).unwrap();
    assert_eq!(
        notes,
        Leniency {
            legacy_type: true,
            nan_tokens: false
        }
    );
    assert!(encode(&read).starts_with(br#"{"type":"Signal","#));
    let (_, again) = decode_noted::<Signal>(&encode(&read), &Limits::DEFAULT).unwrap();
    assert_eq!(again, Leniency::default(), "what we write is canonical");
    let (topic, message, notes) =
        decode_frame_noted(format!("signal {plain}").as_bytes(), &Limits::DEFAULT).unwrap();
    assert!(matches!((topic, message), (Topic::Signal, Message::Signal(_))) && notes.legacy_type);
    let error = decode_frame(format!("market {plain}").as_bytes()).unwrap_err();
    assert_eq!(error.code, ErrorCode::TopicMismatch);
}

#[test]
fn nan_tokens_are_read_only_when_allowed_and_only_in_features() {
    assert_eq!(
        decode::<Signal>(ORIGINAL).unwrap_err().code,
        ErrorCode::InvalidJson
    );
    let lenient = Limits {
        allow_nan_tokens: true,
        ..Limits::DEFAULT
    };
    let (read, notes) = decode_noted::<Signal>(ORIGINAL, &lenient).unwrap();
    assert_eq!(read.features, Some(vec![Some(151.0), None, None, None]));
    assert_eq!(
        notes,
        Leniency {
            legacy_type: true,
            nan_tokens: true
        }
    );
    let outside =
        br#"{"symbol":"AAPL","direction":"long","strength":NaN,"timestamp":1,"features":[NaN]}"#;
    let error = decode_noted::<Signal>(outside, &lenient).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidJson);
}

#[test]
fn the_spliced_envelope_equals_the_encoded_one() {
    let beat = Heartbeat {
        component: "execution-engine".into(),
        timestamp: 1,
        status: None,
        schema_version: SchemaVersion::default(),
        seq: None,
        source: None,
        sent_at_us: None,
    };
    let before = now_us();
    let mut frame = encode_frame(&beat);
    splice_envelope(&mut frame, 41, Some(now_us()), &source_suffix("rs-\"1\""));
    let (_, message) = decode_frame(&frame).unwrap();
    assert_eq!(message.sent_at_us(), message_sent_at(&message));
    let Message::Heartbeat(sent) = message else {
        panic!("not a heartbeat")
    };
    let stamped = sent.sent_at_us.expect("stamped");
    assert!(stamped >= before, "{stamped} < {before}");
    let expected = Heartbeat {
        seq: Some(41),
        source: Some("rs-\"1\"".into()),
        sent_at_us: Some(stamped),
        ..beat.clone()
    };
    assert_eq!(sent, expected);
    let mut without = encode_frame(&beat);
    splice_envelope(&mut without, 0, None, &source_suffix("a"));
    assert!(without.ends_with(br#","seq":0,"source":"a"}"#));
}

#[test]
fn the_fast_bar_reader_reads_sent_at_us() {
    let json = br#"{"type":"BarUpdate","symbol":"AAPL","open":1,"high":2,"low":0.5,"close":1.5,"volume":0,"timestamp":1,"schema_version":"1.1","seq":3,"source":"py-1","sent_at_us":1729530000123456}"#;
    let bar = decode::<BarUpdate>(json).unwrap();
    assert_eq!(
        (bar.sent_at_us, bar.schema_version.as_str()),
        (Some(1_729_530_000_123_456), "1.1")
    );
}

fn message_sent_at(message: &Message) -> Option<u64> {
    match message {
        Message::Heartbeat(beat) => beat.sent_at_us,
        _ => None,
    }
}
