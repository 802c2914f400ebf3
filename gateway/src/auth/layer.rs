//! Authorization as a layer: a route declares its role where it is declared
//! (`.route_layer(require(&auth, Role::TimerRead))`, or around a gRPC method's service), and the
//! layer authenticates, rate-limits, checks the role and hands the [`Principal`] to the handler
//! in the request's extensions. Refusals answer in the request's protocol: a gRPC status for
//! gRPC (and gRPC-web, which the gRPC-web layer outside translates), the JSON error otherwise.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::response::{IntoResponse, Response};
use tonic::Status;
use tower::ServiceExt as _;

use super::{Auth, AuthError, Principal, Role};

/// The layer that admits a request with `role` (`None`: any valid key).
pub fn require(auth: &Arc<Auth>, role: impl Into<Option<Role>>) -> Require {
    Require {
        auth: auth.clone(),
        role: role.into(),
    }
}

/// What a route requires: a valid key, with `role` when one is named.
#[derive(Clone)]
pub struct Require {
    auth: Arc<Auth>,
    role: Option<Role>,
}

impl<S> tower::Layer<S> for Require {
    type Service = Admitted<S>;

    fn layer(&self, inner: S) -> Admitted<S> {
        Admitted {
            rule: self.clone(),
            inner,
        }
    }
}

/// A service behind [`Require`].
#[derive(Clone)]
pub struct Admitted<S> {
    rule: Require,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Admitted<S>
where
    S: tower::Service<http::Request<B>, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is checked on the clone that serves the call (oneshot).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let rule = self.rule.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            match rule.auth.admit(request.headers(), rule.role).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    let response = inner.oneshot(request).await?;
                    Ok(response.into_response())
                }
                Err(error) => Ok(refuse(request.headers(), error)),
            }
        })
    }
}

fn refuse(headers: &http::HeaderMap, error: AuthError) -> Response {
    let status = Status::from(error);
    let grpc = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"));
    if grpc {
        status.into_http::<axum::body::Body>()
    } else {
        crate::rest::error::ApiError(status).into_response()
    }
}

/// The principal the layer admitted. A route without the layer has none: that is a wiring
/// mistake, answered as UNAUTHENTICATED rather than served.
pub fn principal(extensions: &http::Extensions) -> Result<&Principal, AuthError> {
    extensions.get::<Principal>().ok_or_else(|| {
        AuthError::Unauthenticated("this route is not behind the authorization layer".to_owned())
    })
}
