//! API keys, roles, tenant isolation, admin endpoints, quotas and the rate limit, against the real
//! `minoots` binary over real HTTP and gRPC.

mod common;

use std::{process::Stdio, time::Duration};

use common::{Server, WAIT, client_with_key, create_key};
use minoots::{Error, TimerSpec, proto};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_stream::StreamExt;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_roles_and_tenants_are_enforced_on_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (_, acme) = create_key(
        dir.path(),
        "acme",
        "timer.read,timer.write,timer.cancel",
        &[],
    );
    let (_, reader) = create_key(dir.path(), "acme", "timer.read", &[]);
    let (_, globex) = create_key(
        dir.path(),
        "globex",
        "timer.read,timer.write,timer.cancel",
        &[],
    );
    let (_, admin) = create_key(dir.path(), "ops", "tenant.admin", &[]);
    // No --dev: nothing is seeded.
    let args = [
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "--key-cache-ttl".to_owned(),
        "0s".to_owned(),
    ];
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let (url, http) = (server.url.clone(), http());

    // 401: no key, an unknown key (the dev key was not seeded), a malformed Authorization.
    for request in [
        http.get(format!("{url}/timers")),
        http.get(format!("{url}/timers"))
            .header("x-api-key", "local-dev-key"),
        http.get(format!("{url}/timers"))
            .header("authorization", "Basic eDp5"),
    ] {
        let (status, body) = call(request).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            "{body}"
        );
    }
    let status = client_with_key(&url, "local-dev-key", "acme")
        .await
        .list(proto::ListTimersRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(status, Error::Unauthenticated(_)), "{status:?}");

    // x-api-key and Authorization: Bearer both work; the key decides the tenant.
    let (status, timer) = call(
        http.post(format!("{url}/timers"))
            .header("authorization", format!("Bearer {acme}"))
            .json(&json!({"name": "acme-secret", "duration": "1h"})),
    )
    .await;
    assert_eq!(
        (status, timer["tenantId"].as_str()),
        (StatusCode::CREATED, Some("acme"))
    );
    let id = timer["id"].as_str().unwrap().to_owned();

    // 403: a read-only key cannot write or cancel; it can read.
    let (status, body) = call(
        http.post(format!("{url}/timers"))
            .header("x-api-key", &reader)
            .json(&json!({"name": "x", "duration": "1h"})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timer.write")
    );
    let (status, _) = call(
        http.post(format!("{url}/timers/{id}/cancel"))
            .header("x-api-key", &reader),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        http.get(format!("{url}/timers/{id}"))
            .header("x-api-key", &reader),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Tenant isolation: globex cannot get, list, cancel or stream acme's timers.
    let as_globex = |r: reqwest::RequestBuilder| r.header("x-api-key", &globex);
    let (status, _) = call(as_globex(http.get(format!("{url}/timers/{id}")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(as_globex(http.delete(format!("{url}/timers/{id}")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(as_globex(http.post(format!("{url}/timers/{id}/cancel")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = call(as_globex(http.get(format!("{url}/timers")))).await;
    assert_eq!(
        (status, list["timers"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    // Naming acme explicitly is refused, not answered.
    let (status, body) =
        call(as_globex(http.get(format!("{url}/timers"))).header("x-tenant-id", "acme")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    let (status, _) = call(as_globex(http.get(format!("{url}/timers?tenantId=acme")))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        call(as_globex(http.get(format!("{url}/timers/stream"))).header("x-tenant-id", "acme"))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Over gRPC: the same answers, and globex's stream never carries acme's events.
    let grpc_globex = client_with_key(&url, &globex, "globex").await;
    assert!(matches!(
        grpc_globex.get(&id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        grpc_globex.cancel(&id, "mine now").await,
        Err(Error::NotFound(_))
    ));
    let pretending = client_with_key(&url, &globex, "acme").await;
    assert!(matches!(
        pretending.get(&id).await,
        Err(Error::PermissionDenied(_))
    ));
    let mut globex_events = grpc_globex
        .stream(minoots::StreamOptions::default().after_sequence(0))
        .await
        .unwrap();
    let grpc_acme = client_with_key(&url, &acme, "acme").await;
    grpc_acme
        .schedule(TimerSpec::new("acme-soon", Duration::from_millis(50)))
        .await
        .unwrap();
    let own = grpc_globex
        .schedule(TimerSpec::new("globex-soon", Duration::from_millis(100)))
        .await
        .unwrap();
    let seen = tokio::time::timeout(WAIT, async {
        let mut seen = Vec::new();
        while let Some(event) = globex_events.next().await {
            let event = event.unwrap();
            seen.push(event.tenant_id.clone());
            if event.timer_id == own.id && event.event_type() == proto::TimerEventType::Settled {
                return seen;
            }
        }
        panic!("stream ended")
    })
    .await
    .unwrap();
    assert!(seen.iter().all(|t| t == "globex"), "{seen:?}");

    // Admin endpoints: only tenant.admin; keys made there work at once and revoke at once.
    let (status, _) = call(
        http.get(format!("{url}/admin/keys"))
            .header("x-api-key", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let as_admin = |r: reqwest::RequestBuilder| r.header("x-api-key", &admin);
    let (status, created) = call(
        as_admin(http.post(format!("{url}/admin/keys"))).json(&json!({
            "tenantId": "initech", "name": "bot", "roles": ["timer.read"]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (new_id, new_secret) = (
        created["key"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(created["key"]["tenantId"], "initech");
    let (status, body) = call(
        as_admin(http.post(format!("{url}/admin/keys"))).json(&json!({
            "tenantId": "initech", "roles": ["timer.fly"]
        })),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["fieldViolations"][0]["field"].as_str()
        ),
        (StatusCode::BAD_REQUEST, Some("roles[0]"))
    );
    let (status, list) = call(
        http.get(format!("{url}/timers"))
            .header("x-api-key", &new_secret),
    )
    .await;
    assert_eq!(
        (status, list["timers"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (_, keys) = call(as_admin(
        http.get(format!("{url}/admin/keys?tenantId=initech")),
    ))
    .await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("secret").is_none() && keys[0]["revokedAt"].is_null());
    let (status, revoked) = call(as_admin(http.delete(format!("{url}/admin/keys/{new_id}")))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["key"]["revokedAt"].is_string());
    let (status, _) = call(
        http.get(format!("{url}/timers"))
            .header("x-api-key", &new_secret),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(as_admin(http.delete(format!("{url}/admin/keys/key_nope")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An admin key may act for any tenant, and sees what that tenant sees.
    let (status, timer) =
        call(as_admin(http.get(format!("{url}/timers/{id}"))).header("x-tenant-id", "acme")).await;
    assert_eq!(
        (status, timer["name"].as_str()),
        (StatusCode::OK, Some("acme-secret"))
    );

    // `minoots keys revoke` from another process: refused on the next call (cache TTL 0 here).
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["keys", "list", "--json", "--tenant", "acme", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let reader_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["roles"] == json!(["timer.read"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["keys", "revoke", &reader_id, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let (status, body) = call(
        http.get(format!("{url}/timers/{id}"))
            .header("x-api-key", &reader),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_seeds_the_local_key_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = [
        "--dev".to_owned(),
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
    ];
    let server = Server::run("serve", &args, Stdio::from(log.reopen().unwrap())).await;
    let (status, timer) = call(
        http()
            .post(format!("{}/timers", server.url))
            .header("x-api-key", "local-dev-key")
            .json(&json!({"name": "hello", "duration": "15m"})),
    )
    .await;
    assert_eq!(
        (status, timer["tenantId"].as_str()),
        (StatusCode::CREATED, Some("tenant-local"))
    );
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("local-dev-key") && logged.contains("--dev"),
        "{logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_the_rate_limit_answer_429() {
    let dir = tempfile::tempdir().unwrap();
    // One request per 10 s after a burst of 2: nothing refills during the test.
    let tiers = "standard=1000:2000,slow=0.1:2";
    let (_, slow) = create_key(
        dir.path(),
        "acme",
        "timer.read",
        &["--tier", "slow", "--rate-limits", tiers],
    );
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--rate-limits",
        tiers,
        "--quota-active-timers",
        "2",
        "--quota-daily-timers",
        "3",
    ]
    .map(str::to_owned)
    .to_vec();
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let (url, http) = (server.url.clone(), common::http());
    let schedule = |name: &str| {
        http.post(format!("{url}/timers"))
            .header("x-tenant-id", "acme")
            .json(&json!({"name": name, "duration": "1h"}))
    };

    // Burst: two active timers, the third is refused until one finishes.
    let (status, first) = call(schedule("a")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(call(schedule("b")).await.0, StatusCode::CREATED);
    let (status, body) = call(schedule("c")).await;
    assert_eq!(
        (status, code(&body), body["error"]["limitType"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            Some("burst")
        )
    );
    let grpc = common::client(&url, "acme").await;
    match grpc
        .schedule(TimerSpec::new("c", Duration::from_secs(3_600)))
        .await
    {
        Err(Error::QuotaExceeded { limit_type, .. }) => assert_eq!(limit_type, "burst"),
        other => panic!("expected a burst quota error, got {other:?}"),
    }
    let (status, _) = call(
        http.post(format!(
            "{url}/timers/{}/cancel",
            first["id"].as_str().unwrap()
        ))
        .header("x-tenant-id", "acme"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Daily: the third timer of the day fits, the fourth does not, even with a free slot.
    assert_eq!(call(schedule("c")).await.0, StatusCode::CREATED);
    let (status, _) = call(
        http.delete(format!("{url}/timers/{}", first["id"].as_str().unwrap()))
            .header("x-tenant-id", "acme"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "already cancelled");
    let (status, body) = call(schedule("d")).await;
    assert_eq!(
        (status, body["error"]["limitType"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("daily"))
    );
    match grpc
        .schedule(TimerSpec::new("d", Duration::from_secs(3_600)))
        .await
    {
        Err(Error::QuotaExceeded { limit_type, .. }) => assert_eq!(limit_type, "daily"),
        other => panic!("expected a daily quota error, got {other:?}"),
    }
    // Quotas are per tenant: globex is untouched.
    let (status, _) = call(
        http.post(format!("{url}/timers"))
            .header("x-tenant-id", "globex")
            .json(&json!({"name": "g", "duration": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // An admin raises acme's limits; they apply at once.
    let (status, limits) = call(
        http.put(format!("{url}/admin/tenants/acme/limits"))
            .json(&json!({"activeTimers": 10, "dailyTimers": 10})),
    )
    .await;
    assert_eq!(
        (status, limits["dailyTimers"].as_u64()),
        (StatusCode::OK, Some(10))
    );
    assert_eq!(call(schedule("d")).await.0, StatusCode::CREATED);
    let (_, limits) = call(http.get(format!("{url}/admin/tenants/globex/limits"))).await;
    assert_eq!(
        (
            limits["activeTimers"].as_u64(),
            limits["dailyTimers"].as_u64()
        ),
        (Some(2), Some(3))
    );

    // Rate limit: the slow tier allows a burst of 2, then 429 with Retry-After.
    let list = || http.get(format!("{url}/timers")).header("x-api-key", &slow);
    assert_eq!(call(list()).await.0, StatusCode::OK);
    assert_eq!(call(list()).await.0, StatusCode::OK);
    let response = list().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((9..=10).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["limitType"], "rate");
    let retry_ms = body["error"]["retryAfterMs"].as_u64().unwrap();
    assert!((9_000..=10_000).contains(&retry_ms), "{retry_ms}");
    let limited = client_with_key(&url, &slow, "acme").await;
    match limited.list(proto::ListTimersRequest::default()).await {
        Err(Error::QuotaExceeded {
            limit_type,
            retry_after,
            ..
        }) => {
            assert_eq!(limit_type, "rate");
            assert!(retry_after.is_some());
        }
        other => panic!("expected the rate limit over gRPC, got {other:?}"),
    }
}

/// A gRPC event stream opened with `key`, as the raw generated client sees it.
async fn grpc_stream(url: &str, key: &str) -> tonic::Streaming<proto::TimerEvent> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = proto::timer_service_client::TimerServiceClient::new(channel);
    let mut request = tonic::Request::new(proto::StreamTimerEventsRequest::default());
    request
        .metadata_mut()
        .insert("x-api-key", key.parse().unwrap());
    client
        .stream_timer_events(request)
        .await
        .unwrap()
        .into_inner()
}

/// Reads an open stream until it ends; panics if it is still open after `within`.
async fn grpc_stream_end(
    mut stream: tonic::Streaming<proto::TimerEvent>,
    within: Duration,
) -> tonic::Status {
    tokio::time::timeout(within, async move {
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without an error"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream is still open after its key was revoked")
}

async fn sse_stream_end(response: reqwest::Response, within: Duration) -> String {
    tokio::time::timeout(within, async move {
        let mut body = response.bytes_stream();
        let mut text = String::new();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        text
    })
    .await
    .expect("the SSE stream is still open after its key was revoked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_ends_the_streams_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (_, admin) = create_key(dir.path(), "ops", "tenant.admin", &[]);
    let (elsewhere_id, elsewhere) = create_key(dir.path(), "acme", "timer.read", &[]);
    let args = [
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "--key-cache-ttl".to_owned(),
        "1s".to_owned(),
    ];
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let (url, http) = (server.url.clone(), http());
    let mut keys = Vec::new();
    for name in ["grpc", "sse"] {
        let (status, created) = call(
            http.post(format!("{url}/admin/keys"))
                .header("x-api-key", &admin)
                .json(&json!({"tenantId": "acme", "name": name, "roles": ["timer.read"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        keys.push((
            created["key"]["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        ));
    }
    let grpc = grpc_stream(&url, &keys[0].1).await;
    let sse = http
        .get(format!("{url}/timers/stream"))
        .header("x-api-key", &keys[1].1)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let other = grpc_stream(&url, &elsewhere).await;

    // Revoked through this gateway's admin API: the streams end at once.
    for (id, _) in &keys {
        let (status, _) = call(
            http.delete(format!("{url}/admin/keys/{id}"))
                .header("x-api-key", &admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let status = grpc_stream_end(grpc, Duration::from_secs(2)).await;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let text = sse_stream_end(sse, Duration::from_secs(2)).await;
    assert!(
        text.contains("event: error") && text.contains("UNAUTHENTICATED"),
        "{text}"
    );

    // Revoked by another process (the CLI): within the key cache TTL and a re-check.
    let revoke = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["keys", "revoke", &elsewhere_id, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let status = grpc_stream_end(other, Duration::from_secs(5)).await;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
}
