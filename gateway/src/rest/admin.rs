//! Admin endpoints (the router puts every one behind a `tenant.admin` key):
//! - `POST /admin/keys` `{tenantId, name, roles, tier}` -> 201 `{key, secret}` (the secret is
//!   shown this once);
//! - `GET /admin/keys?tenantId=` -> `{keys}`; `DELETE /admin/keys/{id}` revokes;
//! - `GET|PUT /admin/tenants/{tenant}/limits` `{activeTimers, dailyTimers}` (null: the default).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use minoots_kernel::{KernelError, quota::Limits, store::ApiKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, RawBody, body_json, error::ApiError};
use crate::{Gateway, auth::Role};

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

pub(super) async fn create_key(
    State(gateway): State<Gateway>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
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
pub(super) struct KeysQuery {
    tenant_id: Option<String>,
}

pub(super) async fn list_keys(
    State(gateway): State<Gateway>,
    ApiQuery(query): ApiQuery<KeysQuery>,
) -> Result<Response, ApiError> {
    let keys = gateway.auth().list_keys(query.tenant_id.as_deref()).await?;
    let keys: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

pub(super) async fn revoke_key(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
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

pub(super) async fn get_limits(
    State(gateway): State<Gateway>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    // As on put: a name no tenant can have is refused, not answered with the defaults.
    minoots_kernel::validate::tenant_id(&tenant)?;
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

pub(super) async fn put_limits(
    State(gateway): State<Gateway>,
    Path(tenant): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
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
