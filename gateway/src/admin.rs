//! Admin endpoints (every one needs a `tenant.admin` key):
//! - `POST /admin/keys` `{tenantId, name, roles, tier}` -> 201 `{key, secret}` (the secret is
//!   shown this once);
//! - `GET /admin/keys?tenantId=` -> `{keys}`; `DELETE /admin/keys/{id}` revokes;
//! - `GET|PUT /admin/tenants/{tenant}/limits` `{activeTimers, dailyTimers}` (null: the default).

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use minoots_kernel::{KernelError, quota::Limits, store::ApiKey};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Gateway, auth::Role, http_error::ApiError};

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/admin/keys", post(create_key).get(list_keys))
        .route("/admin/keys/{id}", delete(revoke_key))
        .route(
            "/admin/tenants/{tenant}/limits",
            get(get_limits).put(put_limits),
        )
        .with_state(gateway)
}

pub fn key_json(key: &ApiKey) -> Value {
    let time = |us: i64| minoots_kernel::clock::to_timestamp(us).to_string();
    json!({
        "id": key.id,
        "tenantId": key.tenant_id,
        "name": key.name,
        "roles": key.roles,
        "tier": key.tier,
        "createdAt": time(key.created_at),
        "revokedAt": key.revoked_at.map(time),
    })
}

async fn admin(gateway: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    gateway.authorize(headers, Role::TenantAdmin, "").await?;
    Ok(())
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| KernelError::invalid("body", format!("not the expected JSON: {e}")).into())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateKeyBody {
    tenant_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    tier: Option<String>,
}

async fn create_key(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&gateway, &headers).await?;
    let body: CreateKeyBody = body_json(&body)?;
    let tenant = body
        .tenant_id
        .ok_or_else(|| KernelError::invalid("tenant_id", "is required"))?;
    let roles = body
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse()
                .map_err(|m| KernelError::invalid(format!("roles[{i}]"), m))
        })
        .collect::<Result<Vec<Role>, _>>()?;
    let created = gateway
        .auth()
        .create_key(&tenant, &body.name, &roles, body.tier.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": key_json(&created.key), "secret": created.secret })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysQuery {
    tenant_id: Option<String>,
}

async fn list_keys(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Query(query): Query<KeysQuery>,
) -> Result<Response, ApiError> {
    admin(&gateway, &headers).await?;
    let keys = gateway.auth().list_keys(query.tenant_id.as_deref()).await?;
    let keys: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

async fn revoke_key(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin(&gateway, &headers).await?;
    let key = gateway.auth().revoke_key(&id).await?;
    Ok(Json(json!({ "key": key_json(&key) })).into_response())
}

fn limits_json(tenant: &str, limits: Limits) -> Value {
    json!({
        "tenantId": tenant,
        "activeTimers": limits.active_timers,
        "dailyTimers": limits.daily_timers,
    })
}

async fn get_limits(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    admin(&gateway, &headers).await?;
    let limits = match gateway.kernel() {
        Some(kernel) => kernel.tenant_limits(&tenant),
        // Remote kernels apply their configured defaults to what is not stored here.
        None => gateway
            .store()
            .tenant_limits()
            .await?
            .remove(&tenant)
            .unwrap_or_default(),
    };
    Ok(Json(limits_json(&tenant, limits)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitsBody {
    active_timers: Option<u64>,
    daily_timers: Option<u64>,
}

async fn put_limits(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&gateway, &headers).await?;
    let body: LimitsBody = body_json(&body)?;
    let limits = Limits {
        active_timers: body.active_timers,
        daily_timers: body.daily_timers,
    };
    match gateway.kernel() {
        Some(kernel) => kernel.set_tenant_limits(&tenant, limits).await?,
        // Kernels sharing this database pick the change up within their refresh interval.
        None => {
            minoots_kernel::validate::tenant_id(&tenant)?;
            gateway.store().put_tenant_limits(&tenant, limits).await?
        }
    }
    Ok(Json(limits_json(&tenant, limits)).into_response())
}
