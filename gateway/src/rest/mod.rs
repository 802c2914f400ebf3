//! REST/JSON and Server-Sent Events, compatible with the original control plane: [`timers`],
//! [`schedules`], [`dead_letters`], [`sse`] (the event stream), [`admin`] (keys and tenant
//! limits). Each route declares the role it needs where it is declared; handlers turn JSON into
//! the kernel's request types and back, and every error goes through [`error`] once.

pub mod admin;
mod dead_letters;
pub mod error;
mod extract;
pub mod schedules;
mod sse;
mod timers;

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    handler::Handler as _,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use minoots_kernel::KernelError;
use serde::Deserialize;
use serde_json::json;

use crate::{
    Gateway,
    auth::{Role, require},
    backend::Backend,
};
use error::ApiError;
pub(crate) use extract::{ApiQuery, RawBody};

/// The largest `POST /timers:batch` body, as the gRPC services' largest message.
const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn router(gateway: Gateway) -> Router {
    let auth = gateway.auth();
    let read = require(auth, Role::TimerRead);
    let write = require(auth, Role::TimerWrite);
    let cancel = require(auth, Role::TimerCancel);
    let admin = require(auth, Role::TenantAdmin);
    Router::new()
        .route(
            "/timers",
            post(timers::create.layer(write.clone())).get(timers::list.layer(read.clone())),
        )
        // Batches may be as large as the gRPC batch's message (10,000 timers).
        .route(
            "/timers:batch",
            post(timers::create_batch.layer(write.clone()))
                .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/timers/stream", get(sse::stream.layer(read.clone())))
        .route(
            "/timers/{id}",
            get(timers::get.layer(read.clone()))
                .patch(timers::update.layer(write.clone()))
                .delete(timers::delete.layer(cancel.clone())),
        )
        .route(
            "/timers:cancel",
            post(timers::cancel_many.layer(cancel.clone())),
        )
        .route(
            "/timers:pause",
            post(timers::pause_many.layer(write.clone())),
        )
        .route(
            "/timers:resume",
            post(timers::resume_many.layer(write.clone())),
        )
        .route(
            "/timers/{id}/pause",
            post(timers::pause.layer(write.clone())),
        )
        .route(
            "/timers/{id}/resume",
            post(timers::resume.layer(write.clone())),
        )
        .route(
            "/timers/by-key/{key}",
            get(timers::get_by_key.layer(read.clone()))
                .patch(timers::update_by_key.layer(write.clone())),
        )
        .route(
            "/timers/by-key/{key}/cancel",
            post(timers::cancel_by_key.layer(cancel.clone())),
        )
        .route(
            "/tenants/{tenant}/pause",
            get(timers::tenant_pause.layer(read.clone()))
                .post(timers::pause_tenant.layer(admin.clone()))
                .delete(timers::resume_tenant.layer(admin.clone())),
        )
        .route(
            "/timers/{id}/cancel",
            post(timers::cancel.layer(cancel.clone())),
        )
        .route(
            "/schedules",
            post(schedules::create.layer(write.clone())).get(schedules::list.layer(read.clone())),
        )
        .route(
            "/schedules:preview",
            post(schedules::preview_spec.layer(read.clone())),
        )
        .route("/schedules/stream", get(sse::schedules.layer(read.clone())))
        .route(
            "/schedules/{id}",
            get(schedules::get.layer(read.clone()))
                .patch(schedules::update.layer(write.clone()))
                .delete(schedules::delete.layer(cancel)),
        )
        .route(
            "/schedules/by-key/{key}",
            get(schedules::get_by_key.layer(read.clone())),
        )
        .route(
            "/schedules/{id}/pause",
            post(schedules::pause.layer(write.clone())),
        )
        .route(
            "/schedules/{id}/resume",
            post(schedules::resume.layer(write.clone())),
        )
        .route(
            "/schedules/{id}/preview",
            get(schedules::preview.layer(read.clone())),
        )
        .route("/dead-letters", get(dead_letters::list.layer(read.clone())))
        .route(
            "/dead-letters/replay",
            post(dead_letters::replay_all.layer(write.clone())),
        )
        .route("/dead-letters/{id}", get(dead_letters::get.layer(read)))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay.layer(write)),
        )
        .route(
            "/admin/keys",
            post(admin::create_key.layer(admin.clone())).get(admin::list_keys.layer(admin.clone())),
        )
        .route(
            "/admin/keys/{id}",
            delete(admin::revoke_key.layer(admin.clone())),
        )
        .route(
            "/admin/tenants/{tenant}/limits",
            get(admin::get_limits.layer(admin.clone())).put(admin::put_limits.layer(admin)),
        )
        .with_state(gateway.clone())
        .merge(probes(gateway.backend().clone()))
}

/// `GET /healthz` (the process answers) and `GET /readyz` (it can serve timer calls).
pub fn probes(backend: Arc<dyn Backend>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(backend)
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    KernelError::invalid(field, message).into()
}

pub(crate) fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| invalid("body", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| {
        // An unknown field is named as the field (`{"duraton": ...}` is `duraton`).
        let message = e.to_string();
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("body");
        invalid(field, format!("not the expected JSON: {message}"))
    })
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when timer calls can be served; a follower kernel answers 503 with `retryAfterMs`.
async fn readyz(State(backend): State<Arc<dyn Backend>>) -> Response {
    match backend.ready() {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(not_ready) => ApiError(not_ready).into_response(),
    }
}
