//! Behaviour of the indicators and the feature computer: TA-Lib vectors, warm-up, per-symbol state,
//! snapshots, batch == streaming, and every rejection path.

use serde::Deserialize;
use tradebridge_features::{
    compute_batch, feature, Bar, BarError, BatchError, Columns, Ema, FeatureComputer,
    FeatureConfig, FeatureError, Macd, Rsi, Sma, FEATURE_NAMES, NUM_FEATURES,
};

#[derive(Deserialize)]
struct Vectors {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    rsi: Vec<Option<f64>>,
    ema12: Vec<Option<f64>>,
    ema26: Vec<Option<f64>>,
    sma20: Vec<Option<f64>>,
    signal_of_ema_line: Vec<Option<f64>>,
}

/// 80 bars with a flat run and a spike, and TA-Lib 0.8's outputs for them (`tests/data/talib_80.json`).
fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/talib_80.json")).unwrap()
}

fn bars(v: &Vectors) -> Vec<Bar> {
    (0..v.close.len())
        .map(|i| Bar::new(v.open[i], v.high[i], v.low[i], v.close[i], v.volume[i]).unwrap())
        .collect()
}

fn assert_matches(name: &str, ours: &[f64], talib: &[Option<f64>]) {
    for (i, (a, b)) in ours.iter().zip(talib).enumerate() {
        match b {
            None => assert!(a.is_nan(), "{name}[{i}] should be NaN (warm-up), got {a}"),
            Some(b) => assert!((a - b).abs() <= 1e-9, "{name}[{i}]: {a} vs TA-Lib {b}"),
        }
    }
}

fn run(mut f: impl FnMut(f64) -> f64, xs: &[f64]) -> Vec<f64> {
    xs.iter().map(|&x| f(x)).collect()
}

#[test]
fn indicators_match_talib_from_their_first_value() {
    let v = vectors();
    let mut rsi = Rsi::new(14).unwrap();
    let mut ema12 = Ema::new(12).unwrap();
    let mut ema26 = Ema::new(26).unwrap();
    let mut sma = Sma::new(20).unwrap();
    assert_matches("rsi", &run(|x| rsi.update(x), &v.close), &v.rsi);
    assert_matches("ema12", &run(|x| ema12.update(x), &v.close), &v.ema12);
    assert_matches("ema26", &run(|x| ema26.update(x), &v.close), &v.ema26);
    assert_matches("sma20", &run(|x| sma.update(x), &v.close), &v.sma20);
}

#[test]
fn features_match_talib_and_follow_the_definitions() {
    let v = vectors();
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    let rows: Vec<[f64; NUM_FEATURES]> = bars(&v).iter().map(|b| computer.update("X", b)).collect();
    let col = |j: usize| rows.iter().map(|r| r[j]).collect::<Vec<f64>>();
    assert_matches("rsi", &col(feature::RSI), &v.rsi);
    assert_matches("ema_fast", &col(feature::EMA_FAST), &v.ema12);
    assert_matches("ema_slow", &col(feature::EMA_SLOW), &v.ema26);
    assert_matches("sma", &col(feature::SMA), &v.sma20);
    // The signal is TA-Lib's EMA(9) over the line; the line is masked until the signal exists (bar 33).
    assert_matches(
        "macd_signal",
        &col(feature::MACD_SIGNAL),
        &v.signal_of_ema_line,
    );
    for (i, r) in rows.iter().enumerate() {
        let bar = bars(&v)[i];
        assert_eq!(r[feature::CLOSE], bar.close);
        assert_eq!(r[feature::VOLUME], bar.volume);
        assert_eq!(r[feature::SPREAD], bar.high - bar.low);
        assert_eq!(
            r[feature::RANGE_PCT],
            (bar.high - bar.low) / bar.close * 100.0
        );
        if i >= 33 {
            assert_eq!(
                r[feature::MACD_LINE],
                r[feature::EMA_FAST] - r[feature::EMA_SLOW]
            );
            assert_eq!(
                r[feature::MACD_HIST],
                r[feature::MACD_LINE] - r[feature::MACD_SIGNAL]
            );
        }
        if i >= 19 {
            assert_eq!(
                r[feature::DIST_FROM_SMA],
                (bar.close - r[feature::SMA]) / r[feature::SMA] * 100.0
            );
        }
    }
}

#[test]
fn each_feature_is_nan_exactly_until_its_lookback() {
    let v = vectors();
    let config = FeatureConfig::default();
    assert_eq!(
        config.lookbacks(),
        [0, 14, 33, 33, 33, 11, 25, 0, 19, 19, 0, 0]
    );
    assert_eq!(config.warmup_bars(), 34);
    let mut computer = FeatureComputer::new(config).unwrap();
    for (i, bar) in bars(&v).iter().enumerate() {
        let row = computer.update("X", bar);
        for (j, lookback) in config.lookbacks().into_iter().enumerate() {
            assert_eq!(
                row[j].is_nan(),
                i < lookback,
                "feature {} at bar {i}",
                FEATURE_NAMES[j]
            );
        }
        assert_eq!(computer.is_ready(Some("X")), i + 1 >= 34);
    }
}

#[test]
fn custom_periods_shift_the_lookbacks() {
    let config = FeatureConfig {
        rsi_period: 5,
        fast_period: 3,
        slow_period: 7,
        signal_period: 4,
        sma_period: 10,
    };
    assert_eq!(config.lookbacks(), [0, 5, 9, 9, 9, 2, 6, 0, 9, 9, 0, 0]);
    let v = vectors();
    let mut computer = FeatureComputer::new(config).unwrap();
    for (i, bar) in bars(&v).iter().enumerate() {
        let row = computer.update("X", bar);
        for (j, lookback) in config.lookbacks().into_iter().enumerate() {
            assert_eq!(
                row[j].is_nan(),
                i < lookback,
                "feature {} at bar {i}",
                FEATURE_NAMES[j]
            );
        }
    }
}

#[test]
fn rsi_extremes_follow_talib() {
    let rising: Vec<f64> = (0..30).map(|i| 100.0 + i as f64).collect();
    let falling: Vec<f64> = rising.iter().rev().copied().collect();
    let mut rsi = Rsi::new(14).unwrap();
    assert_eq!(run(|x| rsi.update(x), &rising)[14..], [100.0; 16]);
    let mut rsi = Rsi::new(14).unwrap();
    assert_eq!(run(|x| rsi.update(x), &falling)[14..], [0.0; 16]);
    // A perfectly flat series has no gains and no losses: TA-Lib reports 0.
    let mut rsi = Rsi::new(14).unwrap();
    assert_eq!(run(|x| rsi.update(x), &[50.0; 20])[14..], [0.0; 6]);
}

#[test]
fn rsi_tracks_the_previous_close_not_the_first() {
    // The original implementation measured every change against the first close: 20 bars up then 20 bars
    // down (still above the start) kept its RSI at 100. Wilder's RSI must fall below 50.
    let mut closes: Vec<f64> = (0..21).map(|i| 100.0 + i as f64).collect();
    closes.extend((1..=15).map(|i| 120.0 - i as f64));
    let mut rsi = Rsi::new(14).unwrap();
    let last = *run(|x| rsi.update(x), &closes).last().unwrap();
    // Wilder: avg gain (13/14)^15 = 0.33, avg loss 0.67, so RSI = 33.
    assert!(
        (last - 32.902_564_520_415_47).abs() < 1e-9,
        "RSI after 15 falling bars: {last}"
    );
}

#[test]
fn macd_line_is_exactly_the_ema_difference() {
    let v = vectors();
    let mut macd = Macd::new(12, 26, 9).unwrap();
    assert_eq!(macd.lookback(), 33);
    for (i, &x) in v.close.iter().enumerate() {
        let out = macd.update(x);
        if i >= 33 {
            assert_eq!(out.line, out.ema_fast - out.ema_slow);
        } else {
            assert!(out.line.is_nan() && out.signal.is_nan() && out.histogram.is_nan());
        }
    }
}

#[test]
fn interleaved_symbols_equal_one_computer_per_symbol() {
    let v = vectors();
    let bars = bars(&v);
    let symbols = ["AAPL", "MSFT", "BTC/USD"];
    let mut shared = FeatureComputer::new(FeatureConfig::default()).unwrap();
    let mut own: Vec<FeatureComputer> = symbols
        .iter()
        .map(|_| FeatureComputer::new(FeatureConfig::default()).unwrap())
        .collect();
    for (i, bar) in bars.iter().enumerate() {
        for k in 0..symbols.len() {
            // A different visiting order on every bar.
            let order = (i * 7 + k) % symbols.len();
            let symbol_now = symbols[order];
            let a = shared.update(symbol_now, bar);
            let b = own[order].update(symbol_now, bar);
            assert_eq!(
                a.map(f64::to_bits),
                b.map(f64::to_bits),
                "{symbol_now} at bar {i}"
            );
        }
    }
    assert!(shared.is_ready(None));
    assert_eq!(shared.symbols().count(), 3);
}

#[test]
fn reset_forgets_one_symbol_or_all() {
    let v = vectors();
    let bars = bars(&v);
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    for bar in &bars[..40] {
        computer.update("A", bar);
        computer.update("B", bar);
        computer.update("C", bar);
    }
    assert!(computer.reset(Some("A")));
    assert!(!computer.reset(Some("A")));
    assert!(!computer.is_ready(Some("A")));
    assert!(computer.is_ready(Some("B")) && computer.is_ready(Some("C")));
    // The symbol that moved into A's slot keeps its own state.
    let mut fresh = FeatureComputer::new(FeatureConfig::default()).unwrap();
    for bar in &bars[..40] {
        fresh.update("C", bar);
    }
    assert_eq!(
        computer.update("C", &bars[40]).map(f64::to_bits),
        fresh.update("C", &bars[40]).map(f64::to_bits)
    );
    assert!(computer.update("A", &bars[0])[feature::RSI].is_nan());
    assert!(computer.reset(None));
    assert!(!computer.is_ready(None));
    assert_eq!(computer.symbols().count(), 0);
}

#[test]
fn snapshot_round_trip_continues_bit_for_bit() {
    let v = vectors();
    let bars = bars(&v);
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    for bar in &bars[..50] {
        computer.update("A", bar);
        computer.update("B", bar);
    }
    let json = serde_json::to_string(&computer).unwrap();
    let mut restored: FeatureComputer = serde_json::from_str(&json).unwrap();
    for bar in &bars[50..] {
        for symbol in ["A", "B"] {
            assert_eq!(
                computer.update(symbol, bar).map(f64::to_bits),
                restored.update(symbol, bar).map(f64::to_bits)
            );
        }
    }
}

#[test]
fn corrupt_snapshots_are_errors_not_panics() {
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    computer.update("A", &Bar::new(1.0, 1.0, 1.0, 1.0, 1.0).unwrap());
    let json = serde_json::to_string(&computer).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // A ring buffer shorter than the SMA period would index out of bounds if it were trusted.
    value["series"][0][1]["sma"]["ring"] = serde_json::json!([0, 0]);
    let err = serde_json::from_value::<FeatureComputer>(value.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("SMA window"), "{err}");
    value["series"][0][1]["sma"]["ring"] = serde_json::json!(vec![0; 20]);
    value["series"][0][1]["sma"]["pos"] = serde_json::json!(20);
    assert!(serde_json::from_value::<FeatureComputer>(value.clone()).is_err());
    value["series"][0][1]["sma"]["pos"] = serde_json::json!(1);
    value["config"]["slow_period"] = serde_json::json!(5);
    let err = serde_json::from_value::<FeatureComputer>(value.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("fast_period"), "{err}");
    value["config"]["slow_period"] = serde_json::json!(26);
    value["series"][0][1]["bars"] = serde_json::json!(1000); // "warm", yet its indicators saw one bar
    let err = serde_json::from_value::<FeatureComputer>(value.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("still warming up"), "{err}");
    value["series"][0][1]["bars"] = serde_json::json!(1);
    value["config"]["slow_period"] = serde_json::json!(30);
    let err = serde_json::from_value::<FeatureComputer>(value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("periods differ"), "{err}");
}

#[test]
fn batch_equals_streaming_bit_for_bit() {
    let v = vectors();
    let n = v.close.len();
    let mut out = vec![0.0; n * NUM_FEATURES];
    let columns = Columns {
        open: &v.open,
        high: &v.high,
        low: &v.low,
        close: &v.close,
        volume: &v.volume,
    };
    compute_batch(&FeatureConfig::default(), columns, &mut out).unwrap();
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    for (i, bar) in bars(&v).iter().enumerate() {
        let row = computer.update("X", bar);
        let batch_row = &out[i * NUM_FEATURES..(i + 1) * NUM_FEATURES];
        assert_eq!(
            row.map(f64::to_bits).to_vec(),
            batch_row.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}

/// A series long enough that the batch output is far bigger than the caches (the kernel then writes it
/// with streaming stores when it is 16-byte aligned), built from the 80 vectors repeated at drifting
/// price levels.
fn long_columns(n: usize) -> [Vec<f64>; 5] {
    let v = vectors();
    let pick = |c: &[f64], i: usize| c[i % c.len()] * (1.0 + (i / c.len()) as f64 * 1e-3);
    [&v.open, &v.high, &v.low, &v.close, &v.volume].map(|c| (0..n).map(|i| pick(c, i)).collect())
}

#[test]
fn large_batches_equal_streaming_whatever_the_output_alignment() {
    let n = 60_000; // 5.8 MB of output: well above the streaming-store threshold
    let [open, high, low, close, volume] = long_columns(n);
    let columns = Columns {
        open: &open,
        high: &high,
        low: &low,
        close: &close,
        volume: &volume,
    };
    let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
    let expected: Vec<u64> = (0..n)
        .flat_map(|i| {
            let bar = Bar::new(open[i], high[i], low[i], close[i], volume[i]).unwrap();
            computer.update("X", &bar).map(f64::to_bits)
        })
        .collect();
    // Offset 0 of a fresh allocation is 16-byte aligned; offset 1 is only 8-byte aligned.
    let mut buffer = vec![f64::NAN; n * NUM_FEATURES + 1];
    for offset in [0, 1] {
        let out = &mut buffer[offset..offset + n * NUM_FEATURES];
        compute_batch(&FeatureConfig::default(), columns, out).unwrap();
        let got: Vec<u64> = out.iter().map(|x| x.to_bits()).collect();
        assert!(
            got == expected,
            "offset {offset}: batch differs from streaming"
        );
    }
    // A bad bar deep in a streamed batch still names its index, and the rows before it are written.
    let mut bad_close = close.clone();
    bad_close[n - 5] = -1.0;
    buffer.fill(f64::NAN);
    let out = &mut buffer[..n * NUM_FEATURES];
    let err = compute_batch(
        &FeatureConfig::default(),
        Columns {
            close: &bad_close,
            ..columns
        },
        out,
    )
    .unwrap_err();
    assert!(matches!(err, BatchError::InvalidBar { index, .. } if index == n - 5));
    let written = (n - 5) * NUM_FEATURES;
    assert!(out[..written]
        .iter()
        .map(|x| x.to_bits())
        .eq(expected[..written].iter().copied()));
}

#[test]
fn batch_rejects_bad_columns_and_bars() {
    let v = vectors();
    let config = FeatureConfig::default();
    let mut out = vec![0.0; v.close.len() * NUM_FEATURES];
    let short = &v.low[..10];
    let columns = Columns {
        open: &v.open,
        high: &v.high,
        low: short,
        close: &v.close,
        volume: &v.volume,
    };
    assert!(matches!(
        compute_batch(&config, columns, &mut out),
        Err(BatchError::LengthMismatch {
            column: "low",
            len: 10,
            ..
        })
    ));
    let columns = Columns {
        open: &v.open,
        high: &v.high,
        low: &v.low,
        close: &v.close,
        volume: &v.volume,
    };
    assert!(matches!(
        compute_batch(&config, columns, &mut out[1..]),
        Err(BatchError::OutputSize { .. })
    ));
    let mut close = v.close.clone();
    close[7] = f64::NAN;
    let columns = Columns {
        close: &close,
        ..columns
    };
    let err = compute_batch(&config, columns, &mut out).unwrap_err();
    assert!(matches!(
        err,
        BatchError::InvalidBar {
            index: 7,
            error: BarError::NotFinite { field: "close", .. }
        }
    ));
    assert_eq!(err.to_string(), "bar 7: close must be finite, got NaN");
    let bad = FeatureConfig {
        sma_period: 0,
        ..config
    };
    assert!(matches!(
        compute_batch(&bad, columns, &mut out),
        Err(BatchError::Config(_))
    ));
}

#[test]
fn bar_validation() {
    assert!(Bar::new(10.0, 11.0, 9.0, 10.5, 0.0).is_ok());
    assert!(matches!(
        Bar::new(f64::INFINITY, 11.0, 9.0, 10.0, 1.0),
        Err(BarError::NotFinite { field: "open", .. })
    ));
    assert!(matches!(
        Bar::new(10.0, 11.0, 9.0, 10.0, f64::NAN),
        Err(BarError::NotFinite {
            field: "volume",
            ..
        })
    ));
    assert!(matches!(
        Bar::new(10.0, 11.0, 0.0, 10.0, 1.0),
        Err(BarError::NotPositive { field: "low", .. })
    ));
    assert!(matches!(
        Bar::new(10.0, 11.0, 9.0, 10.0, -1.0),
        Err(BarError::NegativeVolume { .. })
    ));
    assert!(matches!(
        Bar::new(8.0, 11.0, 9.0, 10.0, 1.0),
        Err(BarError::BelowLow { field: "open", .. })
    ));
    assert!(matches!(
        Bar::new(10.0, 11.0, 9.0, 12.0, 1.0),
        Err(BarError::AboveHigh { field: "close", .. })
    ));
    assert_eq!(
        Bar::new(10.0, 9.5, 9.0, 9.2, 1.0).unwrap_err().to_string(),
        "open (10) must be <= high (9.5)"
    );
}

#[test]
fn parameters_are_validated() {
    let ok = FeatureConfig::default();
    assert!(ok.validate().is_ok());
    let cases = [
        (
            FeatureConfig {
                rsi_period: 1,
                ..ok
            },
            "rsi_period must be between 2 and 100000, got 1",
        ),
        (
            FeatureConfig {
                sma_period: 100_001,
                ..ok
            },
            "sma_period must be between 2 and 100000, got 100001",
        ),
        (
            FeatureConfig {
                signal_period: 0,
                ..ok
            },
            "signal_period must be between 1 and 100000, got 0",
        ),
        (
            FeatureConfig {
                fast_period: 26,
                ..ok
            },
            "fast_period (26) must be smaller than slow_period (26)",
        ),
    ];
    for (config, message) in cases {
        assert_eq!(
            FeatureComputer::new(config).unwrap_err().to_string(),
            message
        );
    }
    assert!(matches!(Ema::new(0), Err(FeatureError::OutOfRange { .. })));
    assert!(matches!(
        Macd::new(26, 12, 9),
        Err(FeatureError::FastNotBelowSlow { .. })
    ));
}

#[test]
fn sma_matches_the_plain_mean() {
    let xs: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 + 0.25).collect();
    let mut sma = Sma::new(7).unwrap();
    for (i, &x) in xs.iter().enumerate() {
        let got = sma.update(x);
        if i < 6 {
            assert!(got.is_nan());
        } else {
            let mean = xs[i - 6..=i].iter().sum::<f64>() / 7.0;
            assert!((got - mean).abs() < 1e-12, "bar {i}: {got} vs {mean}");
        }
    }
}
