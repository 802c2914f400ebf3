//! Delivery control on REST against the real binary: `flowControl`, `onSuccess` and `onFailure`
//! are taken, stored and returned in camelCase, mistakes are refused naming the field, and a
//! callback reaches a real receiver signed.

mod common;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post};
use common::{Server, WAIT};
use minoots::proto;
use minoots_kernel::signing::{DEV_SECRET, Signer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_stream::StreamExt;

type Hits = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1:0 answering `status` to every request.
async fn receiver(status: u16) -> (Hits, String) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                move |State(hits): State<Hits>, headers: HeaderMap, body: Bytes| async move {
                    hits.lock().unwrap().push((headers, body));
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hits, url)
}

async fn post_timer(url: &str, body: &Value) -> (StatusCode, Value) {
    let response = common::http()
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_and_callbacks_over_rest_and_the_callback_arrives_signed() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
    ]
    .map(str::to_owned);
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let (_, ok_url) = receiver(200).await;
    let (callbacks, callbacks_url) = receiver(200).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();

    let bundle = json!({
        "actions": [{"type": "webhook", "url": ok_url,
            "flowControl": {"key": "receiver", "maxConcurrent": 2, "maxPerSecond": 50}}],
        "onSuccess": {"id": "done", "type": "webhook", "url": callbacks_url},
        "onFailure": {"id": "alarm", "type": "agent_prompt", "adapter": "http", "target": callbacks_url,
            "flowControl": {"maxConcurrent": 1}},
    });
    let (status, timer) = post_timer(
        &server.url,
        &json!({"name": "cb", "duration": "10ms", "actionBundle": bundle}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{timer}");
    let stored = &timer["actionBundle"];
    assert_eq!(
        stored["actions"][0]["flowControl"],
        json!({"key": "receiver", "maxConcurrent": 2, "maxPerSecond": 50})
    );
    assert_eq!(stored["onSuccess"]["id"], "done");
    assert_eq!(stored["onFailure"]["flowControl"]["maxConcurrent"], 1);

    let id = timer["id"].as_str().unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if event.timer_id == id && event.event_type() == proto::TimerEventType::Settled {
                return;
            }
            assert_ne!(
                event.event_type(),
                proto::TimerEventType::Failed,
                "{event:?}"
            );
        }
        panic!("stream ended")
    })
    .await
    .expect("the timer settled");
    let got: Value = common::http()
        .get(format!("{}/timers/{id}", server.url))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got = if got.get("timer").is_some() {
        &got["timer"]
    } else {
        &got
    };
    assert_eq!(got["actionResults"][1]["callback"], "on_success", "{got}");
    assert_eq!(got["actionResults"][1]["actionId"], "done");
    assert!(got["actionResults"][0].get("callback").is_none());

    let hits = callbacks.lock().unwrap().clone();
    assert_eq!(hits.len(), 1);
    let (headers, body) = &hits[0];
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("webhook-id"), format!("{id}:on_success"));
    let expected = Signer::new(&[DEV_SECRET])
        .unwrap()
        .sign(
            &header("webhook-id"),
            header("webhook-timestamp").parse().unwrap(),
            body,
        )
        .unwrap();
    assert!(
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected.signature)
    );
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["type"], "timer.on_success");
    assert_eq!(body["outcome"]["status"], "settled");
    assert_eq!(body["data"]["id"], id);

    // Mistakes are refused naming the field, in camelCase.
    let hook = |flow: Value| {
        json!({"name": "bad", "duration": "1h", "actionBundle": {
            "actions": [{"type": "webhook", "url": "https://example.com/x", "flowControl": flow}]}})
    };
    let cases = [
        (
            hook(json!({"maxPerSecnd": 3})),
            "actionBundle.actions[0].webhook.flowControl.maxPerSecnd",
        ),
        (
            hook(json!({"maxPerSecond": 100_001})),
            "actionBundle.actions[0].webhook.flowControl.maxPerSecond",
        ),
        (
            hook(json!({"key": "only-a-key"})),
            "actionBundle.actions[0].webhook.flowControl",
        ),
        (
            json!({"name": "bad", "duration": "1h", "actionBundle": {"actions": [],
                "onSucces": {"type": "webhook", "url": "https://example.com/x"}}}),
            "actionBundle.onSucces",
        ),
        (
            json!({"name": "bad", "duration": "1h", "actionBundle": {"actions": [],
                "onFailure": {"type": "webhook", "url": "ftp://example.com/x"}}}),
            "actionBundle.onFailure.webhook.url",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = post_timer(&server.url, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {error}");
        assert_eq!(
            error["error"]["fieldViolations"][0]["field"], field,
            "{body} -> {error}"
        );
    }
}
