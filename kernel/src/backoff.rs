//! Retry delays, one helper for every loop that retries: writes the scheduler and the dispatcher
//! must not lose to a transient store error, the outbox waiting for NATS, and the retries of an
//! action. A delay starts at `initial`, grows by `factor` after each failure up to `max`, and
//! with jitter is spread over `[delay * (1 - jitter), delay]` so that many timers retrying at
//! once do not move in step. Each loop keeps its own timing values.

use std::time::Duration;

/// Writes of system transitions and dead letters: 50 ms, doubling, at most 2 s.
pub(crate) const STORE_WRITE: Backoff =
    Backoff::new(Duration::from_millis(50), 2.0, Duration::from_secs(2));

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    initial: Duration,
    factor: f64,
    max: Duration,
    /// Share of the delay that noise may take off, 0..=1.
    jitter: f64,
    /// Failures counted by [`Backoff::next`] since the last [`Backoff::reset`].
    failures: u32,
}

impl Backoff {
    pub(crate) const fn new(initial: Duration, factor: f64, max: Duration) -> Self {
        Self {
            initial,
            factor,
            max,
            jitter: 0.0,
            failures: 0,
        }
    }

    pub(crate) fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The delay before retry `retry` (counting from 1), with jitter drawn from `noise` in
    /// [0, 1).
    pub(crate) fn delay(&self, retry: u32, noise: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.powi(retry.saturating_sub(1) as i32);
        let base = base.min(self.max.as_secs_f64());
        Duration::from_secs_f64(base * (1.0 - self.jitter * noise))
    }

    /// Counts one more failure and returns how long to wait before the next try.
    pub(crate) fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let noise = if self.jitter > 0.0 { noise() } else { 0.0 };
        self.delay(self.failures, noise)
    }

    /// After a success: the next failure waits `initial` again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A number in [0, 1) for jitter.
pub(crate) fn noise() -> f64 {
    // Random enough for spreading retries; not for anything secret.
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_max_and_reset() {
        let mut backoff = STORE_WRITE;
        let delays: Vec<u128> = (0..8).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1_600, 2_000, 2_000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(50));
    }

    #[test]
    fn jitter_takes_at_most_its_share_off_the_delay() {
        let backoff =
            Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(60)).with_jitter(0.2);
        assert_eq!(backoff.delay(3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff.delay(3, 0.5), Duration::from_secs_f64(3.6));
        let mut jittered = backoff;
        for _ in 0..20 {
            let delay = jittered.next();
            assert!(delay <= Duration::from_secs(60) && delay >= Duration::from_secs_f64(0.8));
        }
    }
}
