//! Requests: idempotency keys, tenant isolation, list pages and their tokens, and bad
//! input refused with the field's name and nothing written.

use super::*;

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
    let nul_metadata = prost_types::Struct {
        fields: [(
            "k".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("a\0b".into())),
            },
        )]
        .into(),
    };
    let webhook = |f: &dyn Fn(&mut WebhookAction)| {
        let mut webhook = WebhookAction {
            url: "https://example.com/hook".into(),
            ..Default::default()
        };
        f(&mut webhook);
        Some(action(Some(Kind::Webhook(webhook))))
    };
    let nanos = |seconds, nanos| prost_types::Duration { seconds, nanos };
    let cases: Vec<(&str, ScheduleTimerRequest)> = vec![
        // Issue 19 item 1: nested past what a stored record can hold, on every protocol.
        ("metadata", with(&|r| r.metadata = Some(nested(34)))),
        (
            "metadata",
            with(&|r| r.metadata = Some(nul_metadata.clone())),
        ),
        (
            "action_bundle.actions[0].webhook.body",
            with(&|r| r.action_bundle = webhook(&|w| w.body = Some(nested(20)))),
        ),
        // Issue 19 item 6: a header value that would split the request.
        (
            "action_bundle.actions[0].webhook.headers.X-Foo",
            with(&|r| {
                r.action_bundle = webhook(&|w| {
                    w.headers.insert("X-Foo".into(), "a\r\nInjected: 1".into());
                })
            }),
        ),
        (
            "action_bundle.actions[0].webhook.headers",
            with(&|r| {
                r.action_bundle = webhook(&|w| {
                    w.headers.insert("X Foo\n".into(), "v".into());
                })
            }),
        ),
        // Issue 19 item 9: protobuf durations out of their range.
        (
            "duration",
            with(&|r| r.schedule = Some(Schedule::Duration(nanos(1, 1_500_000_000)))),
        ),
        (
            "duration",
            with(&|r| r.schedule = Some(Schedule::Duration(nanos(5, -1)))),
        ),
        (
            "duration",
            with(&|r| r.schedule = Some(Schedule::Duration(nanos(-1, 999_999_999)))),
        ),
        (
            "action_bundle.actions[0].webhook.timeout",
            with(&|r| r.action_bundle = webhook(&|w| w.timeout = Some(nanos(0, 2_000_000_000)))),
        ),
        (
            "action_bundle.retry_policy.initial_backoff",
            with(&|r| {
                r.action_bundle = Some(ActionBundle {
                    retry_policy: Some(minoots_proto::v1::RetryPolicy {
                        initial_backoff: Some(nanos(1, -5)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
        ),
        (
            "fire_at",
            with(&|r| {
                r.schedule = Some(Schedule::FireAt(prost_types::Timestamp {
                    seconds: T0 / SEC + 10,
                    nanos: 1_000_000_000,
                }))
            }),
        ),
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
            with(&|r| {
                r.schedule = Some(Schedule::FireAt(to_timestamp(T0 - 3_600 * SEC)));
                r.late_policy = minoots_proto::v1::LatePolicy::Reject as i32;
            }),
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

/// A JSON object nested `depth` levels: `{"a": {"a": ... 1}}`.
fn nested(depth: usize) -> prost_types::Struct {
    use prost_types::{Struct, Value, value::Kind as V};
    let mut value = Value {
        kind: Some(V::NumberValue(1.0)),
    };
    for _ in 1..depth {
        value = Value {
            kind: Some(V::StructValue(Struct {
                fields: [("a".to_string(), value)].into(),
            })),
        };
    }
    Struct {
        fields: [("a".to_string(), value)].into(),
    }
}

/// Whatever validation accepts can be read back: the deepest metadata, webhook body and agent
/// arguments, inside the deepest stored records (an event holding its timer, a dead letter
/// holding its action), decode.
#[test]
fn the_deepest_accepted_values_survive_a_store_round_trip() {
    use minoots_proto::v1::{AgentPromptAction, DeadLetter};
    use prost::Message;
    let deepest = nested(validate::MAX_JSON_DEPTH);
    assert!(validate::json_struct("metadata", &deepest).is_ok());
    assert!(validate::json_struct("metadata", &nested(validate::MAX_JSON_DEPTH + 1)).is_err());
    let webhook = Action {
        id: String::new(),
        kind: Some(Kind::Webhook(WebhookAction {
            url: "https://example.com".into(),
            body: Some(deepest.clone()),
            ..Default::default()
        })),
    };
    let agent = Action {
        id: String::new(),
        kind: Some(Kind::AgentPrompt(AgentPromptAction {
            arguments: Some(deepest.clone()),
            ..Default::default()
        })),
    };
    let timer = Timer {
        metadata: Some(deepest.clone()),
        action_bundle: Some(ActionBundle {
            actions: vec![webhook.clone(), agent],
            fallback: Some(webhook.clone()),
            ..Default::default()
        }),
        ..Timer::default()
    };
    let event = TimerEvent {
        timer: Some(timer.clone()),
        ..TimerEvent::default()
    };
    assert_eq!(TimerEvent::decode(&*event.encode_to_vec()).unwrap(), event);
    let letter = DeadLetter {
        action: Some(webhook),
        ..DeadLetter::default()
    };
    assert_eq!(
        DeadLetter::decode(&*letter.encode_to_vec()).unwrap(),
        letter
    );
}

/// A fire_at already past is scheduled to fire at once by default (LatePolicy FIRE), at the
/// time it was scheduled; REJECT refuses it (see `bad_input_names_the_field_and_writes_nothing`).
#[tokio::test]
async fn a_late_fire_at_fires_at_once_by_default() {
    let clock = ManualClock::new(T0);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    for policy in [
        minoots_proto::v1::LatePolicy::Unspecified,
        minoots_proto::v1::LatePolicy::Fire,
    ] {
        let request = ScheduleTimerRequest {
            name: "late".into(),
            schedule: Some(Schedule::FireAt(to_timestamp(T0 - 3_600 * SEC))),
            late_policy: policy as i32,
            ..ScheduleTimerRequest::default()
        };
        let timer = kernel
            .schedule("acme", request)
            .await
            .unwrap()
            .timer
            .unwrap();
        assert_eq!(
            crate::store::fire_at(&timer),
            T0,
            "{policy:?}: due now, not an hour ago"
        );
    }
    kernel.shutdown().await;
}
