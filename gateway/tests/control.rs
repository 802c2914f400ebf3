//! Control of pending timers over REST and the SDK on a real server: update (PATCH) with
//! optimistic concurrency, get/update/cancel by idempotency key, pause and resume, bulk
//! cancel/pause/resume by label selector with a dry run, a tenant's deliveries pause; their
//! events on the stream (and over SSE); and the roles each call needs.

mod common;

use std::process::Stdio;

use common::{InProcess, Server, WAIT, create_key, http};
use minoots::{StreamOptions, TimerUpdate, proto};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["fieldViolations"][0]["field"]
            .as_str()
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_updates_pauses_and_cancels_by_id_key_and_selector() {
    let server = InProcess::start().await;
    let (url, http) = (server.url.clone(), http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");
    let client = common::client(&url, "acme").await;
    let mut events = client
        .stream(StreamOptions::default().after_sequence(0))
        .await
        .unwrap();

    let (status, timer) = call(acme(http.post(format!("{url}/timers"))).json(&json!({
        "name": "nightly", "duration": "1h", "idempotencyKey": "nightly-1",
        "labels": {"team": "core"}
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{timer}");
    let id = timer["id"].as_str().unwrap().to_owned();
    let version = timer["stateVersion"].as_u64().unwrap();

    // Found by key.
    let (status, found) = call(acme(http.get(format!("{url}/timers/by-key/nightly-1")))).await;
    assert_eq!(
        (status, found["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (status, body) = call(acme(http.get(format!("{url}/timers/by-key/nope")))).await;
    assert_eq!(
        (status, error(&body).0),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );

    // PATCH: new fire time and labels, with the version read; the same version again is 412.
    let patch =
        json!({"duration": "2h", "labels": {"team": "web"}, "expectedStateVersion": version});
    let (status, updated) = call(acme(http.patch(format!("{url}/timers/{id}"))).json(&patch)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["labels"], json!({"team": "web"}));
    assert_eq!(updated["status"], "armed");
    assert!(updated["fireAt"].as_str() > timer["fireAt"].as_str());
    let (status, body) = call(acme(http.patch(format!("{url}/timers/{id}"))).json(&patch)).await;
    assert_eq!(
        (status, error(&body).0),
        (StatusCode::PRECONDITION_FAILED, "ABORTED")
    );
    let (status, body) =
        call(acme(http.patch(format!("{url}/timers/{id}"))).json(&json!({"duraton": "1m"}))).await;
    assert_eq!(
        (status, error(&body)),
        (StatusCode::BAD_REQUEST, ("INVALID_ARGUMENT", "duraton")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duraton")
    );
    let (status, body) =
        call(acme(http.patch(format!("{url}/timers/{id}"))).json(&json!({"fireAt": "soon"}))).await;
    assert_eq!(
        (status, error(&body).1),
        (StatusCode::BAD_REQUEST, "fireAt")
    );
    let (status, renamed) = call(
        acme(http.patch(format!("{url}/timers/by-key/nightly-1")))
            .json(&json!({"name": "nightly-build"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (StatusCode::OK, Some("nightly-build"))
    );

    // Scheduling again with keyPolicy replace reschedules the same timer.
    let (status, replaced) = call(acme(http.post(format!("{url}/timers"))).json(&json!({
        "name": "nightly", "duration": "3h", "idempotencyKey": "nightly-1",
        "keyPolicy": "replace", "labels": {"team": "web"}
    })))
    .await;
    assert_eq!(
        (status, replaced["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (status, body) = call(acme(http.post(format!("{url}/timers"))).json(&json!({
        "name": "x", "duration": "1m", "idempotencyKey": "k", "keyPolicy": "overwrite"
    })))
    .await;
    assert_eq!(
        (status, error(&body).1),
        (StatusCode::BAD_REQUEST, "keyPolicy")
    );

    // Pause and resume.
    let (status, paused) = call(
        acme(http.post(format!("{url}/timers/{id}/pause"))).json(&json!({"reason": "freeze"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(
        (paused["status"].as_str(), paused["pauseReason"].as_str()),
        (Some("paused"), Some("freeze"))
    );
    let (_, listed) = call(acme(http.get(format!("{url}/timers?status=paused")))).await;
    assert_eq!(listed["timers"][0]["id"].as_str(), Some(id.as_str()));
    let (status, resumed) = call(acme(http.post(format!("{url}/timers/{id}/resume")))).await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (StatusCode::OK, Some("armed"))
    );

    // Bulk: a dry run counts, then the selector's timers are paused, resumed, cancelled.
    for i in 0..5 {
        let (status, _) = call(acme(http.post(format!("{url}/timers"))).json(&json!({
            "name": format!("web-{i}"), "duration": "1h", "labels": {"team": "web"}
        })))
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let select =
        |dry_run: bool| json!({"labelSelector": "team=web", "dryRun": dry_run, "reason": "reorg"});
    let (status, counted) =
        call(acme(http.post(format!("{url}/timers:cancel"))).json(&select(true))).await;
    assert_eq!(
        (
            status,
            counted["matched"].as_u64(),
            counted["changed"].as_u64()
        ),
        (StatusCode::OK, Some(6), Some(0))
    );
    let (_, done) = call(acme(http.post(format!("{url}/timers:pause"))).json(&select(false))).await;
    assert_eq!(done["changed"], 6);
    let (_, done) =
        call(acme(http.post(format!("{url}/timers:resume"))).json(&select(false))).await;
    assert_eq!(done["changed"], 6);
    let (_, done) =
        call(acme(http.post(format!("{url}/timers:cancel"))).json(&select(false))).await;
    assert_eq!(done["changed"], 6);
    let (status, body) =
        call(acme(http.post(format!("{url}/timers:cancel"))).json(&json!({}))).await;
    assert_eq!(
        (status, error(&body).1),
        (StatusCode::BAD_REQUEST, "labelSelector")
    );
    let (status, body) = call(acme(
        http.post(format!("{url}/timers/by-key/nightly-1/cancel")),
    ))
    .await;
    assert_eq!(
        (status, error(&body).0),
        (StatusCode::CONFLICT, "FAILED_PRECONDITION")
    );

    // The stream saw each change of the keyed timer, in order.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("timer.cancelled") {
        let event = tokio::time::timeout(WAIT, events.next_event())
            .await
            .expect("no event")
            .unwrap()
            .unwrap();
        if event.timer_id == id {
            seen.push(event.event_type().wire_name().to_owned());
        }
    }
    assert_eq!(
        seen,
        [
            "timer.scheduled",
            "timer.armed",
            "timer.updated",
            "timer.updated",
            "timer.updated",
            "timer.paused",
            "timer.resumed",
            "timer.paused",
            "timer.resumed",
            "timer.cancelled"
        ]
    );

    // The SDK: update by key with a stale version is Aborted; get/cancel by key.
    let timer = client
        .schedule(minoots::TimerSpec::new("sdk", "1h").idempotency_key("sdk-1"))
        .await
        .unwrap();
    let stale = client
        .update(
            TimerUpdate::key("sdk-1")
                .duration("2h")
                .expected_state_version(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(stale, minoots::Error::Aborted(_)), "{stale:?}");
    let moved = client
        .update(
            TimerUpdate::key("sdk-1")
                .duration("2h")
                .expected_state_version(timer.state_version),
        )
        .await
        .unwrap();
    assert_eq!(moved.id, timer.id);
    assert_eq!(client.get_by_key("sdk-1").await.unwrap().id, timer.id);
    let cancelled = client.cancel_by_key("sdk-1", "done").await.unwrap();
    assert_eq!(cancelled.status, proto::TimerStatus::Cancelled as i32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_pause_needs_tenant_admin_and_holds_new_timers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, writer) = create_key(
        dir.path(),
        "acme",
        "timer.read,timer.write,timer.cancel",
        &[],
    );
    let (_, reader) = create_key(dir.path(), "acme", "timer.read", &[]);
    let (_, admin) = create_key(dir.path(), "acme", "tenant.admin", &[]);
    let args = [
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "--key-cache-ttl".to_owned(),
        "0s".to_owned(),
    ];
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let (url, http) = (server.url.clone(), reqwest::Client::new());
    let with = |key: &str, r: reqwest::RequestBuilder| r.header("x-api-key", key);

    let (status, timer) = call(
        with(&writer, http.post(format!("{url}/timers")))
            .json(&json!({"name": "t", "duration": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = timer["id"].as_str().unwrap().to_owned();
    // A read-only key can neither change nor pause a timer.
    for request in [
        http.patch(format!("{url}/timers/{id}"))
            .json(&json!({"name": "x"})),
        http.post(format!("{url}/timers/{id}/pause")),
        http.post(format!("{url}/timers:pause"))
            .json(&json!({"all": true})),
    ] {
        let (status, body) = call(with(&reader, request)).await;
        assert_eq!(
            (status, error(&body).0),
            (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            "{body}"
        );
    }
    // Pausing the tenant takes tenant.admin.
    let (status, _) = call(with(
        &writer,
        http.post(format!("{url}/tenants/acme/pause")),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, state) = call(
        with(&admin, http.post(format!("{url}/tenants/acme/pause")))
            .json(&json!({"reason": "incident 42"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (state["paused"].as_bool(), state["changed"].as_u64()),
        (Some(true), Some(1))
    );
    let (_, state) = call(with(&reader, http.get(format!("{url}/tenants/acme/pause")))).await;
    assert_eq!(state["reason"], "incident 42");
    let (status, held) = call(
        with(&writer, http.post(format!("{url}/timers")))
            .json(&json!({"name": "held", "duration": "1s"})),
    )
    .await;
    assert_eq!(
        (status, held["status"].as_str()),
        (StatusCode::CREATED, Some("paused"))
    );
    let (status, state) = call(with(
        &admin,
        http.delete(format!("{url}/tenants/acme/pause")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (state["paused"].as_bool(), state["changed"].as_u64()),
        (Some(false), Some(2))
    );
    let (_, held) = call(with(
        &writer,
        http.get(format!("{url}/timers/{}", held["id"].as_str().unwrap())),
    ))
    .await;
    assert_ne!(held["status"], "paused");
}
