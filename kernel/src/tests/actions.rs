//! Actions after a fire: they decide SETTLED or FAILED, with results and dead letters.

use super::*;

#[tokio::test]
async fn actions_run_after_the_fire_and_decide_settled_or_failed() {
    let clock = ManualClock::new(T0);
    let config = KernelConfig {
        scheduler_thread: false,
        actions: crate::actions::ActionConfig {
            commands: allow_true(),
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

/// A command action whose only difference is its environment.
fn command_with_env(env: &[(&str, &str)]) -> ActionBundle {
    ActionBundle {
        actions: vec![Action {
            id: "run".into(),
            kind: Some(Kind::Command(CommandAction {
                program: "true".into(),
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            })),
        }],
        retry_policy: Some(minoots_proto::v1::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_caller_supplied_environment_cannot_change_which_allow_listed_program_runs() {
    use std::os::unix::fs::PermissionsExt as _;
    // The caller's directory holds its own `true`, which leaves a marker when it runs.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("the-fake-ran");
    let fake = dir.path().join("true");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let caller_dir = dir.path().display().to_string();
    let actions = crate::actions::ActionConfig {
        commands: allow_true(),
        ..Default::default()
    };
    let clock = ManualClock::new(T0);
    let config = KernelConfig {
        scheduler_thread: false,
        actions: actions.clone(),
        ..KernelConfig::default()
    };
    let kernel = Kernel::start(
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()),
        config,
    )
    .await
    .unwrap();

    // Refused when scheduling, naming the field: whatever changes what runs or how it loads.
    for name in [
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "GCONV_PATH",
        "BASH_ENV",
        "ENV",
        "IFS",
        "BASH_FUNC_true%%",
        "PYTHONPATH",
        "PERL5OPT",
        "NODE_OPTIONS",
        "MINOOTS_TENANT_ID",
        "path",
        "PATH=/tmp",
        "",
    ] {
        let mut request = request("swap", SEC);
        request.action_bundle = Some(command_with_env(&[(name, &caller_dir)]));
        match kernel.schedule("acme", request).await {
            Err(KernelError::InvalidArgument { field, message }) => {
                assert_eq!(field, "action_bundle.actions[0].command.env", "{name}");
                assert!(message.contains(&format!("{name:?}")), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // An ordinary variable is the program's business.
    let mut request = request("fine", SEC);
    request.action_bundle = Some(command_with_env(&[("GREETING", "hello")]));
    kernel.schedule("acme", request).await.unwrap();
    kernel.shutdown().await;

    // A timer stored before this check (a restart or a replay runs it) is refused when run, and
    // the program is never looked up in the caller's PATH.
    let executor = crate::actions::Executor::new(actions, Default::default());
    let timer = |env: &[(&str, &str)]| Timer {
        id: "stored".into(),
        tenant_id: "acme".into(),
        action_bundle: Some(command_with_env(env)),
        ..Timer::default()
    };
    let outcome = executor
        .run_bundle(&timer(&[("PATH", &caller_dir)]), &|| T0)
        .await;
    assert!(!outcome.succeeded());
    assert!(
        outcome.results[0].detail.contains("\"PATH\""),
        "{}",
        outcome.results[0].detail
    );
    let outcome = executor
        .run_bundle(&timer(&[("GREETING", "hello")]), &|| T0)
        .await;
    assert!(outcome.succeeded(), "{:?}", outcome.results);
    assert!(!marker.exists(), "the caller's `true` ran");
}

/// `true`, resolved through the test process's PATH.
fn allow_true() -> crate::actions::CommandAllowList {
    crate::actions::CommandAllowList::from_server_path(["true"]).unwrap()
}
