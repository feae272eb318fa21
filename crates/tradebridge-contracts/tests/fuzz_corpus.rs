//! The fuzzers' findings as regression cases on stable Rust: every kept corpus input and every crash
//! input of the contract targets (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) goes through
//! the very checks the libFuzzer targets run (`fuzz/checks/contracts.rs`), with no fuzzing build.

#[path = "../../../fuzz/checks/contracts.rs"]
mod checks;

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[test]
fn contracts_decode_corpus() {
    replay::replay("contracts_decode", checks::contracts_decode);
}

#[test]
fn bar_update_fast_vs_serde_corpus() {
    replay::replay("bar_update_fast_vs_serde", checks::bar_update_fast_vs_serde);
}

#[test]
fn frame_parse_corpus() {
    replay::replay("frame_parse", checks::frame_parse);
}

/// The replay itself can fail: a check that refuses every JSON object fails the run and names the files.
#[test]
#[should_panic(expected = "contracts_decode inputs fail their check")]
fn replay_fails_when_a_check_fails() {
    replay::replay("contracts_decode", |data| {
        assert!(!data.starts_with(b"{"), "planted failure")
    });
}
