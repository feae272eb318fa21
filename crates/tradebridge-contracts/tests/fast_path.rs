//! The single-pass `BarUpdate` reader must be invisible: on every document, `decode` (reader first)
//! gives exactly what the serde_json path alone gives — the same message, floats bit for bit, or the
//! same error code, path and text.

use proptest::prelude::*;
use tradebridge_contracts::{
    decode_with, decode_with_serde, BarUpdate, Limits, MarketMessage, Message,
};

/// Every field of a bar, floats as bits, so `0.1 + 1 ulp` never compares equal to `0.1`.
fn bits(bar: &BarUpdate) -> impl PartialEq + std::fmt::Debug {
    (
        bar.symbol.clone(),
        [bar.open, bar.high, bar.low, bar.close, bar.volume].map(f64::to_bits),
        bar.timestamp,
        bar.vwap.map(f64::to_bits),
        bar.trade_count,
        bar.schema_version.as_str().to_owned(),
        bar.seq,
        bar.source.clone(),
        bar.sent_at_us,
    )
}

fn same<T: tradebridge_contracts::Decode>(
    json: &[u8],
    limits: &Limits,
    as_bar: fn(&T) -> Option<&BarUpdate>,
) -> Result<bool, TestCaseError> {
    let fast = decode_with::<T>(json, limits);
    let serde = decode_with_serde::<T>(json, limits);
    let text = String::from_utf8_lossy(json);
    match (&fast, &serde) {
        (Ok(a), Ok(b)) => {
            let (a, b) = (as_bar(a), as_bar(b));
            prop_assert_eq!(a.map(bits), b.map(bits), "{}", text);
            Ok(true)
        }
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b, "{}", text);
            Ok(false)
        }
        _ => Err(TestCaseError::fail(format!(
            "fast and serde disagree on {text}: {:?} vs {:?}",
            fast.is_ok(),
            serde.is_ok()
        ))),
    }
}

fn same_everywhere(json: &[u8]) -> Result<bool, TestCaseError> {
    let tight = Limits {
        max_size: 120,
        max_depth: 0,
        allow_nan_tokens: true,
    };
    for limits in [Limits::DEFAULT, tight] {
        same::<MarketMessage>(json, &limits, |m| match m {
            MarketMessage::BarUpdate(bar) => Some(bar),
            _ => None,
        })?;
        same::<Message>(json, &limits, |m| match m {
            Message::BarUpdate(bar) => Some(bar),
            _ => None,
        })?;
    }
    same::<BarUpdate>(json, &Limits::DEFAULT, |bar| Some(bar))
}

/// Number tokens near every edge: shortest and long forms of arbitrary floats, integers, exponents,
/// signs, zeros, overflow and underflow, malformed numbers.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|v| format!("{v:?}")),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        any::<f64>().prop_map(|v| format!("{v:.25e}")),
        (1e-3f64..1e7).prop_map(|v| format!("{v}")),
        (1e-3f64..1e7, 1usize..30).prop_map(|(v, n)| format!("{v:.n$}")),
        any::<u64>().prop_map(|v| v.to_string()),
        (0u64..(1 << 54)).prop_map(|v| v.to_string()),
        "[0-9]{1,30}(\\.[0-9]{0,30})?([eE][+-]?[0-9]{0,4})?",
        "-?0[0-9]?(\\.[0-9]*)?",
        Just("9007199254740991".to_owned()),
        Just("9007199254740992".to_owned()),
        Just("1e400".to_owned()),
        Just("1e-400".to_owned()),
        Just("-0".to_owned()),
        Just("-0.0".to_owned()),
        Just("2.2250738585072011e-308".to_owned()),
        Just("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910712937158843125e175".to_owned()),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"AAPL\"".to_owned()),
        Just("\"BarUpdate\"".to_owned()),
        Just("\"TradeUpdate\"".to_owned()),
        Just("\"1.0\"".to_owned()),
        Just("\"1.7\"".to_owned()),
        Just("\"2.0\"".to_owned()),
        Just("\"1.x\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"BarUpdat\\u0065\"".to_owned()),
        Just("\"A\\nB\"".to_owned()),
        Just("\"é-source\"".to_owned()),
        "\"[A-Za-z0-9./:é -]{0,70}\"",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => number(),
        3 => string(),
        1 => prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("{}".to_owned()),
            Just("[1.0]".to_owned()),
            Just("{\"a\":[{}]}".to_owned()),
        ],
    ]
}

const KEYS: [&str; 17] = [
    "type",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "timestamp",
    "vwap",
    "trade_count",
    "schema_version",
    "seq",
    "source",
    "sent_at_us",
    "extra",
    "Open",
    "ty\\u0070e",
];

fn valid_field(key: &str) -> BoxedStrategy<String> {
    match key {
        "type" => Just("\"BarUpdate\"".to_owned()).boxed(),
        "symbol" => "\"[A-Z0-9][A-Z0-9./:-]{0,31}\"".boxed(),
        "timestamp" | "trade_count" | "seq" | "sent_at_us" => {
            (0u64..(1 << 53)).prop_map(|v| v.to_string()).boxed()
        }
        "schema_version" => "\"1\\.[0-9]{1,3}\"".boxed(),
        "source" => "\"[a-z0-9é-]{1,64}\"".boxed(),
        _ => prop_oneof![
            (1e-6f64..1e9).prop_map(|v| format!("{v:?}")),
            (1e-6f64..1e9).prop_map(|v| format!("{v:e}")),
            (1u64..1_000_000).prop_map(|v| v.to_string()),
        ]
        .boxed(),
    }
}

/// A bar whose fields are each either valid, absent, or any value; plus extra or repeated keys, in any
/// order, with any JSON whitespace.
fn document() -> impl Strategy<Value = String> {
    let fields: Vec<_> = KEYS[..13]
        .iter()
        .map(|&key| {
            prop_oneof![
                40 => valid_field(key).prop_map(Some),
                2 => Just(None),
                1 => value().prop_map(Some),
            ]
            .prop_map(move |v| v.map(|v| (key.to_owned(), v)))
        })
        .collect();
    let extra = prop::collection::vec(
        (prop::sample::select(KEYS.to_vec()), value()).prop_map(|(k, v)| (k.to_owned(), v)),
        0..2,
    );
    let spaces = prop::collection::vec(
        prop::sample::select(vec!["", "", "", " ", "\n\t", "\r "]),
        64,
    );
    (fields, extra, spaces, any::<u64>(), any::<bool>()).prop_map(
        |(fields, extra, spaces, seed, trailing)| {
            let mut pairs: Vec<(String, String)> =
                fields.into_iter().flatten().chain(extra).collect();
            // Deterministic shuffle from the seed: most documents in encoder order, some not.
            if seed % 3 == 0 {
                let mut state = seed;
                for i in (1..pairs.len()).rev() {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    pairs.swap(i, (state >> 33) as usize % (i + 1));
                }
            }
            let mut space = spaces.iter().cycle();
            let mut out = format!("{}{{", space.next().unwrap());
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let (a, b, c) = (
                    space.next().unwrap(),
                    space.next().unwrap(),
                    space.next().unwrap(),
                );
                out.push_str(&format!("{a}\"{key}\"{b}:{c}{value}"));
            }
            out.push_str(&format!(
                "{}}}{}",
                space.next().unwrap(),
                space.next().unwrap()
            ));
            if trailing && seed % 7 == 0 {
                out.push_str(if seed % 2 == 0 { "x" } else { "{}" });
            }
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_decode_identically(json in document()) {
        same_everywhere(json.as_bytes())?;
    }

    #[test]
    fn mutated_documents_decode_identically(
        json in document(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = json.into_bytes();
        for (at, byte, kind) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
        }
        same_everywhere(&bytes)?;
    }

    #[test]
    fn every_float_token_is_read_bit_for_bit(token in number()) {
        let json = format!(r#"{{"type":"BarUpdate","symbol":"X","open":{token},"high":1,"low":1,"close":1,"volume":{token},"timestamp":1,"vwap":{token}}}"#);
        same_everywhere(json.as_bytes())?;
    }
}

/// The generators above must reach the fast reader's success path, not only its refusals.
#[test]
fn most_generated_documents_are_valid_bars() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut valid, total) = (0, 500);
    for _ in 0..total {
        let json = document().new_tree(&mut runner).unwrap().current();
        let result = decode_with_serde::<BarUpdate>(json.as_bytes(), &Limits::DEFAULT);
        if result.is_ok() {
            valid += 1;
        }
    }
    assert!(
        valid > total / 8,
        "only {valid} of {total} generated documents are valid"
    );
}
