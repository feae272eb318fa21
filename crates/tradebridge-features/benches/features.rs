//! The Rust core alone: one streaming update, and the batch over 100,000 bars (no Python involved).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradebridge_features::{
    compute_batch, Bar, Columns, FeatureComputer, FeatureConfig, NUM_FEATURES,
};

/// A deterministic random walk (xorshift), so runs compare without a rand dependency.
fn bars(n: usize) -> Vec<Bar> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut unit = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0_f64;
    (0..n)
        .map(|_| {
            let open = close;
            close *= 1.0 + (unit() - 0.5) * 0.004;
            let high = open.max(close) * (1.0 + unit() * 0.001);
            let low = open.min(close) * (1.0 - unit() * 0.001);
            Bar::new(open, high, low, close, 1_000.0 + unit() * 500.0)
                .expect("generated bar is valid")
        })
        .collect()
}

fn streaming(c: &mut Criterion) {
    let bars = bars(100_000);
    let mut group = c.benchmark_group("streaming");
    group.throughput(Throughput::Elements(1));
    group.bench_function("update_one_symbol", |b| {
        let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
        let mut i = 0;
        b.iter(|| {
            i = if i + 1 == bars.len() { 0 } else { i + 1 };
            black_box(computer.update(black_box("AAPL"), &bars[i]))
        })
    });
    group.bench_function("update_four_symbols_interleaved", |b| {
        let symbols = ["AAPL", "MSFT", "BRK.B", "BTC/USD"];
        let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
        let mut i = 0;
        b.iter(|| {
            i = if i + 1 == bars.len() { 0 } else { i + 1 };
            black_box(computer.update(black_box(symbols[i & 3]), &bars[i]))
        })
    });
    group.finish();
}

fn batch(c: &mut Criterion) {
    let bars = bars(100_000);
    let column = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let (open, high, low, close, volume) = (
        column(|b| b.open),
        column(|b| b.high),
        column(|b| b.low),
        column(|b| b.close),
        column(|b| b.volume),
    );
    let columns = Columns {
        open: &open,
        high: &high,
        low: &low,
        close: &close,
        volume: &volume,
    };
    let mut out = vec![0.0; bars.len() * NUM_FEATURES];
    let config = FeatureConfig::default();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.bench_function("compute_batch_100k", |b| {
        b.iter(|| compute_batch(&config, black_box(columns), black_box(&mut out)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, streaming, batch);
criterion_main!(benches);
