//! Per-tenant quotas: active and daily limits refuse the excess and free up as timers
//! finish.

use super::*;

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
