//! Control of pending timers on a manual clock: updates and pauses racing fires (one winner),
//! resume firing overdue timers at once, keys that replace (a sliding debounce) or keep, bulk
//! cancel with a dry run, and a tenant's deliveries pause.

use super::*;
use crate::Bulk;
use minoots_proto::v1::{
    GetTimerRequest, KeyPolicy, PauseTenantRequest, PauseTimerRequest, ResumeTenantRequest,
    ResumeTimerRequest, SelectTimersRequest, UpdateTimerRequest, update_timer_request,
};

fn keyed(name: &str, after: Micros, key: &str, policy: KeyPolicy) -> ScheduleTimerRequest {
    ScheduleTimerRequest {
        idempotency_key: key.into(),
        key_policy: policy as i32,
        ..request(name, after)
    }
}

fn move_to(id: &str, after: Micros) -> UpdateTimerRequest {
    UpdateTimerRequest {
        id: id.into(),
        schedule: Some(update_timer_request::Schedule::Duration(to_duration(after))),
        ..Default::default()
    }
}

async fn schedule_n(kernel: &Kernel, tenant: &str, n: usize, after: Micros) -> Vec<Timer> {
    let requests = (0..n).map(|i| request(&format!("t{i}"), after)).collect();
    kernel
        .schedule_many(tenant, requests)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.timer.unwrap())
        .collect()
}

/// Every FIRED event (by timer) up to the marker's fire.
async fn fired_until(kernel: &Kernel, marker: &str) -> HashMap<String, usize> {
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
    let mut fired = HashMap::new();
    loop {
        let event = next(&mut log).await;
        if event.event_type == TimerEventType::Fired as i32 {
            if event.timer_id == marker {
                return fired;
            }
            *fired.entry(event.timer_id).or_default() += 1;
        }
    }
}

#[tokio::test]
async fn an_update_racing_a_fire_has_exactly_one_winner() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let timers = schedule_n(&kernel, "acme", 300, SEC).await;
    let marker = kernel
        .schedule("acme", request("marker", 2 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    // Each update moves its timer an hour later while the clock passes its fire time.
    let updates: Vec<_> = timers
        .iter()
        .map(|t| {
            let kernel = kernel.clone();
            let id = t.id.clone();
            tokio::spawn(async move { kernel.update("acme", move_to(&id, 3_600 * SEC)).await })
        })
        .collect();
    clock.advance(Duration::from_secs(2));
    let mut moved = Vec::new();
    for (timer, update) in timers.iter().zip(updates) {
        match update.await.unwrap() {
            Ok(updated) => moved.push(updated.id),
            Err(KernelError::FailedPrecondition(_)) => {}
            Err(other) => panic!("unexpected update error for {}: {other}", timer.id),
        }
    }
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    let fired = fired_until(&kernel, &marker.id).await;
    for timer in &timers {
        let won = moved.contains(&timer.id);
        let fires = fired.get(&timer.id).copied().unwrap_or(0);
        assert_eq!(
            (won, fires),
            if won { (true, 0) } else { (false, 1) },
            "timer {}: updated and fired, or neither",
            timer.id
        );
        let status = kernel.get("acme", &timer.id).await.unwrap().status;
        assert_eq!(
            status,
            if won {
                TimerStatus::Armed as i32
            } else {
                TimerStatus::Settled as i32
            }
        );
    }
    // The moved ones fire at their new time, once.
    if let Some(id) = moved.first() {
        clock.advance(Duration::from_secs(3_600));
        until(&mut events, TimerEventType::Fired, id).await;
    }
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_pause_racing_a_fire_has_exactly_one_winner_and_resume_fires_overdue_at_once() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let timers = schedule_n(&kernel, "acme", 300, SEC).await;
    let marker = kernel
        .schedule("acme", request("marker", 2 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let pauses: Vec<_> = timers
        .iter()
        .map(|t| {
            let kernel = kernel.clone();
            let request = PauseTimerRequest {
                id: t.id.clone(),
                reason: "hold".into(),
                ..Default::default()
            };
            tokio::spawn(async move { kernel.pause("acme", request).await })
        })
        .collect();
    clock.advance(Duration::from_secs(2));
    let mut paused = Vec::new();
    for pause in pauses {
        match pause.await.unwrap() {
            Ok(timer) => {
                assert_eq!(timer.status, TimerStatus::Paused as i32);
                paused.push(timer.id);
            }
            Err(KernelError::FailedPrecondition(_)) => {}
            Err(other) => panic!("unexpected pause error {other}"),
        }
    }
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    let fired = fired_until(&kernel, &marker.id).await;
    for timer in &timers {
        let won = paused.contains(&timer.id);
        assert_eq!(
            fired.get(&timer.id).copied().unwrap_or(0),
            usize::from(!won),
            "timer {}: paused or fired, never both",
            timer.id
        );
    }
    // Resumed after its fire time passed: it fires at once, without the clock moving.
    if let Some(id) = paused.first() {
        let resumed = kernel
            .resume(
                "acme",
                ResumeTimerRequest {
                    id: id.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(resumed.status, TimerStatus::Armed as i32);
        let fired = until(&mut events, TimerEventType::Fired, id).await;
        assert_eq!(fired.occurred_at, Some(to_timestamp(T0 + 2 * SEC)));
    }
    kernel.shutdown().await;
}

#[tokio::test]
async fn keys_replace_as_a_sliding_debounce_keep_and_find_timers() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let first = kernel
        .schedule("acme", keyed("debounce", 10 * SEC, "k", KeyPolicy::Replace))
        .await
        .unwrap();
    assert!(first.created);
    let id = first.timer.unwrap().id;
    // Each call before it fires pushes it 10 s past that call.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        let again = kernel
            .schedule("acme", keyed("debounce", 10 * SEC, "k", KeyPolicy::Replace))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.timer.unwrap().id, id);
    }
    let updated = until(&mut events, TimerEventType::Updated, &id).await;
    assert_eq!(updated.timer.unwrap().id, id);
    // KEEP returns it unchanged whatever the request says; REJECT refuses a different request.
    let kept = kernel
        .schedule("acme", keyed("other", 60 * SEC, "k", KeyPolicy::Keep))
        .await
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(
        (kept.id.as_str(), kept.name.as_str()),
        (id.as_str(), "debounce")
    );
    assert!(matches!(
        kernel
            .schedule("acme", keyed("other", 60 * SEC, "k", KeyPolicy::Reject))
            .await,
        Err(KernelError::AlreadyExists(_))
    ));
    // Found, updated and cancelled by key.
    let by_key = |key: &str| GetTimerRequest {
        idempotency_key: key.into(),
        ..Default::default()
    };
    assert_eq!(kernel.get_timer("acme", by_key("k")).await.unwrap().id, id);
    assert!(matches!(
        kernel.get_timer("acme", by_key("nope")).await,
        Err(KernelError::NotFound { .. })
    ));
    assert!(matches!(
        kernel.get_timer("globex", by_key("k")).await,
        Err(KernelError::NotFound { .. })
    ));
    let renamed = kernel
        .update(
            "acme",
            UpdateTimerRequest {
                idempotency_key: "k".into(),
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    // Fires once, 10 s after the last call (T0 + 15 s + 10 s), not at the first call's time.
    clock.advance(Duration::from_millis(9_998));
    let marker = kernel
        .schedule("acme", request("marker", 1))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_millis(1));
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    assert_eq!(
        kernel.get("acme", &id).await.unwrap().status,
        TimerStatus::Armed as i32,
        "not yet"
    );
    clock.advance(Duration::from_millis(1));
    let fired = until(&mut events, TimerEventType::Fired, &id).await;
    assert_eq!(fired.occurred_at, Some(to_timestamp(T0 + 25 * SEC)));
    // After it fired, REPLACE schedules a new timer under the key.
    let next = kernel
        .schedule("acme", keyed("debounce", 10 * SEC, "k", KeyPolicy::Replace))
        .await
        .unwrap();
    assert!(next.created);
    let next_id = next.timer.unwrap().id;
    assert_ne!(next_id, id);
    assert_eq!(
        kernel.get_timer("acme", by_key("k")).await.unwrap().id,
        next_id
    );
    let cancelled = kernel
        .cancel(
            "acme",
            CancelTimerRequest {
                idempotency_key: "k".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cancelled.id, next_id);
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_stale_state_version_is_aborted_and_bad_updates_name_the_field() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let timer = kernel
        .schedule("acme", request("t", 60 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    let version = timer.state_version;
    let update = |expected: u64| UpdateTimerRequest {
        expected_state_version: expected,
        ..move_to(&timer.id, 120 * SEC)
    };
    let updated = kernel.update("acme", update(version)).await.unwrap();
    assert_eq!(updated.state_version, version + 1);
    assert!(matches!(
        kernel.update("acme", update(version)).await,
        Err(KernelError::Aborted(_))
    ));
    let field = |result: Result<Timer>| match result {
        Err(KernelError::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let nothing = UpdateTimerRequest {
        id: timer.id.clone(),
        ..Default::default()
    };
    assert_eq!(field(kernel.update("acme", nothing).await), "update");
    let both = UpdateTimerRequest {
        idempotency_key: "k".into(),
        ..move_to(&timer.id, SEC)
    };
    assert_eq!(field(kernel.update("acme", both).await), "idempotency_key");
    assert_eq!(
        field(kernel.update("acme", move_to(&timer.id, -SEC)).await),
        "duration"
    );
    let no_key = ScheduleTimerRequest {
        key_policy: KeyPolicy::Replace as i32,
        ..request("x", SEC)
    };
    assert_eq!(
        match kernel.schedule("acme", no_key).await {
            Err(KernelError::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        },
        "key_policy"
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn bulk_cancel_counts_first_then_cancels_ten_thousand() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let batch = |team: &str| -> Vec<ScheduleTimerRequest> {
        (0..5_000)
            .map(|i| ScheduleTimerRequest {
                labels: [("team".to_owned(), team.to_owned())].into(),
                ..request(&format!("{team}{i}"), 60 * SEC)
            })
            .collect()
    };
    for _ in 0..2 {
        kernel.schedule_many("acme", batch("core")).await.unwrap();
    }
    kernel.schedule_many("acme", batch("web")).await.unwrap();
    kernel.schedule_many("globex", batch("core")).await.unwrap();
    let select = |dry_run: bool| SelectTimersRequest {
        label_selector: "team=core".into(),
        dry_run,
        reason: "project cancelled".into(),
        ..Default::default()
    };
    let counted = kernel
        .bulk("acme", Bulk::Cancel, select(true))
        .await
        .unwrap();
    assert_eq!((counted.matched, counted.changed), (10_000, 0));
    let done = kernel
        .bulk("acme", Bulk::Cancel, select(false))
        .await
        .unwrap();
    assert_eq!((done.matched, done.changed), (10_000, 10_000));
    let again = kernel
        .bulk("acme", Bulk::Cancel, select(false))
        .await
        .unwrap();
    assert_eq!((again.matched, again.changed), (0, 0));
    let pending = |tenant: &'static str, selector: &'static str| {
        let kernel = kernel.clone();
        async move {
            kernel
                .store()
                .list(&ListQuery {
                    tenant_id: tenant.into(),
                    statuses: vec![TimerStatus::Armed],
                    selector: crate::labels::LabelSelector::parse(selector).unwrap(),
                    limit: 20_000,
                    ..ListQuery::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(pending("acme", "team=core").await, 0);
    assert_eq!(
        pending("acme", "team=web").await,
        5_000,
        "other labels untouched"
    );
    assert_eq!(
        pending("globex", "team=core").await,
        5_000,
        "other tenants untouched"
    );
    // Nothing cancelled fires.
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let marker = kernel
        .schedule("acme", request("marker", 1))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_millis(1));
    let mut fired = 0;
    loop {
        let event = next(&mut events).await;
        if event.event_type == TimerEventType::Fired as i32 {
            if event.timer_id == marker.id {
                break;
            }
            assert!(event.timer.unwrap().name.starts_with("web"));
            fired += 1;
        }
    }
    assert_eq!(fired, 5_000);
    // A selector is required (or all), never implied.
    assert!(matches!(
        kernel
            .bulk("acme", Bulk::Cancel, SelectTimersRequest::default())
            .await,
        Err(KernelError::InvalidArgument { ref field, .. }) if field == "label_selector"
    ));
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_paused_tenant_delivers_nothing_until_resumed_and_other_tenants_go_on() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut acme = kernel.subscribe("acme", live()).await.unwrap();
    let mut globex = kernel.subscribe("globex", live()).await.unwrap();
    let before = schedule_n(&kernel, "acme", 50, SEC).await;
    // One paused on its own stays paused when the tenant resumes.
    let own = kernel
        .pause(
            "acme",
            PauseTimerRequest {
                id: before[0].id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let state = kernel
        .pause_tenant(
            "acme",
            PauseTenantRequest {
                reason: "incident".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(state.paused);
    assert_eq!(state.changed, 49);
    let during = kernel
        .schedule("acme", request("during", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(during.status, TimerStatus::Paused as i32);
    assert!(during.tenant_paused);
    let other = kernel
        .schedule("globex", request("other", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(2));
    until(&mut globex, TimerEventType::Fired, &other.id).await;
    assert!(kernel.tenant_pause("acme").await.unwrap().paused);
    let resumed = kernel
        .resume_tenant("acme", ResumeTenantRequest::default())
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(
        resumed.changed, 50,
        "49 paused with the tenant and the one created during"
    );
    // Overdue: they fire at once, at the resume's time; the one paused on its own does not.
    let mut fired = std::collections::HashSet::new();
    while fired.len() < 50 {
        let event = next(&mut acme).await;
        if event.event_type == TimerEventType::Fired as i32 {
            assert_eq!(event.occurred_at, Some(to_timestamp(T0 + 2 * SEC)));
            fired.insert(event.timer_id);
        }
    }
    assert!(fired.contains(&during.id));
    assert!(!fired.contains(&own.id));
    assert_eq!(
        kernel.get("acme", &own.id).await.unwrap().status,
        TimerStatus::Paused as i32
    );
    kernel.shutdown().await;
}
