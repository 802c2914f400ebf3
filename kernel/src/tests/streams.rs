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
    assert!(
        matches!(
            kernel.subscribe("acme", from(99)).await,
            Err(KernelError::OutOfRange { .. })
        ),
        "a resume point past the log names events this store does not hold"
    );
    kernel.shutdown().await;
}

/// Issue 19 item 12: after a restore from backup, a client that saw events the backup does not
/// hold gets OUT_OF_RANGE (as docs/operations.md promises), and once the operator ran the
/// restore step (`minoots restored`, [`Store::skip_sequences`]) no sequence it may have seen is
/// handed out again for another event.
#[tokio::test]
async fn after_a_restore_no_sequence_a_client_saw_is_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minoots.db");
    let backup = dir.path().join("backup.db");
    let open = || async {
        Arc::new(
            store::SqliteStore::open(&path, store::Synchronous::Normal)
                .await
                .unwrap(),
        )
    };
    let clock = ManualClock::new(T0);
    let from = |after| StreamTimerEventsRequest {
        after_sequence: Some(after),
        ..live()
    };

    let db = open().await;
    let kernel = start(db.clone(), &clock).await;
    kernel
        .schedule("acme", request("kept", 100 * SEC))
        .await
        .unwrap();
    kernel.shutdown().await;
    db.close().await;
    std::fs::copy(&path, &backup).unwrap();

    // After the backup: events 3..=6, which a client streams.
    let db = open().await;
    let kernel = start(db.clone(), &clock).await;
    let mut seen = kernel.subscribe("acme", from(0)).await.unwrap();
    for name in ["lost-1", "lost-2"] {
        kernel
            .schedule("acme", request(name, 100 * SEC))
            .await
            .unwrap();
    }
    let mut last_seen = 0;
    while last_seen < 6 {
        last_seen = next(&mut seen).await.sequence;
    }
    kernel.shutdown().await;
    db.close().await;

    // Restore: the backup goes back in place.
    std::fs::copy(&backup, &path).unwrap();
    let db = open().await;
    let kernel = start(db.clone(), &clock).await;
    assert!(
        matches!(
            kernel.subscribe("acme", from(last_seen)).await,
            Err(KernelError::OutOfRange { .. })
        ),
        "the events it saw are gone: OUT_OF_RANGE, re-list"
    );
    kernel.shutdown().await;

    // The restore step, before serving again.
    let floor = db.skip_sequences(1_000).await.unwrap();
    assert_eq!(floor, 1_002);
    let kernel = start(db.clone(), &clock).await;
    let mut resumed = kernel.subscribe("acme", from(2)).await.unwrap();
    for name in ["new-1", "new-2", "new-3"] {
        kernel
            .schedule("acme", request(name, 100 * SEC))
            .await
            .unwrap();
    }
    let first_new = next(&mut resumed).await;
    assert_eq!(
        first_new.sequence, 1_003,
        "past every sequence handed out before"
    );
    assert!(
        matches!(
            kernel.subscribe("acme", from(last_seen)).await,
            Err(KernelError::OutOfRange { .. })
        ),
        "a resume point inside the skipped range names no event: still OUT_OF_RANGE"
    );
    // A tenant without events starts above the floor too; the range up to it is not held, so
    // only a live subscription (or one resuming from a sequence it was sent) is accepted.
    assert!(matches!(
        kernel.subscribe("globex", from(0)).await,
        Err(KernelError::OutOfRange { .. })
    ));
    kernel
        .schedule("globex", request("first", 100 * SEC))
        .await
        .unwrap();
    assert_eq!(
        store::Store::event_bounds(&*db, "globex")
            .await
            .unwrap()
            .oldest,
        Some(1_003)
    );
    kernel.shutdown().await;
    db.close().await;
}
