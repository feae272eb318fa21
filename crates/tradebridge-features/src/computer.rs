//! The 12-feature vector, per symbol, streaming or over whole columns with the same code.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bar::Bar;
use crate::error::FeatureError;
use crate::indicators::{check_period, slide, Macd, MacdOutput, Rsi, Sma};
use crate::lanes::div2;
use crate::symbol_hash::BuildSymbolHasher;

/// Number of features per bar.
pub const NUM_FEATURES: usize = 12;

/// Feature names in output order (the integration guide's order).
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "close",
    "rsi",
    "macd_line",
    "macd_signal",
    "macd_hist",
    "ema_fast",
    "ema_slow",
    "spread",
    "sma",
    "dist_from_sma",
    "volume",
    "range_pct",
];

/// The periods of every indicator. The MACD is built from the two EMA features, so
/// `macd_line == ema_fast - ema_slow` holds exactly and `fast_period`/`slow_period` serve both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub rsi_period: usize,
    pub fast_period: usize,
    pub slow_period: usize,
    pub signal_period: usize,
    pub sma_period: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            rsi_period: 14,
            fast_period: 12,
            slow_period: 26,
            signal_period: 9,
            sma_period: 20,
        }
    }
}

impl FeatureConfig {
    /// TA-Lib's parameter ranges: every period 2..=100000 except the signal (1..=100000), and
    /// `fast_period < slow_period`.
    pub fn validate(&self) -> Result<(), FeatureError> {
        check_period("rsi_period", self.rsi_period, 2)?;
        check_period("fast_period", self.fast_period, 2)?;
        check_period("slow_period", self.slow_period, 2)?;
        check_period("signal_period", self.signal_period, 1)?;
        check_period("sma_period", self.sma_period, 2)?;
        if self.fast_period >= self.slow_period {
            return Err(FeatureError::FastNotBelowSlow {
                fast: self.fast_period,
                slow: self.slow_period,
            });
        }
        Ok(())
    }

    /// For each feature, the 0-based index of the first bar where it is not NaN (TA-Lib's look-back).
    pub fn lookbacks(&self) -> [usize; NUM_FEATURES] {
        let macd = self.slow_period - 1 + self.signal_period - 1;
        let sma = self.sma_period - 1;
        [
            0,
            self.rsi_period,
            macd,
            macd,
            macd,
            self.fast_period - 1,
            self.slow_period - 1,
            0,
            sma,
            sma,
            0,
            0,
        ]
    }

    /// Bars a symbol needs before every feature is a number.
    pub fn warmup_bars(&self) -> usize {
        self.lookbacks().into_iter().max().unwrap_or(0) + 1
    }
}

/// `part / whole * 100`, lane by lane.
#[inline(always)]
fn percent_of(part: [f64; 2], whole: [f64; 2]) -> [f64; 2] {
    let [a, b] = div2(part, whole);
    [a * 100.0, b * 100.0]
}

/// RSI's new average gain, and the sum of both averages (the ratio's divisor): the longest chain of a
/// warm update, each bar's Wilder division waiting on the previous bar's.
pub(crate) type Averages = [f64; 2];

/// The other loop-carried values of a warm bar: the SMA's window sum (before its division) and the
/// three EMAs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Trend {
    sum: f64,
    fast: f64,
    slow: f64,
    signal: f64,
}

impl Trend {
    #[inline(always)]
    fn of(sum: f64, macd: MacdOutput) -> Self {
        Self {
            sum,
            fast: macd.ema_fast,
            slow: macd.ema_slow,
            signal: macd.signal,
        }
    }
}

/// One warm bar's loop-carried values, which [`Chain::row`] turns into the feature row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Chain {
    pub(crate) averages: Averages,
    pub(crate) trend: Trend,
}

impl Chain {
    /// The 12 features of `bar`, with its six divisions issued as three two-lane ones (same bits: IEEE
    /// division is exact per lane). Nothing here depends on the previous bar.
    #[inline(always)]
    pub(crate) fn row(&self, bar: &Bar, sma_period: f64) -> [f64; NUM_FEATURES] {
        let close = bar.close;
        let [gain, total] = self.averages;
        let Trend {
            sum,
            fast,
            slow,
            signal,
        } = self.trend;
        let [gain_share, sma] = div2([gain, sum], [total, sma_period]);
        // TA-Lib's RSI is 0 when both averages are exactly zero (a flat series): 0 / 0 is computed and
        // dropped, which keeps the loop free of a branch.
        let rsi = if total != 0.0 {
            100.0 * gain_share
        } else {
            0.0
        };
        let spread = bar.high - bar.low;
        let line = fast - slow;
        let [dist_from_sma, range_pct] = percent_of([close - sma, spread], [sma, close]);
        [
            close,
            rsi,
            line,
            signal,
            line - signal,
            fast,
            slow,
            spread,
            sma,
            dist_from_sma,
            bar.volume,
            range_pct,
        ]
    }
}

/// The indicator state of one symbol (one series).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    bars: u64,
    warmup_bars: u64,
    rsi: Rsi,
    macd: Macd,
    sma: Sma,
}

impl SeriesState {
    /// `config` must be valid (see [`FeatureConfig::validate`]).
    pub fn new(config: &FeatureConfig) -> Result<Self, FeatureError> {
        config.validate()?;
        Ok(Self {
            bars: 0,
            warmup_bars: config.warmup_bars() as u64,
            rsi: Rsi::new(config.rsi_period)?,
            macd: Macd::new(config.fast_period, config.slow_period, config.signal_period)?,
            sma: Sma::new(config.sma_period)?,
        })
    }

    /// Bars consumed so far.
    pub fn bars(&self) -> u64 {
        self.bars
    }

    /// True once every feature is a number.
    pub fn is_ready(&self) -> bool {
        self.bars >= self.warmup_bars
    }

    /// Consumes one bar and returns its 12 features (NaN where an indicator is still warming up).
    #[inline]
    pub fn update(&mut self, bar: &Bar) -> [f64; NUM_FEATURES] {
        let close = bar.close;
        // Once every indicator is warm (all but the first few dozen bars) a path without any warm-up
        // bookkeeping runs the same arithmetic.
        if self.bars >= self.warmup_bars {
            return self.update_warm(bar);
        }
        let (rsi, macd, sma) = {
            (
                self.rsi.update(close),
                self.macd.update(close),
                self.sma.update(close),
            )
        };
        let spread = bar.high - bar.low;
        self.bars += 1;
        // dist_from_sma = (close - sma) / sma * 100 and range_pct = spread / close * 100, written as one
        // pair so the compiler can issue a single two-lane division (IEEE per lane: same bits).
        let [dist_from_sma, range_pct] = percent_of([close - sma, spread], [sma, close]);
        [
            close,
            rsi,
            macd.line,
            macd.signal,
            macd.histogram,
            macd.ema_fast,
            macd.ema_slow,
            spread,
            sma,
            dist_from_sma,
            bar.volume,
            range_pct,
        ]
    }

    /// [`SeriesState::update`] once every indicator is warm: the loop-carried indicator state advanced by
    /// one bar, then the row built from it. Only valid when [`SeriesState::is_ready`].
    #[inline(always)]
    fn update_warm(&mut self, bar: &Bar) -> [f64; NUM_FEATURES] {
        let (rsi, mut trend) = self.split_warm();
        let chain = Chain {
            averages: rsi.averages_warm(bar.close),
            trend: trend.advance(bar.close),
        };
        chain.row(bar, trend.sma_period())
    }

    /// A warm state in its two independent halves: the RSI (see [`Rsi::averages_warm`]) and the rest
    /// ([`TrendState`]). The batch kernel advances the first a block of bars ahead of the second, which
    /// writes the rows; streaming advances both for one bar. Both build the row with [`Chain::row`] from
    /// the same per-bar steps ([`RsiRun::step`](crate::indicators::RsiRun::step),
    /// [`SeriesTrend::run`]), so every row comes from the same operations.
    /// Only valid when [`SeriesState::is_ready`].
    pub(crate) fn split_warm(&mut self) -> (&mut Rsi, TrendState<'_>) {
        let SeriesState {
            bars,
            rsi,
            macd,
            sma,
            ..
        } = self;
        (rsi, TrendState { bars, macd, sma })
    }

    fn check_matches(&self, config: &FeatureConfig) -> Result<(), FeatureError> {
        let fresh = SeriesState::new(config)?;
        let same_shape = self.rsi.period() == fresh.rsi.period()
            && self.sma.period() == fresh.sma.period()
            && self.macd.lookback() == fresh.macd.lookback()
            && self.warmup_bars == fresh.warmup_bars
            && self.macd.periods() == fresh.macd.periods();
        let warm = self.rsi.is_ready() && self.macd.is_ready() && self.sma.is_ready();
        if self.bars >= self.warmup_bars && !warm {
            return Err(FeatureError::CorruptState(
                "a warm symbol has indicators still warming up",
            ));
        }
        if same_shape {
            Ok(())
        } else {
            Err(FeatureError::CorruptState(
                "a symbol's periods differ from the computer's",
            ))
        }
    }
}

/// The half of a warm [`SeriesState`] besides the RSI: the bar count, the MACD's EMAs and the SMA.
pub(crate) struct TrendState<'a> {
    bars: &'a mut u64,
    macd: &'a mut Macd,
    sma: &'a mut Sma,
}

impl TrendState<'_> {
    /// The SMA's window sum and the three EMAs advanced by one warm bar (which it counts).
    #[inline(always)]
    pub(crate) fn advance(&mut self, close: f64) -> Trend {
        let sum = self.sma.sum_warm(close);
        let trend = Trend::of(sum, self.macd.update_warm(close));
        *self.bars += 1;
        trend
    }

    /// This state advanced over a series held in memory, run after run (see [`SeriesTrend`]):
    /// `closes` is the series' close column, which the state has seen up to bar `from`.
    pub(crate) fn over_series<'s>(&'s mut self, closes: &'s [f64], from: usize) -> SeriesTrend<'s> {
        assert!(
            !self.sma.is_ready() || from >= self.sma.period(),
            "a warm SMA's window lies in the series"
        );
        SeriesTrend {
            sum: self.sma.running_sum(),
            bars: &mut *self.bars,
            macd: &mut *self.macd,
            sma: &mut *self.sma,
            closes,
            next: from,
        }
    }

    /// The divisor of the SMA (what [`Chain::row`] needs besides the bar).
    pub(crate) fn sma_period(&self) -> f64 {
        self.sma.period_f()
    }
}

/// A warm [`TrendState`] advanced over a series held in memory, one run of bars after another. The SMA
/// takes the value leaving its window from the series (see [`Sma::running_sum`]); its ring is refilled
/// once, when this ends, so between runs nothing is copied and inside a run nothing but registers is
/// touched.
pub(crate) struct SeriesTrend<'s> {
    sum: f64,
    bars: &'s mut u64,
    macd: &'s mut Macd,
    sma: &'s mut Sma,
    closes: &'s [f64],
    /// The series' next bar.
    next: usize,
}

impl SeriesTrend<'_> {
    /// [`TrendState::advance`] over the series' next bars, one per item of `items`, handing each bar's
    /// values with its item to `each(trend, close, item)`. The state is in locals for the run: through
    /// `&mut self`, every store `each` makes could alias it, and the compiler would reload it on every
    /// bar.
    #[inline(always)]
    pub(crate) fn run<T>(
        &mut self,
        items: impl ExactSizeIterator<Item = T>,
        mut each: impl FnMut(Trend, f64, T),
    ) {
        let (start, end) = (self.next, self.next + items.len());
        if start == end {
            return; // the series is still warming up, or the block is empty
        }
        let period = self.sma.period();
        // bar i's window is closes[i + 1 - period..=i]: its oldest value leaves once the mean is taken
        let leaving = &self.closes[start + 1 - period..end + 1 - period];
        let mut sum = self.sum;
        let mut macd = self.macd.clone();
        for ((&close, &leaving), item) in self.closes[start..end].iter().zip(leaving).zip(items) {
            let with_close = slide(&mut sum, close, leaving);
            each(Trend::of(with_close, macd.update_warm(close)), close, item);
        }
        self.sum = sum;
        *self.macd = macd;
        *self.bars += (end - start) as u64;
        self.next = end;
    }
}

impl Drop for SeriesTrend<'_> {
    /// Hands the SMA its sum and its ring back, on success and on a bad bar alike.
    fn drop(&mut self) {
        // a warm SMA's window lies in the series (`over_series`)
        if self.sma.is_ready() {
            self.sma.resume(self.sum, &self.closes[..self.next]);
        }
    }
}

/// Per-symbol streaming feature computer: bars of many symbols may be interleaved on one computer and
/// each symbol gets exactly what a computer of its own would give.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ComputerState", into = "ComputerState")]
pub struct FeatureComputer {
    config: FeatureConfig,
    series: Vec<(Box<str>, SeriesState)>,
    index: HashMap<Box<str>, usize, BuildSymbolHasher>,
    /// Index of the symbol used last: consecutive bars of one symbol skip the hash lookup.
    last: usize,
}

#[derive(Serialize, Deserialize)]
struct ComputerState {
    config: FeatureConfig,
    series: Vec<(Box<str>, SeriesState)>,
}

impl FeatureComputer {
    pub fn new(config: FeatureConfig) -> Result<Self, FeatureError> {
        config.validate()?;
        Ok(Self {
            config,
            series: Vec::new(),
            index: HashMap::default(),
            last: usize::MAX,
        })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    #[inline]
    fn slot(&mut self, symbol: &str) -> usize {
        if let Some((name, _)) = self.series.get(self.last) {
            if **name == *symbol {
                return self.last;
            }
        }
        let slot = match self.index.get(symbol) {
            Some(&slot) => slot,
            None => {
                let state =
                    SeriesState::new(&self.config).expect("config validated in the constructor");
                self.series.push((symbol.into(), state));
                self.index.insert(symbol.into(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.last = slot;
        slot
    }

    /// Consumes one bar of `symbol` and returns its 12 features.
    #[inline]
    pub fn update(&mut self, symbol: &str, bar: &Bar) -> [f64; NUM_FEATURES] {
        let slot = self.slot(symbol);
        self.series[slot].1.update(bar)
    }

    /// Forgets one symbol (returns whether it was known) or, with `None`, every symbol.
    pub fn reset(&mut self, symbol: Option<&str>) -> bool {
        self.last = usize::MAX;
        match symbol {
            None => {
                let had_any = !self.series.is_empty();
                self.series.clear();
                self.index.clear();
                had_any
            }
            Some(symbol) => {
                let Some(slot) = self.index.remove(symbol) else {
                    return false;
                };
                self.series.swap_remove(slot);
                if let Some((moved, _)) = self.series.get(slot) {
                    self.index.insert(moved.clone(), slot);
                }
                true
            }
        }
    }

    /// The state of one symbol, if it has seen a bar.
    pub fn series(&self, symbol: &str) -> Option<&SeriesState> {
        self.index.get(symbol).map(|&slot| &self.series[slot].1)
    }

    /// Symbols in first-seen order (until a reset reorders them).
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.series.iter().map(|(name, _)| &**name)
    }

    /// Whether `symbol` is warm; with `None`, whether at least one symbol exists and all are warm.
    pub fn is_ready(&self, symbol: Option<&str>) -> bool {
        match symbol {
            Some(symbol) => self.series(symbol).is_some_and(SeriesState::is_ready),
            None => !self.series.is_empty() && self.series.iter().all(|(_, s)| s.is_ready()),
        }
    }
}

impl From<FeatureComputer> for ComputerState {
    fn from(c: FeatureComputer) -> Self {
        Self {
            config: c.config,
            series: c.series,
        }
    }
}

impl TryFrom<ComputerState> for FeatureComputer {
    type Error = FeatureError;
    fn try_from(s: ComputerState) -> Result<Self, FeatureError> {
        let mut computer = FeatureComputer::new(s.config)?;
        for (slot, (symbol, state)) in s.series.into_iter().enumerate() {
            state.check_matches(&computer.config)?;
            if computer.index.insert(symbol.clone(), slot).is_some() {
                return Err(FeatureError::CorruptState("a symbol appears twice"));
            }
            computer.series.push((symbol, state));
        }
        Ok(computer)
    }
}
