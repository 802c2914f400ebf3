//! Kernel metrics, counted where facts become durable (after a commit), rendered in the
//! Prometheus text format by the gateway's `/metrics`.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
};

use minoots_proto::v1::{TimerEvent, TimerEventType};

/// Upper bounds (milliseconds) of the fire-lateness histogram buckets.
const LATENESS_BUCKETS_MS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 5_000.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    scheduled: AtomicU64,
    fired: AtomicU64,
    settled: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    lateness_buckets: [AtomicU64; LATENESS_BUCKETS_MS.len()],
    lateness_count: AtomicU64,
    /// Sum in microseconds, so it stays an integer.
    lateness_sum_us: AtomicU64,
    /// Timers the scheduler holds, set by the scheduler.
    pub(crate) armed: AtomicU64,
    /// Events JetStream acknowledged.
    pub(crate) events_published: Counter,
    /// Action attempts, by outcome.
    pub(crate) action_attempts_ok: Counter,
    pub(crate) action_attempts_failed: Counter,
    pub(crate) dead_letters: Counter,
    /// Timers failed because their stored record could not be decoded.
    pub(crate) quarantined: Counter,
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metrics {
    pub(crate) fn record(&self, event: &TimerEvent) {
        let counter = match TimerEventType::try_from(event.event_type) {
            Ok(TimerEventType::Scheduled) => &self.scheduled,
            Ok(TimerEventType::Fired) => {
                let lateness_ms = event.timer.as_ref().map_or(0.0, |t| t.jitter_ms).max(0.0);
                for (bucket, bound) in self.lateness_buckets.iter().zip(LATENESS_BUCKETS_MS) {
                    if lateness_ms <= bound {
                        bucket.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.lateness_count.fetch_add(1, Ordering::Relaxed);
                self.lateness_sum_us
                    .fetch_add((lateness_ms * 1_000.0) as u64, Ordering::Relaxed);
                &self.fired
            }
            Ok(TimerEventType::Settled) => &self.settled,
            Ok(TimerEventType::Failed) => &self.failed,
            Ok(TimerEventType::Cancelled) => &self.cancelled,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the kernel's metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String, stream_subscribers: usize) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "minoots_timers_scheduled_total",
                "Timers scheduled.",
                get(&self.scheduled),
            ),
            (
                "minoots_timers_fired_total",
                "Timers fired.",
                get(&self.fired),
            ),
            (
                "minoots_timers_settled_total",
                "Timers settled.",
                get(&self.settled),
            ),
            (
                "minoots_timers_failed_total",
                "Timers failed.",
                get(&self.failed),
            ),
            (
                "minoots_timers_cancelled_total",
                "Timers cancelled.",
                get(&self.cancelled),
            ),
            (
                "minoots_events_published_total",
                "Events JetStream acknowledged.",
                self.events_published.get(),
            ),
            (
                "minoots_action_attempts_succeeded_total",
                "Action attempts that succeeded.",
                self.action_attempts_ok.get(),
            ),
            (
                "minoots_action_attempts_failed_total",
                "Action attempts that failed (each retry counts).",
                self.action_attempts_failed.get(),
            ),
            (
                "minoots_dead_letters_total",
                "Actions that exhausted their retries.",
                self.dead_letters.get(),
            ),
            (
                "minoots_records_quarantined_total",
                "Timers failed because their stored record could not be decoded or run.",
                self.quarantined.get(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP minoots_timers_armed Timers held by this kernel's scheduler.\n# TYPE minoots_timers_armed gauge"
        );
        let _ = writeln!(out, "minoots_timers_armed {}", get(&self.armed));
        let _ = writeln!(
            out,
            "# HELP minoots_stream_subscribers Open event streams.\n# TYPE minoots_stream_subscribers gauge"
        );
        let _ = writeln!(out, "minoots_stream_subscribers {stream_subscribers}");
        let name = "minoots_fire_lateness_milliseconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a timer's due time to its firing.\n# TYPE {name} histogram"
        );
        for (bucket, bound) in self.lateness_buckets.iter().zip(LATENESS_BUCKETS_MS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", get(bucket));
        }
        let count = get(&self.lateness_count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            get(&self.lateness_sum_us) as f64 / 1_000.0
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}
