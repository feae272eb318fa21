//! Features of a whole series at once: the same per-bar arithmetic as streaming, in two stages.
//!
//! A warm bar's update has two independent halves (see [`SeriesState::split_warm`]). RSI's Wilder
//! averages are the longest dependency chain: each bar's division waits on the previous bar's (RSI alone
//! runs 8.8 ns/bar on the 2 GHz bench machine: `limit_rsi_chain_alone` in `benches/features.rs`), and
//! TA-Lib's arithmetic, which batch == streaming == TA-Lib rests on, leaves no way to shorten it. Fused
//! with everything else in one loop, the core's out-of-order window is too small to keep the rest of the
//! work running under that chain. As two stages over a block of bars (validate the bars and advance the
//! averages; then the SMA, the three EMAs and the rows), the first is a tight loop the chain paces and
//! the second has only short chains: 25.5 against 29 ns/bar for the fused loop over 1M bars, alternated
//! runs. Every row is built by the same code as streaming, so batch equals streaming bit for bit.
//!
//! The two stages could also run on two threads, a block apart. Measured on two shared vCPUs that was
//! faster in some runs and twice as slow in others (a freshly started thread often shares its parent's
//! CPU for its first milliseconds, and a stalled vCPU stalls both stages), so it is not done.

use crate::bar::Bar;
use crate::computer::{Averages, Chain, FeatureConfig, SeriesState, TrendState, NUM_FEATURES};
use crate::error::BatchError;
use crate::indicators::Rsi;
use crate::lanes::RowWriter;

/// Bars per block: its averages (16 KB) and its inputs stay in L1/L2 between the two stages.
const BLOCK: usize = 1024;

/// Column inputs of [`compute_batch`]: one series (one symbol), oldest bar first.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
}

impl Columns<'_> {
    /// Number of bars, after checking every column has the same length.
    pub fn checked_len(&self) -> Result<usize, BatchError> {
        let expected = self.open.len();
        for (column, values) in [
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
            ("volume", self.volume),
        ] {
            if values.len() != expected {
                return Err(BatchError::LengthMismatch {
                    column,
                    len: values.len(),
                    expected,
                });
            }
        }
        Ok(expected)
    }

    /// Bar `index`, validated as [`Bar::new`] does.
    #[inline(always)]
    fn bar(&self, index: usize) -> Result<Bar, BatchError> {
        Bar::new(
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )
        .map_err(|error| BatchError::InvalidBar { index, error })
    }
}

/// Features of a whole series into `out`, row-major `(N, 12)`, from a fresh state: the rows equal
/// streaming the bars one by one through [`SeriesState::update`], bit for bit. Every bar is validated as
/// [`Bar::new`] does; on error the rows before the bad bar are written.
pub fn compute_batch(
    config: &FeatureConfig,
    columns: Columns<'_>,
    out: &mut [f64],
) -> Result<(), BatchError> {
    let n = columns.checked_len()?;
    if out.len() != n * NUM_FEATURES {
        return Err(BatchError::OutputSize {
            len: out.len(),
            expected: n * NUM_FEATURES,
        });
    }
    let mut state = SeriesState::new(config).map_err(BatchError::Config)?;
    let writer = RowWriter::new(out);
    // The warm-up bars through the general update, then the two stages, which know no warm-up.
    let warmup = config.warmup_bars().min(n);
    let (cold_rows, warm_rows) = out.split_at_mut(warmup * NUM_FEATURES);
    for (index, row) in cold_rows.chunks_exact_mut(NUM_FEATURES).enumerate() {
        writer.write(row, &state.update(&columns.bar(index)?));
    }
    let stages = Stages {
        columns,
        first: warmup,
    };
    let (rsi, mut trend) = state.split_warm();
    let mut block = Block {
        start: warmup,
        len: 0,
        averages: Box::new([[0.0; 2]; BLOCK]),
    };
    while block.start < n {
        let advanced = stages.advance(rsi, &mut block);
        stages.write(&mut trend, &block, warm_rows, &writer);
        advanced?;
        block.start += block.len;
    }
    Ok(())
}

/// Stage one's output for one block.
struct Block {
    /// Index of its first bar in the series.
    start: usize,
    /// Bars in it: a whole block but for the last, or the bars before a bad one.
    len: usize,
    averages: Box<[Averages; BLOCK]>,
}

/// The two stages over the warm bars `first..` of one series.
struct Stages<'a> {
    columns: Columns<'a>,
    first: usize,
}

impl Stages<'_> {
    fn len(&self) -> usize {
        self.columns.close.len()
    }

    /// Stage one: validate the bars from `block.start` (a block at most) and advance the averages over
    /// them. Stops at a bad bar: the bars before it are the block, to be written like any others.
    #[inline(never)]
    fn advance(&self, rsi: &mut Rsi, block: &mut Block) -> Result<(), BatchError> {
        let len = BLOCK.min(self.len() - block.start);
        for (done, (averages, index)) in block.averages[..len]
            .iter_mut()
            .zip(block.start..)
            .enumerate()
        {
            match self.columns.bar(index) {
                Ok(bar) => *averages = rsi.averages_warm(bar.close),
                Err(error) => {
                    block.len = done;
                    return Err(error);
                }
            }
        }
        block.len = len;
        Ok(())
    }

    /// Stage two: advance the rest of the state over a block and write its rows into `rows` (the rows of
    /// the warm bars, from `self.first`) while the block's inputs are still in cache.
    #[inline(never)]
    fn write(
        &self,
        trend: &mut TrendState<'_>,
        block: &Block,
        rows: &mut [f64],
        writer: &RowWriter,
    ) {
        let (start, end) = (block.start, block.start + block.len);
        let at = (start - self.first) * NUM_FEATURES;
        let rows = &mut rows[at..at + block.len * NUM_FEATURES];
        let columns = &self.columns;
        let bars = columns.high[start..end]
            .iter()
            .zip(&columns.low[start..end])
            .zip(&columns.close[start..end])
            .zip(&columns.volume[start..end]);
        let sma_period = trend.sma_period();
        for ((row, &averages), (((&high, &low), &close), &volume)) in rows
            .chunks_exact_mut(NUM_FEATURES)
            .zip(&block.averages[..block.len])
            .zip(bars)
        {
            let chain = Chain {
                averages,
                trend: trend.advance(close),
            };
            // validated by stage one; `open` is not a feature
            let bar = Bar {
                open: f64::NAN,
                high,
                low,
                close,
                volume,
            };
            writer.write(row, &chain.row(&bar, sma_period));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> [Vec<f64>; 5] {
        let mut columns: [Vec<f64>; 5] = Default::default();
        let mut price = 100.0_f64;
        let mut seed = 7_u64;
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let step = (seed % 2001) as f64 / 1000.0 - 1.0;
            let open = price;
            price = (price * (1.0 + step * 0.01)).max(1.0);
            let values = [
                open,
                open.max(price) * 1.002,
                open.min(price) * 0.998,
                price,
                (seed % 500) as f64,
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        columns
    }

    fn run(columns: &[Vec<f64>; 5]) -> (Vec<f64>, Result<(), BatchError>) {
        let mut out = vec![f64::NAN; columns[0].len() * NUM_FEATURES];
        let columns = Columns {
            open: &columns[0],
            high: &columns[1],
            low: &columns[2],
            close: &columns[3],
            volume: &columns[4],
        };
        let outcome = compute_batch(&FeatureConfig::default(), columns, &mut out);
        (out, outcome)
    }

    fn streamed(columns: &[Vec<f64>; 5]) -> Vec<f64> {
        let mut state = SeriesState::new(&FeatureConfig::default()).unwrap();
        (0..columns[0].len())
            .flat_map(|i| {
                let [o, h, l, c, v] = [0, 1, 2, 3, 4].map(|k| columns[k][i]);
                state.update(&Bar::new(o, h, l, c, v).unwrap())
            })
            .collect()
    }

    fn same_bits(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    #[test]
    fn every_block_boundary_equals_streaming_bit_for_bit() {
        // no warm bar, one, a whole block, a partial last block, an exact multiple of the block
        let warmup = FeatureConfig::default().warmup_bars();
        for n in [
            0,
            1,
            warmup,
            warmup + 1,
            warmup + BLOCK,
            warmup + 3 * BLOCK + 17,
            warmup + 6_000,
        ] {
            let columns = series(n);
            let (out, outcome) = run(&columns);
            outcome.unwrap();
            assert!(same_bits(&out, &streamed(&columns)), "n = {n}");
        }
    }

    #[test]
    fn a_bad_bar_in_any_block_is_named_and_the_rows_before_it_are_written() {
        let n = 5 * BLOCK;
        let clean = streamed(&series(n));
        let warmup = FeatureConfig::default().warmup_bars();
        for bad in [
            3,
            warmup,
            warmup + BLOCK - 1,
            warmup + BLOCK,
            2 * BLOCK + 5,
            n - 1,
        ] {
            let mut columns = series(n);
            columns[4][bad] = -1.0;
            let (out, outcome) = run(&columns);
            let error = outcome.unwrap_err();
            assert!(
                matches!(error, BatchError::InvalidBar { index, .. } if index == bad),
                "{error}"
            );
            let written = bad * NUM_FEATURES;
            assert!(
                same_bits(&out[..written], &clean[..written]),
                "bad bar {bad}"
            );
        }
    }
}
