//! The real binary is SIGKILLed while it is firing, restarted on the same data directory, and
//! every timer still fires exactly once according to the event log.

mod common;

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{Server, WAIT};
use minoots::{TimerSpec, proto};
use tokio_stream::StreamExt;

const TIMERS: usize = 1_000;

fn at(micros: i64) -> minoots_proto::prost_types::Timestamp {
    minoots_proto::prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: ((micros % 1_000_000) * 1_000) as i32,
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_firing_loses_nothing_and_fires_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let client = common::client(&server.url, "acme").await;
    let fired_only = minoots::StreamOptions::default().event_types([proto::TimerEventType::Fired]);
    let mut live = client.stream(fired_only).await.unwrap();

    // Due over 0.5 s .. 3 s from now; scheduled in four batches.
    let start = now_micros() + 500_000;
    let specs: Vec<TimerSpec> = (0..TIMERS)
        .map(|i| TimerSpec::at(format!("t{i}"), at(start + i as i64 * 2_500)))
        .collect();
    let mut ids = HashSet::new();
    for chunk in specs.chunks(250) {
        ids.extend(
            client
                .schedule_many(chunk.to_vec())
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.id),
        );
    }
    assert_eq!(ids.len(), TIMERS);

    // Kill -9 once firing is well under way.
    let mut fired_before_kill = 0;
    tokio::time::timeout(WAIT, async {
        while fired_before_kill < 200 {
            live.next().await.unwrap().unwrap();
            fired_before_kill += 1;
        }
    })
    .await
    .expect("timers did not start firing");
    server.kill();
    drop(live);

    let server = Server::start(dir.path()).await;
    let client = common::client(&server.url, "acme").await;
    // Wait for every timer to settle, then a marker that is last in the log.
    let mut log = client
        .stream(minoots::StreamOptions::default().after_sequence(0))
        .await
        .unwrap();
    let mut settled = HashSet::new();
    let mut fires: HashMap<String, usize> = HashMap::new();
    let mut marker = None;
    let mut last_sequence = 0;
    tokio::time::timeout(WAIT, async {
        loop {
            let event = log.next().await.unwrap().unwrap();
            assert_eq!(event.sequence, last_sequence + 1, "the log has no gaps");
            last_sequence = event.sequence;
            let kind = proto::TimerEventType::try_from(event.event_type).unwrap();
            if Some(&event.timer_id) == marker.as_ref() {
                if kind == proto::TimerEventType::Settled {
                    break;
                }
                continue;
            }
            match kind {
                proto::TimerEventType::Fired => {
                    *fires.entry(event.timer_id.clone()).or_default() += 1
                }
                proto::TimerEventType::Settled => {
                    settled.insert(event.timer_id.clone());
                }
                _ => {}
            }
            if settled.len() == TIMERS && marker.is_none() {
                let spec = TimerSpec::new("marker", Duration::from_millis(10));
                marker = Some(client.schedule(spec).await.unwrap().id);
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "only {} of {TIMERS} timers settled after the restart",
            settled.len()
        )
    });

    assert_eq!(fires.len(), TIMERS, "every timer fired");
    let twice: Vec<_> = fires.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "timers fired more than once: {twice:?}");
    assert!(fires.keys().all(|id| ids.contains(id)));
    println!(
        "SIGKILL after {fired_before_kill} fire events were seen; all {TIMERS} fired exactly once across the restart"
    );
}
