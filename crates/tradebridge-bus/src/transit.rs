//! The transit histogram a subscriber keeps from the v1.1 envelope stamp `sent_at_us`: the same
//! buckets and rules as Python's `tradebridge.bus.stats.TransitHistogram`.
//!
//! `sent_at_us` is the publisher's wall clock, so across hosts a transit is only as exact as their clock
//! sync (NTP: about a millisecond; PTP: microseconds); on one host it is exact. A sender whose clock
//! runs ahead makes negative transits: they are counted in `negative` and kept out of the buckets.

use serde::Serialize;

/// Upper bounds (µs, inclusive) of the buckets: powers of two from 1 µs to 2^23 µs (8.4 s). A value's
/// bucket is one `leading_zeros`, nothing on the hot path, at a relative resolution of 2x: what a p50 or
/// p99 of a transit needs (is it 20 µs or 2 ms?).
pub const TRANSIT_BUCKETS_US: [u64; 24] = {
    let mut bounds = [0u64; 24];
    let mut k = 0;
    while k < 24 {
        bounds[k] = 1 << k;
        k += 1;
    }
    bounds
};

const TOP: usize = TRANSIT_BUCKETS_US.len();

/// Transit times in [`TRANSIT_BUCKETS_US`] buckets; values past the last bucket count in `count` only
/// (Prometheus' `+Inf`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitHistogram {
    /// One count per bucket, then the overflow.
    counts: [u64; TOP + 1],
    pub count: u64,
    pub sum_us: u64,
    /// Transits below zero (the sender's clock ahead of ours), not in the buckets.
    pub negative: u64,
}

impl TransitHistogram {
    /// Record one transit: `received_us - sent_us`, both wall-clock microseconds.
    pub fn observe(&mut self, sent_us: u64, received_us: u64) {
        match received_us.checked_sub(sent_us) {
            Some(micros) => self.record(micros),
            None => self.negative += 1,
        }
    }

    /// Record one transit already computed (a non-negative one: a negative transit only adds to
    /// `negative`).
    pub fn record(&mut self, micros: u64) {
        let index = if micros == 0 {
            0
        } else {
            (u64::BITS - (micros - 1).leading_zeros()) as usize
        };
        self.counts[index.min(TOP)] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(micros);
    }

    /// The upper bound (µs) of the bucket holding the `q` quantile (`None`: nothing seen, or past the
    /// last bucket).
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut running = 0;
        for (bound, count) in TRANSIT_BUCKETS_US.iter().zip(&self.counts) {
            running += count;
            if running >= rank {
                return Some(*bound);
            }
        }
        None
    }

    /// The bucket counts (one per [`TRANSIT_BUCKETS_US`] bound, then the overflow).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn p50_us(&self) -> Option<u64> {
        self.quantile_us(0.5)
    }

    pub fn p99_us(&self) -> Option<u64> {
        self.quantile_us(0.99)
    }

    /// `(upper bound in µs, observations <= it)` for every bucket, without `+Inf` (that is `count`).
    pub fn cumulative_buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut running = 0;
        TRANSIT_BUCKETS_US
            .iter()
            .zip(&self.counts)
            .map(move |(bound, count)| {
                running += count;
                (*bound, running)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_lands_in_the_smallest_power_of_two_at_or_above_it() {
        let mut histogram = TransitHistogram::default();
        for micros in [0, 1, 2, 3, 4, 5, 1_000, 1 << 23, (1 << 23) + 1] {
            histogram.observe(10_000_000, 10_000_000 + micros);
        }
        let buckets: Vec<(u64, u64)> = histogram.cumulative_buckets().collect();
        assert_eq!(buckets[0], (1, 2)); // 0 and 1
        assert_eq!(buckets[1], (2, 3));
        assert_eq!(buckets[2], (4, 5)); // 3 and 4
        assert_eq!(buckets[3], (8, 6));
        assert_eq!(buckets[10], (1024, 7));
        assert_eq!(buckets[23], (1 << 23, 8));
        assert_eq!(histogram.count, 9); // the last is past every bucket: +Inf only
        assert_eq!(
            (histogram.p50_us(), histogram.quantile_us(1.0)),
            (Some(4), None)
        );
    }

    #[test]
    fn a_sender_ahead_of_us_is_counted_apart() {
        let mut histogram = TransitHistogram::default();
        histogram.observe(2_000, 1_000);
        assert_eq!((histogram.negative, histogram.count), (1, 0));
        assert_eq!(histogram.p99_us(), None);
    }
}
