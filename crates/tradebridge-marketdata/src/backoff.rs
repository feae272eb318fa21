//! When to reconnect: capped exponential backoff with equal jitter, the project's one schedule
//! (`tradebridge_access::retry::backoff_secs`, as the broker retries use it) and that of alpaca-py's own
//! stream reconnects (1 s doubling to 30 s). After failure `n` the wait is `step / 2 + step / 2 * u`,
//! `step = min(base_delay * 2^(n-1), max_delay)`, `u` uniform in `[0, 1)`: never at once, and many
//! services cut off together do not come back together. There is no give-up: a market-data feed keeps
//! trying, and says so on `/health`.

use std::time::Duration;

use tradebridge_access::retry::backoff_secs;

/// The reconnect schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl ReconnectPolicy {
    /// The wait after `failures` (>= 1) consecutive failures, for the jitter draw `u` in `[0, 1)`.
    pub fn delay(&self, failures: u32, u: f64) -> Duration {
        Duration::from_secs_f64(backoff_secs(
            self.base_delay,
            self.max_delay,
            failures,
            u.clamp(0.0, 1.0),
        ))
    }
}

/// Consecutive failures and the jitter source; reset once a connection is subscribed again.
#[derive(Debug)]
pub struct Backoff {
    policy: ReconnectPolicy,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(policy: ReconnectPolicy) -> Backoff {
        Backoff {
            policy,
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// One more failure: the wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures, self.rng.f64())
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_equal_jitter_up_to_the_cap() {
        let policy = ReconnectPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(policy.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(policy.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(policy.delay(30, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(u32::MAX, 0.5), Duration::from_millis(750));
    }

    #[test]
    fn draws_spread_and_reset_starts_over() {
        let mut backoff = Backoff::new(ReconnectPolicy::default());
        let first = backoff.next_delay();
        assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&first));
        let waits: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        // from the sixth failure on the step is capped: half the cap at least
        assert!(waits[4..].iter().all(|w| *w >= Duration::from_secs(15)));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(30)));
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }
}
