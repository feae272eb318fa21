//! The property the market-data stream target checks, shared word for word by
//! `fuzz_targets/market_stream_decode.rs` (libFuzzer, nightly) and
//! `crates/tradebridge-marketdata/tests/fuzz_corpus.rs` (corpus replay, stable).
//!
//! Every input is offered to both frame decoders (msgpack, and JSON when it is UTF-8), and every point
//! read is mapped with every channel wanted: nothing panics, and whatever the mapper would publish is a
//! valid contract message that survives encode -> decode unchanged.

use tradebridge_contracts::{decode, encode, Decode};
use tradebridge_marketdata::map::{Encoding, Mapper, Market, Outcome};
use tradebridge_marketdata::metrics::Channel;
use tradebridge_marketdata::protocol::{decode_json, decode_msgpack, RawPoint};

fn contract_valid<T>(message: &T, data: &[u8])
where
    T: Decode + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let json = encode(message);
    match decode::<T>(&json) {
        Ok(again) => assert_eq!(&again, message, "{data:?}"),
        Err(error) => panic!(
            "the mapper would publish {:?}, which the contract refuses ({error}); input {data:?}",
            String::from_utf8_lossy(&json)
        ),
    }
}

fn map_all(points: Vec<RawPoint>, encoding: Encoding, data: &[u8]) {
    let mut mapper = Mapper::new(&Channel::ALL);
    for (index, point) in points.into_iter().enumerate() {
        // Half way through, as if the stream had reconnected: the gap path runs too.
        if index == 1 {
            mapper.reconnected();
        }
        let item = match mapper.map(point, encoding) {
            Outcome::Publish(item) | Outcome::GapThenPublish { item, .. } => item,
            _ => continue,
        };
        match &item.message {
            Market::Bar(bar) => contract_valid(bar, data),
            Market::Trade(trade) => contract_valid(trade, data),
            Market::Quote(quote) => contract_valid(quote, data),
        }
    }
}

pub fn market_stream_decode(data: &[u8]) {
    let mut points = Vec::new();
    // A broken frame still yields the points read before the damage; those are mapped as well.
    let _ = decode_msgpack(data, &mut points);
    map_all(points, Encoding::Msgpack, data);
    if let Ok(text) = std::str::from_utf8(data) {
        let mut points = Vec::new();
        let _ = decode_json(text, &mut points);
        map_all(points, Encoding::Json, data);
    }
}
