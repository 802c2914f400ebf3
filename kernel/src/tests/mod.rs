//! Kernel behaviour on a manual clock: nothing here depends on how fast the machine is. Tests
//! wait on events (effects), never on sleeps; the timeouts only turn a hang into a failure.

use std::{collections::HashMap, sync::Arc, time::Duration};

use minoots_proto::{
    prost_types,
    v1::{
        Action, ActionBundle, CommandAction, FileAction, ListDeadLettersRequest, ListTimersRequest,
        ScheduleTimerRequest, StreamTimerEventsRequest, TimerEvent, TimerEventType, TimerStatus,
        WebhookAction, action::Kind, schedule_timer_request::Schedule,
    },
};
use tokio::sync::mpsc;

use super::*;
use crate::store::ListQuery;
use crate::{
    clock::{to_duration, to_timestamp},
    store::MemoryStore,
};

const T0: Micros = 1_763_900_000_000_000;
const SEC: Micros = 1_000_000;

async fn start(store: Arc<dyn Store>, clock: &ManualClock) -> Kernel {
    let config = KernelConfig {
        scheduler_thread: false,
        ..KernelConfig::default()
    };
    Kernel::start(store, Arc::new(clock.clone()), config)
        .await
        .unwrap()
}

fn request(name: &str, after: Micros) -> ScheduleTimerRequest {
    ScheduleTimerRequest {
        name: name.into(),
        schedule: Some(Schedule::Duration(to_duration(after))),
        ..ScheduleTimerRequest::default()
    }
}

async fn next(rx: &mut mpsc::Receiver<Result<TimerEvent>>) -> TimerEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
        .unwrap()
        .unwrap()
}

/// Reads events until one matches.
async fn until(
    rx: &mut mpsc::Receiver<Result<TimerEvent>>,
    event_type: TimerEventType,
    timer_id: &str,
) -> TimerEvent {
    loop {
        let event = next(rx).await;
        if event.event_type == event_type as i32 && event.timer_id == timer_id {
            return event;
        }
    }
}

fn live() -> StreamTimerEventsRequest {
    StreamTimerEventsRequest::default()
}

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

#[tokio::test]
async fn idempotency_key_returns_the_first_timer_and_refuses_a_different_request() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut req = request("once", 60 * SEC);
    req.idempotency_key = "deploy-42".into();
    let first = kernel.schedule("acme", req.clone()).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let again = kernel.schedule("acme", req.clone()).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.timer.unwrap().id, again.timer.unwrap().id);
    req.name = "different".into();
    assert!(matches!(
        kernel.schedule("acme", req.clone()).await,
        Err(KernelError::AlreadyExists(_))
    ));
    assert!(
        kernel.schedule("globex", req).await.unwrap().created,
        "keys are per tenant"
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn quotas_refuse_active_and_daily_excess_and_free_up_as_timers_finish() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = KernelConfig {
        scheduler_thread: false,
        default_limits: crate::quota::Limits {
            active_timers: Some(2),
            daily_timers: Some(4),
        },
        ..KernelConfig::default()
    };
    let kernel = Kernel::start(store.clone(), Arc::new(clock.clone()), config.clone())
        .await
        .unwrap();
    let quota = |result: Result<ScheduleTimerResponse>| match result {
        Err(KernelError::QuotaExceeded {
            limit_type, limit, ..
        }) => (limit_type, limit),
        other => panic!("expected a quota error, got {other:?}"),
    };
    let first = kernel
        .schedule("acme", request("a", 10 * SEC))
        .await
        .unwrap();
    kernel
        .schedule("acme", request("b", 60 * SEC))
        .await
        .unwrap();
    assert_eq!(
        quota(kernel.schedule("acme", request("c", 60 * SEC)).await),
        (crate::error::LimitType::Burst, 2)
    );
    let batch = kernel
        .schedule_many(
            "globex",
            vec![request("x", SEC), request("y", SEC), request("z", SEC)],
        )
        .await;
    assert!(
        matches!(batch, Err(KernelError::QuotaExceeded { .. })),
        "a batch over the limit is refused whole: {batch:?}"
    );
    assert!(
        kernel
            .list("globex", ListTimersRequest::default())
            .await
            .unwrap()
            .timers
            .is_empty()
    );

    // Cancelling frees a slot at once; firing does too.
    let id = first.timer.unwrap().id;
    kernel
        .cancel(
            "acme",
            CancelTimerRequest {
                id,
                ..CancelTimerRequest::default()
            },
        )
        .await
        .unwrap();
    let c = kernel.schedule("acme", request("c", SEC)).await.unwrap();
    let mut events = kernel
        .subscribe("acme", StreamTimerEventsRequest::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    until(&mut events, TimerEventType::Settled, &c.timer.unwrap().id).await;
    // 3 scheduled today; one more fits the daily limit of 4, the next does not.
    kernel
        .schedule("acme", request("d", 60 * SEC))
        .await
        .unwrap();
    assert_eq!(
        quota(kernel.schedule("acme", request("e", 60 * SEC)).await),
        (crate::error::LimitType::Daily, 4)
    );
    // Per-tenant limits override the defaults at once.
    kernel
        .set_tenant_limits(
            "acme",
            crate::quota::Limits {
                active_timers: Some(10),
                daily_timers: Some(10),
            },
        )
        .await
        .unwrap();
    kernel
        .schedule("acme", request("e", 60 * SEC))
        .await
        .unwrap();
    kernel.shutdown().await;

    // A restarted kernel counts what the store holds: 3 active, 5 scheduled today.
    let kernel = Kernel::start(store.clone(), Arc::new(clock.clone()), config)
        .await
        .unwrap();
    assert_eq!(kernel.tenant_limits("acme").active_timers, Some(10));
    for name in ["f", "g", "h", "i", "j"] {
        kernel
            .schedule("acme", request(name, 60 * SEC))
            .await
            .unwrap();
    }
    assert_eq!(
        quota(kernel.schedule("acme", request("k", 60 * SEC)).await),
        (crate::error::LimitType::Daily, 10)
    );
    // A new UTC day starts a new daily count.
    clock.advance(Duration::from_secs(24 * 3_600));
    kernel
        .schedule("acme", request("k", 60 * SEC))
        .await
        .unwrap();
    kernel.shutdown().await;
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut globex_events = kernel
        .subscribe(
            "globex",
            StreamTimerEventsRequest {
                after_sequence: Some(0),
                ..live()
            },
        )
        .await
        .unwrap();
    let timer = kernel
        .schedule("acme", request("secret", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    assert!(matches!(
        kernel.get("globex", &timer.id).await,
        Err(KernelError::NotFound { .. })
    ));
    assert!(
        kernel
            .list("globex", ListTimersRequest::default())
            .await
            .unwrap()
            .timers
            .is_empty()
    );
    let cancel = CancelTimerRequest {
        id: timer.id.clone(),
        ..Default::default()
    };
    assert!(matches!(
        kernel.cancel("globex", cancel).await,
        Err(KernelError::NotFound { .. })
    ));
    let own = kernel
        .schedule("globex", request("own", 2 * SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(3));
    // globex's stream carries only globex's events.
    loop {
        let event = next(&mut globex_events).await;
        assert_eq!(event.tenant_id, "globex");
        if event.event_type == TimerEventType::Settled as i32 && event.timer_id == own.id {
            break;
        }
    }
    assert_eq!(
        kernel.get("acme", &timer.id).await.unwrap().status,
        TimerStatus::Settled as i32
    );
    kernel.shutdown().await;
}

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

#[tokio::test]
async fn list_pages_with_tokens_and_rejects_forged_ones() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let requests = (0..25)
        .map(|i| request(&format!("t{i:02}"), 100 * SEC))
        .collect();
    kernel.schedule_many("acme", requests).await.unwrap();
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = kernel
            .list(
                "acme",
                ListTimersRequest {
                    page_size: 10,
                    page_token: token,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        names.extend(page.timers.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        names,
        (0..25).map(|i| format!("t{i:02}")).collect::<Vec<_>>()
    );
    let forged = ListTimersRequest {
        page_token: "zz".into(),
        ..Default::default()
    };
    assert!(
        matches!(kernel.list("acme", forged).await, Err(KernelError::InvalidArgument { field, .. }) if field == "page_token")
    );
    kernel.shutdown().await;
}

/// Every bad field is INVALID_ARGUMENT naming that field, and nothing is written.
#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let clock = ManualClock::new(T0);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kernel = start(store.clone(), &clock).await;
    let ok = || request("ok", SEC);
    let with = |f: &dyn Fn(&mut ScheduleTimerRequest)| {
        let mut r = ok();
        f(&mut r);
        r
    };
    let action = |kind: Option<Kind>| ActionBundle {
        actions: vec![Action {
            id: String::new(),
            kind,
        }],
        ..Default::default()
    };
    let big_metadata = prost_types::Struct {
        fields: [(
            "blob".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("x".repeat(70_000))),
            },
        )]
        .into(),
    };
    let cases: Vec<(&str, ScheduleTimerRequest)> = vec![
        ("name", with(&|r| r.name = String::new())),
        ("name", with(&|r| r.name = "x".repeat(300))),
        ("duration", with(&|r| r.schedule = None)),
        (
            "duration",
            with(&|r| {
                r.schedule = Some(Schedule::Duration(prost_types::Duration {
                    seconds: 0,
                    nanos: 0,
                }))
            }),
        ),
        (
            "duration",
            with(&|r| {
                r.schedule = Some(Schedule::Duration(prost_types::Duration {
                    seconds: -5,
                    nanos: 0,
                }))
            }),
        ),
        (
            "duration",
            with(&|r| {
                r.schedule = Some(Schedule::Duration(prost_types::Duration {
                    seconds: 11 * 366 * 86_400,
                    nanos: 0,
                }))
            }),
        ),
        (
            "fire_at",
            with(&|r| r.schedule = Some(Schedule::FireAt(to_timestamp(T0 - 3_600 * SEC)))),
        ),
        (
            "fire_at",
            with(&|r| {
                r.schedule = Some(Schedule::FireAt(to_timestamp(T0 + 11 * 366 * 86_400 * SEC)))
            }),
        ),
        (
            "fire_at",
            with(&|r| {
                r.schedule = Some(Schedule::FireAt(prost_types::Timestamp {
                    seconds: T0 / SEC + 10,
                    nanos: -1,
                }))
            }),
        ),
        (
            "labels",
            with(&|r| {
                r.labels.insert("bad key!".into(), "v".into());
            }),
        ),
        (
            "labels",
            with(&|r| {
                r.labels.insert("ok".into(), "v".repeat(300));
            }),
        ),
        (
            "labels",
            with(&|r| r.labels = (0..65).map(|i| (format!("k{i}"), String::new())).collect()),
        ),
        (
            "metadata",
            with(&|r| r.metadata = Some(big_metadata.clone())),
        ),
        (
            "action_bundle.actions[0].kind",
            with(&|r| r.action_bundle = Some(action(None))),
        ),
        (
            "action_bundle.actions[0].webhook.url",
            with(&|r| {
                r.action_bundle = Some(action(Some(Kind::Webhook(WebhookAction {
                    url: "ftp://x".into(),
                    ..Default::default()
                }))))
            }),
        ),
        (
            "action_bundle.actions[0].command.program",
            with(&|r| {
                r.action_bundle = Some(action(Some(Kind::Command(CommandAction::default()))))
            }),
        ),
        (
            "action_bundle.actions[0].file.path",
            with(&|r| {
                r.action_bundle = Some(action(Some(Kind::File(FileAction {
                    path: "../etc/passwd".into(),
                    ..Default::default()
                }))))
            }),
        ),
        (
            "action_bundle.retry_policy.jitter",
            with(&|r| {
                r.action_bundle = Some(ActionBundle {
                    retry_policy: Some(minoots_proto::v1::RetryPolicy {
                        jitter: 2.0,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
        ),
        (
            "idempotency_key",
            with(&|r| r.idempotency_key = "k".repeat(300)),
        ),
        ("requested_by", with(&|r| r.requested_by = "a\nb".into())),
    ];
    for (field, req) in cases {
        match kernel.schedule("acme", req).await {
            Err(KernelError::InvalidArgument {
                field: got,
                message,
            }) => assert_eq!(got, field, "{message}"),
            other => panic!("expected InvalidArgument on {field}, got {other:?}"),
        }
    }
    let batch = vec![ok(), with(&|r| r.name = String::new())];
    match kernel.schedule_many("acme", batch).await {
        Err(KernelError::InvalidArgument { field, .. }) => assert_eq!(field, "timers[1].name"),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(kernel.schedule("", ok()).await, Err(KernelError::InvalidArgument { field, .. }) if field == "tenant_id")
    );
    assert!(
        matches!(kernel.get("acme", "nope").await, Err(KernelError::InvalidArgument { field, .. }) if field == "id")
    );
    let huge = ListTimersRequest {
        page_size: 5_000,
        ..Default::default()
    };
    assert!(
        matches!(kernel.list("acme", huge).await, Err(KernelError::InvalidArgument { field, .. }) if field == "page_size")
    );
    let status = ListTimersRequest {
        statuses: vec![99],
        ..Default::default()
    };
    assert!(
        matches!(kernel.list("acme", status).await, Err(KernelError::InvalidArgument { field, .. }) if field == "statuses")
    );
    assert_eq!(
        store.events_after("acme", 0, 10).await.unwrap().len(),
        0,
        "nothing was written"
    );
    kernel.shutdown().await;
}

/// A store whose first write blocks until released, recording the size of every write.
struct GatedStore {
    inner: MemoryStore,
    gate: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    entered: tokio::sync::Notify,
    batches: std::sync::Mutex<Vec<usize>>,
}

#[async_trait::async_trait]
impl Store for GatedStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        self.batches.lock().unwrap().push(mutations.len());
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            self.entered.notify_one();
            let _ = gate.await;
        }
        self.inner.apply(mutations).await
    }
    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        self.inner.get(tenant_id, id).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        self.inner.list(query).await
    }
    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>> {
        self.inner.events_after(tenant_id, after, limit).await
    }
    async fn event_bounds(&self, tenant_id: &str) -> Result<store::EventBounds> {
        self.inner.event_bounds(tenant_id).await
    }
    async fn pending(&self) -> Result<Vec<store::PendingTimer>> {
        self.inner.pending().await
    }
    async fn purge(
        &self,
        timers_before: Micros,
        events_before: Micros,
        keep_unpublished: bool,
    ) -> Result<(u64, u64)> {
        self.inner
            .purge(timers_before, events_before, keep_unpublished)
            .await
    }
}

#[async_trait::async_trait]
impl store::SideTables for GatedStore {
    async fn created_since(&self, since: Micros) -> Result<HashMap<String, u64>> {
        self.inner.created_since(since).await
    }
    async fn tenant_limits(&self) -> Result<HashMap<String, store::Limits>> {
        self.inner.tenant_limits().await
    }
    async fn put_tenant_limits(&self, tenant_id: &str, limits: store::Limits) -> Result<()> {
        self.inner.put_tenant_limits(tenant_id, limits).await
    }
    async fn put_api_key(&self, key: &store::ApiKey) -> Result<()> {
        self.inner.put_api_key(key).await
    }
    async fn find_api_key(&self, digest: &str) -> Result<Option<store::ApiKey>> {
        self.inner.find_api_key(digest).await
    }
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> Result<Vec<store::ApiKey>> {
        self.inner.list_api_keys(tenant_id).await
    }
    async fn revoke_api_key(&self, id: &str, at: Micros) -> Result<Option<store::ApiKey>> {
        self.inner.revoke_api_key(id, at).await
    }
    async fn put_dead_letters(&self, letters: &[minoots_proto::v1::DeadLetter]) -> Result<()> {
        self.inner.put_dead_letters(letters).await
    }
    async fn list_dead_letters(
        &self,
        tenant_id: &str,
        since: Micros,
        include_resolved: bool,
        limit: usize,
    ) -> Result<Vec<minoots_proto::v1::DeadLetter>> {
        self.inner
            .list_dead_letters(tenant_id, since, include_resolved, limit)
            .await
    }
    async fn get_dead_letter(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<minoots_proto::v1::DeadLetter>> {
        self.inner.get_dead_letter(tenant_id, id).await
    }
    async fn timer_dead_letters(
        &self,
        timer_id: &str,
    ) -> Result<Vec<minoots_proto::v1::DeadLetter>> {
        self.inner.timer_dead_letters(timer_id).await
    }
    async fn publish_cursors(&self) -> Result<HashMap<String, u64>> {
        self.inner.publish_cursors().await
    }
    async fn set_publish_cursor(&self, tenant_id: &str, sequence: u64) -> Result<()> {
        self.inner.set_publish_cursor(tenant_id, sequence).await
    }
    async fn event_heads(&self) -> Result<HashMap<String, u64>> {
        self.inner.event_heads().await
    }
}

/// Group commit: callers that arrive while a write is in flight share the next transaction, and
/// none of them is answered before that transaction commits.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_share_one_transaction_and_wait_for_it() {
    let (release, gate) = tokio::sync::oneshot::channel();
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        gate: std::sync::Mutex::new(Some(gate)),
        entered: tokio::sync::Notify::new(),
        batches: std::sync::Mutex::new(Vec::new()),
    });
    let clock = ManualClock::new(T0);
    let kernel = start(store.clone(), &clock).await;
    let first = {
        let kernel = kernel.clone();
        tokio::spawn(async move { kernel.schedule("acme", request("first", 3_600 * SEC)).await })
    };
    store.entered.notified().await; // the first write is in flight, and stuck
    let waiting: Vec<_> = (0..50)
        .map(|i| {
            let kernel = kernel.clone();
            tokio::spawn(async move {
                kernel
                    .schedule("acme", request(&format!("t{i}"), 3_600 * SEC))
                    .await
            })
        })
        .collect();
    // On this single-threaded runtime one yield runs every spawned task up to its wait for the
    // writer, so all 50 are queued before the gate opens.
    tokio::task::yield_now().await;
    assert!(
        waiting.iter().all(|t| !t.is_finished()),
        "nobody is answered before a commit"
    );
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    for task in waiting {
        assert!(task.await.unwrap().unwrap().created);
    }
    // Each schedule is two mutations (create, arm): the first alone, then all 50 in one batch.
    assert_eq!(*store.batches.lock().unwrap(), vec![2, 100]);
    kernel.shutdown().await;
}

#[tokio::test]
async fn actions_run_after_the_fire_and_decide_settled_or_failed() {
    let clock = ManualClock::new(T0);
    let config = KernelConfig {
        scheduler_thread: false,
        actions: crate::actions::ActionConfig {
            commands: vec!["true".into()],
            ..Default::default()
        },
        ..KernelConfig::default()
    };
    let kernel = Kernel::start(
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()),
        config,
    )
    .await
    .unwrap();
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let with = |name: &str, action: Kind| {
        let mut request = request(name, SEC);
        request.action_bundle = Some(ActionBundle {
            actions: vec![Action {
                id: name.into(),
                kind: Some(action),
            }],
            ..Default::default()
        });
        request
    };
    let ok = kernel
        .schedule(
            "acme",
            with(
                "ok",
                Kind::Command(CommandAction {
                    program: "true".into(),
                    ..Default::default()
                }),
            ),
        )
        .await
        .unwrap()
        .timer
        .unwrap();
    // A private address that no allow-list permits: refused at once, never retried.
    let refused = kernel
        .schedule(
            "acme",
            with(
                "refused",
                Kind::Webhook(WebhookAction {
                    url: "http://10.0.0.1/hook".into(),
                    ..Default::default()
                }),
            ),
        )
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(1));
    // Both finish, in either order.
    let (mut settled, mut failed) = (None, None);
    while settled.is_none() || failed.is_none() {
        let event = next(&mut events).await;
        if event.event_type == TimerEventType::Settled as i32 && event.timer_id == ok.id {
            settled = event.timer;
        } else if event.event_type == TimerEventType::Failed as i32 && event.timer_id == refused.id
        {
            failed = event.timer;
        }
    }
    let results = settled.unwrap().action_results;
    assert_eq!(
        (results.len(), results[0].ok, results[0].attempts),
        (1, true, 1)
    );
    assert_eq!(results[0].detail, "exit status: 0");
    let failed = failed.unwrap();
    assert_eq!(
        failed.action_results[0].attempts, 1,
        "refusals are not retried"
    );
    assert!(
        failed.failure_reason.contains("private address"),
        "{}",
        failed.failure_reason
    );
    let letters = kernel
        .dead_letters("acme", &ListDeadLettersRequest::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, format!("{}.0", refused.id));
    assert_eq!(letters[0].idempotency_key, format!("{}:0", refused.id));
    kernel.shutdown().await;
}

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
