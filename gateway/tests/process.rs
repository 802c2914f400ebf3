//! The `minoots` binary as an operator runs it: flags, signals, durability across a clean stop.

mod common;

use std::{process::Command, time::Duration};

use common::{Server, WAIT};
use minoots::{Error, TimerSpec, proto};
use tokio_stream::StreamExt;

#[test]
fn help_documents_every_flag_and_its_env_var() {
    let output = Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, env) in [
        ("--listen", "MINOOTS_LISTEN"),
        ("--data-dir", "MINOOTS_DATA_DIR"),
        ("--store", "MINOOTS_STORE"),
        ("--sqlite-synchronous", "MINOOTS_SQLITE_SYNCHRONOUS"),
        ("--timer-retention", "MINOOTS_TIMER_RETENTION"),
        ("--event-retention", "MINOOTS_EVENT_RETENTION"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} missing from:\n{help}"
        );
    }
}

#[test]
fn bad_flags_fail_with_a_message_naming_them() {
    let output = Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["serve", "--event-retention", "soon"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--event-retention"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_exits_zero_and_keeps_every_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let client = common::client(&server.url, "acme").await;
    // The raw contract, not the SDK's stream, which would reconnect.
    let mut stream = common::raw_client(&server.url)
        .await
        .stream_timer_events(proto::StreamTimerEventsRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let timer = client
        .schedule(TimerSpec::new("survivor", Duration::from_secs(3_600)))
        .await
        .unwrap();

    server.signal(libc::SIGTERM);
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                None => return None,
                Some(Err(error)) => return Some(error),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the stream was not closed on shutdown");
    if let Some(status) = ended {
        assert!(
            matches!(Error::from(status.clone()), Error::Unavailable { .. }),
            "{status:?}"
        );
    }
    // Drop's kill is a no-op once the child is reaped.
    let status = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    let server = Server::start(dir.path()).await;
    let client = common::client(&server.url, "acme").await;
    let kept = client.get(&timer.id).await.unwrap();
    assert_eq!(kept.status, proto::TimerStatus::Armed as i32);
}
