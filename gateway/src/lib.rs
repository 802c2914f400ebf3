//! The public door of MINOOTS. For now it serves `minoots.v1.TimerService` over gRPC, with the
//! standard health and reflection services, on one listener in front of an in-process kernel.

use std::future::Future;

use minoots_kernel::{
    Kernel,
    grpc::{TimerService, TimerServiceServer},
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

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
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(TimerService::new(kernel).into_server())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
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
