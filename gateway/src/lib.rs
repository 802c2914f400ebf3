//! The public door of MINOOTS: one listener serving `minoots.v1.TimerService` over gRPC and
//! gRPC-web (browsers, with CORS), the REST/JSON and Server-Sent Events API of the original control
//! plane, and the standard gRPC health and reflection services, in front of an in-process kernel.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod grpc;
pub mod http_error;
pub mod metrics;
pub mod rest;
pub mod setup;
pub mod telemetry;

use std::{convert::Infallible, future::Future, sync::Arc};

use futures_util::StreamExt as _;
use minoots_kernel::{Kernel, KernelError, store::Store};
use minoots_proto::v1::StreamTimerEventsRequest;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::{Status, server::NamedService};
use tonic_health::pb::health_server::HealthServer;
use tower::Layer as _;

use crate::{
    auth::{Auth, AuthConfig, Role},
    backend::{Backend, EventStream, Regions, Target},
};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// The gateway's state: who may call (auth) and where calls go (backend). Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<GatewayInner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

struct GatewayInner {
    auth: Auth,
    backend: Backend,
    /// Where keys and tenant limits live (the kernel's store, or the shared database).
    store: Arc<dyn Store>,
    kernel: Option<Kernel>,
    streams: CancellationToken,
}

impl Gateway {
    /// In front of the kernel in this process (`minoots serve`); keys live in its store.
    pub fn local(kernel: Kernel, auth: AuthConfig) -> Result<Self, GatewayError> {
        let store = kernel.store();
        Self::new(Backend::Local(kernel.clone()), store, Some(kernel), auth)
    }

    /// In front of remote kernels (`minoots gateway`); keys live in `store`.
    pub fn remote(
        regions: Regions,
        store: Arc<dyn Store>,
        auth: AuthConfig,
    ) -> Result<Self, GatewayError> {
        Self::new(Backend::Remote(Arc::new(regions)), store, None, auth)
    }

    fn new(
        backend: Backend,
        store: Arc<dyn Store>,
        kernel: Option<Kernel>,
        auth: AuthConfig,
    ) -> Result<Self, GatewayError> {
        Ok(Self {
            inner: Arc::new(GatewayInner {
                auth: Auth::new(store.clone(), auth).map_err(GatewayError::Config)?,
                backend,
                store,
                kernel,
                streams: CancellationToken::new(),
            }),
        })
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The in-process kernel, when there is one.
    pub fn kernel(&self) -> Option<&Kernel> {
        self.inner.kernel.as_ref()
    }

    /// Authorizes a call (see [`Auth::authorize`]) and says where it goes.
    pub async fn authorize(
        &self,
        headers: &http::HeaderMap,
        role: Role,
        field: &str,
    ) -> Result<Target, KernelError> {
        let caller = self.inner.auth.authorize(headers, role, field).await?;
        Ok(Target {
            tenant: caller.tenant,
            region: caller.region,
        })
    }

    /// An event stream that ends when the gateway shuts down.
    pub async fn subscribe(
        &self,
        target: &Target,
        request: StreamTimerEventsRequest,
    ) -> Result<EventStream, Status> {
        let events = self.inner.backend.subscribe(target, request).await?;
        let closed = self.inner.streams.clone().cancelled_owned();
        Ok(Box::pin(events.take_until(closed)))
    }

    /// Ends every open event stream, so a graceful shutdown does not wait on them.
    pub fn close_streams(&self) {
        self.inner.streams.cancel();
        if let Some(kernel) = &self.inner.kernel {
            kernel.close_streams();
        }
    }
}

/// Serves the public door for `gateway` on `listener` until `shutdown` resolves, then drains
/// in-flight calls. Call [`Gateway::close_streams`] as part of `shutdown`, or open event streams
/// keep the drain waiting.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let router = grpc_routes(grpc::TimerService::new(gateway.clone()))
        .await?
        .route_service(
            &grpc_path::<grpc::DeadLetterServiceServer<grpc::DeadLetterService>>(),
            tonic_web::GrpcWebLayer::new().layer(grpc::DeadLetterService::new(gateway.clone())),
        )
        .merge(rest::router(gateway.clone()))
        .merge(admin::router(gateway.clone()));
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
        .merge(metrics::router(gateway.kernel().cloned(), requests));
    serve_router(listener, router, shutdown).await
}

/// Serves a kernel's own TimerService (`minoots kernel`) for gateways to call: no API keys (the
/// tenant comes from `x-tenant-id`), so bind it to a private network only.
pub async fn serve_kernel(
    listener: TcpListener,
    kernel: Kernel,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let service = minoots_kernel::grpc::TimerService::new(kernel.clone()).into_server();
    let requests = Arc::new(metrics::RequestMetrics::default());
    let dead_letters = minoots_kernel::grpc::DeadLetterService::new(kernel.clone());
    let router = grpc_routes(service)
        .await?
        .route_service(
            &grpc_path::<
                minoots_kernel::grpc::DeadLetterServiceServer<
                    minoots_kernel::grpc::DeadLetterService,
                >,
            >(),
            dead_letters,
        )
        .merge(rest::probes(Backend::Local(kernel.clone())))
        .route_layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            metrics::count,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            "horology.kernel.rpc",
            trace_request,
        ))
        .merge(metrics::router(Some(kernel), requests));
    serve_router(listener, router, shutdown).await
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

/// TimerService, health and reflection, each also reachable over gRPC-web.
async fn grpc_routes<S>(timers: S) -> Result<axum::Router, GatewayError>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(S::NAME, tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(minoots_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // gRPC-web is translated per gRPC service: applied server-wide it would refuse every plain
    // HTTP/1.1 request, REST and SSE included.
    let web = tonic_web::GrpcWebLayer::new();
    Ok(axum::Router::new()
        .route_service(&format!("/{}/{{*method}}", S::NAME), web.layer(timers))
        .route_service(
            &grpc_path::<HealthServer<HealthService>>(),
            web.layer(health_service),
        )
        .route_service(REFLECTION_PATH, web.layer(reflection)))
}

async fn serve_router(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        // HTTP/1.1 for REST, SSE and gRPC-web; gRPC itself stays on HTTP/2.
        .accept_http1(true)
        .layer(cors())
        .add_routes(tonic::service::Routes::from(router))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

fn grpc_path<S: tonic::server::NamedService>() -> String {
    format!("/{}/{{*method}}", S::NAME)
}

type HealthService = tonic_health::server::HealthService;
const REFLECTION_PATH: &str = "/grpc.reflection.v1.ServerReflection/{*method}";

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

/// A server running in the background, for embedding (benchmarks, tests, other binaries).
#[derive(Debug)]
pub struct Running {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

impl Running {
    /// Serves `gateway` on `listener` until [`Running::stop`].
    pub fn spawn(listener: TcpListener, gateway: Gateway) -> std::io::Result<Self> {
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = {
                let gateway = gateway.clone();
                async move {
                    let _ = stopped.await;
                    gateway.close_streams();
                }
            };
            serve(listener, gateway, shutdown).await
        });
        Ok(Self {
            url,
            stop: Some(stop),
            task,
        })
    }

    /// Ends open streams, drains in-flight calls and waits for the server to stop. The kernel
    /// keeps running: shut it down after.
    pub async fn stop(mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("the server task panicked")
    }
}
