//! The public door of MINOOTS: one listener serving `minoots.v1.TimerService` over gRPC and
//! gRPC-web (browsers, with CORS), the REST/JSON and Server-Sent Events API of the original control
//! plane, and the standard gRPC health and reflection services, in front of an in-process kernel.

pub mod http_error;
pub mod metrics;
pub mod rest;

use std::future::Future;

use minoots_kernel::{
    Kernel,
    grpc::{TimerService, TimerServiceServer},
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::pb::health_server::HealthServer;
use tower::Layer as _;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves every service on `listener` until `shutdown` resolves, then drains in-flight calls.
/// Call [`Kernel::close_streams`] as part of `shutdown`, or open event streams keep the drain
/// waiting.
pub async fn serve(
    listener: TcpListener,
    kernel: Kernel,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<TimerServiceServer<TimerService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(minoots_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // gRPC-web is translated per gRPC service: applied server-wide it would refuse every plain
    // HTTP/1.1 request, REST and SSE included.
    let web = tonic_web::GrpcWebLayer::new();
    let router = axum::Router::new()
        .route_service(
            &grpc_path::<TimerServiceServer<TimerService>>(),
            web.layer(TimerService::new(kernel.clone()).into_server()),
        )
        .route_service(
            &grpc_path::<HealthServer<HealthService>>(),
            web.layer(health_service),
        )
        .route_service(REFLECTION_PATH, web.layer(reflection))
        .merge(rest::router(kernel.clone()));
    let requests = std::sync::Arc::new(metrics::RequestMetrics::default());
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            metrics::count,
        ))
        .merge(metrics::router(kernel, requests));
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
    /// Serves `kernel` on `listener` until [`Running::stop`].
    pub fn spawn(listener: TcpListener, kernel: Kernel) -> std::io::Result<Self> {
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = {
                let kernel = kernel.clone();
                async move {
                    let _ = stopped.await;
                    kernel.close_streams();
                }
            };
            serve(listener, kernel, shutdown).await
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
