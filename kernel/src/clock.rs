//! Time, behind a trait, so the scheduler can run on a manual clock in tests.
//!
//! All kernel times are microseconds since the Unix epoch (`i64`). The scheduler never reads the
//! system clock directly; it asks a [`Clock`].

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::sync::watch;

/// Microseconds since the Unix epoch.
pub type Micros = i64;

pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    /// The current time. Monotonic for a given clock instance.
    fn now(&self) -> Micros;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(&self, deadline: Micros) -> SleepFuture<'_>;
}

/// Wall-clock time anchored once at start, then advanced by the monotonic clock, so a wall-clock
/// step (NTP) never makes the scheduler jump backwards or fire a batch early.
#[derive(Debug, Clone)]
pub struct SystemClock {
    anchor_micros: Micros,
    anchor: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemClock {
    pub fn new() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            anchor_micros: since_epoch.as_micros() as Micros,
            anchor: Instant::now(),
        }
    }
}

/// Below this, the final stretch of a sleep is done with a thread sleep: tokio's timer rounds
/// every deadline up to its next 1 ms tick, which alone would cost up to 1 ms of lateness.
const PRECISE_TAIL: Micros = 1_500;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        self.anchor_micros + self.anchor.elapsed().as_micros() as Micros
    }

    fn sleep_until(&self, deadline: Micros) -> SleepFuture<'_> {
        Box::pin(async move {
            loop {
                let remaining = deadline - self.now();
                if remaining <= 0 {
                    return;
                }
                if remaining > PRECISE_TAIL {
                    tokio::time::sleep(Duration::from_micros((remaining - 1_000) as u64)).await;
                } else {
                    // Only the scheduler sleeps on the real clock, and it runs on its own thread,
                    // so blocking it for under 1.5 ms starves nobody.
                    std::thread::sleep(Duration::from_micros(remaining as u64));
                }
            }
        })
    }
}

/// A clock that only moves when told to. Sleepers wake when `advance` or `set` passes their
/// deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Micros>>,
}

impl ManualClock {
    pub fn new(start: Micros) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by.as_micros() as Micros);
    }

    pub fn set(&self, to: Micros) {
        self.now.send_modify(|now| *now = (*now).max(to));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Micros) -> SleepFuture<'_> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; an error only means the clock is gone.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

pub fn to_timestamp(micros: Micros) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

pub fn from_timestamp(ts: &prost_types::Timestamp) -> Micros {
    ts.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(ts.nanos) / 1_000)
}

pub fn to_duration(micros: Micros) -> prost_types::Duration {
    prost_types::Duration {
        seconds: micros / 1_000_000,
        nanos: ((micros % 1_000_000) * 1_000) as i32,
    }
}

pub fn from_duration(d: &prost_types::Duration) -> Micros {
    d.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(d.nanos) / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_only_when_advanced_past_deadline() {
        let clock = ManualClock::new(1_000);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(5_000).await })
        };
        clock.advance(Duration::from_micros(3_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_micros(1_000));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), 5_000);
    }

    #[test]
    fn timestamp_round_trip_keeps_microseconds_and_negative_times() {
        for micros in [0, 1, 999_999, 1_700_000_000_123_456, -1, -1_500_000] {
            assert_eq!(from_timestamp(&to_timestamp(micros)), micros);
        }
    }
}
