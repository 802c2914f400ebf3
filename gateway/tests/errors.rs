//! Hostile and malformed input answers as a client error that names its field, in a bounded
//! size, on REST and gRPC, against the real `minoots` binary.

mod common;

use common::{DEV_KEY, Server, http};
use minoots::proto;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::Value;
use tonic::Code;
use tonic_types::StatusExt as _;

async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Server::start(dir.path()).await, dir)
}

/// (HTTP status, the JSON body, its size in bytes).
async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value, usize) {
    let response = request.header("x-tenant-id", "acme").send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: not the JSON error: {text:?}"));
    (status, json, text.len())
}

fn field(body: &Value) -> &str {
    body["error"]["fieldViolations"][0]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_999_term_label_selector_is_400_naming_the_field_not_503() {
    let (server, _dir) = server().await;
    let selector = (0..999)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let (status, body, _) = call(
        http()
            .get(format!("{}/timers", server.url))
            .query(&[("labelSelector", &selector)]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(field(&body), "labelSelector");
    assert!(body["error"].get("retryAfterMs").is_none(), "{body}");

    let mut raw = common::raw_client(&server.url).await;
    let status = raw
        .list_timers(proto::ListTimersRequest {
            tenant_id: "acme".into(),
            label_selector: selector,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "label_selector"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_quote_long_inputs_instead_of_echoing_them() {
    let (server, _dir) = server().await;
    let url = &server.url;
    let long = "x".repeat(60_000);
    for path in [
        format!("/timers/{long}"),
        format!("/dead-letters/{long}"),
        format!("/timers?status={long}"),
    ] {
        let (status, body, size) = call(http().get(format!("{url}{path}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path:.40}: {body:.200}");
        assert!(size < 1_000, "{path:.40}: a {size}-byte error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("(60000 bytes)"),
            "{body}"
        );
    }
    let (status, body, size) = call(http().delete(format!("{url}/admin/keys/{long}"))).await;
    assert_eq!((status, field(&body)), (StatusCode::BAD_REQUEST, "id"));
    assert!(size < 1_000);

    // Over gRPC a long message would not fit in the grpc-message header.
    let mut raw = common::raw_client(url).await;
    let status = raw
        .get_timer(proto::GetTimerRequest {
            tenant_id: "acme".into(),
            id: "y".repeat(100_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() < 300, "{}", status.message().len());
    let mut dead_letters =
        minoots_proto::v1::dead_letter_service_client::DeadLetterServiceClient::with_interceptor(
            tonic::transport::Endpoint::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
            common::DevKey,
        );
    let status = dead_letters
        .get_dead_letter(proto::GetDeadLetterRequest {
            tenant_id: "acme".into(),
            id: "y".repeat(100_000),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_and_large_bodies_answer_the_json_error() {
    let (server, _dir) = server().await;
    let url = &server.url;
    for (path, parameter) in [
        ("/timers?pageSize=-1", "pageSize"),
        ("/timers?pageSize=many", "pageSize"),
        (
            "/timers/stream?afterSequence=18446744073709551616",
            "afterSequence",
        ),
        ("/dead-letters?includeResolved=maybe", "includeResolved"),
        ("/dead-letters?limit=-5", "limit"),
    ] {
        let (status, body, _) = call(http().get(format!("{url}{path}"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str(), field(&body)),
            (StatusCode::BAD_REQUEST, Some("INVALID_ARGUMENT"), parameter),
            "{path}: {body}"
        );
    }
    let big = format!(
        "{{\"name\":\"big\",\"duration\":\"1h\",\"metadata\":{{\"a\":\"{}\"}}}}",
        "z".repeat(2 * 1024 * 1024)
    );
    let (status, body, _) = call(
        http()
            .post(format!("{url}/timers"))
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(field(&body), "body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_limits_check_the_tenant_and_not_found_says_what() {
    let (server, _dir) = server().await;
    let url = &server.url;
    let (status, body, _) =
        call(http().get(format!("{url}/admin/tenants/not%20a%20tenant!/limits"))).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::BAD_REQUEST, "tenantId"),
        "{body}"
    );
    let (status, _, _) = call(http().get(format!("{url}/admin/tenants/acme/limits"))).await;
    assert_eq!(status, StatusCode::OK);

    let missing = "0195a3c4-0000-7000-8000-000000000000";
    for (path, what) in [
        (format!("/timers/{missing}"), "timer "),
        (format!("/dead-letters/{missing}.0"), "dead letter "),
    ] {
        let (status, body, _) = call(http().get(format!("{url}{path}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with(what),
            "{path}: {body}"
        );
    }
    let (status, body, _) = call(http().delete(format!("{url}/admin/keys/key_nope"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"], "API key \"key_nope\" not found",
        "{body}"
    );
}

/// One gRPC call with `message` as its raw frame; `declared` overrides the frame's length.
async fn raw_grpc(url: &str, path: &str, message: &[u8], declared: Option<u32>) -> tonic::Status {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut frame = vec![0u8];
    frame.extend(declared.unwrap_or(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    let response = client
        .post(format!("{url}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-api-key", DEV_KEY)
        .header("x-tenant-id", "acme")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tonic::Status::from_header_map(response.headers())
        .unwrap_or_else(|| panic!("{path}: no status in the headers: {response:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_protobuf_is_invalid_argument_on_every_service() {
    let (server, _dir) = server().await;
    let url = &server.url;
    let get = proto::GetTimerRequest {
        tenant_id: "acme".into(),
        id: "0195a3c4-0000-7000-8000-000000000000".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let cases: [(&str, Vec<u8>, Option<u32>, &str); 6] = [
        // field 3 (name), two bytes that are not UTF-8
        (
            "/minoots.v1.TimerService/ScheduleTimer",
            vec![0x1a, 2, 0xff, 0xfe],
            None,
            "name",
        ),
        // a message cut short inside its last field
        (
            "/minoots.v1.TimerService/GetTimer",
            get[..get.len() - 5].to_vec(),
            None,
            "id",
        ),
        // a frame whose length prefix promises more than the body holds
        (
            "/minoots.v1.TimerService/GetTimer",
            get.clone(),
            Some(get.len() as u32 + 100),
            "request",
        ),
        (
            "/minoots.v1.TimerService/StreamTimerEvents",
            vec![0x22, 1, 0xff],
            None,
            "label_selector",
        ),
        (
            "/minoots.v1.DeadLetterService/GetDeadLetter",
            vec![0x12, 1, 0xff],
            None,
            "id",
        ),
        (
            "/grpc.health.v1.Health/Check",
            vec![0x0a, 1, 0xff],
            None,
            "service",
        ),
    ];
    for (path, message, declared, expected) in cases {
        let status = raw_grpc(url, path, &message, declared).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        let violations = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(
            violations.first().map(|v| v.field.as_str()),
            Some(expected),
            "{path}: {status:?}"
        );
    }
}
