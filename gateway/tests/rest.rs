//! The REST/JSON, SSE and gRPC-web surface over real HTTP on the same port as gRPC.

mod common;

use std::time::Duration;

use common::{InProcess, WAIT};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_stream::StreamExt;

use common::http;

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_its_status_codes() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");

    let (status, body) = json_of(http.get(format!("{url}/healthz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert_eq!(
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let create = json!({
        "name": "deploy-check", "duration": "15m", "requestedBy": "agent-7",
        "labels": {"env": "prod"}, "metadata": {"ticket": 42},
        "ecosystem": {"source": "slack", "channel": "C123"},
        "actionBundle": {"actions": [{"type": "webhook", "url": "https://example.com/hook"}]}
    });
    let response = acme(http.post(format!("{url}/timers")))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let timer: Value = response.json().await.unwrap();
    let id = timer["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/timers/{id}"));
    assert_eq!(timer["status"], "armed");
    assert_eq!(timer["durationMs"], 900_000);
    assert_eq!(
        timer["labels"]["ecosystem.source"], "slack",
        "ecosystem projected into labels"
    );
    assert_eq!(
        timer["metadata"]["ecosystem"]["channel"], "C123",
        "and kept whole in metadata"
    );
    assert_eq!(
        timer["actionBundle"]["actions"][0]["url"],
        "https://example.com/hook"
    );

    // tenantId in the body works without the header; integer milliseconds too.
    let (status, body) = json_of(
        http.post(format!("{url}/timers"))
            .json(&json!({"tenantId": "acme", "name": "ms", "duration": 60000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["durationMs"].as_i64()),
        (StatusCode::CREATED, Some(60_000))
    );

    let (status, got) = json_of(
        acme(http.get(format!("{url}/timers/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, got["name"].as_str()),
        (StatusCode::OK, Some("deploy-check"))
    );
    let other = http
        .get(format!("{url}/timers/{id}"))
        .header("x-tenant-id", "globex")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::NOT_FOUND,
        "another tenant's timer does not exist"
    );

    let (status, page) = json_of(
        acme(http.get(format!("{url}/timers?pageSize=1")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["timers"].as_array().unwrap().len(), 1);
    let token = page["nextPageToken"].as_str().unwrap();
    let (_, rest) = json_of(
        acme(http.get(format!("{url}/timers?pageSize=1&pageToken={token}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rest["timers"].as_array().unwrap().len(), 1);
    assert!(rest["nextPageToken"].is_null());
    let (_, selected) = json_of(
        acme(http.get(format!(
            "{url}/timers?labelSelector=env%3Dprod&status=armed"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(selected["timers"][0]["id"], id.as_str());

    let (status, cancelled) = json_of(
        acme(http.post(format!("{url}/timers/{id}/cancel")))
            .json(&json!({"reason": "done", "requestedBy": "ops"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            status,
            cancelled["status"].as_str(),
            cancelled["cancelReason"].as_str()
        ),
        (StatusCode::OK, Some("cancelled"), Some("done"))
    );
    let (status, again) = json_of(
        acme(http.delete(format!("{url}/timers/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("FAILED_PRECONDITION"))
    );

    // Idempotency: a replay is 200 with the same timer; a different request with the key is 409.
    let keyed = json!({"name": "once", "duration": "1h", "idempotencyKey": "k-1"});
    let first = acme(http.post(format!("{url}/timers")))
        .json(&keyed)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let replay = acme(http.post(format!("{url}/timers")))
        .json(&keyed)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    let clash = acme(http.post(format!("{url}/timers")))
        .json(&json!({"name": "twice", "duration": "1h", "idempotencyKey": "k-1"}));
    assert_eq!(clash.send().await.unwrap().status(), StatusCode::CONFLICT);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_naming_the_field_in_camel_case() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let cases = [
        (json!({"name": "x"}), "duration"),
        (json!({"name": "x", "duration": "soon"}), "duration"),
        (json!({"name": "x", "duration": -5}), "duration"),
        (
            json!({"name": "x", "duration": "1m", "fireAt": "2030-01-01T00:00:00Z"}),
            "duration",
        ),
        (json!({"name": "x", "fireAt": "yesterday"}), "fireAt"),
        (
            json!({"name": "x", "fireAt": "2001-01-01T00:00:00Z", "latePolicy": "reject"}),
            "fireAt",
        ),
        (
            json!({"name": "x", "fireAt": "2001-01-01T00:00:00Z", "latePolicy": "later"}),
            "latePolicy",
        ),
        // An absent name defaults to "timer" (clients of the original sent none); an empty one is refused.
        (json!({"name": "", "duration": "1m"}), "name"),
        (
            json!({"name": "x", "duration": "1m", "labels": {"bad key": "v"}}),
            "labels",
        ),
        (
            json!({"name": "x", "duration": "1m", "metadata": [1, 2]}),
            "metadata",
        ),
        (
            json!({"name": "x", "duration": "1m", "actionBundle": {"actions": [{"type": "fax"}]}}),
            "actionBundle.actions[0].kind",
        ),
        (
            json!({"name": "x", "duration": "1m", "actionBundle": {"actions": [{"type": "webhook", "url": "ftp://x"}]}}),
            "actionBundle.actions[0].webhook.url",
        ),
    ];
    // Issue 19 item 1: metadata nested past what a stored record can hold is refused at the
    // door (it was accepted, then failed every read of the tenant and every fire batch).
    let mut deep = json!(1);
    for _ in 0..34 {
        deep = json!({ "a": deep });
    }
    let cases = cases.into_iter().chain([(
        json!({"name": "x", "duration": "1h", "metadata": deep}),
        "metadata",
    )]);
    for (body, field) in cases {
        let response = http
            .post(format!("{url}/timers"))
            .header("x-tenant-id", "acme")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, error) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
        assert_eq!(
            error["error"]["fieldViolations"][0]["field"], field,
            "{body} -> {error}"
        );
    }
    let malformed = http
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let (status, own) = json_of(
        http.post(format!("{url}/timers"))
            .json(&json!({"name": "x", "duration": "1m"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, own["tenantId"].as_str()),
        (StatusCode::CREATED, Some("tenant-local")),
        "without x-tenant-id a call acts for the key's tenant"
    );
    let disagreeing = http
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&json!({"tenantId": "globex", "name": "x", "duration": "1m"}))
        .send()
        .await
        .unwrap();
    let (status, error) = json_of(disagreeing).await;
    assert_eq!(
        (
            status,
            error["error"]["fieldViolations"][0]["field"].as_str()
        ),
        (StatusCode::BAD_REQUEST, Some("tenantId"))
    );
    let bad_id = http
        .get(format!("{url}/timers/nope"))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    let resume_ahead = http
        .get(format!("{url}/timers/stream"))
        .header("x-tenant-id", "acme")
        .header("last-event-id", "999")
        .send()
        .await
        .unwrap();
    // Past the last sequence: events this store does not hold (lost in a restore from backup).
    assert_eq!(resume_ahead.status(), StatusCode::GONE);
    server.stop().await;
}

/// Reads SSE frames (`event:`, `id:`, `data:`) from a response body.
struct SseReader {
    body: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event as (type, id, data); keep-alive comments are skipped.
    async fn next(&mut self) -> (String, u64, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut kind, mut id, mut data) = (String::new(), 0, String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().unwrap();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !kind.is_empty() {
                    return (kind, id, serde_json::from_str(&data).unwrap());
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
async fn sse_streams_events_and_resumes_with_last_event_id() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let open = |last: Option<u64>| {
        let mut request = http
            .get(format!("{url}/timers/stream"))
            .header("x-tenant-id", "acme");
        if let Some(last) = last {
            request = request.header("last-event-id", last.to_string());
        }
        request.send()
    };
    let response = open(None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = SseReader::new(response);
    let created = http
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "a", "duration": "200ms"}));
    let id = created.send().await.unwrap().json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (kind, first, data) = events.next().await;
    assert_eq!((kind.as_str(), first), ("timer.scheduled", 1));
    assert_eq!(data["type"], "timer.scheduled");
    assert_eq!(data["data"]["id"], id.as_str());
    drop(events); // disconnect after event 1

    // Wait for the timer to settle while disconnected.
    tokio::time::timeout(WAIT, async {
        loop {
            let got = http
                .get(format!("{url}/timers/{id}"))
                .header("x-tenant-id", "acme")
                .send()
                .await
                .unwrap();
            if got.json::<Value>().await.unwrap()["status"] == "settled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let mut resumed = SseReader::new(open(Some(first)).await.unwrap());
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (kind, sequence, _) = resumed.next().await;
        seen.push((kind, sequence));
    }
    let expected = [("timer.armed", 2), ("timer.fired", 3), ("timer.settled", 4)]
        .map(|(k, s)| (k.to_owned(), s));
    assert_eq!(
        seen,
        expected.to_vec(),
        "resumed right after Last-Event-ID: nothing missed, nothing repeated"
    );

    // Changes to a pending timer arrive as their own event types.
    let later = http
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "b", "duration": "1h"}));
    let later = later.send().await.unwrap().json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, body) in [
        ("PATCH", format!("/timers/{later}"), json!({"name": "b2"})),
        ("POST", format!("/timers/{later}/pause"), json!({})),
        ("POST", format!("/timers/{later}/resume"), json!({})),
    ] {
        let request = http
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .header("x-tenant-id", "acme")
            .json(&body);
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    }
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        kinds.push(resumed.next().await.0);
    }
    assert_eq!(
        kinds,
        [
            "timer.scheduled",
            "timer.armed",
            "timer.updated",
            "timer.paused",
            "timer.resumed"
        ]
    );
    server.stop().await;
}

fn grpc_web_frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bytes);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_unary_and_streaming_on_the_same_port() {
    use minoots_proto::v1::{
        ScheduleTimerRequest, ScheduleTimerResponse, StreamTimerEventsRequest, TimerEvent,
        schedule_timer_request::Schedule,
    };
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let call = |method: &str, body: Vec<u8>| {
        http.post(format!("{url}/minoots.v1.TimerService/{method}"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("x-tenant-id", "acme")
            .header("origin", "http://dashboard.example")
            .body(body)
            .send()
    };
    let request = ScheduleTimerRequest {
        name: "from-the-browser".into(),
        schedule: Some(Schedule::Duration(minoots_proto::prost_types::Duration {
            seconds: 0,
            nanos: 100_000_000,
        })),
        ..Default::default()
    };
    let response = call("ScheduleTimer", grpc_web_frame(&request))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "*",
        "CORS for browsers"
    );
    let frames = grpc_web_frames(&response.bytes().await.unwrap());
    let scheduled = ScheduleTimerResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(scheduled.name, "from-the-browser");
    let trailers = String::from_utf8_lossy(&frames.last().unwrap().1).to_lowercase();
    assert!(
        frames.last().unwrap().0 & 0x80 != 0 && trailers.contains("grpc-status:0"),
        "{trailers}"
    );

    // Server streaming: the log from the start, until the timer settles.
    let stream = StreamTimerEventsRequest {
        after_sequence: Some(0),
        ..Default::default()
    };
    let response = call("StreamTimerEvents", grpc_web_frame(&stream))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = Box::pin(response.bytes_stream());
    let mut buffer = Vec::new();
    let mut kinds = Vec::new();
    tokio::time::timeout(WAIT, async {
        while kinds.len() < 4 {
            let Some(chunk) = body.next().await else {
                panic!(
                    "the stream ended after {kinds:?}; rest: {:?}",
                    String::from_utf8_lossy(&buffer)
                );
            };
            buffer.extend_from_slice(&chunk.unwrap());
            while buffer.len() >= 5 {
                let len = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
                if buffer.len() < 5 + len {
                    break;
                }
                let frame: Vec<u8> = buffer.drain(..5 + len).collect();
                kinds.push(TimerEvent::decode(&frame[5..]).unwrap().event_type);
            }
        }
    })
    .await
    .expect("the gRPC-web stream did not deliver the lifecycle");
    assert_eq!(kinds, vec![1, 2, 3, 4], "scheduled, armed, fired, settled");

    // An error is a trailers-only response: grpc-status in the headers (or a trailer frame).
    let bad = call(
        "ScheduleTimer",
        grpc_web_frame(&ScheduleTimerRequest::default()),
    )
    .await
    .unwrap();
    let in_headers = bad
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let frames = grpc_web_frames(&bad.bytes().await.unwrap());
    let in_trailers = frames
        .last()
        .map(|(_, t)| String::from_utf8_lossy(t).to_lowercase())
        .unwrap_or_default();
    assert!(
        in_headers.as_deref() == Some("3") || in_trailers.contains("grpc-status:3"),
        "INVALID_ARGUMENT: {in_headers:?} {in_trailers}"
    );

    // The control calls, as a browser console makes them: update, pause, resume.
    use minoots_proto::v1::{
        PauseTimerRequest, PauseTimerResponse, ResumeTimerRequest, ResumeTimerResponse,
        TimerStatus, UpdateTimerRequest, UpdateTimerResponse,
    };
    let later = ScheduleTimerRequest {
        name: "later".into(),
        schedule: Some(Schedule::Duration(minoots_proto::prost_types::Duration {
            seconds: 3_600,
            nanos: 0,
        })),
        ..Default::default()
    };
    let response = call("ScheduleTimer", grpc_web_frame(&later)).await.unwrap();
    let frames = grpc_web_frames(&response.bytes().await.unwrap());
    let id = ScheduleTimerResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .timer
        .unwrap()
        .id;
    let update = UpdateTimerRequest {
        id: id.clone(),
        name: Some("renamed-in-browser".into()),
        ..Default::default()
    };
    let frames = grpc_web_frames(
        &call("UpdateTimer", grpc_web_frame(&update))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    );
    let updated = UpdateTimerResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(updated.name, "renamed-in-browser");
    let pause = PauseTimerRequest {
        id: id.clone(),
        ..Default::default()
    };
    let frames = grpc_web_frames(
        &call("PauseTimer", grpc_web_frame(&pause))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    );
    let paused = PauseTimerResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(paused.status, TimerStatus::Paused as i32);
    let resume = ResumeTimerRequest {
        id,
        ..Default::default()
    };
    let frames = grpc_web_frames(
        &call("ResumeTimer", grpc_web_frame(&resume))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    );
    let resumed = ResumeTimerResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .timer
        .unwrap();
    assert_eq!(resumed.status, TimerStatus::Armed as i32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_timers_and_lateness() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let post = |body: Value| {
        http.post(format!("{url}/timers"))
            .header("x-tenant-id", "acme")
            .json(&body)
            .send()
    };
    let id = post(json!({"name": "m", "duration": "50ms"}))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keep = post(json!({"name": "keep", "duration": "1h"}))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        post(json!({"name": "bad"})).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    http.post(format!("{url}/timers/{keep}/cancel"))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    let grpc = common::client(&url, "acme").await;
    assert!(
        grpc.get("0195a3c4-0000-7000-8000-000000000000")
            .await
            .is_err()
    );

    let metrics = tokio::time::timeout(WAIT, async {
        loop {
            let got = http
                .get(format!("{url}/timers/{id}"))
                .header("x-tenant-id", "acme")
                .send()
                .await
                .unwrap();
            if got.json::<Value>().await.unwrap()["status"] == "settled" {
                let response = http.get(format!("{url}/metrics")).send().await.unwrap();
                assert!(
                    response.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/plain")
                );
                return response.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    for line in [
        "minoots_requests_total{route=\"/timers\",code=\"201\"} 2",
        "minoots_requests_total{route=\"/timers\",code=\"400\"} 1",
        "minoots_requests_total{route=\"/timers/{id}/cancel\",code=\"200\"} 1",
        "minoots_requests_total{route=\"/minoots.v1.TimerService/GetTimer\",code=\"5\"} 1",
        "minoots_timers_scheduled_total 2",
        "minoots_timers_fired_total 1",
        "minoots_timers_settled_total 1",
        "minoots_timers_cancelled_total 1",
        "minoots_timers_armed ",
        "minoots_fire_lateness_milliseconds_count 1",
        "minoots_fire_lateness_milliseconds_bucket{le=\"+Inf\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
    server.stop().await;
}

/// `POST /timers:batch`: many `POST /timers` bodies in one durable write, the gRPC batch's
/// limits; one bad timer rejects all, named by its index; nothing is half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_schedules_all_or_nothing_naming_the_bad_timer() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let post = |body: Value| {
        http.post(format!("{url}/timers:batch"))
            .header("x-tenant-id", "batch")
            .json(&body)
            .send()
    };
    let timers: Vec<Value> = (0..1_000)
        .map(|i| {
            json!({"name": format!("b-{i}"), "duration": "1h", "labels": {"batch": "one"},
                   "webhook": "https://example.com/hook"})
        })
        .collect();
    let (status, body) = json_of(post(json!({ "timers": timers })).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answered = body["timers"].as_array().unwrap();
    assert_eq!(answered.len(), 1_000);
    assert_eq!(answered[7]["timer"]["name"], "b-7", "in the order given");
    assert!(answered.iter().all(|t| t["created"] == true));
    assert_eq!(answered[0]["timer"]["tenantId"], "batch");
    assert_eq!(
        answered[0]["timer"]["actionBundle"]["actions"][0]["url"],
        "https://example.com/hook"
    );

    // A compact answer: each timer's id, status, fire time and state version only.
    let (status, body) = json_of(
        post(json!({"timers": timers[..3], "compact": true}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for answer in body["timers"].as_array().unwrap() {
        let mut keys: Vec<_> = answer["timer"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["fireAt", "id", "stateVersion", "status"], "{answer}");
        assert_eq!(answer["timer"]["status"], "armed", "{answer}");
        assert_eq!(answer["created"], true);
    }

    let field_of = |body: &Value| body["error"]["fieldViolations"][0]["field"].clone();
    let cases = [
        (
            json!({"timers": [{"name": "fine", "duration": "1m"}], "compact": "yes"}),
            "compact",
        ),
        (
            json!({"timers": [{"name": "fine", "duration": "1m"}, {"name": "x", "duration": "soon"}]}),
            "timers[1].duration",
        ),
        (
            json!({"timers": [{"name": "fine", "duration": "1m"}, {"name": "x", "duraton": "1m"}]}),
            "timers[1].duraton",
        ),
        (json!({"timers": []}), "timers"),
        (
            json!({"timers": [{"name": "a", "duration": "1m", "tenantId": "batch"},
                              {"name": "b", "duration": "1m", "tenantId": "other"}]}),
            "timers[1].tenantId",
        ),
        (json!({"timer": [{"name": "x", "duration": "1m"}]}), "timer"),
        (json!([{"name": "x", "duration": "1m"}]), "body"),
    ];
    for (body, field) in cases {
        let (status, error) = json_of(post(body.clone()).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(field_of(&error), field, "{body}: {error}");
    }
    // Over the gRPC batch's limit of 10,000 timers.
    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"name": format!("m-{i}"), "duration": "1h"}))
        .collect();
    let (status, error) = json_of(post(json!({ "timers": many })).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error.to_string().contains("10000"),
        "names the limit: {error}"
    );
    // Nothing of the refused batches was written.
    let (_, listed) = json_of(
        http.get(format!(
            "{url}/timers?pageSize=1000&labelSelector=batch%3Done"
        ))
        .header("x-tenant-id", "batch")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(listed["timers"].as_array().unwrap().len(), 1_000);
    let (_, all) = json_of(
        http.get(format!("{url}/timers?pageSize=1000&namePrefix=fine"))
            .header("x-tenant-id", "batch")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(all["timers"].as_array().unwrap().is_empty(), "{all}");
}

/// A `fireAt` already past fires at once by default (an import whose last batches arrive after
/// their due time loses nothing); `latePolicy: "reject"` refuses it instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_fire_at_fires_at_once_unless_rejected() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let body = json!({"name": "late", "fireAt": "2001-01-01T00:00:00Z", "latePolicy": "fire"});
    for body in [
        body.clone(),
        json!({"name": "late-default", "fireAt": "2020-06-01T00:00:00Z"}),
    ] {
        let (status, timer) = json_of(
            http.post(format!("{url}/timers"))
                .header("x-tenant-id", "late")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{timer}");
        assert!(
            timer["fireAt"].as_str().unwrap() > "2026",
            "fires now: {timer}"
        );
        let id = timer["id"].as_str().unwrap().to_owned();
        let fired = tokio::time::timeout(WAIT, async {
            loop {
                let (_, timer) = json_of(
                    http.get(format!("{url}/timers/{id}"))
                        .header("x-tenant-id", "late")
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                if timer["status"] == "settled" {
                    return timer;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the late timer fired");
        assert!(fired["firedAt"].is_string(), "{fired}");
    }
}
