//! REST/JSON and Server-Sent Events, compatible with the original control plane. Handlers turn
//! JSON into the kernel's request types and back; every error goes through
//! [`crate::http_error`] once.

use std::{collections::BTreeMap, convert::Infallible, str::FromStr, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use minoots_kernel::{
    KernelError,
    json::{
        action_bundle_from_json, action_result_to_json, dead_letter_to_json, json_to_struct,
        timer_to_json,
    },
    labels,
};
use minoots_proto::{
    prost_types,
    v1::{
        AgentBinding, CancelTimerRequest, ListDeadLettersRequest, ListTimersRequest,
        ReplayDeadLettersRequest, ReplayResult, ScheduleTimerRequest, StreamTimerEventsRequest,
        TimerEventType, TimerStatus, schedule_timer_request::Schedule,
    },
};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::{Stream, StreamExt};

use crate::{Gateway, auth::Role, backend::Backend, http_error::ApiError};

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/timers", post(create).get(list))
        .route("/timers/stream", get(stream))
        .route("/timers/{id}", get(get_timer).delete(delete_timer))
        .route("/timers/{id}/cancel", post(cancel))
        .route("/dead-letters", get(list_dead_letters))
        .route("/dead-letters/replay", post(replay_dead_letters))
        .route("/dead-letters/{id}", get(get_dead_letter))
        .route("/dead-letters/{id}/replay", post(replay_dead_letter))
        .with_state(gateway.clone())
        .merge(probes(gateway.backend().clone()))
}

/// `GET /healthz` (the process answers) and `GET /readyz` (it can serve timer calls).
pub fn probes(backend: Backend) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(backend)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    KernelError::invalid(field, message).into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentBindingBody {
    agent_id: Option<String>,
    session_id: Option<String>,
    framework: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// `POST /timers`. Unknown fields are ignored, as the original control plane did.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    agent_binding: Option<AgentBindingBody>,
    ecosystem: Option<serde_json::Value>,
    idempotency_key: Option<String>,
}

fn parse_duration(value: &serde_json::Value) -> Result<prost_types::Duration, ApiError> {
    let millis: i64 = match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| invalid("duration", "milliseconds must be a whole number"))?,
        serde_json::Value::String(text) => {
            let d = minoots::parse_duration(text).map_err(|e| match e {
                minoots::Error::InvalidArgument { message, .. } => invalid("duration", message),
                other => invalid("duration", other.to_string()),
            })?;
            i64::try_from(d.as_millis()).map_err(|_| invalid("duration", "too large"))?
        }
        _ => {
            return Err(invalid(
                "duration",
                "must be a string like \"15m\" or integer milliseconds",
            ));
        }
    };
    Ok(prost_types::Duration {
        seconds: millis.div_euclid(1_000),
        nanos: (millis.rem_euclid(1_000) * 1_000_000) as i32,
    })
}

impl CreateTimerBody {
    fn into_request(
        self,
        idempotency_header: Option<&str>,
    ) -> Result<ScheduleTimerRequest, ApiError> {
        let schedule = match (&self.duration, &self.fire_at) {
            (Some(_), Some(_)) => {
                return Err(invalid("duration", "give duration or fireAt, not both"));
            }
            (Some(duration), None) => Some(Schedule::Duration(parse_duration(duration)?)),
            (None, Some(at)) => Some(Schedule::FireAt(
                prost_types::Timestamp::from_str(at)
                    .map_err(|_| invalid("fire_at", format!("{at:?} is not an RFC 3339 time")))?,
            )),
            (None, None) => None,
        };
        let mut labels = self.labels;
        let mut metadata = match &self.metadata {
            None => None,
            Some(value) => Some(json_to_struct("metadata", value).map_err(KernelError::from)?),
        };
        // The original `ecosystem` payload: kept whole in metadata.ecosystem, its text fields
        // also as `ecosystem.<key>` labels so they can be selected on.
        if let Some(ecosystem) = &self.ecosystem {
            let object = ecosystem
                .as_object()
                .ok_or_else(|| invalid("ecosystem", "must be a JSON object"))?;
            for (key, value) in object {
                let label = format!("ecosystem.{key}");
                if let Some(text) = value.as_str()
                    && labels::check_key(&label).is_ok()
                    && labels::check_value(&label, text).is_ok()
                {
                    labels.entry(label).or_insert_with(|| text.to_owned());
                }
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
            name: self.name.unwrap_or_default(),
            schedule,
            labels,
            metadata,
            action_bundle: self
                .action_bundle
                .as_ref()
                .map(action_bundle_from_json)
                .transpose()
                .map_err(KernelError::from)?,
            agent_binding: self.agent_binding.map(|b| AgentBinding {
                agent_id: b.agent_id.unwrap_or_default(),
                session_id: b.session_id.unwrap_or_default(),
                framework: b.framework.unwrap_or_default(),
                attributes: b.attributes,
            }),
            idempotency_key: self
                .idempotency_key
                .or_else(|| idempotency_header.map(str::to_owned))
                .unwrap_or_default(),
        })
    }
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| invalid("body", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| invalid("body", format!("not the expected JSON: {e}")))
}

async fn create(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateTimerBody = body_json(&body)?;
    let target = gateway
        .authorize(
            &headers,
            Role::TimerWrite,
            body.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
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
struct ListQuery {
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
        .ok_or_else(|| invalid("status", format!("unknown status {:?}", name.trim())))
}

async fn list(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerRead,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
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
struct TenantQuery {
    tenant_id: Option<String>,
}

async fn get_timer(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerRead,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let timer = gateway.backend().get(&target, &id).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
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
    headers: &HeaderMap,
    id: String,
    body: CancelBody,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            headers,
            Role::TimerCancel,
            body.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let request = CancelTimerRequest {
        tenant_id: String::new(),
        id,
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
    };
    let timer = gateway.backend().cancel(&target, request).await?;
    Ok(Json(timer_to_json(&timer)).into_response())
}

async fn cancel(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    cancel_with(&gateway, &headers, id, body_json(&body)?).await
}

async fn delete_timer(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, ApiError> {
    let body = CancelBody {
        tenant_id: query.tenant_id,
        reason: Some("deleted".into()),
        requested_by: None,
    };
    cancel_with(&gateway, &headers, id, body).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamQuery {
    tenant_id: Option<String>,
    after_sequence: Option<u64>,
    /// Comma-separated: `timer.fired,timer.settled` (or `fired,settled`).
    event_types: Option<String>,
    label_selector: Option<String>,
}

fn parse_event_type(name: &str) -> Result<i32, ApiError> {
    TimerEventType::from_wire_name(name)
        .map(|t| t as i32)
        .ok_or_else(|| {
            invalid(
                "event_types",
                format!("unknown event type {:?}", name.trim()),
            )
        })
}

/// `GET /timers/stream`: `event: <type>`, `id: <sequence>`, `data: <the delivered payload>`.
/// Resumes after `Last-Event-ID` (or `afterSequence`); keep-alive comments every 15 s.
async fn stream(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerRead,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| invalid("last_event_id", "must be an event sequence number"))?,
        ),
    };
    let event_types = match &query.event_types {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_event_type)
            .collect::<Result<_, _>>()?,
    };
    let request = StreamTimerEventsRequest {
        tenant_id: String::new(),
        after_sequence: last_event_id.or(query.after_sequence),
        event_types,
        label_selector: query.label_selector.unwrap_or_default(),
    };
    let events = gateway.subscribe(&target, request).await?;
    let stream = events.map(|item| {
        Ok(match item {
            Ok(event) => Event::default()
                .event(
                    TimerEventType::try_from(event.event_type)
                        .unwrap_or_default()
                        .wire_name(),
                )
                .id(event.sequence.to_string())
                .data(String::from_utf8_lossy(&event.payload)),
            Err(status) => Event::default().event("error").data(
                json!({"code": format!("{:?}", status.code()), "message": status.message()})
                    .to_string(),
            ),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn parse_time(field: &str, text: &str) -> Result<prost_types::Timestamp, ApiError> {
    prost_types::Timestamp::from_str(text)
        .map_err(|_| invalid(field, format!("{text:?} is not an RFC 3339 time")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeadLetterQuery {
    tenant_id: Option<String>,
    since: Option<String>,
    #[serde(default)]
    include_resolved: bool,
    limit: Option<u32>,
}

fn replay_json(result: &ReplayResult) -> serde_json::Value {
    json!({
        "deadLetter": result.dead_letter.as_ref().map(dead_letter_to_json),
        "result": result.result.as_ref().map(action_result_to_json),
        "timer": result.timer.as_ref().map(timer_to_json),
    })
}

/// `GET /dead-letters?since=&includeResolved=&limit=`
async fn list_dead_letters(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerRead,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let request = ListDeadLettersRequest {
        tenant_id: String::new(),
        since: query
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        include_resolved: query.include_resolved,
        limit: query.limit.unwrap_or_default(),
    };
    let letters = gateway.backend().dead_letters(&target, request).await?;
    let letters: Vec<_> = letters.iter().map(dead_letter_to_json).collect();
    Ok(Json(json!({ "deadLetters": letters })).into_response())
}

async fn get_dead_letter(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerRead,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let letter = gateway.backend().dead_letter(&target, &id).await?;
    Ok(Json(dead_letter_to_json(&letter)).into_response())
}

async fn replay_dead_letter(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = gateway
        .authorize(
            &headers,
            Role::TimerWrite,
            query.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let result = gateway.backend().replay_dead_letter(&target, &id).await?;
    Ok(Json(replay_json(&result)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplayAllBody {
    tenant_id: Option<String>,
    since: Option<String>,
}

/// `POST /dead-letters/replay` `{since}`: every unresolved dead letter created since then.
async fn replay_dead_letters(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ReplayAllBody = body_json(&body)?;
    let target = gateway
        .authorize(
            &headers,
            Role::TimerWrite,
            body.tenant_id.as_deref().unwrap_or_default(),
        )
        .await?;
    let request = ReplayDeadLettersRequest {
        tenant_id: String::new(),
        since: body
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
    };
    let results = gateway
        .backend()
        .replay_dead_letters(&target, request)
        .await?;
    let results: Vec<_> = results.iter().map(replay_json).collect();
    Ok(Json(json!({ "results": results })).into_response())
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when timer calls can be served; a follower kernel answers 503 with `retryAfterMs`.
async fn readyz(State(backend): State<Backend>) -> Response {
    match backend.ready() {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(not_ready) => ApiError(not_ready).into_response(),
    }
}
