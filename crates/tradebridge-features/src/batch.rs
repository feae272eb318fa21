//! Features of a whole series at once: the same per-bar arithmetic as streaming, software-pipelined.
//!
//! A warm bar's update has two independent halves (see [`SeriesState::split_warm`]). RSI's Wilder
//! averages are the longest dependency chain: each bar's division waits on the previous bar's (RSI alone
//! runs about 8 ns/bar on the 2 GHz bench machine: `limit_rsi_chain_alone` in `benches/features.rs`),
//! and TA-Lib's arithmetic, which batch == streaming == TA-Lib rests on, leaves no way to shorten it.
//! The rest (the SMA, the three EMAs, the row) has only short chains but most of the instructions.
//!
//! So the series goes in blocks of [`BLOCK`] bars, and one loop runs the RSI chain of the next block
//! beside the rest of the current one: the chain's few instructions wait on their division while the
//! core works through the other half, instead of the two taking turns. Before that loop, the next
//! block's bars are validated in one pass without a branch per bar (vector lanes), so the chain never
//! runs on a bad bar's price. Inside the loop the state lives in registers ([`RsiRun`],
//! [`SeriesTrend`]), and the SMA reads the value leaving its window from the series rather than from
//! its ring. Every row is built by the same code as streaming ([`Chain::row`]), so batch equals
//! streaming bit for bit.
//!
//! Over 1M bars, medians of 60 alternated runs, three times: the two halves one after the other
//! (validation inside the chain's loop) 17.4-23.0 ns/bar, this loop 15.3-19.3. Two threads a block
//! apart were tried too: on two shared vCPUs that was faster in some runs and twice as slow in others.

use crate::bar::Bar;
use crate::computer::{Averages, Chain, FeatureConfig, SeriesState, SeriesTrend, NUM_FEATURES};
use crate::error::BatchError;
use crate::indicators::RsiRun;
use crate::lanes::RowWriter;

/// Bars per block: two blocks' averages (32 KB) and a block's inputs stay in L1/L2 between the check
/// and the loop that uses them.
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

    /// Whether the bars `range` are all valid ([`Bar::is_valid`]), without a branch per bar.
    fn all_valid(&self, range: std::ops::Range<usize>) -> bool {
        self.open[range.clone()]
            .iter()
            .zip(&self.high[range.clone()])
            .zip(&self.low[range.clone()])
            .zip(&self.close[range.clone()])
            .zip(&self.volume[range])
            .fold(
                true,
                |valid, ((((&open, &high), &low), &close), &volume)| {
                    valid & Bar::is_valid(open, high, low, close, volume)
                },
            )
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
    // The warm-up bars through the general update, then the blocks, which know no warm-up.
    let warmup = config.warmup_bars().min(n);
    let (cold_rows, warm_rows) = out.split_at_mut(warmup * NUM_FEATURES);
    for (index, row) in cold_rows.chunks_exact_mut(NUM_FEATURES).enumerate() {
        writer.write(row, &state.update(&columns.bar(index)?));
    }
    let (rsi, mut trend) = state.split_warm();
    let blocks = Blocks {
        columns,
        first: warmup,
        sma_period: trend.sma_period(),
    };
    let mut trend = trend.over_series(columns.close, warmup);
    let mut current = Block::at(warmup);
    let mut next = Block::at(warmup);
    let write = if writer.streaming() {
        Blocks::write::<true>
    } else {
        Blocks::write::<false>
    };
    let mut checked = blocks.check(&mut current);
    let mut chain = rsi.run();
    blocks.chain(&mut chain, &mut current);
    loop {
        let end = current.start + current.len;
        if checked.is_err() || end == n {
            write(
                &blocks, &mut trend, &current, &mut chain, None, warm_rows, &writer,
            );
            rsi.end_run(chain);
            return checked;
        }
        next.start = end;
        checked = blocks.check(&mut next);
        write(
            &blocks,
            &mut trend,
            &current,
            &mut chain,
            Some(&mut next),
            warm_rows,
            &writer,
        );
        std::mem::swap(&mut current, &mut next);
    }
}

/// A block of bars and the RSI averages of each.
struct Block {
    /// Index of its first bar in the series.
    start: usize,
    /// Bars in it: a whole block but for the last, or the bars before a bad one.
    len: usize,
    averages: Box<[Averages; BLOCK]>,
}

impl Block {
    fn at(start: usize) -> Self {
        Self {
            start,
            len: 0,
            averages: Box::new([[0.0; 2]; BLOCK]),
        }
    }
}

/// The warm bars `first..` of one series, block by block.
struct Blocks<'a> {
    columns: Columns<'a>,
    first: usize,
    /// The divisor of the SMA (what [`Chain::row`] needs besides the bar).
    sma_period: f64,
}

impl Blocks<'_> {
    /// Validates the bars from `block.start` (a block at most) and sets the block's length: the bars
    /// before the first bad one, which are written like any others before its error is returned.
    #[inline(never)]
    fn check(&self, block: &mut Block) -> Result<(), BatchError> {
        let start = block.start;
        let len = BLOCK.min(self.columns.close.len() - start);
        block.len = len;
        if self.columns.all_valid(start..start + len) {
            return Ok(());
        }
        let error = (start..start + len)
            .find_map(|index| self.columns.bar(index).err())
            .expect("a block that failed the check has a bad bar");
        if let BatchError::InvalidBar { index, .. } = error {
            block.len = index - start;
        }
        Err(error)
    }

    /// RSI's averages over a checked block on their own: the first block's.
    fn chain(&self, chain: &mut RsiRun, block: &mut Block) {
        let closes = &self.columns.close[block.start..block.start + block.len];
        for (averages, &close) in block.averages.iter_mut().zip(closes) {
            *averages = chain.step(close);
        }
    }

    /// Advances the rest of the state over a checked block whose averages are in, and writes its rows
    /// into `rows` (the rows of the warm bars, from `self.first`); in the same loop, the averages of
    /// the `next` block (checked) where there is one. `STREAM` is `writer.streaming()`, chosen once per
    /// series rather than tested per row.
    #[inline(never)]
    fn write<const STREAM: bool>(
        &self,
        trend: &mut SeriesTrend<'_>,
        block: &Block,
        chain: &mut RsiRun,
        next: Option<&mut Block>,
        rows: &mut [f64],
        writer: &RowWriter,
    ) {
        let (start, end) = (block.start, block.start + block.len);
        let at = (start - self.first) * NUM_FEATURES;
        let (columns, sma_period) = (&self.columns, self.sma_period);
        let bars = rows[at..at + block.len * NUM_FEATURES]
            .chunks_exact_mut(NUM_FEATURES)
            .zip(&block.averages[..block.len])
            .zip(&columns.high[start..end])
            .zip(&columns.low[start..end])
            .zip(&columns.volume[start..end]);
        // the next block's closes and where their averages go; nothing after the last block
        let mut none: [Averages; 0] = [];
        let mut ahead = match next {
            Some(next) => next.averages[..next.len]
                .iter_mut()
                .zip(&columns.close[next.start..next.start + next.len]),
            None => none.iter_mut().zip(&columns.close[..0]),
        };
        // a local copy: through the reference, the compiler would store it to memory on every bar
        let mut run = *chain;
        trend.run(
            bars,
            |trend, close, ((((row, &averages), &high), &low), &volume)| {
                if let Some((ahead, &close)) = ahead.next() {
                    *ahead = run.step(close);
                }
                let chain = Chain { averages, trend };
                // checked; `open` is not a feature
                let bar = Bar {
                    open: f64::NAN,
                    high,
                    low,
                    close,
                    volume,
                };
                writer.write_as::<STREAM>(row, &chain.row(&bar, sma_period));
            },
        );
        *chain = run;
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
