//! Lifecycle on time: schedule, arm, fire, settle; cancel, and a cancel racing a fire;
//! restarts that re-arm pending timers and finish fired ones.

use super::*;

#[tokio::test]
async fn a_timer_moves_through_its_lifecycle_on_time() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let late = kernel
        .schedule("acme", request("late", 10 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let early = kernel
        .schedule("acme", request("early", 10 * SEC - 1_000))
        .await
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(
        late.status,
        TimerStatus::Armed as i32,
        "armed in the same commit as it was scheduled"
    );
    assert_eq!(late.state_version, 2);

    clock.set(T0 + 10 * SEC - 1_000);
    let fired = until(&mut events, TimerEventType::Fired, &early.id).await;
    assert_eq!(fired.timer.unwrap().jitter_ms, 0.0);
    assert_eq!(
        kernel.get("acme", &late.id).await.unwrap().status,
        TimerStatus::Armed as i32,
        "not due 1 ms early"
    );

    clock.set(T0 + 10 * SEC);
    until(&mut events, TimerEventType::Settled, &late.id).await;
    let done = kernel.get("acme", &late.id).await.unwrap();
    assert_eq!(done.status, TimerStatus::Settled as i32);
    assert_eq!(done.state_version, 4);
    assert_eq!(done.fired_at, Some(to_timestamp(T0 + 10 * SEC)));

    let history = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    let mut history = history;
    let mut of_late = Vec::new();
    for _ in 0..8 {
        let event = next(&mut history).await;
        if event.timer_id == late.id {
            of_late.push((event.event_type, event.timer.unwrap().state_version));
        }
    }
    use TimerEventType::*;
    assert_eq!(
        of_late,
        vec![
            (Scheduled as i32, 1),
            (Armed as i32, 2),
            (Fired as i32, 3),
            (Settled as i32, 4)
        ]
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_timer_never_fires() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let doomed = kernel
        .schedule("acme", request("doomed", 5 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let marker = kernel
        .schedule("acme", request("marker", 6 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let cancel = CancelTimerRequest {
        id: doomed.id.clone(),
        reason: "plans changed".into(),
        requested_by: "alice".into(),
        ..Default::default()
    };
    let cancelled = kernel.cancel("acme", cancel.clone()).await.unwrap();
    assert_eq!(
        (cancelled.status, cancelled.cancel_reason.as_str()),
        (TimerStatus::Cancelled as i32, "plans changed")
    );

    clock.advance(Duration::from_secs(7));
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    let log = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    let mut log = log;
    let mut seen = Vec::new();
    loop {
        let event = next(&mut log).await;
        if event.timer_id == doomed.id {
            seen.push(event.event_type);
        }
        if event.timer_id == marker.id && event.event_type == TimerEventType::Fired as i32 {
            break;
        }
    }
    assert!(!seen.contains(&(TimerEventType::Fired as i32)), "{seen:?}");
    assert!(seen.contains(&(TimerEventType::Cancelled as i32)));
    let again = kernel.cancel("acme", cancel).await.unwrap_err();
    assert!(
        matches!(again, KernelError::FailedPrecondition(_)),
        "{again:?}"
    );
    kernel.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_racing_fire_has_exactly_one_winner() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let requests = (0..300).map(|i| request(&format!("t{i}"), SEC)).collect();
    let timers: Vec<Timer> = kernel
        .schedule_many("acme", requests)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.timer.unwrap())
        .collect();
    let marker = kernel
        .schedule("acme", request("marker", 2 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();

    // Fire and cancel at the same instant, from several tasks.
    let cancels: Vec<_> = timers
        .iter()
        .map(|t| {
            let kernel = kernel.clone();
            let id = t.id.clone();
            tokio::spawn(async move {
                kernel
                    .cancel(
                        "acme",
                        CancelTimerRequest {
                            id,
                            ..Default::default()
                        },
                    )
                    .await
            })
        })
        .collect();
    clock.advance(Duration::from_secs(2));
    let mut cancelled_ok = std::collections::HashSet::new();
    for (timer, cancel) in timers.iter().zip(cancels) {
        match cancel.await.unwrap() {
            Ok(_) => {
                cancelled_ok.insert(timer.id.clone());
            }
            Err(KernelError::FailedPrecondition(_)) => {}
            Err(other) => panic!("unexpected cancel error {other}"),
        }
    }
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    let mut log = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    let mut finals: std::collections::HashMap<String, Vec<i32>> = std::collections::HashMap::new();
    loop {
        let event = next(&mut log).await;
        if event.timer_id == marker.id && event.event_type == TimerEventType::Fired as i32 {
            break;
        }
        if matches!(
            TimerEventType::try_from(event.event_type).unwrap(),
            TimerEventType::Fired | TimerEventType::Cancelled
        ) {
            finals
                .entry(event.timer_id)
                .or_default()
                .push(event.event_type);
        }
    }
    for timer in &timers {
        let outcome = &finals[&timer.id];
        assert_eq!(outcome.len(), 1, "timer {} has {outcome:?}", timer.id);
        let was_cancelled = outcome[0] == TimerEventType::Cancelled as i32;
        assert_eq!(
            was_cancelled,
            cancelled_ok.contains(&timer.id),
            "the cancel's answer agrees with the log"
        );
    }
    kernel.shutdown().await;
}

#[tokio::test]
async fn restart_rearms_pending_fires_overdue_and_never_fires_twice() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let first = kernel
        .schedule("acme", request("first", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let overdue = kernel
        .schedule("acme", request("overdue", 5 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let future = kernel
        .schedule("acme", request("future", 60 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    until(&mut events, TimerEventType::Armed, &future.id).await;
    clock.advance(Duration::from_secs(1));
    until(&mut events, TimerEventType::Settled, &first.id).await;
    kernel.shutdown().await;

    // Down for 30 s: `overdue` is now 25 s late.
    clock.advance(Duration::from_secs(30));
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    let fired = until(&mut events, TimerEventType::Fired, &overdue.id).await;
    assert_eq!(
        fired.timer.unwrap().fired_at,
        Some(to_timestamp(T0 + 31 * SEC)),
        "fired at once on restart"
    );
    clock.advance(Duration::from_secs(30));
    until(&mut events, TimerEventType::Settled, &future.id).await;
    kernel.shutdown().await;

    let log = store.events_after("acme", 0, 1_000).await.unwrap();
    for timer in [&first, &overdue, &future] {
        let fires = log
            .iter()
            .filter(|e| e.timer_id == timer.id && e.event_type == TimerEventType::Fired as i32)
            .count();
        assert_eq!(fires, 1, "{} fired {fires} times", timer.name);
    }
}

#[tokio::test]
async fn a_fired_timer_left_unsettled_by_a_crash_settles_on_restart() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let new = validate::schedule(
        &request("crashed", SEC),
        "acme",
        uuid::Uuid::now_v7().to_string(),
        T0,
    )
    .unwrap();
    let id = new.timer.id.clone();
    store
        .apply(vec![
            Mutation::create(new),
            system_transition(id.clone(), TimerStatus::Fired, T0 + SEC),
        ])
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    until(&mut events, TimerEventType::Settled, &id).await;
    kernel.shutdown().await;
    let fires = store
        .events_after("acme", 0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == TimerEventType::Fired as i32)
        .count();
    assert_eq!(fires, 1);
}

/// Issue 19 item 1: a timer whose stored record cannot be decoded (metadata nested past what
/// protobuf decodes, as REST accepted before) must not hold back the timers that fire with it,
/// before or after a restart: they settle, it is FAILED with the reason and a dead letter, and
/// reads, lists and stream replays keep answering.
#[tokio::test]
async fn a_poisoned_record_fails_alone_and_never_holds_back_other_tenants() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minoots.db");
    let open = || store::SqliteStore::open(&path, store::Synchronous::Normal);
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(open().await.unwrap()), &clock).await;
    let mut ids = Vec::new();
    for (tenant, name) in [("acme", "poisoned"), ("globex", "a"), ("acme", "b")] {
        let timer = kernel
            .schedule(tenant, request(name, 10 * SEC))
            .await
            .unwrap()
            .timer
            .unwrap();
        ids.push((tenant, timer));
    }
    kernel.shutdown().await;

    // While it is down, the record is replaced by one the decoder refuses.
    let poisoned = ids[0].1.clone();
    let mut deep = prost_types::Value {
        kind: Some(prost_types::value::Kind::NumberValue(1.0)),
    };
    for _ in 0..40 {
        deep = prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
                fields: [("a".to_owned(), deep)].into(),
            })),
        };
    }
    let mut body = poisoned.clone();
    body.metadata = Some(prost_types::Struct {
        fields: [("a".to_owned(), deep)].into(),
    });
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE timers SET body = ? WHERE id = ?")
        .bind(prost::Message::encode_to_vec(&body))
        .bind(&poisoned.id)
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();

    let kernel = start(Arc::new(open().await.unwrap()), &clock).await;
    let shown = kernel.get("acme", &poisoned.id).await.expect("get answers");
    assert_eq!(shown.status, TimerStatus::Armed as i32);
    let page = kernel
        .list("acme", ListTimersRequest::default())
        .await
        .expect("list answers");
    assert_eq!(page.timers.len(), 2);
    let mut replay = kernel
        .subscribe(
            "acme",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    for _ in 0..4 {
        next(&mut replay).await;
    }
    let mut globex = kernel.subscribe("globex", live()).await.unwrap();

    clock.advance(Duration::from_secs(10));
    until(&mut globex, TimerEventType::Settled, &ids[1].1.id).await;
    let (mut settled, mut failed) = (false, None);
    while !settled || failed.is_none() {
        let event = next(&mut replay).await;
        if event.event_type == TimerEventType::Settled as i32 && event.timer_id == ids[2].1.id {
            settled = true;
        }
        if event.event_type == TimerEventType::Failed as i32 && event.timer_id == poisoned.id {
            failed = event.timer;
        }
    }
    let reason = failed.unwrap().failure_reason;
    assert!(reason.contains("could not be decoded"), "{reason}");
    let letters = kernel
        .dead_letters("acme", &ListDeadLettersRequest::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].timer_id, poisoned.id);
    let mut metrics = String::new();
    kernel.render_metrics(&mut metrics);
    assert!(
        metrics.contains("minoots_records_quarantined_total 1"),
        "{metrics}"
    );
    kernel.shutdown().await;

    // And it stays so after another restart.
    let kernel = start(Arc::new(open().await.unwrap()), &clock).await;
    for (tenant, timer) in &ids {
        let status = kernel.get(tenant, &timer.id).await.unwrap().status;
        let expected = if timer.id == poisoned.id {
            TimerStatus::Failed
        } else {
            TimerStatus::Settled
        };
        assert_eq!(status, expected as i32, "{}", timer.name);
    }
    kernel.shutdown().await;
}
