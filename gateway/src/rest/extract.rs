//! Extractors whose refusals are the JSON error of [`super::error`], never axum's plain text:
//! [`ApiQuery`] (query parameters, the error naming the parameter as the caller wrote it) and
//! [`RawBody`] (a body over the size limit answers 413 with the JSON error).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
    response::Response,
};
use serde::de::DeserializeOwned;

use super::error;

/// `Query<T>` whose rejection names the parameter: `pageSize=-1` answers 400 with
/// `fieldViolations: [{field: "pageSize", ...}]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(value)| Self(value))
            .map_err(error::query_rejection)
    }
}

/// The request body as bytes; over the body limit it answers 413 with the JSON error.
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(error::body_rejection)
    }
}
