//! How long to wait before asking the broker again.
//!
//! The broker's own word wins: `Retry-After` (seconds) or, on a 429, Alpaca's `X-RateLimit-Reset` (Unix
//! epoch seconds at which the window refills). Without one, exponential backoff with jitter, so engines
//! that failed together do not come back together. Every wait counts against a budget: a wait that would
//! exceed it is not started at all, the caller gives up at once instead of sleeping for nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Retry limits for one broker request (a submission, a lookup).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff when the broker gave no hint; doubled per attempt.
    pub base_backoff: Duration,
    /// The largest backoff when the broker gave no hint.
    pub max_backoff: Duration,
    /// The most time spent waiting between attempts of one request, hints included.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1`, after `failed` failures (>= 1), given the broker's hint.
    /// A hint is honoured and padded by up to one base backoff of jitter (a window reset is when every
    /// throttled client returns); without one, "equal jitter": half the exponential step plus a random
    /// share of the other half.
    pub fn delay(&self, failed: u32, hint: Option<Duration>, jitter: &mut Jitter) -> Duration {
        match hint {
            Some(wait) => wait + self.base_backoff.mul_f64(jitter.unit()),
            None => {
                let exponent = failed.saturating_sub(1).min(16);
                let step = self
                    .base_backoff
                    .saturating_mul(1 << exponent)
                    .min(self.max_backoff);
                step / 2 + (step / 2).mul_f64(jitter.unit())
            }
        }
    }
}

/// A small, seedable source of jitter (SplitMix64): jitter needs spread, not cryptographic quality.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from `key` (e.g. the client order id) and the clock, so two engines never share a sequence.
    pub fn new(key: &str) -> Self {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut seed = clock;
        for byte in key.bytes() {
            seed = (seed ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Jitter(seed)
    }

    pub fn seeded(seed: u64) -> Self {
        Jitter(seed)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The wait a failed answer asks for: `Retry-After` in seconds (the HTTP-date form is not used by Alpaca
/// and is ignored), else, for a 429, the time until `X-RateLimit-Reset` (epoch seconds) as of `now`.
pub fn wait_hint(
    status: u16,
    retry_after: Option<&str>,
    rate_limit_reset: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let seconds = |text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    if let Some(after) = retry_after.and_then(seconds) {
        return Some(Duration::from_secs_f64(after.min(86_400.0)));
    }
    if status != 429 {
        return None;
    }
    let reset = rate_limit_reset.and_then(seconds)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((reset - now).clamp(0.0, 86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brokers_hint_wins_and_is_jittered_upwards_only() {
        let policy = RetryPolicy::default();
        let mut jitter = Jitter::seeded(7);
        for failed in 1..5 {
            let wait = policy.delay(failed, Some(Duration::from_millis(1_500)), &mut jitter);
            assert!(wait >= Duration::from_millis(1_500), "{wait:?}");
            assert!(wait < Duration::from_millis(1_600), "{wait:?}");
        }
    }

    #[test]
    fn backoff_without_a_hint_doubles_up_to_the_cap_with_spread() {
        let policy = RetryPolicy::default();
        let mut jitter = Jitter::seeded(1);
        let mut seen = Vec::new();
        for failed in 1..=8 {
            let step = (policy.base_backoff * (1 << (failed - 1))).min(policy.max_backoff);
            let wait = policy.delay(failed, None, &mut jitter);
            assert!(
                wait >= step / 2 && wait <= step,
                "{failed}: {wait:?} vs {step:?}"
            );
            seen.push(wait);
        }
        // Jitter: two engines failing together do not retry in lockstep.
        let mut other = Jitter::seeded(2);
        assert_ne!(policy.delay(3, None, &mut other), seen[2]);
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let mut jitter = Jitter::seeded(42);
        let draws: Vec<f64> = (0..1_000).map(|_| jitter.unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    #[test]
    fn hints_from_retry_after_and_alpacas_reset_header() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            wait_hint(503, Some("2"), None, now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait_hint(429, None, Some("1700000003"), now),
            Some(Duration::from_secs(3))
        );
        // Retry-After is more precise than a whole-second reset: it wins when both are sent.
        assert_eq!(
            wait_hint(429, Some("0.5"), Some("1700000003"), now),
            Some(Duration::from_millis(500))
        );
        // A reset already past means "now"; a 5xx's reset header means nothing.
        assert_eq!(
            wait_hint(429, None, Some("1699999999"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(wait_hint(503, None, Some("1700000003"), now), None);
        assert_eq!(
            wait_hint(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), None, now),
            None
        );
        assert_eq!(wait_hint(429, Some("-3"), Some("junk"), now), None);
    }
}
