//! The market-data stream fuzzer's findings as regression cases on stable Rust: every kept corpus and
//! crash input (`fuzz/corpus/market_stream_decode/`, `fuzz/regressions/market_stream_decode/`) goes
//! through the very check the libFuzzer target runs (`fuzz/checks/market_stream.rs`).

#[path = "../../../fuzz/checks/market_stream.rs"]
mod checks;

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[test]
fn market_stream_decode_corpus() {
    replay::replay("market_stream_decode", checks::market_stream_decode);
}
