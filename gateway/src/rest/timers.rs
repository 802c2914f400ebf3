//! `/timers`: schedule (`POST`, the original control plane's body), list, get, cancel, update
//! (`PATCH`), pause and resume, by id or by idempotency key (`/timers/by-key/{key}`); bulk
//! cancel, pause and resume by label selector (`POST /timers:cancel`, `:pause`, `:resume`);
//! a tenant's deliveries pause (`/tenants/{tenant}/pause`).

use std::{collections::BTreeMap, str::FromStr};

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{ApiQuery, RawBody, body_json, error::ApiError, invalid};
use crate::{Gateway, auth::Principal};
use minoots_kernel::{
    KernelError,
    error::quote,
    json::{
        action_bundle_from_json, agent_binding_from_json, ecosystem_labels, json_to_struct,
        timer_to_json,
    },
    labels,
};
use minoots_proto::{
    prost_types,
    v1::{
        CancelTimerRequest, GetTimerRequest, KeyPolicy, Labels, LatePolicy, ListTimersRequest,
        PauseTenantRequest, PauseTimerRequest, ResumeTenantRequest, ResumeTimerRequest,
        ScheduleTimerRequest, SelectTimersRequest, TenantPause, TimerStatus, UpdateTimerRequest,
        schedule_timer_request::Schedule, update_timer_request,
    },
};

use crate::backend::{Bulk, TenantOp};

/// `POST /timers`: the original control plane's body. Unknown fields are refused by name
/// (see [`CreateTimerBody::from_json`]), never ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateTimerBody {
    tenant_id: Option<String>,
    requested_by: Option<String>,
    name: Option<String>,
    /// `"15m"`-style text or integer milliseconds.
    duration: Option<serde_json::Value>,
    fire_at: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    metadata: Option<serde_json::Value>,
    action_bundle: Option<serde_json::Value>,
    agent_binding: Option<serde_json::Value>,
    ecosystem: Option<serde_json::Value>,
    idempotency_key: Option<String>,
    /// `fire` (the default: a `fireAt` already past fires at once) or `reject`.
    late_policy: Option<String>,
    /// `reject` (the default), `replace` or `keep`: what a taken `idempotencyKey` means.
    key_policy: Option<String>,
}

/// The name of a timer scheduled over REST without one.
const UNNAMED: &str = "timer";

/// The body's fields, as JSON names them (`webhook` is shorthand for one webhook action).
const CREATE_FIELDS: [&str; 14] = [
    "tenantId",
    "requestedBy",
    "name",
    "duration",
    "fireAt",
    "labels",
    "metadata",
    "actionBundle",
    "agentBinding",
    "ecosystem",
    "idempotencyKey",
    "webhook",
    "latePolicy",
    "keyPolicy",
];

fn parse_duration(value: &serde_json::Value) -> Result<prost_types::Duration, KernelError> {
    duration_field("duration", value)
}

/// A duration as REST takes one: `"15m"`-style text or integer milliseconds; a refusal names
/// `field`.
pub(super) fn duration_field(
    field: &str,
    value: &serde_json::Value,
) -> Result<prost_types::Duration, KernelError> {
    let millis: i64 = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| KernelError::invalid(field, "milliseconds must be a whole number"))?,
        serde_json::Value::String(text) => {
            let d = minoots_proto::parse_duration(text)
                .map_err(|e| KernelError::invalid(field, e.to_string()))?;
            i64::try_from(d.as_millis()).map_err(|_| KernelError::invalid(field, "too large"))?
        }
        _ => {
            return Err(KernelError::invalid(
                field,
                "must be a string like \"15m\" or integer milliseconds",
            ));
        }
    };
    Ok(prost_types::Duration {
        seconds: millis.div_euclid(1_000),
        nanos: (millis.rem_euclid(1_000) * 1_000_000) as i32,
    })
}

/// Refuses the first field of `map` that is not one of `fields`, naming it (and saying so
/// when it is only the snake_case spelling of a known field).
pub(super) fn refuse_unknown(
    map: &serde_json::Map<String, serde_json::Value>,
    fields: &[&str],
) -> Result<(), KernelError> {
    if let Some(unknown) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        // Field paths are shown in camelCase, so `tenant_id` is named `tenantId`: say so.
        let camel = super::error::camel_path(unknown);
        let hint = if fields.contains(&camel.as_str()) {
            format!("fields are camelCase: {camel}")
        } else {
            format!("the fields are {}", fields.join(", "))
        };
        return Err(KernelError::invalid(
            unknown,
            format!("unknown field {}; {hint}", quote(unknown)),
        ));
    }
    Ok(())
}

impl CreateTimerBody {
    /// Refuses an unknown field by its name (`webhok`), and expands the `webhook` shorthand:
    /// `{"webhook": "https://..."}` is `{"actionBundle": {"actions": [{"type": "webhook", "url":
    /// "https://..."}]}}`.
    fn from_json(body: serde_json::Value) -> Result<Self, KernelError> {
        let serde_json::Value::Object(mut map) = body else {
            return Err(KernelError::invalid("body", "must be a JSON object"));
        };
        refuse_unknown(&map, &CREATE_FIELDS)?;
        if let Some(webhook) = map.remove("webhook") {
            let serde_json::Value::String(url) = webhook else {
                return Err(KernelError::invalid(
                    "webhook",
                    "must be the URL to POST the signed event to",
                ));
            };
            if map.contains_key("actionBundle") {
                return Err(KernelError::invalid(
                    "webhook",
                    "give webhook or actionBundle, not both (add the webhook to actionBundle.actions)",
                ));
            }
            map.insert(
                "actionBundle".into(),
                json!({"actions": [{"type": "webhook", "url": url}]}),
            );
        }
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| KernelError::invalid("body", format!("not the expected JSON: {e}")))
    }

    fn into_request(
        self,
        idempotency_header: Option<&str>,
    ) -> Result<ScheduleTimerRequest, KernelError> {
        let schedule = match (&self.duration, &self.fire_at) {
            (Some(_), Some(_)) => {
                return Err(KernelError::invalid(
                    "duration",
                    "give duration or fireAt, not both",
                ));
            }
            (Some(duration), None) => Some(Schedule::Duration(parse_duration(duration)?)),
            (None, Some(at)) => Some(Schedule::FireAt(fire_at(at)?)),
            (None, None) => None,
        };
        let mut labels = self.labels;
        let mut metadata = match &self.metadata {
            None => None,
            Some(value) => Some(json_to_struct("metadata", value)?),
        };
        // The original `ecosystem` payload: kept whole in metadata.ecosystem, and projected into
        // `ecosystem.*` labels (explicit labels win) so timers can be selected by them.
        if let Some(ecosystem) = &self.ecosystem {
            for (key, value) in ecosystem_labels(ecosystem)? {
                labels::check_key(&key).map_err(|m| KernelError::invalid("ecosystem", m))?;
                labels::check_value(&key, &value)
                    .map_err(|m| KernelError::invalid("ecosystem", m))?;
                labels.entry(key).or_insert(value);
            }
            metadata
                .get_or_insert_with(prost_types::Struct::default)
                .fields
                .insert(
                    "ecosystem".into(),
                    minoots_kernel::json::json_to_value(ecosystem),
                );
        }
        Ok(ScheduleTimerRequest {
            tenant_id: self.tenant_id.unwrap_or_default(),
            requested_by: self.requested_by.unwrap_or_default(),
            // The original control plane scheduled timers without a name (its deployment
            // guide's ecosystem example has none); the contract requires one, so they get this.
            name: self.name.unwrap_or_else(|| UNNAMED.to_owned()),
            schedule,
            labels,
            metadata,
            action_bundle: self
                .action_bundle
                .as_ref()
                .map(action_bundle_from_json)
                .transpose()?,
            agent_binding: self
                .agent_binding
                .as_ref()
                .map(agent_binding_from_json)
                .transpose()?,
            idempotency_key: self
                .idempotency_key
                .or_else(|| idempotency_header.map(str::to_owned))
                .unwrap_or_default(),
            late_policy: late_policy(self.late_policy.as_deref())? as i32,
            key_policy: match self.key_policy.as_deref() {
                None => KeyPolicy::Unspecified,
                Some("reject") => KeyPolicy::Reject,
                Some("replace") => KeyPolicy::Replace,
                Some("keep") => KeyPolicy::Keep,
                Some(other) => {
                    return Err(KernelError::invalid(
                        "key_policy",
                        format!("{} is not reject, replace or keep", quote(other)),
                    ));
                }
            } as i32,
        })
    }
}

fn late_policy(name: Option<&str>) -> Result<LatePolicy, KernelError> {
    Ok(match name {
        None => LatePolicy::Unspecified,
        Some("fire") => LatePolicy::Fire,
        Some("reject") => LatePolicy::Reject,
        Some(other) => {
            return Err(KernelError::invalid(
                "late_policy",
                format!("{} is not fire or reject", quote(other)),
            ));
        }
    })
}

fn fire_at(at: &str) -> Result<prost_types::Timestamp, KernelError> {
    timestamp_field("fire_at", at)
}

/// An RFC 3339 time; a refusal names `field`.
pub(super) fn timestamp_field(
    field: &str,
    at: &str,
) -> Result<prost_types::Timestamp, KernelError> {
    prost_types::Timestamp::from_str(at)
        .map_err(|_| KernelError::invalid(field, format!("{} is not an RFC 3339 time", quote(at))))
}

/// `POST /timers:batch`: `{"timers": [<POST /timers body>, ...]}` scheduled in one durable write,
/// with the gRPC batch's limits; one invalid timer rejects them all, naming it (`timers[3].duration`).
/// Answers 200 with `{"timers": [{"timer": ..., "created": bool}, ...]}` in the order given;
/// with `"compact": true` each timer is only its id, status, fireAt and stateVersion.
pub(super) async fn create_batch(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: serde_json::Value = body_json(&body)?;
    let serde_json::Value::Object(mut map) = body else {
        return Err(invalid("body", "must be a JSON object with \"timers\""));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "timers" | "compact"))
    {
        return Err(invalid(
            unknown,
            format!(
                "unknown field {}; the batch body is {{\"timers\": [...], \"compact\": false}}",
                quote(unknown)
            ),
        ));
    }
    let compact = match map.remove("compact") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(compact)) => compact,
        Some(_) => return Err(invalid("compact", "must be true or false")),
    };
    let Some(serde_json::Value::Array(items)) = map.remove("timers") else {
        return Err(invalid("timers", "must be an array of POST /timers bodies"));
    };
    if items.is_empty() {
        return Err(invalid("timers", "must hold at least one timer"));
    }
    let mut requests = Vec::with_capacity(items.len());
    let mut tenant = None::<String>;
    for (i, item) in items.into_iter().enumerate() {
        let within = |e: KernelError| e.within(&format!("timers[{i}]"));
        let body = CreateTimerBody::from_json(item).map_err(within)?;
        // The batch acts for one tenant: the first item's (or the key's), as the gRPC batch; an
        // item naming another is refused, never written to the first one's.
        if i == 0 {
            tenant = body.tenant_id.clone();
        } else if body.tenant_id.is_some() && body.tenant_id != tenant {
            return Err(invalid(
                &format!("timers[{i}].tenantId"),
                "differs from the batch's tenant (timers[0].tenantId): a batch acts for one tenant",
            ));
        }
        requests.push(body.into_request(None).map_err(within)?);
    }
    let target = principal.target(&headers, tenant.as_deref().unwrap_or_default())?;
    let mut responses = gateway.backend().schedule_many(&target, requests).await?;
    if compact {
        crate::grpc::compact(&mut responses);
    }
    let timers: Vec<_> = responses
        .iter()
        .map(|r| {
            let mut timer = timer_to_json(r.timer.as_ref().unwrap_or(&Default::default()));
            if let (true, Some(fields)) = (compact, timer.as_object_mut()) {
                fields.retain(|k, _| {
                    matches!(k.as_str(), "id" | "status" | "fireAt" | "stateVersion")
                });
            }
            json!({"timer": timer, "created": r.created})
        })
        .collect();
    Ok(Json(json!({ "timers": timers })).into_response())
}

pub(super) async fn create(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = CreateTimerBody::from_json(body_json(&body)?)?;
    let target = principal.target(&headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let idempotency = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let response = gateway
        .backend()
        .schedule(&target, body.into_request(idempotency)?)
        .await?;
    let timer = response.timer.unwrap_or_default();
    let status = if response.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [("location", format!("/timers/{}", timer.id))],
        Json(timer_to_json(&timer)),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    tenant_id: Option<String>,
    /// Comma-separated: `scheduled,armed`.
    status: Option<String>,
    label_selector: Option<String>,
    name_prefix: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
}

fn parse_status(name: &str) -> Result<i32, ApiError> {
    TimerStatus::from_wire_name(name)
        .map(|s| s as i32)
        .ok_or_else(|| invalid("status", format!("unknown status {}", quote(name.trim()))))
}

pub(super) async fn list(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let statuses = match &query.status {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_status)
            .collect::<Result<_, _>>()?,
    };
    let request = ListTimersRequest {
        tenant_id: String::new(),
        statuses,
        label_selector: query.label_selector.unwrap_or_default(),
        name_prefix: query.name_prefix.unwrap_or_default(),
        page_size: query.page_size.unwrap_or_default(),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = gateway.backend().list(&target, request).await?;
    let timers: Vec<_> = page.timers.iter().map(timer_to_json).collect();
    let next = (!page.next_page_token.is_empty()).then_some(page.next_page_token);
    Ok(Json(json!({ "timers": timers, "nextPageToken": next })).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantQuery {
    pub(super) tenant_id: Option<String>,
}

pub(super) async fn get(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = GetTimerRequest {
        id,
        ..Default::default()
    };
    let timer = gateway.backend().get(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

/// `GET /timers/by-key/{key}`: the timer scheduled with this idempotency key.
pub(super) async fn get_by_key(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(key): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = GetTimerRequest {
        idempotency_key: key,
        ..Default::default()
    };
    let timer = gateway.backend().get(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

/// Which timer a route names: `/timers/{id}` or `/timers/by-key/{key}`.
#[derive(Debug, Clone)]
pub(super) enum Named {
    Id(String),
    Key(String),
}

impl Named {
    fn parts(self) -> (String, String) {
        match self {
            Self::Id(id) => (id, String::new()),
            Self::Key(key) => (String::new(), key),
        }
    }
}

/// `PATCH /timers/{id}` (and `/timers/by-key/{key}`): each field given replaces the timer's.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    tenant_id: Option<String>,
    /// `"15m"`-style text or integer milliseconds from now.
    duration: Option<serde_json::Value>,
    fire_at: Option<String>,
    name: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    metadata: Option<serde_json::Value>,
    action_bundle: Option<serde_json::Value>,
    agent_binding: Option<serde_json::Value>,
    /// Shorthand: replace the actions with one webhook.
    webhook: Option<String>,
    /// Apply only if the timer is still at this state_version (else 412).
    expected_state_version: Option<u64>,
    late_policy: Option<String>,
    requested_by: Option<String>,
}

impl UpdateBody {
    fn into_request(self, named: Named) -> Result<UpdateTimerRequest, KernelError> {
        let schedule = match (&self.duration, &self.fire_at) {
            (Some(_), Some(_)) => {
                return Err(KernelError::invalid(
                    "duration",
                    "give duration or fireAt, not both",
                ));
            }
            (Some(d), None) => Some(update_timer_request::Schedule::Duration(parse_duration(d)?)),
            (None, Some(at)) => Some(update_timer_request::Schedule::FireAt(fire_at(at)?)),
            (None, None) => None,
        };
        let mut action_bundle = self
            .action_bundle
            .as_ref()
            .map(action_bundle_from_json)
            .transpose()?;
        if let Some(url) = &self.webhook {
            if action_bundle.is_some() {
                return Err(KernelError::invalid(
                    "webhook",
                    "give webhook or actionBundle, not both",
                ));
            }
            action_bundle = Some(action_bundle_from_json(
                &json!({"actions": [{"type": "webhook", "url": url}]}),
            )?);
        }
        let (id, idempotency_key) = named.parts();
        Ok(UpdateTimerRequest {
            tenant_id: String::new(),
            id,
            idempotency_key,
            expected_state_version: self.expected_state_version.unwrap_or(0),
            schedule,
            name: self.name,
            labels: self.labels.map(|labels| Labels { labels }),
            metadata: self
                .metadata
                .as_ref()
                .map(|m| json_to_struct("metadata", m))
                .transpose()?,
            action_bundle,
            agent_binding: self
                .agent_binding
                .as_ref()
                .map(agent_binding_from_json)
                .transpose()?,
            requested_by: self.requested_by.unwrap_or_default(),
            late_policy: late_policy(self.late_policy.as_deref())? as i32,
        })
    }
}

async fn update_with(
    gateway: &Gateway,
    principal: &Principal,
    headers: &HeaderMap,
    named: Named,
    body: &axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: UpdateBody = body_json(body)?;
    let target = principal.target(headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let timer = gateway
        .backend()
        .update(&target, body.into_request(named)?)
        .await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

pub(super) async fn update(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    update_with(&gateway, &principal, &headers, Named::Id(id), &body).await
}

pub(super) async fn update_by_key(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(key): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    update_with(&gateway, &principal, &headers, Named::Key(key), &body).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PauseBody {
    pub(super) tenant_id: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) requested_by: Option<String>,
}

/// `POST /timers/{id}/pause`.
pub(super) async fn pause(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: PauseBody = body_json(&body)?;
    let target = principal.target(&headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let request = PauseTimerRequest {
        id,
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
        ..Default::default()
    };
    let timer = gateway.backend().pause(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

/// `POST /timers/{id}/resume`.
pub(super) async fn resume(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: PauseBody = body_json(&body)?;
    if body.reason.is_some() {
        return Err(invalid("reason", "resume takes no reason"));
    }
    let target = principal.target(&headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let request = ResumeTimerRequest {
        id,
        requested_by: body.requested_by.unwrap_or_default(),
        ..Default::default()
    };
    let timer = gateway.backend().resume(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

/// `POST /timers:cancel`, `:pause`, `:resume`: every pending timer matching `labelSelector`
/// (or `all`), optionally only counted (`dryRun`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SelectBody {
    tenant_id: Option<String>,
    label_selector: Option<String>,
    name_prefix: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    dry_run: bool,
    reason: Option<String>,
    requested_by: Option<String>,
}

async fn bulk(
    gateway: &Gateway,
    principal: &Principal,
    headers: &HeaderMap,
    op: Bulk,
    body: &axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: SelectBody = body_json(body)?;
    let target = principal.target(headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let request = SelectTimersRequest {
        tenant_id: String::new(),
        label_selector: body.label_selector.unwrap_or_default(),
        name_prefix: body.name_prefix.unwrap_or_default(),
        all: body.all,
        dry_run: body.dry_run,
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
    };
    let done = gateway.backend().bulk(&target, op, request).await?;
    Ok(
        Json(json!({"matched": done.matched, "changed": done.changed, "dryRun": body.dry_run}))
            .into_response(),
    )
}

pub(super) async fn cancel_many(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    bulk(&gateway, &principal, &headers, Bulk::Cancel, &body).await
}

pub(super) async fn pause_many(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    bulk(&gateway, &principal, &headers, Bulk::Pause, &body).await
}

pub(super) async fn resume_many(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    bulk(&gateway, &principal, &headers, Bulk::Resume, &body).await
}

fn tenant_pause_json(state: &TenantPause) -> serde_json::Value {
    json!({
        "tenantId": state.tenant_id,
        "paused": state.paused,
        "pausedAt": state.paused_at.as_ref().map(ToString::to_string),
        "pausedBy": state.paused_by,
        "reason": state.reason,
        "changed": state.changed,
    })
}

/// `GET /tenants/{tenant}/pause`: whether the tenant's deliveries are paused.
pub(super) async fn tenant_pause(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, &tenant)?;
    let state = gateway
        .backend()
        .tenant_pause(&target, TenantOp::Get)
        .await?;
    Ok(Json(tenant_pause_json(&state)).into_response())
}

/// `POST /tenants/{tenant}/pause` (`{"reason"}`): pauses the tenant's deliveries.
pub(super) async fn pause_tenant(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: PauseBody = body_json(&body)?;
    if body.tenant_id.is_some() {
        return Err(invalid("tenantId", "the tenant is the one in the path"));
    }
    let target = principal.target(&headers, &tenant)?;
    let op = TenantOp::Pause(PauseTenantRequest {
        tenant_id: String::new(),
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
    });
    let state = gateway.backend().tenant_pause(&target, op).await?;
    Ok(Json(tenant_pause_json(&state)).into_response())
}

/// `DELETE /tenants/{tenant}/pause`: resumes the tenant's deliveries.
pub(super) async fn resume_tenant(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, &tenant)?;
    let op = TenantOp::Resume(ResumeTenantRequest::default());
    let state = gateway.backend().tenant_pause(&target, op).await?;
    Ok(Json(tenant_pause_json(&state)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    tenant_id: Option<String>,
    reason: Option<String>,
    requested_by: Option<String>,
}

async fn cancel_with(
    gateway: &Gateway,
    principal: &Principal,
    headers: &HeaderMap,
    named: Named,
    body: CancelBody,
) -> Result<Response, ApiError> {
    let target = principal.target(headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let (id, idempotency_key) = named.parts();
    let request = CancelTimerRequest {
        tenant_id: String::new(),
        id,
        idempotency_key,
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
    };
    let timer = gateway.backend().cancel(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

pub(super) async fn cancel(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    cancel_with(
        &gateway,
        &principal,
        &headers,
        Named::Id(id),
        body_json(&body)?,
    )
    .await
}

/// `POST /timers/by-key/{key}/cancel`.
pub(super) async fn cancel_by_key(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(key): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    cancel_with(
        &gateway,
        &principal,
        &headers,
        Named::Key(key),
        body_json(&body)?,
    )
    .await
}

pub(super) async fn delete(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let body = CancelBody {
        tenant_id: query.tenant_id,
        reason: Some("deleted".into()),
        requested_by: None,
    };
    cancel_with(&gateway, &principal, &headers, Named::Id(id), body).await
}
