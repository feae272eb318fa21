#![no_main]

// The check lives in checks/ so that the stable regression test runs the very same code.
#[path = "../checks/contracts.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::contracts_decode(data));
