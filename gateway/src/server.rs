//! The one place the server is assembled: TimerService, ScheduleService and DeadLetterService
//! (each method behind the role it needs), health and reflection, each also over gRPC-web; REST,
//! SSE and the admin API; metrics and tracing layers; all on one listener, with or without TLS.

use std::{convert::Infallible, future::Future, sync::Arc};

use futures_util::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic_health::pb::health_server::HealthServer;
use tower::Layer as _;

use crate::{
    Gateway, GatewayError,
    auth::{Auth, Role, require},
    backend::Backend,
    console, grpc, metrics, rest,
    tls::{self, Listener},
};

/// Serves the public door for `gateway` on `listener` (a `TcpListener`, or a [`Listener`] with
/// TLS) until `shutdown` resolves, then drains in-flight calls. Call [`Gateway::close_streams`] as
/// part of `shutdown`, or open event streams keep the drain waiting.
pub async fn serve(
    listener: impl Into<Listener>,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    use Role::{TenantAdmin, TimerCancel, TimerRead, TimerWrite};
    let auth = gateway.auth();
    let timers = grpc::TimerService::new(gateway.clone());
    let schedules = grpc::ScheduleService::new(gateway.clone());
    let dead_letters = grpc::DeadLetterService::new(gateway.clone());
    let router = probe_routes(&[name_of(&timers), name_of(&schedules)])
        .await?
        .merge(guarded(
            timers,
            auth,
            &[
                ("ScheduleTimer", TimerWrite),
                ("ScheduleTimers", TimerWrite),
                ("GetTimer", TimerRead),
                ("ListTimers", TimerRead),
                ("CancelTimer", TimerCancel),
                ("UpdateTimer", TimerWrite),
                ("PauseTimer", TimerWrite),
                ("ResumeTimer", TimerWrite),
                ("CancelTimers", TimerCancel),
                ("PauseTimers", TimerWrite),
                ("ResumeTimers", TimerWrite),
                ("PauseTenant", TenantAdmin),
                ("ResumeTenant", TenantAdmin),
                ("GetTenantPause", TimerRead),
                ("StreamTimerEvents", TimerRead),
            ],
        ))
        .merge(guarded(
            schedules,
            auth,
            &[
                ("CreateSchedule", TimerWrite),
                ("GetSchedule", TimerRead),
                ("ListSchedules", TimerRead),
                ("UpdateSchedule", TimerWrite),
                ("PauseSchedule", TimerWrite),
                ("ResumeSchedule", TimerWrite),
                ("DeleteSchedule", TimerCancel),
                ("PreviewSchedule", TimerRead),
            ],
        ))
        .merge(guarded(
            dead_letters,
            auth,
            &[
                ("ListDeadLetters", TimerRead),
                ("GetDeadLetter", TimerRead),
                ("ReplayDeadLetter", TimerWrite),
                ("ReplayDeadLetters", TimerWrite),
            ],
        ))
        .merge(rest::router(gateway.clone()));
    let requests = Arc::new(metrics::RequestMetrics::default());
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            metrics::count,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            "minoots.gateway",
            trace_request,
        ))
        .merge(metrics::router(
            gateway.kernel().cloned(),
            requests,
            gateway.regions().to_vec(),
        ))
        .merge(console::router());
    serve_router(listener.into(), router, shutdown).await
}

/// A gRPC service with each method behind the role it needs (an unlisted method, which the
/// service answers UNIMPLEMENTED, needs any valid key), also over gRPC-web.
fn guarded<S>(service: S, auth: &Arc<Auth>, methods: &[(&str, Role)]) -> axum::Router
where
    S: GrpcService,
{
    let mut router = axum::Router::new();
    for (method, role) in methods {
        router = router.route_service(
            &format!("/{}/{method}", S::NAME),
            grpc_layers().layer(require(auth, *role).layer(service.clone())),
        );
    }
    router.route_service(
        &grpc_path::<S>(),
        grpc_layers().layer(require(auth, None).layer(service)),
    )
}

/// What every gRPC service is served behind: gRPC-web translation, and inside it the rewrite of
/// tonic's INTERNAL for an undecodable request to INVALID_ARGUMENT.
fn grpc_layers()
-> tower::layer::util::Stack<grpc::malformed::MalformedRequests, tonic_web::GrpcWebLayer> {
    tower::layer::util::Stack::new(
        grpc::malformed::MalformedRequests,
        tonic_web::GrpcWebLayer::new(),
    )
}

/// What a tonic-generated server is to the router.
trait GrpcService:
    tower::Service<
        http::Request<tonic::body::Body>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves a kernel's own TimerService, ScheduleService and DeadLetterService (`minoots kernel`)
/// for gateways to call: no API keys (the tenant comes from `x-tenant-id`), so bind it to a
/// private network only.
pub async fn serve_kernel(
    listener: impl Into<Listener>,
    kernel: minoots_kernel::Kernel,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let service = crate::grpc::kernel::TimerService::new(kernel.clone()).into_server();
    let requests = Arc::new(metrics::RequestMetrics::default());
    let schedules = crate::grpc::kernel::ScheduleService::new(kernel.clone());
    let dead_letters = crate::grpc::kernel::DeadLetterService::new(kernel.clone());
    let router = probe_routes(&[name_of(&service), name_of(&schedules)])
        .await?
        .route_service(&grpc_path_of(&service), grpc_layers().layer(service))
        .route_service(&grpc_path_of(&schedules), grpc_layers().layer(schedules))
        .route_service(
            &grpc_path_of(&dead_letters),
            grpc::malformed::MalformedRequests.layer(dead_letters),
        )
        .merge(rest::probes(Arc::new(kernel.clone()) as Arc<dyn Backend>))
        .route_layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            metrics::count,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            "horology.kernel.rpc",
            trace_request,
        ))
        .merge(metrics::router(Some(kernel), requests, Vec::new()));
    serve_router(listener.into(), router, shutdown).await
}

/// One server span per request, `<prefix>.<gRPC method>` or `<prefix>.<HTTP method> <route>`,
/// continuing the caller's trace when the request carries a `traceparent`.
async fn trace_request(
    axum::extract::State(prefix): axum::extract::State<&'static str>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let grpc = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"));
    let operation = if grpc {
        request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    } else {
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or_else(
                || request.uri().path().to_owned(),
                |p| p.as_str().to_owned(),
            );
        format!("{} {route}", request.method())
    };
    let name = format!("{prefix}.{operation}");
    let span = if prefix.starts_with("horology") {
        tracing::info_span!("horology.kernel.request", otel.name = %name, otel.kind = "server")
    } else {
        tracing::info_span!("minoots.gateway.request", otel.name = %name, otel.kind = "server")
    };
    let parent = minoots_kernel::trace::from_headers(request.headers());
    if opentelemetry::trace::TraceContextExt::span(&parent)
        .span_context()
        .is_valid()
    {
        let _ = span.set_parent(parent);
    }
    next.run(request).instrument(span).await
}

/// Health (reporting `services` as serving) and reflection, each also over gRPC-web.
async fn probe_routes(services: &[&str]) -> Result<axum::Router, GatewayError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in services {
        health
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }
    let descriptors = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(minoots_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = descriptors().build_v1()?;
    // v1alpha too: grpcio-reflection's client and older tools speak only that.
    let reflection_alpha = descriptors().build_v1alpha()?;
    // gRPC-web is translated per gRPC service: applied server-wide it would refuse every plain
    // HTTP/1.1 request, REST and SSE included.
    Ok(axum::Router::new()
        .route_service(
            &grpc_path::<HealthServer<HealthService>>(),
            grpc_layers().layer(health_service),
        )
        .route_service(REFLECTION_PATH, grpc_layers().layer(reflection))
        .route_service(
            REFLECTION_V1ALPHA_PATH,
            grpc_layers().layer(reflection_alpha),
        ))
}

async fn serve_router(
    listener: Listener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let server = tonic::transport::Server::builder()
        // HTTP/1.1 for REST, SSE and gRPC-web; gRPC itself stays on HTTP/2.
        .accept_http1(true)
        .layer(cors())
        .add_routes(tonic::service::Routes::from(router));
    // The builder's own TCP settings apply only to sockets it binds itself, so they are set here
    // on every accepted one.
    match listener.into_parts() {
        (tcp, None) => {
            let incoming = TcpListenerStream::new(tcp).map(|socket| {
                socket.inspect(|socket| {
                    let _ = socket.set_nodelay(true);
                })
            });
            server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await?
        }
        (tcp, Some(config)) => {
            server
                .serve_with_incoming_shutdown(tls::incoming(tcp, &config), shutdown)
                .await?
        }
    }
    Ok(())
}

fn grpc_path<S: NamedService>() -> String {
    format!("/{}/{{*method}}", S::NAME)
}

fn grpc_path_of<S: NamedService>(_: &S) -> String {
    grpc_path::<S>()
}

fn name_of<S: NamedService>(_: &S) -> &'static str {
    S::NAME
}

type HealthService = tonic_health::server::HealthService;
const REFLECTION_PATH: &str = "/grpc.reflection.v1.ServerReflection/{*method}";
const REFLECTION_V1ALPHA_PATH: &str = "/grpc.reflection.v1alpha.ServerReflection/{*method}";

/// Browsers may call from any origin (API keys, not cookies, authenticate); the gRPC-web status
/// trailers are exposed to scripts.
fn cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods(AllowMethods::any())
        .allow_headers(AllowHeaders::any())
        .expose_headers(
            [
                "grpc-status",
                "grpc-message",
                "grpc-status-details-bin",
                "retry-after",
            ]
            .map(http::HeaderName::from_static),
        )
        .max_age(std::time::Duration::from_secs(600))
}
