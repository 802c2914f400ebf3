//! TimerService over real gRPC (tonic client, loopback TCP) against kernel + gateway in-process.

mod common;

use std::{collections::HashSet, time::Duration};

use common::{InProcess, WAIT};
use minoots::{Error, TimerSpec, proto};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_get_list_cancel_round_trip() {
    let server = InProcess::start().await;
    let client = common::client(&server.url, "acme").await;
    let timer = client
        .schedule(
            TimerSpec::new("deploy-check", Duration::from_secs(900))
                .label("env", "prod")
                .requested_by("agent-7"),
        )
        .await
        .unwrap();
    assert_eq!(timer.tenant_id, "acme");
    assert_eq!(timer.status, proto::TimerStatus::Armed as i32);
    assert_eq!(client.get(&timer.id).await.unwrap().name, "deploy-check");

    let listed = client
        .list(proto::ListTimersRequest {
            label_selector: "env=prod".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed
            .timers
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        vec![timer.id.as_str()]
    );

    let cancelled = client.cancel(&timer.id, "not needed").await.unwrap();
    assert_eq!(cancelled.status, proto::TimerStatus::Cancelled as i32);
    assert!(matches!(
        client.cancel(&timer.id, "again").await,
        Err(Error::FailedPrecondition(_))
    ));
    assert!(matches!(
        client.get(&uuid_like()).await,
        Err(Error::NotFound(_))
    ));
    server.stop().await;
}

fn uuid_like() -> String {
    "0195a3c4-0000-7000-8000-000000000000".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_with_the_field_in_the_details() {
    let server = InProcess::start().await;
    let mut raw = common::raw_client(&server.url).await;
    let bad = proto::ScheduleTimerRequest {
        tenant_id: "acme".into(),
        name: "x".into(),
        ..Default::default()
    };
    let status = raw.schedule_timer(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations;
    assert_eq!(violations[0].field, "duration");

    // No tenant anywhere: the call acts for the key's own tenant.
    let status = raw
        .get_timer(proto::GetTimerRequest {
            tenant_id: String::new(),
            id: uuid_like(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = raw
        .get_timer(proto::GetTimerRequest {
            tenant_id: String::new(),
            id: "not-a-uuid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "id"
    );

    // The SDK surfaces the field of a bad item in a batch.
    let client = common::client(&server.url, "acme").await;
    let specs = vec![
        TimerSpec::new("ok", Duration::from_secs(60)),
        TimerSpec::new("zero", Duration::ZERO),
    ];
    match client.schedule_many(specs).await {
        Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "timers[1].duration"),
        other => panic!("{other:?}"),
    }
    assert!(
        client
            .list(Default::default())
            .await
            .unwrap()
            .timers
            .is_empty(),
        "the valid item was not written either"
    );
    match client
        .list(proto::ListTimersRequest {
            label_selector: "a b".into(),
            ..Default::default()
        })
        .await
    {
        Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "label_selector"),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_over_the_wire() {
    let server = InProcess::start().await;
    let acme = common::client(&server.url, "acme").await;
    let globex = common::client(&server.url, "globex").await;
    let mut globex_events = globex
        .stream(minoots::StreamOptions::default().after_sequence(0))
        .await
        .unwrap();
    let secret = acme
        .schedule(TimerSpec::new("secret", Duration::from_millis(50)))
        .await
        .unwrap();
    assert!(matches!(
        globex.get(&secret.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        globex.cancel(&secret.id, "").await,
        Err(Error::NotFound(_))
    ));
    assert!(
        globex
            .list(Default::default())
            .await
            .unwrap()
            .timers
            .is_empty()
    );
    let own = globex
        .schedule(TimerSpec::new("own", Duration::from_millis(100)))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let event = globex_events.next().await.unwrap().unwrap();
            assert_eq!(
                event.tenant_id, "globex",
                "globex saw another tenant's event"
            );
            if event.timer_id == own.id && event.event_type == proto::TimerEventType::Settled as i32
            {
                break;
            }
        }
    })
    .await
    .unwrap();

    // A tenant_id field that disagrees with the header is refused, not ignored.
    let request = proto::GetTimerRequest {
        tenant_id: "acme".into(),
        id: secret.id.clone(),
        ..Default::default()
    };
    let mut raw = common::raw_client(&server.url).await;
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("x-tenant-id", "globex".parse().unwrap());
    assert_eq!(
        raw.get_timer(request).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    server.stop().await;
}

/// Disconnect, let timers fire, reconnect after the last sequence seen: nothing missed, nothing
/// repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_resume_after_disconnect_misses_and_repeats_nothing() {
    let server = InProcess::start().await;
    let client = common::client(&server.url, "acme").await;
    let mut stream = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    let specs =
        (0..20).map(|i| TimerSpec::new(format!("t{i}"), Duration::from_millis(200 + 10 * i)));
    let timers = client.schedule_many(specs).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(stream.next().await.unwrap().unwrap().sequence);
    }
    drop(stream);

    // Wait (on state, not time) until every timer has settled while we were away.
    tokio::time::timeout(WAIT, async {
        loop {
            let settled = proto::ListTimersRequest {
                statuses: vec![proto::TimerStatus::Settled as i32],
                ..Default::default()
            };
            if client.list(settled).await.unwrap().timers.len() == timers.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();

    let after = *seen.last().unwrap();
    let mut resumed = client
        .stream(minoots::StreamOptions::default().after_sequence(after))
        .await
        .unwrap();
    let expected = timers.len() as u64 * 4; // scheduled, armed, fired, settled
    while *seen.last().unwrap() < expected {
        let event = tokio::time::timeout(WAIT, resumed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(event.sequence);
    }
    assert_eq!(seen, (1..=expected).collect::<Vec<_>>());

    // Live again after the replay: a new timer's events arrive on the same stream.
    let late = client
        .schedule(TimerSpec::new("late", Duration::from_millis(10)))
        .await
        .unwrap();
    let mut late_events = HashSet::new();
    while late_events.len() < 4 {
        let event = tokio::time::timeout(WAIT, resumed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.timer_id, late.id);
        assert_eq!(event.sequence, expected + late_events.len() as u64 + 1);
        late_events.insert(event.event_type);
    }

    // Resuming from a sequence this store does not hold (lost in a restore from backup) is
    // OUT_OF_RANGE: the client lists again.
    let ahead = client
        .stream(minoots::StreamOptions::default().after_sequence(10_000))
        .await;
    assert!(matches!(ahead, Err(Error::OutOfRange(_))));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let server = InProcess::start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"minoots.v1.TimerService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    server.stop().await;
}

/// `ScheduleTimers` with `compact`: each timer answers with its id, status, fire time and state
/// version only; the timers themselves are whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compact_batch_answer_carries_ids_status_and_fire_times_only() {
    let server = InProcess::start().await;
    let mut raw = common::raw_client(&server.url).await;
    let timers = (0..3)
        .map(|i| proto::ScheduleTimerRequest {
            name: format!("compact-{i}"),
            schedule: Some(proto::schedule_timer_request::Schedule::Duration(
                prost_types::Duration {
                    seconds: 3_600,
                    nanos: 0,
                },
            )),
            labels: [("batch".to_owned(), "compact".to_owned())].into(),
            ..Default::default()
        })
        .collect();
    let results = raw
        .schedule_timers(proto::ScheduleTimersRequest {
            tenant_id: "acme".into(),
            timers,
            compact: true,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 3);
    let client = common::client(&server.url, "acme").await;
    for result in results {
        assert!(result.created);
        let answered = result.timer.unwrap();
        let stored = client.get(&answered.id).await.unwrap();
        assert_eq!(
            answered,
            proto::Timer {
                id: stored.id.clone(),
                status: proto::TimerStatus::Armed as i32,
                fire_at: stored.fire_at,
                state_version: stored.state_version,
                ..Default::default()
            }
        );
        assert!(stored.name.starts_with("compact-"), "the timer is whole");
        assert_eq!(stored.labels["batch"], "compact");
    }
    server.stop().await;
}
