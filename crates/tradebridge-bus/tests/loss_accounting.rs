//! The loss-accounting scenarios of `conformance/transport/loss_accounting/`, which Python's tracker
//! runs too (`conformance/transport/test_loss_accounting.py`): one truth, two implementations.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde_json::Value;
use tradebridge_bus::{SubscriberStats, DEFAULT_MAX_SOURCES};
use tradebridge_contracts::Topic;

fn scenarios() -> Vec<PathBuf> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../conformance/transport/loss_accounting");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

/// Where `actual` differs from `expected`; only the keys `expected` names are compared.
fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(wanted), Value::Object(got)) => {
            for (key, value) in wanted {
                match got.get(key) {
                    Some(found) => differences(value, found, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: missing")),
                }
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[test]
fn rust_stats_follow_every_scenario() {
    let paths = scenarios();
    assert!(paths.len() >= 8, "scenarios missing: {paths:?}");
    let mut failures = Vec::new();
    for path in &paths {
        let scenario: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON");
        let max = scenario["max_sources"]
            .as_u64()
            .map_or(DEFAULT_MAX_SOURCES, |n| n as usize);
        let mut stats = SubscriberStats::with_max_sources(NonZeroUsize::new(max).expect("> 0"));
        for receipt in scenario["receipts"].as_array().expect("receipts") {
            let topic = Topic::parse(receipt[0].as_str().expect("topic")).expect("a v1 topic");
            stats.observe(topic, receipt[2].as_u64(), receipt[1].as_str());
        }
        let actual = serde_json::to_value(&stats).expect("serializable");
        let mut found = Vec::new();
        differences(&scenario["expected"], &actual, "", &mut found);
        if !found.is_empty() {
            failures.push(format!("{}: {found:?}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
