//! Decode and encode of `BarUpdate` and `Signal`: the typed codec with full validation next to a bare
//! serde struct (no validation, no tag check) and untyped `serde_json::Value`, in one run. The codec's
//! `BarUpdate` goes through a single-pass reader first; its serde_json-only path is measured too.
#![allow(clippy::print_stdout)] // a benchmark prints its ratios

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use serde::{Deserialize, Serialize};
use tradebridge_contracts::{
    decode, decode_with_serde, encode, encode_frame, now_us, source_suffix, splice_envelope,
    BarUpdate, Limits, MarketMessage, Signal,
};

const BAR: &[u8] = br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.0"}"#;
const SIGNAL: &[u8] = br#"{"type":"Signal","symbol":"AAPL","direction":"long","strength":0.85,"timestamp":1729530000123,"features":[151.0,55.2,0.12,0.1,0.02,150.8,150.1,0.02,150.5,0.003,1000000.0,0.02],"metadata":{"strategy":"ml-predictor","model":"v3"},"schema_version":"1.0"}"#;

/// A bar as the v1.0 bus sends it (envelope `seq`, `source`), and as v1.1 sends it (`sent_at_us` too).
const BAR_V1_0: &[u8] = br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.0","seq":123456,"source":"rs-4242-1a2b3c4d"}"#;
const BAR_V1_1: &[u8] = br#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.1","seq":123456,"source":"rs-4242-1a2b3c4d","sent_at_us":1729530000123456}"#;

/// The baseline: what a service would write with plain serde and no contract.
#[derive(Serialize, Deserialize)]
struct BareBar {
    symbol: String,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    timestamp: u64,
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("BarUpdate");
    group.bench_function("decode/contracts BarUpdate", |b| {
        b.iter(|| decode::<BarUpdate>(black_box(BAR)).unwrap())
    });
    group.bench_function("decode/contracts MarketMessage", |b| {
        b.iter(|| decode::<MarketMessage>(black_box(BAR)).unwrap())
    });
    group.bench_function("decode/contracts BarUpdate serde path", |b| {
        b.iter(|| decode_with_serde::<BarUpdate>(black_box(BAR), &Limits::DEFAULT).unwrap())
    });
    group.bench_function("decode/contracts MarketMessage serde path", |b| {
        b.iter(|| decode_with_serde::<MarketMessage>(black_box(BAR), &Limits::DEFAULT).unwrap())
    });
    group.bench_function("decode/bare serde struct", |b| {
        b.iter(|| serde_json::from_slice::<BareBar>(black_box(BAR)).unwrap())
    });
    group.bench_function("decode/serde_json Value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(BAR)).unwrap())
    });
    let bar = decode::<BarUpdate>(BAR).unwrap();
    let bare: BareBar = serde_json::from_slice(BAR).unwrap();
    group.bench_function("encode/contracts BarUpdate", |b| {
        b.iter(|| encode(black_box(&bar)))
    });
    group.bench_function("encode/bare serde struct", |b| {
        b.iter(|| serde_json::to_vec(black_box(&bare)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("Signal");
    group.bench_function("decode/contracts Signal", |b| {
        b.iter(|| decode::<Signal>(black_box(SIGNAL)).unwrap())
    });
    group.bench_function("decode/serde_json Value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(SIGNAL)).unwrap())
    });
    let signal = decode::<Signal>(SIGNAL).unwrap();
    group.bench_function("encode/contracts Signal", |b| {
        b.iter(|| encode(black_box(&signal)))
    });
    group.finish();

    // What the v1.1 envelope costs: the same bar decoded with and without `sent_at_us`, and a
    // publisher's frame spliced with and without it (a fresh clock reading each time).
    let mut group = c.benchmark_group("v1.1 envelope");
    group.bench_function("decode/v1.0 bar", |b| {
        b.iter(|| decode::<MarketMessage>(black_box(BAR_V1_0)).unwrap())
    });
    group.bench_function("decode/v1.1 bar", |b| {
        b.iter(|| decode::<MarketMessage>(black_box(BAR_V1_1)).unwrap())
    });
    let suffix = source_suffix("rs-4242-1a2b3c4d");
    let plain = decode::<BarUpdate>(BAR).unwrap();
    let mut frame = Vec::with_capacity(512);
    group.bench_function("frame/seq source", |b| {
        b.iter(|| {
            frame.clear();
            frame.extend_from_slice(&encode_frame(black_box(&plain)));
            splice_envelope(&mut frame, 41, None, &suffix);
            frame.len()
        })
    });
    group.bench_function("frame/seq sent_at_us source", |b| {
        b.iter(|| {
            frame.clear();
            frame.extend_from_slice(&encode_frame(black_box(&plain)));
            splice_envelope(&mut frame, 41, Some(now_us()), &suffix);
            frame.len()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = codecs
}
/// Criterion prints absolute times; the promises are ratios, so read its estimates back and print them.
fn print_ratios() {
    let root = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let median = |group: &str, id: &str| -> Option<f64> {
        let path = root
            .join("criterion")
            .join(group)
            .join(id.replace('/', "_"))
            .join("new/estimates.json");
        let estimates: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        estimates["median"]["point_estimate"].as_f64()
    };
    println!("\ncontracts codec ratios (criterion medians)");
    let pairs = [
        (
            "BarUpdate",
            "decode/contracts BarUpdate",
            "decode/bare serde struct",
        ),
        (
            "BarUpdate",
            "decode/contracts MarketMessage",
            "decode/bare serde struct",
        ),
        (
            "BarUpdate",
            "decode/contracts BarUpdate",
            "decode/serde_json Value",
        ),
        (
            "BarUpdate",
            "decode/contracts BarUpdate",
            "decode/contracts BarUpdate serde path",
        ),
        (
            "BarUpdate",
            "decode/contracts MarketMessage",
            "decode/contracts MarketMessage serde path",
        ),
        (
            "BarUpdate",
            "encode/contracts BarUpdate",
            "encode/bare serde struct",
        ),
        (
            "Signal",
            "decode/contracts Signal",
            "decode/serde_json Value",
        ),
        ("v1.1 envelope", "decode/v1.1 bar", "decode/v1.0 bar"),
        (
            "v1.1 envelope",
            "frame/seq sent_at_us source",
            "frame/seq source",
        ),
    ];
    for (group, ours, baseline) in pairs {
        if let (Some(a), Some(b)) = (median(group, ours), median(group, baseline)) {
            println!(
                "  {group}: {ours} {a:.0} ns / {baseline} {b:.0} ns = {:.2}x",
                a / b
            );
        }
    }
    if let Some(bar) = median("BarUpdate", "decode/contracts BarUpdate") {
        let verdict = if bar < 300.0 {
            "met"
        } else {
            "NOT met on this machine"
        };
        println!("  target: BarUpdate decode < 300 ns -> {bar:.0} ns ({verdict})");
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}
