//! The one mapping from a gRPC `Status` to an HTTP error response:
//! `{"error": {"code", "message", "fieldViolations", "limitType", "retryAfterMs"}}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// `action_bundle.actions[0].webhook.url` -> `actionBundle.actions[0].webhook.url`: REST callers
/// see the field names of the JSON they sent.
pub fn camel_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn retry_after_ms(status: &Status) -> Option<u64> {
    status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

pub fn http_status(status: &Status) -> StatusCode {
    match status.code() {
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // Not the leader: retry later or elsewhere. Any other precondition is a state conflict.
        Code::FailedPrecondition if retry_after_ms(status).is_some() => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Code::FailedPrecondition => StatusCode::CONFLICT,
        // A change whose expectedStateVersion is stale.
        Code::Aborted => StatusCode::PRECONDITION_FAILED,
        Code::OutOfRange => StatusCode::GONE,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn code_name(code: Code) -> String {
    // "InvalidArgument" -> "INVALID_ARGUMENT"
    let mut out = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_uppercase());
    }
    out
}

pub fn error_response(status: Status) -> Response {
    let http = http_status(&status);
    let mut error = json!({ "code": code_name(status.code()), "message": status.message() });
    if let Some(bad_request) = status.get_details_bad_request() {
        error["fieldViolations"] = bad_request
            .field_violations
            .iter()
            .map(|v| json!({ "field": camel_path(&v.field), "description": v.description }))
            .collect();
    }
    if let Some(limit_type) = minoots_kernel::error::limit_type_of(&status) {
        error["limitType"] = json!(limit_type);
    }
    let retry_after =
        retry_after_ms(&status).or((http == StatusCode::SERVICE_UNAVAILABLE).then_some(1_000));
    if let Some(ms) = retry_after {
        error["retryAfterMs"] = json!(ms);
    }
    let mut response = (http, Json(json!({ "error": error }))).into_response();
    if let Some(ms) = retry_after {
        let seconds = ms.div_ceil(1_000).max(1);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A query string that does not fit the route's parameters: 400 naming the parameter as the
/// caller wrote it (`pageSize`), from axum's message `<path>: <what is wrong>`.
pub fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> Response {
    let text = rejection.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    let (field, message) = match detail.split_once(": ") {
        Some((field, message))
            if !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')) =>
        {
            (field.to_owned(), message.to_owned())
        }
        _ => ("query".to_owned(), detail.to_owned()),
    };
    error_response(minoots_kernel::KernelError::invalid(field, message).into())
}

/// A body that could not be read: over the size limit 413, otherwise 400, both as the JSON
/// error naming `body`.
pub fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> Response {
    let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let message = if too_large {
        "the request body is larger than this server accepts".to_owned()
    } else {
        rejection.body_text()
    };
    let mut response = error_response(minoots_kernel::KernelError::invalid("body", message).into());
    if too_large {
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    }
    response
}

/// Lets handlers use `?` on kernel results.
#[derive(Debug)]
pub struct ApiError(pub Status);

impl From<minoots_kernel::KernelError> for ApiError {
    fn from(error: minoots_kernel::KernelError) -> Self {
        Self(error.into())
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> Self {
        Self(error.into())
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_http_codes() {
        let cases = [
            (Status::invalid_argument("x"), 400),
            (Status::unauthenticated("x"), 401),
            (Status::permission_denied("x"), 403),
            (Status::not_found("x"), 404),
            (Status::already_exists("x"), 409),
            (Status::resource_exhausted("x"), 429),
            (Status::failed_precondition("already fired"), 409),
            (Status::unavailable("x"), 503),
            (Status::out_of_range("x"), 410),
        ];
        for (status, http) in cases {
            assert_eq!(http_status(&status).as_u16(), http, "{:?}", status.code());
        }
        let mut not_leader = Status::failed_precondition("not the leader");
        not_leader
            .metadata_mut()
            .insert("retry-after-ms", 300u64.into());
        assert_eq!(http_status(&not_leader), StatusCode::SERVICE_UNAVAILABLE);
        let response = error_response(not_leader);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn field_paths_become_camel_case() {
        assert_eq!(
            camel_path("action_bundle.actions[0].webhook.url"),
            "actionBundle.actions[0].webhook.url"
        );
        assert_eq!(camel_path("timers[3].fire_at"), "timers[3].fireAt");
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
    }
}
