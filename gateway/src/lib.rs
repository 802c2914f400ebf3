//! The public door of MINOOTS: one listener serving `minoots.v1.TimerService` and
//! `ScheduleService` over gRPC and gRPC-web (browsers, with CORS), the REST/JSON and Server-Sent
//! Events API of the original control plane, and the standard gRPC health and reflection
//! services, in front of an in-process kernel.
//!
//! Rooms: [`auth`] (API keys, roles, rate limits, and the layer that applies them per route),
//! [`backend`] (where an authorized call goes: the local kernel or remote regions), [`grpc`] and
//! [`rest`] (thin handlers: decode, call, encode), [`server`] (the one listener that assembles
//! them), [`tls`] (the listener's certificates and handshakes), [`setup`] (opening stores and
//! starting kernels from flags), [`metrics`] and [`telemetry`]. The `minoots` binary (src/main.rs, one module per command in src/cmd/) is a
//! client of this library; the library itself never uses the client SDK.

pub mod auth;
pub mod backend;
pub mod console;
pub mod grpc;
pub mod metrics;
pub mod rest;
pub mod server;
pub mod setup;
pub mod telemetry;
pub mod tls;

/// Key JSON for the CLI.
pub use rest::admin;

use std::sync::Arc;

use futures_util::StreamExt as _;
use minoots_kernel::{Kernel, store::Store};
use minoots_proto::v1::StreamTimerEventsRequest;
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub use server::{serve, serve_kernel};

use crate::{
    auth::{Auth, AuthConfig, Principal},
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
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
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
    auth: Arc<Auth>,
    backend: Arc<dyn Backend>,
    /// Where keys and tenant limits live (the kernel's store, or the shared database).
    store: Arc<dyn Store>,
    kernel: Option<Kernel>,
    /// The regions of remote kernels, the primary first (none in front of a local kernel).
    regions: Vec<String>,
    streams: CancellationToken,
}

impl Gateway {
    /// In front of the kernel in this process (`minoots serve`); keys live in its store.
    pub fn local(kernel: Kernel, auth: AuthConfig) -> Result<Self, GatewayError> {
        let store = kernel.store();
        Self::new(
            Arc::new(kernel.clone()),
            store,
            Some(kernel),
            Vec::new(),
            auth,
        )
    }

    /// In front of remote kernels (`minoots gateway`); keys live in `store`.
    pub fn remote(
        regions: Regions,
        store: Arc<dyn Store>,
        auth: AuthConfig,
    ) -> Result<Self, GatewayError> {
        let names = regions.names_primary_first();
        Self::new(Arc::new(regions), store, None, names, auth)
    }

    fn new(
        backend: Arc<dyn Backend>,
        store: Arc<dyn Store>,
        kernel: Option<Kernel>,
        regions: Vec<String>,
        auth: AuthConfig,
    ) -> Result<Self, GatewayError> {
        Ok(Self {
            inner: Arc::new(GatewayInner {
                auth: Arc::new(Auth::new(store.clone(), auth).map_err(GatewayError::Config)?),
                backend,
                store,
                kernel,
                regions,
                streams: CancellationToken::new(),
            }),
        })
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.inner.auth
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The in-process kernel, when there is one.
    pub fn kernel(&self) -> Option<&Kernel> {
        self.inner.kernel.as_ref()
    }

    /// The regions calls may go to, the primary first; empty in front of a local kernel.
    pub fn regions(&self) -> &[String] {
        &self.inner.regions
    }

    /// An event stream for `principal` that ends when the gateway shuts down, and with
    /// UNAUTHENTICATED when the principal's key is revoked ([`Auth::revocation`]).
    pub async fn subscribe(
        &self,
        principal: &Principal,
        target: &Target,
        request: StreamTimerEventsRequest,
    ) -> Result<EventStream, Status> {
        let events = self.inner.backend.subscribe(target, request).await?;
        let closed = self.inner.streams.clone().cancelled_owned();
        let revoked = self.inner.auth.revocation(principal);
        Ok(Box::pin(
            UntilRevoked::new(events, revoked).take_until(closed),
        ))
    }

    /// Ends every open event stream, so a graceful shutdown does not wait on them.
    pub fn close_streams(&self) {
        self.inner.streams.cancel();
        if let Some(kernel) = &self.inner.kernel {
            kernel.close_streams();
        }
    }
}

/// `events` until the key is revoked, then that refusal as the last item.
struct UntilRevoked {
    events: EventStream,
    /// None once the stream has ended.
    revoked: Option<std::pin::Pin<Box<dyn std::future::Future<Output = auth::AuthError> + Send>>>,
}

impl UntilRevoked {
    fn new(
        events: EventStream,
        revoked: impl std::future::Future<Output = auth::AuthError> + Send + 'static,
    ) -> Self {
        Self {
            events,
            revoked: Some(Box::pin(revoked)),
        }
    }
}

impl futures_util::Stream for UntilRevoked {
    type Item = Result<minoots_proto::v1::TimerEvent, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        let Some(revoked) = this.revoked.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(error) = revoked.as_mut().poll(cx) {
            this.revoked = None;
            return Poll::Ready(Some(Err(error.into())));
        }
        let next = std::task::ready!(this.events.as_mut().poll_next(cx));
        if next.is_none() {
            this.revoked = None;
        }
        Poll::Ready(next)
    }
}

/// A server running in the background, for embedding (benchmarks, tests, other binaries).
#[derive(Debug)]
pub struct Running {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

impl Running {
    /// Serves `gateway` on `listener` (plain TCP or [`tls::Listener`]) until [`Running::stop`].
    pub fn spawn(listener: impl Into<tls::Listener>, gateway: Gateway) -> std::io::Result<Self> {
        let listener = listener.into();
        let url = listener.url()?;
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
