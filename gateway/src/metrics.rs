//! `GET /metrics` (Prometheus text format): requests by route and code, plus the kernel's timer
//! counters, lateness histogram, armed timers and stream subscribers, whether the kernel leads,
//! and a gateway's regions (the console's health view draws from these).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use minoots_kernel::Kernel;

/// Requests by (route, code). Routes are route patterns (`/timers/{id}`) or gRPC methods, so the
/// label set stays small. gRPC calls are counted with the status known when the response starts:
/// errors answered before any message (the usual case) carry their code, the rest count as 0.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

pub async fn count(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let grpc = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"));
    let route = if grpc {
        request.uri().path().to_owned()
    } else {
        request.extensions().get::<MatchedPath>().map_or_else(
            || request.uri().path().to_owned(),
            |p| p.as_str().to_owned(),
        )
    };
    let response = next.run(request).await;
    let code = if grpc {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_owned()
    } else {
        response.status().as_u16().to_string()
    };
    *metrics
        .counts
        .lock()
        .unwrap()
        .entry((route, code))
        .or_default() += 1;
    response
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `regions`: a gateway's regions, the primary first (empty in front of a local kernel).
pub fn router(
    kernel: Option<Kernel>,
    metrics: Arc<RequestMetrics>,
    regions: Vec<String>,
) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let kernel = kernel.clone();
            let metrics = metrics.clone();
            let regions = regions.clone();
            async move {
                let mut out = String::new();
                let _ = writeln!(
                    out,
                    "# HELP minoots_requests_total Requests by route and status code."
                );
                let _ = writeln!(out, "# TYPE minoots_requests_total counter");
                for ((route, code), n) in metrics.counts.lock().unwrap().iter() {
                    let _ = writeln!(
                        out,
                        "minoots_requests_total{{route=\"{}\",code=\"{}\"}} {n}",
                        escape(route),
                        escape(code)
                    );
                }
                if let Some(kernel) = &kernel {
                    kernel.render_metrics(&mut out);
                    let _ = writeln!(
                        out,
                        "# HELP minoots_kernel_leader 1 while this kernel holds the lead.\n# TYPE minoots_kernel_leader gauge\nminoots_kernel_leader {}",
                        u8::from(kernel.is_leader())
                    );
                }
                if !regions.is_empty() {
                    let _ = writeln!(
                        out,
                        "# HELP minoots_gateway_region The regions this gateway sends calls to.\n# TYPE minoots_gateway_region gauge"
                    );
                    for (i, region) in regions.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "minoots_gateway_region{{region=\"{}\",primary=\"{}\"}} 1",
                            escape(region),
                            i == 0
                        );
                    }
                }
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    out,
                )
                    .into_response()
            }
        }),
    )
}
