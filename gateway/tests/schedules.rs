//! Recurring schedules at the door: the REST routes (create, get, list, patch, pause, resume,
//! delete, preview) and their errors, `minoots.v1.ScheduleService` over gRPC and gRPC-web, schedule
//! events on the SSE stream, and schedules through `minoots gateway` to remote kernels.

mod common;

use std::process::Stdio;

use common::{DevKey, InProcess, Server, WAIT, http};
use minoots_gateway::auth::{Auth, AuthConfig, Role};
use minoots_proto::v1::{
    CreateScheduleRequest, GetScheduleRequest, ListSchedulesRequest, PreviewScheduleRequest,
    PreviewScheduleResponse, Schedule, ScheduleSpec, ScheduleState,
    schedule_service_client::ScheduleServiceClient,
};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_stream::StreamExt;

async fn json_of(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The field the first violation of a 400 names.
fn violation(body: &Value) -> &str {
    body["error"]["fieldViolations"][0]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field violation in {body}"))
}

fn duration(seconds: i64) -> minoots_proto::prost_types::Duration {
    minoots_proto::prost_types::Duration { seconds, nanos: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_schedules_create_read_change_and_delete() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");

    let create = json!({
        "name": "nightly-report", "cron": "0 3 * * *", "timeZone": "Europe/Paris",
        "jitter": "30s", "overlapPolicy": "buffer_one", "catchUpPolicy": "none",
        "catchUpWindow": "2h", "labels": {"team": "ops"}, "metadata": {"ticket": 42},
        // The original control plane's action shape, as POST /timers takes it.
        "actionBundle": {"actions": [{"kind": "webhook", "parameters": {"url": "https://example.com/hook"}}]},
        "idempotencyKey": "nightly-report-v1", "requestedBy": "agent-7"
    });
    let response = acme(http.post(format!("{url}/schedules")))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/schedules/{id}"));
    assert_eq!(created["state"], "active");
    assert_eq!(created["cron"], "0 3 * * *");
    assert_eq!(created["timeZone"], "Europe/Paris");
    assert_eq!(created["jitterMs"], 30_000);
    assert_eq!(created["catchUpWindowMs"], 7_200_000);
    assert_eq!(created["overlapPolicy"], "buffer_one");
    assert_eq!(created["catchUpPolicy"], "none");
    assert_eq!(created["labels"]["team"], "ops");
    assert_eq!(created["metadata"]["ticket"].as_f64(), Some(42.0));
    assert_eq!(
        created["actionBundle"]["actions"][0]["url"],
        "https://example.com/hook"
    );
    assert!(created["nextFireAt"].is_string(), "{created}");
    let version = created["version"].as_u64().unwrap();

    // An interval schedule, in milliseconds, created paused.
    let (status, every) = json_of(acme(http.post(format!("{url}/schedules"))).json(
        &json!({"name": "heartbeat", "interval": 60000, "paused": true, "labels": {"team": "web"}}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{every}");
    assert_eq!(every["intervalMs"], 60_000);
    assert_eq!(every["state"], "paused");
    let every_id = every["id"].as_str().unwrap().to_owned();

    let (status, got) = json_of(acme(http.get(format!("{url}/schedules/{id}")))).await;
    assert_eq!(
        (status, &got["name"]),
        (StatusCode::OK, &json!("nightly-report"))
    );
    let (status, by_key) = json_of(acme(
        http.get(format!("{url}/schedules/by-key/nightly-report-v1")),
    ))
    .await;
    assert_eq!((status, &by_key["id"]), (StatusCode::OK, &json!(id)));

    // Lists: all, by state, by label selector (either spelling), paged.
    let ids = |page: &Value| -> Vec<String> {
        page["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = json_of(acme(http.get(format!("{url}/schedules")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all).len(), 2);
    let (_, paused) = json_of(acme(http.get(format!("{url}/schedules?state=paused")))).await;
    assert_eq!(ids(&paused), [every_id.as_str()]);
    let (_, ops) = json_of(acme(
        http.get(format!("{url}/schedules?labelSelector=team%3Dops")),
    ))
    .await;
    assert_eq!(ids(&ops), [id.as_str()]);
    let (_, web) = json_of(acme(
        http.get(format!("{url}/schedules?label_selector=team%3Dweb")),
    ))
    .await;
    assert_eq!(ids(&web), [every_id.as_str()]);
    let (_, first) = json_of(acme(http.get(format!("{url}/schedules?pageSize=1")))).await;
    assert_eq!(ids(&first).len(), 1);
    let token = first["nextPageToken"].as_str().unwrap();
    let (_, second) = json_of(acme(
        http.get(format!("{url}/schedules?pageSize=1&pageToken={token}")),
    ))
    .await;
    assert_eq!(ids(&second).len(), 1);
    assert_ne!(ids(&first), ids(&second));

    // PATCH: a name alone keeps the spec; a new spec replaces it; a stale version is 412.
    let (status, renamed) = json_of(
        acme(http.patch(format!("{url}/schedules/{id}")))
            .json(&json!({"name": "nightly", "expectedVersion": version})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "nightly");
    assert_eq!(renamed["cron"], "0 3 * * *");
    let (status, respec) = json_of(
        acme(http.patch(format!("{url}/schedules/{id}")))
            .json(&json!({"interval": "15m", "labels": {"team": "sre"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{respec}");
    assert_eq!(respec["intervalMs"], 900_000);
    assert!(
        respec.get("cron").is_none(),
        "the spec was replaced: {respec}"
    );
    assert_eq!(respec["labels"]["team"], "sre");
    let (status, stale) = json_of(
        acme(http.patch(format!("{url}/schedules/{id}")))
            .json(&json!({"name": "late", "expectedVersion": version})),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");

    // Pause (with a reason) and resume.
    let (status, paused) = json_of(
        acme(http.post(format!("{url}/schedules/{id}/pause")))
            .json(&json!({"reason": "maintenance"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["pauseReason"], "maintenance");
    let (status, resumed) = json_of(acme(http.post(format!("{url}/schedules/{id}/resume")))).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["state"], "active");

    // Preview of the stored schedule: `count` occurrences, 15 minutes apart.
    let (status, preview) = json_of(acme(
        http.get(format!("{url}/schedules/{id}/preview?count=3")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let occurrences = preview["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 3);
    let at = |i: usize| {
        occurrences[i]["fireAt"]
            .as_str()
            .unwrap()
            .parse::<minoots_proto::prost_types::Timestamp>()
            .unwrap()
            .seconds
    };
    assert_eq!((at(1) - at(0), at(2) - at(1)), (900, 900));

    // Delete: the schedule is DELETED, and no longer listed.
    let (status, deleted) = json_of(acme(http.delete(format!("{url}/schedules/{id}")))).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["state"], "deleted");
    let (_, left) = json_of(acme(http.get(format!("{url}/schedules")))).await;
    assert_eq!(ids(&left), [every_id]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_preview_shows_instants_and_wall_times_across_a_dst_change() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    // 2026-03-08 is the US spring-forward: 09:00 New York is 14:00Z before, 13:00Z after. A
    // spec starts now unless startAt says otherwise, so a past `after` needs a past startAt.
    let (status, preview) = json_of(http.post(format!("{url}/schedules:preview")).json(&json!({
        "cron": "0 9 * * MON-FRI", "timeZone": "America/New_York", "startAt": "2026-03-06T00:00:00Z",
        "count": 3, "after": "2026-03-06T00:00:00Z"
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let fire_at: Vec<&str> = preview["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["fireAt"].as_str().unwrap())
        .collect();
    assert_eq!(
        fire_at,
        [
            "2026-03-06T14:00:00Z",
            "2026-03-09T13:00:00Z",
            "2026-03-10T13:00:00Z"
        ]
    );
    let local = preview["occurrences"][1]["localTime"].as_str().unwrap();
    assert!(
        local.starts_with("2026-03-09T09:00:00-04:00"),
        "wall time in the zone: {local}"
    );
    server.stop().await;
}

/// What the gateway itself checks before any kernel is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_bodies_are_refused_at_the_door_naming_the_field() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let create = |body: Value| {
        http.post(format!("{url}/schedules"))
            .header("x-tenant-id", "acme")
            .json(&body)
    };
    let cases = [
        (
            json!({"name": "x", "cron": "0 9 * * *", "croon": 1}),
            "croon",
        ),
        // Named as REST names fields, with the hint that they are camelCase.
        (
            json!({"name": "x", "cron": "0 9 * * *", "time_zone": "UTC"}),
            "timeZone",
        ),
        (json!({"name": "x", "interval": "soon"}), "interval"),
        (
            json!({"name": "x", "interval": "1m", "jitter": []}),
            "jitter",
        ),
        (
            json!({"name": "x", "interval": "1m", "startAt": "tomorrow"}),
            "startAt",
        ),
        (
            json!({"name": "x", "interval": "1m", "overlapPolicy": "queue"}),
            "overlapPolicy",
        ),
        (
            json!({"name": "x", "interval": "1m", "catchUpPolicy": "some"}),
            "catchUpPolicy",
        ),
        (
            json!({"name": "x", "interval": "1m", "maxRuns": "many"}),
            "maxRuns",
        ),
        (
            json!({"name": "x", "interval": "1m", "metadata": [1]}),
            "metadata",
        ),
        (
            json!({"name": "x", "interval": "1m", "actionBundle": {"actions": [{"type": "fax"}]}}),
            "actionBundle.actions[0].kind",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = json_of(create(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(violation(&error), field, "{body}: {error}");
    }
    // Preview bodies, list queries and PATCH bodies are checked the same way.
    let (status, error) = json_of(
        http.post(format!("{url}/schedules:preview"))
            .json(&json!({"cron": "0 9 * * *", "count": -1})),
    )
    .await;
    assert_eq!(
        (status, violation(&error)),
        (StatusCode::BAD_REQUEST, "count")
    );
    let (status, error) = json_of(http.get(format!("{url}/schedules?state=sleeping"))).await;
    assert_eq!(
        (status, violation(&error)),
        (StatusCode::BAD_REQUEST, "state")
    );
    let (status, error) = json_of(http.get(format!("{url}/schedules?pageSize=-1"))).await;
    assert_eq!(
        (status, violation(&error)),
        (StatusCode::BAD_REQUEST, "pageSize")
    );
    for (body, field) in [
        (json!({"paused": true}), "paused"),
        (json!({"idempotencyKey": "k"}), "idempotencyKey"),
        (json!({"expectedVersion": "3"}), "expectedVersion"),
        (
            json!({"cron": "0 9 * * *", "webhook": "https://x"}),
            "webhook",
        ),
    ] {
        let (status, error) = json_of(
            http.patch(format!("{url}/schedules/sch_any"))
                .header("x-tenant-id", "acme")
                .json(&body),
        )
        .await;
        assert_eq!(
            (status, violation(&error)),
            (StatusCode::BAD_REQUEST, field),
            "{body}"
        );
    }
    // Not a JSON object at all.
    let (status, error) = json_of(create(json!([1, 2]))).await;
    assert_eq!(
        (status, violation(&error)),
        (StatusCode::BAD_REQUEST, "body")
    );
    server.stop().await;
}

/// What the kernel checks: the spec, and whose schedule it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_and_other_tenants_schedules_are_refused() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let create = |body: Value| {
        http.post(format!("{url}/schedules"))
            .header("x-tenant-id", "acme")
            .json(&body)
    };
    let cases = [
        (json!({"name": "x", "cron": "61 * * * *"}), "cron"),
        (json!({"name": "x", "cron": "not a cron"}), "cron"),
        (
            json!({"name": "x", "cron": "0 9 * * *", "timeZone": "Mars/Olympus_Mons"}),
            "timeZone",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = json_of(create(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(violation(&error), field, "{body}: {error}");
    }
    // Neither or both of cron and interval: refused too.
    for body in [
        json!({"name": "x"}),
        json!({"name": "x", "cron": "0 9 * * *", "interval": "1h"}),
    ] {
        let (status, error) = json_of(create(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }
    // A preview's spec is checked as a created one's.
    let (status, error) = json_of(
        http.post(format!("{url}/schedules:preview"))
            .json(&json!({"cron": "0 9 * * *", "timeZone": "Nowhere/Land"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(violation(&error), "timeZone", "{error}");

    // Another tenant's schedule does not exist; nor does an unknown one.
    let (status, created) = json_of(create(json!({"name": "mine", "interval": "1h"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let globex = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "globex");
    for request in [
        globex(http.get(format!("{url}/schedules/{id}"))),
        globex(http.patch(format!("{url}/schedules/{id}"))).json(&json!({"name": "theirs"})),
        globex(http.post(format!("{url}/schedules/{id}/pause"))),
        globex(http.post(format!("{url}/schedules/{id}/resume"))),
        globex(http.get(format!("{url}/schedules/{id}/preview"))),
        globex(http.delete(format!("{url}/schedules/{id}"))),
        http.get(format!("{url}/schedules/sch_unknown"))
            .header("x-tenant-id", "acme"),
    ] {
        let (status, error) = json_of(request).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    }
    let (_, theirs) = json_of(globex(http.get(format!("{url}/schedules")))).await;
    assert_eq!(theirs["schedules"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_routes_need_the_timer_roles() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), reqwest::Client::new());
    let auth = Auth::new(server.kernel.store(), AuthConfig::default()).unwrap();
    let key = |roles: &'static [Role]| {
        let auth = &auth;
        async move {
            auth.create_key("acme", "test", roles, None)
                .await
                .unwrap()
                .secret
        }
    };
    let (reader, writer) = (
        key(&[Role::TimerRead]).await,
        key(&[Role::TimerWrite]).await,
    );
    let as_key = |r: reqwest::RequestBuilder, key: &str| r.header("x-api-key", key.to_owned());
    let status = |request: reqwest::RequestBuilder| async move { json_of(request).await.0 };
    let body = json!({"name": "r", "interval": "1h"});

    // Refused at the door, whatever the schedule: reading is not writing, writing not deleting,
    // and a plain key acts for its own tenant only.
    for (request, why) in [
        (
            as_key(http.post(format!("{url}/schedules")), &reader).json(&body),
            "create",
        ),
        (
            as_key(http.patch(format!("{url}/schedules/sch_x")), &reader).json(&body),
            "update",
        ),
        (
            as_key(http.post(format!("{url}/schedules/sch_x/pause")), &reader),
            "pause",
        ),
        (
            as_key(http.post(format!("{url}/schedules/sch_x/resume")), &reader),
            "resume",
        ),
        (
            as_key(http.delete(format!("{url}/schedules/sch_x")), &writer),
            "delete",
        ),
        (
            as_key(http.get(format!("{url}/schedules")), &reader).header("x-tenant-id", "globex"),
            "another tenant",
        ),
    ] {
        assert_eq!(status(request).await, StatusCode::FORBIDDEN, "{why}");
    }

    // Allowed: writing with timer.write, reading with timer.read.
    let (code, created) =
        json_of(as_key(http.post(format!("{url}/schedules")), &writer).json(&body)).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let get = as_key(http.get(format!("{url}/schedules/{id}")), &reader);
    assert_eq!(status(get).await, StatusCode::OK);
    let pause = as_key(http.post(format!("{url}/schedules/{id}/pause")), &writer);
    assert_eq!(status(pause).await, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_service_over_grpc_and_grpc_web() {
    let server = InProcess::start().await;
    let url = server.url.clone();

    // Health reports the service; plain gRPC with the development key.
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "minoots.v1.ScheduleService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut schedules = ScheduleServiceClient::with_interceptor(channel, DevKey);
    let created = schedules
        .create_schedule(CreateScheduleRequest {
            tenant_id: "acme".into(),
            name: "grpc".into(),
            spec: Some(ScheduleSpec {
                interval: Some(duration(3_600)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.state, ScheduleState::Active as i32);
    let got = schedules
        .get_schedule(GetScheduleRequest {
            tenant_id: "acme".into(),
            id: created.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.name, "grpc");
    let listed = schedules
        .list_schedules(ListSchedulesRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.schedules.len(), 1);
    let missing = schedules
        .get_schedule(GetScheduleRequest {
            tenant_id: "globex".into(),
            id: created.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // gRPC-web, as a browser calls it, on the same port.
    let http = http();
    let call = |method: &str, message: Vec<u8>| {
        http.post(format!("{url}/minoots.v1.ScheduleService/{method}"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("x-tenant-id", "acme")
            .body(grpc_web_frame(&message))
            .send()
    };
    let get = GetScheduleRequest {
        id: created.id.clone(),
        ..Default::default()
    };
    let response = call("GetSchedule", get.encode_to_vec()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let frames = grpc_web_frames(&response.bytes().await.unwrap());
    let schedule = Schedule::decode(frames[0].1.as_slice()).unwrap();
    assert_eq!(schedule.id, created.id);
    let trailers = String::from_utf8_lossy(&frames.last().unwrap().1).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    let preview = PreviewScheduleRequest {
        spec: Some(ScheduleSpec {
            cron: "*/5 * * * *".into(),
            ..Default::default()
        }),
        count: 2,
        ..Default::default()
    };
    let response = call("PreviewSchedule", preview.encode_to_vec())
        .await
        .unwrap();
    let frames = grpc_web_frames(&response.bytes().await.unwrap());
    let preview = PreviewScheduleResponse::decode(frames[0].1.as_slice()).unwrap();
    assert_eq!(preview.fire_at.len(), 2);
    assert_eq!(preview.fire_at[1].seconds - preview.fire_at[0].seconds, 300);
    server.stop().await;
}

/// A message as one gRPC-web data frame.
fn grpc_web_frame(bytes: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(bytes);
    frame
}

/// Splits a gRPC-web body into (flag, payload) frames; flag 0x80 marks the trailers.
fn grpc_web_frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        frames.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    frames
}

/// Reads SSE frames (`event:`, `id:`, `data:`) from a response body.
struct SseReader {
    body: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    async fn open(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event as (type, data); keep-alive comments are skipped.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut kind, mut data) = (String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !kind.is_empty() {
                    return (kind, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("no SSE data")
                .unwrap()
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_events_arrive_on_the_sse_streams() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");
    let mut timers = SseReader::open(acme(http.get(format!("{url}/timers/stream")))).await;
    let mut schedules = SseReader::open(acme(http.get(format!("{url}/schedules/stream")))).await;
    let mut ops = SseReader::open(acme(
        http.get(format!("{url}/timers/stream?labelSelector=team%3Dops")),
    ))
    .await;

    // A timer first: the schedule stream shows only schedule events.
    let (status, _) = json_of(
        acme(http.post(format!("{url}/timers"))).json(&json!({"name": "t", "duration": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, other) = json_of(
        acme(http.post(format!("{url}/schedules")))
            .json(&json!({"name": "other", "interval": "1h", "labels": {"team": "web"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, created) = json_of(
        acme(http.post(format!("{url}/schedules")))
            .json(&json!({"name": "s", "interval": "1h", "labels": {"team": "ops"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, _) = json_of(acme(http.post(format!("{url}/schedules/{id}/pause")))).await;
    assert_eq!(status, StatusCode::OK);

    let (kind, data) = timers.next().await;
    assert_eq!(kind, "timer.scheduled");
    assert_eq!(data["data"]["name"], "t");
    // The stream of every event shows schedule events with the schedule as data.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let (kind, data) = timers.next().await;
        if kind.starts_with("schedule.") {
            seen.push((kind, data["data"]["name"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(
        seen,
        [
            ("schedule.created", "other"),
            ("schedule.created", "s"),
            ("schedule.paused", "s"),
        ]
        .map(|(k, n)| (k.to_owned(), n.to_owned()))
    );
    let (kind, data) = schedules.next().await;
    assert_eq!(
        (kind.as_str(), &data["data"]["id"]),
        ("schedule.created", &other["id"])
    );
    assert_eq!(data["type"], "schedule.created");
    let (kind, data) = schedules.next().await;
    assert_eq!(
        (kind.as_str(), data["data"]["id"].as_str()),
        ("schedule.created", Some(id))
    );
    assert_eq!(data["data"]["intervalMs"], 3_600_000);
    let (kind, data) = schedules.next().await;
    assert_eq!(kind, "schedule.paused");
    assert_eq!(data["data"]["state"], "paused");

    // A label selector matches a schedule event by the schedule's labels.
    let (kind, data) = ops.next().await;
    assert_eq!(
        (kind.as_str(), data["data"]["id"].as_str()),
        ("schedule.created", Some(id))
    );
    assert_eq!(ops.next().await.0, "schedule.paused");
    drop((timers, schedules, ops));
    server.stop().await;
}

async fn kernel(dir: &std::path::Path) -> Server {
    let args = ["--data-dir".to_owned(), dir.display().to_string()];
    Server::run("kernel", &args, Stdio::inherit()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_through_a_gateway_to_remote_kernels() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let us = kernel(dirs[0].path()).await;
    let eu = kernel(dirs[1].path()).await;
    let targets = format!("us-east={},eu-west={}", us.url, eu.url);
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dirs[2].path().display().to_string(),
        "--region-targets",
        &targets,
        "--primary-region",
        "us-east",
        "--kernel-timeout",
        "2s",
    ]
    .map(str::to_owned)
    .to_vec();
    let gw = Server::run("gateway", &args, Stdio::inherit()).await;
    let (url, http) = (gw.url.clone(), http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");

    let (status, primary) = json_of(
        acme(http.post(format!("{url}/schedules"))).json(&json!({"name": "p", "interval": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{primary}");
    assert_eq!(primary["labels"]["minoots.io/region"], "us-east");
    let (status, eu_one) = json_of(
        acme(http.post(format!("{url}/schedules")))
            .header("x-minoots-region", "eu-west")
            .json(&json!({"name": "e", "cron": "0 9 * * *"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{eu_one}");
    assert_eq!(eu_one["labels"]["minoots.io/region"], "eu-west");

    // Calls about one schedule find it in any region.
    let eu_id = eu_one["id"].as_str().unwrap();
    let (status, got) = json_of(acme(http.get(format!("{url}/schedules/{eu_id}")))).await;
    assert_eq!((status, &got["name"]), (StatusCode::OK, &json!("e")));
    let (status, preview) = json_of(acme(
        http.get(format!("{url}/schedules/{eu_id}/preview?count=2")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["occurrences"].as_array().unwrap().len(), 2);
    let (status, paused) = json_of(acme(http.post(format!("{url}/schedules/{eu_id}/pause")))).await;
    assert_eq!(
        (status, &paused["state"]),
        (StatusCode::OK, &json!("paused"))
    );
    let (status, _) = json_of(
        http.get(format!("{url}/schedules/{eu_id}"))
            .header("x-tenant-id", "globex"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Lists: the primary region by default, every region with `*`.
    let (_, page) = json_of(acme(http.get(format!("{url}/schedules")))).await;
    assert_eq!(page["schedules"].as_array().unwrap().len(), 1);
    let (_, everywhere) = json_of(
        acme(http.get(format!("{url}/schedules?pageSize=1"))).header("x-minoots-region", "*"),
    )
    .await;
    assert_eq!(everywhere["schedules"].as_array().unwrap().len(), 2);

    let (status, deleted) = json_of(acme(http.delete(format!("{url}/schedules/{eu_id}")))).await;
    assert_eq!(
        (status, &deleted["state"]),
        (StatusCode::OK, &json!("deleted"))
    );
}
