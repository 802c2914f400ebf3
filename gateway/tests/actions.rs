//! Actions end to end against the real binary: real HTTP receivers started here, Standard Webhooks
//! signatures, retries with backoff, dead letters and their replay (REST, gRPC and the CLI),
//! command and file actions, and every refusal.

mod common;

use std::{
    collections::VecDeque,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post};
use common::{Server, WAIT};
use minoots::proto;
use minoots_kernel::signing::{DEV_SECRET, Signer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::StreamExt;

#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// An HTTP receiver on 127.0.0.1:0 answering with scripted statuses, then `then`.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    then: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(script: &[u16], then: u16) -> (Self, String) {
        let receiver = Self::default();
        receiver.script.lock().unwrap().extend(script);
        *receiver.then.lock().unwrap() = then;
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn answer(&self, status: u16) {
        *self.then.lock().unwrap() = status;
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.hits.lock().unwrap().push(Hit {
        at: Instant::now(),
        headers,
        body,
    });
    let status = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(*receiver.then.lock().unwrap());
    StatusCode::from_u16(status).unwrap()
}

/// Checks a delivery's Standard Webhooks headers against the body actually received.
fn assert_signed(hit: &Hit, secret: &str) {
    let header = |name: &str| hit.headers[name].to_str().unwrap().to_owned();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    let expected = Signer::new(&[secret])
        .unwrap()
        .sign(&header("webhook-id"), timestamp, &hit.body)
        .unwrap();
    assert!(
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected.signature),
        "signature does not match the delivered bytes"
    );
}

async fn serve(dir: &std::path::Path, sandbox: &std::path::Path) -> Server {
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
        "--command-allow",
        "echo",
        "--file-sandbox",
        &sandbox.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    Server::run("serve", &args, Stdio::inherit()).await
}

async fn schedule(url: &str, body: Value) -> Value {
    let response = common::http()
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Waits on the event stream until `id` settles or fails; returns the final timer.
async fn finished(
    events: &mut (impl tokio_stream::Stream<Item = Result<proto::TimerEvent, minoots::Error>> + Unpin),
    id: &str,
) -> proto::Timer {
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            let done = matches!(
                event.event_type(),
                proto::TimerEventType::Settled | proto::TimerEventType::Failed
            );
            if event.timer_id == id && done {
                return event.timer.unwrap();
            }
        }
        panic!("stream ended")
    })
    .await
    .expect("the timer finished")
}

fn webhook(url: &str, retry: Value) -> Value {
    json!({"name": "hook", "duration": "10ms", "actionBundle": {
        "actions": [{"id": "notify", "type": "webhook", "url": url}],
        "retryPolicy": retry,
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_retried_with_backoff_settles_on_the_third_attempt() {
    let (dir, sandbox) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = serve(dir.path(), sandbox.path()).await;
    let (receiver, hook) = Receiver::start(&[500, 500], 200).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    let retry =
        json!({"maxAttempts": 5, "initialBackoffMs": 200, "multiplier": 2.0, "jitter": 0.0});
    let timer = schedule(&server.url, webhook(&hook, retry)).await;
    let done = finished(&mut events, timer["id"].as_str().unwrap()).await;

    assert_eq!(done.status(), proto::TimerStatus::Settled);
    let result = &done.action_results[0];
    assert_eq!(
        (result.ok, result.attempts, result.detail.as_str()),
        (true, 3, "HTTP 200")
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    // The backoff was observed: 200 ms, then 400 ms, at least.
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(200),
        "{:?}",
        hits[1].at - hits[0].at
    );
    assert!(
        hits[2].at - hits[1].at >= Duration::from_millis(400),
        "{:?}",
        hits[2].at - hits[1].at
    );
    // One idempotency key for the whole series; every attempt signed over the bytes delivered.
    let ids: Vec<_> = hits
        .iter()
        .map(|h| h.headers["webhook-id"].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(ids[0], format!("{}:0", done.id).as_str());
    for hit in &hits {
        assert_signed(hit, DEV_SECRET);
        assert_eq!(hit.headers["content-type"], "application/json");
    }
    let body: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["data"]["id"].as_str()),
        (Some("timer.fired"), Some(done.id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_always_failing_webhook_is_dead_lettered_and_a_replay_settles_it() {
    let (dir, sandbox) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = serve(dir.path(), sandbox.path()).await;
    let (receiver, hook) = Receiver::start(&[], 500).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    let retry = json!({"maxAttempts": 3, "initialBackoffMs": 20, "jitter": 0.0});
    let timer = schedule(&server.url, webhook(&hook, retry.clone())).await;
    let id = timer["id"].as_str().unwrap().to_owned();
    let failed = finished(&mut events, &id).await;
    assert_eq!(failed.status(), proto::TimerStatus::Failed);
    assert!(
        failed.failure_reason.contains("HTTP 500 after 3 attempts"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(receiver.hits().len(), 3);

    // The dead letter, over REST and gRPC.
    let http = common::http();
    let list: Value = http
        .get(format!("{}/dead-letters", server.url))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let letters = list["deadLetters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{list}");
    let letter_id = letters[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(letters[0]["idempotencyKey"], format!("{id}:0"));
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(client.dead_letter(&letter_id).await.unwrap().timer_id, id);
    // Another tenant sees nothing of it.
    let other = common::client(&server.url, "globex")
        .await
        .dead_letters(None, true)
        .await
        .unwrap();
    assert!(other.is_empty());

    // Still broken: the replay fails again and the letter stays.
    let again = http
        .post(format!("{}/dead-letters/{letter_id}/replay", server.url))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (
            again["result"]["ok"].as_bool(),
            again["timer"]["status"].as_str()
        ),
        (Some(false), Some("failed"))
    );

    // Fixed: a replay through the CLI settles the timer, with the original idempotency key.
    receiver.answer(200);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args([
            "dlq",
            "replay",
            &letter_id,
            "--json",
            "--url",
            &server.url,
            "--api-key",
            common::DEV_KEY,
            "--tenant",
            "acme",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(replayed["result"]["ok"], true);
    assert_eq!(replayed["timer"]["status"], "settled");
    assert!(replayed["deadLetter"]["resolvedAt"].is_string());
    let hits = receiver.hits();
    assert_eq!(
        hits.last().unwrap().headers["webhook-id"],
        format!("{id}:0").as_str()
    );
    assert_signed(hits.last().unwrap(), DEV_SECRET);
    let settled = finished(&mut events, &id).await;
    assert_eq!(settled.status(), proto::TimerStatus::Settled);
    assert!(settled.action_results[0].ok);
    assert!(client.dead_letters(None, false).await.unwrap().is_empty());

    // `replay --all --since`: two more failures, fixed, replayed together.
    receiver.answer(500);
    let a = schedule(&server.url, webhook(&hook, retry.clone())).await;
    finished(&mut events, a["id"].as_str().unwrap()).await;
    let b = schedule(&server.url, webhook(&hook, retry)).await;
    finished(&mut events, b["id"].as_str().unwrap()).await;
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args([
            "dlq",
            "list",
            "--since",
            "1h",
            "--url",
            &server.url,
            "--api-key",
            common::DEV_KEY,
            "--tenant",
            "acme",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 2);
    receiver.answer(200);
    let replayed = client.replay_dead_letters(None).await.unwrap();
    assert_eq!(replayed.len(), 2);
    assert!(replayed.iter().all(|r| r.result.as_ref().unwrap().ok));
    assert!(
        replayed
            .iter()
            .all(|r| r.timer.as_ref().unwrap().status() == proto::TimerStatus::Settled)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_and_file_actions_and_their_refusals() {
    let (dir, sandbox) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), sandbox.path().join("escape")).unwrap();
    let server = serve(dir.path(), sandbox.path()).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    let once = json!({"maxAttempts": 1});
    let run = |actions: Value| json!({"name": "job", "duration": "10ms", "actionBundle": {"actions": actions, "retryPolicy": once}});

    let ok = schedule(&server.url, run(json!([
        {"type": "command", "program": "echo", "args": ["hello", "from", "minoots"]},
        {"type": "file", "path": "reports/{{timer.name}}.txt", "content": "timer {{timer.id}} fired\n", "mode": "append"},
        {"type": "file", "path": "reports/full.json"},
    ]))).await;
    let done = finished(&mut events, ok["id"].as_str().unwrap()).await;
    assert_eq!(
        done.status(),
        proto::TimerStatus::Settled,
        "{}",
        done.failure_reason
    );
    assert_eq!(done.action_results[0].output, "hello from minoots\n");
    let written = std::fs::read_to_string(
        sandbox
            .path()
            .join("reports/{{timer.name}}.txt".replace("{{timer.name}}", "job")),
    )
    .unwrap();
    assert_eq!(written, format!("timer {} fired\n", done.id));
    let full: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.path().join("reports/full.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(full["data"]["id"], done.id.as_str());

    // Refused when run: an executable not on the allow-list, a symlink out of the sandbox, a
    // private address. Each is final at once (no retries).
    let refused = schedule(
        &server.url,
        run(json!([
            {"type": "command", "program": "ls", "args": ["/"]},
            {"type": "file", "path": "escape/stolen.txt", "content": "x"},
            {"type": "webhook", "url": "http://10.1.2.3/hook"},
            {"type": "webhook", "url": "http://169.254.169.254/latest/meta-data"},
        ])),
    )
    .await;
    let done = finished(&mut events, refused["id"].as_str().unwrap()).await;
    assert_eq!(done.status(), proto::TimerStatus::Failed);
    let details: Vec<&str> = done
        .action_results
        .iter()
        .map(|r| r.detail.as_str())
        .collect();
    assert!(
        details[0].contains("not an allow-listed command"),
        "{details:?}"
    );
    assert!(details[1].contains("leaves the sandbox"), "{details:?}");
    assert!(details[2].contains("private address"), "{details:?}");
    assert!(details[3].contains("link-local address"), "{details:?}");
    assert!(done.action_results.iter().all(|r| r.attempts == 1 && !r.ok));
    assert!(!outside.path().join("stolen.txt").exists());

    // Refused before anything is stored: a caller's PATH (which would choose the `echo` that
    // runs), naming the field.
    let response = common::http()
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .json(&run(json!([
            {"type": "command", "program": "echo", "env": {"PATH": outside.path()}},
        ])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["fieldViolations"][0]["field"],
        "actionBundle.actions[0].command.env"
    );

    // Refused before anything is stored: a path with `..` names the field.
    let response = common::http()
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .json(&run(
            json!([{"type": "file", "path": "../../etc/passwd", "content": "x"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["fieldViolations"][0]["field"],
        "actionBundle.actions[0].file.path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_runs_the_fallback_once_and_agents_are_called_over_http() {
    let (dir, sandbox) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = serve(dir.path(), sandbox.path()).await;
    let (broken, broken_url) = Receiver::start(&[], 503).await;
    let (pager, pager_url) = Receiver::start(&[], 200).await;
    let (agent, agent_url) = Receiver::start(&[], 200).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();

    let timer = schedule(
        &server.url,
        json!({"name": "escalating", "duration": "10ms", "actionBundle": {
            "actions": [
                {"id": "primary", "type": "webhook", "url": broken_url},
                {"id": "agent", "type": "agent_prompt", "adapter": "http", "target": agent_url,
                 "prompt": "summarise the incident", "arguments": {"severity": "high"}},
            ],
            "concurrency": 1,
            "retryPolicy": {"maxAttempts": 4, "initialBackoffMs": 10, "jitter": 0.0},
            "escalateAfterAttempts": 2,
            "fallback": {"id": "page", "type": "webhook", "url": pager_url},
        }}),
    )
    .await;
    let done = finished(&mut events, timer["id"].as_str().unwrap()).await;
    assert_eq!(done.status(), proto::TimerStatus::Failed);
    assert_eq!(broken.hits().len(), 4, "the primary kept its retries");
    assert_eq!(
        pager.hits().len(),
        1,
        "the fallback ran once, after the second failure"
    );
    let results: Vec<(&str, bool, bool)> = done
        .action_results
        .iter()
        .map(|r| (r.action_id.as_str(), r.ok, r.fallback))
        .collect();
    assert_eq!(
        results,
        [
            ("primary", false, false),
            ("agent", true, false),
            ("page", true, true)
        ]
    );
    assert_eq!(
        pager.hits()[0].headers["webhook-id"],
        format!("{}:fallback", done.id).as_str()
    );
    // With concurrency 1 the agent ran after the primary gave up.
    assert!(agent.hits()[0].at > broken.hits()[3].at);
    let prompt: Value = serde_json::from_slice(&agent.hits()[0].body).unwrap();
    assert_eq!(prompt["input"], "summarise the incident");
    assert_eq!(prompt["arguments"]["severity"], "high");
    assert_eq!(prompt["timer"]["id"], done.id.as_str());
    assert_signed(&agent.hits()[0], DEV_SECRET);
}

/// A stand-in HTTP proxy on 127.0.0.1:0: counts the connections it accepts and answers 200 to
/// whatever it is sent, so a delivery that went through it would look successful.
async fn recording_proxy() -> (Arc<AtomicUsize>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (seen, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_in_the_environment_cannot_carry_a_webhook_past_the_address_guard() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy_seen, proxy) = recording_proxy().await;
    let (receiver, hook) = Receiver::start(&[], 200).await;
    // No --webhook-allow: loopback targets are refused; every proxy variable points at the
    // recording proxy.
    let env: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, proxy.as_str()))
    .chain([("NO_PROXY", ""), ("no_proxy", "")])
    .collect();
    let args = ["--dev", "--data-dir", &dir.path().display().to_string()].map(str::to_owned);
    let server = Server::run_with_env("serve", &args, &env, Stdio::inherit()).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    // A name (not an address literal) that resolves to loopback, so only the resolver-side
    // guard can refuse it, over http and https.
    let by_name = hook.replace("127.0.0.1", "localhost");
    let timer = schedule(
        &server.url,
        json!({"name": "proxied", "duration": "10ms", "actionBundle": {
            "actions": [
                {"type": "webhook", "url": by_name},
                {"type": "webhook", "url": by_name.replace("http://", "https://")},
            ],
            "retryPolicy": {"maxAttempts": 1},
        }}),
    )
    .await;
    let done = finished(&mut events, timer["id"].as_str().unwrap()).await;
    assert_eq!(done.status(), proto::TimerStatus::Failed);
    for result in &done.action_results {
        assert!(
            result.detail.contains("loopback address"),
            "{}",
            result.detail
        );
    }
    assert_eq!(proxy_seen.load(Ordering::SeqCst), 0, "the proxy was used");
    assert!(receiver.hits().is_empty());
}

/// A receiver on 127.0.0.1:0 that takes each request and answers 200 only once released. It
/// counts the requests that arrived and the most it held at once.
#[derive(Clone)]
struct Held {
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    holding: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Held {
    async fn start() -> (Self, String) {
        let held = Self {
            arrived: Arc::new(tokio::sync::watch::channel(0).0),
            release: Arc::new(tokio::sync::watch::channel(false).0),
            holding: Arc::default(),
            most: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", post(hold))
            .with_state(held.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (held, url)
    }

    /// Waits until `n` requests have arrived.
    async fn arrived(&self, n: usize) {
        let mut arrived = self.arrived.subscribe();
        tokio::time::timeout(WAIT, arrived.wait_for(|count| *count >= n))
            .await
            .expect("the requests arrived")
            .unwrap();
    }
}

async fn hold(State(held): State<Held>) -> StatusCode {
    let now = held.holding.fetch_add(1, Ordering::SeqCst) + 1;
    held.most.fetch_max(now, Ordering::SeqCst);
    held.arrived.send_modify(|count| *count += 1);
    let mut release = held.release.subscribe();
    let _ = release.wait_for(|released| *released).await;
    held.holding.fetch_sub(1, Ordering::SeqCst);
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_flooding_a_receiver_that_never_answers_does_not_delay_other_deliveries() {
    const FLOOD: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let (slow, slow_url) = Held::start().await;
    let (fast_a, fast_a_url) = Receiver::start(&[], 200).await;
    let (fast_b, fast_b_url) = Receiver::start(&[], 200).await;
    let args = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
    ]
    .map(str::to_owned);
    // Tight limits, so that the flood is far beyond each of them (the settings are read from the
    // environment here, like a deployment's).
    let env = [
        ("MINOOTS_ACTION_CONCURRENCY", "6"),
        ("MINOOTS_ACTION_CONCURRENCY_PER_TENANT", "4"),
        ("MINOOTS_ACTION_CONCURRENCY_PER_DESTINATION", "2"),
    ];
    let server = Server::run_with_env("serve", &args, &env, Stdio::inherit()).await;
    let (a, b) = (
        common::client(&server.url, "acme").await,
        common::client(&server.url, "globex").await,
    );
    let mut a_events = a.stream(minoots::StreamOptions::default()).await.unwrap();
    let mut b_events = b.stream(minoots::StreamOptions::default()).await.unwrap();
    let hook = |url: &str| {
        json!({
            "actions": [{"type": "webhook", "url": url, "timeoutMs": 600_000}],
            "retryPolicy": {"maxAttempts": 1},
        })
    };

    // Tenant A floods the receiver that never answers, far beyond every limit (the global one
    // too, and the default 256 that was once the only one).
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            minoots::TimerSpec::new(format!("flood-{i}"), "10ms").action_bundle(&hook(&slow_url))
        })
        .collect();
    let flood = a.schedule_many(flood).await.unwrap();
    assert_eq!(flood.len(), FLOOD);
    slow.arrived(2).await;

    // While it holds them: A's delivery elsewhere, and B's, arrive and settle.
    let a_fast = a
        .schedule(minoots::TimerSpec::new("a-fast", "10ms").action_bundle(&hook(&fast_a_url)))
        .await
        .unwrap();
    let b_fast = b
        .schedule(minoots::TimerSpec::new("b-fast", "10ms").action_bundle(&hook(&fast_b_url)))
        .await
        .unwrap();
    let done = finished(&mut b_events, &b_fast.id).await;
    assert_eq!(
        done.status(),
        proto::TimerStatus::Settled,
        "{}",
        done.failure_reason
    );
    let done = finished(&mut a_events, &a_fast.id).await;
    assert_eq!(
        done.status(),
        proto::TimerStatus::Settled,
        "{}",
        done.failure_reason
    );
    assert_eq!((fast_a.hits().len(), fast_b.hits().len()), (1, 1));
    common::wait_healthy(&server.url).await;
    // A kept to its limit at that destination the whole time.
    assert_eq!(*slow.arrived.borrow(), 2);

    // Released, the flood drains, never more than the limit at once.
    slow.release.send_replace(true);
    let mut pending: std::collections::HashSet<String> = flood.into_iter().map(|t| t.id).collect();
    tokio::time::timeout(WAIT, async {
        while !pending.is_empty() {
            let event = a_events.next().await.expect("stream ended").unwrap();
            if event.event_type() == proto::TimerEventType::Settled {
                pending.remove(&event.timer_id);
            }
            assert_ne!(
                event.event_type(),
                proto::TimerEventType::Failed,
                "{event:?}"
            );
        }
    })
    .await
    .expect("the flood settled");
    assert_eq!(*slow.arrived.borrow(), FLOOD);
    assert_eq!(slow.most.load(Ordering::SeqCst), 2);
}
