//! Retention: finished timers and old events are purged, pending timers stay.

use super::*;

#[tokio::test]
async fn finished_timers_and_old_events_are_purged_after_their_retention() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = KernelConfig {
        scheduler_thread: false,
        timer_retention: Duration::from_secs(3_600),
        event_retention: Duration::from_secs(7_200),
        purge_interval: Duration::from_secs(60),
        ..KernelConfig::default()
    };
    let kernel = Kernel::start(store.clone(), Arc::new(clock.clone()), config)
        .await
        .unwrap();
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let done = kernel
        .schedule("acme", request("done", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let waiting = kernel
        .schedule("acme", request("waiting", 24 * 3_600 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(1));
    until(&mut events, TimerEventType::Settled, &done.id).await;

    // 59 minutes after settling: still readable.
    clock.advance(Duration::from_secs(59 * 60));
    tokio::task::yield_now().await;
    assert_eq!(
        kernel.get("acme", &done.id).await.unwrap().status,
        TimerStatus::Settled as i32
    );

    // Past the retention (and the next purge tick): gone, while the pending timer stays.
    clock.advance(Duration::from_secs(2 * 60));
    tokio::time::timeout(Duration::from_secs(10), async {
        while kernel.get("acme", &done.id).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the settled timer was not purged");
    assert!(matches!(
        kernel.get("acme", &done.id).await,
        Err(KernelError::NotFound { .. })
    ));
    assert_eq!(
        kernel.get("acme", &waiting.id).await.unwrap().status,
        TimerStatus::Armed as i32
    );
    // Events are kept for 2 h: all six are still there.
    assert_eq!(store.events_after("acme", 0, 100).await.unwrap().len(), 6);

    // Past the event retention, a resume from the start is refused: those events are gone.
    clock.advance(Duration::from_secs(2 * 3_600));
    tokio::time::timeout(Duration::from_secs(10), async {
        while !store.events_after("acme", 0, 100).await.unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("old events were not purged");
    let resume = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await;
    assert!(matches!(resume, Err(KernelError::OutOfRange { .. })));
    kernel.shutdown().await;
}
