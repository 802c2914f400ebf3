//! What every bench does: schedule timers in bulk, and read times in microseconds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minoots::{Client, TimerSpec};

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i64
}

pub fn micros_of(ts: &Option<minoots_proto::prost_types::Timestamp>) -> i64 {
    ts.as_ref()
        .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

pub fn timestamp(at: i64) -> minoots_proto::prost_types::Timestamp {
    minoots_proto::prost_types::Timestamp {
        seconds: at.div_euclid(1_000_000),
        nanos: (at.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Schedules `specs` in batches from four callers taking batches round-robin, so timers are
/// scheduled roughly in order.
pub async fn schedule_all(
    client: &Client,
    specs: Vec<TimerSpec>,
    batch: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let callers = 4;
    let mut assigned: Vec<Vec<Vec<TimerSpec>>> = vec![Vec::new(); callers];
    for (i, chunk) in specs.chunks(batch.max(1)).enumerate() {
        assigned[i % callers].push(chunk.to_vec());
    }
    let mut batches = tokio::task::JoinSet::new();
    for mine in assigned {
        let client = client.clone();
        batches.spawn(async move {
            for chunk in mine {
                client.schedule_many(chunk).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = batches.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}
