use rmpv::Value;

use super::*;

const NANOS: i128 = 1_700_000_000_123_456_789;

fn ts(nanos: i128) -> Value {
    Value::Ext(-1, timestamp_ext(nanos))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

fn decode(value: &Value) -> Vec<RawPoint> {
    let mut out = Vec::new();
    decode_msgpack(&pack(value), &mut out).unwrap();
    out
}

fn bar(kind: &str) -> Value {
    map(vec![
        ("T", kind.into()),
        ("S", "AAPL".into()),
        ("o", 177.94.into()),
        ("h", 178.0.into()),
        ("l", 177.9.into()),
        ("c", 178.0.into()),
        ("v", 8547.into()),
        ("t", ts(NANOS)),
        ("n", 66.into()),
        ("vw", 177.98.into()),
    ])
}

#[test]
fn bars_of_every_kind_decode_with_their_timestamp() {
    for (kind, expected) in [
        ("b", Kind::Bar),
        ("u", Kind::UpdatedBar),
        ("d", Kind::DailyBar),
    ] {
        let points = decode(&Value::Array(vec![bar(kind)]));
        let p = &points[0];
        assert_eq!(p.kind, Field::Value(expected));
        assert_eq!(p.symbol, Field::Value("AAPL".into()));
        assert_eq!(p.open, Field::Value(177.94));
        assert_eq!(p.volume, Field::Value(8547.0));
        assert_eq!(p.trade_count, Field::Value(66.0));
        assert_eq!(p.vwap, Field::Value(177.98));
        assert_eq!(p.timestamp, Field::Value(Stamp::Nanos(NANOS)));
    }
}

#[test]
fn trades_quotes_and_control_messages_decode() {
    let trade = map(vec![
        ("T", "t".into()),
        ("S", "AAPL".into()),
        ("i", 6142.into()),
        ("x", "V".into()),
        ("p", 177.79.into()),
        ("s", 90.into()),
        ("c", Value::Array(vec!["@".into(), "I".into()])),
        ("z", "C".into()),
        ("t", ts(NANOS)),
    ]);
    let quote = map(vec![
        ("T", "q".into()),
        ("S", "SPIP".into()),
        ("bx", "V".into()),
        ("bp", 25.41.into()),
        ("bs", 35.into()),
        ("ax", "V".into()),
        ("ap", 25.43.into()),
        ("as", 35.into()),
        ("c", Value::Array(vec!["R".into()])),
        ("t", ts(NANOS)),
    ]);
    let error = map(vec![
        ("T", "error".into()),
        ("code", 406.into()),
        ("msg", "connection limit exceeded".into()),
    ]);
    let subscription = map(vec![
        ("T", "subscription".into()),
        ("trades", Value::Array(vec!["AAPL".into()])),
        ("bars", Value::Array(vec!["*".into()])),
    ]);
    let status = map(vec![("T", "s".into()), ("S", "STRR".into())]);
    let points = decode(&Value::Array(vec![
        trade,
        quote,
        error,
        subscription,
        status,
    ]));
    assert_eq!(points[0].kind, Field::Value(Kind::Trade));
    assert_eq!(points[0].trade_id, Field::Value("6142".into()));
    assert_eq!(points[0].size, Field::Value(90.0));
    // a trade's condition list sits where a bar's close would: marked, never read
    assert_eq!(points[0].close, Field::Wrong);
    assert_eq!(points[1].bid_price, Field::Value(25.41));
    assert_eq!(points[1].ask_size, Field::Value(35.0));
    assert_eq!(points[2].kind, Field::Value(Kind::Error));
    assert_eq!(points[2].code, Field::Value(406.0));
    assert_eq!(points[3].kind, Field::Value(Kind::Subscription));
    assert_eq!(points[4].kind, Field::Value(Kind::Unmapped));
}

#[test]
fn timestamp_layouts_of_the_msgpack_spec() {
    assert_eq!(timestamp_nanos(&1u32.to_be_bytes()), Some(1_000_000_000));
    for nanos in [0, NANOS, 1i128 << 40, -5_000_000_001, 1i128 << 80] {
        assert_eq!(
            timestamp_nanos(&timestamp_ext(nanos)),
            Some(nanos),
            "{nanos}"
        );
    }
    // a nanosecond field of a whole second or more, and odd lengths, are not timestamps
    let mut bad = 1_000_000_000u32.to_be_bytes().to_vec();
    bad.extend_from_slice(&0i64.to_be_bytes());
    assert_eq!(timestamp_nanos(&bad), None);
    assert_eq!(timestamp_nanos(&[0; 5]), None);
}

#[test]
fn wrong_types_are_marked_not_fatal() {
    let hostile = map(vec![
        ("T", "b".into()),
        ("S", 42.into()),
        ("o", "177.94".into()),
        (
            "h",
            Value::Map(vec![("x".into(), Value::Array(vec![1.into()]))]),
        ),
        ("l", Value::Nil),
        ("c", true.into()),
        ("t", "2024-01-02T03:04:05Z".into()),
        ("v", Value::Ext(5, vec![1, 2])),
        (
            "zz",
            Value::Array(vec![Value::Map(vec![(1.into(), 2.into())])]),
        ),
    ]);
    let ext_as_time = map(vec![("T", "t".into()), ("t", Value::Ext(3, vec![0; 8]))]);
    let points = decode(&Value::Array(vec![
        hostile,
        Value::from(7),
        ext_as_time,
        bar("b"),
    ]));
    assert_eq!(points.len(), 4, "every element read, the good one last");
    let p = &points[0];
    assert_eq!(p.symbol, Field::Wrong);
    assert_eq!(p.open, Field::Wrong);
    assert_eq!(p.high, Field::Wrong);
    assert_eq!(p.low, Field::Null);
    assert_eq!(p.close, Field::Wrong);
    assert_eq!(p.volume, Field::Wrong);
    assert_eq!(
        p.timestamp,
        Field::Value(Stamp::Text("2024-01-02T03:04:05Z".into()))
    );
    assert!(!points[1].is_map);
    assert_eq!(points[2].timestamp, Field::Wrong);
    assert_eq!(points[3].kind, Field::Value(Kind::Bar));
}

#[test]
fn undecodable_and_non_array_frames_fail_whole() {
    let mut out = Vec::new();
    assert!(matches!(
        decode_msgpack(b"\xc1\x93\xa1T", &mut out),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        decode_msgpack(&pack(&bar("b")), &mut out),
        Err(FrameError::NotAnArray)
    ));
    assert!(matches!(
        decode_msgpack(&pack(&Value::from("x")), &mut out),
        Err(FrameError::NotAnArray)
    ));
    // a header claiming four billion elements, and nothing after it
    assert!(matches!(
        decode_msgpack(b"\xdd\xff\xff\xff\xff", &mut out),
        Err(FrameError::Malformed(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn a_truncated_batch_keeps_the_points_before_the_cut() {
    let frame = pack(&Value::Array(vec![bar("b"), bar("b"), bar("b")]));
    let mut out = Vec::new();
    let cut = frame.len() - 10;
    assert!(matches!(
        decode_msgpack(&frame[..cut], &mut out),
        Err(FrameError::Malformed(_))
    ));
    assert_eq!(out.len(), 2);
}

#[test]
fn json_frames_carry_rfc3339_times() {
    let text = r#"[{"T":"b","S":"AAPL","o":1,"h":2,"l":0.5,"c":1.5,"v":10,"t":"2024-01-02T03:04:05.123456789Z","n":3,"vw":1.2}]"#;
    let mut out = Vec::new();
    decode_json(text, &mut out).unwrap();
    let Field::Value(Stamp::Text(time)) = &out[0].timestamp else {
        panic!("{:?}", out[0].timestamp)
    };
    assert_eq!(parse_rfc3339(time), Some(1_704_164_645_123_456_789));
    assert_eq!(parse_rfc3339("yesterday"), None);
    assert!(matches!(
        decode_json(r#"[{"T":"b""#, &mut out),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        decode_json("{}", &mut out),
        Err(FrameError::NotAnArray)
    ));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let mut frame = vec![0x91u8; 100_000]; // fixarray(1) nested 100k deep
    frame.push(0xc0);
    let mut out = Vec::new();
    assert!(decode_msgpack(&frame, &mut out).is_err());
    let mut value = Value::Nil;
    for _ in 0..200 {
        value = Value::Array(vec![value]);
    }
    let points = decode(&Value::Array(vec![map(vec![
        ("T", "t".into()),
        ("x", value),
    ])]));
    assert_eq!(points[0].exchange, Field::Wrong);
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;
    use crate::map::{Encoding, Mapper};
    use crate::metrics::Channel;

    fn valid_frame() -> Vec<u8> {
        pack(&Value::Array(vec![
            bar("b"),
            bar("u"),
            map(vec![
                ("T", "t".into()),
                ("S", "AAPL".into()),
                ("p", 1.5.into()),
            ]),
        ]))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            let _ = decode_msgpack(&bytes, &mut out);
            let mut mapper = Mapper::new(&Channel::ALL);
            for point in out {
                let _ = mapper.map(point, Encoding::Msgpack);
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let mut out = Vec::new();
                let _ = decode_json(text, &mut out);
            }
        }

        #[test]
        fn on_mutated_frames(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                             cut in any::<usize>()) {
            let mut frame = valid_frame();
            for (at, byte) in edits {
                let i = at % frame.len();
                frame[i] = byte;
            }
            frame.truncate(cut % (frame.len() + 1));
            let mut out = Vec::new();
            let _ = decode_msgpack(&frame, &mut out);
            let mut mapper = Mapper::new(&Channel::ALL);
            for point in out {
                let _ = mapper.map(point, Encoding::Msgpack);
            }
        }
    }
}
