//! How long to wait before asking the broker again: one policy, the same in Python
//! (`tradebridge.alpaca.RetryPolicy`) and proved by `conformance/vectors/broker_access/retry`.
//!
//! **Capped exponential backoff with equal jitter, the broker's hint first.** After failure number `n`
//! (1-based) of a retryable answer (429, any 5xx, or no answer at all):
//! - the broker's hint, if any, plus `base_delay * u`: `Retry-After` in seconds, or on a 429 Alpaca's
//!   `X-RateLimit-Reset` (epoch seconds at which the window refills) minus now;
//! - else `step / 2 + step / 2 * u` with `step = min(base_delay * 2^(n-1), max_delay)`, so engines that
//!   failed together do not come back together, yet never retry at once;
//!
//! where `u` is a uniform draw in `[0, 1)`. The caller gives up when the answer is not retryable, after
//! `max_attempts` attempts (the first included), or when the wait would take the total waited past
//! `budget`: a wait that would exceed it is not started at all.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Retry limits for one broker request (a submission, a lookup).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff when the broker gave no hint; doubled per attempt. Also the jitter span added
    /// to a hint.
    pub base_delay: Duration,
    /// The largest backoff when the broker gave no hint.
    pub max_delay: Duration,
    /// The most time spent waiting between attempts of one request, hints included.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget: Duration::from_secs(10),
        }
    }
}

/// Why retrying stops. [`GiveUp::code`] is the name both languages report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    NotRetryable,
    AttemptsExhausted,
    BudgetExhausted,
}

impl GiveUp {
    pub const ALL: [GiveUp; 3] = [
        GiveUp::NotRetryable,
        GiveUp::AttemptsExhausted,
        GiveUp::BudgetExhausted,
    ];

    pub fn code(self) -> &'static str {
        match self {
            GiveUp::NotRetryable => "not_retryable",
            GiveUp::AttemptsExhausted => "attempts_exhausted",
            GiveUp::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Worth another attempt: a 429, any 5xx, or no answer (`None`: refused connection, timeout).
pub fn is_retryable_status(status: Option<u16>) -> bool {
    status.is_none_or(|s| s == 429 || (500..600).contains(&s))
}

impl RetryPolicy {
    /// After `failed` (>= 1) failed attempts and `waited` spent waiting so far: the wait before the next
    /// attempt, or why there is none. `u` is the jitter draw, uniform in `[0, 1)`.
    pub fn decide(
        &self,
        failed: u32,
        retryable: bool,
        hint: Option<Duration>,
        waited: Duration,
        u: f64,
    ) -> Result<Duration, GiveUp> {
        if !retryable {
            return Err(GiveUp::NotRetryable);
        }
        if failed >= self.max_attempts {
            return Err(GiveUp::AttemptsExhausted);
        }
        let wait = self.delay_secs(failed, hint, u);
        if waited.as_secs_f64() + wait > self.budget.as_secs_f64() {
            return Err(GiveUp::BudgetExhausted);
        }
        Ok(Duration::from_secs_f64(wait))
    }

    /// The wait in seconds, computed in `f64` with the same operations as Python so both give the same
    /// number for the same draw.
    fn delay_secs(&self, failed: u32, hint: Option<Duration>, u: f64) -> f64 {
        let base = self.base_delay.as_secs_f64();
        match hint {
            Some(wait) => wait.as_secs_f64() + base * u,
            None => backoff_secs(self.base_delay, self.max_delay, failed, u),
        }
    }
}

/// Capped exponential backoff with equal jitter, in seconds, after `failed` (>= 1) consecutive failures
/// and for the draw `u` in `[0, 1)`: `step / 2 + step / 2 * u` with `step = min(base * 2^(failed-1), max)`.
/// The one schedule of every retry and reconnect (broker requests, the trade-updates stream, the
/// market-data stream): never at once, and peers cut off together do not come back together.
pub fn backoff_secs(base: Duration, max: Duration, failed: u32, u: f64) -> f64 {
    let exponent = failed.saturating_sub(1).min(62) as i32;
    let step = (base.as_secs_f64() * 2f64.powi(exponent)).min(max.as_secs_f64());
    step / 2.0 + step / 2.0 * u
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

/// The longest hint honoured as such (a day): a larger one is a broken header, and the budget refuses it.
const MAX_HINT_SECS: f64 = 86_400.0;

/// The wait a failed answer asks for: `Retry-After` in seconds (the HTTP-date form is not used by Alpaca
/// and is ignored), else, for a 429, the time until `X-RateLimit-Reset` (epoch seconds) as of `now`.
pub fn wait_hint(
    status: u16,
    retry_after: Option<&str>,
    rate_limit_reset: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(after) = retry_after.and_then(plain_seconds) {
        return Some(Duration::from_secs_f64(after.min(MAX_HINT_SECS)));
    }
    if status != 429 {
        return None;
    }
    let reset = rate_limit_reset.and_then(plain_seconds)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64(
        (reset - now).clamp(0.0, MAX_HINT_SECS),
    ))
}

/// A plain non-negative decimal (`2`, `0.25`). Float parsers differ (`inf`, `1e3`, `+2`, `1_0`, Unicode
/// digits), so any other spelling is ignored, in both languages.
fn plain_seconds(text: &str) -> Option<f64> {
    let text = text.trim_matches([' ', '\t']);
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && fraction.is_none_or(digits))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(policy: &RetryPolicy, failed: u32, hint: Option<Duration>, u: f64) -> Duration {
        policy
            .decide(failed, true, hint, Duration::ZERO, u)
            .unwrap()
    }

    #[test]
    fn the_brokers_hint_wins_and_is_jittered_upwards_only() {
        let policy = RetryPolicy::default();
        let hint = Some(Duration::from_millis(1_500));
        for u in [0.0, 0.5, 0.999] {
            let waited = wait(&policy, 2, hint, u);
            assert!(waited >= Duration::from_millis(1_500), "{waited:?}");
            assert!(waited < Duration::from_millis(1_600), "{waited:?}");
        }
    }

    #[test]
    fn backoff_without_a_hint_doubles_up_to_the_cap_with_equal_jitter() {
        let policy = RetryPolicy {
            max_attempts: 20,
            ..RetryPolicy::default()
        };
        for failed in 1..=8 {
            let step = (policy.base_delay * (1 << (failed - 1))).min(policy.max_delay);
            assert_eq!(wait(&policy, failed, None, 0.0), step / 2, "{failed}");
            let top = wait(&policy, failed, None, 0.999_999);
            assert!(top > step * 99 / 100 && top <= step, "{failed}: {top:?}");
        }
    }

    #[test]
    fn giving_up_has_a_reason() {
        let policy = RetryPolicy::default();
        let decide = |failed, retryable, waited_ms| {
            policy.decide(
                failed,
                retryable,
                None,
                Duration::from_millis(waited_ms),
                0.5,
            )
        };
        assert_eq!(decide(1, false, 0), Err(GiveUp::NotRetryable));
        assert_eq!(decide(6, true, 0), Err(GiveUp::AttemptsExhausted));
        assert_eq!(decide(2, true, 9_900), Err(GiveUp::BudgetExhausted));
        assert!(decide(2, true, 9_800).is_ok());
        assert!(is_retryable_status(None) && is_retryable_status(Some(501)));
        assert!(!is_retryable_status(Some(422)));
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
