//! One trace from the schedule call to the action: an OTLP collector (the opentelemetry-proto
//! TraceService) runs in this test, the real binary exports to it, and a webhook receiver checks
//! the `traceparent` it is sent.

mod common;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post};
use common::{Server, WAIT};
use minoots::proto;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use serde_json::json;
use tokio_stream::StreamExt;

#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Span {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn hook(State(seen): State<Arc<Mutex<Vec<HeaderMap>>>>, headers: HeaderMap) -> &'static str {
    seen.lock().unwrap().push(headers);
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_schedule_call_through_the_fire_to_the_webhook() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let service = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(receiver, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
    ]
    .map(str::to_owned)
    .to_vec();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = Server::run_with_env("serve", &args, &env, Stdio::inherit()).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();

    // The caller's trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = common::http()
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(
            &json!({"name": "traced", "duration": "50ms", "actionBundle": {
                "actions": [{"type": "webhook", "url": hook_url}],
            }}),
        )
        .send()
        .await
        .unwrap();
    let timer: serde_json::Value = response.json().await.unwrap();
    let id = timer["id"].as_str().unwrap().to_owned();
    assert!(
        timer["traceParent"].as_str().unwrap().contains(trace_id),
        "{timer}"
    );

    // Events carry the trace id; the webhook continues the trace.
    let settled = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.next().await.unwrap().unwrap();
            if event.timer_id == id && event.event_type() == proto::TimerEventType::Settled {
                return event;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(settled.trace_id, trace_id);
    let payload: serde_json::Value = serde_json::from_slice(&settled.payload).unwrap();
    assert_eq!(payload["traceId"], trace_id);
    let traceparent = seen.lock().unwrap()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );

    // The collector received the spans of this timer, all in the caller's trace.
    let wanted = [
        "minoots.gateway.POST /timers",
        "horology.kernel.schedule",
        "horology.kernel.fire",
        "horology.kernel.action",
    ];
    let spans = tokio::time::timeout(WAIT, async {
        loop {
            let spans: Vec<Span> = collector
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            if wanted.iter().all(|w| spans.iter().any(|s| s.name == *w)) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every span of the timer reaches the collector");
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();
    let (gateway, schedule, fire, action) = (
        span(wanted[0]),
        span(wanted[1]),
        span(wanted[2]),
        span(wanted[3]),
    );
    assert_eq!(
        gateway.parent, "00f067aa0ba902b7",
        "the gateway continues the caller's span"
    );
    assert_eq!(schedule.parent, gateway.span_id);
    assert_eq!(
        fire.parent, schedule.span_id,
        "the fire joins the schedule call"
    );
    assert_eq!(action.parent, fire.span_id);
    assert!(
        traceparent.contains(&action.span_id),
        "the webhook continues from the action span"
    );
    assert!(gateway.service.contains("minoots"), "{}", gateway.service);
}
