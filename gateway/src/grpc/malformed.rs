//! Requests that are not valid protobuf (invalid UTF-8 in a string, a truncated message or
//! frame) are the caller's mistake: INVALID_ARGUMENT naming the field, not the INTERNAL that
//! tonic's codec answers. [`MalformedRequests`] rewrites that status on the way out of every
//! gRPC service the server assembles (in the response headers of a trailers-only answer, or in
//! the trailers of a streaming one), inside the gRPC-web translation so browsers see it too.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The layer; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct MalformedRequests;

impl<S> tower::Layer<S> for MalformedRequests {
    type Service = Rewritten<S>;

    fn layer(&self, inner: S) -> Rewritten<S> {
        Rewritten { inner }
    }
}

/// A gRPC service behind [`MalformedRequests`].
#[derive(Debug, Clone)]
pub struct Rewritten<S> {
    inner: S,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for Rewritten<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(response.headers_mut());
            Ok(response.map(|body| Body::new(Trailers(Body::new(body)))))
        })
    }
}

/// A response body whose trailers get the same rewrite.
struct Trailers(Body);

impl http_body::Body for Trailers {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = ready!(Pin::new(&mut self.0).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    rewrite(&mut trailers);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

/// Replaces an INTERNAL status that reports a malformed request with INVALID_ARGUMENT.
fn rewrite(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(replacement) = (status.code() == Code::Internal)
        .then(|| invalid_argument(status.message()))
        .flatten()
    else {
        return;
    };
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    // Only fails for a message that is not a valid header value, which this one is.
    let _ = replacement.add_header(headers);
}

/// The INVALID_ARGUMENT status for tonic's message about a request it could not decode, with
/// the field path when protobuf names one (`metadata.fields`), else `request`.
pub fn invalid_argument(message: &str) -> Option<Status> {
    const DECODE: &str = "failed to decode Protobuf message: ";
    let (field, description) = if let Some(detail) = message.strip_prefix(DECODE) {
        // prost lists `Message.field: ` locations from the innermost out, then the problem.
        let mut fields = Vec::new();
        let mut rest = detail;
        while let Some((location, tail)) = rest.split_once(": ")
            && let Some((_, field)) = location.split_once('.')
            && !location.contains(' ')
        {
            fields.push(field);
            rest = tail;
        }
        fields.reverse();
        let field = if fields.is_empty() {
            "request".to_owned()
        } else {
            fields.join(".")
        };
        (field, rest.to_owned())
    } else if message == "Unexpected EOF decoding stream." {
        (
            "request".to_owned(),
            "the message is shorter than its frame's length prefix says".to_owned(),
        )
    } else if message.starts_with("protocol error: received message with") {
        ("request".to_owned(), message.to_owned())
    } else {
        return None;
    };
    let text = format!("{field}: not a valid protobuf message: {description}");
    Some(Status::with_error_details(
        Code::InvalidArgument,
        text,
        ErrorDetails::with_bad_request_violation(field, description),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_name_the_field() {
        let status = invalid_argument(
            "failed to decode Protobuf message: ScheduleTimerRequest.name: invalid string value: data is not UTF-8 encoded",
        )
        .unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        let violation = &status.get_details_bad_request().unwrap().field_violations[0];
        assert_eq!(violation.field, "name");
        assert_eq!(
            violation.description,
            "invalid string value: data is not UTF-8 encoded"
        );
        let status = invalid_argument(
            "failed to decode Protobuf message: Value.kind: Struct.fields: ScheduleTimerRequest.metadata: invalid varint",
        )
        .unwrap();
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "metadata.fields.kind"
        );
        let status = invalid_argument("failed to decode Protobuf message: invalid varint").unwrap();
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "request"
        );
        assert!(invalid_argument("Unexpected EOF decoding stream.").is_some());
        assert!(invalid_argument("internal error: corrupt timer row").is_none());
    }
}
