//! The Rust core alone (no Python involved): one streaming update, the batch over 100,000 bars, and over
//! 1,000,000 bars beside its two limits: RSI's Wilder chain alone, which no bit-exact kernel can run
//! faster, and the memory traffic alone.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradebridge_features::{
    compute_batch, Bar, Columns, FeatureComputer, FeatureConfig, Rsi, NUM_FEATURES,
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

fn columns_of(bars: &[Bar]) -> [Vec<f64>; 5] {
    let column = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    [
        column(|b| b.open),
        column(|b| b.high),
        column(|b| b.low),
        column(|b| b.close),
        column(|b| b.volume),
    ]
}

fn as_columns(columns: &[Vec<f64>; 5]) -> Columns<'_> {
    Columns {
        open: &columns[0],
        high: &columns[1],
        low: &columns[2],
        close: &columns[3],
        volume: &columns[4],
    }
}

/// One batch over `columns` into `out`, opaque to the optimiser.
fn batch_into(config: &FeatureConfig, columns: &[Vec<f64>; 5], out: &mut [f64]) {
    compute_batch(config, black_box(as_columns(columns)), black_box(out)).unwrap()
}

fn batch(c: &mut Criterion) {
    let bars = bars(100_000);
    let columns = columns_of(&bars);
    let mut out = vec![0.0; bars.len() * NUM_FEATURES];
    let config = FeatureConfig::default();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.bench_function("compute_batch_100k", |b| {
        b.iter(|| batch_into(&config, &columns, &mut out))
    });
    group.finish();
}

/// The memory traffic of a batch without its arithmetic: read the five columns, stream 12 values per
/// row to the output as the kernel does. No kernel over these buffers can beat it.
fn memory_traffic(columns: &[Vec<f64>; 5], out: &mut [f64]) {
    let rows = out.chunks_exact_mut(NUM_FEATURES);
    let bars = columns[0]
        .iter()
        .zip(&columns[1])
        .zip(&columns[2])
        .zip(&columns[3])
        .zip(&columns[4]);
    for (row, ((((&o, &h), &l), &c), &v)) in rows.zip(bars) {
        let values = [o, h, l, c, v, o, h, l, c, v, o, h];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_loadu_pd, _mm_stream_pd};
            // SAFETY: SSE2 is baseline on x86-64; the Vec below is 16-byte aligned (f64 allocations of
            // this size come from mmap) and rows are 96 bytes, so every pair is aligned and in bounds.
            unsafe {
                for pair in 0..6 {
                    _mm_stream_pd(
                        row.as_mut_ptr().add(pair * 2),
                        _mm_loadu_pd(values.as_ptr().add(pair * 2)),
                    );
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        row.copy_from_slice(&values);
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a fence has no operands.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// 1M bars into a reused buffer (the Python bench's case) beside the two things it cannot beat.
fn batch_million(c: &mut Criterion) {
    let bars = bars(1_000_000);
    let columns = columns_of(&bars);
    let mut out = vec![0.0; bars.len() * NUM_FEATURES];
    assert_eq!(
        out.as_ptr() as usize % 16,
        0,
        "the streamed rows need 16-byte alignment"
    );
    let config = FeatureConfig::default();
    let mut group = c.benchmark_group("batch_1m");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.sample_size(20);
    group.bench_function("compute_batch", |b| {
        b.iter(|| batch_into(&config, &columns, &mut out))
    });
    // TA-Lib's RSI update alone, bar after bar: its Wilder division waits on the previous bar's.
    group.bench_function("limit_rsi_chain_alone", |b| {
        b.iter(|| {
            let mut rsi = Rsi::new(config.rsi_period).unwrap();
            let mut last = 0.0;
            for &close in black_box(&columns[3]) {
                last = rsi.update(close);
            }
            last
        })
    });
    group.bench_function("limit_memory_traffic_alone", |b| {
        b.iter(|| memory_traffic(black_box(&columns), black_box(&mut out)))
    });
    group.finish();
}

criterion_group!(benches, streaming, batch, batch_million);
criterion_main!(benches);
