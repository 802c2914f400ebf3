//! Event streams: resume after a sequence without gaps or repeats, filters, and resume
//! points outside the retained log.

use super::*;

#[tokio::test]
async fn stream_resume_replays_then_goes_live_without_gaps_or_repeats() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let a = kernel
        .schedule("acme", request("a", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let first = next(&mut events).await;
    drop(events); // disconnect after seeing one event
    let b = kernel
        .schedule("acme", request("b", 2 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let mut resumed = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(first.sequence),
                ..live()
            },
        )
        .await
        .unwrap();
    let mut sequences = vec![first.sequence];
    let mut done = false;
    while !done {
        let event = next(&mut resumed).await;
        sequences.push(event.sequence);
        if event.event_type == TimerEventType::Settled as i32 && event.timer_id == a.id {
            clock.advance(Duration::from_secs(1)); // now live
        }
        done = event.event_type == TimerEventType::Settled as i32 && event.timer_id == b.id;
    }
    assert_eq!(
        sequences,
        (1..=8).collect::<Vec<u64>>(),
        "every event once, in order"
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn stream_filters_by_event_type_and_labels() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let filter = StreamTimerEventsRequest {
        event_types: vec![TimerEventType::Fired as i32],
        label_selector: "team=core".into(),
        ..live()
    };
    let mut events = kernel.subscribe("acme", filter).await.unwrap();
    let mut core = request("core", SEC);
    core.labels.insert("team".into(), "core".into());
    kernel
        .schedule("acme", request("other", SEC))
        .await
        .unwrap();
    let core = kernel.schedule("acme", core).await.unwrap().timer.unwrap();
    clock.advance(Duration::from_secs(1));
    let event = next(&mut events).await;
    assert_eq!(
        (event.timer_id.as_str(), event.event_type),
        (core.id.as_str(), TimerEventType::Fired as i32)
    );
    let bad = StreamTimerEventsRequest {
        event_types: vec![42],
        ..live()
    };
    assert!(
        matches!(kernel.subscribe("acme", bad).await, Err(KernelError::InvalidArgument { field, .. }) if field == "event_types")
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn resume_points_outside_the_retained_log_are_refused() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kernel = start(store.clone(), &clock).await;
    for i in 0..3 {
        kernel
            .schedule("acme", request(&format!("t{i}"), 100 * SEC))
            .await
            .unwrap();
    }
    store.purge(T0, T0 + 1, false).await.unwrap();
    let from = |after| StreamTimerEventsRequest {
        after_sequence: Some(after),
        ..live()
    };
    assert!(matches!(
        kernel.subscribe("acme", from(0)).await,
        Err(KernelError::OutOfRange { .. })
    ));
    assert!(matches!(
        kernel.subscribe("acme", from(99)).await,
        Err(KernelError::InvalidArgument { .. })
    ));
    kernel.shutdown().await;
}
