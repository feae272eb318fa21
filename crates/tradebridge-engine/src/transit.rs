//! Bus transit of signals: publisher to engine, from `metadata.published_us` (the publisher's wall clock,
//! microseconds since the Unix epoch; the demo's strategy sets it just before publishing). Both ends read
//! the same machine's clock, so on one host the difference is the bus hop (decode included).

use std::collections::VecDeque;

use tradebridge_contracts::Signal;

/// The last `capacity` transit times, for p50/p99 in the health metrics.
#[derive(Debug)]
pub struct TransitSamples {
    samples: VecDeque<f64>,
    capacity: usize,
}

impl TransitSamples {
    pub fn new(capacity: usize) -> Self {
        TransitSamples {
            samples: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    /// Record the transit of `signal` received at `now_us`; returns it in milliseconds, or None when the
    /// signal carries no usable `published_us` (absent, not a number, or later than `now_us`).
    pub fn observe(&mut self, signal: &Signal, now_us: u64) -> Option<f64> {
        let published = signal.metadata.as_ref()?.get("published_us")?.as_u64()?;
        let micros = now_us.checked_sub(published)?;
        let ms = micros as f64 / 1_000.0;
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
        Some(ms)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `q`-th percentile (0..=100) by linear interpolation, or None without samples.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let rank = (sorted.len() - 1) as f64 * q.clamp(0.0, 100.0) / 100.0;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradebridge_contracts::{Direction, SchemaVersion};

    fn signal(metadata: serde_json::Value) -> Signal {
        Signal {
            symbol: "AAPL".into(),
            direction: Direction::Long,
            strength: 0.5,
            timestamp: 1,
            features: None,
            metadata: metadata.as_object().cloned(),
            schema_version: SchemaVersion::CURRENT,
            seq: None,
            source: None,
            sent_at_us: None,
            signal_id: None,
            price: None,
        }
    }

    #[test]
    fn transit_from_the_publishers_stamp() {
        let mut t = TransitSamples::new(3);
        assert_eq!(
            t.observe(
                &signal(serde_json::json!({"published_us": 1_000_000})),
                1_000_250
            ),
            Some(0.25)
        );
        assert_eq!(t.observe(&signal(serde_json::json!({})), 5), None);
        assert_eq!(
            t.observe(&signal(serde_json::json!({"published_us": "x"})), 5),
            None
        );
        assert_eq!(
            t.observe(&signal(serde_json::json!({"published_us": 9})), 5),
            None
        ); // clock went back
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn percentiles_over_a_bounded_window() {
        let mut t = TransitSamples::new(4);
        assert_eq!(t.percentile(50.0), None);
        for us in [1_000, 2_000, 3_000, 4_000, 5_000] {
            t.observe(&signal(serde_json::json!({"published_us": 0})), us);
        }
        assert_eq!(t.len(), 4); // the oldest (1 ms) fell out
        assert_eq!(t.percentile(0.0), Some(2.0));
        assert_eq!(t.percentile(50.0), Some(3.5));
        assert_eq!(t.percentile(100.0), Some(5.0));
    }
}
