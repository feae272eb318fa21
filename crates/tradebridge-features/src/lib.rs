//! Streaming, TA-Lib-exact technical indicators and the 12-feature bar vector.
//!
//! [`FeatureComputer`] keeps one [`SeriesState`] per symbol and turns every [`Bar`] into
//! `[close, rsi, macd_line, macd_signal, macd_hist, ema_fast, ema_slow, spread, sma, dist_from_sma,
//! volume, range_pct]` ([`FEATURE_NAMES`]). [`compute_batch`] runs the same per-bar update over whole
//! columns, so batch and streaming agree bit for bit. The building blocks [`Ema`], [`Sma`], [`Rsi`] and
//! [`Macd`] are public.
//!
//! # Warm-up
//!
//! A feature is NaN until its indicator has TA-Lib's look-back; [`FeatureConfig::lookbacks`] gives the
//! 0-based first valid bar of each feature and [`FeatureConfig::warmup_bars`] the bars after which none is
//! NaN. With the default periods (RSI 14, EMA 12/26, signal 9, SMA 20):
//!
//! | feature | first non-NaN bar | general |
//! |---|---|---|
//! | `close`, `spread`, `volume`, `range_pct` | 0 | 0 |
//! | `rsi` | 14 | `rsi_period` |
//! | `macd_line`, `macd_signal`, `macd_hist` | 33 | `slow_period - 1 + signal_period - 1` |
//! | `ema_fast` | 11 | `fast_period - 1` |
//! | `ema_slow` | 25 | `slow_period - 1` |
//! | `sma`, `dist_from_sma` | 19 | `sma_period - 1` |
//!
//! RSI, EMA and SMA equal TA-Lib's from their first value. The MACD line is exactly
//! `ema_fast - ema_slow`; TA-Lib's `MACD` seeds its fast EMA later, so it agrees (within 1e-9) only after
//! that seeding difference has decayed, about bar 130 for prices near 100. See the crate README.
//!
//! # Example
//!
//! ```
//! use tradebridge_features::{Bar, FeatureComputer, FeatureConfig, feature};
//!
//! let mut computer = FeatureComputer::new(FeatureConfig::default()).unwrap();
//! let mut last = [f64::NAN; 12];
//! for i in 0..40 {
//!     let close = 100.0 + (i % 7) as f64;
//!     let bar = Bar::new(close, close + 1.0, close - 1.0, close, 1_000.0).unwrap();
//!     last = computer.update("AAPL", &bar);
//! }
//! assert!(computer.is_ready(Some("AAPL")));
//! assert_eq!(last[feature::MACD_LINE], last[feature::EMA_FAST] - last[feature::EMA_SLOW]);
//! ```

mod bar;
mod batch;
mod computer;
mod error;
mod exact;
mod indicators;
mod lanes;
mod symbol_hash;

pub use bar::Bar;
pub use batch::{compute_batch, Columns};
pub use computer::{FeatureComputer, FeatureConfig, SeriesState, FEATURE_NAMES, NUM_FEATURES};
pub use error::{BarError, BatchError, FeatureError};
pub use indicators::{Ema, Macd, MacdOutput, Rsi, Sma, MAX_PERIOD};

/// Column index of each feature in the output vector.
pub mod feature {
    pub const CLOSE: usize = 0;
    pub const RSI: usize = 1;
    pub const MACD_LINE: usize = 2;
    pub const MACD_SIGNAL: usize = 3;
    pub const MACD_HIST: usize = 4;
    pub const EMA_FAST: usize = 5;
    pub const EMA_SLOW: usize = 6;
    pub const SPREAD: usize = 7;
    pub const SMA: usize = 8;
    pub const DIST_FROM_SMA: usize = 9;
    pub const VOLUME: usize = 10;
    pub const RANGE_PCT: usize = 11;
}
