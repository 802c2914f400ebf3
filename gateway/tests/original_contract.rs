//! Clients written for the original control plane, against the real binary: a client that speaks
//! only its REST shape (`x-api-key`, `tenantId`, actions as `{kind, parameters}`, its retry keys,
//! `agentBinding`, `ecosystem`) schedules a webhook timer and receives a delivery whose Standard
//! Webhooks signature verifies; unknown fields are refused by name; the `webhook` shorthand fires;
//! the deployment guide's environment names (`NATS_URL`, `NATS_JETSTREAM_STREAM`,
//! `KERNEL_ENVELOPE_SECRET`, `ACTION_WEBHOOK_TIMEOUT_MS`, `KERNEL_GRPC_URL`) are honoured below
//! the `MINOOTS_*` ones.

mod common;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post};
use common::{DEV_KEY, Server, WAIT};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An HTTP receiver on 127.0.0.1:0 that records every delivery and answers 200.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// The first delivery, once it has arrived.
    async fn first(&self) -> (HeaderMap, Bytes) {
        tokio::time::timeout(WAIT, async {
            loop {
                let arrived = self.arrived.notified();
                if let Some(hit) = self.hits.lock().unwrap().first().cloned() {
                    return hit;
                }
                arrived.await;
            }
        })
        .await
        .expect("a delivery arrives")
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.hits.lock().unwrap().push((headers, body));
    receiver.arrived.notify_waiters();
    StatusCode::OK
}

/// Verifies a delivery with the SDK's Standard Webhooks verifier and returns its payload.
fn verified(secret: &str, (headers, body): &(HeaderMap, Bytes)) -> Value {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()));
    minoots::verify_webhook(&[secret], headers, body).expect("the signature verifies");
    serde_json::from_slice(body).unwrap()
}

/// A plain HTTP client, as the original GitHub Action and Python toolkit were: only `x-api-key`.
fn original_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn schedule(http: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = http
        .post(format!("{url}/timers"))
        .header("x-api-key", DEV_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn get(http: &reqwest::Client, url: &str, id: &str) -> Value {
    http.get(format!("{url}/timers/{id}"))
        .header("x-api-key", DEV_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn serve(dir: &tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut args: Vec<String> = ["--dev", "--data-dir", &dir.path().display().to_string()]
        .map(str::to_owned)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::run_with_env("serve", &args, env, Stdio::inherit()).await
}

fn field(body: &Value) -> &str {
    body["error"]["fieldViolations"][0]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field named in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_speaking_only_the_original_rest_shape_receives_a_signed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        &dir,
        &["--signing-secrets", SECRET, "--webhook-allow", "127.0.0.1"],
        &[],
    )
    .await;
    let (receiver, hook) = Receiver::start().await;
    let http = original_client();

    // The deployment guide's ecosystem smoke test, verbatim (seeds/000, section 13).
    let seed: Value = serde_json::from_str(
        r#"{
        "tenantId": "tenant-local",
        "requestedBy": "dev:ecosystem",
        "duration": "15m",
        "ecosystem": {
          "parserator": {"workspaceId": "parserator-west", "datasetId": "beta-contacts"},
          "reposiologist": {"repositoryUrl": "https://github.com/domusgpt/minoots-timer-system", "sweepCadence": "weekly"},
          "nimbusGuardian": {"policyId": "guardian-local-gate", "environment": "staging"},
          "clearSeas": {"engagementId": "cse-lab", "serviceTier": "pilot"},
          "sharedNarrative": "Local Parse → Plan → Ship rehearsal",
          "nextSyncIso": "2025-11-01T17:00:00Z"
        }
      }"#,
    )
    .unwrap();
    let (status, created) = schedule(&http, &server.url, &seed).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["durationMs"], 900_000);
    let fetched = get(&http, &server.url, created["id"].as_str().unwrap()).await;
    let labels = &fetched["labels"];
    assert_eq!(labels["ecosystem.parserator/dataset"], "beta-contacts");
    assert_eq!(
        labels["ecosystem.nimbusGuardian/policy"],
        "guardian-local-gate"
    );
    assert_eq!(labels["ecosystem.clearSeas/tier"], "pilot");
    assert_eq!(labels["ecosystem.sources"], "4");
    assert_eq!(
        fetched["metadata"]["ecosystem"], seed["ecosystem"],
        "kept whole"
    );

    // A webhook timer in the original shape, due in integer milliseconds.
    let body = json!({
        "tenantId": "tenant-local",
        "requestedBy": "github-actions",
        "name": "deploy-check",
        "duration": 50,
        "labels": {"team": "core"},
        "metadata": {"run": 7},
        "actionBundle": {
            "actions": [{
                "id": "notify",
                "kind": "webhook",
                "parameters": {"url": hook, "method": "POST", "headers": {"x-origin": "original"}, "body": {"deploy": "v2"}}
            }],
            "concurrency": 1,
            "retryPolicy": {"maxAttempts": 3, "backoffInitialMs": 100, "backoffMultiplier": 2}
        },
        "agentBinding": {
            "adapter": "langchain",
            "target": "release-planner",
            "payloadTemplate": {"task": "review the deploy"},
            "acknowledgementTimeoutMs": 1500
        },
        "ecosystem": {"parserator": {"datasetId": "beta-contacts"}}
    });
    let (status, created) = schedule(&http, &server.url, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let delivery = receiver.first().await;
    // The action's own body, its headers, and the signature over the bytes received.
    assert_eq!(verified(SECRET, &delivery), json!({"deploy": "v2"}));
    assert_eq!(delivery.0["x-origin"], "original");
    assert_eq!(delivery.0["webhook-id"], format!("{id}:0").as_str());

    let fetched = get(&http, &server.url, &id).await;
    assert_eq!(fetched["agentBinding"]["adapter"], "langchain", "{fetched}");
    assert_eq!(fetched["agentBinding"]["target"], "release-planner");
    assert_eq!(
        fetched["agentBinding"]["payloadTemplate"]["task"],
        "review the deploy"
    );
    assert_eq!(fetched["agentBinding"]["acknowledgementTimeoutMs"], 1500);
    assert_eq!(
        fetched["labels"]["ecosystem.parserator/dataset"],
        "beta-contacts"
    );
    assert_eq!(fetched["labels"]["team"], "core");
    let bundle = &fetched["actionBundle"];
    assert_eq!(bundle["actions"][0]["url"], hook);
    assert_eq!(bundle["concurrency"], 1);
    assert_eq!(bundle["retryPolicy"]["initialBackoffMs"], 100);
    assert_eq!(bundle["retryPolicy"]["multiplier"], 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_binding_routes_the_timers_agent_prompts() {
    // The guide's agent_prompt action names no endpoint: the timer's agentBinding does.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        &dir,
        &["--signing-secrets", SECRET, "--webhook-allow", "127.0.0.1"],
        &[],
    )
    .await;
    let (receiver, hook) = Receiver::start().await;
    let body = json!({
        "tenantId": "tenant-local",
        "requestedBy": "agent",
        "duration": 20,
        "actionBundle": {"actions": [
            {"id": "notify-agent", "kind": "agent_prompt", "parameters": {"prompt": "the deploy finished"}}
        ]},
        "agentBinding": {"adapter": "http", "target": hook, "payloadTemplate": {"repo": "minoots"},
            "acknowledgementTimeoutMs": 5000}
    });
    let (status, created) = schedule(&original_client(), &server.url, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let prompt = &created["actionBundle"]["actions"][0];
    assert_eq!(prompt["adapter"], "http");
    assert_eq!(prompt["target"], hook);
    assert_eq!(prompt["ackTimeoutMs"], 5000);

    let delivered = verified(SECRET, &receiver.first().await);
    assert_eq!(delivered["prompt"], "the deploy finished");
    assert_eq!(delivered["arguments"], json!({"repo": "minoots"}));
    assert_eq!(delivered["timer"]["id"], created["id"]);

    // An adapter MINOOTS does not run is stored, and a prompt left without one is refused.
    let mut langchain = body.clone();
    langchain["agentBinding"]["adapter"] = json!("langchain");
    let (status, error) = schedule(&original_client(), &server.url, &langchain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(
        field(&error),
        "actionBundle.actions[0].agentPrompt.adapter",
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, &[], &[]).await;
    let http = original_client();
    let cases = [
        (
            json!({"name": "typo", "duration": "1m", "webhok": "https://example.com/h"}),
            "webhok",
        ),
        (
            json!({"name": "x", "duration": "1m", "actionBundle": {"actions": [
                {"kind": "webhook", "parameters": {"ulr": "https://example.com/h"}}]}}),
            "actionBundle.actions[0].parameters.ulr",
        ),
        (
            json!({"name": "x", "duration": "1m", "actionBundle": {"actions": [
                {"kind": "workflow_event", "parameters": {"event": "deploy"}}]}}),
            "actionBundle.actions[0].kind",
        ),
        (
            json!({"name": "x", "duration": "1m", "actionBundle": {"actions": [],
                "retryPolicy": {"backoffInitial": 100}}}),
            "actionBundle.retryPolicy.backoffInitial",
        ),
        (
            json!({"name": "x", "duration": "1m", "agentBinding": {"adaptor": "mcp"}}),
            "agentBinding.adaptor",
        ),
        (
            json!({"name": "x", "duration": "1m", "ecosystem": {"clearSeas": {"pods": ["a"]}}}),
            "ecosystem.clearSeas.pods",
        ),
    ];
    // A snake_case name is shown by its camelCase path, and the answer says why.
    let (status, error) = schedule(
        &http,
        &server.url,
        &json!({"name": "x", "duration": "1m", "tenant_id": "acme"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"tenant_id\"; fields are camelCase: tenantId"),
        "{error}"
    );
    for (body, expected) in cases {
        let (status, error) = schedule(&http, &server.url, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {error}");
        assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
        assert_eq!(field(&error), expected, "{body} -> {error}");
    }
    // Nothing was written.
    let listed: Value = http
        .get(format!("{}/timers", server.url))
        .header("x-api-key", DEV_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["timers"].as_array().map_or(0, Vec::len), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_shorthand_fires_signed_with_the_original_secret_name() {
    // KERNEL_ENVELOPE_SECRET, the original name, is the only secret given.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        &dir,
        &["--webhook-allow", "127.0.0.1"],
        &[("KERNEL_ENVELOPE_SECRET", SECRET)],
    )
    .await;
    let (receiver, hook) = Receiver::start().await;
    let http = original_client();
    let (status, created) = schedule(
        &http,
        &server.url,
        &json!({"name": "short", "duration": 20, "webhook": hook}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["actionBundle"]["actions"][0]["url"], hook);
    let payload = verified(SECRET, &receiver.first().await);
    assert_eq!(payload["data"]["id"], created["id"]);

    let (status, error) = schedule(
        &http,
        &server.url,
        &json!({"name": "both", "duration": 20, "webhook": hook,
            "actionBundle": {"actions": [{"type": "webhook", "url": hook}]}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field(&error), "webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_url_alone_publishes_events_to_jetstream() {
    let Some((nats_url, nats)) = minoots_kernel::testing::nats("NATS_URL fallback").await else {
        return;
    };
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let (stream_name, prefix) = (
        format!("MINOOTS_ORIG_{unique}"),
        format!("orig{unique}.timer"),
    );
    let dir = tempfile::tempdir().unwrap();
    // No --nats-url: only the deployment guide's names (the stream too, NATS_JETSTREAM_STREAM).
    let server = serve(
        &dir,
        &["--nats-subject-prefix", &prefix],
        &[
            ("NATS_URL", nats_url.as_str()),
            ("NATS_JETSTREAM_STREAM", stream_name.as_str()),
        ],
    )
    .await;
    let js = async_nats::jetstream::new(nats);
    let mut stream = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(stream) = js.get_stream(&stream_name).await {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server creates the stream named by NATS_JETSTREAM_STREAM");
    let (status, created) = schedule(
        &original_client(),
        &server.url,
        &json!({"name": "to-nats", "duration": 10}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // scheduled, armed, fired, settled
    tokio::time::timeout(WAIT, async {
        while stream.info().await.unwrap().state.messages < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the timer's events reach JetStream");
    let _ = js.delete_stream(&stream_name).await;
}

/// `minoots config print <command> --json` with only `env` set from the environment names this
/// file is about: (setting -> (value, source)).
fn printed(
    command: &str,
    env: &[(&str, &str)],
) -> std::collections::HashMap<String, (String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let output = common::config_command(dir.path())
        .args(["config", "print", command, "--json"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    common::config_settings(&output)
}

#[test]
fn the_deployment_guides_names_sit_below_the_minoots_ones() {
    let s = printed(
        "serve",
        &[
            ("ACTION_WEBHOOK_TIMEOUT_MS", "2500"),
            ("NATS_JETSTREAM_URL", "nats://10.0.0.9:4222"),
            ("NATS_JETSTREAM_STREAM", "ORIGINAL"),
            ("KERNEL_ENVELOPE_SECRET", SECRET),
        ],
    );
    assert_eq!(
        s["action-timeout"],
        ("2500ms".into(), "env ACTION_WEBHOOK_TIMEOUT_MS".into()),
        "milliseconds"
    );
    assert_eq!(
        s["nats-url"],
        (
            "nats://10.0.0.9:4222".into(),
            "env NATS_JETSTREAM_URL".into()
        )
    );
    assert_eq!(
        s["nats-stream"],
        ("ORIGINAL".into(), "env NATS_JETSTREAM_STREAM".into())
    );
    assert_eq!(
        s["signing-secrets"],
        ("****".into(), "env KERNEL_ENVELOPE_SECRET".into())
    );

    // NATS_URL before NATS_JETSTREAM_URL; every MINOOTS_* name wins over the original one.
    let s = printed(
        "serve",
        &[
            ("NATS_URL", "nats://10.0.0.1:4222"),
            ("NATS_JETSTREAM_URL", "nats://10.0.0.9:4222"),
            ("ACTION_WEBHOOK_TIMEOUT_MS", "2500"),
            ("MINOOTS_ACTION_TIMEOUT", "3s"),
            ("NATS_JETSTREAM_STREAM", "ORIGINAL"),
            ("MINOOTS_NATS_STREAM", "NEW"),
        ],
    );
    assert_eq!(
        s["nats-url"],
        ("nats://10.0.0.1:4222".into(), "env NATS_URL".into())
    );
    assert_eq!(
        s["action-timeout"],
        ("3s".into(), "env MINOOTS_ACTION_TIMEOUT".into())
    );
    assert_eq!(
        s["nats-stream"],
        ("NEW".into(), "env MINOOTS_NATS_STREAM".into())
    );

    // The gateway's kernel.
    // The original's value had no scheme (`localhost:50051`).
    let s = printed("gateway", &[("KERNEL_GRPC_URL", "10.0.0.5:7071")]);
    assert_eq!(
        s["kernels"],
        ("http://10.0.0.5:7071".into(), "env KERNEL_GRPC_URL".into())
    );
    let s = printed(
        "gateway",
        &[
            ("KERNEL_GRPC_URL", "http://10.0.0.5:7071"),
            ("MINOOTS_KERNEL_URLS", "http://10.0.0.6:7071"),
        ],
    );
    assert_eq!(
        s["kernels"],
        (
            "http://10.0.0.6:7071".into(),
            "env MINOOTS_KERNEL_URLS".into()
        )
    );
}
