//! Hostile input never panics: truncations, byte flips and random bytes through every decoder.
//! (The cross-language harness fuzzes the binary with Hypothesis; this keeps a fast in-crate guard.)

use tradebridge_contracts::{
    decode, decode_frame, ContractError, Decode, Health, Heartbeat, MarketMessage, Message,
    OrderUpdate, Readiness, Signal,
};

const SAMPLES: &[&[u8]] = &[
    br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1234567890,"vwap":150.7,"seq":3,"source":"md"}"#,
    br#"{"type":"Signal","symbol":"BRK.B","direction":"short","strength":0.5,"timestamp":1,"features":[1.0,null,-2e10],"metadata":{"a":[1,{"b":"\u00e9"}],"c":null}}"#,
    br#"{"type":"OrderUpdate","order_id":"o","client_order_id":"c","symbol":"AAPL","side":"buy","qty":1,"filled_qty":0,"filled_avg_price":null,"status":"new","timestamp":1,"order_type":"limit","limit_price":1.5}"#,
    br#"{"status":"healthy","component":"x","message":"m","metrics":{"k":"v"},"timestamp":"2025-10-21T17:00:00Z"}"#,
];

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn all_decoders(bytes: &[u8]) -> Vec<Option<ContractError>> {
    fn one<T: Decode>(bytes: &[u8]) -> Option<ContractError> {
        decode::<T>(bytes).err()
    }
    let mut frame = b"market ".to_vec();
    frame.extend_from_slice(bytes);
    vec![
        one::<MarketMessage>(bytes),
        one::<Message>(bytes),
        one::<Signal>(bytes),
        one::<OrderUpdate>(bytes),
        one::<Heartbeat>(bytes),
        one::<Health>(bytes),
        one::<Readiness>(bytes),
        decode_frame(&frame).err(),
        decode_frame(bytes).err(),
    ]
}

#[test]
fn every_truncation_is_a_typed_error() {
    for sample in SAMPLES {
        for cut in 0..sample.len() {
            for error in all_decoders(&sample[..cut]).into_iter().flatten() {
                assert!(
                    !error.path.is_empty() && !error.message.is_empty(),
                    "{error:?}"
                );
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let sample = SAMPLES[(rng.next() % SAMPLES.len() as u64) as usize];
        let mut bytes = sample.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() % bytes.len() as u64) as usize;
            match rng.next() % 3 {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"{}[]\",:0-e.\\n"[(rng.next() % 13) as usize]),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let _ = all_decoders(&bytes);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let length = (rng.next() % 64) as usize;
        let bytes: Vec<u8> = (0..length).map(|_| rng.next() as u8).collect();
        let _ = all_decoders(&bytes);
    }
}
