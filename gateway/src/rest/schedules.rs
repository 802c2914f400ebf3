//! `/schedules`: create (`POST`, a flat body: the spec's fields beside the others), list, get
//! (by id or by idempotency key), update (`PATCH`), pause, resume, delete and preview (of a
//! stored schedule, or of a spec with `POST /schedules:preview`). Bodies use the timer body's
//! parsers for durations, times, labels, metadata, action bundles and agent bindings, and refuse
//! unknown fields by name.

use std::collections::BTreeMap;

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{
    ApiQuery, RawBody, body_json,
    error::ApiError,
    invalid,
    timers::{PauseBody, duration_field, refuse_unknown, timestamp_field},
};
use crate::{Gateway, auth::Principal};
use minoots_kernel::{
    KernelError,
    error::quote,
    json::{action_bundle_from_json, agent_binding_from_json, json_to_struct, schedule_to_json},
};
use minoots_proto::v1::{
    CatchUpPolicy, CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, Labels,
    ListSchedulesRequest, OverlapPolicy, PauseScheduleRequest, PreviewScheduleRequest,
    PreviewScheduleResponse, ResumeScheduleRequest, ScheduleSpec, ScheduleState,
    UpdateScheduleRequest,
};

/// The spec's fields as a body gives them, beside the others.
const SPEC_FIELDS: [&str; 10] = [
    "cron",
    "interval",
    "timeZone",
    "startAt",
    "endAt",
    "maxRuns",
    "jitter",
    "overlapPolicy",
    "catchUpPolicy",
    "catchUpWindow",
];

/// The fields of a create body besides the spec's.
const CREATE_FIELDS: [&str; 9] = [
    "tenantId",
    "requestedBy",
    "name",
    "labels",
    "metadata",
    "actionBundle",
    "agentBinding",
    "idempotencyKey",
    "paused",
];

/// The fields of a `PATCH` body besides the spec's.
const UPDATE_FIELDS: [&str; 8] = [
    "tenantId",
    "requestedBy",
    "name",
    "labels",
    "metadata",
    "actionBundle",
    "agentBinding",
    "expectedVersion",
];

/// The fields of a `POST /schedules:preview` body besides the spec's.
const PREVIEW_FIELDS: [&str; 3] = ["tenantId", "count", "after"];

/// A JSON object's fields, taken one by one; a value of the wrong shape is refused naming its
/// field.
struct Fields(serde_json::Map<String, Value>);

impl Fields {
    /// The object `body`, refusing any field outside `spec` fields and `others`.
    fn of(body: Value, others: &[&str]) -> Result<Self, KernelError> {
        let Value::Object(map) = body else {
            return Err(KernelError::invalid("body", "must be a JSON object"));
        };
        let allowed: Vec<&str> = SPEC_FIELDS.iter().chain(others).copied().collect();
        refuse_unknown(&map, &allowed)?;
        Ok(Self(map))
    }

    /// The field's value; `null` is the same as absent.
    fn value(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, KernelError> {
        self.value(name)
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| KernelError::invalid(name, format!("not the expected JSON: {e}")))
            })
            .transpose()
    }

    fn text(&mut self, name: &str) -> Result<Option<String>, KernelError> {
        self.take(name)
    }

    /// The spec's fields, or None when the body gives none of them.
    fn spec(&mut self) -> Result<Option<ScheduleSpec>, KernelError> {
        if !SPEC_FIELDS.iter().any(|f| self.0.contains_key(*f)) {
            return Ok(None);
        }
        let duration = |fields: &mut Self, name: &str| {
            fields
                .value(name)
                .map(|v| duration_field(name, &v))
                .transpose()
        };
        let time = |fields: &mut Self, name: &str| {
            fields
                .text(name)?
                .map(|t| timestamp_field(name, &t))
                .transpose()
        };
        let overlap_policy = match self.text("overlapPolicy")? {
            None => OverlapPolicy::Unspecified,
            Some(name) => OverlapPolicy::from_wire_name(&name).ok_or_else(|| {
                KernelError::invalid(
                    "overlap_policy",
                    format!("{} is not skip, buffer_one or allow_all", quote(&name)),
                )
            })?,
        };
        let catch_up_policy = match self.text("catchUpPolicy")? {
            None => CatchUpPolicy::Unspecified,
            Some(name) => CatchUpPolicy::from_wire_name(&name).ok_or_else(|| {
                KernelError::invalid(
                    "catch_up_policy",
                    format!("{} is not none, latest or all", quote(&name)),
                )
            })?,
        };
        Ok(Some(ScheduleSpec {
            cron: self.text("cron")?.unwrap_or_default(),
            interval: duration(self, "interval")?,
            time_zone: self.text("timeZone")?.unwrap_or_default(),
            start_at: time(self, "startAt")?,
            end_at: time(self, "endAt")?,
            max_runs: self.take("maxRuns")?.unwrap_or_default(),
            jitter: duration(self, "jitter")?,
            overlap_policy: overlap_policy as i32,
            catch_up_policy: catch_up_policy as i32,
            catch_up_window: duration(self, "catchUpWindow")?,
        }))
    }

    fn labels(&mut self) -> Result<Option<BTreeMap<String, String>>, KernelError> {
        self.take("labels")
    }

    fn metadata(&mut self) -> Result<Option<minoots_proto::prost_types::Struct>, KernelError> {
        Ok(self
            .value("metadata")
            .map(|m| json_to_struct("metadata", &m))
            .transpose()?)
    }

    fn action_bundle(&mut self) -> Result<Option<minoots_proto::v1::ActionBundle>, KernelError> {
        Ok(self
            .value("actionBundle")
            .map(|b| action_bundle_from_json(&b))
            .transpose()?)
    }

    fn agent_binding(&mut self) -> Result<Option<minoots_proto::v1::AgentBinding>, KernelError> {
        Ok(self
            .value("agentBinding")
            .map(|b| agent_binding_from_json(&b))
            .transpose()?)
    }
}

/// `POST /schedules`'s body as the request it stands for: flat (`cron` or `interval`,
/// `timeZone`, ... beside `name`, `labels`, `actionBundle`, ...), durations as `"15m"` or
/// milliseconds, times in RFC 3339. Unknown fields are refused by name.
pub fn schedule_from_json(body: Value) -> Result<CreateScheduleRequest, KernelError> {
    let mut fields = Fields::of(body, &CREATE_FIELDS)?;
    Ok(CreateScheduleRequest {
        tenant_id: fields.text("tenantId")?.unwrap_or_default(),
        requested_by: fields.text("requestedBy")?.unwrap_or_default(),
        name: fields.text("name")?.unwrap_or_default(),
        spec: Some(fields.spec()?.unwrap_or_default()),
        labels: fields.labels()?.unwrap_or_default(),
        metadata: fields.metadata()?,
        action_bundle: fields.action_bundle()?,
        agent_binding: fields.agent_binding()?,
        idempotency_key: fields.text("idempotencyKey")?.unwrap_or_default(),
        paused: fields.take("paused")?.unwrap_or_default(),
    })
}

/// A `PATCH /schedules/{id}` body: each field given replaces the schedule's; any spec field
/// given makes a new spec of the spec fields given, which replaces the whole spec (so give
/// `cron` or `interval` with it). `expectedVersion` applies the change only at that version.
pub fn schedule_update_from_json(
    id: String,
    body: Value,
) -> Result<UpdateScheduleRequest, KernelError> {
    if let Value::Object(map) = &body
        && let Some(field) = ["paused", "idempotencyKey"]
            .into_iter()
            .find(|f| map.contains_key(*f))
    {
        let hint = if field == "paused" {
            "pause and resume with POST /schedules/{id}/pause and /resume"
        } else {
            "a schedule's idempotency key is fixed when it is created"
        };
        return Err(KernelError::invalid(
            field,
            format!("cannot be changed: {hint}"),
        ));
    }
    let mut fields = Fields::of(body, &UPDATE_FIELDS)?;
    Ok(UpdateScheduleRequest {
        tenant_id: fields.text("tenantId")?.unwrap_or_default(),
        id,
        expected_version: fields.take("expectedVersion")?.unwrap_or_default(),
        spec: fields.spec()?,
        name: fields.text("name")?,
        labels: fields.labels()?.map(|labels| Labels { labels }),
        metadata: fields.metadata()?,
        action_bundle: fields.action_bundle()?,
        agent_binding: fields.agent_binding()?,
        requested_by: fields.text("requestedBy")?.unwrap_or_default(),
    })
}

/// A `POST /schedules:preview` body: the spec's fields, `count` and `after`.
pub fn schedule_preview_from_json(body: Value) -> Result<PreviewScheduleRequest, KernelError> {
    let mut fields = Fields::of(body, &PREVIEW_FIELDS)?;
    Ok(PreviewScheduleRequest {
        tenant_id: fields.text("tenantId")?.unwrap_or_default(),
        id: String::new(),
        spec: Some(fields.spec()?.unwrap_or_default()),
        count: fields.take("count")?.unwrap_or_default(),
        after: fields
            .text("after")?
            .map(|t| timestamp_field("after", &t))
            .transpose()?,
    })
}

/// The kernel names a spec field as the message holds it (`spec.cron`); a REST body is flat,
/// so its caller sees the field it sent (`cron`).
fn flat_fields(status: tonic::Status) -> ApiError {
    use tonic_types::{ErrorDetails, StatusExt};
    let Some(bad) = status.get_details_bad_request() else {
        return ApiError(status);
    };
    if status.code() != tonic::Code::InvalidArgument
        || !bad
            .field_violations
            .iter()
            .any(|v| v.field.starts_with("spec."))
    {
        return ApiError(status);
    }
    let mut details = ErrorDetails::new();
    for violation in bad.field_violations {
        let field = violation
            .field
            .strip_prefix("spec.")
            .unwrap_or(&violation.field);
        details.add_bad_request_violation(field, violation.description);
    }
    ApiError(tonic::Status::with_error_details(
        status.code(),
        status.message(),
        details,
    ))
}

fn schedule_response(schedule: &minoots_proto::v1::Schedule) -> Response {
    Json(schedule_to_json(schedule)).into_response()
}

/// `POST /schedules`: 201 with the schedule (and its location). An `Idempotency-Key` header
/// stands for `idempotencyKey`.
pub(super) async fn create(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let mut request = schedule_from_json(body_json(&body)?)?;
    let target = principal.target(&headers, &request.tenant_id)?;
    if request.idempotency_key.is_empty()
        && let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok())
    {
        request.idempotency_key = key.to_owned();
    }
    let schedule = gateway
        .backend()
        .create_schedule(&target, request)
        .await
        .map_err(flat_fields)?;
    Ok((
        StatusCode::CREATED,
        [("location", format!("/schedules/{}", schedule.id))],
        Json(schedule_to_json(&schedule)),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    tenant_id: Option<String>,
    /// Comma-separated: `active,paused`.
    state: Option<String>,
    #[serde(alias = "label_selector")]
    label_selector: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
}

fn parse_state(name: &str) -> Result<i32, ApiError> {
    ScheduleState::from_wire_name(name)
        .map(|s| s as i32)
        .ok_or_else(|| {
            invalid(
                "state",
                format!(
                    "unknown state {}: active, paused, completed or deleted",
                    quote(name.trim())
                ),
            )
        })
}

/// `GET /schedules`: `{"schedules": [...], "nextPageToken"}`.
pub(super) async fn list(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let states = match &query.state {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_state)
            .collect::<Result<_, _>>()?,
    };
    let request = ListSchedulesRequest {
        tenant_id: String::new(),
        states,
        label_selector: query.label_selector.unwrap_or_default(),
        page_size: query.page_size.unwrap_or_default(),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = gateway.backend().list_schedules(&target, request).await?;
    let schedules: Vec<_> = page.schedules.iter().map(schedule_to_json).collect();
    let next = (!page.next_page_token.is_empty()).then_some(page.next_page_token);
    Ok(Json(json!({ "schedules": schedules, "nextPageToken": next })).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantQuery {
    tenant_id: Option<String>,
}

/// `GET /schedules/{id}`.
pub(super) async fn get(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = GetScheduleRequest {
        id,
        ..Default::default()
    };
    let schedule = gateway.backend().get_schedule(&target, request).await?;
    Ok(schedule_response(&schedule))
}

/// `GET /schedules/by-key/{key}`: the schedule created with this idempotency key.
pub(super) async fn get_by_key(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(key): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = GetScheduleRequest {
        idempotency_key: key,
        ..Default::default()
    };
    let schedule = gateway.backend().get_schedule(&target, request).await?;
    Ok(schedule_response(&schedule))
}

/// `PATCH /schedules/{id}`.
pub(super) async fn update(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let request = schedule_update_from_json(id, body_json(&body)?)?;
    let target = principal.target(&headers, &request.tenant_id)?;
    let schedule = gateway
        .backend()
        .update_schedule(&target, request)
        .await
        .map_err(flat_fields)?;
    Ok(schedule_response(&schedule))
}

/// `POST /schedules/{id}/pause` (`{"reason"}`).
pub(super) async fn pause(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: PauseBody = body_json(&body)?;
    let target = principal.target(&headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let request = PauseScheduleRequest {
        tenant_id: String::new(),
        id,
        reason: body.reason.unwrap_or_default(),
        requested_by: body.requested_by.unwrap_or_default(),
    };
    let schedule = gateway.backend().pause_schedule(&target, request).await?;
    Ok(schedule_response(&schedule))
}

/// `POST /schedules/{id}/resume`.
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
    let request = ResumeScheduleRequest {
        tenant_id: String::new(),
        id,
        requested_by: body.requested_by.unwrap_or_default(),
    };
    let schedule = gateway.backend().resume_schedule(&target, request).await?;
    Ok(schedule_response(&schedule))
}

/// `DELETE /schedules/{id}`: the schedule, now deleted.
pub(super) async fn delete(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = DeleteScheduleRequest {
        tenant_id: String::new(),
        id,
        requested_by: String::new(),
    };
    let schedule = gateway.backend().delete_schedule(&target, request).await?;
    Ok(schedule_response(&schedule))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreviewQuery {
    tenant_id: Option<String>,
    count: Option<u32>,
    after: Option<String>,
}

/// `{"occurrences": [{"fireAt", "localTime"}, ...]}`.
fn preview_response(preview: &PreviewScheduleResponse) -> Response {
    let occurrences: Vec<_> = preview
        .fire_at
        .iter()
        .enumerate()
        .map(|(i, at)| {
            json!({
                "fireAt": at.to_string(),
                "localTime": preview.local_times.get(i),
            })
        })
        .collect();
    Json(json!({ "occurrences": occurrences })).into_response()
}

/// `GET /schedules/{id}/preview?count=N&after=...`: the stored schedule's next occurrences.
pub(super) async fn preview(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PreviewQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = PreviewScheduleRequest {
        tenant_id: String::new(),
        id,
        spec: None,
        count: query.count.unwrap_or_default(),
        after: query
            .after
            .as_deref()
            .map(|t| timestamp_field("after", t))
            .transpose()?,
    };
    let preview = gateway.backend().preview_schedule(&target, request).await?;
    Ok(preview_response(&preview))
}

/// `POST /schedules:preview`: the next occurrences of a spec, creating nothing.
pub(super) async fn preview_spec(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let request = schedule_preview_from_json(body_json(&body)?)?;
    let target = principal.target(&headers, &request.tenant_id)?;
    let preview = gateway
        .backend()
        .preview_schedule(&target, request)
        .await
        .map_err(flat_fields)?;
    Ok(preview_response(&preview))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_is_flat_and_takes_the_timer_shapes() {
        let request = schedule_from_json(json!({
            "name": "nightly", "cron": "0 3 * * *", "timeZone": "Europe/Paris",
            "startAt": "2030-01-01T00:00:00Z", "maxRuns": 5, "jitter": "30s",
            "overlapPolicy": "buffer_one", "catchUpPolicy": "all", "catchUpWindow": 3_600_000,
            "labels": {"team": "ops"}, "metadata": {"ticket": 7},
            "actionBundle": {"actions": [{"kind": "webhook", "parameters": {"url": "https://example.com/h"}}]},
            "idempotencyKey": "nightly-1", "paused": true
        }))
        .unwrap();
        let spec = request.spec.unwrap();
        assert_eq!(spec.cron, "0 3 * * *");
        assert_eq!(spec.time_zone, "Europe/Paris");
        assert_eq!(spec.max_runs, 5);
        assert_eq!(spec.jitter.unwrap().seconds, 30);
        assert_eq!(spec.catch_up_window.unwrap().seconds, 3_600);
        assert_eq!(spec.overlap_policy, OverlapPolicy::BufferOne as i32);
        assert_eq!(spec.catch_up_policy, CatchUpPolicy::All as i32);
        assert_eq!(request.labels["team"], "ops");
        assert!(request.paused);
        assert_eq!(request.idempotency_key, "nightly-1");
        assert_eq!(request.action_bundle.unwrap().actions.len(), 1);
        let interval = schedule_from_json(json!({"name": "x", "interval": "15m"})).unwrap();
        assert_eq!(interval.spec.unwrap().interval.unwrap().seconds, 900);
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |body: Value| match schedule_from_json(body) {
            Err(KernelError::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"cron": "* * * * *", "croon": 1})), "croon");
        assert_eq!(field(json!({"interval": "soon"})), "interval");
        assert_eq!(field(json!({"startAt": "yesterday"})), "startAt");
        assert_eq!(field(json!({"maxRuns": "many"})), "maxRuns");
        assert_eq!(field(json!({"overlapPolicy": "queue"})), "overlap_policy");
        assert_eq!(field(json!({"catchUpPolicy": "some"})), "catch_up_policy");
        assert!(matches!(
            schedule_update_from_json("s".into(), json!({"paused": true})),
            Err(KernelError::InvalidArgument { field, .. }) if field == "paused"
        ));
    }

    #[test]
    fn spec_fields_are_named_as_the_flat_body_names_them() {
        let status = tonic::Status::from(KernelError::invalid("spec.time_zone", "unknown zone"));
        let response = flat_fields(status).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let status = flat_fields(KernelError::invalid("spec.cron", "bad").into()).0;
        use tonic_types::StatusExt as _;
        let fields: Vec<_> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["cron"]);
        let other = flat_fields(KernelError::invalid("name", "is required").into()).0;
        assert_eq!(
            other.get_details_bad_request().unwrap().field_violations[0].field,
            "name"
        );
    }

    #[test]
    fn an_update_replaces_the_spec_only_when_it_gives_spec_fields() {
        let name_only = schedule_update_from_json("s1".into(), json!({"name": "n"})).unwrap();
        assert!(name_only.spec.is_none());
        assert_eq!(name_only.name.as_deref(), Some("n"));
        let respec = schedule_update_from_json(
            "s1".into(),
            json!({"interval": 60000, "expectedVersion": 3, "labels": {}}),
        )
        .unwrap();
        assert_eq!(respec.spec.unwrap().interval.unwrap().seconds, 60);
        assert_eq!(respec.expected_version, 3);
        assert!(respec.labels.unwrap().labels.is_empty());
    }
}
