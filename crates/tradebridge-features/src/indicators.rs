//! Streaming indicators with TA-Lib's seeding and look-backs.
//!
//! Each indicator consumes one value per call and returns NaN until it has seen TA-Lib's look-back, then
//! the value TA-Lib computes for that bar. The arithmetic follows TA-Lib's C code (`ta_EMA.c`, `ta_SMA.c`,
//! `ta_RSI.c`); the SMA matches the `talib` wheel bit for bit, EMA and RSI within about 1e-13 (the
//! wheel's build rounds differently in the last bits now and then).
//!
//! Serialized state is validated on the way back in (a corrupt snapshot is an error, never a panic or a
//! silently wrong indicator); the smoothing factors are recomputed from the period rather than trusted.

use serde::{Deserialize, Serialize};

use crate::error::FeatureError;

/// Largest period any indicator accepts (TA-Lib's limit). It also bounds the SMA's ring buffer.
pub const MAX_PERIOD: usize = 100_000;

pub(crate) fn check_period(
    name: &'static str,
    value: usize,
    min: usize,
) -> Result<usize, FeatureError> {
    if (min..=MAX_PERIOD).contains(&value) {
        Ok(value)
    } else {
        Err(FeatureError::OutOfRange {
            name,
            value,
            min,
            max: MAX_PERIOD,
        })
    }
}

/// Exponential moving average, `alpha = 2 / (period + 1)`, seeded with the SMA of the first `period`
/// inputs (TA-Lib `EMA`). First value on input number `period` (look-back `period - 1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EmaState", into = "EmaState")]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

#[derive(Serialize, Deserialize)]
struct EmaState {
    period: usize,
    seen: usize,
    #[serde(with = "crate::exact")]
    seed_sum: f64,
    #[serde(with = "crate::exact")]
    value: f64,
}

impl Ema {
    pub fn new(period: usize) -> Result<Self, FeatureError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            k: 2.0 / (period + 1) as f64,
            seen: 0,
            seed_sum: 0.0,
            value: f64::NAN,
        })
    }

    pub fn period(&self) -> usize {
        self.period
    }

    /// Index (0-based) of the first input that yields a value.
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    pub fn is_ready(&self) -> bool {
        self.seen == self.period
    }

    /// The last value (NaN while warming up).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The update once warm, without the warm-up bookkeeping. Only valid when [`Ema::is_ready`].
    #[inline(always)]
    pub(crate) fn update_warm(&mut self, x: f64) -> f64 {
        self.value = ((x - self.value) * self.k) + self.value;
        self.value
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> f64 {
        if self.seen == self.period {
            self.update_warm(x);
        } else {
            self.seed_sum += x;
            self.seen += 1;
            if self.seen == self.period {
                self.value = self.seed_sum / self.period as f64;
            }
        }
        self.value
    }
}

impl From<Ema> for EmaState {
    fn from(e: Ema) -> Self {
        Self {
            period: e.period,
            seen: e.seen,
            seed_sum: e.seed_sum,
            value: e.value,
        }
    }
}

impl TryFrom<EmaState> for Ema {
    type Error = FeatureError;
    fn try_from(s: EmaState) -> Result<Self, FeatureError> {
        let mut ema = Ema::new(s.period)?;
        if s.seen > s.period {
            return Err(FeatureError::CorruptState(
                "EMA has seen more seed values than its period",
            ));
        }
        ema.seen = s.seen;
        ema.seed_sum = s.seed_sum;
        ema.value = s.value;
        Ok(ema)
    }
}

/// Simple moving average over the last `period` inputs with TA-Lib's running sum (add the newest,
/// divide, then subtract the value that leaves next). First value on input `period` (look-back
/// `period - 1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SmaState", into = "SmaState")]
pub struct Sma {
    period: usize,
    seen: usize,
    /// Next slot to write; once full, the slot after the newest holds the oldest value in the window.
    pos: usize,
    sum: f64,
    ring: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct SmaState {
    period: usize,
    seen: usize,
    pos: usize,
    #[serde(with = "crate::exact")]
    sum: f64,
    #[serde(with = "crate::exact::vec")]
    ring: Vec<f64>,
}

impl Sma {
    pub fn new(period: usize) -> Result<Self, FeatureError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            seen: 0,
            pos: 0,
            sum: 0.0,
            ring: vec![0.0; period],
        })
    }

    pub fn period(&self) -> usize {
        self.period
    }

    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    pub fn is_ready(&self) -> bool {
        self.seen == self.period
    }

    /// The warm update's first half ([`Sma::update_warm`]'s, and the streaming feature row's): the window
    /// sum the mean divides (after `x` joins it), the ring and the position kept. Only valid when
    /// [`Sma::is_ready`].
    #[inline(always)]
    pub(crate) fn sum_warm(&mut self, x: f64) -> f64 {
        self.ring[self.pos] = x;
        self.pos = if self.pos + 1 == self.period {
            0
        } else {
            self.pos + 1
        };
        slide(&mut self.sum, x, self.ring[self.pos])
    }

    /// The running sum (the window's newest `period - 1` values): a run over a series held in memory
    /// carries it in a local and slides it with [`slide`], taking the value that leaves the window from
    /// the series itself, so the ring is neither read nor written per bar (a store, a load and the
    /// position's bookkeeping less); [`Sma::resume`] hands the sum back.
    #[inline(always)]
    pub(crate) fn running_sum(&self) -> f64 {
        self.sum
    }

    /// Ends a run started with [`Sma::running_sum`]: `series` is the series up to and including the
    /// run's last bar. The ring gets its last `period` values, oldest first, as [`Sma::sum_warm`] would
    /// have left them.
    pub(crate) fn resume(&mut self, sum: f64, series: &[f64]) {
        self.sum = sum;
        self.ring
            .copy_from_slice(&series[series.len() - self.period..]);
        self.pos = 0;
    }

    /// The divisor of the mean.
    #[inline(always)]
    pub(crate) fn period_f(&self) -> f64 {
        self.period as f64
    }

    /// The update once warm, without the warm-up bookkeeping. Only valid when [`Sma::is_ready`].
    #[inline(always)]
    pub(crate) fn update_warm(&mut self, x: f64) -> f64 {
        self.sum_warm(x) / self.period_f()
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> f64 {
        if self.seen == self.period {
            return self.update_warm(x);
        }
        self.sum += x;
        self.ring[self.pos] = x;
        self.pos = if self.pos + 1 == self.period {
            0
        } else {
            self.pos + 1
        };
        if self.seen < self.period {
            self.seen += 1;
            if self.seen < self.period {
                return f64::NAN;
            }
        }
        let mean = self.sum / self.period as f64;
        // `pos` now points at the oldest value of the current window: the one that leaves next.
        self.sum -= self.ring[self.pos];
        mean
    }
}

/// The window sum as the mean divides it, with `x` in, and the running sum with `leaving` (the window's
/// oldest value) already out for the next bar: TA-Lib's order of operations, which every SMA path
/// shares.
#[inline(always)]
pub(crate) fn slide(sum: &mut f64, x: f64, leaving: f64) -> f64 {
    *sum += x;
    let with_x = *sum;
    *sum -= leaving;
    with_x
}

impl From<Sma> for SmaState {
    fn from(s: Sma) -> Self {
        Self {
            period: s.period,
            seen: s.seen,
            pos: s.pos,
            sum: s.sum,
            ring: s.ring,
        }
    }
}

impl TryFrom<SmaState> for Sma {
    type Error = FeatureError;
    fn try_from(s: SmaState) -> Result<Self, FeatureError> {
        let period = check_period("period", s.period, 1)?;
        if s.ring.len() != period || s.pos >= period || s.seen > period {
            return Err(FeatureError::CorruptState(
                "SMA window does not match its period",
            ));
        }
        Ok(Self {
            period,
            seen: s.seen,
            pos: s.pos,
            sum: s.sum,
            ring: s.ring,
        })
    }
}

/// Relative strength index with Wilder smoothing on a 0..100 scale (TA-Lib `RSI`).
///
/// The first value averages the first `period` price changes plainly; after that
/// `avg = (avg * (period - 1) + change) / period`. RSI is `100 * gain / (gain + loss)`, and 0 when both
/// averages are exactly zero (a perfectly flat series), as TA-Lib does. First value on input
/// `period + 1` (look-back `period`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RsiState", into = "RsiState")]
pub struct Rsi {
    period: usize,
    period_f: f64,
    period_minus_one: f64,
    /// Inputs seen, saturating at `period + 1` (warm).
    seen: usize,
    prev: f64,
    avg_gain: f64,
    avg_loss: f64,
}

#[derive(Serialize, Deserialize)]
struct RsiState {
    period: usize,
    seen: usize,
    #[serde(with = "crate::exact")]
    prev: f64,
    #[serde(with = "crate::exact")]
    avg_gain: f64,
    #[serde(with = "crate::exact")]
    avg_loss: f64,
}

impl Rsi {
    pub fn new(period: usize) -> Result<Self, FeatureError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            period_f: period as f64,
            period_minus_one: (period - 1) as f64,
            seen: 0,
            prev: f64::NAN,
            avg_gain: 0.0,
            avg_loss: 0.0,
        })
    }

    pub fn period(&self) -> usize {
        self.period
    }

    pub fn lookback(&self) -> usize {
        self.period
    }

    pub fn is_ready(&self) -> bool {
        self.seen > self.period
    }

    #[inline]
    fn ratio(&self) -> f64 {
        let total = self.avg_gain + self.avg_loss;
        if total != 0.0 {
            100.0 * (self.avg_gain / total)
        } else {
            0.0
        }
    }

    /// The warm update's first half: the new averages (see [`RsiRun::step`]). Returns `[avg_gain,
    /// avg_gain + avg_loss]`, the operands of [`Rsi::update_warm`]'s ratio. Only valid when
    /// [`Rsi::is_ready`].
    #[inline(always)]
    pub(crate) fn averages_warm(&mut self, x: f64) -> [f64; 2] {
        let mut run = self.run();
        let averages = run.step(x);
        self.end_run(run);
        averages
    }

    /// A warm RSI's averages as values for a run of bars (see [`RsiRun`]); [`Rsi::end_run`] takes them
    /// back.
    #[inline(always)]
    pub(crate) fn run(&self) -> RsiRun {
        RsiRun {
            averages: [self.avg_loss, self.avg_gain],
            prev: self.prev,
            period_minus_one: self.period_minus_one,
            period_f: self.period_f,
        }
    }

    /// The state after a run of bars started by [`Rsi::run`].
    #[inline(always)]
    pub(crate) fn end_run(&mut self, run: RsiRun) {
        let [loss, gain] = run.averages;
        self.avg_loss = loss;
        self.avg_gain = gain;
        self.prev = run.prev;
    }

    /// The update once warm, without the warm-up bookkeeping. Only valid when [`Rsi::is_ready`].
    #[inline(always)]
    pub(crate) fn update_warm(&mut self, x: f64) -> f64 {
        self.averages_warm(x);
        self.ratio()
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> f64 {
        if self.seen > self.period {
            return self.update_warm(x);
        }
        let change = x - self.prev;
        self.prev = x;
        self.seen += 1;
        if self.seen == 1 {
            return f64::NAN; // the first input only sets the previous price
        }
        if change < 0.0 {
            self.avg_loss -= change;
        } else {
            self.avg_gain += change;
        }
        if self.seen <= self.period {
            return f64::NAN;
        }
        self.avg_loss /= self.period_f;
        self.avg_gain /= self.period_f;
        self.ratio()
    }
}

/// A warm [`Rsi`]'s Wilder averages over a run of bars, as a value the compiler keeps in registers, and
/// as one `[loss, gain]` pair in the lane order the two-lane division takes, so that the chain from one
/// bar's division to the next has no shuffle in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RsiRun {
    averages: [f64; 2],
    prev: f64,
    period_minus_one: f64,
    period_f: f64,
}

impl RsiRun {
    /// [`Rsi::averages_warm`].
    #[inline(always)]
    pub(crate) fn step(&mut self, x: f64) -> [f64; 2] {
        let change = x - self.prev;
        self.prev = x;
        // `[down, up]`: TA-Lib adds the change to one average only; adding +0.0 to the other is exact
        // (both are >= +0), and doing it to both keeps the loop free of an unpredictable branch
        let moves = crate::lanes::positive2([-change, change]);
        let [loss, gain] = self.averages;
        self.averages = crate::lanes::div2(
            [
                loss * self.period_minus_one + moves[0],
                gain * self.period_minus_one + moves[1],
            ],
            [self.period_f, self.period_f],
        );
        let [loss, gain] = self.averages;
        [gain, gain + loss]
    }
}

impl From<Rsi> for RsiState {
    fn from(r: Rsi) -> Self {
        Self {
            period: r.period,
            seen: r.seen,
            prev: r.prev,
            avg_gain: r.avg_gain,
            avg_loss: r.avg_loss,
        }
    }
}

impl TryFrom<RsiState> for Rsi {
    type Error = FeatureError;
    fn try_from(s: RsiState) -> Result<Self, FeatureError> {
        let mut rsi = Rsi::new(s.period)?;
        if s.seen > s.period + 1 {
            return Err(FeatureError::CorruptState(
                "RSI has seen more seed values than its period",
            ));
        }
        rsi.seen = s.seen;
        rsi.prev = s.prev;
        rsi.avg_gain = s.avg_gain;
        rsi.avg_loss = s.avg_loss;
        Ok(rsi)
    }
}

/// One MACD step: the two EMAs it is built from and the three MACD outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdOutput {
    pub ema_fast: f64,
    pub ema_slow: f64,
    pub line: f64,
    pub signal: f64,
    pub histogram: f64,
}

/// MACD built from two standard SMA-seeded EMAs: `line = ema_fast - ema_slow` exactly, `signal` is the
/// EMA(`signal_period`) of the line seeded with the SMA of its first `signal_period` values, and
/// `histogram = line - signal`.
///
/// Line, signal and histogram are all NaN until the signal exists (TA-Lib's MACD look-back
/// `slow - 1 + signal - 1`, 33 for 12/26/9). TA-Lib's own MACD seeds its fast EMA later (with the SMA of
/// the 12 inputs before the slow EMA's first value), so during warm-up it differs from
/// `EMA(12) - EMA(26)`; the difference decays by `(1 - 2/(fast+1))` per bar and falls below 1e-9 around
/// bar 120-130 for prices near 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MacdState", into = "MacdState")]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

#[derive(Serialize, Deserialize)]
struct MacdState {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, FeatureError> {
        let fast = check_period("fast_period", fast, 1)?;
        let slow = check_period("slow_period", slow, 1)?;
        let signal = check_period("signal_period", signal, 1)?;
        if fast >= slow {
            return Err(FeatureError::FastNotBelowSlow { fast, slow });
        }
        Ok(Self {
            fast: Ema::new(fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
        })
    }

    /// `(fast, slow, signal)` periods.
    pub fn periods(&self) -> (usize, usize, usize) {
        (self.fast.period(), self.slow.period(), self.signal.period())
    }

    pub fn lookback(&self) -> usize {
        self.slow.lookback() + self.signal.lookback()
    }

    pub fn is_ready(&self) -> bool {
        self.fast.is_ready() && self.slow.is_ready() && self.signal.is_ready()
    }

    /// The update once warm (signal seeded), without the warm-up bookkeeping. Only valid when
    /// [`Macd::is_ready`].
    #[inline(always)]
    pub(crate) fn update_warm(&mut self, x: f64) -> MacdOutput {
        let ema_fast = self.fast.update_warm(x);
        let ema_slow = self.slow.update_warm(x);
        let line = ema_fast - ema_slow;
        let signal = self.signal.update_warm(line);
        MacdOutput {
            ema_fast,
            ema_slow,
            line,
            signal,
            histogram: line - signal,
        }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> MacdOutput {
        let ema_fast = self.fast.update(x);
        let ema_slow = self.slow.update(x);
        let raw_line = ema_fast - ema_slow;
        if !self.slow.is_ready() {
            return MacdOutput {
                ema_fast,
                ema_slow,
                line: f64::NAN,
                signal: f64::NAN,
                histogram: f64::NAN,
            };
        }
        let signal = self.signal.update(raw_line);
        // Mask the line until the signal exists so all three outputs share TA-Lib's look-back.
        let line = if self.signal.is_ready() {
            raw_line
        } else {
            f64::NAN
        };
        MacdOutput {
            ema_fast,
            ema_slow,
            line,
            signal,
            histogram: line - signal,
        }
    }
}

impl From<Macd> for MacdState {
    fn from(m: Macd) -> Self {
        Self {
            fast: m.fast,
            slow: m.slow,
            signal: m.signal,
        }
    }
}

impl TryFrom<MacdState> for Macd {
    type Error = FeatureError;
    fn try_from(s: MacdState) -> Result<Self, FeatureError> {
        if s.fast.period() >= s.slow.period() {
            return Err(FeatureError::FastNotBelowSlow {
                fast: s.fast.period(),
                slow: s.slow.period(),
            });
        }
        // The signal only receives values once the slow EMA is warm.
        if !s.slow.is_ready() && s.signal.seen != 0 {
            return Err(FeatureError::CorruptState(
                "MACD signal started before its slow EMA",
            ));
        }
        Ok(Self {
            fast: s.fast,
            slow: s.slow,
            signal: s.signal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(n: usize) -> Vec<f64> {
        let mut seed = 11_u64;
        let mut price = 50.0_f64;
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                price *= 1.0 + ((seed % 2001) as f64 / 1000.0 - 1.0) * 0.01;
                price
            })
            .collect()
    }

    fn same_bits(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    #[test]
    fn a_series_run_sums_as_streaming_and_hands_the_sma_back_ready_to_go_on() {
        let closes = walk(300);
        let period = 20;
        for (from, to) in [(25, 25), (25, 26), (25, 140), (20, 140)] {
            let mut streamed = Sma::new(period).unwrap();
            let mut run = Sma::new(period).unwrap();
            for &x in &closes[..from] {
                streamed.update(x);
                run.update(x);
            }
            let mut sum = run.running_sum();
            let sums: Vec<f64> = (from..to)
                .map(|i| slide(&mut sum, closes[i], closes[i + 1 - period]))
                .collect();
            if to > from {
                run.resume(sum, &closes[..to]);
            }
            for (i, sum) in (from..to).zip(sums) {
                assert!(same_bits(streamed.sum_warm(closes[i]), sum), "bar {i}");
            }
            for (i, &x) in closes.iter().enumerate().skip(to) {
                assert!(
                    same_bits(streamed.update(x), run.update(x)),
                    "bar {i} after {from}..{to}"
                );
            }
        }
    }

    #[test]
    fn an_rsi_run_equals_the_warm_update_and_hands_the_state_back() {
        let closes = walk(200);
        let mut streamed = Rsi::new(14).unwrap();
        let mut run = Rsi::new(14).unwrap();
        for &x in &closes[..15] {
            streamed.update(x);
            run.update(x);
        }
        let mut chain = run.run();
        for &x in &closes[15..120] {
            let [gain, total] = chain.step(x);
            let expected = streamed.update(x);
            let rsi = if total != 0.0 {
                100.0 * (gain / total)
            } else {
                0.0
            };
            assert!(same_bits(rsi, expected));
        }
        run.end_run(chain);
        assert_eq!(run, streamed);
    }
}
