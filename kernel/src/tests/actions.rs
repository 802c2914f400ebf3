//! Actions after a fire: they decide SETTLED or FAILED, with results and dead letters.

use super::*;

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
